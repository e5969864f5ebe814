/*
 * tests/unit/test_esme.c — the ESME session (smpp/esme) against a small
 * SMSC peer that runs inside the test on the same event_base.
 *
 * The peer is an evconnlistener on 127.0.0.1 port 0 (the kernel picks a
 * free port, so parallel runs do not collide) that frames and decodes with
 * smpp/pdu and whose behaviour each test sets: refuse binds, hold or answer
 * requests, answer THROTTLED n times, nack, close, send deliver_sm /
 * enquire_link / unbind / garbage.  It records what it saw so the tests can
 * assert on the wire, not only on the esme's own view.
 *
 * Every test drives event_base_loop until a condition holds or a deadline
 * passes (run_until); nothing sleeps.  Log lines are captured through
 * cb->log and asserted on.
 *
 * May call: smpp/esme, smpp/pdu, base/clock, libevent, cmocka, libc.
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "smpp/esme.h"
#include "smpp/pdu.h"
#include "tests/unit/smpp_wire.h"

/* ---- the SMSC peer ----------------------------------------------------- */

#define MAX_CONNS 8
#define MAX_HELD  256
#define MAX_BINDS 32

struct peer;

struct pconn {
    struct peer *p;
    struct bufferevent *bev;
    uint32_t bound_as;            /* bind command id, 0 before bind */
    uint32_t held[MAX_HELD];      /* sequence numbers of held requests */
    uint32_t held_id[MAX_HELD];
    int nheld;
};

struct peer {
    struct event_base *base;
    struct evconnlistener *lis;
    uint16_t port;
    struct pconn *conns[MAX_CONNS];

    /* behaviour */
    uint32_t bind_status;         /* answer binds with this */
    int hold;                     /* 1: keep requests unanswered */
    int throttle_n;               /* answer THROTTLED to the next n requests */
    uint32_t nack_status;         /* != 0: generic_nack requests with it */
    int ignore_enquire;           /* do not answer enquire_link */
    int ignore_unbind;            /* do not answer unbind */
    int ignore_bind;              /* do not answer binds */
    uint32_t throttle_status;     /* status of a throttling answer (0: RTHROTTLED) */

    /* records */
    int binds, accepts;
    uint32_t bind_id[MAX_BINDS];
    uint64_t bind_ms[MAX_BINDS];
    char bind_sysid[17], bind_pw[10];
    uint8_t bind_ifver;
    int requests;                 /* submit_sm & co received */
    int order[64];                /* short_message "r<N>" of each, in order */
    int ok_order[256];            /* "r<N>" of each answered ESME_ROK */
    int nok;
    uint64_t arr_ms[256];         /* arrival time of each request */
    uint32_t req_on;              /* bound_as of the conn the last request came on */
    int outstanding, max_outstanding;
    int enquires, enquire_resps, unbinds, unbind_resps;
    int deliver_resps;
    uint32_t dresp_id, dresp_status, dresp_seq, dresp_len;
    int nacks;
    uint32_t nack_got, nack_seq;
    uint32_t seq;                 /* peer's own sequence numbers */
};

static void pconn_free(struct pconn *c)
{
    struct peer *p = c->p;
    for (int i = 0; i < MAX_CONNS; i++)
        if (p->conns[i] == c)
            p->conns[i] = NULL;
    p->outstanding -= c->nheld;
    bufferevent_free(c->bev);
    free(c);
}

static void pc_write_pdu(struct pconn *c, struct smpp_pdu *pdu)
{
    uint8_t buf[1024];
    int n = wire_encode(pdu, buf, sizeof buf);
    bufferevent_write(c->bev, buf, (size_t)n);
}

static void pc_simple(struct pconn *c, uint32_t id, uint32_t status, uint32_t seq)
{
    struct smpp_pdu pdu;
    smpp_pdu_reset(&pdu, id, status, seq);
    pc_write_pdu(c, &pdu);
}

static void pc_answer(struct pconn *c, uint32_t req_id, uint32_t seq)
{
    struct smpp_pdu pdu;
    char mid[16];
    smpp_pdu_reset(&pdu, smpp_resp_id(req_id), ESME_ROK, seq);
    snprintf(mid, sizeof mid, "m%u", seq);
    pdu.message_id = mid;
    pc_write_pdu(c, &pdu);
}

static void peer_on_pdu(struct pconn *c, const struct smpp_pdu *in, uint32_t len)
{
    struct peer *p = c->p;
    struct smpp_pdu out;

    switch (in->command_id) {
    case SMPP_BIND_TRANSCEIVER:
    case SMPP_BIND_TRANSMITTER:
    case SMPP_BIND_RECEIVER:
        if (p->binds < MAX_BINDS) {
            p->bind_id[p->binds] = in->command_id;
            p->bind_ms[p->binds] = kz_mono_ms();
        }
        p->binds++;
        snprintf(p->bind_sysid, sizeof p->bind_sysid, "%s", in->system_id);
        snprintf(p->bind_pw, sizeof p->bind_pw, "%s", in->password);
        p->bind_ifver = in->interface_version;
        if (p->ignore_bind)
            return;
        smpp_pdu_reset(&out, smpp_resp_id(in->command_id), p->bind_status,
                      in->sequence_number);
        if (p->bind_status == ESME_ROK) {
            out.system_id = "testsmsc";
            c->bound_as = in->command_id;
        }
        pc_write_pdu(c, &out);
        return;
    case SMPP_SUBMIT_SM:
    case SMPP_DATA_SM:
    case SMPP_QUERY_SM:
        int rid = -1;
        if (in->sm_length > 1 && in->short_message[0] == 'r')
            rid = atoi((const char *)in->short_message + 1);
        if (p->requests < 64)
            p->order[p->requests] = rid;
        if (p->requests < 256)
            p->arr_ms[p->requests] = kz_mono_ms();
        p->requests++;
        p->req_on = c->bound_as;
        if (p->throttle_n > 0) {
            p->throttle_n--;
            pc_simple(c, smpp_resp_id(in->command_id),
                      p->throttle_status ? p->throttle_status : ESME_RTHROTTLED,
                      in->sequence_number);
        } else if (p->nack_status) {
            pc_simple(c, SMPP_GENERIC_NACK, p->nack_status, in->sequence_number);
        } else if (p->hold && c->nheld < MAX_HELD) {
            c->held[c->nheld] = in->sequence_number;
            c->held_id[c->nheld++] = in->command_id;
            if (++p->outstanding > p->max_outstanding)
                p->max_outstanding = p->outstanding;
        } else {
            if (p->outstanding + 1 > p->max_outstanding)
                p->max_outstanding = p->outstanding + 1;
            if (p->nok < 256)
                p->ok_order[p->nok] = rid;
            p->nok++;
            pc_answer(c, in->command_id, in->sequence_number);
        }
        return;
    case SMPP_ENQUIRE_LINK:
        p->enquires++;
        if (!p->ignore_enquire)
            pc_simple(c, SMPP_ENQUIRE_LINK_RESP, ESME_ROK, in->sequence_number);
        return;
    case SMPP_ENQUIRE_LINK_RESP:
        p->enquire_resps++;
        return;
    case SMPP_UNBIND:
        p->unbinds++;
        if (!p->ignore_unbind)
            pc_simple(c, SMPP_UNBIND_RESP, ESME_ROK, in->sequence_number);
        return;
    case SMPP_UNBIND_RESP:
        p->unbind_resps++;
        return;
    case SMPP_DELIVER_SM_RESP:
    case SMPP_DATA_SM_RESP:
        p->deliver_resps++;
        p->dresp_id = in->command_id;
        p->dresp_status = in->command_status;
        p->dresp_seq = in->sequence_number;
        p->dresp_len = len;
        return;
    case SMPP_GENERIC_NACK:
        p->nacks++;
        p->nack_got = in->command_status;
        p->nack_seq = in->sequence_number;
        return;
    default:
        return;
    }
}

