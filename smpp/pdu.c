/*
 * smpp/pdu.c — SMPP 3.4 PDU codec: bytes <-> struct smpp_pdu.
 *
 * Design: two tables drive everything.
 *   - field_specs[]: every mandatory body field SMPP 3.4 chapter 4 knows,
 *     with its kind (C-string with its maximum size including the NUL,
 *     1-octet integer, or the sm_length + short_message pair), where it lives
 *     in struct smpp_pdu, and the status to answer when a C-string is too
 *     long (system_id -> ESME_RINVSYSID, ...).
 *   - commands[]: every command id we decode, the list of its mandatory
 *     fields in wire order and whether TLVs may follow.
 * decode() and encode() each walk the same per-command field list, so
 * adding a command is one table row, not two switch arms.
 *   - tlv_specs[]: every standard SMPP 3.4 TLV tag (sorted) with its allowed
 *     length range.  A standard TLV of another length is ESME_RINVPARLEN;
 *     unknown tags are kept verbatim.
 *
 * submit_multi / submit_multi_resp are NOT decoded: they come back as
 * ESME_RINVCMDID (kyzmat never sends them and an SMSC need not accept them).
 *
 * TLVs are accepted on the commands SMPP 3.4 gives optional parameters
 * (submit_sm, deliver_sm, data_sm, data_sm_resp, alert_notification,
 * bind_*_resp) and on submit_sm_resp / deliver_sm_resp, which SMPP 5.0
 * extended and which real SMSCs already send with TLVs.
 *
 * The message readers (smpp_pdu_body, smpp_udh_concat, smpp_pdu_concat)
 * sit beside the TLV accessors: they only look at a decoded (or filled)
 * struct and return views into the same buffer.
 *
 * Owns: nothing.  Decoded fields are views into the caller's buffer.
 * May call: libc (memcpy, memset, vsnprintf for error texts) only.  No I/O, no
 * allocation, no global mutable state: re-entrant and thread-safe.
 */
#include "smpp/pdu.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- field table ------------------------------------------------------ */

enum field_kind { FK_CSTR, FK_U8, FK_SM };

enum field_id {
    F_SYSTEM_ID, F_PASSWORD, F_SYSTEM_TYPE, F_INTERFACE_VERSION, F_ADDR_TON,
    F_ADDR_NPI, F_ADDRESS_RANGE, F_SERVICE_TYPE, F_SOURCE_ADDR_TON,
    F_SOURCE_ADDR_NPI, F_SOURCE_ADDR21, F_SOURCE_ADDR65, F_DEST_ADDR_TON,
    F_DEST_ADDR_NPI, F_DESTINATION_ADDR21, F_DESTINATION_ADDR65,
    F_ESME_ADDR_TON, F_ESME_ADDR_NPI, F_ESME_ADDR, F_ESM_CLASS,
    F_PROTOCOL_ID, F_PRIORITY_FLAG, F_SCHEDULE_DELIVERY_TIME,
    F_VALIDITY_PERIOD, F_REGISTERED_DELIVERY, F_REPLACE_IF_PRESENT_FLAG,
    F_DATA_CODING, F_SM_DEFAULT_MSG_ID, F_SHORT_MESSAGE, F_MESSAGE_ID,
    F_FINAL_DATE, F_MESSAGE_STATE, F_ERROR_CODE,
    F_END = 0xFF                 /* terminates a command's field list */
};

struct field_spec {
    const char *name;
    uint8_t kind;                /* enum field_kind */
    uint8_t max;                 /* FK_CSTR: max octets including the NUL */
    uint16_t off;                /* offsetof(struct smpp_pdu, field) */
    uint32_t status;             /* FK_CSTR: status when too long */
};

#define OFF(f) ((uint16_t)offsetof(struct smpp_pdu, f))

