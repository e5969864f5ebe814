/*
 * menus/dialog.c — dialog state: variables and the versioned byte codec.
 *
 * See dialog.h for the byte layout.  The decoder uses one bounds-checked
 * cursor; nothing is allocated.
 * May call: libc, menus/menu.c lookups, base/utf8.
 */
#include "menus/dialog.h"

#include <string.h>

#include "base/utf8.h"

#define DIALOG_VERSION 1

void menu_dialog_init(struct menu_dialog *d)
{
    memset(d, 0, sizeof *d);
    d->node = MENU_NONE;
    d->code = MENU_NONE;
    d->lang = 0xFF;
    d->wait = MENU_W_NONE;
}

const char *menu_dialog_get(const struct menu_dialog *d, uint16_t var)
{
    for (uint8_t i = 0; i < d->nvars; i++)
        if (d->vars[i].var == var)
            return d->vars[i].val;
    return NULL;
}

void menu_dialog_set(struct menu_dialog *d, uint16_t var, const char *val,
                     size_t len)
{
    len = kz_utf8_clip((const uint8_t *)val, len, MENU_VAL_MAX);
    struct menu_dialog_var *v = NULL;
    for (uint8_t i = 0; i < d->nvars; i++)
        if (d->vars[i].var == var)
            v = &d->vars[i];
    if (!v) {
        if (d->nvars == MENU_VARS_MAX) {
            memmove(&d->vars[0], &d->vars[1],
                    (MENU_VARS_MAX - 1) * sizeof d->vars[0]);
            d->nvars--;
        }
        v = &d->vars[d->nvars++];
        v->var = var;
    }
    memcpy(v->val, val, len);
    v->val[len] = '\0';
    v->len = (uint8_t)len;
}

/* ---- encoder ---- */

struct wcur {
    uint8_t *p;
    size_t n, cap;
    int bad;
    int nospace;
};

static void put(struct wcur *w, const void *src, size_t n)
{
    if (w->bad)
        return;
    if (w->cap - w->n < n) {
        w->bad = 1;
        w->nospace = 1;
        return;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void put_u8(struct wcur *w, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(w, &b, 1);
}

static void put_u16(struct wcur *w, unsigned v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    put(w, b, 2);
}

static void put_u32(struct wcur *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };
    put(w, b, 4);
}

static void put_str(struct wcur *w, const char *s, size_t len)
{
    if (len > 255) {
        w->bad = 1;
        return;
    }
    put_u8(w, (unsigned)len);
    put(w, s, len);
}

static void put_node(struct wcur *w, const struct menu_set *set, uint16_t ix)
{
    if (ix == MENU_NONE) {
        put_u8(w, 0);
        return;
    }
    if (ix >= set->nnode) {
        w->bad = 1;
        return;
    }
    put_str(w, set->node[ix].id, strlen(set->node[ix].id));
}

int menu_dialog_encode(const struct menu_set *set, const struct menu_dialog *d,
                       uint8_t *buf, size_t cap)
{
    if (!set || !d || !buf || d->wait >= MENU_W_COUNT ||
        d->resume_wait >= MENU_W_COUNT || d->depth > MENU_STACK_MAX ||
        d->nvars > MENU_VARS_MAX || d->app_len > MENU_APP_TEXT_MAX)
        return MENU_EINVAL;
    struct wcur w = { buf, 0, cap, 0, 0 };
    put_u8(&w, DIALOG_VERSION);
    put_u8(&w, d->wait);
    put_u8(&w, d->resume_wait);
    put_u8(&w, d->lang);
    put_u8(&w, d->retries);
    put_u16(&w, d->page);
    put_u32(&w, d->generation);
    put_u32(&w, d->last_active);
    if (d->code == MENU_NONE)
        put_u8(&w, 0);
    else if (d->code < set->ncode)
        put_str(&w, set->code[d->code].code, strlen(set->code[d->code].code));
    else
        return MENU_EINVAL;
    put_node(&w, set, d->node);
    put_u8(&w, d->depth);
    for (uint8_t i = 0; i < d->depth; i++)
        put_node(&w, set, d->stack[i]);
    put_u8(&w, d->nvars);
    for (uint8_t i = 0; i < d->nvars; i++) {
        if (d->vars[i].var >= set->nvar)
            return MENU_EINVAL;
        const char *name = set->var[d->vars[i].var].name;
        put_str(&w, name, strlen(name));
        put_str(&w, d->vars[i].val, d->vars[i].len);
    }
    put_str(&w, d->app, d->app_len);
    if (w.bad)
        return w.nospace ? MENU_ENOSPACE : MENU_EINVAL;
    return (int)w.n;
}

/* ---- decoder ---- */

struct rcur {
    const uint8_t *p;
    size_t n, off;
    int bad;
};

static unsigned get_u8(struct rcur *r)
{
    if (r->bad || r->n - r->off < 1) {
        r->bad = 1;
        return 0;
    }
    return r->p[r->off++];
}

static unsigned get_u16(struct rcur *r)
{
    unsigned lo = get_u8(r);
    unsigned hi = get_u8(r);
    return lo | hi << 8;
}

static uint32_t get_u32(struct rcur *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)get_u8(r) << (8 * i);
    return v;
}

