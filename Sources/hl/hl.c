/*
 * hl — the command-line client of libhumanloop (the Humanloop v4 completions API).
 *
 *   hl complete | complete-deployed | complete-experiment | complete-model-config
 *      [REQUEST.json | -] [--project P] [--model M] [--prompt-template T] [--input k=v ...]
 *      [--experiment-id ID] [--model-config-id ID] [--environment E] [--num-samples N]
 *      [--host URL] [--max-retries N] [--timeout S] [--json] [--stream]
 *   hl batch [FILE.jsonl | -] [--output OUT [--retry-failed]] [--concurrency N] [--call NAME]
 *      [--no-rate-aware] [--host URL] [--max-retries N] [--timeout S] [--no-progress]
 *   hl --help | hl COMMAND --help | hl --version
 *
 * Written in C99 + POSIX on the public C API of include/humanloop.h only; jansson reads the
 * envelopes and builds the JSON of the request and of the client configuration.
 * The API key is read from HUMANLOOP_API_KEY only (never a flag) and is never printed.
 */
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

#include "checkpoint.h"
#include "humanloop.h"

/* Exit codes (documented in --help). */
enum {
    EXIT_OK = 0,
    EXIT_OTHER = 1,        /* out of memory, output cannot be written, unreadable envelope */
    EXIT_USAGE = 2,        /* bad flags, unreadable request file, invalid_request, invalid_config */
    EXIT_API = 3,          /* api_error: the server answered with a non-2xx status */
    EXIT_NETWORK = 4,      /* connection_error, timeout, invalid_response */
    EXIT_SOME_FAILED = 5,  /* hl batch: one line or more failed (each has its error envelope) */
    EXIT_INTERRUPTED = 130 /* SIGINT (Ctrl-C) */
};

/* The request fields a flag can set; a command accepts only those of its endpoint's body. */
enum {
    F_PROJECT = 1u << 0,
    F_MODEL = 1u << 1,
    F_PROMPT_TEMPLATE = 1u << 2,
    F_INPUT = 1u << 3,
    F_EXPERIMENT_ID = 1u << 4,
    F_MODEL_CONFIG_ID = 1u << 5,
    F_ENVIRONMENT = 1u << 6,
    F_NUM_SAMPLES = 1u << 7
};

typedef char *(*call_fn)(hl_client *, const char *);
typedef hl_stream *(*stream_fn)(hl_client *, const char *);

struct command {
    const char *name;
    const char *endpoint;
    call_fn call;
    stream_fn stream;
    unsigned fields;
    const char *summary;
    const char *needs;
};

static const struct command COMMANDS[] = {
    {"complete", "POST {host}/completion", hl_complete, hl_complete_stream,
     F_PROJECT | F_MODEL | F_PROMPT_TEMPLATE | F_INPUT | F_NUM_SAMPLES,
     "a completion with the model configuration given in the request",
     "model_config (with model and prompt_template: --model, --prompt-template)"},
    {"complete-deployed", "POST {host}/completion-deployed", hl_complete_deployed,
     hl_complete_deployed_stream, F_PROJECT | F_INPUT | F_ENVIRONMENT | F_NUM_SAMPLES,
     "a completion with the project's deployed model configuration",
     "project or project_id (--project)"},
    {"complete-experiment", "POST {host}/completion-experiment", hl_complete_experiment,
     hl_complete_experiment_stream, F_PROJECT | F_INPUT | F_EXPERIMENT_ID | F_NUM_SAMPLES,
     "a completion with a model configuration sampled from an experiment",
     "experiment_id (--experiment-id)"},
    {"complete-model-config", "POST {host}/completion-model-config",
     hl_complete_model_configuration, hl_complete_model_configuration_stream,
     F_PROJECT | F_INPUT | F_MODEL_CONFIG_ID | F_NUM_SAMPLES,
     "a completion with a stored model configuration",
     "model_config_id (--model-config-id)"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

struct field_flag {
    unsigned bit;
    const char *flag;
    const char *help;
};

static const struct field_flag FIELD_FLAGS[] = {
    {F_PROJECT, "--project P", "\"project\": the project's name"},
    {F_MODEL, "--model M", "\"model_config.model\""},
    {F_PROMPT_TEMPLATE, "--prompt-template T", "\"model_config.prompt_template\", e.g. '{{question}}'"},
    {F_INPUT, "--input KEY=VALUE", "one of \"inputs\" (a string); repeatable"},
    {F_EXPERIMENT_ID, "--experiment-id ID", "\"experiment_id\""},
    {F_MODEL_CONFIG_ID, "--model-config-id ID", "\"model_config_id\""},
    {F_ENVIRONMENT, "--environment E", "\"environment\" to take the deployment of"},
    {F_NUM_SAMPLES, "--num-samples N", "\"num_samples\" (an integer >= 1)"},
};
#define N_FIELD_FLAGS (sizeof FIELD_FLAGS / sizeof FIELD_FLAGS[0])

/* ---- Ctrl-C ------------------------------------------------------------------------------ */

/* Only async-signal-safe calls: write(2) and _exit(2). */
static void on_sigint(int sig) {
    (void)sig;
    if (write(STDERR_FILENO, "\n", 1) < 0) {
        /* nothing to do: we are leaving anyway */
    }
    _exit(EXIT_INTERRUPTED);
}

static void install_sigint_handler(void) {
    struct sigaction old;
    /* A SIGINT that was ignored when we started (a background job of a non-interactive shell)
     * stays ignored, as the shell intended. */
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
}

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

static void print_main_help(FILE *out) {
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

static void print_command_help(FILE *out, const struct command *cmd) {
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

/* ---- small helpers ------------------------------------------------------------------------- */

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "hl: ");
    if (cmd != NULL) fprintf(stderr, "%s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see hl %s%s--help)\n", cmd != NULL ? cmd : "", cmd != NULL ? " " : "");
    return EXIT_USAGE;
}

static int out_of_memory(void) {
    fprintf(stderr, "hl: out of memory\n");
    return EXIT_OTHER;
}

/* Writes s (n bytes) to f as one line's worth of text: control characters become spaces. */
static void write_one_line(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? ' ' : (int)c, f);
    }
}

/* Reads a whole file ("-": standard input). Returns NULL (errno set) on failure. */
static char *read_all(const char *path, size_t *length) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        if (f != stdin) fclose(f);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *bigger = cap > ((size_t)-1) / 2 ? NULL : realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                if (f != stdin) fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    int saved = errno;
    if (f != stdin) fclose(f);
    if (failed) {
        free(buf);
        errno = saved != 0 ? saved : EIO;
        return NULL;
    }
    buf[len] = '\0';
    *length = len;
    return buf;
}

/* ---- options --------------------------------------------------------------------------------- */

struct options {
    const char *file;
    const char *project, *model, *prompt_template, *experiment_id, *model_config_id, *environment;
    const char **inputs;
    size_t n_inputs;
    long long num_samples;
    unsigned given; /* F_* bits of the request flags given */
    const char *host;
    long long max_retries; /* -1: not given */
    double timeout;        /* < 0: not given */
    int json, stream, help;
};

static int parse_integer(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return 0;
    *out = v;
    return 1;
}

static int parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 1e9) return 0;
    *out = v;
    return 1;
}

/* Parses argv[first..argc-1] of a command. Returns EXIT_OK or the usage error's exit code. */
static int parse_options(const struct command *cmd, int argc, char **argv, int first, struct options *o) {
    memset(o, 0, sizeof *o);
    o->max_retries = -1;
    o->timeout = -1;
    o->inputs = calloc((size_t)argc + 1, sizeof *o->inputs);
    if (o->inputs == NULL) return out_of_memory();
    int only_positional = 0;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (o->file != NULL) return usage_error(cmd->name, "more than one request file: '%s'", arg);
            o->file = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            o->help = 1;
            continue;
        }
        if (arg[1] != '-') return usage_error(cmd->name, "unknown option '%s'", arg);

        /* --name or --name=value */
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (name_len >= sizeof name) return usage_error(cmd->name, "unknown option '%s'", arg);
        memcpy(name, arg, name_len);
        name[name_len] = '\0';

        if (strcmp(name, "--json") == 0 || strcmp(name, "--stream") == 0) {
            if (eq != NULL) return usage_error(cmd->name, "option '%s' takes no value", name);
            if (name[2] == 'j') o->json = 1; else o->stream = 1;
            continue;
        }

        static const struct {
            const char *name;
            unsigned bit; /* 0: not a request field */
        } VALUED[] = {
            {"--project", F_PROJECT}, {"--model", F_MODEL}, {"--prompt-template", F_PROMPT_TEMPLATE},
            {"--input", F_INPUT}, {"--experiment-id", F_EXPERIMENT_ID},
            {"--model-config-id", F_MODEL_CONFIG_ID}, {"--environment", F_ENVIRONMENT},
            {"--num-samples", F_NUM_SAMPLES}, {"--host", 0}, {"--max-retries", 0}, {"--timeout", 0},
        };
        size_t k;
        for (k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++)
            if (strcmp(name, VALUED[k].name) == 0) break;
        if (k == sizeof VALUED / sizeof VALUED[0]) {
            if (strncmp(name, "--api-key", 9) == 0 || strncmp(name, "--api_key", 9) == 0)
                return usage_error(cmd->name, "there is no '%s' flag: set HUMANLOOP_API_KEY", name);
            return usage_error(cmd->name, "unknown option '%s'", name);
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error(cmd->name, "option '%s' needs a value", name);
            value = argv[++i];
        }
        unsigned bit = VALUED[k].bit;
        if (bit != 0 && !(cmd->fields & bit)) {
            fprintf(stderr, "hl: %s: %s is not a field of this endpoint's request (see hl %s --help)\n",
                    cmd->name, name, cmd->name);
            return EXIT_USAGE;
        }
        o->given |= bit;
        switch (bit) {
        case F_PROJECT: o->project = value; break;
        case F_MODEL: o->model = value; break;
        case F_PROMPT_TEMPLATE: o->prompt_template = value; break;
        case F_EXPERIMENT_ID: o->experiment_id = value; break;
        case F_MODEL_CONFIG_ID: o->model_config_id = value; break;
        case F_ENVIRONMENT: o->environment = value; break;
        case F_INPUT: {
            const char *sep = strchr(value, '=');
            if (sep == NULL || sep == value)
                return usage_error(cmd->name, "--input needs KEY=VALUE, got '%s'", value);
            o->inputs[o->n_inputs++] = value;
            break;
        }
        case F_NUM_SAMPLES:
            if (!parse_integer(value, 1, 1000000, &o->num_samples))
                return usage_error(cmd->name, "--num-samples needs an integer >= 1, got '%s'", value);
            break;
        default:
            if (strcmp(name, "--host") == 0) {
                o->host = value;
            } else if (strcmp(name, "--max-retries") == 0) {
                if (!parse_integer(value, 0, 100, &o->max_retries))
                    return usage_error(cmd->name, "--max-retries needs an integer 0..100, got '%s'", value);
            } else if (!parse_seconds(value, &o->timeout)) {
                return usage_error(cmd->name, "--timeout needs a number of seconds > 0, got '%s'", value);
            }
            break;
        }
    }
    return EXIT_OK;
}

