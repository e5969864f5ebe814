/*
 * tests/unit/test_outbox.c — gateway/outbox: the SMS sender against a real
 * store (SQLite in a mkdtemp directory), real esmes and, as the operator,
 * smpp/smsc's in-process SMSC (which sends real receipts) or, where a
 * behaviour the simulator lacks is needed (a permanent error, an SMSC that
 * never answers), a small raw SMPP peer built on smpp/pdu; everything on
 * one event_base on 127.0.0.1 with kernel-chosen ports.
 *
 * Covered: routing rule, receipt parser, status classes (pure); N messages
 * (Cyrillic long ones too) submitted and delivered with receipt ids in hex
 * while submit_sm_resp ids are decimal; routing by prefix and default over
 * two links; throttling retried with nothing lost; a permanent error
 * failing the row; a link down keeping rows queued until it is back;
 * opt-out honoured unless law_required; a crash (outbox freed with
 * messages on the wire) followed by lease expiry and a resend; the
 * callback URL called with the final state; the first claim with many
 * queued rows; a row's own sender and preferred link; a pass whose commit
 * fails sending nothing and counting no attempt.
 *
 * Waiting means running the loop until a condition holds or a deadline
 * passes (never a fixed sleep).
 * May call: gateway/outbox, gateway/store, gateway/fetch, gateway/log,
 * smpp/esme, smpp/smsc, smpp/pdu, tests/unit/receipt_cases.h (the
 * receipts test_receipt.c reads too), tests/unit/tmpdb.h,
 * tests/unit/http_body.h, libevent, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "base/base64.h"
#include "base/sha256.h"
#include "gateway/fetch.h"
#include "gateway/log.h"
#include "gateway/outbox.h"
#include "gateway/store.h"
#include "smpp/esme.h"
#include "smpp/pdu.h"
#include "smpp/sim/smsc.h"
#include "tests/unit/http_body.h"
#include "tests/unit/receipt_cases.h"
#include "tests/unit/tmpdb.h"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a raw SMPP peer for what the simulator cannot do ------------------- */

struct rawpeer {
    struct event_base *base;
    struct evconnlistener *lis;
    uint16_t port;
    uint32_t submit_status;      /* answer to submit_sm */
    int silent;                  /* 1: never answer submit_sm */
    unsigned submits;
    unsigned next_id;
    struct bufferevent *conns[8];
    /* deliver_sm we sent (raw_receipt) and the answers that came back */
    uint32_t dlv_seq;
    unsigned dlv_resps;
    uint32_t dlv_status;        /* of the last answer */
    void (*on_dlv_resp)(struct rawpeer *rp, uint32_t status, void *arg);
    void *on_dlv_arg;
};

static void raw_send(struct bufferevent *bev, struct smpp_pdu *p)
{
    uint8_t buf[512];
    int n = smpp_pdu_encode(p, buf, sizeof buf, NULL);
    assert_true(n > 0);
    bufferevent_write(bev, buf, (size_t)n);
}

static void raw_read(struct bufferevent *bev, void *arg)
{
    struct rawpeer *rp = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        uint8_t hdr[4];
        if (evbuffer_copyout(in, hdr, 4) < 4)
            return;
        uint32_t len = smpp_pdu_peek_length(hdr, 4);
        assert_true(smpp_length_ok(len, 0));
        if (evbuffer_get_length(in) < len)
            return;
        uint8_t *b = malloc(len);
        assert_non_null(b);
        evbuffer_remove(in, b, len);
        struct smpp_pdu p, r;
        if (smpp_pdu_decode(&p, b, len, NULL, NULL) == 0) {
            switch (p.command_id) {
            case SMPP_BIND_TRANSCEIVER:
                smpp_pdu_reset(&r, SMPP_BIND_TRANSCEIVER_RESP, 0,
                               p.sequence_number);
                r.system_id = "raw";
                raw_send(bev, &r);
                break;
            case SMPP_ENQUIRE_LINK:
                smpp_pdu_reset(&r, SMPP_ENQUIRE_LINK_RESP, 0,
                               p.sequence_number);
                raw_send(bev, &r);
                break;
            case SMPP_UNBIND:
                smpp_pdu_reset(&r, SMPP_UNBIND_RESP, 0, p.sequence_number);
                raw_send(bev, &r);
                break;
            case SMPP_DELIVER_SM_RESP:
                rp->dlv_resps++;
                rp->dlv_status = p.command_status;
                if (rp->on_dlv_resp)
                    rp->on_dlv_resp(rp, p.command_status, rp->on_dlv_arg);
                break;
            case SMPP_SUBMIT_SM: {
                rp->submits++;
                if (rp->silent)
                    break;
                char id[16];
                snprintf(id, sizeof id, "%u", ++rp->next_id);
                smpp_pdu_reset(&r, SMPP_SUBMIT_SM_RESP, rp->submit_status,
                               p.sequence_number);
                if (rp->submit_status == 0)
                    r.message_id = id;
                raw_send(bev, &r);
                break;
            }
            default:
                break;
            }
        }
        free(b);
    }
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    struct rawpeer *rp = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        for (int i = 0; i < 8; i++)
            if (rp->conns[i] == bev)
                rp->conns[i] = NULL;
        bufferevent_free(bev);
    }
}

static void raw_accept(struct evconnlistener *lis, evutil_socket_t fd,
                       struct sockaddr *sa, int salen, void *arg)
{
    (void)lis;
    (void)sa;
    (void)salen;
    struct rawpeer *rp = arg;
    struct bufferevent *bev = bufferevent_socket_new(rp->base, fd,
                                                     BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    for (int i = 0; i < 8; i++)
        if (!rp->conns[i]) {
            rp->conns[i] = bev;
            break;
        }
    bufferevent_setcb(bev, raw_read, NULL, raw_event, rp);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static struct rawpeer *raw_new(struct event_base *base)
{
    struct rawpeer *rp = calloc(1, sizeof *rp);
    assert_non_null(rp);
    rp->base = base;
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    rp->lis = evconnlistener_new_bind(base, raw_accept, rp,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                      16, (struct sockaddr *)&sa, sizeof sa);
    assert_non_null(rp->lis);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(evconnlistener_get_fd(rp->lis),
                                 (struct sockaddr *)&sa, &sl), 0);
    rp->port = ntohs(sa.sin_port);
    return rp;
}

/* Send a delivery receipt for SMSC message id `id` (text and TLVs) on the
 * first connection. */
static void raw_receipt(struct rawpeer *rp, const char *id)
{
    char body[160];
    int n = snprintf(body, sizeof body, "id:%s sub:001 dlvrd:001 submit date:"
                     "2601011200 done date:2601011201 stat:DELIVRD err:000 "
                     "text:x", id);
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, ++rp->dlv_seq + 1000);
    p.source_addr = "996700000009";
    p.destination_addr = "kyzmat";
    p.esm_class = 0x04;
    p.sm_length = (uint8_t)n;
    p.short_message = (const uint8_t *)body;
    assert_non_null(rp->conns[0]);
    raw_send(rp->conns[0], &p);
}

