/*
 * gateway/fetch.c — HTTP client on the event loop: libcurl's multi_socket
 * interface wired to libevent, plus pure helpers for back-end and app calls.
 *
 * Wiring (the shape of curl's docs/examples/hiperfifo.c, written anew):
 *   - sock_cb (CURLMOPT_SOCKETFUNCTION): curl says which socket to watch
 *     for what; we keep one struct fsock (one persistent libevent event) per
 *     socket, attached to curl with curl_multi_assign, and re-arm it when
 *     the wanted direction changes; CURL_POLL_REMOVE frees it.
 *   - timer_cb (CURLMOPT_TIMERFUNCTION): only (re)arms or deletes one
 *     evtimer.  It never calls libcurl (curl may call it from inside its own
 *     functions, and re-entering curl there is forbidden).
 *   - on_socket / on_timer (libevent callbacks): curl_multi_socket_action,
 *     then collect finished transfers with curl_multi_info_read and report
 *     each through its done callback.
 * done callbacks therefore only ever run from those two libevent callbacks
 * (or from the final fetch_free), never inside fetch_start/fetch_cancel.
 *
 * Requests live in slots (struct xfer), addressed by index; an id is
 * (generation << 32 | index + 1), so a stale id never matches a reused
 * slot.  Free slots form a LIFO list (an SLIST) and keep their easy
 * handle (reset before reuse) up to opts.idle_handles, so connection reuse
 * and handle reuse come cheap.  A slot being reported is not reusable until its done
 * returns.  f->depth counts nested entries from libevent; fetch_free inside
 * a callback only marks the client, and the outermost entry releases it.
 *
 * X-Road calls (issue 13 xroad): fetch_start turns a "xroad:" url into the
 * security server's url and the X-Road header lines (xroad_prepare), the
 * easy handle gets the client certificate (setup_easy), and at the end
 * an X-Road-Error header in the answer makes the result a fault
 * (xroad_finish).  The X-Road-Id is 16 bytes from getrandom per request.
 *
 * Owns: see gateway/fetch.h.  May call: libcurl, libevent, jansson,
 * base/utf8, base/clock, base/netaddr, base/xroad, libc.
 */
#include "gateway/fetch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/netaddr.h"
#include "base/utf8.h"
#include "base/xroad.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

/* ---- return codes -------------------------------------------------------- */

const char *fetch_strerror(int rc)
{
    switch (rc) {
    case FETCH_OK: return "ok";
    case FETCH_EINVAL: return "invalid argument";
    case FETCH_ENOMEM: return "out of memory";
    case FETCH_EBUSY: return "too many requests in flight";
    case FETCH_ECLOSED: return "client is closing";
    case FETCH_ECURL: return "libcurl refused the request";
    case FETCH_ENOSPACE: return "output buffer too small";
    case FETCH_EJSON: return "invalid JSON";
    case FETCH_EPATH: return "invalid mapping path";
    case FETCH_EAPP: return "invalid app reply";
    case FETCH_ENOXROAD: return "X-Road call without xroad.security_server, or malformed";
    default: return "?";
    }
}

const char *fetch_status_name(int status)
{
    switch (status) {
    case FETCH_DONE_OK: return "ok";
    case FETCH_TIMEOUT: return "timeout";
    case FETCH_TOO_LARGE: return "too_large";
    case FETCH_HTTP_ERROR: return "http_error";
    case FETCH_CONNECT_FAILED: return "connect_failed";
    case FETCH_ERROR: return "error";
    case FETCH_SHUTDOWN: return "shutdown";
    case FETCH_XROAD_FAULT: return "xroad_fault";
    default: return "?";
    }
}

/* ---- types --------------------------------------------------------------- */

enum xfer_state { X_FREE = 0, X_ACTIVE, X_REPORTING };

#define FETCH_BM_MAX 32           /* back-ends counted (then "other") */
#define FETCH_BM_NAME 96

struct xfer {
    struct fetch *f;
    uint32_t index;
    uint32_t gen;
    int state;                /* enum xfer_state */
    SLIST_ENTRY(xfer) free_link; /* f->free_slots */
    CURL *easy;               /* NULL when released to save memory */
    struct curl_slist *hdrs;
    fetch_done_fn done;
    void *arg;
    uint64_t started_ms;      /* monotonic */
    uint64_t seq;             /* start order, for fetch_free's reporting order */
    /* response body */
    char *buf;
    size_t len, cap, max;
    bool too_large;
    bool guarded;             /* req.guard and its host not named (item 9) */
    struct fetch_bm *bm;      /* its back-end's series; NULL: no metrics */
    bool refused;             /* ... and an address was not allowed */
    char errbuf[CURL_ERROR_SIZE];
    /* issue 13 xroad: an X-Road call (xroad_id[0] != 0) */
    char xroad_id[XROAD_UUID_LEN + 1];
    char xroad_service[FETCH_BM_NAME];  /* "KG/GOV/70000001/tax-sub/getStatus" */
    char xroad_fault[128];
    char xroad_err[CURL_ERROR_SIZE + 256];
};

struct fsock {
    struct fetch *f;
    curl_socket_t fd;
    struct event *ev;
    int what;                 /* CURL_POLL_* currently armed */
    LIST_ENTRY(fsock) link;   /* f->socks */
};

