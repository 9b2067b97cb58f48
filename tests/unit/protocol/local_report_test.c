/* SPDX-License-Identifier: ISC */
/* protocol/local_report: the `cutover local --output json` report keeps its exact names, shapes
 * and order, and stays valid JSON whatever bytes a script printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/local_report.h"

static void
expect_text(char *got, const char *want) /* frees <got> */
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void
succeeded_report(void **state)
{
    const struct local_report_script scripts[] = {
        {.location = "scripts/a.sh", .runas = "www", .status = "Succeeded", .duration_ms = 7},
        {.location = "scripts/b.sh",
         .status = "ScriptFailed",
         .code = 1,
         .exit_status = 3,
         .signal = 0,
         .duration_ms = 12345678901ULL},
    };
    const struct local_report_event events[] = {
        {.event = "ApplicationStop", .status = "Skipped", .note = "no previous revision"},
        {.event = "BeforeInstall",
         .status = "Succeeded",
         .duration_ms = 20,
         .revision = "new",
         .scripts = scripts,
         .nscripts = 2},
    };
    const struct local_report rep = {
        .deployment_id = "d-ABCDEFGHI",
        .deployment_group_id = "g",
        .status = "Succeeded",
        .deployment_dir = "/r/g/d-ABCDEFGHI",
        .scripts_log = "/r/g/d-ABCDEFGHI/logs/scripts.log",
        .deployments_log = "/r/deployment-logs/codedeploy-agent-deployments.log",
        .files_written = 3,
        .files_retained = 1,
        .dirs_created = 2,
        .cleaned = 4,
        .events = events,
        .nevents = 2,
    };

    (void)state;
    expect_text(
        local_report_encode(&rep),
        "{\"deploymentId\":\"d-ABCDEFGHI\",\"deploymentGroupId\":\"g\",\"status\":\"Succeeded\","
        "\"deploymentDir\":\"/r/g/d-ABCDEFGHI\",\"scriptsLog\":\"/r/g/d-ABCDEFGHI/logs/"
        "scripts.log\","
        "\"deploymentsLog\":\"/r/deployment-logs/codedeploy-agent-deployments.log\","
        "\"install\":{\"filesWritten\":3,\"filesRetained\":1,\"dirsCreated\":2,\"cleaned\":4},"
        "\"events\":["
        "{\"event\":\"ApplicationStop\",\"status\":\"Skipped\",\"durationMs\":0,\"revision\":null,"
        "\"note\":\"no previous revision\",\"scripts\":[]},"
        "{\"event\":\"BeforeInstall\",\"status\":\"Succeeded\",\"durationMs\":20,\"revision\":"
        "\"new\","
        "\"note\":null,\"scripts\":["
        "{\"location\":\"scripts/a.sh\",\"runas\":\"www\",\"status\":\"Succeeded\",\"code\":0,"
        "\"exitStatus\":0,\"signal\":0,\"durationMs\":7},"
        "{\"location\":\"scripts/b.sh\",\"runas\":null,\"status\":\"ScriptFailed\",\"code\":1,"
        "\"exitStatus\":3,\"signal\":0,\"durationMs\":12345678901}]}],"
        "\"error\":null}");
}

static void
failed_report(void **state)
{
    const struct local_report_error error = {
        .event = "Install",
        .code = 5,
        .name = "UnknownError",
        .message = "a \"quoted\" C:\\path",
        .log_tail = "line 1\nline\t2\x01\r\n\xff",
    };
    const struct local_report rep = {
        .deployment_id = "d-X",
        .deployment_group_id = "g",
        .status = "Failed",
        .deployment_dir = "/d",
        .scripts_log = "/s",
        .deployments_log = "/l",
        .error = &error,
    };

    (void)state;
    expect_text(local_report_encode(&rep),
                "{\"deploymentId\":\"d-X\",\"deploymentGroupId\":\"g\",\"status\":\"Failed\","
                "\"deploymentDir\":\"/d\",\"scriptsLog\":\"/s\",\"deploymentsLog\":\"/l\","
                "\"install\":{\"filesWritten\":0,\"filesRetained\":0,\"dirsCreated\":0,"
                "\"cleaned\":0},\"events\":[],"
                "\"error\":{\"event\":\"Install\",\"script\":null,\"code\":5,"
                "\"name\":\"UnknownError\",\"message\":\"a \\\"quoted\\\" C:\\\\path\","
                "\"logTail\":\"line 1\\nline\\t2\\u0001\\r\\n\xef\xbf\xbd\"}}");
}

static void
status_documents(void **state)
{
    (void)state;
    expect_text(local_report_encode_status("ok", NULL), "{\"status\":\"ok\"}");
    expect_text(local_report_encode_status("Busy", "group g is locked by pid 12"),
                "{\"status\":\"Busy\",\"error\":{\"message\":\"group g is locked by pid 12\"}}");
}

/* Scripts print anything and file names are bytes: each invalid byte becomes U+FFFD, valid
 * UTF-8 passes through untouched. */
static void
not_utf8(void **state)
{
#define FFFD "\xef\xbf\xbd"
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"\xff"
         "bad",
         FFFD "bad"},
        {"ok\xc3", "ok" FFFD},                     /* truncated at the end */
        {"\xc0\xaf", FFFD FFFD},                   /* overlong '/' */
        {"\xed\xa0\x80", FFFD FFFD FFFD},          /* a surrogate */
        {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* above U+10FFFF */
        {"a\xe2\x82"
         "b",
         "a" FFFD FFFD "b"}, /* cut short by an ASCII byte */
    };
#undef FFFD
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[128];
        (void)snprintf(want, sizeof(want),
                       "{\"status\":\"Refused\",\"error\":{\"message\":\"%s\"}}", cases[i].want);
        expect_text(local_report_encode_status("Refused", cases[i].in), want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(succeeded_report),
        cmocka_unit_test(failed_report),
        cmocka_unit_test(status_documents),
        cmocka_unit_test(not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