static void peer_read_cb(struct bufferevent *bev, void *arg)
{
    struct pconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        uint8_t hdr[4];
        if (avail < 4)
            return;
        evbuffer_copyout(in, hdr, 4);
        uint32_t len = smpp_pdu_peek_length(hdr, 4);
        assert_true(smpp_length_ok(len, 0));
        if (avail < len)
            return;
        const uint8_t *buf = evbuffer_pullup(in, len);
        struct smpp_pdu pdu;
        struct smpp_err err;
        int r = smpp_pdu_decode(&pdu, buf, len, NULL, &err);
        if (r < 0)
            fail_msg("peer got a PDU it cannot decode: %s", err.text);
        peer_on_pdu(c, &pdu, len);
        evbuffer_drain(in, len);
    }
}

static void peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        pconn_free(arg);
}

static void peer_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
                           struct sockaddr *sa, int salen, void *arg)
{
    (void)lis; (void)sa; (void)salen;
    struct peer *p = arg;
    struct pconn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->p = p;
    c->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, peer_read_cb, NULL, peer_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    p->accepts++;
    for (int i = 0; i < MAX_CONNS; i++)
        if (!p->conns[i]) {
            p->conns[i] = c;
            return;
        }
    fail_msg("too many peer connections");
}

static struct peer *peer_new(struct event_base *base)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->base = base;
    p->seq = 1000;
    struct sockaddr_in sin = { 0 };
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    p->lis = evconnlistener_new_bind(base, peer_accept_cb, p,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     16, (struct sockaddr *)&sin, sizeof sin);
    assert_non_null(p->lis);
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    assert_int_equal(getsockname(evconnlistener_get_fd(p->lis),
                                 (struct sockaddr *)&got, &gl), 0);
    p->port = ntohs(got.sin_port);
    return p;
}

static void peer_close_all(struct peer *p)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (p->conns[i])
            pconn_free(p->conns[i]);
}

static void peer_free(struct peer *p)
{
    peer_close_all(p);
    evconnlistener_free(p->lis);
    free(p);
}

/* The connection bound as `id` (0: any bound one). */
static struct pconn *peer_conn(struct peer *p, uint32_t id)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (p->conns[i] && p->conns[i]->bound_as &&
            (!id || p->conns[i]->bound_as == id))
            return p->conns[i];
    return NULL;
}

static void peer_release(struct peer *p)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        struct pconn *c = p->conns[i];
        if (!c)
            continue;
        for (int k = 0; k < c->nheld; k++)
            pc_answer(c, c->held_id[k], c->held[k]);
        p->outstanding -= c->nheld;
        c->nheld = 0;
    }
}

static uint32_t peer_send_deliver(struct pconn *c, uint32_t id)
{
    struct smpp_pdu pdu;
    uint32_t seq = ++c->p->seq;
    smpp_pdu_reset(&pdu, id, ESME_ROK, seq);
    pdu.service_type = "USSD";
    pdu.source_addr = "996555123456";
    pdu.destination_addr = "*100#";
    pdu.short_message = (const uint8_t *)"*100#";
    pdu.sm_length = id == SMPP_DELIVER_SM ? 5 : 0;
    smpp_pdu_set_u8(&pdu, SMPP_TLV_USSD_SERVICE_OP, SMPP_USSD_PSSR_IND);
    pc_write_pdu(c, &pdu);
    return seq;
}

/* ---- the test fixture -------------------------------------------------- */

#define MAX_LOG 2048
#define MAX_REQ 256

struct t {
    struct event_base *base;
    struct peer *peer;
    struct esme *e;
    struct esme_config cfg;
    struct esme_callbacks cb;
    struct kz_metrics *metrics;   /* cfg.resp_seconds lives here */

    char *log[MAX_LOG];
    int nlog;
    enum esme_state states[256];
    int nstates;

    /* per request (arg = &t->req[i]) */
    struct req { struct t *t; int done; uint32_t status; char msgid[32]; uint64_t at; } req[MAX_REQ];
    int ndone;
    int in_send;                  /* 1 while inside esme_send */
    int done_in_send;             /* done() seen inside esme_send: a bug */

    /* on_deliver */
    int delivered;
    uint32_t deliver_status;      /* what on_deliver returns */
    int last_op;

    /* re-entrancy tests */
    int free_in_done;             /* esme_free from the first done() */
    enum esme_state free_on_state;  /* esme_free when on_state reports it */
    int free_on_state_set;
    struct esme *freed;           /* freed from a callback: done() may still name it */
};

