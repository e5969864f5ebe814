/*
 * menus/graph.c — nodes, labelled edges, reach per code, unreachable
 * nodes and dead ends of a loaded set (see graph.h).
 *
 * Edges are listed once per target field, in one table per node kind
 * (add_edges); reach is a breadth-first walk from each root, dead ends a
 * walk backwards from the FINAL nodes over the reversed edges (stored as
 * a per-target index, so it is linear in edges).
 * Owns: the arrays of a struct menu_graph (malloc).
 * May call: menus/menu, base/utf8, libc.
 */
#include "menus/graph.h"

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

const char *const menu_edge_kind_names[MENU_EDGE_COUNT] = {
    "option", "next", "on_fail", "case", "default", "on_error", "on_timeout",
    "on_not_found", "on_locked",
};

struct eb {                    /* the edge list under construction */
    struct menu_edge *v;
    size_t n, cap;
    bool oom;
};

static void add(struct eb *b, uint16_t from, uint16_t to, int kind, unsigned index,
                int lang)
{
    if (to == MENU_NONE || b->oom)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct menu_edge *v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->oom = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    struct menu_edge *e = &b->v[b->n++];
    e->from = from;
    e->to = to;
    e->kind = (uint8_t)kind;
    e->index = (uint8_t)(index > 255 ? 255 : index);
    e->lang = (int8_t)lang;
}

/* Every target field of node ix, in the order of enum menu_edge_kind. */
static void add_edges(struct eb *b, const struct menu_node *n, uint16_t ix)
{
    switch (n->kind) {
    case MENU_K_MENU:
        for (uint16_t i = 0; i < n->nopt; i++)
            add(b, ix, n->opt[i].next, MENU_EDGE_OPTION, i + 1u, n->opt[i].set_lang);
        return;
    case MENU_K_SWITCH:
        for (uint16_t i = 0; i < n->ncases; i++)
            add(b, ix, n->cases[i].next, MENU_EDGE_CASE, i + 1u, -1);
        add(b, ix, n->dflt, MENU_EDGE_DEFAULT, 0, -1);
        return;
    default:
        break;
    }
    /* the other kinds leave unused targets at MENU_NONE (make_nodes) */
    add(b, ix, n->next, MENU_EDGE_NEXT, 0, -1);
    add(b, ix, n->on_fail, MENU_EDGE_ON_FAIL, 0, -1);
    add(b, ix, n->on_error, MENU_EDGE_ON_ERROR, 0, -1);
    add(b, ix, n->on_timeout, MENU_EDGE_ON_TIMEOUT, 0, -1);
    add(b, ix, n->on_notfound, MENU_EDGE_ON_NOT_FOUND, 0, -1);
    add(b, ix, n->on_locked, MENU_EDGE_ON_LOCKED, 0, -1);
}

static bool is_final(const struct menu_node *n)
{
    /* booking and appeal (issue 12) run their own sub-dialog to its end */
    return n->kind == MENU_K_END || n->kind == MENU_K_APP || n->kind == MENU_K_BOOKING ||
           n->kind == MENU_K_APPEAL;
}

/* Breadth first from root over the edges (out: first edge of each node,
 * by from; the edges are sorted by from).  Appends the nodes reached that
 * are not yet in mark to q; returns the new length. */
static size_t walk(const struct menu_graph *g, const size_t *out, uint16_t root,
                   uint8_t *mark, uint16_t *q, size_t qt)
{
    if (root >= g->nnode || mark[root])
        return qt;
    size_t qh = qt;
    mark[root] = 1;
    q[qt++] = root;
    while (qh < qt) {
        uint16_t u = q[qh++];
        for (size_t e = out[u]; e < out[u + 1]; e++) {
            uint16_t v = g->edge[e].to;
            if (v < g->nnode && !mark[v]) {
                mark[v] = 1;
                q[qt++] = v;
            }
        }
    }
    return qt;
}

/* The reach of every code, then UNREACHABLE for what none reaches. */
static int reach(const struct menu_set *set, struct menu_graph *g, const size_t *out)
{
    size_t nn = g->nnode;
    uint8_t *mark = calloc(nn ? nn : 1, 1);
    uint16_t *q = malloc((nn ? nn : 1) * sizeof *q);
    g->code_start = calloc((size_t)set->ncode + 1, sizeof *g->code_start);
    g->code_node = malloc(((size_t)set->ncode * nn + 1) * sizeof *g->code_node);
    if (!mark || !q || !g->code_start || !g->code_node) {
        free(mark);
        free(q);
        return -1;
    }
    g->ncode = set->ncode;
    size_t at = 0;
    for (uint16_t c = 0; c < set->ncode; c++) {
        memset(mark, 0, nn);
        size_t k = walk(g, out, set->code[c].root, mark, q, 0);
        memcpy(g->code_node + at, q, k * sizeof *q);
        g->code_start[c] = at;
        at += k;
    }
    g->code_start[set->ncode] = at;
    memset(mark, 0, nn);
    size_t k = 0;
    for (uint16_t c = 0; c < set->ncode; c++)
        k = walk(g, out, set->code[c].root, mark, q, k);
    walk(g, out, set->language_menu, mark, q, k);
    for (size_t i = 0; i < nn; i++)
        if (!mark[i])
            g->flags[i] |= MENU_GRAPH_UNREACHABLE;
    free(mark);
    free(q);
    return 0;
}

