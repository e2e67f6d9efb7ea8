/*
 * CCurl shim: libcurl's setopt/getinfo functions are variadic, which Swift cannot call.
 * Each wrapper below fixes one argument type so Swift sees an ordinary C function.
 */
#ifndef HL_CCURL_SHIM_H
#define HL_CCURL_SHIM_H
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

typedef size_t (*hl_curl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*hl_curl_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                         curl_off_t ultotal, curl_off_t ulnow);

typedef int (*hl_curl_sockopt_callback)(void *clientp, curl_socket_t curlfd, curlsocktype purpose);
typedef int (*hl_curl_closesocket_callback)(void *clientp, curl_socket_t item);
typedef curl_socket_t (*hl_curl_opensocket_callback)(void *clientp, curlsocktype purpose, struct curl_sockaddr *address);

static inline CURLcode hl_curl_easy_setopt_opensocket_callback(CURL *h, hl_curl_opensocket_callback v, void *data) {
    CURLcode code = curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, v);
    return code != CURLE_OK ? code : curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, data);
}

static inline CURLcode hl_curl_easy_setopt_sockopt_callback(CURL *h, hl_curl_sockopt_callback v) {
    return curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, v);
}
static inline CURLcode hl_curl_easy_setopt_closesocket_callback(CURL *h, hl_curl_closesocket_callback v) {
    return curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, v);
}
static inline CURLcode hl_curl_easy_setopt_long(CURL *h, CURLoption o, long v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_setopt_string(CURL *h, CURLoption o, const char *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_setopt_pointer(CURL *h, CURLoption o, void *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_setopt_data_callback(CURL *h, CURLoption o, hl_curl_data_callback v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_setopt_xferinfo_callback(CURL *h, CURLoption o, hl_curl_xferinfo_callback v) {
    return curl_easy_setopt(h, o, v);
}
static inline CURLcode hl_curl_easy_getinfo_long(CURL *h, CURLINFO i, long *v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLcode hl_curl_easy_getinfo_double(CURL *h, CURLINFO i, double *v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLcode hl_curl_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLcode hl_curl_easy_getinfo_string(CURL *h, CURLINFO i, char **v) {
    return curl_easy_getinfo(h, i, v);
}
static inline CURLMcode hl_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) {
    return curl_multi_setopt(m, o, v);
}
/*
 * A loop's readiness (Loop.swift): one epoll fd holding libcurl's sockets (socket callback), a
 * timerfd armed from libcurl's timer callback and the loop's own deadlines, and an eventfd for
 * wake-ups from other threads. In C because struct epoll_event is packed on x86_64.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct hl_loop_fds {
    int epoll;
    int timer;
    int event;
    /* libcurl's timer: monotonic nanoseconds when libcurl wants curl_multi_socket_action with
     * CURL_SOCKET_TIMEOUT, or -1 for none (set by the timer callback). */
    long long curl_deadline_ns;
    /* What the timerfd is armed for (-1: disarmed), so that it is set only when it changes. */
    long long armed_ns;
    /* The multi handle (for curl_multi_assign: a socket already in the epoll set is marked). */
    CURLM *multi;
} hl_loop_fds;

static inline long long hl_monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline int hl_loop_watch(int epoll, int fd, uint32_t events) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno != ENOENT) return -1;
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

/* Opens the three fds (close-on-exec, non-blocking) and puts the timer and event fds in the
 * epoll set. 0 on success; -1 (everything closed) on failure. */
static inline int hl_loop_fds_open(hl_loop_fds *f) {
    f->curl_deadline_ns = -1;
    f->armed_ns = -1;
    f->epoll = epoll_create1(EPOLL_CLOEXEC);
    f->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    f->event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f->epoll < 0 || f->timer < 0 || f->event < 0 || hl_loop_watch(f->epoll, f->timer, EPOLLIN) != 0
        || hl_loop_watch(f->epoll, f->event, EPOLLIN) != 0) {
        if (f->epoll >= 0) close(f->epoll);
        if (f->timer >= 0) close(f->timer);
        if (f->event >= 0) close(f->event);
        f->epoll = f->timer = f->event = -1;
        return -1;
    }
    return 0;
}

static inline void hl_loop_fds_close(hl_loop_fds *f) {
    if (f->epoll >= 0) close(f->epoll);
    if (f->timer >= 0) close(f->timer);
    if (f->event >= 0) close(f->event);
    f->epoll = f->timer = f->event = -1;
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set in step with libcurl's sockets. */
static inline int hl_loop_socket_callback(CURL *easy, curl_socket_t s, int what, void *clientp, void *socketp) {
    (void)easy;
    (void)socketp;
    hl_loop_fds *f = clientp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(f->epoll, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.fd = s;
    /* socketp is set (curl_multi_assign) once the socket is in the epoll set. */
    if (socketp != NULL) return epoll_ctl(f->epoll, EPOLL_CTL_MOD, s, &ev) == 0 ? 0 : -1;
    if (epoll_ctl(f->epoll, EPOLL_CTL_ADD, s, &ev) != 0 && (errno != EEXIST || epoll_ctl(f->epoll, EPOLL_CTL_MOD, s, &ev) != 0))
        return -1;
    curl_multi_assign(f->multi, s, f);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: records when libcurl wants to be called (the loop arms the timerfd). */
static inline int hl_loop_timer_callback(CURLM *multi, long timeout_ms, void *clientp) {
    (void)multi;
    hl_loop_fds *f = clientp;
    f->curl_deadline_ns = timeout_ms < 0 ? -1 : hl_monotonic_ns() + (long long)timeout_ms * 1000000LL;
    return 0;
}

static inline CURLMcode hl_loop_attach(CURLM *multi, hl_loop_fds *f) {
    f->multi = multi;
    CURLMcode code = curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, hl_loop_socket_callback);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, f);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, hl_loop_timer_callback);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_TIMERDATA, f);
    return code;
}

/* Arms the timerfd for `deadline_ns` (monotonic; at least 1 ns ahead so it fires), or disarms
 * it for -1; nothing when it is armed so already. */
static inline void hl_loop_arm(hl_loop_fds *f, long long deadline_ns) {
    if (deadline_ns == f->armed_ns) return;
    f->armed_ns = deadline_ns;
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    if (deadline_ns >= 0) {
        if (deadline_ns < 1) deadline_ns = 1;
        spec.it_value.tv_sec = deadline_ns / 1000000000LL;
        spec.it_value.tv_nsec = deadline_ns % 1000000000LL;
    }
    timerfd_settime(f->timer, TFD_TIMER_ABSTIME, &spec, NULL);
}

/* Makes the epoll fd readable (the event fd) from any thread. */
static inline void hl_loop_signal(const hl_loop_fds *f) {
    uint64_t one = 1;
    ssize_t written = write(f->event, &one, sizeof one);
    (void)written;
}

/* Waits up to timeout_ms (-1: no limit) for readiness; fills fds/flags (CURL_CSELECT_*) with
 * libcurl's ready sockets. The timer and event fds only wake the wait: when ready they are
 * read (so that the epoll fd is readable again only for new work; a timer that fired is then
 * disarmed) and left out. Returns how many sockets are ready, 0 on a timeout or a wake-up, -1
 * on an error (EINTR counts as a wake-up: 0). */
static inline int hl_loop_wait(hl_loop_fds *f, int timeout_ms, int *fds, int *flags, int max) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(f->epoll, events, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    int count = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        if (fd == f->timer || fd == f->event) {
            uint64_t count;
            ssize_t read_bytes = read(fd, &count, sizeof count);
            (void)read_bytes;
            if (fd == f->timer) f->armed_ns = -1;
            continue;
        }
        int flag = 0;
        if (events[i].events & EPOLLIN) flag |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT) flag |= CURL_CSELECT_OUT;
        /* An error or hang-up is handed over as readable and writable, as libcurl's own poll
         * loop does: its recv/send then report what happened (a reset: CURLE_RECV_ERROR).
         * CURL_CSELECT_ERR alone would end the transfer as "select/poll returned error". */
        if (events[i].events & (EPOLLERR | EPOLLHUP)) flag |= CURL_CSELECT_IN | CURL_CSELECT_OUT;
        fds[count] = fd;
        flags[count] = flag;
        count++;
    }
    return count;
}

