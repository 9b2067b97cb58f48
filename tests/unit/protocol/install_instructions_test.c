/* SPDX-License-Identifier: ISC */
/* protocol/install_instructions: the -install.json file lists every step in order with the
 * names the e2e tests and users read, and ends with a newline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocol/install_instructions.h"

static void
steps_in_order(void **state)
{
    const struct install_instructions_item items[] = {
        {.type = INSTALL_INSTRUCTIONS_MKDIR, .destination = "/srv", .exists = true},
        {.type = INSTALL_INSTRUCTIONS_MKDIR, .destination = "/srv/app"},
        {.type = INSTALL_INSTRUCTIONS_COPY, .source = "/a/x.txt", .destination = "/srv/app/x.txt"},
        {.type = INSTALL_INSTRUCTIONS_RETAIN, .source = "/a/\xff", .destination = "/srv/app/y"},
    };
    json_error_t je;
    json_t *doc, *arr;
    char *text;
    size_t len;

    (void)state;
    text = install_instructions_encode("RETAIN", items, 4);
    len = strlen(text);
    assert_true(len > 1);
    assert_int_equal(text[len - 1], '\n');
    doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "file_exists_behavior")), "RETAIN");
    arr = json_object_get(doc, "instructions");
    assert_int_equal(json_array_size(arr), 4);

    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "type")),
                        "mkdir");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "directory")),
                        "/srv");
    assert_true(json_is_true(json_object_get(json_array_get(arr, 0), "exists")));
    assert_null(json_object_get(json_array_get(arr, 0), "source"));
    assert_true(json_is_false(json_object_get(json_array_get(arr, 1), "exists")));

    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 2), "type")), "copy");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 2), "source")),
                        "/a/x.txt");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 2), "destination")),
                        "/srv/app/x.txt");
    assert_null(json_object_get(json_array_get(arr, 2), "exists"));

    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 3), "type")),
                        "retain");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 3), "source")),
                        "/a/\xef\xbf\xbd"); /* not UTF-8: still a valid document */
    json_decref(doc);
    free(text);
}

static void
no_steps(void **state)
{
    char *text;

    (void)state;
    text = install_instructions_encode("DISALLOW", NULL, 0);
    assert_string_equal(text, "{\"file_exists_behavior\":\"DISALLOW\",\"instructions\":[]}\n");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steps_in_order),
        cmocka_unit_test(no_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
