/*
 * tests/unit/test_workspace.c — the console's workspace answers: a draft
 * checked by the same loader (errors inline at file:line:column, for a
 * YAML fault and for an unknown target), malformed drafts refused with a
 * sentence, the graph of a draft (an unreachable node flagged, texts
 * measured per language), and the length of a typed text.
 * May call: gateway/workspace, menus, jansson, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/workspace.h"
#include "tests/unit/ws_helper.h"

static json_t *one_file(const char *name, const char *text)
{
    return json_pack("{s:s}", name, text);
}

static const json_t *error_at(const json_t *answer, size_t i)
{
    const json_t *errors = json_object_get(answer, "errors");
    assert_true(json_is_array(errors));
    assert_true(i < json_array_size(errors));
    return json_array_get(errors, i);
}

static void test_check_example(void **state)
{
    (void)state;
    json_t *files = wh_files_of("menus/examples");
    json_t *a = workspace_check(files);
    assert_true(json_is_true(json_object_get(a, "ok")));
    assert_int_equal(json_array_size(json_object_get(a, "errors")), 0);
    assert_int_equal(json_integer_value(json_object_get(a, "nodes")), 26);
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "codes"), 0)),
                        "*100#");
    json_decref(a);
    json_decref(files);
}

static const char good[] =
    "settings:\n"
    "  languages: [en, ru]\n"
    "codes:\n"
    "  \"*1#\": a\n"
    "nodes:\n"
    "  - id: a\n"
    "    type: menu\n"
    "    text: { en: \"Hello\", ru: \"Привет\" }\n"
    "    options:\n"
    "      - { label: \"Bye\", next: e }\n"
    "  - id: e\n"
    "    type: end\n"
    "    text: \"Bye\"\n";

static void test_check_errors_inline(void **state)
{
    (void)state;
    /* a semantic error: the target's own scalar, line 10 column 31 */
    char t[1000];
    snprintf(t, sizeof t, "%s", good);
    char *p = strstr(t, "next: e }");
    memcpy(p, "next: q }", 9);
    json_t *files = one_file("10-main.yaml", t);
    json_t *a = workspace_check(files);
    assert_true(json_is_false(json_object_get(a, "ok")));
    const json_t *e = error_at(a, 0);
    assert_string_equal(json_string_value(json_object_get(e, "file")), "10-main.yaml");
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 10);
    assert_int_equal(json_integer_value(json_object_get(e, "column")), 31);
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")),
                           "unknown target 'q'"));
    json_decref(a);
    json_decref(files);

    /* a YAML fault: an unclosed flow mapping on line 8 */
    snprintf(t, sizeof t, "%s", good);
    p = strstr(t, "\"Привет\" }");
    memcpy(p + strlen("\"Привет\""), "  ", 2);
    files = json_pack("{s:s, s:s}", "20-b.yaml", t, "10-a.yaml", good);
    a = workspace_check(files);
    assert_true(json_is_false(json_object_get(a, "ok")));
    e = error_at(a, 0);
    assert_string_equal(json_string_value(json_object_get(e, "file")), "20-b.yaml");
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 9);
    assert_int_equal(json_integer_value(json_object_get(e, "column")), 5);
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "YAML"));
    json_decref(a);
    json_decref(files);
}

static void test_check_malformed(void **state)
{
    (void)state;
    static const char *const names[] = { "a.txt", ".a.yaml", "dir/a.yaml", "" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *files = one_file(names[i], good);
        json_t *a = workspace_check(files);
        assert_true(json_is_false(json_object_get(a, "ok")));
        assert_non_null(strstr(json_string_value(json_object_get(error_at(a, 0), "message")),
                               "not a menu file name"));
        json_decref(a);
        json_decref(files);
    }
    json_t *files = json_pack("{s:i}", "a.yaml", 5);
    json_t *a = workspace_check(files);
    assert_non_null(strstr(json_string_value(json_object_get(error_at(a, 0), "message")),
                           "must be a string"));
    json_decref(a);
    json_decref(files);
    files = json_array();
    a = workspace_check(files);
    assert_true(json_is_false(json_object_get(a, "ok")));
    json_decref(a);
    json_decref(files);
    a = workspace_check(NULL);
    assert_true(json_is_false(json_object_get(a, "ok")));
    json_decref(a);
    files = json_object();
    a = workspace_check(files);
    assert_non_null(strstr(json_string_value(json_object_get(error_at(a, 0), "message")),
                           "no menu file"));
    json_decref(a);
    json_decref(files);
    /* a draft is loaded whole: the same text twice is a duplicate */
    files = json_pack("{s:s, s:s}", "a.yaml", good, "b.yaml", good);
    a = workspace_check(files);
    assert_true(json_is_false(json_object_get(a, "ok")));
    assert_string_equal(json_string_value(json_object_get(error_at(a, 0), "file")), "b.yaml");
    json_decref(a);
    json_decref(files);
}

static const json_t *node_of(const json_t *graph, const char *id)
{
    const json_t *nodes = json_object_get(graph, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *n = json_array_get(nodes, i);
        if (strcmp(json_string_value(json_object_get(n, "id")), id) == 0)
            return n;
    }
    fail_msg("no node %s", id);
    return NULL;
}

