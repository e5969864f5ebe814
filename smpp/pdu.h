/*
 * smpp/pdu.h — SMPP 3.4 PDUs: bytes <-> struct smpp_pdu.
 *
 * What it does: decodes one complete PDU (the bytes the peer sent, header
 * included) into a flat struct of views, and encodes a struct into a
 * caller's buffer.  No I/O, no allocation, no global state.
 *
 * Ownership: a decoded pdu does NOT own its strings or octet fields; they
 * point into the buffer given to smpp_pdu_decode(), which must outlive the
 * pdu.  C-string fields point at NUL-terminated text inside that buffer (the
 * decoder checks the NUL is there), so they can be used as plain C strings.
 * For encoding the caller fills the same struct with pointers of its own.
 *
 * Strictness: command_length is checked against [16, max_len] before
 * anything else; every C-string must be NUL-terminated within its SMPP 3.4
 * maximum; sm_length <= 254 and inside the PDU; every TLV inside the PDU and,
 * for the standard tags, of the length the spec gives; no trailing bytes.
 * Errors come back as an SMPP command_status (ESME_R*) that the caller can
 * put in a generic_nack or a *_resp, plus a short human text.
 *
 * Decoded C-string fields of the command are never NULL (an empty field
 * points at its NUL; a *_resp with non-zero status and no body, which SMPP
 * allows, reads as "" fields).  Fields the command does not have stay NULL
 * / 0.  submit_multi(_resp) is not supported: decode and encode return
 * ESME_RINVCMDID.  TLVs are accepted where SMPP 3.4 allows them plus on
 * submit_sm_resp / deliver_sm_resp (SMPP 5.0; real SMSCs send them).
 * Every TLV, standard or not, lands in tlv[] in wire order; tlv[] entries
 * at index >= tlv_count are garbage after a decode (not cleared, for speed).
 *
 * Reading the message a PDU carries is here too, once for the whole tree:
 * its body (short_message or message_payload, smpp_pdu_body) and, for a
 * part of a long SMS, its concatenation (UDH or sar_* TLVs,
 * smpp_pdu_concat).  Delivery receipts are read by smpp/receipt.
 *
 * May call: libc only.  Re-entrant; thread-safe.
 */
#ifndef KYZMAT_SMPP_PDU_H
#define KYZMAT_SMPP_PDU_H

#include <stddef.h>
#include <stdint.h>

/* ---- command ids (SMPP 3.4 §5.1.2.1) ---------------------------------- */
#define SMPP_GENERIC_NACK           0x80000000u
#define SMPP_BIND_RECEIVER          0x00000001u
#define SMPP_BIND_RECEIVER_RESP     0x80000001u
#define SMPP_BIND_TRANSMITTER       0x00000002u
#define SMPP_BIND_TRANSMITTER_RESP  0x80000002u
#define SMPP_QUERY_SM               0x00000003u
#define SMPP_QUERY_SM_RESP          0x80000003u
#define SMPP_SUBMIT_SM              0x00000004u
#define SMPP_SUBMIT_SM_RESP         0x80000004u
#define SMPP_DELIVER_SM             0x00000005u
#define SMPP_DELIVER_SM_RESP        0x80000005u
#define SMPP_UNBIND                 0x00000006u
#define SMPP_UNBIND_RESP            0x80000006u
#define SMPP_REPLACE_SM             0x00000007u
#define SMPP_REPLACE_SM_RESP        0x80000007u
#define SMPP_CANCEL_SM              0x00000008u
#define SMPP_CANCEL_SM_RESP         0x80000008u
#define SMPP_BIND_TRANSCEIVER       0x00000009u
#define SMPP_BIND_TRANSCEIVER_RESP  0x80000009u
#define SMPP_OUTBIND                0x0000000Bu
#define SMPP_ENQUIRE_LINK           0x00000015u
#define SMPP_ENQUIRE_LINK_RESP      0x80000015u
#define SMPP_SUBMIT_MULTI           0x00000021u
#define SMPP_SUBMIT_MULTI_RESP      0x80000021u
#define SMPP_ALERT_NOTIFICATION     0x00000102u
#define SMPP_DATA_SM                0x00000103u
#define SMPP_DATA_SM_RESP           0x80000103u

