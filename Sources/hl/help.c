/* The help texts of hl and of its commands. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "humanloop.h"

#include "hl.h"

/* ---- help -------------------------------------------------------------------------------- */

static const char EXIT_CODES_HELP[] =
    "Exit status:\n"
    "  0    success\n"
    "  1    another failure (out of memory, the output cannot be written)\n"
    "  2    usage or invalid input: bad flags, unreadable request file, invalid_request,\n"
    "       invalid_config (e.g. HUMANLOOP_API_KEY not set)\n"
    "  3    api_error: the server answered with a non-2xx status\n"
    "  4    connection_error, timeout or invalid_response\n"
    "  5    hl batch: one request line or more failed (each has its error envelope)\n"
    "  130  interrupted (Ctrl-C); hl batch: 129 SIGHUP, 143 SIGTERM\n";

static const char COMMON_OPTIONS_HELP[] =
    "Options:\n"
    "  --host URL             the API's base URL (default: $HUMANLOOP_HOST, else\n"
    "                         https://api.humanloop.com/v4)\n"
    "  --json                 print the result envelope as JSON, as the library returns it\n"
    "                         (with --stream: each stream item on its own line)\n"
    "  --stream               stream the completion: print the text as it arrives (with\n"
    "                         several samples: each piece on its own line, prefixed \"[i] \")\n"
    "  --max-retries N        retries of failed connections and 408/409/429/5xx answers\n"
    "                         (default 2)\n"
    "  --timeout S            seconds for each attempt (default 600)\n"
    "  -h, --help             show this help\n";

static const char ENVIRONMENT_HELP[] =
    "Environment:\n"
    "  HUMANLOOP_API_KEY  the API key (required; there is no flag for it, and it is never printed)\n"
    "  HUMANLOOP_HOST     the API's base URL when --host is not given\n";

void print_main_help(FILE *out) {
    fprintf(out,
            "hl %s - command-line client of the Humanloop v4 completions API (libhumanloop)\n"
            "\n"
            "Usage:\n"
            "  hl COMMAND [REQUEST.json | -] [flags]\n"
            "  hl batch [FILE.jsonl | -] [--concurrency N] [--call COMMAND] [flags]\n"
            "  hl COMMAND --help\n"
            "  hl --version\n"
            "\n"
            "Commands:\n",
            HL_VERSION_STRING);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-22s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "  %-22s %s\n", "batch", "many requests from a JSON Lines file, concurrently (hl batch --help)");
    fprintf(out,
            "\n"
            "The request is a JSON object (the endpoint's body fields, as the official SDK's keyword\n"
            "arguments): a file, '-' for standard input, or built from flags. Flags given together\n"
            "with a file add to or replace the file's fields. Request flags (each command takes\n"
            "those of its endpoint, see hl COMMAND --help):\n");
    for (size_t i = 0; i < N_FIELD_FLAGS; i++)
        fprintf(out, "  %-22s %s\n", FIELD_FLAGS[i].flag, FIELD_FLAGS[i].help);
    fprintf(out,
            "\n%s\n"
            "Output: the generated text (body.data[].output), one sample per line, each prefixed\n"
            "\"[i] \" when there are several; with --json the envelope.\n"
            "Errors: one line on stderr, \"hl: <error type>: <message>\".\n"
            "\n%s\n%s",
            COMMON_OPTIONS_HELP, ENVIRONMENT_HELP, EXIT_CODES_HELP);
}

