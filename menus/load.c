/*
 * menus/load.c — the menu loader (see load.h and menus/README.md).
 *
 * Before libfyaml sees a file: the set's byte cap, the UTF-8 check and the
 * nesting pre-scan (hostile input must not cost the loop seconds).
 * Two passes over the parsed documents, which stay alive until the end:
 *   1. declarations: settings (exactly one), codes, node ids and types,
 *      variables (settings constants, input vars, http save vars);
 *   2. definitions: each node's fields, templates (variables resolved),
 *      targets (ids resolved);
 * then whole-set checks: reachability, loops with no input, screen fit.
 * Positions come from scalar tokens (0-based in libfyaml, printed 1-based);
 * a mapping or sequence is placed at its first scalar.
 * Owns: the set under construction (freed on failure), the documents.
 * May call: libfyaml, menus/menu, menus/screen, menus/measure, base/utf8,
 * libc.
 */
#include "menus/load.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/xroad.h"
#include "menus/measure.h"
#include "menus/screen.h"

#define MAX_FILES MENU_SET_MAX_FILES
#define MAX_FILE_BYTES (1u << 20)
#define MAX_NODES 4000
#define MAX_VARS 250
#define MAX_TEXT 2000
#define MAX_PATTERN 200
#define MENU_SAVE_MAX_LOAD 8  /* = MENU_SAVE_MAX of step.h */

struct decl {
    const char *id;
    struct fy_node *map;       /* the node's mapping */
    struct fy_node *id_node;   /* its id scalar (for positions) */
    const char *file;
    int kind;
};

struct ld {
    struct menu_set *set;
    struct menu_errors *errs;
    size_t nerr0;
    const char *file;          /* file being read */
    struct fy_node *settings;
    const char *settings_file;
    struct decl *decl;
    size_t ndecl;
    struct fy_node **code_key, **code_val;
    const char **code_file;
    size_t ncode;
    const struct menu_override *ov;   /* settings.vars overrides */
    size_t nov;
    bool oom;
    bool checked;              /* the whole-set checks ran (menus-ws) */
    size_t nerr_checks;        /* errors counted before them */
};

/* ---- positions and errors ---- */

static void pos(struct fy_node *n, int *line, int *col)
{
    *line = 0;
    *col = 0;
    for (int guard = 0; n && guard < 64; guard++) {
        if (fy_node_is_scalar(n)) {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            if (m) {
                *line = m->line + 1;
                *col = m->column + 1;
            }
            return;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else if (fy_node_is_sequence(n)) {
            n = fy_node_sequence_iterate(n, &it);
        } else {
            return;
        }
    }
}

static void err(struct ld *L, struct fy_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err(struct ld *L, struct fy_node *n, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    pos(n, &line, &col);
    menu_errors_add(L->errs, L->file, line, col, "%s", msg);
}

/* true when n is a mapping; otherwise the error (fmt, at k) and false. */
static bool is_map(struct ld *L, struct fy_node *n, struct fy_node *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool is_map(struct ld *L, struct fy_node *n, struct fy_node *k, const char *fmt, ...)
{
    if (fy_node_is_mapping(n))
        return true;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err(L, k, "%s", msg);
    return false;
}

static bool failed(const struct ld *L)
{
    return L->errs->n + L->errs->dropped > L->nerr0 || L->oom;
}

static void *alloc(struct ld *L, size_t n)
{
    void *p = menu_arena_alloc(L->set, n);
    if (!p)
        L->oom = true;
    return p;
}

static char *sdup(struct ld *L, const char *s, size_t n)
{
    char *p = menu_arena_strndup(L->set, s, n);
    if (!p)
        L->oom = true;
    return p;
}

/* ---- scalar helpers ---- */

/* The scalar of n, or NULL (with an error naming what) when n is not a
 * plain scalar. */
static const char *scalar(struct ld *L, struct fy_node *n, const char *what,
                          size_t *len)
{
    if (!n || !fy_node_is_scalar(n) || fy_node_is_alias(n)) {
        err(L, n, "%s must be a text value", what);
        return NULL;
    }
    size_t l;
    const char *s = fy_node_get_scalar(n, &l);
    if (!s) {
        err(L, n, "%s must be a text value", what);
        return NULL;
    }
    if (memchr(s, '\0', l)) {
        err(L, n, "%s contains a NUL byte", what);
        return NULL;
    }
    if (len)
        *len = l;
    return s;
}

static char *scalar_dup(struct ld *L, struct fy_node *n, const char *what)
{
    size_t l;
    const char *s = scalar(L, n, what, &l);
    return s ? sdup(L, s, l) : NULL;
}

static bool get_uint(struct ld *L, struct fy_node *n, const char *what,
                     unsigned long lo, unsigned long hi, unsigned long *v)
{
    size_t l;
    const char *s = scalar(L, n, what, &l);
    if (!s)
        return false;
    unsigned long x = 0;
    if (l == 0 || l > 9) {
        err(L, n, "%s must be a number from %lu to %lu", what, lo, hi);
        return false;
    }
    for (size_t i = 0; i < l; i++) {
        if (s[i] < '0' || s[i] > '9') {
            err(L, n, "%s must be a number from %lu to %lu", what, lo, hi);
            return false;
        }
        x = x * 10 + (unsigned long)(s[i] - '0');
    }
    if (x < lo || x > hi) {
        err(L, n, "%s must be a number from %lu to %lu", what, lo, hi);
        return false;
    }
    *v = x;
    return true;
}

static int get_bool(struct ld *L, struct fy_node *n, const char *what)
{
    size_t l;
    const char *s = scalar(L, n, what, &l);
    if (!s)
        return -1;
    if ((l == 4 && !memcmp(s, "true", 4)) || (l == 3 && !memcmp(s, "yes", 3)))
        return 1;
    if ((l == 5 && !memcmp(s, "false", 5)) || (l == 2 && !memcmp(s, "no", 2)))
        return 0;
    err(L, n, "%s must be true or false", what);
    return -1;
}

static bool is_name(const char *s, size_t l, size_t max)
{
    if (l == 0 || l > max)
        return false;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < l; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static bool is_key(const char *s, size_t l, const char *k)
{
    return strlen(k) == l && memcmp(s, k, l) == 0;
}

/* A mapping key's text, or NULL when the key is not a plain scalar. */
static const char *key_text(struct fy_node *k, size_t *len)
{
    return k && fy_node_is_scalar(k) ? fy_node_get_scalar(k, len) : NULL;
}

/* Check a mapping's keys against a NULL-terminated list. */
static void check_keys(struct ld *L, struct fy_node *map, const char *const *allowed,
                       const char *where)
{
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        size_t l;
        const char *s = key_text(k, &l);
        if (!s) {
            err(L, k, "%s: keys must be plain text", where);
            continue;
        }
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (is_key(s, l, allowed[i]))
                ok = true;
        if (!ok)
            err(L, k, "%s: unknown key '%.*s'", where, (int)(l > 40 ? 40 : l), s);
    }
}

/* Value node and key node of `key` in map. */
static struct fy_node *get(struct fy_node *map, const char *key, struct fy_node **keyn)
{
    struct fy_node_pair *p = map ? fy_node_mapping_lookup_pair_by_string(map, key, FY_NT) : NULL;
    if (keyn)
        *keyn = p ? fy_node_pair_key(p) : NULL;
    return p ? fy_node_pair_value(p) : NULL;
}

/* Reject aliases anywhere (no alias expansion: no billion laughs). */
static void no_alias(struct ld *L, struct fy_node *n, int depth)
{
    if (!n)
        return;
    if (depth > 32) {
        err(L, n, "nesting too deep");
        return;
    }
    if (fy_node_is_alias(n)) {
        err(L, n, "aliases (*name) are not supported in menu files");
        return;
    }
    void *it = NULL;
    if (fy_node_is_mapping(n)) {
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
            no_alias(L, fy_node_pair_key(p), depth + 1);
            no_alias(L, fy_node_pair_value(p), depth + 1);
        }
    } else if (fy_node_is_sequence(n)) {
        struct fy_node *c;
        while ((c = fy_node_sequence_iterate(n, &it)) != NULL)
            no_alias(L, c, depth + 1);
    }
}

/* ---- variables ---- */

static uint16_t var_add(struct ld *L, const char *name, size_t len, const char *constant)
{
    uint16_t ix = menu_set_find_var(L->set, name, len);
    if (ix != MENU_NONE)
        return ix;
    struct menu_set *set = L->set;
    if (set->nvar >= MAX_VARS)
        return MENU_NONE;
    if (set->nvar % 16 == 0) {
        struct menu_var *nv = alloc(L, (size_t)(set->nvar + 16) * sizeof *nv);
        if (!nv)
            return MENU_NONE;
        if (set->nvar)
            memcpy(nv, set->var, set->nvar * sizeof *nv);
        set->var = nv;
    }
    set->var[set->nvar].name = sdup(L, name, len);
    set->var[set->nvar].constant = constant;
    return set->nvar++;
}

/* ---- templates and texts ---- */

static const struct menu_tmpl *tmpl(struct ld *L, struct fy_node *n, const char *s,
                                    size_t len, const char *what)
{
    if (len > MAX_TEXT) {
        err(L, n, "%s is longer than %d bytes", what, MAX_TEXT);
        return NULL;
    }
    struct menu_seg segs[256];
    size_t ns = 0;
    char *lit = alloc(L, len + 1);
    size_t ll = 0, lit_total = 0;
    if (!lit)
        return NULL;
    size_t i = 0;
    size_t run = 0;   /* start of the current literal run in lit */
    bool bad = false;
    while (i < len && !bad) {
        char ch = s[i];
        if (ch == '{' && i + 1 < len && s[i + 1] == '{') {
            lit[ll++] = '{';
            i += 2;
        } else if (ch == '}' && i + 1 < len && s[i + 1] == '}') {
            lit[ll++] = '}';
            i += 2;
        } else if (ch == '{') {
            const char *e = memchr(s + i + 1, '}', len - i - 1);
            if (!e) {
                err(L, n, "%s: '{' without '}' (write {{ for a brace)", what);
                bad = true;
                break;
            }
            size_t nl = (size_t)(e - (s + i + 1));
            uint16_t v = is_name(s + i + 1, nl, 40)
                             ? menu_set_find_var(L->set, s + i + 1, nl) : MENU_NONE;
            if (v == MENU_NONE) {
                err(L, n, "%s: unknown variable {%.*s}", what, (int)(nl > 40 ? 40 : nl),
                    s + i + 1);
                bad = true;
                break;
            }
            if (ll > run) {
                if (ns >= 255) {
                    bad = true;
                    break;
                }
                segs[ns++] = (struct menu_seg){ lit + run, (uint16_t)(ll - run), MENU_NONE };
                lit_total += ll - run;
            }
            run = ll;
            if (ns >= 255) {
                bad = true;
                break;
            }
            segs[ns++] = (struct menu_seg){ NULL, 0, v };
            i += nl + 2;
        } else if (ch == '}') {
            err(L, n, "%s: '}' without '{' (write }} for a brace)", what);
            bad = true;
        } else {
            lit[ll++] = ch;
            i++;
        }
    }
    if (bad) {
        if (ns >= 255)
            err(L, n, "%s: too many variables", what);
        return NULL;
    }
    if (ll > run) {
        segs[ns++] = (struct menu_seg){ lit + run, (uint16_t)(ll - run), MENU_NONE };
        lit_total += ll - run;
    }
    struct menu_tmpl *t = alloc(L, sizeof *t);
    struct menu_seg *sv = alloc(L, (ns ? ns : 1) * sizeof *sv);
    if (!t || !sv)
        return NULL;
    memcpy(sv, segs, ns * sizeof *sv);
    t->seg = sv;
    t->nseg = (uint16_t)ns;
    t->lit_len = (uint16_t)lit_total;
    return t;
}

/* A translated text: a plain value (all languages) or a mapping language ->
 * text that must name every language of the set. */
static const struct menu_text *text(struct ld *L, struct fy_node *n, struct fy_node *keyn,
                                    const char *what)
{
    if (!n) {
        err(L, keyn, "%s is missing", what);
        return NULL;
    }
    struct menu_text *t = alloc(L, sizeof *t);
    if (!t)
        return NULL;
    if (fy_node_is_scalar(n) && !fy_node_is_alias(n)) {
        size_t l;
        const char *s = scalar(L, n, what, &l);
        if (!s)
            return NULL;
        const struct menu_tmpl *tp = tmpl(L, n, s, l, what);
        for (int i = 0; i < MENU_MAX_LANGS; i++)
            t->t[i] = tp;
        return tp ? t : NULL;
    }
    if (!is_map(L, n, n, "%s must be a text or a mapping of language to text", what))
        return NULL;
    bool ok = true;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        size_t kl;
        const char *ks = key_text(k, &kl);
        char code[8];
        int li = -1;
        if (ks && kl < sizeof code) {
            memcpy(code, ks, kl);
            code[kl] = '\0';
            li = menu_set_find_lang(L->set, code);
        }
        if (li < 0) {
            err(L, k, "%s: '%.*s' is not a language of this menu set", what,
                ks ? (int)(kl > 20 ? 20 : kl) : 1, ks ? ks : "?");
            ok = false;
            continue;
        }
        size_t l;
        const char *s = scalar(L, fy_node_pair_value(p), what, &l);
        if (!s) {
            ok = false;
            continue;
        }
        t->t[li] = tmpl(L, fy_node_pair_value(p), s, l, what);
        if (!t->t[li])
            ok = false;
    }
    for (int i = 0; i < L->set->nlang; i++) {
        if (!t->t[i] && ok) {
            err(L, keyn ? keyn : n, "%s: missing translation '%s'", what, L->set->lang[i]);
            ok = false;
        }
    }
    return ok ? t : NULL;
}

/* A target id -> node index (error when unknown). */
static uint16_t target(struct ld *L, struct fy_node *n, struct fy_node *keyn, const char *what)
{
    if (!n) {
        err(L, keyn, "%s is missing", what);
        return MENU_NONE;
    }
    size_t l;
    const char *s = scalar(L, n, what, &l);
    if (!s)
        return MENU_NONE;
    uint16_t ix = menu_set_find_node(L->set, s, l);
    if (ix == MENU_NONE)
        err(L, n, "%s: unknown target '%.*s'", what, (int)(l > 40 ? 40 : l), s);
    return ix;
}

static uint16_t opt_target(struct ld *L, struct fy_node *map, const char *key)
{
    struct fy_node *k = NULL;
    struct fy_node *v = get(map, key, &k);
    return v ? target(L, v, k, key) : MENU_NONE;
}

/* ---- default texts for settings ---- */

static const char *const key_names[] = { "back", "home", "more", NULL };
static const char *const msg_names[] = { "invalid", "too_many", "failure", "timeout",
                                         "resume", "unknown_code", NULL };
_Static_assert(sizeof key_names / sizeof key_names[0] == MENU_KEY_COUNT + 1,
               "a name for every key");
_Static_assert(sizeof msg_names / sizeof msg_names[0] == MENU_MSG_COUNT + 1,
               "a name for every message");

struct deftext {
    const char *ky, *ru, *en;
};

static const struct deftext def_label[MENU_KEY_COUNT] = {
    { "Артка", "Назад", "Back" },
    { "Башкы", "Главная", "Home" },
    { "Дагы", "Далее", "More" },
};

static const struct deftext def_msg[MENU_MSG_COUNT] = {
    { "Туура эмес жооп. Кайра аракет кылыңыз.", "Неверный ввод. Попробуйте снова.",
      "Invalid input. Please try again." },
    { "Өтө көп туура эмес аракет. Кийинчерээк кайра териңиз.",
      "Слишком много неверных попыток. Наберите позже.",
      "Too many invalid attempts. Please dial again later." },
    { "Кызмат убактылуу жеткиликсиз. Кийинчерээк аракет кылыңыз.",
      "Сервис временно недоступен. Попробуйте позже.",
      "The service is unavailable. Please try again later." },
    { "Жооп келген жок. Кийинчерээк аракет кылыңыз.",
      "Нет ответа. Попробуйте позже.",
      "No answer in time. Please try again later." },
    { "Мурунку сеансты улантасызбы?\n1. Улантуу\n2. Башынан баштоо",
      "Продолжить прошлый сеанс?\n1. Продолжить\n2. Начать заново",
      "Continue where you left off?\n1. Continue\n2. Start over" },
    { "Мындай код жок.", "Такой код не обслуживается.", "This code is not served." },
};

static const char *def_for(const struct deftext *d, const char *lang)
{
    if (!strcmp(lang, "ky"))
        return d->ky;
    if (!strcmp(lang, "ru"))
        return d->ru;
    if (!strcmp(lang, "en"))
        return d->en;
    return NULL;
}

/* A settings text with a built-in default for ky/ru/en. */
static const struct menu_text *settings_text(struct ld *L, struct fy_node *map,
                                             const char *key, const struct deftext *def)
{
    struct fy_node *k = NULL;
    struct fy_node *v = map ? get(map, key, &k) : NULL;
    if (v)
        return text(L, v, k, key);
    struct menu_text *t = alloc(L, sizeof *t);
    if (!t)
        return NULL;
    for (int i = 0; i < L->set->nlang; i++) {
        const char *s = def_for(def, L->set->lang[i]);
        if (!s) {
            err(L, L->settings, "settings: '%s' needs a text for language '%s'", key,
                L->set->lang[i]);
            return NULL;
        }
        t->t[i] = tmpl(L, NULL, s, strlen(s), key);
    }
    return t;
}

/* ---- pass 1: declarations ---- */

static const char *const kind_names[] = { "menu", "input", "switch", "http", "sms", "app", "end",
                                          "status", "booking", "subscribe",
                                          "appeal" };

/* menus-ws: the console names node kinds with the loader's own words */
const char *menu_kind_name(int kind)
{
    size_t n = sizeof kind_names / sizeof kind_names[0];
    return kind >= 0 && (size_t)kind < n ? kind_names[kind] : "?";
}

/* A file's `settings:`, once across all files. */
static void declare_settings(struct ld *L, struct fy_node *s, struct fy_node *k)
{
    if (L->settings) {
        int l, c;
        pos(L->settings, &l, &c);
        err(L, k, "settings declared twice (first in %s:%d:%d)", L->settings_file, l, c);
    } else if (is_map(L, s, k, "settings must be a mapping")) {
        L->settings = s;
        L->settings_file = L->file;
    }
}

/* A file's `codes:` pairs, kept (with their file) until the nodes exist.
 * false: out of memory, stop reading the file. */
static bool declare_codes(struct ld *L, struct fy_node *codes, struct fy_node *k)
{
    if (!is_map(L, codes, k, "codes must be a mapping of short code to node id"))
        return true;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(codes, &it)) != NULL) {
        if (L->ncode >= 64) {
            err(L, fy_node_pair_key(p), "too many codes (at most 64)");
            break;
        }
        if (L->ncode % 16 == 0) {
            size_t cap = L->ncode + 16;
            void *a = realloc(L->code_key, cap * sizeof *L->code_key);
            if (a)
                L->code_key = a;
            void *b = realloc(L->code_val, cap * sizeof *L->code_val);
            if (b)
                L->code_val = b;
            void *c = realloc(L->code_file, cap * sizeof *L->code_file);
            if (c)
                L->code_file = c;
            if (!a || !b || !c) {
                L->oom = true;
                return false;
            }
        }
        L->code_key[L->ncode] = fy_node_pair_key(p);
        L->code_val[L->ncode] = fy_node_pair_value(p);
        L->code_file[L->ncode] = L->file;
        L->ncode++;
    }
    return true;
}