#define SMPP_IS_RESP(id) (((id) & 0x80000000u) != 0)

/* ---- command_status values (§5.1.3) ----------------------------------- */
#define ESME_ROK               0x00000000u
#define ESME_RINVMSGLEN        0x00000001u
#define ESME_RINVCMDLEN        0x00000002u
#define ESME_RINVCMDID         0x00000003u
#define ESME_RINVBNDSTS        0x00000004u
#define ESME_RALYBND           0x00000005u
#define ESME_RINVPRTFLG        0x00000006u
#define ESME_RINVREGDLVFLG     0x00000007u
#define ESME_RSYSERR           0x00000008u
#define ESME_RINVSRCADR        0x0000000Au
#define ESME_RINVDSTADR        0x0000000Bu
#define ESME_RINVMSGID         0x0000000Cu
#define ESME_RBINDFAIL         0x0000000Du
#define ESME_RINVPASWD         0x0000000Eu
#define ESME_RINVSYSID         0x0000000Fu
#define ESME_RCANCELFAIL       0x00000011u
#define ESME_RREPLACEFAIL      0x00000013u
#define ESME_RMSGQFUL          0x00000014u
#define ESME_RINVSERTYP        0x00000015u
#define ESME_RINVESMCLASS      0x00000043u
#define ESME_RSUBMITFAIL       0x00000045u
#define ESME_RINVSRCTON        0x00000048u
#define ESME_RINVSRCNPI        0x00000049u
#define ESME_RINVDSTTON        0x00000050u
#define ESME_RINVDSTNPI        0x00000051u
#define ESME_RINVSYSTYP        0x00000053u
#define ESME_RINVREPFLAG       0x00000054u
#define ESME_RINVNUMMSGS       0x00000055u
#define ESME_RTHROTTLED        0x00000058u
#define ESME_RINVSCHED         0x00000061u
#define ESME_RINVEXPIRY        0x00000062u
#define ESME_RINVDFTMSGID      0x00000063u
#define ESME_RX_T_APPN         0x00000064u
#define ESME_RX_P_APPN         0x00000065u
#define ESME_RX_R_APPN         0x00000066u
#define ESME_RQUERYFAIL        0x00000067u
#define ESME_RINVOPTPARSTREAM  0x000000C0u
#define ESME_ROPTPARNOTALLWD   0x000000C1u
#define ESME_RINVPARLEN        0x000000C2u
#define ESME_RMISSINGOPTPARAM  0x000000C3u
#define ESME_RINVOPTPARAMVAL   0x000000C4u
#define ESME_RDELIVERYFAILURE  0x000000FEu
#define ESME_RUNKNOWNERR       0x000000FFu

