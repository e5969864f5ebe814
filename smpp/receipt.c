/*
 * smpp/receipt.c — delivery receipts: text (SMPP 3.4 Appendix B) and TLVs.
 * See receipt.h for the contract.
 *
 * Design: one pass over the text, word by word.  A word that starts with a
 * known key and a ':' (match_key: case-insensitive; in a key, ' ' matches
 * one space, one '_' or nothing, so "submit date:", "submit_date:" and
 * "submitdate:" all read) takes its value up to the next space; "text:"
 * ends the scan (the rest is the message's first characters, which may
 * look like fields); any other word is skipped.  The first id wins.  Each
 * value is checked for size before it is copied.  smpp_receipt_read then
 * lays the TLVs over what the text said.
 *
 * Owns: nothing.  May call: smpp/pdu, libc.  No I/O, no allocation.
 */
#include "smpp/receipt.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'a' && x <= 'z')
            x = (char)(x - 32);
        if (y >= 'a' && y <= 'z')
            y = (char)(y - 32);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0;
}

static uint8_t upc(uint8_t c)
{
    return c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
}

/* When text[i..) starts with key (case-insensitive; in key, ' ' matches
 * one space, '_' or nothing) followed by ':', return the offset after the
 * ':', else 0. */
static size_t match_key(const uint8_t *t, size_t len, size_t i, const char *key)
{
    for (const char *k = key; *k; k++) {
        if (*k == ' ') {
            if (i < len && (t[i] == ' ' || t[i] == '_'))
                i++;
            continue;
        }
        if (i >= len || upc(t[i]) != upc((uint8_t)*k))
            return 0;
        i++;
    }
    return i < len && t[i] == ':' ? i + 1 : 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* YYMMDDhhmm or YYMMDDhhmmss -> Unix seconds (UTC, 20YY); 0 when not. */
static int64_t parse_date(const uint8_t *v, size_t n)
{
    if (n != 10 && n != 12)
        return 0;
    int f[6] = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        f[i / 2] = f[i / 2] * 10 + (v[i] - '0');
    }
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 ||
        f[4] > 59 || f[5] > 59)
        return 0;
    int64_t days = days_from_civil(2000 + f[0], f[1], f[2]);
    return days * 86400 + f[3] * 3600 + f[4] * 60 + f[5];
}

/* A small non-negative number: decimal, or hex with 0x or hex letters;
 * -1 when not a number or too big. */
static int parse_num(const uint8_t *v, size_t n)
{
    int base = 10;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        v += 2;
        n -= 2;
    } else {
        for (size_t i = 0; i < n; i++)
            if ((v[i] >= 'a' && v[i] <= 'f') || (v[i] >= 'A' && v[i] <= 'F'))
                base = 16;
    }
    if (n == 0 || n > 9)
        return -1;
    int64_t x = 0;              /* 9 digits fit; INT_MAX is checked below */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = v[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
        if (d >= base)
            return -1;
        x = x * base + d;
    }
    return x <= INT_MAX ? (int)x : -1;
}

static void receipt_clear(struct smpp_receipt *out)
{
    memset(out, 0, sizeof *out);
    out->state = -1;
    out->sub = -1;
    out->dlvrd = -1;
}

int smpp_receipt_stat_state(const char *stat)
{
    static const struct { const char *w; int st; } tab[] = {
        { "DELIVRD", SMPP_STATE_DELIVERED }, { "DELIVERED", SMPP_STATE_DELIVERED },
        { "EXPIRED", SMPP_STATE_EXPIRED },
        { "DELETED", SMPP_STATE_DELETED },
        { "UNDELIV", SMPP_STATE_UNDELIVERABLE },
        { "UNDELIVERABLE", SMPP_STATE_UNDELIVERABLE },
        { "REJECTD", SMPP_STATE_REJECTED }, { "REJECTED", SMPP_STATE_REJECTED },
        { "ACCEPTD", SMPP_STATE_ACCEPTED }, { "ACCEPTED", SMPP_STATE_ACCEPTED },
        { "ENROUTE", SMPP_STATE_ENROUTE }, { "UNKNOWN", SMPP_STATE_UNKNOWN },
    };
    if (!stat)
        return -1;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (ieq(stat, tab[i].w))
            return tab[i].st;
    return -1;
}

