/*
 * humanloop.h — libhumanloop, a C client for the Humanloop v4 completions API.
 *
 * One header, C99, usable from C++. Link with -lhumanloop.
 *
 * The model
 * ---------
 * Every call takes its arguments as one JSON object (a UTF-8, NUL-terminated string) and
 * returns one JSON string, an "envelope":
 *
 *   success  {"ok":true,"status":200,"headers":{...},"body":{...},
 *             "round_trip_time":0.0123,"attempts":1,"timings":{...}}
 *   failure  {"ok":false,"error":{"type":"...","message":"...", ...},"attempts":1}
 *
 * "attempts" is the number of HTTP attempts made (1 when nothing was retried, 0 when nothing
 * was sent); "round_trip_time" (seconds) and "timings" (libcurl's per-phase times of namelookup,
 * connect, tls, pretransfer, starttransfer, total, in seconds) describe the last attempt.
 * JSON is read with jansson. Server answers reach the caller byte-exact: a success "body" and
 * each stream event are the exact bytes the server sent (every number, key order and escape as
 * written), once jansson has checked them. The request body is written by the library as the
 * official Python SDK writes it: key order as given, integers as integers, reals in Python's
 * repr form (0.7, 1e-07, 0.30000000000000004, 1.0, 1e+20); an integer beyond 64 bits (or a
 * real beyond a double) in a request is an "invalid_request" naming its path. Error bodies
 * ("error.body") are read and written again, because secrets are redacted from them.
 *
 * Secrets: the values of the configuration's "api_key" and "*_api_key" keys and every value at
 * or under a request's "provider_api_keys" (whatever its type, an unknown provider's too) never
 * appear in any text the library writes: log lines, error messages and "errors", error
 * envelopes. Messages name the path and the type, never the value ("provider_api_keys must be
 * an object, not a string"); a logged request body shows "[redacted]" in their place; and every
 * occurrence of a known secret of 8 bytes or more (a server echoing a key back, a key repeated
 * in another field) reads "[redacted]". A shorter secret is kept out by path only. Success
 * bodies and stream events are never changed.
 *
 * error.type is one of:
 *   "invalid_request"   the request JSON is malformed or does not match the endpoint's body;
 *                       "path" names the first bad value (e.g. "model_config.temperature"),
 *                       "errors" lists every problem as [{"path":...,"message":...}, ...].
 *                       Nothing was sent.
 *   "invalid_config"    the client configuration is unusable (no API key, bad host, ...);
 *                       "path" and "errors" as for invalid_request, with the configuration
 *                       key of each problem as its path: every problem is reported at once.
 *   "api_error"         the server answered with a non-2xx status; carries "status",
 *                       "reason", "body" (parsed JSON, or a string when not JSON), "headers",
 *                       "round_trip_time". For a 404 the message names the URL that was
 *                       called (usually a wrong host, e.g. one without /v4).
 *   "connection_error"  the connection could not be made or broke (DNS, refused, reset, TLS),
 *                       a proxy refused the tunnel (the message says so, with its status), or
 *                       a call or stream was used in a process other than the one that
 *                       started it (see "fork" below).
 *   "timeout"           the call (or the connection phase) ran out of time.
 *   "invalid_response"  a 2xx answer whose body is empty, not UTF-8, not JSON or not a JSON
 *                       object, or any body larger than max_response_bytes; a malformed status
 *                       line or a response head over 1 MiB; carries "status" and "body" (the
 *                       text received, possibly cut short).
 *   "cancelled"         the call or stream was cancelled (hl_call_cancel, hl_stream_cancel,
 *                       hl_client_free with calls in flight) before it ended.
 * "message" is one readable sentence. No message ever contains an API key.
 *
 * Nothing a server sends can crash the host: numbers in the status line, headers (Retry-After
 * in its three forms, retry-after-ms, Content-Length) and bodies are read with checked
 * conversions; a value that makes no sense (negative, NaN, 1e400, beyond 64 bits, an impossible
 * date) is ignored or reported as an error. Work grows linearly with the size of an answer.
 *
 * Memory
 * ------
 * Every char* the library returns is owned by the caller and must be released with hl_free()
 * (and only with it). Strings passed in are only read during the call and never kept.
 *
 * Threads
 * -------
 * hl_version() and hl_free() may be called from any thread. An hl_client is thread-safe: any
 * number of threads may call the completion functions through one client at the same time;
 * connections are pooled and reused (HTTP keep-alive). A client must not be freed while another
 * thread still uses it. An hl_stream belongs to one thread at a time (no concurrent calls on
 * the same stream), but different streams may be used from different threads.
 *
 * The library initialises libcurl globally on first use (curl_global_init is thread-safe in
 * the libcurl versions this library requires).
 *
 * fork()
 * ------
 * Safe: create a client (or use the default one), make calls, fork() (gunicorn --preload,
 * uWSGI, Celery prefork, Python multiprocessing's "fork" start method, a C daemon forking
 * workers), and keep using the same client in the parent and in every child. A process never
 * reads or writes a connection it inherited: in the child, right after fork(), the library
 * detaches every inherited socket (replaced by /dev/null, without any TLS close_notify or
 * other byte on the parent's connection), drops the inherited handles on first use and opens
 * fresh connections. The parent's connections are untouched. A lock another thread held at
 * the moment of fork() is released in the child (pthread_atfork), so the child never
 * deadlocks on one of the library's locks; a call another thread was making at that moment
 * simply does not exist in the child (it completes in the parent). Sockets are also
 * close-on-exec.
 * The fork gate: every libcurl entry of the library (and so every OpenSSL entry of its TLS)
 * passes a gate that fork()'s prepare handler closes: fork() first waits until no thread is
 * inside libcurl for the library (the engine, a blocking caller, a host running hl_loop_run),
 * which is short, as no libcurl step of the library blocks; threads that want to enter wait
 * until the parent and the child reopen it. A child therefore never inherits a libcurl or
 * OpenSSL lock held by a thread of the library, whatever those threads were doing. Host code
 * never runs inside the gate (callbacks, hand-offs to loops and queues, the log callback), so
 * a callback may fork, and a host whose fork() holds its own locks (CPython's os.fork holds
 * the GIL) cannot deadlock against the library.
 * What stays the program's responsibility: TLS of its own threads (its own OpenSSL code or
 * another library's) at the instant of fork() can still leave the child a lock that is never
 * released; fork while no other thread of the program does TLS, or exec in the child.
 * libcurl resolves names on threads of its own (getaddrinfo), outside the gate: a lookup in
 * progress at fork() does not exist in the child (the child never waits for it: its calls
 * make their own lookups on new threads). Whether a lock inside glibc's getaddrinfo, held by
 * such a thread at that instant, can reach the child is glibc's matter, as for any threaded
 * program that forks.
 * Not possible: a stream (or call) open across fork() belongs to the parent. In the child,
 * hl_stream_next on it returns a terminal "connection_error" saying so, without touching the
 * connection; hl_stream_free on it is safe. Only fork() through the C library runs these
 * handlers (a raw clone() system call does not).
 *
 * Connections
 * -----------
 * A blocking call (hl_complete*, hl_call_run, a stream of hl_complete_stream) runs on the
 * calling thread a loop of its own (see "Loops"), checked out of its client's pool: the pool
 * keeps the loops of finished calls with their open keep-alive connections, as many as the most
 * blocking calls it had in flight at once, up to 1024 idle loops, so a burst of concurrent calls
 * does not make later calls reconnect; at most "max_connections" of them are in use at once
 * (more blocking calls wait). hl_client_free closes them. Asynchronous calls have their own
 * connections (see "the engine" below).
 *
 * Proxies
 * -------
 * "proxy" in the configuration sets the proxy for every call ("" turns proxies off, also
 * those of the environment). Without it, libcurl's environment variables apply: http_proxy
 * (lower case only: libcurl ignores upper-case HTTP_PROXY by design, since a CGI environment
 * sets it from a request header), https_proxy or HTTPS_PROXY, all_proxy or ALL_PROXY, and
 * no_proxy or NO_PROXY. https URLs go through a CONNECT tunnel; a proxy that refuses it
 * gives a "connection_error" naming the proxy and its status.
 *
 * Signals
 * -------
 * The library installs no signal handler and changes no signal disposition (libcurl runs with
 * CURLOPT_NOSIGNAL). It never raises SIGPIPE: libcurl (7.88 and later, also for TLS) writes to
 * sockets with MSG_NOSIGNAL. A C host needs to do nothing about SIGPIPE for this library; with
 * an older libcurl built with a TLS library that writes with write(2), ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN)) as libcurl's documentation advises.
 */