/* The kind named by a node's `type`, or -1 (with an error). */
static int node_kind(struct ld *L, struct fy_node *n, struct fy_node *idn,
                     const char *id, size_t l)
{
    struct fy_node *tn = get(n, "type", NULL);
    if (!tn) {
        err(L, idn, "node '%.*s' has no 'type'", (int)l, id);
        return -1;
    }
    size_t tl;
    const char *ts = scalar(L, tn, "type", &tl);
    if (!ts)
        return -1;
    for (int i = 0; i < (int)(sizeof kind_names / sizeof kind_names[0]); i++)
        if (is_key(ts, tl, kind_names[i]))
            return i;
    err(L, tn, "unknown node type '%.*s' (menu, input, switch, http, sms, app, end, status)",
        (int)(tl > 20 ? 20 : tl), ts);
    return -1;
}

/* One entry of `nodes:`: its id (new across all files) and its kind.
 * false: out of memory, stop reading the file. */
static bool declare_node(struct ld *L, struct fy_node *n)
{
    if (!is_map(L, n, n, "a node must be a mapping with 'id' and 'type'"))
        return true;
    struct fy_node *idn = get(n, "id", NULL);
    if (!idn) {
        err(L, n, "node without 'id'");
        return true;
    }
    size_t l;
    const char *id = scalar(L, idn, "id", &l);
    if (!id)
        return true;
    if (!is_name(id, l, MENU_ID_MAX)) {
        err(L, idn, "id '%.*s': use 1-%d letters, digits, '_' or '-', starting with a letter",
            (int)(l > 40 ? 40 : l), id, MENU_ID_MAX);
        return true;
    }
    int kind = node_kind(L, n, idn, id, l);
    for (size_t i = 0; i < L->ndecl; i++) {
        if (strlen(L->decl[i].id) == l && !memcmp(L->decl[i].id, id, l)) {
            int pl, pc;
            pos(L->decl[i].id_node, &pl, &pc);
            err(L, idn, "duplicate id '%.*s' (first in %s:%d:%d)", (int)l, id,
                L->decl[i].file, pl, pc);
            return true;
        }
    }
    if (kind < 0)
        return true;
    if (L->ndecl >= MAX_NODES) {
        err(L, idn, "too many nodes (at most %d)", MAX_NODES);
        return true;
    }
    if (L->ndecl % 64 == 0) {
        struct decl *nd = realloc(L->decl, (L->ndecl + 64) * sizeof *nd);
        if (!nd) {
            L->oom = true;
            return false;
        }
        L->decl = nd;
    }
    struct decl *d = &L->decl[L->ndecl++];
    d->id = sdup(L, id, l);
    d->map = n;
    d->id_node = idn;
    d->file = L->file;
    d->kind = kind;
    return true;
}

static void declare_file(struct ld *L, struct fy_node *root)
{
    if (!root)
        return;
    if (!is_map(L, root, root, "a menu file is a mapping with 'settings', 'codes' and 'nodes'"))
        return;
    static const char *const top[] = { "settings", "codes", "nodes", NULL };
    check_keys(L, root, top, "file");
    struct fy_node *k = NULL;
    struct fy_node *s = get(root, "settings", &k);
    if (s)
        declare_settings(L, s, k);
    struct fy_node *codes = get(root, "codes", &k);
    if (codes && !declare_codes(L, codes, k))
        return;
    struct fy_node *nodes = get(root, "nodes", &k);
    if (!nodes)
        return;
    if (!fy_node_is_sequence(nodes)) {
        err(L, k, "nodes must be a list of nodes");
        return;
    }
    void *it = NULL;
    struct fy_node *n;
    while ((n = fy_node_sequence_iterate(nodes, &it)) != NULL)
        if (!declare_node(L, n))
            return;
}

/* ---- settings ---- */

/* The index of the language code in n among the set's languages, or -1
 * (with an error naming what) when n is no text or none of them. */
static int lang_index(struct ld *L, struct fy_node *n, const char *what)
{
    size_t l;
    const char *s = scalar(L, n, what, &l);
    if (!s)
        return -1;
    char code[8] = "";
    if (l < sizeof code) {
        memcpy(code, s, l);
        code[l] = '\0';
    }
    int li = menu_set_find_lang(L->set, code);
    if (li < 0)
        err(L, n, "%s '%s' is not in languages", what, code);
    return li;
}

/* Each settings_fn reads one key: v is its value (NULL when absent), k the
 * key's node (for positions). */
typedef void settings_fn(struct ld *L, struct fy_node *v, struct fy_node *k);

