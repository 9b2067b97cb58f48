/* SPDX-License-Identifier: ISC */
/* libcurl easy interface, one handle per call; see http_client.h.
 *
 * libcurl is loaded with dlopen() on first use instead of being linked: on Debian its shared
 * library pulls in ~30 others (GnuTLS, Kerberos, LDAP, ...) whose constructors cost tens of
 * milliseconds at every exec, which every short-lived `cutover` command would pay for nothing. */
#include "common/http_client.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "common/err.h"

#define HTTP_CLIENT_LIBCURL "libcurl.so.4"

static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode rc);
    int loaded; /* 1 loaded, -1 failed */
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void
load_libcurl(void)
{
    void *h = dlopen(HTTP_CLIENT_LIBCURL, RTLD_NOW | RTLD_LOCAL);

    curl.loaded = -1;
    if (h == NULL)
        return;
    /* POSIX guarantees object and function pointers convert through dlsym's void *. */
    *(void **)&curl.global_init = dlsym(h, "curl_global_init");
    *(void **)&curl.easy_init = dlsym(h, "curl_easy_init");
    *(void **)&curl.easy_setopt = dlsym(h, "curl_easy_setopt");
    *(void **)&curl.easy_perform = dlsym(h, "curl_easy_perform");
    *(void **)&curl.easy_getinfo = dlsym(h, "curl_easy_getinfo");
    *(void **)&curl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
    *(void **)&curl.easy_strerror = dlsym(h, "curl_easy_strerror");
    if (curl.global_init == NULL || curl.easy_init == NULL || curl.easy_setopt == NULL ||
        curl.easy_perform == NULL || curl.easy_getinfo == NULL || curl.easy_cleanup == NULL ||
        curl.easy_strerror == NULL || curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    curl.loaded = 1;
}

int
http_client_global_init(void)
{
    pthread_once(&load_once, load_libcurl);
    return curl.loaded == 1 ? 0 : -ENOSYS;
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
    CURL *c;
    CURLcode rc;

    if (http_client_global_init() != 0)
        return err_set(err, -ENOSYS, "cannot load %s: %s", HTTP_CLIENT_LIBCURL,
                       "install libcurl4 (Debian)");
    if ((c = curl.easy_init()) == NULL)
        return err_set(err, -ENOMEM, "curl_easy_init failed");
    curl.easy_setopt(c, CURLOPT_URL, url);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl.easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    if (unix_path != NULL)
        curl.easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    rc = curl.easy_perform(c);
    if (rc == CURLE_OK)
        curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl.easy_cleanup(c);
    if (rc != CURLE_OK)
        return err_set(err, -EIO, "GET %s: %s", url, curl.easy_strerror(rc));
    return 0;
}
