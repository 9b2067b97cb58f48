/* SPDX-License-Identifier: ISC */
/* server/store against a real SQLite file in a temporary directory: schema and built-in
 * configs, uniqueness, one active deployment per group, idempotent event upserts that never
 * regress a final status, command claims, and everything still there after a reopen. */
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

#include "common/err.h"
#include "protocol/deploy_group.h"
#include "server/store.h"

struct fixture {
    char dir[64];
    char path[96];
    struct store *st;
};

static const char group_json[] =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.AllAtOnce\","
    "\"deploymentStyle\":{\"deploymentType\":\"BLUE_GREEN\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"blueGreenFleets\":[{\"tag\":{\"Key\":\"fleet\",\"Value\":\"blue\"},\"targetGroup\":\"blue\"}"
    ","
    "{\"tag\":{\"Key\":\"fleet\",\"Value\":\"green\"},\"targetGroup\":\"green\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"http://127.0.0.1:9901\",\"listener\":\"web\"}}";

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct err err = {0};

    snprintf(f->dir, sizeof(f->dir), "/tmp/store-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/cutover.db", f->dir);
    assert_int_equal(store_open(&f->st, f->path, &err), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];

    store_close(f->st);
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* web/prod blue-green group, two instances, one revision. */
static void
seed(struct fixture *f)
{
    struct deploy_group g;
    struct deploy_tag blue = {"fleet", "blue"}, green = {"fleet", "green"};
    struct deploy_onprem b1 = {.name = "blue-1", .tags = &blue, .ntags = 1, .target = "h:1"};
    struct deploy_onprem g1 = {.name = "green-1", .tags = &green, .ntags = 1, .target = "h:2"};
    struct deploy_revision rev = {.revision_id = "sha256:ab",
                                  .sha256 = "ab",
                                  .application_name = "web",
                                  .bundle_type = "tgz",
                                  .size = 10};
    struct err err = {0};
    char id[STORE_ID_MAX];

    assert_int_equal(store_application_create(f->st, "web"), 0);
    assert_int_equal(deploy_group_parse(group_json, strlen(group_json), "g", &g, &err), 0);
    assert_int_equal(store_group_create(f->st, &g, group_json, id), 0);
    assert_int_equal(strlen(id), 36);
    deploy_group_fini(&g);
    assert_int_equal(store_instance_upsert(f->st, &b1, "hash-b1"), 0);
    assert_int_equal(store_instance_upsert(f->st, &g1, "hash-g1"), 0);
    assert_int_equal(store_revision_insert(f->st, &rev), 0);
    assert_int_equal(store_revision_insert(f->st, &rev), 0); /* idempotent */
}

static void
create_deployment(struct fixture *f, char *id, char *active, int expect)
{
    struct deploy_info in = {.application_name = "web",
                             .group_name = "prod",
                             .revision_id = "sha256:ab",
                             .config_name = "CodeDeployDefault.AllAtOnce",
                             .creator = "user",
                             .type = DEPLOY_TYPE_BLUE_GREEN,
                             .auto_rollback_override = -1};

    assert_int_equal(store_deployment_create(f->st, &in, id, active), expect);
}

static void
builtin_configs_and_unique_names(void **state)
{
    struct fixture *f = *state;
    struct deploy_config c, two = {.name = "Two",
                                   .min_healthy_type = DEPLOY_MIN_HEALTHY_HOST_COUNT,
                                   .min_healthy_value = 2};
    struct store_names names;

    assert_int_equal(store_config_get(f->st, "CodeDeployDefault.HalfAtATime", &c), 0);
    assert_int_equal(c.min_healthy_type, DEPLOY_MIN_HEALTHY_FLEET_PERCENT);
    assert_int_equal(c.min_healthy_value, 50);
    deploy_group_config_fini(&c);
    assert_int_equal(store_config_create(f->st, &two), 0);
    assert_int_equal(store_config_create(f->st, &two), -EEXIST);
    assert_int_equal(store_config_get(f->st, "Nope", &c), -ENOENT);
    deploy_group_config_fini(&c);
    assert_int_equal(store_application_create(f->st, "web"), 0);
    assert_int_equal(store_application_create(f->st, "web"), -EEXIST);
    assert_int_equal(store_application_exists(f->st, "api"), -ENOENT);
    assert_int_equal(store_application_list(f->st, &names), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.names[0], "web");
    store_names_fini(&names);
}

