/* SPDX-License-Identifier: ISC */
/* agent/jsonw: JSON strings stay valid whatever a script printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/jsonw.h"
#include "common/buf.h"

static void
expect_json(const char *in, const char *want)
{
    struct buf b;

    buf_init(&b);
    jsonw_str(&b, in);
    assert_string_equal(b.data, want);
    buf_fini(&b);
}

static void
escapes_and_utf8(void **state)
{
    (void)state;
    expect_json(NULL, "null");
    expect_json("a\"b\\c\nd\te\x01", "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    expect_json("\xff"
                "bad",
                "\"\\ufffdbad\"");
    expect_json("\xc3", "\"\\ufffd\"");                       /* truncated at the end */
    expect_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    expect_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* a surrogate */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_and_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
