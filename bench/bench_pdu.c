/*
 * bench/bench_pdu.c — codec micro-benchmark: our smpp_pdu_decode/encode vs
 * Kannel 1.4.5 libgw's smpp_pdu_unpack/pack on the same bytes.
 *
 * PDUs: a USSD deliver_sm (ussd_service_op + its_session_info, 19-octet
 * text), a submit_sm with UCS-2 text, and a delivery-receipt deliver_sm
 * (receipted_message_id, message_state, network_error_code TLVs).
 * For each PDU and operation: ns per op in thread CPU time (median of RUNS
 * runs, each about BENCH_SECS seconds, default 0.1 s, so ~0.5 s per
 * figure) and heap allocations per op, counted by
 * interposing malloc/calloc/realloc (forwarded to glibc's __libc_*); the
 * counter is checked against known calls before use.  Kannel's decode is
 * unpack + destroy (its result is heap objects that must be freed); its
 * encode is pack + destroy of the packed Octstr.  Ours need nothing freed.
 * Prints figures only; asserts nothing about time.
 *
 * Our codec comes from libkzsmpp.a (names chosen not to clash with
 * libgw's smpp_pdu_*); our functions are called through volatile
 * pointers so the compiler cannot inline them into the timing loops.
 * May call: our codec, Kannel libgw/gwlib, libc.  Main thread only.
 */
#include "smpp/pdu.h"
#include "tests/unit/pdu_build.h"

#include <stdlib.h>
#include <time.h>

/* ---- allocation counter ----------------------------------------------- */

static unsigned long long n_allocs;

#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0   /* ASan owns malloc; do not interpose */
#else
#define COUNTING 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);
void free(void *p);

void *malloc(size_t n)
{
    n_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    n_allocs++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    n_allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
#endif

/* Check the counter sees exactly the calls made (through a volatile
 * pointer so they are not optimised away). */
static int counter_ok(void)
{
    if (!COUNTING)
        return 0;
    void *(*volatile m)(size_t) = malloc;
    void *(*volatile r)(void *, size_t) = realloc;
    void (*volatile f)(void *) = free;
    unsigned long long before = n_allocs;
    for (int i = 0; i < 1000; i++) {
        void *p = m(32);
        p = r(p, 64);
        f(p);
    }
    return n_allocs - before == 2000;
}

#include "tests/diff/kannel.h"


/* ---- the PDUs --------------------------------------------------------- */

struct sample {
    const char *name;
    uint8_t bytes[512];
    size_t len;
};

static void make_samples(struct sample *s)
{
    struct smpp_pdu p;
    struct smpp_err err;
    int n;

    /* 1. USSD continue from the network */
    static const char ussd[] = "*100*2*1*996555123#";
    pdu_ussd_from_phone(&p, 1234, "*100#", 0x0f, ussd, sizeof ussd - 1);
    smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, SMPP_USSD_USSR_CONF);
    smpp_pdu_set_u16(&p, SMPP_TLV_ITS_SESSION_INFO, 0x1202);
    n = smpp_pdu_encode(&p, s[0].bytes, sizeof s[0].bytes, &err);
    s[0].len = (size_t)n;
    s[0].name = "deliver_sm USSD";

    /* 2. submit_sm, Kyrgyz text in UCS-2 */
    static const uint16_t text[] = {0x0421, 0x0430, 0x043b, 0x0430, 0x043c, 0x0021, 0x0020,
                                    0x0411, 0x0430, 0x043b, 0x0430, 0x043d, 0x0441, 0x044b,
                                    0x04a3, 0x044b, 0x0437, 0x003a, 0x0020, 0x0031, 0x0032,
                                    0x0035, 0x0020, 0x0441, 0x043e, 0x043c};
    static uint8_t ucs2[2 * sizeof text / sizeof text[0]];
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        ucs2[2 * i] = (uint8_t)(text[i] >> 8);
        ucs2[2 * i + 1] = (uint8_t)text[i];
    }
    pdu_submit_to_phone(&p, 5678, 5, "Kyzmat", 8, ucs2, sizeof ucs2);
    p.registered_delivery = 1;
    n = smpp_pdu_encode(&p, s[1].bytes, sizeof s[1].bytes, &err);
    s[1].len = (size_t)n;
    s[1].name = "submit_sm UCS-2";

    /* 3. delivery receipt */
    static const char dlr[] = "id:5f3a9c01 sub:001 dlvrd:001 submit date:2401011200 "
                              "done date:2401011201 stat:DELIVRD err:000 text:Salam";
    pdu_receipt_from_phone(&p, 9012, "Kyzmat", dlr, sizeof dlr - 1, "5f3a9c01", 2);
    n = smpp_pdu_encode(&p, s[2].bytes, sizeof s[2].bytes, &err);
    s[2].len = (size_t)n;
    s[2].name = "deliver_sm receipt";
}

/* ---- timing ----------------------------------------------------------- */

