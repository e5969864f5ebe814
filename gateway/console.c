/*
 * gateway/console.c — the operators' console's shell on the admin
 * listener: the route table, sessions, CSRF, login and logout, the
 * static pages (the contract is in console.h).
 *
 * Design.  console_handle takes every request under /console: it makes a
 * struct console_req (path, query, body copy, peer), finds the route,
 * then checks in this order: a session when the route needs one (else 401
 * JSON for /console/api/..., a 303 to the login page for pages), the role
 * (403), and for every method but GET/HEAD the Origin and the CSRF token
 * (403).  Only then does the handler run.  A request lives until its
 * answer (console_send frees it); the login keeps it across the password
 * check on gateway/pwhash's worker, whose callback answers on the loop.
 * Sessions are rows of the store (console_sessions), found by the SHA-256
 * of the cookie's token; last_seen is written at most once a minute per
 * session, so browsing costs reads, not writes.
 *
 * Static files: pages and assets are read from the console folder at
 * request time (small files, at most CONSOLE_FILE_MAX, on local disk),
 * after console_path_safe refused traversal, opened with O_NOFOLLOW.  The
 * folder: opts.dir, else <the binary's folder>/../console when it exists
 * (build/kyzmatd in a source tree), else /usr/share/kyzmat/console.
 *
 * Owns: the route table, the limiter, the pwhash worker, the requests in
 * flight (each until its answer).  Borrows the store and the base.
 * May call: gateway/console_core, gateway/pwhash, gateway/store,
 * gateway/log, base/clock, base/sha256, libevent, jansson, libsodium,
 * libc.
 */
#include "gateway/console.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "base/clock.h"
#include "base/sha256.h"
#include "gateway/log.h"
#include "gateway/pwhash.h"

#define PEER "console"
#define COOKIE "kz_console"
#define ROUTES_MAX 64
#define CONSOLE_FILE_MAX (1u << 20)
#define TOUCH_EVERY_MS 60000
#define SHARE_DIR "/usr/share/kyzmat/console"

struct route {
    enum evhttp_cmd_type method;
    const char *path;
    int min_role;
    console_handler_fn *fn;
    void *arg;
};

struct console {
    struct store *st;
    struct pwhash *pw;
    char dir[PATH_MAX];
    bool https;
    int64_t idle_ms, max_ms;
    struct console_limiter *limit;
    struct route routes[ROUTES_MAX];
    size_t nroutes;
};

/* ---- answers ------------------------------------------------------------- */

static void req_free(struct console_req *r)
{
    if (!r)
        return;
    if (r->body)
        sodium_memzero(r->body, r->body_len);   /* may hold a password */
    free(r->body);
    free(r);
}

void console_send(struct console_req *r, int code, const char *type,
                  const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b && r->method != EVHTTP_REQ_HEAD)
        evbuffer_add(b, body, len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "same-origin");
    evhttp_add_header(h, "Content-Security-Policy", "default-src 'self'; "
                      "frame-ancestors 'none'; form-action 'self'");
    evhttp_send_reply(r->req, code, NULL, b);
    if (b)
        evbuffer_free(b);
    req_free(r);
}

void console_json(struct console_req *r, int code, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    const char *body = s ? s : "{\"error\":\"out of memory\",\"field\":null}";
    console_send(r, s ? code : 500, "application/json", body, strlen(body));
    free(s);
}

void console_error(struct console_req *r, int code, const char *msg)
{
    console_json(r, code, json_pack("{s:s, s:n}", "error", msg, "field"));
}

static void redirect(struct console_req *r, const char *to)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", to);
    console_send(r, 303, "text/plain; charset=utf-8", "see other\n", 10);
}

/* ---- helpers for handlers ---------------------------------------------------- */

struct committed_wait {
    struct console_req *r;
    int code;
    json_t *j;
    char location[64];
};

static void on_committed(void *arg, int rc)
{
    struct committed_wait *w = arg;
    if (rc != STORE_OK) {
        json_decref(w->j);
        console_error(w->r, 503, "database error: the change was not kept");
    } else if (w->location[0]) {
        json_decref(w->j);
        redirect(w->r, w->location);
    } else {
        console_json(w->r, w->code, w->j);
    }
    free(w);
}

