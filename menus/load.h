/*
 * menus/load.h — YAML menu files -> struct menu_set, every error reported.
 *
 * What it does: parses every file of a menu directory (sorted by name,
 * *.yaml and *.yml) with libfyaml, builds one immutable menu set and
 * checks it whole: YAML syntax, unknown keys, unknown targets, duplicate
 * ids and codes, unreachable nodes, missing translations, unknown
 * variables, bad regexes, loops with no input, options or footers that can
 * never fit one USSD screen.  Every problem becomes one entry
 * "file:line:column: message" (1-based) in the caller's error list; all of
 * them are collected, not just the first.  Loading is all-or-nothing: on
 * any error no set is returned, so a broken menu set never replaces a
 * working one (the gateway keeps its old pointer).  The language of the
 * files is in menus/README.md.
 *
 * Ownership: a returned set has one reference (menu_set_unref).  errs is
 * the caller's (menu_errors_free); it is appended to.
 * Purity: menu_set_load_sources() does no I/O and prints nothing (a pure
 * function of the texts); menu_set_load_dir() reads the directory and its
 * files, nothing else.  Re-entrant.
 * May call: libfyaml, libc (regcomp, opendir/read for the _dir variant).
 */
#ifndef KYZMAT_MENUS_LOAD_H
#define KYZMAT_MENUS_LOAD_H

#include <stddef.h>

#include "menus/menu.h"

/* One menu file's text.  name is used in messages (and for ordering). */
struct menu_source {
    const char *name;
    const char *text;
    size_t len;
};

/* A settings constant to override at load time (e.g. backend=URL for a
 * test server).  The constant must be declared in settings.vars. */
struct menu_override {
    const char *name;
    const char *value;
};

/*
 * Bounds on hostile input, checked before libfyaml sees a byte (a reload
 * runs on the loop, and libfyaml's time and memory grow out of proportion
 * with nesting):
 *  - a menu set (all its files) larger than max_bytes is refused, naming
 *    the cap (the gateway's config key menus_max_bytes; 0 = the default);
 *  - a file nested deeper than MENU_MAX_DEPTH (flow '[' / '{' and block
 *    levels alike) is refused with file:line:column of the place.
 */
#define MENU_SET_MAX_BYTES (2u << 20)
#define MENU_MAX_DEPTH 64
#define MENU_SET_MAX_FILES 64         /* files per set */

struct menu_load_opts {
    const struct menu_override *ov;  /* settings constants overridden */
    size_t nov;
    size_t max_bytes;                /* cap on the set's size; 0 = default */
    bool draft;                      /* see menu_set_load_sources_opts */
};

/*
 * menu_set_load_sources — build a set from n texts (in the given order).
 * Returns 0 and *out (one reference) on success; -1 with *out = NULL and
 * every problem appended to errs otherwise.
 */
int menu_set_load_sources(const struct menu_source *src, size_t n,
                          const struct menu_override *ov, size_t nov,
                          struct menu_set **out, struct menu_errors *errs);

/*
 * menu_set_load_dir — read every *.yaml / *.yml file of dir (sorted by
 * name; messages name them "dir/file") and build the set as above.  A
 * directory that cannot be read or holds no menu file is an error.
 */
int menu_set_load_dir(const char *dir, struct menu_set **out,
                      struct menu_errors *errs);

/* Same, with settings constants overridden. */
int menu_set_load_dir_with(const char *dir, const struct menu_override *ov,
                           size_t nov, struct menu_set **out,
                           struct menu_errors *errs);

/* The two loaders with options (o may be NULL: no overrides, default cap).
 * The _dir variant stops reading files once the set is over its cap.
 * o->draft (the console's workspace, never a live set): when every node
 * was built and only the whole-set checks failed (unreachable nodes,
 * loops with no input, screen fit), return 1 with *out set and the errors
 * appended, so the graph of a draft can show what is wrong with it.  Such
 * a set must not be run (its faults are what the checks guard against). */
int menu_set_load_sources_opts(const struct menu_source *src, size_t n,
                               const struct menu_load_opts *o,
                               struct menu_set **out, struct menu_errors *errs);
int menu_set_load_dir_opts(const char *dir, const struct menu_load_opts *o,
                           struct menu_set **out, struct menu_errors *errs);

/* The name of an enum menu_kind as written in a file ("menu", "end"). */
const char *menu_kind_name(int kind);

/* Whether the loader reads the directory entry named n: *.yaml or *.yml,
 * not a dot file. */
bool menu_file_name(const char *n);

#endif