#ifndef HUMANLOOP_H
#define HUMANLOOP_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

#define HL_VERSION_MAJOR 0
#define HL_VERSION_MINOR 2
#define HL_VERSION_PATCH 0
#define HL_VERSION_STRING "0.2.0"
/* The version as one number, 0xMMmmpp (major, minor, patch), for comparisons in #if. */
#define HL_VERSION_NUM 0x000200

/*
 * hl_version: the library's version, e.g. "0.2.0" (the HL_VERSION_STRING it was built with).
 * Returns a static string: never free it. Thread-safe.
 */
const char *hl_version(void);

/*
 * hl_version_num: the library's version as 0xMMmmpp (the HL_VERSION_NUM it was built with), to
 * compare the library a program runs with against the header it was compiled with. Thread-safe.
 */
int hl_version_num(void);

/* An opaque client: configuration, credentials and a pool of connections. */
typedef struct hl_client hl_client;

/*
 * hl_client_new: create a client.
 *
 * config_json may be NULL (the same as "{}"), else a JSON object with these optional keys:
 *   "api_key"          string; else the environment variable HUMANLOOP_API_KEY; one is required
 *   "host"             string, http:// or https:// base URL; default HUMANLOOP_HOST, else
 *                      "https://api.humanloop.com/v4"; one trailing "/" is removed
 *   "openai_api_key", "openai_azure_api_key", "openai_azure_endpoint_api_key",
 *   "ai21_api_key", "mock_api_key", "anthropic_api_key", "cohere_api_key"
 *                      strings: client-level provider keys, merged into every request's
 *                      "provider_api_keys" (a key given in the request wins)
 *   "timeout"          seconds, > 0, or null for no limit; default 600. Each attempt of a
 *                      non-stream call; for a stream, the head and first event only (see
 *                      "Timeouts" below)
 *   "connect_timeout"  number of seconds to establish a connection, > 0; default 10
 *   "low_speed_timeout" seconds without receiving a byte that end an attempt (a server that
 *                      stalls before or during the body or stream) as "timeout"; default 60
 *   "user_agent"       string; default "libhumanloop/<version>"
 *   "max_retries"      integer 0..100; default 2. Retried: connection failures (refused, reset,
 *                      closed before an answer), timeouts while connecting, and 408, 409, 429
 *                      and 5xx answers; nothing else. A stream is retried only before its first
 *                      event. Backoff is exponential with jitter; a Retry-After (seconds or HTTP
 *                      date) or retry-after-ms header asking for at most 60 s is honoured.
 *   "retry_base_delay" seconds before the first retry, >= 0; default 0.5 (doubles each retry)
 *   "retry_max_delay"  largest backoff delay in seconds, >= 0; default 8
 *   "max_response_bytes" integer; default 67108864 (64 MiB). A larger body (or a larger single
 *                      stream event) fails as "invalid_response" as soon as the limit is passed.
 *                      A blocking call with "stream": true keeps every event and the merged
 *                      text: their total is bounded by this limit too (past it, the call ends
 *                      at once with "invalid_response").
 *   "ca_bundle"        path of a PEM file of CA certificates for https (default: the system's)
 *   "log_level"        "off", "info" or "debug"; default: the environment variable
 *                      HUMANLOOP_LOG (same values; anything else there is ignored), else "off".
 *                      See "Logging" at hl_set_log_callback.
 *   "max_connections"  integer 1..100000; default 1000: the most requests of the client on
 *                      the wire at once (each on a connection of its own, or a stream of an
 *                      HTTP/2 connection), one cap for the whole client: its blocking calls and
 *                      streams, its engine (asynchronous calls, queues, batches) and its host
 *                      loops (hl_loop_new) together; more calls wait for a connection, their
 *                      "timeout" running while they wait (past it: "timeout", nothing sent, not
 *                      counted in "attempts"). Idle keep-alive connections are not counted:
 *                      each loop keeps at most this many.
 *   "proxy"            proxy URL; "" for none (default: libcurl's http_proxy, https_proxy,
 *                      no_proxy environment variables; see "Proxies" above)
 * Timeouts (the client's, or a call's options; each ends the attempt as "timeout"):
 *   key                 non-stream call              stream (pull, async, "stream": true,
 *                                                    a batch item that streams)
 *   "timeout"           each attempt, whole          each attempt until the answer's head and
 *                       (null: no limit)             first event; none after it (null: none)
 *   "connect_timeout"   connecting (TCP + TLS)       the same
 *   "low_speed_timeout" the longest gap between      the same: the only bound once events
 *                       received bytes               flow, so a stream that keeps sending never
 *                                                    times out
 * An overall deadline is the caller's: cancel the call (hl_call_cancel, hl_stream_cancel), or a
 * binding's context, wait_for or task cancellation. Calls waiting for a connection
 * (max_connections) wait at most "timeout".
 * TLS peer and host verification are always on; no key turns them off. Only http and https are
 * ever used, also on redirects: 307/308 answers to the same scheme, host and port are followed
 * (at most 3); any other 3xx comes back as an "api_error".
 * An unknown key, a wrong type, a value out of range, a bad host URL (only http:// and https://),
 * or CR/LF/NUL in a value that becomes a header (api_key, user_agent) is an error; the error
 * lists every problem of the configuration ("errors"), not only the first.
 *
 * Returns a new client (free it with hl_client_free), or NULL on failure. On failure, if
 * error_json is not NULL, *error_json receives an error envelope (type "invalid_config") that
 * the caller frees with hl_free; on success *error_json is set to NULL.
 * Thread-safe (creates independent objects).
 */
