/*
 * menus/menu.c — the menu model's life cycle and read-only lookups.
 *
 * What it does: the arena every loaded set allocates from (freed in one
 * go), reference counting, id/variable/language/code lookups, and the
 * loader's error list.
 * Owns: the arena blocks of each set.
 * May call: libc.
 */
#include "menus/menu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct menu_arena_block {
    struct menu_arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_BLOCK 16384

void *menu_arena_alloc(struct menu_set *set, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0)
        n = sizeof(max_align_t);
    struct menu_arena_block *b = set->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = set->arena;
        set->arena = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *menu_arena_strndup(struct menu_set *set, const char *s, size_t n)
{
    char *p = menu_arena_alloc(set, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *const menu_booking_text_names[MENU_BT_COUNT] = {
    "service", "office", "day", "time", "confirm", "confirm_option", "booked",
    "taken", "invalid", "no_services", "no_days", "no_times", "already",
    "busy", "list", "list_empty", "cancel_option", "move_option",
    "cancel_question", "yes_option", "cancelled", "moved", "gone",
};

struct menu_set *menu_set_ref(struct menu_set *set)
{
    if (set)
        set->refs++;
    return set;
}

void menu_set_unref(struct menu_set *set)
{
    if (!set || --set->refs > 0)
        return;
    for (uint16_t i = 0; i < set->nnode; i++) {
        if (set->node[i].re)
            regfree(set->node[i].re);
    }
    struct menu_arena_block *b = set->arena;
    while (b) {
        struct menu_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(set);
}

static int cmp_id(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    size_t m = alen < blen ? alen : blen;
    int c = memcmp(a, b, m);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

uint16_t menu_set_find_node(const struct menu_set *set, const char *id,
                            size_t len)
{
    size_t lo = 0, hi = set->nnode;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint16_t ix = set->by_id[mid];
        int c = cmp_id(set->node[ix].id, id, len);
        if (c == 0)
            return ix;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return MENU_NONE;
}

uint16_t menu_set_find_var(const struct menu_set *set, const char *name,
                           size_t len)
{
    for (uint16_t i = 0; i < set->nvar; i++)
        if (cmp_id(set->var[i].name, name, len) == 0)
            return i;
    return MENU_NONE;
}

int menu_set_find_lang(const struct menu_set *set, const char *code)
{
    if (!code)
        return -1;
    for (int i = 0; i < set->nlang; i++)
        if (strcmp(set->lang[i], code) == 0)
            return i;
    return -1;
}

const struct menu_code *menu_set_find_code(const struct menu_set *set,
                                           const char *code, size_t len)
{
    for (uint16_t i = 0; i < set->ncode; i++)
        if (cmp_id(set->code[i].code, code, len) == 0)
            return &set->code[i];
    return NULL;
}

void menu_errors_add(struct menu_errors *errs, const char *file, int line,
                     int column, const char *fmt, ...)
{
    if (errs->n >= MENU_MAX_ERRORS) {
        errs->dropped++;
        return;
    }
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 16;
        struct menu_error *v = realloc(errs->v, cap * sizeof *v);
        if (!v) {
            errs->dropped++;
            return;
        }
        errs->v = v;
        errs->cap = cap;
    }
    struct menu_error *e = &errs->v[errs->n++];
    snprintf(e->file, sizeof e->file, "%s", file ? file : "<menus>");
    e->line = line;
    e->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void menu_errors_free(struct menu_errors *errs)
{
    free(errs->v);
    memset(errs, 0, sizeof *errs);
}

const char *menu_error_format(const struct menu_error *e, char *buf, size_t n)
{
    if (e->line > 0)
        snprintf(buf, n, "%s:%d:%d: %s", e->file, e->line, e->column, e->msg);
    else
        snprintf(buf, n, "%s: %s", e->file, e->msg);
    return buf;
}
