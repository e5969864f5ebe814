/*
 * tests/unit/test_smsc.c — smpp/sim/smsc: the simulator's SMSC side on a real
 * event loop, in-process, against a raw TCP client that speaks SMPP through
 * smpp/pdu: binds and their refusals, framing errors, submit_sm ids,
 * receipts (format, TLVs, failure ratio, registered_delivery 2), query and
 * cancel, throttling, the window check, long-message reassembly, MO SMS
 * encoding and splitting, a whole USSD dialog, abort, the pure helpers and
 * parsers, and the network side of every USSD dialect preset.
 *
 * The client socket is non-blocking; waiting means running the loop one
 * pass at a time and poll()ing the client socket until a PDU is there or
 * a deadline passes (never a fixed sleep).
 * May call: smpp/sim/smsc, smpp/sim/{concat,control,script} (their pure
 * parsers), smpp/dialect, smpp/pdu, smpp/text, base/clock, libevent, libc,
 * cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "base/clock.h"
#include "smpp/dialect.h"
#include "smpp/pdu.h"
#include "smpp/sim/concat.h"
#include "smpp/sim/control.h"
#include "smpp/sim/script.h"
#include "smpp/sim/smsc.h"
#include "smpp/text.h"
#include "tests/unit/smpp_wire.h"

#define MAX_EVENTS 32

struct seen {
    enum smsc_event_kind kind;
    enum smsc_ussd_kind ussd;
    char to[24];
    char text[512];
    uint32_t status;
};

struct t {
    struct event_base *base;
    struct smsc *s;
    int fd;
    uint8_t rbuf[70000];
    size_t rlen;
    uint8_t cur[70000];        /* the PDU handed out last (views point here) */
    uint32_t seq;
    struct seen ev[MAX_EVENTS];
    unsigned n_ev;
};

static void observer(void *arg, const struct smsc_event *e)
{
    struct t *t = arg;
    if (t->n_ev >= MAX_EVENTS || e->kind == SMSC_EV_BIND ||
        e->kind == SMSC_EV_CLOSE)
        return;
    struct seen *s = &t->ev[t->n_ev++];
    s->kind = e->kind;
    s->ussd = e->ussd;
    s->status = e->status;
    snprintf(s->to, sizeof s->to, "%s", e->to ? e->to : "");
    snprintf(s->text, sizeof s->text, "%s", e->text ? e->text : "");
}

/* One loop pass, then wait up to 2 ms for the client socket. */
static void pump(struct t *t)
{
    event_base_loop(t->base, EVLOOP_NONBLOCK);
    struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
    poll(&pfd, 1, 2);
    event_base_loop(t->base, EVLOOP_NONBLOCK);
}

static struct t *setup_with(const struct smsc_config *cfg)
{
    struct t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->base = event_base_new();
    assert_non_null(t->base);
    char err[200];
    t->s = smsc_new(t->base, cfg, err, sizeof err);
    if (!t->s)
        print_message("smsc_new: %s\n", err);
    assert_non_null(t->s);
    smsc_set_observer(t->s, observer, t);
    t->fd = wire_connect(smsc_smpp_port(t->s));
    t->seq = 1;
    return t;
}

static void base_cfg(struct smsc_config *c)
{
    smsc_config_defaults(c);
    c->listen_port = 0;
    c->control_host = NULL;
    c->quiet = 1;
    c->seed = 42;
}

static void teardown_t(struct t *t)
{
    if (t->fd >= 0)
        close(t->fd);
    smsc_free(t->s);
    event_base_free(t->base);
    free(t);
}

static void send_pdu(struct t *t, struct smpp_pdu *p)
{
    uint8_t buf[4096];
    int n = wire_encode(p, buf, sizeof buf);
    assert_int_equal(send(t->fd, buf, (size_t)n, 0), n);
}

static void send_raw(struct t *t, const void *b, size_t n)
{
    assert_int_equal(send(t->fd, b, n, 0), (ssize_t)n);
}

/* Next PDU from the SMSC within ms: 1, or 0 on timeout, -1 on close. */
static int recv_pdu(struct t *t, struct smpp_pdu *p, unsigned ms)
{
    uint64_t end = kz_mono_ms() + ms;
    for (;;) {
        if (t->rlen >= 4) {
            uint32_t len = smpp_pdu_peek_length(t->rbuf, t->rlen);
            if (t->rlen >= len) {
                memcpy(t->cur, t->rbuf, len);
                memmove(t->rbuf, t->rbuf + len, t->rlen - len);
                t->rlen -= len;
                struct smpp_err e;
                memset(p, 0, sizeof *p);
                int rc = smpp_pdu_decode(p, t->cur, len, NULL, &e);
                if (rc != 0)
                    print_message("decode: %s\n", e.text);
                assert_int_equal(rc, 0);
                return 1;
            }
        }
        ssize_t n = recv(t->fd, t->rbuf + t->rlen, sizeof t->rbuf - t->rlen,
                         MSG_DONTWAIT);
        if (n == 0)
            return -1;
        if (n > 0) {
            t->rlen += (size_t)n;
            continue;
        }
        if (kz_mono_ms() > end)
            return 0;
        pump(t);
    }
}