/* ---- the request ----------------------------------------------------------------------------- */

/* Sets obj[key] to a string. Returns 0 when out of memory. */
static int set_string(json_t *obj, const char *key, const char *value) {
    json_t *s = json_string(value);
    if (s == NULL) return 0; /* also: not UTF-8 */
    return json_object_set_new(obj, key, s) == 0;
}

/* The object at obj[key], created when absent; NULL (and *bad = 1) when it is not an object. */
static json_t *child_object(json_t *obj, const char *key, int *bad) {
    json_t *child = json_object_get(obj, key);
    if (child == NULL) {
        child = json_object();
        if (child == NULL || json_object_set_new(obj, key, child) != 0) return NULL;
        return child;
    }
    if (!json_is_object(child)) {
        *bad = 1;
        return NULL;
    }
    return child;
}

static int bad_value(const char *what) {
    fprintf(stderr, "hl: invalid_request: %s is not valid UTF-8\n", what);
    return EXIT_USAGE;
}

static int not_an_object(const char *source, const char *key) {
    fprintf(stderr, "hl: invalid_request: \"%s\" of %s is not a JSON object\n", key, source);
    return EXIT_USAGE;
}

/* Builds the request text from the file and the flags. *request is malloc'ed (free it). */
static int build_request(const struct command *cmd, const struct options *o, char **request) {
    *request = NULL;
    char *text = NULL;
    size_t length = 0;
    const char *source = o->file == NULL ? NULL : strcmp(o->file, "-") == 0 ? "standard input" : o->file;
    if (o->file != NULL) {
        text = read_all(o->file, &length);
        if (text == NULL) {
            fprintf(stderr, "hl: %s: cannot read %s: %s\n", cmd->name, source, strerror(errno));
            return EXIT_USAGE;
        }
        if (memchr(text, '\0', length) != NULL) {
            fprintf(stderr, "hl: invalid_request: %s contains a NUL byte\n", source);
            free(text);
            return EXIT_USAGE;
        }
        if (o->given == 0) {
            /* No flags: the file goes to the library as it is (its numbers' text untouched). */
            *request = text;
            return EXIT_OK;
        }
    } else if (o->given == 0) {
        fprintf(stderr,
                "hl: %s: no request: give a REQUEST.json file, '-' for standard input, or flags "
                "(see hl %s --help)\n",
                cmd->name, cmd->name);
        return EXIT_USAGE;
    }

    json_t *req;
    if (text != NULL) {
        json_error_t err;
        req = json_loadb(text, length, JSON_ALLOW_NUL, &err);
        free(text);
        if (req == NULL) {
            fprintf(stderr, "hl: invalid_request: %s is not valid JSON: %s (line %d, column %d)\n", source,
                    err.text, err.line, err.column);
            return EXIT_USAGE;
        }
        if (!json_is_object(req)) {
            fprintf(stderr, "hl: invalid_request: %s is not a JSON object\n", source);
            json_decref(req);
            return EXIT_USAGE;
        }
    } else {
        req = json_object();
        if (req == NULL) return out_of_memory();
    }

    int rc = EXIT_OK;
    int bad = 0;
    if (o->project != NULL && !set_string(req, "project", o->project)) rc = bad_value("--project");
    if (rc == EXIT_OK && o->experiment_id != NULL && !set_string(req, "experiment_id", o->experiment_id))
        rc = bad_value("--experiment-id");
    if (rc == EXIT_OK && o->model_config_id != NULL &&
        !set_string(req, "model_config_id", o->model_config_id))
        rc = bad_value("--model-config-id");
    if (rc == EXIT_OK && (o->model != NULL || o->prompt_template != NULL)) {
        json_t *mc = child_object(req, "model_config", &bad);
        if (mc == NULL) {
            rc = bad ? not_an_object(source, "model_config")
                     : out_of_memory();
        } else if (o->model != NULL && !set_string(mc, "model", o->model)) {
            rc = bad_value("--model");
        } else if (o->prompt_template != NULL && !set_string(mc, "prompt_template", o->prompt_template)) {
            rc = bad_value("--prompt-template");
        }
    }
    if (rc == EXIT_OK && o->n_inputs > 0) {
        json_t *inputs = child_object(req, "inputs", &bad);
        if (inputs == NULL) {
            rc = bad ? not_an_object(source, "inputs")
                     : out_of_memory();
        }
        for (size_t i = 0; rc == EXIT_OK && i < o->n_inputs; i++) {
            const char *kv = o->inputs[i];
            const char *sep = strchr(kv, '=');
            size_t key_len = (size_t)(sep - kv);
            char *key = malloc(key_len + 1);
            if (key == NULL) {
                rc = out_of_memory();
                break;
            }
            memcpy(key, kv, key_len);
            key[key_len] = '\0';
            json_t *value = json_string(sep + 1);
            if (value == NULL || json_object_set_new(inputs, key, value) != 0) rc = bad_value("--input");
            free(key);
        }
    }
    if (rc == EXIT_OK && o->environment != NULL && !set_string(req, "environment", o->environment))
        rc = bad_value("--environment");
    if (rc == EXIT_OK && (o->given & F_NUM_SAMPLES) &&
        json_object_set_new(req, "num_samples", json_integer((json_int_t)o->num_samples)) != 0)
        rc = out_of_memory();
    if (rc == EXIT_OK) {
        *request = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (*request == NULL) rc = out_of_memory();
    }
    json_decref(req);
    return rc;
}

/* ---- envelopes --------------------------------------------------------------------------------- */

static json_t *load_envelope(const char *text) {
    /* Integers read as reals: a body may carry integers wider than 64 bits (byte-exact). */
    return json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
}

static int exit_code_for(const char *type) {
    if (strcmp(type, "invalid_request") == 0 || strcmp(type, "invalid_config") == 0) return EXIT_USAGE;
    if (strcmp(type, "api_error") == 0) return EXIT_API;
    if (strcmp(type, "connection_error") == 0 || strcmp(type, "timeout") == 0 ||
        strcmp(type, "invalid_response") == 0)
        return EXIT_NETWORK;
    return EXIT_OTHER;
}

/* The server's own words from an api_error body: {"detail": "..."}, {"message": ...}, text. */
static void print_server_detail(json_t *body) {
    const char *detail = NULL;
    size_t len = 0;
    if (json_is_string(body)) {
        detail = json_string_value(body);
        len = json_string_length(body);
    } else if (json_is_object(body)) {
        static const char *const KEYS[] = {"detail", "message", "msg", "error"};
        for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0] && detail == NULL; i++) {
            json_t *v = json_object_get(body, KEYS[i]);
            if (json_is_array(v)) v = json_object_get(json_array_get(v, 0), "msg"); /* FastAPI's 422 */
            if (json_is_object(v)) v = json_object_get(v, "message");
            if (json_is_string(v)) {
                detail = json_string_value(v);
                len = json_string_length(v);
            }
        }
    }
    while (len > 0 && (detail[0] == ' ' || detail[0] == '\n' || detail[0] == '\r' || detail[0] == '\t')) {
        detail++;
        len--;
    }
    if (detail == NULL || len == 0) return;
    fputs(" (", stderr);
    if (len > 300) {
        write_one_line(stderr, detail, 300);
        fputs("...", stderr);
    } else {
        write_one_line(stderr, detail, len);
    }
    fputs(")", stderr);
}

/* After an api_error's message on stderr: its status (unless the message already says it) and
 * the server's detail. */
static void print_api_error_detail(json_t *error, json_t *message)
{
    json_t *status = json_object_get(error, "status");
    if (json_is_number(status)) {
        char digits[32];
        snprintf(digits, sizeof digits, "%.0f", json_number_value(status));
        if (!json_is_string(message) || strstr(json_string_value(message), digits) == NULL)
            fprintf(stderr, " (status %s)", digits);
    }
    print_server_detail(json_object_get(error, "body"));
}

/* Prints "hl: <type>: <message>" for an error envelope (already parsed, or NULL) and returns its
 * exit code. */
static int report_error(json_t *envelope) {
    json_t *error = json_object_get(envelope, "error");
    const char *type = json_string_value(json_object_get(error, "type"));
    json_t *message = json_object_get(error, "message");
    if (type == NULL) {
        fprintf(stderr, "hl: the library returned an unreadable envelope\n");
        return EXIT_OTHER;
    }
    fprintf(stderr, "hl: ");
    write_one_line(stderr, type, strlen(type));
    fputs(": ", stderr);
    if (json_is_string(message)) write_one_line(stderr, json_string_value(message), json_string_length(message));
    else fputs("(no message)", stderr);
    if (strcmp(type, "api_error") == 0) print_api_error_detail(error, message);
    fputc('\n', stderr);
    return exit_code_for(type);
}

/* Writes one data item's output. */
static void write_output(json_t *item) {
    json_t *output = json_object_get(item, "output");
    if (json_is_string(output)) fwrite(json_string_value(output), 1, json_string_length(output), stdout);
}

static long long item_index(json_t *item, size_t position) {
    json_t *index = json_object_get(item, "index");
    return json_is_number(index) ? (long long)json_number_value(index) : (long long)position;
}

static int finish_output(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "hl: cannot write the output: %s\n", strerror(errno));
        return rc == EXIT_OK ? EXIT_OTHER : rc;
    }
    return rc;
}

/* ---- the calls ---------------------------------------------------------------------------------- */

