/*
 * gateway/admin.c — the operators' listener: /metrics, /healthz, /readyz
 * (the contract is in admin.h).
 *
 * Design: one http_edge (its own cap, head deadline and JSON error pages)
 * whose requests come to on_request, a table of three GET routes.  The
 * process and dependency series are function gauges over this struct,
 * read at scrape time: /proc/self/statm and /proc/self/fd are read then,
 * never in between.
 *
 * Owns: the edge, the admin struct.  Borrows the registry and the base.
 * Requests under /console go to gateway/console first (issue 10 console).
 *
 * May call: base/metrics, base/clock, gateway/console, gateway/http_edge,
 * gateway/log, libevent, jansson, libc.
 */
#include "gateway/admin.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "gateway/console.h"
#include "gateway/http_edge.h"
#include "gateway/log.h"

#define ADMIN_PEER "admin"
#define READY_MAX 16
/* issue 10 console: a console form or JSON change; the menu rooms may
 * want more (their files) */
#define ADMIN_MAX_BODY (1u << 20)

struct admin {
    struct http_edge *edge;
    struct console *console;    /* issue 10 console; NULL: none */
    struct kz_metrics *m;
    admin_ready_fn *ready;
    admin_dep_fn *redis_up, *db_up;
    void *ud;
    int port;
    double started;             /* Unix seconds */
    uint64_t scrapes;
};

/* ---- answers ------------------------------------------------------------ */

static void send_body(struct evhttp_request *req, int code, const char *type,
                      const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add(b, body, len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, NULL, b);
    if (b)
        evbuffer_free(b);
}

/* Send j (taken) as JSON with code. */
static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    const char *body = s ? s : "{\"error\":\"out of memory\",\"field\":null}";
    send_body(req, s ? code : 500, "application/json", body, strlen(body));
    free(s);
}

static void send_error(struct evhttp_request *req, int code, const char *msg)
{
    send_json(req, code, json_pack("{s:s, s:n}", "error", msg, "field"));
}

/* ---- routes ------------------------------------------------------------- */

static void h_metrics(struct admin *a, struct evhttp_request *req)
{
    a->scrapes++;
    size_t len = 0;
    char *text = kz_metrics_render(a->m, &len);
    if (!text) {
        send_error(req, 500, "out of memory");
        return;
    }
    send_body(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static void h_healthz(struct admin *a, struct evhttp_request *req)
{
    (void)a;
    send_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void h_readyz(struct admin *a, struct evhttp_request *req)
{
    char what[READY_MAX][ADMIN_WHAT_MAX];
    size_t n = a->ready ? a->ready(a->ud, what, READY_MAX) : 0;
    json_t *w = json_array();
    for (size_t i = 0; w && i < n && i < READY_MAX; i++)
        json_array_append_new(w, json_string(what[i]));
    send_json(req, n ? 503 : 200,
              json_pack("{s:b, s:o}", "ready", n == 0, "waiting",
                        w ? w : json_array()));
}

static const struct {
    const char *path;
    void (*fn)(struct admin *a, struct evhttp_request *req);
} routes[] = {
    { "/metrics", h_metrics },
    { "/healthz", h_healthz },
    { "/readyz", h_readyz },
};

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    if (a->console && console_handle(a->console, req))
        return;
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri ? uri : "", "?#");
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strlen(routes[i].path) != plen || strncmp(uri, routes[i].path, plen))
            continue;
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              "GET, HEAD");
            send_error(req, 405, "method not allowed: GET or HEAD");
            return;
        }
        routes[i].fn(a, req);
        return;
    }
    send_error(req, 404, "no such resource: /metrics, /healthz or /readyz");
}

/* ---- the process's own series --------------------------------------------- */

static double m_start(void *arg)
{
    return ((struct admin *)arg)->started;
}