/* ---- TLV tags (§5.3.2) ------------------------------------------------ */
#define SMPP_TLV_DEST_ADDR_SUBUNIT          0x0005
#define SMPP_TLV_DEST_NETWORK_TYPE          0x0006
#define SMPP_TLV_DEST_BEARER_TYPE           0x0007
#define SMPP_TLV_DEST_TELEMATICS_ID         0x0008
#define SMPP_TLV_SOURCE_ADDR_SUBUNIT        0x000D
#define SMPP_TLV_SOURCE_NETWORK_TYPE        0x000E
#define SMPP_TLV_SOURCE_BEARER_TYPE         0x000F
#define SMPP_TLV_SOURCE_TELEMATICS_ID       0x0010
#define SMPP_TLV_QOS_TIME_TO_LIVE           0x0017
#define SMPP_TLV_PAYLOAD_TYPE               0x0019
#define SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT 0x001D
#define SMPP_TLV_RECEIPTED_MESSAGE_ID       0x001E
#define SMPP_TLV_MS_MSG_WAIT_FACILITIES     0x0030
#define SMPP_TLV_PRIVACY_INDICATOR          0x0201
#define SMPP_TLV_SOURCE_SUBADDRESS          0x0202
#define SMPP_TLV_DEST_SUBADDRESS            0x0203
#define SMPP_TLV_USER_MESSAGE_REFERENCE     0x0204
#define SMPP_TLV_USER_RESPONSE_CODE         0x0205
#define SMPP_TLV_SOURCE_PORT                0x020A
#define SMPP_TLV_DESTINATION_PORT           0x020B
#define SMPP_TLV_SAR_MSG_REF_NUM            0x020C
#define SMPP_TLV_LANGUAGE_INDICATOR         0x020D
#define SMPP_TLV_SAR_TOTAL_SEGMENTS         0x020E
#define SMPP_TLV_SAR_SEGMENT_SEQNUM         0x020F
#define SMPP_TLV_SC_INTERFACE_VERSION       0x0210
#define SMPP_TLV_CALLBACK_NUM_PRES_IND      0x0302
#define SMPP_TLV_CALLBACK_NUM_ATAG          0x0303
#define SMPP_TLV_NUMBER_OF_MESSAGES         0x0304
#define SMPP_TLV_CALLBACK_NUM               0x0381
#define SMPP_TLV_DPF_RESULT                 0x0420
#define SMPP_TLV_SET_DPF                    0x0421
#define SMPP_TLV_MS_AVAILABILITY_STATUS     0x0422
#define SMPP_TLV_NETWORK_ERROR_CODE         0x0423
#define SMPP_TLV_MESSAGE_PAYLOAD            0x0424
#define SMPP_TLV_DELIVERY_FAILURE_REASON    0x0425
#define SMPP_TLV_MORE_MESSAGES_TO_SEND      0x0426
#define SMPP_TLV_MESSAGE_STATE              0x0427
#define SMPP_TLV_USSD_SERVICE_OP            0x0501
#define SMPP_TLV_DISPLAY_TIME               0x1201
#define SMPP_TLV_SMS_SIGNAL                 0x1203
#define SMPP_TLV_MS_VALIDITY                0x1204
#define SMPP_TLV_ALERT_ON_MESSAGE_DELIVERY  0x130C
#define SMPP_TLV_ITS_REPLY_TYPE             0x1380
#define SMPP_TLV_ITS_SESSION_INFO           0x1383

/* ---- limits ----------------------------------------------------------- */
#define SMPP_HEADER_LEN        16
#define SMPP_DEFAULT_MAX_LEN   65536u  /* default cap on command_length */
#define SMPP_SM_MAX            254     /* short_message octets */
#define SMPP_MAX_TLVS          24      /* TLVs kept per PDU; more is an error */

/* USSD service operations (§5.3.2.44), see ../shared/docs/protocol.md */
#define SMPP_USSD_PSSD_IND     0
#define SMPP_USSD_PSSR_IND     1
#define SMPP_USSD_USSR_REQ     2
#define SMPP_USSD_USSN_REQ     3
#define SMPP_USSD_PSSD_RESP    16
#define SMPP_USSD_PSSR_RESP    17
#define SMPP_USSD_USSR_CONF    18
#define SMPP_USSD_USSN_CONF    19

/* One TLV: a view of `len` octets at `val`.  On decode `val` points into
 * the input buffer; on encode it points wherever the caller likes (the
 * smpp_pdu_set_* helpers point it at `inl`). */
struct smpp_tlv {
    uint16_t tag;
    uint16_t len;
    const uint8_t *val;
    uint8_t inl[4];            /* storage for small values set by helpers */
};

/*
 * A PDU.  Fields not used by a command are left zero / NULL.  Every C-string
 * field is either NULL (absent, encodes as a single NUL) or a NUL-terminated
 * string.  Which fields a command uses follows SMPP 3.4 chapter 4; see the
 * table in pdu.c.
 */
struct smpp_pdu {
    uint32_t command_length;   /* filled by decode and by encode */
    uint32_t command_id;
    uint32_t command_status;
    uint32_t sequence_number;

    /* bind_*, outbind, bind_*_resp (system_id only) */
    const char *system_id;     /* max 16 */
    const char *password;      /* max 9 */
    const char *system_type;   /* max 13 */
    uint8_t interface_version;
    uint8_t addr_ton, addr_npi;
    const char *address_range; /* max 41 */