static void set_languages(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    struct menu_set *set = L->set;
    if (!v || !fy_node_is_sequence(v)) {
        err(L, v ? k : L->settings, "settings: 'languages' must be a list such as [ky, ru, en]");
        return;
    }
    void *it = NULL;
    struct fy_node *n;
    while ((n = fy_node_sequence_iterate(v, &it)) != NULL) {
        size_t l;
        const char *s = scalar(L, n, "language", &l);
        if (!s)
            continue;
        bool ok = l >= 2 && l <= 3;
        for (size_t i = 0; ok && i < l; i++)
            ok = s[i] >= 'a' && s[i] <= 'z';
        if (!ok) {
            err(L, n, "language '%.*s': use a 2-3 letter code such as ky", (int)(l > 8 ? 8 : l), s);
            continue;
        }
        char code[4];
        memcpy(code, s, l);
        code[l] = '\0';
        if (menu_set_find_lang(set, code) >= 0) {
            err(L, n, "language '%s' listed twice", code);
            continue;
        }
        if (set->nlang >= MENU_MAX_LANGS) {
            err(L, n, "at most %d languages", MENU_MAX_LANGS);
            break;
        }
        memcpy(set->lang[set->nlang++], code, l + 1);
    }
    if (set->nlang == 0)
        err(L, k, "settings: 'languages' is empty");
}

static void set_default_language(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    (void)k;
    if (!v)
        return;
    int li = lang_index(L, v, "default_language");
    L->set->default_lang = li > 0 ? (uint8_t)li : 0;
}

static void set_resume_seconds(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    (void)k;
    unsigned long n;
    if (v && get_uint(L, v, "resume_seconds", 0, 86400, &n))
        L->set->resume_seconds = (uint32_t)n;
}

static void set_retries(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    (void)k;
    unsigned long n;
    if (v && get_uint(L, v, "retries", 1, 10, &n))
        L->set->retries = (uint8_t)n;
}

static void set_keys(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    struct menu_set *set = L->set;
    if (!v)
        return;
    if (!is_map(L, v, k, "settings: 'keys' must map back/home/more to digits"))
        return;
    check_keys(L, v, key_names, "keys");
    for (int i = 0; i < MENU_KEY_COUNT; i++) {
        struct fy_node *kk = get(v, key_names[i], NULL);
        size_t l;
        const char *s = kk ? scalar(L, kk, key_names[i], &l) : NULL;
        if (!s)
            continue;
        bool ok = l >= 1 && l <= MENU_KEY_MAX;
        for (size_t j = 0; ok && j < l; j++)
            ok = s[j] >= '0' && s[j] <= '9';
        if (!ok) {
            err(L, kk, "key '%s' must be 1-%d digits", key_names[i], MENU_KEY_MAX);
            continue;
        }
        memcpy(set->key[i], s, l);
        set->key[i][l] = '\0';
    }
    for (int i = 0; i < MENU_KEY_COUNT; i++)
        for (int j = i + 1; j < MENU_KEY_COUNT; j++)
            if (!strcmp(set->key[i], set->key[j]))
                err(L, k, "keys '%s' and '%s' are both '%s'", key_names[i],
                    key_names[j], set->key[i]);
}

/* settings.vars: constants, declared before any template is parsed; an
 * override of the same name replaces the file's value. */
static void set_vars(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    if (!v)
        return;
    if (!is_map(L, v, k, "settings: 'vars' must map names to values"))
        return;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(v, &it)) != NULL) {
        struct fy_node *kn = fy_node_pair_key(p);
        size_t nl, vl;
        const char *name = scalar(L, kn, "variable name", &nl);
        const char *val = scalar(L, fy_node_pair_value(p), "variable value", &vl);
        if (!name || !val)
            continue;
        if (!is_name(name, nl, 40)) {
            err(L, kn, "bad variable name '%.*s'", (int)(nl > 40 ? 40 : nl), name);
            continue;
        }
        if (menu_set_find_var(L->set, name, nl) != MENU_NONE) {
            err(L, kn, "variable '%.*s' declared twice or built in", (int)nl, name);
            continue;
        }
        const char *cv = sdup(L, val, vl);
        for (size_t i = 0; i < L->nov; i++)
            if (L->ov[i].name && L->ov[i].value && is_key(name, nl, L->ov[i].name))
                cv = sdup(L, L->ov[i].value, strlen(L->ov[i].value));
        if (var_add(L, name, nl, cv) == MENU_NONE)
            err(L, kn, "too many variables");
    }
}

/* labels and messages: a mapping of names to texts, each with a built-in
 * default for ky/ru/en. */
static void text_map(struct ld *L, struct fy_node *v, struct fy_node *k, const char *what,
                     const char *keys, const char *const *names,
                     const struct deftext *def, const struct menu_text **out)
{
    if (v && !is_map(L, v, k, "settings: '%s' must map %s to texts", what, keys))
        v = NULL;
    if (v)
        check_keys(L, v, names, what);
    for (int i = 0; names[i]; i++)
        out[i] = settings_text(L, v, names[i], &def[i]);
}

static void set_labels(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    text_map(L, v, k, "labels", "back/home/more", key_names, def_label, L->set->key_label);
}

static void set_messages(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    text_map(L, v, k, "messages", "names", msg_names, def_msg, L->set->msg);
}

static settings_fn set_booking_texts;

/* Once the nodes exist: the menu offered when the caller's language is
 * unknown. */
static void set_language_menu(struct ld *L, struct fy_node *v, struct fy_node *k)
{
    struct menu_set *set = L->set;
    if (!v)
        return;
    set->language_menu = target(L, v, k, "language_menu");
    if (set->language_menu != MENU_NONE && set->node[set->language_menu].kind != MENU_K_MENU)
        err(L, v, "language_menu must be a menu node");
}

/* When a settings key is read: with the declarations (languages first,
 * constants before any template), with the texts (every variable known),
 * or once the nodes exist (a target). */
enum { AT_DECLARE, AT_TEXTS, AT_NODES };

static const struct setting {
    const char *key;
    int at;
    settings_fn *fn;
} settings_keys[] = {
    { "languages",        AT_DECLARE, set_languages },
    { "default_language", AT_DECLARE, set_default_language },
    { "resume_seconds",   AT_DECLARE, set_resume_seconds },
    { "retries",          AT_DECLARE, set_retries },
    { "keys",             AT_DECLARE, set_keys },
    { "vars",             AT_DECLARE, set_vars },
    { "labels",           AT_TEXTS,   set_labels },
    { "messages",         AT_TEXTS,   set_messages },
    { "booking_texts",    AT_TEXTS,   set_booking_texts },
    { "language_menu",    AT_NODES,   set_language_menu },
};
#define NSETTINGS (sizeof settings_keys / sizeof settings_keys[0])

/* Read the settings keys of phase `at`, in table order. */
static void run_settings(struct ld *L, int at)
{
    L->file = L->settings_file;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings_keys[i].at != at)
            continue;
        struct fy_node *k = NULL;
        struct fy_node *v = L->settings ? get(L->settings, settings_keys[i].key, &k) : NULL;
        settings_keys[i].fn(L, v, k);
    }
}

/* The defaults, then the settings read with the declarations. */
static void parse_settings(struct ld *L)
{
    struct menu_set *set = L->set;
    set->retries = 3;
    set->resume_seconds = 120;
    set->language_menu = MENU_NONE;
    strcpy(set->key[MENU_KEY_BACK], "0");
    strcpy(set->key[MENU_KEY_HOME], "00");
    strcpy(set->key[MENU_KEY_MORE], "99");
    if (!L->settings) {
        menu_errors_add(L->errs, L->file, 0, 0,
                        "no 'settings' in any menu file (languages are required)");
        return;
    }
    const char *allowed[NSETTINGS + 1];
    for (size_t i = 0; i < NSETTINGS; i++)
        allowed[i] = settings_keys[i].key;
    allowed[NSETTINGS] = NULL;
    L->file = L->settings_file;
    check_keys(L, L->settings, allowed, "settings");
    run_settings(L, AT_DECLARE);
    for (size_t i = 0; i < L->nov; i++) {
        const char *name = L->ov[i].name;
        uint16_t ix = name ? menu_set_find_var(set, name, strlen(name)) : MENU_NONE;
        if (name && (ix == MENU_NONE || !set->var[ix].constant))
            menu_errors_add(L->errs, L->file, 0, 0,
                            "override '%s' is not a constant in settings.vars", name);
    }
}

/* A booking text: every {placeholder} one the booking node fills, and the
 * text alone within one screen.  Returns the arena copy or NULL. */
static const char *booking_text(struct ld *L, struct fy_node *n, const char *name)
{
    static const char *const ph[] = { "service", "office", "address", "place",
                                      "day", "date", "time", "ticket", NULL };
    size_t l;
    const char *s = scalar(L, n, name, &l);
    if (!s)
        return NULL;
    for (const char *p = s; (p = memchr(p, '{', l - (size_t)(p - s))) != NULL; p++) {
        const char *e = memchr(p, '}', l - (size_t)(p - s));
        if (!e)
            break;
        bool ok = false;
        for (int i = 0; ph[i] && !ok; i++)
            ok = (size_t)(e - p - 1) == strlen(ph[i]) && !memcmp(p + 1, ph[i], (size_t)(e - p - 1));
        if (!ok) {
            err(L, n, "booking_texts.%s: unknown placeholder %.*s (known: {service} {office} "
                "{address} {place} {day} {date} {time} {ticket})", name,
                (int)(e - p + 1 > 40 ? 40 : e - p + 1), p);
            return NULL;
        }
    }
    if (l == 0 || menu_text_octets(s, l, NULL) > MENU_SCREEN_OCTETS) {
        err(L, n, "booking_texts.%s: must be 1 to 160 octets on the air (80 characters "
            "in Cyrillic)", name);
        return NULL;
    }
    return sdup(L, s, l);
}

/* settings.booking_texts: the booking node's screens in the operator's
 * words; a text for every language of the set, or one for all. */
static void set_booking_texts(struct ld *L, struct fy_node *bt, struct fy_node *k)
{
    struct menu_set *set = L->set;
    if (!bt)
        return;
    if (!is_map(L, bt, k, "settings: 'booking_texts' must map screen names to texts"))
        return;
    const char *names[MENU_BT_COUNT + 1];
    for (int i = 0; i < MENU_BT_COUNT; i++)
        names[i] = menu_booking_text_names[i];
    names[MENU_BT_COUNT] = NULL;
    check_keys(L, bt, names, "booking_texts");
    for (int i = 0; i < MENU_BT_COUNT; i++) {
        struct fy_node *nk = NULL;
        struct fy_node *v = get(bt, names[i], &nk);
        if (!v)
            continue;
        if (fy_node_is_scalar(v) && !fy_node_is_alias(v)) {
            const char *t = booking_text(L, v, names[i]);
            for (int li = 0; t && li < set->nlang; li++)
                set->booking_text[li][i] = t;
            continue;
        }
        if (!is_map(L, v, v, "booking_texts.%s must be a text or a mapping of language to text",
                    names[i]))
            continue;
        for (int li = 0; li < set->nlang; li++) {
            struct fy_node *lk = NULL;
            struct fy_node *lv = get(v, set->lang[li], &lk);
            if (!lv)
                err(L, nk ? nk : v, "booking_texts.%s: missing translation '%s'", names[i],
                    set->lang[li]);
            else
                set->booking_text[li][i] = booking_text(L, lv, names[i]);
        }
        void *it = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(v, &it)) != NULL) {
            size_t kl;
            const char *ks = key_text(fy_node_pair_key(pr), &kl);
            char code[8];
            snprintf(code, sizeof code, "%.*s", ks ? (int)(kl > 7 ? 7 : kl) : 0, ks ? ks : "");
            if (!ks || menu_set_find_lang(set, code) < 0 || kl > 7)
                err(L, fy_node_pair_key(pr), "booking_texts.%s: '%s' is not a language of "
                    "the set", names[i], code);
        }
    }
}

/* Declare a variable that a node assigns (n: where its name stands). */
static void assigned_var(struct ld *L, struct fy_node *n, const char *s, size_t l)
{
    if (!is_name(s, l, 40)) {
        err(L, n, "bad variable name '%.*s'", (int)(l > 40 ? 40 : l), s);
        return;
    }
    uint16_t ix = menu_set_find_var(L->set, s, l);
    if (ix != MENU_NONE && (ix < MENU_VAR_BUILTINS || L->set->var[ix].constant)) {
        err(L, n, "'%.*s' is built in or a constant and cannot be assigned", (int)l, s);
        return;
    }
    if (var_add(L, s, l, NULL) == MENU_NONE)
        err(L, n, "too many variables");
}