void console_answer_committed(struct console_req *r, int code, json_t *j,
                              const char *location)
{
    struct committed_wait *w = calloc(1, sizeof *w);
    if (!w || store_on_commit(r->c->st, on_committed, w) != STORE_OK) {
        free(w);
        json_decref(j);
        console_error(r, 503, "out of memory");
        return;
    }
    *w = (struct committed_wait){ .r = r, .code = code, .j = j };
    if (location)
        snprintf(w->location, sizeof w->location, "%s", location);
}

void console_req_drop(struct console_req *r)
{
    req_free(r);
}

struct store *console_store(const struct console *c)
{
    return c->st;
}

struct pwhash *console_pwhash(const struct console *c)
{
    return c->pw;
}

const char *console_dir(const struct console *c)
{
    return c->dir;
}

void console_audit(struct console_req *r, const char *actor,
                   const char *action, const char *target, json_t *detail)
{
    char *d = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    struct store_audit a = {
        .at = (int64_t)kz_wall_ms(), .actor = actor ? actor : r->who.name,
        .peer = r->peer, .action = action, .target = target, .detail = d,
    };
    int rc = r->c->st ? store_audit_add(r->c->st, &a) : STORE_ERROR;
    if (rc != STORE_OK)
        log_msg(KLOG_ERROR, PEER, "audit %s by %s: %s", action, a.actor,
                r->c->st ? store_errmsg(r->c->st) : "no database");
    log_msg(KLOG_INFO, PEER, "%s %s%s%s from %s", a.actor, action,
            target && *target ? " " : "", target ? target : "", r->peer);
    free(d);
}

json_t *console_body_json(const struct console_req *r)
{
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Parameter key of a query string or form body into out. */
static bool param(const char *qs, const char *key, char *out, size_t cap)
{
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (!qs || evhttp_parse_query_str(qs, &q) != 0) {
        evhttp_clear_headers(&q);
        return false;
    }
    const char *v = evhttp_find_header(&q, key);
    bool ok = v && strlen(v) < cap;
    if (ok)
        memcpy(out, v, strlen(v) + 1);
    evhttp_clear_headers(&q);
    return ok;
}

bool console_query(const struct console_req *r, const char *key, char *out,
                   size_t cap)
{
    return param(r->query, key, out, cap);
}

/* ---- routes --------------------------------------------------------------------- */

int console_route(struct console *c, enum evhttp_cmd_type method,
                  const char *path, int min_role, console_handler_fn *fn,
                  void *arg)
{
    if (c->nroutes >= ROUTES_MAX)
        return -1;
    c->routes[c->nroutes++] = (struct route){ method, path, min_role, fn, arg };
    return 0;
}

/* The route for method and path; *path_known: some route has the path. */
static const struct route *find_route(const struct console *c,
                                      enum evhttp_cmd_type m, const char *path,
                                      bool *path_known)
{
    *path_known = false;
    if (m == EVHTTP_REQ_HEAD)
        m = EVHTTP_REQ_GET;
    const struct route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct route *rt = &c->routes[i];
        size_t n = strlen(rt->path);
        bool prefix = rt->path[n - 1] == '/' && n > strlen("/console/");
        bool match = prefix ? strncmp(path, rt->path, n) == 0
                            : strcmp(path, rt->path) == 0;
        if (!match)
            continue;
        *path_known = true;
        if (rt->method == m && (!best || n > best_len)) {
            best = rt;
            best_len = n;
        }
    }
    return best;
}

/* ---- sessions ----------------------------------------------------------------------- */

