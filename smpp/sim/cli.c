/*
 * smpp/sim/cli.c — kyzmat-smsc: the SMSC simulator's command line.
 *
 * What it does: parses options and runs one of four modes on one
 * event_base:
 *   server  (default) the SMSC of smpp/sim/smsc.c with its control port;
 *   phone   a handset in the terminal (smpp/sim/phone.c), talking to a
 *           running simulator's control port (or, with --listen, to one
 *           started in-process);
 *   script  a simulator that runs a test script once an ESME is bound and
 *           exits 0 when every expectation held, 1 naming the line if not
 *           (smpp/sim/script.c);
 *   load    a simulator that drives N MO SMS or USSD steps through the
 *           bound gateway (closed loop with a window, or open loop at a rate)
 *           and prints throughput and latency percentiles (smpp/sim/load.c).
 * The first two stdout lines of every mode that runs a simulator are
 * "listening smpp HOST:PORT" and "listening control HOST:PORT" (flushed),
 * so tests can start it with port 0 and read the ports back.
 *
 * Options are one table (name, kind, where the value goes, its range);
 * getopt_long reads argv, the table says what each option means.
 *
 * Owns: the event_base, the struct smsc, the signal events.
 * May call: smpp/sim/smsc, smpp/sim/phone, smpp/sim/script, smpp/sim/load,
 * smpp/sim/loop (freeing the signal events),
 * smpp/dialect (the preset names), libevent, libc.  exit() only before the
 * loop runs; afterwards every mode ends by leaving the loop and returning
 * from main.
 */
#include "smpp/dialect.h"
#include "smpp/sim/load.h"
#include "smpp/sim/loop.h"
#include "smpp/sim/phone.h"
#include "smpp/sim/script.h"
#include "smpp/sim/smsc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define KYZMAT_SMSC_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Options                                                             */

enum mode { MODE_SERVER = 0, MODE_PHONE, MODE_SCRIPT, MODE_LOAD };

struct opts {
    struct smsc_config cfg;
    char listen_host[64], control_host[64];
    int listen_given, control_given;
    char account_buf[SMSC_MAX_ACCOUNTS][32];
    size_t extra;                /* accounts given with --account */
    const char *first_id, *first_pw;
    enum mode mode;
    const char *phone;
    double linger_s;
    const char *script;
    unsigned bind_wait_s;        /* script, load and piped phone */
    struct sim_load_opts load;
};

