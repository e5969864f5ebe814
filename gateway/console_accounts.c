/*
 * gateway/console_accounts.c — the console's admin room: accounts and the
 * audit log (issue 10 console).  Routes, all for admins:
 *   GET  /console/api/accounts   {"accounts": [{name, role, created,
 *                                 disabled}]}
 *   POST /console/api/accounts   {"op": "create", "name", "role",
 *                                 "password"?} | {"op": "role", "name",
 *                                 "role"} | {"op": "disable"|"enable",
 *                                 "name"} | {"op": "password", "name",
 *                                 "password"?}.  Without a password one is
 *                                 generated and answered once.  The last
 *                                 enabled admin can be neither disabled nor
 *                                 demoted (409).  Disabling and a password
 *                                 reset end the account's sessions.
 *   GET  /console/api/audit      ?actor=&action=&from=&to=&before=&limit=
 *                                 {"entries": [...], "next": id | null}
 *   GET  /console/api/audit.csv  the same filters, as CSV (at most
 *                                 AUDIT_CSV_MAX rows), formula-safe cells
 * Every change is audited: who, from where, what (never a password).
 * Hashing runs on the console's pwhash worker; the answer follows it.
 * Owns: the jobs of its pending hashes.
 * May call: gateway/console, gateway/console_core, gateway/pwhash,
 * gateway/store, base/clock, libevent, jansson, libsodium, libc.
 */
#include "gateway/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "base/clock.h"
#include "gateway/pwhash.h"

#define ACCOUNTS_MAX 200
#define AUDIT_PAGE_MAX 200
#define AUDIT_CSV_MAX 100000
#define AUDIT_CSV_CHUNK 200

static json_t *account_json(const struct store_account *a)
{
    return json_pack("{s:s, s:s, s:I, s:b}", "name", a->name, "role", a->role,
                     "created", (json_int_t)a->created_at, "disabled",
                     a->disabled_at != 0);
}

static void h_accounts_get(struct console_req *r, void *arg)
{
    (void)arg;
    static struct store_account list[ACCOUNTS_MAX];   /* loop thread only */
    size_t n = 0;
    if (store_account_list(console_store(r->c), 0, list, ACCOUNTS_MAX, &n) !=
        STORE_OK) {
        console_error(r, 503, "database error");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, account_json(&list[i]));
    console_json(r, 200, json_pack("{s:o}", "accounts", a ? a : json_array()));
}

/* ---- changes that need a hash (create, password) ----------------------------- */

struct acct_job {
    struct console_req *r;
    bool create;
    char name[STORE_ACCOUNT_NAME_MAX];
    char role[STORE_ROLE_MAX];
    char generated[40];          /* answered once when we made it */
};

static void hashed(void *arg, int rc, const char *hash)
{
    struct acct_job *j = arg;
    struct console_req *r = j->r;
    struct store *st = console_store(r->c);
    int src = STORE_ERROR;
    if (rc == PWHASH_CANCELLED) {
        console_req_drop(r);    /* shutting down: evhttp drops it */
    } else if (rc != PWHASH_OK) {
        console_error(r, 500, "cannot hash the password");
    } else {
        src = j->create ? store_account_add(st, j->name, j->role, hash,
                                            (int64_t)kz_wall_ms(), NULL)
                        : store_account_set_pwhash(st, j->name, hash);
        if (src == STORE_OK && !j->create)
            store_sessions_del_account(st, j->name);
        if (src == STORE_OK)
            console_audit(r, NULL, j->create ? "account.create"
                                             : "account.password", j->name,
                          j->create ? json_pack("{s:s}", "role", j->role)
                                    : NULL);
        json_t *ans = json_pack("{s:b, s:s}", "ok", 1, "name", j->name);
        if (ans && j->generated[0])
            json_object_set_new(ans, "password", json_string(j->generated));
        if (src == STORE_OK)
            console_json(r, j->create ? 201 : 200, ans);
        else {
            json_decref(ans);
            console_error(r, src == STORE_CONFLICT ? 409 : src == STORE_NOTFOUND
                             ? 404 : 503, src == STORE_CONFLICT
                             ? "an account with that name exists"
                             : src == STORE_NOTFOUND ? "no such account"
                                                     : "database error");
        }
    }
    sodium_memzero(j, sizeof *j);
    free(j);
}

