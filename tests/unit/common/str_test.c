/* SPDX-License-Identifier: ISC */
/* common/str: number, duration and size parsing as configs write them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/str.h"

static void
durations_accept_every_documented_form(void **state)
{
    uint64_t ms;

    (void)state;
    assert_int_equal(str_parse_duration_ms("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(str_parse_duration_ms("10s", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(str_parse_duration_ms("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(str_parse_duration_ms("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(str_parse_duration_ms("30", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(str_parse_duration_ms("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    /* fractions of a millisecond round to the nearest, halves up */
    assert_int_equal(str_parse_duration_ms("2.5ms", &ms), 0);
    assert_int_equal(ms, 3);
    assert_int_equal(str_parse_duration_ms("2.49ms", &ms), 0);
    assert_int_equal(ms, 2);
    assert_int_equal(str_parse_duration_ms("0.0004s", &ms), 0);
    assert_int_equal(ms, 0);
}

static void
durations_reject_junk(void **state)
{
    uint64_t ms;

    (void)state;
    assert_int_equal(str_parse_duration_ms("", &ms), -EINVAL);
    assert_int_equal(str_parse_duration_ms("-1s", &ms), -EINVAL);
    assert_int_equal(str_parse_duration_ms("10 s", &ms), -EINVAL);
    assert_int_equal(str_parse_duration_ms("10x", &ms), -EINVAL);
    assert_int_equal(str_parse_duration_ms("0x10", &ms), -EINVAL);
    assert_int_equal(str_parse_duration_ms("1e3", &ms), -EINVAL);
    assert_int_equal(str_parse_duration_ms("s", &ms), -EINVAL);
}

static void
sizes_use_binary_multiples(void **state)
{
    uint64_t b;

    (void)state;
    assert_int_equal(str_parse_size("512", &b), 0);
    assert_int_equal(b, 512);
    assert_int_equal(str_parse_size("64K", &b), 0);
    assert_int_equal(b, 65536);
    assert_int_equal(str_parse_size("10M", &b), 0);
    assert_int_equal(b, 10485760);
    assert_int_equal(str_parse_size("1GiB", &b), 0);
    assert_int_equal(b, 1073741824);
    assert_int_equal(str_parse_size("512MB", &b), 0);
    assert_int_equal(b, 536870912);
    assert_int_equal(str_parse_size("12Q", &b), -EINVAL);
    assert_int_equal(str_parse_size("M", &b), -EINVAL);
}

static void
integers_check_range_and_trailing_junk(void **state)
{
    uint32_t v;

    (void)state;
    assert_int_equal(str_to_u32("42", &v, 0, 100), 0);
    assert_int_equal(v, 42);
    assert_int_equal(str_to_u32("101", &v, 0, 100), -ERANGE);
    assert_int_equal(str_to_u32("4x", &v, 0, 100), -EINVAL);
    assert_int_equal(str_to_u32("-4", &v, 0, 100), -EINVAL);
    assert_int_equal(str_to_u32(" 4", &v, 0, 100), -EINVAL);
    assert_int_equal(str_to_u32("99999999999999999999999", &v, 0, UINT32_MAX), -ERANGE);
}

static void
closest_suggests_plausible_typos_only(void **state)
{
    static const char *const keys[] = {"target_groups", "listeners", "workers", "admin"};

    (void)state;
    assert_string_equal(str_closest("listners", keys, 4), "listeners");
    assert_string_equal(str_closest("target_group", keys, 4), "target_groups");
    assert_null(str_closest("banana", keys, 4));
}

static void
copy_truncates_and_reports_length(void **state)
{
    char dst[4];

    (void)state;
    assert_int_equal(str_copy(dst, "abcdef", sizeof(dst)), 6);
    assert_string_equal(dst, "abc");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_accept_every_documented_form),
        cmocka_unit_test(durations_reject_junk),
        cmocka_unit_test(sizes_use_binary_multiples),
        cmocka_unit_test(integers_check_range_and_trailing_junk),
        cmocka_unit_test(closest_suggests_plausible_typos_only),
        cmocka_unit_test(copy_truncates_and_reports_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
