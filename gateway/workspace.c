/*
 * gateway/workspace.c — a draft menu set checked, drawn and measured, as
 * JSON (see workspace.h).
 *
 * Everything goes through the loader's in-memory entry point
 * (menu_set_load_sources_opts), the graph (menus/graph) and the measure
 * (menus/measure): this file only turns JSON into sources and results
 * into JSON.  Loads are of the draft's own texts: no file, no network.
 * Owns: the sets it loads, until it returns (or hands one to the caller
 * of workspace_load).
 * May call: menus (load, graph, measure), jansson, libc.
 */
#include "gateway/workspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "menus/graph.h"

#define NAME_MAX_B 100      /* a draft file's name */
#define TEXT_BUF   2100     /* a node text as written (2000 bytes at most) */

static int cmp_src(const void *a, const void *b)
{
    return strcmp(((const struct menu_source *)a)->name,
                  ((const struct menu_source *)b)->name);
}

int workspace_files(const json_t *files, struct ws_files *out, char *why,
                    size_t cap)
{
    out->n = 0;
    if (!json_is_object(files)) {
        snprintf(why, cap, "files: expected an object {\"name.yaml\": \"text\"}");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)files, name, v) {
        size_t nl = strlen(name);
        if (nl == 0 || nl > NAME_MAX_B || strchr(name, '/') || !menu_file_name(name)) {
            snprintf(why, cap, "files: '%.*s' is not a menu file name (name.yaml or name.yml)",
                     NAME_MAX_B, name);
            return -1;
        }
        if (!json_is_string(v)) {
            snprintf(why, cap, "files: '%s' must be a string", name);
            return -1;
        }
        if (out->n == MENU_SET_MAX_FILES) {
            snprintf(why, cap, "files: more than %d files", MENU_SET_MAX_FILES);
            return -1;
        }
        struct menu_source *s = &out->src[out->n++];
        s->name = name;
        s->text = json_string_value(v);
        s->len = json_string_length(v);
    }
    if (out->n == 0) {
        snprintf(why, cap, "files: no menu file");
        return -1;
    }
    qsort(out->src, out->n, sizeof out->src[0], cmp_src);
    return 0;
}

json_t *workspace_string(const char *s, size_t len)
{
    json_t *j = json_stringn(s ? s : "", s ? len : 0);
    if (j)
        return j;
    /* not UTF-8 (a message quoting a broken file): U+FFFD per bad byte */
    size_t cap = len * 3 + 1, o = 0;
    uint8_t *b = malloc(cap);
    if (!b)
        return json_string("");
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += kz_utf8_next_lossy(p + i, len - i, &cp);
        if (cp == 0)
            cp = 0xFFFD;
        if (kz_utf8_put(cp, b, cap, &o) != 0)
            break;
    }
    j = json_stringn((const char *)b, o);
    free(b);
    return j ? j : json_string("");
}

json_t *workspace_errors_json(const struct menu_errors *errs)
{
    json_t *a = json_array();
    for (size_t i = 0; a && errs && i < errs->n; i++) {
        const struct menu_error *e = &errs->v[i];
        json_array_append_new(a, json_pack("{s:o, s:i, s:i, s:o}",
                                           "file", workspace_string(e->file, strlen(e->file)),
                                           "line", e->line, "column", e->column,
                                           "message", workspace_string(e->msg, strlen(e->msg))));
    }
    return a;
}

/* One error that is not the loader's (a malformed request). */
static json_t *one_error(const char *msg)
{
    return json_pack("[{s:s, s:i, s:i, s:s}]", "file", "", "line", 0, "column", 0,
                     "message", msg);
}

/* {"ok", "errors", "dropped"} of a load (bad: a malformed request's one
 * error instead of the loader's). */
static json_t *verdict(int rc, const struct menu_errors *errs, json_t *bad)
{
    json_t *errors = bad ? bad : workspace_errors_json(errs);
    return json_pack("{s:b, s:o, s:I}", "ok", rc == 0, "errors", errors, "dropped",
                     (json_int_t)errs->dropped);
}

/* Load files (draft: as the graph does).  Returns the set (rc 0, or 1 for
 * a draft with whole-set faults) or NULL; *v (may be NULL) gets the
 * verdict. */
