/* SPDX-License-Identifier: ISC */
/* libcurl easy interface, one handle per request: the CLI makes a handful of requests per run,
 * so connection reuse is not worth a process-wide handle. */
#include "common/http_fetch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>

#include "common/err.h"
#include "common/mem.h"

/* libcurl is loaded with dlopen() on first use instead of being linked: Debian's libcurl
 * pulls in ~30 shared libraries (GnuTLS, Kerberos, LDAP, ...) whose loading costs tens of
 * milliseconds at every exec, which every short-lived `cutover` command would pay for
 * nothing. This file is the only libcurl user. */
#define HTTP_FETCH_LIBCURL "libcurl.so.4"

static struct {
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    void (*easy_reset)(CURL *c);
    const char *(*easy_strerror)(CURLcode rc);
    CURLcode (*global_init)(long flags);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    int status; /* 0 or the negative errno of the failed load */
} lc;

static pthread_once_t lc_once = PTHREAD_ONCE_INIT;

static void
load_libcurl(void)
{
    void *h = dlopen(HTTP_FETCH_LIBCURL, RTLD_NOW | RTLD_LOCAL);

    lc.status = -ENOSYS;
    if (h == NULL)
        return;
    /* POSIX: function pointers round-trip through dlsym's void *. */
    *(void **)&lc.easy_init = dlsym(h, "curl_easy_init");
    *(void **)&lc.easy_cleanup = dlsym(h, "curl_easy_cleanup");
    *(void **)&lc.easy_getinfo = dlsym(h, "curl_easy_getinfo");
    *(void **)&lc.easy_setopt = dlsym(h, "curl_easy_setopt");
    *(void **)&lc.easy_perform = dlsym(h, "curl_easy_perform");
    *(void **)&lc.easy_reset = dlsym(h, "curl_easy_reset");
    *(void **)&lc.easy_strerror = dlsym(h, "curl_easy_strerror");
    *(void **)&lc.global_init = dlsym(h, "curl_global_init");
    *(void **)&lc.slist_append = dlsym(h, "curl_slist_append");
    *(void **)&lc.slist_free_all = dlsym(h, "curl_slist_free_all");
    if (lc.easy_init == NULL || lc.easy_cleanup == NULL || lc.easy_getinfo == NULL ||
        lc.easy_setopt == NULL || lc.easy_perform == NULL || lc.easy_reset == NULL ||
        lc.easy_strerror == NULL || lc.global_init == NULL || lc.slist_append == NULL ||
        lc.slist_free_all == NULL)
        return;
    lc.status = lc.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

#define HTTP_FETCH_MAX_BODY (16 * 1024 * 1024)

struct http_fetch_session {
    CURL *curl; /* owned: reset before each request, which keeps its connection cache */
};

struct http_fetch_session *
http_fetch_session_new(void)
{
    struct http_fetch_session *s = mem_calloc(1, sizeof(*s));

    /* Without libcurl the session stays empty and every request through it fails with the
     * reason (http_fetch_do), instead of failing here where the caller cannot say why. */
    if (http_fetch_global_init() == 0 && (s->curl = lc.easy_init()) == NULL)
        mem_oom();
    return s;
}

void
http_fetch_session_free(struct http_fetch_session *s)
{
    if (s == NULL)
        return;
    if (s->curl != NULL)
        lc.easy_cleanup(s->curl);
    free(s);
}

struct sink {
    struct buf *body;
    CURL *curl;
    int fd; /* >= 0: 2xx bodies go there */
    bool too_big;
    bool write_failed;
};

static bool
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    long status = 0;

    if (s->fd >= 0) {
        lc.easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (write_all(s->fd, ptr, n))
                return n;
            s->write_failed = true;
            return 0;
        }
    }
    if (s->body->len + n > HTTP_FETCH_MAX_BODY) {
        s->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    buf_append(s->body, ptr, n);
    return n;
}

int
http_fetch_global_init(void)
{
    pthread_once(&lc_once, load_libcurl);
    return lc.status;
}