/* A queue's descriptor (ItemQueue.swift): an eventfd, readable while items are pending. */
static inline int hl_queue_fd_open(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void hl_queue_fd_signal(int fd) {
    uint64_t one = 1;
    ssize_t written = write(fd, &one, sizeof one);
    (void)written;
}
static inline void hl_queue_fd_reset(int fd) {
    uint64_t count;
    ssize_t n = read(fd, &count, sizeof count);
    (void)n;
}

/* Option constants that Swift imports awkwardly (enum values built from macros). */
static const long HL_CURL_GLOBAL_DEFAULT = CURL_GLOBAL_DEFAULT;
static const long HL_CURLPROTO_HTTP_HTTPS = CURLPROTO_HTTP | CURLPROTO_HTTPS;
static const size_t HL_CURL_WRITEFUNC_ERROR = 0xFFFFFFFF;
static const size_t HL_CURL_WRITEFUNC_PAUSE = CURL_WRITEFUNC_PAUSE;
/* ---- A client's share handle: DNS cache and TLS sessions for all its loops ------------------ */

/* libcurl shares no connection cache between multi handles run on different threads, but DNS
 * answers and TLS sessions can be shared through a share handle whose lock callbacks make it
 * thread-safe: one mutex per kind of shared data. */
typedef struct hl_share {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
} hl_share;

static void hl_share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *user) {
    (void)handle;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_lock(&((hl_share *)user)->locks[data]);
}

static void hl_share_unlock(CURL *handle, curl_lock_data data, void *user) {
    (void)handle;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_unlock(&((hl_share *)user)->locks[data]);
}

/* A share of DNS answers and TLS sessions; NULL when out of memory. */
static inline hl_share *hl_share_new(void) {
    hl_share *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->share = curl_share_init();
    if (s->share == NULL) {
        free(s);
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&s->locks[i], NULL);
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, hl_share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, hl_share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return s;
}

static inline CURLcode hl_curl_easy_setopt_share(CURL *h, hl_share *s) {
    return curl_easy_setopt(h, CURLOPT_SHARE, s != NULL ? s->share : NULL);
}

/* Frees the share once no easy handle uses it; one still in use (a handle kept by a loop
 * inherited through fork()) is kept. */
static inline void hl_share_free(hl_share *s) {
    if (s == NULL || curl_share_cleanup(s->share) != CURLSHE_OK) return;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&s->locks[i]);
    free(s);
}

#endif
