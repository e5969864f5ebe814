/*
 * smpp/frame.h — cut one SMPP PDU off the front of a libevent input
 * buffer: the framing both ends of a link do the same way, the gateway's
 * ESME session (smpp/esme) and the SMSC simulator (smpp/sim/smsc).
 *
 * What it does: reads the command_length of the PDU at the front of `in`,
 * refuses a length that smpp_length_ok() rejects (with the header's
 * sequence number, so the caller can answer generic_nack to it), waits
 * until the whole PDU is buffered, and then makes its octets contiguous
 * (evbuffer_pullup of exactly one PDU, zero copy when it already is).
 * It never drains: the caller drains `len` octets after handling the PDU,
 * so a handler that closes the link never touches a freed buffer.
 *
 * Owns: nothing; `in` stays the caller's.  Logs nothing: the caller names
 * the peer and decides (log, nack, close).  May call: smpp/pdu, libevent's
 * evbuffer.  Re-entrant.
 */
#ifndef KYZMAT_SMPP_FRAME_H
#define KYZMAT_SMPP_FRAME_H

#include <stdint.h>

struct evbuffer;

enum smpp_frame {
    SMPP_FRAME_MORE,      /* not a whole PDU yet: wait for more octets */
    SMPP_FRAME_PDU,       /* *pdu holds *len octets, one whole PDU */
    SMPP_FRAME_BAD_LEN,   /* *len is an absurd command_length; *seq the
                             header's sequence number (0 when fewer than
                             16 octets are there) */
    SMPP_FRAME_NOMEM      /* the PDU could not be made contiguous */
};

/* The next PDU at the front of `in`, at most `max` octets (0: the SMPP
 * default, see smpp_length_ok).  *pdu stays valid until `in` changes. */
enum smpp_frame smpp_frame_next(struct evbuffer *in, uint32_t max, const uint8_t **pdu,
                                uint32_t *len, uint32_t *seq);

#endif
