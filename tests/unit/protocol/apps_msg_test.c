/* SPDX-License-Identifier: ISC */
/* protocol/apps_msg: requests and replies survive a round trip; bad input is refused with a
 * message instead of being half-read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/str.h"
#include "protocol/apps_msg.h"

static void
request_round_trip(void **state)
{
    struct apps_msg_request in = {.parallel = 3}, out;
    struct err err = {0};
    char *text;

    (void)state;
    str_copy(in.cmd, "reload", sizeof(in.cmd));
    str_copy(in.app, "web", sizeof(in.app));
    text = apps_msg_request_encode(&in);
    assert_null(strchr(text, '\n'));
    assert_int_equal(apps_msg_request_decode(&out, text, &err), 0);
    assert_string_equal(out.cmd, "reload");
    assert_string_equal(out.app, "web");
    assert_int_equal(out.parallel, 3);
    free(text);
}

static void
bad_requests_are_refused(void **state)
{
    struct apps_msg_request out;
    struct err err = {0};

    (void)state;
    assert_int_equal(apps_msg_request_decode(&out, "{\"app\":\"web\"}", &err), -EINVAL);
    assert_string_equal(err.msg, "missing \"cmd\" (expected a string)");
    assert_int_equal(apps_msg_request_decode(&out, "[1]", &err), -EINVAL);
    assert_int_equal(apps_msg_request_decode(&out, "{\"cmd\":\"x\",\"parallel\":0}", &err),
                     -EINVAL);
    assert_int_equal(apps_msg_request_decode(&out, "{\"cmd\":7}", &err), -EINVAL);
    assert_int_equal(apps_msg_request_decode(&out, "{\"cmd\":", &err), -EINVAL);
}

static void
reply_round_trip_keeps_every_contract_field(void **state)
{
    struct apps_msg_reply in = {.ok = false}, out;
    struct apps_msg_worker *w;
    struct err err = {0};
    char *text;

    (void)state;
    in.error = strdup("worker web[1] did not become ready");
    in.failed_worker = strdup("web[1]");
    in.log_tail = strdup("line 1\nline 2\n");
    w = apps_msg_reply_add_worker(&in);
    str_copy(w->app, "web", sizeof(w->app));
    str_copy(w->state, "ready", sizeof(w->state));
    w->index = 1;
    w->pid = 4242;
    w->restarts = 2;
    w->uptime_s = 12.5;
    w->rss_bytes = 123456789;
    w->generation = 3;
    w->exit_signal = 9;
    text = apps_msg_reply_encode(&in);
    assert_non_null(strstr(text, "\"uptime_s\":12.5"));
    assert_int_equal(apps_msg_reply_decode(&out, text, &err), 0);
    assert_false(out.ok);
    assert_string_equal(out.failed_worker, "web[1]");
    assert_string_equal(out.log_tail, "line 1\nline 2\n");
    assert_int_equal(out.nworkers, 1);
    assert_string_equal(out.workers[0].app, "web");
    assert_string_equal(out.workers[0].state, "ready");
    assert_int_equal(out.workers[0].index, 1);
    assert_int_equal(out.workers[0].pid, 4242);
    assert_int_equal(out.workers[0].restarts, 2);
    assert_int_equal(out.workers[0].rss_bytes, 123456789);
    assert_int_equal(out.workers[0].generation, 3);
    assert_int_equal(out.workers[0].exit_signal, 9);
    assert_int_equal(out.workers[0].exit_code, -1);
    free(text);
    apps_msg_reply_fini(&in);
    apps_msg_reply_fini(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_round_trip),
        cmocka_unit_test(bad_requests_are_refused),
        cmocka_unit_test(reply_round_trip_keeps_every_contract_field),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
