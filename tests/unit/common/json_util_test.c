/* SPDX-License-Identifier: ISC */
/* common/json_util: any C string becomes a jansson string; bytes that are not UTF-8 become
 * U+FFFD one for one, valid UTF-8 is kept as is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/json_util.h"

static void
expect_json_string(const char *in, const char *want)
{
    json_t *v = json_util_string(in);

    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), want);
    json_decref(v);
}

static void
strings(void **state)
{
    json_t *v;

    (void)state;
    v = json_util_string(NULL);
    assert_true(json_is_null(v));
    json_decref(v);
    expect_json_string("", "");
    expect_json_string("a\"b\\c\n\x01", "a\"b\\c\n\x01");
    expect_json_string("caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    expect_json_string("\xff"
                       "bad",
                       "\xef\xbf\xbd"
                       "bad");
    expect_json_string("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong '/' */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
