/*
 * hl — the command-line client of libhumanloop (the Humanloop v4 completions API).
 *
 *   hl complete | complete-deployed | complete-experiment | complete-model-config
 *      [REQUEST.json | -] [--project P] [--model M] [--prompt-template T] [--input k=v ...]
 *      [--experiment-id ID] [--model-config-id ID] [--environment E] [--num-samples N]
 *      [--host URL] [--max-retries N] [--timeout S] [--json] [--stream]
 *   hl --help | hl COMMAND --help | hl --version
 *
 * Written in C99 + POSIX on the public C API of include/humanloop.h only; jansson reads the
 * envelopes and builds the JSON of the request and of the client configuration.
 * The API key is read from HUMANLOOP_API_KEY only (never a flag) and is never printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "humanloop.h"

/* Exit codes (documented in --help). */
enum {
    EXIT_OK = 0,
    EXIT_OTHER = 1,        /* out of memory, output cannot be written, unreadable envelope */
    EXIT_USAGE = 2,        /* bad flags, unreadable request file, invalid_request, invalid_config */
    EXIT_API = 3,          /* api_error: the server answered with a non-2xx status */
    EXIT_NETWORK = 4,      /* connection_error, timeout, invalid_response */
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
    "  130  interrupted (Ctrl-C)\n";

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
            "  hl COMMAND --help\n"
            "  hl --version\n"
            "\n"
            "Commands:\n",
            HL_VERSION_STRING);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-22s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
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
    if (strcmp(type, "api_error") == 0) {
        json_t *status = json_object_get(error, "status");
        if (json_is_number(status)) {
            char digits[32];
            snprintf(digits, sizeof digits, "%.0f", json_number_value(status));
            if (!json_is_string(message) || strstr(json_string_value(message), digits) == NULL)
                fprintf(stderr, " (status %s)", digits);
        }
        print_server_detail(json_object_get(error, "body"));
    }
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
    if (first[0] == '-') return usage_error(NULL, "unknown option '%s'", first);
    return usage_error(NULL, "unknown command '%s'", first);
}
