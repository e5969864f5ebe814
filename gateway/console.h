/*
 * gateway/console.h — the operators' console (issue 10): its HTTP room on
 * the admin listener, under /console/.
 *
 * What it serves (routes and minimum roles in console.c's table):
 *   GET  /console/login            the login form (no session needed)
 *   POST /console/login            JSON {"name","password"} or a form;
 *                                  sets the session cookie; JSON answers
 *                                  {"name","role","csrf"}, a form gets a
 *                                  303 to /console/
 *   POST /console/logout           ends the session (CSRF)
 *   GET  /console/api/me           {"name","role","csrf","expires"}
 *   GET/POST /console/api/accounts admin: list; create, role, disable,
 *                                  enable, password (console_accounts.c)
 *   GET  /console/api/audit        admin: filtered, paged; audit.csv: CSV
 *   GET  /console/, /accounts, /audit and /console/static/NAME: pages
 *                                  from the console folder
 * /metrics, /healthz and /readyz stay outside the console: scrapers and
 * load balancers do not log in.
 *
 * Sessions: a random 32-byte token in the cookie "kz_console" (HttpOnly,
 * SameSite=Strict, Path=/console, Secure when the listener is HTTPS);
 * the store keeps its SHA-256 only.  A session ends after idle_ms without
 * a request or max_ms after the login, at logout, and when its account is
 * disabled or its password reset.  Every method but GET and HEAD must
 * carry the session's CSRF token in X-CSRF-Token (and an Origin header,
 * when sent, must match Host), else 403.  Without a session a page
 * redirects to /console/login and /console/api/... answers 401 JSON.
 * Failed logins: per peer address and per account name at most
 * login_max per login_window_ms, then 429 with Retry-After; each failure
 * is audited.  Passwords are checked on gateway/pwhash's worker thread,
 * never on the loop.
 *
 * Adding a room (the menus workspace, the emulator, publish): one line,
 *     console_route(c, EVHTTP_REQ_POST, "/console/api/publish",
 *                   CONSOLE_PUBLISHER, h_publish, arg);
 * before or after console_new's own routes (exact paths; a path ending in
 * '/' matches everything below it).  The handler's contract:
 *     void h(struct console_req *r, void *arg);
 *   - it runs on the loop only after the session, the role and (for a
 *     change) the CSRF token were checked; r->who is the caller;
 *   - it answers exactly once, with console_json / console_error /
 *     console_send, now or later (keep r; console_req_free is done by
 *     the answer).  An answer given later must come before console_free;
 *   - it audits what it changes with console_audit (never a secret);
 *   - r->body is the request body, NUL-terminated (r->body_len bytes).
 *
 * Ownership: struct console is owned by its creator (gateway/admin) and
 * freed with console_free (before the http edge it serves: requests still
 * waiting for a password check are dropped unanswered, and evhttp frees
 * them with their connections).  It borrows the store and the base.  Loop
 * thread only.
 * May call: gateway/console_core, gateway/pwhash, gateway/store,
 * gateway/log, base/clock, base/sha256, libevent, jansson, libsodium
 * (random bytes), libc.
 */
#ifndef KYZMAT_GATEWAY_CONSOLE_H
#define KYZMAT_GATEWAY_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <jansson.h>

#include "gateway/console_core.h"
#include "gateway/store.h"

struct console;
struct event_base;

struct console_opts {
    struct store *store;        /* borrowed; NULL: every route answers 503 */
    const char *dir;            /* the static folder ("": see console.c) */
    bool https;                 /* the listener is HTTPS: cookies get
                                 * Secure (set by the TLS listener setup) */
    uint64_t idle_ms;           /* 0: 30 min */
    uint64_t max_ms;            /* 0: 12 h */
    unsigned login_max;         /* 0: 5 */
    uint64_t login_window_ms;   /* 0: 15 min */
};

/* Who is calling (the session's account as it is now). */
struct console_who {
    char name[STORE_ACCOUNT_NAME_MAX];
    int role;                   /* enum console_role */
    char csrf[STORE_CSRF_MAX];
    uint8_t sid[32];            /* the session's hash */
    int64_t expires_at;
};

struct console_req {
    struct console *c;
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    char path[256];             /* without the query */
    const char *query;          /* after '?', or "" (points into uri) */
    char *body;                 /* NUL-terminated; never NULL */
    size_t body_len;
    char peer[64];              /* the client's address */
    bool has_session;
    struct console_who who;
};

typedef void console_handler_fn(struct console_req *r, void *arg);

struct console *console_new(struct event_base *base,
                            const struct console_opts *o, char *err,
                            size_t errlen);
void console_free(struct console *c);
/* The folder pages are served from (after the default was resolved). */
const char *console_dir(const struct console *c);

/* Register a route; 0, or -1 (table full).  path is borrowed (a static
 * string).  method EVHTTP_REQ_GET also answers HEAD. */
int console_route(struct console *c, enum evhttp_cmd_type method,
                  const char *path, int min_role, console_handler_fn *fn,
                  void *arg);

/* admin.c's router: true when req is the console's (path /console or
 * below); it is then answered (now or later). */
bool console_handle(struct console *c, struct evhttp_request *req);

/* ---- for handlers: answers (each frees r) ---------------------------- */
void console_send(struct console_req *r, int code, const char *type,
                  const char *body, size_t len);
/* j is taken. */
void console_json(struct console_req *r, int code, json_t *j);
void console_error(struct console_req *r, int code, const char *msg);
/* The answer that promises what this pass wrote: sent once the store's
 * batch is committed (j, or a 303 to location when location is set); a
 * failed commit answers 503 instead.  j is taken. */
void console_answer_committed(struct console_req *r, int code, json_t *j,
                              const char *location);

/* Serve the file rel (checked with console_path_safe; its type by
 * console_content_type) of the folder root, read at once (at most 1 MiB,
 * O_NOFOLLOW), else 404 (issue 10 console-ws: the vendor folders). */
void console_send_file(struct console_req *r, const char *root, const char *rel);

/* Forget r without answering: only from a PWHASH_CANCELLED callback (the
 * console is being freed and evhttp frees the request itself). */
void console_req_drop(struct console_req *r);

/* The store (NULL when none). */
struct store *console_store(const struct console *c);
/* Write an audit row: actor r->who.name (or actor when given), r->peer. */
void console_audit(struct console_req *r, const char *actor,
                   const char *action, const char *target, json_t *detail);
/* The JSON body as an object (NULL: not JSON or not an object) — the
 * caller decrefs. */
json_t *console_body_json(const struct console_req *r);
/* A query parameter (decoded) into out; false when absent or too long. */
bool console_query(const struct console_req *r, const char *key, char *out,
                   size_t cap);
/* pwhash's worker, for handlers that hash (accounts). */
struct pwhash *console_pwhash(const struct console *c);

/* The admin pages' routes (console_accounts.c). */
int console_accounts_routes(struct console *c);

#endif
