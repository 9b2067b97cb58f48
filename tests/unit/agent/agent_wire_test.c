/* SPDX-License-Identifier: ISC */
/* agent/agent_wire: what the host agent says to the server for each lifecycle outcome, how it
 * reads --tags and --server, and how it backs off; agent/agent_outbox: the durable report queue
 * and the running record a restarted agent turns into a code-7 failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent_outbox.h"
#include "agent/agent_wire.h"
#include "agent/fsops.h"
#include "common/err.h"

static void
statuses_follow_codedeploy(void **state)
{
    enum deploy_event_status st;

    (void)state;
    assert_false(agent_wire_event_status(LIFECYCLE_NOT_RUN, &st));
    assert_true(agent_wire_event_status(LIFECYCLE_SKIPPED, &st));
    assert_int_equal(st, DEPLOY_EVENT_SKIPPED);
    assert_true(agent_wire_event_status(LIFECYCLE_FAILED_IGNORED, &st));
    assert_int_equal(st, DEPLOY_EVENT_SUCCEEDED);
    assert_true(agent_wire_event_status(LIFECYCLE_FAILED, &st));
    assert_int_equal(st, DEPLOY_EVENT_FAILED);
    assert_int_equal(agent_wire_diag_code(1), DEPLOY_DIAG_SCRIPT_MISSING);
    assert_int_equal(agent_wire_diag_code(3), DEPLOY_DIAG_SCRIPT_TIMED_OUT);
    assert_int_equal(agent_wire_diag_code(4), DEPLOY_DIAG_SCRIPT_FAILED);
    assert_int_equal(agent_wire_diag_code(7), DEPLOY_DIAG_UNKNOWN_ERROR);
}

static void
failure_body_carries_code_script_and_tail(void **state)
{
    struct agent_wire_failure f = {.code = 4,
                                   .script = "scripts/validate.sh",
                                   .message = "failed with exit code 3",
                                   .log_tail = "[stdout]bad \"quote\"\n"};
    char *body;

    (void)state;
    body = agent_wire_event_body("ValidateService", DEPLOY_EVENT_FAILED, 1000, 2000, &f);
    assert_non_null(strstr(body, "\"lifecycleEvent\":\"ValidateService\""));
    assert_non_null(strstr(body, "\"status\":\"Failed\""));
    assert_non_null(strstr(body, "\"errorCode\":\"ScriptFailed\""));
    assert_non_null(strstr(body, "\"scriptName\":\"scripts/validate.sh\""));
    assert_non_null(strstr(body, "\"exitCode\":4"));
    assert_non_null(strstr(body, "bad \\\"quote\\\"\\n"));
    assert_non_null(strstr(body, "\"startTime\":\"1970-01-01T00:00:01.000Z\""));
    free(body);
    body = agent_wire_event_body("Install", DEPLOY_EVENT_IN_PROGRESS, 1000, 0, NULL);
    assert_non_null(strstr(body, "\"status\":\"InProgress\""));
    assert_null(strstr(body, "endTime"));
    assert_null(strstr(body, "errorCode"));
    free(body);
}

static void
tags_parse_and_refuse(void **state)
{
    const char *k[AGENT_WIRE_MAX_TAGS], *v[AGENT_WIRE_MAX_TAGS];
    struct err err = {0};
    char ok[] = "fleet=blue,zone=a,empty=";
    char empty[] = "";
    char dup[] = "a=1,a=2";
    char nokey[] = "=x";
    char noeq[] = "fleet";
    size_t n;

    (void)state;
    assert_int_equal(agent_wire_parse_tags(ok, k, v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(k[0], "fleet");
    assert_string_equal(v[0], "blue");
    assert_string_equal(k[2], "empty");
    assert_string_equal(v[2], "");
    assert_int_equal(agent_wire_parse_tags(empty, k, v, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(agent_wire_parse_tags(dup, k, v, &n, &err), -EINVAL);
    assert_string_equal(err.msg, "--tags: key 'a' given twice");
    assert_int_equal(agent_wire_parse_tags(nokey, k, v, &n, &err), -EINVAL);
    assert_int_equal(agent_wire_parse_tags(noeq, k, v, &n, &err), -EINVAL);
    assert_string_equal(err.msg, "--tags: 'fleet' (expected KEY=VALUE[,KEY=VALUE…])");
}

static void
urls_join_once(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(agent_wire_url(out, sizeof(out), "http://h:1/", "/v1/x"), 0);
    assert_string_equal(out, "http://h:1/v1/x");
    assert_int_equal(agent_wire_url(out, sizeof(out), "http://h:1", "/v1/x"), 0);
    assert_string_equal(out, "http://h:1/v1/x");
    assert_int_equal(agent_wire_url(out, sizeof(out), "http://h:1", "https://cdn/b"), 0);
    assert_string_equal(out, "https://cdn/b");
    assert_int_equal(agent_wire_url(out, 8, "http://h:1", "/v1/x"), -ENAMETOOLONG);
    assert_true(agent_wire_server_is_valid("http://127.0.0.1:9900"));
    assert_true(agent_wire_server_is_valid("https://cutover.internal"));
    assert_false(agent_wire_server_is_valid("127.0.0.1:9900"));
    assert_false(agent_wire_server_is_valid("http://"));
    assert_false(agent_wire_server_is_valid("ftp://x"));
}

static void
backoff_doubles_to_a_cap_with_jitter(void **state)
{
    (void)state;
    assert_int_equal(agent_wire_backoff_ms(0, 30000, 0), 500);
    assert_int_equal(agent_wire_backoff_ms(1, 30000, 0), 1000);
    assert_int_equal(agent_wire_backoff_ms(5, 30000, 0), 16000);
    assert_int_equal(agent_wire_backoff_ms(6, 30000, 0), 30000);
    assert_int_equal(agent_wire_backoff_ms(100, 30000, 0), 30000);
    for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
        uint32_t d = agent_wire_backoff_ms(3, 30000, rnd);
        assert_true(d >= 3000 && d <= 4000);
    }
}

static void
events_by_name(void **state)
{
    const char *ok[] = {"BeforeAllowTraffic", "AfterAllowTraffic"};
    const char *bad[] = {"Install", "Instal"};
    const char *twice[] = {"Install", "Install"};
    enum appspec_event ev[APPSPEC_NEVENTS];
    struct err err = {0};
    size_t n;

    (void)state;
    assert_int_equal(agent_wire_events(ok, 2, ev, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0], APPSPEC_BEFORE_ALLOW_TRAFFIC);
    assert_int_equal(agent_wire_events(bad, 2, ev, &n, &err), -EINVAL);
    assert_string_equal(err.msg, "command names an unknown lifecycle event 'Instal'");
    assert_int_equal(agent_wire_events(twice, 2, ev, &n, &err), -EINVAL);
}

static char *
scratch_dir(void)
{
    char tmpl[] = "/tmp/cutover-outbox-XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void
outbox_is_a_durable_fifo(void **state)
{
    char *dir = scratch_dir(), path[512];
    struct agent_outbox ob, again;
    struct agent_outbox_entry e;
    struct err err = {0};
    FILE *f;

    (void)state;
    assert_int_equal(agent_outbox_open(&ob, dir, &err), 0);
    assert_int_equal(agent_outbox_peek(&ob, &e), -ENOENT);
    assert_int_equal(agent_outbox_push(&ob, "c-1", "{\"a\":1}"), 0);
    assert_int_equal(agent_outbox_push(&ob, "c-2", "{\"b\":\n2}"), 0);
    assert_int_equal(agent_outbox_push(&ob, "bad\nid", "{}"), -EINVAL);
    /* a writer killed before its rename leaves a .tmp, which a reopen removes */
    snprintf(path, sizeof(path), "%s/outbox/00000000000000000099.tmp", dir);
    assert_non_null(f = fopen(path, "w"));
    fclose(f);
    assert_int_equal(agent_outbox_open(&again, dir, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(agent_outbox_count(&again), 2);
    assert_int_equal(agent_outbox_peek(&again, &e), 0);
    assert_string_equal(e.command_id, "c-1");
    assert_string_equal(e.body, "{\"a\":1}");
    assert_int_equal(agent_outbox_pop(&again, e.seq), 0);
    agent_outbox_entry_fini(&e);
    assert_int_equal(agent_outbox_push(&again, "c-3", "{}"), 0); /* after c-2, not before */
    assert_int_equal(agent_outbox_peek(&again, &e), 0);
    assert_string_equal(e.command_id, "c-2");
    assert_string_equal(e.body, "{\"b\":\n2}");
    assert_int_equal(agent_outbox_pop(&again, e.seq), 0);
    agent_outbox_entry_fini(&e);
    assert_int_equal(agent_outbox_peek(&again, &e), 0);
    assert_string_equal(e.command_id, "c-3");
    agent_outbox_entry_fini(&e);
    assert_int_equal(fsops_remove_tree(dir), 0);
    free(dir);
}

static void
running_record_round_trips(void **state)
{
    char *dir = scratch_dir();
    struct agent_outbox ob;
    struct agent_outbox_running r;
    struct err err = {0};

    (void)state;
    assert_int_equal(agent_outbox_open(&ob, dir, &err), 0);
    assert_int_equal(agent_outbox_running_load(&ob, &r), -ENOENT);
    assert_int_equal(agent_outbox_running_save(&ob, "c-7", "ApplicationStart", NULL), 0);
    assert_int_equal(agent_outbox_running_load(&ob, &r), 0);
    assert_string_equal(r.command_id, "c-7");
    assert_string_equal(r.event, "ApplicationStart");
    assert_null(r.last_final);
    agent_outbox_running_fini(&r);
    assert_int_equal(agent_outbox_running_save(&ob, "c-7", "", "{\"status\":\"Succeeded\"}\n"), 0);
    assert_int_equal(agent_outbox_running_load(&ob, &r), 0);
    assert_string_equal(r.event, "");
    assert_string_equal(r.last_final, "{\"status\":\"Succeeded\"}\n");
    agent_outbox_running_fini(&r);
    assert_int_equal(agent_outbox_running_clear(&ob), 0);
    assert_int_equal(agent_outbox_running_load(&ob, &r), -ENOENT);
    assert_int_equal(agent_outbox_running_clear(&ob), 0);
    assert_int_equal(fsops_remove_tree(dir), 0);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statuses_follow_codedeploy),
        cmocka_unit_test(failure_body_carries_code_script_and_tail),
        cmocka_unit_test(tags_parse_and_refuse),
        cmocka_unit_test(urls_join_once),
        cmocka_unit_test(backoff_doubles_to_a_cap_with_jitter),
        cmocka_unit_test(events_by_name),
        cmocka_unit_test(outbox_is_a_durable_fifo),
        cmocka_unit_test(running_record_round_trips),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