void print_command_help(FILE *out, const struct command *cmd) {
    fprintf(out,
            "Usage: hl %s [REQUEST.json | -] [flags]\n"
            "\n"
            "%s%s: %s.\n"
            "Sends %s;\n"
            "the request needs %s.\n"
            "\n"
            "The request is a JSON object from a file, from standard input ('-'), or built from the\n"
            "flags below; flags given together with a file add to or replace its fields.\n"
            "\n"
            "Request flags:\n",
            cmd->name, "hl ", cmd->name, cmd->summary, cmd->endpoint, cmd->needs);
    for (size_t i = 0; i < N_FIELD_FLAGS; i++)
        if (cmd->fields & FIELD_FLAGS[i].bit)
            fprintf(out, "  %-22s %s\n", FIELD_FLAGS[i].flag, FIELD_FLAGS[i].help);
    fprintf(out, "\n%s\n%s\n%s", COMMON_OPTIONS_HELP, ENVIRONMENT_HELP, EXIT_CODES_HELP);
    fprintf(out,
            "\nExamples:\n");
    if (cmd->fields & F_MODEL)
        fprintf(out,
                "  hl %s --project demo --model gpt-3.5-turbo-instruct \\\n"
                "      --prompt-template '{{question}}' --input question='Tell me about llamas.'\n",
                cmd->name);
    else if (cmd->fields & F_ENVIRONMENT)
        fprintf(out, "  hl %s --project demo --environment production --input question=Hi\n", cmd->name);
    else if (cmd->fields & F_EXPERIMENT_ID)
        fprintf(out, "  hl %s --experiment-id exp_123 --input question=Hi\n", cmd->name);
    else
        fprintf(out, "  hl %s --model-config-id config_123 --input question=Hi\n", cmd->name);
    fprintf(out, "  hl %s request.json --stream\n", cmd->name);
    fprintf(out, "  echo '{...}' | hl %s - --json\n", cmd->name);
}

/* ---- hl batch ---------------------------------------------------------------------------------- */

