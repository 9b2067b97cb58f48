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

#include "common/err.h"
#include "common/mem.h"

#define HTTP_FETCH_MAX_BODY (16 * 1024 * 1024)

struct http_fetch_session {
    CURL *curl; /* owned: reset before each request, which keeps its connection cache */
};

struct http_fetch_session *
http_fetch_session_new(void)
{
    struct http_fetch_session *s = mem_calloc(1, sizeof(*s));

    if ((s->curl = curl_easy_init()) == NULL)
        mem_oom();
    return s;
}

void
http_fetch_session_free(struct http_fetch_session *s)
{
    if (s == NULL)
        return;
    curl_easy_cleanup(s->curl);
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
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
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
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
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

    curl_easy_setopt(curl, CURLOPT_URL, o->url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "cutover/1");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->unix_path != NULL)
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, o->unix_path);
    if (o->cafile != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, o->cafile);
    if (o->bearer != NULL) {
        (void)snprintf(line, sizeof(line), "Authorization: Bearer %s", o->bearer);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (o->body != NULL) {
        (void)snprintf(line, sizeof(line), "Content-Type: %s",
                       o->content_type ? o->content_type : "application/json");
        hdrs = curl_slist_append(hdrs, line);
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    return hdrs;
}

int
http_fetch_do(const struct http_fetch_opts *o, struct http_fetch_response *out, struct err *err)
{
    CURL *curl = o->session != NULL ? o->session->curl : curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct sink sink;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode c;
    int rc = 0;

    if (curl == NULL)
        return err_set(err, -EIO, "%s: cannot create a curl handle", o->url);
    if (o->session != NULL)
        curl_easy_reset(curl); /* options only: live connections stay cached */
    memset(out, 0, sizeof(*out));
    buf_init(&out->body);
    sink = (struct sink){.body = &out->body, .curl = curl, .fd = o->out_fd};
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    hdrs = set_request(curl, o);
    c = curl_easy_perform(curl);
    if (c == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    } else if (sink.too_big) {
        rc = err_set(err, -EFBIG, "%s: response body over %d bytes", o->url, HTTP_FETCH_MAX_BODY);
    } else if (sink.write_failed) {
        rc = err_set(err, -EIO, "%s: cannot write the response body: %s", o->url, strerror(errno));
    } else {
        rc =
            err_set(err, errno_of(c), "%s: %s", o->url, errbuf[0] ? errbuf : curl_easy_strerror(c));
    }
    if (o->session != NULL)
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL); /* hdrs is freed below */
    else
        curl_easy_cleanup(curl);
    curl_slist_free_all(hdrs);
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