static const struct field_spec field_specs[] = {
    [F_SYSTEM_ID]      = {"system_id", FK_CSTR, 16, OFF(system_id), ESME_RINVSYSID},
    [F_PASSWORD]       = {"password", FK_CSTR, 9, OFF(password), ESME_RINVPASWD},
    [F_SYSTEM_TYPE]    = {"system_type", FK_CSTR, 13, OFF(system_type), ESME_RINVSYSTYP},
    [F_INTERFACE_VERSION] = {"interface_version", FK_U8, 0, OFF(interface_version), 0},
    [F_ADDR_TON]       = {"addr_ton", FK_U8, 0, OFF(addr_ton), 0},
    [F_ADDR_NPI]       = {"addr_npi", FK_U8, 0, OFF(addr_npi), 0},
    [F_ADDRESS_RANGE]  = {"address_range", FK_CSTR, 41, OFF(address_range), ESME_RINVPARLEN},
    [F_SERVICE_TYPE]   = {"service_type", FK_CSTR, 6, OFF(service_type), ESME_RINVSERTYP},
    [F_SOURCE_ADDR_TON] = {"source_addr_ton", FK_U8, 0, OFF(source_addr_ton), 0},
    [F_SOURCE_ADDR_NPI] = {"source_addr_npi", FK_U8, 0, OFF(source_addr_npi), 0},
    [F_SOURCE_ADDR21]  = {"source_addr", FK_CSTR, 21, OFF(source_addr), ESME_RINVSRCADR},
    [F_SOURCE_ADDR65]  = {"source_addr", FK_CSTR, 65, OFF(source_addr), ESME_RINVSRCADR},
    [F_DEST_ADDR_TON]  = {"dest_addr_ton", FK_U8, 0, OFF(dest_addr_ton), 0},
    [F_DEST_ADDR_NPI]  = {"dest_addr_npi", FK_U8, 0, OFF(dest_addr_npi), 0},
    [F_DESTINATION_ADDR21] = {"destination_addr", FK_CSTR, 21, OFF(destination_addr), ESME_RINVDSTADR},
    [F_DESTINATION_ADDR65] = {"destination_addr", FK_CSTR, 65, OFF(destination_addr), ESME_RINVDSTADR},
    [F_ESME_ADDR_TON]  = {"esme_addr_ton", FK_U8, 0, OFF(dest_addr_ton), 0},
    [F_ESME_ADDR_NPI]  = {"esme_addr_npi", FK_U8, 0, OFF(dest_addr_npi), 0},
    [F_ESME_ADDR]      = {"esme_addr", FK_CSTR, 65, OFF(destination_addr), ESME_RINVDSTADR},
    [F_ESM_CLASS]      = {"esm_class", FK_U8, 0, OFF(esm_class), 0},
    [F_PROTOCOL_ID]    = {"protocol_id", FK_U8, 0, OFF(protocol_id), 0},
    [F_PRIORITY_FLAG]  = {"priority_flag", FK_U8, 0, OFF(priority_flag), 0},
    [F_SCHEDULE_DELIVERY_TIME] = {"schedule_delivery_time", FK_CSTR, 17, OFF(schedule_delivery_time), ESME_RINVSCHED},
    [F_VALIDITY_PERIOD] = {"validity_period", FK_CSTR, 17, OFF(validity_period), ESME_RINVEXPIRY},
    [F_REGISTERED_DELIVERY] = {"registered_delivery", FK_U8, 0, OFF(registered_delivery), 0},
    [F_REPLACE_IF_PRESENT_FLAG] = {"replace_if_present_flag", FK_U8, 0, OFF(replace_if_present_flag), 0},
    [F_DATA_CODING]    = {"data_coding", FK_U8, 0, OFF(data_coding), 0},
    [F_SM_DEFAULT_MSG_ID] = {"sm_default_msg_id", FK_U8, 0, OFF(sm_default_msg_id), 0},
    [F_SHORT_MESSAGE]  = {"short_message", FK_SM, 0, OFF(short_message), ESME_RINVMSGLEN},
    [F_MESSAGE_ID]     = {"message_id", FK_CSTR, 65, OFF(message_id), ESME_RINVMSGID},
    [F_FINAL_DATE]     = {"final_date", FK_CSTR, 17, OFF(final_date), ESME_RINVPARLEN},
    [F_MESSAGE_STATE]  = {"message_state", FK_U8, 0, OFF(message_state), 0},
    [F_ERROR_CODE]     = {"error_code", FK_U8, 0, OFF(error_code), 0},
};

/* ---- command table ---------------------------------------------------- */

#define CF_TLV      0x01   /* optional parameters may follow */
#define CF_DECODE   0x02   /* we decode/encode it (else name only) */

#define MAX_FIELDS  18

struct command_spec {
    uint32_t id;
    const char *name;
    uint8_t flags;
    uint8_t fields[MAX_FIELDS];  /* enum field_id, F_END-terminated */
};

#define BIND_FIELDS {F_SYSTEM_ID, F_PASSWORD, F_SYSTEM_TYPE, F_INTERFACE_VERSION, \
                     F_ADDR_TON, F_ADDR_NPI, F_ADDRESS_RANGE, F_END}
#define SM_FIELDS {F_SERVICE_TYPE, F_SOURCE_ADDR_TON, F_SOURCE_ADDR_NPI, F_SOURCE_ADDR21, \
                   F_DEST_ADDR_TON, F_DEST_ADDR_NPI, F_DESTINATION_ADDR21, F_ESM_CLASS, \
                   F_PROTOCOL_ID, F_PRIORITY_FLAG, F_SCHEDULE_DELIVERY_TIME, \
                   F_VALIDITY_PERIOD, F_REGISTERED_DELIVERY, F_REPLACE_IF_PRESENT_FLAG, \
                   F_DATA_CODING, F_SM_DEFAULT_MSG_ID, F_SHORT_MESSAGE, F_END}
#define NO_FIELDS {F_END}

