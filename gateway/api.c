/*
 * gateway/api.c — the agencies' HTTP API on evhttp (see api.h for the
 * endpoints and the contract).
 *
 * Design.  One evhttp bound on the daemon's event_base; one generic
 * callback routes by path.  Each request goes route -> method (405) ->
 * token (401; or an X-Road member, see authorize_xroad) -> scope (403) ->
 * Content-Type (415) -> body schema (400) -> handler.  The routes are one table (routes[], under "routing": method,
 * path with {params}, scope, body kind, handler) and that preamble is
 * written once (serve()); a handler gets the parsed body and answers.  The
 * body checks are the pure api_parse_*() functions of gateway/api_parse.c
 * (no I/O, fuzzed).  What a handler does beyond HTTP lives in the
 * domain modules: gateway/notify (a status change and its SMS),
 * gateway/template (template kinds, placeholders), gateway/phone.
 *
 * Group commit.  The store owns the transaction (gateway/store.h): every
 * write of a loop pass joins its batch, and the store commits once per
 * pass.  A write's answer is put on the pending list instead of being
 * sent, and the first one of a group registers one commit waiter
 * (store_on_commit); the waiter sends every pending answer — or, when the
 * commit failed (everything of the batch is gone), a 503 to each.  So a
 * 202 always means "durable".  Reads of a pass with pending writes are
 * deferred the same way, so nobody reads a write that may still be rolled
 * back.  When another process holds the write lock the batch cannot open;
 * writes then commit one by one (STORE_BUSY becomes 503, nothing changed).
 * Measured (bench/bench_api.c, K keep-alive clients with one request in
 * flight each): a commit carries ~K*0.8 requests (51 at K=64, 7 at K=8),
 * so the pass is the group and no extra delay is added to grow it; at
 * K=64 a commit (NORMAL) is ~4% of the server's CPU.  Where the rest goes
 * (perf, 2026-11): kernel TCP send of the reply ~24%, evhttp reading and
 * parsing ~20%, epoll_ctl ~12% (evhttp toggles read/write interest per
 * request; an event_base with EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST folds
 * part of it), SQLite ~14%, JSON ~6%, the token check ~2% (see the token
 * cache at authorize()).
 *
 * The edge.  evhttp, its socket and the client connections' life (the
 * head deadline, the connection cap, accept paused on EMFILE, evhttp's
 * HTML error pages turned into JSON) are gateway/http_edge's; it hands
 * every complete request to on_request.
 *
 * Owns: the edge (and through it evhttp), the pending list and its commit
 * waiter (each entry holds an evhttp request that evhttp keeps alive until
 * we answer it; api_free cancels the waiter and answers them with 503
 * before freeing the edge).
 * Logging: one debug line per request, warn for errors, tagged with the
 * agency code; numbers masked with log_mask(); tokens never logged.
 * May call: libevent, jansson, gateway/api_parse, gateway/http_edge,
 * gateway/store, gateway/notify, gateway/template, gateway/phone,
 * gateway/log, gateway/appeals (issue 12 appeals), smpp/text, base/
 * (utf8, sha256, base64, netaddr), libc;
 * the route callback of api_opts (the outbox's router) for part counts,
 * and its ussd_notice and notice_from_ok callbacks for USSD notices.
 */
#include "gateway/api.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <jansson.h>

#include "base/base64.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "base/netaddr.h"
#include "base/utf8.h"
#include "base/sha256.h"
#include "gateway/api_parse.h"
#include "gateway/booking.h"
#include "gateway/appeals.h"
#include "gateway/http_edge.h"
#include "gateway/log.h"
#include "gateway/notify.h"
#include "gateway/outbox.h"
#include "gateway/phone.h"
#include "gateway/template.h"
#include "smpp/text.h"

#define API_PEER "api"

/* ---- the server ------------------------------------------------------------ */

#define API_COUNTS_MAX 160      /* (route, code) pairs counted */

struct pending {
    struct pending *next;
    struct evhttp_request *req;
    int code;
    char *body;               /* JSON text, malloc'd */
    unsigned accept;          /* messages it acknowledges (counted) */
    const struct route *rt;   /* for metrics, as struct rq's */
    uint64_t t0_us;
};

struct api {
    struct event_base *base;
    struct store *st;
    struct http_edge *edge;   /* evhttp, its socket, the connections */
    struct kz_metrics *metrics;  /* api_metrics(); NULL: none */
    struct api_count {        /* (route, code) -> its counter, as met */
        const void *rt;
        int code;
        struct kz_counter *n;
    } counts[API_COUNTS_MAX];
    size_t n_counts;
    struct kz_hist *seconds[64];  /* per route (index in routes[]) */
    bool waiting;             /* a commit waiter is registered for head */
    struct pending *head, **tail;
    int port;
    size_t max_body;
    int64_t expiry_ms;
    int (*ussd_notice)(void *ud, const char *msisdn, const char *from,
                       const char *text, int *too_long, char *err, size_t errlen);
    void *ussd_ud;
    bool (*notice_from_ok)(void *ud, const char *from);
    unsigned notices_per_hour;
    int (*route)(void *ud, const char *msisdn, struct outbox_route *r);
    void *route_ud;
    struct api_stats stats;
    struct kz_netallow callback_allow;   /* issue 14 item 9 */
    bool xroad_callbacks;                /* issue 13: X-Road callbacks possible */
    /* issue 13 tls-http: the API as an X-Road service (http.xroad) */
    struct {
        unsigned char ss[32];     /* the security server's certificate (SHA-256) */
        struct xroad_member {
            char *client;         /* "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]" */
            char *agency, *scopes;
        } *m;
        size_t n;                 /* 0: X-Road mode off */
    } xroad;
    struct appeals_opts appeals;         /* issue 12 appeals */
    /* The last token seen while a commit group was open and what the
     * store said about it; valid only until that group's commit (see
     * authorize), so a revoked token stops working at the next commit. */
    struct {
        bool valid;
        size_t len;
        char tok[128];
        int64_t agency_id;
        char stored[STORE_SCOPES_MAX];
    } auth;
};

/* One request being handled (stack-allocated in the callback). */
struct rq {
    struct api *a;
    struct evhttp_request *req;
    const char *method;
    const char *path;
    int64_t agency_id;
    char agency[STORE_CODE_MAX];   /* code, for logs */
    char client[32];               /* "agency:ID", the idempotency scope */
    char scopes[STORE_SCOPES_MAX];
    const char *arg[2];            /* the path's {param}s (route's args) */
    char argbuf[2][STORE_CODE_MAX + 1];
    int64_t id;                    /* {id}: 0 when not a message id */
    const struct route *rt;        /* its route (metrics); NULL: none */
    uint64_t t0_us;                /* arrival (kz_mono_us), with metrics */
};

/* A request's parsed body: what its route's body parser fills. */
union api_in {
    struct api_message message;
    struct api_batch batch;
    struct api_notice notice;
    struct api_app_status app;
    struct api_office office;
    struct api_service service;
    struct api_slot slot;
    struct api_template tmpl;
    struct api_appeal appeal;      /* issue 12 appeals */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct route;
static void count_answer(struct api *a, const struct route *rt, int code,
                         uint64_t t0_us);

static void send_text(struct evhttp_request *req, int code, const char *body)
{
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add(b, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, code, NULL, b);
    if (b)
        evbuffer_free(b);
}

static void log_done(struct rq *r, int code, const char *why)
{
    int lvl = code >= 500 ? KLOG_WARN : KLOG_DEBUG;
    if (code >= 400 && code < 500 && code != 404)
        lvl = KLOG_DEBUG;
    log_msg(lvl, r->agency[0] ? r->agency : API_PEER, "%s %s -> %d%s%s",
            r->method, r->path, code, why ? ": " : "", why ? why : "");
}

/* Send an error now: {"error": msg, "field": field}. */
static void reply_error(struct rq *r, int code, const char *msg,
                        const char *field)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    if (j && field && *field)
        json_object_set_new(j, "field", json_string(field));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (code == 401)
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "WWW-Authenticate", "Bearer");
    send_text(r->req, code, s ? s : "{\"error\":\"out of memory\"}");
    free(s);
    if (code >= 400 && code < 500)
        r->a->stats.rejected++;
    count_answer(r->a, r->rt, code, r->t0_us);
    log_done(r, code, msg);
}

static void reply_store_error(struct rq *r, int rc)
{
    if (rc == STORE_BUSY) {
        r->a->stats.busy++;
        reply_error(r, 503, "database busy, nothing changed: try again", NULL);
        return;
    }
    log_msg(KLOG_WARN, r->agency[0] ? r->agency : API_PEER, "%s %s: store: %s",
            r->method, r->path, store_errmsg(r->a->st));
    reply_error(r, 500, "storage error", NULL);
}

static void on_committed(void *arg, int rc);

/* Keep an answer until the batch is committed; j is consumed. */
static void reply_later(struct rq *r, int code, json_t *j, unsigned accept)
{
    struct api *a = r->a;
    struct pending *p = calloc(1, sizeof *p);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!p || !s ||
        (!a->waiting && store_on_commit(a->st, on_committed, a) != STORE_OK)) {
        free(p);
        free(s);
        /* The write may already be in the batch; it is not acknowledged. */
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    a->waiting = true;
    p->req = r->req;
    p->code = code;
    p->body = s;
    p->accept = accept;
    p->rt = r->rt;
    p->t0_us = r->t0_us;
    *a->tail = p;
    a->tail = &p->next;
    a->stats.pending++;
    log_done(r, code, "(after commit)");
}

/* Answer everything waiting: rc is the commit's result, or -1 when the
 * API is shutting down (its waiter cancelled). */
static void answer_pending(struct api *a, int rc)
{
    struct pending *p = a->head;
    a->head = NULL;
    a->tail = &a->head;
    a->stats.pending = 0;
    a->auth.valid = false;   /* the group is over: look tokens up again */
    while (p) {
        struct pending *next = p->next;
        count_answer(a, p->rt, rc == STORE_OK ? p->code : 503, p->t0_us);
        if (rc == STORE_OK) {
            send_text(p->req, p->code, p->body);
            a->stats.accepted += p->accept;
        } else {
            send_text(p->req, 503,
                      rc < 0 ? "{\"error\":\"server shutting down, not "
                               "acknowledged: try again\"}"
                             : "{\"error\":\"commit failed, nothing was "
                               "stored: try again\"}");
        }
        free(p->body);
        free(p);
        p = next;
    }
}

/* The store's commit waiter: the batch holding the pending writes. */
static void on_committed(void *arg, int rc)
{
    struct api *a = arg;
    a->waiting = false;
    a->stats.commits++;
    if (rc != STORE_OK) {
        a->stats.commit_failures++;
        log_msg(KLOG_WARN, API_PEER,
                "commit failed (%s: %s): %" PRIu64 " requests get 503",
                store_rc_name(rc), store_errmsg(a->st), a->stats.pending);
    }
    answer_pending(a, rc);
}

