/* SPDX-License-Identifier: ISC */
/* libcurl easy interface, one handle per call; see http_client.h. */
#include "common/http_client.h"

#include <curl/curl.h>
#include <errno.h>

#include "common/err.h"

int
http_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

int
http_client_get_status(const char *url, const char *unix_path, long timeout_ms, long *status,
                       struct err *err)
{
    CURL *c = curl_easy_init();
    CURLcode rc;

    if (c == NULL)
        return err_set(err, -ENOMEM, "curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    if (unix_path != NULL)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        return err_set(err, -EIO, "GET %s: %s", url, curl_easy_strerror(rc));
    return 0;
}