static const struct command_spec commands[] = {
    {SMPP_GENERIC_NACK, "generic_nack", CF_DECODE, NO_FIELDS},
    {SMPP_BIND_RECEIVER, "bind_receiver", CF_DECODE, BIND_FIELDS},
    {SMPP_BIND_RECEIVER_RESP, "bind_receiver_resp", CF_DECODE | CF_TLV, {F_SYSTEM_ID, F_END}},
    {SMPP_BIND_TRANSMITTER, "bind_transmitter", CF_DECODE, BIND_FIELDS},
    {SMPP_BIND_TRANSMITTER_RESP, "bind_transmitter_resp", CF_DECODE | CF_TLV, {F_SYSTEM_ID, F_END}},
    {SMPP_QUERY_SM, "query_sm", CF_DECODE,
     {F_MESSAGE_ID, F_SOURCE_ADDR_TON, F_SOURCE_ADDR_NPI, F_SOURCE_ADDR21, F_END}},
    {SMPP_QUERY_SM_RESP, "query_sm_resp", CF_DECODE,
     {F_MESSAGE_ID, F_FINAL_DATE, F_MESSAGE_STATE, F_ERROR_CODE, F_END}},
    {SMPP_SUBMIT_SM, "submit_sm", CF_DECODE | CF_TLV, SM_FIELDS},
    {SMPP_SUBMIT_SM_RESP, "submit_sm_resp", CF_DECODE | CF_TLV, {F_MESSAGE_ID, F_END}},
    {SMPP_DELIVER_SM, "deliver_sm", CF_DECODE | CF_TLV, SM_FIELDS},
    {SMPP_DELIVER_SM_RESP, "deliver_sm_resp", CF_DECODE | CF_TLV, {F_MESSAGE_ID, F_END}},
    {SMPP_UNBIND, "unbind", CF_DECODE, NO_FIELDS},
    {SMPP_UNBIND_RESP, "unbind_resp", CF_DECODE, NO_FIELDS},
    {SMPP_REPLACE_SM, "replace_sm", CF_DECODE,
     {F_MESSAGE_ID, F_SOURCE_ADDR_TON, F_SOURCE_ADDR_NPI, F_SOURCE_ADDR21,
      F_SCHEDULE_DELIVERY_TIME, F_VALIDITY_PERIOD, F_REGISTERED_DELIVERY,
      F_SM_DEFAULT_MSG_ID, F_SHORT_MESSAGE, F_END}},
    {SMPP_REPLACE_SM_RESP, "replace_sm_resp", CF_DECODE, NO_FIELDS},
    {SMPP_CANCEL_SM, "cancel_sm", CF_DECODE,
     {F_SERVICE_TYPE, F_MESSAGE_ID, F_SOURCE_ADDR_TON, F_SOURCE_ADDR_NPI,
      F_SOURCE_ADDR21, F_DEST_ADDR_TON, F_DEST_ADDR_NPI, F_DESTINATION_ADDR21, F_END}},
    {SMPP_CANCEL_SM_RESP, "cancel_sm_resp", CF_DECODE, NO_FIELDS},
    {SMPP_BIND_TRANSCEIVER, "bind_transceiver", CF_DECODE, BIND_FIELDS},
    {SMPP_BIND_TRANSCEIVER_RESP, "bind_transceiver_resp", CF_DECODE | CF_TLV, {F_SYSTEM_ID, F_END}},
    {SMPP_OUTBIND, "outbind", CF_DECODE, {F_SYSTEM_ID, F_PASSWORD, F_END}},
    {SMPP_ENQUIRE_LINK, "enquire_link", CF_DECODE, NO_FIELDS},
    {SMPP_ENQUIRE_LINK_RESP, "enquire_link_resp", CF_DECODE, NO_FIELDS},
    {SMPP_SUBMIT_MULTI, "submit_multi", 0, NO_FIELDS},
    {SMPP_SUBMIT_MULTI_RESP, "submit_multi_resp", 0, NO_FIELDS},
    {SMPP_ALERT_NOTIFICATION, "alert_notification", CF_DECODE | CF_TLV,
     {F_SOURCE_ADDR_TON, F_SOURCE_ADDR_NPI, F_SOURCE_ADDR65, F_ESME_ADDR_TON,
      F_ESME_ADDR_NPI, F_ESME_ADDR, F_END}},
    {SMPP_DATA_SM, "data_sm", CF_DECODE | CF_TLV,
     {F_SERVICE_TYPE, F_SOURCE_ADDR_TON, F_SOURCE_ADDR_NPI, F_SOURCE_ADDR65,
      F_DEST_ADDR_TON, F_DEST_ADDR_NPI, F_DESTINATION_ADDR65, F_ESM_CLASS,
      F_REGISTERED_DELIVERY, F_DATA_CODING, F_END}},
    {SMPP_DATA_SM_RESP, "data_sm_resp", CF_DECODE | CF_TLV, {F_MESSAGE_ID, F_END}},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Command lookup: request ids are 1..9, 0x0B, 0x15, 0x21, 0x102, 0x103;
 * a small direct index keeps the hot path free of a search. */
static const struct command_spec *find_command(uint32_t id)
{
    uint32_t low = id & 0x7FFFFFFFu;
    int resp = (id & 0x80000000u) != 0;
    size_t i;
    switch (low) {
    case 0x00: i = 0; break;                     /* generic_nack only as resp */
    case 0x01: case 0x02: case 0x03: case 0x04: case 0x05:
        i = 1 + (low - 1) * 2 + (size_t)resp; break;
    case 0x06: i = 11 + (size_t)resp; break;
    case 0x07: i = 13 + (size_t)resp; break;
    case 0x08: i = 15 + (size_t)resp; break;
    case 0x09: i = 17 + (size_t)resp; break;
    case 0x0B: i = 19; break;
    case 0x15: i = 20 + (size_t)resp; break;
    case 0x21: i = 22 + (size_t)resp; break;
    case 0x102: i = 24; break;
    case 0x103: i = 25 + (size_t)resp; break;
    default: return NULL;
    }
    return commands[i].id == id ? &commands[i] : NULL;
}

/* ---- TLV table -------------------------------------------------------- */

struct tlv_spec {
    uint16_t tag;
    uint16_t min, max;           /* allowed value length, inclusive */
    const char *name;
};

/* Sorted by tag (binary search).  Lengths from SMPP 3.4 §5.3.2. */
static const struct tlv_spec tlv_specs[] = {
    {SMPP_TLV_DEST_ADDR_SUBUNIT, 1, 1, "dest_addr_subunit"},
    {SMPP_TLV_DEST_NETWORK_TYPE, 1, 1, "dest_network_type"},
    {SMPP_TLV_DEST_BEARER_TYPE, 1, 1, "dest_bearer_type"},
    {SMPP_TLV_DEST_TELEMATICS_ID, 2, 2, "dest_telematics_id"},
    {SMPP_TLV_SOURCE_ADDR_SUBUNIT, 1, 1, "source_addr_subunit"},
    {SMPP_TLV_SOURCE_NETWORK_TYPE, 1, 1, "source_network_type"},
    {SMPP_TLV_SOURCE_BEARER_TYPE, 1, 1, "source_bearer_type"},
    {SMPP_TLV_SOURCE_TELEMATICS_ID, 1, 1, "source_telematics_id"},
    {SMPP_TLV_QOS_TIME_TO_LIVE, 4, 4, "qos_time_to_live"},
    {SMPP_TLV_PAYLOAD_TYPE, 1, 1, "payload_type"},
    {SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT, 1, 256, "additional_status_info_text"},
    {SMPP_TLV_RECEIPTED_MESSAGE_ID, 1, 65, "receipted_message_id"},
    {SMPP_TLV_MS_MSG_WAIT_FACILITIES, 1, 1, "ms_msg_wait_facilities"},
    {SMPP_TLV_PRIVACY_INDICATOR, 1, 1, "privacy_indicator"},
    {SMPP_TLV_SOURCE_SUBADDRESS, 2, 23, "source_subaddress"},
    {SMPP_TLV_DEST_SUBADDRESS, 2, 23, "dest_subaddress"},
    {SMPP_TLV_USER_MESSAGE_REFERENCE, 2, 2, "user_message_reference"},
    {SMPP_TLV_USER_RESPONSE_CODE, 1, 1, "user_response_code"},
    {SMPP_TLV_SOURCE_PORT, 2, 2, "source_port"},
    {SMPP_TLV_DESTINATION_PORT, 2, 2, "destination_port"},
    {SMPP_TLV_SAR_MSG_REF_NUM, 2, 2, "sar_msg_ref_num"},
    {SMPP_TLV_LANGUAGE_INDICATOR, 1, 1, "language_indicator"},
    {SMPP_TLV_SAR_TOTAL_SEGMENTS, 1, 1, "sar_total_segments"},
    {SMPP_TLV_SAR_SEGMENT_SEQNUM, 1, 1, "sar_segment_seqnum"},
    {SMPP_TLV_SC_INTERFACE_VERSION, 1, 1, "sc_interface_version"},
    {SMPP_TLV_CALLBACK_NUM_PRES_IND, 1, 1, "callback_num_pres_ind"},
    {SMPP_TLV_CALLBACK_NUM_ATAG, 0, 65, "callback_num_atag"},
    {SMPP_TLV_NUMBER_OF_MESSAGES, 1, 1, "number_of_messages"},
    {SMPP_TLV_CALLBACK_NUM, 4, 19, "callback_num"},
    {SMPP_TLV_DPF_RESULT, 1, 1, "dpf_result"},
    {SMPP_TLV_SET_DPF, 1, 1, "set_dpf"},
    {SMPP_TLV_MS_AVAILABILITY_STATUS, 1, 1, "ms_availability_status"},
    {SMPP_TLV_NETWORK_ERROR_CODE, 3, 3, "network_error_code"},
    {SMPP_TLV_MESSAGE_PAYLOAD, 0, 0xFFFF, "message_payload"},
    {SMPP_TLV_DELIVERY_FAILURE_REASON, 1, 1, "delivery_failure_reason"},
    {SMPP_TLV_MORE_MESSAGES_TO_SEND, 1, 1, "more_messages_to_send"},
    {SMPP_TLV_MESSAGE_STATE, 1, 1, "message_state"},
    {SMPP_TLV_USSD_SERVICE_OP, 1, 1, "ussd_service_op"},
    {SMPP_TLV_DISPLAY_TIME, 1, 1, "display_time"},
    {SMPP_TLV_SMS_SIGNAL, 2, 2, "sms_signal"},
    {SMPP_TLV_MS_VALIDITY, 1, 1, "ms_validity"},
    {SMPP_TLV_ALERT_ON_MESSAGE_DELIVERY, 0, 0, "alert_on_message_delivery"},
    {SMPP_TLV_ITS_REPLY_TYPE, 1, 1, "its_reply_type"},
    {SMPP_TLV_ITS_SESSION_INFO, 2, 2, "its_session_info"},
};

#define N_TLV_SPECS (sizeof tlv_specs / sizeof tlv_specs[0])

static const struct tlv_spec *find_tlv_spec(uint16_t tag)
{
    size_t lo = 0, hi = N_TLV_SPECS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tlv_specs[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < N_TLV_SPECS && tlv_specs[lo].tag == tag ? &tlv_specs[lo] : NULL;
}

/* ---- helpers ---------------------------------------------------------- */

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Fill *err; always returns -1 so callers can `return fail(...)`. */
__attribute__((format(printf, 3, 4)))
static int fail(struct smpp_err *err, uint32_t status, const char *fmt, ...);

static int fail(struct smpp_err *err, uint32_t status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = status;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static inline const char **cstr_slot(struct smpp_pdu *pdu, const struct field_spec *f)
{
    return (const char **)(void *)((char *)pdu + f->off);
}

static inline uint8_t *u8_slot(struct smpp_pdu *pdu, const struct field_spec *f)
{
    return (uint8_t *)pdu + f->off;
}

/* ---- public: small things --------------------------------------------- */

uint32_t smpp_pdu_peek_length(const uint8_t *buf, size_t avail)
{
    return avail < 4 ? 0 : get32(buf);
}

int smpp_length_ok(uint32_t len, uint32_t max)
{
    if (max == 0)
        max = SMPP_DEFAULT_MAX_LEN;
    return len >= SMPP_HEADER_LEN && len <= max;
}

void smpp_pdu_reset(struct smpp_pdu *pdu, uint32_t command_id, uint32_t status,
                   uint32_t seq)
{
    memset(pdu, 0, sizeof *pdu);
    pdu->command_id = command_id;
    pdu->command_status = status;
    pdu->sequence_number = seq;
}

const char *smpp_command_name(uint32_t command_id)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].id == command_id)
            return commands[i].name;
    return "unknown";
}