/* Answer now, or after the commit when writes of this pass are pending. */
static void reply_read(struct rq *r, int code, json_t *j)
{
    if (r->a->head) {
        reply_later(r, code, j, false);
        return;
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    send_text(r->req, code, s ? s : "{\"error\":\"out of memory\"}");
    free(s);
    count_answer(r->a, r->rt, code, r->t0_us);
    log_done(r, code, NULL);
}

/* ---- auth ------------------------------------------------------------------ */

/* The scope that lets a message or notice reach an opted-out number
 * (law_required): granted by name only, "*" (every route's scope) does
 * not include it, so a messages token cannot bypass STOP. */
#define LAW_SCOPE "law_required"

static bool scope_ok(const char *scopes, const char *want)
{
    size_t wl = strlen(want);
    bool star = strcmp(want, LAW_SCOPE) != 0;
    for (const char *p = scopes; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((star && n == 1 && *p == '*') ||
            (n == wl && strncmp(p, want, n) == 0))
            return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

/*
 * Token cache.  A client sends the same token with every request; hashing
 * it and asking the store cost ~7% of a POST /v1/messages.  While a commit
 * group is open (writes pending) the answer for the last token is kept and
 * reused by the group's later requests; answer_pending() forgets it.  So a
 * token revoked by another process is refused from the next group on, a
 * few milliseconds at most, the same as if the group's requests had
 * arrived a little earlier.  Only successful look-ups are kept.
 */
static bool auth_cached(const struct api *a, const char *tok, size_t len)
{
    if (!a->auth.valid || a->auth.len != len)
        return false;
    unsigned char diff = 0;   /* constant time: no early exit on a mismatch */
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(a->auth.tok[i] ^ tok[i]);
    return diff == 0;
}

static void auth_remember(struct api *a, const char *tok, size_t len, int rc,
                          int64_t agency_id, const char *stored)
{
    if (rc != STORE_OK || len >= sizeof a->auth.tok || !a->head)
        return;
    memcpy(a->auth.tok, tok, len);
    a->auth.len = len;
    a->auth.agency_id = agency_id;
    snprintf(a->auth.stored, sizeof a->auth.stored, "%s", stored);
    a->auth.valid = true;
}

/* The agency with this code, made (named after its code) when missing. */
static int agency_ensure(struct store *st, const char *code, int64_t *id)
{
    int rc = store_agency_by_code(st, code, id);
    if (rc == STORE_NOTFOUND)
        rc = store_agency_put(st, code, code, id);
    return rc;
}

/* The request's agency, its scopes and idempotency scope, from a token's
 * or an X-Road member's; 403 when scope is not among them. */
static int grant(struct rq *r, const char *agency, const char *scopes,
                 const char *scope, const char *who)
{
    snprintf(r->agency, sizeof r->agency, "%s", agency);
    snprintf(r->scopes, sizeof r->scopes, "%s", scopes);
    snprintf(r->client, sizeof r->client, "agency:%" PRId64, r->agency_id);
    if (!scope_ok(r->scopes, scope)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s lacks the \"%s\" scope", who, scope);
        reply_error(r, 403, msg, NULL);
        return -1;
    }
    return 0;
}

/*
 * issue 13 tls-http: the API behind an X-Road security server.  On a
 * connection that presented exactly the security server's certificate
 * (http.xroad.security_server_cert), X-Road-Client names the calling
 * member; http.xroad.members maps it to an agency and its scopes, as a
 * token would.  Anywhere else the header means nothing and the bearer
 * token decides.  0 authorized, -1 answered (403 for a member not
 * configured), 1 not an X-Road request.
 */
static int authorize_xroad(struct rq *r, const char *scope)
{
    struct api *a = r->a;
    unsigned char fp[32];
    const char *xc = a->xroad.n ? evhttp_find_header(
        evhttp_request_get_input_headers(r->req), "X-Road-Client") : NULL;
    if (!xc || http_edge_peer_cert_sha256(a->edge, r->req, fp) != 0 ||
        memcmp(fp, a->xroad.ss, sizeof fp) != 0)
        return 1;
    if (http_edge_nul(a->edge, r->req)) {
        reply_error(r, 401, "malformed X-Road-Client header", NULL);
        return -1;
    }
    const struct xroad_member *m = NULL;
    for (size_t i = 0; i < a->xroad.n && !m; i++)
        if (strcmp(a->xroad.m[i].client, xc) == 0)
            m = &a->xroad.m[i];
    if (!m) {
        char msg[200];
        snprintf(msg, sizeof msg, "X-Road client \"%.100s\" is not a member this "
                 "gateway serves (http.xroad.members)", xc);
        reply_error(r, 403, msg, NULL);
        return -1;
    }
    int rc = agency_ensure(a->st, m->agency, &r->agency_id);
    if (rc != STORE_OK) {
        reply_store_error(r, rc);
        return -1;
    }
    return grant(r, m->agency, m->scopes, scope, "X-Road member");
}

/* 0 when authorized for scope; else the answer is sent and -1 returned. */
static int authorize(struct rq *r, const char *scope)
{
    int x = authorize_xroad(r, scope);      /* issue 13 tls-http */
    if (x != 1)
        return x;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                       "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
        reply_error(r, 401, "missing bearer token", NULL);
        return -1;
    }
    /* evhttp cuts a header value at a NUL byte: "TOKEN\0junk" would pass
     * as TOKEN.  The edge saw the raw bytes. */
    if (http_edge_nul(r->a->edge, r->req)) {
        reply_error(r, 401, "malformed bearer token", NULL);
        return -1;
    }
    const char *tok = h + 7;
    size_t tl = strlen(tok);
    char stored[STORE_SCOPES_MAX];
    int rc;
    if (auth_cached(r->a, tok, tl)) {
        r->agency_id = r->a->auth.agency_id;
        memcpy(stored, r->a->auth.stored, sizeof stored);
        rc = STORE_OK;
    } else {
        uint8_t hash[32];
        kz_sha256(tok, tl, hash);
        rc = store_token_get(r->a->st, hash, sizeof hash, &r->agency_id, stored,
                             sizeof stored);
        auth_remember(r->a, tok, tl, rc, r->agency_id, stored);
    }
    if (rc == STORE_NOTFOUND) {
        reply_error(r, 401, "unknown or revoked token", NULL);
        return -1;
    }
    if (rc != STORE_OK) {
        reply_store_error(r, rc);
        return -1;
    }
    /* Stored as "SCOPES@AGENCYCODE" by api_token_create (see there). */
    char *at = strrchr(stored, '@');
    char agency[STORE_CODE_MAX];
    if (at) {
        *at = '\0';
        snprintf(agency, sizeof agency, "%s", at + 1);
    } else {
        snprintf(agency, sizeof agency, "agency#%" PRId64, r->agency_id);
    }
    return grant(r, agency, stored, scope, "token");
}

static int check_json_type(struct rq *r)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                        "Content-Type");
    size_t n = strlen("application/json");
    if (!ct || strncasecmp(ct, "application/json", n) != 0 ||
        (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ')) {
        reply_error(r, 415, "Content-Type must be application/json", NULL);
        return -1;
    }
    return 0;
}

/* The body as one contiguous block (evhttp already capped its size). */
static const uint8_t *body_of(struct rq *r, size_t *len)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(r->req);
    *len = evbuffer_get_length(b);
    const uint8_t *p = evbuffer_pullup(b, -1);
    return p ? p : (const uint8_t *)"";
}

static void reply_parse_error(struct rq *r, const struct api_error *e)
{
    reply_error(r, e->status ? e->status : 400, e->msg, e->field);
}

/* ---- answers ----------------------------------------------------------------- */

/* Send j (consumed) now, whatever the pass has pending: for answers that
 * read nothing a pending write could change (health). */
static void reply_now(struct rq *r, int code, json_t *j, const char *fallback,
                      const char *why)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    send_text(r->req, code, s ? s : fallback);
    free(s);
    count_answer(r->a, r->rt, code, r->t0_us);
    log_done(r, code, why);
}

/* How a store code other than STORE_OK answers a request: a list ended by
 * an entry with code 0. */
struct rc_answer {
    int rc;
    int code;
    const char *msg;
    const char *field;
};

/* true when rc is STORE_OK; else r is answered (the entry of map for rc,
 * or reply_store_error) and false returned.  map may be NULL. */
static bool store_ok(struct rq *r, int rc, const struct rc_answer *map)
{
    if (rc == STORE_OK)
        return true;
    for (size_t i = 0; map && map[i].code; i++)
        if (map[i].rc == rc) {
            reply_error(r, map[i].code, map[i].msg, map[i].field);
            return false;
        }
    reply_store_error(r, rc);
    return false;
}

/* ---- handlers --------------------------------------------------------------- */

/*
 * Every handler gets a request that passed its route's preamble (token and
 * scope; for a route with a body, Content-Type and the parsed body in
 * `in`, which the preamble clears after the handler returns) and answers
 * it exactly once: now (reply_error, reply_read, reply_now) or after the
 * commit (reply_later).
 */

static void h_health(struct rq *r, union api_in *in)
{
    (void)in;
    struct api_stats *s = &r->a->stats;
    json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ok", 1,
                          "requests", (json_int_t)s->requests, "accepted",
                          (json_int_t)s->accepted, "rejected",
                          (json_int_t)s->rejected, "commits",
                          (json_int_t)s->commits, "commit_failures",
                          (json_int_t)s->commit_failures, "busy",
                          (json_int_t)s->busy, "pending",
                          (json_int_t)s->pending);
    reply_now(r, 200, j, "{\"ok\":true}", NULL);
}

#define OPTED_OUT_MSG "the recipient has opted out; only messages the law " \
                      "requires (law_required) may be sent"

/*
 * Enqueue one message for r's agency (the pass's batch is open).  *j gets
 * its answer, {"id", "state", "duplicate"}.  Refused, with *j = NULL,
 * e filled (409) and nothing stored: an opted-out recipient (and no
 * law_required), field "to"; an idempotency key already used for other
 * content (issue 14 item 8: api_message_digest), field "idempotency_key".
 * Returns STORE_OK or the store's error (nothing answered).
 */
static int enqueue_one(struct rq *r, const struct api_message *m, int64_t now,
                       json_t **j, struct api_error *e)
{
    struct store *st = r->a->st;
    *j = NULL;
    memset(e, 0, sizeof *e);
    if (!m->law_required) {
        bool out = false;
        int rc = store_optout_get(st, m->to, &out);
        if (rc != STORE_OK)
            return rc;
        if (out) {
            api_fail(e, 409, "to", "%s", OPTED_OUT_MSG);
            return STORE_OK;
        }
    }
    uint8_t hash[STORE_REQ_HASH_LEN];
    if (m->idem_key && api_message_digest(m, hash) != 0)
        return STORE_ERROR;
    struct store_msg_new nm = {
        .client = r->client, .idem_key = m->idem_key, .to = m->to,
        .text = m->text, .tmpl = m->tmpl, .data = m->vars, .lang = m->lang,
        .callback_url = m->callback_url, .law_required = m->law_required,
        .not_before = now, .expires_at = now + r->a->expiry_ms,
        .req_hash = m->idem_key ? hash : NULL,
    };
    int64_t id = 0;
    int rc = store_enqueue(st, &nm, now, &id);
    if (rc == STORE_CONFLICT) {
        api_fail(e, 409, "idempotency_key", "idempotency key \"%s\" was "
                 "already used for a different message (id %" PRId64 ")",
                 m->idem_key, id);
        return STORE_OK;
    }
    if (rc != STORE_OK && rc != STORE_DUPLICATE)
        return rc;
    const char *state = "queued";
    struct store_msg *old = NULL;
    if (rc == STORE_DUPLICATE && store_msg_get(st, id, &old) == STORE_OK)
        state = store_msg_state_name(old->state);
    if (log_enabled(KLOG_DEBUG))
        log_msg(KLOG_DEBUG, r->agency, "message %" PRId64 " to %s%s", id,
                log_mask(m->to).s, rc == STORE_DUPLICATE ? " (duplicate)" : "");
    *j = json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "state", state,
                   "duplicate", rc == STORE_DUPLICATE);
    store_msg_free(old);
    return STORE_OK;
}

/*
 * law_required (a message or notice that may reach an opted-out number)
 * needs the token's LAW_SCOPE.  true when allowed; else r is answered
 * 403 naming the scope and `field`, and nothing is stored.
 */
static bool law_allowed(struct rq *r, bool law_required, const char *field)
{
    if (!law_required || scope_ok(r->scopes, LAW_SCOPE))
        return true;
    reply_error(r, 403, "law_required needs the \"" LAW_SCOPE "\" scope, which "
                "this token lacks", field);
    return false;
}

/*
 * A templated message gets its text before it is accepted (the outbox
 * sends text only): the agency's template for (template, language), with
 * the store's fallbacks (agency 0, status "*"), rendered with the
 * message's variables (api_message_render).  STORE_OK with e->status 0
 * (rendered, or not templated); STORE_OK with e filled (refused: 422
 * naming the missing template or variable, nothing stored); or the
 * store's error.
 */