static int run_blocking(const struct command *cmd, hl_client *client, const char *request, int json_out) {
    char *text = cmd->call(client, request);
    if (text == NULL) return out_of_memory();
    json_t *envelope = load_envelope(text);
    int ok = envelope != NULL ? json_is_true(json_object_get(envelope, "ok"))
                              : strncmp(text, "{\"ok\":true", 10) == 0;
    int rc = EXIT_OK;
    if (json_out) {
        fputs(text, stdout);
        fputc('\n', stdout);
    }
    if (!ok) {
        rc = report_error(envelope);
    } else if (!json_out) {
        if (envelope == NULL) {
            fprintf(stderr, "hl: invalid_response: the answer's body could not be read as JSON\n");
            rc = EXIT_NETWORK;
        } else {
            json_t *data = json_object_get(json_object_get(envelope, "body"), "data");
            size_t n = json_array_size(data);
            for (size_t i = 0; i < n; i++) {
                json_t *item = json_array_get(data, i);
                if (n > 1) printf("[%lld] ", item_index(item, i));
                write_output(item);
                fputc('\n', stdout);
            }
        }
    }
    json_decref(envelope);
    hl_free(text);
    return finish_output(rc);
}

static int run_stream(const struct command *cmd, hl_client *client, const char *request, int json_out,
                      int several) {
    hl_stream *stream = cmd->stream(client, request);
    if (stream == NULL) return out_of_memory();
    int rc = EXIT_OK;
    int mid_line = 0; /* single-sample text printed, not yet ended by a newline */
    int ended = 0;
    char *item;
    while ((item = hl_stream_next(stream)) != NULL) {
        json_t *parsed = load_envelope(item);
        if (json_out) {
            fputs(item, stdout);
            fputc('\n', stdout);
            fflush(stdout);
        }
        int ok = parsed != NULL ? json_is_true(json_object_get(parsed, "ok"))
                                : strncmp(item, "{\"ok\":true", 10) == 0;
        if (!ok) {
            if (mid_line) {
                fputc('\n', stdout);
                mid_line = 0;
            }
            fflush(stdout);
            rc = report_error(parsed);
            ended = 1;
        } else if (parsed == NULL) {
            if (!json_out) {
                if (mid_line) fputc('\n', stdout);
                mid_line = 0;
                fflush(stdout);
                fprintf(stderr, "hl: invalid_response: a stream event could not be read as JSON\n");
                rc = EXIT_NETWORK;
                ended = 1;
            }
        } else if (json_is_true(json_object_get(parsed, "done"))) {
            ended = 1;
        } else if (!json_out) {
            json_t *data = json_object_get(json_object_get(parsed, "event"), "data");
            for (size_t i = 0; i < json_array_size(data); i++) {
                json_t *entry = json_array_get(data, i);
                json_t *output = json_object_get(entry, "output");
                if (!json_is_string(output)) continue;
                if (several) {
                    printf("[%lld] ", item_index(entry, i));
                    write_output(entry);
                    fputc('\n', stdout);
                } else if (json_string_length(output) > 0) {
                    write_output(entry);
                    mid_line = 1;
                }
            }
            fflush(stdout);
        }
        json_decref(parsed);
        hl_free(item);
        if (ended) break;
    }
    hl_stream_free(stream);
    if (!json_out && !several && rc == EXIT_OK) fputc('\n', stdout);
    else if (mid_line) fputc('\n', stdout);
    return finish_output(rc);
}