/* A string: returns a pointer into the blob and its length. */
static const char *get_str(struct rcur *r, size_t *len)
{
    size_t l = get_u8(r);
    if (r->bad || r->n - r->off < l) {
        r->bad = 1;
        *len = 0;
        return NULL;
    }
    const char *s = (const char *)r->p + r->off;
    r->off += l;
    *len = l;
    return s;
}

/* 1 when s has no NUL byte (values become C strings). */
static int no_nul(const char *s, size_t len)
{
    return len == 0 || memchr(s, '\0', len) == NULL;
}

/* The fixed header: version, waits, language, retries, page, generation,
 * last activity.  *stale when the language left the set. */
static int decode_head(const struct menu_set *set, struct rcur *r,
                       struct menu_dialog *t, int *stale)
{
    if (get_u8(r) != DIALOG_VERSION)
        return MENU_ECORRUPT;
    t->wait = (uint8_t)get_u8(r);
    t->resume_wait = (uint8_t)get_u8(r);
    t->lang = (uint8_t)get_u8(r);
    t->retries = (uint8_t)get_u8(r);
    t->page = (uint16_t)get_u16(r);
    t->generation = get_u32(r);
    t->last_active = get_u32(r);
    if (r->bad || t->wait >= MENU_W_COUNT || t->resume_wait >= MENU_W_COUNT ||
        t->resume_wait == MENU_W_RESUME ||
        (t->wait == MENU_W_RESUME && (t->resume_wait == MENU_W_NONE || t->resume_wait == MENU_W_END)) ||
        (t->lang != 0xFF && t->lang >= MENU_MAX_LANGS))
        return MENU_ECORRUPT;
    if (t->lang != 0xFF && t->lang >= set->nlang)
        *stale = 1;
    return MENU_OK;
}

/* The code, the node and the back stack, by name.  *stale for a name the
 * set no longer has. */
static int decode_place(const struct menu_set *set, struct rcur *r,
                        struct menu_dialog *t, int *stale)
{
    size_t l;
    const char *s = get_str(r, &l);
    if (l) {
        const struct menu_code *c = menu_set_find_code(set, s, l);
        if (c)
            t->code = (uint16_t)(c - set->code);
        else
            *stale = 1;
    }
    s = get_str(r, &l);
    if (l) {
        t->node = menu_set_find_node(set, s, l);
        if (t->node == MENU_NONE)
            *stale = 1;
    }
    t->depth = (uint8_t)get_u8(r);
    if (t->depth > MENU_STACK_MAX)
        return MENU_ECORRUPT;
    for (uint8_t i = 0; i < t->depth; i++) {
        s = get_str(r, &l);
        if (r->bad || l == 0)
            return MENU_ECORRUPT;
        t->stack[i] = menu_set_find_node(set, s, l);
        if (t->stack[i] == MENU_NONE)
            *stale = 1;
    }
    return MENU_OK;
}

