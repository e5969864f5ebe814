/*
 * tests/diff/diff_kannel.c — differential test: our SMPP codec vs Kannel's.
 *
 * Every input is decoded twice: by smpp_pdu_decode() and by Kannel 1.4.5's
 * smpp_pdu_unpack() (libgw, written by other people, so two bugs of ours
 * cannot cancel out).  Inputs: the files named on the command line (the
 * fuzz corpus tests/fuzz/corpus/pdu) plus GEN_PER_TYPE random-but-valid
 * PDUs of every command type, built with our encoder from a fixed seed.
 *
 * Verdicts:
 *   agree         both accept and every field Kannel exposes (header,
 *                 mandatory fields, the standard SMPP 3.4 TLVs Kannel lists
 *                 for that command) is equal; or both reject.
 *   kannel-loose  we reject, Kannel accepts (it ignores trailing octets,
 *                 over-long strings, sm_length 255, bad TLV sizes ...).
 *                 Counted and printed per reason, not a failure.
 *   kannel-limit  Kannel rejects or mis-reads a PDU we accept because of a
 *                 known deviation of Kannel from SMPP 3.4 (listed in
 *                 known_deviation()).  Counted, not a failure.
 *   Kannel 1.4.5 reads a service_type at the start of replace_sm that
 *   SMPP 3.4 does not have; Kannel is handed replace_sm with an empty one
 *   inserted, so all other fields are still compared.
 *   FAIL          anything else: a field disagreement on a PDU both accept,
 *                 or Kannel refusing a PDU we accept for no known reason.
 * Ends with "N passed, N failed"; exit 1 when anything failed.
 *
 * Our codec's names (smpp_pdu_reset, smpp_pdu_decode, ...) are chosen not
 * to clash with libgw's smpp_pdu_* functions, so both link into one binary.
 *
 * Kannel is not thread-safe for this use and exits from other threads:
 * everything runs on the main thread.  Its log output is silenced.
 * May call: our codec, Kannel libgw/gwlib, libc.
 */
/* The codec is compiled into this file: the generator below reads its
 * private TLV table (find_tlv_spec) to make valid PDUs of every kind. */
#include "smpp/pdu.c"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "tests/diff/kannel.h"


#define GEN_PER_TYPE 400
#define SEED 0x6b797a6dULL

/* ---- comparison context ----------------------------------------------- */

struct cmp {
    const struct smpp_pdu *ours;
    int mismatch;
    char what[200];
};