/* num_samples of the request text (1 when absent or unreadable). */
static long long requested_samples(const char *request) {
    json_t *req = json_loads(request, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
    json_t *n = json_object_get(req, "num_samples");
    long long samples = json_is_number(n) && json_number_value(n) >= 1 ? (long long)json_number_value(n) : 1;
    json_decref(req);
    return samples;
}

static hl_client *make_client(const struct options *o, int *rc) {
    json_t *config = json_object();
    if (config == NULL) {
        *rc = out_of_memory();
        return NULL;
    }
    const char *key = getenv("HUMANLOOP_API_KEY");
    const char *host = o->host != NULL ? o->host : getenv("HUMANLOOP_HOST");
    int ok = 1;
    /* An API key that is not UTF-8 cannot go into JSON: leave it out, the library then says
     * that no key was given (and the key is never printed). */
    if (key != NULL) {
        json_t *k = json_string(key);
        if (k != NULL) ok = json_object_set_new(config, "api_key", k) == 0;
    }
    if (ok && host != NULL && host[0] != '\0') {
        json_t *h = json_string(host);
        if (h == NULL) {
            json_decref(config);
            fprintf(stderr, "hl: invalid_config: the host is not valid UTF-8\n");
            *rc = EXIT_USAGE;
            return NULL;
        }
        ok = json_object_set_new(config, "host", h) == 0;
    }
    if (ok && o->max_retries >= 0)
        ok = json_object_set_new(config, "max_retries", json_integer((json_int_t)o->max_retries)) == 0;
    if (ok && o->timeout > 0) ok = json_object_set_new(config, "timeout", json_real(o->timeout)) == 0;
    char *text = ok ? json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(config);
    if (text == NULL) {
        *rc = out_of_memory();
        return NULL;
    }
    char *error = NULL;
    hl_client *client = hl_client_new(text, &error);
    /* The configuration held the key: wipe it before freeing. */
    memset(text, 0, strlen(text));
    free(text);
    if (client == NULL) {
        json_t *envelope = error != NULL ? load_envelope(error) : NULL;
        *rc = envelope != NULL ? report_error(envelope) : out_of_memory();
        json_decref(envelope);
        hl_free(error);
    }
    return client;
}

static int run_command(const struct command *cmd, int argc, char **argv) {
    struct options o;
    int rc = parse_options(cmd, argc, argv, 2, &o);
    if (rc == EXIT_OK && o.help) {
        print_command_help(stdout, cmd);
        rc = finish_output(EXIT_OK);
        free(o.inputs);
        return rc;
    }
    char *request = NULL;
    if (rc == EXIT_OK) rc = build_request(cmd, &o, &request);
    if (rc != EXIT_OK) {
        free(o.inputs);
        free(request);
        return rc;
    }
    hl_client *client = make_client(&o, &rc);
    if (client != NULL) {
        if (o.stream) rc = run_stream(cmd, client, request, o.json, requested_samples(request) > 1);
        else rc = run_blocking(cmd, client, request, o.json);
        hl_client_free(client);
    }
    free(request);
    free(o.inputs);
    return rc;
}

/* ---- hl batch ---------------------------------------------------------------------------------- */

static const char BATCH_HELP[] =
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
    "complete_model_configuration). Options are those of hl_call_submit except \"stream\" (put\n"
    "\"stream\": true in the request instead: the answer is streamed and merged). Blank lines are\n"
    "skipped, and so is a UTF-8 byte order mark at the start of the input.\n"
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

/* The call names: the command's, the library's, and the library's name passed to hl_call_submit. */
static const struct {
    const char *name;
    const char *call;
} CALL_NAMES[] = {
    {"complete", "complete"},
    {"complete-deployed", "complete_deployed"},
    {"complete_deployed", "complete_deployed"},
    {"complete-experiment", "complete_experiment"},
    {"complete_experiment", "complete_experiment"},
    {"complete-model-config", "complete_model_configuration"},
    {"complete_model_config", "complete_model_configuration"},
    {"complete-model-configuration", "complete_model_configuration"},
    {"complete_model_configuration", "complete_model_configuration"},
};

static const char *library_call_name(const char *name) {
    for (size_t i = 0; i < sizeof CALL_NAMES / sizeof CALL_NAMES[0]; i++)
        if (strcmp(name, CALL_NAMES[i].name) == 0) return CALL_NAMES[i].call;
    return NULL;
}

/* One request line of the batch. */
struct batch_entry {
    char *envelope; /* its envelope (malloc'ed) once known; NULL until then */
    int ok;
    long line;      /* line number in the input, from 1 */
    uint64_t hash;  /* of the line's text (with --output) */
    int recorded;   /* with --output: finished, its result in OUT.partial (or cancelled) */
    int finished;   /* its envelope is known (and maybe written or recorded already) */
};

/* SIGINT, SIGTERM and SIGHUP. The first stops the batch (the main loop cancels the calls in
 * flight, writes every finished result and a summary, and exits with 128 + its number); a
 * second one makes it leave at once, after writing what is finished. They are blocked in every
 * thread but while the main thread waits (wait_for_work), so the handlers only ever interrupt a
 * wait and the main loop sees them at once. */
static volatile sig_atomic_t batch_signal = 0;   /* the first one */
static volatile sig_atomic_t batch_exit_now = 0; /* a second one */
static const int BATCH_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
static sigset_t batch_sigset;

static void on_batch_signal(int sig) {
    if (batch_signal) batch_exit_now = sig;
    else batch_signal = sig;
}

/* Installs the handlers, except for a signal ignored when hl started (a background job of a
 * non-interactive shell ignores SIGINT, nohup SIGHUP: it stays ignored, as intended), and
 * blocks the signals in this thread, hence in every thread the library starts. */
static void install_batch_signal_handlers(void) {
    size_t n = sizeof BATCH_SIGNALS / sizeof BATCH_SIGNALS[0];
    int handled[sizeof BATCH_SIGNALS / sizeof BATCH_SIGNALS[0]];
    sigemptyset(&batch_sigset);
    for (size_t i = 0; i < n; i++) {
        struct sigaction old;
        handled[i] = !(sigaction(BATCH_SIGNALS[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN);
        if (handled[i]) sigaddset(&batch_sigset, BATCH_SIGNALS[i]);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_batch_signal;
    sa.sa_mask = batch_sigset; /* one handler at a time: the signals are seen in the order they come */
    sa.sa_flags = 0;           /* no SA_RESTART: a wait ends at once */
    for (size_t i = 0; i < n; i++)
        if (handled[i]) sigaction(BATCH_SIGNALS[i], &sa, NULL);
    pthread_sigmask(SIG_BLOCK, &batch_sigset, NULL);
}

static const char *signal_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

static int envelope_is_ok(const char *text) { return strncmp(text, "{\"ok\":true", 10) == 0; }

/* An invalid_request envelope of hl's own for a malformed line (malloc'ed; NULL when out of
 * memory). path may be "" (the line as a whole). */
static char *line_error(long line, const char *path, const char *message) {
    char full[512];
    snprintf(full, sizeof full, "line %ld: %s", line, message);
    json_t *env = json_pack("{s:b,s:{s:s,s:s,s:s,s:[{s:s,s:s}],s:I},s:i}", "ok", 0, "error", "type",
                            "invalid_request", "message", full, "path", path, "errors", "path", path,
                            "message", message, "line", (json_int_t)line, "attempts", 0);
    char *text = env != NULL ? json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(env);
    return text;
}

/* A JSON scanner over text jansson has already accepted: the end of the value at p. */
static const char *skip_json_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return end;
}

static const char *skip_json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static const char *skip_json_value(const char *p, const char *end) {
    if (p >= end) return end;
    if (*p == '"') return skip_json_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_json_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r' &&
           *p != '\n')
        p++;
    return p;
}

/* The exact text of the member `key` of the object in text (the last one when repeated): a
 * malloc'ed copy, or NULL when absent (*oom set when out of memory). The request reaches the
 * library as written (its numbers' text untouched). */
static char *member_text(const char *text, size_t len, const char *key, int *oom) {
    const char *end = text + len, *p = skip_json_ws(text, end);
    const char *found = NULL, *found_end = NULL;
    if (p >= end || *p != '{') return NULL;
    p++;
    for (;;) {
        p = skip_json_ws(p, end);
        if (p >= end || *p != '"') break;
        const char *k = p;
        p = skip_json_string(p, end);
        int match;
        if (memchr(k, '\\', (size_t)(p - k)) == NULL) {
            match = (size_t)(p - k - 2) == strlen(key) && memcmp(k + 1, key, strlen(key)) == 0;
        } else {
            json_t *decoded = json_loadb(k, (size_t)(p - k), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            match = json_is_string(decoded) && strcmp(json_string_value(decoded), key) == 0;
            json_decref(decoded);
        }
        p = skip_json_ws(p, end);
        if (p < end && *p == ':') p++;
        p = skip_json_ws(p, end);
        const char *v = p;
        p = skip_json_value(p, end);
        if (match) {
            found = v;
            found_end = p;
        }
        p = skip_json_ws(p, end);
        if (p < end && *p == ',') p++;
        else break;
    }
    if (found == NULL) return NULL;
    char *copy = malloc((size_t)(found_end - found) + 1);
    if (copy == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(copy, found, (size_t)(found_end - found));
    copy[found_end - found] = '\0';
    return copy;
}

struct prepared {
    const char *call; /* the library's name */
    char *request;    /* malloc'ed */
    char *options;    /* malloc'ed or NULL */
};

/* Reads one request line. Returns EXIT_OK with *p filled, or EXIT_USAGE with *error set to the
 * line's error envelope (malloc'ed), or EXIT_OTHER when out of memory. */
static int prepare_line(const char *text, size_t len, long line, const char *default_call, struct prepared *p,
                        char **error) {
    memset(p, 0, sizeof *p);
    *error = NULL;
    char message[400];
    static char key_path[128];
    if (memchr(text, '\0', len) != NULL) {
        *error = line_error(line, "", "the line contains a NUL byte");
        return *error != NULL ? EXIT_USAGE : EXIT_OTHER;
    }
    json_error_t err;
    /* Integers read as reals: only the structure is checked here; the library reads the numbers. */
    json_t *value = json_loadb(text, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
    if (value == NULL) {
        snprintf(message, sizeof message, "not valid JSON: %s (column %d)", err.text, err.column);
        *error = line_error(line, "", message);
        return *error != NULL ? EXIT_USAGE : EXIT_OTHER;
    }
    int rc = EXIT_OK;
    const char *bad_path = "", *bad_message = NULL;
    int oom = 0;
    if (!json_is_object(value)) {
        bad_message = "not a JSON object (a request, or {\"call\":...,\"request\":{...},\"options\":{...}})";
    } else if (json_object_get(value, "request") == NULL) {
        p->call = default_call;
        p->request = malloc(len + 1);
        if (p->request == NULL) oom = 1;
        else {
            memcpy(p->request, text, len);
            p->request[len] = '\0';
        }
    } else {
        const char *key;
        json_t *member;
        json_object_foreach(value, key, member) {
            if (strcmp(key, "call") != 0 && strcmp(key, "request") != 0 && strcmp(key, "options") != 0) {
                snprintf(message, sizeof message,
                         "unknown key \"%.100s\" (an item has \"call\", \"request\" and \"options\")", key);
                snprintf(key_path, sizeof key_path, "%s", key);
                bad_path = key_path;
                bad_message = message;
                break;
            }
        }
        json_t *call = json_object_get(value, "call");
        json_t *request = json_object_get(value, "request");
        json_t *options = json_object_get(value, "options");
        if (bad_message != NULL) {
            /* already said */
        } else if (call != NULL && !json_is_string(call)) {
            bad_path = "call";
            bad_message = "\"call\" is not a string";
        } else if (call != NULL && library_call_name(json_string_value(call)) == NULL) {
            bad_path = "call";
            snprintf(message, sizeof message,
                     "unknown call \"%.100s\": one of complete, complete_deployed, complete_experiment, "
                     "complete_model_configuration (or the hl command names)",
                     json_string_value(call));
            bad_message = message;
        } else if (!json_is_object(request)) {
            bad_path = "request";
            bad_message = "\"request\" is not a JSON object";
        } else if (options != NULL && !json_is_null(options) && !json_is_object(options)) {
            bad_path = "options";
            bad_message = "\"options\" is not a JSON object";
        } else if (json_is_object(options) && json_object_get(options, "stream") != NULL) {
            bad_path = "options.stream";
            bad_message = "hl batch writes one envelope per line: put \"stream\": true in the request "
                          "instead (the answer is then streamed and merged)";
        } else {
            p->call = call != NULL ? library_call_name(json_string_value(call)) : default_call;
            p->request = member_text(text, len, "request", &oom);
            if (json_is_object(options)) p->options = member_text(text, len, "options", &oom);
            if (!oom && (p->request == NULL || (json_is_object(options) && p->options == NULL))) {
                bad_message = "the line could not be read"; /* not expected: jansson accepted it */
            }
        }
    }
    json_decref(value);
    if (oom) rc = EXIT_OTHER;
    else if (bad_message != NULL) {
        *error = line_error(line, bad_path, bad_message);
        rc = *error != NULL ? EXIT_USAGE : EXIT_OTHER;
    }
    if (rc != EXIT_OK) {
        free(p->request);
        free(p->options);
        p->request = p->options = NULL;
    }
    return rc;
}

/* One line as an item of the batch: {"call":...,"request":...,"options":...} (malloc'ed), the
 * request and options as written. Returns as prepare_line. */
static int prepare_item(const char *text, size_t len, long line, const char *default_call, char **item,
                        char **error) {
    struct prepared p;
    *item = NULL;
    int rc = prepare_line(text, len, line, default_call, &p, error);
    if (rc != EXIT_OK) return rc;
    size_t size = strlen(p.call) + strlen(p.request) + (p.options != NULL ? strlen(p.options) : 0) + 48;
    *item = malloc(size);
    if (*item != NULL) {
        if (p.options != NULL)
            snprintf(*item, size, "{\"call\":\"%s\",\"request\":%s,\"options\":%s}", p.call, p.request, p.options);
        else
            snprintf(*item, size, "{\"call\":\"%s\",\"request\":%s}", p.call, p.request);
    }
    free(p.request);
    free(p.options);
    return *item != NULL ? EXIT_OK : EXIT_OTHER;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void format_duration(char *out, size_t size, double seconds) {
    if (!(seconds >= 0) || seconds > 359999) {
        snprintf(out, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}

/* The effective rate: requests finished per second over the last few seconds (what a
 * rate-limited server lets through), from a sample taken at each drawing of the progress line. */
#define RATE_SAMPLES 64
#define RATE_WINDOW 5.0
struct rate_samples {
    double t[RATE_SAMPLES];
    size_t done[RATE_SAMPLES];
    size_t next, count;
};

static double rate_now(struct rate_samples *r, double t, size_t done) {
    r->t[r->next] = t;
    r->done[r->next] = done;
    r->next = (r->next + 1) % RATE_SAMPLES;
    if (r->count < RATE_SAMPLES) r->count++;
    size_t oldest = (r->next + RATE_SAMPLES - r->count) % RATE_SAMPLES;
    while (r->count > 1 && t - r->t[oldest] > RATE_WINDOW) {
        oldest = (oldest + 1) % RATE_SAMPLES;
        r->count--;
    }
    double span = t - r->t[oldest];
    return span > 0.5 ? (double)(done - r->done[oldest]) / span : -1;
}

static double rate_average(double start, double t, size_t done) {
    return t > start ? (double)done / (t - start) : 0;
}

/* The progress line, drawn over itself: "\r" + text + erase to the end of the line. rate: the
 * effective rate (< 0: not known yet, the average is shown); average: since the start (the ETA). */
static void draw_progress(size_t done, long long total, size_t errors, double rate, double average) {
    char total_text[32], eta[32], rate_text[32];
    if (rate < 0) rate = average;
    if (total >= 0) snprintf(total_text, sizeof total_text, "%lld", total);
    else snprintf(total_text, sizeof total_text, "?");
    double pace = rate > 0 ? rate : average;
    if (total >= 0 && pace > 0) format_duration(eta, sizeof eta, ((double)total - (double)done) / pace);
    else snprintf(eta, sizeof eta, "--:--");
    snprintf(rate_text, sizeof rate_text, rate >= 100 ? "%.0f" : "%.1f", rate);
    fprintf(stderr, "\rhl batch: %zu/%s done, %s/s, %zu error%s, ETA %s\033[K", done, total_text, rate_text, errors,
            errors == 1 ? "" : "s", eta);
    fflush(stderr);
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* The input, read with read(2) when poll(2) says so: the main thread never blocks on it (a
 * slow pipe does not hold back the output, the progress line or Ctrl-C). */
struct line_reader {
    int fd;
    char *buf;
    size_t start, end, cap;
    int eof;
};

/* Reads once what the input has now, without blocking. 1: read something (or the end); 0:
 * nothing available; -2: a read error (errno set). */
static int read_some(struct line_reader *r) {
    if (r->eof) return 0;
    if (r->end == r->cap) {
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        } else {
            size_t cap = r->cap == 0 ? 65536 : r->cap * 2;
            char *bigger = cap < r->cap ? NULL : realloc(r->buf, cap);
            if (bigger == NULL) {
                errno = ENOMEM;
                return -2;
            }
            r->buf = bigger;
            r->cap = cap;
        }
    }
    struct pollfd pfd = {r->fd, POLLIN, 0};
    int ready = poll(&pfd, 1, 0);
    if (ready < 0) return errno == EINTR ? 0 : -2;
    if (ready == 0) return 0;
    ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? 0 : -2;
    if (n == 0) r->eof = 1;
    else r->end += (size_t)n;
    return 1;
}

/* Input read ahead of the calls, up to this much: so that the total (for the progress line) is
 * known as soon as the input has ended, also from a pipe. */
#define READ_AHEAD ((size_t)64 << 20)

static int read_ahead(struct line_reader *r) {
    int got;
    while (r->end - r->start < READ_AHEAD && (got = read_some(r)) != 0)
        if (got < 0) return got;
    return 0;
}

/* The non-blank lines read ahead and not yet taken. */
static long long buffered_lines(const struct line_reader *r) {
    long long count = 0;
    const char *p = r->buf + r->start, *end = r->buf + r->end;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        if (!is_blank(p, (size_t)(stop - p))) count++;
        p = nl != NULL ? nl + 1 : end;
    }
    return count;
}

/* 1: a line (without its end of line) in *line, *len, valid until the next call; 0: no whole
 * line yet; -1: the end of the input; -2: a read error (errno set). */
static int read_line(struct line_reader *r, char **line, size_t *len) {
    for (;;) {
        char *nl = r->end > r->start ? memchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
        if (nl != NULL) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - *line);
            r->start = (size_t)(nl - r->buf) + 1;
            return 1;
        }
        if (r->eof) {
            if (r->end == r->start) return -1;
            *line = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            return 1;
        }
        int got = read_some(r);
        if (got <= 0) return got;
    }
}

/* Counts the non-blank lines of a regular file from its current offset (read with pread);
 * -1 when it is not a regular file. */
static long long count_lines(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    off_t offset = lseek(fd, 0, SEEK_CUR);
    if (offset < 0) return -1;
    char buf[65536];
    long long count = 0;
    int blank = 1;
    ssize_t n;
    /* A byte order mark at the start is not a line's content (as in the batch loop). */
    if (pread(fd, buf, 3, offset) == 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) offset += 3;
    while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') {
                if (!blank) count++;
                blank = 1;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                blank = 0;
            }
        }
        offset += n;
    }
    if (n < 0) return -1;
    return blank ? count : count + 1;
}

/* Writes an envelope as one line (the bytes of a server's body may hold newlines, which are
 * whitespace in JSON: written as spaces). */
static int write_envelope_line(const char *text) {
    for (const char *p = text; *p != '\0'; p++) putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
    putchar('\n');
    return fflush(stdout) == 0 && !ferror(stdout);
}

/* One line on stderr for a failed line: "hl: batch: line N: <type>: <message>". */
static void report_line_error(long line, const char *text) {
    json_t *env = load_envelope(text);
    json_t *error = json_object_get(env, "error");
    const char *type = json_string_value(json_object_get(error, "type"));
    json_t *message = json_object_get(error, "message");
    fprintf(stderr, "hl: batch: line %ld: ", line);
    if (type == NULL) {
        fputs("the library returned an unreadable envelope\n", stderr);
    } else {
        write_one_line(stderr, type, strlen(type));
        fputs(": ", stderr);
        if (json_is_string(message)) {
            /* hl's own envelopes say "line N: ..." already. */
            const char *text = json_string_value(message);
            size_t len = json_string_length(message);
            char prefix[48];
            int n = snprintf(prefix, sizeof prefix, "line %ld: ", line);
            if (n > 0 && (size_t)n <= len && strncmp(text, prefix, (size_t)n) == 0) {
                text += n;
                len -= (size_t)n;
            }
            write_one_line(stderr, text, len);
        }
        if (strcmp(type, "api_error") == 0) print_api_error_detail(error, message);
        fputc('\n', stderr);
    }
    json_decref(env);
}

struct batch_options {
    const char *file;
    const char *call;   /* the library's name */
    const char *output; /* --output OUT, or NULL */
    long long concurrency;
    int progress, help, retry_failed, rate_aware;
    int argc;           /* the command line, for the command that resumes */
    char **argv;
    struct options client; /* host, max_retries, timeout */
};

static int parse_batch_options(int argc, char **argv, struct batch_options *o) {
    memset(o, 0, sizeof *o);
    o->call = "complete";
    o->concurrency = 16;
    o->progress = 1;
    o->rate_aware = 1;
    o->client.max_retries = -1;
    o->client.timeout = -1;
    o->argc = argc;
    o->argv = argv;
    int only_positional = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (o->file != NULL) return usage_error("batch", "more than one input file: '%s'", arg);
            o->file = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(arg, "--no-progress") == 0) {
            o->progress = 0;
            continue;
        }
        if (strcmp(arg, "--retry-failed") == 0) {
            o->retry_failed = 1;
            continue;
        }
        if (strcmp(arg, "--no-rate-aware") == 0) {
            o->rate_aware = 0;
            continue;
        }
        if (arg[1] != '-') return usage_error("batch", "unknown option '%s'", arg);
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (name_len >= sizeof name) return usage_error("batch", "unknown option '%s'", arg);
        memcpy(name, arg, name_len);
        name[name_len] = '\0';
        static const char *const VALUED[] = {"--concurrency", "--call", "--host", "--max-retries", "--timeout",
                                             "--output"};
        size_t k;
        for (k = 0; k < sizeof VALUED / sizeof VALUED[0]; k++)
            if (strcmp(name, VALUED[k]) == 0) break;
        if (k == sizeof VALUED / sizeof VALUED[0]) {
            if (strncmp(name, "--api-key", 9) == 0 || strncmp(name, "--api_key", 9) == 0)
                return usage_error("batch", "there is no '%s' flag: set HUMANLOOP_API_KEY", name);
            if (strcmp(name, "--no-progress") == 0 || strcmp(name, "--retry-failed") == 0 ||
                strcmp(name, "--no-rate-aware") == 0)
                return usage_error("batch", "option '%s' takes no value", name);
            return usage_error("batch", "unknown option '%s'", name);
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error("batch", "option '%s' needs a value", name);
            value = argv[++i];
        }
        switch (k) {
        case 0:
            if (!parse_integer(value, 1, 10000, &o->concurrency))
                return usage_error("batch", "--concurrency needs an integer 1..10000, got '%s'", value);
            break;
        case 1:
            o->call = library_call_name(value);
            if (o->call == NULL)
                return usage_error("batch",
                                   "--call needs complete, complete-deployed, complete-experiment or "
                                   "complete-model-config, got '%s'",
                                   value);
            break;
        case 2: o->client.host = value; break;
        case 3:
            if (!parse_integer(value, 0, 100, &o->client.max_retries))
                return usage_error("batch", "--max-retries needs an integer 0..100, got '%s'", value);
            break;
        case 4:
            if (!parse_seconds(value, &o->client.timeout))
                return usage_error("batch", "--timeout needs a number of seconds > 0, got '%s'", value);
            break;
        default:
            if (value[0] == '\0') return usage_error("batch", "--output needs a file name%s", "");
            o->output = value;
            break;
        }
    }
    if (o->retry_failed && o->output == NULL)
        return usage_error("batch", "--retry-failed goes with --output (it re-sends the failed lines of %s)",
                           "OUT.partial");
    return EXIT_OK;
}

