/*
 * gateway/admin.h — the operators' listener (config admin.listen): what a
 * monitoring system and a load balancer ask of a running gateway.
 *
 *   GET /metrics   every series of the daemon's registry (base/metrics), in
 *                  the Prometheus text format 0.0.4, plus the process's own
 *                  (build info, start time, resident memory, open
 *                  descriptors) and its dependencies' (Redis, the
 *                  database), registered by admin_new
 *   GET /healthz   200 {"ok": true} while the process lives and its loop
 *                  turns (a liveness probe)
 *   GET /readyz    200 {"ready": true} when the ready callback says so: the
 *                  configured links bound, the store and Redis reachable;
 *                  else 503 {"ready": false, "waiting": [what is not]} (a
 *                  readiness probe: load balancers, systemd)
 * HEAD is answered like GET without a body; other methods 405, other paths
 * 404, both as JSON errors.  Those three need no login: Prometheus and
 * load balancers do not log in.
 *   /console/...   the operators' console (issue 10 console), when
 *                  admin_opts.console is given: gateway/console routes it,
 *                  and every page but the login form needs a session.  The connection-level defences (head
 * deadline, connection cap, JSON error pages) are gateway/http_edge's.
 * Nothing here changes state, and nothing here needs a token: keep the
 * listener on a private address, or serve it over HTTPS with client
 * certificates (admin.tls, issue 13).  A scrape renders the registry on the
 * loop (a few hundred series: well under a millisecond).
 *
 * Ownership: struct admin is owned by its creator (main.c) and freed with
 * admin_free(); it borrows the base and the registry, which must outlive
 * it.  The series it registers stay in the registry (retired on free).
 * Loop thread only.
 * May call: base/metrics, base/clock, gateway/console, gateway/http_edge,
 * gateway/log, libevent, jansson, libc.
 */
#ifndef KYZMAT_GATEWAY_ADMIN_H
#define KYZMAT_GATEWAY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

struct admin;
struct console;
struct console_opts;
struct event_base;
struct kz_metrics;

/* What is not ready: up to max short names ("link mega", "redis") into
 * what[0..max), each at most ADMIN_WHAT_MAX bytes; returns how many. */
#define ADMIN_WHAT_MAX 64
typedef size_t admin_ready_fn(void *ud, char (*what)[ADMIN_WHAT_MAX],
                              size_t max);
/* 1 when the dependency is up, 0 when not, -1 when it is not used (no
 * series then: a gateway without Redis has no kyzmat_dependency_up
 * {dependency="redis"}). */
typedef int admin_dep_fn(void *ud);

struct admin_opts {
    const char *listen;         /* "host:port" (port 0: any free one) */
    unsigned max_connections;   /* 0: 64 */
    unsigned head_timeout_ms;   /* 0: 10 s */
    struct kz_metrics *metrics; /* rendered by /metrics; borrowed */
    admin_ready_fn *ready;      /* NULL: always ready */
    admin_dep_fn *redis_up, *db_up;   /* NULL: not used */
    void *ud;
    const char *version;        /* build info label */
    /* issue 10 console: the console's options (NULL: no console).  When
     * the listener serves HTTPS, its setup sets console->https so the
     * session cookie gets Secure. */
    const struct console_opts *console;
    /* issue 13 tls-http: HTTPS (PEM paths; cert and key: TLS only;
     * client_ca: scrapers must present a certificate it signed); plain
     * HTTP from non-loopback peers (insecure_plain). */
    const char *tls_cert, *tls_key, *tls_client_ca;
    bool insecure_plain;
};

/* Bind and start serving; NULL with err filled (a bad address, a port in
 * use, a registration refused). */
struct admin *admin_new(struct event_base *base, const struct admin_opts *o,
                        char *err, size_t errlen);
void admin_free(struct admin *a);
int admin_port(const struct admin *a);
/* The console (NULL when none): for rooms that register routes. */
struct console *admin_console(const struct admin *a);
/* issue 13 tls-http: read the TLS files again (SIGHUP); on an error the
 * old certificate stays (logged either way).  0, or -1; NULL or plain: 0. */
int admin_tls_reload(struct admin *a);

#endif