static void test_graph(void **state)
{
    (void)state;
    char t[1200];
    snprintf(t, sizeof t, "%s%s", good,
             "  - id: lost\n    type: end\n    text: { en: \"Lost {phone}\", ru: \"Потерян\" }\n");
    json_t *files = one_file("a.yaml", t);
    json_t *a = workspace_graph(files);
    assert_true(json_is_false(json_object_get(a, "ok")));
    assert_non_null(strstr(json_string_value(json_object_get(error_at(a, 0), "message")),
                           "unreachable"));
    const json_t *g = json_object_get(a, "graph");
    assert_true(json_is_object(g));
    const json_t *lost = node_of(g, "lost");
    assert_true(json_is_true(json_object_get(lost, "unreachable")));
    assert_true(json_is_true(json_object_get(lost, "final")));
    assert_true(json_is_false(json_object_get(node_of(g, "a"), "unreachable")));
    assert_true(json_is_true(json_object_get(node_of(g, "a"), "root")));
    const json_t *en = json_object_get(json_object_get(lost, "texts"), "en");
    assert_string_equal(json_string_value(json_object_get(en, "text")), "Lost {phone}");
    const json_t *m = json_object_get(en, "measure");
    assert_string_equal(json_string_value(json_object_get(m, "encoding")), "GSM-7");
    assert_int_equal(json_integer_value(json_object_get(m, "chars")), 5);   /* "Lost " */
    const json_t *ru = json_object_get(json_object_get(lost, "texts"), "ru");
    m = json_object_get(ru, "measure");
    assert_string_equal(json_string_value(json_object_get(m, "encoding")), "UCS-2");
    assert_int_equal(json_integer_value(json_object_get(m, "limit")), 80);
    const json_t *edge = json_array_get(json_object_get(g, "edges"), 0);
    assert_string_equal(json_string_value(json_object_get(edge, "from")), "a");
    assert_string_equal(json_string_value(json_object_get(edge, "to")), "e");
    assert_string_equal(json_string_value(json_object_get(edge, "kind")), "option");
    assert_string_equal(json_string_value(json_object_get(edge, "label")), "1");
    const json_t *code = json_array_get(json_object_get(g, "codes"), 0);
    assert_string_equal(json_string_value(json_object_get(code, "code")), "*1#");
    assert_int_equal(json_array_size(json_object_get(code, "reach")), 2);
    json_decref(a);
    json_decref(files);

    /* the example: clean, every node drawn, none flagged */
    files = wh_files_of("menus/examples");
    a = workspace_graph(files);
    assert_true(json_is_true(json_object_get(a, "ok")));
    g = json_object_get(a, "graph");
    assert_int_equal(json_array_size(json_object_get(g, "nodes")), 26);
    const json_t *help = json_object_get(json_object_get(node_of(g, "help"), "texts"), "ky");
    m = json_object_get(help, "measure");
    assert_true(json_is_false(json_object_get(m, "fits")));
    assert_true(json_integer_value(json_object_get(m, "pages")) > 1);
    /* no node of the example set is a dead end: the appeal node ends its
     * own sub-dialog, as booking does (issue 12) */
    const json_t *nodes = json_object_get(g, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *nd = json_array_get(nodes, i);
        const json_t *fl = json_object_get(nd, "flags");
        if (json_is_true(json_object_get(fl ? fl : nd, "dead_end")))
            fail_msg("dead end: %s", json_string_value(json_object_get(nd, "id")));
    }
    json_decref(a);
    json_decref(files);
    /* a structural fault: no graph */
    files = one_file("a.yaml", "nodes: [");
    a = workspace_graph(files);
    assert_true(json_is_null(json_object_get(a, "graph")));
    json_decref(a);
    json_decref(files);
}

static void test_measure(void **state)
{
    (void)state;
    char t[400] = "";
    for (int i = 0; i < 81; i++)
        strcat(t, "ө");
    json_t *m = workspace_measure(t, strlen(t), "ky", true, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "encoding")), "UCS-2");
    assert_int_equal(json_integer_value(json_object_get(m, "data_coding")), 8);
    assert_int_equal(json_integer_value(json_object_get(m, "chars")), 81);
    assert_int_equal(json_integer_value(json_object_get(m, "octets")), 162);
    assert_int_equal(json_integer_value(json_object_get(m, "first_ucs2")), 0);
    assert_true(json_is_false(json_object_get(m, "fits")));
    assert_int_equal(json_integer_value(json_object_get(m, "pages")), 2);
    /* page 1 ends before the widest footer, "\n99 Дагы, 0 Артка, 00 Башкы"
     * (27 characters): 53 letters */
    const json_t *p1 = json_array_get(json_object_get(m, "page"), 1);
    assert_int_equal(json_integer_value(json_object_get(p1, "start")), 53);
    assert_int_equal(json_integer_value(json_object_get(p1, "length")), 28);
    json_decref(m);
    t[160] = '\0';                                  /* 80 letters */
    m = workspace_measure(t, strlen(t), "ky", true, NULL);
    assert_true(json_is_true(json_object_get(m, "fits")));
    assert_int_equal(json_integer_value(json_object_get(m, "pages")), 1);
    json_decref(m);
    m = workspace_measure("Hi [x]", 6, "en", false, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "encoding")), "GSM-7");
    assert_int_equal(json_integer_value(json_object_get(m, "units")), 8);
    assert_int_equal(json_integer_value(json_object_get(m, "extension_chars")), 2);
    assert_true(json_is_null(json_object_get(m, "first_ucs2")));
    json_decref(m);
    m = workspace_measure("x", 1, "de", false, NULL);
    assert_non_null(json_object_get(m, "error"));
    json_decref(m);
    /* a draft's own labels */
    json_t *files = one_file("a.yaml", good);
    m = workspace_measure("x", 1, "ru", false, files);
    assert_null(json_object_get(m, "error"));
    json_decref(m);
    m = workspace_measure("x", 1, "ky", false, files);       /* not a language of it */
    assert_non_null(json_object_get(m, "error"));
    json_decref(m);
    json_decref(files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_example),
        cmocka_unit_test(test_check_errors_inline),
        cmocka_unit_test(test_check_malformed),
        cmocka_unit_test(test_graph),
        cmocka_unit_test(test_measure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