struct fetch {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct fetch_opts opts;
    LIST_HEAD(, fsock) socks; /* every socket curl asked us to watch */
    char *proxy;              /* copy of opts.proxy or NULL */
    struct kz_netallow allow; /* opts.allow, parsed (issue 14 item 9) */
    struct xfer **slot;
    uint32_t nslot, capslot;
    SLIST_HEAD(, xfer) free_slots; /* LIFO */
    unsigned inflight;        /* X_ACTIVE slots */
    unsigned idle_easy;       /* free slots that still hold an easy handle */
    uint64_t seq;
    int depth;                /* nesting of our libevent entries and done calls */
    bool closing;             /* fetch_free called */
    bool freeing;             /* final release under way */
    struct kz_metrics *metrics;   /* fetch_metrics(); NULL: none */
    struct fetch_bm {             /* one back-end (its URL's origin) */
        char name[FETCH_BM_NAME];
        struct kz_hist *seconds;
        struct kz_counter *by[FETCH_STATUS_COUNT];  /* by enum fetch_status;
                                     xroad_fault only for X-Road back-ends */
    } bm[FETCH_BM_MAX];
    size_t n_bm;
    /* issue 13 xroad: copies of opts.xroad; xr_ss NULL: no X-Road */
    char *xr_ss, *xr_ca, *xr_cert, *xr_key, *xr_user;
    char *xr_client;              /* encoded, for X-Road-Client */
};

/* ---- socket and timer wiring ------------------------------------------- */

static void report_finished(struct fetch *f);
static void release_now(struct fetch *f);

static void leave(struct fetch *f)
{
    f->depth--;
    if (f->depth == 0 && f->closing && !f->freeing)
        release_now(f);
}

/* Let curl act on socket fd (or its timeout) and report what finished;
 * guarded by depth, so a fetch_free() from a callback waits for leave(). */
static void drive(struct fetch *f, curl_socket_t fd, int action)
{
    int running = 0;
    f->depth++;
    curl_multi_socket_action(f->multi, fd, action, &running);
    report_finished(f);
    leave(f);
}

static void on_socket(evutil_socket_t fd, short kind, void *userp)
{
    drive(userp, fd, ((kind & EV_READ) ? CURL_CSELECT_IN : 0) |
                     ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0));
}