static int render_message(struct rq *r, struct api_message *m,
                          struct api_error *e)
{
    memset(e, 0, sizeof *e);
    if (!m->tmpl || m->text)
        return STORE_OK;
    char *body = NULL;
    int rc = store_template_get(r->a->st, r->agency_id, m->tmpl, m->lang,
                                &body);
    if (rc == STORE_NOTFOUND)
        api_fail(e, 422, "template", "no template \"%s\" in language %s",
                 m->tmpl, m->lang);
    else if (rc == STORE_OK)
        api_message_render(m, body, e);
    free(body);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* What a message passes before it is stored: its callback_url may be
 * called (issue 14 item 9: no loopback, link-local or metadata address
 * unless callbacks.allow names it; 422), and its template renders.  As
 * render_message. */
static int accept_message(struct rq *r, struct api_message *m,
                          struct api_error *e)
{
    memset(e, 0, sizeof *e);
    if (api_callback_check(m->callback_url, &r->a->callback_allow,
                           r->a->xroad_callbacks, e) != 0)
        return STORE_OK;
    return render_message(r, m, e);
}

static void h_message_post(struct rq *r, union api_in *in)
{
    json_t *j = NULL;
    struct api_error e;
    if (!law_allowed(r, in->message.law_required, "law_required"))
        return;
    int rc = accept_message(r, &in->message, &e);
    if (rc == STORE_OK && !e.status)
        rc = enqueue_one(r, &in->message, now_ms(), &j, &e);
    if (rc != STORE_OK)
        reply_store_error(r, rc);
    else if (e.status)
        reply_error(r, e.status, e.msg, e.field);
    else
        reply_later(r, 202, j, true);
}

/*
 * POST /v1/messages/batch: up to API_BATCH_MAX messages, one commit.  202
 * {"results": [...]} in the order given, each {"id", "state", "duplicate"}
 * or, for an opted-out recipient, {"error", "field": "to"}, for an
 * idempotency key used before with other content (issue 14 item 8),
 * {"error", "field": "idempotency_key"} (nothing stored for either: the
 * single POST answers these 409).  A malformed batch is refused whole (400, nothing stored), and
 * so is one with a template that cannot be rendered (422, the field names
 * the element: "messages[3].template"): every text is rendered before the
 * first message is stored.  So is one with law_required when the token
 * lacks that scope (403, "messages[3].law_required").
 */
static void h_message_batch(struct rq *r, union api_in *in)
{
    const struct api_batch *b = &in->batch;
    int rc = STORE_OK;
    for (size_t i = 0; i < b->n; i++) {
        char f[64];
        snprintf(f, sizeof f, "messages[%zu].law_required", i);
        if (!law_allowed(r, b->m[i].law_required, f))
            return;
    }
    for (size_t i = 0; rc == STORE_OK && i < b->n; i++) {
        struct api_error e;
        rc = accept_message(r, &b->m[i], &e);
        if (rc == STORE_OK && e.status) {
            char f[96];   /* "messages[999].variables" */
            snprintf(f, sizeof f, "messages[%zu].%.40s", i, e.field);
            reply_error(r, e.status, e.msg, f);
            return;
        }
    }
    json_t *results = rc == STORE_OK ? json_array() : NULL;
    int64_t now = now_ms();
    size_t stored = 0;
    if (!results && rc == STORE_OK)
        rc = STORE_ERROR;
    for (size_t i = 0; rc == STORE_OK && i < b->n; i++) {
        json_t *j = NULL;
        struct api_error e;
        rc = enqueue_one(r, &b->m[i], now, &j, &e);
        if (rc == STORE_OK && e.status)
            j = json_pack("{s:s, s:s}", "error", e.msg, "field", e.field);
        else if (rc == STORE_OK)
            stored++;
        if (rc == STORE_OK && json_array_append_new(results, j) != 0)
            rc = STORE_ERROR;
    }
    if (rc != STORE_OK) {
        /* earlier messages of this batch may be in the pass's group and
         * will be committed with it: idempotency keys make a retry safe */
        json_decref(results);
        reply_store_error(r, rc);
        return;
    }
    reply_later(r, 202, json_pack("{s:o}", "results", results), (unsigned)stored);
}

/*
 * POST /v1/webhook-secret (issue 14 item 9): a new key for signing the
 * agency's callbacks (Standard Webhooks), answered after its commit with
 * 201 {"secret": "whsec_" + base64 of 32 random bytes, "previous_valid_until":
 * ms or null}.  The key it replaces still signs (a second signature) for
 * WEBHOOK_GRACE_MS, so receivers can switch without losing callbacks.  The
 * secret is shown only here; the rotation is logged (the audit trail),
 * never the secret.
 */
#define WEBHOOK_GRACE_MS (24 * 3600 * 1000LL)
static void h_webhook_secret(struct rq *r, union api_in *in)
{
    (void)in;
    uint8_t key[32];
    char secret[8 + KZ_BASE64_LEN(sizeof key)] = "whsec_";
    evutil_secure_rng_get_bytes(key, sizeof key);
    kz_base64_encode(key, sizeof key, secret + 6, sizeof secret - 6);
    int64_t now = now_ms(), prev_until = now + WEBHOOK_GRACE_MS;
    int rc = store_webhook_rotate(r->a->st, r->client, key, sizeof key, now,
                                  &prev_until);
    memset(key, 0, sizeof key);
    if (!store_ok(r, rc, NULL))
        return;
    log_msg(KLOG_INFO, r->agency, "webhook signing secret %s",
            prev_until ? "rotated; the previous one signs too for 24 h"
                       : "created");
    json_t *j = json_pack("{s:s}", "secret", secret);
    json_object_set_new(j, "previous_valid_until",
                        prev_until ? json_integer(prev_until) : json_null());
    memset(secret, 0, sizeof secret);
    reply_later(r, 201, j, 0);
}

#define NOTICE_WINDOW_MS (3600 * 1000LL)   /* the per-phone limit's hour */

/*
 * The per-phone limit: true when `to` may get one more notice at now (it
 * got fewer than notices_per_hour in the hour before); else r is answered
 * 429 with Retry-After (seconds until the oldest of them leaves the hour)
 * and false returned.
 */
static bool notice_under_limit(struct rq *r, const char *to, int64_t now)
{
    unsigned count = 0, max = r->a->notices_per_hour;
    int64_t oldest = 0;
    int rc = store_notices_recent(r->a->st, to, now - NOTICE_WINDOW_MS + 1,
                                  &count, &oldest);
    if (rc != STORE_OK) {
        reply_store_error(r, rc);
        return false;
    }
    if (count < max)
        return true;
    int64_t wait_ms = oldest + NOTICE_WINDOW_MS - now;
    long secs = wait_ms <= 0 ? 1 : (long)((wait_ms + 999) / 1000);
    char v[24], msg[160];
    snprintf(v, sizeof v, "%ld", secs);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After",
                      v);
    snprintf(msg, sizeof msg, "this phone got %u notices in the last hour, "
             "the limit (ussd.notices_per_phone_per_hour): try again in %ld s",
             count, secs);
    reply_error(r, 429, msg, "to");
    return false;
}

/*
 * POST /v1/ussd/notices: a USSN push, sent at once and recorded.  Refused,
 * nothing sent or stored: law_required without that scope (403); a "from"
 * this gateway does not serve (api_opts.notice_from_ok: 422 naming it); a
 * citizen who sent STOP, unless law_required (409 naming "to", as POST
 * /v1/messages answers); a phone over its hourly limit (429).  Else the
 * notice is recorded (who, to, from, text, law_required, time) before it
 * goes to the link, so the limit counts it, and the 200 waits for the
 * commit like a message's 202; a notice the link refuses is recorded as
 * failed and answered 503 (400 when its text does not fit one screen).
 * The USSN itself goes out before the commit: a failed commit answers 503
 * for a notice the phone may have shown.
 */
static void h_ussd_notice(struct rq *r, union api_in *in)
{
    const struct api_notice *n = &in->notice;
    struct api *a = r->a;
    char err[200] = "";
    int too_long = 0;
    bool out = false;
    int64_t now = now_ms(), id = 0;
    if (!law_allowed(r, n->law_required, "law_required"))
        return;
    if (n->from[0] && a->notice_from_ok &&
        !a->notice_from_ok(a->ussd_ud, n->from)) {
        reply_error(r, 422, "\"from\" is no service code of this gateway (its "
                    "menus' codes, or one ussd.notice_from names)", "from");
        return;
    }
    int rc = n->law_required ? STORE_OK : store_optout_get(a->st, n->to, &out);
    if (rc == STORE_OK && out) {
        reply_error(r, 409, OPTED_OUT_MSG, "to");
        return;
    }
    if (rc != STORE_OK) {
        reply_store_error(r, rc);
        return;
    }
    if (!notice_under_limit(r, n->to, now))
        return;
    struct store_notice sn = {
        .agency_id = r->agency_id, .client = r->client, .msisdn = n->to,
        .sender = n->from, .text = n->text, .law_required = n->law_required,
    };
    rc = store_notice_add(a->st, &sn, now, &id);
    if (rc != STORE_OK) {
        reply_store_error(r, rc);
        return;
    }
    if (a->ussd_notice(a->ussd_ud, n->to, n->from[0] ? n->from : NULL, n->text,
                       &too_long, err, sizeof err) != 0) {
        if (store_notice_failed(a->st, id, err) != STORE_OK)
            log_msg(KLOG_WARN, r->agency, "notice %" PRId64 ": store: %s", id,
                    store_errmsg(a->st));
        reply_error(r, too_long ? 400 : 503, err, too_long ? "text" : NULL);
        return;
    }
    reply_later(r, 200, json_pack("{s:b, s:I}", "sent", 1, "id", (json_int_t)id),
                0);
}

static void set_time(json_t *j, const char *key, int64_t ms)
{
    if (ms > 0)
        json_object_set_new(j, key, json_integer(ms));
    else
        json_object_set_new(j, key, json_null());
}

/* The parts of text as the link that carries a message to `to` splits
 * it: that route's split mode and Latin-1 permission (api_opts.route);
 * UDH 8-bit without Latin-1 when no link serves the number now. */
static unsigned link_parts(const struct api *a, const char *to,
                           const char *text)
{
    struct outbox_route rt;
    memset(&rt, 0, sizeof rt);
    if (a->route && a->route(a->route_ud, to ? to : "", &rt) != 0)
        memset(&rt, 0, sizeof rt);
    return api_sms_parts(text, strlen(text), rt.split, rt.allow);
}

static void h_message_get(struct rq *r, union api_in *in)
{
    (void)in;
    static const struct rc_answer none[] = {
        { STORE_NOTFOUND, 404, "no such message", NULL }, { 0, 0, NULL, NULL }
    };
    struct store_msg *m = NULL;
    int rc = r->id > 0 ? store_msg_get(r->a->st, r->id, &m) : STORE_NOTFOUND;
    if (rc == STORE_OK && (!m->client || strcmp(m->client, r->client) != 0))
        rc = STORE_NOTFOUND;   /* another agency's: not told apart */
    if (!store_ok(r, rc, none)) {
        store_msg_free(m);
        return;
    }
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(m->id));
    json_object_set_new(j, "state", json_string(store_msg_state_name(m->state)));
    json_object_set_new(j, "to", json_string(m->to ? m->to : ""));
    json_object_set_new(j, "error", json_integer(m->err));
    json_object_set_new(j, "attempts", json_integer(m->attempts));
    /* parts: as recorded when it was submitted (each with its own
     * receipt), else as the text will be split; parts_delivered: those
     * whose receipt said delivered */
    int nparts = 0, ndelivered = 0;
    if (store_msg_parts(r->a->st, m->id, &nparts, &ndelivered) != STORE_OK ||
        nparts == 0) {
        nparts = m->text ? (int)link_parts(r->a, m->to, m->text) : 0;
        ndelivered = m->state == STORE_MSG_DELIVERED ? nparts : 0;
    }
    json_object_set_new(j, "parts", json_integer(nparts));
    json_object_set_new(j, "parts_delivered", json_integer(ndelivered));
    json_object_set_new(j, "law_required", json_boolean(m->law_required));
    set_time(j, "created_at", m->created_at);
    set_time(j, "updated_at", m->updated_at);
    set_time(j, "submitted_at", m->submitted_at);
    set_time(j, "done_at", m->done_at);
    if (m->idem_key)
        json_object_set_new(j, "idempotency_key", json_string(m->idem_key));
    if (m->callback_url)
        json_object_set_new(j, "callback_url", json_string(m->callback_url));
    store_msg_free(m);
    reply_read(r, 200, j);
}