const char *smpp_status_name(uint32_t status)
{
    static const struct { uint32_t v; const char *n; } names[] = {
#define S(x) {x, #x}
        S(ESME_ROK), S(ESME_RINVMSGLEN), S(ESME_RINVCMDLEN), S(ESME_RINVCMDID),
        S(ESME_RINVBNDSTS), S(ESME_RALYBND), S(ESME_RINVPRTFLG),
        S(ESME_RINVREGDLVFLG), S(ESME_RSYSERR), S(ESME_RINVSRCADR),
        S(ESME_RINVDSTADR), S(ESME_RINVMSGID), S(ESME_RBINDFAIL),
        S(ESME_RINVPASWD), S(ESME_RINVSYSID), S(ESME_RCANCELFAIL),
        S(ESME_RREPLACEFAIL), S(ESME_RMSGQFUL), S(ESME_RINVSERTYP),
        S(ESME_RINVESMCLASS), S(ESME_RSUBMITFAIL), S(ESME_RINVSRCTON),
        S(ESME_RINVSRCNPI), S(ESME_RINVDSTTON), S(ESME_RINVDSTNPI),
        S(ESME_RINVSYSTYP), S(ESME_RINVREPFLAG), S(ESME_RINVNUMMSGS),
        S(ESME_RTHROTTLED), S(ESME_RINVSCHED), S(ESME_RINVEXPIRY),
        S(ESME_RINVDFTMSGID), S(ESME_RX_T_APPN), S(ESME_RX_P_APPN),
        S(ESME_RX_R_APPN), S(ESME_RQUERYFAIL), S(ESME_RINVOPTPARSTREAM),
        S(ESME_ROPTPARNOTALLWD), S(ESME_RINVPARLEN), S(ESME_RMISSINGOPTPARAM),
        S(ESME_RINVOPTPARAMVAL), S(ESME_RDELIVERYFAILURE), S(ESME_RUNKNOWNERR),
#undef S
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].v == status)
            return names[i].n;
    return NULL;
}