/* A generated password: 20 characters a person can type. */
static void gen_password(char *out, size_t n)
{
    static const char set[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
                              "23456789";
    for (size_t i = 0; i + 1 < n; i++)
        out[i] = set[randombytes_uniform(sizeof set - 1)];
    out[n - 1] = '\0';
}

static void start_hash(struct console_req *r, json_t *body, bool create,
                       const char *name, const char *role)
{
    struct acct_job *j = calloc(1, sizeof *j);
    const char *pw = json_string_value(json_object_get(body, "password"));
    const char *why = pw ? console_password_problem(pw) : NULL;
    if (!j || why) {
        free(j);
        console_error(r, j ? 400 : 500, why ? why : "out of memory");
        return;
    }
    j->r = r;
    j->create = create;
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->role, sizeof j->role, "%s", role ? role : "");
    if (!pw) {
        gen_password(j->generated, 21);
        pw = j->generated;
    }
    if (pwhash_hash(console_pwhash(r->c), pw, hashed, j) != 0) {
        free(j);
        console_error(r, 503, "busy hashing passwords; try again");
    }
}

/* ---- changes without a hash (role, disable, enable) --------------------------- */

/* Would this change leave no enabled admin?  (name loses admin power) */
static bool last_admin(struct store *st, const struct store_account *a)
{
    int64_t admins = 0;
    return strcmp(a->role, "admin") == 0 && !a->disabled_at &&
           store_account_counts(st, NULL, &admins) == STORE_OK && admins <= 1;
}

static void plain_change(struct console_req *r, const char *op,
                         const struct store_account *a, const char *role)
{
    struct store *st = console_store(r->c);
    bool demote = strcmp(op, "disable") == 0 ||
                  (strcmp(op, "role") == 0 && strcmp(role, "admin") != 0);
    if (demote && last_admin(st, a)) {
        console_error(r, 409, "that is the last enabled admin");
        return;
    }
    int rc;
    json_t *detail = NULL;
    if (strcmp(op, "role") == 0) {
        rc = store_account_set_role(st, a->name, role);
        detail = json_pack("{s:s, s:s}", "from", a->role, "to", role);
    } else {
        bool off = strcmp(op, "disable") == 0;
        rc = store_account_set_disabled(st, a->name,
                                        off ? (int64_t)kz_wall_ms() : 0);
        if (rc == STORE_OK && off)
            store_sessions_del_account(st, a->name);
    }
    if (rc != STORE_OK) {
        json_decref(detail);
        console_error(r, 503, "database error");
        return;
    }
    char action[32];
    snprintf(action, sizeof action, "account.%s", op);
    console_audit(r, NULL, action, a->name, detail);
    console_answer_committed(r, 200, json_pack("{s:b, s:s}", "ok", 1, "name", a->name),
                             NULL);
}

static void h_accounts_post(struct console_req *r, void *arg)
{
    (void)arg;
    json_t *b = console_body_json(r);
    const char *op = json_string_value(json_object_get(b, "op"));
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *role = json_string_value(json_object_get(b, "role"));
    struct store_account a;
    bool exists = name && console_name_ok(name) &&
                  store_account_get(console_store(r->c), name, &a) == STORE_OK;
    if (!op || !name || !console_name_ok(name))
        console_error(r, 400, "want op and a name of 1-64 [a-z0-9._@-] "
                      "starting with a letter or digit");
    else if ((!strcmp(op, "create") || !strcmp(op, "role")) &&
             console_role_parse(role) < 0)
        console_error(r, 400, "role: viewer, editor, publisher or admin");
    else if (!strcmp(op, "create") && exists)
        console_error(r, 409, "an account with that name exists");
    else if (!strcmp(op, "create"))
        start_hash(r, b, true, name, role);
    else if (!exists)
        console_error(r, 404, "no such account");
    else if (!strcmp(op, "password"))
        start_hash(r, b, false, name, NULL);
    else if (!strcmp(op, "role") || !strcmp(op, "disable") ||
             !strcmp(op, "enable"))
        plain_change(r, op, &a, role);
    else
        console_error(r, 400, "op: create, role, disable, enable or password");
    json_decref(b);
}

/* ---- the audit log ------------------------------------------------------------------- */