static struct menu_set *load(const json_t *files, bool draft, int *rc, json_t **v)
{
    struct ws_files f;
    struct menu_errors errs = { 0 };
    char why[200];
    struct menu_set *set = NULL;
    json_t *bad = NULL;
    if (workspace_files(files, &f, why, sizeof why) != 0) {
        bad = one_error(why);
        *rc = -2;
    } else {
        struct menu_load_opts o = { 0 };
        o.draft = draft;
        *rc = menu_set_load_sources_opts(f.src, f.n, &o, &set, &errs);
    }
    if (v)
        *v = verdict(*rc, &errs, bad);
    else
        json_decref(bad);
    menu_errors_free(&errs);
    return set;
}

json_t *workspace_check(const json_t *files)
{
    json_t *j;
    int rc;
    struct menu_set *set = load(files, false, &rc, &j);
    json_t *codes = json_array();
    for (uint16_t c = 0; set && codes && c < set->ncode; c++)
        json_array_append_new(codes, json_string(set->code[c].code));
    json_object_set_new(j, "nodes", json_integer(set ? set->nnode : 0));
    json_object_set_new(j, "codes", codes);
    menu_set_unref(set);
    return j;
}

struct menu_set *workspace_load(const json_t *files, json_t **errors)
{
    int rc;
    struct menu_set *set = load(files, false, &rc, errors);
    if (rc == 0 && errors) {
        json_decref(*errors);
        *errors = NULL;
    }
    return set;
}

json_t *workspace_measure_json(const struct menu_measure *m)
{
    json_t *pages = json_array();
    for (unsigned p = 0; pages && p < m->npage_info; p++) {
        const struct menu_measure_page *pg = &m->page[p];
        json_array_append_new(pages, json_pack("{s:I, s:I, s:I, s:I, s:s}",
                                               "start", (json_int_t)pg->start_char,
                                               "length", (json_int_t)pg->text_chars,
                                               "units", (json_int_t)pg->units,
                                               "octets", (json_int_t)pg->octets,
                                               "encoding", menu_enc_name(pg->enc)));
    }
    json_t *first = m->first_ucs2 == MENU_MEASURE_NONE ? json_null()
                                                       : json_integer((json_int_t)m->first_ucs2_char);
    return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:b, s:I, s:o}",
                     "encoding", menu_enc_name(m->enc), "data_coding", m->enc,
                     "chars", (json_int_t)m->chars, "units", (json_int_t)m->units,
                     "limit", (json_int_t)m->limit, "octets", (json_int_t)m->octets,
                     "limit_octets", (json_int_t)m->limit_octets,
                     "extension_chars", (json_int_t)m->ext, "first_ucs2", first,
                     "fits", m->fits, "pages", (json_int_t)m->npages, "page", pages);
}

/* {lang: {"text", "measure"}} of node ix. */
static json_t *node_texts(const struct menu_set *set, uint16_t ix)
{
    json_t *t = json_object();
    const struct menu_node *n = &set->node[ix];
    for (int li = 0; t && li < set->nlang; li++) {
        char buf[TEXT_BUF];
        size_t l = menu_graph_text(set, n->text, li, buf, sizeof buf);
        struct menu_measure m;
        int rc = menu_measure_node(set, ix, li, &m);
        json_t *one = json_pack("{s:o, s:o}", "text", workspace_string(buf, l), "measure",
                                rc == 0 ? workspace_measure_json(&m) : json_null());
        json_object_set_new(t, set->lang[li], one);
    }
    return t;
}

static json_t *graph_nodes(const struct menu_set *set, const struct menu_graph *g)
{
    json_t *a = json_array();
    for (uint16_t i = 0; a && i < g->nnode; i++) {
        const struct menu_node *n = &set->node[i];
        uint8_t f = g->flags[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:b, s:b, s:b, s:o}",
                                           "id", n->id, "type", menu_kind_name(n->kind),
                                           "file", n->file ? n->file : "", "line", n->line,
                                           "column", n->col, "root", (f & MENU_GRAPH_ROOT) != 0,
                                           "final", (f & MENU_GRAPH_FINAL) != 0,
                                           "unreachable", (f & MENU_GRAPH_UNREACHABLE) != 0,
                                           "dead_end", (f & MENU_GRAPH_DEAD_END) != 0,
                                           "texts", node_texts(set, i)));
    }
    return a;
}