const char BATCH_HELP[] =
    "Usage: hl batch [FILE.jsonl | -] [--output OUT [--retry-failed]] [--concurrency N]\n"
    "                [--call COMMAND] [--no-rate-aware] [flags]\n"
    "\n"
    "Runs many requests concurrently as batches on the library's engine (hl_batch_submit, each\n"
    "answer taken from a completion queue as it finishes): one request per line of a JSON Lines\n"
    "file ('-' or no file: standard input), at most N in flight at once.\n"
    "\n"
    "Rate limits: the batches are rate-aware (unless --no-rate-aware): an answer 429 (or 503\n"
    "with Retry-After) halves the calls in flight, successes grow them back to N, Retry-After\n"
    "holds every new call until then, and a line answered 429 goes back in the batch instead\n"
    "of failing (up to 10 times). A regular file is read whole and sent as one batch. Input\n"
    "that is still arriving (a pipe) is sent as it comes: the lines read so far as one batch,\n"
    "later lines as later batches, all of them together within N calls in flight (a new batch\n"
    "gets the free slots: all N and every line read when no batch runs, else one line per free\n"
    "slot), so answers flow while the input is open; the rate-aware window then spans one\n"
    "batch at a time, not the whole run: give a file for the best behaviour under a rate limit.\n"
    "\n"
    "A line is either\n"
    "  a request object (the endpoint's body fields), sent with the call of --call, e.g.\n"
    "    {\"project\":\"demo\",\"inputs\":{\"question\":\"Hi\"}}\n"
    "  or an item as hl_batch takes it (an object with \"request\"; \"call\" and \"options\"\n"
    "  optional, \"call\" defaulting to --call):\n"
    "    {\"call\":\"complete_deployed\",\"request\":{...},\"options\":{\"timeout\":30,\"max_retries\":1,\n"
    "     \"headers\":{\"X-Trace\":\"a\"}}}\n"
    "Calls are named as the commands (complete, complete-deployed, complete-experiment,\n"
    "complete-model-config) or as the library names them (complete_deployed, ...,\n"
    "complete_model_configuration). A line's \"options\" go with its item to hl_batch_submit:\n"
    "the per-call options of hl_call_start (timeout, connect_timeout, low_speed_timeout,\n"
    "max_retries, headers) except \"stream\" (put \"stream\": true in the request instead: the\n"
    "answer is streamed and merged). Blank lines are skipped, and so is a UTF-8 byte order mark\n"
    "at the start of the input.\n"
    "\n"
    "Output: one envelope per request line on standard output, as JSON on one line, in the order\n"
    "of the input (line k of the output belongs to the k-th non-blank input line), each written\n"
    "as soon as it and every line before it are done. A success is the library's envelope\n"
    "{\"ok\":true,\"status\":200,\"body\":{...},...}; a failure {\"ok\":false,\"error\":{...},...}.\n"
    "A malformed line (not JSON, not an object, a bad \"call\", \"request\" or \"options\") gets\n"
    "its own invalid_request envelope (with \"line\": its line number in \"error\") and the\n"
    "other lines still run. Each failed line also gets one line on stderr:\n"
    "\"hl: batch: line N: <error type>: <message>\".\n"
    "\n"
    "When stderr is a terminal, a progress line is kept up to date on it: requests done/total,\n"
    "the effective rate (requests finished per second over the last 5 s: what a rate limit\n"
    "lets through), errors and the time left (ETA; the total is known once the input is read).\n"
    "\n"
    "With --output OUT, nothing goes to standard output: each line's envelope is recorded as\n"
    "soon as it finishes (in any order) in OUT.partial, one JSON line per finished input line,\n"
    "written with one write(2):\n"
    "  {\"line\":N,\"hash\":\"<FNV-1a 64 of the line's bytes, 16 hex digits>\",\"result\":<envelope>}\n"
    "(N: the line's number in the input, from 1; the bytes without the end of line). When every\n"
    "line has a result, OUT is written in input order (what standard output would have held)\n"
    "through a temporary file renamed over OUT, and OUT.partial is removed.\n"
    "Resume: run the same command again. It reads OUT.partial and sends only the lines that\n"
    "have no result there (a \"cancelled\" envelope is no result); a failed line keeps its error\n"
    "unless --retry-failed is given. A torn last record (hl killed in the middle of a write) is\n"
    "ignored and cut away. If a line differs from the one whose result is recorded (or is gone),\n"
    "the input changed: hl stops before sending anything (exit 2). If OUT exists and there is\n"
    "no OUT.partial, the batch is complete: hl says so and does nothing (exit 0).\n"
    "\n"
    "Signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP cancel the calls in flight (their envelopes\n"
    "say \"cancelled\"), start no more, write every finished result (with --output it is in\n"
    "OUT.partial already; without, every line started is written to standard output, in order),\n"
    "print a summary on stderr (done / failed / cancelled / not started, and with --output the\n"
    "command that resumes) and exit with 128 + the signal's number (130, 143, 129). A second\n"
    "signal exits at once, after writing what is finished (lines still running are written as\n"
    "cancelled). A signal ignored when hl starts (nohup, a background job) stays ignored. After\n"
    "kill -9, only the calls that were in flight are lost: OUT.partial keeps every result.\n"
    "\n"
    "Options:\n"
    "  --output OUT           record the results in OUT.partial, then write OUT (see above)\n"
    "  --retry-failed         with --output: send again the lines whose recorded result failed\n"
    "  --concurrency N        at most N calls in flight at once, 1..10000 (default 16)\n"
    "  --no-rate-aware        do not slow down on 429 answers (each call retries on its own,\n"
    "                         then fails)\n"
    "  --call COMMAND         the call of lines that are bare requests (default complete)\n"
    "  --host URL             the API's base URL (default: $HUMANLOOP_HOST, else\n"
    "                         https://api.humanloop.com/v4)\n"
    "  --max-retries N        retries of failed connections and 408/409/429/5xx answers\n"
    "                         (default 2; a line's \"options\" may set its own)\n"
    "  --timeout S            seconds for each attempt (default 600; a line's \"options\" may set\n"
    "                         its own)\n"
    "  --no-progress          no progress line, even on a terminal\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status:\n"
    "  0    every line succeeded\n"
    "  1    another failure (out of memory, the output cannot be written)\n"
    "  2    usage: bad flags, unreadable input file, invalid_config (e.g. HUMANLOOP_API_KEY\n"
    "       not set), a bad OUT.partial, an input changed since OUT.partial was written;\n"
    "       nothing was sent\n"
    "  5    one line or more failed (malformed, invalid_request, api_error, connection_error,\n"
    "       timeout, invalid_response); every line has its envelope on standard output\n"
    "  129  interrupted by SIGHUP (see Signals)\n"
    "  130  interrupted by SIGINT (Ctrl-C)\n"
    "  143  interrupted by SIGTERM\n"
    "\n"
    "Examples:\n"
    "  hl batch requests.jsonl --call complete-deployed --concurrency 32 > answers.jsonl\n"
    "  hl batch requests.jsonl --output answers.jsonl    (run it again to resume)\n"
    "  jq -c '{project:\"demo\",inputs:{question:.}}' questions.json | hl batch - --call complete-deployed\n";