static int
errno_of(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return -EPROTO;
    default:
        return -EIO;
    }
}

int
http_fetch_request(const char *method, const char *url, const char *unix_path, const char *body,
                   size_t body_len, long timeout_ms, struct http_fetch_response *out,
                   struct err *err)
{
    struct http_fetch_opts o = {.method = method,
                                .url = url,
                                .unix_path = unix_path,
                                .body = body,
                                .body_len = body_len,
                                .timeout_ms = timeout_ms,
                                .out_fd = -1};

    return http_fetch_do(&o, out, err);
}

static struct curl_slist *
set_request(CURL *curl, const struct http_fetch_opts *o)
{
    const char *method = o->method ? o->method : "GET";
    struct curl_slist *hdrs = NULL;
    char line[1024];

    lc.easy_setopt(curl, CURLOPT_URL, o->url);
    lc.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    lc.easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    lc.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    lc.easy_setopt(curl, CURLOPT_USERAGENT, "cutover/1");
    lc.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->unix_path != NULL)
        lc.easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, o->unix_path);
    if (o->cafile != NULL)
        lc.easy_setopt(curl, CURLOPT_CAINFO, o->cafile);
    if (o->bearer != NULL) {
        (void)snprintf(line, sizeof(line), "Authorization: Bearer %s", o->bearer);
        hdrs = lc.slist_append(hdrs, line);
    }
    if (o->body != NULL) {
        (void)snprintf(line, sizeof(line), "Content-Type: %s",
                       o->content_type ? o->content_type : "application/json");
        hdrs = lc.slist_append(hdrs, line);
        hdrs = lc.slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
        lc.easy_setopt(curl, CURLOPT_POSTFIELDS, o->body);
        lc.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    } else if (strcmp(method, "HEAD") == 0) {
        lc.easy_setopt(curl, CURLOPT_NOBODY, 1L);
    }
    lc.easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    return hdrs;
}

int
http_fetch_do(const struct http_fetch_opts *o, struct http_fetch_response *out, struct err *err)
{
    CURL *curl;
    struct curl_slist *hdrs = NULL;
    struct sink sink;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode c;
    int rc;

    if ((rc = http_fetch_global_init()) != 0)
        return err_set(err, rc, "%s: cannot load %s (install Debian's libcurl4)", o->url,
                       HTTP_FETCH_LIBCURL);
    curl = o->session != NULL ? o->session->curl : lc.easy_init();
    if (curl == NULL)
        return err_set(err, -EIO, "%s: cannot create a curl handle", o->url);
    if (o->session != NULL)
        lc.easy_reset(curl); /* options only: live connections stay cached */
    memset(out, 0, sizeof(*out));
    buf_init(&out->body);
    sink = (struct sink){.body = &out->body, .curl = curl, .fd = o->out_fd};
    lc.easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    lc.easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    lc.easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    hdrs = set_request(curl, o);
    c = lc.easy_perform(curl);
    if (c == CURLE_OK) {
        lc.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    } else if (sink.too_big) {
        rc = err_set(err, -EFBIG, "%s: response body over %d bytes", o->url, HTTP_FETCH_MAX_BODY);
    } else if (sink.write_failed) {
        rc = err_set(err, -EIO, "%s: cannot write the response body: %s", o->url, strerror(errno));
    } else {
        rc = err_set(err, errno_of(c), "%s: %s", o->url, errbuf[0] ? errbuf : lc.easy_strerror(c));
    }
    if (o->session != NULL)
        lc.easy_setopt(curl, CURLOPT_HTTPHEADER, NULL); /* hdrs is freed below */
    else
        lc.easy_cleanup(curl);
    lc.slist_free_all(hdrs);
    if (rc < 0)
        http_fetch_response_fini(out);
    return rc;
}

void
http_fetch_response_fini(struct http_fetch_response *r)
{
    buf_fini(&r->body);
    r->status = 0;
}
