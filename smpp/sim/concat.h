/*
 * smpp/sim/concat.h — the text of what the gateway submits: an MT
 * submit_sm / data_sm's body (short_message, or message_payload when
 * sm_length is 0), the segment it is (a UDH with IE 0x00 or 0x08, or the
 * sar_* TLVs), long messages put back together, and the octets decoded to
 * UTF-8.
 *
 * A long message is keyed by (account, source, destination, reference,
 * total); its parts are kept until all have come or PARTS_TTL_S passed.
 * The whole body is decoded once, so a UCS-2 surrogate pair or a GSM
 * escape split across parts still decodes.
 *
 * The body and the UDH / sar_* reading are the protocol's own
 * (smpp_pdu_body, smpp_pdu_concat in smpp/pdu.h): the simulator reads a
 * segment exactly as the gateway does.
 *
 * Owns: the partial messages (struct sim_concat).  May call: smpp/pdu,
 * smpp/text, smpp/sim/log, libc.  Used by smpp/sim/smsc.c and ussd.c.
 */
#ifndef KYZMAT_SIM_CONCAT_H
#define KYZMAT_SIM_CONCAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct smpp_pdu;
struct smsc_config;
struct sim_partial;

LIST_HEAD(sim_partials, sim_partial);

struct sim_concat {
    struct sim_partials partials;      /* long messages still incomplete */
    const struct smsc_config *cfg;     /* for the log line of an expired one */
};

void sim_concat_init(struct sim_concat *c, const struct smsc_config *cfg);
/* Free every partial message. */
void sim_concat_clear(struct sim_concat *c);

/*
 * sim_concat_text — the text of MT p submitted by account (its
 * system_id), reassembled when p is a segment.  Returns 1 with the full
 * text in out (NUL-terminated UTF-8), 0 when more segments are due, -1 on
 * a malformed UDH or an inconsistent segment.
 */
int sim_concat_text(struct sim_concat *c, const char *account,
                    const struct smpp_pdu *p, char *out, size_t cap);

/* Decode an SM body (UDH already removed) under data_coding dc to
 * NUL-terminated UTF-8 in out[0..cap); never fails: what does not decode
 * comes out as U+FFFD or as a "<N octets, data_coding ...>" note. */
void sim_sm_to_utf8(uint8_t dc, const uint8_t *b, size_t n, char *out,
                    size_t cap);

#endif
