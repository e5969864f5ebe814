/*
 * gateway/fetch.h — HTTP client on the event loop (libcurl multi_socket on
 * libevent), plus the pure helpers the USSD glue needs around back-end and
 * app calls (form encoding, URL escaping, CON/END replies, JSON mapping).
 *
 * What it does: fetch_start() queues one HTTP request on a curl multi
 * handle that is driven by the caller's event_base: curl tells us which
 * sockets to watch (one libevent event per socket) and when to wake it (one
 * evtimer); those events call curl_multi_socket_action(), and finished
 * transfers are collected with curl_multi_info_read() and reported through
 * the request's done() callback.  Nothing here blocks the loop: sockets are
 * non-blocking and names are resolved by libcurl's threaded resolver
 * (Debian's libcurl 7.88 has AsynchDNS; numeric hosts need no resolver).
 * Many requests run at once; a slow back-end delays only its own dialogs.
 *
 * Every request has a total timeout and a response size cap, so every
 * outstanding request ends.  Policy fixed for every request: no signals
 * (CURLOPT_NOSIGNAL), no proxy from the environment (only opts.proxy), only
 * http and https, no redirects (a 3xx answer is FETCH_HTTP_ERROR), User-Agent
 * "kyzmat/0.1", no "Expect: 100-continue", TLS peer verification on.
 * Connections are kept alive and reused through the multi handle's
 * connection cache; easy handles are kept on a free list and reused.
 *
 * Callback contract:
 *   - done(arg, result) is called exactly once for every request that
 *     fetch_start() accepted (returned FETCH_OK), unless the request is
 *     cancelled with fetch_cancel() first (then never).
 *   - done is never called from inside fetch_start() or fetch_cancel(); it
 *     runs from the event loop, or from fetch_free() (status
 *     FETCH_SHUTDOWN) for requests still in flight at that moment.
 *   - Inside done the caller may call fetch_start(), fetch_cancel() (for
 *     any request, e.g. a sibling; cancelling the one being reported is a
 *     harmless no-op) and fetch_free() (the free is deferred until the
 *     callback returns; the remaining requests are then reported with
 *     FETCH_SHUTDOWN).  The result and its body belong to fetch and are
 *     valid only until done returns: copy what you keep.
 *
 * Owns: struct fetch owns the curl multi handle, every easy handle, one
 * event per socket, the timer, and copies of everything in a request
 * (url, headers, body are copied by fetch_start; the caller's strings may
 * go as soon as it returns).  The caller owns the event_base (it must
 * outlive the struct fetch) and whatever `arg` points to.
 * Threads: one struct fetch is used from its loop's thread only.  libcurl's
 * resolver threads are internal to libcurl.
 * Process-wide: the first fetch_new() calls curl_global_init(); call
 * fetch_global_cleanup() once at exit, after the last fetch_free().
 * X-Road (issue 13 xroad): a request whose url is a rendered menu call
 * "xroad:/r1/<service>/<path>#<issue>" (base/xroad.h) goes to the security
 * server of opts.xroad: the url becomes <security_server>/r1/<service>/
 * <path>, the request carries X-Road-Client, a fresh X-Road-Id (a random
 * UUID, new on every fetch_start, so every retry has its own),
 * X-Road-UserId and X-Road-Issue when set, and uses the configured client
 * certificate, key and CA (peer and host name verified).  An answer with
 * an X-Road-Error header is FETCH_XROAD_FAULT (whatever its HTTP status):
 * the security server's fault, not the agency's answer; its error text
 * names the fault code, the service and the X-Road-Id.  A guarded request
 * (an outsider's URL) can never be an X-Road call.
 *
 * May call: libcurl, libevent, jansson (JSON helper only), base/netaddr,
 * base/xroad, libc (getrandom).
 */
#ifndef KYZMAT_GATEWAY_FETCH_H
#define KYZMAT_GATEWAY_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fetch;
struct xroad_conf;