/* Variables assigned by nodes: input `var`, http `save` keys. */
static void declare_vars(struct ld *L)
{
    for (size_t i = 0; i < L->ndecl; i++) {
        struct decl *d = &L->decl[i];
        L->file = d->file;
        if (d->kind == MENU_K_INPUT || d->kind == MENU_K_MENU) {
            struct fy_node *v = get(d->map, "var", NULL);
            size_t l;
            const char *s = v ? scalar(L, v, "var", &l) : NULL;
            if (!v && d->kind == MENU_K_INPUT)
                err(L, d->id_node, "input node '%s' has no 'var'", d->id);
            if (s)
                assigned_var(L, v, s, l);
        } else if (d->kind == MENU_K_HTTP || d->kind == MENU_K_STATUS) {
            struct fy_node *k = NULL;
            struct fy_node *sv = get(d->map, "save", &k);
            if (!sv)
                continue;
            if (!is_map(L, sv, k, "save must map variable names to JSON fields"))
                continue;
            void *it = NULL;
            struct fy_node_pair *p;
            while ((p = fy_node_mapping_iterate(sv, &it)) != NULL) {
                size_t l;
                const char *s = scalar(L, fy_node_pair_key(p), "variable name", &l);
                if (s)
                    assigned_var(L, fy_node_pair_key(p), s, l);
            }
        }
    }
}

/* ---- pass 2: node definitions ---- */

static const char *const k_common[] = { "id", "type", "text", "shortcut", NULL };

static void check_node_keys(struct ld *L, struct decl *d, const char *const *extra)
{
    const char *all[24];
    size_t n = 0;
    for (size_t i = 0; k_common[i]; i++)
        all[n++] = k_common[i];
    for (size_t i = 0; extra[i] && n < 23; i++)
        all[n++] = extra[i];
    all[n] = NULL;
    char where[64];
    snprintf(where, sizeof where, "%s node '%s'", kind_names[d->kind], d->id);
    check_keys(L, d->map, all, where);
}

static const struct menu_tmpl *plain_tmpl(struct ld *L, struct fy_node *n, const char *what)
{
    size_t l;
    const char *s = scalar(L, n, what, &l);
    return s ? tmpl(L, n, s, l, what) : NULL;
}

/* The node's `text` (required). */
static const struct menu_text *node_text(struct ld *L, struct decl *d)
{
    struct fy_node *k = NULL;
    struct fy_node *v = get(d->map, "text", &k);
    return text(L, v, k ? k : d->id_node, "text");
}

/* A required target: `key` in map; when missing, the error stands at
 * `where`. */
static uint16_t req_target(struct ld *L, struct fy_node *map, const char *key,
                           struct fy_node *where)
{
    struct fy_node *k = NULL;
    struct fy_node *v = get(map, key, &k);
    return target(L, v, k ? k : where, key);
}

/* The index of n's text among names (NULL-terminated); -1 when n is no
 * text (the error is given), -2 when it is none of the names (the caller
 * says what is allowed). */
static int choice(struct ld *L, struct fy_node *n, const char *what,
                  const char *const *names)
{
    size_t l;
    const char *s = scalar(L, n, what, &l);
    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (is_key(s, l, names[i]))
            return i;
    return -2;
}

/* A mode named by `key` of the node (absent: *out stays): values[i] for
 * names[i]; another name is refused with `msg`. */
static void node_mode(struct ld *L, struct decl *d, const char *key,
                      const char *const *names, const uint8_t *values, uint8_t *out,
                      const char *msg)
{
    struct fy_node *n = get(d->map, key, NULL);
    int c = n ? choice(L, n, key, names) : -1;
    if (c >= 0)
        *out = values[c];
    else if (c == -2)
        err(L, n, "%s", msg);
}

/* The node's `timeout_ms` (100 ms to 30 s), or dflt. */
static uint32_t node_timeout(struct ld *L, struct decl *d, uint32_t dflt)
{
    unsigned long v;
    struct fy_node *t = get(d->map, "timeout_ms", NULL);
    return t && get_uint(L, t, "timeout_ms", 100, 30000, &v) ? (uint32_t)v : dflt;
}

/* The node's required `url` template (http, app). */
static void node_url(struct ld *L, struct decl *d, struct menu_node *mn)
{
    struct fy_node *u = get(d->map, "url", NULL);
    if (!u)
        err(L, d->id_node, "%s node '%s' needs a 'url'", kind_names[d->kind], d->id);
    else
        mn->url = plain_tmpl(L, u, "url");
}

/* ---- issue 13 xroad: a call through an X-Road security server ----
 * The node's `xroad: {service, path, issue}` becomes its url template
 * "xroad:/r1/<service, encoded>" + path + "#" + issue (base/xroad.h): the
 * step engine renders it like any url, the gateway's fetch splits it. */

#define XROAD_SERVICE_ENC_MAX 512   /* leaves the rendered url room */

/* A template made of the literal `pre` and then t's segments. */
static struct menu_tmpl *tmpl_after(struct ld *L, const char *pre, const struct menu_tmpl *t)
{
    size_t pl = strlen(pre), ns = (t ? t->nseg : 0) + 1;
    struct menu_tmpl *r = alloc(L, sizeof *r);
    struct menu_seg *sv = alloc(L, ns * sizeof *sv);
    char *lit = sdup(L, pre, pl);
    if (!r || !sv || !lit || pl > 0xFFFF || ns > 0xFFFF)
        return NULL;
    sv[0] = (struct menu_seg){ lit, (uint16_t)pl, MENU_NONE };
    if (t && t->nseg)
        memcpy(sv + 1, t->seg, t->nseg * sizeof *sv);
    r->seg = sv;
    r->nseg = (uint16_t)ns;
    r->lit_len = (uint16_t)(pl + (t ? t->lit_len : 0));
    return r;
}

/* a followed by b (both from tmpl_after or tmpl). */
static struct menu_tmpl *tmpl_cat(struct ld *L, const struct menu_tmpl *a,
                                  const struct menu_tmpl *b)
{
    size_t ns = (size_t)a->nseg + b->nseg;
    struct menu_tmpl *r = alloc(L, sizeof *r);
    struct menu_seg *sv = alloc(L, (ns ? ns : 1) * sizeof *sv);
    if (!r || !sv || ns > 0xFFFF)
        return NULL;
    memcpy(sv, a->seg, a->nseg * sizeof *sv);
    memcpy(sv + a->nseg, b->seg, b->nseg * sizeof *sv);
    r->seg = sv;
    r->nseg = (uint16_t)ns;
    r->lit_len = (uint16_t)(a->lit_len + b->lit_len);
    return r;
}

/* xroad.service: five parts, encoded into "xroad:/r1/..." (NULL: error). */
static const char *xroad_service(struct ld *L, struct fy_node *xr, struct fy_node *where,
                                 char *buf, size_t cap)
{
    struct fy_node *k = NULL;
    struct fy_node *v = get(xr, "service", &k);
    size_t l, at;
    const char *s = v ? scalar(L, v, "xroad.service", &l) : NULL;
    struct xroad_id id;
    char why[120];
    if (!v) {
        err(L, where, "xroad needs 'service' (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)");
        return NULL;
    }
    if (!s)
        return NULL;
    if (xroad_id_parse(s, l, XROAD_SERVICE_PARTS, &id, &at, why, sizeof why) != 0) {
        int line, col;
        pos(v, &line, &col);
        /* the scalar's mark is its first character, inside any quote */
        menu_errors_add(L->errs, L->file, line, col > 0 ? col + (int)at : col,
                        "xroad.service: %s (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)", why);
        return NULL;
    }
    size_t pl = strlen(XROAD_SCHEME);
    memcpy(buf, XROAD_SCHEME, pl);
    if (xroad_id_encode(&id, true, buf + pl, cap - pl) < 0) {
        err(L, v, "xroad.service is longer than %d bytes once encoded", XROAD_SERVICE_ENC_MAX);
        return NULL;
    }
    return buf;
}

/* xroad.path / xroad.issue: a template; bad: the literal bytes it may not
 * hold (and a settings constant it uses may not either). */
static const struct menu_tmpl *xroad_part(struct ld *L, struct fy_node *xr, const char *key,
                                          const char *what, bool path)
{
    struct fy_node *v = get(xr, key, NULL);
    size_t l;
    const char *s = v ? scalar(L, v, what, &l) : NULL;
    if (!s)
        return v ? NULL : tmpl_after(L, "", NULL);
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (path && (c == ' ' || c == '#' || c >= 0x80))) {
            err(L, v, "%s: %s", what, path ? "no spaces, '#', control characters or "
                "non-ASCII text (variables are percent-encoded for you)"
                : "no control characters");
            return NULL;
        }
    }
    if (path && l > 0 && s[0] != '/' && s[0] != '?') {
        err(L, v, "%s must start with '/' or '?'", what);
        return NULL;
    }
    const struct menu_tmpl *t = tmpl(L, v, s, l, what);
    for (uint16_t i = 0; t && path && i < t->nseg; i++) {
        const struct menu_seg *g = &t->seg[i];
        const char *c = g->lit ? NULL : L->set->var[g->var].constant;
        if (c && strpbrk(c, " #")) {
            err(L, v, "%s: the constant {%s} holds a space or '#'", what,
                L->set->var[g->var].name);
            return NULL;
        }
    }
    return t;
}

/* The node's `xroad:` block into mn->url (http and status nodes). */
static void node_xroad(struct ld *L, struct decl *d, struct menu_node *mn,
                       struct fy_node *xr, struct fy_node *xk)
{
    static const char *const keys[] = { "service", "path", "issue", NULL };
    char svc[XROAD_SERVICE_ENC_MAX];
    if (get(d->map, "url", NULL))
        err(L, xk, "%s node '%s': give either 'url' or 'xroad', not both",
            kind_names[d->kind], d->id);
    if (!is_map(L, xr, xk, "xroad must be a mapping: {service: ..., path: ..., issue: ...}"))
        return;
    check_keys(L, xr, keys, "xroad");
    const char *pre = xroad_service(L, xr, xk, svc, sizeof svc);
    const struct menu_tmpl *path = xroad_part(L, xr, "path", "xroad.path", true);
    const struct menu_tmpl *issue = xroad_part(L, xr, "issue", "xroad.issue", false);
    if (!pre || !path || !issue)
        return;
    const struct menu_tmpl *a = tmpl_after(L, pre, path);
    const struct menu_tmpl *b = tmpl_after(L, "#", issue);
    if (a && b)
        mn->url = tmpl_cat(L, a, b);
}

static void build_menu(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "options", "var", NULL };
    check_node_keys(L, d, keys);
    struct fy_node *vn = get(d->map, "var", NULL);
    size_t vl;
    const char *vs = vn && fy_node_is_scalar(vn) ? fy_node_get_scalar(vn, &vl) : NULL;
    mn->var = vs ? menu_set_find_var(L->set, vs, vl) : MENU_NONE;
    mn->text = node_text(L, d);
    struct fy_node *k = NULL;
    struct fy_node *opts = get(d->map, "options", &k);
    if (!opts || !fy_node_is_sequence(opts)) {
        err(L, opts ? k : d->id_node, "menu node '%s' needs a list of 'options'", d->id);
        return;
    }
    int cnt = fy_node_sequence_item_count(opts);
    if (cnt < 1 || cnt > MENU_OPTIONS_MAX) {
        err(L, k, "a menu has 1 to %d options", MENU_OPTIONS_MAX);
        return;
    }
    struct menu_option *o = alloc(L, (size_t)cnt * sizeof *o);
    if (!o)
        return;
    void *it = NULL;
    struct fy_node *n;
    int i = 0;
    while ((n = fy_node_sequence_iterate(opts, &it)) != NULL && i < cnt) {
        o[i].set_lang = -1;
        o[i].next = MENU_NONE;
        if (!is_map(L, n, n, "an option is a mapping with 'label' and 'next'")) {
            i++;
            continue;
        }
        static const char *const okeys[] = { "label", "next", "language", "value", NULL };
        check_keys(L, n, okeys, "option");
        struct fy_node *lk = NULL;
        struct fy_node *lab = get(n, "label", &lk);
        o[i].label = text(L, lab, lk ? lk : n, "label");
        o[i].next = req_target(L, n, "next", n);
        struct fy_node *valn = get(n, "value", NULL);
        if (valn) {
            size_t l;
            const char *s = scalar(L, valn, "value", &l);
            if (s && l > MENU_VAL_MAX)
                err(L, valn, "value longer than %d bytes", MENU_VAL_MAX);
            else if (s)
                o[i].value = sdup(L, s, l);
            if (mn->var == MENU_NONE)
                err(L, valn, "an option 'value' needs 'var' on its menu");
        }
        struct fy_node *lang = get(n, "language", NULL);
        if (lang)
            o[i].set_lang = (int8_t)lang_index(L, lang, "language");
        i++;
    }
    mn->opt = o;
    mn->nopt = (uint16_t)cnt;
}