static void expect_pdu(struct t *t, struct smpp_pdu *p, uint32_t id)
{
    int rc = recv_pdu(t, p, 3000);
    assert_int_equal(rc, 1);
    if (p->command_id != id)
        print_message("got %s, wanted %s\n", smpp_command_name(p->command_id),
                      smpp_command_name(id));
    assert_int_equal(p->command_id, id);
}

static uint32_t do_bind(struct t *t, uint32_t cmd, const char *id,
                        const char *pw)
{
    struct smpp_pdu p, r;
    smpp_pdu_reset(&p, cmd, 0, t->seq++);
    p.system_id = id;
    p.password = pw;
    p.interface_version = 0x34;
    send_pdu(t, &p);
    expect_pdu(t, &r, smpp_resp_id(cmd));
    assert_int_equal(r.sequence_number, p.sequence_number);
    return r.command_status;
}

/* submit_sm; returns the response status, message id copied to id. */
static uint32_t do_submit(struct t *t, const char *dst, const char *text,
                          uint8_t reg, char *id, size_t idcap)
{
    struct smpp_pdu p, r;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
    p.source_addr = "100";
    p.destination_addr = dst;
    p.registered_delivery = reg;
    p.sm_length = (uint8_t)strlen(text);
    p.short_message = (const uint8_t *)text;
    send_pdu(t, &p);
    expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
    assert_int_equal(r.sequence_number, p.sequence_number);
    if (id)
        snprintf(id, idcap, "%s", r.message_id ? r.message_id : "");
    return r.command_status;
}

/* query_sm or cancel_sm (cmd) of message id from source "100"; the
 * response in *r (it must be cmd's), its status returned. */
static uint32_t ask(struct t *t, uint32_t cmd, const char *id, struct smpp_pdu *r)
{
    struct smpp_pdu q;
    smpp_pdu_reset(&q, cmd, 0, t->seq++);
    q.message_id = id;
    q.source_addr = "100";
    send_pdu(t, &q);
    expect_pdu(t, r, smpp_resp_id(cmd));
    assert_int_equal(r->sequence_number, q.sequence_number);
    return r->command_status;
}