static void raw_free(struct rawpeer *rp)
{
    if (!rp)
        return;
    for (int i = 0; i < 8; i++)
        if (rp->conns[i])
            bufferevent_free(rp->conns[i]);
    evconnlistener_free(rp->lis);
    free(rp);
}

/* ---- fixture ----------------------------------------------------------- */

#define MAX_LINKS 2
#define MAX_SEEN 64

struct fx {
    struct tmpdb db;
    struct event_base *base;
    struct smsc *smsc;
    struct rawpeer *raw;
    struct esme *esme[MAX_LINKS];
    struct config_smsc cs[MAX_LINKS];
    char *pfx[MAX_LINKS][2];
    size_t n_links;
    struct outbox *ob;
    struct fetch *fetch;
    unsigned sms_seen;
    char seen_text[MAX_SEEN][400];
    char seen_to[MAX_SEEN][24];
    char seen_from[MAX_SEEN][24];
};

static int64_t clock_skew;

static int64_t skewed_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + clock_skew;
}

static void quiet_log(void *ud, int level, const char *peer, const char *fmt,
                      va_list ap)
{
    (void)ud;
    (void)level;
    (void)peer;
    (void)fmt;
    (void)ap;
}

static void observer(void *arg, const struct smsc_event *e)
{
    struct fx *f = arg;
    if (e->kind != SMSC_EV_SMS)
        return;
    if (f->sms_seen < MAX_SEEN) {
        snprintf(f->seen_text[f->sms_seen], sizeof f->seen_text[0], "%s",
                 e->text ? e->text : "");
        snprintf(f->seen_to[f->sms_seen], sizeof f->seen_to[0], "%s",
                 e->to ? e->to : "");
        snprintf(f->seen_from[f->sms_seen], sizeof f->seen_from[0], "%s",
                 e->from ? e->from : "");
    }
    f->sms_seen++;
}

/* Receipts as kyzmatd takes them: the answer deferred until durable
 * (fx.immediate: the older outbox_receipt, answered at once). */
static int fx_immediate;

static uint32_t on_deliver(struct esme *e, const struct smpp_pdu *p, void *ud)
{
    struct fx *f = ud;
    if ((p->esm_class & 0x04) && f->ob) {
        if (fx_immediate) {
            outbox_receipt(f->ob, esme_name(e), p);
            return ESME_ROK;
        }
        return outbox_receipt_deliver(f->ob, e, esme_name(e), p);
    }
    return ESME_ROK;
}

static void answer(void *ud, const char *link, uint64_t ticket,
                   uint32_t status)
{
    struct fx *f = ud;
    for (size_t i = 0; i < f->n_links; i++)
        if (strcmp(f->cs[i].name, link) == 0 &&
            esme_answer(f->esme[i], ticket, status) == 0)
            return;
}

static int route(void *ud, const char *msisdn, struct outbox_route *r)
{
    struct fx *f = ud;
    bool bound[MAX_LINKS];
    for (size_t i = 0; i < f->n_links; i++)
        bound[i] = esme_state(f->esme[i]) == ESME_BOUND;
    int i = outbox_route_pick(f->cs, f->n_links, bound, msisdn);
    if (i < 0)
        return i;
    r->esme = f->esme[i];
    r->link = f->cs[i].name;
    return 0;
}

/* A message's preferred link, by name (bound or not). */
static int route_via(void *ud, const char *link, const char *msisdn,
                     struct outbox_route *r)
{
    (void)msisdn;
    struct fx *f = ud;
    for (size_t i = 0; i < f->n_links; i++)
        if (strcmp(f->cs[i].name, link) == 0) {
            r->esme = f->esme[i];
            r->link = f->cs[i].name;
            return 0;
        }
    return -1;
}

static unsigned room(void *ud)
{
    struct fx *f = ud;
    unsigned total = 0;
    for (size_t i = 0; i < f->n_links; i++) {
        if (esme_state(f->esme[i]) != ESME_BOUND)
            continue;
        struct esme_stats s;
        esme_get_stats(f->esme[i], &s);
        unsigned used = s.in_flight + s.queued;
        total += used < 20 ? 20 - used : 0;
    }
    return total;
}

static struct fx *fx_new(const struct smsc_config *scfg)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(tmpdb_open(&f->db, "test_outbox"), 0);
    char err[200];
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(store_attach(f->db.st, f->base), STORE_OK);
    if (scfg) {
        f->smsc = smsc_new(f->base, scfg, err, sizeof err);
        if (!f->smsc)
            print_message("smsc_new: %s\n", err);
        assert_non_null(f->smsc);
        smsc_set_observer(f->smsc, observer, f);
    }
    return f;
}

static void smsc_cfg(struct smsc_config *c)
{
    smsc_config_defaults(c);
    c->listen_port = 0;
    c->control_host = NULL;
    c->quiet = 1;
    c->seed = 7;
    c->id_format = SMSC_ID_DEC;       /* submit_sm_resp ids decimal ... */
    c->dlr_id_format = SMSC_ID_HEX;   /* ... receipts in hex */
}

/* Add a link named name on port with the given prefixes (NULL-ended). */
static void fx_link(struct fx *f, const char *name, uint16_t port,
                    const char *sysid, const char *p1, bool dflt)
{
    size_t i = f->n_links++;
    struct esme_config ec = {
        .name = name, .host = "127.0.0.1", .port = port,
        .system_id = sysid, .password = "secret", .window = 10,
        .response_timeout_ms = 2000, .connect_timeout_ms = 2000,
        .reconnect_min_ms = 30, .reconnect_max_ms = 100,
        .throttle_retry_ms = 10, .max_retries = 1, .queue_timeout_ms = 20000,
    };
    struct esme_callbacks cb = { .on_deliver = on_deliver, .log = quiet_log,
                                 .ud = f };
    char err[200];
    f->esme[i] = esme_new(f->base, &ec, &cb, err, sizeof err);
    assert_non_null(f->esme[i]);
    f->cs[i].name = (char *)name;
    if (p1) {
        f->pfx[i][0] = (char *)p1;
        f->cs[i].prefixes = f->pfx[i];
        f->cs[i].prefix_count = 1;
    }
    f->cs[i].default_route = dflt;
    assert_int_equal(esme_start(f->esme[i]), 0);
}

static void fx_outbox(struct fx *f, struct outbox_opts *o)
{
    struct outbox_links l = { route, room, f, answer, route_via };
    struct outbox_opts def = { 0 };
    if (!o)
        o = &def;
    if (!o->retry_min_ms)
        o->retry_min_ms = 50;
    if (!o->throttle_ms)
        o->throttle_ms = 30;
    if (!o->idle_ms)
        o->idle_ms = 20;
    f->ob = outbox_new(f->base, f->db.st, &l, o);
    assert_non_null(f->ob);
}

static void fx_free(struct fx *f)
{
    for (size_t i = 0; i < f->n_links; i++)
        esme_free(f->esme[i]);
    /* the links are gone: a pass the outbox still commits (and answers)
     * finds none of them, as kyzmatd's lookup by name would */
    f->n_links = 0;
    /* let the esmes' deferred work finish before the outbox writes */
    outbox_free(f->ob);
    if (f->fetch)
        fetch_free(f->fetch);
    if (f->smsc)
        smsc_free(f->smsc);
    raw_free(f->raw);
    store_close(f->db.st);          /* its commit event is on base */
    f->db.st = NULL;
    event_base_free(f->base);
    tmpdb_close(&f->db);
    free(f);
}