hl_client *hl_client_new(const char *config_json, char **error_json);

/*
 * hl_client_free: release a client and close its connections. NULL is a no-op.
 * No other thread may be in a call on the client. Streams opened on it keep what they need
 * alive: the client may be freed before them, and its last connections close when the last
 * of its streams is freed. Asynchronous calls still in flight are cancelled and their terminal
 * items ("cancelled") delivered to their callbacks before hl_client_free returns, also those of
 * calls a callback starts meanwhile (nothing sent, "attempts" 0); then the engine thread has
 * ended. Their hl_call handles stay valid until hl_call_free. Must not be
 * called from a callback of the client's own calls.
 */
void hl_client_free(hl_client *client);

/*
 * hl_client_info: the client's settings in effect, as a JSON object (free with hl_free):
 *   {"max_connections":1000,"engine_max_connections":763,"blocking_max_connections":128,
 *    "open_file_limit":1024}
 * "max_connections" is the configured value; the two caps in effect are lowered to what the
 * process's open-file limit (the soft RLIMIT_NOFILE when the client was made; null when there
 * is none) leaves room for, keeping a quarter of it for the host program: the engine uses one
 * descriptor per connection plus 5 of its own (a loop: epoll, timer and event descriptors and
 * libcurl's wake-up pair), a blocking call 6 (a loop of its own, with one connection). A call
 * that still finds no free descriptor (EMFILE, ENFILE) waits for one, as calls beyond
 * max_connections do, its "timeout" running; past it, a "connection_error" that says "too many
 * open files" and names the limit.
 * client NULL: the default client (see hl_complete). Returns NULL when that client cannot be
 * made or memory is exhausted. Thread-safe.
 */