static void
groups_keep_json_parse_and_serving_fleet(void **state)
{
    struct fixture *f = *state;
    struct store_group g;
    struct deploy_group parsed;
    struct err err = {0};
    char id[STORE_ID_MAX];

    seed(f);
    assert_int_equal(deploy_group_parse(group_json, strlen(group_json), "g", &parsed, &err), 0);
    assert_int_equal(store_group_create(f->st, &parsed, group_json, id), -EEXIST);
    assert_int_equal(store_group_set_serving_fleet(f->st, "web", "prod", 1), 0);
    assert_int_equal(store_group_update(f->st, &parsed, group_json), 0);
    deploy_group_fini(&parsed);
    assert_int_equal(store_group_get(f->st, "web", "prod", &g), 0);
    assert_int_equal(g.serving_fleet, 1); /* an update keeps it */
    assert_string_equal(g.group.fleets[1].target_group, "green");
    assert_int_equal(g.group.type, DEPLOY_TYPE_BLUE_GREEN);
    assert_null(g.last_good_revision_id);
    store_group_fini(&g);
    assert_int_equal(store_group_get(f->st, "web", "nope", &g), -ENOENT);
    store_group_fini(&g);
}

static void
instances_tags_tokens_and_heartbeats(void **state)
{
    struct fixture *f = *state;
    struct deploy_onprem_list l;
    struct deploy_onprem admin = {.name = "blue-1"}; /* re-register without token or target */
    char name[64], cmd[STORE_ID_MAX];
    int64_t at;

    seed(f);
    assert_int_equal(store_instance_upsert(f->st, &admin, NULL), 0);
    assert_int_equal(store_instance_find_by_token(f->st, "hash-b1", name, sizeof(name)), 0);
    assert_string_equal(name, "blue-1");
    assert_int_equal(store_instance_find_by_token(f->st, "other", name, sizeof(name)), -ENOENT);
    assert_int_equal(store_instance_get(f->st, "blue-1", &l), 0);
    assert_string_equal(l.items[0].target, "h:1");
    assert_int_equal(l.items[0].ntags, 1);
    assert_string_equal(l.items[0].tags[0].value, "blue");
    assert_int_equal(l.items[0].last_heartbeat_ms, 0);
    deploy_info_onprem_list_fini(&l);
    assert_int_equal(store_instance_heartbeat(f->st, "blue-1", "c-1"), 0);
    assert_int_equal(store_instance_last_heartbeat(f->st, "blue-1", &at, cmd), 0);
    assert_true(at > 0);
    assert_string_equal(cmd, "c-1");
    assert_int_equal(store_instance_heartbeat(f->st, "ghost", NULL), -ENOENT);
    assert_int_equal(store_instance_list(f->st, &l), 0);
    assert_int_equal(l.n, 2);
    deploy_info_onprem_list_fini(&l);
}

static void
one_active_deployment_per_group(void **state)
{
    struct fixture *f = *state;
    char id[STORE_ID_MAX], id2[STORE_ID_MAX], active[STORE_ID_MAX];
    struct store_deployment d;
    struct store_group g;
    struct store_deployment_list l;

    seed(f);
    create_deployment(f, id, active, 0);
    assert_int_equal(strlen(id), 11);
    assert_true(strncmp(id, "d-", 2) == 0);
    create_deployment(f, id2, active, -EBUSY);
    assert_string_equal(active, id);
    assert_int_equal(store_deployment_get(f->st, id, &d), 0);
    assert_int_equal(d.info.status, DEPLOY_CREATED);
    d.info.status = DEPLOY_SUCCEEDED;
    d.info.complete_ms = 42;
    assert_int_equal(store_deployment_update(f->st, &d.info), 0);
    store_deployment_fini(&d);
    assert_int_equal(store_deployment_set_step(f->st, id, "{\"phase\":\"done\"}"), 0);
    create_deployment(f, id2, active, 0);
    assert_int_equal(store_deployment_list_active(f->st, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].info.deployment_id, id2);
    store_deployment_list_fini(&l);
    assert_int_equal(store_deployment_list(f->st, "web", NULL, 0, &l), 0);
    assert_int_equal(l.n, 2);
    store_deployment_list_fini(&l);
    assert_int_equal(store_deployment_last_succeeded(f->st, "web", "prod", &d), 0);
    assert_string_equal(d.info.deployment_id, id);
    assert_string_equal(d.step, "{\"phase\":\"done\"}");
    assert_int_equal(d.info.complete_ms, 42);
    store_deployment_fini(&d);
    assert_int_equal(store_group_get(f->st, "web", "prod", &g), 0);
    assert_string_equal(g.last_good_revision_id, "sha256:ab");
    store_group_fini(&g);
}