typedef bool pred_fn(struct fx *f, void *arg);

/* Run the loop until pred holds or ms pass.  Returns pred's last value. */
static bool run_until(struct fx *f, pred_fn *pred, void *arg, unsigned ms)
{
    uint64_t end = mono_ms() + ms;
    while (!pred(f, arg)) {
        if (mono_ms() > end)
            return false;
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    return true;
}

static bool all_bound(struct fx *f, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < f->n_links; i++)
        if (esme_state(f->esme[i]) != ESME_BOUND)
            return false;
    return true;
}

static int64_t enqueue(struct fx *f, const char *to, const char *text,
                       bool law)
{
    struct store_msg_new m = { .to = to, .text = text, .law_required = law,
                               .expires_at = skewed_clock() + 3600000 };
    int64_t id = 0;
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id), STORE_OK);
    if (f->ob)
        outbox_kick(f->ob);
    return id;
}

static int state_of(struct fx *f, int64_t id)
{
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id, &m), STORE_OK);
    int s = m->state;
    store_msg_free(m);
    return s;
}

struct want {
    const int64_t *ids;
    size_t n;
    int state;
};

static bool all_in(struct fx *f, void *arg)
{
    struct want *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (state_of(f, w->ids[i]) != w->state)
            return false;
    return true;
}

static void wait_state(struct fx *f, const int64_t *ids, size_t n, int state,
                       unsigned ms)
{
    struct want w = { ids, n, state };
    if (!run_until(f, all_in, &w, ms)) {
        for (size_t i = 0; i < n; i++)
            print_message("message %lld: %s\n", (long long)ids[i],
                          store_msg_state_name(state_of(f, ids[i])));
        fail_msg("not every message became %s", store_msg_state_name(state));
    }
}

/* n messages of text to `to` (not law_required); their ids into ids. */
static void enqueue_n(struct fx *f, int64_t *ids, size_t n, const char *to,
                      const char *text)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = enqueue(f, to, text, false);
}

/* Every message of ids was tried `attempts` times. */
static void expect_attempts(struct fx *f, const int64_t *ids, size_t n, int attempts)
{
    for (size_t i = 0; i < n; i++) {
        struct store_msg *m = NULL;
        assert_int_equal(store_msg_get(f->db.st, ids[i], &m), STORE_OK);
        assert_int_equal(m->attempts, attempts);
        store_msg_free(m);
    }
}

/* Run the loop for ms (what should NOT happen in that time). */
static void run_for(struct fx *f, unsigned ms, int flags)
{
    uint64_t end = mono_ms() + ms;
    while (mono_ms() < end)
        event_base_loop(f->base, flags);
}

enum { SIM_BOUND = 1, SIM_OUTBOX = 2 };

/* A fixture on the simulator (sc; NULL: smsc_cfg's) with one link "sim"
 * (system_id kyzmat, the default route); with SIM_BOUND run until it is
 * bound, with SIM_OUTBOX then start the outbox (default options). */
static struct fx *fx_sim(const struct smsc_config *sc, int how)
{
    struct smsc_config def;
    if (!sc) {
        smsc_cfg(&def);
        sc = &def;
    }
    struct fx *f = fx_new(sc);
    fx_link(f, "sim", smsc_smpp_port(f->smsc), "kyzmat", NULL, true);
    if (how & SIM_BOUND)
        assert_true(run_until(f, all_bound, NULL, 5000));
    if (how & SIM_OUTBOX)
        fx_outbox(f, NULL);
    return f;
}

/* A fixture on the raw peer (answering submit_sm with ESME_ROK unless the
 * test says otherwise before it sends) with one link "raw"; with SIM_BOUND
 * run until it is bound.  No outbox yet. */
static struct fx *fx_raw(int how)
{
    struct fx *f = fx_new(NULL);
    f->raw = raw_new(f->base);
    fx_link(f, "raw", f->raw->port, "kyzmat", NULL, true);
    if (how & SIM_BOUND)
        assert_true(run_until(f, all_bound, NULL, 5000));
    return f;
}

struct count {
    const unsigned *n;
    unsigned want;
};

static bool count_reached(struct fx *f, void *arg)
{
    (void)f;
    const struct count *c = arg;
    return *c->n >= c->want;
}

/* Run the loop until *n >= want or ms pass; whether it got there. */
static bool wait_count(struct fx *f, const unsigned *n, unsigned want, unsigned ms)
{
    struct count c = { n, want };
    return run_until(f, count_reached, &c, ms);
}

/* The simulator with two accounts and a link to each: "a" for 99670...,
 * "b" the default; both bound, the outbox started. */
static struct fx *fx_two_links(void)
{
    struct smsc_config sc;
    smsc_cfg(&sc);
    sc.accounts[0] = (struct smsc_account){ "opa", "secret" };
    sc.accounts[1] = (struct smsc_account){ "opb", "secret" };
    sc.n_accounts = 2;
    struct fx *f = fx_new(&sc);
    fx_link(f, "a", smsc_smpp_port(f->smsc), "opa", "99670", false);
    fx_link(f, "b", smsc_smpp_port(f->smsc), "opb", NULL, true);
    assert_true(run_until(f, all_bound, NULL, 5000));
    fx_outbox(f, NULL);
    return f;
}

/* ---- pure parts -------------------------------------------------------- */

static void test_route_pick(void **state)
{
    (void)state;
    char *pa[] = { "99670", "+99677" };
    char *pb[] = { "996705" };
    struct config_smsc cs[3] = {
        { .name = "a", .prefixes = pa, .prefix_count = 2 },
        { .name = "b", .prefixes = pb, .prefix_count = 1 },
        { .name = "c", .default_route = true },
    };
    bool up[3] = { true, true, true };
    assert_int_equal(outbox_route_pick(cs, 3, up, "996701234567"), 0);
    assert_int_equal(outbox_route_pick(cs, 3, up, "+996705123456"), 1);
    assert_int_equal(outbox_route_pick(cs, 3, up, "996771234567"), 0);
    assert_int_equal(outbox_route_pick(cs, 3, up, "996551234567"), 2);
    assert_int_equal(outbox_route_pick(cs, 3, NULL, "996705123456"), 1);
    /* the longest bound one; else the default */
    up[1] = false;
    assert_int_equal(outbox_route_pick(cs, 3, up, "996705123456"), 0);
    up[0] = false;
    assert_int_equal(outbox_route_pick(cs, 3, up, "996705123456"), 2);
    up[2] = false;
    assert_int_equal(outbox_route_pick(cs, 3, up, "996705123456"), -2);
    /* no default at all: unknown numbers have no route */
    assert_int_equal(outbox_route_pick(cs, 2, NULL, "4412345"), -1);
    up[0] = false;
    assert_int_equal(outbox_route_pick(cs, 2, up, "996701234567"), -2);
    assert_int_equal(outbox_route_pick(cs, 2, NULL, ""), -1);
    assert_int_equal(outbox_route_pick(NULL, 0, NULL, "1"), -1);
}

