/* hl: what the files of the tool share. */
#ifndef HL_H
#define HL_H

#include <stdio.h>
#include <stddef.h>

#include <jansson.h>

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


struct field_flag {
    unsigned bit;
    const char *flag;
    const char *help;
};


extern const struct command COMMANDS[];
extern const size_t N_COMMANDS;
extern const struct field_flag FIELD_FLAGS[];
extern const size_t N_FIELD_FLAGS;
extern const char BATCH_HELP[];

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


void print_main_help(FILE *out);
void print_command_help(FILE *out, const struct command *cmd);
int usage_error(const char *cmd, const char *fmt, const char *arg);
int out_of_memory(void);
void write_one_line(FILE *f, const char *s, size_t n);
json_t *load_envelope(const char *text);
int report_error(json_t *envelope);
void write_output(json_t *item);
long long item_index(json_t *item, size_t position);
int finish_output(int rc);
int envelope_is_ok(const char *text);
int write_envelope_line(const char *text);
void report_line_error(long line, const char *text);
int parse_options(const struct command *cmd, int argc, char **argv, int first, struct options *o);
int parse_batch_options(int argc, char **argv, struct batch_options *o);
int build_request(const struct command *cmd, const struct options *o, char **request);
hl_client *make_client(const struct options *o, int *rc);
int run_command(const struct command *cmd, int argc, char **argv);
const char *library_call_name(const char *name);

#endif