char *hl_client_info(const hl_client *client);

/*
 * The four completion calls. Each sends request_json (the endpoint's body fields, as the
 * official SDK's keyword arguments) to its endpoint and waits for the answer:
 *
 *   hl_complete                       POST {host}/completion               needs "model_config"
 *   hl_complete_deployed              POST {host}/completion-deployed
 *   hl_complete_experiment            POST {host}/completion-experiment    needs "experiment_id"
 *   hl_complete_model_configuration   POST {host}/completion-model-config  needs "model_config_id"
 *
 * client may be NULL: a default client built from the environment (HUMANLOOP_API_KEY,
 * HUMANLOOP_HOST) is created on first use and shared by all threads; if it cannot be built,
 * the call returns its invalid_config error, and the next NULL call tries again (so setting
 * HUMANLOOP_API_KEY later works). Once built, it is kept for the life of the process.
 *
 * The request is validated locally first (unknown keys, missing required fields, wrong JSON
 * types, enum values); on any problem nothing is sent and an invalid_request envelope lists
 * every problem. With "stream": true the call consumes the event stream and returns one
 * success envelope whose "body" merges the events per sample and whose "events" array holds
 * every event as received.
 *
 * Returns a new envelope string (free with hl_free); never NULL except when memory is
 * exhausted. Never crashes on any input, NULL included. Thread-safe.
 */
char *hl_complete(hl_client *client, const char *request_json);
char *hl_complete_deployed(hl_client *client, const char *request_json);
char *hl_complete_experiment(hl_client *client, const char *request_json);
char *hl_complete_model_configuration(hl_client *client, const char *request_json);

/* An opaque, open event stream of one streaming call. */
typedef struct hl_stream hl_stream;

/*
 * The streaming calls: the same four endpoints with "stream": true set by the library.
 * They validate like the blocking calls and return a stream; every failure (validation,
 * connection, non-2xx status, timeout) arrives as an item of hl_stream_next. They return NULL
 * only when memory is exhausted. The transfer is driven by hl_stream_next itself (no thread is
 * started). Thread-safe with respect to the client; the stream itself is single-threaded.
 */
hl_stream *hl_complete_stream(hl_client *client, const char *request_json);
hl_stream *hl_complete_deployed_stream(hl_client *client, const char *request_json);
hl_stream *hl_complete_experiment_stream(hl_client *client, const char *request_json);
hl_stream *hl_complete_model_configuration_stream(hl_client *client, const char *request_json);

/*
 * hl_stream_next: block until the next item and return it as a new string (free with hl_free):
 *   {"ok":true,"event":{...}}     one server event's JSON object, untouched, in arrival order;
 *                                 the first event's item also has the answer's "status" and
 *                                 "headers" (as in the terminal item), so they are known as
 *                                 soon as the stream starts;
 *   then exactly one terminal item:
 *   {"ok":true,"done":true,"status":200,"headers":{...},"round_trip_time":...,"attempts":n,
 *    "events":N}                  the body ended cleanly (or with "data: [DONE]"), or
 *   {"ok":false,"error":{...},"attempts":n}
 *                                 the same error types as the blocking calls: an event that
 *                                 is not a JSON object is "invalid_response"; a connection cut
 *                                 mid-stream is "connection_error" and its message says how
 *                                 many events arrived; a stall is "timeout";
 *   then NULL for every further call. NULL stream returns NULL.
 * Events are delivered as soon as their bytes arrive; the events decoded before a failure are
 * always delivered before it. A failure before the first event is retried like a blocking
 * call (max_retries); after the first event nothing is retried.
 * Not thread-safe for one stream: use it from one thread at a time (handing it to another
 * thread between calls is fine).
 */
char *hl_stream_next(hl_stream *stream);

/*
 * hl_stream_free: close the connection if still open and release the stream. Safe at any
 * point (before, during or after the events); it never blocks on the network. Items already
 * returned by hl_stream_next stay valid (free them with hl_free). NULL is a no-op. Not to be
 * called while another thread is inside hl_stream_next on the same stream.
 */
void hl_stream_free(hl_stream *stream);

/*
 * hl_stream_cancel: make the stream end with the terminal item
 *   {"ok":false,"error":{"type":"cancelled","message":"..."},"attempts":n}
 * From any thread, at any time, also while another thread is blocked in hl_stream_next (which
 * then returns that item within about 100 ms: the connection is closed, a retry delay is cut
 * short). Idempotent; no effect once the terminal item was returned. NULL is a no-op. The
 * stream must still be freed with hl_stream_free (not concurrently with hl_stream_cancel).
 */
void hl_stream_cancel(hl_stream *stream);