static void build_input(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "kind", "min", "max", "pattern", "var", "error",
                                        "retries", "on_fail", "next", NULL };
    check_node_keys(L, d, keys);
    mn->text = node_text(L, d);
    struct fy_node *kn = get(d->map, "kind", NULL);
    mn->in_kind = MENU_IN_TEXT;
    if (kn) {
        static const char *const kinds[] = { "text", "digits", "regex", "date", NULL };
        static const uint8_t in_kinds[] = { MENU_IN_TEXT, MENU_IN_DIGITS, MENU_IN_REGEX,
                                            MENU_IN_DATE };
        int c = choice(L, kn, "kind", kinds);
        if (c >= 0) {
            mn->in_kind = in_kinds[c];
        } else if (c == -2) {
            size_t l;
            const char *s = fy_node_get_scalar(kn, &l);
            err(L, kn, "input kind '%.*s': use text, digits, regex or date",
                (int)(l > 20 ? 20 : l), s);
        }
    }
    unsigned long v;
    struct fy_node *n = get(d->map, "min", NULL);
    mn->min_len = 1;
    mn->max_len = MENU_VAL_MAX;
    if (n && get_uint(L, n, "min", 1, MENU_VAL_MAX, &v))
        mn->min_len = (uint16_t)v;
    n = get(d->map, "max", NULL);
    if (n && get_uint(L, n, "max", 1, MENU_VAL_MAX, &v))
        mn->max_len = (uint16_t)v;
    if (mn->min_len > mn->max_len)
        err(L, n, "min is larger than max");
    struct fy_node *pk = NULL;
    struct fy_node *pat = get(d->map, "pattern", &pk);
    if (mn->in_kind == MENU_IN_REGEX) {
        size_t l;
        const char *s = pat ? scalar(L, pat, "pattern", &l) : NULL;
        if (!pat)
            err(L, d->id_node, "regex input '%s' needs a 'pattern'", d->id);
        else if (s && l > MAX_PATTERN)
            err(L, pat, "pattern longer than %d bytes", MAX_PATTERN);
        else if (s) {
            char buf[MAX_PATTERN + 8];
            snprintf(buf, sizeof buf, "^(%.*s)$", (int)l, s);
            regex_t *re = alloc(L, sizeof *re);
            if (re) {
                int rc = regcomp(re, buf, REG_EXTENDED | REG_NOSUB);
                if (rc != 0) {
                    char eb[120];
                    regerror(rc, re, eb, sizeof eb);
                    err(L, pat, "bad pattern: %s", eb);
                } else {
                    mn->re = re;
                }
            }
        }
    } else if (pat) {
        err(L, pk, "'pattern' needs kind: regex");
    }
    struct fy_node *vk = NULL;
    struct fy_node *vn = get(d->map, "var", &vk);
    size_t l;
    const char *s = vn && fy_node_is_scalar(vn) ? fy_node_get_scalar(vn, &l) : NULL;
    mn->var = s ? menu_set_find_var(L->set, s, l) : MENU_NONE;
    struct fy_node *ek = NULL;
    struct fy_node *en = get(d->map, "error", &ek);
    if (en)
        mn->error = text(L, en, ek, "error");
    n = get(d->map, "retries", NULL);
    if (n && get_uint(L, n, "retries", 1, 10, &v))
        mn->retries = (uint8_t)v;
    mn->on_fail = opt_target(L, d->map, "on_fail");
    mn->next = req_target(L, d->map, "next", d->id_node);
}

static void build_switch(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "cases", "default", NULL };
    check_node_keys(L, d, keys);
    struct fy_node *k = NULL;
    if (get(d->map, "text", &k))
        err(L, k, "a switch node shows no text");
    mn->dflt = req_target(L, d->map, "default", d->id_node);
    struct fy_node *cases = get(d->map, "cases", &k);
    if (!cases)
        return;
    if (!fy_node_is_sequence(cases)) {
        err(L, k, "cases must be a list");
        return;
    }
    int cnt = fy_node_sequence_item_count(cases);
    if (cnt > 64) {
        err(L, k, "at most 64 cases");
        return;
    }
    struct menu_case *c = alloc(L, (size_t)(cnt ? cnt : 1) * sizeof *c);
    if (!c)
        return;
    void *it = NULL;
    struct fy_node *n;
    int i = 0;
    while ((n = fy_node_sequence_iterate(cases, &it)) != NULL && i < cnt) {
        c[i].var = MENU_NONE;
        c[i].next = MENU_NONE;
        c[i].equals = "";
        if (!is_map(L, n, n, "a case is a mapping with 'var', 'equals' and 'next'")) {
            i++;
            continue;
        }
        static const char *const ck[] = { "var", "equals", "next", NULL };
        check_keys(L, n, ck, "case");
        struct fy_node *vk = NULL;
        struct fy_node *vn = get(n, "var", &vk);
        size_t l;
        const char *s = vn ? scalar(L, vn, "var", &l) : NULL;
        if (!vn)
            err(L, n, "case without 'var'");
        if (s) {
            c[i].var = menu_set_find_var(L->set, s, l);
            if (c[i].var == MENU_NONE)
                err(L, vn, "unknown variable '%.*s'", (int)(l > 40 ? 40 : l), s);
        }
        struct fy_node *eqn = get(n, "equals", NULL);
        if (eqn) {
            char *e = scalar_dup(L, eqn, "equals");
            if (e)
                c[i].equals = e;
        }
        c[i].next = req_target(L, n, "next", n);
        i++;
    }
    mn->cases = c;
    mn->ncases = (uint16_t)cnt;
}


/* The `save` map of an http or status node (variables were declared in
 * pass 1).  allowed: the only field names accepted (NULL-terminated), or
 * NULL for any. */
static void build_save(struct ld *L, struct decl *d, struct menu_node *mn,
                       const char *const *allowed)
{
    struct fy_node *sv = get(d->map, "save", NULL);
    if (sv && fy_node_is_mapping(sv)) {
        int cnt = fy_node_mapping_item_count(sv);
        if (cnt > MENU_SAVE_MAX_LOAD) {
            err(L, sv, "save: at most %d variables", MENU_SAVE_MAX_LOAD);
            cnt = MENU_SAVE_MAX_LOAD;
        }
        struct menu_save *s = alloc(L, (size_t)(cnt ? cnt : 1) * sizeof *s);
        if (s) {
            void *it = NULL;
            struct fy_node_pair *p;
            int i = 0;
            while ((p = fy_node_mapping_iterate(sv, &it)) != NULL && i < cnt) {
                size_t nl;
                const char *name = key_text(fy_node_pair_key(p), &nl);
                s[i].var = name ? menu_set_find_var(L->set, name, nl) : MENU_NONE;
                s[i].field = scalar_dup(L, fy_node_pair_value(p), "JSON field");
                if (s[i].var == MENU_NONE || !s[i].field)
                    continue;
                bool ok = !allowed;
                for (size_t a = 0; allowed && allowed[a]; a++)
                    ok = ok || strcmp(allowed[a], s[i].field) == 0;
                if (!ok) {
                    err(L, fy_node_pair_value(p), "save: unknown field '%s' (status, updated)",
                        s[i].field);
                    continue;
                }
                i++;
            }
            mn->save = s;
            mn->nsave = (uint16_t)i;
        }
    }
}

static void build_http(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "method", "url", "body", "timeout_ms", "save",
                                        "next", "on_error", "on_timeout",
                                        "xroad", /* issue 13 xroad */ NULL };
    check_node_keys(L, d, keys);
    struct fy_node *k = NULL;
    if (get(d->map, "text", &k))
        err(L, k, "an http node shows no text (the next node does)");
    struct fy_node *xr = get(d->map, "xroad", &k);
    if (xr)
        node_xroad(L, d, mn, xr, k);
    else
        node_url(L, d, mn);
    struct fy_node *b = get(d->map, "body", NULL);
    if (b)
        mn->body = plain_tmpl(L, b, "body");
    mn->method = b ? "POST" : "GET";
    struct fy_node *m = get(d->map, "method", NULL);
    if (m) {
        static const char *const methods[] = { "GET", "POST", NULL };
        int c = choice(L, m, "method", methods);
        if (c >= 0)
            mn->method = methods[c];
        else if (c == -2)
            err(L, m, "method must be GET or POST");
        if (c == 0 && b)
            err(L, m, "a GET request has no body");
    }
    mn->timeout_ms = node_timeout(L, d, 5000);
    build_save(L, d, mn, NULL);
    mn->next = req_target(L, d->map, "next", d->id_node);
    mn->on_error = opt_target(L, d->map, "on_error");
    mn->on_timeout = opt_target(L, d->map, "on_timeout");
}

static void build_sms(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "to", "next", NULL };
    check_node_keys(L, d, keys);
    mn->text = node_text(L, d);
    struct fy_node *to = get(d->map, "to", NULL);
    if (to)
        mn->to = plain_tmpl(L, to, "to");
    mn->next = req_target(L, d->map, "next", d->id_node);
}

static void build_app(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "url", "timeout_ms", "on_error", NULL };
    check_node_keys(L, d, keys);
    struct fy_node *k = NULL;
    if (get(d->map, "text", &k))
        err(L, k, "an app node shows the app's text, not its own");
    node_url(L, d, mn);
    mn->timeout_ms = node_timeout(L, d, 10000);
    mn->on_error = opt_target(L, d->map, "on_error");
}

/* What status and subscribe nodes share: no text, the number's variable. */
static void app_number_var(struct ld *L, struct decl *d, struct menu_node *mn)
{
    const char *kind = kind_names[d->kind];
    struct fy_node *k = NULL;
    if (get(d->map, "text", &k))
        err(L, k, "a %s node shows no text (the next node does)", kind);
    struct fy_node *vn = get(d->map, "var", &k);
    size_t vl;
    const char *vs = vn ? scalar(L, vn, "var", &vl) : NULL;
    if (!vn)
        err(L, d->id_node, "%s node '%s' needs 'var' (the variable holding the number)",
            kind, d->id);
    if (vs) {
        mn->var = menu_set_find_var(L->set, vs, vl);
        if (mn->var == MENU_NONE)
            err(L, vn, "unknown variable '%.*s'", (int)(vl > 40 ? 40 : vl), vs);
    }
}

/* ... and their targets: next, on_not_found, on_locked, on_error. */
static void app_number_targets(struct ld *L, struct decl *d, struct menu_node *mn)
{
    mn->next = req_target(L, d->map, "next", d->id_node);
    mn->on_notfound = req_target(L, d->map, "on_not_found", d->id_node);
    mn->on_locked = req_target(L, d->map, "on_locked", d->id_node);
    mn->on_error = opt_target(L, d->map, "on_error");
}

static void build_status(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "var", "save", "next", "on_not_found",
                                        "on_locked", "on_error", "url", "timeout_ms",
                                        "xroad", /* issue 13 xroad */ NULL };
    static const char *const fields[] = { "status", "updated", NULL };
    check_node_keys(L, d, keys);
    app_number_var(L, d, mn);
    build_save(L, d, mn, fields);
    /* live mode: the agency's own API answers instead of the store,
     * directly (url) or through X-Road (xroad) */
    struct fy_node *k = NULL;
    struct fy_node *u = get(d->map, "url", NULL);
    struct fy_node *xr = get(d->map, "xroad", &k);
    if (xr)
        node_xroad(L, d, mn, xr, k);
    else if (u)
        mn->url = plain_tmpl(L, u, "url");
    if (get(d->map, "timeout_ms", &k) && !u && !xr)
        err(L, k, "timeout_ms applies to a live status node (with url) only");
    mn->timeout_ms = node_timeout(L, d, 3000);
    app_number_targets(L, d, mn);
}

