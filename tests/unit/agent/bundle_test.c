/* SPDX-License-Identifier: ISC */
/* agent/bundle: the entry checks that keep an archive inside its root, decided before any
 * write; agent/lifecycle event selection; agent/permissions selection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/appspec.h"
#include "agent/bundle.h"
#include "agent/lifecycle.h"
#include "agent/permissions.h"
#include "common/err.h"

static void
entry_names(void **state)
{
    struct err err = {0};

    (void)state;
    assert_int_equal(bundle_path_check("appspec.yml", &err), 0);
    assert_int_equal(bundle_path_check("./a/b..c/d", &err), 0);
    assert_int_equal(bundle_path_check("/etc/passwd", &err), -EINVAL);
    assert_string_equal(err.msg, "entry '/etc/passwd': absolute path (expected a relative path)");
    assert_int_equal(bundle_path_check("a/../../x", &err), -EINVAL);
    assert_string_equal(err.msg,
                        "entry 'a/../../x': contains '..' (expected a path inside the bundle)");
    assert_int_equal(bundle_path_check("..", &err), -EINVAL);
    assert_int_equal(bundle_path_check("a/..", &err), -EINVAL);
    assert_int_equal(bundle_path_check("", &err), -EINVAL);
}

static void
normalize(void **state)
{
    char a[] = "./a//b/./c/", b[] = "./", c[] = "x";

    (void)state;
    assert_string_equal(bundle_path_normalize(a), "a/b/c");
    assert_string_equal(bundle_path_normalize(b), "");
    assert_string_equal(bundle_path_normalize(c), "x");
}

static void
nothing_may_pass_through_a_symlink(void **state)
{
    const char *paths[] = {"app", "app/link", "app/link/evil", "ok"};
    const bool links[] = {false, true, false, false};
    const char *hard[] = {NULL, NULL, NULL, NULL};
    const char *hard_bad[] = {NULL, NULL, NULL, "app/link/x"};
    struct err err = {0};

    (void)state;
    assert_int_equal(bundle_paths_check(paths, links, hard, 4, &err), -EINVAL);
    assert_string_equal(err.msg, "entry 'app/link/evil': goes through symlink 'app/link' "
                                 "(expected no entry under a symlink)");
    /* order does not matter: the later symlink would also be in the way */
    const char *rev[] = {"app/link/evil", "app/link"};
    const bool rlinks[] = {false, true};
    assert_int_equal(bundle_paths_check(rev, rlinks, hard, 2, &err), -EINVAL);
    /* a symlink alone is fine */
    assert_int_equal(bundle_paths_check(paths, links, hard, 2, &err), 0);
    const bool nolinks[] = {false, false, false, false};
    assert_int_equal(bundle_paths_check(paths, nolinks, hard_bad, 4, &err), 0);
    const char *hard_abs[] = {NULL, NULL, NULL, "/etc/shadow"};
    assert_int_equal(bundle_paths_check(paths, nolinks, hard_abs, 4, &err), -EINVAL);
}

static void
types(void **state)
{
    enum bundle_type t;

    (void)state;
    assert_int_equal(bundle_type_parse("tgz", &t), 0);
    assert_int_equal(t, BUNDLE_TGZ);
    assert_int_equal(bundle_type_parse("rar", &t), -EINVAL);
    assert_string_equal(bundle_type_name(BUNDLE_ZIP), "zip");
}

