/* SPDX-License-Identifier: ISC */
/* common/yaml_conf: positions in every error, duplicate keys, typed getters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/yaml_conf.h"

static struct yaml_conf_doc *
load_ok(const char *text)
{
    struct yaml_conf_doc *doc = NULL;
    struct err err = {0};

    assert_int_equal(yaml_conf_load_buffer(&doc, "t.yaml", text, strlen(text), &err), 0);
    return doc;
}

static void
expect_load_error(const char *text, const char *msg)
{
    struct yaml_conf_doc *doc = NULL;
    struct err err = {0};

    assert_int_equal(yaml_conf_load_buffer(&doc, "t.yaml", text, strlen(text), &err), -EINVAL);
    assert_null(doc);
    assert_string_equal(err.msg, msg);
}

static void
nodes_remember_line_and_column(void **state)
{
    struct yaml_conf_doc *doc = load_ok("a: 1\nb:\n  c: [x, y]\n");
    const struct yaml_conf_node *c = yaml_conf_get(yaml_conf_get(doc->root, "b"), "c");

    (void)state;
    assert_non_null(c);
    assert_int_equal(c->kind, YAML_CONF_SEQ);
    assert_int_equal(c->line, 3);
    assert_int_equal(c->col, 6);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->items[1]->value, "y");
    assert_int_equal(c->items[1]->col, 10);
    yaml_conf_free(doc);
}

static void
syntax_errors_name_file_line_and_column(void **state)
{
    (void)state;
    expect_load_error("a: [1, 2\nb: 3\n",
                      "t.yaml:2:2: did not find expected ',' or ']' while parsing a flow sequence");
    expect_load_error("a: 1\na: 2\n", "t.yaml:2:1: duplicate key 'a' (first at line 1)");
    expect_load_error("a: 1\n---\nb: 2\n",
                      "t.yaml:2:1: more than one YAML document (expected exactly one)");
    expect_load_error("a: *nope\n", "t.yaml:1:4: unknown alias '*nope'");
}

static void
aliases_resolve_to_the_anchored_node(void **state)
{
    struct yaml_conf_doc *doc = load_ok("hc: &hc {path: /health}\nb: *hc\n");

    (void)state;
    assert_ptr_equal(yaml_conf_get(doc->root, "hc"), yaml_conf_get(doc->root, "b"));
    yaml_conf_free(doc);
}

static void
unknown_keys_get_a_suggestion(void **state)
{
    static const char *const allowed[] = {"listeners", "target_groups"};
    struct yaml_conf_doc *doc = load_ok("listeners: {}\ntarget_group: {}\n");
    struct err err = {0};

    (void)state;
    assert_int_equal(yaml_conf_check_keys(doc, doc->root, allowed, 2, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "t.yaml:2:1: unknown key 'target_group' (did you mean 'target_groups'?)");
    yaml_conf_free(doc);
}

static void
typed_getters_report_at_the_value(void **state)
{
    struct yaml_conf_doc *doc = load_ok("n: 70000\nd: 10x\nb: maybe\nq: \"\"\nz:\n");
    struct err err = {0};
    uint32_t v;
    uint64_t ms;
    bool flag;

    (void)state;
    assert_int_equal(yaml_conf_u32(doc, yaml_conf_get(doc->root, "n"), 1, 65535, &v, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "t.yaml:1:4: 70000 is out of range (expected 1 to 65535)");
    assert_int_equal(yaml_conf_duration_ms(doc, yaml_conf_get(doc->root, "d"), &ms, &err), -EINVAL);
    assert_string_equal(
        err.msg, "t.yaml:2:4: '10x' is not a duration (expected e.g. 500ms, 10s, 5m or seconds)");
    assert_int_equal(yaml_conf_bool(doc, yaml_conf_get(doc->root, "b"), &flag, &err), -EINVAL);
    assert_string_equal(err.msg, "t.yaml:3:4: expected true or false, got 'maybe'");
    assert_false(yaml_conf_is_null(yaml_conf_get(doc->root, "q")));
    assert_true(yaml_conf_is_null(yaml_conf_get(doc->root, "z")));
    assert_int_equal(
        yaml_conf_expect(doc, yaml_conf_get(doc->root, "z"), YAML_CONF_MAP, "'z'", &err), -EINVAL);
    assert_string_equal(err.msg, "t.yaml:5:3: 'z' is empty (expected a mapping)");
    yaml_conf_free(doc);
}

static void
missing_file_names_the_path(void **state)
{
    struct yaml_conf_doc *doc = NULL;
    struct err err = {0};

    (void)state;
    assert_int_equal(yaml_conf_load_file(&doc, "/nonexistent/x.yaml", &err), -ENOENT);
    assert_string_equal(err.msg, "/nonexistent/x.yaml: No such file or directory");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nodes_remember_line_and_column),
        cmocka_unit_test(syntax_errors_name_file_line_and_column),
        cmocka_unit_test(aliases_resolve_to_the_anchored_node),
        cmocka_unit_test(unknown_keys_get_a_suggestion),
        cmocka_unit_test(typed_getters_report_at_the_value),
        cmocka_unit_test(missing_file_names_the_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