/*
 * Before a status change: the application is the caller's or new (then
 * with an owner), and its service, when named, is the caller's (created
 * when unknown).  Numbers are per agency (issue 14 item 6): another
 * agency's application of the same number is not looked at, so the
 * answers are those for a number nobody has and nothing leaks.  0 with
 * *created and *service_id, or -1 when r has been answered.
 */
static int app_precheck(struct rq *r, const char *number,
                        const struct api_app_status *in, bool *created,
                        int64_t *service_id)
{
    struct store *st = r->a->st;
    struct store_app app;
    int rc = store_app_get(st, r->agency_id, number, &app);
    *created = rc == STORE_NOTFOUND;
    *service_id = 0;
    if (!*created && !store_ok(r, rc, NULL))
        return -1;
    if (*created && !in->owner[0]) {
        reply_error(r, 400, "a new application needs \"owner\"", "owner");
        return -1;
    }
    if (!in->service[0])
        return 0;
    int64_t svc_agency = 0;
    rc = store_service_by_code(st, in->service, service_id, &svc_agency);
    if (rc == STORE_OK && svc_agency != r->agency_id) {
        reply_error(r, 403, "the service belongs to another agency", "service");
        return -1;
    }
    if (rc == STORE_NOTFOUND) {
        rc = store_service_put(st, r->agency_id, in->service, service_id);
    }
    return store_ok(r, rc, NULL) ? 0 : -1;
}

/* POST /v1/applications/{number}/status: the change and its SMS
 * (gateway/notify), answered after the commit. */
static void h_app_status(struct rq *r, union api_in *in)
{
    static const struct rc_answer refused[] = {
        { STORE_INVALID, 400, "invalid application change", NULL },
        { NOTIFY_NOMEM, 500, "out of memory", NULL },
        { 0, 0, NULL, NULL }
    };
    const struct api_app_status *a = &in->app;
    const char *number = r->arg[0];
    bool created;
    int64_t service_id;
    if (app_precheck(r, number, a, &created, &service_id) < 0)
        return;
    struct notify_change c = {
        .number = number, .agency_id = r->agency_id, .service_id = service_id,
        .owner = a->owner[0] ? a->owner : NULL, .status = a->status,
        .note = a->note, .lang = a->lang, .notify = a->notify,
        .client = r->client, .now = now_ms(), .expiry_ms = r->a->expiry_ms,
    };
    struct notify_result res;
    if (!store_ok(r, notify_status_change(r->a->st, &c, &res), refused))
        return;
    if (res.builtin)
        log_msg(KLOG_INFO, r->agency,
                "no template for status %s in %s: application %s notified "
                "with the built-in text", a->status, a->lang, number);
    /* notified: the SMS queued (recipients told), whichever text */
    json_t *j = json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:b, s:i, s:b}",
                          "number", number, "status", a->status, "created",
                          created, "queued", res.queued, "opted_out",
                          res.opted_out, "muted", res.muted, "template",
                          res.have_template, "notified", res.queued,
                          "builtin_text", res.builtin);
    reply_later(r, created ? 201 : 200, j, false);
}

/*
 * Create (or find) the office or service `code` of the caller's agency and
 * set its names (and, for an office, addresses) per language; answers r.
 * 403 when the code belongs to another agency.
 */
static void put_named(struct rq *r, bool office, const char *code,
                      char *const name[3], char *const address[3])
{
    const char *what = office ? "the office" : "the service";
    struct store *st = r->a->st;
    int64_t id = 0, owner = 0;
    int rc = office ? store_office_by_code(st, code, &id, &owner)
                    : store_service_by_code(st, code, &id, &owner);
    bool created = rc == STORE_NOTFOUND;
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        goto fail;
    if (rc == STORE_OK && owner != r->agency_id)
        goto taken;
    rc = office ? store_office_put(st, r->agency_id, code, &id)
                : store_service_put(st, r->agency_id, code, &id);
    if (rc == STORE_CONFLICT)
        goto taken;
    if (rc != STORE_OK)
        goto fail;
    for (int i = 0; i < 3; i++) {
        if (!name[i])
            continue;
        const char *lang = template_langs[i];
        rc = office ? store_office_name_set(st, id, lang, name[i], address[i])
                    : store_service_name_set(st, id, lang, name[i]);
        if (rc != STORE_OK)
            goto fail;
    }
    json_t *j = json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "code",
                          code, "created", created);
    reply_later(r, created ? 201 : 200, j, false);
    return;
taken: {
        char msg[64];
        snprintf(msg, sizeof msg, "%s belongs to another agency", what);
        reply_error(r, 403, msg, "code");
        return;
    }
fail:
    reply_store_error(r, rc);
}

static void h_office(struct rq *r, union api_in *in)
{
    put_named(r, true, in->office.code, in->office.name, in->office.address);
}

/* POST /v1/services: a service citizens can book, named per language. */
static void h_service(struct rq *r, union api_in *in)
{
    put_named(r, false, in->service.code, in->service.name, NULL);
}

/* The office and service of a slot: both the caller's (the service is
 * created when unknown).  0, or -1 when r has been answered. */
static int slot_owners(struct rq *r, const struct api_slot *s,
                       int64_t *office_id, int64_t *service_id)
{
    static const struct rc_answer no_office[] = {
        { STORE_NOTFOUND, 422, "unknown office (publish it with POST /v1/offices)",
          "office" },
        { 0, 0, NULL, NULL }
    };
    struct store *st = r->a->st;
    int64_t owner;
    int rc = store_office_by_code(st, s->office, office_id, &owner);
    if (!store_ok(r, rc, no_office))
        return -1;
    if (owner != r->agency_id) {
        reply_error(r, 403, "the office belongs to another agency", "office");
        return -1;
    }
    rc = store_service_by_code(st, s->service, service_id, &owner);
    if (rc == STORE_OK && owner != r->agency_id) {
        reply_error(r, 403, "the service belongs to another agency", "service");
        return -1;
    }
    if (rc == STORE_NOTFOUND)
        rc = store_service_put(st, r->agency_id, s->service, service_id);
    return store_ok(r, rc, NULL) ? 0 : -1;
}

static void h_slot(struct rq *r, union api_in *in)
{
    static const struct rc_answer refused[] = {
        { STORE_CONFLICT, 409, "capacity below the places already booked",
          "capacity" },
        { STORE_INVALID, 400, "invalid slot", NULL },
        { 0, 0, NULL, NULL }
    };
    const struct api_slot *s = &in->slot;
    int64_t office_id, service_id, id;
    if (slot_owners(r, s, &office_id, &service_id) < 0)
        return;
    int rc = store_slot_put(r->a->st, office_id, service_id, s->day, s->time,
                            s->capacity, &id);
    if (!store_ok(r, rc, refused))
        return;
    struct store_slot cur;
    int booked = store_slot_get(r->a->st, id, &cur) == STORE_OK ? cur.booked : 0;
    json_t *j = json_pack("{s:I, s:s, s:s, s:i, s:i}", "id", (json_int_t)id,
                          "day", s->day, "time", s->time, "capacity",
                          s->capacity, "booked", booked);
    reply_later(r, 200, j, false);
}

/* ---- status templates -------------------------------------------------------- */

#define TEMPLATE_PAGE_DEFAULT 100
#define TEMPLATE_PAGE_MAX 500

static const struct rc_answer no_template[] = {
    { STORE_NOTFOUND, 404, "no such template", NULL }, { 0, 0, NULL, NULL }
};

static json_t *template_json(const char *status, const char *lang,
                             const char *text)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "status", status, "language",
                     lang, "text", text, "kind",
                     template_is_booking(status) ? "booking" : "status");
}

/* The agency's own template (status, lang), no fallbacks: *text_out
 * malloc'd.  Pages through the status's languages (a handful). */
static int template_own(struct store *st, int64_t agency_id,
                        const char *status, const char *lang, char **text_out)
{
    struct store_template t[8];
    char cur[STORE_LANG_MAX] = "";
    *text_out = NULL;
    for (;;) {
        size_t n = 0;
        int rc = store_template_list(st, agency_id, status, cur, t, 8, &n);
        if (rc != STORE_OK)
            return rc;
        bool done = n < 8;
        for (size_t i = 0; i < n && !*text_out; i++) {
            int c = strcmp(t[i].status, status);
            if (c != 0 || strcmp(t[i].lang, lang) > 0) {
                done = true;
                break;
            }
            if (strcmp(t[i].lang, lang) == 0) {
                *text_out = t[i].body;
                t[i].body = NULL;
            }
        }
        if (n > 0)
            snprintf(cur, sizeof cur, "%s", t[n - 1].lang);
        store_templates_free(t, n);
        if (*text_out)
            return STORE_OK;
        if (done)
            return STORE_NOTFOUND;
    }
}

static void h_template_put(struct rq *r, union api_in *in)
{
    const struct api_template *t = &in->tmpl;
    int rc = store_template_set(r->a->st, r->agency_id, t->status, t->lang,
                                t->text);
    if (store_ok(r, rc, NULL))
        reply_later(r, 200, template_json(t->status, t->lang, t->text), false);
}

/* The {status}/{lang} of a GET or DELETE: 0, or -1 when r has been
 * answered (400). */
static int template_key(struct rq *r)
{
    struct api_error e;
    if (api_template_key(r->arg[0], r->arg[1], &e) == 0)
        return 0;
    reply_parse_error(r, &e);
    return -1;
}

static void h_template_get(struct rq *r, union api_in *in)
{
    (void)in;
    if (template_key(r) < 0)
        return;
    char *text = NULL;
    int rc = template_own(r->a->st, r->agency_id, r->arg[0], r->arg[1], &text);
    if (!store_ok(r, rc, no_template))
        return;
    json_t *j = template_json(r->arg[0], r->arg[1], text);
    free(text);
    reply_read(r, 200, j);
}

static void h_template_delete(struct rq *r, union api_in *in)
{
    (void)in;
    if (template_key(r) < 0)
        return;
    int rc = store_template_delete(r->a->st, r->agency_id, r->arg[0], r->arg[1]);
    if (!store_ok(r, rc, no_template))
        return;
    json_t *j = json_pack("{s:s, s:s, s:b}", "status", r->arg[0], "language",
                          r->arg[1], "deleted", 1);
    reply_later(r, 200, j, false);
}

/* The query of GET /v1/templates: limit (1..TEMPLATE_PAGE_MAX) and the
 * cursor after=STATUS/LANG.  0, or -1 when r has been answered (400). */
/* The request's query string into kv (the caller clears it, also after
 * a failure): 0, or -1 when r has been answered (400). */
static int query_of(struct rq *r, struct evkeyvalq *kv)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    kv->tqh_first = NULL;          /* TAILQ_INIT; evhttp_parse_query_str */
    kv->tqh_last = &kv->tqh_first; /* does the same when there is a query */
    if (q && evhttp_parse_query_str(q, kv) < 0) {
        reply_error(r, 400, "malformed query string", NULL);
        return -1;
    }
    return 0;
}

/* Clear kv; answer r 400 with why (naming field) when set: 0, or -1 when
 * r has been answered. */
static int query_done(struct rq *r, struct evkeyvalq *kv, const char *why,
                      const char *field)
{
    evhttp_clear_headers(kv);
    if (why)
        reply_error(r, 400, why, field);
    return why ? -1 : 0;
}

/* kv's "limit" into *limit (dflt when absent): false when it is not an
 * integer 1..max. */
static bool query_limit(const struct evkeyvalq *kv, long dflt, long max,
                        long *limit)
{
    const char *v = evhttp_find_header(kv, "limit");
    *limit = dflt;
    if (!v)
        return true;
    char *end;
    errno = 0;
    *limit = strtol(v, &end, 10);
    return *v && !*end && !errno && *limit >= 1 && *limit <= max;
}