/* The next PDU is a receipt (deliver_sm) for message id, into *d. */
static void expect_receipt(struct t *t, struct smpp_pdu *d, const char *id)
{
    expect_pdu(t, d, SMPP_DELIVER_SM);
    const struct smpp_tlv *rid = smpp_tlv_find(d, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    assert_non_null(rid);
    assert_string_equal((const char *)rid->val, id);
}

static void answer(struct t *t, const struct smpp_pdu *req)
{
    struct smpp_pdu r;
    smpp_pdu_reset(&r, smpp_resp_id(req->command_id), 0, req->sequence_number);
    send_pdu(t, &r);
}

static struct t *bound(const struct smsc_config *cfg)
{
    struct t *t = setup_with(cfg);
    assert_int_equal(do_bind(t, SMPP_BIND_TRANSCEIVER, "kyzmat", "secret"),
                     ESME_ROK);
    return t;
}

/* ------------------------------------------------------------------ */

static void test_bind_rules(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    c.accounts[0] = (struct smsc_account){ "kyzmat", "secret" };
    c.accounts[1] = (struct smsc_account){ "bank", "pw2" };
    c.n_accounts = 2;
    struct t *t = setup_with(&c);
    /* a request before any bind */
    assert_int_equal(do_submit(t, "996555000001", "x", 0, NULL, 0),
                     ESME_RINVBNDSTS);
    assert_int_equal(do_bind(t, SMPP_BIND_TRANSCEIVER, "kyzmat", "wrong"),
                     ESME_RINVPASWD);
    assert_int_equal(do_bind(t, SMPP_BIND_TRANSCEIVER, "nobody", "secret"),
                     ESME_RINVSYSID);
    assert_int_equal(do_bind(t, SMPP_BIND_TRANSMITTER, "bank", "pw2"), ESME_ROK);
    assert_int_equal(do_bind(t, SMPP_BIND_TRANSMITTER, "bank", "pw2"),
                     ESME_RALYBND);
    assert_int_equal(smsc_bound(t->s), 1);
    assert_int_equal(smsc_receivers(t->s), 0);   /* a transmitter */
    char *j = smsc_stats_json(t->s);
    assert_non_null(strstr(j, "\"bind_failures\":3"));
    assert_non_null(strstr(j, "\"bank\":{\"binds\":1"));
    free(j);
    /* refuse-binds */
    teardown_t(t);
    t = setup_with(&c);
    smsc_set_refuse_binds(t->s, 1);
    assert_int_equal(do_bind(t, SMPP_BIND_RECEIVER, "kyzmat", "secret"),
                     ESME_RBINDFAIL);
    smsc_set_refuse_binds(t->s, 0);
    assert_int_equal(do_bind(t, SMPP_BIND_RECEIVER, "kyzmat", "secret"),
                     ESME_ROK);
    /* a receiver may not submit */
    assert_int_equal(do_submit(t, "996555000001", "x", 0, NULL, 0),
                     ESME_RINVBNDSTS);
    teardown_t(t);
}

static void test_framing(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    struct t *t = bound(&c);
    struct smpp_pdu r;
    /* a broken submit_sm (no NUL anywhere): generic_nack, same seq */
    const uint8_t bad[] = { 0, 0, 0, 19, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x12,
                            0x34, 'a', 'b', 'c' };
    send_raw(t, bad, sizeof bad);
    expect_pdu(t, &r, SMPP_GENERIC_NACK);
    assert_int_equal(r.sequence_number, 0x1234);
    assert_int_not_equal(r.command_status, 0);
    /* an unknown command id */
    const uint8_t unk[] = { 0, 0, 0, 16, 0, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 9 };
    send_raw(t, unk, sizeof unk);
    expect_pdu(t, &r, SMPP_GENERIC_NACK);
    assert_int_equal(r.command_status, ESME_RINVCMDID);
    assert_int_equal(r.sequence_number, 9);
    /* still usable */
    assert_int_equal(do_submit(t, "996555000001", "x", 0, NULL, 0), ESME_ROK);
    /* an absurd command_length: generic_nack, then the link closes */
    const uint8_t huge[] = { 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 4, 0, 0, 0, 0,
                             0, 0, 0, 77 };
    send_raw(t, huge, sizeof huge);
    expect_pdu(t, &r, SMPP_GENERIC_NACK);
    assert_int_equal(r.command_status, ESME_RINVCMDLEN);
    assert_int_equal(r.sequence_number, 77);
    assert_int_equal(recv_pdu(t, &r, 3000), -1);
    /* too short as well */
    teardown_t(t);
    t = bound(&c);
    const uint8_t tiny[] = { 0, 0, 0, 8, 0, 0, 0, 21 };
    send_raw(t, tiny, sizeof tiny);
    expect_pdu(t, &r, SMPP_GENERIC_NACK);
    assert_int_equal(recv_pdu(t, &r, 3000), -1);
    teardown_t(t);
}

static void test_receipt_formats(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    c.id_format = SMSC_ID_DEC;
    c.dlr_id_format = SMSC_ID_HEX;
    c.id_start = 4096;
    struct t *t = bound(&c);
    char id[70];
    assert_int_equal(do_submit(t, "996555000001", "Hello receipt world!!!", 1,
                               id, sizeof id), ESME_ROK);
    assert_string_equal(id, "4096");
    struct smpp_pdu d;
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    assert_int_equal(d.esm_class & 0x3C, 0x04);
    assert_string_equal(d.source_addr, "996555000001");
    assert_string_equal(d.destination_addr, "100");
    char body[300];
    snprintf(body, sizeof body, "%.*s", d.sm_length, (const char *)d.short_message);
    assert_non_null(strstr(body, "id:1000 sub:001 dlvrd:001 submit date:"));
    assert_non_null(strstr(body, " stat:DELIVRD err:000 text:Hello receipt world!"));
    assert_null(strstr(body, "world!!!"));   /* first 20 characters only */
    const struct smpp_tlv *rid = smpp_tlv_find(&d, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    assert_non_null(rid);
    assert_string_equal((const char *)rid->val, "1000");
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_MESSAGE_STATE), 2);
    assert_null(smpp_tlv_find(&d, SMPP_TLV_NETWORK_ERROR_CODE));
    answer(t, &d);
    /* query_sm now says DELIVERED */
    struct smpp_pdu r;
    assert_int_equal(ask(t, SMPP_QUERY_SM, id, &r), ESME_ROK);
    assert_int_equal(r.message_state, 2);
    assert_int_equal(strlen(r.final_date), 16);
    /* an id we never gave */
    assert_int_not_equal(ask(t, SMPP_QUERY_SM, "77", &r), ESME_ROK);
    teardown_t(t);
}

