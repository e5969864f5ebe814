/*
 * gateway/api.h — the agencies' HTTP API (libevent evhttp on the daemon's
 * event loop).
 *
 * What it does: serves
 *     POST /v1/messages                       202 {"id", "state", "duplicate"}
 *     POST /v1/messages/batch                 202 {"results": [...]} (1..1000)
 *     GET  /v1/messages/{id}                  200 state, times, error, parts
 *     POST /v1/ussd/notices                   200 {"sent", "id"} a USSN push,
 *                                             recorded (STOP, from, limit)
 *     POST /v1/webhook-secret                 201 {"secret": "whsec_..."}: a new
 *                                             key for signing callbacks
 *     POST /v1/applications/{number}/status   201 (new) / 200, history + SMS
 *     POST /v1/offices                        200 create or rename an office
 *     POST /v1/services                       200 create or rename a service
 *     POST /v1/slots                          200 publish a slot / capacity
 *   Read-back (issue 12 part 3; only the caller's own, paged by "next"):
 *     GET  /v1/applications/{number}          200 status, owner, history
 *     GET  /v1/offices[?after=CODE&limit=N]   200 offices with names, addresses
 *     GET  /v1/services[?after=CODE&limit=N]  200 services with names
 *     GET  /v1/slots?office=&service=&from=&to=  200 slots, booked and free
 *     GET  /v1/bookings?office=&day=          200 a centre's day, by time
 *     PUT  /v1/templates/{status}/{lang}      200 set a status template
 *     GET  /v1/templates/{status}/{lang}      200 one template, 404 none
 *     DELETE /v1/templates/{status}/{lang}    200 deleted, 404 none
 *     GET  /v1/templates[?after=S/L&limit=N]  200 the agency's templates
 *     GET  /v1/health                         200 {"ok":true, counters} (no auth)
 * with `Authorization: Bearer TOKEN` (token looked up by its SHA-256 in the
 * store; or, behind an X-Road security server, X-Road-Client on a
 * connection that presented that server's certificate, issue 13), strict
 * JSON schemas, and group commit: every write of one loop
 * pass joins the store's batch, which the store commits once per pass;
 * the pass's acknowledgements are sent only from the commit's waiter
 * (store_on_commit; a failed commit turns every one of them into 503,
 * nothing acknowledged).
 *
 * Pure part: gateway/api_parse.h (api_parse_*() turn body bytes into a
 * struct or an error with the offending field; no I/O, fuzzed by
 * tests/fuzz/fuzz_api_json.c).
 *
 * Ownership: struct api is owned by the caller of api_new() and freed with
 * api_free() (which answers still-pending requests with 503 first).  It
 * borrows the event_base and the store; both must outlive it.
 * Not re-entrant: call from the loop thread only, never from inside an
 * API callback.
 * May call: libevent (evhttp), jansson, gateway/api_parse, gateway/store, gateway/notify,
 * gateway/template, gateway/phone, gateway/log, smpp/text, libc.
 */
#ifndef KYZMAT_GATEWAY_API_H
#define KYZMAT_GATEWAY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/store.h"

struct event_base;
struct api;
struct outbox_route;
struct kz_metrics;

#define API_NOTICES_PER_HOUR 5

struct appeals_stats;