static int template_page(struct rq *r, long *limit, char after_s[STORE_CODE_MAX],
                         char after_l[STORE_LANG_MAX])
{
    struct evkeyvalq kv;
    if (query_of(r, &kv) < 0)
        return -1;
    const char *why = NULL, *field = NULL;
    if (!query_limit(&kv, TEMPLATE_PAGE_DEFAULT, TEMPLATE_PAGE_MAX, limit)) {
        why = "\"limit\" must be an integer 1..500";
        field = "limit";
    }
    const char *v = why ? NULL : evhttp_find_header(&kv, "after");
    if (v) {
        const char *slash = strrchr(v, '/');
        size_t sl = slash ? (size_t)(slash - v) : 0;
        if (!slash || sl == 0 || sl >= STORE_CODE_MAX || !slash[1] ||
            strlen(slash + 1) >= STORE_LANG_MAX) {
            why = "\"after\" must be STATUS/LANGUAGE (the \"next\" of the "
                  "previous page)";
            field = "after";
        } else {
            memcpy(after_s, v, sl);
            after_s[sl] = '\0';
            snprintf(after_l, STORE_LANG_MAX, "%s", slash + 1);
        }
    }
    return query_done(r, &kv, why, field);
}

/* GET /v1/templates?after=STATUS/LANG&limit=N: one page, by (status,
 * lang); "next" is the cursor for the following page (null at the end). */
static void h_template_list(struct rq *r, union api_in *in)
{
    (void)in;
    char after_s[STORE_CODE_MAX] = "", after_l[STORE_LANG_MAX] = "";
    long limit;
    if (template_page(r, &limit, after_s, after_l) < 0)
        return;
    size_t want = (size_t)limit + 1, n = 0;
    struct store_template *t = calloc(want, sizeof *t);
    if (!t) {
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    int rc = store_template_list(r->a->st, r->agency_id, after_s, after_l, t,
                                 want, &n);
    if (!store_ok(r, rc, NULL)) {
        free(t);
        return;
    }
    json_t *arr = json_array();
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    for (size_t i = 0; arr && i < shown; i++)
        json_array_append_new(arr, template_json(t[i].status, t[i].lang,
                                                 t[i].body));
    json_t *next = json_null();
    if (n > (size_t)limit) {
        char cur[STORE_CODE_MAX + STORE_LANG_MAX + 1];
        snprintf(cur, sizeof cur, "%s/%s", t[shown - 1].status,
                 t[shown - 1].lang);
        json_decref(next);
        next = json_string(cur);
    }
    store_templates_free(t, n);
    free(t);
    json_t *j = json_pack("{s:o, s:o}", "templates", arr, "next", next);
    reply_read(r, 200, j);
}

/* ---- appeals (issue 12 appeals) ------------------------------------------------ */

#define APPEAL_PAGE_DEFAULT 20
#define APPEAL_PAGE_MAX 100
#define APPEAL_HISTORY_MAX 50
#define NO_APPEAL "no such appeal"

/* The appeal {ref} names, if it is r's agency's: 0 with *a, or -1 when
 * r has been answered: 400 for a reference that is not one (format or
 * check digit), 404 for one nobody has and for another agency's (the
 * same answer: nothing leaks). */
static int appeal_of(struct rq *r, struct store_appeal *a)
{
    char ref[APPEAL_REF_MAX];
    int prc = appeal_ref_parse(r->arg[0], strlen(r->arg[0]), ref);
    if (prc == APPEAL_REF_CHECK) {
        if (r->a->appeals.stats)
            r->a->appeals.stats->bad_ref++;
        reply_error(r, 400, "not a valid reference: its check digit does "
                    "not match (a digit mistyped or two swapped?)", "ref");
        return -1;
    }
    if (prc != APPEAL_REF_OK) {
        reply_error(r, 400, "not a valid reference: 9 digits, as "
                    "1234-5678-9", "ref");
        return -1;
    }
    int rc = store_appeal_get(r->a->st, ref, a);
    if (rc == STORE_OK && a->agency_id != r->agency_id)
        rc = STORE_NOTFOUND;
    static const struct rc_answer gone[] = {
        { STORE_NOTFOUND, 404, NO_APPEAL, NULL }, { 0, 0, NULL, NULL }
    };
    return store_ok(r, rc, gone) ? 0 : -1;
}

/* appeal_of() into a new appeal (the caller frees it), or NULL when r
 * has been answered. */
static struct store_appeal *appeal_load(struct rq *r)
{
    struct store_appeal *a = malloc(sizeof *a);
    if (!a)
        reply_error(r, 500, "out of memory", NULL);
    else if (appeal_of(r, a) < 0) {
        free(a);
        a = NULL;
    }
    return a;
}

/* An appeal as the agency sees it: never the phone of an anonymous one. */
static json_t *appeal_json(const struct store_appeal *a)
{
    char shown[APPEAL_REF_SHOW_MAX];
    appeal_ref_show(a->ref, shown);
    json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s}", "ref",
                          a->ref, "reference", shown, "category", a->category,
                          "anonymous", a->anonymous, "text", a->text,
                          "language", a->lang, "channel", a->channel, "state",
                          a->state);
    if (j && !a->anonymous)
        json_object_set_new(j, "phone", json_pack("s+", "+", a->msisdn));
    if (j) {
        set_time(j, "created", a->created_at);
        set_time(j, "updated", a->updated_at);
    }
    return j;
}

/* The query of GET /v1/appeals: state (or every state), limit
 * (1..APPEAL_PAGE_MAX) and after=REF (the "next" of the previous page,
 * one of the agency's appeals).  0, or -1 when r has been answered. */
static int appeal_page(struct rq *r, int *state, long *limit, int64_t *after)
{
    struct evkeyvalq kv;
    if (query_of(r, &kv) < 0)
        return -1;
    const char *why = NULL, *field = NULL;
    const char *v = evhttp_find_header(&kv, "state");
    *state = v ? appeals_state_parse(v) : -1;
    if (v && *state < 0)
        why = "\"state\" must be new, in_progress, answered, closed or "
              "rejected", field = "state";
    if (!why && !query_limit(&kv, APPEAL_PAGE_DEFAULT, APPEAL_PAGE_MAX, limit))
        why = "\"limit\" must be an integer 1..100", field = "limit";
    *after = 0;
    v = why ? NULL : evhttp_find_header(&kv, "after");
    struct store_appeal *a = v ? malloc(sizeof *a) : NULL;
    char ref[APPEAL_REF_MAX];
    if (v && (!a || appeal_ref_parse(v, strlen(v), ref) != APPEAL_REF_OK ||
              store_appeal_get(r->a->st, ref, a) != STORE_OK ||
              a->agency_id != r->agency_id))
        why = "\"after\" must be the \"next\" of the previous page",
        field = "after";
    else if (v)
        *after = a->id;
    free(a);
    return query_done(r, &kv, why, field);
}

/* GET /v1/appeals?state=new&after=REF&limit=N: the agency's appeals of
 * its own categories, oldest first; "next" is null on the last page. */
static void h_appeal_list(struct rq *r, union api_in *in)
{
    (void)in;
    int state;
    long limit;
    int64_t after;
    if (appeal_page(r, &state, &limit, &after) < 0)
        return;
    size_t want = (size_t)limit + 1, n = 0;
    struct store_appeal *v = calloc(want, sizeof *v);
    if (!v) {
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    int rc = store_appeals_list(r->a->st, r->agency_id,
                                appeals_state_name(state), after, v, want, &n);
    if (!store_ok(r, rc, NULL)) {
        free(v);
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < shown; i++)
        json_array_append_new(arr, appeal_json(&v[i]));
    json_t *next = n > shown ? json_string(v[shown - 1].ref) : json_null();
    free(v);
    reply_read(r, 200, json_pack("{s:o, s:o}", "appeals", arr, "next", next));
}

/* The history of appeal a, oldest first (at most APPEAL_HISTORY_MAX). */
static json_t *appeal_history_json(struct store *st,
                                   const struct store_appeal *a)
{
    struct store_appeal_event *ev = calloc(APPEAL_HISTORY_MAX, sizeof *ev);
    size_t n = 0;
    json_t *arr = json_array();
    if (!ev || store_appeal_history(st, a->id, 0, ev, APPEAL_HISTORY_MAX,
                                    &n) != STORE_OK)
        n = 0;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:I}", "kind", ev[i].kind,
                              "state", ev[i].state, "by", ev[i].who, "at",
                              (json_int_t)ev[i].at);
        if (e && ev[i].text[0])
            json_object_set_new(e, strcmp(ev[i].kind, "reply") == 0 ? "text"
                                : "note", json_string(ev[i].text));
        json_array_append_new(arr, e);
    }
    free(ev);
    return arr;
}

/* GET /v1/appeals/{ref}: one appeal with its history. */
static void h_appeal_get(struct rq *r, union api_in *in)
{
    (void)in;
    struct store_appeal *a = appeal_load(r);
    if (!a)
        return;
    json_t *j = appeal_json(a);
    if (j)
        json_object_set_new(j, "history", appeal_history_json(r->a->st, a));
    reply_read(r, 200, j);
    free(a);
}

/* "agency:CODE": who made a change, in the history. */
static void appeal_who(const struct rq *r, char *who, size_t n)
{
    snprintf(who, n, "agency:%s", r->agency);
}

/* POST /v1/appeals/{ref}/state {"state", "note"}: along the transition
 * table (appeals.h) or 409; the same state again changes nothing (200,
 * "changed": false), so a retry is safe. */
static void h_appeal_state(struct rq *r, union api_in *in)
{
    int to = appeals_state_parse(in->appeal.state);
    if (to < 0) {
        reply_error(r, 400, "\"state\" must be new, in_progress, answered, "
                    "closed or rejected", "state");
        return;
    }
    struct store_appeal *a = appeal_load(r);
    if (!a)
        return;
    int from = appeals_state_parse(a->state);
    if (from == to) {
        reply_read(r, 200, json_pack("{s:s, s:s, s:b}", "ref", a->ref,
                                     "state", a->state, "changed", 0));
        goto out;
    }
    if (!appeals_next_ok(from, to)) {
        char msg[120];
        snprintf(msg, sizeof msg, "an appeal in state %s cannot become %s",
                 a->state, in->appeal.state);
        reply_error(r, 409, msg, "state");
        goto out;
    }
    char who[STORE_CODE_MAX + 8];
    appeal_who(r, who, sizeof who);
    if (store_ok(r, store_appeal_change(r->a->st, a->id, "state",
                                        in->appeal.state, in->appeal.text,
                                        who, now_ms()), NULL))
        reply_later(r, 200, json_pack("{s:s, s:s, s:b}", "ref", a->ref,
                                      "state", in->appeal.state, "changed", 1),
                    false);
out:
    free(a);
}

/* POST /v1/appeals/{ref}/reply {"text", "idempotency_key"}: the answer
 * goes to the phone that filed it by SMS (the agency never learns an
 * anonymous one's phone); the appeal becomes answered. */
static void h_appeal_reply(struct rq *r, union api_in *in)
{
    struct store_appeal *a = appeal_load(r);
    if (!a)
        return;
    if (!appeals_can_reply(appeals_state_parse(a->state))) {
        char msg[120];
        snprintf(msg, sizeof msg, "an appeal in state %s takes no reply",
                 a->state);
        reply_error(r, 409, msg, "state");
        goto out;
    }
    char who[STORE_CODE_MAX + 8];
    appeal_who(r, who, sizeof who);
    struct appeals_opts o = r->a->appeals;
    o.expiry_ms = r->a->expiry_ms;
    int64_t sms = 0;
    int rc = appeals_reply(r->a->st, a, in->appeal.text, who, r->client,
                           in->appeal.idem_key[0] ? in->appeal.idem_key : NULL,
                           &o, now_ms(), &sms);
    static const struct rc_answer refused[] = {
        { STORE_CONFLICT, 409, "idempotency key was already used for a "
          "different reply", "idempotency_key" },
        { STORE_INVALID, 400, "invalid reply", "text" },
        { 0, 0, NULL, NULL }
    };
    if (rc == STORE_DUPLICATE || store_ok(r, rc, refused))
        reply_later(r, 200, json_pack("{s:s, s:s, s:I, s:b}", "ref", a->ref,
                                      "state", "answered", "sms_id",
                                      (json_int_t)sms, "duplicate",
                                      rc == STORE_DUPLICATE), false);
out:
    free(a);
}

/* ---- read-back: what an agency wrote, read back (issue 12 part 3) ---------- */

/* A list's query string into kv and its "limit" (default 100, 1..500):
 * 0, or -1 when r has been answered (kv cleared then). */
