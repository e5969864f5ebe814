/*
 * menus/graph.h — a loaded menu set as a graph: nodes, labelled edges,
 * what each code reaches, unreachable nodes and dead ends.
 *
 * What it does: the console draws the set (issue 10, "The graph") and
 * flags what an operator must fix.  Nodes are the set's, in declaration
 * order (files sorted by name, then as written).  An edge is one target
 * field of a node, labelled by its kind: option N (a menu's option, with
 * the language it selects if any), next, on_fail, case N, default,
 * on_error, on_timeout, on_not_found, on_locked; edges are ordered by
 * their node, then as the fields are listed here.  The reserved keys
 * (back, home, more) work on every screen and are not edges.
 *
 * Flags per node:
 *  - ROOT: the first node of a code, or the language menu;
 *  - FINAL: a node that can close the dialog by design (end, app, booking);
 *  - UNREACHABLE: no path from any code nor from the language menu (the
 *    loader refuses such a set; a draft loaded with menu_load_opts.draft
 *    still has a graph, so the console can show where);
 *  - DEAD_END: not FINAL, and no path from it reaches a FINAL node: the
 *    citizen can only go back, home or hang up.  The set's own error
 *    endings (failure, too_many) are not ways out: they are for faults.
 *
 * Texts and their measure per language: menu_graph_text() (the template
 * as written, variables as {name}) and menu_measure_node() (measure.h).
 *
 * Ownership: menu_graph_build fills the caller's struct with arrays it
 * allocates; menu_graph_free releases them.  The set is only read and must
 * outlive nothing here (indices, not pointers, are kept).
 * Pure: no I/O; re-entrant.
 * May call: menus/menu, libc.
 */
#ifndef KYZMAT_MENUS_GRAPH_H
#define KYZMAT_MENUS_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "menus/menu.h"

enum menu_edge_kind {
    MENU_EDGE_OPTION = 0,      /* index = option number, from 1 */
    MENU_EDGE_NEXT,
    MENU_EDGE_ON_FAIL,
    MENU_EDGE_CASE,            /* index = case number, from 1 */
    MENU_EDGE_DEFAULT,
    MENU_EDGE_ON_ERROR,
    MENU_EDGE_ON_TIMEOUT,
    MENU_EDGE_ON_NOT_FOUND,
    MENU_EDGE_ON_LOCKED,
    MENU_EDGE_COUNT
};

/* "option", "next", "on_fail", "case", "default", "on_error", ... */
extern const char *const menu_edge_kind_names[MENU_EDGE_COUNT];

struct menu_edge {
    uint16_t from, to;         /* node indices */
    uint8_t kind;              /* enum menu_edge_kind */
    uint8_t index;             /* option or case number (from 1), else 0 */
    int8_t lang;               /* option selecting a language: its index, else -1 */
};

enum {
    MENU_GRAPH_ROOT = 1,
    MENU_GRAPH_FINAL = 2,
    MENU_GRAPH_UNREACHABLE = 4,
    MENU_GRAPH_DEAD_END = 8
};

struct menu_graph {
    uint16_t nnode;
    uint8_t *flags;            /* per node: MENU_GRAPH_* */
    struct menu_edge *edge;
    size_t nedge;
    uint16_t ncode;            /* = set->ncode, in its order */
    size_t *code_start;        /* ncode + 1 offsets into code_node */
    uint16_t *code_node;       /* per code: the nodes it reaches, breadth
                                  first from its root (root first) */
};

/* Build the graph of set into g.  Returns 0, or -1 when out of memory
 * (g is then empty; menu_graph_free is still fine). */
int menu_graph_build(const struct menu_set *set, struct menu_graph *g);

/* Free what g holds and zero it. */
void menu_graph_free(struct menu_graph *g);

/* Node text t in language li as written: literal runs, and {name} for a
 * variable (a literal brace as itself).  Into buf (cap > 0, always
 * NUL-terminated, cut at a character boundary); returns its length. */
size_t menu_graph_text(const struct menu_set *set, const struct menu_text *t,
                       int li, char *buf, size_t cap);

#endif