/*
 * Asynchronous calls, the engine
 * ------------------------------
 * Each client has one engine: a thread owned by the library that runs all of the client's
 * asynchronous calls on libcurl's multi interface (no thread per call; thousands of calls may
 * be in flight). It starts on the client's first hl_call_start or hl_batch and stops in
 * hl_client_free. After fork() the child gets a fresh engine on first use; calls in flight at
 * the moment of fork() belong to the parent (in the child they never deliver anything).
 *
 * Connections of the engine: HTTP/1.1 keep-alive, and HTTP/2 with multiplexing when an https
 * server offers it (ALPN): calls to one host then share one connection (a new call waits for
 * the connection that can carry it rather than opening another one). The configuration key
 * "max_connections" (integer 1..100000, default 1000) caps the client's requests in flight, the
 * engine's, the blocking calls' and the host loops' together; calls beyond it wait (their
 * "timeout" runs while they wait). Answers may be sent
 * compressed (the library sends Accept-Encoding for every encoding libcurl decodes: gzip,
 * deflate and, where built in, br and zstd; every path, blocking too) and are decoded before
 * anything else sees them; max_response_bytes applies to the decoded bytes. A stream that ended
 * with "data: [DONE]" is read to its end (at most 1 s and 64 KiB more) so that its connection
 * is reused.
 *
 * The call names: "complete", "complete_deployed", "complete_experiment",
 * "complete_model_configuration" (the four blocking functions). Any other name is an
 * "invalid_request".
 *
 * Options (options_json; NULL is the same as "{}"), each optional, for this call only:
 *   "timeout", "connect_timeout", "low_speed_timeout"   as in the configuration ("timeout"
 *                      may be null: no limit for this call)
 *   "max_retries"      integer 0..100, as in the configuration
 *   "headers"          object of strings: extra request headers. A name must be an HTTP token,
 *                      a value must not contain CR, LF or NUL. X-API-KEY, Content-Type,
 *                      Content-Length and Host cannot be set (case-insensitively); other
 *                      names replace the library's value (e.g. User-Agent, Accept).
 *   "stream"           boolean; true: deliver the events one by one (hl_call_start only)
 * An unknown key, a wrong type or a value out of range is an "invalid_request" whose "errors"
 * list every problem, with paths "options.<key>".
 */

/* One asynchronous call. */
typedef struct hl_call hl_call;

/*
 * The callback of an asynchronous call. kind is HL_ITEM_EVENT (one stream event) or
 * HL_ITEM_RESULT (the call's terminal item); item_json is the item, NUL-terminated, len bytes
 * long (the NUL not counted). The item belongs to the library and is valid only while the
 * callback runs: copy what you keep. call is the handle hl_call_start returned. item_json is
 * never NULL.
 *
 * It runs on the engine thread of the call's client, never on the thread that started the call
 * and never for two items of one client at the same time. It must return quickly: while it
 * runs, no other call of the client makes progress. It may call hl_call_start (new calls),
 * hl_call_cancel and hl_call_free (on any call, its own included), hl_free, and the blocking
 * calls hl_complete* and hl_call_run (these run on the calling thread, not on the engine, but
 * they stall the engine for their duration). It must not call hl_client_free on its call's
 * client, nor hl_batch on that client: both wait for the engine that is running the callback
 * (hl_batch returns an "invalid_request" envelope saying so). It runs outside the library's
 * fork gate (see "Fork"): it may fork.
 *
 * Changed in 0.2.0: the callback used to receive a string it owned (char *item_json, freed with
 * hl_free) and no kind; see CHANGELOG.md.
 */
typedef void (*hl_callback)(hl_call *call, int kind, const char *item_json, size_t len, void *user_data);

/*
 * hl_call_start: start the call `name` with request_json and options_json, and return at once
 * (never blocks on the network: validation happens here, everything else on the engine).
 *
 * The callback receives:
 *   - without "stream": exactly one item, the envelope the blocking call would return;
 *   - with "stream": true: {"ok":true,"event":{...}} items as events arrive, then exactly one
 *     terminal item, the same as hl_stream_next's ("done" or an error).
 * After the terminal item, no callback runs for the call. Every error arrives through the
 * callback, validation errors included (never synchronously), so callers have one path.
 * client NULL uses the default client (see hl_complete).
 *
 * Returns the call handle, to be released with hl_call_free (also after the terminal item; the
 * callback may run before hl_call_start has returned, with this same handle). Returns NULL only
 * when callback is NULL or memory is exhausted (then nothing runs). Thread-safe.
 */
hl_call *hl_call_start(hl_client *client, const char *name, const char *request_json,
                       const char *options_json, hl_callback callback, void *user_data);

/*
 * hl_call_cancel: cancel the call. From any thread, at any time, idempotent, also from inside
 * the callback (its own or another call's). An unfinished call ends promptly: its transfer is
 * stopped and its connection closed within 100 ms, a retry delay is cut short, and its terminal
 * item is {"ok":false,"error":{"type":"cancelled","message":"..."},"attempts":n}.
 * Races: when the call's terminal item is already being delivered (or was), cancelling has no
 * effect and the item stands. NULL is a no-op. Not to be called after hl_call_free.
 */
void hl_call_cancel(hl_call *call);

/*
 * hl_call_free: release the call handle; cancels the call if it is unfinished (no terminal
 * item is delivered then). When hl_call_free returns, no callback of this call is running or
 * will run, except that it may be called from inside this call's own callback (the callback
 * then simply finishes; nothing runs after it). From another thread it waits for a running
 * callback of this call to return. NULL is a no-op. Call it exactly once per handle.
 */
void hl_call_free(hl_call *call);