static void test_receipt_failures(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    c.dlr_fail_ratio = 1.0;
    struct t *t = bound(&c);
    char id[70];
    assert_int_equal(do_submit(t, "996555000001", "a", 2, id, sizeof id), ESME_ROK);
    struct smpp_pdu d;
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    char body[300];
    snprintf(body, sizeof body, "%.*s", d.sm_length, (const char *)d.short_message);
    assert_non_null(strstr(body, "stat:UNDELIV"));
    assert_non_null(strstr(body, "dlvrd:000"));
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_MESSAGE_STATE), 5);
    const struct smpp_tlv *nec = smpp_tlv_find(&d, SMPP_TLV_NETWORK_ERROR_CODE);
    assert_non_null(nec);
    assert_int_equal(nec->len, 3);
    assert_string_equal((const char *)smpp_tlv_find(&d, SMPP_TLV_RECEIPTED_MESSAGE_ID)->val, id);
    answer(t, &d);
    teardown_t(t);

    /* registered_delivery 2 and no failure: no receipt.  The receipt of a
     * second message (registered_delivery 1) is the first to arrive. */
    base_cfg(&c);
    t = bound(&c);
    char id1[70], id2[70];
    assert_int_equal(do_submit(t, "996555000001", "a", 2, id1, sizeof id1), ESME_ROK);
    assert_int_equal(do_submit(t, "996555000001", "b", 1, id2, sizeof id2), ESME_ROK);
    expect_receipt(t, &d, id2);
    answer(t, &d);
    /* cancel: the delivered one cannot be cancelled */
    struct smpp_pdu r;
    assert_int_equal(ask(t, SMPP_CANCEL_SM, id2, &r), ESME_RCANCELFAIL);
    teardown_t(t);

    /* a receipt the ESME does not acknowledge comes again, and again
     * until it is (as a real SMSC retries) */
    base_cfg(&c);
    t = bound(&c);
    assert_int_equal(do_submit(t, "996555000001", "a", 1, id1, sizeof id1), ESME_ROK);
    for (int round = 0; round < 2; round++) {
        expect_receipt(t, &d, id1);
        struct smpp_pdu nack;
        smpp_pdu_reset(&nack, SMPP_DELIVER_SM_RESP, ESME_RX_T_APPN, d.sequence_number);
        send_pdu(t, &nack);
    }
    expect_receipt(t, &d, id1);      /* the third time: acknowledged */
    answer(t, &d);
    teardown_t(t);

    /* a receipt still waiting can be cancelled and then never comes */
    base_cfg(&c);
    c.dlr_delay_ms = 100;
    t = bound(&c);
    assert_int_equal(do_submit(t, "996555000001", "a", 1, id1, sizeof id1), ESME_ROK);
    assert_int_equal(ask(t, SMPP_CANCEL_SM, id1, &r), ESME_ROK);
    assert_int_equal(do_submit(t, "996555000001", "b", 1, id2, sizeof id2), ESME_ROK);
    expect_receipt(t, &d, id2);
    answer(t, &d);
    teardown_t(t);
}

static void test_throttle_and_window(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    c.throttle_every = 3;
    struct t *t = bound(&c);
    uint32_t st[6];
    for (int i = 0; i < 6; i++)
        st[i] = do_submit(t, "996555000001", "x", 0, NULL, 0);
    assert_int_equal(st[0], ESME_ROK);
    assert_int_equal(st[1], ESME_ROK);
    assert_int_equal(st[2], ESME_RTHROTTLED);
    assert_int_equal(st[5], ESME_RTHROTTLED);
    smsc_set_throttle(t->s, 0);
    assert_int_equal(do_submit(t, "996555000001", "x", 0, NULL, 0), ESME_ROK);
    teardown_t(t);

    /* window check: 4 submits pipelined while responses are held back */
    base_cfg(&c);
    c.window_check = 2;
    c.resp_delay_ms = 50;
    t = bound(&c);
    for (int i = 0; i < 4; i++) {
        struct smpp_pdu p;
        smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
        p.destination_addr = "996555000001";
        send_pdu(t, &p);
    }
    struct smpp_pdu r;
    for (int i = 0; i < 4; i++) {
        expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
        assert_int_equal(r.command_status, ESME_ROK);
    }
    char *j = smsc_stats_json(t->s);
    assert_non_null(strstr(j, "\"violations\":2"));
    free(j);
    teardown_t(t);
}

static void test_long_mt_reassembly(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    struct t *t = bound(&c);
    /* UCS-2 in two sar_* segments, the second first */
    const char *full = "Салам, дүйнө! ң";
    uint8_t u[64];
    size_t ul = 0;
    assert_int_equal(smpp_text_encode(SMPP_ENC_UCS2, (const uint8_t *)full,
                                      strlen(full), u, sizeof u, &ul, NULL), 0);
    size_t cut = 12;          /* inside the text, on a UTF-16 unit */
    for (int part = 2; part >= 1; part--) {
        struct smpp_pdu p, r;
        smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
        p.source_addr = "100";
        p.destination_addr = "996555000007";
        p.data_coding = 8;
        p.short_message = part == 1 ? u : u + cut;
        p.sm_length = (uint8_t)(part == 1 ? cut : ul - cut);
        smpp_pdu_set_u16(&p, SMPP_TLV_SAR_MSG_REF_NUM, 0x0102);
        smpp_pdu_set_u8(&p, SMPP_TLV_SAR_TOTAL_SEGMENTS, 2);
        smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, (uint8_t)part);
        send_pdu(t, &p);
        expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
    }
    assert_int_equal(t->n_ev, 1);
    assert_int_equal(t->ev[0].kind, SMSC_EV_SMS);
    assert_string_equal(t->ev[0].to, "996555000007");
    assert_string_equal(t->ev[0].text, full);
    /* GSM with a UDH (8-bit ref) */
    const char *p1 = "\x05\x00\x03\x07\x02\x01" "first half, ";
    const char *p2 = "\x05\x00\x03\x07\x02\x02" "second half";
    for (int i = 0; i < 2; i++) {
        const char *b = i ? p2 : p1;
        struct smpp_pdu p, r;
        smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
        p.source_addr = "100";
        p.destination_addr = "996555000008";
        p.esm_class = 0x40;
        p.short_message = (const uint8_t *)b;
        p.sm_length = (uint8_t)(6 + strlen(b + 6));
        send_pdu(t, &p);
        expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
    }
    assert_int_equal(t->n_ev, 2);
    assert_string_equal(t->ev[1].text, "first half, second half");
    /* message_payload */
    struct smpp_pdu p, r;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
    p.destination_addr = "996555000009";
    static const char pl[] = "a payload message";
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, pl, sizeof pl - 1);
    send_pdu(t, &p);
    expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
    assert_int_equal(t->n_ev, 3);
    assert_string_equal(t->ev[2].text, pl);
    teardown_t(t);
}