    /* submit_sm, deliver_sm, data_sm, query_sm, cancel_sm, replace_sm,
     * alert_notification (source_* and esme_addr via dest_*) */
    const char *service_type;  /* max 6 */
    uint8_t source_addr_ton, source_addr_npi;
    const char *source_addr;   /* max 21 (65 in alert_notification/data_sm) */
    uint8_t dest_addr_ton, dest_addr_npi;
    const char *destination_addr; /* max 21 (65 in data_sm, esme_addr) */
    uint8_t esm_class;
    uint8_t protocol_id;
    uint8_t priority_flag;
    const char *schedule_delivery_time; /* max 17: empty or 16 chars */
    const char *validity_period;        /* max 17 */
    uint8_t registered_delivery;
    uint8_t replace_if_present_flag;
    uint8_t data_coding;
    uint8_t sm_default_msg_id;
    uint8_t sm_length;
    const uint8_t *short_message;       /* sm_length octets, not NUL-terminated */

    /* *_sm_resp, query_sm, cancel_sm, replace_sm */
    const char *message_id;    /* max 65 */
    /* query_sm_resp */
    const char *final_date;    /* max 17 */
    uint8_t message_state;
    uint8_t error_code;

    /* Optional parameters, in wire order. */
    uint8_t tlv_count;
    struct smpp_tlv tlv[SMPP_MAX_TLVS];
};

/* Decoder limits; zero fields mean defaults. */
struct smpp_limits {
    uint32_t max_len;          /* cap on command_length, default 64 KiB */
};

/* Result of a decode: status ESME_ROK or the status to answer with. */
struct smpp_err {
    uint32_t status;           /* ESME_R* */
    char text[96];             /* human-readable, e.g. "system_id: no NUL within 16 octets" */
};

/*
 * smpp_pdu_peek_length — look at the first 4 octets of a stream.
 * Returns 0 when fewer than 4 octets are available, else the
 * command_length.  The caller must then check smpp_length_ok() before
 * buffering that many octets.
 */
uint32_t smpp_pdu_peek_length(const uint8_t *buf, size_t avail);

/* 1 when 16 <= len <= max (max 0 = SMPP_DEFAULT_MAX_LEN), else 0. */
int smpp_length_ok(uint32_t len, uint32_t max);

/*
 * smpp_pdu_decode — decode exactly `len` octets (one whole PDU, header
 * included) into *out.  Returns 0 on success.  On failure returns -1, fills
 * *err (when not NULL), and still fills out->command_id and
 * out->sequence_number when the header could be read (so the caller can
 * answer generic_nack or *_resp with the right sequence number); its other
 * fields are then unspecified.  err->text names the field at fault.
 * Never allocates; `buf` must outlive *out.  Typical cost: ~50 ns for a
 * USSD deliver_sm (bench/bench_pdu.c).
 */
int smpp_pdu_decode(struct smpp_pdu *out, const uint8_t *buf, size_t len,
                    const struct smpp_limits *lim, struct smpp_err *err);

/*
 * smpp_pdu_encode — write *pdu into buf[0..cap).  Sets command_length in
 * the output (pdu->command_length is ignored on input and updated).
 * Returns the number of octets written, or -1 when cap is too small or a
 * field breaks the spec (too-long C-string, sm_length > 254 or a NULL
 * short_message with a length, unknown command_id, a standard TLV of the
 * wrong length, TLVs on a command that takes none); *err says which, with
 * the status a decoder would answer (ESME_RSYSERR when only cap is short).
 * An error *_resp is always written with its (empty) body.
 * Never allocates; only reads *pdu (apart from command_length).
 */
int smpp_pdu_encode(struct smpp_pdu *pdu, uint8_t *buf, size_t cap,
                    struct smpp_err *err);

/* Initialise a pdu for encoding: zero it and set id, status and seq. */
void smpp_pdu_reset(struct smpp_pdu *pdu, uint32_t command_id,
                   uint32_t status, uint32_t seq);

/* Name of a command id ("submit_sm", "deliver_sm_resp", ...) or "unknown". */
const char *smpp_command_name(uint32_t command_id);
/* Short name of a status ("ESME_RTHROTTLED") or NULL when unknown. */
const char *smpp_status_name(uint32_t status);
/* Name of a TLV tag ("ussd_service_op") or NULL when not standard. */
const char *smpp_tlv_name(uint16_t tag);