/*
 * hl_call_run: the blocking form of hl_call_start: the call `name` with options, on the calling
 * thread (like hl_complete*, not on the engine). Returns the envelope the matching blocking
 * call returns (with "stream": true in the options or the request: the merged envelope).
 * Free with hl_free; NULL only when memory is exhausted. Thread-safe.
 */
char *hl_call_run(hl_client *client, const char *name, const char *request_json,
                  const char *options_json);

/*
 * hl_batch: run many calls on the engine and wait for all of them. batch_json:
 *   {"concurrency":N,"requests":[{"call":"complete","request":{...},"options":{...}}, ...]}
 * "concurrency" (integer 1..10000, default 16) caps the calls of this batch in flight at once;
 * "options" is optional (as for hl_call_start; "stream": true there gives the merged envelope).
 * "rate_aware": true (default false) makes the batch slow down on rate limits: an answer 429
 * (or 503 with Retry-After) halves the calls in flight (at most once per round-trip), each
 * success grows them back by one per round, up to "concurrency" (additive increase,
 * multiplicative decrease); Retry-After holds the start of every new call of the batch until
 * then; and the request goes back to the batch's queue instead of failing, up to 10 times
 * (then its last answer stands). Its calls leave 429s to the batch (other retries as usual).
 * Returns {"ok":true,"results":[envelope, ...]}: one envelope per request, in request order,
 * each exactly what the single call would return; a bad item gets its own error envelope and
 * the others run. A malformed batch as a whole (not JSON, unknown keys, "requests" not an
 * array, a bad "concurrency") is one "invalid_request" envelope and nothing runs. An empty
 * "requests" returns {"ok":true,"results":[]}. Thread-safe; several batches and asynchronous
 * calls may share a client's engine. Free the result with hl_free.
 */
char *hl_batch(hl_client *client, const char *batch_json);

/*
 * Loops: calls driven by the host's own event loop
 * ------------------------------------------------
 * A loop is the library's driver of calls (the one the engine thread runs too): a private
 * libcurl multi handle whose calls make progress only inside hl_loop_run, on the thread that
 * calls it. A host with an event loop (Python's asyncio, libuv, tokio) watches one descriptor,
 * hl_loop_fd, and calls hl_loop_run when it is readable: no thread of the library is involved
 * and the items cross the FFI once per wake-up, in an array.
 *
 * Which shape suits which host:
 *   - a host with an event loop (asyncio, libuv, tokio, a C program built on epoll): a loop,
 *     run from its own event loop (hl_loop_fd, hl_loop_run). No thread hop at all.
 *   - a host of threads without a loop of its own (Go, C worker threads, Node through
 *     uv_async_send): a completion queue (see "Queues" below); the engine thread runs the calls
 *     and the host drains their items in batches.
 *   - a C program that simply waits: the blocking calls (each runs a private loop inline, as
 *     curl_easy_perform does), or hl_call_start's callbacks on the engine thread when it wants
 *     many calls at once and no queue.
 *
 * Threads: one thread runs a loop at a time (hl_loop_run). hl_loop_submit, hl_loop_wake,
 * hl_call_cancel, hl_call_pause and hl_call_free may come from any thread, at any time; a call
 * from another thread makes hl_loop_fd readable so that the running thread sees it.
 *
 * fork(): a loop made before fork() is dead in the child: its descriptors and connections are
 * shared with the parent. In the child hl_loop_run returns 0 at once and does nothing, and
 * hl_loop_free closes only the child's copies of the descriptors (the epoll set is not
 * touched) and leaves libcurl's part of the loop allocated (a thread of the parent may have
 * been in the middle of running it). Make a new loop in the child (Python:
 * os.register_at_fork).
 *
 * Connections: each loop has its own connections and reuses them (keep-alive, HTTP/2); the
 * client's "max_connections" in effect (hl_client_info: engine_max_connections) caps the
 * requests in flight of all its loops together, and the idle connections each loop keeps.
 */

/* One item of hl_loop_run. */
#define HL_ITEM_EVENT  1   /* {"ok":true,"event":{...}}: one stream event (the first also has status, headers) */
#define HL_ITEM_RESULT 2   /* the call's terminal item: the envelope, or the stream's terminal item */
typedef struct hl_item {
    hl_call    *call;      /* the call it belongs to (the handle hl_loop_submit returned) */
    void       *tag;       /* the tag given when the call was submitted */
    int         kind;      /* HL_ITEM_EVENT or HL_ITEM_RESULT */
    const char *json;      /* NUL-terminated; owned by the loop, valid until the next hl_loop_run
                              or hl_loop_free on this loop */
    size_t      len;       /* bytes of json, not counting the terminating NUL */
} hl_item;

/* A loop of one client's calls, run by the host. */
typedef struct hl_loop hl_loop;

/*
 * hl_loop_new: a loop for client's calls (client NULL: the default client, see hl_complete).
 * options_json: NULL or "{}" (no option is defined yet; anything else returns NULL). Returns
 * NULL when the client cannot be made, or libcurl or the loop's descriptors cannot be set up
 * (out of memory or of file descriptors). The loop keeps what it needs of the client: the client
 * may be freed first. Free with hl_loop_free. Thread-safe.
 */
hl_loop *hl_loop_new(hl_client *client, const char *options_json);