/* The table's readers: what the outbox reads (row states, no smpp state
 * and no TLV flag here). */
static struct outbox_dlr last_dlr;

static struct rc_want got(int rc)
{
    struct rc_want g = { rc, last_dlr.id, last_dlr.stat, INT32_MIN, -1,
                         last_dlr.state, last_dlr.err, last_dlr.sub, last_dlr.dlvrd,
                         last_dlr.submit_date, last_dlr.done_date };
    return g;
}

static struct rc_want read_text(const uint8_t *text, size_t len)
{
    return got(outbox_receipt_parse(text, len, &last_dlr));
}

static struct rc_want read_pdu(const struct smpp_pdu *p)
{
    return got(outbox_receipt_read(p, &last_dlr));
}

/* The receipts of receipt_cases.h, read as row states. */
static void test_receipt_parse(void **state)
{
    (void)state;
    rc_run(read_text, read_pdu);
    assert_int_equal(outbox_tlv_state(3), STORE_MSG_EXPIRED);
    assert_int_equal(outbox_tlv_state(6), -1);
    assert_int_equal(outbox_stat_state("delivered"), STORE_MSG_DELIVERED);
    assert_int_equal(outbox_stat_state("UNKNOWN"), -1);
}

static void test_status_class(void **state)
{
    (void)state;
    static const struct { uint32_t status; int cls; } cases[] = {
        { ESME_ROK, OUTBOX_OK },
        { ESME_RTHROTTLED, OUTBOX_THROTTLE },
        { ESME_RMSGQFUL, OUTBOX_TEMP },
        { ESME_DONE_QUEUE_FULL, OUTBOX_THROTTLE },
        { ESME_DONE_TIMEOUT, OUTBOX_TEMP },
        { ESME_DONE_LINK_LOST, OUTBOX_TEMP },
        { ESME_RSYSERR, OUTBOX_TEMP },
        { ESME_RX_T_APPN, OUTBOX_TEMP },
        { 0x401, OUTBOX_TEMP },
        { ESME_RINVDSTADR, OUTBOX_PERM },
        { ESME_RINVSRCADR, OUTBOX_PERM },
        { ESME_RX_P_APPN, OUTBOX_PERM },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if ((int)outbox_status_class(cases[i].status) != cases[i].cls)
            fail_msg("status 0x%x: class %d, wanted %d", (unsigned)cases[i].status,
                     (int)outbox_status_class(cases[i].status), cases[i].cls);
    assert_int_equal(outbox_status_err(ESME_RINVDSTADR), 0x0B);
    assert_int_equal(outbox_status_err(ESME_DONE_TIMEOUT), OUTBOX_ERR_TIMEOUT);
    assert_int_equal(outbox_status_err(ESME_DONE_LINK_LOST),
                     OUTBOX_ERR_LINK_LOST);
}

/* ---- against the simulator --------------------------------------------- */

static const char *const cyr_long =
    "Сиздин арызыңыз кабыл алынды. Документтериңиз даяр болгондо биз сизге "
    "кабарлайбыз. Ваше заявление принято, мы сообщим, когда документы будут "
    "готовы. Рахмат! Спасибо!";

static void test_send_and_deliver(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, SIM_OUTBOX);
    enum { N = 40 };
    int64_t ids[N];
    char text[64];
    for (int i = 0; i < N; i++) {
        if (i % 5 == 0) {
            ids[i] = enqueue(f, "996700000001", cyr_long, false);
        } else {
            snprintf(text, sizeof text, "hello %d", i);
            ids[i] = enqueue(f, "996700000002", text, false);
        }
    }
    wait_state(f, ids, N, STORE_MSG_DELIVERED, 10000);
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    assert_int_equal(s.sent, N);
    assert_int_equal(s.submitted, N);
    assert_true(s.receipts_matched >= N);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.inflight, 0);
    /* every SMS arrived whole; the Cyrillic ones reassembled */
    assert_int_equal(f->sms_seen, N);
    unsigned cyr = 0;
    for (unsigned i = 0; i < N && i < MAX_SEEN; i++)
        if (strcmp(f->seen_text[i], cyr_long) == 0)
            cyr++;
    assert_int_equal(cyr, N / 5);
    /* stored id is the decimal one; the receipt spoke hex */
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, ids[1], &m), STORE_OK);
    assert_string_equal(m->smsc, "sim");
    assert_non_null(m->smsc_msgid);
    for (const char *c = m->smsc_msgid; *c; c++)
        assert_true(*c >= '0' && *c <= '9');
    assert_int_equal(m->attempts, 1);
    store_msg_free(m);
    fx_free(f);
}

static void test_routing(void **state)
{
    (void)state;
    struct fx *f = fx_two_links();
    int64_t ids[4];
    ids[0] = enqueue(f, "996701111111", "to a", false);
    ids[1] = enqueue(f, "+996702222222", "to a too", false);
    ids[2] = enqueue(f, "996551111111", "to b", false);
    ids[3] = enqueue(f, "77011111111", "to b too", false);
    wait_state(f, ids, 4, STORE_MSG_DELIVERED, 10000);
    const char *want[4] = { "a", "a", "b", "b" };
    for (int i = 0; i < 4; i++) {
        struct store_msg *m = NULL;
        assert_int_equal(store_msg_get(f->db.st, ids[i], &m), STORE_OK);
        assert_string_equal(m->smsc, want[i]);
        store_msg_free(m);
    }
    fx_free(f);
}

/* A row's own source address and preferred link (a menu SMS: the dialled
 * code, the dialog's link) are used; an unknown link falls back to the
 * routing rule. */
static void test_sender_and_via(void **state)
{
    (void)state;
    struct fx *f = fx_two_links();
    int64_t now = skewed_clock(), ids[3];
    struct store_msg_new m = { .to = "996701111111", .text = "via b",
                               .sender = "500", .via = "b",
                               .expires_at = now + 3600000 };
    assert_int_equal(store_enqueue(f->db.st, &m, now, &ids[0]), STORE_OK);
    m.text = "via nowhere";
    m.via = "gone";
    assert_int_equal(store_enqueue(f->db.st, &m, now, &ids[1]), STORE_OK);
    m.text = "plain";
    m.sender = NULL;
    m.via = NULL;
    assert_int_equal(store_enqueue(f->db.st, &m, now, &ids[2]), STORE_OK);
    outbox_kick(f->ob);
    wait_state(f, ids, 3, STORE_MSG_DELIVERED, 10000);
    const char *link[3] = { "b", "a", "a" }, *from[3] = { "500", "500",
                                                          "kyzmat" };
    for (int i = 0; i < 3; i++) {
        struct store_msg *g = NULL;
        assert_int_equal(store_msg_get(f->db.st, ids[i], &g), STORE_OK);
        assert_string_equal(g->smsc, link[i]);
        bool seen = false;
        for (unsigned k = 0; k < f->sms_seen && k < MAX_SEEN; k++)
            if (strcmp(f->seen_text[k], g->text) == 0) {
                assert_string_equal(f->seen_from[k], from[i]);
                seen = true;
            }
        assert_true(seen);
        store_msg_free(g);
    }
    fx_free(f);
}