/* A service code as the API accepts it: letters, digits, - _ . */
static bool is_code(const char *s, size_t l)
{
    if (l == 0 || l > 63)
        return false;
    for (size_t i = 0; i < l; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

static void build_booking(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "mode", "services", "days", "on_error", NULL };
    check_node_keys(L, d, keys);
    struct fy_node *k = NULL;
    if (get(d->map, "text", &k))
        err(L, k, "a booking node draws its own screens (texts built in for ky, ru, en)");
    static const char *const modes[] = { "book", "manage", NULL };
    static const uint8_t book_modes[] = { MENU_BOOK_NEW, MENU_BOOK_MANAGE };
    mn->mode = MENU_BOOK_NEW;
    node_mode(L, d, "mode", modes, book_modes, &mn->mode,
              "mode must be book (a new booking) or manage (list, cancel, move)");
    struct fy_node *sv = get(d->map, "services", &k);
    if (sv && mn->mode == MENU_BOOK_MANAGE)
        err(L, k, "services applies to mode book only");
    if (sv) {
        char buf[512];
        size_t n = 0;
        bool ok = true;
        if (!fy_node_is_sequence(sv) || fy_node_sequence_item_count(sv) == 0) {
            err(L, sv, "services must be a list of service codes, e.g. [passport, idcard]");
            ok = false;
        }
        void *it = NULL;
        struct fy_node *e;
        while (ok && (e = fy_node_sequence_iterate(sv, &it)) != NULL) {
            size_t l;
            const char *s = scalar(L, e, "service code", &l);
            if (!s) {
                ok = false;
                break;
            }
            if (!is_code(s, l)) {
                err(L, e, "bad service code '%.*s' (letters, digits, - _ .)",
                    (int)(l > 40 ? 40 : l), s);
                ok = false;
                break;
            }
            if (n + l + 2 > sizeof buf) {
                err(L, e, "services: too many codes");
                ok = false;
                break;
            }
            if (n)
                buf[n++] = ',';
            memcpy(buf + n, s, l);
            n += l;
        }
        if (ok)
            mn->services = sdup(L, buf, n);
    }
    unsigned long v;
    struct fy_node *dn = get(d->map, "days", &k);
    if (dn && mn->mode == MENU_BOOK_MANAGE)
        err(L, k, "days applies to mode book only (a move offers the same days)");
    if (dn && get_uint(L, dn, "days", 1, 366, &v))
        mn->days = (uint16_t)v;
    mn->on_error = opt_target(L, d->map, "on_error");
}

static void build_subscribe(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "var", "action", "next", "on_not_found",
                                        "on_locked", "on_error", NULL };
    check_node_keys(L, d, keys);
    app_number_var(L, d, mn);
    static const char *const actions[] = { "subscribe", "unsubscribe", NULL };
    static const uint8_t sub_modes[] = { MENU_SUB_ON, MENU_SUB_OFF };
    mn->mode = MENU_SUB_ON;
    node_mode(L, d, "action", actions, sub_modes, &mn->mode,
              "action must be subscribe or unsubscribe");
    app_number_targets(L, d, mn);
}

/* issue 12 appeals: one category of an appeal node, {id, agency,
 * anonymous, title}, into c; false when it is not one (reported). */
static bool appeal_cat(struct ld *L, struct fy_node *e,
                       struct menu_appeal_cat *c)
{
    static const char *const keys[] = { "id", "agency", "anonymous", "title",
                                        NULL };
    if (!is_map(L, e, e, "a category must be a mapping with id, agency and "
                "title"))
        return false;
    check_keys(L, e, keys, "appeal category");
    const char *what[2] = { "id", "agency" };
    const char **out[2] = { &c->id, &c->agency };
    for (int i = 0; i < 2; i++) {
        struct fy_node *k = NULL, *v = get(e, what[i], &k);
        size_t l;
        const char *sv = v ? scalar(L, v, what[i], &l) : NULL;
        if (!v)
            err(L, e, "a category needs '%s'", what[i]);
        else if (sv && !is_code(sv, l))
            err(L, v, "category %s '%.*s' must be 1 to 63 of letters, digits, "
                "- _ .", what[i], (int)(l > 40 ? 40 : l), sv);
        else if (sv)
            *out[i] = sdup(L, sv, l);
    }
    struct fy_node *an = get(e, "anonymous", NULL);
    int b = an ? get_bool(L, an, "anonymous") : 0;
    c->anonymous = b == 1;
    struct fy_node *tk = NULL;
    c->title = text(L, get(e, "title", &tk), e, "title");
    return c->id && c->agency && c->title;
}

/* issue 12 appeals: mode file (categories: a list of 1 to
 * MENU_APPEAL_CATS_MAX, ids unique) or status (no categories). */
static void build_appeal(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { "mode", "categories", "on_error",
                                        NULL };
    check_node_keys(L, d, keys);
    struct fy_node *k = NULL;
    if (get(d->map, "text", &k))
        err(L, k, "an appeal node draws its own screens (texts built in for "
            "ky, ru, en)");
    static const char *const modes[] = { "file", "status", NULL };
    static const uint8_t appeal_modes[] = { MENU_APPEAL_FILE,
                                            MENU_APPEAL_STATUS };
    mn->mode = MENU_APPEAL_FILE;
    node_mode(L, d, "mode", modes, appeal_modes, &mn->mode,
              "mode must be file (file an appeal) or status (its state by "
              "its reference)");
    mn->on_error = opt_target(L, d->map, "on_error");
    struct fy_node *cn = get(d->map, "categories", &k);
    if (mn->mode == MENU_APPEAL_STATUS) {
        if (cn)
            err(L, k, "categories apply to mode file only");
        return;
    }
    size_t n = cn && fy_node_is_sequence(cn) ? (size_t)fy_node_sequence_item_count(cn) : 0;
    if (n == 0 || n > MENU_APPEAL_CATS_MAX) {
        err(L, cn ? cn : d->id_node, "appeal node '%s' needs 'categories': a "
            "list of 1 to %d categories (id, agency, anonymous, title)", d->id,
            MENU_APPEAL_CATS_MAX);
        return;
    }
    struct menu_appeal_cat *cats = alloc(L, n * sizeof *cats);
    if (!cats)
        return;
    memset(cats, 0, n * sizeof *cats);
    void *it = NULL;
    struct fy_node *e;
    size_t i = 0;
    bool ok = true;
    while ((e = fy_node_sequence_iterate(cn, &it)) != NULL && i < n) {
        ok = appeal_cat(L, e, &cats[i]) && ok;
        for (size_t j = 0; ok && j < i; j++)
            if (strcmp(cats[j].id, cats[i].id) == 0) {
                err(L, e, "category '%s' is listed twice", cats[i].id);
                ok = false;
            }
        i++;
    }
    if (ok) {
        mn->cats = cats;
        mn->ncats = (uint16_t)n;
    }
}

static void build_end(struct ld *L, struct decl *d, struct menu_node *mn)
{
    static const char *const keys[] = { NULL };
    check_node_keys(L, d, keys);
    mn->text = node_text(L, d);
}

static void build_nodes(struct ld *L)
{
    struct menu_set *set = L->set;
    for (size_t i = 0; i < L->ndecl; i++) {
        struct decl *d = &L->decl[i];
        struct menu_node *mn = &set->node[i];
        L->file = d->file;
        mn->shortcut = true;
        struct fy_node *sc = get(d->map, "shortcut", NULL);
        if (sc) {
            int b = get_bool(L, sc, "shortcut");
            if (b >= 0)
                mn->shortcut = b;
        }
        switch (d->kind) {
        case MENU_K_MENU: build_menu(L, d, mn); break;
        case MENU_K_INPUT: build_input(L, d, mn); break;
        case MENU_K_SWITCH: build_switch(L, d, mn); break;
        case MENU_K_HTTP: build_http(L, d, mn); break;
        case MENU_K_SMS: build_sms(L, d, mn); break;
        case MENU_K_APP: build_app(L, d, mn); break;
        case MENU_K_STATUS: build_status(L, d, mn); break;
        case MENU_K_BOOKING: build_booking(L, d, mn); break;
        case MENU_K_SUBSCRIBE: build_subscribe(L, d, mn); break;
        case MENU_K_APPEAL: build_appeal(L, d, mn); break;      /* issue 12 */
        default: build_end(L, d, mn); break;
        }
    }
}

/* ---- whole-set checks ---- */

/* The nodes node n can go to (its edges) into out; returns how many. */
static size_t edges(const struct menu_node *n, uint16_t *out, size_t cap)
{
    size_t k = 0;
#define E(x) do { if ((x) != MENU_NONE && k < cap) out[k++] = (x); } while (0)
    switch (n->kind) {
    case MENU_K_MENU:
        for (uint16_t i = 0; i < n->nopt; i++)
            E(n->opt[i].next);
        break;
    case MENU_K_INPUT:
        E(n->next);
        E(n->on_fail);
        break;
    case MENU_K_SWITCH:
        for (uint16_t i = 0; i < n->ncases; i++)
            E(n->cases[i].next);
        E(n->dflt);
        break;
    case MENU_K_HTTP:
        E(n->next);
        E(n->on_error);
        E(n->on_timeout);
        break;
    case MENU_K_SMS:
        E(n->next);
        break;
    case MENU_K_APP:
        E(n->on_error);
        break;
    case MENU_K_BOOKING:
    case MENU_K_APPEAL:                 /* issue 12 */
        E(n->on_error);
        break;
    case MENU_K_STATUS:
    case MENU_K_SUBSCRIBE:
        E(n->next);
        E(n->on_notfound);
        E(n->on_locked);
        E(n->on_error);
        break;
    default:
        break;
    }
#undef E
    return k;
}

static bool needs_no_input(const struct menu_node *n)
{
    return n->kind == MENU_K_SWITCH || n->kind == MENU_K_SMS || n->kind == MENU_K_HTTP ||
           n->kind == MENU_K_STATUS || n->kind == MENU_K_SUBSCRIBE;
}

static void check_graph(struct ld *L)
{
    struct menu_set *set = L->set;
    size_t nn = set->nnode;
    uint8_t *mark = calloc(nn ? nn : 1, 1);
    uint16_t *queue = calloc(nn ? nn : 1, sizeof *queue);
    if (!mark || !queue) {
        free(mark);
        free(queue);
        L->oom = true;
        return;
    }
    size_t qh = 0, qt = 0;
    for (uint16_t i = 0; i < set->ncode; i++)
        if (set->code[i].root < nn && !mark[set->code[i].root]) {
            mark[set->code[i].root] = 1;
            queue[qt++] = set->code[i].root;
        }
    if (set->language_menu < nn && !mark[set->language_menu]) {
        mark[set->language_menu] = 1;
        queue[qt++] = set->language_menu;
    }
    while (qh < qt) {
        uint16_t e[80];
        size_t ne = edges(&set->node[queue[qh++]], e, 80);
        for (size_t i = 0; i < ne; i++)
            if (e[i] < nn && !mark[e[i]]) {
                mark[e[i]] = 1;
                queue[qt++] = e[i];
            }
    }
    for (size_t i = 0; i < nn; i++) {
        if (!mark[i]) {
            L->file = L->decl[i].file;
            err(L, L->decl[i].id_node, "node '%s' is unreachable from any code", set->node[i].id);
        }
    }
    /* loops through nodes that need no input: iterative DFS, colours
     * 0 white, 1 on stack, 2 done */
    memset(mark, 0, nn);
    uint16_t *stk = queue;       /* reuse: node per depth */
    uint8_t *nexti = calloc(nn ? nn : 1, 1);
    if (!nexti) {
        free(mark);
        free(queue);
        L->oom = true;
        return;
    }
    for (size_t s = 0; s < nn; s++) {
        if (mark[s] || !needs_no_input(&set->node[s]))
            continue;
        size_t sp = 0;
        stk[sp++] = (uint16_t)s;
        mark[s] = 1;
        nexti[s] = 0;
        while (sp) {
            uint16_t u = stk[sp - 1];
            uint16_t e[80];
            size_t ne = edges(&set->node[u], e, 80);
            if (nexti[u] >= ne) {
                mark[u] = 2;
                sp--;
                continue;
            }
            uint16_t v = e[nexti[u]++];
            if (v >= nn || !needs_no_input(&set->node[v]))
                continue;
            if (mark[v] == 1) {
                char path[180];
                size_t pl = 0;
                path[0] = '\0';
                size_t from = 0;
                while (from < sp && stk[from] != v)
                    from++;
                for (size_t j = from; j < sp && pl < sizeof path - 40; j++)
                    pl += (size_t)snprintf(path + pl, sizeof path - pl, "%s -> ", set->node[stk[j]].id);
                snprintf(path + pl, sizeof path - pl, "%s", set->node[v].id);
                L->file = L->decl[v].file;
                err(L, L->decl[v].id_node, "loop with no input: %s", path);
            } else if (mark[v] == 0 && sp < nn) {
                mark[v] = 1;
                nexti[v] = 0;
                stk[sp++] = v;
            }
        }
    }
    free(nexti);
    free(mark);
    free(queue);
}

