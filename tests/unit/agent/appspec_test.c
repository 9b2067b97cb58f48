/* SPDX-License-Identifier: ISC */
/* agent/appspec: every rule of APPSPEC.md, each error at its exact line and column, and the
 * real-world corpus accepted or rejected as the reference agent does. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/appspec.h"
#include "common/err.h"

static struct appspec *
parse_ok(const char *text)
{
    struct appspec *spec = NULL;
    struct err err = {0};
    int rc = appspec_parse(&spec, "appspec.yml", text, strlen(text), &err);

    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    return spec;
}

static void
expect_error(const char *text, const char *msg)
{
    struct appspec *spec = NULL;
    struct err err = {0};

    assert_int_not_equal(appspec_parse(&spec, "appspec.yml", text, strlen(text), &err), 0);
    assert_null(spec);
    assert_string_equal(err.msg, msg);
}

#define HEAD "version: 0.0\nos: linux\n"

static void
full_appspec_parses(void **state)
{
    struct appspec *spec = parse_ok(HEAD "file_exists_behavior: RETAIN\n"
                                         "files:\n"
                                         "  - source: /app\n"
                                         "    destination: /srv/app\n"
                                         "    overwrite: true\n"
                                         "permissions:\n"
                                         "  - object: /srv/app\n"
                                         "    pattern: \"*.sh\"\n"
                                         "    except: [keep.sh]\n"
                                         "    mode: 0644\n"
                                         "    type: [file]\n"
                                         "    acls: [\"u:nobody:rw\", \"d:g::r\"]\n"
                                         "hooks:\n"
                                         "  AfterInstall:\n"
                                         "    - location: scripts/a.sh\n"
                                         "      timeout: 30\n"
                                         "      runas: nobody\n"
                                         "      sudo: true\n"
                                         "    - location: /scripts/b.sh\n");

    (void)state;
    assert_true(spec->has_file_exists);
    assert_int_equal(spec->file_exists, APPSPEC_FE_RETAIN);
    assert_int_equal(spec->nfiles, 1);
    assert_string_equal(spec->files[0].source, "/app");
    assert_int_equal(spec->npermissions, 1);
    assert_int_equal(spec->permissions[0].mode, 0644); /* octal as meant, not 0420 */
    assert_int_equal(spec->permissions[0].types, APPSPEC_TYPE_FILE);
    assert_int_equal(spec->permissions[0].nexcept, 1);
    assert_int_equal(spec->permissions[0].nacls, 2);
    assert_int_equal(spec->hooks[APPSPEC_AFTER_INSTALL].nscripts, 2);
    assert_int_equal(spec->hooks[APPSPEC_AFTER_INSTALL].scripts[0].timeout_s, 30);
    assert_string_equal(spec->hooks[APPSPEC_AFTER_INSTALL].scripts[0].runas, "nobody");
    assert_int_equal(spec->hooks[APPSPEC_AFTER_INSTALL].scripts[1].timeout_s, 3600);
    assert_null(spec->hooks[APPSPEC_AFTER_INSTALL].scripts[1].runas);
    appspec_free(spec);
}

static void
version_forms(void **state)
{
    (void)state;
    appspec_free(parse_ok("version: \"0.0\"\nos: linux\n")); /* the reference wrongly rejects */
    appspec_free(parse_ok("version: 0\nos: linux\n"));
    appspec_free(parse_ok("version: 0.00\nos: linux\n"));
    appspec_free(parse_ok("version: 0.0\nos: linux\nunknown_top_level: 1\n"));
    expect_error("version: 0.1\nos: linux\n",
                 "appspec.yml:1:10: invalid version value (0.1) (expected 0.0)");
    expect_error("version: \"0\"\nos: linux\n",
                 "appspec.yml:1:10: invalid version value (0) (expected 0.0)");
}

static void
mode_is_octal_digits(void **state)
{
    struct appspec *spec = parse_ok(HEAD "permissions:\n"
                                         "  - object: /a\n"
                                         "    mode: 755\n"
                                         "  - object: /b\n"
                                         "    mode: \"4750\"\n");

    (void)state;
    assert_int_equal(spec->permissions[0].mode, 0755);
    assert_int_equal(spec->permissions[1].mode, 04750);
    assert_int_equal(spec->permissions[0].types, APPSPEC_TYPE_FILE | APPSPEC_TYPE_DIRECTORY);
    assert_string_equal(spec->permissions[0].pattern, "**");
    appspec_free(spec);
}