static void note_rc(void *arg, int rc)
{
    *(int *)arg = rc;
}

/* The pass's commit fails (a full disk): nothing it claimed is sent, the
 * claim is undone (the attempt not counted), and the next passes send
 * each message once. */
static void test_commit_fails_nothing_sent(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, SIM_BOUND);
    enum { N = 5 };
    int64_t ids[N];
    enqueue_n(f, ids, N, "996700000012", "after a failed commit");
    assert_int_equal(store_flush(f->db.st), STORE_OK);   /* the rows are in */
    store_test_fail_commits(f->db.st, 1);
    fx_outbox(f, NULL);
    struct outbox_stats s;
    uint64_t end = mono_ms() + 5000;
    do {                                       /* the first pass's writes */
        event_base_loop(f->base, EVLOOP_ONCE);
        outbox_get_stats(f->ob, &s);
    } while (s.passes < 1 && mono_ms() < end);
    assert_int_equal(s.claimed, N);
    /* a waiter after the pass's own: it sees the pass's commit fail */
    int rc = -1;
    assert_int_equal(store_on_commit(f->db.st, note_rc, &rc), STORE_OK);
    while (rc < 0 && mono_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(rc, STORE_ERROR);
    outbox_get_stats(f->ob, &s);
    assert_int_equal(s.sent, 0);               /* the failed pass sent nothing */
    assert_int_equal(f->sms_seen, 0);
    for (int i = 0; i < N; i++) {
        struct store_msg *m = NULL;
        assert_int_equal(store_msg_get(f->db.st, ids[i], &m), STORE_OK);
        assert_int_equal(m->state, STORE_MSG_QUEUED);   /* claim undone */
        assert_int_equal(m->attempts, 0);
        store_msg_free(m);
    }
    wait_state(f, ids, N, STORE_MSG_DELIVERED, 10000);
    assert_int_equal(f->sms_seen, N);
    expect_attempts(f, ids, N, 1);             /* the undone claim: not counted */
    fx_free(f);
}

static void test_throttled(void **state)
{
    (void)state;
    struct smsc_config sc;
    smsc_cfg(&sc);
    sc.throttle_every = 2;     /* with max_retries 1 some answers reach us */
    struct fx *f = fx_sim(&sc, SIM_OUTBOX);
    enum { N = 30 };
    int64_t ids[N];
    char text[32];
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof text, "t%d", i);
        ids[i] = enqueue(f, "996700000003", text, false);
    }
    wait_state(f, ids, N, STORE_MSG_DELIVERED, 20000);
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    assert_true(s.retried > 0);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.submitted, N);
    expect_attempts(f, ids, N, 1);   /* throttling does not count as an attempt */
    fx_free(f);
}

static void test_link_down_then_back(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, SIM_BOUND | SIM_OUTBOX);
    smsc_set_refuse_binds(f->smsc, 1);
    smsc_drop(f->smsc, NULL);
    enum { N = 10 };
    int64_t ids[N];
    enqueue_n(f, ids, N, "996700000004", "while down");
    /* for a while nothing is sent, nothing fails, nothing is lost */
    run_for(f, 400, EVLOOP_ONCE);
    for (int i = 0; i < N; i++) {
        int st = state_of(f, ids[i]);
        assert_true(st == STORE_MSG_QUEUED || st == STORE_MSG_SENDING);
    }
    assert_int_equal(f->sms_seen, 0);
    smsc_set_refuse_binds(f->smsc, 0);
    wait_state(f, ids, N, STORE_MSG_DELIVERED, 10000);
    assert_int_equal(f->sms_seen, N);
    fx_free(f);
}

static void test_optout(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, 0);
    assert_int_equal(store_optout_set(f->db.st, "996700000005", skewed_clock()),
                     STORE_OK);
    fx_outbox(f, NULL);
    int64_t promo = enqueue(f, "996700000005", "promo", false);
    int64_t legal = enqueue(f, "996700000005", "legal notice", true);
    int64_t other = enqueue(f, "996700000006", "other", false);
    wait_state(f, &promo, 1, STORE_MSG_FAILED, 5000);
    int64_t ok[2] = { legal, other };
    wait_state(f, ok, 2, STORE_MSG_DELIVERED, 10000);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, promo, &m), STORE_OK);
    assert_int_equal(m->err, OUTBOX_ERR_OPTED_OUT);
    store_msg_free(m);
    assert_int_equal(f->sms_seen, 2);
    for (unsigned i = 0; i < 2; i++)
        assert_string_not_equal(f->seen_text[i], "promo");
    fx_free(f);
}

static void test_permanent_error(void **state)
{
    (void)state;
    struct fx *f = fx_raw(0);
    f->raw->submit_status = ESME_RINVDSTADR;
    fx_outbox(f, NULL);
    int64_t id = enqueue(f, "996700000007", "bad number", false);
    /* and one with no route at all: no prefix matches, no default */
    f->cs[0].default_route = false;
    f->pfx[0][0] = "996";
    f->cs[0].prefixes = f->pfx[0];
    f->cs[0].prefix_count = 1;
    int64_t nr = enqueue(f, "4470000000", "no route", false);
    int64_t both[2] = { id, nr };
    wait_state(f, both, 2, STORE_MSG_FAILED, 5000);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id, &m), STORE_OK);
    assert_int_equal(m->err, (int)ESME_RINVDSTADR);
    assert_int_equal(m->attempts, 1);
    store_msg_free(m);
    assert_int_equal(store_msg_get(f->db.st, nr, &m), STORE_OK);
    assert_int_equal(m->err, OUTBOX_ERR_NO_ROUTE);
    store_msg_free(m);
    assert_int_equal(f->raw->submits, 1);
    fx_free(f);
}

static void test_crash_and_lease(void **state)
{
    (void)state;
    /* 1: an SMSC that never answers; the outbox dies with 5 on the wire */
    struct fx *f = fx_raw(0);
    f->raw->silent = 1;
    struct outbox_opts o = { .lease_ms = 30000, .clock_ms = skewed_clock };
    clock_skew = 0;
    fx_outbox(f, &o);
    enum { N = 5 };
    int64_t ids[N];
    enqueue_n(f, ids, N, "996700000008", "sent before the crash");
    assert_true(wait_count(f, &f->raw->submits, N, 5000));
    for (int i = 0; i < N; i++)
        assert_int_equal(state_of(f, ids[i]), STORE_MSG_SENDING);
    /* "crash": the outbox goes without writing an outcome; the rows keep
     * their lease (the esme, freed after, reports to orphans) */
    outbox_free(f->ob);
    f->ob = NULL;
    esme_free(f->esme[0]);
    f->n_links = 0;
    for (int i = 0; i < N; i++)
        assert_int_equal(state_of(f, ids[i]), STORE_MSG_SENDING);

    /* 2: a new outbox on the simulator; while the lease runs nothing
     * is resent, once it ran out (clock moved on) every row goes again */
    struct smsc_config sc;
    smsc_cfg(&sc);
    f->smsc = smsc_new(f->base, &sc, (char[200]){ 0 }, 200);
    assert_non_null(f->smsc);
    smsc_set_observer(f->smsc, observer, f);
    fx_link(f, "sim", smsc_smpp_port(f->smsc), "kyzmat", NULL, true);
    assert_true(run_until(f, all_bound, NULL, 5000));
    fx_outbox(f, &o);
    run_for(f, 300, EVLOOP_ONCE);
    assert_int_equal(f->sms_seen, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(state_of(f, ids[i]), STORE_MSG_SENDING);
    clock_skew = 31000;
    wait_state(f, ids, N, STORE_MSG_DELIVERED, 10000);
    assert_int_equal(f->sms_seen, N);
    expect_attempts(f, ids, N, 2);             /* the duplicate, counted */
    clock_skew = 0;
    fx_free(f);
}

/* ---- callback URL ------------------------------------------------------ */

struct hook {
    unsigned calls, fails_left;
    char last[256];
    char wid[64], wts[32], wsig[200];   /* the last call's webhook-* */
};

static void hook_header(struct evhttp_request *req, const char *name,
                        char *out, size_t cap)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       name);
    snprintf(out, cap, "%s", v ? v : "");
}

