/*
 * tests/fuzz/fuzz_smsc.c — libFuzzer target for kyzmat-smsc's pure parsers
 * and its network side of the USSD dialects.
 *
 * Input layout: byte 0 picks the part (mod 5), the rest is its input:
 *   0  smpp_udh_concat() as the simulator reads a segment: on success the
 *      header length is within the body and is UDHL + 1; a 16-bit
 *      reference only comes from a 16-bit IE (IEI 8) inside the header;
 *   1  smsc_ctl_parse() on the bytes as one control line (NUL-cut): the
 *      words it returns lie inside the line buffer, numbers are in range;
 *   2  smsc_script_parse_line(): every success frees cleanly, every failure
 *      has a reason and nothing to free;
 *   3  the bytes as an SMPP PDU read by ussd_network_read() under every
 *      preset (with and without a dialog key): never crashes, the text stays
 *      inside USSD_TEXT_MAX, a mismatch count comes with a reason;
 *   4  the bytes as UTF-8 text the handset sends, through
 *      ussd_network_deliver() for every preset and kind, then encoded,
 *      decoded and read back by the gateway side (ussd_classify()) under
 *      the same preset: the kind, the session key and the text must come
 *      back exactly as sent — the simulator and the gateway agree.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_smsc.
 *
 * May call: smpp/sim/{concat,control,script}.h (pure parsers only),
 * smpp/dialect, smpp/pdu, libc.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/dialect.h"
#include "smpp/pdu.h"
#include "smpp/sim/concat.h"
#include "smpp/sim/control.h"
#include "smpp/sim/script.h"
#include "smpp/sim/smsc.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_udh(const uint8_t *d, size_t n)
{
    struct smpp_concat cc;
    if (smpp_udh_concat(d, n, &cc) < 0)
        return;
    size_t hl = cc.udh_len;
    CHECK(n > 0 && hl == (size_t)d[0] + 1 && hl <= n && cc.len == n - hl);
    CHECK(cc.total <= 255 && cc.seq <= 255 && cc.ref <= 65535);
    /* an 8-bit reference only comes from IEI 0 */
    if (cc.ref > 255) {
        int seen16 = 0;
        for (size_t i = 1; i + 1 < hl; i += 2 + (size_t)d[i + 1])
            seen16 |= d[i] == 0x08 && d[i + 1] == 4;
        CHECK(seen16);
    }
}

static void fuzz_ctl(const uint8_t *d, size_t n)
{
    char *line = strndup((const char *)d, n);   /* the text up to a NUL */
    if (!line)
        return;
    size_t len = strlen(line);
    struct smsc_ctl_req r;
    char err[128];
    int c = smsc_ctl_parse(line, &r, err, sizeof err);
    if (c < 0) {
        CHECK(err[0] != '\0');
    } else {
        CHECK(c == (int)r.cmd && r.text);
        const char *ptrs[3] = { r.a, r.b, r.text };
        for (int i = 0; i < 3; i++)
            if (ptrs[i] && *ptrs[i])
                CHECK(ptrs[i] >= line && ptrs[i] + strlen(ptrs[i]) <= line + len);
        if (r.cmd == SMSC_CTL_THROTTLE)
            CHECK(r.n <= 1000000);
        if (r.cmd == SMSC_CTL_WAIT_BIND)
            CHECK(r.n >= 1 && r.n <= 86400);
        if (r.cmd == SMSC_CTL_SUBSCRIBE || r.cmd == SMSC_CTL_USSD_ABORT ||
            r.cmd == SMSC_CTL_USSD_LOG)
            CHECK(r.a != NULL);
        if (r.cmd == SMSC_CTL_MO || r.cmd == SMSC_CTL_USSD)
            CHECK(r.a && r.b);
    }
    free(line);
}