__attribute__((format(printf, 4, 0)))
static void t_log(void *ud, int level, const char *peer, const char *fmt, va_list ap)
{
    struct t *t = ud;
    char line[512];
    int n = snprintf(line, sizeof line, "%d [%s] ", level, peer);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (getenv("ESME_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", line);
    if (t->nlog < MAX_LOG)
        t->log[t->nlog++] = strdup(line);
}

static int has_log(const struct t *t, const char *needle)
{
    for (int i = 0; i < t->nlog; i++)
        if (strstr(t->log[i], needle))
            return 1;
    return 0;
}

static int count_log(const struct t *t, const char *needle)
{
    int n = 0;
    for (int i = 0; i < t->nlog; i++)
        if (strstr(t->log[i], needle))
            n++;
    return n;
}

static void t_on_state(struct esme *e, enum esme_state st, void *ud)
{
    struct t *t = ud;
    assert_true(e == t->e || e == t->freed);
    if (t->nstates < 256)
        t->states[t->nstates++] = st;
    if (t->free_on_state_set && st == t->free_on_state) {
        esme_free(e);
        t->freed = e;
        t->e = NULL;
    }
}

static uint32_t t_on_deliver(struct esme *e, const struct smpp_pdu *pdu, void *ud)
{
    struct t *t = ud;
    (void)e;
    t->delivered++;
    t->last_op = (int)smpp_tlv_uint(pdu, SMPP_TLV_USSD_SERVICE_OP);
    return t->deliver_status;
}

static void t_done(struct esme *e, void *arg, uint32_t status,
                   const struct smpp_pdu *resp)
{
    struct req *r = arg;
    struct t *t = r->t;
    assert_true(e == t->e || e == t->freed);
    if (t->in_send)
        t->done_in_send = 1;
    r->done++;
    r->status = status;
    r->at = kz_mono_ms();
    if (resp && resp->message_id)
        snprintf(r->msgid, sizeof r->msgid, "%s", resp->message_id);
    t->ndone++;
    if (t->free_in_done) {
        t->free_in_done = 0;
        esme_free(e);
        t->freed = e;
        t->e = NULL;
    }
}

static int t_setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->base = event_base_new();
    assert_non_null(t->base);
    t->peer = peer_new(t->base);
    for (int i = 0; i < MAX_REQ; i++)
        t->req[i].t = t;
    t->cfg.name = "testpeer";
    t->cfg.host = "127.0.0.1";
    t->cfg.port = t->peer->port;
    t->cfg.system_id = "kyzmat";
    t->cfg.password = "s3cr3tpw";
    t->cfg.system_type = "USSD";
    t->cfg.bind_mode = ESME_BIND_TRX;
    t->cfg.window = 10;
    t->cfg.enquire_link_ms = 5000;
    t->cfg.response_timeout_ms = 2000;
    t->cfg.connect_timeout_ms = 2000;
    t->cfg.reconnect_min_ms = 20;
    t->cfg.reconnect_max_ms = 1000;
    t->cfg.throttle_retry_ms = 20;
    t->cb.on_state = t_on_state;
    t->cb.on_deliver = t_on_deliver;
    t->cb.log = t_log;
    t->cb.ud = t;
    *state = t;
    return 0;
}

static int t_teardown(void **state)
{
    struct t *t = *state;
    if (t->e)
        esme_free(t->e);
    t->e = NULL;
    kz_metrics_free(t->metrics);
    peer_free(t->peer);
    event_base_free(t->base);
    for (int i = 0; i < t->nlog; i++) {
        /* the password must never reach a log line */
        assert_null(strstr(t->log[i], t->cfg.password));
        free(t->log[i]);
    }
    free(t);
    return 0;
}

static void t_start(struct t *t)
{
    char err[128];
    t->e = esme_new(t->base, &t->cfg, &t->cb, err, sizeof err);
    if (!t->e)
        fail_msg("esme_new: %s", err);
    assert_int_equal(esme_start(t->e), 0);
}

typedef int cond_fn(struct t *t, void *arg);

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    *(int *)arg = 1;
}

/* Run the loop until cond holds (returns 1) or ms pass (returns 0). */
static int run_until(struct t *t, cond_fn *cond, void *arg, unsigned ms)
{
    int expired = 0;
    struct event *dl = evtimer_new(t->base, deadline_cb, &expired);
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(dl, &tv);
    int ok = cond && cond(t, arg);
    while (!ok && !expired) {
        event_base_loop(t->base, EVLOOP_ONCE);
        ok = cond && cond(t, arg);
    }
    event_free(dl);
    return ok;
}

static int c_state(struct t *t, void *arg)
{
    return t->e && esme_state(t->e) == *(enum esme_state *)arg;
}

static int c_ndone(struct t *t, void *arg)
{
    return t->ndone >= *(int *)arg;
}

static int c_freed(struct t *t, void *arg)
{
    (void)arg;
    return t->e == NULL;
}

static int c_int_ge(struct t *t, void *arg)
{
    (void)t;
    const int *const *pp = arg;
    return *pp[0] >= *pp[1];
}

static int wait_state(struct t *t, enum esme_state st, unsigned ms)
{
    return run_until(t, c_state, &st, ms);
}

/* Start, and wait until bound. */
static void t_bound(struct t *t)
{
    t_start(t);
    assert_true(wait_state(t, ESME_BOUND, 2000));
}

static int wait_done(struct t *t, int n, unsigned ms)
{
    return run_until(t, c_ndone, &n, ms);
}

/* Wait until *var >= want. */
static int wait_ge(struct t *t, const int *var, int want, unsigned ms)
{
    const int *pp[2] = { var, &want };
    return run_until(t, c_int_ge, pp, ms);
}

/* The peer's n-th answer to a deliver_sm/data_sm comes within 2 s: that
 * command id, sequence number and status. */
static void expect_dresp(struct t *t, int n, uint32_t id, uint32_t seq, uint32_t status)
{
    assert_true(wait_ge(t, &t->peer->deliver_resps, n, 2000));
    assert_int_equal(t->peer->dresp_id, id);
    assert_int_equal(t->peer->dresp_seq, seq);
    assert_int_equal(t->peer->dresp_status, status);
}

static void send_submit(struct t *t, int i)
{
    struct smpp_pdu pdu;
    char text[16];
    int n = snprintf(text, sizeof text, "r%d", i);  /* NUL ends atoi */
    smpp_pdu_reset(&pdu, SMPP_SUBMIT_SM, 0, 0);
    pdu.service_type = "USSD";
    pdu.source_addr = "100";
    pdu.destination_addr = "996555123456";
    pdu.short_message = (const uint8_t *)text;
    pdu.sm_length = (uint8_t)(n + 1);
    t->in_send = 1;
    assert_int_equal(esme_send(t->e, &pdu, t_done, &t->req[i]), 0);
    t->in_send = 0;
}

static int saw_state(const struct t *t, enum esme_state st)
{
    for (int i = 0; i < t->nstates; i++)
        if (t->states[i] == st)
            return 1;
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

/* bind_transceiver with interface_version 0x34, request/response, then
 * esme_stop sends unbind, waits for unbind_resp and reports CLOSED. */
static void test_bind_trx_and_stop(void **state)
{
    struct t *t = *state;
    t_bound(t);
    assert_int_equal(t->peer->binds, 1);
    assert_int_equal(t->peer->bind_id[0], SMPP_BIND_TRANSCEIVER);
    assert_int_equal(t->peer->bind_ifver, 0x34);
    assert_string_equal(t->peer->bind_sysid, "kyzmat");
    assert_string_equal(t->peer->bind_pw, "s3cr3tpw");
    assert_true(has_log(t, "connected to 127.0.0.1"));
    assert_true(has_log(t, "bound as transceiver to SMSC 'testsmsc'"));
    assert_true(has_log(t, "CONNECTING --CONNECTED--> BINDING"));
    assert_true(saw_state(t, ESME_CONNECTING) && saw_state(t, ESME_BINDING));

    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_ROK);
    assert_string_equal(t->req[0].msgid, "m2");  /* seq 1 was the bind */
    assert_false(t->done_in_send);

    esme_stop(t->e);
    assert_int_equal(esme_state(t->e), ESME_UNBINDING);
    assert_true(wait_state(t, ESME_CLOSED, 2000));
    assert_int_equal(t->peer->unbinds, 1);
    assert_true(has_log(t, "unbound"));
    assert_int_equal(t->states[t->nstates - 1], ESME_CLOSED);

    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(st.resp_ok, 1);
    assert_int_equal(st.in_flight, 0);
}