/* ---- hl batch: the main loop ------------------------------------------------------------------
 * The lines go to the library as batches (hl_batch_submit) whose items come back on one queue:
 * an event {"index":k,"result":<envelope>} per finished request, then the batch's counts. Only
 * the main thread touches this state: it reads the input, submits the batches, waits on the
 * queue, drains it and writes the envelopes in input order. No code of hl runs on the engine.
 *
 * A regular file is read whole and sent as one batch: the library's rate-aware window (and its
 * pacing, and its Retry-After hold) then governs the whole run. Other input (a pipe, a terminal)
 * may still be arriving, and its results must flow meanwhile: the lines read so far go as one
 * batch (a chunk), later lines as later chunks. All chunks together keep within --concurrency:
 * a running chunk holds min(its concurrency, its requests not finished yet) of the slots. When
 * no chunk runs, a new chunk takes every line read, at the full concurrency; otherwise it takes
 * at most as many lines as there are free slots, at that concurrency, so that each of its
 * requests starts at once (a long chunk never stays on a narrow window). */

struct chunk {
    hl_call *call;        /* the batch */
    size_t *entries;      /* the entry of each of its requests, by index */
    size_t n, seen;       /* its requests; the events seen */
    size_t concurrency;
    size_t reach;         /* 1 + the greatest index with an event */
    size_t slot;          /* its place in b->active */
};

/* A line read and ready to send, waiting for a chunk. */
struct pending {
    char *item;   /* {"call":...,"request":...,"options":...} (malloc'ed) */
    size_t entry;
};

struct batch {
    struct batch_options o;
    hl_client *client;
    hl_queue *queue;
    const char *source; /* the input's name in messages */
    int close_input;    /* the input is a file hl opened */
    int regular;        /* the input is a regular file: one batch */
    struct line_reader reader;
    struct batch_entry *entries; /* one per line to send, in input order */
    size_t n_entries, cap;
    struct chunk **active;       /* the chunks whose counts have not arrived */
    size_t n_active, cap_active;
    size_t used;                 /* slots the active chunks hold */
    struct pending *pending;     /* lines read, not in a chunk yet: [pending_head, n_pending) */
    size_t pending_head, n_pending, cap_pending, pending_bytes;
    size_t finished, errors;     /* envelopes known, failures among them */
    size_t printed, line_failures, cancelled_lines, last_finished; /* last_finished: 1 + entry */
    size_t kept_ok, kept_failed; /* with --output: lines whose result OUT.partial has already */
    struct checkpoint ck;        /* with --output */
    int checkpointing;
    long line_no;
    long long read_requests, total; /* total: -1 until known */
    int show_progress, eof, cancelled, write_failed, out_of_mem, read_failed, fatal, input_changed;
    double start, last_draw, cancel_time;
    struct rate_samples rate;
};

#define BATCH_DRAIN_MAX 64

