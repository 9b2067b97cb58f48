/* SPDX-License-Identifier: ISC */
/* common/addr: the address forms configs use, canonical text, rejects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/addr.h"

static void
parses_ipv4_ipv6_wildcard_and_unix(void **state)
{
    struct addr a;

    (void)state;
    assert_int_equal(addr_parse(&a, "127.0.0.1:9001"), 0);
    assert_string_equal(a.text, "127.0.0.1:9001");
    assert_int_equal(addr_port(&a), 9001);
    assert_int_equal(addr_parse(&a, "[::1]:80"), 0);
    assert_string_equal(a.text, "[::1]:80");
    assert_int_equal(addr_parse(&a, "*:8080"), 0);
    assert_string_equal(a.text, "0.0.0.0:8080");
    assert_int_equal(addr_parse(&a, "unix:/run/cutover/proxy.sock"), 0);
    assert_true(addr_is_unix(&a));
    assert_string_equal(a.text, "unix:/run/cutover/proxy.sock");
}

static void
rejects_names_bad_ports_and_missing_parts(void **state)
{
    struct addr a;

    (void)state;
    assert_int_equal(addr_parse(&a, "localhost:80"), -EINVAL);
    assert_int_equal(addr_parse(&a, "127.0.0.1:0"), -EINVAL);
    assert_int_equal(addr_parse(&a, "127.0.0.1:65536"), -EINVAL);
    assert_int_equal(addr_parse(&a, "127.0.0.1"), -EINVAL);
    assert_int_equal(addr_parse(&a, "[::1]80"), -EINVAL);
    assert_int_equal(addr_parse(&a, "unix:"), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_ipv4_ipv6_wildcard_and_unix),
        cmocka_unit_test(rejects_names_bad_ports_and_missing_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