/* esme_stop against an SMSC that never answers unbind: closed after the
 * ~2 s grace; a request still outstanding then gets STOPPED. */
static void test_stop_without_unbind_resp(void **state)
{
    struct t *t = *state;
    t->peer->ignore_unbind = 1;
    t->peer->hold = 1;
    t->cfg.response_timeout_ms = 5000;
    t_bound(t);
    send_submit(t, 0);
    assert_true(wait_ge(t, &t->peer->requests, 1, 2000));
    uint64_t t0 = kz_mono_ms();
    esme_stop(t->e);
    assert_true(wait_ge(t, &t->peer->unbinds, 1, 2000));
    assert_true(wait_state(t, ESME_CLOSED, 3000));
    uint64_t took = kz_mono_ms() - t0;
    assert_true(took >= 1900 && took < 2600);
    assert_true(has_log(t, "disconnected: no unbind_resp in time"));
    assert_int_equal(t->req[0].done, 1);
    assert_int_equal(t->req[0].status, ESME_DONE_STOPPED);
}

/* Transmitter + receiver: requests go on the transmitter, deliver_sm comes
 * on the receiver and is answered there. */
static void test_bind_tx_rx(void **state)
{
    struct t *t = *state;
    t->cfg.bind_mode = ESME_BIND_TX_RX;
    t_bound(t);
    assert_int_equal(t->peer->binds, 2);
    int tx = 0, rx = 0;
    for (int i = 0; i < 2; i++) {
        tx += t->peer->bind_id[i] == SMPP_BIND_TRANSMITTER;
        rx += t->peer->bind_id[i] == SMPP_BIND_RECEIVER;
    }
    assert_int_equal(tx, 1);
    assert_int_equal(rx, 1);
    assert_true(has_log(t, "bound as transmitter+receiver to SMSC 'testsmsc'"));

    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_ROK);
    assert_int_equal(t->peer->req_on, SMPP_BIND_TRANSMITTER);

    struct pconn *rxc = peer_conn(t->peer, SMPP_BIND_RECEIVER);
    assert_non_null(rxc);
    uint32_t seq = peer_send_deliver(rxc, SMPP_DELIVER_SM);
    expect_dresp(t, 1, SMPP_DELIVER_SM_RESP, seq, ESME_ROK);
    assert_int_equal(t->delivered, 1);

    esme_stop(t->e);
    assert_true(wait_state(t, ESME_CLOSED, 2000));
    assert_int_equal(t->peer->unbinds, 2);
}

/* Wrong password: a clear log line, BACKOFF, and growing delays. */
static void test_wrong_password_backoff(void **state)
{
    struct t *t = *state;
    t->peer->bind_status = ESME_RINVPASWD;
    t->cfg.reconnect_min_ms = 30;
    t->cfg.reconnect_max_ms = 10000;
    t_start(t);
    assert_true(wait_ge(t, &t->peer->binds, 4, 3000));
    assert_true(count_log(t, "bind refused: wrong password (ESME_RINVPASWD)") >= 3);
    assert_true(has_log(t, "reconnect scheduled in"));
    assert_true(saw_state(t, ESME_BACKOFF));
    assert_int_not_equal(esme_state(t->e), ESME_BOUND);
    /* The scheduled delays: 30, 60, 120 ms, each +-20%. */
    unsigned sched[8];
    int ns = 0;
    for (int i = 0; i < t->nlog && ns < 8; i++) {
        const char *m = strstr(t->log[i], "reconnect scheduled in ");
        if (m)
            sched[ns++] = (unsigned)atoi(m + strlen("reconnect scheduled in "));
    }
    assert_true(ns >= 3);
    for (int i = 0, base = 30; i < 3; i++, base *= 2) {
        assert_true(sched[i] >= (unsigned)base * 8 / 10);
        assert_true(sched[i] <= (unsigned)base * 12 / 10);
    }
    /* On the wire the attempts really are spread out.  The peer stamps a
     * bind when it reads it, so a late read of one attempt (a loaded CI
     * machine, ASan) shortens the gap before the next: only half of each
     * scheduled delay is required, and the last gap must still exceed
     * the first delay's full length (growth). */
    uint64_t d1 = t->peer->bind_ms[1] - t->peer->bind_ms[0];
    uint64_t d2 = t->peer->bind_ms[2] - t->peer->bind_ms[1];
    uint64_t d3 = t->peer->bind_ms[3] - t->peer->bind_ms[2];
    assert_true(d1 >= sched[0] / 2);
    assert_true(d2 >= sched[1] / 2);
    assert_true(d3 >= sched[2] / 2);
    assert_true(d3 >= sched[0]);
}

/* Other bind errors log their own clear line. */
static void test_bind_errors_named(void **state)
{
    struct t *t = *state;
    t->peer->bind_status = ESME_RINVSYSID;
    t_start(t);
    assert_true(wait_ge(t, &t->peer->binds, 1, 2000));
    assert_true(wait_state(t, ESME_BACKOFF, 2000));
    assert_true(has_log(t, "bind refused: wrong system_id 'kyzmat' (ESME_RINVSYSID)"));
    t->peer->bind_status = ESME_RALYBND;
    assert_true(wait_ge(t, &t->peer->binds, 2, 2000));
    assert_true(wait_state(t, ESME_BACKOFF, 2000));
    assert_true(has_log(t, "bind refused: already bound (ESME_RALYBND)"));
    t->peer->bind_status = ESME_ROK;
    assert_true(wait_state(t, ESME_BOUND, 2000));
}