/* Ten (and more) malformed appspecs, each with the exact position of the fault. */
static void
malformed_appspecs_name_line_and_column(void **state)
{
    (void)state;
    expect_error("- a\n- b\n", "appspec.yml:1:1: appspec is a list (expected a mapping with "
                               "version, os, files, hooks)");
    expect_error("os: linux\n", "appspec.yml:1:1: missing 'version' (expected 0.0)");
    expect_error("version: 0.0\n", "appspec.yml:1:1: missing 'os' (expected linux)");
    expect_error("version: 0.0\nos: Linux\n",
                 "appspec.yml:2:5: unsupported os 'Linux' (expected linux)");
    expect_error(HEAD "files:\n  - source: /a\n",
                 "appspec.yml:4:5: missing 'destination' (expected a string)");
    expect_error(HEAD "files:\n  - source: /a\n    destination: rel/dir\n",
                 "appspec.yml:5:18: destination 'rel/dir' is relative (expected an absolute path)");
    expect_error(HEAD "files:\n  - source: ../../etc\n    destination: /x\n",
                 "appspec.yml:4:13: source '../../etc' leaves the bundle (expected a path inside "
                 "it)");
    expect_error(HEAD "hooks:\n  AfterInstal:\n    - location: a.sh\n",
                 "appspec.yml:4:3: unknown lifecycle event 'AfterInstal' (did you mean "
                 "AfterInstall?)");
    expect_error(HEAD "hooks:\n  Install:\n    - location: a.sh\n",
                 "appspec.yml:4:3: 'Install' is performed by cutover, not by scripts (expected a "
                 "scriptable event such as BeforeInstall)");
    expect_error(HEAD "hooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: 0\n",
                 "appspec.yml:6:16: invalid timeout '0' (expected whole seconds from 1 to "
                 "2000000)");
    expect_error(HEAD "hooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: 5m\n",
                 "appspec.yml:6:16: invalid timeout '5m' (expected whole seconds from 1 to "
                 "2000000)");
    expect_error(HEAD "hooks:\n  BeforeInstall:\n    - timeout: 5\n",
                 "appspec.yml:5:7: missing 'location' (expected a string)");
    expect_error(HEAD "hooks:\n  BeforeInstall:\n    - location: ../x.sh\n",
                 "appspec.yml:5:17: location '../x.sh' leaves the bundle (expected a path inside "
                 "it)");
    expect_error(HEAD "permissions:\n  - object: /srv\n    mode: 0958\n",
                 "appspec.yml:5:11: invalid mode '0958' (expected 3 or 4 octal digits, like 644 "
                 "or 0755)");
    expect_error(HEAD "permissions:\n  - object: /srv\n    type: [file, socket]\n",
                 "appspec.yml:5:18: unknown type 'socket' (expected file or directory)");
    expect_error(HEAD "permissions:\n  - pattern: \"*\"\n",
                 "appspec.yml:4:5: missing 'object' (expected a string)");
    expect_error(HEAD "file_exists_behavior: overwrite\n",
                 "appspec.yml:3:23: invalid file_exists_behavior 'overwrite' (expected DISALLOW, "
                 "OVERWRITE or RETAIN)");
    expect_error(HEAD "files: /app\n", "appspec.yml:3:8: 'files' is a scalar (expected a list)");
    expect_error(HEAD "hooks:\n  BeforeInstall:\n    location: a.sh\n",
                 "appspec.yml:5:5: BeforeInstall is a mapping (expected a list)");
}

static void
syntax_errors_keep_their_position(void **state)
{
    (void)state;
    expect_error(HEAD "hooks:\n  BeforeInstall:\n  - location: [a\n",
                 "appspec.yml:6:1: did not find expected ',' or ']' while parsing a flow sequence");
}

static void
path_containment(void **state)
{
    (void)state;
    assert_true(appspec_path_stays_inside("/"));
    assert_true(appspec_path_stays_inside("a/../b"));
    assert_true(appspec_path_stays_inside("/scripts/./x.sh"));
    assert_false(appspec_path_stays_inside(".."));
    assert_false(appspec_path_stays_inside("a/../../b"));
    assert_false(appspec_path_stays_inside("/../etc/passwd"));
}

static void
event_names_round_trip(void **state)
{
    enum appspec_event ev;

    (void)state;
    for (int i = 0; i < APPSPEC_NEVENTS; i++) {
        assert_int_equal(appspec_event_parse(appspec_event_name((enum appspec_event)i), &ev), 0);
        assert_int_equal(ev, i);
    }
    assert_int_equal(appspec_event_parse("applicationstop", &ev), -ENOENT);
    assert_string_equal(appspec_event_suggest("ValidateServices"), "ValidateService");
    assert_false(appspec_event_is_scriptable(APPSPEC_INSTALL));
    assert_true(appspec_event_is_scriptable(APPSPEC_AFTER_ALLOW_TRAFFIC));
}

static void
corpus_agrees_with_the_reference(void **state)
{
    static const char *const files[] = {
        "01_aws-codedeploy-samples_SampleApp_Linux.yml",
        "02_aws-codedeploy-samples_load-balancing_elb.yml",
        "03_aws-codedeploy-samples_puppet_masterless.yml",
        "04_aws-codedeploy-samples_ansible_local-only.yml",
        "05_aws-codedeploy-github-actions-deployment.yml",
        "06_aws-codepipeline-s3-codedeploy-linux_ab6ae04.yml",
        "07_aws-codepipeline-s3-codedeploy-linux_2c53b98_INVALID-version.yml",
        "08_ashnike_bipoflask.yml",
        "09_squatboy_codedeploy-blue-green-deploy.yml",
        "10_aws-codedeploy-agent_features_sample_app_bundle_linux.yml",
        "11_Abdelali12-codes_aws-codedeploy-sample.yml",
    };
    char path[512];

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct appspec *spec = NULL;
        struct err err = {0};
        int rc;
        snprintf(path, sizeof(path), "%s/appspec-corpus/%s", CUTOVER_FIXTURES, files[i]);
        rc = appspec_load(&spec, path, &err);
        if (strstr(files[i], "INVALID") != NULL) {
            assert_int_equal(rc, -EINVAL);
            assert_non_null(strstr(err.msg, ":1:10: invalid version value (0.1)"));
        } else if (rc != 0) {
            fail_msg("%s rejected: %s", files[i], err.msg);
        }
        appspec_free(spec);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_appspec_parses),
        cmocka_unit_test(version_forms),
        cmocka_unit_test(mode_is_octal_digits),
        cmocka_unit_test(malformed_appspecs_name_line_and_column),
        cmocka_unit_test(syntax_errors_keep_their_position),
        cmocka_unit_test(path_containment),
        cmocka_unit_test(event_names_round_trip),
        cmocka_unit_test(corpus_agrees_with_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