static void hook_cb(struct evhttp_request *req, void *arg)
{
    struct hook *h = arg;
    h->calls++;
    if (h->fails_left) {
        h->fails_left--;
        evhttp_send_reply(req, 503, "busy", NULL);
        return;
    }
    http_body_take(req, h->last, sizeof h->last);
    hook_header(req, "webhook-id", h->wid, sizeof h->wid);
    hook_header(req, "webhook-timestamp", h->wts, sizeof h->wts);
    hook_header(req, "webhook-signature", h->wsig, sizeof h->wsig);
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* h's server on 127.0.0.1, port 0; url = "http://HOST:PORT/dlr" (HOST:
 * how the callback names it).  The caller frees the evhttp. */
static struct evhttp *hook_server(struct fx *f, struct hook *h,
                                  const char *host, char *url, size_t cap)
{
    struct evhttp *http = evhttp_new(f->base);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(
        http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
                                 (struct sockaddr *)&sa, &sl), 0);
    evhttp_set_gencb(http, hook_cb, h);
    snprintf(url, cap, "http://%s:%u/dlr", host, ntohs(sa.sin_port));
    return http;
}

static bool hook_done(struct fx *f, void *arg)
{
    struct hook *h = arg;
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    return h->last[0] && s.callbacks_ok >= 2;
}

static void test_callback(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, 0);
    struct hook h = { .fails_left = 1 };
    char url[64];
    struct evhttp *http = hook_server(f, &h, "127.0.0.1", url, sizeof url);
    /* the hook is on loopback: callbacks.allow must name it (item 9) */
    char *allow[] = { "127.0.0.1" };
    struct fetch_opts fo = { .allow = allow, .allow_n = 1 };
    f->fetch = fetch_new(f->base, &fo);
    assert_non_null(f->fetch);
    struct outbox_opts o = { .fetch = f->fetch, .callback_tries = 3 };
    fx_outbox(f, &o);
    assert_int_equal(store_optout_set(f->db.st, "996700000010", skewed_clock()),
                     STORE_OK);
    struct store_msg_new m = { .to = "996700000009", .text = "cb",
                               .callback_url = url,
                               .expires_at = skewed_clock() + 60000 };
    int64_t id;
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id), STORE_OK);
    m.to = "996700000010";
    int64_t id2;
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id2), STORE_OK);
    outbox_kick(f->ob);
    assert_true(run_until(f, hook_done, &h, 10000));
    assert_int_equal(h.calls, 3);          /* one 503, then two answers */
    assert_non_null(strstr(h.last, "\"state\":\""));
    assert_non_null(strstr(h.last, "\"at\":\""));
    assert_int_equal(state_of(f, id), STORE_MSG_DELIVERED);
    assert_int_equal(state_of(f, id2), STORE_MSG_FAILED);
    evhttp_free(http);
    fx_free(f);
}

static bool hook_called(struct fx *f, void *arg)
{
    (void)f;
    return ((struct hook *)arg)->calls > 0;
}

/* "v1," + base64(HMAC-SHA256(key, id "." ts "." body)) */
static void webhook_sig(const uint8_t *key, size_t klen, const struct hook *h,
                        char *out, size_t cap)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s.%s.%s", h->wid, h->wts, h->last);
    uint8_t mac[KZ_SHA256_LEN];
    kz_hmac_sha256(key, klen, msg, strlen(msg), mac);
    memcpy(out, "v1,", 4);
    assert_true(kz_base64_encode(mac, sizeof mac, out + 3, cap - 3) > 0);
}

/* Issue 14 item 9: a callback carries the Standard Webhooks headers and
 * is signed with its agency's key (and with the previous one while that
 * is still honoured); an agency without a key gets id and timestamp. */
static void test_callback_signed(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, 0);
    struct hook h = { 0 };
    char url[64];
    struct evhttp *http = hook_server(f, &h, "127.0.0.1", url, sizeof url);
    char *allow[] = { "127.0.0.0/8" };
    struct fetch_opts fo = { .allow = allow, .allow_n = 1 };
    f->fetch = fetch_new(f->base, &fo);
    struct outbox_opts o = { .fetch = f->fetch, .callback_tries = 1,
                             .clock_ms = skewed_clock };
    fx_outbox(f, &o);
    uint8_t k1[32], k2[32];
    memset(k1, 0x11, sizeof k1);
    memset(k2, 0x22, sizeof k2);
    int64_t until = 0;
    assert_int_equal(store_webhook_rotate(f->db.st, "agency:7", k1, sizeof k1,
                                          skewed_clock(), &until), STORE_OK);
    struct store_msg_new m = { .client = "agency:7", .to = "996700000009",
                               .text = "cb", .callback_url = url,
                               .expires_at = skewed_clock() + 60000 };
    int64_t id;
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id), STORE_OK);
    outbox_kick(f->ob);
    assert_true(run_until(f, hook_called, &h, 10000));
    char want[100], want2[100], wid[64];
    snprintf(wid, sizeof wid, "msg_%lld_delivered", (long long)id);
    assert_string_equal(h.wid, wid);
    long long ts = atoll(h.wts);
    assert_true(llabs(ts - skewed_clock() / 1000) <= 5);
    webhook_sig(k1, sizeof k1, &h, want, sizeof want);
    assert_string_equal(h.wsig, want);

    /* rotated: both keys sign, the new one first */
    until = skewed_clock() + 60000;
    assert_int_equal(store_webhook_rotate(f->db.st, "agency:7", k2, sizeof k2,
                                          skewed_clock(), &until), STORE_OK);
    memset(&h, 0, sizeof h);
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id), STORE_OK);
    outbox_kick(f->ob);
    assert_true(run_until(f, hook_called, &h, 10000));
    webhook_sig(k2, sizeof k2, &h, want, sizeof want);
    webhook_sig(k1, sizeof k1, &h, want2, sizeof want2);
    char both[220];
    snprintf(both, sizeof both, "%s %s", want, want2);
    assert_string_equal(h.wsig, both);

    /* no key: id and timestamp, no signature */
    m.client = "agency:8";
    memset(&h, 0, sizeof h);
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id), STORE_OK);
    outbox_kick(f->ob);
    assert_true(run_until(f, hook_called, &h, 10000));
    snprintf(wid, sizeof wid, "msg_%lld_delivered", (long long)id);
    assert_string_equal(h.wid, wid);
    assert_true(h.wts[0] != '\0');
    assert_string_equal(h.wsig, "");
    evhttp_free(http);
    fx_free(f);
}