/* enquire_link after idle; a missing enquire_link_resp kills the link. */
static void test_enquire_link(void **state)
{
    struct t *t = *state;
    t->cfg.enquire_link_ms = 50;
    t->cfg.response_timeout_ms = 100;
    t_bound(t);
    uint64_t t0 = kz_mono_ms();
    assert_true(wait_ge(t, &t->peer->enquires, 2, 2000));
    assert_true(kz_mono_ms() - t0 >= 90);   /* two idle periods of 50 ms */
    assert_int_equal(esme_state(t->e), ESME_BOUND);
    assert_int_equal(t->peer->binds, 1);

    /* the SMSC's own enquire_link is answered */
    pc_simple(peer_conn(t->peer, 0), SMPP_ENQUIRE_LINK, 0, 777);
    assert_true(wait_ge(t, &t->peer->enquire_resps, 1, 2000));

    t->peer->ignore_enquire = 1;
    assert_true(wait_state(t, ESME_BACKOFF, 2000));
    assert_true(has_log(t, "disconnected: no enquire_link_resp within 100 ms"));
    t->peer->ignore_enquire = 0;
    assert_true(wait_state(t, ESME_BOUND, 2000));
    assert_int_equal(t->peer->binds, 2);
}

/* A request the SMSC never answers times out. */
static void test_request_timeout(void **state)
{
    struct t *t = *state;
    t->cfg.response_timeout_ms = 100;
    t->peer->hold = 1;
    t_bound(t);
    uint64_t t0 = kz_mono_ms();
    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_DONE_TIMEOUT);
    assert_true(t->req[0].at - t0 >= 95);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.submits[ESME_OUT_TIMEOUT], 1);
    assert_int_equal(st.submits[ESME_OUT_OK], 0);
    assert_int_equal(st.in_flight, 0);
    /* a late answer is ignored; the link stays up */
    peer_release(t->peer);
    run_until(t, NULL, NULL, 30);
    assert_int_equal(t->req[0].done, 1);
    assert_int_equal(esme_state(t->e), ESME_BOUND);
}

/* Never more than `window` requests outstanding at the SMSC. */
static void test_window(void **state)
{
    struct t *t = *state;
    t->cfg.window = 3;
    t->peer->hold = 1;
    t_bound(t);
    for (int i = 0; i < 10; i++)
        send_submit(t, i);
    assert_true(wait_ge(t, &t->peer->outstanding, 3, 2000));
    run_until(t, NULL, NULL, 50);          /* give it a chance to overrun */
    assert_int_equal(t->peer->outstanding, 3);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.in_flight, 3);
    assert_int_equal(st.queued, 7);
    t->peer->hold = 0;
    peer_release(t->peer);
    assert_true(wait_done(t, 10, 2000));
    assert_int_equal(t->peer->max_outstanding, 3);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(t->req[i].done, 1);
        assert_int_equal(t->req[i].status, ESME_ROK);
    }
}

/* tps=100: 100 requests take >= ~0.9 s (burst of 10, then 100/s). */
static void test_tps_limit(void **state)
{
    struct t *t = *state;
    t->cfg.tps = 100;
    t->cfg.window = 50;
    t_bound(t);
    uint64_t t0 = kz_mono_ms();
    for (int i = 0; i < 100; i++)
        send_submit(t, i);
    assert_true(wait_done(t, 100, 5000));
    uint64_t took = kz_mono_ms() - t0;
    assert_true(took >= 850);
    assert_true(took < 2500);
    for (int i = 0; i < 100; i++)
        assert_int_equal(t->req[i].status, ESME_ROK);
    /* no burst larger than the bucket: the 11th answer is >= ~10 ms later */
    assert_true(t->req[99].at - t->req[10].at >= 800);
}

/* THROTTLED three times, then OK: retried, the rate cut each round, no
 * pause after the first throttle, then 30 ms, then 60 ms; counted. */
static void test_throttled_retry(void **state)
{
    struct t *t = *state;
    t->cfg.throttle_retry_ms = 30;
    t->peer->throttle_n = 3;
    struct kz_metrics *m = t->metrics = kz_metrics_new();
    const double le[] = { 0.001, 10 };
    t->cfg.resp_seconds = kz_metrics_histogram(m, "resp_seconds", "", NULL, 0,
                                               le, 2, NULL, 0);
    assert_non_null(t->cfg.resp_seconds);
    t_bound(t);
    uint64_t t0 = kz_mono_ms();
    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_ROK);
    assert_true(t->req[0].at - t0 >= 30 + 60 - 5);   /* 0, 30 ms, 60 ms */
    assert_int_equal(t->peer->requests, 4);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.throttled, 3);
    assert_int_equal(st.retried, 3);
    assert_int_equal(st.sent, 1);          /* retries are not new attempts */
    /* for metrics: every answer by kind, and each one's response time */
    assert_int_equal(st.submits[ESME_OUT_THROTTLED], 3);
    assert_int_equal(st.submits[ESME_OUT_OK], 1);
    assert_int_equal(st.submits[ESME_OUT_TIMEOUT], 0);
    assert_int_equal(st.binds, 1);
    assert_int_equal(t->cfg.resp_seconds->count, 4);
    assert_int_equal(t->cfg.resp_seconds->counts[2], 0);   /* none over 10 s */
    assert_true(t->cfg.resp_seconds->sum > 0 && t->cfg.resp_seconds->sum < 4);
    assert_string_equal(esme_outcome_name(ESME_OUT_THROTTLED), "ESME_RTHROTTLED");
    assert_string_equal(esme_outcome_name(ESME_OUT_TIMEOUT), "timeout");
    assert_int_equal(st.rate_cuts, 3);
    assert_true(has_log(t, "ESME_RTHROTTLED, retry 1/10 in 0 ms"));
    assert_true(has_log(t, "ESME_RTHROTTLED, retry 2/10 in 30 ms"));
    assert_true(has_log(t, "ESME_RTHROTTLED, retry 3/10 in 60 ms"));

    /* several throttled at once go out again in their original order */
    t->peer->requests = 0;
    t->peer->throttle_n = 3;
    t->ndone = 0;
    for (int i = 10; i < 14; i++)
        send_submit(t, i);
    assert_true(wait_done(t, 4, 2000));
    assert_int_equal(t->peer->requests, 7);
    for (int i = 10; i < 14; i++)
        assert_int_equal(t->req[i].status, ESME_ROK);
    /* first pass 10 11 12 (throttled) 13, or 10 11 12 then the retries */
    int k = 3;
    if (t->peer->order[3] == 13)
        k = 4;
    for (int i = 0; i < 3; i++)
        assert_int_equal(t->peer->order[k + i], 10 + i);

    /* more throttling than max_retries: the status goes to the caller */
    t->peer->throttle_n = 100;
    esme_free(t->e);
    t->e = NULL;
    t->cfg.max_retries = 2;
    t->ndone = 0;
    t_bound(t);
    send_submit(t, 1);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[1].status, ESME_RTHROTTLED);
}

/* The adaptive rate: throttles cut it (a quarter, then halves while they
 * come without a success between), successes bring it back to tps. */