/* The caller's session into r->who; false when none is live. */
static bool load_session(struct console_req *r)
{
    struct console *c = r->c;
    const char *cookie = evhttp_find_header(
        evhttp_request_get_input_headers(r->req), "Cookie");
    char tok[CONSOLE_TOKEN_HEX + 2];
    if (!c->st || !cookie || !console_cookie_get(cookie, COOKIE, tok, sizeof tok) ||
        !console_token_ok(tok))
        return false;
    kz_sha256(tok, strlen(tok), r->who.sid);
    struct store_session s;
    if (store_session_get(c->st, r->who.sid, sizeof r->who.sid, &s) != STORE_OK)
        return false;
    int64_t now = (int64_t)kz_wall_ms();
    int role = console_role_parse(s.role);
    if (s.disabled || role < 0 ||
        !console_session_live(now, s.last_seen, s.expires_at, c->idle_ms)) {
        store_session_del(c->st, r->who.sid, sizeof r->who.sid);
        return false;
    }
    if (now - s.last_seen >= TOUCH_EVERY_MS)
        store_session_touch(c->st, r->who.sid, sizeof r->who.sid, now);
    snprintf(r->who.name, sizeof r->who.name, "%s", s.name);
    snprintf(r->who.csrf, sizeof r->who.csrf, "%s", s.csrf);
    r->who.role = role;
    r->who.expires_at = s.expires_at;
    r->has_session = true;
    return true;
}

/* A change from a page of ours?  When the browser names the Origin it
 * must be this host (a form posted from elsewhere is refused even before
 * the CSRF token is looked at). */
static bool origin_ok(const struct console_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    const char *origin = evhttp_find_header(h, "Origin");
    const char *host = evhttp_find_header(h, "Host");
    if (!origin)
        return true;
    const char *p = strstr(origin, "://");
    return p && host && strcmp(p + 3, host) == 0;
}

static bool csrf_ok(const struct console_req *r)
{
    const char *t = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                       "X-CSRF-Token");
    return r->has_session && console_secret_eq(t, r->who.csrf);
}

/* ---- the request's way in ---------------------------------------------------------- */

static struct console_req *req_new(struct console *c, struct evhttp_request *req,
                                   const char *uri, size_t plen)
{
    struct console_req *r = calloc(1, sizeof *r);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = in ? evbuffer_get_length(in) : 0;
    if (r)
        r->body = malloc(blen + 1);
    if (!r || !r->body) {
        req_free(r);
        return NULL;
    }
    if (blen)
        evbuffer_copyout(in, r->body, blen);
    r->body[blen] = '\0';
    r->body_len = blen;
    r->c = c;
    r->req = req;
    r->method = evhttp_request_get_command(req);
    snprintf(r->path, sizeof r->path, "%.*s", (int)plen, uri);
    r->query = uri[plen] == '?' ? uri + plen + 1 : "";
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (evcon)
        evhttp_connection_get_peer(evcon, &addr, &port);
    snprintf(r->peer, sizeof r->peer, "%s", addr ? addr : "?");
    return r;
}

/* Refuse r for want of a session: 401 JSON for the API, the login page
 * for a page. */
static void no_session(struct console_req *r)
{
    if (strncmp(r->path, "/console/api/", 13) == 0 || r->method != EVHTTP_REQ_GET)
        console_error(r, 401, "log in first: POST /console/login");
    else
        redirect(r, "/console/login");
}

bool console_handle(struct console *c, struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri ? uri : "", "?#");
    if (!uri || (strncmp(uri, "/console", 8) != 0) ||
        (plen > 8 && uri[8] != '/'))
        return false;
    struct console_req *r = plen < 256 ? req_new(c, req, uri, plen) : NULL;
    if (!r) {
        evhttp_send_error(req, plen < 256 ? 503 : 414, NULL);
        return true;
    }
    bool known;
    const struct route *rt = find_route(c, r->method, r->path, &known);
    if (!rt) {
        console_error(r, known ? 405 : 404, known ? "method not allowed"
                                                  : "no such console page");
        return true;
    }
    if (!c->st) {
        console_error(r, 503, "the console needs the database");
        return true;
    }
    bool change = r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD;
    bool live = load_session(r);
    if (rt->min_role > CONSOLE_NOBODY && !live) {
        no_session(r);
        return true;
    }
    if (!console_role_allows(r->who.role, rt->min_role)) {
        console_error(r, 403, "your role may not do this");
        return true;
    }
    if (change && (!origin_ok(r) ||
                   (rt->min_role > CONSOLE_NOBODY && !csrf_ok(r)))) {
        console_error(r, 403, "missing or wrong X-CSRF-Token (or a foreign "
                      "Origin)");
        return true;
    }
    rt->fn(r, rt->arg);
    return true;
}