/* Literal text of a template with variables counted as empty (the
 * console's measure reads templates the same way). */
static size_t lit_of(const struct menu_tmpl *t, char *buf, size_t cap)
{
    return menu_measure_literal(t, buf, cap);
}

/* Cost in the screen's worst case: UCS-2 units unless all GSM. */
static size_t fit_cost(const char *s, size_t len, size_t *budget)
{
    size_t sp, un;
    bool g;
    menu_text_cost(s, len, &sp, &un, &g);
    *budget = g ? MENU_GSM7_CHARS : MENU_UCS2_CHARS;
    return g ? sp : un;
}

static void check_fit(struct ld *L)
{
    struct menu_set *set = L->set;
    for (int li = 0; li < set->nlang; li++) {
        /* the widest footer: "99 More, 0 Back, 00 Home" */
        char foot[400];
        size_t fl = 0;
        for (int k = 0; k < MENU_KEY_COUNT; k++) {
            char lab[200];
            int order[3] = { MENU_KEY_MORE, MENU_KEY_BACK, MENU_KEY_HOME };
            int kk = order[k];
            if (!set->key_label[kk] || !set->key_label[kk]->t[li])
                return;
            lit_of(set->key_label[kk]->t[li], lab, sizeof lab);
            fl += (size_t)snprintf(foot + fl, sizeof foot - fl, "%s%s %s", k ? ", " : "",
                                   set->key[kk], lab);
            if (fl >= sizeof foot)
                fl = sizeof foot - 1;
        }
        size_t budget;
        size_t fc = fit_cost(foot, fl, &budget);
        size_t ucs_f;
        {
            size_t sp;
            bool g;
            menu_text_cost(foot, fl, &sp, &ucs_f, &g);
        }
        L->file = L->settings_file;
        if (ucs_f + 1 + 8 > MENU_UCS2_CHARS || fc + 9 > budget) {
            err(L, L->settings, "the footer '%s' leaves no room on a screen in '%s'", foot,
                set->lang[li]);
            continue;
        }
        for (int m = 0; m < MENU_MSG_COUNT; m++) {
            char buf[MAX_TEXT + 1];
            if (!set->msg[m] || !set->msg[m]->t[li])
                continue;
            size_t l = lit_of(set->msg[m]->t[li], buf, sizeof buf);
            size_t b;
            size_t c = fit_cost(buf, l, &b);
            struct fy_node *where = L->settings;
            struct fy_node *mk = NULL;
            struct fy_node *msgs = L->settings ? get(L->settings, "messages", NULL) : NULL;
            if (msgs && fy_node_is_mapping(msgs) && get(msgs, msg_names[m], &mk) && mk)
                where = mk;
            if (c > b)
                err(L, where, "message '%s' does not fit one screen in '%s' (%zu of %zu characters)",
                    msg_names[m], set->lang[li], c, b);
        }
        for (uint16_t i = 0; i < set->nnode; i++) {
            const struct menu_node *n = &set->node[i];
            if (n->kind != MENU_K_MENU)
                continue;
            for (uint16_t o = 0; o < n->nopt; o++) {
                if (!n->opt[o].label || !n->opt[o].label->t[li])
                    continue;
                char line[MAX_TEXT + 8];
                int p = snprintf(line, sizeof line, "%u. ", (unsigned)(o + 1));
                size_t l = (size_t)p + lit_of(n->opt[o].label->t[li], line + p, sizeof line - (size_t)p);
                size_t sp, un;
                bool g;
                menu_text_cost(line, l, &sp, &un, &g);
                /* worst case: the page is UCS-2 (another line is Cyrillic) */
                if (un + 1 + ucs_f > MENU_UCS2_CHARS) {
                    L->file = L->decl[i].file;
                    err(L, L->decl[i].id_node,
                        "option %u of '%s' cannot fit one USSD screen in '%s' even alone (%zu + footer %zu > %d characters)",
                        (unsigned)(o + 1), n->id, set->lang[li], un, ucs_f + 1, MENU_UCS2_CHARS);
                }
            }
        }
    }
}

/* Menu files are UTF-8 without NUL bytes or YAML directives.  Checked
 * before libfyaml sees the text: libfyaml 0.7.12 can loop forever on a
 * directive line holding invalid UTF-8 (found by fuzz_menu_load).  The
 * first fault is named, at its line and column in characters. */
static bool plain_text(struct ld *L, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t bad = kz_utf8_text_fault(p, len);
    int line, col;
    for (size_t i = 0; i < bad;) {      /* a '%' opening a line before it */
        if (s[i] == '%') {
            kz_utf8_line_col(p, i, &line, &col);
            menu_errors_add(L->errs, L->file, line, col,
                            "YAML directives (%%...) are not supported");
            return false;
        }
        const char *nl = memchr(s + i, '\n', bad - i);
        i = nl ? (size_t)(nl - s) + 1 : bad;
    }
    if (bad == len)
        return true;
    kz_utf8_line_col(p, bad, &line, &col);
    menu_errors_add(L->errs, L->file, line, col, "not valid UTF-8 text");
    return false;
}

/* ---- nesting pre-scan ---- */

/*
 * libfyaml needs time and memory out of all proportion for deeply nested
 * input (63 files of '[' took 16 s and 434 MB), so a file whose nesting
 * goes deeper than MENU_MAX_DEPTH is refused before it is parsed.  The
 * scan is a conservative approximation of YAML's structure, linear in the
 * text: block depth is the stack of indentations plus the "- ", "? " and
 * "key: " levels opened on a line; flow depth counts '[' and '{' (outside
 * quotes and comments) from where a value may start.  Block scalars
 * (| and >) and quoted scalars are skipped.  Real menus nest a few levels.
 */
struct scan {
    const char *t;
    size_t n, i;
    size_t deep_at;          /* where the limit was crossed (or the line) */
    int ind[MENU_MAX_DEPTH + 2];
    int nind;
};

static bool sc_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool sc_eol(const struct scan *S)
{
    return S->i >= S->n || S->t[S->i] == '\n';
}

static void sc_to_eol(struct scan *S)
{
    const char *nl = memchr(S->t + S->i, '\n', S->n - S->i);
    S->i = nl ? (size_t)(nl - S->t) : S->n;
}

/* Past a quoted scalar opened at S->i (it may span lines). */
static void sc_quoted(struct scan *S)
{
    char q = S->t[S->i++];
    while (S->i < S->n) {
        char c = S->t[S->i++];
        if (q == '"' && c == '\\' && S->i < S->n)
            S->i++;
        else if (c == q && q == '\'' && S->i < S->n && S->t[S->i] == '\'')
            S->i++;
        else if (c == q)
            return;
    }
}

/* A flow collection opened at S->i, at block depth base: false when it
 * nests too deep (S->deep_at set).  Ends after its closing bracket. */
static bool sc_flow(struct scan *S, int base)
{
    int depth = 0;
    while (S->i < S->n) {
        char c = S->t[S->i];
        if (c == '"' || c == '\'') {
            sc_quoted(S);
            continue;
        }
        if (c == '#' && (S->i == 0 || sc_blank(S->t[S->i - 1]))) {
            sc_to_eol(S);
            continue;
        }
        if ((c == '[' || c == '{') && base + ++depth > MENU_MAX_DEPTH) {
            S->deep_at = S->i;
            return false;
        }
        S->i++;
        if ((c == ']' || c == '}') && --depth <= 0)
            return true;
    }
    return true;
}

/* The rest of a block line from a place where a value may start.
 * *block_scalar: a '|' or '>' scalar follows on the next lines. */
static bool sc_line(struct scan *S, int depth, bool *block_scalar)
{
    bool value = true;
    while (!sc_eol(S)) {
        char c = S->t[S->i];
        if (c == ' ' || c == '\t') {
            S->i++;
        } else if (c == '#' && (S->i == 0 || sc_blank(S->t[S->i - 1]))) {
            sc_to_eol(S);
        } else if (value && (c == '-' || c == '?' || c == ':') &&
                   (S->i + 1 >= S->n || sc_blank(S->t[S->i + 1]))) {
            S->i++;
            if (++depth > MENU_MAX_DEPTH) {
                S->deep_at = S->i - 1;
                return false;
            }
        } else if (value && (c == '[' || c == '{')) {
            if (!sc_flow(S, depth))
                return false;
            value = false;
        } else if (c == '"' || c == '\'') {
            sc_quoted(S);
            value = false;
        } else if (value && (c == '|' || c == '>')) {
            *block_scalar = true;
            sc_to_eol(S);
        } else if (value && (c == '&' || c == '!' || c == '*')) {
            while (!sc_eol(S) && !sc_blank(S->t[S->i]))
                S->i++;
        } else if (c == ':' && (S->i + 1 >= S->n || sc_blank(S->t[S->i + 1]))) {
            value = true;    /* "key: value": handled as an indicator above */
        } else {
            S->i++;          /* plain text */
            value = false;
        }
    }
    return true;
}

/* false, with one error at the place, when src nests deeper than
 * MENU_MAX_DEPTH. */
static bool nesting_ok(struct ld *L, const char *t, size_t n)
{
    struct scan S = { .t = t, .n = n };
    int scalar_indent = -1;      /* inside a block scalar indented deeper */
    bool ok = true;
    while (ok && S.i < S.n) {
        size_t start = S.i;
        while (S.i < S.n && S.t[S.i] == ' ')
            S.i++;
        int indent = (int)(S.i - start);
        bool blank = sc_eol(&S) || S.t[S.i] == '#' || S.t[S.i] == '\r';
        if (!blank && scalar_indent >= 0 && indent > scalar_indent)
            blank = true;
        if (!blank) {
            scalar_indent = -1;
            while (S.nind > 0 && S.ind[S.nind - 1] > indent)
                S.nind--;
            if (S.nind == 0 || S.ind[S.nind - 1] < indent)
                S.ind[S.nind++] = indent;
            bool block_scalar = false;
            S.deep_at = S.i;
            ok = S.nind <= MENU_MAX_DEPTH && sc_line(&S, S.nind, &block_scalar);
            if (block_scalar)
                scalar_indent = indent;
        }
        if (ok) {
            sc_to_eol(&S);
            if (S.i < S.n)
                S.i++;
        }
    }
    if (ok)
        return true;
    int line, col;
    kz_utf8_line_col((const uint8_t *)t, S.deep_at, &line, &col);
    menu_errors_add(L->errs, L->file, line, col,
                    "nested deeper than %d levels (refused before parsing)",
                    MENU_MAX_DEPTH);
    return false;
}

/* ---- driver ---- */

static int cmp_by_id(const void *a, const void *b, void *arg)
{
    const struct menu_set *set = arg;
    return strcmp(set->node[*(const uint16_t *)a].id, set->node[*(const uint16_t *)b].id);
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

/* The set's generation: a hash of every file's name and text and of the
 * overrides (they change the set too). */
static uint32_t generation(const struct menu_source *src, size_t n,
                           const struct menu_override *ov, size_t nov)
{
    uint32_t gen = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        const char *fname = src[i].name ? src[i].name : "<string>";
        gen = fnv(gen, fname, strlen(fname) + 1);
        gen = fnv(gen, src[i].text, src[i].len);
    }
    for (size_t i = 0; i < nov; i++) {
        if (ov[i].name)
            gen = fnv(gen, ov[i].name, strlen(ov[i].name) + 1);
        if (ov[i].value)
            gen = fnv(gen, ov[i].value, strlen(ov[i].value) + 1);
    }
    return gen;
}

/* libfyaml's document for one file, or NULL with its errors (as
 * file:line:col) added.  *oom when the diagnostics could not be made. */