static void test_throttle_rate_adapts(void **state)
{
    struct t *t = *state;
    struct esme_stats st;
    t->cfg.tps = 200;
    t->cfg.window = 1;
    t->cfg.throttle_retry_ms = 10;
    t_bound(t);
    esme_get_stats(t->e, &st);
    assert_int_equal(st.rate_tps, 200);
    assert_int_equal(st.throttle_streak, 0);

    t->peer->throttle_n = 3;
    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_ROK);
    esme_get_stats(t->e, &st);
    assert_int_equal(st.rate_cuts, 3);
    assert_int_equal(st.rate_tps, 38);     /* 200 * 3/4 / 2 / 2 = 37.5 */
    assert_int_equal(st.throttle_streak, 0);   /* the success ended it */
    assert_int_equal(st.pause_ms, 20);     /* rounds 2 and 3: 10, 20 ms */
    assert_true(has_log(t, "retry 1/10 in 0 ms, rate 150/s"));
    assert_true(has_log(t, "retry 2/10 in 10 ms, rate 75/s"));
    assert_true(has_log(t, "retry 3/10 in 20 ms, rate 38/s"));

    /* 20 a tenth of tps per 2 successes: up, step by step, never over */
    unsigned last = st.rate_tps;
    for (int i = 1; i <= 20; i++) {
        send_submit(t, i);
        assert_true(wait_done(t, i + 1, 2000));
        esme_get_stats(t->e, &st);
        assert_true(st.rate_tps >= last);
        assert_true(st.rate_tps <= 200);
        last = st.rate_tps;
        if (i == 4)
            assert_int_equal(st.rate_tps, 78);   /* 37.5 + 2 * 20 */
    }
    assert_int_equal(st.rate_tps, 200);
    assert_int_equal(st.rate_cuts, 3);
    assert_true(has_log(t, "throttling over: rate back to 200/s"));
    for (int i = 0; i <= 20; i++)
        assert_int_equal(t->req[i].status, ESME_ROK);

    /* tps 0: a throttle puts a limit on, successes lift it again */
    esme_free(t->e);
    t->e = NULL;
    t->cfg.tps = 0;
    t->cfg.window = 4;
    t->ndone = 0;
    t_bound(t);
    esme_get_stats(t->e, &st);
    assert_int_equal(st.rate_tps, 0);
    t->peer->throttle_n = 1;
    send_submit(t, 30);
    assert_true(wait_done(t, 1, 2000));
    esme_get_stats(t->e, &st);
    assert_true(st.rate_tps > 0);
    assert_int_equal(st.rate_cuts, 1);
    for (int i = 31; i < 60 && st.rate_tps; i++) {
        send_submit(t, i);
        assert_true(wait_done(t, i - 29, 2000));
        esme_get_stats(t->e, &st);
    }
    assert_int_equal(st.rate_tps, 0);
    assert_true(has_log(t, "throttling over: rate limit lifted"));
}

/* A burst of throttles loses nothing: window 4, the first 8 requests on
 * the wire throttled; every request answered once, ROK, new ones sent in
 * order, one rate cut per round.  (With a window > 1 a request still in
 * flight may be accepted while an older one is throttled: timing, not the
 * esme.)  Window 1: nothing reordered under throttles that hit requests
 * once, twice or not at all. */
static void test_throttle_burst_keeps_order(void **state)
{
    struct t *t = *state;
    struct esme_stats st;
    t->cfg.window = 4;
    t->cfg.throttle_retry_ms = 5;
    t->peer->throttle_n = 8;
    t_bound(t);
    for (int i = 0; i < 12; i++)
        send_submit(t, i);
    assert_true(wait_done(t, 12, 3000));
    for (int i = 0; i < 12; i++) {
        assert_int_equal(t->req[i].done, 1);
        assert_int_equal(t->req[i].status, ESME_ROK);
    }
    assert_int_equal(t->peer->requests, 20);
    assert_int_equal(t->peer->nok, 12);
    int seen[12] = { 0 }, next_new = 0;
    for (int i = 0; i < 12; i++) {
        int id = t->peer->ok_order[i];
        assert_true(id >= 0 && id < 12);
        assert_int_equal(seen[id]++, 0);          /* accepted once */
    }
    for (int k = 0; k < 20; k++) {                /* new ones in order */
        int id = t->peer->order[k];
        assert_true(id >= 0 && id < 12);
        assert_true(id <= next_new);
        if (id == next_new)
            next_new++;
    }
    assert_int_equal(next_new, 12);
    esme_get_stats(t->e, &st);
    assert_int_equal(st.sent, 12);
    assert_int_equal(st.throttled, 8);
    assert_int_equal(st.retried, 8);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.resp_ok, 12);
    /* one cut per round, not one per throttle: the first 4 went out
     * together, so at least 3 of the 8 throttles were not new rounds */
    assert_true(st.rate_cuts >= 2 && st.rate_cuts <= 5);

    /* window 1: every other request throttled, some twice */
    esme_free(t->e);
    t->e = NULL;
    t->cfg.window = 1;
    t->ndone = 0;
    t->peer->nok = 0;
    t_bound(t);
    for (int i = 20; i < 40; i++)
        send_submit(t, i);
    for (int n = 0; n < 20; n++) {
        t->peer->throttle_n = n % 3;       /* 0, 1, 2 throttles in turn */
        assert_true(wait_done(t, n + 1, 3000));
    }
    assert_int_equal(t->peer->nok, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(t->peer->ok_order[i], 20 + i);
        assert_int_equal(t->req[20 + i].done, 1);
        assert_int_equal(t->req[20 + i].status, ESME_ROK);
    }
}

/* The pause grows with consecutive throttles but stays under its cap
 * (the old doubling from 10 ms would wait 2.5 s before the 10th retry). */
static void test_throttle_pause_bounded(void **state)
{
    struct t *t = *state;
    struct esme_stats st;
    t->cfg.window = 1;
    t->cfg.tps = 1000;
    t->cfg.throttle_min_tps = 200;         /* 5 ms apart: the pause shows */
    t->cfg.throttle_retry_ms = 10;
    t->cfg.throttle_max_ms = 40;
    t->cfg.max_retries = 20;
    t->peer->throttle_n = 10;
    t_bound(t);
    uint64_t t0 = kz_mono_ms();
    send_submit(t, 0);
    assert_true(wait_done(t, 1, 5000));
    uint64_t took = kz_mono_ms() - t0;
    assert_int_equal(t->req[0].status, ESME_ROK);
    assert_int_equal(t->peer->requests, 11);
    /* pauses 0, 10, 20, 40, 40, ... (9 pauses after 10 throttles) */
    assert_true(took >= 10 + 20 + 40 * 7 - 10);
    for (int k = 4; k < 11; k++) {         /* capped: never 80, 160, ... */
        uint64_t gap = t->peer->arr_ms[k] - t->peer->arr_ms[k - 1];
        assert_true(gap < 40 + 250);       /* a slow, shared machine */
    }
    esme_get_stats(t->e, &st);
    assert_int_equal(st.pause_ms, 40);
    assert_int_equal(st.rate_tps, 200);    /* at the floor */
    assert_int_equal(st.retried, 10);
    assert_int_equal(st.sent, 1);
    assert_true(has_log(t, "retry 4/20 in 40 ms"));
    assert_true(has_log(t, "retry 10/20 in 40 ms"));
    assert_false(has_log(t, "in 80 ms"));
}