/*
 * hl_loop_fd: a descriptor that is readable whenever hl_loop_run has work: a socket of a call
 * is ready, a timer of libcurl or of the loop (retry delays, stall checks) is due, another
 * thread submitted, cancelled, paused or woke, or items are left from a run that stopped at
 * `max`. It is an epoll descriptor (level-triggered, close-on-exec): poll it for reading with
 * poll/select/epoll, asyncio's add_reader, libuv's uv_poll or tokio's AsyncFd; never read or
 * write it. Edge-triggered hosts (EPOLLET, tokio) must run the loop until hl_loop_run returns 0
 * items with timeout 0 before they wait again. The descriptor lives as long as the loop.
 */
int hl_loop_fd(hl_loop *loop);

/*
 * hl_loop_submit: start the call `name` (as hl_call_start: the same names, requests, options
 * and items) on the loop; tag comes back in each of its items. Returns at once; the call makes
 * progress only inside hl_loop_run, and every error, validation included, arrives as its
 * HL_ITEM_RESULT there. Returns NULL for a NULL loop. The handle works with hl_call_cancel,
 * hl_call_pause and hl_call_free (exactly once per handle, whatever ended the call); once
 * hl_call_free returns, no item of the call is returned any more (pending ones are discarded).
 * Any thread.
 */
hl_call *hl_loop_submit(hl_loop *loop, const char *name, const char *request_json,
                        const char *options_json, void *tag);

/*
 * hl_loop_run: do the work that is ready (sockets, timers, submissions and cancellations from
 * other threads) and store up to `max` items in `items`; returns how many. With timeout_ms 0 it
 * does what is ready once and never waits (what an event loop calls when hl_loop_fd is
 * readable). Otherwise, when no item is pending, it goes on doing the work as it becomes ready
 * until at least one item is ready, timeout_ms passes (-1: no limit) or hl_loop_wake is called:
 * a blocking caller submits, then one run returns the answer. Items left over (more than `max`
 * were ready) come from the next run, and hl_loop_fd stays readable meanwhile. The items' json is valid until the
 * next hl_loop_run or hl_loop_free. items may be NULL only with max 0. One thread at a time.
 */
size_t hl_loop_run(hl_loop *loop, int timeout_ms, hl_item *items, size_t max);

/* hl_loop_wake: make hl_loop_fd readable and end a wait in hl_loop_run. Any thread. */
void hl_loop_wake(hl_loop *loop);

/*
 * hl_loop_free: cancel the calls still running and free the loop, its connections and its
 * items. No item is returned or delivered after it (the calls' "cancelled" items are discarded);
 * the calls' handles stay valid until hl_call_free. Not while another thread is inside
 * hl_loop_run on it. NULL is a no-op.
 */
void hl_loop_free(hl_loop *loop);

/*
 * hl_call_pause: pause (paused != 0) or resume receiving the answer of a call of a loop or of
 * the engine: flow control for a consumer that falls behind (asyncio's transports pause
 * reading past their high-water mark). Takes effect at the loop's next step (libcurl's
 * curl_easy_pause runs on the loop's thread); low_speed_timeout does not run while a call is
 * paused. Over HTTP/2, libcurl 7.88 has known bugs with paused transfers: prefer HTTP/1.1 for
 * streams that are paused. Any thread; NULL is a no-op.
 */
void hl_call_pause(hl_call *call, int paused);

/*
 * Queues: items of calls that the engine thread runs, for hosts without an event loop
 * -----------------------------------------------------------------------------------
 * A queue is where the engine (the thread of hl_call_start, see above) puts the items of the
 * calls submitted to it with hl_call_submit, for a host that runs no event loop of its own (Go,
 * C threads): no code of the host runs on the engine thread. One consumer takes the items,
 * waiting with hl_queue_wait or by polling hl_queue_fd, and takes up to `max` per crossing with
 * hl_queue_drain. A host with an event loop uses a loop (hl_loop) instead.
 *
 * Threads: one consumer per queue (hl_queue_drain, hl_queue_wait); hl_call_submit,
 * hl_queue_wake, hl_call_cancel, hl_call_pause and hl_call_free from any thread. Calls of
 * several clients may deliver to one queue.
 *
 * Memory: while the queue holds more than "max_pending_bytes" (default 16 MiB) of items, the
 * streams delivering to it are paused and resumed once the consumer has drained it below half;
 * nothing is dropped.
 *
 * fork(): a queue made before fork() belongs to the parent; in the child, the engine of a
 * client is new and delivers nothing to it. Make a new queue in the child.
 */

/* A queue of items of calls run by the engine. */
typedef struct hl_queue hl_queue;

/*
 * hl_queue_new: a queue. options_json: NULL, "{}" or {"max_pending_bytes": N} (N >= 1); any
 * other key or value returns NULL, as does running out of memory or of file descriptors. Free
 * with hl_queue_free. Thread-safe.
 */
hl_queue *hl_queue_new(const char *options_json);

/*
 * hl_queue_fd: an eventfd (close-on-exec, non-blocking) readable while items are pending: it is
 * signalled only when the queue goes from empty to non-empty, and reset only by a drain that
 * leaves the queue empty (and by hl_queue_wake, which signals it). This suits level-triggered
 * pollers and edge-triggered ones (Go's netpoller, EPOLLET) alike; an edge-triggered consumer
 * must drain until hl_queue_drain returns 0 before it waits again. Never read or write it.
 */