static struct fy_document *parse_yaml(struct ld *L, const struct menu_source *src,
                                      bool *oom)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) {
        *oom = true;
        return NULL;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = { 0 };
    pcfg.flags = FYPCF_QUIET;
    pcfg.diag = diag;
    struct fy_document *doc =
        fy_document_build_from_string(&pcfg, src->len ? src->text : "", src->len);
    if (!doc) {
        void *it = NULL;
        struct fy_diag_error *de;
        int cnt = 0;
        while ((de = fy_diag_errors_iterate(diag, &it)) != NULL) {
            if (de->type < FYET_ERROR)
                continue;
            menu_errors_add(L->errs, L->file, de->line > 0 ? de->line : 1,
                            de->column > 0 ? de->column : 1, "YAML: %s",
                            de->msg ? de->msg : "syntax error");
            cnt++;
        }
        if (!cnt)
            menu_errors_add(L->errs, L->file, 1, 1, "YAML: syntax error");
    }
    fy_diag_destroy(diag);
    return doc;
}

/* Pass 1 over one file: checked as text, parsed, declared.  *doc keeps
 * the document (the declarations point into it).  false: stop reading
 * (out of memory). */
static bool read_source(struct ld *L, const struct menu_source *src,
                        struct fy_document **doc)
{
    const char *fname = src->name ? src->name : "<string>";
    L->file = sdup(L, fname, strlen(fname));
    if (!L->file)
        return false;
    if (src->len > MAX_FILE_BYTES) {
        menu_errors_add(L->errs, L->file, 0, 0, "file larger than %u bytes", MAX_FILE_BYTES);
        return true;
    }
    if (!plain_text(L, src->text, src->len) ||
        !nesting_ok(L, src->text, src->len))
        return true;
    bool oom = false;
    *doc = parse_yaml(L, src, &oom);
    if (oom) {
        L->oom = true;
        return false;
    }
    if (!*doc)
        return true;
    struct fy_node *root = fy_document_root(*doc);
    size_t before = L->errs->n;
    no_alias(L, root, 0);
    if (L->errs->n == before)
        declare_file(L, root);
    return true;
}

/* The nodes in declaration order, by_id sorted, then each one built. */
static void make_nodes(struct ld *L)
{
    struct menu_set *set = L->set;
    set->node = alloc(L, L->ndecl * sizeof *set->node);
    uint16_t *by = alloc(L, L->ndecl * sizeof *by);
    if (!set->node || !by)
        return;
    set->nnode = (uint16_t)L->ndecl;
    for (size_t i = 0; i < L->ndecl; i++) {
        struct menu_node *mn = &set->node[i];
        mn->id = L->decl[i].id;
        mn->kind = (uint8_t)L->decl[i].kind;
        mn->file = L->decl[i].file;
        pos(L->decl[i].id_node, &mn->line, &mn->col);
        mn->next = mn->on_fail = mn->on_error = mn->on_timeout = mn->dflt = MENU_NONE;
        mn->on_notfound = mn->on_locked = MENU_NONE;
        mn->var = MENU_NONE;
        by[i] = (uint16_t)i;
    }
    qsort_r(by, L->ndecl, sizeof *by, cmp_by_id, set);
    set->by_id = by;
    build_nodes(L);
}

/* The codes as dialled ("*100*2#"), each with its root node. */
static void make_codes(struct ld *L, const char *first_file)
{
    struct menu_set *set = L->set;
    set->code = alloc(L, (L->ncode ? L->ncode : 1) * sizeof *set->code);
    for (size_t i = 0; set->code && i < L->ncode; i++) {
        L->file = L->code_file[i];
        size_t l;
        const char *c = scalar(L, L->code_key[i], "code", &l);
        if (!c)
            continue;
        bool ok = l >= 3 && l <= 40 && c[0] == '*' && c[l - 1] == '#';
        for (size_t j = 1; ok && j + 1 < l; j++)
            ok = (c[j] >= '0' && c[j] <= '9') || (c[j] == '*' && c[j - 1] != '*');
        if (!ok) {
            err(L, L->code_key[i], "code '%.*s': write it as dialled, e.g. \"*100#\"",
                (int)(l > 40 ? 40 : l), c);
            continue;
        }
        if (menu_set_find_code(set, c, l)) {
            err(L, L->code_key[i], "code '%.*s' declared twice", (int)l, c);
            continue;
        }
        uint16_t root = target(L, L->code_val[i], L->code_key[i], "code");
        if (root == MENU_NONE)
            continue;
        set->code[set->ncode].code = sdup(L, c, l);
        set->code[set->ncode].root = root;
        set->ncode++;
    }
    if (L->ncode == 0)
        menu_errors_add(L->errs, first_file, 0, 0,
                        "no short code declared (codes: {\"*100#\": node})");
}

/* Pass 2 and the whole-set checks, each only while nothing failed. */
static void define(struct ld *L, const char *first_file)
{
    if (!L->oom) {
        parse_settings(L);
        if (L->set->nlang > 0) {
            declare_vars(L);
            run_settings(L, AT_TEXTS);
        }
    }
    if (!failed(L) && L->ndecl > 0)
        make_nodes(L);
    else if (!failed(L))
        menu_errors_add(L->errs, first_file, 0, 0, "the menu set has no nodes");
    if (!failed(L)) {
        make_codes(L, first_file);
        run_settings(L, AT_NODES);
    }
    if (!failed(L)) {
        L->checked = true;
        L->nerr_checks = L->errs->n + L->errs->dropped;
        check_graph(L);
        check_fit(L);
    }
}

/* A draft (menu_load_opts.draft) whose only faults are the whole-set
 * checks' is still built whole: the console draws its graph. */
static bool draft_ok(const struct ld *L, const struct menu_load_opts *o)
{
    return o && o->draft && L->checked && !L->oom && L->nerr_checks == L->nerr0;
}

static size_t set_cap(const struct menu_load_opts *o)
{
    return o && o->max_bytes ? o->max_bytes : MENU_SET_MAX_BYTES;
}

static void over_cap(struct menu_errors *errs, const char *file, size_t cap)
{
    menu_errors_add(errs, file, 0, 0,
                    "the menu set is larger than its cap of %zu bytes "
                    "(menus_max_bytes)", cap);
}

int menu_set_load_sources(const struct menu_source *src, size_t n,
                          const struct menu_override *ov, size_t nov,
                          struct menu_set **out, struct menu_errors *errs)
{
    struct menu_load_opts o = { .ov = ov, .nov = nov };
    return menu_set_load_sources_opts(src, n, &o, out, errs);
}

int menu_set_load_sources_opts(const struct menu_source *src, size_t n,
                               const struct menu_load_opts *o,
                               struct menu_set **out, struct menu_errors *errs)
{
    *out = NULL;
    size_t total = 0, cap = set_cap(o);
    for (size_t i = 0; i < n; i++) {
        total += src[i].len;
        if (total > cap) {
            over_cap(errs, src[i].name ? src[i].name : "<string>", cap);
            return -1;
        }
    }
    const struct menu_override *ov = o ? o->ov : NULL;
    size_t nov = o ? o->nov : 0;
    struct ld L0 = { 0 };
    struct ld *L = &L0;
    L->errs = errs;
    L->nerr0 = errs->n + errs->dropped;
    L->ov = ov;
    L->nov = nov;
    L->set = calloc(1, sizeof *L->set);
    struct fy_document **docs = calloc(n ? n : 1, sizeof *docs);
    if (!L->set || !docs) {
        free(L->set);
        free(docs);
        menu_errors_add(errs, NULL, 0, 0, "out of memory");
        return -1;
    }
    L->set->refs = 1;
    /* builtins first: phone, code, lang */
    var_add(L, "phone", 5, NULL);
    var_add(L, "code", 4, NULL);
    var_add(L, "lang", 4, NULL);
    for (size_t i = 0; i < n && read_source(L, &src[i], &docs[i]); i++)
        ;
    L->set->generation = generation(src, n, ov, nov);
    define(L, n ? src[0].name : NULL);
    if (L->oom)
        menu_errors_add(errs, NULL, 0, 0, "out of memory while loading menus");
    for (size_t i = 0; i < n; i++)
        if (docs[i])
            fy_document_destroy(docs[i]);
    free(docs);
    free(L->decl);
    free(L->code_key);
    free(L->code_val);
    free(L->code_file);
    struct menu_set *set = L->set;
    if (failed(L) && draft_ok(L, o)) {
        *out = set;
        return 1;
    }
    if (failed(L)) {
        menu_set_unref(set);
        return -1;
    }
    *out = set;
    return 0;
}

/* ---- directory ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool menu_file_name(const char *n)
{
    size_t l = strlen(n);
    if (n[0] == '.')
        return false;
    return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

enum { SLURP_OK, SLURP_LONG, SLURP_ERR };

/* Read path whole into *buf (malloc'd, *len bytes) unless it is longer
 * than limit (SLURP_LONG, read no further) or unreadable (SLURP_ERR,
 * errno set). */
static int slurp(const char *path, size_t limit, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return SLURP_ERR;
    size_t cap = limit < 8192 ? limit + 1 : 8192;
    char *b = malloc(cap);
    int r = b ? SLURP_OK : SLURP_ERR;
    while (r == SLURP_OK) {
        if (*len == cap) {
            size_t nc = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            char *nb = nc > cap ? realloc(b, nc) : NULL;
            if (!nb) {
                r = nc > cap ? SLURP_ERR : SLURP_LONG;
                break;
            }
            b = nb;
            cap = nc;
        }
        size_t got = fread(b + *len, 1, cap - *len, f);
        if (got == 0)
            break;
        *len += got;
    }
    if (r == SLURP_OK && ferror(f))
        r = SLURP_ERR;
    if (r == SLURP_OK && *len > limit)
        r = SLURP_LONG;
    int e = errno;
    fclose(f);
    errno = e;
    if (r != SLURP_OK) {
        free(b);
        return r;
    }
    *buf = b;
    return SLURP_OK;
}

int menu_set_load_dir_with(const char *dir, const struct menu_override *ov,
                           size_t nov, struct menu_set **out,
                           struct menu_errors *errs)
{
    struct menu_load_opts o = { .ov = ov, .nov = nov };
    return menu_set_load_dir_opts(dir, &o, out, errs);
}

int menu_set_load_dir_opts(const char *dir, const struct menu_load_opts *o,
                           struct menu_set **out, struct menu_errors *errs)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        menu_errors_add(errs, dir, 0, 0, "cannot open menu directory: %s", strerror(errno));
        return -1;
    }
    char *names[MAX_FILES];
    size_t nn = 0;
    struct dirent *de;
    bool too_many = false;
    while ((de = readdir(d)) != NULL) {
        if (!menu_file_name(de->d_name))
            continue;
        if (nn == MAX_FILES) {
            too_many = true;
            break;
        }
        size_t l = strlen(dir) + strlen(de->d_name) + 2;
        names[nn] = malloc(l);
        if (!names[nn])
            break;
        snprintf(names[nn], l, "%s/%s", dir, de->d_name);
        nn++;
    }
    closedir(d);
    int rc = -1;
    struct menu_source src[MAX_FILES];
    char *texts[MAX_FILES] = { 0 };
    size_t ok = 0;
    if (too_many)
        menu_errors_add(errs, dir, 0, 0, "more than %d menu files", MAX_FILES);
    else if (nn == 0)
        menu_errors_add(errs, dir, 0, 0, "no *.yaml or *.yml menu files");
    else {
        qsort(names, nn, sizeof names[0], cmp_str);
        size_t total = 0, cap = set_cap(o);
        for (size_t i = 0; i < nn; i++) {
            char *buf = NULL;
            size_t len = 0, limit = cap - total;
            int r = slurp(names[i], limit < MAX_FILE_BYTES ? limit : MAX_FILE_BYTES,
                          &buf, &len);
            if (r == SLURP_LONG && limit < MAX_FILE_BYTES) {
                over_cap(errs, names[i], cap);   /* read no further file */
                break;
            }
            if (r != SLURP_OK) {
                menu_errors_add(errs, names[i], 0, 0, r == SLURP_LONG ? "file too large"
                                : "cannot read: %s", strerror(errno));
                continue;
            }
            total += len;
            texts[i] = buf;
            src[ok].name = names[i];
            src[ok].text = buf;
            src[ok].len = len;
            ok++;
        }
        if (ok == nn)
            rc = menu_set_load_sources_opts(src, ok, o, out, errs);
    }
    for (size_t i = 0; i < nn; i++) {
        free(texts[i]);
        free(names[i]);
    }
    return rc;
}

int menu_set_load_dir(const char *dir, struct menu_set **out,
                      struct menu_errors *errs)
{
    return menu_set_load_dir_with(dir, NULL, 0, out, errs);
}
