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
/* Option constants that Swift imports awkwardly (enum values built from macros). */
static const long HL_CURL_GLOBAL_DEFAULT = CURL_GLOBAL_DEFAULT;
static const long HL_CURLPROTO_HTTP_HTTPS = CURLPROTO_HTTP | CURLPROTO_HTTPS;
static const size_t HL_CURL_WRITEFUNC_ERROR = 0xFFFFFFFF;
#endif