struct api_opts {
    const char *listen;      /* "host:port", numeric host; port 0 = any */
    size_t max_body;         /* bytes; bigger bodies get 413 (0: 65536) */
    unsigned head_timeout_ms;/* a whole request within this of the accept
                              * or the previous answer (0: 10 s) */
    unsigned max_connections;/* 0: from RLIMIT_NOFILE (gateway/http_edge.h) */
    int64_t expiry_ms;       /* message validity (0: 24 hours) */
    /* POST /v1/ussd/notices: push a USSN notice now (the API records it
     * first; 503 when it cannot go out).  from may be NULL (the gateway's
     * service code).
     * Returns 0, or -1 with err; too_long set when the text does not fit
     * one USSD screen.  NULL: the endpoint answers 501. */
    int (*ussd_notice)(void *ud, const char *msisdn, const char *from,
                       const char *text, int *too_long, char *err, size_t errlen);
    void *ussd_ud;
    /* POST /v1/ussd/notices: whether a notice may come from service code
     * `from` (as the body gives it, "100" or "*100#"): a code the menu set
     * serves or the config names.  Called with ussd_ud for every notice
     * that names one; false: 422 naming "from", nothing sent.  NULL: any
     * code.  (A notice without "from" comes from the gateway's own.) */
    bool (*notice_from_ok)(void *ud, const char *from);
    /* Notices one phone may get in any hour (counted from the store's
     * record); more get 429 with Retry-After.  0: API_NOTICES_PER_HOUR. */
    unsigned notices_per_hour;
    /* The route a message to msisdn takes: the outbox's router
     * (gateway/outbox.h, struct outbox_links.route).  GET
     * /v1/messages/{id} counts a message not yet submitted in the parts
     * that route's link will send (its split mode and Latin-1 permission,
     * api_sms_parts).  Returns 0 with *r filled, or non-zero when no link
     * serves the number now (then, as with NULL: UDH 8-bit, no Latin-1). */
    int (*route)(void *ud, const char *msisdn, struct outbox_route *r);
    void *route_ud;
    /* issue 14 item 9: host names and CIDRs a callback_url may name
     * although they are loopback, link-local or metadata addresses
     * (base/netaddr.h; config callbacks.allow); copied.  Others get 422. */
    char *const *callback_allow;
    size_t callback_allow_n;
    /* issue 13: the gateway has an X-Road security server, so an agency's
     * callback_url may be "xroad:SERVICE[/path]" (sent through it) */
    bool xroad;
    /* issue 13 tls-http: HTTPS (PEM paths; cert and key set: TLS only;
     * client_ca: mutual TLS), plain HTTP from non-loopback peers
     * (insecure_plain), and where the edge counts handshake failures. */
    const char *tls_cert, *tls_key, *tls_client_ca;
    bool insecure_plain;
    struct kz_metrics *edge_metrics;
    /* issue 13 tls-http: the API as an X-Road service.  xroad_ss_cert: the
     * security server's certificate (a PEM path, read at start, or its
     * SHA-256 as 64 hex digits, colons allowed); xroad_members: items
     * "CLIENT=AGENCY[ SCOPES]" (config http.xroad.members).  On a
     * connection that presented that certificate, X-Road-Client names the
     * member and so the agency; elsewhere the header is ignored. */
    const char *xroad_ss_cert;
    char *const *xroad_members;
    size_t xroad_members_n;
    /* issue 12 appeals: counts of replies sent (the daemon's, read by
     * the metrics exporter); NULL: not counted */
    struct appeals_stats *appeal_stats;
};

/*
 * api_new — bind evhttp to opts->listen on base and serve the API from
 * store st.  Returns the API (caller owns it) or NULL with err filled
 * (bad address, bind failure, out of memory).  opts is read only during
 * the call.
 */
struct api *api_new(struct event_base *base, struct store *st,
                    const struct api_opts *opts, char *err, size_t errlen);
/* Cancel the commit waiter, answer still pending requests with 503 (flush
 * the store first to give them their real answers, as kyzmatd does at
 * shutdown), unbind, free.  NULL is fine.  Not from inside a request being
 * handled. */
void api_free(struct api *api);
/* The bound TCP port (useful when opts->listen asked for port 0). */
int api_port(const struct api *api);
/* issue 13 tls-http: read the TLS certificate files again (SIGHUP); new
 * connections use them, on an error the old ones stay (logged either
 * way).  0, or -1.  A plain listener: 0. */
int api_tls_reload(struct api *api);

/* Counters (also in GET /v1/health). */
struct api_stats {
    uint64_t requests;        /* every request seen */
    uint64_t accepted;        /* messages acknowledged after commit */
    uint64_t rejected;        /* 4xx answers */
    uint64_t commits;         /* commits that carried answers */
    uint64_t commit_failures; /* ... of which failed (-> 503s) */
    uint64_t busy;            /* 503 because the database was busy */
    uint64_t pending;         /* acknowledgements waiting for a commit now */
};
void api_get_stats(const struct api *api, struct api_stats *out);

/*
 * api_token_create — make a new random API token for the agency with code
 * `agency` (created, named after its code, when missing) with the given
 * scopes (comma-separated subset of
 * "messages,applications,offices,slots,templates,law_required", or "*"
 * for every route; NULL = "*").  law_required (a message or USSD notice
 * to an opted-out number) is granted by name only, never by "*".  Only the token's SHA-256 is stored.  On
 * success writes the token ("kz_" + 64 hex digits, NUL-terminated) into
 * token[0..cap) (cap >= API_TOKEN_LEN) and returns STORE_OK; else a store
 * code with err filled.  Synchronous; for tests and `kyzmatd
 * --create-token`.  Durable on return when the store is not attached to
 * a loop; else with the pass's commit.
 */
#define API_TOKEN_LEN 68
/* Is scopes a comma-separated list of the scopes above (or "*")?  0, or
 * -1 with the reason in err.  Pure. */
int api_scopes_check(const char *scopes, char *err, size_t errlen);
int api_token_create(struct store *st, const char *agency, const char *scopes,
                     char *token, size_t cap, char *err, size_t errlen);

/*
 * api_metrics — count the API in m (issue 11): kyzmat_api_requests_total
 * {route, code} (the route as its template, "POST /v1/messages"; "none"
 * for a path no route serves) and kyzmat_api_request_seconds{route} (a
 * complete request to its answer, after the commit for writes).  0, or -1
 * (err).  m must outlive the API; api_free retires the series.
 */
struct kz_metrics;
int api_metrics(struct api *a, struct kz_metrics *m, char *err, size_t errlen);

#endif