static void test_mo(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    struct t *t = setup_with(&c);
    char err[128];
    assert_int_equal(smsc_mo(t->s, "996555000001", "100", "hi", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "no bound receiver"));
    assert_int_equal(do_bind(t, SMPP_BIND_RECEIVER, "kyzmat", "secret"), ESME_ROK);
    assert_int_equal(smsc_mo(t->s, "996555000001", "100", "Баланс ө", 7, err, sizeof err), 1);
    struct smpp_pdu d;
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    assert_int_equal(d.data_coding, 8);
    assert_int_equal(d.esm_class, 0);
    assert_string_equal(d.source_addr, "996555000001");
    assert_string_equal(d.destination_addr, "100");
    uint8_t out[256];
    size_t ol = 0;
    assert_int_equal(smpp_text_decode(SMPP_ENC_UCS2, d.short_message, d.sm_length,
                                      out, sizeof out, &ol), 0);
    assert_int_equal(ol, strlen("Баланс ө"));
    assert_memory_equal(out, "Баланс ө", ol);
    struct smpp_pdu r;
    smpp_pdu_reset(&r, SMPP_DELIVER_SM_RESP, ESME_RX_T_APPN, d.sequence_number);
    send_pdu(t, &r);
    for (int i = 0; i < 200 && t->n_ev == 0; i++)
        pump(t);
    assert_int_equal(t->n_ev, 1);
    assert_int_equal(t->ev[0].kind, SMSC_EV_DELIVER_RESP);
    assert_int_equal(t->ev[0].status, ESME_RX_T_APPN);
    /* 200 GSM characters: two parts with a UDH, GSM data_coding */
    char long_text[201];
    for (int i = 0; i < 200; i++)
        long_text[i] = (char)('a' + i % 26);
    long_text[200] = '\0';
    assert_int_equal(smsc_mo(t->s, "996555000001", "100", long_text, 8, err, sizeof err), 2);
    for (int i = 0; i < 2; i++) {
        expect_pdu(t, &d, SMPP_DELIVER_SM);
        assert_int_equal(d.esm_class & 0x40, 0x40);
        assert_int_equal(d.data_coding, 0);
        assert_int_equal(d.short_message[0], 5);
        assert_int_equal(d.short_message[5], i + 1);
        answer(t, &d);
    }
    teardown_t(t);
}

