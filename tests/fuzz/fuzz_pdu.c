/*
 * tests/fuzz/fuzz_pdu.c — libFuzzer target for the SMPP codec (smpp/pdu.c).
 *
 * For every input: decode it.  On success check that
 *   - every view the decoder produced lies inside the input, and every
 *     C-string view has its NUL inside the input (no read outside it);
 *   - encode(decoded) gives back the input byte for byte (the decoder is
 *     strict, so a valid PDU has exactly one encoding), except for an error
 *     *_resp sent without a body, which re-encodes with empty fields;
 *   - decode(encode(decoded)) has the same fields as the first decode;
 *   - a cap of exactly the input size still accepts it, one less refuses.
 *   - the message readers (smpp_pdu_body, smpp_pdu_concat) return views
 *     inside the input, the UDH and the text adding up to the body.
 * On failure check the error has a status and a text.
 * Any broken property calls abort() so libFuzzer (or replay.c) reports it.
 *
 * Owns: nothing.  May call: smpp/pdu.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/pdu.h"
#include "tests/fuzz/fuzz.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    const uint8_t *q = p;
    check(q >= data && q <= data + size && n <= (size_t)(data + size - q));
}

static void check_cstr(const char *s, const uint8_t *data, size_t size)
{
    if (!s)
        return;
    /* Either the shared "" of an empty error body or a view ending inside. */
    if ((const uint8_t *)s < data || (const uint8_t *)s >= data + size) {
        check(s[0] == 0);
        return;
    }
    check(memchr(s, 0, (size_t)(data + size - (const uint8_t *)s)) != NULL);
}

static const char *norm(const char *s)
{
    return s ? s : "";
}

static int same_str(const char *a, const char *b)
{
    return strcmp(norm(a), norm(b)) == 0;
}

static void check_same(const struct smpp_pdu *a, const struct smpp_pdu *b)
{
    check(a->command_id == b->command_id);
    check(a->command_status == b->command_status);
    check(a->sequence_number == b->sequence_number);
    check(same_str(a->system_id, b->system_id));
    check(same_str(a->password, b->password));
    check(same_str(a->system_type, b->system_type));
    check(a->interface_version == b->interface_version);
    check(a->addr_ton == b->addr_ton && a->addr_npi == b->addr_npi);
    check(same_str(a->address_range, b->address_range));
    check(same_str(a->service_type, b->service_type));
    check(a->source_addr_ton == b->source_addr_ton && a->source_addr_npi == b->source_addr_npi);
    check(same_str(a->source_addr, b->source_addr));
    check(a->dest_addr_ton == b->dest_addr_ton && a->dest_addr_npi == b->dest_addr_npi);
    check(same_str(a->destination_addr, b->destination_addr));
    check(a->esm_class == b->esm_class && a->protocol_id == b->protocol_id);
    check(a->priority_flag == b->priority_flag);
    check(same_str(a->schedule_delivery_time, b->schedule_delivery_time));
    check(same_str(a->validity_period, b->validity_period));
    check(a->registered_delivery == b->registered_delivery);
    check(a->replace_if_present_flag == b->replace_if_present_flag);
    check(a->data_coding == b->data_coding && a->sm_default_msg_id == b->sm_default_msg_id);
    check(a->sm_length == b->sm_length);
    check(a->sm_length == 0 || memcmp(a->short_message, b->short_message, a->sm_length) == 0);
    check(same_str(a->message_id, b->message_id));
    check(same_str(a->final_date, b->final_date));
    check(a->message_state == b->message_state && a->error_code == b->error_code);
    check(a->tlv_count == b->tlv_count);
    for (unsigned i = 0; i < a->tlv_count; i++) {
        check(a->tlv[i].tag == b->tlv[i].tag && a->tlv[i].len == b->tlv[i].len);
        check(a->tlv[i].len == 0 || memcmp(a->tlv[i].val, b->tlv[i].val, a->tlv[i].len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smpp_pdu p;
    struct smpp_err err;
    if (smpp_pdu_decode(&p, data, size, NULL, &err) != 0) {
        check(err.status != ESME_ROK && err.text[0] != 0);
        check(err.status <= 0xFF);
        return 0;
    }

    check(size >= SMPP_HEADER_LEN && p.command_length == size);
    const char *strs[] = {p.system_id, p.password, p.system_type, p.address_range,
                          p.service_type, p.source_addr, p.destination_addr,
                          p.schedule_delivery_time, p.validity_period, p.message_id,
                          p.final_date};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        check_cstr(strs[i], data, size);
    check(p.sm_length <= SMPP_SM_MAX);
    if (p.sm_length)
        check_inside(p.short_message, p.sm_length, data, size);
    check(p.tlv_count <= SMPP_MAX_TLVS);
    for (unsigned i = 0; i < p.tlv_count; i++)
        check_inside(p.tlv[i].val, p.tlv[i].len, data, size);

    /* the message readers only return views inside the input */
    size_t blen = 0;
    const uint8_t *body = smpp_pdu_body(&p, &blen);
    if (blen)
        check_inside(body, blen, data, size);
    struct smpp_concat cc;
    int crc = smpp_pdu_concat(&p, &cc);
    check(crc == 0 || crc == -1);
    check(cc.udh_len + cc.len == blen);
    if (cc.len)
        check_inside(cc.text, cc.len, data, size);

    /* round trip */
    size_t cap = size + 256;
    uint8_t *buf = malloc(cap);
    check(buf != NULL);
    int n = smpp_pdu_encode(&p, buf, cap, &err);
    check(n >= SMPP_HEADER_LEN);
    if ((size_t)n == size)
        check(memcmp(buf, data, size) == 0);
    else
        check(size == SMPP_HEADER_LEN && SMPP_IS_RESP(p.command_id) && p.command_status != 0);

    struct smpp_pdu q;
    check(smpp_pdu_decode(&q, buf, (size_t)n, NULL, &err) == 0);
    check_same(&p, &q);

    /* an encode into a buffer one octet short must fail cleanly */
    check(smpp_pdu_encode(&q, buf, (size_t)n - 1, &err) == -1);
    free(buf);

    /* the configured cap is inclusive */
    struct smpp_limits lim = {(uint32_t)size};
    check(smpp_pdu_decode(&q, data, size, &lim, &err) == 0);
    lim.max_len = (uint32_t)size - 1;
    if (lim.max_len > 0) {
        check(smpp_pdu_decode(&q, data, size, &lim, &err) == -1);
        check(err.status == ESME_RINVCMDLEN);
    }
    return 0;
}