/* ---- static pages ---------------------------------------------------------------------- */

/* Serve the file rel of the folder root (issue 10 console-ws: also the
 * vendor folders of gateway/console_menus). */
void console_send_file(struct console_req *r, const char *root, const char *rel)
{
    const char *type = console_content_type(rel);
    char path[PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = type && console_path_safe(rel)
                 ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    struct stat sb;
    char *buf = NULL;
    ssize_t got = -1;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
        sb.st_size <= (off_t)CONSOLE_FILE_MAX &&
        (buf = malloc((size_t)sb.st_size + 1)) != NULL)
        got = read(fd, buf, (size_t)sb.st_size);
    if (fd >= 0)
        close(fd);
    if (got < 0) {
        free(buf);
        console_error(r, 404, "no such file");
        return;
    }
    console_send(r, 200, type, buf, (size_t)got);
    free(buf);
}

/* Serve the file rel of the console folder. */
static void send_file(struct console_req *r, const char *rel)
{
    console_send_file(r, r->c->dir, rel);
}

static void h_page(struct console_req *r, void *arg)
{
    send_file(r, arg);
}

static void h_static(struct console_req *r, void *arg)
{
    (void)arg;
    const char *rel = r->path + strlen("/console/static/");
    if (!console_path_safe(rel)) {
        console_error(r, 400, "refused: not a plain file name");
        return;
    }
    char sub[200];
    snprintf(sub, sizeof sub, "static/%s", rel);
    send_file(r, sub);
}

static void h_root(struct console_req *r, void *arg)
{
    (void)arg;
    redirect(r, "/console/");
}

/* ---- login, logout, me ------------------------------------------------------------------- */

struct login {
    struct console_req *r;
    struct store_account acct;
    bool found, form;
    char name[STORE_ACCOUNT_NAME_MAX];
};

static void login_failed(struct login *l, const char *why)
{
    struct console_req *r = l->r;
    uint64_t now = kz_mono_ms();
    char key[CONSOLE_LIMIT_KEY];
    console_limit_fail(r->c->limit, r->peer, now);
    snprintf(key, sizeof key, "name:%s", l->name);
    console_limit_fail(r->c->limit, key, now);
    console_audit(r, l->name, "login.failed", l->name,
                  json_pack("{s:s}", "reason", why));
    if (l->form)
        redirect(r, "/console/login?failed=1");
    else
        console_error(r, 401, "wrong name or password");
}

/* A new session for l's account: cookie and answer. */
static void login_ok(struct login *l)
{
    struct console_req *r = l->r;
    struct console *c = r->c;
    uint8_t raw[CONSOLE_TOKEN_BYTES], sid[32];
    char tok[CONSOLE_TOKEN_HEX + 1], csrf[CONSOLE_TOKEN_HEX + 1], cookie[256];
    randombytes_buf(raw, sizeof raw);
    console_hex(raw, sizeof raw, tok);
    randombytes_buf(raw, sizeof raw);
    console_hex(raw, sizeof raw, csrf);
    sodium_memzero(raw, sizeof raw);
    kz_sha256(tok, strlen(tok), sid);
    int64_t now = (int64_t)kz_wall_ms();
    store_sessions_prune(c->st, now, 100, NULL);
    if (store_session_add(c->st, sid, sizeof sid, l->acct.id, csrf, now,
                          now + c->max_ms) != STORE_OK ||
        console_cookie_format(cookie, sizeof cookie, COOKIE, tok, c->https,
                              (long)(c->max_ms / 1000)) < 0) {
        console_error(r, 503, "cannot store the session; try again");
        return;
    }
    console_limit_clear(c->limit, l->name);
    snprintf(r->who.name, sizeof r->who.name, "%s", l->acct.name);
    console_audit(r, NULL, "login", l->acct.name,
                  json_pack("{s:s}", "role", l->acct.role));
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Set-Cookie",
                      cookie);
    /* the cookie is good only once its session is stored */
    console_answer_committed(r, 200, l->form ? NULL : json_pack(
                                 "{s:s, s:s, s:s, s:I}", "name", l->acct.name,
                                 "role", l->acct.role, "csrf", csrf, "expires",
                                 (json_int_t)(now + c->max_ms)),
                             l->form ? "/console/" : NULL);
}