const char *smpp_message_state_name(int state)
{
    static const char *const names[] = { "ENROUTE", "DELIVRD", "EXPIRED",
                                          "DELETED", "UNDELIV", "ACCEPTD",
                                          "UNKNOWN", "REJECTD" };
    return state >= 1 && state <= 8 ? names[state - 1] : NULL;
}

int smpp_receipt_parse(const uint8_t *t, size_t len, struct smpp_receipt *out)
{
    enum { K_ID, K_SUB, K_DLVRD, K_SUBMIT, K_DONE, K_STAT, K_ERR, K_TEXT };
    static const struct { const char *key; int k; } keys[] = {
        { "id", K_ID }, { "sub", K_SUB }, { "dlvrd", K_DLVRD },
        { "submit date", K_SUBMIT }, { "done date", K_DONE },
        { "stat", K_STAT }, { "err", K_ERR }, { "text", K_TEXT },
    };
    receipt_clear(out);
    if (!t)
        return -1;
    bool have_id = false;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(t[i]))
            i++;
        if (i >= len)
            break;
        int k = -1;
        size_t v = 0;
        for (size_t j = 0; j < sizeof keys / sizeof keys[0] && k < 0; j++) {
            v = match_key(t, len, i, keys[j].key);
            if (v)
                k = keys[j].k;
        }
        if (k == K_TEXT)
            break;              /* the rest is the message's first chars */
        if (k < 0) {            /* unknown word: skip it */
            while (i < len && !is_space(t[i]))
                i++;
            continue;
        }
        size_t e = v;
        while (e < len && !is_space(t[e]))
            e++;
        size_t n = e - v;
        const uint8_t *val = t + v;
        switch (k) {
        case K_ID:
            if (!have_id && n > 0 && n < SMPP_RECEIPT_ID_MAX) {
                memcpy(out->id, val, n);
                out->id[n] = '\0';
                have_id = true;
            }
            break;
        case K_SUB:
            out->sub = n <= 4 ? parse_num(val, n) : -1;
            break;
        case K_DLVRD:
            out->dlvrd = n <= 4 ? parse_num(val, n) : -1;
            break;
        case K_SUBMIT:
            out->submit_date = parse_date(val, n);
            break;
        case K_DONE:
            out->done_date = parse_date(val, n);
            break;
        case K_STAT:
            if (n < sizeof out->stat) {
                memcpy(out->stat, val, n);
                out->stat[n] = '\0';
                out->state = smpp_receipt_stat_state(out->stat);
            }
            break;
        case K_ERR: {
            int x = parse_num(val, n);
            out->err = x > 0 ? x : 0;
            break;
        }
        default:
            break;
        }
        i = e;
    }
    return have_id ? 0 : -1;
}

int smpp_receipt_read(const struct smpp_pdu *p, struct smpp_receipt *out)
{
    receipt_clear(out);
    if (!p)
        return -1;
    size_t len;
    const uint8_t *text = smpp_pdu_body(p, &len);
    int have = smpp_receipt_parse(text, len, out) == 0;
    const struct smpp_tlv *rid = smpp_tlv_find(p, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    if (rid && rid->val) {
        size_t n = 0;
        while (n < rid->len && rid->val[n] != 0)
            n++;
        if (n > 0 && n < SMPP_RECEIPT_ID_MAX) {
            memcpy(out->id, rid->val, n);
            out->id[n] = '\0';
            have = 1;
        }
    }
    int64_t ms = smpp_tlv_uint(p, SMPP_TLV_MESSAGE_STATE);
    if (ms >= 0) {
        out->state = ms <= INT_MAX ? (int)ms : -1;
        out->state_tlv = 1;
    }
    const struct smpp_tlv *nec = smpp_tlv_find(p, SMPP_TLV_NETWORK_ERROR_CODE);
    if (nec && nec->len == 3 && nec->val)
        out->err = (nec->val[1] << 8) | nec->val[2];
    return have ? 0 : -1;
}