static const char *const usage_text[] = {
    "kyzmat-smsc " KYZMAT_SMSC_VERSION " - SMSC simulator (SMPP 3.4): the operator in a box\n"
    "\n",
    "Usage:\n"
    "  kyzmat-smsc [options]                         run the simulator (server mode)\n"
    "  kyzmat-smsc --phone MSISDN [--control H:P]    be a handset on a running simulator\n"
    "  kyzmat-smsc --phone MSISDN --listen H:P       simulator and handset in one process\n"
    "  kyzmat-smsc --script FILE [options]           run a test script once an ESME binds\n"
    "  kyzmat-smsc --load N [--window W] [--rate R] [--ussd|--reply] [--msisdns M] [options]\n"
    "\n",
    "Every mode that runs a simulator first prints exactly these two lines on\n"
    "stdout (flushed), so port 0 can be used and read back:\n"
    "  listening smpp 127.0.0.1:PORT\n"
    "  listening control 127.0.0.1:PORT\n"
    "\n",
    "SMSC options:\n"
    "  --listen HOST:PORT      SMPP listener (default 127.0.0.1:2775; port 0 = any)\n"
    "  --control HOST:PORT     control port (default 127.0.0.1:2776; port 0 = any)\n"
    "  --system-id ID          first account's system_id (default kyzmat)\n"
    "  --password PW           first account's password (default secret)\n"
    "  --account ID:PW         one more account (repeatable, up to 16 in all)\n"
    "  --id-format hex|dec     message ids in submit_sm_resp (default hex)\n"
    "  --dlr-id-format hex|dec message ids inside receipts (default hex; may differ\n"
    "                          from --id-format: a real-world quirk)\n"
    "  --id-start N            first message id number (default 1000000000)\n"
    "  --dlr-delay MS          delay before a delivery receipt (default 0)\n"
    "  --dlr-fail-ratio F      0.0..1.0, share of messages that fail (default 0)\n"
    "  --seed N                random seed for failures (default: from the clock)\n"
    "  --throttle-every N      every Nth submit gets ESME_RTHROTTLED (default 0 = off)\n"
    "  --window-check N        count/log a violation when an ESME has more than N\n"
    "                          requests unanswered (default 0 = off; the SMSC answers\n"
    "                          at once, so use it with --resp-delay)\n"
    "  --resp-delay MS         hold each submit_sm/data_sm response MS ms (default 0)\n"
    "  --enquire-link S        send enquire_link after S idle seconds (default 30; 0 = never)\n"
    "  --resp-timeout MS       our deliver_sm unanswered after MS counts as failed\n"
    "                          (default 10000)\n"
    "  --ussd-timeout S        USSD dialog inactivity timeout (default 180)\n"
    "  --dialect NAME          USSD dialect preset the network follows (default\n"
    "                          standard; the presets are listed at the end)\n"
    "  --ussd-abort STYLE      how ussd-abort is signalled: end-bit (the continue op\n"
    "                          with the its_session_info end bit; default; presets\n"
    "                          without its_session_info use op 0x81) or ussrel\n"
    "                          (op 0x81, + end bit where the preset has one)\n"
    "  --max-pdu N             largest command_length accepted (default 65536)\n"
    "  --tls-cert FILE         listen with TLS only (TLS 1.2+), serving this PEM\n"
    "                          certificate chain; needs --tls-key\n"
    "  --tls-key FILE          the private key (PEM) of --tls-cert\n"
    "  --tls-client-ca FILE    demand a client certificate signed by this CA (PEM)\n"
    "  -v, --verbose           log every PDU\n"
    "  -q, --quiet             log errors only\n"
    "\n",
    "Phone mode:\n"
    "  --phone MSISDN          a handset: type *100# to dial, then the answers; the\n"
    "                          screen is shown in a box; MT SMS to MSISDN appear too;\n"
    "                          \"sms TO TEXT\" sends an MO SMS; \"abort\" ends a dialog;\n"
    "                          Ctrl-D quits.  Reads a pipe too (one input per line,\n"
    "                          each sent when the previous screen has arrived).\n"
    "                          Without --listen it connects to --control of a running\n"
    "                          simulator; with --listen it runs one in-process.\n"
    "  --linger S              after end of input, keep showing SMS for S s (default 0)\n"
    "                          With input from a pipe the phone first waits (up to\n"
    "                          --bind-wait) until a gateway is bound.\n"
    "\n",
    "Script mode:\n"
    "  --script FILE           see scripts/smsc-*.txt; commands: wait-bind, timeout 5s,\n"
    "                          dial MSISDN *100#, send MSISDN TEXT, abort MSISDN,\n"
    "                          expect-continue [MSISDN] \"sub\", expect-end [MSISDN] \"sub\",\n"
    "                          expect-timeout MSISDN, mo FROM TO TEXT,\n"
    "                          expect-sms MSISDN \"sub\", sleep 500ms, drop, throttle N;\n"
    "                          # comments.  Exit 0 if all held, else 1 with FILE:LINE.\n"
    "  --bind-wait S           how long script, load and piped phone wait for a bind\n"
    "                          (default 60)\n"
    "\n",
    "Load mode (benchmark driver; waits for a bind, then prints results):\n"
    "  --load N                N MO SMS (deliver_sm), or with --ussd N USSD steps\n"
    "  --window W              requests in flight, closed loop (default 10)\n"
    "  --rate R                open loop: start R per second (latency counted from\n"
    "                          the intended start, so queueing is not hidden); W\n"
    "                          still caps what is in flight\n"
    "  --ussd                  steps are USSD: dial (op 1) or answer (op 18), then\n"
    "                          wait for the gateway's USSD submit_sm for that MSISDN\n"
    "  --reply                 MO SMS whose step ends when the gateway's reply, an MT\n"
    "                          SMS (any submit_sm) to the sender, arrives: latency is\n"
    "                          deliver_sm -> reply submit_sm (e.g. PING -> PONG, or a\n"
    "                          Kannel sms-service); one step in flight per MSISDN\n"
    "  --msisdns M             distinct subscribers (default 100)\n"
    "  --from MSISDN           first subscriber number (default 996555000000)\n"
    "  --to ADDR               MO destination (default 100)\n"
    "  --text TEXT             MO text (default \"load test\")\n"
    "  --service CODE          USSD dial string (default *100#)\n"
    "  --answer TEXT           USSD answer on continue screens (default 1)\n"
    "  --step-timeout MS       a step without answer is an error (default 10000)\n"
    "  Output ends with: RESULT n=.. ok=.. err=.. elapsed_s=.. tput=.. p50_ms=..\n"
    "                    p90_ms=.. p99_ms=.. max_ms=..\n"
    "  Exit status 1 when no bind came, the run was cut short or nothing succeeded.\n"
    "\n",
    "Control port (one command per line; replies 'ok ...' or 'err REASON'):\n"
    "  stats | drop [SYSTEM_ID] | mo FROM TO TEXT | ussd MSISDN SERVICE TEXT |\n"
    "  ussd MSISDN *100# | ussd MSISDN - ANSWER | ussd-abort MSISDN | throttle N |\n"
    "  ussd-log MSISDN (JSON record of the open or latest dialog: ops both ways) |\n"
    "  refuse-binds on|off | subscribe MSISDN|* | unsubscribe | wait-bind [S] |\n"
    "  help | bye (close this connection) | quit (stop the simulator)\n"
    "  Events after subscribe: 'sms FROM TO TEXT', 'ussd MSISDN continue|end|notice\n"
    "  TEXT', 'ussd MSISDN timeout' (TEXT is UTF-8 with \\n and \\\\ escaped).\n"
    "\n",
    "  --help, --version\n"
    "\n",
    "Examples:\n"
    "  kyzmat-smsc --listen 127.0.0.1:0 --control 127.0.0.1:0 --dlr-delay 500\n"
    "  kyzmat-smsc --account bank:pw1 --account shop:pw2 --id-format dec --dlr-id-format hex\n"
    "  kyzmat-smsc --phone 996555123456\n"
    "  printf '*100#\\n1\\n' | kyzmat-smsc --phone 996555123456 --control 127.0.0.1:2776\n"
    "  kyzmat-smsc --script scripts/smsc-ussd-menu.txt --listen 127.0.0.1:2775\n"
    "  kyzmat-smsc --load 100000 --window 50\n"
    "  kyzmat-smsc --load 20000 --ussd --msisdns 500 --rate 2000 --window 500\n"
    "  kyzmat-smsc --dialect umr --control 127.0.0.1:2776\n"
    "\n",
    "USSD dialect presets (--dialect; the gateway's smsc.dialect takes the same):\n",
};

