/*
 * tests/unit/test_esme_tls.c — smpp/esme over TLS against the simulator's
 * TLS listener (smpp/sim/smsc), both in this process on one event loop
 * (issue 13 tls-smpp): a bind and a submit_sm over TLS with the caller's
 * context freed right after esme_new (the esme holds its own reference);
 * a certificate for another name refused with its reason, retried, never
 * bound; a client certificate demanded by the SMSC; esme_free while a
 * handshake is under way.  Under ASan or valgrind this checks who frees
 * the SSL, the filter and its socket.
 *
 * Owns: a temporary folder of certificates made by
 * tests/integration/certs.py (the one PKI maker of the TLS tests).
 * Waiting means running the loop until a condition holds or a deadline
 * passes (never a fixed sleep).
 * May call: smpp/esme, smpp/sim/smsc, smpp/pdu, base/tls, base/clock,
 * libevent, OpenSSL, libc (system() for certs.py), cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/clock.h"
#include "base/tls.h"
#include "smpp/esme.h"
#include "smpp/pdu.h"
#include "smpp/sim/smsc.h"

static char dir[] = "/tmp/kz-esme-tls-XXXXXX";

static const char *pki(const char *name)
{
    static char buf[8][300];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/pki/%s", dir, name);
    return b;
}

static int make_pki(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 tests/integration/certs.py %s/pki >/dev/null 2>&1", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_pki(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- one gateway link and one SMSC on one loop ---------------------------- */

struct world {
    struct event_base *base;
    struct smsc *smsc;
    struct esme *e;
    enum esme_state st;
    int bound_seen;
    char log[4096];             /* every log line of the esme */
    int done;
    uint32_t done_status;
};

static void on_state(struct esme *e, enum esme_state st, void *ud)
{
    (void)e;
    struct world *w = ud;
    w->st = st;
    if (st == ESME_BOUND)
        w->bound_seen = 1;
}

static uint32_t on_deliver(struct esme *e, const struct smpp_pdu *p, void *ud)
{
    (void)e;
    (void)p;
    (void)ud;
    return ESME_ROK;
}

__attribute__((format(printf, 4, 0)))
static void on_log(void *ud, int level, const char *peer, const char *fmt, va_list ap)
{
    (void)level;
    (void)peer;
    struct world *w = ud;
    size_t n = strlen(w->log);
    if (n + 2 >= sizeof w->log)
        return;
    vsnprintf(w->log + n, sizeof w->log - n - 1, fmt, ap);
    strcat(w->log, "\n");
}

static void on_done(struct esme *e, void *arg, uint32_t status,
                    const struct smpp_pdu *resp)
{
    (void)e;
    (void)resp;
    struct world *w = arg;
    w->done = 1;
    w->done_status = status;
}

/* The simulator with TLS (client_ca: demand client certificates). */
static void world_start(struct world *w, const char *client_ca)
{
    memset(w, 0, sizeof *w);
    w->base = event_base_new();
    assert_non_null(w->base);
    struct smsc_config c;
    smsc_config_defaults(&c);
    c.listen_port = 0;
    c.control_host = NULL;
    c.quiet = 1;
    c.tls_cert = pki("server.pem");
    c.tls_key = pki("server.key");
    c.tls_client_ca = client_ca;
    char err[256] = "";
    w->smsc = smsc_new(w->base, &c, err, sizeof err);
    if (!w->smsc)
        print_message("smsc_new: %s\n", err);
    assert_non_null(w->smsc);
}

/* An esme to it over TLS, trusting the test CA; name: tls_name or NULL;
 * with_cert: present the client certificate. */
static void world_link(struct world *w, const char *name, int with_cert)
{
    const struct kz_tls_opts o = {
        .ca = pki("ca.pem"),
        .cert = with_cert ? pki("client.pem") : NULL,
        .key = with_cert ? pki("client.key") : NULL,
        .verify = 1,
    };
    char err[256] = "";
    SSL_CTX *ctx = kz_tls_client_ctx(&o, err, sizeof err);
    assert_non_null(ctx);
    struct esme_config ec = {
        .name = "t", .host = "127.0.0.1", .port = smsc_smpp_port(w->smsc),
        .system_id = "kyzmat", .password = "secret", .reconnect_min_ms = 100,
        .reconnect_max_ms = 200, .connect_timeout_ms = 5000,
        .tls = ctx, .tls_name = name,
    };
    struct esme_callbacks cb = { on_state, on_deliver, on_log, w };
    w->e = esme_new(w->base, &ec, &cb, err, sizeof err);
    assert_non_null(w->e);
    SSL_CTX_free(ctx);          /* the esme keeps its own reference */
    assert_int_equal(esme_start(w->e), 0);
}

