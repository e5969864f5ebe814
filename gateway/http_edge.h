/*
 * gateway/http_edge.h — an HTTP listener's edge (the agencies' API, the
 * operators' admin listener): the evhttp server, its listening socket and
 * every client connection's life, below the routes.
 *
 * What it does: binds evhttp (libevent 2.1) on host:port and hands every
 * complete request to one callback (the API's router).  Around evhttp it
 * enforces what evhttp 2.1 cannot by itself:
 *   - a head deadline: a client has head_timeout_ms, counted from the
 *     connection's accept or from the end of the previous answer on it,
 *     to deliver a complete request; then the connection is closed.  It
 *     covers the body too (evhttp hands a request over only whole), and it
 *     is also the keep-alive idle limit.  A slowloris sending a header line
 *     now and then is closed at the deadline like a silent client;
 *   - a cap on connections (max_connections; 0 = the soft RLIMIT_NOFILE
 *     minus a reserve for the SMPP links, the database, Redis and curl,
 *     see http_edge_default_cap).  At the cap the oldest connection that
 *     has no request in progress (reading its head, or idle between
 *     requests) is closed to make room; when every connection has a
 *     request in progress, accepting stops until one closes;
 *   - accept errors (EMFILE, ENFILE, ENOBUFS...) pause the listener; the
 *     oldest connection without a request is closed to free a descriptor
 *     and accepting resumes in the next loop pass, or after a second when
 *     every connection has a request in progress — never a spin;
 *   - one warn line at most every 10 s counting what was refused, closed
 *     or paused;
 *   - evhttp's own HTML error pages are rewritten as JSON errors, also
 *     behind earlier answers of a pipeline and for CONNECT;
 *   - a request with two Content-Length headers (or one and a
 *     Transfer-Encoding) is refused with a 400 JSON error, never routed;
 *   - a body over max_body gets its 413 as soon as the head says so (also
 *     under Expect: 100-continue); what the client still sends is read and
 *     dropped for up to 5 s, so that it reads the 413 and not a reset;
 *   - issue 13 tls-http: with tls_cert and tls_key the listener speaks only
 *     HTTPS (base/tls server context; tls_client_ca demands a client
 *     certificate it signed).  The handshake runs inside the head deadline
 *     (a stalled one is closed like a silent client).  A failed handshake
 *     is counted (kyzmat_http_tls_handshake_failures_total{listener}) and
 *     logged with its reason, once per peer address per 10 minutes and at
 *     most 20 such lines a minute (the rest are counted in the 10 s warn
 *     line), so a scanner cannot flood the log.  http_edge_tls_reload reads
 *     the files again (SIGHUP): new connections get the new certificate;
 *     on an error the old one stays.  Without TLS the listener is plain
 *     HTTP and, unless plain_anywhere, closes at once any connection whose
 *     peer is not a loopback address (counted in
 *     kyzmat_http_plain_refused_total{listener}, logged as above): the
 *     config already refuses a plain non-loopback listen, this is the
 *     second line of defence.
 *
 * Ownership: struct http_edge is owned by its creator and freed with
 * http_edge_free(), which frees the evhttp with every connection.  It
 * borrows the event_base.  Loop thread only; not re-entrant.
 * May call: libevent (evhttp, listener, bufferevent, bufferevent_openssl),
 * OpenSSL, jansson, gateway/log, base/clock, base/tls, base/metrics, libc.
 */
#ifndef KYZMAT_GATEWAY_HTTP_EDGE_H
#define KYZMAT_GATEWAY_HTTP_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_request;
struct http_edge;
struct kz_metrics;
struct sockaddr;

struct http_edge_opts {
    const char *host;           /* numeric address to bind */
    int port;                   /* 0: any free port (http_edge_port) */
    size_t max_body;            /* evhttp's body cap (the 413 names it) */
    unsigned head_timeout_ms;   /* 0: 10 s */
    unsigned max_connections;   /* 0: http_edge_default_cap() */
    const char *peer;           /* log tag; NULL: "api" (static string) */
    const char *key;            /* config section named in its log lines;
                                 * NULL: "http" (static string) */
    /* Every complete request (evhttp's generic callback). */
    void (*on_request)(struct evhttp_request *req, void *arg);
    void *arg;
    /* issue 13 tls-http.  tls_cert and tls_key (PEM paths, copied): HTTPS
     * only; NULL or "": plain HTTP.  tls_client_ca: demand a client
     * certificate it signed.  plain_anywhere: a plain listener serves
     * non-loopback peers too (config insecure_plain).  metrics: where the
     * two counters go (borrowed, outlives the edge); NULL: none. */
    const char *tls_cert, *tls_key, *tls_client_ca;
    bool plain_anywhere;
    struct kz_metrics *metrics;
};

/*
 * http_edge_new — make the evhttp, bind it and start accepting.  Returns
 * the edge or NULL with err filled (bind failure, out of memory).  Logs
 * the connection cap it chose.
 */
struct http_edge *http_edge_new(struct event_base *base,
                                const struct http_edge_opts *o, char *err,
                                size_t errlen);
/* Free evhttp (its connections and their unanswered requests) and the
 * edge.  NULL is fine.  Not from inside one of its callbacks. */
void http_edge_free(struct http_edge *e);
/* The evhttp, to answer requests with; owned by the edge. */
struct evhttp *http_edge_http(const struct http_edge *e);
/* The bound TCP port. */
int http_edge_port(const struct http_edge *e);
/* 1 when req's connection ever carried a NUL byte: evhttp keeps header
 * values as C strings, so a value cut at a NUL looks clean; the router
 * refuses credentials from such a connection. */
bool http_edge_nul(struct http_edge *e, struct evhttp_request *req);
/* Connections open now. */
unsigned http_edge_open(const struct http_edge *e);

/* ---- issue 13 tls-http ---- */

/* Read the certificate, key and client CA files again and use them for new
 * connections; connections open now keep theirs.  0 (also for a plain
 * listener or NULL: nothing to do), or -1, the old certificate kept.  Logs
 * either way, with the reason. */
int http_edge_tls_reload(struct http_edge *e);
/* The SHA-256 of the DER client certificate req's connection presented
 * (verified against tls_client_ca): 0 with out[0..32) filled, or -1 (plain
 * connection, no certificate). */
int http_edge_peer_cert_sha256(struct http_edge *e, struct evhttp_request *req,
                               unsigned char out[32]);
/* The SHA-256 of the first certificate of a PEM file: 0, or -1 with err. */
int http_edge_cert_file_sha256(const char *path, unsigned char out[32],
                               char *err, size_t errlen);

/* Is sa a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)?
 * Any other family: false.  Pure. */
bool http_edge_loopback(const struct sockaddr *sa);
/* The same for a numeric host ("127.0.0.1", "::1"); a name or a malformed
 * address is not loopback.  Pure. */
bool http_edge_loopback_host(const char *host);

/*
 * http_edge_listen_parse — split "host:port" ("[::1]:8080" too) into a
 * numeric host (brackets gone) and a port 0..65535.  0, or -1 when it is
 * not of that form (or the host does not fit hostcap).  Pure.
 */
int http_edge_listen_parse(const char *listen, char *host, size_t hostcap,
                           int *port);

/*
 * The cap used when max_connections is 0, for a soft RLIMIT_NOFILE of
 * nofile: nofile minus a reserve of 256 descriptors (a quarter of nofile
 * when that is less) for everything that is not an API client.  Pure.
 */
unsigned http_edge_default_cap(uint64_t nofile);

#endif