/* An edge's label: "1" for option 1 (its label text in the default
 * language follows in "text"), else the kind's name with its number. */
static json_t *graph_edges(const struct menu_set *set, const struct menu_graph *g)
{
    json_t *a = json_array();
    for (size_t e = 0; a && e < g->nedge; e++) {
        const struct menu_edge *ed = &g->edge[e];
        char label[48];
        if (ed->kind == MENU_EDGE_OPTION)
            snprintf(label, sizeof label, "%u", (unsigned)ed->index);
        else if (ed->index)
            snprintf(label, sizeof label, "%s %u", menu_edge_kind_names[ed->kind],
                     (unsigned)ed->index);
        else
            snprintf(label, sizeof label, "%s", menu_edge_kind_names[ed->kind]);
        json_t *lang = ed->lang >= 0 ? json_string(set->lang[ed->lang]) : json_null();
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}",
                                           "from", set->node[ed->from].id,
                                           "to", set->node[ed->to].id,
                                           "kind", menu_edge_kind_names[ed->kind],
                                           "label", label, "index", ed->index,
                                           "language", lang));
    }
    return a;
}

static json_t *graph_codes(const struct menu_set *set, const struct menu_graph *g)
{
    json_t *a = json_array();
    for (uint16_t c = 0; a && c < g->ncode; c++) {
        json_t *reach = json_array();
        for (size_t k = g->code_start[c]; reach && k < g->code_start[c + 1]; k++)
            json_array_append_new(reach, json_string(set->node[g->code_node[k]].id));
        json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "code", set->code[c].code,
                                           "root", set->node[set->code[c].root].id,
                                           "reach", reach));
    }
    return a;
}

static json_t *graph_json(const struct menu_set *set)
{
    struct menu_graph g;
    if (menu_graph_build(set, &g) != 0)
        return json_null();
    json_t *langs = json_array();
    for (int li = 0; langs && li < set->nlang; li++)
        json_array_append_new(langs, json_string(set->lang[li]));
    json_t *j = json_pack("{s:o, s:o, s:o, s:o}", "languages", langs,
                          "codes", graph_codes(set, &g), "nodes", graph_nodes(set, &g),
                          "edges", graph_edges(set, &g));
    menu_graph_free(&g);
    return j ? j : json_null();
}

json_t *workspace_graph(const json_t *files)
{
    json_t *j;
    int rc;
    struct menu_set *set = load(files, true, &rc, &j);
    json_object_set_new(j, "graph", set ? graph_json(set) : json_null());
    menu_set_unref(set);
    return j;
}

/* A set with the loader's built-in ky/ru/en keys and labels. */
static struct menu_set *builtin_set(void)
{
    static const char text[] =
        "settings:\n  languages: [ky, ru, en]\n"
        "codes:\n  \"*1#\": a\n"
        "nodes:\n  - id: a\n    type: end\n    text: \"a\"\n";
    struct menu_source src = { "builtin.yaml", text, sizeof text - 1 };
    struct menu_errors errs = { 0 };
    struct menu_set *set = NULL;
    menu_set_load_sources(&src, 1, NULL, 0, &set, &errs);
    menu_errors_free(&errs);
    return set;
}

json_t *workspace_measure(const char *text, size_t len, const char *lang,
                          bool final, const json_t *files)
{
    if (!text || !lang)
        return json_pack("{s:s}", "error", "text and lang are required");
    struct menu_set *set = NULL;
    int rc;
    if (files)
        set = load(files, true, &rc, NULL);
    if (!set)
        set = builtin_set();
    int li = set ? menu_set_find_lang(set, lang) : -1;
    struct menu_measure m;
    json_t *j;
    if (li < 0 || menu_measure_set_text(set, li, text, len, final, &m) != 0)
        j = json_pack("{s:s}", "error", "unknown language (the set's, or ky, ru, en)");
    else
        j = workspace_measure_json(&m);
    menu_set_unref(set);
    return j;
}
