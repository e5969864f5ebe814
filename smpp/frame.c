/*
 * smpp/frame.c — one SMPP PDU off the front of an evbuffer (see frame.h):
 * the framing shared by the ESME session and the SMSC simulator.
 *
 * Owns: nothing.  May call: smpp/pdu (length peek and check), libevent's
 * evbuffer.  No logging, no draining: the caller decides.
 */
#include "smpp/frame.h"

#include <event2/buffer.h>

#include "smpp/pdu.h"

enum smpp_frame smpp_frame_next(struct evbuffer *in, uint32_t max, const uint8_t **pdu,
                                uint32_t *len, uint32_t *seq)
{
    size_t avail = evbuffer_get_length(in);
    if (avail < 4)
        return SMPP_FRAME_MORE;
    uint8_t hdr[16];
    evbuffer_copyout(in, hdr, avail < 16 ? avail : 16);
    *len = smpp_pdu_peek_length(hdr, 4);
    if (!smpp_length_ok(*len, max)) {
        *seq = avail >= 16 ? smpp_pdu_peek_length(hdr + 12, 4) : 0;
        return SMPP_FRAME_BAD_LEN;
    }
    if (avail < *len)
        return SMPP_FRAME_MORE;
    *pdu = evbuffer_pullup(in, *len);
    return *pdu ? SMPP_FRAME_PDU : SMPP_FRAME_NOMEM;
}
