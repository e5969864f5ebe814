/*
 * tests/unit/test_menu_graph.c — the set as a graph: labelled edges in a
 * fixed order, the reach of each code, unreachable nodes (a draft loaded
 * with menu_load_opts.draft), dead ends, node texts with {variables}; and
 * the example set, which has neither unreachable nodes nor dead ends.
 * May call: menus (graph, load, menu), libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menus/graph.h"
#include "tests/unit/menu_helper.h"

/* a <-> b loop without an end (dead ends), c -> d reaches an end, x is
 * reached by nothing */
static const char crafted[] =
    "settings:\n"
    "  languages: [en]\n"
    "codes:\n"
    "  \"*1#\": a\n"
    "  \"*2#\": c\n"
    "nodes:\n"
    "  - id: a\n"
    "    type: menu\n"
    "    text: \"A {phone}\"\n"
    "    options:\n"
    "      - { label: \"To b\", next: b }\n"
    "      - { label: \"To c\", next: c }\n"
    "  - id: b\n"
    "    type: menu\n"
    "    text: \"B\"\n"
    "    options:\n"
    "      - { label: \"Back to a\", next: a }\n"
    "  - id: c\n"
    "    type: input\n"
    "    text: \"Number?\"\n"
    "    var: n\n"
    "    on_fail: d\n"
    "    next: s\n"
    "  - id: s\n"
    "    type: switch\n"
    "    cases: [ { var: n, equals: \"1\", next: d } ]\n"
    "    default: d\n"
    "  - id: d\n"
    "    type: end\n"
    "    text: \"Done {n}\"\n";

static const char unreachable_node[] =
    "  - id: x\n"
    "    type: end\n"
    "    text: \"Nobody comes here\"\n";

static struct menu_set *load_draft(const char *text, int want_rc, struct menu_errors *errs)
{
    struct menu_source src = { "a.yaml", text, strlen(text) };
    struct menu_load_opts o = { .draft = true };
    struct menu_set *set = NULL;
    int rc = menu_set_load_sources_opts(&src, 1, &o, &set, errs);
    assert_int_equal(rc, want_rc);
    return set;
}

static uint16_t ix(const struct menu_set *set, const char *id)
{
    uint16_t i = menu_set_find_node(set, id, strlen(id));
    assert_int_not_equal(i, MENU_NONE);
    return i;
}

static void test_edges_and_flags(void **state)
{
    (void)state;
    struct menu_set *set = mh_load_text("a.yaml", crafted);
    struct menu_graph g;
    assert_int_equal(menu_graph_build(set, &g), 0);
    assert_int_equal(g.nnode, 5);
    /* a: option 1 -> b, option 2 -> c; b: option 1 -> a; c: next -> s,
     * on_fail -> d; s: case 1 -> d, default -> d */
    assert_int_equal(g.nedge, 7);
    const struct menu_edge *e = g.edge;
    assert_int_equal(e[0].from, ix(set, "a"));
    assert_int_equal(e[0].to, ix(set, "b"));
    assert_int_equal(e[0].kind, MENU_EDGE_OPTION);
    assert_int_equal(e[0].index, 1);
    assert_int_equal(e[0].lang, -1);
    assert_int_equal(e[1].index, 2);
    assert_int_equal(e[3].from, ix(set, "c"));
    assert_string_equal(menu_edge_kind_names[e[3].kind], "next");
    assert_string_equal(menu_edge_kind_names[e[4].kind], "on_fail");
    assert_string_equal(menu_edge_kind_names[e[5].kind], "case");
    assert_int_equal(e[5].index, 1);
    assert_string_equal(menu_edge_kind_names[e[6].kind], "default");

    assert_int_equal(g.flags[ix(set, "a")], MENU_GRAPH_ROOT);   /* not a dead end: c */
    assert_int_equal(g.flags[ix(set, "b")], 0);
    assert_int_equal(g.flags[ix(set, "c")], MENU_GRAPH_ROOT);
    assert_int_equal(g.flags[ix(set, "d")], MENU_GRAPH_FINAL);
    /* reach per code: *1# reaches all five, *2# only c, s, d */
    assert_int_equal(g.ncode, 2);
    assert_int_equal(g.code_start[1] - g.code_start[0], 5);
    assert_int_equal(g.code_start[2] - g.code_start[1], 3);
    assert_int_equal(g.code_node[g.code_start[1]], ix(set, "c"));

    char buf[64];
    assert_int_equal(menu_graph_text(set, set->node[ix(set, "a")].text, 0, buf, sizeof buf), 9);
    assert_string_equal(buf, "A {phone}");
    menu_graph_text(set, set->node[ix(set, "d")].text, 0, buf, 8);
    assert_string_equal(buf, "Done {n");                   /* cut to the buffer */
    assert_string_equal(menu_kind_name(set->node[ix(set, "s")].kind), "switch");
    menu_graph_free(&g);
    menu_set_unref(set);
}