static void fuzz_script(const uint8_t *d, size_t n)
{
    char *line = strndup((const char *)d, n);   /* the text up to a NUL */
    if (!line)
        return;
    struct smsc_script_line l;
    char err[160];
    err[0] = '\0';
    if (smsc_script_parse_line(line, &l, err, sizeof err) == 0) {
        CHECK(l.cmd <= SMSC_SC_THROTTLE);
        if (l.cmd == SMSC_SC_DIAL)
            CHECK(l.a && l.b && l.b[0]);
        if (l.cmd == SMSC_SC_SEND || l.cmd == SMSC_SC_MO || l.cmd == SMSC_SC_EXPECT_SMS)
            CHECK(l.a && l.text);
        smsc_script_line_free(&l);
    } else {
        CHECK(err[0] != '\0');
    }
    uint64_t ms;
    (void)smsc_parse_duration(line, &ms);
    free(line);
}

static void fuzz_read(const uint8_t *d, size_t n)
{
    struct smpp_pdu pdu;
    if (smpp_pdu_decode(&pdu, d, n, NULL, NULL) != 0)
        return;
    struct ussd_net_session ses = { 17, 3, 4711 };
    for (const struct ussd_dialect *x = ussd_dialects; x->name; x++)
        for (int with = 0; with < 2; with++) {
            struct ussd_net_in in;
            ussd_network_read(x, &pdu, with ? &ses : NULL, &in);
            CHECK(in.text_len <= sizeof in.text);
            CHECK((in.n_mismatch == 0) == (in.mismatch[0] == '\0'));
            CHECK(in.kind <= USSD_SCREEN_NOTICE);
        }
}

static void fuzz_roundtrip(const uint8_t *d, size_t n)
{
    if (n < 3)
        return;
    struct ussd_net_session ses = { d[0], (uint8_t)(d[1] & 0x7F), (uint16_t)(d[1] << 8 | d[2]) };
    d += 3;
    n -= 3;
    for (const struct ussd_dialect *x = ussd_dialects; x->name; x++)
        for (int k = USSD_NET_DIAL; k <= USSD_NET_ABORT; k++)
            for (int by_op = 0; by_op < 2; by_op++) {
                struct smpp_pdu p, q;
                struct ussd_reply_buf b;
                char err[160];
                if (ussd_network_deliver(x, (enum ussd_net_kind)k, by_op,
                                         "996555123456", "100", &ses, d, n,
                                         &p, &b, err, sizeof err) != 0)
                    continue;
                uint8_t wire[800];
                int w = smpp_pdu_encode(&p, wire, sizeof wire, NULL);
                CHECK(w > 0);
                CHECK(smpp_pdu_decode(&q, wire, (size_t)w, NULL, NULL) == 0);
                struct ussd_in in;
                CHECK(ussd_classify(x, &q, &in, err, sizeof err) == 0);
                enum ussd_kind want = k == USSD_NET_DIAL ? USSD_START
                                    : k == USSD_NET_ANSWER ? USSD_CONTINUE
                                    : USSD_ABORT;
                CHECK(in.kind == want);
                char key[USSD_KEY_MAX];
                if (x->key == USSD_KEY_ITS)
                    snprintf(key, sizeof key, "996555123456/%u", ses.session);
                else if (x->key == USSD_KEY_UMR)
                    snprintf(key, sizeof key, "996555123456/u%u", ses.umr);
                else
                    snprintf(key, sizeof key, "996555123456");
                CHECK(strcmp(in.key, key) == 0);
                if (want != USSD_ABORT && n > 0) {
                    /* packed GSM can gain or lose a trailing <CR> (the
                     * USSD padding rule); otherwise exact */
                    size_t m = in.text_len, sent = n;
                    if (x->gsm_packed && p.data_coding == x->dcs_gsm) {
                        if (m == sent + 1 && in.text[m - 1] == '\r')
                            m--;
                        if (m + 1 == sent && d[sent - 1] == '\r')
                            sent--;
                    }
                    CHECK(m == sent && memcmp(in.text, d, sent) == 0);
                }
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0: fuzz_udh(d, n); break;
    case 1: fuzz_ctl(d, n); break;
    case 2: fuzz_script(d, n); break;
    case 3: fuzz_read(d, n); break;
    default: fuzz_roundtrip(d, n); break;
    }
    return 0;
}