const char *smpp_tlv_name(uint16_t tag)
{
    const struct tlv_spec *s = find_tlv_spec(tag);
    return s ? s->name : NULL;
}

uint32_t smpp_resp_id(uint32_t command_id)
{
    if (SMPP_IS_RESP(command_id))
        return SMPP_GENERIC_NACK;
    const struct command_spec *c = find_command(command_id | 0x80000000u);
    return c ? c->id : SMPP_GENERIC_NACK;
}

const struct smpp_tlv *smpp_tlv_find(const struct smpp_pdu *pdu, uint16_t tag)
{
    for (unsigned i = 0; i < pdu->tlv_count; i++)
        if (pdu->tlv[i].tag == tag)
            return &pdu->tlv[i];
    return NULL;
}

int64_t smpp_tlv_uint(const struct smpp_pdu *pdu, uint16_t tag)
{
    const struct smpp_tlv *t = smpp_tlv_find(pdu, tag);
    if (!t || !t->val)
        return -1;
    switch (t->len) {
    case 1: return t->val[0];
    case 2: return (int64_t)t->val[0] << 8 | t->val[1];
    case 4: return (int64_t)get32(t->val);
    default: return -1;
    }
}

/* ---- the message inside a PDU ------------------------------------------ */

const uint8_t *smpp_pdu_body(const struct smpp_pdu *pdu, size_t *len)
{
    if (pdu->sm_length > 0 && pdu->short_message) {
        *len = pdu->sm_length;
        return pdu->short_message;
    }
    const struct smpp_tlv *t = smpp_tlv_find(pdu, SMPP_TLV_MESSAGE_PAYLOAD);
    if (t && t->val && t->len > 0) {
        *len = t->len;
        return t->val;
    }
    *len = 0;
    return (const uint8_t *)"";
}