static void on_timer(evutil_socket_t fd, short kind, void *userp)
{
    (void)fd;
    (void)kind;
    drive(userp, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: arm or delete our one timer; never calls curl. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct fetch *f = userp;
    if (timeout_ms < 0) {
        evtimer_del(f->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

static void fsock_free(struct fsock *fs)
{
    LIST_REMOVE(fs, link);
    event_free(fs->ev);
    free(fs);
}

/* CURLMOPT_SOCKETFUNCTION: keep one event per socket in step with curl. */
static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct fetch *f = userp;
    struct fsock *fs = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (fs) {
            curl_multi_assign(f->multi, s, NULL);
            fsock_free(fs);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!fs) {
        fs = calloc(1, sizeof *fs);
        if (!fs)
            return -1;
        fs->f = f;
        fs->fd = s;
        fs->ev = event_new(f->base, s, kind, on_socket, f);
        if (!fs->ev) {
            free(fs);
            return -1;
        }
        LIST_INSERT_HEAD(&f->socks, fs, link);
        curl_multi_assign(f->multi, s, fs);
    } else if (fs->what != what) {
        event_del(fs->ev);
        if (event_assign(fs->ev, f->base, s, kind, on_socket, f) != 0)
            return -1;
    } else {
        return 0;
    }
    fs->what = what;
    return event_add(fs->ev, NULL) == 0 ? 0 : -1;
}

/* ---- slots ---------------------------------------------------------------- */

static struct xfer *slot_get(struct fetch *f)
{
    struct xfer *x = SLIST_FIRST(&f->free_slots);
    if (x) {
        SLIST_REMOVE_HEAD(&f->free_slots, free_link);
        if (x->easy)
            f->idle_easy--;
        return x;
    }
    if (f->nslot == f->capslot) {
        uint32_t ncap = f->capslot ? f->capslot * 2 : 16;
        struct xfer **ns = realloc(f->slot, ncap * sizeof *ns);
        if (!ns)
            return NULL;
        f->slot = ns;
        f->capslot = ncap;
    }
    x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->f = f;
    x->index = f->nslot;
    f->slot[f->nslot++] = x;
    return x;
}

/* Return x to the free list: its easy handle is reset and kept while there
 * are fewer than idle_handles idle ones. */
static void slot_put(struct fetch *f, struct xfer *x)
{
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    free(x->buf);
    x->buf = NULL;
    x->len = x->cap = x->max = 0;
    x->too_large = false;
    x->guarded = x->refused = false;
    x->xroad_id[0] = x->xroad_fault[0] = '\0';
    x->done = NULL;
    x->arg = NULL;
    x->state = X_FREE;
    if (x->easy) {
        if (f->idle_easy < f->opts.idle_handles && !f->closing) {
            curl_easy_reset(x->easy);
            f->idle_easy++;
        } else {
            curl_easy_cleanup(x->easy);
            x->easy = NULL;
        }
    }
    SLIST_INSERT_HEAD(&f->free_slots, x, free_link);
}

static fetch_id id_of(const struct xfer *x)
{
    return ((uint64_t)x->gen << 32) | ((uint64_t)x->index + 1);
}

static struct xfer *slot_by_id(struct fetch *f, fetch_id id)
{
    uint64_t idx1 = id & 0xFFFFFFFFu;
    if (idx1 == 0 || idx1 > f->nslot)
        return NULL;
    struct xfer *x = f->slot[idx1 - 1];
    if (x->gen != (uint32_t)(id >> 32) || x->state == X_FREE)
        return NULL;
    return x;
}

/* ---- the body ------------------------------------------------------------ */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    if (n > x->max - x->len) {
        x->too_large = true;
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t ncap = x->cap ? x->cap : 1024;
        while (ncap < x->len + n + 1)
            ncap *= 2;
        if (ncap > x->max + 1)
            ncap = x->max + 1;
        char *nb = realloc(x->buf, ncap);
        if (!nb)
            return 0;
        x->buf = nb;
        x->cap = ncap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* ---- metrics (issue 11) --------------------------------------------------- */

/* The back-end label of a request: its URL's origin ("http://host:port"),
 * bounded by the menu set; a callback (req->guard: an agency's URL, any
 * number of them) is "callback".  The table's last entry is "other". */
static struct fetch_bm *bm_for(struct fetch *f, const struct fetch_req *req,
                               const struct xfer *x)
{
    char name[FETCH_BM_NAME];
    const char *u = req->url, *sep = strstr(u, "://");
    size_t n = sep ? (size_t)(sep + 3 - u) + strcspn(sep + 3, "/?#") : 0;
    if (x->xroad_id[0])   /* issue 13 xroad: the service, not the server */
        snprintf(name, sizeof name, "xroad:%.89s", x->xroad_service);
    else if (req->guard || !n)
        snprintf(name, sizeof name, "%s", req->guard ? "callback" : "other");
    else
        snprintf(name, sizeof name, "%.*s", (int)n, u);
    for (size_t i = 0; i < f->n_bm; i++)
        if (strcmp(f->bm[i].name, name) == 0)
            return &f->bm[i];
    if (f->n_bm == FETCH_BM_MAX - 1 && strcmp(name, "other") != 0)
        snprintf(name, sizeof name, "other");
    for (size_t i = 0; i < f->n_bm; i++)
        if (strcmp(f->bm[i].name, name) == 0)
            return &f->bm[i];
    if (f->n_bm == FETCH_BM_MAX)
        return NULL;
    static const double le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10, 30 };
    struct fetch_bm *b = &f->bm[f->n_bm];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    struct kz_label l[2] = { { "backend", b->name }, { "status", NULL } };
    char err[160];
    b->seconds = kz_metrics_histogram(f->metrics, "kyzmat_backend_request_seconds",
                                      "Back-end, app and callback calls: from "
                                      "the start to the end.", l, 1, le,
                                      sizeof le / sizeof le[0], err, sizeof err);
    bool xr = strncmp(b->name, "xroad:", 6) == 0;
    for (int k = 0; b->seconds && k < FETCH_STATUS_COUNT; k++) {
        if (k == FETCH_XROAD_FAULT && !xr)
            continue;
        l[1].value = fetch_status_name(k);
        b->by[k] = kz_metrics_counter(f->metrics, "kyzmat_backend_requests_total",
                                      "Back-end, app and callback calls by how "
                                      "they ended.", l, 2, err, sizeof err);
        if (!b->by[k])
            return NULL;
    }
    if (!b->seconds)
        return NULL;
    f->n_bm++;
    return b;
}

void fetch_metrics(struct fetch *f, struct kz_metrics *m)
{
    f->metrics = m;
}

/* ---- reporting ----------------------------------------------------------- */

static int status_of(struct xfer *x, CURLcode rc, long code)
{
    if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return FETCH_TOO_LARGE;
    switch (rc) {
    case CURLE_OK:
        return (code >= 200 && code <= 299) ? FETCH_DONE_OK : FETCH_HTTP_ERROR;
    case CURLE_OPERATION_TIMEDOUT:
        return FETCH_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return FETCH_CONNECT_FAILED;
    default:
        return FETCH_ERROR;
    }
}

/* Call x's done once with res, then free the slot.  The slot is marked
 * X_REPORTING while done runs, so fetch_cancel on it is a no-op. */
static void deliver(struct fetch *f, struct xfer *x, struct fetch_result *res)
{
    x->state = X_REPORTING;
    f->inflight--;
    uint64_t now = kz_mono_ms();
    res->elapsed_ms = (uint32_t)(now - x->started_ms);
    res->body = x->buf ? x->buf : "";
    res->body_len = x->len;
    fetch_done_fn done = x->done;
    void *arg = x->arg;
    if (x->bm) {
        kz_hist_observe(x->bm->seconds, res->elapsed_ms / 1000.0);
        if (res->status >= 0 && res->status < FETCH_STATUS_COUNT &&
            x->bm->by[res->status])
            kz_counter_add(x->bm->by[res->status], 1);
    }
    f->depth++;
    done(arg, res);
    f->depth--;
    slot_put(f, x);
}

/* ---- X-Road calls (issue 13 xroad) ------------------------------------- */

/* Control bytes of a peer's text become '?': it goes into a log line. */
static void no_ctl(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* The answer's X-Road-Error header, if any, into x->xroad_fault. */
static void xroad_fault_of(CURL *easy, struct xfer *x)
{
    struct curl_header *h = NULL;
    x->xroad_fault[0] = '\0';
    if (curl_easy_header(easy, "X-Road-Error", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h) {
        snprintf(x->xroad_fault, sizeof x->xroad_fault, "%s",
                 h->value && *h->value ? h->value : "(empty)");
        no_ctl(x->xroad_fault);
    }
}

/* An X-Road call's result: its X-Road-Id, and an error text that names the
 * service and the X-Road-Id (what Tunduk's support asks for) and, for a
 * fault, its code and the security server's "message". */
static void xroad_finish(struct xfer *x, struct fetch_result *res)
{
    res->xroad_id = x->xroad_id;
    if (res->status == FETCH_DONE_OK)
        return;
    if (res->status != FETCH_XROAD_FAULT) {
        snprintf(x->xroad_err, sizeof x->xroad_err, "%s (X-Road service %s, X-Road-Id %s)",
                 res->error, x->xroad_service, x->xroad_id);
        res->error = x->xroad_err;
        return;
    }
    res->xroad_fault = x->xroad_fault;
    static const char *const path[1] = { "message" };
    struct fetch_json_value v;
    char msg[128];
    bool has = x->buf && fetch_json_map(x->buf, x->len, path, 1, 100, msg, sizeof msg,
                                        &v, NULL, 0) == FETCH_OK &&
               v.found == FETCH_JSON_FOUND;
    if (has)
        no_ctl(msg);
    snprintf(x->xroad_err, sizeof x->xroad_err,
             "X-Road fault %s from %s (X-Road-Id %s)%s%s", x->xroad_fault,
             x->xroad_service, x->xroad_id, has ? ": " : "", has ? v.value : "");
    res->error = x->xroad_err;
}

static void report_finished(struct fetch *f)
{
    CURLMsg *msg;
    int left;
    /* Each loop pass re-reads the queue: a done callback may have cancelled
     * (and so removed the message of) another finished transfer. */
    while (!f->closing && (msg = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        char *ctype = NULL;
        curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ctype);
        if (x && x->state == X_ACTIVE && x->xroad_id[0])
            xroad_fault_of(easy, x);
        curl_multi_remove_handle(f->multi, easy);
        if (!x || x->state != X_ACTIVE)
            continue;
        struct fetch_result res = {0};
        /* a refused address fails the request only when no other one
         * of its name did the work */
        x->refused = x->refused && rc != CURLE_OK;
        res.status = x->refused ? FETCH_CONNECT_FAILED : status_of(x, rc, code);
        if (res.status != FETCH_TOO_LARGE && rc == CURLE_OK && x->xroad_fault[0])
            res.status = FETCH_XROAD_FAULT;      /* issue 13 xroad */
        res.http_code = code;
        if (x->refused)
            snprintf(x->errbuf, sizeof x->errbuf, "%s", FETCH_REFUSED_MSG);
        res.content_type = ctype; /* owned by the easy handle; valid until reset */
        if (res.status == FETCH_DONE_OK) {
            res.error = "";
        } else if (res.status == FETCH_TOO_LARGE) {
            res.error = "response larger than the cap";
        } else if (res.status == FETCH_HTTP_ERROR) {
            snprintf(x->errbuf, sizeof x->errbuf, "HTTP status %ld", code);
            res.error = x->errbuf;
        } else {
            if (!x->errbuf[0])
                snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
            res.error = x->errbuf;
        }
        if (x->xroad_id[0])
            xroad_finish(x, &res);
        deliver(f, x, &res);
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

static bool curl_ready;

/* issue 13 xroad: opts.xroad copied into f (nothing when no security
 * server); -1 when out of memory or the client identifier is bad. */
static char *dup_set(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void xroad_conf_free(struct fetch *f)
{
    free(f->xr_ss);
    free(f->xr_ca);
    free(f->xr_cert);
    free(f->xr_key);
    free(f->xr_user);
    free(f->xr_client);
}

static int xroad_conf_copy(struct fetch *f, const struct xroad_conf *c)
{
    if (!c || !c->security_server || !*c->security_server)
        return 0;
    struct xroad_id id;
    char enc[XROAD_CLIENT_PARTS * 3 * XROAD_PART_MAX + 8];
    if (!c->client || xroad_id_parse(c->client, strlen(c->client), XROAD_CLIENT_PARTS, &id,
                                     NULL, NULL, 0) != 0 ||
        xroad_id_encode(&id, false, enc, sizeof enc) < 0 ||
        (c->user_id && *c->user_id && !xroad_header_value_ok(c->user_id)))
        return -1;
    f->xr_ss = strdup(c->security_server);
    f->xr_client = strdup(enc);
    f->xr_ca = dup_set(c->ca);
    f->xr_cert = dup_set(c->cert);
    f->xr_key = dup_set(c->key);
    f->xr_user = dup_set(c->user_id);
    if (!f->xr_ss || !f->xr_client || (c->ca && *c->ca && !f->xr_ca) ||
        (c->cert && *c->cert && !f->xr_cert) || (c->key && *c->key && !f->xr_key) ||
        (c->user_id && *c->user_id && !f->xr_user))
        return -1;
    size_t n = strlen(f->xr_ss);
    while (n > 0 && f->xr_ss[n - 1] == '/')   /* the path brings its own */
        f->xr_ss[--n] = '\0';
    return 0;
}

struct fetch *fetch_new(struct event_base *base, const struct fetch_opts *opts)
{
    if (!base)
        return NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = true;
    }
    struct fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->base = base;
    LIST_INIT(&f->socks);
    SLIST_INIT(&f->free_slots);
    if (opts)
        f->opts = *opts;
    if (!f->opts.max_inflight)
        f->opts.max_inflight = 1024;
    if (!f->opts.idle_handles)
        f->opts.idle_handles = 64;
    if (!f->opts.max_connects)
        f->opts.max_connects = 64;
    if (!f->opts.connect_timeout_ms)
        f->opts.connect_timeout_ms = 2000;
    if (f->opts.proxy && f->opts.proxy[0]) {
        f->proxy = strdup(f->opts.proxy);
        if (!f->proxy)
            goto fail;
    }
    f->opts.proxy = f->proxy;
    if (kz_netallow_init(&f->allow, (const char *const *)f->opts.allow,
                         f->opts.allow_n, NULL) != 0)
        goto fail;
    f->opts.allow = NULL;     /* not kept: f->allow is the copy */
    f->opts.allow_n = 0;
    if (xroad_conf_copy(f, f->opts.xroad) != 0)
        goto fail;
    f->opts.xroad = NULL;     /* not kept: f->xr_* are the copies */
    f->multi = curl_multi_init();
    f->timer = evtimer_new(base, on_timer, f);
    if (!f->multi || !f->timer)
        goto fail;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->opts.max_connects);
    curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)f->opts.max_host_connections);
    return f;
fail:
    if (f->timer)
        event_free(f->timer);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    kz_netallow_free(&f->allow);
    xroad_conf_free(f);
    free(f->proxy);
    free(f);
    return NULL;
}

void fetch_global_cleanup(void)
{
    if (curl_ready) {
        curl_global_cleanup();
        curl_ready = false;
    }
}

unsigned fetch_inflight(const struct fetch *f)
{
    return f ? f->inflight : 0;
}

static bool method_ok(const char *m, bool *is_get)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(m, ok[i]) == 0) {
            *is_get = i == 0;
            return true;
        }
    return false;
}

/* A header line must be "Name: value" without CR/LF (no header injection). */
static bool header_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h)
        return false;
    return strpbrk(h, "\r\n") == NULL;
}