static void login_checked(void *arg, int rc, const char *hash)
{
    (void)hash;
    struct login *l = arg;
    if (rc == PWHASH_CANCELLED)
        console_req_drop(l->r);         /* shutting down: evhttp drops it */
    else if (rc == PWHASH_OK && l->found && !l->acct.disabled_at)
        login_ok(l);
    else
        login_failed(l, !l->found ? "no such account"
                        : l->acct.disabled_at ? "account disabled"
                        : rc == PWHASH_MISMATCH ? "wrong password" : "check failed");
    sodium_memzero(l, sizeof *l);
    free(l);
}

/* name and password from a JSON or form body into l / pw. */
static bool login_fields(struct console_req *r, struct login *l, char *pw,
                         size_t pwcap)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                        "Content-Type");
    l->form = ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
    if (l->form)
        return param(r->body, "name", l->name, sizeof l->name) &&
               param(r->body, "password", pw, pwcap);
    json_t *j = console_body_json(r);
    const char *n = json_string_value(json_object_get(j, "name"));
    const char *p = json_string_value(json_object_get(j, "password"));
    bool ok = n && p && strlen(n) < sizeof l->name && strlen(p) < pwcap;
    if (ok) {
        snprintf(l->name, sizeof l->name, "%s", n);
        snprintf(pw, pwcap, "%s", p);
    }
    json_decref(j);
    return ok;
}

static void h_login_post(struct console_req *r, void *arg)
{
    (void)arg;
    struct console *c = r->c;
    struct login *l = calloc(1, sizeof *l);
    char pw[PWHASH_PASSWORD_MAX + 1];
    if (!l || !login_fields(r, l, pw, sizeof pw)) {
        free(l);
        console_error(r, 400, "want name and password (JSON or a form)");
        return;
    }
    l->r = r;
    char key[CONSOLE_LIMIT_KEY];
    snprintf(key, sizeof key, "name:%s", l->name);
    uint64_t now = kz_mono_ms();
    uint64_t wait = console_limit_wait(c->limit, r->peer, now);
    uint64_t wait2 = console_limit_wait(c->limit, key, now);
    if (wait2 > wait)
        wait = wait2;
    if (wait) {
        char ra[24];
        snprintf(ra, sizeof ra, "%llu", (unsigned long long)(wait + 999) / 1000);
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "Retry-After", ra);
        console_audit(r, l->name, "login.refused", l->name,
                      json_pack("{s:s}", "reason", "too many failures"));
        sodium_memzero(pw, sizeof pw);
        if (l->form)
            redirect(r, "/console/login?failed=1");
        else
            console_error(r, 429, "too many failed logins; try again later");
        free(l);
        return;
    }
    l->found = console_name_ok(l->name) &&
               store_account_get(c->st, l->name, &l->acct) == STORE_OK;
    int rc = pwhash_verify(c->pw, l->found ? l->acct.pwhash : NULL, pw,
                           login_checked, l);
    sodium_memzero(pw, sizeof pw);
    if (rc != 0) {
        free(l);
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "Retry-After", "1");
        console_error(r, 503, "busy checking passwords; try again");
    }
}

/* Clear the session cookie in the answer to r. */
static void clear_cookie(struct console_req *r)
{
    char cookie[160];
    if (console_cookie_format(cookie, sizeof cookie, COOKIE, "", r->c->https,
                              -1) > 0)
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "Set-Cookie", cookie);
}