int smpp_udh_concat(const uint8_t *body, size_t len, struct smpp_concat *out)
{
    memset(out, 0, sizeof *out);
    out->text = body ? body : (const uint8_t *)"";
    if (!body || len == 0)
        return -1;
    size_t hdr = (size_t)body[0] + 1;
    int rc = 0;
    if (hdr > len) {
        hdr = len;
        rc = -1;
    }
    /* each IE is IEI, IEL, IEL octets; a lone octet after the last IE
     * (no room for an IEL) is ignored */
    for (size_t i = 1; i + 2 <= hdr;) {
        uint8_t iei = body[i], iel = body[i + 1];
        if (i + 2 + iel > hdr) {
            rc = -1;
            break;
        }
        const uint8_t *v = body + i + 2;
        if (iei == 0x00 && iel == 3) {
            out->ref = v[0];
            out->total = v[1];
            out->seq = v[2];
        } else if (iei == 0x08 && iel == 4) {
            out->ref = (unsigned)v[0] << 8 | v[1];
            out->total = v[2];
            out->seq = v[3];
        }
        i += 2 + (size_t)iel;
    }
    out->udh_len = hdr;
    out->text = body + hdr;
    out->len = len - hdr;
    return rc;
}

int smpp_pdu_concat(const struct smpp_pdu *pdu, struct smpp_concat *out)
{
    size_t len;
    const uint8_t *body = smpp_pdu_body(pdu, &len);
    if ((pdu->esm_class & SMPP_ESM_UDHI) && len > 0)
        return smpp_udh_concat(body, len, out);
    memset(out, 0, sizeof *out);
    out->text = body;
    out->len = len;
    int64_t tot = smpp_tlv_uint(pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS);
    int64_t seq = smpp_tlv_uint(pdu, SMPP_TLV_SAR_SEGMENT_SEQNUM);
    if (tot > 0 && seq > 0) {
        int64_t ref = smpp_tlv_uint(pdu, SMPP_TLV_SAR_MSG_REF_NUM);
        out->total = (unsigned)tot;
        out->seq = (unsigned)seq;
        out->ref = ref > 0 ? (unsigned)ref : 0;
    }
    return 0;
}

/* The slot for `tag`: the existing one, or a new one at the end; NULL
 * when full. */
static struct smpp_tlv *tlv_slot(struct smpp_pdu *pdu, uint16_t tag)
{
    for (unsigned i = 0; i < pdu->tlv_count; i++)
        if (pdu->tlv[i].tag == tag)
            return &pdu->tlv[i];
    if (pdu->tlv_count >= SMPP_MAX_TLVS)
        return NULL;
    struct smpp_tlv *t = &pdu->tlv[pdu->tlv_count++];
    t->tag = tag;
    return t;
}

int smpp_pdu_set_bytes(struct smpp_pdu *pdu, uint16_t tag, const void *val,
                       uint16_t len)
{
    struct smpp_tlv *t = tlv_slot(pdu, tag);
    if (!t)
        return -1;
    t->len = len;
    t->val = val;
    return 0;
}

static int set_inline(struct smpp_pdu *pdu, uint16_t tag, const uint8_t *v,
                      uint16_t len)
{
    struct smpp_tlv *t = tlv_slot(pdu, tag);
    if (!t || len > sizeof t->inl)
        return -1;
    memcpy(t->inl, v, len);
    t->len = len;
    t->val = t->inl;
    return 0;
}