int hl_queue_fd(hl_queue *queue);

/*
 * hl_call_submit: start the call `name` on client's engine (as hl_call_start: the same names,
 * requests, options and items) with its items going to `queue`, each carrying `tag`. Returns at
 * once; every error, validation included, arrives as the call's HL_ITEM_RESULT on the queue.
 * Returns NULL for a NULL queue. The handle works with hl_call_cancel, hl_call_pause and
 * hl_call_free (exactly once per handle, whatever ended the call); once hl_call_free returns,
 * no item of the call is drained any more. Any thread.
 */
hl_call *hl_call_submit(hl_client *client, const char *name, const char *request_json,
                        const char *options_json, hl_queue *queue, void *tag);

/*
 * hl_batch_submit: run a batch (the batch_json of hl_batch, "rate_aware" included) on client's
 * engine, its items going to `queue` with `tag`, and return at once:
 *   - one HL_ITEM_EVENT per finished request, {"index":k,"result":<its envelope>}, in the order
 *     the requests finish (k is the request's place in "requests", from 0);
 *   - then one HL_ITEM_RESULT, {"ok":true,"done":n,"failed":f,"cancelled":c,"not_started":m}:
 *     the requests that succeeded, failed, were cancelled, and never started.
 * A malformed batch (or client) is the handle's one HL_ITEM_RESULT: its error envelope.
 * hl_call_cancel on the handle cancels the batch's calls in flight and starts no more: their
 * "cancelled" results still arrive as events, so the counts add up (progress: the events seen
 * of the "requests" sent). hl_call_free as for a call (it cancels an unfinished batch; no item
 * of it is drained afterwards); hl_call_pause has no effect on a batch. While the queue holds
 * more than its max_pending_bytes, the batch starts no new call. Returns NULL for a NULL
 * queue. Any thread.
 */
hl_call *hl_batch_submit(hl_client *client, const char *batch_json, hl_queue *queue, void *tag);

/*
 * hl_queue_drain: take up to `max` pending items into `items` (never blocks); returns how many.
 * Their json is valid until the next hl_queue_drain or hl_queue_free. The consumer only.
 */
size_t hl_queue_drain(hl_queue *queue, hl_item *items, size_t max);

/*
 * hl_queue_wait: block until an item is pending (returns 1), until timeout_ms passed (returns
 * 0; -1: no limit) or until hl_queue_wake is called (returns 1 if an item is pending then, else
 * 0). The consumer only.
 */
int hl_queue_wait(hl_queue *queue, int timeout_ms);

/* hl_queue_wake: end a wait in hl_queue_wait and make hl_queue_fd readable. Any thread. */
void hl_queue_wake(hl_queue *queue);

/*
 * hl_queue_free: cancel the calls still delivering to the queue and free it with its pending
 * items; no item is put on it afterwards (the engine keeps what it needs until those calls end,
 * without delivering). The calls' handles stay valid until hl_call_free. Not while the consumer
 * is inside hl_queue_drain or hl_queue_wait. NULL is a no-op.
 */
void hl_queue_free(hl_queue *queue);

/*
 * Logging
 * -------
 * At "info" the library writes one line per HTTP attempt: time, call, method, URL, status or
 * error, attempt number, duration, bytes received, and what happens next (retry delay, redirect):
 *   humanloop: 2026-11-25T21:45:01.123Z info complete POST https://.../completion attempt=1
 *   status=503 duration=0.012s bytes=52 -> retry in 0.5s
 * At "debug" also the request headers and body and the answer's status, headers and body (cut to
 * 64 KiB). No line ever contains an API key or a provider key (see "Secrets" above).
 * A client logs at its "log_level" (or HUMANLOOP_LOG); lines go to stderr (one write(2) each)
 * unless a callback is set.
 */
#define HL_LOG_OFF 0
#define HL_LOG_INFO 1
#define HL_LOG_DEBUG 2

/* A log callback: level is HL_LOG_INFO or HL_LOG_DEBUG; line (no trailing newline) is valid only
 * during the call. */
typedef void (*hl_log_callback)(int level, const char *line, void *user_data);

/*
 * hl_set_log_callback: route every client's log lines to callback instead of stderr (process-
 * wide), and log every client at least at `level` (HL_LOG_OFF, HL_LOG_INFO or HL_LOG_DEBUG;
 * a client whose own level is higher keeps it). callback NULL restores stderr and the clients'
 * own levels. The callback runs on the thread of the call that produced the line (the caller
 * of hl_complete*, hl_call_run or hl_stream_next; for asynchronous calls and batches, the
 * client's engine thread), with no lock of the library held: calls on several
 * threads may run it at the same time, so it must be thread-safe (and quick). It must not call
 * hl_set_log_callback. When hl_set_log_callback returns, the previous callback is not running
 * and will not be called again (it waits for lines being delivered). Thread-safe; fork-safe.
 */
void hl_set_log_callback(hl_log_callback callback, void *user_data, int level);

/* hl_free: release any string returned by this library. NULL is a no-op. Thread-safe. */
void hl_free(char *json);

#ifdef __cplusplus
}
#endif

#endif /* HUMANLOOP_H */