static void test_ussd_dialog(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    struct t *t = bound(&c);
    char err[128];
    /* an answer without a dialog is refused */
    assert_int_equal(smsc_ussd(t->s, "996555000001", "-", "1", err, sizeof err), -1);
    assert_int_equal(smsc_ussd(t->s, "996555000001", "100", "*100#", err, sizeof err), 0);
    /* the dialog now waits for the gateway */
    assert_int_equal(smsc_ussd(t->s, "996555000001", "-", "1", err, sizeof err), -1);
    struct smpp_pdu d;
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    assert_string_equal(d.service_type, "USSD");
    assert_string_equal(d.source_addr, "996555000001");
    assert_string_equal(d.destination_addr, "100");
    assert_int_equal(d.sm_length, 5);
    assert_memory_equal(d.short_message, "*100#", 5);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_USSD_SERVICE_OP), 1);
    const struct smpp_tlv *its = smpp_tlv_find(&d, SMPP_TLV_ITS_SESSION_INFO);
    assert_non_null(its);
    uint8_t session = its->val[0];
    assert_int_equal(its->val[1], 0);
    answer(t, &d);

    /* the gateway shows a menu (UCS-2, op 2) */
    const char *menu = "Меню:\n1. Баланс";
    uint8_t u[100];
    size_t ul = 0;
    assert_int_equal(smpp_text_encode(SMPP_ENC_UCS2, (const uint8_t *)menu,
                                      strlen(menu), u, sizeof u, &ul, NULL), 0);
    struct smpp_pdu p, r;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
    p.service_type = "USSD";
    p.source_addr = "100";
    p.destination_addr = "996555000001";
    p.data_coding = 8;
    p.short_message = u;
    p.sm_length = (uint8_t)ul;
    uint8_t its_out[2] = { session, 2 };
    smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 2);
    smpp_pdu_set_bytes(&p, SMPP_TLV_ITS_SESSION_INFO, its_out, 2);
    send_pdu(t, &p);
    expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
    assert_int_equal(r.command_status, 0);
    assert_int_equal(t->n_ev, 1);
    assert_int_equal(t->ev[0].kind, SMSC_EV_USSD);
    assert_int_equal(t->ev[0].ussd, SMSC_USSD_CONTINUE);
    assert_string_equal(t->ev[0].text, menu);

    /* the subscriber answers: op 18, same session, sequence 1 */
    assert_int_equal(smsc_ussd(t->s, "996555000001", "-", "1", err, sizeof err), 0);
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_USSD_SERVICE_OP), 18);
    its = smpp_tlv_find(&d, SMPP_TLV_ITS_SESSION_INFO);
    assert_int_equal(its->val[0], session);
    assert_int_equal(its->val[1], 1 << 1);
    assert_int_equal(d.sm_length, 1);
    answer(t, &d);

    /* the final screen, GSM packed under 0x0F, op 17 */
    uint8_t sept[32], packed[32];
    size_t sl = 0, pl = 0;
    assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7, (const uint8_t *)"Bye @ all",
                                      9, sept, sizeof sept, &sl, NULL), 0);
    assert_int_equal(smpp_text_gsm7_pack_ussd(sept, sl, packed, sizeof packed, &pl), 0);
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, t->seq++);
    p.service_type = "USSD";
    p.destination_addr = "996555000001";
    p.data_coding = 0x0F;
    p.short_message = packed;
    p.sm_length = (uint8_t)pl;
    smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 17);
    send_pdu(t, &p);
    expect_pdu(t, &r, SMPP_SUBMIT_SM_RESP);
    assert_int_equal(t->n_ev, 2);
    assert_int_equal(t->ev[1].ussd, SMSC_USSD_END);
    assert_string_equal(t->ev[1].text, "Bye @ all");
    /* the dialog is over: "1" is no answer any more, a dial starts anew */
    assert_int_equal(smsc_ussd(t->s, "996555000001", "-", "1", err, sizeof err), -1);
    assert_int_equal(smsc_ussd(t->s, "996555000001", "-", "*100*2#", err, sizeof err), 0);
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    assert_string_equal(d.destination_addr, "100");
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_USSD_SERVICE_OP), 1);
    answer(t, &d);
    /* abort: op 18 with the end bit, then no dialog */
    assert_int_equal(smsc_ussd_abort(t->s, "996555000001", err, sizeof err), 0);
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_USSD_SERVICE_OP), 18);
    its = smpp_tlv_find(&d, SMPP_TLV_ITS_SESSION_INFO);
    assert_int_equal(its->val[1] & 1, 1);
    answer(t, &d);
    assert_int_equal(smsc_ussd_abort(t->s, "996555000001", err, sizeof err), -1);
    teardown_t(t);
}

static void test_ussd_timeout(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    c.ussd_timeout_s = 1;
    struct t *t = bound(&c);
    char err[128];
    assert_int_equal(smsc_ussd(t->s, "996555000002", "100", "*100#", err, sizeof err), 0);
    struct smpp_pdu d;
    expect_pdu(t, &d, SMPP_DELIVER_SM);
    answer(t, &d);
    uint64_t end = kz_mono_ms() + 3000;
    while (t->n_ev == 0 && kz_mono_ms() < end)
        pump(t);
    assert_int_equal(t->n_ev, 1);
    assert_int_equal(t->ev[0].kind, SMSC_EV_USSD_TIMEOUT);
    assert_string_equal(t->ev[0].to, "996555000002");
    teardown_t(t);
}

static void test_unbind_and_drop(void **state)
{
    (void)state;
    struct smsc_config c;
    base_cfg(&c);
    struct t *t = bound(&c);
    struct smpp_pdu p, r;
    smpp_pdu_reset(&p, SMPP_ENQUIRE_LINK, 0, t->seq++);
    send_pdu(t, &p);
    expect_pdu(t, &r, SMPP_ENQUIRE_LINK_RESP);
    smpp_pdu_reset(&p, SMPP_UNBIND, 0, t->seq++);
    send_pdu(t, &p);
    expect_pdu(t, &r, SMPP_UNBIND_RESP);
    assert_int_equal(recv_pdu(t, &r, 3000), -1);
    assert_int_equal(smsc_bound(t->s), 0);
    teardown_t(t);

    t = bound(&c);
    assert_int_equal(smsc_drop(t->s, "other"), 0);
    assert_int_equal(smsc_drop(t->s, "kyzmat"), 1);
    assert_int_equal(recv_pdu(t, &r, 3000), -1);
    teardown_t(t);
}