static bool callback_failed(struct fx *f, void *arg)
{
    (void)arg;
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    return s.callbacks_failed >= 1;
}

/* Issue 14 item 9: a callback URL whose name resolves to loopback is not
 * called when callbacks.allow does not name it (the message itself goes
 * out as usual). */
static void test_callback_refused(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, 0);
    struct hook h = { 0 };
    char url[64];
    struct evhttp *http = hook_server(f, &h, "localhost", url, sizeof url);
    f->fetch = fetch_new(f->base, NULL);
    assert_non_null(f->fetch);
    struct outbox_opts o = { .fetch = f->fetch, .callback_tries = 1 };
    fx_outbox(f, &o);
    struct store_msg_new m = { .to = "996700000009", .text = "cb",
                               .callback_url = url,
                               .expires_at = skewed_clock() + 60000 };
    int64_t id;
    assert_int_equal(store_enqueue(f->db.st, &m, skewed_clock(), &id), STORE_OK);
    outbox_kick(f->ob);
    assert_true(run_until(f, callback_failed, NULL, 10000));
    assert_int_equal(h.calls, 0);
    assert_int_equal(state_of(f, id), STORE_MSG_DELIVERED);
    evhttp_free(http);
    fx_free(f);
}

/* ---- many rows --------------------------------------------------------- */

static bool first_sent(struct fx *f, void *arg)
{
    (void)arg;
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    return s.sent > 0;
}

static void test_first_claim_many_rows(void **state)
{
    (void)state;
    const char *env = getenv("OUTBOX_ROWS");
    long rows = env ? atol(env) : 20000;
    struct smsc_config sc;
    smsc_cfg(&sc);
    struct fx *f = fx_new(&sc);
    int64_t now = skewed_clock();
    struct store_msg_new m = { .to = "996700000011", .text = "bulk",
                               .expires_at = now + 3600000 };
    for (long i = 0; i < rows; i += 5000) {
        for (long k = i; k < i + 5000 && k < rows; k++) {
            int64_t id;
            assert_int_equal(store_enqueue(f->db.st, &m, now, &id), STORE_OK);
        }
        assert_int_equal(store_flush(f->db.st), STORE_OK);   /* one batch */
    }
    /* a restart: reopen the database, bind, then time the first send */
    store_close(f->db.st);
    f->db.st = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(f->db.st, f->base), STORE_OK);
    fx_link(f, "sim", smsc_smpp_port(f->smsc), "kyzmat", NULL, true);
    assert_true(run_until(f, all_bound, NULL, 5000));
    uint64_t t0 = mono_ms();
    fx_outbox(f, NULL);
    assert_true(run_until(f, first_sent, NULL, 5000));
    uint64_t dt = mono_ms() - t0;
    print_message("first send %llu ms after start with %ld queued rows\n",
                  (unsigned long long)dt, rows);
    assert_true(dt < 1000);
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    assert_true(s.claimed <= 100);          /* one bounded batch, not the table */
    fx_free(f);
}

/* ---- long SMS: every part's id, delivered with the last part ---------- */

static void test_long_sms_parts(void **state)
{
    (void)state;
    struct fx *f = fx_sim(NULL, SIM_OUTBOX);
    int64_t id = enqueue(f, "996700000011", cyr_long, false);
    wait_state(f, &id, 1, STORE_MSG_DELIVERED, 10000);
    int parts = 0, dl = 0;
    assert_int_equal(store_msg_parts(f->db.st, id, &parts, &dl), STORE_OK);
    assert_true(parts >= 2);                  /* every part recorded */
    assert_int_equal(dl, parts);              /* each delivered by its own */
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    assert_int_equal(s.receipts_matched, (uint64_t)parts);
    assert_int_equal(s.receipts_unmatched, 0);
    assert_int_equal(s.submitted, 1);
    fx_free(f);

    /* every part fails: the message fails at the first, and stays so */
    struct smsc_config sc;
    smsc_cfg(&sc);
    sc.dlr_fail_ratio = 1.0;
    f = fx_sim(&sc, SIM_OUTBOX);
    id = enqueue(f, "996700000012", cyr_long, false);
    wait_state(f, &id, 1, STORE_MSG_FAILED, 10000);
    struct want w = { &id, 1, STORE_MSG_FAILED };
    (void)w;
    run_for(f, 200, EVLOOP_NONBLOCK);      /* the other parts' receipts */
    assert_int_equal(state_of(f, id), STORE_MSG_FAILED);
    assert_int_equal(store_msg_parts(f->db.st, id, &parts, &dl), STORE_OK);
    assert_true(parts >= 2);
    assert_int_equal(dl, 0);
    fx_free(f);
}

/* ---- receipts: answered only once durable ------------------------------ */

struct durable_check {
    const struct tmpdb *db;
    unsigned checks;
    bool held_seen, delivered_seen;
    int64_t msg;
};

/* At the moment the deliver_sm_resp reaches the SMSC, what does a second
 * connection to the database see?  Only committed data. */
static void check_durable(struct rawpeer *rp, uint32_t status, void *arg)
{
    (void)rp;
    struct durable_check *c = arg;
    c->checks++;
    assert_int_equal(status, ESME_ROK);
    struct store *other = tmpdb_connect(c->db);
    struct store_held_receipt h[4];
    size_t n = 0;
    assert_int_equal(store_receipts_held(other, 0, h, 4, &n), STORE_OK);
    if (n > 0)
        c->held_seen = true;
    if (c->msg) {
        struct store_msg *m = NULL;
        assert_int_equal(store_msg_get(other, c->msg, &m), STORE_OK);
        if (m->state == STORE_MSG_DELIVERED)
            c->delivered_seen = true;
        store_msg_free(m);
    }
    store_close(other);
}