/* ---- the guard (issue 14 item 9) ----------------------------------------
 * A guarded request (a URL an outsider gave) may connect only to addresses
 * kz_netallow_addr allows: checked on every socket curl opens (each
 * address of the name, so a name that resolves or is rebound inside is
 * refused) and again before the request goes out on a connection, which
 * also covers one reused from the cache.  A host that callbacks.allow
 * names is not guarded.  Through a proxy only the proxy is connected to:
 * its own rules apply, and the guard stays off. */

static curl_socket_t guard_open(void *clientp, curlsocktype purpose,
                                struct curl_sockaddr *a)
{
    struct xfer *x = clientp;
    if (purpose == CURLSOCKTYPE_IPCXN && !kz_netallow_addr(&x->f->allow, &a->addr)) {
        x->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int guard_prereq(void *clientp, char *primary_ip, char *local_ip,
                        int primary_port, int local_port)
{
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    struct xfer *x = clientp;
    struct sockaddr_storage ss;
    if (!primary_ip || !kz_host_literal(primary_ip, &ss) ||
        !kz_netallow_addr(&x->f->allow, (struct sockaddr *)&ss)) {
        x->refused = true;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

/* Is url's host (as curl reads it) one that the allow-list names? */
static bool host_named(const struct fetch *f, const char *url)
{
    if (!f->allow.nnames)
        return false;
    CURLU *u = curl_url();
    char *host = NULL;
    bool named = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                 curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                 kz_netallow_name(&f->allow, host);
    curl_free(host);
    curl_url_cleanup(u);
    return named;
}

static int setup_easy(struct fetch *f, struct xfer *x, const struct fetch_req *req, bool is_get)
{
    CURL *e = x->easy;
    const char *method = req->method ? req->method : "GET";
    uint32_t cto = req->connect_timeout_ms ? req->connect_timeout_ms : f->opts.connect_timeout_ms;
    if (cto > req->timeout_ms)
        cto = req->timeout_ms;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                              \
    do {                                           \
        if (rc == CURLE_OK)                        \
            rc = curl_easy_setopt(e, opt, val);    \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROXY, f->proxy ? f->proxy : "");
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_USERAGENT, FETCH_USER_AGENT);
    SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)cto);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
#ifdef CURLOPT_QUICK_EXIT
    /* Cancelling during a threaded name lookup must not join the thread. */
    SET(CURLOPT_QUICK_EXIT, 1L);
#endif
    if (!is_get) {
        if (strcmp(method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, method);
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
    SET(CURLOPT_HTTPHEADER, x->hdrs);
    if (x->xroad_id[0]) {     /* issue 13 xroad: mutual TLS to the security server */
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        if (f->xr_ca)
            SET(CURLOPT_CAINFO, f->xr_ca);
        if (f->xr_cert) {
            SET(CURLOPT_SSLCERT, f->xr_cert);
            SET(CURLOPT_SSLCERTTYPE, "PEM");
            SET(CURLOPT_SSLKEY, f->xr_key);
        }
    }
    x->guarded = req->guard && !f->proxy && !host_named(f, req->url);
    if (x->guarded) {
        SET(CURLOPT_OPENSOCKETFUNCTION, guard_open);
        SET(CURLOPT_OPENSOCKETDATA, (void *)x);
        SET(CURLOPT_PREREQFUNCTION, guard_prereq);
        SET(CURLOPT_PREREQDATA, (void *)x);
    }
#undef SET
    return rc == CURLE_OK ? FETCH_OK : FETCH_ECURL;
}

/* issue 13 xroad: what an X-Road call adds to its request. */
struct xroad_prep {
    char url[FETCH_URL_MAX + 1];
    char id[XROAD_UUID_LEN + 1];
    char service[FETCH_BM_NAME];
    struct xroad_headers h;
};

/* A "xroad:" url (base/xroad.h) into the security server's url, a fresh
 * X-Road-Id and the header lines. */
static int xroad_prepare(const struct fetch *f, const struct fetch_req *req,
                         struct xroad_prep *p)
{
    struct xroad_call c;
    char issue[XROAD_ISSUE_MAX + 1];
    uint8_t rnd[16];
    if (req->guard)           /* an outsider's URL never speaks for us */
        return FETCH_EINVAL;
    if (!f->xr_ss || xroad_call_split(req->url, strlen(req->url), &c, issue, sizeof issue,
                                      NULL, 0) != 0)
        return FETCH_ENOXROAD;
    int k = snprintf(p->url, sizeof p->url, "%s%.*s", f->xr_ss, (int)c.path_len, c.path);
    if (k < 0 || (size_t)k > FETCH_URL_MAX)
        return FETCH_EINVAL;
    size_t pl = strlen(XROAD_PROTOCOL "/");
    snprintf(p->service, sizeof p->service, "%.*s", (int)(c.service_len - pl), c.path + pl);
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return FETCH_EINVAL;
    xroad_uuid_format(rnd, p->id);
    if (xroad_headers_build(&p->h, f->xr_client, p->id, f->xr_user, issue) != 0)
        return FETCH_ENOXROAD;
    return FETCH_OK;
}

int fetch_start(struct fetch *f, const struct fetch_req *req, fetch_done_fn done, void *arg,
                fetch_id *id)
{
    if (id)
        *id = 0;
    if (!f || !req || !done || !req->url)
        return FETCH_EINVAL;
    if (f->closing)
        return FETCH_ECLOSED;
    struct xroad_prep xp;     /* issue 13 xroad */
    struct fetch_req xreq;
    bool xroad = strncmp(req->url, XROAD_SCHEME, strlen(XROAD_SCHEME)) == 0;
    if (xroad) {
        int xrc = xroad_prepare(f, req, &xp);
        if (xrc != FETCH_OK)
            return xrc;
        xreq = *req;
        xreq.url = xp.url;
        req = &xreq;
    }
    bool is_get = true;
    if (!method_ok(req->method ? req->method : "GET", &is_get))
        return FETCH_EINVAL;
    size_t ulen = strnlen(req->url, FETCH_URL_MAX + 1);
    if (ulen == 0 || ulen > FETCH_URL_MAX)
        return FETCH_EINVAL;
    if (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)
        return FETCH_EINVAL;
    if (req->timeout_ms == 0 || req->timeout_ms > 600000)
        return FETCH_EINVAL;
    if (req->max_response_bytes > FETCH_BODY_MAX)
        return FETCH_EINVAL;
    if (is_get && req->body)
        return FETCH_EINVAL;
    if (req->nheaders && !req->headers)
        return FETCH_EINVAL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!req->headers[i] || !header_ok(req->headers[i]))
            return FETCH_EINVAL;
    if (req->content_type && strpbrk(req->content_type, "\r\n"))
        return FETCH_EINVAL;
    if (f->inflight >= f->opts.max_inflight)
        return FETCH_EBUSY;

    struct xfer *x = slot_get(f);
    if (!x)
        return FETCH_ENOMEM;
    int rc = FETCH_ENOMEM;
    if (!x->easy && !(x->easy = curl_easy_init()))
        goto fail;
    x->max = req->max_response_bytes ? req->max_response_bytes : FETCH_BODY_DEFAULT;
    x->errbuf[0] = '\0';
    struct curl_slist *l = curl_slist_append(NULL, "Expect:");
    if (!l)
        goto fail;
    x->hdrs = l;
    if (!is_get) {
        char ct[512];
        int k = snprintf(ct, sizeof ct, "Content-Type: %s",
                         req->content_type ? req->content_type
                                           : "application/x-www-form-urlencoded");
        rc = FETCH_EINVAL;
        if (k < 0 || (size_t)k >= sizeof ct)
            goto fail;
        rc = FETCH_ENOMEM;
        if (!(l = curl_slist_append(x->hdrs, ct)))
            goto fail;
        x->hdrs = l;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!(l = curl_slist_append(x->hdrs, req->headers[i])))
            goto fail;
        x->hdrs = l;
    }
    for (size_t i = 0; xroad && i < xp.h.n; i++) {
        if (!(l = curl_slist_append(x->hdrs, xp.h.line[i])))
            goto fail;
        x->hdrs = l;
    }
    if (xroad) {
        memcpy(x->xroad_id, xp.id, sizeof x->xroad_id);
        snprintf(x->xroad_service, sizeof x->xroad_service, "%s", xp.service);
    }
    rc = setup_easy(f, x, req, is_get);
    if (rc != FETCH_OK)
        goto fail;
    if (curl_multi_add_handle(f->multi, x->easy) != CURLM_OK) {
        rc = FETCH_ECURL;
        goto fail;
    }
    x->gen++;
    if (x->gen == 0)
        x->gen = 1;
    x->state = X_ACTIVE;
    x->done = done;
    x->arg = arg;
    x->bm = f->metrics ? bm_for(f, req, x) : NULL;
    x->started_ms = kz_mono_ms();
    x->seq = ++f->seq;
    f->inflight++;
    if (id)
        *id = id_of(x);
    return FETCH_OK;
fail:
    slot_put(f, x);
    return rc;
}

int fetch_cancel(struct fetch *f, fetch_id id)
{
    if (!f)
        return 0;
    struct xfer *x = slot_by_id(f, id);
    if (!x || x->state != X_ACTIVE)
        return 0;
    curl_multi_remove_handle(f->multi, x->easy);
    f->inflight--;
    slot_put(f, x);
    return 1;
}

/* Report every active request as FETCH_SHUTDOWN (start order), then free. */
static void release_now(struct fetch *f)
{
    f->freeing = true;
    for (;;) {
        struct xfer *first = NULL;
        for (uint32_t i = 0; i < f->nslot; i++) {
            struct xfer *x = f->slot[i];
            if (x->state == X_ACTIVE && (!first || x->seq < first->seq))
                first = x;
        }
        if (!first)
            break;
        curl_multi_remove_handle(f->multi, first->easy);
        struct fetch_result res = {0};
        res.status = FETCH_SHUTDOWN;
        res.error = "client shut down";
        deliver(f, first, &res);
    }
    for (uint32_t i = 0; i < f->nslot; i++) {
        struct xfer *x = f->slot[i];
        if (x->easy)
            curl_easy_cleanup(x->easy);
        curl_slist_free_all(x->hdrs);
        free(x->buf);
        free(x);
    }
    free(f->slot);
    /* Cleaning up the multi handle closes cached connections; it calls
     * sock_cb with CURL_POLL_REMOVE, which frees our socket events. */
    curl_multi_cleanup(f->multi);
    while (!LIST_EMPTY(&f->socks)) /* any that curl did not remove itself */
        fsock_free(LIST_FIRST(&f->socks));
    event_free(f->timer);
    kz_netallow_free(&f->allow);
    for (size_t i = 0; f->metrics && i < f->n_bm; i++) {
        kz_metrics_retire(f->metrics, f->bm[i].seconds);
        for (int k = 0; k < FETCH_STATUS_COUNT; k++)
            if (f->bm[i].by[k])
                kz_metrics_retire(f->metrics, f->bm[i].by[k]);
    }
    xroad_conf_free(f);
    free(f->proxy);
    free(f);
}

void fetch_free(struct fetch *f)
{
    if (!f || f->closing)
        return;
    f->closing = true;
    if (f->depth == 0)
        release_now(f);
}

/* ---- pure helpers ------------------------------------------------------- */

static const char hexd[] = "0123456789ABCDEF";

static bool is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Append s[0..n) percent-encoded; form: WHATWG form rules, else RFC 3986. */
static bool put_escaped(const char *s, size_t n, bool form, char *out, size_t cap, size_t *pos)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = is_alnum(c) || c == '-' || c == '.' || c == '_' ||
                    (form ? c == '*' : c == '~');
        size_t need = keep || (form && c == ' ') ? 1 : 3;
        if (cap - *pos <= need) /* keep one byte for the NUL */
            return false;
        if (keep) {
            out[(*pos)++] = (char)c;
        } else if (form && c == ' ') {
            out[(*pos)++] = '+';
        } else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hexd[c >> 4];
            out[(*pos)++] = hexd[c & 15];
        }
    }
    return true;
}