/* ESME_RMSGQFUL is "slow down" too: retried, not dropped. */
static void test_msgqful_retry(void **state)
{
    struct t *t = *state;
    t->peer->throttle_n = 1;
    t->peer->throttle_status = ESME_RMSGQFUL;
    t_bound(t);
    send_submit(t, 0);
    send_submit(t, 1);
    assert_true(wait_done(t, 2, 2000));
    assert_int_equal(t->req[0].status, ESME_ROK);
    assert_int_equal(t->req[1].status, ESME_ROK);
    assert_int_equal(t->peer->requests, 3);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.throttled, 1);
    assert_true(has_log(t, "ESME_RMSGQFUL, retry 1/10"));
}

/* generic_nack for a request completes it with the nack's status. */
static void test_generic_nack_completes(void **state)
{
    struct t *t = *state;
    t->peer->nack_status = ESME_RINVCMDID;
    t_bound(t);
    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_RINVCMDID);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.nacks_in, 1);
}

/* Link lost: outstanding -> LINK_LOST, reconnect, queued ones go after the
 * new bind. */
static void test_link_lost(void **state)
{
    struct t *t = *state;
    t->cfg.window = 2;
    t->peer->hold = 1;
    t_bound(t);
    for (int i = 0; i < 5; i++)
        send_submit(t, i);
    assert_true(wait_ge(t, &t->peer->outstanding, 2, 2000));
    t->peer->hold = 0;
    peer_close_all(t->peer);
    assert_true(wait_done(t, 5, 3000));
    assert_int_equal(t->req[0].status, ESME_DONE_LINK_LOST);
    assert_int_equal(t->req[1].status, ESME_DONE_LINK_LOST);
    for (int i = 2; i < 5; i++)
        assert_int_equal(t->req[i].status, ESME_ROK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(t->req[i].done, 1);
    assert_int_equal(t->peer->binds, 2);
    assert_true(has_log(t, "disconnected: connection closed by the SMSC"));
    assert_true(has_log(t, "reconnect scheduled in"));
    assert_true(saw_state(t, ESME_BACKOFF));
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.reconnects, 1);
}

/* deliver_sm and data_sm are handed to on_deliver and answered with its
 * status; deliver_sm_resp carries an empty message_id. */
static void test_deliver(void **state)
{
    struct t *t = *state;
    t_bound(t);
    struct pconn *c = peer_conn(t->peer, 0);
    uint32_t seq = peer_send_deliver(c, SMPP_DELIVER_SM);
    expect_dresp(t, 1, SMPP_DELIVER_SM_RESP, seq, ESME_ROK);
    assert_int_equal(t->delivered, 1);
    assert_int_equal(t->last_op, SMPP_USSD_PSSR_IND);
    assert_int_equal(t->peer->dresp_len, 17);

    t->deliver_status = ESME_RX_T_APPN;
    seq = peer_send_deliver(c, SMPP_DATA_SM);
    expect_dresp(t, 2, SMPP_DATA_SM_RESP, seq, ESME_RX_T_APPN);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.delivered_in, 2);
}

/* Garbage: a sane-length PDU that does not decode is answered and the link
 * kept; an absurd command_length gets generic_nack and a reconnect. */
static void test_garbage(void **state)
{
    struct t *t = *state;
    t_bound(t);
    struct pconn *c = peer_conn(t->peer, 0);

    /* unknown command id 0x00001234: generic_nack(ESME_RINVCMDID) */
    static const uint8_t unk[16] = { 0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0,
                                     0, 0, 0, 42 };
    bufferevent_write(c->bev, unk, sizeof unk);
    assert_true(wait_ge(t, &t->peer->nacks, 1, 2000));
    assert_int_equal(t->peer->nack_got, ESME_RINVCMDID);
    assert_int_equal(t->peer->nack_seq, 42);

    /* deliver_sm whose service_type has no NUL: deliver_sm_resp with an
     * error, same sequence number, link kept */
    uint8_t bad[16 + 10];
    memset(bad, 'A', sizeof bad);
    memcpy(bad, (const uint8_t[]){ 0, 0, 0, sizeof bad, 0, 0, 0, 5, 0, 0, 0, 0,
                                   0, 0, 0, 43 }, 16);
    bufferevent_write(c->bev, bad, sizeof bad);
    assert_true(wait_ge(t, &t->peer->deliver_resps, 1, 2000));
    assert_int_equal(t->peer->dresp_seq, 43);
    assert_int_not_equal(t->peer->dresp_status, ESME_ROK);
    assert_int_equal(t->delivered, 0);
    assert_int_equal(esme_state(t->e), ESME_BOUND);
    assert_int_equal(t->peer->binds, 1);

    /* absurd command_length: generic_nack(ESME_RINVCMDLEN), drop, rebind */
    static const uint8_t huge[16] = { 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 5, 0, 0,
                                      0, 0, 0, 0, 0, 44 };
    bufferevent_write(c->bev, huge, sizeof huge);
    assert_true(wait_ge(t, &t->peer->nacks, 2, 2000));
    assert_int_equal(t->peer->nack_got, ESME_RINVCMDLEN);
    assert_true(wait_ge(t, &t->peer->binds, 2, 2000));
    assert_true(has_log(t, "absurd command_length 2147483647"));
    assert_true(wait_state(t, ESME_BOUND, 2000));
}

/* The SMSC unbinds: unbind_resp, close, reconnect after back-off. */
static void test_peer_unbind(void **state)
{
    struct t *t = *state;
    t_bound(t);
    pc_simple(peer_conn(t->peer, 0), SMPP_UNBIND, 0, 99);
    assert_true(wait_ge(t, &t->peer->unbind_resps, 1, 2000));
    assert_true(wait_ge(t, &t->peer->binds, 2, 2000));
    assert_true(has_log(t, "unbound by the SMSC"));
    assert_true(wait_state(t, ESME_BOUND, 2000));
}

/* An SMSC that accepts TCP but never answers the bind: the connect+bind
 * timer drops the link and it tries again. */
static void test_bind_timeout(void **state)
{
    struct t *t = *state;
    t->cfg.connect_timeout_ms = 60;
    t->peer->ignore_bind = 1;
    t_start(t);
    assert_true(wait_ge(t, &t->peer->binds, 2, 2000));
    assert_true(has_log(t, "disconnected: connect/bind timed out"));
    t->peer->ignore_bind = 0;
    assert_true(wait_state(t, ESME_BOUND, 2000));
}

