/* SPDX-License-Identifier: ISC */
/* supervisor/supervisor_conf: the DESIGN.md apps.yaml loads with every key; each mistake is
 * reported at its FILE:LINE:COL with what was expected. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "supervisor/supervisor_conf.h"

static const char design_example[] =
    "control: /run/cutover/supervise.sock\n"
    "apps:\n"
    "  web:\n"
    "    command: [node, server.js]\n"
    "    cwd: /opt/app\n"
    "    instances: 4\n"
    "    listen: 127.0.0.1:3000\n"
    "    env: {NODE_ENV: production}\n"
    "    ready: {http: /health}\n"
    "    ready_timeout: 30s\n"
    "    user: www-data\n"
    "    kill_signal: SIGINT\n"
    "    kill_timeout: 5s\n"
    "    restart: {min_uptime: 1s, backoff_max: 30s, max_restarts: 10}\n"
    "    max_memory: 512M\n"
    "    logs: {dir: /var/log/cutover/web, max_size: 10M, keep: 5}\n";

static struct supervisor_conf *
load_ok(const char *text)
{
    struct supervisor_conf *c = NULL;
    struct err err = {0};
    int rc = supervisor_conf_load_buffer(&c, "apps.yaml", text, strlen(text), &err);

    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    return c;
}

static void
expect_error(const char *text, const char *msg)
{
    struct supervisor_conf *c = NULL;
    struct err err = {0};

    assert_int_equal(supervisor_conf_load_buffer(&c, "apps.yaml", text, strlen(text), &err),
                     -EINVAL);
    assert_null(c);
    assert_string_equal(err.msg, msg);
}

static void
design_example_loads_with_every_key(void **state)
{
    struct supervisor_conf *c = load_ok(design_example);
    const struct supervisor_app_conf *a;

    (void)state;
    assert_string_equal(c->control, "/run/cutover/supervise.sock");
    assert_int_equal(c->napps, 1);
    a = supervisor_conf_app(c, "web");
    assert_non_null(a);
    assert_int_equal(a->argc, 2);
    assert_string_equal(a->argv[0], "node");
    assert_string_equal(a->argv[1], "server.js");
    assert_null(a->argv[2]);
    assert_string_equal(a->cwd, "/opt/app");
    assert_int_equal(a->instances, 4);
    assert_true(a->has_listen);
    assert_string_equal(a->listen.text, "127.0.0.1:3000");
    assert_int_equal(a->nenv, 1);
    assert_string_equal(a->env[0].name, "NODE_ENV");
    assert_string_equal(a->env[0].value, "production");
    assert_int_equal(a->ready, SUPERVISOR_READY_HTTP);
    assert_string_equal(a->ready_path, "/health");
    assert_int_equal(a->ready_timeout_ms, 30000);
    assert_string_equal(a->user, "www-data");
    assert_int_equal(a->kill_signal, SIGINT);
    assert_int_equal(a->kill_timeout_ms, 5000);
    assert_int_equal(a->min_uptime_ms, 1000);
    assert_int_equal(a->backoff_max_ms, 30000);
    assert_int_equal(a->max_restarts, 10);
    assert_int_equal(a->max_memory, 512ULL * 1024 * 1024);
    assert_string_equal(a->log_dir, "/var/log/cutover/web");
    assert_int_equal(a->log_max_size, 10ULL * 1024 * 1024);
    assert_int_equal(a->log_keep, 5);
    supervisor_conf_free(c);
}

static void
defaults_fill_what_is_left_out(void **state)
{
    struct supervisor_conf *c = load_ok("apps:\n  w:\n    command: [./w]\n    ports: 3001\n");
    const struct supervisor_app_conf *a = &c->apps[0];

    (void)state;
    assert_string_equal(c->control, SUPERVISOR_CONF_DEFAULT_CONTROL);
    assert_int_equal(a->instances, 1);
    assert_false(a->has_listen);
    assert_int_equal(a->ports, 3001);
    assert_int_equal(a->ready, SUPERVISOR_READY_NONE);
    assert_int_equal(a->ready_timeout_ms, 30000);
    assert_int_equal(a->kill_signal, SIGTERM);
    assert_int_equal(a->kill_timeout_ms, 5000);
    assert_int_equal(a->max_restarts, 10);
    assert_int_equal(a->window_ms, 60000);
    assert_null(a->log_dir);
    assert_null(a->user);
    supervisor_conf_free(c);
}

static void
errors_point_at_the_offending_node(void **state)
{
    (void)state;
    expect_error("apps:\n  web:\n    command: node server.js\n",
                 "apps.yaml:3:14: command must be a non-empty list (expected an argv list such as "
                 "[node, server.js], never a shell string)");
    expect_error("apps:\n  web:\n    command: [x]\n    instances: 0\n",
                 "apps.yaml:4:16: 0 is out of range (expected 1 to 1024)");
    expect_error("apps:\n  web:\n    command: [x]\n    listen: localhost:80\n",
                 "apps.yaml:4:13: 'localhost:80' is not an address (expected 127.0.0.1:3000, "
                 "[::1]:3000 or unix:/path)");
    expect_error("apps:\n  web:\n    command: [x]\n    listen: 127.0.0.1:1\n    ports: 3000\n",
                 "apps.yaml:5:12: listen and ports exclude each other (expected one)");
    expect_error("apps:\n  web:\n    command: [x]\n    kill_signal: SIGFOO\n",
                 "apps.yaml:4:18: unknown signal 'SIGFOO' (expected SIGTERM, SIGINT, SIGQUIT, "
                 "...)");
    expect_error("apps:\n  web:\n    command: [x]\n    kill_timeout: soon\n",
                 "apps.yaml:4:19: 'soon' is not a duration (expected e.g. 500ms, 10s, 5m or "
                 "seconds)");
    expect_error("apps:\n  web:\n    command: [x]\n    max_memory: lots\n",
                 "apps.yaml:4:17: 'lots' is not a size (expected e.g. 512K, 10M, 1G or bytes)");
}

static void
nested_maps_are_checked_too(void **state)
{
    (void)state;
    expect_error("apps:\n  web:\n    command: [x]\n    ready: {http: health}\n",
                 "apps.yaml:4:19: 'health' is not a path (expected /health or similar)");
    expect_error("apps:\n  web:\n    command: [x]\n    ports: 3000\n    ready: {tcp: false}\n",
                 "apps.yaml:5:18: false is not a readiness check (expected true)");
    expect_error("apps:\n  web:\n    command: [x]\n    ready: {tcp: true}\n",
                 "apps.yaml:4:12: an http or tcp check needs listen: or ports: (expected "
                 "{notify: true} otherwise)");
    expect_error("apps:\n  web:\n    command: [x]\n    logs: {max_size: 1M}\n",
                 "apps.yaml:4:11: logs needs dir (expected a directory path)");
    expect_error("apps:\n  web:\n    command: [x]\n    restart: {max_restarts: -1}\n",
                 "apps.yaml:4:29: '-1' is not an integer (expected 0 to 63)");
    expect_error("apps:\n  web:\n    command: [x]\n    env: {A=B: c}\n",
                 "apps.yaml:4:11: bad environment name 'A=B' (expected no '=' and not empty)");
}

static void
unknown_and_missing_keys_are_named(void **state)
{
    struct supervisor_conf *c = NULL;
    struct err err = {0};
    const char *t = "apps:\n  web:\n    comand: [x]\n";

    (void)state;
    assert_int_equal(supervisor_conf_load_buffer(&c, "apps.yaml", t, strlen(t), &err), -EINVAL);
    assert_non_null(strstr(err.msg, "apps.yaml:3:5:"));
    assert_non_null(strstr(err.msg, "command"));
    expect_error("apps:\n  web:\n    cwd: /\n",
                 "apps.yaml:3:5: app 'web' has no command (expected an argv list)");
    expect_error("control: /x\n", "apps.yaml:1:1: no apps (expected an apps: mapping)");
    expect_error("apps:\n  'we b':\n    command: [x]\n",
                 "apps.yaml:2:3: bad app name 'we b' (expected letters, digits, '_', '.', '-')");
}

static void
every_other_error_has_its_position(void **state)
{
    (void)state;
    expect_error("apps:\n  web:\n    command: [x, '']\n",
                 "apps.yaml:3:18: empty command argument (expected a non-empty string)");
    expect_error("apps:\n  web:\n    command: [x]\n    ready: {http: /h, tcp: true}\n",
                 "apps.yaml:4:12: ready needs exactly one check (expected one of http, tcp, "
                 "notify)");
    expect_error("apps:\n  web:\n    command: [x]\n    restart: {window: 0s}\n",
                 "apps.yaml:4:23: window must be positive (expected e.g. 60s)");
    expect_error("apps:\n  web:\n    command: [x]\n    logs: {dir: /l, max_size: 100}\n",
                 "apps.yaml:4:31: max_size is too small (expected at least 1K)");
    expect_error("apps:\n  web:\n    command: [x]\n    ports: 3000\n    nginx: {reload: [n]}\n",
                 "apps.yaml:5:12: nginx needs upstream (expected a file path)");
    expect_error("apps:\n  web:\n    command: [x]\n    nginx: {upstream: /u}\n",
                 "apps.yaml:4:12: nginx needs ports: (expected ports: BASE)");
    expect_error("apps:\n  web:\n    command: [x]\n    ports: 3000\n"
                 "    nginx: {upstream: /u, reload: nginx}\n",
                 "apps.yaml:5:35: reload must be a non-empty list (expected an argv list such as "
                 "[node, server.js], never a shell string)");
    expect_error("apps:\n  web:\n    command: [x]\n    instances: 10\n    ports: 65530\n",
                 "apps.yaml:5:12: ports 65530 + 10 instances passes 65535 (expected at most "
                 "65526)");
    expect_error(
        "control: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\napps:\n  web:\n    command: [x]\n",
        "apps.yaml:1:10: control path is too long (expected < 108 bytes)");
    expect_error("- a\n- b\n", "apps.yaml:1:1: the top level is a list (expected a mapping)");
}

static void
wrong_kinds_name_the_key(void **state)
{
    (void)state;
    expect_error("apps:\n  web:\n    command: [x]\n    env: [A]\n",
                 "apps.yaml:4:10: env is a list (expected a mapping)");
    expect_error("apps:\n  web:\n    command: [x]\n    logs: /var/log\n",
                 "apps.yaml:4:11: logs is a scalar (expected a mapping)");
    expect_error("apps: [web]\n", "apps.yaml:1:7: apps is a list (expected a mapping)");
    expect_error("apps:\n  web: 3\n", "apps.yaml:2:8: an app is a scalar (expected a mapping)");
}

static void
app_equality_sees_what_changes_workers(void **state)
{
    struct supervisor_conf *a = load_ok(design_example);
    struct supervisor_conf *b = load_ok(design_example);
    struct supervisor_app_conf changed;

    (void)state;
    assert_true(supervisor_conf_app_equal(&a->apps[0], &b->apps[0]));
    changed = b->apps[0];
    changed.instances = 5;
    assert_false(supervisor_conf_app_equal(&a->apps[0], &changed));
    supervisor_conf_free(a);
    supervisor_conf_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(design_example_loads_with_every_key),
        cmocka_unit_test(defaults_fill_what_is_left_out),
        cmocka_unit_test(errors_point_at_the_offending_node),
        cmocka_unit_test(nested_maps_are_checked_too),
        cmocka_unit_test(unknown_and_missing_keys_are_named),
        cmocka_unit_test(every_other_error_has_its_position),
        cmocka_unit_test(wrong_kinds_name_the_key),
        cmocka_unit_test(app_equality_sees_what_changes_workers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