static int list_query(struct rq *r, struct evkeyvalq *kv, long *limit)
{
    if (query_of(r, kv) < 0) {
        evhttp_clear_headers(kv);
        return -1;
    }
    if (!query_limit(kv, TEMPLATE_PAGE_DEFAULT, TEMPLATE_PAGE_MAX, limit))
        return query_done(r, kv, "\"limit\" must be an integer 1..500", "limit");
    return 0;
}

/* The caller's office `code` (a query parameter): its id.  0, or -1 when
 * r has been answered (422 unknown, 403 another agency's). */
static int own_office(struct rq *r, const char *code, int64_t *id)
{
    static const struct rc_answer unknown[] = {
        { STORE_NOTFOUND, 422, "unknown office", "office" },
        { STORE_INVALID, 422, "unknown office", "office" },
        { 0, 0, NULL, NULL }
    };
    int64_t owner;
    if (!store_ok(r, store_office_by_code(r->a->st, code, id, &owner), unknown))
        return -1;
    if (owner != r->agency_id) {
        reply_error(r, 403, "the office belongs to another agency", "office");
        return -1;
    }
    return 0;
}

/* {"ky": {"name": ..., "address": ...}, ...} (offices) or {"ky": NAME}. */
static json_t *names_json(struct store *st, bool office, int64_t id)
{
    struct store_name n[8];
    size_t k = 0;
    json_t *o = json_object();
    if (store_names(st, office, id, n, 8, &k) != STORE_OK)
        return o;
    for (size_t i = 0; o && i < k; i++)
        json_object_set_new(o, n[i].lang, office
            ? json_pack("{s:s, s:s*}", "name", n[i].name, "address",
                        n[i].address[0] ? n[i].address : NULL)
            : json_string(n[i].name));
    return o;
}

/* GET /v1/offices and GET /v1/services ?after=CODE&limit=N: the caller's
 * own, by code, each with its names per language. */
static void coded_list(struct rq *r, bool office)
{
    struct evkeyvalq kv;
    long limit;
    if (list_query(r, &kv, &limit) < 0)
        return;
    char after[STORE_CODE_MAX] = "";
    const char *v = evhttp_find_header(&kv, "after");
    if (v && strlen(v) >= sizeof after) {
        query_done(r, &kv, "\"after\" is not a code", "after");
        return;
    }
    snprintf(after, sizeof after, "%s", v ? v : "");
    evhttp_clear_headers(&kv);
    size_t want = (size_t)limit + 1, n = 0;
    struct store_coded *c = calloc(want, sizeof *c);
    if (!c) {
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    if (!store_ok(r, store_coded_list(r->a->st, office, r->agency_id, after, c,
                                      want, &n), NULL)) {
        free(c);
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < shown; i++)
        json_array_append_new(arr, json_pack("{s:s, s:o}", "code", c[i].code,
                                             "names", names_json(r->a->st, office,
                                                                 c[i].id)));
    json_t *next = n > shown ? json_string(c[shown - 1].code) : json_null();
    free(c);
    reply_read(r, 200, json_pack("{s:o, s:o}", office ? "offices" : "services",
                                 arr, "next", next));
}

static void h_offices_list(struct rq *r, union api_in *in)
{
    (void)in;
    coded_list(r, true);
}

static void h_services_list(struct rq *r, union api_in *in)
{
    (void)in;
    coded_list(r, false);
}

/* A service's code by id, "" when it has none (for list rows). */
static void service_code(struct store *st, int64_t id, char code[STORE_CODE_MAX])
{
    int64_t agency;
    if (store_service_get(st, id, code, STORE_CODE_MAX, &agency) != STORE_OK)
        code[0] = '\0';
}

struct slots_query {
    int64_t office_id, service_id;
    char from[STORE_DAY_MAX], to[STORE_DAY_MAX];
    struct store_slot after;    /* the cursor DAY/TIME/ID; id 0: none */
    long limit;
};

/* The caller's service `code` (a query parameter) into *id.  0, or -1
 * when r has been answered (422 unknown, 403 another agency's). */
static int own_service(struct rq *r, const char *code, int64_t *id)
{
    int64_t owner = 0;
    int rc = store_service_by_code(r->a->st, code, id, &owner);
    if (rc == STORE_OK && owner == r->agency_id)
        return 0;
    reply_error(r, rc == STORE_OK ? 403 : 422, rc == STORE_OK
                ? "the service belongs to another agency" : "unknown service",
                "service");
    return -1;
}

/* GET /v1/slots's query: office (required), service, from (default
 * today), to (default 30 days on), after=DAY/TIME/ID, limit.  0, or -1
 * when r has been answered. */
static int slots_query(struct rq *r, struct slots_query *q)
{
    struct evkeyvalq kv;
    memset(q, 0, sizeof *q);
    if (list_query(r, &kv, &q->limit) < 0)
        return -1;
    const char *office = evhttp_find_header(&kv, "office");
    const char *service = evhttp_find_header(&kv, "service");
    const char *from = evhttp_find_header(&kv, "from");
    const char *to = evhttp_find_header(&kv, "to");
    const char *after = evhttp_find_header(&kv, "after");
    if (!office || !*office)
        return query_done(r, &kv, "\"office\" is required (an office code)", "office");
    booking_day_of(now_ms(), 0, q->from);
    booking_day_of(now_ms(), 30, q->to);
    if ((from && !api_day_ok(from)) || (to && !api_day_ok(to)))
        return query_done(r, &kv, "\"from\" and \"to\" are days YYYY-MM-DD",
                          from && !api_day_ok(from) ? "from" : "to");
    if (from)
        snprintf(q->from, sizeof q->from, "%s", from);
    if (to)
        snprintf(q->to, sizeof q->to, "%s", to);
    if (after && (sscanf(after, "%10[0-9-]/%5[0-9:]/%" SCNd64, q->after.day,
                         q->after.time, &q->after.id) != 3 || q->after.id <= 0))
        return query_done(r, &kv, "\"after\" must be DAY/TIME/ID (the \"next\" "
                          "of the previous page)", "after");
    int rc = own_office(r, office, &q->office_id);
    if (rc == 0 && service)
        rc = own_service(r, service, &q->service_id);
    evhttp_clear_headers(&kv);
    return rc;
}

/* GET /v1/slots?office=&service=&from=&to=: the office's slots by day and
 * time, full ones too, with capacity, booked and free. */
static void h_slots_list(struct rq *r, union api_in *in)
{
    (void)in;
    struct slots_query q;
    if (slots_query(r, &q) < 0)
        return;
    size_t want = (size_t)q.limit + 1, n = 0;
    struct store_slot *sl = calloc(want, sizeof *sl);
    if (!sl) {
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    if (!store_ok(r, store_slots_list(r->a->st, q.office_id, q.service_id, q.from,
                                      q.to, q.after.id ? &q.after : NULL, sl, want,
                                      &n), NULL)) {
        free(sl);
        return;
    }
    size_t shown = n > (size_t)q.limit ? (size_t)q.limit : n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < shown; i++) {
        char svc[STORE_CODE_MAX];
        service_code(r->a->st, sl[i].service_id, svc);
        json_array_append_new(arr, json_pack(
            "{s:I, s:s, s:s, s:s, s:i, s:i, s:i}", "id", (json_int_t)sl[i].id,
            "service", svc, "day", sl[i].day, "time", sl[i].time, "capacity",
            sl[i].capacity, "booked", sl[i].booked, "free",
            sl[i].capacity - sl[i].booked));
    }
    json_t *next = json_null();
    if (n > shown) {
        char cur[64];
        snprintf(cur, sizeof cur, "%s/%s/%" PRId64, sl[shown - 1].day,
                 sl[shown - 1].time, sl[shown - 1].id);
        json_decref(next);
        next = json_string(cur);
    }
    free(sl);
    reply_read(r, 200, json_pack("{s:o, s:o}", "slots", arr, "next", next));
}

/* GET /v1/bookings's query: office and day (required), after=TIME/ID,
 * limit.  0, or -1 when r has been answered. */
static int bookings_query(struct rq *r, int64_t *office_id, char day[STORE_DAY_MAX],
                          char after_t[STORE_TIME_MAX], int64_t *after_id,
                          long *limit)
{
    struct evkeyvalq kv;
    if (list_query(r, &kv, limit) < 0)
        return -1;
    const char *office = evhttp_find_header(&kv, "office");
    const char *d = evhttp_find_header(&kv, "day");
    const char *after = evhttp_find_header(&kv, "after");
    if (!office || !*office)
        return query_done(r, &kv, "\"office\" is required (an office code)", "office");
    if (!d || !api_day_ok(d))
        return query_done(r, &kv, "\"day\" is required, YYYY-MM-DD", "day");
    snprintf(day, STORE_DAY_MAX, "%s", d);
    after_t[0] = '\0';
    *after_id = 0;
    if (after && (sscanf(after, "%5[0-9:]/%" SCNd64, after_t, after_id) != 2 ||
                  *after_id <= 0))
        return query_done(r, &kv, "\"after\" must be TIME/ID (the \"next\" of the "
                          "previous page)", "after");
    int rc = own_office(r, office, office_id);
    evhttp_clear_headers(&kv);
    return rc;
}

/* GET /v1/bookings?office=&day=: a centre's day, every booking of the
 * office on that day (active, cancelled, moved) by time, only the
 * caller's own offices. */
static void h_bookings_list(struct rq *r, union api_in *in)
{
    (void)in;
    int64_t office_id, after_id;
    char day[STORE_DAY_MAX], after_t[STORE_TIME_MAX];
    long limit;
    if (bookings_query(r, &office_id, day, after_t, &after_id, &limit) < 0)
        return;
    size_t want = (size_t)limit + 1, n = 0;
    struct store_day_booking *b = calloc(want, sizeof *b);
    if (!b) {
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    if (!store_ok(r, store_bookings_day(r->a->st, office_id, day, after_t, after_id,
                                        b, want, &n), NULL)) {
        free(b);
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < shown; i++) {
        char svc[STORE_CODE_MAX];
        service_code(r->a->st, b[i].b.service_id, svc);
        json_array_append_new(arr, json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s, s:s*, s:I}", "id", (json_int_t)b[i].b.id,
            "service", svc, "day", b[i].b.day, "time", b[i].b.time, "state",
            b[i].state, "phone", b[i].b.msisdn, "language",
            b[i].b.lang[0] ? b[i].b.lang : NULL, "created_at",
            (json_int_t)b[i].b.created_at));
    }
    json_t *next = json_null();
    if (n > shown) {
        char cur[48];
        snprintf(cur, sizeof cur, "%s/%" PRId64, b[shown - 1].b.time, b[shown - 1].b.id);
        json_decref(next);
        next = json_string(cur);
    }
    free(b);
    reply_read(r, 200, json_pack("{s:s, s:o, s:o}", "day", day, "bookings", arr,
                                 "next", next));
}

#define APP_HISTORY_MAX 100

/* GET /v1/applications/{number}: the caller's application with its
 * history, newest first (at most APP_HISTORY_MAX; "history_truncated"
 * says when there is more). */
static void h_app_get(struct rq *r, union api_in *in)
{
    (void)in;
    static const struct rc_answer none[] = {
        { STORE_NOTFOUND, 404, "no such application", NULL },
        { STORE_INVALID, 404, "no such application", NULL },
        { 0, 0, NULL, NULL }
    };
    struct store_app app;
    if (!store_ok(r, store_app_get(r->a->st, r->agency_id, r->arg[0], &app), none))
        return;
    struct store_app_event *ev = calloc(APP_HISTORY_MAX + 1, sizeof *ev);
    size_t n = 0;
    if (!ev) {
        reply_error(r, 500, "out of memory", NULL);
        return;
    }
    if (!store_ok(r, store_app_history(r->a->st, r->agency_id, r->arg[0], ev,
                                       APP_HISTORY_MAX + 1, &n), NULL)) {
        free(ev);
        return;
    }
    size_t shown = n > APP_HISTORY_MAX ? APP_HISTORY_MAX : n;
    json_t *hist = json_array();
    for (size_t i = 0; hist && i < shown; i++)
        json_array_append_new(hist, json_pack("{s:s, s:s*, s:I}", "status",
                                              ev[i].status, "note", ev[i].note[0]
                                              ? ev[i].note : NULL, "at",
                                              (json_int_t)ev[i].at));
    free(ev);
    char svc[STORE_CODE_MAX] = "";
    if (app.service_id)
        service_code(r->a->st, app.service_id, svc);
    reply_read(r, 200, json_pack("{s:s, s:s, s:s, s:s*, s:I, s:o, s:b}", "number",
                                 app.number, "status", app.status, "owner", app.owner,
                                 "service", svc[0] ? svc : NULL, "updated_at",
                                 (json_int_t)app.updated_at, "history", hist,
                                 "history_truncated", n > shown));
}