static void
expect_events(const char *csv, const enum appspec_event *want, size_t nwant)
{
    enum appspec_event got[APPSPEC_NEVENTS];
    struct err err = {0};
    size_t n = 0;

    assert_int_equal(lifecycle_select_events(csv, got, &n, &err), 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(appspec_event_name(got[i]), appspec_event_name(want[i]));
}

static void
event_selection_follows_codedeploy_local(void **state)
{
    enum appspec_event all[APPSPEC_NEVENTS];
    const enum appspec_event start[] = {APPSPEC_DOWNLOAD_BUNDLE, APPSPEC_INSTALL,
                                        APPSPEC_APPLICATION_START};
    const enum appspec_event given[] = {APPSPEC_DOWNLOAD_BUNDLE, APPSPEC_INSTALL,
                                        APPSPEC_VALIDATE_SERVICE, APPSPEC_APPLICATION_STOP};
    const enum appspec_event explicit[] = {APPSPEC_APPLICATION_STOP, APPSPEC_DOWNLOAD_BUNDLE,
                                           APPSPEC_INSTALL};
    enum appspec_event got[APPSPEC_NEVENTS];
    struct err err = {0};
    size_t n;

    (void)state;
    for (int i = 0; i < APPSPEC_NEVENTS; i++)
        all[i] = (enum appspec_event)i;
    expect_events(NULL, all, APPSPEC_NEVENTS);
    expect_events("ApplicationStart", start, 3);
    expect_events("ValidateService,ApplicationStop", given, 4); /* given order kept */
    expect_events("ApplicationStop,DownloadBundle,Install", explicit, 3);
    assert_int_equal(lifecycle_select_events("AplicationStart", got, &n, &err), -EINVAL);
    assert_string_equal(err.msg, "--events: unknown lifecycle event 'AplicationStart' (did you "
                                 "mean ApplicationStart?)");
    assert_int_equal(lifecycle_select_events("Install,Install", got, &n, &err), -EINVAL);
    assert_int_equal(lifecycle_select_events("Install,", got, &n, &err), -EINVAL);
}

static void
revision_per_event(void **state)
{
    (void)state;
    assert_int_equal(lifecycle_revision_for(APPSPEC_APPLICATION_STOP, false),
                     LIFECYCLE_REV_LAST_SUCCESSFUL);
    assert_int_equal(lifecycle_revision_for(APPSPEC_BEFORE_BLOCK_TRAFFIC, false),
                     LIFECYCLE_REV_LAST_SUCCESSFUL);
    assert_int_equal(lifecycle_revision_for(APPSPEC_AFTER_BLOCK_TRAFFIC, false),
                     LIFECYCLE_REV_LAST_SUCCESSFUL);
    assert_int_equal(lifecycle_revision_for(APPSPEC_BEFORE_INSTALL, false), LIFECYCLE_REV_NEW);
    assert_int_equal(lifecycle_revision_for(APPSPEC_AFTER_ALLOW_TRAFFIC, false), LIFECYCLE_REV_NEW);
    /* blue/green rollback: BlockTraffic from the most recent, AllowTraffic from the last
     * successful revision */
    assert_int_equal(lifecycle_revision_for(APPSPEC_BEFORE_BLOCK_TRAFFIC, true),
                     LIFECYCLE_REV_MOST_RECENT);
    assert_int_equal(lifecycle_revision_for(APPSPEC_AFTER_BLOCK_TRAFFIC, true),
                     LIFECYCLE_REV_MOST_RECENT);
    assert_int_equal(lifecycle_revision_for(APPSPEC_BEFORE_ALLOW_TRAFFIC, true),
                     LIFECYCLE_REV_LAST_SUCCESSFUL);
    assert_int_equal(lifecycle_revision_for(APPSPEC_AFTER_ALLOW_TRAFFIC, true),
                     LIFECYCLE_REV_LAST_SUCCESSFUL);
    assert_int_equal(lifecycle_revision_for(APPSPEC_APPLICATION_STOP, true),
                     LIFECYCLE_REV_LAST_SUCCESSFUL);
    assert_string_equal(lifecycle_revision_name(LIFECYCLE_REV_MOST_RECENT), "most-recent");
}

static void
permission_selection(void **state)
{
    const char *except[] = {"keep.sh"};
    struct appspec_permission p = {.object = "/srv/app", .pattern = "**", .types = 3};
    struct appspec_permission one = {.object = "/srv/app/",
                                     .pattern = "*.sh",
                                     .except = except,
                                     .nexcept = 1,
                                     .types = APPSPEC_TYPE_FILE};

    (void)state;
    assert_false(permissions_matches(&p, "/srv/app", true)); /* never the object itself */
    assert_true(permissions_matches(&p, "/srv/app/a", false));
    assert_true(permissions_matches(&p, "/srv/app/x/y/z", true));
    assert_false(permissions_matches(&p, "/srv/application/a", false));
    assert_true(permissions_matches(&one, "/srv/app/run.sh", false));
    assert_false(permissions_matches(&one, "/srv/app/keep.sh", false));
    assert_false(permissions_matches(&one, "/srv/app/sub/run.sh", false)); /* one level */
    assert_false(permissions_matches(&one, "/srv/app/run.py", false));
    assert_false(permissions_matches(&one, "/srv/app/dir.sh", true)); /* type: file */
    p.except = except;
    p.nexcept = 1;
    assert_false(permissions_matches(&p, "/srv/app/deep/keep.sh", false));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entry_names),
        cmocka_unit_test(normalize),
        cmocka_unit_test(nothing_may_pass_through_a_symlink),
        cmocka_unit_test(types),
        cmocka_unit_test(event_selection_follows_codedeploy_local),
        cmocka_unit_test(revision_per_event),
        cmocka_unit_test(permission_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