static const char LATE_CANCEL_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":"
    "\"cancelled (the call did not end in time)\"},\"attempts\":0}";
static const char NOT_STARTED_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":"
    "\"cancelled (not started)\"},\"attempts\":0}";
static const char EXIT_CANCEL_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"cancelled\",\"message\":"
    "\"cancelled (hl exited at a second signal)\"},\"attempts\":0}";
static const char LIBRARY_OOM_ENVELOPE[] =
    "{\"ok\":false,\"error\":{\"type\":\"out_of_memory\","
    "\"message\":\"the library ran out of memory\"},\"attempts\":0}";

/* What erases the progress line before a message on stderr ("" without one). */
static const char *erase_progress(const struct batch *b) { return b->show_progress ? "\r\033[K" : ""; }

static int batch_stopping(const struct batch *b) {
    return batch_signal || b->write_failed || b->out_of_mem || b->fatal || b->input_changed;
}

static void input_failed(struct batch *b) {
    fprintf(stderr, "%shl: batch: cannot read %s: %s\n", erase_progress(b), b->source, strerror(errno));
    b->read_failed = 1;
}

/* A line differs from the one whose result OUT.partial holds: the run stops. */
static void input_changed(struct batch *b, long line) {
    if (!b->input_changed)
        fprintf(stderr,
                "%shl: batch: the input changed: line %ld of %s is not the line whose result %s holds "
                "(the line's hash differs, or the line is gone); restore the input, or remove %s to start "
                "over\n",
                erase_progress(b), line, b->source, b->ck.partial, b->ck.partial);
    b->input_changed = 1;
}

/* Adds an entry. Returns its index, or (size_t)-1 when out of memory. */
static size_t add_entry(struct batch *b, long line, uint64_t hash) {
    if (b->n_entries == b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap * 2;
        struct batch_entry *bigger = realloc(b->entries, cap * sizeof *bigger);
        if (bigger == NULL) return (size_t)-1;
        b->entries = bigger;
        b->cap = cap;
    }
    struct batch_entry *e = &b->entries[b->n_entries];
    memset(e, 0, sizeof *e);
    e->line = line;
    e->hash = hash;
    return b->n_entries++;
}

static int is_cancelled(const char *envelope) { return strstr(envelope, "\"type\":\"cancelled\"") != NULL; }

/* With --output: records a finished line in OUT.partial at once (a cancelled one is no result)
 * and says on stderr why it failed; its envelope is not kept. */
static void record_entry(struct batch *b, struct batch_entry *e) {
    int cancelled = !e->ok && is_cancelled(e->envelope);
    if (!cancelled && !b->write_failed && ck_append(&b->ck, e->line, e->hash, e->envelope) != 0) {
        fprintf(stderr, "%shl: batch: cannot write %s: %s\n", erase_progress(b), b->ck.partial, strerror(errno));
        b->write_failed = 1;
    }
    if (cancelled) {
        b->cancelled_lines++;
    } else if (!e->ok) {
        b->line_failures++;
        fputs(erase_progress(b), stderr);
        report_line_error(e->line, e->envelope);
        b->last_draw = -1;
    }
    free(e->envelope);
    e->envelope = NULL;
    e->recorded = 1;
}

/* Gives entry i its envelope (malloc'ed; taken over). NULL: out of memory, the batch stops. */
static void set_envelope(struct batch *b, size_t i, char *envelope) {
    struct batch_entry *e = &b->entries[i];
    if (envelope == NULL) {
        b->out_of_mem = 1;
        return;
    }
    if (e->finished) { /* not expected: a second result */
        free(envelope);
        return;
    }
    e->envelope = envelope;
    e->finished = 1;
    e->ok = envelope_is_ok(envelope);
    b->finished++;
    if (!e->ok) b->errors++;
    if (i + 1 > b->last_finished) b->last_finished = i + 1;
    if (b->checkpointing) record_entry(b, e);
}