int fetch_form_encode(const struct fetch_field *fields, size_t n, char *out, size_t cap,
                      size_t *len)
{
    if (len)
        *len = 0;
    if ((!fields && n) || !out || cap == 0)
        return FETCH_EINVAL;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = fields[i].name ? fields[i].name : "";
        const char *val = fields[i].value ? fields[i].value : "";
        bool ok = true;
        if (i > 0) {
            if (cap - pos <= 1)
                ok = false;
            else
                out[pos++] = '&';
        }
        ok = ok && put_escaped(name, strlen(name), true, out, cap, &pos);
        if (ok) {
            if (cap - pos <= 1)
                ok = false;
            else
                out[pos++] = '=';
        }
        ok = ok && put_escaped(val, strlen(val), true, out, cap, &pos);
        if (!ok) {
            out[0] = '\0';
            return FETCH_ENOSPACE;
        }
    }
    out[pos] = '\0';
    if (len)
        *len = pos;
    return FETCH_OK;
}

int fetch_url_escape(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
    if (len)
        *len = 0;
    if ((!s && n) || !out || cap == 0)
        return FETCH_EINVAL;
    size_t pos = 0;
    if (!put_escaped(s ? s : "", n, false, out, cap, &pos)) {
        out[0] = '\0';
        return FETCH_ENOSPACE;
    }
    out[pos] = '\0';
    if (len)
        *len = pos;
    return FETCH_OK;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int fetch_app_reply_parse(const char *body, size_t len, char *text, size_t cap,
                          struct fetch_app_reply *out, char *err, size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if ((!body && len) || !text || cap == 0 || !out)
        return FETCH_EINVAL;
    text[0] = '\0';
    memset(out, 0, sizeof *out);
    const unsigned char *p = (const unsigned char *)body, *end = p + len;
    if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        p += 3;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (end - p < 3 || (memcmp(p, "CON", 3) != 0 && memcmp(p, "END", 3) != 0)) {
        set_err(err, errlen, "%s", p == end ? "empty reply" : "reply does not start with CON or END");
        return FETCH_EAPP;
    }
    out->end = p[0] == 'E';
    p += 3;
    if (p < end) {
        if (*p == ' ' || *p == '\n')
            p++;
        else if (*p == '\r')
            p += (end - p >= 2 && p[1] == '\n') ? 2 : 1;
        else {
            set_err(err, errlen, "%s", "CON/END must be followed by a space or a line break");
            return FETCH_EAPP;
        }
    }
    /* validate everything first: a bad byte anywhere refuses the reply */
    for (const unsigned char *q = p; q < end;) {
        if (*q == 0) {
            set_err(err, errlen, "NUL byte at offset %zu", (size_t)(q - (const unsigned char *)body));
            return FETCH_EAPP;
        }
        uint32_t cp;
        size_t k = kz_utf8_next(q, (size_t)(end - q), &cp);
        if (k == 0) {
            set_err(err, errlen, "invalid UTF-8 at offset %zu",
                    (size_t)(q - (const unsigned char *)body));
            return FETCH_EAPP;
        }
        q += k;
    }
    /* trim trailing white space */
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    size_t o = 0;
    while (p < end) {
        size_t k;
        unsigned char c = *p;
        if (c == '\r') {
            k = (end - p >= 2 && p[1] == '\n') ? 2 : 1;
            if (o + 1 > cap - 1) {
                out->truncated = true;
                break;
            }
            text[o++] = '\n';
            p += k;
            continue;
        }
        uint32_t cp;
        k = kz_utf8_next(p, (size_t)(end - p), &cp);   /* valid: checked above */
        if (o + k > cap - 1) {
            out->truncated = true;
            break;
        }
        memcpy(text + o, p, k);
        o += k;
        p += k;
    }
    text[o] = '\0';
    out->len = o;
    return FETCH_OK;
}

/* ---- JSON mapping -------------------------------------------------------- */

enum { SEG_KEY, SEG_INDEX };
struct seg {
    int kind;
    const char *key; /* into the path; not NUL-terminated */
    size_t klen;
    size_t index;
};

/* Split a path into segments; false on a syntax error (err says where). */
static bool parse_path(const char *path, struct seg *seg, size_t *nseg, char *err, size_t errlen)
{
    size_t n = strnlen(path, FETCH_JSON_PATH_MAX + 1);
    if (n == 0 || n > FETCH_JSON_PATH_MAX) {
        set_err(err, errlen, "path is empty or longer than %u bytes", FETCH_JSON_PATH_MAX);
        return false;
    }
    size_t i = 0, k = 0;
    if (path[0] == '$')
        i = 1;
    bool bare = path[0] != '$' && path[0] != '.' && path[0] != '[';
    while (i < n) {
        if (k == FETCH_JSON_DEPTH_MAX) {
            set_err(err, errlen, "path '%s' has more than %u segments", path,
                    FETCH_JSON_DEPTH_MAX);
            return false;
        }
        if (bare || path[i] == '.') {
            if (!bare)
                i++;
            bare = false;
            size_t s = i;
            while (i < n && path[i] != '.' && path[i] != '[' && path[i] != ']')
                i++;
            if (i == s) {
                set_err(err, errlen, "path '%s': empty key at offset %zu", path, s);
                return false;
            }
            seg[k++] = (struct seg){.kind = SEG_KEY, .key = path + s, .klen = i - s};
        } else if (path[i] == '[') {
            i++;
            size_t s = i, v = 0;
            while (i < n && path[i] >= '0' && path[i] <= '9' && i - s < 9)
                v = v * 10 + (size_t)(path[i++] - '0');
            if (i == s || i >= n || path[i] != ']') {
                set_err(err, errlen, "path '%s': bad index at offset %zu", path, s);
                return false;
            }
            i++;
            seg[k++] = (struct seg){.kind = SEG_INDEX, .index = v};
        } else {
            set_err(err, errlen, "path '%s': unexpected '%c' at offset %zu", path, path[i], i);
            return false;
        }
    }
    *nseg = k;
    return true;
}

static json_t *walk(json_t *root, const struct seg *seg, size_t nseg)
{
    json_t *cur = root;
    for (size_t i = 0; i < nseg && cur; i++) {
        if (seg[i].kind == SEG_KEY)
            cur = json_is_object(cur) ? json_object_getn(cur, seg[i].key, seg[i].klen) : NULL;
        else
            cur = json_is_array(cur) ? json_array_get(cur, seg[i].index) : NULL;
    }
    return cur;
}

/* The text of a scalar into tmp (numbers, booleans) or pointing into the
 * JSON string.  Returns false for objects and arrays. */
static bool scalar_text(json_t *v, char *tmp, size_t tmpcap, const char **s, size_t *n)
{
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *n = json_string_length(v);
        return true;
    }
    if (json_is_integer(v)) {
        int k = snprintf(tmp, tmpcap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *s = tmp;
        *n = k > 0 ? (size_t)k : 0;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        int k = snprintf(tmp, tmpcap, "%.15g", d);
        if (strtod(tmp, NULL) != d)
            k = snprintf(tmp, tmpcap, "%.17g", d);
        *s = tmp;
        *n = k > 0 ? (size_t)k : 0;
        return true;
    }
    if (json_is_boolean(v)) {
        *s = json_is_true(v) ? "true" : "false";
        *n = strlen(*s);
        return true;
    }
    return false;
}

int fetch_json_map(const char *body, size_t len, const char *const *paths, size_t n,
                   size_t value_max, char *buf, size_t cap, struct fetch_json_value *out,
                   char *err, size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if ((!body && len) || (n && (!paths || !out)) || (!buf && cap))
        return FETCH_EINVAL;
    for (size_t i = 0; i < n; i++)
        out[i] = (struct fetch_json_value){.found = FETCH_JSON_MISSING};
    struct seg seg[FETCH_JSON_DEPTH_MAX];
    size_t nseg;
    for (size_t i = 0; i < n; i++) {
        if (!paths[i]) {
            set_err(err, errlen, "path %zu is NULL", i);
            return FETCH_EPATH;
        }
        if (!parse_path(paths[i], seg, &nseg, err, errlen))
            return FETCH_EPATH;
    }
    if (len > FETCH_JSON_BODY_MAX) {
        set_err(err, errlen, "body of %zu bytes is over the %u-byte limit", len,
                FETCH_JSON_BODY_MAX);
        return FETCH_EJSON;
    }
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) {
        set_err(err, errlen, "JSON %d:%d: %s", je.line, je.column, je.text);
        return FETCH_EJSON;
    }
    size_t pos = 0;
    int rc = FETCH_OK;
    for (size_t i = 0; i < n; i++) {
        parse_path(paths[i], seg, &nseg, NULL, 0);
        json_t *v = walk(root, seg, nseg);
        char tmp[64];
        const char *s;
        size_t sl;
        if (!v || json_is_null(v))
            continue;
        if (!scalar_text(v, tmp, sizeof tmp, &s, &sl)) {
            out[i].found = FETCH_JSON_NOT_SCALAR;
            continue;
        }
        if (sl > value_max) {
            out[i].found = FETCH_JSON_TOO_LONG;
            continue;
        }
        if (cap - pos < sl + 1) {
            set_err(err, errlen, "value buffer of %zu bytes is too small", cap);
            for (size_t j = 0; j < n; j++)
                out[j] = (struct fetch_json_value){.found = FETCH_JSON_MISSING};
            rc = FETCH_ENOSPACE;
            break;
        }
        memcpy(buf + pos, s, sl);
        buf[pos + sl] = '\0';
        out[i] = (struct fetch_json_value){.found = FETCH_JSON_FOUND, .value = buf + pos, .len = sl};
        pos += sl + 1;
    }
    json_decref(root);
    return rc;
}