/* ---- body parsers ------------------------------------------------------------- */

/* Which body a route takes, and so which member of union api_in. */
enum body_kind {
    BODY_NONE = 0,      /* no body, no Content-Type check */
    BODY_MESSAGE, BODY_BATCH, BODY_NOTICE, BODY_APP_STATUS, BODY_OFFICE,
    BODY_SERVICE, BODY_SLOT, BODY_TEMPLATE,
    BODY_APPEAL_STATE, BODY_APPEAL_REPLY      /* issue 12 appeals */
};

/*
 * A route's body parser: the pure api_parse_*() of its kind, plus what the
 * route checks between Content-Type and the body (an application number
 * from the path: 404; USSN not wired: 501).  Returns 0, or -1 with e (the
 * answer); either way `in` can be cleared with clear_body().
 */
static int parse_body(struct rq *r, enum body_kind kind, const uint8_t *b,
                      size_t n, union api_in *in, struct api_error *e)
{
    switch (kind) {
    case BODY_MESSAGE:
        return api_parse_message(b, n, &in->message, e);
    case BODY_BATCH:
        return api_parse_batch(b, n, &in->batch, e);
    case BODY_NOTICE:
        if (!r->a->ussd_notice)
            return api_fail(e, 501, NULL, "USSD notices are not available on "
                        "this gateway");
        return api_parse_notice(b, n, &in->notice, e);
    case BODY_APP_STATUS:
        memset(&in->app, 0, sizeof in->app);
        if (!api_is_code(r->arg[0]))
            return api_fail(e, 404, NULL, "application number must be 1..63 of "
                        "A-Z a-z 0-9 . _ : -");
        return api_parse_app_status(b, n, &in->app, e);
    case BODY_OFFICE:
        return api_parse_office(b, n, &in->office, e);
    case BODY_SERVICE:
        return api_parse_service(b, n, &in->service, e);
    case BODY_SLOT:
        return api_parse_slot(b, n, &in->slot, e);
    case BODY_TEMPLATE:
        return api_parse_template(b, n, r->arg[0], r->arg[1], &in->tmpl, e);
    case BODY_APPEAL_STATE:
        return api_parse_appeal_state(b, n, &in->appeal, e);
    case BODY_APPEAL_REPLY:
        return api_parse_appeal_reply(b, n, &in->appeal, e);
    case BODY_NONE:
        break;
    }
    return 0;
}

/* Free what parse_body() put in `in`. */
static void clear_body(enum body_kind kind, union api_in *in)
{
    switch (kind) {
    case BODY_MESSAGE: api_message_clear(&in->message); break;
    case BODY_BATCH: api_batch_clear(&in->batch); break;
    case BODY_APP_STATUS: api_app_status_clear(&in->app); break;
    case BODY_OFFICE: api_office_clear(&in->office); break;
    case BODY_SERVICE: api_service_clear(&in->service); break;
    case BODY_TEMPLATE: api_template_clear(&in->tmpl); break;
    case BODY_APPEAL_STATE: case BODY_APPEAL_REPLY:
        api_appeal_clear(&in->appeal);
        break;
    case BODY_NONE: case BODY_NOTICE: case BODY_SLOT: break;
    }
}

/* ---- path parameters ------------------------------------------------------- */

/* One {param} of a path: n bytes at p, inside the request's path. */
struct seg {
    const char *p;
    size_t n;
};

/* {id} of a message: digits, > 0 and in range, else r->id = 0 (no such
 * message). */
static bool a_id(struct rq *r, const struct seg *s)
{
    int64_t id = 0;
    for (size_t i = 0; i < s[0].n; i++) {
        unsigned d = (unsigned)((unsigned char)s[0].p[i] - '0');
        if (d > 9 || id > (INT64_MAX - (int64_t)d) / 10) {
            id = 0;
            break;
        }
        id = id * 10 + d;
    }
    r->id = id;
    return true;
}

/* {number} of an application, as written (checked by its body parser);
 * longer than any code: no such resource. */
static bool a_number(struct rq *r, const struct seg *s)
{
    if (s[0].n > STORE_CODE_MAX)
        return false;
    memcpy(r->argbuf[0], s[0].p, s[0].n);
    r->argbuf[0][s[0].n] = '\0';
    r->arg[0] = r->argbuf[0];
    return true;
}

/* Percent-decode one path segment s[0..n) into out[0..cap); -1 when it
 * does not fit or decodes to a NUL. */
static int path_segment(const char *s, size_t n, char *out, size_t cap)
{
    char raw[3 * STORE_CODE_MAX];
    if (n == 0 || n >= sizeof raw)
        return -1;
    memcpy(raw, s, n);
    raw[n] = '\0';
    size_t dl = 0;
    char *d = evhttp_uridecode(raw, 0, &dl);
    int rc = d && dl < cap && strlen(d) == dl ? 0 : -1;
    if (rc == 0)
        memcpy(out, d, dl + 1);
    free(d);
    return rc;
}

/* {status}/{lang} of a template, percent-decoded. */
static bool a_template(struct rq *r, const struct seg *s)
{
    if (path_segment(s[0].p, s[0].n, r->argbuf[0], STORE_CODE_MAX) < 0 ||
        path_segment(s[1].p, s[1].n, r->argbuf[1], STORE_LANG_MAX) < 0)
        return false;
    r->arg[0] = r->argbuf[0];
    r->arg[1] = r->argbuf[1];
    return true;
}

/* ---- routing ------------------------------------------------------------------ */

typedef bool args_fn(struct rq *r, const struct seg *s);
typedef void handler_fn(struct rq *r, union api_in *in);

#define NO_TEMPLATE "no such resource (templates are " \
                    "/v1/templates/{status}/{language})"

/*
 * The routes: one row per (method, path).  path is literal segments and
 * {param}s (one non-empty segment each, at most ROUTE_ARGS); the first row
 * whose path fits is the resource (so a literal path is listed before a
 * {param} one it would also fit), and the rows of one path are adjacent
 * (they make its 405's Allow header, in this order).  scope NULL: no
 * token.  body: the body it parses (parse_body), BODY_NONE for none.  args
 * turns the {param}s into r->arg / r->id (false: 404).  miss answers a 404
 * for a path that starts like this row's but fits no route.
 */