/* Return codes of the functions below (0 = success, errors negative). */
enum {
    FETCH_OK = 0,
    FETCH_EINVAL = -1,   /* NULL or malformed argument (bad method, empty url...) */
    FETCH_ENOMEM = -2,
    FETCH_EBUSY = -3,    /* opts.max_inflight requests already in flight */
    FETCH_ECLOSED = -4,  /* fetch_free() has been called */
    FETCH_ECURL = -5,    /* libcurl refused to set up the transfer */
    FETCH_ENOSPACE = -6, /* the output buffer is too small (helpers) */
    FETCH_EJSON = -7,    /* body is not one valid JSON text (helpers) */
    FETCH_EPATH = -8,    /* a mapping path has bad syntax (helpers) */
    FETCH_EAPP = -9,     /* app reply without CON/END, bad UTF-8 (helpers) */
    FETCH_ENOXROAD = -10 /* an xroad: call, but no xroad.security_server
                            configured, or the call is malformed */
};

/* Name of a return code above ("ok", "einval", ...); "?" when unknown. */
const char *fetch_strerror(int rc);

/* ---- the client ---------------------------------------------------------- */

/* Settings of one client; zero fields take the default in brackets. */
struct fetch_opts {
    unsigned max_inflight;      /* requests at once; more get FETCH_EBUSY [1024] */
    unsigned idle_handles;      /* easy handles kept for reuse [64] */
    unsigned max_connects;      /* connection cache size (CURLMOPT_MAXCONNECTS) [64] */
    unsigned max_host_connections; /* per host, 0 = unlimited [0] */
    uint32_t connect_timeout_ms;   /* default per-request connect timeout [2000] */
    const char *proxy;          /* "http://host:port" or NULL: no proxy at all,
                                   http_proxy & co. are ignored; copied */
    /* issue 14 item 9: host names and CIDRs a guarded request may reach
     * although they are internal (base/netaddr.h); copied */
    char *const *allow;
    size_t allow_n;
    /* issue 13 xroad: the security server for "xroad:" calls, or NULL /
     * security_server "": none (such calls get FETCH_ENOXROAD); copied */
    const struct xroad_conf *xroad;
};

/* A request.  Everything is copied by fetch_start(). */
struct fetch_req {
    const char *method;         /* "GET" (NULL means GET), "POST", "PUT",
                                   "DELETE", "PATCH" */
    const char *url;            /* http:// or https://, at most FETCH_URL_MAX bytes */
    const char *const *headers; /* extra "Name: value" lines, or NULL */
    size_t nheaders;
    const char *body;           /* request body (not with GET); NULL = none */
    size_t body_len;
    const char *content_type;   /* of body; NULL = application/x-www-form-urlencoded */
    uint32_t timeout_ms;        /* whole transfer, 1..600000; required (0 = EINVAL) */
    uint32_t connect_timeout_ms;/* 0 = opts default; never above timeout_ms */
    size_t max_response_bytes;  /* body cap, 1..FETCH_BODY_MAX; 0 = FETCH_BODY_DEFAULT */
    bool guard;                 /* a URL an outsider gave (callback_url):
                                   connect only to addresses that are not
                                   internal or that opts.allow lets through
                                   (every address the name resolves to, and
                                   a reused connection's); otherwise
                                   FETCH_CONNECT_FAILED, error
                                   FETCH_REFUSED_MSG.  Off with a proxy, and
                                   for a host opts.allow names */
};
#define FETCH_REFUSED_MSG "refused: the address is loopback, link-local or " \
                          "metadata and callbacks.allow does not name it"

#define FETCH_URL_MAX      8192
#define FETCH_BODY_MAX     (16u << 20)
#define FETCH_BODY_DEFAULT (64u << 10)
#define FETCH_USER_AGENT   "kyzmat/0.1"

enum fetch_status {
    FETCH_DONE_OK = 0,       /* a 2xx answer, body complete */
    FETCH_TIMEOUT,           /* timeout_ms (or the connect timeout) ran out */
    FETCH_TOO_LARGE,         /* the body would exceed max_response_bytes; aborted */
    FETCH_HTTP_ERROR,        /* an answer that is not 2xx; http_code says which */
    FETCH_CONNECT_FAILED,    /* name not resolved, connection refused/unreachable */
    FETCH_ERROR,             /* anything else (TLS, protocol, ...): see error */
    FETCH_SHUTDOWN,          /* fetch_free() ended the request before its end */
    FETCH_XROAD_FAULT,       /* issue 13 xroad: the answer carries X-Road-Error */
    FETCH_STATUS_COUNT
};

/* Name of a status ("ok", "timeout", "too_large", ...). */
const char *fetch_status_name(int status);