static void
unknown_revision_or_group_is_refused(void **state)
{
    struct fixture *f = *state;
    struct deploy_info in = {.application_name = "web",
                             .group_name = "prod",
                             .revision_id = "sha256:zz",
                             .config_name = "x",
                             .creator = "user",
                             .auto_rollback_override = -1};
    char id[STORE_ID_MAX], active[STORE_ID_MAX];

    seed(f);
    assert_int_equal(store_deployment_create(f->st, &in, id, active), -EINVAL);
    in.revision_id = "sha256:ab";
    in.group_name = "nope";
    assert_int_equal(store_deployment_create(f->st, &in, id, active), -EINVAL);
}

static void
events_are_idempotent_and_never_regress(void **state)
{
    struct fixture *f = *state;
    char id[STORE_ID_MAX], active[STORE_ID_MAX], cmd[STORE_ID_MAX];
    const char *const evs[] = {"BeforeInstall", "AfterInstall"};
    struct deploy_event done = {
        .name = "AfterInstall",
        .status = DEPLOY_EVENT_FAILED,
        .start_ms = 1000,
        .end_ms = 2000,
        .diag = {.error_code = "ScriptFailed", .log_tail = "boom\n", .exit_code = 4}};
    struct deploy_event late = {.name = "AfterInstall",
                                .status = DEPLOY_EVENT_IN_PROGRESS,
                                .start_ms = 1000,
                                .diag = {.exit_code = -1}};
    struct deploy_instance_summaries s;
    struct deploy_overview ov;

    seed(f);
    create_deployment(f, id, active, 0);
    assert_int_equal(store_target_add(f->st, id, "green-1", DEPLOY_INSTANCE_TYPE_GREEN), 0);
    assert_int_equal(store_target_add(f->st, id, "green-1", DEPLOY_INSTANCE_TYPE_GREEN), 0);
    assert_int_equal(store_target_add(f->st, id, "ghost", DEPLOY_INSTANCE_TYPE_GREEN), -EINVAL);
    assert_int_equal(store_command_create(f->st, id, "green-1", evs, 2, cmd), 0);
    assert_int_equal(store_event_upsert(f->st, id, "green-1", &done), 0);
    assert_int_equal(store_event_upsert(f->st, id, "green-1", &done), 0);
    assert_int_equal(store_event_upsert(f->st, id, "green-1", &late), 0);
    assert_int_equal(store_target_set_status(f->st, id, "green-1", DEPLOY_INSTANCE_FAILED), 0);
    assert_int_equal(store_target_get(f->st, id, "green-1", &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.items[0].instance_type, DEPLOY_INSTANCE_TYPE_GREEN);
    assert_string_equal(s.items[0].target, "h:2");
    assert_int_equal(s.items[0].nevents, 2);
    assert_string_equal(s.items[0].events[0].name, "BeforeInstall");
    assert_int_equal(s.items[0].events[0].status, DEPLOY_EVENT_PENDING);
    assert_string_equal(s.items[0].events[1].name, "AfterInstall");
    assert_int_equal(s.items[0].events[1].status, DEPLOY_EVENT_FAILED);
    assert_int_equal(s.items[0].events[1].end_ms, 2000);
    assert_int_equal(s.items[0].events[1].diag.exit_code, 4);
    assert_string_equal(s.items[0].events[1].diag.log_tail, "boom\n");
    deploy_info_instances_fini(&s);
    /* the orchestrator fails a silent agent's running event: InProgress → Failed */
    {
        struct deploy_event run = {.name = "BeforeInstall",
                                   .status = DEPLOY_EVENT_IN_PROGRESS,
                                   .start_ms = 500,
                                   .diag = {.exit_code = -1}};
        struct deploy_event dead = {
            .name = "BeforeInstall",
            .status = DEPLOY_EVENT_FAILED,
            .end_ms = 900,
            .diag = {.error_code = "AgentIssue", .message = "silent", .exit_code = -1}};

        assert_int_equal(store_event_upsert(f->st, id, "green-1", &run), 0);
        assert_int_equal(store_event_upsert(f->st, id, "green-1", &dead), 0);
        assert_int_equal(store_target_list(f->st, id, &s), 0);
        assert_int_equal(s.items[0].events[0].status, DEPLOY_EVENT_FAILED);
        assert_int_equal(s.items[0].events[0].start_ms, 500);
        assert_string_equal(s.items[0].events[0].diag.error_code, "AgentIssue");
        assert_int_equal(s.items[0].events[0].diag.exit_code, -1);
        deploy_info_instances_fini(&s);
    }
    assert_int_equal(store_target_overview(f->st, id, &ov), 0);
    assert_int_equal(ov.failed, 1);
    assert_int_equal(ov.pending, 0);
}

static void
commands_are_claimed_once(void **state)
{
    struct fixture *f = *state;
    char id[STORE_ID_MAX], active[STORE_ID_MAX], c1[STORE_ID_MAX], c2[STORE_ID_MAX];
    const char *const install[] = {"ApplicationStop", "DownloadBundle", "Install"};
    const char *const allow[] = {"BeforeAllowTraffic"};
    struct store_command_list l;

    seed(f);
    create_deployment(f, id, active, 0);
    assert_int_equal(store_target_add(f->st, id, "blue-1", DEPLOY_INSTANCE_TYPE_GREEN), 0);
    assert_int_equal(store_command_create(f->st, id, "blue-1", install, 3, c1), 0);
    assert_int_equal(store_command_create(f->st, id, "blue-1", allow, 1, c2), 0);
    assert_int_equal(store_command_claim(f->st, "green-1", &l), 0);
    assert_int_equal(l.n, 0); /* someone else's commands stay queued */
    store_command_list_fini(&l);
    assert_int_equal(store_command_claim(f->st, "blue-1", &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].id, c1);
    assert_int_equal(l.items[0].nevents, 3);
    assert_string_equal(l.items[0].events[2], "Install");
    assert_int_equal(l.items[0].state, STORE_COMMAND_CLAIMED);
    store_command_list_fini(&l);
    assert_int_equal(store_command_claim(f->st, "blue-1", &l), 0);
    assert_int_equal(l.n, 0);
    store_command_list_fini(&l);
    assert_int_equal(store_command_set_state(f->st, c1, STORE_COMMAND_DONE), 0);
    assert_int_equal(store_command_get(f->st, c1, &l), 0);
    assert_int_equal(l.items[0].state, STORE_COMMAND_DONE);
    assert_true(l.items[0].done_ms > 0);
    store_command_list_fini(&l);
    assert_int_equal(store_command_list(f->st, id, &l), 0);
    assert_int_equal(l.n, 2);
    store_command_list_fini(&l);
}

static void
transactions_roll_back_and_rows_survive_reopen(void **state)
{
    struct fixture *f = *state;
    struct err err = {0};
    char id[STORE_ID_MAX], active[STORE_ID_MAX];
    struct store_deployment d;

    seed(f);
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_application_create(f->st, "api"), 0);
    assert_int_equal(store_begin(f->st), 0); /* nested: a savepoint */
    assert_int_equal(store_application_create(f->st, "inner"), 0);
    store_rollback(f->st);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(store_application_exists(f->st, "api"), 0);
    assert_int_equal(store_application_exists(f->st, "inner"), -ENOENT);
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_application_create(f->st, "gone"), 0);
    store_rollback(f->st);
    create_deployment(f, id, active, 0);
    store_close(f->st);
    assert_int_equal(store_open(&f->st, f->path, &err), 0); /* no second migration */
    assert_int_equal(store_application_exists(f->st, "gone"), -ENOENT);
    assert_int_equal(store_deployment_get(f->st, id, &d), 0);
    assert_string_equal(d.info.revision_id, "sha256:ab");
    store_deployment_fini(&d);
}

static void
unwritable_path_is_an_error_with_the_path(void **state)
{
    struct store *st = NULL;
    struct err err = {0};

    (void)state;
    assert_int_equal(store_open(&st, "/nonexistent/dir/cutover.db", &err), -EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/cutover.db"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(builtin_configs_and_unique_names, setup, teardown),
        cmocka_unit_test_setup_teardown(groups_keep_json_parse_and_serving_fleet, setup, teardown),
        cmocka_unit_test_setup_teardown(instances_tags_tokens_and_heartbeats, setup, teardown),
        cmocka_unit_test_setup_teardown(one_active_deployment_per_group, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_revision_or_group_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(events_are_idempotent_and_never_regress, setup, teardown),
        cmocka_unit_test_setup_teardown(commands_are_claimed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(transactions_roll_back_and_rows_survive_reopen, setup,
                                        teardown),
        cmocka_unit_test(unwritable_path_is_an_error_with_the_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