static void mismatch(struct cmp *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mismatch(struct cmp *c, const char *fmt, ...)
{
    if (c->mismatch++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
}

/* Our field by Kannel's name, from the codec's own field table (pdu.c's
 * field_specs: the names are SMPP 3.4's, as Kannel's are); NULL when we
 * have no such field of that kind. */
static const struct field_spec *our_field(const char *n, enum field_kind kind)
{
    for (size_t i = 0; i < sizeof field_specs / sizeof field_specs[0]; i++)
        if (field_specs[i].kind == kind && strcmp(field_specs[i].name, n) == 0)
            return &field_specs[i];
    return NULL;
}

/* Our integer field by Kannel's name; -1 when we have no such field.  The
 * header and sm_length are not in the field table. */
static long long our_int(const struct smpp_pdu *p, const char *n)
{
    if (strcmp(n, "command_id") == 0)
        return p->command_id;
    if (strcmp(n, "command_status") == 0)
        return p->command_status;
    if (strcmp(n, "sequence_number") == 0)
        return p->sequence_number;
    if (strcmp(n, "sm_length") == 0)
        return p->sm_length;
    const struct field_spec *f = our_field(n, FK_U8);
    return f ? *((const uint8_t *)p + f->off) : -1;
}

/* Our C-string field by Kannel's name; sets *known = 0 when we have none. */
static const char *our_str(const struct smpp_pdu *p, const char *n, int *known)
{
    const struct field_spec *f = our_field(n, FK_CSTR);
    *known = f != NULL;
    if (!f)
        return NULL;
    const char *s = *(const char *const *)(const void *)((const char *)p + f->off);
    return s ? s : "";
}

static void cmp_int(struct cmp *c, const char *name, unsigned long kv)
{
    long long ov = our_int(c->ours, name);
    if (ov < 0)
        mismatch(c, "%s: no such field of ours", name);
    else if ((unsigned long long)ov != (unsigned long long)kv)
        mismatch(c, "%s: ours %lld, kannel %lu", name, ov, kv);
}

static void cmp_str(struct cmp *c, const char *name, Octstr *kv)
{
    int known;
    const char *ov = our_str(c->ours, name, &known);
    if (!known) {
        mismatch(c, "%s: no such field of ours", name);
        return;
    }
    size_t klen = kv ? (size_t)octstr_len(kv) : 0;
    if (strlen(ov) != klen || (klen && memcmp(ov, octstr_get_cstr(kv), klen) != 0))
        mismatch(c, "%s: ours \"%s\", kannel \"%s\"", name, ov, kv ? octstr_get_cstr(kv) : "");
}

static void cmp_oct(struct cmp *c, const char *name, Octstr *kv)
{
    if (strcmp(name, "short_message") != 0) {
        mismatch(c, "%s: no such field of ours", name);
        return;
    }
    size_t klen = kv ? (size_t)octstr_len(kv) : 0;
    if (klen != c->ours->sm_length
        || (klen && memcmp(c->ours->short_message, octstr_get_cstr(kv), klen) != 0))
        mismatch(c, "short_message: ours %u octets, kannel %zu", c->ours->sm_length, klen);
}

/* Kannel keeps the last of repeated TLVs; compare against our last one. */
static const struct smpp_tlv *last_tlv(const struct smpp_pdu *p, uint16_t tag)
{
    const struct smpp_tlv *t = NULL;
    for (unsigned i = 0; i < p->tlv_count; i++)
        if (p->tlv[i].tag == tag)
            t = &p->tlv[i];
    return t;
}

/* Only standard SMPP 3.4 tags are compared: SMPP 5.0 tags are plain
 * unknown TLVs to us (kept, any length), typed fields to Kannel. */
static void cmp_tlv_int(struct cmp *c, const char *name, uint16_t tag, long kv)
{
    if (!smpp_tlv_name(tag))
        return;
    const struct smpp_tlv *t = last_tlv(c->ours, tag);
    if (!t) {
        if (kv != -1)
            mismatch(c, "%s: ours absent, kannel %ld", name, kv);
        return;
    }
    unsigned long v = 0;
    for (unsigned i = 0; i < t->len; i++)
        v = v << 8 | t->val[i];
    if (kv == -1 || (unsigned long)kv != v)
        mismatch(c, "%s: ours %lu, kannel %ld", name, v, kv);
}

static void cmp_tlv_oct(struct cmp *c, const char *name, uint16_t tag, Octstr *kv)
{
    if (!smpp_tlv_name(tag))
        return;
    const struct smpp_tlv *t = last_tlv(c->ours, tag);
    if (!t || !kv) {
        if (t || kv)
            mismatch(c, "%s: ours %s, kannel %s", name, t ? "present" : "absent",
                     kv ? "present" : "absent");
        return;
    }
    if ((size_t)octstr_len(kv) != t->len
        || (t->len && memcmp(t->val, octstr_get_cstr(kv), t->len) != 0))
        mismatch(c, "%s: ours %u octets, kannel %ld differ", name, t->len, octstr_len(kv));
}

static void cmp_tlv_cstr(struct cmp *c, const char *name, uint16_t tag, Octstr *kv)
{
    if (!smpp_tlv_name(tag))
        return;
    const struct smpp_tlv *t = last_tlv(c->ours, tag);
    if (!t) {
        if (kv)
            mismatch(c, "%s: ours absent, kannel present", name);
        return;
    }
    /* value is the text before its NUL (Kannel gives NULL for "") */
    size_t olen = strnlen((const char *)t->val, t->len);
    size_t klen = kv ? (size_t)octstr_len(kv) : 0;
    if (olen != klen || (klen && memcmp(t->val, octstr_get_cstr(kv), klen) != 0))
        mismatch(c, "%s: ours \"%.*s\", kannel \"%s\"", name, (int)olen,
                 (const char *)t->val, kv ? octstr_get_cstr(kv) : "");
}

/* Compare every field Kannel exposes for this command. */
static void compare(struct cmp *c, SMPP_PDU *kp)
{
    if (kp->type != c->ours->command_id) {
        mismatch(c, "command_id: ours 0x%08x, kannel 0x%08lx", c->ours->command_id, kp->type);
        return;
    }
    switch (kp->type) {
#define OPTIONAL_BEGIN
#define OPTIONAL_END
#define TLV_INTEGER(n, octets) cmp_tlv_int(c, #n, SMPP_##n, p->n);
#define TLV_NULTERMINATED(n, max) cmp_tlv_cstr(c, #n, SMPP_##n, p->n);
#define TLV_OCTETS(n, min, max) cmp_tlv_oct(c, #n, SMPP_##n, p->n);
#define INTEGER(n, octets) cmp_int(c, #n, p->n);
#define NULTERMINATED(n, max) cmp_str(c, #n, p->n);
#define OCTETS(n, f) cmp_oct(c, #n, p->n);
#define PDU(name, id, fields) case id: { struct name *p = &kp->u.name; fields } break;
#include "gw/smsc/smpp_pdu.def"
    default:
        mismatch(c, "kannel type 0x%08lx not handled", kp->type);
    }
}

/*
 * Known deviations of Kannel 1.4.5 from SMPP 3.4, for PDUs we accept.
 * Returns a reason, or NULL when none applies (then a disagreement is a
 * real failure).
 */
static const char *known_deviation(const struct smpp_pdu *p, size_t len)
{
    if (len == SMPP_HEADER_LEN && SMPP_IS_RESP(p->command_id) && p->command_status != 0
        && p->command_id == SMPP_QUERY_SM_RESP)
        return "query_sm_resp error without body (Kannel needs message_state)";
    if (p->command_id == SMPP_ALERT_NOTIFICATION && p->source_addr && strlen(p->source_addr) > 21)
        return "alert_notification source_addr > 21 (Kannel max 21, SMPP 3.4 max 65)";
    if (p->command_id == SMPP_DELIVER_SM_RESP && p->message_id && strlen(p->message_id) > 1)
        return "deliver_sm_resp message_id > 1 char (Kannel max 1, SMPP 3.4 max 65)";
    for (unsigned i = 0; i < p->tlv_count; i++) {
        const struct smpp_tlv *t = &p->tlv[i];
        if ((t->tag == SMPP_TLV_RECEIPTED_MESSAGE_ID || t->tag == SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT)
            && (t->len == 0 || t->val[t->len - 1] != 0 || strlen((const char *)t->val) != t->len - 1u))
            return "C-octet TLV without exactly one trailing NUL (Kannel loses its TLV sync)";
    }
    return NULL;
}

/* ---- tallies ---------------------------------------------------------- */

static unsigned n_agree, n_both_reject, n_loose, n_limit, n_fail;
static unsigned loose_by_status[256], loose_other;
#define MAX_REASONS 8
static struct { const char *why; unsigned n; } limits[MAX_REASONS];

static void note_limit(const char *why)
{
    n_limit++;
    for (int i = 0; i < MAX_REASONS; i++) {
        if (limits[i].why == why || !limits[i].why) {
            limits[i].why = why;
            limits[i].n++;
            return;
        }
    }
}

static void check_one(const char *label, const uint8_t *buf, size_t len)
{
    struct smpp_pdu ours;
    struct smpp_err err;
    int ok = smpp_pdu_decode(&ours, buf, len, NULL, &err) == 0;

    SMPP_PDU *kp = NULL;
    /* Kannel's reader refuses these lengths before unpack; so would we. */
    if (len >= 4 && len >= SMPP_HEADER_LEN && get32(buf) == len) {
        Octstr *os = octstr_create_from_data((const char *)buf + 4, (long)len - 4);
        /* Kannel 1.4.5's replace_sm starts with a service_type that SMPP
         * 3.4 §4.10.1 does not have (nor does 5.0); give it an empty one so
         * the remaining fields line up and can still be compared. */
        if (get32(buf + 4) == SMPP_REPLACE_SM)
            octstr_insert_data(os, 12, "", 1);
        kp = smpp_pdu_unpack(NULL, os);
        octstr_destroy(os);
    }

    if (!ok) {
        if (kp) {
            n_loose++;
            if (err.status < 256)
                loose_by_status[err.status]++;
            else
                loose_other++;
        } else {
            n_both_reject++;
        }
    } else if (!kp) {
        const char *why = known_deviation(&ours, len);
        if (why) {
            note_limit(why);
        } else {
            n_fail++;
            printf("FAIL %s: we accept %s, Kannel rejects\n", label,
                   smpp_command_name(ours.command_id));
        }
    } else {
        struct cmp c = {&ours, 0, ""};
        compare(&c, kp);
        if (!c.mismatch) {
            n_agree++;
        } else {
            const char *why = known_deviation(&ours, len);
            if (why) {
                note_limit(why);
            } else {
                n_fail++;
                printf("FAIL %s: %s: %s\n", label, smpp_command_name(ours.command_id), c.what);
            }
        }
    }
    smpp_pdu_destroy(kp);
}

/* ---- corpus files ----------------------------------------------------- */

static int check_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    /* gwlib forbids malloc in files that include it; a static buffer of
     * more than the default cap is enough for any corpus file. */
    static uint8_t buf[SMPP_DEFAULT_MAX_LEN + 4096];
    size_t len = 0, n;
    while (len < sizeof buf && (n = fread(buf + len, 1, sizeof buf - len, f)) > 0)
        len += n;
    fclose(f);
    const char *base = strrchr(path, '/');
    check_one(base ? base + 1 : path, buf, len);
    return 0;
}

static int check_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return check_file(path);
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (check_path(sub) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

/* ---- generated valid PDUs --------------------------------------------- */

static uint64_t rng = SEED;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static unsigned rnd_below(unsigned n)
{
    return n ? rnd() % n : 0;
}

/* A random string of 0..maxlen non-NUL octets, in pool. */
static const char *rnd_str(char **pool, unsigned maxlen)
{
    unsigned n = rnd_below(4) == 0 ? maxlen : rnd_below(maxlen + 1);
    char *s = *pool;
    for (unsigned i = 0; i < n; i++)
        s[i] = (char)(1 + rnd_below(255));
    s[n] = 0;
    *pool += n + 1;
    return s;
}

/* The TLVs a generated PDU may carry: standard ones with a valid length,
 * C-octet ones with their NUL, and vendor tags. */
static void add_random_tlvs(struct smpp_pdu *p, uint8_t **pool)
{
    static const uint16_t tags[] = {
        SMPP_TLV_USSD_SERVICE_OP, SMPP_TLV_ITS_SESSION_INFO, SMPP_TLV_USER_MESSAGE_REFERENCE,
        SMPP_TLV_MESSAGE_PAYLOAD, SMPP_TLV_SAR_MSG_REF_NUM, SMPP_TLV_SAR_TOTAL_SEGMENTS,
        SMPP_TLV_SAR_SEGMENT_SEQNUM, SMPP_TLV_RECEIPTED_MESSAGE_ID, SMPP_TLV_MESSAGE_STATE,
        SMPP_TLV_NETWORK_ERROR_CODE, SMPP_TLV_SOURCE_PORT, SMPP_TLV_DESTINATION_PORT,
        SMPP_TLV_PAYLOAD_TYPE, SMPP_TLV_PRIVACY_INDICATOR, SMPP_TLV_CALLBACK_NUM,
        SMPP_TLV_SOURCE_SUBADDRESS, SMPP_TLV_DEST_SUBADDRESS, SMPP_TLV_LANGUAGE_INDICATOR,
        SMPP_TLV_ITS_REPLY_TYPE, SMPP_TLV_SC_INTERFACE_VERSION, SMPP_TLV_QOS_TIME_TO_LIVE,
        SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT, SMPP_TLV_DELIVERY_FAILURE_REASON,
        SMPP_TLV_DPF_RESULT, SMPP_TLV_MS_AVAILABILITY_STATUS, SMPP_TLV_ALERT_ON_MESSAGE_DELIVERY,
        SMPP_TLV_SMS_SIGNAL, SMPP_TLV_DISPLAY_TIME, SMPP_TLV_MORE_MESSAGES_TO_SEND,
        SMPP_TLV_CALLBACK_NUM_ATAG, SMPP_TLV_DEST_TELEMATICS_ID, SMPP_TLV_SOURCE_TELEMATICS_ID,
        0x1400, 0x1401, 0x2150,
    };
    unsigned n = rnd_below(5);
    for (unsigned k = 0; k < n; k++) {
        uint16_t tag = tags[rnd_below(sizeof tags / sizeof tags[0])];
        if (smpp_tlv_find(p, tag))
            continue;                          /* one of each: Kannel keeps the last */
        const struct tlv_spec *s = find_tlv_spec(tag);
        unsigned lo = s ? s->min : 0, hi = s ? s->max : 40;
        if (hi > 300)
            hi = 300;
        unsigned len = lo + rnd_below(hi - lo + 1);
        uint8_t *v = *pool;
        int cstr = tag == SMPP_TLV_RECEIPTED_MESSAGE_ID || tag == SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT;
        for (unsigned i = 0; i < len; i++)
            v[i] = cstr ? (uint8_t)(1 + rnd_below(255)) : (uint8_t)rnd();
        if (cstr && len)
            v[len - 1] = 0;
        *pool += len;
        smpp_pdu_set_bytes(p, tag, v, (uint16_t)len);
    }
}

/* Fill every field the command has with random valid values, through the
 * same field table the codec uses, then encode. */
static int gen_pdu(const struct command_spec *cmd, uint8_t *out, size_t cap)
{
    static char spool[4096];
    static uint8_t tpool[8192];
    char *sp = spool;
    uint8_t *tp = tpool;
    struct smpp_pdu p;
    uint32_t status = rnd_below(3) == 0 ? rnd_below(0x100) : 0;
    if (!SMPP_IS_RESP(cmd->id))
        status = 0;
    smpp_pdu_reset(&p, cmd->id, status, rnd());
    for (const uint8_t *fi = cmd->fields; *fi != F_END; fi++) {
        const struct field_spec *f = &field_specs[*fi];
        unsigned max = f->max;
        /* stay inside Kannel's own limits where they are below the spec's */
        if (cmd->id == SMPP_ALERT_NOTIFICATION && *fi == F_SOURCE_ADDR65)
            max = 21;
        if (cmd->id == SMPP_DELIVER_SM_RESP && *fi == F_MESSAGE_ID)
            max = 2;
        switch (f->kind) {
        case FK_U8:
            *u8_slot(&p, f) = (uint8_t)rnd();
            break;
        case FK_CSTR:
            *cstr_slot(&p, f) = rnd_str(&sp, max - 1);
            break;
        case FK_SM: {
            p.sm_length = (uint8_t)rnd_below(SMPP_SM_MAX + 1);
            for (unsigned i = 0; i < p.sm_length; i++)
                tp[i] = (uint8_t)rnd();
            p.short_message = tp;
            tp += p.sm_length;
            break;
        }
        }
    }
    if (cmd->flags & CF_TLV)
        add_random_tlvs(&p, &tp);
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, out, cap, &err);
    if (n < 0)
        printf("FAIL generator: %s: %s\n", cmd->name, err.text);
    return n;
}

int main(int argc, char **argv)
{
    if (kannel_codec_init() != 0)
        return 1;

    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (check_path(argv[i]) != 0)
            rc = 1;
    unsigned corpus = n_agree + n_both_reject + n_loose + n_limit + n_fail;

    static uint8_t buf[SMPP_DEFAULT_MAX_LEN];
    unsigned generated = 0;
    for (size_t c = 0; c < N_COMMANDS; c++) {
        if (!(commands[c].flags & CF_DECODE))
            continue;
        for (int k = 0; k < GEN_PER_TYPE; k++) {
            int n = gen_pdu(&commands[c], buf, sizeof buf);
            if (n < 0) {
                n_fail++;
                continue;
            }
            char label[64];
            snprintf(label, sizeof label, "generated %s #%d", commands[c].name, k);
            check_one(label, buf, (size_t)n);
            generated++;
        }
    }

    printf("inputs: %u corpus files, %u generated PDUs (seed 0x%llx)\n", corpus, generated,
           (unsigned long long)SEED);
    printf("agree: %u (both reject: %u)\n", n_agree + n_both_reject, n_both_reject);
    printf("kannel-loose (we reject, Kannel accepts): %u\n", n_loose);
    for (unsigned s = 0; s < 256; s++)
        if (loose_by_status[s])
            printf("  %-22s %u\n", smpp_status_name(s) ? smpp_status_name(s) : "?",
                   loose_by_status[s]);
    printf("kannel-limit (Kannel deviates from SMPP 3.4 on PDUs we accept): %u\n", n_limit);
    for (int i = 0; i < MAX_REASONS && limits[i].why; i++)
        printf("  %u x %s\n", limits[i].n, limits[i].why);

    smpp_pdu_shutdown();
    gwlib_shutdown();

    printf("summary: %u agree, %u both reject, %u kannel-loose, %u kannel-limit "
           "(%u corpus + %u generated)\n",
           n_agree, n_both_reject, n_loose, n_limit, corpus, generated);
    unsigned passed = n_agree + n_both_reject + n_loose + n_limit;
    printf("%u passed, %u failed\n", passed, n_fail);
    return (n_fail || rc) ? 1 : 0;
}
