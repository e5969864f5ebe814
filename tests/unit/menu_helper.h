/*
 * tests/unit/menu_helper.h — what the menu tests share (header-only; static
 * inline functions): an input for one step built from its parts, the
 * test set loaded for a group set-up, and a set loaded from one inline
 * file (its errors printed, the load asserted).
 *
 * Owns: nothing.  May call: menus (load, step), libc, cmocka.
 */
#ifndef KYZMAT_TESTS_MENU_HELPER_H
#define KYZMAT_TESTS_MENU_HELPER_H

#include <stdio.h>
#include <string.h>

#include "menus/load.h"
#include "menus/step.h"

#define MH_PHONE "+996555123456"

/* An input from MH_PHONE; text may be NULL; kv, session_id left unset. */
static inline struct menu_input mh_input(int event, const char *text, const char *lang,
                                         uint32_t now)
{
    struct menu_input in = { 0 };
    in.event = event;
    in.text = text;
    in.len = text ? strlen(text) : 0;
    in.phone = MH_PHONE;
    in.lang = lang;
    in.now = now;
    return in;
}

/* The test set (tests/unit/menus-http) into *out, with one override
 * (ov may be NULL): a group set-up's result. */
static inline int mh_load_example(const struct menu_override *ov, struct menu_set **out)
{
    struct menu_errors errs = { 0 };
    int rc = menu_set_load_dir_with("tests/unit/menus-http", ov, ov ? 1 : 0, out, &errs);
    menu_errors_free(&errs);
    return rc;
}

/* The set in `text` (file `name`); the load must succeed. */
static inline struct menu_set *mh_load_text(const char *name, const char *text)
{
    struct menu_source src = { name, text, strlen(text) };
    struct menu_errors errs = { 0 };
    struct menu_set *set = NULL;
    int rc = menu_set_load_sources(&src, 1, NULL, 0, &set, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        char b[400];
        fprintf(stderr, "%s\n", menu_error_format(&errs.v[i], b, sizeof b));
    }
    menu_errors_free(&errs);
    assert_int_equal(rc, 0);
    return set;
}

#endif