/* What done() gets.  Everything here belongs to fetch and is valid only
 * while done runs. */
struct fetch_result {
    int status;              /* enum fetch_status */
    long http_code;          /* the answer's status code; 0 when none came */
    const char *body;        /* bytes received (also for HTTP_ERROR), NUL added
                                after the last byte; "" when none */
    size_t body_len;
    const char *content_type;/* the answer's Content-Type, or NULL */
    const char *error;       /* human text (curl's message or ours); "" when OK */
    uint32_t elapsed_ms;     /* from fetch_start() to the end */
    const char *xroad_id;    /* issue 13 xroad: the X-Road-Id sent, or NULL */
    const char *xroad_fault; /* the X-Road-Error value (FETCH_XROAD_FAULT) or NULL */
};

typedef void (*fetch_done_fn)(void *arg, const struct fetch_result *res);

/* Identifies one request for fetch_cancel().  Never 0.  Ids are not reused
 * (a slot's generation is part of the id), so cancelling an id whose
 * request has ended is a harmless no-op. */
typedef uint64_t fetch_id;

/*
 * fetch_new — a client driven by `base`.  opts may be NULL (all defaults);
 * it is copied.  Calls curl_global_init() the first time.  Returns NULL on
 * failure (out of memory, libcurl refused).
 */
struct fetch *fetch_new(struct event_base *base, const struct fetch_opts *opts);

/*
 * fetch_start — queue `req`; done(arg, result) follows from the loop.
 * Returns FETCH_OK and stores the request's id in *id (id may be NULL), or
 * an error (FETCH_EINVAL, FETCH_EBUSY, FETCH_ENOMEM, FETCH_ECLOSED,
 * FETCH_ECURL); on an error done is never called.  May be called from
 * inside a done callback.
 */
int fetch_start(struct fetch *f, const struct fetch_req *req, fetch_done_fn done, void *arg,
                fetch_id *id);

/*
 * fetch_cancel — stop request `id`; its done is not called, ever.  Returns
 * 1 when a request was stopped, 0 when the id is unknown, already reported
 * or being reported right now.  Safe anywhere, including inside any done
 * callback.
 */
int fetch_cancel(struct fetch *f, fetch_id id);

/* Requests started and not yet reported or cancelled. */
unsigned fetch_inflight(const struct fetch *f);

/*
 * fetch_free — end every request still in flight (each done is called once,
 * synchronously, with FETCH_SHUTDOWN, in start order; fetch_start from inside
 * those callbacks returns FETCH_ECLOSED) and release everything.  Called
 * from inside a done callback, the release happens right after that callback
 * returns.  NULL is a no-op.
 */
void fetch_free(struct fetch *f);

/* curl_global_cleanup(), once at process exit, after the last fetch_free. */
void fetch_global_cleanup(void);

/* ---- pure helpers (no I/O, no allocation unless said) -------------------- */

/* One name/value pair for fetch_form_encode(). */
struct fetch_field {
    const char *name;
    const char *value;       /* NULL counts as "" */
};

/*
 * fetch_form_encode — application/x-www-form-urlencoded body from `n`
 * fields, "name=value&name=value" in the given order.  Bytes A-Z a-z 0-9
 * '*' '-' '.' '_' stay as they are, space becomes '+', every other byte is
 * %XX (upper-case hex); so the AT contract's "1*2" travels as "1*2".
 * Writes a NUL-terminated string into out[cap]; *len (may be NULL) gets its
 * length.  FETCH_ENOSPACE when it does not fit (out then holds "").
 */
int fetch_form_encode(const struct fetch_field *fields, size_t n, char *out, size_t cap,
                      size_t *len);

/*
 * fetch_url_escape — percent-encode s[0..n) for use inside a URL path
 * segment or query value (RFC 3986: A-Z a-z 0-9 '-' '.' '_' '~' stay, every
 * other byte is %XX, space is %20).  NUL-terminated output into out[cap],
 * *len (may be NULL) gets its length; FETCH_ENOSPACE when it does not fit.
 */
int fetch_url_escape(const char *s, size_t n, char *out, size_t cap, size_t *len);

/* An app's answer in the Africa's Talking-style CON/END contract. */
struct fetch_app_reply {
    bool end;                /* "END": show and close; "CON": show and wait */
    size_t len;              /* bytes of text written (NUL not counted) */
    bool truncated;          /* text was cut to fit (at a character boundary) */
};