static void h_logout(struct console_req *r, void *arg)
{
    (void)arg;
    store_session_del(r->c->st, r->who.sid, sizeof r->who.sid);
    console_audit(r, NULL, "logout", r->who.name, NULL);
    clear_cookie(r);
    console_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static void h_me(struct console_req *r, void *arg)
{
    (void)arg;
    console_json(r, 200, json_pack("{s:s, s:s, s:s, s:I}", "name", r->who.name,
                                   "role", console_role_name(r->who.role),
                                   "csrf", r->who.csrf, "expires",
                                   (json_int_t)r->who.expires_at));
}

/* ---- life cycle ------------------------------------------------------------------------ */

/* opts.dir, else the source tree's console/ beside the binary, else the
 * packaged folder. */
static void resolve_dir(struct console *c, const char *dir)
{
    if (dir && *dir) {
        snprintf(c->dir, sizeof c->dir, "%s", dir);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat sb;
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof cand, "%s/../console/login.html", exe);
            if (stat(cand, &sb) == 0 && realpath(cand, c->dir)) {
                *strrchr(c->dir, '/') = '\0';
                return;
            }
        }
    }
    snprintf(c->dir, sizeof c->dir, "%s", SHARE_DIR);
}

static int own_routes(struct console *c)
{
    static const struct {
        enum evhttp_cmd_type m;
        const char *path;
        int role;
        console_handler_fn *fn;
        const char *file;
    } t[] = {
        { EVHTTP_REQ_GET, "/console", CONSOLE_NOBODY, h_root, NULL },
        { EVHTTP_REQ_GET, "/console/login", CONSOLE_NOBODY, h_page, "login.html" },
        { EVHTTP_REQ_POST, "/console/login", CONSOLE_NOBODY, h_login_post, NULL },
        { EVHTTP_REQ_POST, "/console/logout", CONSOLE_VIEWER, h_logout, NULL },
        { EVHTTP_REQ_GET, "/console/api/me", CONSOLE_VIEWER, h_me, NULL },
        { EVHTTP_REQ_GET, "/console/", CONSOLE_VIEWER, h_page, "index.html" },
        { EVHTTP_REQ_GET, "/console/accounts", CONSOLE_ADMIN, h_page,
          "accounts.html" },
        { EVHTTP_REQ_GET, "/console/audit", CONSOLE_ADMIN, h_page, "audit.html" },
        { EVHTTP_REQ_GET, "/console/static/console.css", CONSOLE_NOBODY, h_page,
          "static/console.css" },
        { EVHTTP_REQ_GET, "/console/static/login.js", CONSOLE_NOBODY, h_page,
          "static/login.js" },
        { EVHTTP_REQ_GET, "/console/static/", CONSOLE_VIEWER, h_static, NULL },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (console_route(c, t[i].m, t[i].path, t[i].role, t[i].fn,
                          (void *)t[i].file) != 0)
            return -1;
    return console_accounts_routes(c);
}

struct console *console_new(struct event_base *base,
                            const struct console_opts *o, char *err,
                            size_t errlen)
{
    struct console *c = calloc(1, sizeof *c);
    if (c)
        c->limit = malloc(sizeof *c->limit);
    if (c && c->limit)
        c->pw = pwhash_new(base);
    if (!c || !c->pw || own_routes(c) != 0) {
        snprintf(err, errlen, "console: out of memory (or no worker thread)");
        console_free(c);
        return NULL;
    }
    c->st = o->store;
    c->https = o->https;
    c->idle_ms = o->idle_ms ? (int64_t)o->idle_ms : 30 * 60 * 1000;
    c->max_ms = o->max_ms ? (int64_t)o->max_ms : 12 * 3600 * 1000;
    console_limit_init(c->limit, o->login_max, o->login_window_ms);
    resolve_dir(c, o->dir);
    char probe[PATH_MAX + 32];
    struct stat sb;
    snprintf(probe, sizeof probe, "%s/login.html", c->dir);
    if (stat(probe, &sb) != 0)
        log_msg(KLOG_WARN, PEER, "no console pages in %s (no login.html): pages "
                "answer 404 until admin.console.dir names the console/ folder",
                c->dir);
    log_msg(KLOG_INFO, PEER, "console at /console/ (pages from %s; sessions "
            "idle %lld s, at most %lld s; %u failed logins per %llu s)", c->dir,
            (long long)c->idle_ms / 1000, (long long)c->max_ms / 1000,
            c->limit->max, (unsigned long long)c->limit->window_ms / 1000);
    return c;
}

void console_free(struct console *c)
{
    if (!c)
        return;
    pwhash_free(c->pw);                 /* waiting logins: dropped */
    free(c->limit);
    free(c);
}