/* DEAD_END for every node from which no FINAL node is reached: a walk
 * from the FINAL nodes over the reversed edges. */
static int dead_ends(struct menu_graph *g)
{
    size_t nn = g->nnode;
    size_t *in = calloc(nn + 1, sizeof *in);
    uint16_t *src = malloc((g->nedge ? g->nedge : 1) * sizeof *src);
    uint8_t *mark = calloc(nn ? nn : 1, 1);
    uint16_t *q = malloc((nn ? nn : 1) * sizeof *q);
    if (!in || !src || !mark || !q) {
        free(in);
        free(src);
        free(mark);
        free(q);
        return -1;
    }
    for (size_t e = 0; e < g->nedge; e++)      /* counting sort by target */
        in[g->edge[e].to + 1]++;
    for (size_t i = 0; i < nn; i++)
        in[i + 1] += in[i];
    size_t *fill = calloc(nn ? nn : 1, sizeof *fill);
    if (!fill) {
        free(in);
        free(src);
        free(mark);
        free(q);
        return -1;
    }
    for (size_t e = 0; e < g->nedge; e++) {
        uint16_t t = g->edge[e].to;
        src[in[t] + fill[t]++] = g->edge[e].from;
    }
    free(fill);
    size_t qh = 0, qt = 0;
    for (size_t i = 0; i < nn; i++)
        if (g->flags[i] & MENU_GRAPH_FINAL) {
            mark[i] = 1;
            q[qt++] = (uint16_t)i;
        }
    while (qh < qt) {
        uint16_t v = q[qh++];
        for (size_t e = in[v]; e < in[v + 1]; e++)
            if (!mark[src[e]]) {
                mark[src[e]] = 1;
                q[qt++] = src[e];
            }
    }
    for (size_t i = 0; i < nn; i++)
        if (!mark[i])
            g->flags[i] |= MENU_GRAPH_DEAD_END;
    free(in);
    free(src);
    free(mark);
    free(q);
    return 0;
}

int menu_graph_build(const struct menu_set *set, struct menu_graph *g)
{
    memset(g, 0, sizeof *g);
    if (!set)
        return -1;
    size_t nn = set->nnode;
    struct eb b = { 0 };
    size_t *out = calloc(nn + 1, sizeof *out);
    g->flags = calloc(nn ? nn : 1, 1);
    if (!out || !g->flags) {
        free(out);
        menu_graph_free(g);
        return -1;
    }
    g->nnode = set->nnode;
    for (uint16_t i = 0; i < set->nnode; i++) {
        out[i] = b.n;
        add_edges(&b, &set->node[i], i);
        if (is_final(&set->node[i]))
            g->flags[i] |= MENU_GRAPH_FINAL;
    }
    out[nn] = b.n;
    g->edge = b.v;
    g->nedge = b.n;
    for (uint16_t c = 0; c < set->ncode; c++)
        if (set->code[c].root < nn)
            g->flags[set->code[c].root] |= MENU_GRAPH_ROOT;
    if (set->language_menu < nn)
        g->flags[set->language_menu] |= MENU_GRAPH_ROOT;
    int rc = b.oom ? -1 : reach(set, g, out);
    if (rc == 0)
        rc = dead_ends(g);
    free(out);
    if (rc != 0)
        menu_graph_free(g);
    return rc;
}

void menu_graph_free(struct menu_graph *g)
{
    if (!g)
        return;
    free(g->flags);
    free(g->edge);
    free(g->code_start);
    free(g->code_node);
    memset(g, 0, sizeof *g);
}

/* Append l bytes of s to buf if they fit whole (cap keeps the NUL). */
static bool put(char *buf, size_t cap, size_t *n, const char *s, size_t l)
{
    if (*n + l >= cap)
        return false;
    memcpy(buf + *n, s, l);
    *n += l;
    return true;
}

size_t menu_graph_text(const struct menu_set *set, const struct menu_text *t,
                       int li, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (!set || !t || li < 0 || li >= MENU_MAX_LANGS || !t->t[li])
        return 0;
    const struct menu_tmpl *tp = t->t[li];
    for (uint16_t i = 0; i < tp->nseg; i++) {
        const struct menu_seg *s = &tp->seg[i];
        bool ok;
        if (s->lit) {
            size_t l = s->len;
            if (n + l >= cap)           /* cut whole characters only */
                l = kz_utf8_clip((const uint8_t *)s->lit, s->len, cap - 1 - n);
            ok = put(buf, cap, &n, s->lit, l) && l == s->len;
        } else {
            const char *name = s->var < set->nvar ? set->var[s->var].name : "?";
            ok = put(buf, cap, &n, "{", 1) && put(buf, cap, &n, name, strlen(name)) &&
                 put(buf, cap, &n, "}", 1);
        }
        if (!ok)
            break;
    }
    buf[n] = '\0';
    return n;
}