/* TLV access.  find returns NULL when absent. */
const struct smpp_tlv *smpp_tlv_find(const struct smpp_pdu *pdu, uint16_t tag);
/* Integer value (big-endian) of a 1, 2 or 4 octet TLV; returns -1 when
 * absent or of another size (so 0..0xFFFFFFFF fits in the int64_t).
 * With repeated tags, find and uint see the first one. */
int64_t smpp_tlv_uint(const struct smpp_pdu *pdu, uint16_t tag);

/* ---- the message inside a PDU ------------------------------------------ */

/* esm_class bits the message readers look at (SMPP 3.4 §5.2.12). */
#define SMPP_ESM_RECEIPT 0x04   /* deliver_sm: a delivery receipt (type 0001) */
#define SMPP_ESM_UDHI    0x40   /* short_message starts with a UDH */

/*
 * smpp_pdu_body — the message octets of a submit_sm / deliver_sm / data_sm:
 * short_message, or the message_payload TLV when short_message is empty
 * (SMPP 3.4 §5.3.2.32 forbids using both).  Sets *len and returns a view
 * into the pdu's buffer (a UDH included), never NULL: a PDU with neither
 * gives "" and 0.  The one place that says where a PDU's text is.
 */
const uint8_t *smpp_pdu_body(const struct smpp_pdu *pdu, size_t *len);

/*
 * Concatenation of one SMS part, as read from a UDH (3GPP TS 23.040
 * §9.2.3.24.1 IE 0x00, 8-bit reference; §9.2.3.24.8 IE 0x08, 16-bit) or
 * from the sar_* TLVs (SMPP 3.4 §5.3.2.22-24).
 */
struct smpp_concat {
    unsigned ref;               /* reference shared by the parts; 0 when none */
    unsigned total;             /* parts of the whole message; 0: not a part */
    unsigned seq;               /* this part's number (1 = first); 0 when none */
    const uint8_t *text;        /* the part's own octets, after the UDH */
    size_t len;                 /* their count */
    size_t udh_len;             /* UDH octets skipped (UDHL included), 0: none */
};

/*
 * smpp_udh_concat — read the UDH at the start of body[0..len): UDHL, then
 * its IEs; a concatenation IE sets ref/total/seq (the last one wins), any
 * other IE is skipped.  out->text/len is what follows the header.  Returns
 * 0, or -1 on a malformed header (no octet at all, UDHL past the body, an
 * IE past the header): *out is then still filled leniently (the header
 * clamped to the body, the IEs before the fault read), for a reader that
 * only logs.  Pure; never reads outside body[0..len).
 */
int smpp_udh_concat(const uint8_t *body, size_t len, struct smpp_concat *out);

/*
 * smpp_pdu_concat — the concatenation of a submit_sm / deliver_sm /
 * data_sm: from the UDH of its body (smpp_pdu_body) when esm_class has
 * SMPP_ESM_UDHI and the body is not empty, else from sar_total_segments
 * and sar_segment_seqnum when both are there and non-zero (ref from
 * sar_msg_ref_num, 0 when absent).  out->text/len: the body after any UDH.
 * Returns smpp_udh_concat's value for a UDH, else 0.  Pure.
 */
int smpp_pdu_concat(const struct smpp_pdu *pdu, struct smpp_concat *out);

/* Append (or replace) a TLV for encoding.  set_bytes keeps the pointer
 * (the caller's bytes must outlive the encode); set_u8/u16 store the value
 * in the TLV's own inl[] and point val at it, so a struct copy made after
 * set_u8/u16 still points into the original — set them on the copy.
 * Return 0, or -1 when full. */
int smpp_pdu_set_bytes(struct smpp_pdu *pdu, uint16_t tag, const void *val,
                       uint16_t len);
int smpp_pdu_set_u8(struct smpp_pdu *pdu, uint16_t tag, uint8_t v);
int smpp_pdu_set_u16(struct smpp_pdu *pdu, uint16_t tag, uint16_t v);

/* The response command id for a request id (submit_sm -> submit_sm_resp),
 * or SMPP_GENERIC_NACK when the request has no response of its own. */
uint32_t smpp_resp_id(uint32_t command_id);

#endif
