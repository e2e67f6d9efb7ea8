/* The command line of each command (getopt_long). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
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

/* ---- options --------------------------------------------------------------------------------- */

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

/* The option that getopt_long refused, for the message: its name without a value (a key given
 * as --api-key=KEY is never printed). */
static const char *refused_option(char **argv, char *buf, size_t size) {
    const char *arg = argv[optind - 1];
    if (strncmp(arg, "--", 2) != 0 && optopt > 0 && optopt < 128) {
        snprintf(buf, size, "-%c", optopt);
        return buf;
    }
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    if (n >= size) n = size - 1;
    memcpy(buf, arg, n);
    buf[n] = '\0';
    return buf;
}

/* The message for getopt_long's '?' (unknown option, or a value given to a flag) and ':' (a
 * value missing). */
static int refused(const char *cmd, int c, char **argv, const struct option *longopts) {
    char name[64];
    refused_option(argv, name, sizeof name);
    if (c == ':') return usage_error(cmd, "option '%s' needs a value", name);
    if (strncmp(name, "--api-key", 9) == 0 || strncmp(name, "--api_key", 9) == 0)
        return usage_error(cmd, "there is no '%s' flag: set HUMANLOOP_API_KEY", name);
    for (const struct option *o = longopts; o->name != NULL; o++)
        if (o->has_arg == no_argument && strcmp(name + 2, o->name) == 0)
            return usage_error(cmd, "option '%s' takes no value", name);
    return usage_error(cmd, "unknown option '%s'", name);
}

/* The file argument: at most one. */
static int positional(const char *cmd, int argc, char **argv, const char **file, const char *what) {
    for (int i = optind; i < argc; i++) {
        if (*file != NULL) {
            fprintf(stderr, "hl: %s: more than one %s: '%s' (see hl %s --help)\n", cmd, what, argv[i], cmd);
            return EXIT_USAGE;
        }
        *file = argv[i];
    }
    return EXIT_OK;
}

enum { O_HOST = 256, O_MAX_RETRIES, O_TIMEOUT, O_JSON, O_STREAM, O_CONCURRENCY, O_CALL, O_OUTPUT, O_NO_PROGRESS,
       O_RETRY_FAILED, O_NO_RATE_AWARE };