static void world_free(struct world *w)
{
    esme_free(w->e);
    smsc_free(w->smsc);
    event_base_free(w->base);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until cond(w) or ms pass; returns cond(w). */
static int run_until(struct world *w, int (*cond)(struct world *), unsigned ms)
{
    struct event *tick = event_new(w->base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 10000 };
    event_add(tick, &tv);
    uint64_t until = kz_mono_ms() + ms;
    while (!cond(w) && kz_mono_ms() < until)
        event_base_loop(w->base, EVLOOP_ONCE);
    event_free(tick);
    return cond(w);
}

static int is_bound(struct world *w) { return w->st == ESME_BOUND; }
static int is_done(struct world *w) { return w->done; }
static int is_closed(struct world *w) { return w->st == ESME_CLOSED; }

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static int three_refusals(struct world *w)
{
    return count(w->log, "certificate verify failed: hostname mismatch") >= 3;
}

static int two_cert_errors(struct world *w)
{
    return count(w->log, "certificate required") >= 2;
}

/* ---- cases ----------------------------------------------------------------- */

static void test_bind_and_submit_over_tls(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, NULL);
    world_link(&w, NULL, 0);
    assert_true(run_until(&w, is_bound, 5000));
    assert_non_null(strstr(w.log, "over TLSv1."));
    assert_int_equal(smsc_bound(w.smsc), 1);
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 0);
    p.source_addr = "100";
    p.destination_addr = "996555100001";
    p.short_message = (const uint8_t *)"over tls";
    p.sm_length = 8;
    assert_int_equal(esme_send(w.e, &p, on_done, &w), 0);
    assert_true(run_until(&w, is_done, 5000));
    assert_int_equal(w.done_status, ESME_ROK);
    esme_stop(w.e);
    assert_true(run_until(&w, is_closed, 5000));
    assert_non_null(strstr(w.log, "unbound"));
    world_free(&w);
}

static void test_wrong_name_refused_and_retried(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, NULL);
    world_link(&w, "other.test", 0);
    assert_true(run_until(&w, three_refusals, 10000));
    char want[128];
    snprintf(want, sizeof want, "disconnected: TLS handshake with 127.0.0.1:%u failed: "
             "certificate verify failed: hostname mismatch", smsc_smpp_port(w.smsc));
    assert_non_null(strstr(w.log, want));
    assert_int_equal(count(w.log, "reconnect scheduled"), count(w.log, want));
    assert_false(w.bound_seen);
    assert_int_equal(smsc_bound(w.smsc), 0);
    struct esme_stats st;
    esme_get_stats(w.e, &st);
    assert_true(st.reconnects >= 2);
    assert_int_equal(st.binds, 0);
    world_free(&w);             /* freed in back-off or mid-handshake */
}

static void test_client_certificate_demanded(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, pki("ca.pem"));
    world_link(&w, NULL, 0);
    assert_true(run_until(&w, two_cert_errors, 10000));
    assert_false(w.bound_seen);
    esme_free(w.e);
    w.e = NULL;
    w.log[0] = '\0';
    world_link(&w, NULL, 1);
    assert_true(run_until(&w, is_bound, 5000));
    assert_int_equal(smsc_bound(w.smsc), 1);
    world_free(&w);
}

static void test_free_during_handshake(void **state)
{
    (void)state;
    struct world w;
    world_start(&w, NULL);
    for (int i = 0; i < 5; i++) {
        world_link(&w, NULL, 0);
        /* a few passes: connected at TCP level, the handshake under way */
        for (int k = 0; k < i; k++)
            event_base_loop(w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        esme_free(w.e);
        w.e = NULL;
    }
    world_link(&w, NULL, 0);
    assert_true(run_until(&w, is_bound, 5000));
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_and_submit_over_tls),
        cmocka_unit_test(test_wrong_name_refused_and_retried),
        cmocka_unit_test(test_client_certificate_demanded),
        cmocka_unit_test(test_free_during_handshake),
    };
    return cmocka_run_group_tests(tests, make_pki, remove_pki);
}
