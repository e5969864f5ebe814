/*
 * gateway/workspace.h — the console's menu workspace as JSON in, JSON out:
 * a draft's check (the loader's own errors, inline), its graph, and the
 * length of a text as it is typed.
 *
 * What it does: a draft is a set of files, a JSON object {name: YAML
 * text} (names *.yaml / *.yml as a menu directory holds, no '/', at most
 * 64; loaded sorted by name like the directory).  The same loader that
 * reads the live set (menus/load, its in-memory entry point) checks it;
 * a draft is never live: nothing here touches the running set.  Every
 * answer is a new JSON object for the HTTP edge to send as it is (the
 * routes are the admin listener's; a malformed request is an answer too,
 * {"ok": false, "errors": [...]}, never a crash).
 *
 * Shapes (all keys always present unless said):
 *  check   {"ok", "errors": [{"file","line","column","message"}],
 *           "dropped", "nodes", "codes": ["*100#", ...]}
 *  graph   {"ok", "errors", "dropped", "graph": null | {"languages",
 *           "codes": [{"code","root","reach": [ids]}],
 *           "nodes": [{"id","type","file","line","column","root","final",
 *                      "unreachable","dead_end","texts": {lang: {"text",
 *                      "measure"}}}],
 *           "edges": [{"from","to","kind","label","index","language"}]}}
 *  measure {"encoding": "GSM-7"|"UCS-2", "data_coding": 0|8, "chars",
 *           "units", "limit", "octets", "limit_octets", "extension_chars",
 *           "first_ucs2" (characters, or null), "fits", "pages",
 *           "page": [{"start","length","units","octets","encoding"}]}
 *           (start and length in characters of the text)
 * line and column are 1-based, 0 when an error is not tied to a place.
 *
 * Ownership: the caller owns every json_t passed in (borrowed) and every
 * json_t returned (json_decref).  No I/O, no global state; re-entrant.
 * May call: menus (load, graph, measure), jansson, libc.
 */
#ifndef KYZMAT_GATEWAY_WORKSPACE_H
#define KYZMAT_GATEWAY_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "menus/load.h"
#include "menus/measure.h"

/* A draft's files as loader sources (texts borrowed from the JSON, which
 * must outlive them), sorted by name. */
struct ws_files {
    struct menu_source src[MENU_SET_MAX_FILES];
    size_t n;
};

/* files -> sources.  Returns 0, or -1 with why (a sentence naming the
 * file) when files is not an object of menu file names (.yaml, .yml) to
 * strings. */
int workspace_files(const json_t *files, struct ws_files *out, char *why,
                    size_t cap);

/* A JSON string of len bytes; bytes that are not UTF-8 become U+FFFD
 * (never NULL but when out of memory). */
json_t *workspace_string(const char *s, size_t len);

/* The loader's errors as [{"file","line","column","message"}]. */
json_t *workspace_errors_json(const struct menu_errors *errs);

/* One measure as JSON ("page" is [] when m->npages is 0). */
json_t *workspace_measure_json(const struct menu_measure *m);

/* Check a draft: the loader's verdict and every error. */
json_t *workspace_check(const json_t *files);

/* The graph of a draft (menus/graph), with every node's texts measured
 * per language; "graph" is null when the draft has errors other than the
 * whole-set checks (unreachable, loops, fit), which leave a graph. */
json_t *workspace_graph(const json_t *files);

/*
 * The measure of a text typed into a node in language lang: as an end
 * text (final: its last page has no footer) or a menu or input text
 * (final false: the widest footer), with the footer of files' set when
 * files (may be NULL) is a draft that loads, else the built-in ky/ru/en
 * labels and keys.  NULL text or an unknown language: {"error": "..."}.
 */
json_t *workspace_measure(const char *text, size_t len, const char *lang,
                          bool final, const json_t *files);

/* A draft loaded strictly (the emulator runs it): the set, or NULL with
 * *errors set to the check's answer (may be NULL to skip). */
struct menu_set *workspace_load(const json_t *files, json_t **errors);

#endif