/* Take c away from a: a and b only reach each other, never an end. */
static void test_dead_ends(void **state)
{
    (void)state;
    char text[2000];
    snprintf(text, sizeof text, "%s", crafted);
    char *p = strstr(text, "      - { label: \"To c\", next: c }\n");
    assert_non_null(p);
    memmove(p, p + strlen("      - { label: \"To c\", next: c }\n"),
            strlen(p + strlen("      - { label: \"To c\", next: c }\n")) + 1);
    struct menu_set *set = mh_load_text("a.yaml", text);
    struct menu_graph g;
    assert_int_equal(menu_graph_build(set, &g), 0);
    assert_int_equal(g.flags[ix(set, "a")], MENU_GRAPH_ROOT | MENU_GRAPH_DEAD_END);
    assert_int_equal(g.flags[ix(set, "b")], MENU_GRAPH_DEAD_END);
    assert_int_equal(g.flags[ix(set, "c")], MENU_GRAPH_ROOT);
    menu_graph_free(&g);
    menu_set_unref(set);
}

static void test_unreachable_in_a_draft(void **state)
{
    (void)state;
    char text[2000];
    snprintf(text, sizeof text, "%s%s", crafted, unreachable_node);
    /* strictly: refused, naming the node at its place */
    struct menu_source src = { "a.yaml", text, strlen(text) };
    struct menu_errors errs = { 0 };
    struct menu_set *set = NULL;
    assert_int_equal(menu_set_load_sources(&src, 1, NULL, 0, &set, &errs), -1);
    assert_null(set);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.v[0].msg, "'x' is unreachable"));
    assert_int_equal(errs.v[0].line, 31);
    assert_int_equal(errs.v[0].column, 9);
    menu_errors_free(&errs);
    /* as a draft: the set comes back with the same error, and its graph
     * flags the node */
    set = load_draft(text, 1, &errs);
    assert_non_null(set);
    assert_int_equal(errs.n, 1);
    menu_errors_free(&errs);
    struct menu_graph g;
    assert_int_equal(menu_graph_build(set, &g), 0);
    assert_int_equal(g.flags[ix(set, "x")], MENU_GRAPH_FINAL | MENU_GRAPH_UNREACHABLE);
    assert_int_equal(g.flags[ix(set, "d")], MENU_GRAPH_FINAL);
    menu_graph_free(&g);
    menu_set_unref(set);
    /* a structural error gives no set even as a draft */
    char broken[2000];
    snprintf(broken, sizeof broken, "%s", crafted);
    char *t = strstr(broken, "next: b }");
    assert_non_null(t);
    memcpy(t, "next: q }", 9);
    assert_null(load_draft(broken, -1, &errs));
    assert_true(errs.n >= 1);
    menu_errors_free(&errs);
}

static void test_example_set(void **state)
{
    (void)state;
    struct menu_errors errs = { 0 };
    struct menu_set *set = NULL;
    assert_int_equal(menu_set_load_dir("menus/examples", &set, &errs), 0);
    struct menu_graph g;
    assert_int_equal(menu_graph_build(set, &g), 0);
    for (uint16_t i = 0; i < g.nnode; i++) {
        if (g.flags[i] & (MENU_GRAPH_UNREACHABLE | MENU_GRAPH_DEAD_END))
            fprintf(stderr, "flagged: %s\n", set->node[i].id);
        assert_int_equal(g.flags[i] & (MENU_GRAPH_UNREACHABLE | MENU_GRAPH_DEAD_END), 0);
    }
    assert_true(g.flags[ix(set, "language")] & MENU_GRAPH_ROOT);
    assert_true(g.flags[ix(set, "main")] & MENU_GRAPH_ROOT);
    /* the language menu's options carry their language */
    size_t langs = 0;
    for (size_t e = 0; e < g.nedge; e++)
        if (g.edge[e].from == ix(set, "language"))
            assert_int_equal(g.edge[e].lang, (int)langs++);
    assert_int_equal(langs, 3);
    /* *100# reaches every node (main offers the language menu too) */
    assert_int_equal(g.code_start[1] - g.code_start[0], g.nnode);
    /* deterministic: built twice, the same */
    struct menu_graph g2;
    assert_int_equal(menu_graph_build(set, &g2), 0);
    assert_int_equal(g2.nedge, g.nedge);
    for (size_t e = 0; e < g.nedge; e++) {
        assert_int_equal(g2.edge[e].from, g.edge[e].from);
        assert_int_equal(g2.edge[e].to, g.edge[e].to);
        assert_int_equal(g2.edge[e].kind, g.edge[e].kind);
        assert_int_equal(g2.edge[e].index, g.edge[e].index);
    }
    menu_graph_free(&g2);
    menu_graph_free(&g);
    menu_set_unref(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_and_flags),
        cmocka_unit_test(test_dead_ends),
        cmocka_unit_test(test_unreachable_in_a_draft),
        cmocka_unit_test(test_example_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