/* Parses argv[first..argc-1] of a command. Returns EXIT_OK or the usage error's exit code. */
int parse_options(const struct command *cmd, int argc, char **argv, int first, struct options *o) {
    static const struct option LONG[] = {
        {"project", required_argument, NULL, F_PROJECT},
        {"model", required_argument, NULL, F_MODEL},
        {"prompt-template", required_argument, NULL, F_PROMPT_TEMPLATE},
        {"input", required_argument, NULL, F_INPUT},
        {"experiment-id", required_argument, NULL, F_EXPERIMENT_ID},
        {"model-config-id", required_argument, NULL, F_MODEL_CONFIG_ID},
        {"environment", required_argument, NULL, F_ENVIRONMENT},
        {"num-samples", required_argument, NULL, F_NUM_SAMPLES},
        {"host", required_argument, NULL, O_HOST},
        {"max-retries", required_argument, NULL, O_MAX_RETRIES},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"json", no_argument, NULL, O_JSON},
        {"stream", no_argument, NULL, O_STREAM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->max_retries = -1;
    o->timeout = -1;
    o->inputs = calloc((size_t)argc + 1, sizeof *o->inputs);
    if (o->inputs == NULL) return out_of_memory();
    int c, at = -1;
    opterr = 0;
    optind = 1;
    argc -= first - 1;
    argv += first - 1; /* getopt_long skips argv[0] */
    while ((c = getopt_long(argc, argv, ":h", LONG, &at)) != -1) {
        const char *value = optarg;
        switch (c) {
        case 'h': o->help = 1; continue;
        case O_JSON: o->json = 1; continue;
        case O_STREAM: o->stream = 1; continue;
        case O_HOST: o->host = value; continue;
        case O_MAX_RETRIES:
            if (!parse_integer(value, 0, 100, &o->max_retries))
                return usage_error(cmd->name, "--max-retries needs an integer 0..100, got '%s'", value);
            continue;
        case O_TIMEOUT:
            if (!parse_seconds(value, &o->timeout))
                return usage_error(cmd->name, "--timeout needs a number of seconds > 0, got '%s'", value);
            continue;
        case '?':
        case ':': return refused(cmd->name, c, argv, LONG);
        default: break;
        }
        unsigned bit = (unsigned)c;
        if (!(cmd->fields & bit)) {
            fprintf(stderr, "hl: %s: --%s is not a field of this endpoint's request (see hl %s --help)\n",
                    cmd->name, at >= 0 ? LONG[at].name : "?", cmd->name);
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
        default: /* F_NUM_SAMPLES */
            if (!parse_integer(value, 1, 1000000, &o->num_samples))
                return usage_error(cmd->name, "--num-samples needs an integer >= 1, got '%s'", value);
            break;
        }
    }
    return positional(cmd->name, argc, argv, &o->file, "request file");
}

static int parse_batch_args(int argc, char **argv, struct batch_options *o) {
    static const struct option LONG[] = {
        {"concurrency", required_argument, NULL, O_CONCURRENCY},
        {"call", required_argument, NULL, O_CALL},
        {"host", required_argument, NULL, O_HOST},
        {"max-retries", required_argument, NULL, O_MAX_RETRIES},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"output", required_argument, NULL, O_OUTPUT},
        {"no-progress", no_argument, NULL, O_NO_PROGRESS},
        {"retry-failed", no_argument, NULL, O_RETRY_FAILED},
        {"no-rate-aware", no_argument, NULL, O_NO_RATE_AWARE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->call = "complete";
    o->concurrency = 16;
    o->progress = 1;
    o->rate_aware = 1;
    o->client.max_retries = -1;
    o->client.timeout = -1;
    int c;
    opterr = 0;
    optind = 1;
    argc -= 1;
    argv += 1; /* from "batch" on: getopt_long skips argv[0] */
    while ((c = getopt_long(argc, argv, ":h", LONG, NULL)) != -1) {
        const char *value = optarg;
        switch (c) {
        case 'h': o->help = 1; break;
        case O_NO_PROGRESS: o->progress = 0; break;
        case O_RETRY_FAILED: o->retry_failed = 1; break;
        case O_NO_RATE_AWARE: o->rate_aware = 0; break;
        case O_CONCURRENCY:
            if (!parse_integer(value, 1, 10000, &o->concurrency))
                return usage_error("batch", "--concurrency needs an integer 1..10000, got '%s'", value);
            break;
        case O_CALL:
            o->call = library_call_name(value);
            if (o->call == NULL)
                return usage_error("batch",
                                   "--call needs complete, complete-deployed, complete-experiment or "
                                   "complete-model-config, got '%s'",
                                   value);
            break;
        case O_HOST: o->client.host = value; break;
        case O_MAX_RETRIES:
            if (!parse_integer(value, 0, 100, &o->client.max_retries))
                return usage_error("batch", "--max-retries needs an integer 0..100, got '%s'", value);
            break;
        case O_TIMEOUT:
            if (!parse_seconds(value, &o->client.timeout))
                return usage_error("batch", "--timeout needs a number of seconds > 0, got '%s'", value);
            break;
        case O_OUTPUT:
            if (value[0] == '\0') return usage_error("batch", "--output needs a file name%s", "");
            o->output = value;
            break;
        default: return refused("batch", c, argv, LONG);
        }
    }
    int rc = positional("batch", argc, argv, &o->file, "input file");
    if (rc != EXIT_OK) return rc;
    if (o->retry_failed && o->output == NULL)
        return usage_error("batch", "--retry-failed goes with --output (it re-sends the failed lines of %s)",
                           "OUT.partial");
    return EXIT_OK;
}

/* getopt_long reorders what it parses: it parses a copy, the command line is kept as given for
 * the command that resumes. */
int parse_batch_options(int argc, char **argv, struct batch_options *o) {
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    if (args == NULL) return out_of_memory();
    memcpy(args, argv, ((size_t)argc + 1) * sizeof *args);
    int rc = parse_batch_args(argc, args, o);
    free(args);
    o->argc = argc;
    o->argv = argv;
    return rc;
}