/* A host name goes through evdns (here /etc/hosts: localhost). */
static void test_hostname(void **state)
{
    struct t *t = *state;
    t->cfg.host = "localhost";
    t_start(t);
    assert_true(wait_state(t, ESME_BOUND, 3000));
    assert_true(has_log(t, "connected to localhost:"));
}

/* A request that cannot go out (no link) gives up after queue_timeout_ms. */
static void test_queue_timeout(void **state)
{
    struct t *t = *state;
    t->cfg.queue_timeout_ms = 50;
    char err[128];
    t->e = esme_new(t->base, &t->cfg, &t->cb, err, sizeof err);
    assert_non_null(t->e);
    uint64_t t0 = kz_mono_ms();
    send_submit(t, 0);
    assert_true(wait_done(t, 1, 2000));
    assert_int_equal(t->req[0].status, ESME_DONE_TIMEOUT);
    assert_true(t->req[0].at - t0 >= 45);
    struct esme_stats st;
    esme_get_stats(t->e, &st);
    assert_int_equal(st.queued, 0);
    /* one that does go out in time is answered normally */
    assert_int_equal(esme_start(t->e), 0);
    send_submit(t, 1);
    assert_true(wait_done(t, 2, 2000));
    assert_int_equal(t->req[1].status, ESME_ROK);
}

/* deliver_sm on the transmitter link is refused, not delivered. */
static void test_deliver_on_tx_refused(void **state)
{
    struct t *t = *state;
    t->cfg.bind_mode = ESME_BIND_TX_RX;
    t_bound(t);
    peer_send_deliver(peer_conn(t->peer, SMPP_BIND_TRANSMITTER), SMPP_DELIVER_SM);
    assert_true(wait_ge(t, &t->peer->deliver_resps, 1, 2000));
    assert_int_equal(t->peer->dresp_status, ESME_RINVBNDSTS);
    assert_int_equal(t->delivered, 0);
}

/* queue_max: QUEUE_FULL later, never inside esme_send; stopping with
 * queued requests reports STOPPED for each. */
static void test_queue_full_and_stop(void **state)
{
    struct t *t = *state;
    t->cfg.queue_max = 2;
    char err[128];
    t->e = esme_new(t->base, &t->cfg, &t->cb, err, sizeof err);
    assert_non_null(t->e);
    send_submit(t, 0);
    send_submit(t, 1);
    send_submit(t, 2);
    assert_int_equal(t->ndone, 0);
    assert_true(wait_done(t, 1, 1000));
    assert_int_equal(t->req[2].status, ESME_DONE_QUEUE_FULL);
    assert_false(t->done_in_send);
    esme_stop(t->e);
    assert_int_equal(esme_state(t->e), ESME_CLOSED);
    assert_int_equal(t->ndone, 3);
    assert_int_equal(t->req[0].status, ESME_DONE_STOPPED);
    assert_int_equal(t->req[1].status, ESME_DONE_STOPPED);
}

/* esme_free from inside done(): deferred; every other request gets
 * exactly one done (OK if already answered, else STOPPED). */
static void test_free_in_done(void **state)
{
    struct t *t = *state;
    t->cfg.window = 4;
    t_bound(t);
    t->free_in_done = 1;
    for (int i = 0; i < 8; i++)
        send_submit(t, i);
    assert_true(wait_done(t, 8, 2000));
    assert_null(t->e);
    for (int i = 0; i < 8; i++)
        assert_int_equal(t->req[i].done, 1);
    int stopped = 0;
    for (int i = 1; i < 8; i++)
        stopped += t->req[i].status == ESME_DONE_STOPPED;
    assert_true(stopped >= 4);     /* at least the ones never sent */
    run_until(t, NULL, NULL, 20);  /* nothing fires after the free */
    assert_int_equal(t->ndone, 8);
}

/* esme_free from inside on_state, on BOUND and on BACKOFF. */
static void test_free_in_on_state(void **state)
{
    struct t *t = *state;
    t->free_on_state_set = 1;
    t->free_on_state = ESME_BOUND;
    t_start(t);
    send_submit(t, 0);
    assert_true(run_until(t, c_freed, NULL, 2000));
    assert_int_equal(t->req[0].done, 1);
    assert_int_equal(t->req[0].status, ESME_DONE_STOPPED);

    /* BACKOFF after a refused connect: a port nobody listens on */
    t->free_on_state = ESME_BACKOFF;
    t->nstates = 0;
    struct peer *gone = peer_new(t->base);
    t->cfg.port = gone->port;
    peer_free(gone);
    t_start(t);
    send_submit(t, 1);
    assert_true(run_until(t, c_freed, NULL, 2000));
    assert_int_equal(t->req[1].done, 1);
    assert_int_equal(t->req[1].status, ESME_DONE_STOPPED);
}

/* Config errors come back as text, not a crash. */
/* Each refusal of esme_new, with its reason. */
static void test_bad_config(void **state)
{
    struct t *t = *state;
    static const char *const want[] = {
        "password longer than 8 characters",
        "port is required",
        "host is required",
        "system_id longer than 15 characters",
        "unknown bind_mode 7",
        "window 70000 too large (max 65536)",
        "max_pdu_len 8 below the 16-octet header",
        "name longer than 63 characters",
        "no event base or config",
    };
    char name[65];
    memset(name, 'n', 64);
    name[64] = '\0';
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct esme_config c = t->cfg;
        struct event_base *base = t->base;
        switch (i) {
        case 0: c.password = "far-too-long-password"; break;
        case 1: c.port = 0; break;
        case 2: c.host = NULL; break;
        case 3: c.system_id = "abcdefghijklmnop"; break;
        case 4: c.bind_mode = 7; break;
        case 5: c.window = 70000; break;
        case 6: c.max_pdu_len = 8; break;
        case 7: c.name = name; break;
        default: base = NULL; break;
        }
        char err[128] = "";
        assert_null(esme_new(base, &c, &t->cb, err, sizeof err));
        assert_string_equal(err, want[i]);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_trx_and_stop, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_stop_without_unbind_resp, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bind_tx_rx, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_backoff, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bind_errors_named, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_enquire_link, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_window, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_tps_limit, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_throttled_retry, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_throttle_rate_adapts, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_throttle_burst_keeps_order, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_throttle_pause_bounded, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_msgqful_retry, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_generic_nack_completes, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_link_lost, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_deliver, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_garbage, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_peer_unbind, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bind_timeout, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_hostname, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_queue_timeout, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_deliver_on_tx_refused, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_and_stop, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_free_in_done, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_free_in_on_state, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
