/* The request of a single call: a file, standard input or flags, and the client. */
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
int build_request(const struct command *cmd, const struct options *o, char **request) {
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

hl_client *make_client(const struct options *o, int *rc) {
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