/* The variables, by name; one the set no longer assigns is dropped (and
 * makes the dialog stale). */
static int decode_vars(const struct menu_set *set, struct rcur *r,
                       struct menu_dialog *t, int *stale)
{
    unsigned nv = get_u8(r);
    if (nv > MENU_VARS_MAX)
        return MENU_ECORRUPT;
    for (unsigned i = 0; i < nv; i++) {
        size_t nl, vl;
        const char *name = get_str(r, &nl);
        const char *val = get_str(r, &vl);
        if (r->bad || nl == 0 || vl > MENU_VAL_MAX || !no_nul(val, vl))
            return MENU_ECORRUPT;
        uint16_t var = menu_set_find_var(set, name, nl);
        if (var == MENU_NONE || var < MENU_VAR_BUILTINS || set->var[var].constant) {
            *stale = 1;
            continue;
        }
        for (uint8_t k = 0; k < t->nvars; k++)
            if (t->vars[k].var == var)
                return MENU_ECORRUPT;   /* duplicate variable */
        t->vars[t->nvars].var = var;
        memcpy(t->vars[t->nvars].val, val, vl);
        t->vars[t->nvars].val[vl] = '\0';
        t->vars[t->nvars].len = (uint8_t)vl;
        t->nvars++;
    }
    return MENU_OK;
}

/* Whether a node of kind k can be what the dialog waits at. */
static int wait_fits(uint8_t w, uint8_t k)
{
    switch (w) {
    case MENU_W_INPUT:
        return k == MENU_K_MENU || k == MENU_K_INPUT || k == MENU_K_END;
    case MENU_W_HTTP:
        return k == MENU_K_HTTP;
    case MENU_W_STORE:
        return k == MENU_K_STATUS || k == MENU_K_SUBSCRIBE;
    case MENU_W_BOOKING:
    case MENU_W_BOOKING_INPUT:          /* issue 12: appeals run as one */
        return k == MENU_K_BOOKING || k == MENU_K_APPEAL;
    case MENU_W_APP:
    case MENU_W_APP_INPUT:
        return k == MENU_K_APP;
    default:
        return 1;
    }
}

int menu_dialog_decode(const struct menu_set *set, const uint8_t *buf,
                       size_t len, struct menu_dialog *d)
{
    menu_dialog_init(d);
    if (!set || !buf)
        return MENU_ECORRUPT;
    struct rcur r = { buf, len, 0, 0 };
    int stale = 0;
    struct menu_dialog t;
    menu_dialog_init(&t);
    int rc = decode_head(set, &r, &t, &stale);
    if (rc == MENU_OK)
        rc = decode_place(set, &r, &t, &stale);
    if (rc == MENU_OK)
        rc = decode_vars(set, &r, &t, &stale);
    if (rc != MENU_OK)
        return rc;
    size_t l;
    const char *s = get_str(&r, &l);
    if (r.bad || l > MENU_APP_TEXT_MAX || !no_nul(s, l))
        return MENU_ECORRUPT;
    memcpy(t.app, s, l);
    t.app[l] = '\0';
    t.app_len = (uint16_t)l;
    if (r.off != r.n)
        return MENU_ECORRUPT;   /* trailing bytes */
    /* consistency: a waiting dialog has a node and a code */
    if (t.wait != MENU_W_NONE && t.wait != MENU_W_END &&
        (t.node == MENU_NONE || t.code == MENU_NONE) && !stale)
        return MENU_ECORRUPT;
    if (stale)
        return MENU_ESTALE;
    /* the node's kind must match what the dialog waits for */
    if (t.node != MENU_NONE &&
        !wait_fits(t.wait == MENU_W_RESUME ? t.resume_wait : t.wait, set->node[t.node].kind))
        return MENU_ESTALE;
    *d = t;
    return MENU_OK;
}