static void usage(FILE *f)
{
    for (size_t i = 0; i < sizeof usage_text / sizeof usage_text[0]; i++)
        fputs(usage_text[i], f);
    for (const struct ussd_dialect *d = ussd_dialects; d->name; d++)
        fprintf(f, "  %-14s %s\n", d->name, d->help);
}

static int parse_hostport(const char *arg, char *host, size_t cap,
                          uint16_t *port)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg)
        return -1;
    size_t hl = (size_t)(colon - arg);
    if (arg[0] == '[' && colon[-1] == ']') {
        arg++;
        hl -= 2;
    }
    if (hl >= cap)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || !*(colon + 1) || *end || p > 65535)
        return -1;
    memcpy(host, arg, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int parse_ulong(const char *arg, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    if (!arg || !*arg || *arg == '-')
        return -1;
    unsigned long v = strtoul(arg, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *arg, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* What an option's handler says. */
enum { OPT_OK = 0, OPT_BAD, OPT_FAILED /* said why */, OPT_EXIT /* exit 0 */ };

static int opt_listen(struct opts *o, const char *a)
{
    o->listen_given = 1;
    return parse_hostport(a, o->listen_host, sizeof o->listen_host,
                          &o->cfg.listen_port) ? OPT_BAD : OPT_OK;
}

static int opt_control(struct opts *o, const char *a)
{
    o->control_given = 1;
    return parse_hostport(a, o->control_host, sizeof o->control_host,
                          &o->cfg.control_port) ? OPT_BAD : OPT_OK;
}

static int opt_account(struct opts *o, const char *a)
{
    const char *colon = strchr(a, ':');
    size_t k = o->extra + 1;
    if (!colon || k >= SMSC_MAX_ACCOUNTS || strlen(a) >= sizeof o->account_buf[0])
        return OPT_BAD;
    char *buf = o->account_buf[k];
    strcpy(buf, a);
    buf[colon - a] = '\0';
    o->cfg.accounts[k].system_id = buf;
    o->cfg.accounts[k].password = buf + (colon - a) + 1;
    o->extra++;
    return OPT_OK;
}

static int parse_idfmt(const char *a, enum smsc_id_format *f)
{
    if (strcmp(a, "hex") == 0)
        *f = SMSC_ID_HEX;
    else if (strcmp(a, "dec") == 0)
        *f = SMSC_ID_DEC;
    else
        return OPT_BAD;
    return OPT_OK;
}

static int opt_id_format(struct opts *o, const char *a)
{
    return parse_idfmt(a, &o->cfg.id_format);
}

static int opt_dlr_id_format(struct opts *o, const char *a)
{
    return parse_idfmt(a, &o->cfg.dlr_id_format);
}

static int opt_dialect(struct opts *o, const char *a)
{
    if (!ussd_dialect_find(a)) {
        fprintf(stderr, "kyzmat-smsc: unknown --dialect \"%s\"; presets:", a);
        for (const struct ussd_dialect *d = ussd_dialects; d->name; d++)
            fprintf(stderr, " %s", d->name);
        fputc('\n', stderr);
        return OPT_FAILED;
    }
    o->cfg.dialect = a;
    return OPT_OK;
}

static int opt_ussd_abort(struct opts *o, const char *a)
{
    if (strcmp(a, "end-bit") == 0)
        o->cfg.ussd_abort = SMSC_ABORT_END_BIT;
    else if (strcmp(a, "ussrel") == 0)
        o->cfg.ussd_abort = SMSC_ABORT_USSREL;
    else
        return OPT_BAD;
    return OPT_OK;
}

static int opt_phone(struct opts *o, const char *a)
{
    o->mode = MODE_PHONE;
    o->phone = a;
    return !*a || strlen(a) > 20 || strspn(a, "0123456789+") != strlen(a)
           ? OPT_BAD : OPT_OK;
}

static int opt_script(struct opts *o, const char *a)
{
    o->mode = MODE_SCRIPT;
    o->script = a;
    return OPT_OK;
}

static int opt_load(struct opts *o, const char *a)
{
    o->mode = MODE_LOAD;
    return parse_ulong(a, 1000000000ul, &o->load.n) || o->load.n == 0
           ? OPT_BAD : OPT_OK;
}

static int opt_from(struct opts *o, const char *a)
{
    o->load.from = a;
    return !*a || strlen(a) > 18 || strspn(a, "0123456789") != strlen(a)
           ? OPT_BAD : OPT_OK;
}

static int opt_help(struct opts *o, const char *a)
{
    (void)o;
    (void)a;
    usage(stdout);
    return OPT_EXIT;
}

static int opt_version(struct opts *o, const char *a)
{
    (void)o;
    (void)a;
    printf("kyzmat-smsc %s\n", KYZMAT_SMSC_VERSION);
    return OPT_EXIT;
}

enum opt_kind {
    OK_FN,        /* fn(o, arg) */
    OK_ACTION,    /* fn(o, NULL), no argument */
    OK_UINT,      /* unsigned, min..max */
    OK_U32,       /* uint32_t, min..max */
    OK_U64,       /* uint64_t, min..max */
    OK_DOUBLE,    /* double, dmin..dmax */
    OK_STR,       /* const char *, the argument itself */
    OK_FLAG,      /* int, set to 1 (no argument) */
};

struct optdef {
    const char *name;
    char short_name;             /* also -x, or 0 */
    enum opt_kind kind;
    size_t off;                  /* where the value goes in struct opts */
    unsigned long min, max;
    double dmin, dmax;
    int (*fn)(struct opts *o, const char *arg);
};

#define AT(field) offsetof(struct opts, field)
/* One row each: the option, what it is, where it goes, its range. */
#define FN(n, f)        { .name = n, .kind = OK_FN, .fn = f }
#define ACTION(n, c, f) { .name = n, .short_name = c, .kind = OK_ACTION, .fn = f }
#define STR(n, field)   { .name = n, .kind = OK_STR, .off = AT(field) }
#define FLAG(n, c, field) \
    { .name = n, .short_name = c, .kind = OK_FLAG, .off = AT(field) }
#define NUM(n, k, field, lo, hi) \
    { .name = n, .kind = k, .off = AT(field), .min = lo, .max = hi }
#define REAL(n, field, lo, hi) \
    { .name = n, .kind = OK_DOUBLE, .off = AT(field), .dmin = lo, .dmax = hi }

static const struct optdef optdefs[] = {
    FN("listen", opt_listen),
    FN("control", opt_control),
    STR("system-id", first_id),
    STR("password", first_pw),
    FN("account", opt_account),
    FN("id-format", opt_id_format),
    FN("dlr-id-format", opt_dlr_id_format),
    NUM("id-start", OK_U64, cfg.id_start, 1, 0xFFFFFFFFFFFFul),
    NUM("dlr-delay", OK_UINT, cfg.dlr_delay_ms, 0, 86400000ul),
    REAL("dlr-fail-ratio", cfg.dlr_fail_ratio, 0.0, 1.0),
    NUM("seed", OK_U64, cfg.seed, 0, ~0ul),
    NUM("throttle-every", OK_UINT, cfg.throttle_every, 0, 1000000ul),
    NUM("window-check", OK_UINT, cfg.window_check, 0, 1000000ul),
    NUM("resp-delay", OK_UINT, cfg.resp_delay_ms, 0, 600000ul),
    NUM("enquire-link", OK_UINT, cfg.enquire_link_s, 0, 86400ul),
    NUM("resp-timeout", OK_UINT, cfg.resp_timeout_ms, 1, 3600000ul),
    NUM("ussd-timeout", OK_UINT, cfg.ussd_timeout_s, 1, 86400ul),
    FN("ussd-abort", opt_ussd_abort),
    FN("dialect", opt_dialect),
    NUM("max-pdu", OK_U32, cfg.max_pdu_len, 64, 16ul << 20),
    STR("tls-cert", cfg.tls_cert),
    STR("tls-key", cfg.tls_key),
    STR("tls-client-ca", cfg.tls_client_ca),
    FN("phone", opt_phone),
    REAL("linger", linger_s, 0, 3600),
    FN("script", opt_script),
    NUM("bind-wait", OK_UINT, bind_wait_s, 1, 86400ul),
    FN("load", opt_load),
    NUM("window", OK_UINT, load.window, 1, 16000ul),
    REAL("rate", load.rate, 0.001, 1e7),
    FLAG("ussd", 0, load.ussd),
    FLAG("reply", 0, load.reply),
    NUM("msisdns", OK_UINT, load.msisdns, 1, 10000000ul),
    FN("from", opt_from),
    STR("to", load.to),
    STR("text", load.text),
    STR("service", load.service),
    STR("answer", load.answer),
    NUM("step-timeout", OK_UINT, load.step_timeout_ms, 1, 3600000ul),
    FLAG("verbose", 'v', cfg.verbose),
    FLAG("quiet", 'q', cfg.quiet),
    ACTION("help", 'h', opt_help),
    ACTION("version", 0, opt_version),
};

#undef FN
#undef ACTION
#undef STR
#undef FLAG
#undef NUM
#undef REAL
#undef AT

#define N_OPTS (sizeof optdefs / sizeof optdefs[0])

/* Apply option d with argument a (NULL for flags) to o. */
static int opt_apply(const struct optdef *d, struct opts *o, const char *a)
{
    char *at = (char *)o + d->off;
    unsigned long v = 0;
    int bad;
    switch (d->kind) {
    case OK_FN:
    case OK_ACTION:
        return d->fn(o, a);
    case OK_STR:
        *(const char **)(void *)at = a;
        return OPT_OK;
    case OK_FLAG:
        *(int *)(void *)at = 1;
        return OPT_OK;
    case OK_DOUBLE:
        return parse_double(a, d->dmin, d->dmax, (double *)(void *)at) ? OPT_BAD : OPT_OK;
    case OK_UINT:
    case OK_U32:
    case OK_U64:
        bad = parse_ulong(a, d->max, &v) || v < d->min;
        if (d->kind == OK_UINT)
            *(unsigned *)(void *)at = (unsigned)v;
        else if (d->kind == OK_U32)
            *(uint32_t *)(void *)at = (uint32_t)v;
        else
            *(uint64_t *)(void *)at = v;
        return bad ? OPT_BAD : OPT_OK;
    }
    return OPT_BAD;
}

/* The checks across options, once all are read.  0, or -1 (said why). */
static int opts_finish(struct opts *o)
{
    struct smsc_config *c = &o->cfg;
    c->accounts[0].system_id = o->first_id ? o->first_id : "kyzmat";
    c->accounts[0].password = o->first_pw ? o->first_pw : "secret";
    c->n_accounts = o->extra + 1;
    c->listen_host = o->listen_host;
    c->control_host = o->control_host;
    o->load.bind_wait_s = o->bind_wait_s;
    if (o->load.ussd && o->load.reply) {
        fprintf(stderr, "kyzmat-smsc: --ussd and --reply exclude each other\n");
        return -1;
    }
    if (o->mode == MODE_LOAD && o->load.ussd && o->load.service &&
        o->load.service[0] != '*' && o->load.service[0] != '#') {
        fprintf(stderr, "kyzmat-smsc: --service must be a dial string like *100#\n");
        return -1;
    }
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 on a bad option. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    struct option lo[N_OPTS + 1];
    memset(lo, 0, sizeof lo);
    for (size_t i = 0; i < N_OPTS; i++) {
        lo[i].name = optdefs[i].name;
        lo[i].has_arg = optdefs[i].kind == OK_FLAG || optdefs[i].kind == OK_ACTION
                        ? no_argument : required_argument;
        lo[i].val = 256 + (int)i;
    }
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "vqh", lo, NULL)) != -1) {
        const struct optdef *d = NULL;
        if (ch >= 256 && ch < 256 + (int)N_OPTS)
            d = &optdefs[ch - 256];
        for (size_t i = 0; !d && ch > 0 && i < N_OPTS; i++)
            if (optdefs[i].short_name == ch)
                d = &optdefs[i];
        if (!d) {
            fprintf(stderr, "kyzmat-smsc: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        const char *a = lo[d - optdefs].has_arg ? optarg : NULL;
        int r = opt_apply(d, o, a);
        if (r == OPT_EXIT)
            return 1;
        if (r == OPT_FAILED)
            return -1;
        if (r == OPT_BAD) {
            fprintf(stderr, "kyzmat-smsc: bad value '%s' for %s (see --help)\n",
                    a ? a : "", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kyzmat-smsc: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return -1;
    }
    return opts_finish(o);
}

static void opts_defaults(struct opts *o)
{
    memset(o, 0, sizeof *o);
    smsc_config_defaults(&o->cfg);
    strcpy(o->listen_host, "127.0.0.1");
    strcpy(o->control_host, "127.0.0.1");
    o->bind_wait_s = 60;
    sim_load_defaults(&o->load);
}

/* ------------------------------------------------------------------ */
/* main                                                                */

/* SIGINT / SIGTERM leave the loop so everything is freed on the way out. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* Precise timers (timerfd): open-loop pacing needs better than the
 * millisecond rounding of epoll_wait's timeout. */
static struct event_base *new_base(void)
{
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!base)
        base = event_base_new();
    return base;
}

/* The mode, on a running simulator.  Returns the exit status. */
static int run_mode(struct event_base *base, struct smsc *s,
                    struct sim_script *sc, const struct opts *o)
{
    switch (o->mode) {
    case MODE_SERVER:
        event_base_dispatch(base);
        return 0;
    case MODE_PHONE:
        return sim_phone_run(base, o->phone, o->control_host,
                             smsc_control_port(s), o->linger_s, o->bind_wait_s);
    case MODE_SCRIPT:
        return sim_script_run(sc, base, s);
    case MODE_LOAD:
        return sim_load_run(base, s, &o->load);
    }
    return 1;
}

/* Every mode but the remote phone: a simulator on base, then the mode. */
static int run_simulator(struct event_base *base, struct opts *o)
{
    struct sim_script *sc = NULL;
    if (o->mode == MODE_SCRIPT && !(sc = sim_script_load(o->script, o->bind_wait_s)))
        return 1;
    if (o->mode == MODE_LOAD && !o->cfg.verbose)
        o->cfg.quiet = 1;
    if (o->mode == MODE_PHONE && !o->control_given)
        o->cfg.control_port = 0;   /* in-process phone: any free port */

    char err[256];
    struct smsc *s = smsc_new(base, &o->cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "kyzmat-smsc: %s\n", err);
        sim_script_free(sc);
        return 1;
    }
    printf("listening smpp %s:%u\n", o->listen_host, smsc_smpp_port(s));
    printf("listening control %s:%u\n", o->control_host, smsc_control_port(s));
    fflush(stdout);
    fprintf(stderr, "[smsc] kyzmat-smsc %s: smpp %s:%u%s, control %s:%u, "
            "%zu account%s\n", KYZMAT_SMSC_VERSION, o->listen_host,
            smsc_smpp_port(s),
            !o->cfg.tls_cert ? "" : o->cfg.tls_client_ca
                ? " (TLS, client certificates required)" : " (TLS)",
            o->control_host, smsc_control_port(s),
            o->cfg.n_accounts, o->cfg.n_accounts == 1 ? "" : "s");

    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (sigint)
        event_add(sigint, NULL);
    if (sigterm)
        event_add(sigterm, NULL);

    int rc = run_mode(base, s, sc, o);

    if (smsc_quit_requested(s))
        fprintf(stderr, "[smsc] quit\n");
    smsc_free(s);
    sim_script_free(sc);
    sim_event_free(&sigint);
    sim_event_free(&sigterm);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    opts_defaults(&o);
    int pr = parse_args(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? 0 : 2;

    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = new_base();
    if (!base) {
        fprintf(stderr, "kyzmat-smsc: cannot create the event loop\n");
        return 1;
    }
    int rc;
    if (o.mode == MODE_PHONE && !o.listen_given)
        rc = sim_phone_run(base, o.phone, o.control_host, o.cfg.control_port,
                           o.linger_s, o.bind_wait_s);
    else
        rc = run_simulator(base, &o);
    event_base_free(base);
    return rc;
}