/*
 * fetch_app_reply_parse — read body[0..len) as a CON/END reply.
 * Accepted, exactly: an optional UTF-8 BOM (EF BB BF); then any run of
 * space, tab, CR or LF; then "CON" or "END" in capitals; then the end of
 * the body, or one space, or one line break (LF, CR LF or CR) — and the text is
 * everything after that.  "CONTINUE", "con ", "CON:" are refused.
 * The text is copied into text[cap] (NUL-terminated): CR LF and a lone CR
 * become LF, trailing space/tab/CR/LF is dropped, and it must be valid
 * UTF-8 without NUL bytes.  A text longer than cap-1 bytes is cut at a
 * character boundary and `truncated` is set (cutting to the USSD screen is
 * the screen module's job; cap is only the buffer's bound).
 * Returns FETCH_OK, FETCH_EAPP (no CON/END, invalid UTF-8 or a NUL; err
 * says which) or FETCH_EINVAL (NULL argument, cap 0).  err may be NULL.
 */
int fetch_app_reply_parse(const char *body, size_t len, char *text, size_t cap,
                          struct fetch_app_reply *out, char *err, size_t errlen);

/* What one mapping path found. */
enum fetch_json_found {
    FETCH_JSON_FOUND = 0,    /* value holds the text */
    FETCH_JSON_MISSING,      /* no such key or index, or JSON null */
    FETCH_JSON_NOT_SCALAR,   /* an object or array sits there */
    FETCH_JSON_TOO_LONG      /* the text is longer than value_max bytes */
};

struct fetch_json_value {
    int found;               /* enum fetch_json_found */
    const char *value;       /* NUL-terminated text in the caller's buf when
                                FOUND, else NULL */
    size_t len;
};

#define FETCH_JSON_BODY_MAX (1u << 20) /* bodies longer than this are refused */
#define FETCH_JSON_PATH_MAX 256        /* bytes of one path */
#define FETCH_JSON_DEPTH_MAX 16        /* segments of one path */

/*
 * fetch_json_map — parse body[0..len) as JSON (jansson, duplicate keys
 * refused, invalid UTF-8 and \u0000 refused) and look up each of the n
 * paths, writing out[i] for paths[i].
 * Path syntax (a tiny JSON-path subset): an optional "$", then segments
 * ".key" or "[index]" (index: decimal, at most 9 digits); a path that does
 * not start with '$', '.' or '[' starts with a bare key, so "status",
 * ".status" and "$.status" are the same, and "$.data.items[0].date" goes
 * two objects and one array deep.  Keys are taken literally and cannot
 * contain '.', '[' or ']'.  "$" alone is the whole document.
 * Values become text: strings as they are, integers in decimal, reals in
 * the shortest form that reads back to the same double ("%.15g" or
 * "%.17g"), true/false as "true"/"false"; null counts as missing.  A text
 * longer than value_max bytes is FETCH_JSON_TOO_LONG (never cut silently).
 * Found texts are stored NUL-terminated in buf[cap].
 * Returns FETCH_OK (per-path results in out), FETCH_EJSON (not JSON, or
 * longer than FETCH_JSON_BODY_MAX), FETCH_EPATH (a path with bad syntax:
 * nothing is looked up), FETCH_ENOSPACE (buf too small) or FETCH_EINVAL.
 * err (may be NULL) gets the reason, with jansson's line:column for JSON.
 * Allocates only inside jansson, freed before return.
 */
int fetch_json_map(const char *body, size_t len, const char *const *paths, size_t n,
                   size_t value_max, char *buf, size_t cap, struct fetch_json_value *out,
                   char *err, size_t errlen);

/*
 * fetch_metrics — from now on count every request in m (issue 11):
 * kyzmat_backend_request_seconds{backend} and
 * kyzmat_backend_requests_total{backend, status} (fetch_status_name), the
 * back-end being the URL's origin ("http://host:port"; at most 31, then
 * "other"), "callback" for guarded requests (agencies' URLs), or
 * "xroad:<service>" for an X-Road call, which also has the status
 * "xroad_fault".  m must outlive f; fetch_free retires the series.
 */
struct kz_metrics;
void fetch_metrics(struct fetch *f, struct kz_metrics *m);

#endif