static double now_ns(void)
{
    struct timespec ts;
    /* CPU time of this thread, not wall time: the benchmark shares the
     * machine with builds and fuzzers, and time spent descheduled is not
     * the codec's. */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum op { OURS_DEC, OURS_ENC, KAN_DEC, KAN_ENC };

struct ctx {
    const struct sample *s;
    Octstr *k_in;              /* PDU without its length prefix */
    SMPP_PDU *k_pdu;           /* unpacked once, for pack */
    struct smpp_pdu ours;      /* decoded once, for encode */
    uint8_t out[1024];
    unsigned long long sink;
};

static int (*volatile p_decode)(struct smpp_pdu *, const uint8_t *, size_t,
                                const struct smpp_limits *, struct smpp_err *) = smpp_pdu_decode;
static int (*volatile p_encode)(struct smpp_pdu *, uint8_t *, size_t,
                                struct smpp_err *) = smpp_pdu_encode;

static void run_op(struct ctx *c, enum op op, unsigned long iters)
{
    struct smpp_pdu d;
    struct smpp_err err;
    switch (op) {
    case OURS_DEC:
        for (unsigned long i = 0; i < iters; i++) {
            if (p_decode(&d, c->s->bytes, c->s->len, NULL, &err) != 0)
                abort();
            c->sink += d.sequence_number + d.sm_length + d.tlv_count;
        }
        break;
    case OURS_ENC:
        for (unsigned long i = 0; i < iters; i++) {
            int n = p_encode(&c->ours, c->out, sizeof c->out, &err);
            if (n != (int)c->s->len)
                abort();
            c->sink += c->out[n - 1];
        }
        break;
    case KAN_DEC:
        for (unsigned long i = 0; i < iters; i++) {
            SMPP_PDU *k = smpp_pdu_unpack(NULL, c->k_in);
            if (!k)
                abort();
            c->sink += k->type;
            smpp_pdu_destroy(k);
        }
        break;
    case KAN_ENC:
        for (unsigned long i = 0; i < iters; i++) {
            Octstr *o = smpp_pdu_pack(NULL, c->k_pdu);
            c->sink += (unsigned long long)octstr_len(o);
            octstr_destroy(o);
        }
        break;
    }
}

#define RUNS 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ns/op over RUNS runs of about `secs` seconds each. */
static double measure(struct ctx *c, enum op op, double secs, double *allocs_per_op)
{
    /* calibrate */
    unsigned long iters = 1000;
    for (;;) {
        double t0 = now_ns();
        run_op(c, op, iters);
        double dt = now_ns() - t0;
        if (dt > 20e6 || iters > (1ul << 30)) {
            iters = (unsigned long)((double)iters * (secs * 1e9) / dt) + 1;
            break;
        }
        iters *= 4;
    }
    double ns[RUNS];
    for (int r = 0; r < RUNS; r++) {
        unsigned long long a0 = n_allocs;
        double t0 = now_ns();
        run_op(c, op, iters);
        ns[r] = (now_ns() - t0) / (double)iters;
        *allocs_per_op = (double)(n_allocs - a0) / (double)iters;
    }
    qsort(ns, RUNS, sizeof ns[0], cmp_double);
    return ns[RUNS / 2];
}

int main(void)
{
    double secs = 0.1;
    const char *e = getenv("BENCH_SECS");
    if (e && atof(e) > 0)
        secs = atof(e);

    int counting = counter_ok();

    if (kannel_codec_init() != 0)
        return 1;

    struct sample samples[3];
    make_samples(samples);

    printf("SMPP codec: ours (kyzmat smpp/pdu.c) vs Kannel 1.4.5 libgw, same bytes\n");
    printf("ns = thread CPU time per op, median of %d runs of ~%.2f s each;\n"
           "allocations counted by malloc interposition%s\n\n",
           RUNS, secs, counting ? " (counter verified)" : " (NOT available in this build)");
    printf("%-20s %5s  %-6s %10s %11s %8s %12s %13s\n", "PDU", "bytes", "op", "ours ns",
           "kannel ns", "ratio", "ours allocs", "kannel allocs");

    static struct ctx c;
    for (int i = 0; i < 3; i++) {
        c.s = &samples[i];
        c.k_in = octstr_create_from_data((const char *)c.s->bytes + 4, (long)c.s->len - 4);
        c.k_pdu = smpp_pdu_unpack(NULL, c.k_in);
        struct smpp_err err;
        if (!c.k_pdu || smpp_pdu_decode(&c.ours, c.s->bytes, c.s->len, NULL, &err) != 0) {
            printf("%s: cannot decode sample\n", c.s->name);
            return 1;
        }
        static const char *const opname[2] = {"decode", "encode"};
        for (int k = 0; k < 2; k++) {
            double oa = 0, ka = 0;
            double on = measure(&c, k == 0 ? OURS_DEC : OURS_ENC, secs, &oa);
            double kn = measure(&c, k == 0 ? KAN_DEC : KAN_ENC, secs, &ka);
            char oas[16], kas[16];
            if (counting) {
                snprintf(oas, sizeof oas, "%.1f", oa);
                snprintf(kas, sizeof kas, "%.1f", ka);
            } else {
                snprintf(oas, sizeof oas, "n/a");
                snprintf(kas, sizeof kas, "n/a");
            }
            printf("%-20s %5zu  %-6s %10.1f %11.1f %7.1fx %12s %13s\n", k == 0 ? c.s->name : "",
                   c.s->len, opname[k], on, kn, kn / on, oas, kas);
        }
        smpp_pdu_destroy(c.k_pdu);
        octstr_destroy(c.k_in);
    }
    printf("\nratio = Kannel ns / ours ns.  Kannel decode = unpack + destroy; "
           "Kannel encode = pack + destroy of the result.\n");
    if (c.sink == 42)
        printf(" \n");   /* keeps the work observable */

    smpp_pdu_shutdown();
    gwlib_shutdown();
    return 0;
}
