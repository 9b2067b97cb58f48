/* SPDX-License-Identifier: ISC */
/* libcurl easy interface, one handle per request: the CLI makes a handful of requests per run,
 * so connection reuse is not worth a process-wide handle. */
#include "common/http_fetch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"

#define HTTP_FETCH_MAX_BODY (16 * 1024 * 1024)

struct sink {
    struct buf *body;
    bool too_big;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;

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
    CURL *curl = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct sink sink;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode c;
    int rc = 0;

    if (curl == NULL)
        return err_set(err, -EIO, "%s: cannot create a curl handle", url);
    memset(out, 0, sizeof(*out));
    buf_init(&out->body);
    sink.body = &out->body;
    sink.too_big = false;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "cutover-cli/1");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    if (unix_path != NULL)
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    if (body != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    }
    c = curl_easy_perform(curl);
    if (c == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    } else if (sink.too_big) {
        rc = err_set(err, -EFBIG, "%s: response body over %d bytes", url, HTTP_FETCH_MAX_BODY);
    } else {
        rc = err_set(err, errno_of(c), "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(c));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
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
