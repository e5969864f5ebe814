/*
 * smpp/sim/concat.c — MT message text: body, segments, reassembly,
 * decoding (see concat.h).
 *
 * Owns: struct sim_partial (one incomplete long message and its parts).
 * May call: smpp/pdu, smpp/text, smpp/sim/log, libc.
 */
#include "smpp/sim/concat.h"

#include "smpp/pdu.h"
#include "smpp/sim/log.h"
#include "smpp/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARTS_MAX     32       /* segments of one long message */
#define PARTS_TTL_S   120      /* incomplete long messages expire */

struct sim_partial {
    LIST_ENTRY(sim_partial) link;
    char acct[16];
    char src[22], dst[22];
    unsigned ref, total, have;
    uint8_t dc;
    time_t first;
    uint16_t len[PARTS_MAX];
    uint8_t *data[PARTS_MAX];
};

void sim_concat_init(struct sim_concat *c, const struct smsc_config *cfg)
{
    LIST_INIT(&c->partials);
    c->cfg = cfg;
}

static void partial_free(struct sim_partial *p)
{
    for (unsigned i = 0; i < PARTS_MAX; i++)
        free(p->data[i]);
    free(p);
}

void sim_concat_clear(struct sim_concat *c)
{
    struct sim_partial *p;
    while ((p = LIST_FIRST(&c->partials))) {
        LIST_REMOVE(p, link);
        partial_free(p);
    }
}

/* GSM 7-bit under data_coding 0x0F (and the 3GPP GSM groups) arrives
 * packed on some links and unpacked on others: unpacked septets never have
 * the top bit set, so an octet >= 0x80 means packed. */
void sim_sm_to_utf8(uint8_t dc, const uint8_t *b, size_t n, char *out,
                    size_t cap)
{
    unsigned flags = SMPP_TEXT_DCS_HEX_FALLBACK;
    if (dc != 0 && smpp_text_dcs_encoding(dc, 0) == SMPP_ENC_GSM7)
        for (size_t i = 0; i < n; i++)
            if (b[i] & 0x80) {
                flags |= SMPP_TEXT_DCS_GSM7_PACKED;
                break;
            }
    size_t ol = 0;
    int rc = smpp_text_decode_dcs(dc, flags, b ? b : (const uint8_t *)"", n,
                                  (uint8_t *)out, cap - 1, &ol, NULL);
    if (rc != SMPP_TEXT_OK) {
        snprintf(out, cap, "<%zu octets, data_coding 0x%02x: %s>", n, dc,
                 smpp_text_strerror(rc));
        return;
    }
    out[ol] = '\0';
}

/* Drop partial messages older than PARTS_TTL_S. */
static void partials_expire(struct sim_concat *c)
{
    time_t t = time(NULL);
    struct sim_partial *p, *next;
    for (p = LIST_FIRST(&c->partials); p; p = next) {
        next = LIST_NEXT(p, link);
        if (t - p->first > PARTS_TTL_S) {
            sim_log(c->cfg, SIM_LOG_INFO, p->acct,
                    "long message ref %u from %s: %u of %u parts, expired",
                    p->ref, p->src, p->have, p->total);
            LIST_REMOVE(p, link);
            partial_free(p);
        }
    }
}

static struct sim_partial *partial_get(struct sim_concat *c, const char *acct,
                                       const char *src, const char *dst,
                                       unsigned ref, unsigned total, uint8_t dc)
{
    struct sim_partial *p;
    LIST_FOREACH(p, &c->partials, link)
        if (strcmp(p->acct, acct) == 0 && p->ref == ref && p->total == total &&
            strcmp(p->src, src) == 0 && strcmp(p->dst, dst) == 0)
            return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->acct, sizeof p->acct, "%s", acct);
    snprintf(p->src, sizeof p->src, "%s", src);
    snprintf(p->dst, sizeof p->dst, "%s", dst);
    p->ref = ref;
    p->total = total;
    p->dc = dc;
    p->first = time(NULL);
    LIST_INSERT_HEAD(&c->partials, p, link);
    return p;
}

/*
 * Add one segment.  When the message is complete, its text (all bodies
 * concatenated, then decoded once) goes to out and 1 is returned; 0 while
 * incomplete, -1 when the segment is inconsistent.
 */
static int partial_add(struct sim_concat *c, const char *acct, const char *src,
                       const char *dst, unsigned ref, unsigned total,
                       unsigned seqn, uint8_t dc, const uint8_t *body,
                       size_t len, char *out, size_t cap)
{
    if (total == 0 || total > PARTS_MAX || seqn == 0 || seqn > total)
        return -1;
    partials_expire(c);
    struct sim_partial *p = partial_get(c, acct, src, dst, ref, total, dc);
    if (!p)
        return -1;
    if (!p->data[seqn - 1]) {
        p->data[seqn - 1] = malloc(len ? len : 1);
        if (!p->data[seqn - 1])
            return -1;
        memcpy(p->data[seqn - 1], body, len);
        p->len[seqn - 1] = (uint16_t)len;
        p->have++;
    }
    if (p->have < p->total)
        return 0;
    size_t tot = 0;
    for (unsigned i = 0; i < p->total; i++)
        tot += p->len[i];
    uint8_t *all = malloc(tot ? tot : 1);
    if (all) {
        size_t o = 0;
        for (unsigned i = 0; i < p->total; i++) {
            memcpy(all + o, p->data[i], p->len[i]);
            o += p->len[i];
        }
        sim_sm_to_utf8(p->dc, all, tot, out, cap);
        free(all);
    }
    LIST_REMOVE(p, link);
    partial_free(p);
    return all ? 1 : -1;
}

int sim_concat_text(struct sim_concat *c, const char *account,
                    const struct smpp_pdu *p, char *out, size_t cap)
{
    struct smpp_concat cc;
    if (smpp_pdu_concat(p, &cc) < 0)
        return -1;   /* a malformed UDH */
    if (cc.total > 1)
        return partial_add(c, account, p->source_addr ? p->source_addr : "",
                           p->destination_addr ? p->destination_addr : "",
                           cc.ref, cc.total, cc.seq, p->data_coding, cc.text,
                           cc.len, out, cap);
    sim_sm_to_utf8(p->data_coding, cc.text, cc.len, out, cap);
    return 1;
}
