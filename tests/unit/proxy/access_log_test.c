/* SPDX-License-Identifier: ISC */
/* proxy/access_log: one line per request with every field, from several threads, nothing lost
 * or interleaved, everything on disk after access_log_close. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "common/addr.h"
#include "common/err.h"
#include "proxy/access_log.h"

#define THREADS 4
#define PER_THREAD 5000

static char *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(*len + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *len, f), *len);
    data[*len] = '\0';
    fclose(f);
    return data;
}

static void
temp_path(char *path, size_t size)
{
    int fd;

    snprintf(path, size, "/tmp/cutover-access-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static void
a_line_has_every_field(void **state)
{
    struct access_log *log;
    struct addr client, target;
    struct err err;
    char path[64], *text;
    size_t len;
    struct access_log_entry e = {
        .start_unix_us = 1795221949123456LL,
        .client = &client,
        .listener = "web",
        .group = "blue",
        .target = &target,
        .method = "GET",
        .uri = "/echo?a=\"b\"",
        .version_minor = 1,
        .status = 200,
        .bytes_in = 78,
        .bytes_out = 1045,
        .request_time_us = 1234,
        .target_time_us = 987,
        .error = NULL,
    };

    (void)state;
    assert_int_equal(addr_parse(&client, "127.0.0.1:51234"), 0);
    assert_int_equal(addr_parse(&target, "127.0.0.1:9001"), 0);
    temp_path(path, sizeof(path));
    assert_int_equal(access_log_open(&log, path, &err), 0);
    access_log_write(log, &e);
    e.group = NULL;
    e.target = NULL;
    e.status = 503;
    e.target_time_us = -1;
    e.error = "no routable target";
    access_log_write(log, &e);
    access_log_close(log);
    text = read_all(path, &len);
    assert_string_equal(text, "2026-11-21T00:45:49.123456Z 127.0.0.1:51234 web blue 127.0.0.1:9001 "
                              "\"GET /echo?a=\\x22b\\x22 HTTP/1.1\" 200 78 1045 0.001234 0.000987 "
                              "\"-\"\n"
                              "2026-11-21T00:45:49.123456Z 127.0.0.1:51234 web - - "
                              "\"GET /echo?a=\\x22b\\x22 HTTP/1.1\" 503 78 1045 0.001234 -1 "
                              "\"no routable target\"\n");
    free(text);
    unlink(path);
}

struct writer {
    struct access_log *log;
    int id;
};

static void
write_many(void *arg)
{
    struct writer *w = arg;
    struct addr client;
    char uri[64];
    struct access_log_entry e = {.client = &client,
                                 .listener = "web",
                                 .method = "GET",
                                 .uri = uri,
                                 .version_minor = 1,
                                 .status = 200,
                                 .target_time_us = -1};

    addr_parse(&client, "127.0.0.1:1");
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(uri, sizeof(uri), "/t%d/%d", w->id, i);
        access_log_write(w->log, &e);
    }
}

static void
threads_lose_and_interleave_nothing(void **state)
{
    struct writer w[THREADS];
    uv_thread_t th[THREADS];
    struct access_log *log;
    struct err err;
    char path[64], *text, *line, *nl;
    size_t len, lines = 0;

    (void)state;
    temp_path(path, sizeof(path));
    assert_int_equal(access_log_open(&log, path, &err), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i].log = log;
        w[i].id = i;
        assert_int_equal(uv_thread_create(&th[i], write_many, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        uv_thread_join(&th[i]);
    access_log_close(log);
    text = read_all(path, &len);
    for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        assert_non_null(strstr(line, " web - - \"GET /t"));
        assert_non_null(strstr(line, " HTTP/1.1\" 200 0 0 0.000000 -1 \"-\""));
        lines++;
    }
    assert_int_equal(lines, THREADS * PER_THREAD);
    free(text);
    unlink(path);
}

static void
reopen_follows_a_rotated_file(void **state)
{
    struct access_log *log;
    struct addr client;
    struct err err;
    char path[64], rotated[80], *text;
    size_t len;
    struct access_log_entry e = {.client = &client,
                                 .listener = "web",
                                 .method = "GET",
                                 .uri = "/before",
                                 .version_minor = 1,
                                 .status = 200,
                                 .target_time_us = -1};

    (void)state;
    assert_int_equal(addr_parse(&client, "127.0.0.1:1"), 0);
    temp_path(path, sizeof(path));
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    assert_int_equal(access_log_open(&log, path, &err), 0);
    access_log_write(log, &e);
    assert_int_equal(rename(path, rotated), 0); /* logrotate moves the file, then SIGHUP */
    assert_int_equal(access_log_reopen(log, &err), 0);
    e.uri = "/after";
    access_log_write(log, &e);
    access_log_close(log);
    text = read_all(rotated, &len);
    assert_non_null(strstr(text, "/before"));
    assert_null(strstr(text, "/after"));
    free(text);
    text = read_all(path, &len);
    assert_non_null(strstr(text, "/after"));
    assert_null(strstr(text, "/before"));
    free(text);
    unlink(path);
    unlink(rotated);
}

static void
open_fails_with_a_message(void **state)
{
    struct access_log *log;
    struct err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(access_log_open(&log, "/nonexistent-dir/access.log", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/access.log"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_line_has_every_field),
        cmocka_unit_test(threads_lose_and_interleave_nothing),
        cmocka_unit_test(reopen_follows_a_rotated_file),
        cmocka_unit_test(open_fails_with_a_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