int smpp_pdu_set_u8(struct smpp_pdu *pdu, uint16_t tag, uint8_t v)
{
    return set_inline(pdu, tag, &v, 1);
}

int smpp_pdu_set_u16(struct smpp_pdu *pdu, uint16_t tag, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return set_inline(pdu, tag, b, 2);
}

/* ---- decode ----------------------------------------------------------- */

/* Fields a decode may set: everything from system_id up to tlv_count.
 * tlv[] beyond tlv_count is left as it was (not read by anyone). */
#define BODY_START offsetof(struct smpp_pdu, system_id)
#define BODY_END   offsetof(struct smpp_pdu, tlv)

int smpp_pdu_decode(struct smpp_pdu *out, const uint8_t *buf, size_t len,
                    const struct smpp_limits *lim, struct smpp_err *err)
{
    uint32_t max = lim && lim->max_len ? lim->max_len : SMPP_DEFAULT_MAX_LEN;

    memset((char *)out + BODY_START, 0, BODY_END - BODY_START);
    out->command_length = 0;
    out->command_id = 0;
    out->command_status = 0;
    out->sequence_number = 0;

    if (len < SMPP_HEADER_LEN) {
        if (len >= 4)
            out->command_length = get32(buf);
        return fail(err, ESME_RINVCMDLEN, "PDU of %zu octets is shorter than the 16-octet header", len);
    }
    uint32_t clen = get32(buf);
    out->command_length = clen;
    out->command_id = get32(buf + 4);
    out->command_status = get32(buf + 8);
    out->sequence_number = get32(buf + 12);

    if (clen < SMPP_HEADER_LEN || clen > max)
        return fail(err, ESME_RINVCMDLEN, "command_length %u outside [16, %u]", clen, max);
    if (clen != len)
        return fail(err, ESME_RINVCMDLEN, "command_length %u but %zu octets given", clen, len);

    const struct command_spec *cmd = find_command(out->command_id);
    if (!cmd || !(cmd->flags & CF_DECODE))
        return fail(err, ESME_RINVCMDID, "command_id 0x%08x not supported", out->command_id);

    const uint8_t *p = buf + SMPP_HEADER_LEN;
    const uint8_t *end = buf + len;

    if (p == end && SMPP_IS_RESP(cmd->id) && out->command_status != ESME_ROK
        && cmd->fields[0] != F_END) {
        /* SMPP lets an error response omit its body: the fields read as
         * empty strings / zero, never NULL. */
        for (const uint8_t *fi = cmd->fields; *fi != F_END; fi++) {
            const struct field_spec *f = &field_specs[*fi];
            if (f->kind == FK_CSTR)
                *cstr_slot(out, f) = "";
        }
        return 0;
    }

    for (const uint8_t *fi = cmd->fields; *fi != F_END; fi++) {
        const struct field_spec *f = &field_specs[*fi];
        size_t left = (size_t)(end - p);
        switch (f->kind) {
        case FK_U8:
            if (left < 1)
                return fail(err, ESME_RINVCMDLEN, "%s: PDU ends early", f->name);
            *u8_slot(out, f) = *p++;
            break;
        case FK_CSTR: {
            /* C-strings are short (max 65): a plain loop beats a libc call */
            size_t lim_n = left < f->max ? left : f->max, k = 0;
            while (k < lim_n && p[k] != 0)
                k++;
            if (k == lim_n) {
                if (left < f->max)
                    return fail(err, ESME_RINVCMDLEN, "%s: no NUL before end of PDU", f->name);
                return fail(err, f->status, "%s: no NUL within %u octets", f->name, f->max);
            }
            *cstr_slot(out, f) = (const char *)p;
            p += k + 1;
            break;
        }
        case FK_SM: {
            if (left < 1)
                return fail(err, ESME_RINVCMDLEN, "sm_length: PDU ends early");
            uint8_t n = *p++;
            if (n > SMPP_SM_MAX)
                return fail(err, ESME_RINVMSGLEN, "sm_length %u > %u", n, SMPP_SM_MAX);
            if (n > left - 1)
                return fail(err, ESME_RINVMSGLEN, "sm_length %u but %zu octets left", n, left - 1);
            out->sm_length = n;
            out->short_message = n ? p : NULL;
            p += n;
            break;
        }
        }
    }

    if (p == end)
        return 0;
    if (!(cmd->flags & CF_TLV))
        return fail(err, ESME_RINVCMDLEN, "%zu trailing octets after %s", (size_t)(end - p), cmd->name);

    unsigned n = 0;
    while (p < end) {
        size_t left = (size_t)(end - p);
        if (left < 4)
            return fail(err, ESME_RINVOPTPARSTREAM, "TLV header truncated (%zu octets left)", left);
        uint16_t tag = (uint16_t)(p[0] << 8 | p[1]);
        uint16_t tlen = (uint16_t)(p[2] << 8 | p[3]);
        if (tlen > left - 4)
            return fail(err, ESME_RINVOPTPARSTREAM, "TLV 0x%04x: length %u overruns PDU by %zu",
                        tag, tlen, tlen - (left - 4));
        const struct tlv_spec *s = find_tlv_spec(tag);
        if (s && (tlen < s->min || tlen > s->max))
            return fail(err, ESME_RINVPARLEN, "%s: length %u not in [%u, %u]", s->name, tlen,
                        s->min, s->max);
        if (n >= SMPP_MAX_TLVS)
            return fail(err, ESME_RINVOPTPARSTREAM, "more than %d TLVs", SMPP_MAX_TLVS);
        struct smpp_tlv *t = &out->tlv[n++];
        t->tag = tag;
        t->len = tlen;
        t->val = p + 4;
        p += 4 + (size_t)tlen;
        out->tlv_count = (uint8_t)n;
    }
    return 0;
}