/* The filter from r's query; false (answered 400) when it is bad. */
static bool audit_filter(struct console_req *r, struct store_audit_filter *f,
                         char *actor, char *action, size_t cap, size_t *limit)
{
    char v[64];
    memset(f, 0, sizeof *f);
    f->actor = console_query(r, "actor", actor, cap) ? actor : NULL;
    f->action = console_query(r, "action", action, cap) ? action : NULL;
    bool ok = true;
    if (console_query(r, "from", v, sizeof v) && *v)
        ok = (f->from = console_parse_time(v, false)) >= 0;
    if (ok && console_query(r, "to", v, sizeof v) && *v)
        ok = (f->to = console_parse_time(v, true)) >= 0;
    if (ok && console_query(r, "before", v, sizeof v) && *v)
        ok = (f->before_id = console_parse_time(v, false)) > 0;
    if (ok && limit && console_query(r, "limit", v, sizeof v) && *v) {
        int64_t n = console_parse_time(v, false);
        ok = n > 0;
        *limit = n > AUDIT_PAGE_MAX ? AUDIT_PAGE_MAX : (size_t)n;
    }
    if (!ok)
        console_error(r, 400, "from/to: YYYY-MM-DD or ms since the epoch; "
                      "before and limit: positive numbers");
    return ok;
}

static json_t *audit_json(const struct store_audit_rec *e)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "id",
                     (json_int_t)e->id, "at", (json_int_t)e->at, "actor",
                     e->actor, "peer", e->peer, "action", e->action, "target",
                     e->target, "detail", e->detail);
}

static void h_audit(struct console_req *r, void *arg)
{
    (void)arg;
    static struct store_audit_rec page[AUDIT_PAGE_MAX];   /* loop only */
    struct store_audit_filter f;
    char actor[STORE_ACCOUNT_NAME_MAX + 8], action[64];
    size_t limit = 50, n = 0;
    if (!audit_filter(r, &f, actor, action, sizeof action, &limit))
        return;
    if (store_audit_list(console_store(r->c), &f, page, limit, &n) != STORE_OK) {
        console_error(r, 503, "database error");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, audit_json(&page[i]));
    json_t *next = n == limit && n ? json_integer((json_int_t)page[n - 1].id)
                                   : json_null();
    console_json(r, 200, json_pack("{s:o, s:o}", "entries", a ? a : json_array(),
                                   "next", next));
}

/* One CSV row of e into b. */
static void csv_row(struct evbuffer *b, const struct store_audit_rec *e)
{
    char num[2][32];
    snprintf(num[0], sizeof num[0], "%lld", (long long)e->id);
    snprintf(num[1], sizeof num[1], "%lld", (long long)e->at);
    const char *cells[] = { num[0], num[1], e->actor, e->peer, e->action,
                            e->target, e->detail };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        char *c = console_csv_cell(cells[i]);
        evbuffer_add_printf(b, "%s%s", i ? "," : "", c ? c : "");
        free(c);
    }
    evbuffer_add(b, "\r\n", 2);
}

static void h_audit_csv(struct console_req *r, void *arg)
{
    (void)arg;
    static struct store_audit_rec page[AUDIT_CSV_CHUNK];  /* loop only */
    struct store_audit_filter f;
    char actor[STORE_ACCOUNT_NAME_MAX + 8], action[64];
    if (!audit_filter(r, &f, actor, action, sizeof action, NULL))
        return;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        console_error(r, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "id,at,actor,peer,action,target,detail\r\n");
    size_t total = 0, n = AUDIT_CSV_CHUNK;
    int rc = STORE_OK;
    while (rc == STORE_OK && n == AUDIT_CSV_CHUNK && total < AUDIT_CSV_MAX) {
        rc = store_audit_list(console_store(r->c), &f, page, AUDIT_CSV_CHUNK, &n);
        for (size_t i = 0; rc == STORE_OK && i < n; i++)
            csv_row(b, &page[i]);
        total += n;
        if (n)
            f.before_id = page[n - 1].id;
    }
    size_t len = evbuffer_get_length(b);
    unsigned char *body = evbuffer_pullup(b, -1);
    evhttp_add_header(evhttp_request_get_output_headers(r->req),
                      "Content-Disposition", "attachment; filename=\"audit.csv\"");
    if (rc != STORE_OK)
        console_error(r, 503, "database error");
    else
        console_send(r, 200, "text/csv; charset=utf-8", (const char *)body, len);
    evbuffer_free(b);
}

int console_accounts_routes(struct console *c)
{
    int rc = console_route(c, EVHTTP_REQ_GET, "/console/api/accounts",
                           CONSOLE_ADMIN, h_accounts_get, NULL);
    rc |= console_route(c, EVHTTP_REQ_POST, "/console/api/accounts",
                        CONSOLE_ADMIN, h_accounts_post, NULL);
    rc |= console_route(c, EVHTTP_REQ_GET, "/console/api/audit", CONSOLE_ADMIN,
                        h_audit, NULL);
    rc |= console_route(c, EVHTTP_REQ_GET, "/console/api/audit.csv",
                        CONSOLE_ADMIN, h_audit_csv, NULL);
    return rc ? -1 : 0;
}