static void test_helpers(void **state)
{
    (void)state;
    /* a dialled string and its service code (NULL: not a USSD code) */
    static const char *const dials[][2] = {
        {"*100#", "100"}, {"*100*2*1#", "100"}, {"#123#", "123"},
        {"100", NULL}, {"*#", NULL}, {"*1a0#", NULL},
    };
    for (size_t i = 0; i < sizeof dials / sizeof dials[0]; i++) {
        char svc[24];
        int rc = smsc_dial_service(dials[i][0], svc, sizeof svc);
        assert_int_equal(rc, dials[i][1] ? 0 : -1);
        if (dials[i][1])
            assert_string_equal(svc, dials[i][1]);
    }
    char esc[64];
    smsc_escape_line("a\\b\nc\r", esc, sizeof esc);
    assert_string_equal(esc, "a\\\\b\\nc\\r");
    smsc_unescape_line(esc);
    assert_string_equal(esc, "a\\b\nc\r");
    smsc_escape_line("abcdef", esc, 4);
    assert_string_equal(esc, "abc");

    struct smsc_config c;
    base_cfg(&c);
    c.dlr_fail_ratio = 1.5;
    char err[128];
    struct event_base *b = event_base_new();
    assert_null(smsc_new(b, &c, err, sizeof err));
    base_cfg(&c);
    c.accounts[0] = (struct smsc_account){ "a", "x" };
    c.accounts[1] = (struct smsc_account){ "a", "y" };
    c.n_accounts = 2;
    assert_null(smsc_new(b, &c, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    base_cfg(&c);
    c.listen_host = "not-an-ip";
    assert_null(smsc_new(b, &c, err, sizeof err));
    event_base_free(b);
}

/* The pure parsers behind the control port, scripts and reassembly. */
static void test_pure_parsers(void **state)
{
    (void)state;
    /* the simulator reads a segment's UDH with the protocol's reader */
    struct smpp_concat cc;
    const uint8_t u8[] = { 5, 0x00, 3, 0x2A, 2, 1, 'h', 'i' };
    assert_int_equal(smpp_udh_concat(u8, sizeof u8, &cc), 0);
    assert_int_equal(cc.udh_len, 6);
    assert_int_equal(cc.ref, 0x2A);
    assert_int_equal(cc.total, 2);
    assert_int_equal(cc.seq, 1);
    const uint8_t u16[] = { 6, 0x08, 4, 0x12, 0x34, 3, 2, 'x' };
    assert_int_equal(smpp_udh_concat(u16, sizeof u16, &cc), 0);
    assert_int_equal(cc.udh_len, 7);
    assert_int_equal(cc.ref, 0x1234);
    const uint8_t shortie[] = { 5, 0x00, 3, 0x2A };
    assert_int_equal(smpp_udh_concat(shortie, sizeof shortie, &cc), -1);
    const uint8_t overrun[] = { 3, 0x00, 3, 0x2A, 2, 1 };
    assert_int_equal(smpp_udh_concat(overrun, sizeof overrun, &cc), -1);

    struct smsc_ctl_req r;
    char err[128];
    char l1[] = "mo 996555 100 two\\nlines";
    assert_int_equal(smsc_ctl_parse(l1, &r, err, sizeof err), SMSC_CTL_MO);
    assert_string_equal(r.a, "996555");
    assert_string_equal(r.b, "100");
    assert_string_equal(r.text, "two\nlines");
    char l2[] = "throttle x";
    assert_int_equal(smsc_ctl_parse(l2, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "usage: throttle"));
    char l3[] = "frobnicate";
    assert_int_equal(smsc_ctl_parse(l3, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    char l4[] = "   ";
    assert_int_equal(smsc_ctl_parse(l4, &r, err, sizeof err), SMSC_CTL_NONE);
    char l5[] = "wait-bind";
    assert_int_equal(smsc_ctl_parse(l5, &r, err, sizeof err), SMSC_CTL_WAIT_BIND);
    assert_int_equal(r.n, 30);
    char l6[] = "ussd-log";
    assert_int_equal(smsc_ctl_parse(l6, &r, err, sizeof err), -1);

    struct smsc_script_line sl;
    assert_int_equal(smsc_script_parse_line("send 996 \"1 \\\"2\\\"\"", &sl, err, sizeof err), 0);
    assert_int_equal(sl.cmd, SMSC_SC_SEND);
    assert_string_equal(sl.a, "996");
    assert_string_equal(sl.text, "1 \"2\"");
    smsc_script_line_free(&sl);
    assert_int_equal(smsc_script_parse_line("sleep 250ms", &sl, err, sizeof err), 0);
    assert_int_equal(sl.ms, 250);
    smsc_script_line_free(&sl);
    uint64_t ms;
    assert_int_equal(smsc_parse_duration("1e30", &ms), -1);   /* UBSan: float->int */
    assert_int_equal(smsc_parse_duration("nan", &ms), -1);
    assert_int_equal(smsc_parse_duration("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    /* these used to reach strcmp(NULL) */
    assert_int_equal(smsc_script_parse_line("\"unterminated", &sl, err, sizeof err), -1);
    assert_string_equal(err, "unterminated quote");
    assert_int_equal(smsc_script_parse_line("", &sl, err, sizeof err), -1);
    assert_int_equal(smsc_script_parse_line("dial 996", &sl, err, sizeof err), -1);
    assert_non_null(strstr(err, "usage: dial"));
}

/* The network side of each preset: what the handset sends, and how the
 * gateway's answers are read; ussd_classify() must agree. */
static void test_network_dialects(void **state)
{
    (void)state;
    struct ussd_net_session ses = { 17, 2, 4711 };
    for (const struct ussd_dialect *d = ussd_dialects; d->name; d++) {
        struct smpp_pdu p;
        struct ussd_reply_buf b;
        char err[160];
        struct ussd_in in;
        assert_int_equal(ussd_network_deliver(d, USSD_NET_ANSWER, false, "996555", "100",
                                              &ses, (const uint8_t *)"1", 1, &p, &b,
                                              err, sizeof err), 0);
        assert_int_equal(p.data_coding, d->dcs_gsm);
        assert_int_equal(smpp_tlv_uint(&p, SMPP_TLV_USSD_SERVICE_OP), d->op_continue);
        assert_int_equal(ussd_classify(d, &p, &in, err, sizeof err), 0);
        assert_int_equal(in.kind, USSD_CONTINUE);
        assert_true(in.text_len == 1 && in.text[0] == '1');
        assert_int_equal(smpp_tlv_find(&p, SMPP_TLV_ITS_SESSION_INFO) != NULL,
                         d->key == USSD_KEY_ITS);
        assert_int_equal(smpp_tlv_uint(&p, SMPP_TLV_USER_MESSAGE_REFERENCE),
                         d->key == USSD_KEY_UMR ? 4711 : -1);
        /* the gateway's final screen, read back by the network */
        struct smpp_pdu r;
        struct ussd_reply_buf rb;
        assert_int_equal(ussd_reply(d, &in, (const uint8_t *)"Bye", 3, false, true, &r, &rb,
                                    err, sizeof err), 0);
        struct ussd_net_in ni;
        ussd_network_read(d, &r, &ses, &ni);
        assert_int_equal(ni.kind, USSD_SCREEN_END);
        assert_int_equal(ni.n_mismatch, 0);
        assert_true(ni.text_len == 3 && memcmp(ni.text, "Bye", 3) == 0);
        assert_int_equal(ussd_reply(d, &in, (const uint8_t *)"Menu", 4, true, false, &r, &rb,
                                    err, sizeof err), 0);
        ussd_network_read(d, &r, &ses, &ni);
        assert_int_equal(ni.kind, USSD_SCREEN_SHOW);
        assert_int_equal(ni.n_mismatch, 0);
        assert_int_equal(ni.dcs, d->dcs_ucs2);
        /* release: the preset's way, read by the gateway as an abort */
        assert_int_equal(ussd_network_deliver(d, USSD_NET_ABORT, false, "996555", "100",
                                              &ses, NULL, 0, &p, &b, err, sizeof err), 0);
        assert_int_equal(ussd_classify(d, &p, &in, err, sizeof err), 0);
        assert_int_equal(in.kind, USSD_ABORT);
    }
    /* a gateway on another preset is read leniently but counted */
    const struct ussd_dialect *std = ussd_dialect_find("standard");
    const struct ussd_dialect *umr = ussd_dialect_find("umr");
    struct smpp_pdu p, r;
    struct ussd_reply_buf b, rb;
    struct ussd_in in;
    struct ussd_net_in ni;
    char err[160];
    assert_int_equal(ussd_network_deliver(std, USSD_NET_DIAL, false, "996555", "100", &ses,
                                          (const uint8_t *)"*100#", 5, &p, &b, err,
                                          sizeof err), 0);
    assert_int_equal(ussd_classify(umr, &p, &in, err, sizeof err), 0);
    assert_int_equal(ussd_reply(umr, &in, (const uint8_t *)"x", 1, false, true, &r, &rb,
                                err, sizeof err), 0);
    ussd_network_read(std, &r, &ses, &ni);
    assert_int_equal(ni.kind, USSD_SCREEN_END);
    assert_true(ni.n_mismatch > 0);
    assert_non_null(strstr(ni.mismatch, "its_session_info"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_bind_rules),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_receipt_formats),
        cmocka_unit_test(test_receipt_failures),
        cmocka_unit_test(test_throttle_and_window),
        cmocka_unit_test(test_long_mt_reassembly),
        cmocka_unit_test(test_mo),
        cmocka_unit_test(test_ussd_dialog),
        cmocka_unit_test(test_ussd_timeout),
        cmocka_unit_test(test_unbind_and_drop),
        cmocka_unit_test(test_pure_parsers),
        cmocka_unit_test(test_network_dialects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
