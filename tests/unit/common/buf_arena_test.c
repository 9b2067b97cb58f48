/* SPDX-License-Identifier: ISC */
/* common/buf and common/arena: growth, consumption, alignment, oversized allocations. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"

static void
buf_grows_consumes_and_stays_terminated(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_appendf(&b, "%03d,", i);
    assert_int_equal(b.len, 4000);
    buf_consume(&b, 3996);
    assert_string_equal(b.data, "999,");
    s = buf_take(&b);
    assert_string_equal(s, "999,");
    assert_null(b.data);
    free(s);
    buf_fini(&b);
}

static void
arena_aligns_and_handles_oversized_requests(void **state)
{
    struct arena a;
    char *small, *big, *after;

    (void)state;
    arena_init(&a, 256);
    small = arena_strdup(&a, "hello");
    big = arena_alloc(&a, 10000);
    memset(big, 'x', 10000);
    after = arena_strdup(&a, "world");
    assert_string_equal(small, "hello");
    assert_string_equal(after, "world");
    assert_int_equal((uintptr_t)big % alignof(max_align_t), 0);
    arena_reset(&a);
    assert_string_equal(arena_strdup(&a, "again"), "again");
    arena_fini(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_grows_consumes_and_stays_terminated),
        cmocka_unit_test(arena_aligns_and_handles_oversized_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