static double m_resident(void *arg)
{
    (void)arg;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    int n = f ? fscanf(f, "%lu %lu", &size, &rss) : 0;
    if (f)
        fclose(f);
    return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double m_fds(void *arg)
{
    (void)arg;
    DIR *d = opendir("/proc/self/fd");
    double n = 0;
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 3 ? n - 3 : 0;   /* ".", "..", and the DIR's own */
}

static double m_build(void *arg)
{
    (void)arg;
    return 1;
}

static double m_redis(void *arg)
{
    struct admin *a = arg;
    return a->redis_up(a->ud) > 0;
}

static double m_db(void *arg)
{
    struct admin *a = arg;
    return a->db_up(a->ud) > 0;
}

/* Register the process and dependency series.  0, or -1 (err). */
static int register_own(struct admin *a, const char *version, char *err,
                        size_t errlen)
{
    struct kz_label v[] = { { "version", version ? version : "unknown" } };
    struct kz_label redis[] = { { "dependency", "redis" } };
    struct kz_label db[] = { { "dependency", "database" } };
    const char *dep = "1 when kyzmatd reaches the dependency, else 0.";
    int rc = kz_metrics_gauge_fn(a->m, "kyzmat_build_info", "The running "
                                 "build; always 1.", v, 1, m_build, a, err,
                                 errlen);
    if (!rc)
        rc = kz_metrics_gauge_fn(a->m, "process_start_time_seconds", "Start "
                                 "time of the process since the Unix epoch, "
                                 "seconds.", NULL, 0, m_start, a, err, errlen);
    if (!rc)
        rc = kz_metrics_gauge_fn(a->m, "process_resident_memory_bytes",
                                 "Resident memory size, bytes.", NULL, 0,
                                 m_resident, a, err, errlen);
    if (!rc)
        rc = kz_metrics_gauge_fn(a->m, "process_open_fds", "Open file "
                                 "descriptors.", NULL, 0, m_fds, a, err, errlen);
    if (!rc)
        rc = kz_metrics_counter_u64(a->m, "kyzmat_admin_scrapes_total",
                                    "Requests for /metrics.", NULL, 0,
                                    &a->scrapes, err, errlen);
    if (!rc && a->redis_up && a->redis_up(a->ud) >= 0)
        rc = kz_metrics_gauge_fn(a->m, "kyzmat_dependency_up", dep, redis, 1,
                                 m_redis, a, err, errlen);
    if (!rc && a->db_up && a->db_up(a->ud) >= 0)
        rc = kz_metrics_gauge_fn(a->m, "kyzmat_dependency_up", dep, db, 1, m_db,
                                 a, err, errlen);
    return rc;
}

/* ---- life cycle ------------------------------------------------------------ */

struct admin *admin_new(struct event_base *base, const struct admin_opts *o,
                        char *err, size_t errlen)
{
    char host[64];
    int port;
    if (!o || !o->metrics ||
        http_edge_listen_parse(o->listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "admin.listen \"%s\": want numeric host:port",
                 o && o->listen ? o->listen : "");
        return NULL;
    }
    struct admin *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->m = o->metrics;
    a->ready = o->ready;
    a->redis_up = o->redis_up;
    a->db_up = o->db_up;
    a->ud = o->ud;
    a->started = (double)kz_wall_ms() / 1000.0;
    if (register_own(a, o->version, err, errlen) != 0) {
        admin_free(a);
        return NULL;
    }
    struct http_edge_opts eo = {
        .host = host, .port = port, .max_body = ADMIN_MAX_BODY,
        .head_timeout_ms = o->head_timeout_ms,
        .max_connections = o->max_connections ? o->max_connections : 64,
        .peer = ADMIN_PEER, .key = "admin", .on_request = on_request, .arg = a,
        /* issue 13 tls-http */
        .tls_cert = o->tls_cert, .tls_key = o->tls_key,
        .tls_client_ca = o->tls_client_ca, .plain_anywhere = o->insecure_plain,
        .metrics = o->metrics,
    };
    char eerr[200];
    struct console_opts co = o->console ? *o->console : (struct console_opts){ 0 };
    /* an HTTPS listener (issue 13): the console's session cookie gets
     * Secure, so a browser never sends it over plain HTTP */
    co.https = o->tls_cert && o->tls_cert[0];
    if (o->console && !(a->console = console_new(base, &co, eerr,
                                                 sizeof eerr))) {
        snprintf(err, errlen, "admin console: %s", eerr);
        admin_free(a);
        return NULL;
    }
    a->edge = http_edge_new(base, &eo, eerr, sizeof eerr);
    if (!a->edge) {
        snprintf(err, errlen, "admin.listen %s: %s", o->listen, eerr);
        admin_free(a);
        return NULL;
    }
    a->port = http_edge_port(a->edge);
    log_msg(KLOG_INFO, ADMIN_PEER, "listening on %s port %d: /metrics, /healthz, "
            "/readyz%s", host, a->port, a->console ? ", /console/" : "");
    return a;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    console_free(a->console);   /* before the edge: its waiting requests */
    http_edge_free(a->edge);
    if (a->m)
        kz_metrics_retire_range(a->m, a, sizeof *a);
    free(a);
}

int admin_port(const struct admin *a)
{
    return a ? a->port : 0;
}

struct console *admin_console(const struct admin *a)
{
    return a ? a->console : NULL;
}

int admin_tls_reload(struct admin *a)
{
    return a ? http_edge_tls_reload(a->edge) : 0;
}