/* ---- encode ----------------------------------------------------------- */

int smpp_pdu_encode(struct smpp_pdu *pdu, uint8_t *buf, size_t cap,
                    struct smpp_err *err)
{
    const struct command_spec *cmd = find_command(pdu->command_id);
    if (!cmd || !(cmd->flags & CF_DECODE))
        return fail(err, ESME_RINVCMDID, "command_id 0x%08x not supported", pdu->command_id);
    if (cap < SMPP_HEADER_LEN)
        return fail(err, ESME_RSYSERR, "buffer of %zu octets too small", cap);

    uint8_t *p = buf + SMPP_HEADER_LEN;
    uint8_t *end = buf + cap;

    for (const uint8_t *fi = cmd->fields; *fi != F_END; fi++) {
        const struct field_spec *f = &field_specs[*fi];
        switch (f->kind) {
        case FK_U8:
            if (p >= end)
                goto small;
            *p++ = *u8_slot(pdu, f);
            break;
        case FK_CSTR: {
            const char *s = *cstr_slot(pdu, f);
            size_t n = 0;
            if (s) {
                while (n < f->max && s[n] != 0)
                    n++;
                if (n >= f->max)
                    return fail(err, f->status, "%s: longer than %u octets", f->name, f->max - 1);
            }
            if ((size_t)(end - p) < n + 1)
                goto small;
            if (n)
                memcpy(p, s, n);
            p[n] = 0;
            p += n + 1;
            break;
        }
        case FK_SM:
            if (pdu->sm_length > SMPP_SM_MAX)
                return fail(err, ESME_RINVMSGLEN, "sm_length %u > %u", pdu->sm_length, SMPP_SM_MAX);
            if (pdu->sm_length && !pdu->short_message)
                return fail(err, ESME_RINVMSGLEN, "short_message: NULL with sm_length %u",
                            pdu->sm_length);
            if ((size_t)(end - p) < 1u + pdu->sm_length)
                goto small;
            *p++ = pdu->sm_length;
            if (pdu->sm_length)
                memcpy(p, pdu->short_message, pdu->sm_length);
            p += pdu->sm_length;
            break;
        }
    }

    if (pdu->tlv_count > SMPP_MAX_TLVS)
        return fail(err, ESME_RINVOPTPARSTREAM, "tlv_count %u > %d", pdu->tlv_count, SMPP_MAX_TLVS);
    if (pdu->tlv_count && !(cmd->flags & CF_TLV))
        return fail(err, ESME_ROPTPARNOTALLWD, "%s takes no TLVs", cmd->name);
    for (unsigned i = 0; i < pdu->tlv_count; i++) {
        const struct smpp_tlv *t = &pdu->tlv[i];
        const struct tlv_spec *s = find_tlv_spec(t->tag);
        if (s && (t->len < s->min || t->len > s->max))
            return fail(err, ESME_RINVPARLEN, "%s: length %u not in [%u, %u]", s->name, t->len,
                        s->min, s->max);
        if (t->len && !t->val)
            return fail(err, ESME_RINVOPTPARAMVAL, "TLV 0x%04x: NULL value", t->tag);
        if ((size_t)(end - p) < 4u + t->len)
            goto small;
        p[0] = (uint8_t)(t->tag >> 8);
        p[1] = (uint8_t)t->tag;
        p[2] = (uint8_t)(t->len >> 8);
        p[3] = (uint8_t)t->len;
        if (t->len)
            memcpy(p + 4, t->val, t->len);
        p += 4 + (size_t)t->len;
    }

    size_t total = (size_t)(p - buf);
    if (total > 0x7FFFFFFF)
        goto small;
    pdu->command_length = (uint32_t)total;
    put32(buf, (uint32_t)total);
    put32(buf + 4, pdu->command_id);
    put32(buf + 8, pdu->command_status);
    put32(buf + 12, pdu->sequence_number);
    return (int)total;

small:
    return fail(err, ESME_RSYSERR, "buffer of %zu octets too small for %s", cap, cmd->name);
}