#define ROUTE_ARGS 2
static const struct route {
    enum evhttp_cmd_type method;
    const char *path;
    const char *scope;
    enum body_kind body;
    args_fn *args;
    const char *miss;
    handler_fn *handler;
} routes[] = {
    { EVHTTP_REQ_GET, "/v1/health", NULL, BODY_NONE, NULL, NULL, h_health },
    { EVHTTP_REQ_POST, "/v1/messages", "messages", BODY_MESSAGE, NULL, NULL,
      h_message_post },
    { EVHTTP_REQ_POST, "/v1/messages/batch", "messages", BODY_BATCH, NULL, NULL,
      h_message_batch },
    { EVHTTP_REQ_GET, "/v1/messages/{id}", "messages", BODY_NONE, a_id, NULL,
      h_message_get },
    { EVHTTP_REQ_POST, "/v1/ussd/notices", "messages", BODY_NOTICE, NULL, NULL,
      h_ussd_notice },
    { EVHTTP_REQ_POST, "/v1/webhook-secret", "messages", BODY_NONE, NULL, NULL,
      h_webhook_secret },
    { EVHTTP_REQ_GET, "/v1/applications/{number}", "applications", BODY_NONE,
      a_number, NULL, h_app_get },
    { EVHTTP_REQ_POST, "/v1/applications/{number}/status", "applications",
      BODY_APP_STATUS, a_number, NULL, h_app_status },
    { EVHTTP_REQ_POST, "/v1/offices", "offices", BODY_OFFICE, NULL, NULL,
      h_office },
    { EVHTTP_REQ_GET, "/v1/offices", "offices", BODY_NONE, NULL, NULL,
      h_offices_list },
    { EVHTTP_REQ_POST, "/v1/services", "offices", BODY_SERVICE, NULL, NULL,
      h_service },
    { EVHTTP_REQ_GET, "/v1/services", "offices", BODY_NONE, NULL, NULL,
      h_services_list },
    { EVHTTP_REQ_POST, "/v1/slots", "slots", BODY_SLOT, NULL, NULL, h_slot },
    { EVHTTP_REQ_GET, "/v1/slots", "slots", BODY_NONE, NULL, NULL, h_slots_list },
    { EVHTTP_REQ_GET, "/v1/bookings", "slots", BODY_NONE, NULL, NULL,
      h_bookings_list },
    { EVHTTP_REQ_GET, "/v1/templates", "templates", BODY_NONE, NULL, NULL,
      h_template_list },
    { EVHTTP_REQ_GET, "/v1/templates/{status}/{lang}", "templates", BODY_NONE,
      a_template, NO_TEMPLATE, h_template_get },
    { EVHTTP_REQ_PUT, "/v1/templates/{status}/{lang}", "templates",
      BODY_TEMPLATE, a_template, NO_TEMPLATE, h_template_put },
    { EVHTTP_REQ_DELETE, "/v1/templates/{status}/{lang}", "templates",
      BODY_NONE, a_template, NO_TEMPLATE, h_template_delete },
    /* issue 12 appeals */
    { EVHTTP_REQ_GET, "/v1/appeals", "appeals", BODY_NONE, NULL, NULL,
      h_appeal_list },
    { EVHTTP_REQ_GET, "/v1/appeals/{ref}", "appeals", BODY_NONE, a_number,
      NULL, h_appeal_get },
    { EVHTTP_REQ_POST, "/v1/appeals/{ref}/state", "appeals",
      BODY_APPEAL_STATE, a_number, NULL, h_appeal_state },
    { EVHTTP_REQ_POST, "/v1/appeals/{ref}/reply", "appeals",
      BODY_APPEAL_REPLY, a_number, NULL, h_appeal_reply },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static const char *method_name(enum evhttp_cmd_type c)
{
    switch (c) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

/* Does path fit pattern?  Fills seg[] with its {param}s. */
static bool path_fits(const char *pat, const char *path, struct seg *seg)
{
    size_t k = 0;
    while (*pat) {
        if (*pat != '{') {
            if (*pat++ != *path++)
                return false;
            continue;
        }
        size_t n = strcspn(path, "/");
        if (n == 0 || k == ROUTE_ARGS)
            return false;
        seg[k].p = path;
        seg[k++].n = n;
        path += n;
        pat = strchr(pat, '}') + 1;
    }
    return *path == '\0';
}

/* 405 with the methods of res's path in Allow. */
static void not_allowed(struct rq *r, const struct route *res)
{
    char allow[64] = "";
    for (const struct route *k = res;
         k < routes + NROUTES && strcmp(k->path, res->path) == 0; k++) {
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "",
                 method_name(k->method));
    }
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
    reply_error(r, 405, "method not allowed", NULL);
}

/* The route for r's method and path, its {param}s set in r; NULL when r
 * has been answered (404, 405). */
static const struct route *route_of(struct rq *r)
{
    struct seg seg[ROUTE_ARGS];
    const struct route *res = NULL;
    const char *miss = NULL;
    for (size_t i = 0; i < NROUTES && !res; i++) {
        if (path_fits(routes[i].path, r->path, seg))
            res = &routes[i];
        else if (!miss && routes[i].miss &&
                 strncmp(routes[i].path, r->path,
                         strcspn(routes[i].path, "{")) == 0)
            miss = routes[i].miss;
    }
    if (res && res->args && !res->args(r, seg))
        miss = res->miss, res = NULL;
    if (!res) {
        reply_error(r, 404, miss ? miss : "no such resource", NULL);
        return NULL;
    }
    enum evhttp_cmd_type m = evhttp_request_get_command(r->req);
    for (const struct route *k = res;
         k < routes + NROUTES && strcmp(k->path, res->path) == 0; k++)
        if (k->method == m)
            return r->rt = k;
    not_allowed(r, res);
    return NULL;
}

/* The one preamble: token and scope; for a route with a body, its
 * Content-Type and the body parsed; then the handler. */
static void serve(struct rq *r, const struct route *rt)
{
    if (rt->scope && authorize(r, rt->scope) < 0)
        return;
    union api_in in;
    if (rt->body != BODY_NONE) {
        if (check_json_type(r) < 0)
            return;
        size_t len;
        const uint8_t *body = body_of(r, &len);
        struct api_error e;
        if (parse_body(r, rt->body, body, len, &in, &e) < 0) {
            reply_parse_error(r, &e);
            clear_body(rt->body, &in);
            return;
        }
    }
    rt->handler(r, &in);
    clear_body(rt->body, &in);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api *a = arg;
    a->stats.requests++;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    struct rq r = {
        .a = a, .req = req,
        .method = method_name(evhttp_request_get_command(req)),
        .path = path ? path : "",
        .t0_us = a->metrics ? kz_mono_us() : 0,
    };
    const struct route *rt = route_of(&r);
    if (rt)
        serve(&r, rt);
}

/* ---- metrics (issue 11) ---------------------------------------------------------- */

/* "POST /v1/messages": the route's label (a template, never a value). */
static void route_label(const struct route *rt, char *buf, size_t n)
{
    if (rt)
        snprintf(buf, n, "%s %s", method_name(rt->method), rt->path);
    else
        snprintf(buf, n, "none");
}

/* An answer sent: counted by (route, code), its time observed.  A pair is
 * registered the first time it is met (at most API_COUNTS_MAX pairs: the
 * routes are a fixed table, the codes a few each). */
static void count_answer(struct api *a, const struct route *rt, int code,
                         uint64_t t0_us)
{
    if (!a->metrics)
        return;
    size_t i = 0;
    while (i < a->n_counts && (a->counts[i].rt != rt || a->counts[i].code != code))
        i++;
    if (i == a->n_counts && i < API_COUNTS_MAX) {
        char route[96], c[8];
        route_label(rt, route, sizeof route);
        snprintf(c, sizeof c, "%d", code);
        struct kz_label l[2] = { { "route", route }, { "code", c } };
        char err[160];
        a->counts[i] = (struct api_count){ rt, code, kz_metrics_counter(
            a->metrics, "kyzmat_api_requests_total", "API requests answered, "
            "by route and HTTP status.", l, 2, err, sizeof err) };
        if (a->counts[i].n)
            a->n_counts++;
    }
    if (i < a->n_counts)
        kz_counter_add(a->counts[i].n, 1);
    size_t k = rt ? (size_t)(rt - routes) : NROUTES;
    if (t0_us && k < sizeof a->seconds / sizeof a->seconds[0] && a->seconds[k])
        kz_hist_observe(a->seconds[k], (double)(kz_mono_us() - t0_us) / 1e6);
}

int api_metrics(struct api *a, struct kz_metrics *m, char *err, size_t errlen)
{
    static const double le[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
    _Static_assert(NROUTES <= sizeof a->seconds / sizeof a->seconds[0],
                   "api.seconds[] too small for the route table");
    for (size_t k = 0; k < NROUTES; k++) {
        char route[96];
        route_label(&routes[k], route, sizeof route);
        struct kz_label l = { "route", route };
        a->seconds[k] = kz_metrics_histogram(
            m, "kyzmat_api_request_seconds", "From a complete request to its "
            "answer (after the commit for writes).", &l, 1, le,
            sizeof le / sizeof le[0], err, errlen);
        if (!a->seconds[k])
            return -1;
    }
    a->metrics = m;
    return 0;
}

/* ---- life cycle ---------------------------------------------------------------- */

/* issue 13 tls-http: "AB:CD:..." or "abcd..." (64 hex digits) -> out. */
static int sha256_hex(const char *s, unsigned char out[32])
{
    size_t n = 0;
    for (; *s && n < 64; s++) {
        if (*s == ':')
            continue;
        const char *hex = "0123456789abcdef";
        const char *d = isxdigit((unsigned char)*s) ? strchr(hex, tolower(*s)) : NULL;
        if (!d)
            return -1;
        out[n / 2] = (unsigned char)((n % 2 ? out[n / 2] << 4 : 0) | (d - hex));
        n++;
    }
    return n == 64 && !*s ? 0 : -1;
}

static void xroad_free(struct api *a)
{
    for (size_t i = 0; i < a->xroad.n; i++) {
        free(a->xroad.m[i].client);
        free(a->xroad.m[i].agency);
        free(a->xroad.m[i].scopes);
    }
    free(a->xroad.m);
    a->xroad.m = NULL;
    a->xroad.n = 0;
}

/* The X-Road members and the security server's fingerprint.  0, or -1. */
static int xroad_setup(struct api *a, const struct api_opts *o, char *err,
                       size_t errlen)
{
    if (!o->xroad_members_n)
        return 0;
    char ferr[300];
    if (!o->xroad_ss_cert || (sha256_hex(o->xroad_ss_cert, a->xroad.ss) != 0 &&
        http_edge_cert_file_sha256(o->xroad_ss_cert, a->xroad.ss, ferr,
                                   sizeof ferr) != 0)) {
        snprintf(err, errlen, "http.xroad.security_server_cert: %s",
                 o->xroad_ss_cert ? ferr : "missing");
        return -1;
    }
    a->xroad.m = calloc(o->xroad_members_n, sizeof *a->xroad.m);
    if (!a->xroad.m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < o->xroad_members_n; i++, a->xroad.n++) {
        const char *item = o->xroad_members[i], *eq = strchr(item, '=');
        const char *sp = eq ? strchr(eq, ' ') : NULL;
        struct xroad_member *m = &a->xroad.m[i];
        m->client = eq ? strndup(item, (size_t)(eq - item)) : NULL;
        m->agency = eq ? strndup(eq + 1, sp ? (size_t)(sp - eq - 1) : strlen(eq + 1))
                       : NULL;
        m->scopes = strdup(sp ? sp + 1 : "*");
        if (!m->client || !m->agency || !m->scopes) {
            snprintf(err, errlen, "http.xroad.members: bad item \"%s\"", item);
            return -1;
        }
    }
    log_msg(KLOG_INFO, API_PEER, "X-Road service: %zu member%s; X-Road-Client is "
            "trusted from the security server's certificate only", a->xroad.n,
            a->xroad.n == 1 ? "" : "s");
    return 0;
}

struct api *api_new(struct event_base *base, struct store *st,
                    const struct api_opts *opts, char *err, size_t errlen)
{
    char host[64];
    int port;
    const char *listen = opts && opts->listen ? opts->listen : "127.0.0.1:0";
    if (http_edge_listen_parse(listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "http.listen \"%s\": want numeric host:port",
                 listen);
        return NULL;
    }
    struct api *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->base = base;
    a->st = st;
    a->tail = &a->head;
    a->expiry_ms = opts && opts->expiry_ms > 0 ? opts->expiry_ms : 86400000;
    a->ussd_notice = opts ? opts->ussd_notice : NULL;
    a->notice_from_ok = opts ? opts->notice_from_ok : NULL;
    a->notices_per_hour = opts && opts->notices_per_hour
                              ? opts->notices_per_hour : API_NOTICES_PER_HOUR;
    a->ussd_ud = opts ? opts->ussd_ud : NULL;
    a->route = opts ? opts->route : NULL;
    a->route_ud = opts ? opts->route_ud : NULL;
    a->xroad_callbacks = opts && opts->xroad;
    a->appeals.stats = opts ? opts->appeal_stats : NULL;   /* issue 12 */
    size_t bad = 0;
    if (opts && kz_netallow_init(&a->callback_allow,
                                 (const char *const *)opts->callback_allow,
                                 opts->callback_allow_n, &bad) != 0) {
        snprintf(err, errlen, bad < opts->callback_allow_n ?
                 "callbacks.allow: bad entry" : "out of memory");
        api_free(a);
        return NULL;
    }
    if (opts && xroad_setup(a, opts, err, errlen) != 0) {  /* issue 13 tls-http */
        api_free(a);
        return NULL;
    }
    a->max_body = opts && opts->max_body ? opts->max_body : 65536;
    struct http_edge_opts eo = {
        .host = host, .port = (int)port, .max_body = a->max_body,
        .head_timeout_ms = opts ? opts->head_timeout_ms : 0,
        .max_connections = opts ? opts->max_connections : 0,
        .on_request = on_request, .arg = a,
        /* issue 13 tls-http */
        .tls_cert = opts ? opts->tls_cert : NULL,
        .tls_key = opts ? opts->tls_key : NULL,
        .tls_client_ca = opts ? opts->tls_client_ca : NULL,
        .plain_anywhere = opts && opts->insecure_plain,
        .metrics = opts ? opts->edge_metrics : NULL,
    };
    char eerr[200];
    a->edge = http_edge_new(base, &eo, eerr, sizeof eerr);
    if (!a->edge) {
        snprintf(err, errlen, "http.listen %s: %s", listen, eerr);
        api_free(a);
        return NULL;
    }
    a->port = http_edge_port(a->edge);
    log_msg(KLOG_INFO, API_PEER, "listening on %s port %d", host, a->port);
    return a;
}

void api_free(struct api *a)
{
    if (!a)
        return;
    if (a->waiting)
        store_on_commit_cancel(a->st, on_committed, a);
    if (a->head)
        answer_pending(a, -1);
    http_edge_free(a->edge);
    kz_netallow_free(&a->callback_allow);
    xroad_free(a);                  /* issue 13 tls-http */
    for (size_t i = 0; a->metrics && i < a->n_counts; i++)
        kz_metrics_retire(a->metrics, a->counts[i].n);
    for (size_t k = 0; a->metrics && k < NROUTES; k++)
        kz_metrics_retire(a->metrics, a->seconds[k]);
    free(a);
}

int api_port(const struct api *a)
{
    return a ? a->port : 0;
}

int api_tls_reload(struct api *a)
{
    return a ? http_edge_tls_reload(a->edge) : 0;
}

void api_get_stats(const struct api *a, struct api_stats *out)
{
    *out = a->stats;
}

/* ---- tokens ---------------------------------------------------------------------- */

int api_scopes_check(const char *scopes, char *err, size_t errlen)
{
    for (const char *p = scopes; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        static const char *const known[] = { "*", "messages", "applications",
                                             "offices", "slots", "templates",
                                             "appeals", LAW_SCOPE };
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++)
            ok = strlen(known[i]) == n && strncmp(p, known[i], n) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "unknown scope in \"%s\" (want messages, applications, "
                     "offices, slots, templates, appeals, law_required or *)",
                     scopes);
            return STORE_INVALID;
        }
        p += n + (e ? 1 : 0);
    }
    return 0;
}

int api_token_create(struct store *st, const char *agency, const char *scopes,
                     char *token, size_t cap, char *err, size_t errlen)
{
    if (!scopes)
        scopes = "*";
    if (!agency || !api_is_code(agency) || cap < API_TOKEN_LEN) {
        snprintf(err, errlen, "agency code must be 1..63 of A-Z a-z 0-9 . _ : -");
        return STORE_INVALID;
    }
    if (api_scopes_check(scopes, err, errlen) != 0)
        return STORE_INVALID;
    char stored[STORE_SCOPES_MAX];
    if ((size_t)snprintf(stored, sizeof stored, "%s@%s", scopes, agency) >=
        sizeof stored) {
        snprintf(err, errlen, "scopes and agency code too long");
        return STORE_INVALID;
    }
    int64_t agency_id;
    int rc = agency_ensure(st, agency, &agency_id);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "agency %s: %s", agency, store_errmsg(st));
        return rc;
    }
    uint8_t rnd[32];
    evutil_secure_rng_get_bytes(rnd, sizeof rnd);
    memcpy(token, "kz_", 3);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(token + 3 + 2 * i, 3, "%02x", rnd[i]);
    uint8_t hash[32];
    kz_sha256(token, strlen(token), hash);
    rc = store_token_add(st, hash, sizeof hash, agency_id, stored, now_ms());
    if (rc != STORE_OK) {
        snprintf(err, errlen, "token: %s", store_errmsg(st));
        token[0] = '\0';
    }
    return rc;
}