static void test_receipt_durable_before_answer(void **state)
{
    (void)state;
    struct fx *f = fx_raw(SIM_BOUND);
    struct outbox_opts o = { .receipt_wait_ms = 60000 };
    fx_outbox(f, &o);
    struct durable_check c = { .db = &f->db };
    f->raw->on_dlv_resp = check_durable;
    f->raw->on_dlv_arg = &c;

    /* 1: a receipt that matches nothing yet (it overtook its
     * submit_sm_resp): answered only once held in the store */
    raw_receipt(f->raw, "77aa");
    assert_true(wait_count(f, &f->raw->dlv_resps, 1, 5000));
    assert_true(c.held_seen);
    struct outbox_stats s;
    outbox_get_stats(f->ob, &s);
    assert_int_equal(s.receipts_held, 1);

    /* 2: kill -9 now: the outbox is gone without a word (simulated by a
     * second store connection and outbox, the first one abandoned as a
     * dead process would leave it); the message is then recorded as
     * submitted with that id in decimal, and the new outbox, started on
     * the same database, finds the held receipt and delivers it */
    struct store_msg_new nm = { .to = "996700000009", .text = "x",
                                .expires_at = skewed_clock() + 3600000 };
    int64_t id = 0;
    assert_int_equal(store_enqueue(f->db.st, &nm, skewed_clock(), &id), STORE_OK);
    struct store_msg *claimed[1];
    size_t nc = 0;
    assert_int_equal(store_claim_due(f->db.st, skewed_clock(), 60000, claimed, 1,
                                     &nc), STORE_OK);
    assert_int_equal(nc, 1);
    store_msg_free(claimed[0]);
    assert_int_equal(store_mark_submitted(f->db.st, id, "raw", "30634",
                                          skewed_clock()), STORE_OK);
    assert_int_equal(store_flush(f->db.st), STORE_OK);   /* what it recorded */
    struct outbox *dead = f->ob;
    struct store *dead_st = f->db.st;
    f->db.st = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(f->db.st, f->base), STORE_OK);
    f->ob = NULL;
    fx_outbox(f, &o);
    wait_state(f, &id, 1, STORE_MSG_DELIVERED, 5000);
    outbox_get_stats(f->ob, &s);
    assert_int_equal(s.receipts_matched, 1);   /* the new one matched it */
    size_t n = 1;
    struct store_held_receipt h[1];
    assert_int_equal(store_receipts_held(f->db.st, 0, h, 1, &n), STORE_OK);
    assert_int_equal(n, 0);                 /* released once matched */
    /* the abandoned outbox must not run again on its store */
    outbox_free(dead);
    store_close(dead_st);

    /* 3: a receipt that matches: answered after its commit, i.e. a
     * second reader already sees the message delivered */
    nm.to = "996700000010";
    assert_int_equal(store_enqueue(f->db.st, &nm, skewed_clock(), &id), STORE_OK);
    assert_int_equal(store_claim_due(f->db.st, skewed_clock(), 60000, claimed, 1,
                                     &nc), STORE_OK);
    assert_int_equal(nc, 1);
    store_msg_free(claimed[0]);
    const char *ids[3] = { "500", "501", "502" };
    assert_int_equal(store_mark_submitted_parts(f->db.st, id, "raw", ids, 3,
                                                skewed_clock()), STORE_OK);
    c.msg = id;
    c.held_seen = false;
    raw_receipt(f->raw, "1f4");          /* part 1, in hex */
    raw_receipt(f->raw, "1f5");          /* part 2 */
    assert_true(wait_count(f, &f->raw->dlv_resps, 3, 5000));
    assert_false(c.delivered_seen);      /* 2 of 3 parts: not yet */
    assert_int_equal(state_of(f, id), STORE_MSG_SUBMITTED);
    raw_receipt(f->raw, "1f6");          /* the last part */
    assert_true(wait_count(f, &f->raw->dlv_resps, 4, 5000));
    assert_true(c.delivered_seen);       /* durable before the answer */
    assert_false(c.held_seen);
    assert_int_equal(c.checks, 4);
    fx_free(f);
}

/* ---- esme: a deferred answer that never comes ---------------------------- */

static uint64_t held_ticket;
static struct esme *held_esme;

static uint32_t defer_forever(struct esme *e, const struct smpp_pdu *p,
                              void *ud)
{
    (void)p;
    (void)ud;
    held_esme = e;
    held_ticket = esme_defer_answer(e, ESME_RX_T_APPN);
    assert_true(held_ticket != 0);
    assert_int_equal(esme_defer_answer(e, ESME_RX_T_APPN), 0); /* once */
    return ESME_ROK;             /* ignored */
}

static void test_esme_defer_timeout(void **state)
{
    (void)state;
    struct fx *f = fx_new(NULL);
    f->raw = raw_new(f->base);
    struct esme_config ec = {
        .name = "raw2", .host = "127.0.0.1", .port = f->raw->port,
        .system_id = "kyzmat", .password = "secret",
    };
    struct esme_callbacks cb = { .on_deliver = defer_forever,
                                 .log = quiet_log, .ud = f };
    f->esme[0] = esme_new(f->base, &ec, &cb, NULL, 0);
    assert_non_null(f->esme[0]);
    f->n_links = 1;
    f->cs[0].name = "raw2";
    assert_int_equal(esme_start(f->esme[0]), 0);
    assert_true(run_until(f, all_bound, NULL, 5000));
    /* outside on_deliver nothing can be deferred */
    assert_int_equal(esme_defer_answer(f->esme[0], ESME_RX_T_APPN), 0);
    uint64_t t0 = mono_ms();
    raw_receipt(f->raw, "abc");
    assert_true(wait_count(f, &f->raw->dlv_resps, 1, ESME_DEFER_MS + 3000));
    uint64_t waited = mono_ms() - t0;
    assert_int_equal(f->raw->dlv_status, ESME_RX_T_APPN);   /* the fallback */
    assert_true(waited + 50 >= ESME_DEFER_MS);
    assert_int_equal(esme_deferred(f->esme[0]), 0);
    /* a late answer is refused and sends nothing */
    assert_int_equal(esme_answer(f->esme[0], held_ticket, ESME_ROK), -1);
    /* a second one answered in time goes out with our status, once */
    raw_receipt(f->raw, "abd");
    unsigned spin = 0;
    while (esme_deferred(f->esme[0]) == 0 && spin++ < 1000)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(esme_deferred(f->esme[0]), 1);
    assert_int_equal(esme_answer(f->esme[0], held_ticket, ESME_ROK), 0);
    assert_int_equal(esme_answer(f->esme[0], held_ticket, ESME_ROK), -1);
    assert_true(wait_count(f, &f->raw->dlv_resps, 2, 2000));
    assert_int_equal(f->raw->dlv_status, ESME_ROK);
    /* the ticket of one esme means nothing to another */
    assert_int_equal(esme_answer(f->esme[0], held_ticket ^ (1ull << 32),
                                 ESME_ROK), -1);
    (void)held_esme;
    fx_free(f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(KLOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_pick),
        cmocka_unit_test(test_receipt_parse),
        cmocka_unit_test(test_status_class),
        cmocka_unit_test(test_send_and_deliver),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_sender_and_via),
        cmocka_unit_test(test_commit_fails_nothing_sent),
        cmocka_unit_test(test_throttled),
        cmocka_unit_test(test_link_down_then_back),
        cmocka_unit_test(test_optout),
        cmocka_unit_test(test_permanent_error),
        cmocka_unit_test(test_crash_and_lease),
        cmocka_unit_test(test_callback),
        cmocka_unit_test(test_callback_refused),
        cmocka_unit_test(test_callback_signed),
        cmocka_unit_test(test_first_claim_many_rows),
        cmocka_unit_test(test_long_sms_parts),
        cmocka_unit_test(test_receipt_durable_before_answer),
        cmocka_unit_test(test_esme_defer_timeout),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fetch_global_cleanup();
    return rc;
}