static char *copy_text(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* 1. Reads ahead what the input has now; the total is known once the input has ended. */
static void read_input(struct batch *b) {
    if (!b->eof && !b->read_failed && read_ahead(&b->reader) < 0) {
        input_failed(b);
        b->eof = 1;
        b->total = b->read_requests;
    }
    if (b->total < 0 && b->reader.eof) b->total = b->read_requests + buffered_lines(&b->reader);
}

/* A line as a request: without a UTF-8 byte order mark (EF BB BF) at the start of the input (some
 * editors write one; anywhere else it stays: not JSON) and without its "\r". 0: a blank line. */
static int trim_line(long line_no, char **line, size_t *len) {
    if (line_no == 1 && *len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) {
        *line += 3;
        *len -= 3;
    }
    if (is_blank(*line, *len)) return 0;
    while (*len > 0 && (*line)[*len - 1] == '\r') (*len)--;
    return 1;
}

/* With --output: 1 when the line is to be sent; 0 when OUT.partial has its result (a failure is
 * sent again with --retry-failed) or when the line changed (the run stops). */
static int needs_sending(struct batch *b, uint64_t hash) {
    const struct ck_line *r = ck_get(&b->ck, b->line_no);
    if (r == NULL) return 1;
    if (r->hash != hash) {
        input_changed(b, b->line_no);
        return 0;
    }
    if (r->state == CK_FAILED && b->o.retry_failed) return 1;
    if (r->state == CK_OK) b->kept_ok++;
    else b->kept_failed++;
    return 0;
}

/* Queues the item of entry i for the next chunk. 0 when out of memory. */
static int add_pending(struct batch *b, size_t i, char *item) {
    if (b->n_pending == b->cap_pending) {
        if (b->pending_head > 0) {
            memmove(b->pending, b->pending + b->pending_head,
                    (b->n_pending - b->pending_head) * sizeof *b->pending);
            b->n_pending -= b->pending_head;
            b->pending_head = 0;
        }
        if (b->n_pending == b->cap_pending) {
            size_t cap = b->cap_pending == 0 ? 256 : b->cap_pending * 2;
            struct pending *bigger = realloc(b->pending, cap * sizeof *bigger);
            if (bigger == NULL) return 0;
            b->pending = bigger;
            b->cap_pending = cap;
        }
    }
    b->pending[b->n_pending].item = item;
    b->pending[b->n_pending].entry = i;
    b->n_pending++;
    b->pending_bytes += strlen(item);
    return 1;
}

/* Takes one input line: its request waits for a chunk (or a malformed line gets its error
 * envelope at once). */
static void take_line(struct batch *b, char *line, size_t len) {
    b->line_no++;
    if (!trim_line(b->line_no, &line, &len)) {
        if (b->checkpointing && ck_get(&b->ck, b->line_no) != NULL) input_changed(b, b->line_no);
        return;
    }
    b->read_requests++;
    uint64_t hash = b->checkpointing ? ck_hash(line, len) : 0;
    if (b->checkpointing && !needs_sending(b, hash)) return;
    char *item = NULL, *error = NULL;
    int prc = prepare_item(line, len, b->line_no, b->o.call, &item, &error);
    size_t i = prc == EXIT_OTHER ? (size_t)-1 : add_entry(b, b->line_no, hash);
    if (i == (size_t)-1) {
        b->out_of_mem = 1;
        free(item);
        free(error);
    } else if (prc == EXIT_USAGE) {
        set_envelope(b, i, error);
    } else if (!add_pending(b, i, item)) {
        free(item);
        b->out_of_mem = 1;
    }
}

/* The end of the input: with --output, a result of a line past it means the input changed. */
static void input_ended(struct batch *b) {
    b->eof = 1;
    b->total = b->read_requests;
    if (b->checkpointing && !b->read_failed && b->ck.max_line > b->line_no) input_changed(b, b->line_no + 1);
}

/* 2. Takes the whole lines read (a regular file: all of it, to be sent as one batch; other
 * input: while the lines waiting for a chunk stay under READ_AHEAD bytes). */
static void take_lines(struct batch *b) {
    while (!batch_stopping(b) && !b->eof && (b->regular || b->pending_bytes < READ_AHEAD)) {
        char *line;
        size_t len;
        int got = read_line(&b->reader, &line, &len);
        if (got == 0) break;
        if (got < 0) {
            if (got == -2) input_failed(b);
            input_ended(b);
            break;
        }
        take_line(b, line, len);
    }
}

/* Appends text to a growing buffer. 0 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *text, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t want = *cap == 0 ? 4096 : *cap;
        while (want < *len + n + 1) want *= 2;
        char *bigger = realloc(*buf, want);
        if (bigger == NULL) return 0;
        *buf = bigger;
        *cap = want;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 1;
}

/* The slots a chunk holds: its requests not finished yet, up to its concurrency. */
static size_t chunk_slots(const struct chunk *c) {
    size_t left = c->n - c->seen;
    return left < c->concurrency ? left : c->concurrency;
}

/* Sends the next `take` pending lines as one batch of the given concurrency. */
static void submit_chunk(struct batch *b, size_t take, size_t concurrency) {
    struct pending *p = b->pending + b->pending_head;
    struct chunk *c = calloc(1, sizeof *c);
    char *json = NULL;
    size_t len = 0, cap = 0;
    char head[96];
    int n = snprintf(head, sizeof head, "{\"concurrency\":%zu,\"rate_aware\":%s,\"requests\":[", concurrency,
                     b->o.rate_aware ? "true" : "false");
    int ok = c != NULL && (c->entries = malloc(take * sizeof *c->entries)) != NULL &&
             append(&json, &len, &cap, head, (size_t)n);
    for (size_t k = 0; ok && k < take; k++) {
        ok = (k == 0 || append(&json, &len, &cap, ",", 1)) && append(&json, &len, &cap, p[k].item, strlen(p[k].item));
        c->entries[k] = p[k].entry;
    }
    ok = ok && append(&json, &len, &cap, "]}", 2);
    if (ok && b->n_active == b->cap_active) {
        size_t more = b->cap_active == 0 ? 16 : b->cap_active * 2;
        struct chunk **bigger = realloc(b->active, more * sizeof *bigger);
        if (bigger == NULL) ok = 0;
        else {
            b->active = bigger;
            b->cap_active = more;
        }
    }
    if (ok) {
        c->n = take;
        c->concurrency = concurrency;
        c->call = hl_batch_submit(b->client, json, b->queue, c);
        ok = c->call != NULL;
    }
    free(json);
    for (size_t k = 0; k < take; k++) {
        b->pending_bytes -= strlen(p[k].item);
        free(p[k].item);
        if (!ok) set_envelope(b, p[k].entry, line_error(b->entries[p[k].entry].line, "",
                                                        "out of memory: the call could not start"));
    }
    b->pending_head += take;
    if (b->pending_head == b->n_pending) b->pending_head = b->n_pending = 0;
    if (!ok) {
        if (c != NULL) free(c->entries);
        free(c);
        b->out_of_mem = 1;
        return;
    }
    c->slot = b->n_active;
    b->active[b->n_active++] = c;
    b->used += chunk_slots(c);
}

/* 3. Sends the lines waiting, in chunks, as the slots allow (see above). */
static void submit_chunks(struct batch *b) {
    size_t concurrency = (size_t)b->o.concurrency;
    while (!batch_stopping(b) && b->n_pending > b->pending_head && !(b->regular && !b->eof)) {
        size_t waiting = b->n_pending - b->pending_head;
        if (b->n_active == 0) {
            submit_chunk(b, waiting, concurrency);
            continue;
        }
        size_t free_slots = b->used >= concurrency ? 0 : concurrency - b->used;
        if (free_slots == 0) return;
        submit_chunk(b, waiting < free_slots ? waiting : free_slots, free_slots);
    }
}

/* 4. A signal (or no way to go on): start nothing more and cancel the batches, once. The
 * "cancelled" results of their calls in flight come through the queue. */
static void cancel_in_flight(struct batch *b) {
    b->cancelled = 1;
    b->cancel_time = now_seconds();
    b->eof = 1;
    for (size_t i = 0; i < b->n_active; i++) hl_call_cancel(b->active[i]->call);
}

/* A chunk's counts arrived (or it was abandoned): release it. */
static void end_chunk(struct batch *b, struct chunk *c) {
    b->used -= chunk_slots(c);
    hl_call_free(c->call);
    b->active[c->slot] = b->active[--b->n_active];
    b->active[c->slot]->slot = c->slot;
    free(c->entries);
    free(c);
}

/* Cancelled calls end within 100 ms (humanloop.h); should a batch not, release it (none of its
 * items is drained after hl_call_free) and give its lines that may be running a "cancelled"
 * envelope of hl's own. */
static void abandon_late_chunks(struct batch *b) {
    while (b->n_active > 0 && !b->out_of_mem) {
        struct chunk *c = b->active[0];
        size_t running = c->seen + c->concurrency < c->n ? c->seen + c->concurrency : c->n;
        if (c->reach > running) running = c->reach;
        for (size_t k = 0; k < running && !b->out_of_mem; k++) {
            const struct batch_entry *e = &b->entries[c->entries[k]];
            if (!e->finished) set_envelope(b, c->entries[k], strdup(LATE_CANCEL_ENVELOPE));
        }
        end_chunk(b, c);
    }
}

/* The envelope of an event {"index":k,"result":<envelope>}: a malloc'ed copy of its text. NULL
 * when out of memory (*index set) or unreadable (*index = (size_t)-1). */
static char *event_envelope(const char *json, size_t len, size_t *index) {
    static const char HEAD[] = "{\"index\":", MID[] = ",\"result\":";
    *index = (size_t)-1;
    if (json == NULL || len < sizeof HEAD || memcmp(json, HEAD, sizeof HEAD - 1) != 0) return NULL;
    const char *p = json + sizeof HEAD - 1, *end = json + len;
    size_t k = 0;
    if (p >= end || *p < '0' || *p > '9') return NULL;
    while (p < end && *p >= '0' && *p <= '9') k = k * 10 + (size_t)(*p++ - '0');
    if ((size_t)(end - p) < sizeof MID || memcmp(p, MID, sizeof MID - 1) != 0 || end[-1] != '}') return NULL;
    p += sizeof MID - 1;
    *index = k;
    return copy_text(p, (size_t)(end - 1 - p));
}

/* Takes one item of a chunk: a request's envelope, or the chunk's counts. */
static void take_item(struct batch *b, const hl_item *item) {
    struct chunk *c = item->tag;
    if (item->kind == HL_ITEM_RESULT) {
        /* The counts; a malformed batch (not expected: hl builds it) is one error envelope, the
         * result of each of its lines. After a cancel, a line without an event never started. */
        int ok = item->json != NULL && envelope_is_ok(item->json);
        for (size_t k = 0; k < c->n && !b->out_of_mem && !(ok && b->cancelled); k++) {
            const struct batch_entry *e = &b->entries[c->entries[k]];
            if (e->finished) continue;
            set_envelope(b, c->entries[k],
                         ok ? line_error(e->line, "", "the library gave no result for this line")
                            : item->json != NULL ? copy_text(item->json, item->len) : strdup(LIBRARY_OOM_ENVELOPE));
        }
        end_chunk(b, c);
        return;
    }
    size_t k;
    char *envelope = event_envelope(item->json, item->len, &k);
    if (k >= c->n) { /* not expected */
        free(envelope);
        return;
    }
    b->used -= chunk_slots(c);
    c->seen++;
    b->used += chunk_slots(c);
    if (k + 1 > c->reach) c->reach = k + 1;
    set_envelope(b, c->entries[k], envelope);
}

/* 5. Takes every item on the queue (never blocks). */
static void collect_results(struct batch *b) {
    hl_item items[BATCH_DRAIN_MAX];
    size_t n;
    do {
        n = hl_queue_drain(b->queue, items, BATCH_DRAIN_MAX);
        for (size_t i = 0; i < n; i++) take_item(b, &items[i]);
    } while (n == BATCH_DRAIN_MAX);
}

/* Writes one line's envelope, and its error on stderr unless it was cancelled. */
static void write_entry(struct batch *b, const struct batch_entry *e) {
    if (!b->write_failed && !write_envelope_line(e->envelope)) {
        fprintf(stderr, "%shl: batch: cannot write the output: %s\n", erase_progress(b), strerror(errno));
        b->write_failed = 1;
    }
    if (e->ok) return;
    if (b->cancelled && is_cancelled(e->envelope)) {
        b->cancelled_lines++;
    } else if (!b->write_failed) {
        b->line_failures++;
        fputs(erase_progress(b), stderr);
        report_line_error(e->line, e->envelope);
        b->last_draw = -1;
    } else {
        b->line_failures++;
    }
}

/* 6. Writes the envelopes that are next in order (with --output they are on disk already).
 * Once a cancelled run has no batch left, a line that never started but comes before one that
 * finished is written as cancelled, so that the output keeps the input's order. */
static void write_ready(struct batch *b) {
    while (b->printed < b->n_entries) {
        struct batch_entry *e = &b->entries[b->printed];
        if (!e->finished) {
            if (!(b->cancelled && b->n_active == 0 && b->printed < b->last_finished && !b->checkpointing)) break;
            e->envelope = strdup(NOT_STARTED_ENVELOPE);
            if (e->envelope == NULL) {
                b->out_of_mem = 1;
                break;
            }
        }
        b->printed++;
        if (e->envelope == NULL) continue;
        write_entry(b, e);
        free(e->envelope);
        e->envelope = NULL;
    }
}

/* 7. The progress line, at most ten times a second. */
static void update_progress(struct batch *b, int done) {
    double t = now_seconds();
    if (b->show_progress && (done || b->last_draw < 0 || t - b->last_draw >= 0.1)) {
        size_t n = b->finished + b->kept_ok + b->kept_failed;
        draw_progress(n, b->total, b->errors + b->kept_failed, rate_now(&b->rate, t, b->finished),
                      rate_average(b->start, t, b->finished));
        b->last_draw = t;
    }
}

/* 8. Sleeps until an item is on the queue, or input is there (when there is room to read
 * ahead), or a signal comes, or 100 ms have passed (for the progress line). The signals are
 * let through during this wait only. */
static void wait_for_work(struct batch *b) {
    int wait_input = !b->eof && !batch_signal && !b->reader.eof &&
                     b->reader.end - b->reader.start < READ_AHEAD && (b->regular || b->pending_bytes < READ_AHEAD);
    struct pollfd pfds[2] = {{hl_queue_fd(b->queue), POLLIN, 0}, {b->reader.fd, POLLIN, 0}};
    pthread_sigmask(SIG_UNBLOCK, &batch_sigset, NULL);
    int rc = batch_exit_now ? 0 : poll(pfds, wait_input ? 2 : 1, 100);
    int saved = errno;
    pthread_sigmask(SIG_BLOCK, &batch_sigset, NULL);
    if (rc < 0 && saved != EINTR) {
        fprintf(stderr, "%shl: batch: poll: %s\n", erase_progress(b), strerror(saved));
        b->fatal = 1; /* cannot go on: stop as on a signal */
    }
}

/* " word" on stderr, quoted for a POSIX shell when it needs to be. */
static void print_shell_word(const char *a) {
    static const char SAFE[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=:,+@%";
    if (a[0] != '\0' && strspn(a, SAFE) == strlen(a)) {
        fprintf(stderr, " %s", a);
        return;
    }
    fputs(" '", stderr);
    for (; *a != '\0'; a++) {
        if (*a == '\'') fputs("'\\''", stderr);
        else fputc(*a, stderr);
    }
    fputc('\'', stderr);
}

/* The summary after a signal: done / failed / cancelled / not started, and how to resume. */
static void print_summary(const struct batch *b, int sig, size_t extra_cancelled) {
    size_t done = b->kept_ok + b->finished - b->errors, failed = b->kept_failed + b->line_failures;
    size_t cancelled = b->cancelled_lines + extra_cancelled;
    fprintf(stderr, "%shl: batch: interrupted by %s: %zu done, %zu failed, %zu cancelled, ", erase_progress(b),
            signal_name(sig), done, failed, cancelled);
    if (b->total >= 0) fprintf(stderr, "%lld not started\n", b->total - (long long)(done + failed + cancelled));
    else fprintf(stderr, "the rest of the input not started\n");
    if (!b->checkpointing) {
        fprintf(stderr, "hl: batch: %zu line%s written; use --output FILE to be able to resume\n", b->printed,
                b->printed == 1 ? "" : "s");
        return;
    }
    fprintf(stderr, "hl: batch: the results so far are in %s; to resume%s:", b->ck.partial,
            b->close_input ? "" : " (with the same standard input)");
    for (int i = 0; i < b->o.argc; i++) print_shell_word(b->o.argv[i]);
    fputc('\n', stderr);
}

/* A second signal: write what is finished, the summary, and leave at once. A line that may be
 * running (a batch starts its requests in order: those before one that finished, and as many
 * after the finished ones as its concurrency) counts as cancelled; without --output it is
 * written as cancelled, in input order. */
static void exit_at_once(struct batch *b) {
    collect_results(b);
    write_ready(b);
    size_t last = b->last_finished;
    for (size_t i = 0; i < b->n_active; i++) {
        const struct chunk *c = b->active[i];
        size_t running = c->seen + c->concurrency < c->n ? c->seen + c->concurrency : c->n;
        if (running > 0 && c->entries[running - 1] + 1 > last) last = c->entries[running - 1] + 1;
    }
    size_t extra = 0;
    for (size_t i = b->printed; i < last; i++) {
        struct batch_entry *e = &b->entries[i];
        if (!e->finished) extra++;
    }
    if (!b->checkpointing) {
        for (; b->printed < last; b->printed++) {
            struct batch_entry *e = &b->entries[b->printed];
            if (e->envelope == NULL && !b->write_failed && !write_envelope_line(EXIT_CANCEL_ENVELOPE))
                b->write_failed = 1;
            if (e->envelope != NULL) write_entry(b, e);
        }
    }
    if (b->show_progress) fputc('\n', stderr);
    print_summary(b, batch_exit_now, extra);
    fflush(stdout);
    fflush(stderr);
    _exit(128 + batch_exit_now);
}

static void batch_loop(struct batch *b) {
    for (;;) {
        collect_results(b);
        read_input(b);
        take_lines(b);
        submit_chunks(b);
        if (batch_stopping(b) && !b->cancelled) cancel_in_flight(b);
        else if (b->cancelled && now_seconds() - b->cancel_time > 5) abandon_late_chunks(b);
        write_ready(b);
        int done = b->eof && b->n_active == 0 && (b->n_pending == b->pending_head || b->cancelled);
        update_progress(b, done);
        if (done) return;
        wait_for_work(b);
        if (batch_exit_now) exit_at_once(b);
    }
}

/* Opens the input ("-": standard input). Returns the descriptor, or -1 (the message said). */
static int open_batch_input(const char *path, const char *source) {
    int from_stdin = strcmp(path, "-") == 0;
    int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int saved = fd < 0 || !S_ISDIR(st.st_mode) ? errno : EISDIR;
        fprintf(stderr, "hl: batch: cannot read %s: %s\n", source, strerror(saved));
        if (fd >= 0 && !from_stdin) close(fd);
        return -1;
    }
    return fd;
}

/* With --output, before anything is sent: the input (a regular file) read once to check that
 * every line with a result in OUT.partial is still the same. 0, or -1 (the input changed). */
static int check_input(struct batch *b, const char *path) {
    struct line_reader r = {open(path, O_RDONLY), NULL, 0, 0, 0, 0};
    struct stat st;
    if (r.fd < 0 || fstat(r.fd, &st) != 0 || !S_ISREG(st.st_mode) || b->ck.results == 0) {
        if (r.fd >= 0) close(r.fd);
        return 0; /* checked as the lines are read */
    }
    char *line;
    size_t len;
    long line_no = 0;
    int got;
    while (!b->input_changed && (got = read_line(&r, &line, &len)) == 1) {
        const struct ck_line *rec = ck_get(&b->ck, ++line_no);
        if (rec == NULL) continue;
        if (!trim_line(line_no, &line, &len) || rec->hash != ck_hash(line, len)) input_changed(b, line_no);
    }
    if (!b->input_changed && got == -1 && b->ck.max_line > line_no) input_changed(b, line_no + 1);
    close(r.fd);
    free(r.buf);
    return b->input_changed ? -1 : 0;
}

/* Releases everything: batches still held (after out of memory), the queue, the client. */
static void end_batch(struct batch *b) {
    while (b->n_active > 0) end_chunk(b, b->active[0]);
    free(b->active);
    for (size_t i = b->pending_head; i < b->n_pending; i++) free(b->pending[i].item);
    free(b->pending);
    for (size_t i = 0; i < b->n_entries; i++) free(b->entries[i].envelope);
    hl_queue_free(b->queue);
    hl_client_free(b->client);
    free(b->entries);
    free(b->reader.buf);
    if (b->close_input) close(b->reader.fd);
}

/* With --output, once every line has a result: OUT in input order, OUT.partial removed. */
static int finish_checkpoint(struct batch *b) {
    if (!b->checkpointing || batch_signal || b->write_failed || b->out_of_mem || b->fatal || b->read_failed ||
        b->input_changed)
        return EXIT_OK;
    return ck_finish(&b->ck) == 0 ? EXIT_OK : EXIT_OTHER;
}

static int batch_exit_code(const struct batch *b, int finish_rc) {
    if (b->out_of_mem) return out_of_memory();
    if (b->write_failed || b->fatal || finish_rc != EXIT_OK) return EXIT_OTHER;
    if (batch_signal) {
        print_summary(b, batch_signal, 0);
        return 128 + batch_signal;
    }
    if (b->read_failed || b->input_changed) return EXIT_USAGE;
    if (b->kept_failed > 0)
        fprintf(stderr,
                "hl: batch: %zu line%s failed in an earlier run (%s has the errors; --retry-failed sends them "
                "again)\n",
                b->kept_failed, b->kept_failed == 1 ? "" : "s", b->ck.out);
    return b->line_failures + b->kept_failed > 0 ? EXIT_SOME_FAILED : EXIT_OK;
}

/* With --output: reads OUT.partial. EXIT_OK to go on (b->checkpointing set); else the exit
 * status (0: OUT is complete already, nothing to do). */
static int open_checkpoint(struct batch *b) {
    if (b->o.output == NULL) return EXIT_OK;
    int rc = ck_open(&b->ck, b->o.output);
    if (rc == CK_COMPLETE)
        fprintf(stderr,
                "hl: batch: %s is complete already (there is no %s): nothing to do; remove it to run the "
                "batch again\n",
                b->ck.out, b->ck.partial);
    if (rc != CK_OPENED) {
        ck_close(&b->ck);
        return rc == CK_COMPLETE ? EXIT_OK : rc == CK_BAD_FILE ? EXIT_USAGE : EXIT_OTHER;
    }
    b->checkpointing = 1;
    return EXIT_OK;
}

/* Opens the input, the queue and the client. EXIT_OK, or the exit status (the message said). */
static int start_batch(struct batch *b, const char *path) {
    int rc = EXIT_OK;
    int fd = open_batch_input(path, b->source);
    if (fd < 0) return EXIT_USAGE;
    if (b->checkpointing && check_input(b, path) != 0) rc = EXIT_USAGE;
    b->queue = rc == EXIT_OK ? hl_queue_new(NULL) : NULL;
    if (rc == EXIT_OK && b->queue == NULL) {
        fprintf(stderr, "hl: batch: cannot create a queue: out of memory or of file descriptors\n");
        rc = EXIT_OTHER;
    }
    b->client = rc == EXIT_OK ? make_client(&b->o.client, &rc) : NULL;
    if (rc != EXIT_OK || b->client == NULL) {
        hl_queue_free(b->queue);
        if (b->close_input) close(fd);
        return rc != EXIT_OK ? rc : EXIT_OTHER;
    }
    struct stat st;
    b->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    b->total = count_lines(fd); /* -1: not known before the end of the input */
    b->reader.fd = fd;
    return EXIT_OK;
}

static int run_batch(int argc, char **argv) {
    struct batch b;
    memset(&b, 0, sizeof b);
    int rc = parse_batch_options(argc, argv, &b.o);
    if (rc != EXIT_OK) return rc;
    if (b.o.help) {
        fputs(BATCH_HELP, stdout);
        return finish_output(EXIT_OK);
    }
    const char *path = b.o.file != NULL ? b.o.file : "-";
    b.close_input = strcmp(path, "-") != 0;
    b.source = b.close_input ? path : "standard input";
    rc = open_checkpoint(&b);
    if (rc != EXIT_OK || (b.o.output != NULL && !b.checkpointing)) return rc;
    install_batch_signal_handlers(); /* before the library starts its threads */
    rc = start_batch(&b, path);
    if (rc != EXIT_OK) {
        if (b.checkpointing) ck_close(&b.ck);
        return rc;
    }
    b.show_progress = b.o.progress && isatty(STDERR_FILENO);
    b.start = now_seconds();
    b.last_draw = -1;
    batch_loop(&b);
    if (b.show_progress) fputc('\n', stderr);
    end_batch(&b);
    int finish_rc = finish_checkpoint(&b);
    rc = batch_exit_code(&b, finish_rc);
    if (b.checkpointing) ck_close(&b.ck);
    return rc;
}

int main(int argc, char **argv) {
    install_sigint_handler();
    if (argc < 2)
        return usage_error(NULL, "no command given: %s",
                           "complete, complete-deployed, complete-experiment or complete-model-config");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 || strcmp(first, "help") == 0) {
        if (argc > 2 && strcmp(first, "help") == 0) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], COMMANDS[i].name) == 0) {
                    print_command_help(stdout, &COMMANDS[i]);
                    return finish_output(EXIT_OK);
                }
            if (strcmp(argv[2], "batch") == 0) {
                fputs(BATCH_HELP, stdout);
                return finish_output(EXIT_OK);
            }
            return usage_error(NULL, "unknown command '%s'", argv[2]);
        }
        print_main_help(stdout);
        return finish_output(EXIT_OK);
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("hl %s (libhumanloop %s, humanloop.h %s)\n", HL_VERSION_STRING, hl_version(), HL_VERSION_STRING);
        if (hl_version_num() != HL_VERSION_NUM)
            fprintf(stderr, "hl: warning: built with humanloop.h %s but running with libhumanloop %s\n",
                    HL_VERSION_STRING, hl_version());
        return finish_output(EXIT_OK);
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(first, COMMANDS[i].name) == 0) return run_command(&COMMANDS[i], argc, argv);
    if (strcmp(first, "batch") == 0) return run_batch(argc, argv);
    if (first[0] == '-') return usage_error(NULL, "unknown option '%s'", first);
    return usage_error(NULL, "unknown command '%s'", first);
}
