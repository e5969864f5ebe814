/*
 * smpp/sim/cli.c — kyzmat-smsc: the SMSC simulator's command line.
 *
 * What it does: parses options and runs one of four modes on one
 * event_base:
 *   server  (default) the SMSC of smpp/sim/smsc.c with its control port;
 *   phone   a handset in the terminal, talking to a running simulator's
 *           control port (or, with --listen, to one started in-process);
 *   script  a simulator that runs a test script once an ESME is bound and
 *           exits 0 when every expectation held, 1 naming the line if not;
 *   load    a simulator that drives N MO SMS or USSD steps through the
 *           bound gateway (closed loop with a window, or open loop at a rate)
 *           and prints throughput and latency percentiles.
 * The first two stdout lines of every mode that runs a simulator are
 * "listening smpp HOST:PORT" and "listening control HOST:PORT" (flushed),
 * so tests can start it with port 0 and read the ports back.
 *
 * Owns: the event_base, the struct smsc, the mode's own state.
 * May call: smpp/sim/smsc, smpp/dialect (the preset names), libevent, libc.  exit() only before the loop runs;
 * afterwards every mode ends by leaving the loop and returning from main.
 */
#include "smpp/dialect.h"
#include "smpp/sim/smsc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#define KYZMAT_SMSC_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Options                                                             */

enum mode { MODE_SERVER = 0, MODE_PHONE, MODE_SCRIPT, MODE_LOAD };

struct opts {
    struct smsc_config cfg;
    char listen_host[64], control_host[64];
    int listen_given, control_given;
    char account_buf[SMSC_MAX_ACCOUNTS][32];
    const char *first_id, *first_pw;
    enum mode mode;
    const char *phone;
    double linger_s;
    const char *script;
    unsigned bind_wait_s;
    /* load */
    unsigned long load_n;
    unsigned window;
    double rate;
    int ussd;
    int reply;                   /* --reply: MO done when the reply MT comes */
    unsigned msisdns;
    const char *load_text, *load_to, *load_from, *service, *answer;
    unsigned step_timeout_ms;
};

static void usage(FILE *f)
{
    fputs(
"kyzmat-smsc " KYZMAT_SMSC_VERSION " - SMSC simulator (SMPP 3.4): the operator in a box\n"
"\n"
"Usage:\n"
"  kyzmat-smsc [options]                         run the simulator (server mode)\n"
"  kyzmat-smsc --phone MSISDN [--control H:P]    be a handset on a running simulator\n"
"  kyzmat-smsc --phone MSISDN --listen H:P       simulator and handset in one process\n"
"  kyzmat-smsc --script FILE [options]           run a test script once an ESME binds\n"
"  kyzmat-smsc --load N [--window W] [--rate R] [--ussd|--reply] [--msisdns M] [options]\n"
"\n"
"Every mode that runs a simulator first prints exactly these two lines on\n"
"stdout (flushed), so port 0 can be used and read back:\n"
"  listening smpp 127.0.0.1:PORT\n"
"  listening control 127.0.0.1:PORT\n"
"\n"
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
"  -v, --verbose           log every PDU\n"
"  -q, --quiet             log errors only\n"
"\n"
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
"\n"
"Script mode:\n"
"  --script FILE           see scripts/smsc-*.txt; commands: wait-bind, timeout 5s,\n"
"                          dial MSISDN *100#, send MSISDN TEXT, abort MSISDN,\n"
"                          expect-continue [MSISDN] \"sub\", expect-end [MSISDN] \"sub\",\n"
"                          expect-timeout MSISDN, mo FROM TO TEXT,\n"
"                          expect-sms MSISDN \"sub\", sleep 500ms, drop, throttle N;\n"
"                          # comments.  Exit 0 if all held, else 1 with FILE:LINE.\n"
"  --bind-wait S           how long script, load and piped phone wait for a bind\n"
"                          (default 60)\n"
"\n"
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
"\n"
"Control port (one command per line; replies 'ok ...' or 'err REASON'):\n"
"  stats | drop [SYSTEM_ID] | mo FROM TO TEXT | ussd MSISDN SERVICE TEXT |\n"
"  ussd MSISDN *100# | ussd MSISDN - ANSWER | ussd-abort MSISDN | throttle N |\n"
"  ussd-log MSISDN (JSON record of the open or latest dialog: ops both ways) |\n"
"  refuse-binds on|off | subscribe MSISDN|* | unsubscribe | wait-bind [S] |\n"
"  help | bye (close this connection) | quit (stop the simulator)\n"
"  Events after subscribe: 'sms FROM TO TEXT', 'ussd MSISDN continue|end|notice\n"
"  TEXT', 'ussd MSISDN timeout' (TEXT is UTF-8 with \\n and \\\\ escaped).\n"
"\n"
"  --help, --version\n"
"\n"
"Examples:\n"
"  kyzmat-smsc --listen 127.0.0.1:0 --control 127.0.0.1:0 --dlr-delay 500\n"
"  kyzmat-smsc --account bank:pw1 --account shop:pw2 --id-format dec --dlr-id-format hex\n"
"  kyzmat-smsc --phone 996555123456\n"
"  printf '*100#\\n1\\n' | kyzmat-smsc --phone 996555123456 --control 127.0.0.1:2776\n"
"  kyzmat-smsc --script scripts/smsc-ussd-menu.txt --listen 127.0.0.1:2775\n"
"  kyzmat-smsc --load 100000 --window 50\n"
"  kyzmat-smsc --load 20000 --ussd --msisdns 500 --rate 2000 --window 500\n"
"  kyzmat-smsc --dialect umr --control 127.0.0.1:2776\n"
"\n"
"USSD dialect presets (--dialect; the gateway's smsc.dialect takes the same):\n",
        f);
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

static int parse_idfmt(const char *arg, enum smsc_id_format *f)
{
    if (strcmp(arg, "hex") == 0)
        *f = SMSC_ID_HEX;
    else if (strcmp(arg, "dec") == 0)
        *f = SMSC_ID_DEC;
    else
        return -1;
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 on a bad option. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    enum {
        O_LISTEN = 256, O_CONTROL, O_SYSID, O_PASSWORD, O_ACCOUNT, O_IDFMT,
        O_DLRIDFMT, O_IDSTART, O_DLRDELAY, O_DLRFAIL, O_SEED, O_THROTTLE,
        O_WINCHECK, O_RESPDELAY, O_ENQ, O_RESPTO, O_USSDTO, O_USSDABORT,
        O_MAXPDU, O_PHONE, O_LINGER, O_SCRIPT, O_BINDWAIT, O_LOAD, O_WINDOW,
        O_RATE, O_USSD, O_REPLY, O_MSISDNS, O_FROM, O_TO, O_TEXT, O_SERVICE, O_ANSWER,
        O_STEPTO, O_HELP, O_VERSION, O_DIALECT
    };
    static const struct option lo[] = {
        { "listen", required_argument, NULL, O_LISTEN },
        { "control", required_argument, NULL, O_CONTROL },
        { "system-id", required_argument, NULL, O_SYSID },
        { "password", required_argument, NULL, O_PASSWORD },
        { "account", required_argument, NULL, O_ACCOUNT },
        { "id-format", required_argument, NULL, O_IDFMT },
        { "dlr-id-format", required_argument, NULL, O_DLRIDFMT },
        { "id-start", required_argument, NULL, O_IDSTART },
        { "dlr-delay", required_argument, NULL, O_DLRDELAY },
        { "dlr-fail-ratio", required_argument, NULL, O_DLRFAIL },
        { "seed", required_argument, NULL, O_SEED },
        { "throttle-every", required_argument, NULL, O_THROTTLE },
        { "window-check", required_argument, NULL, O_WINCHECK },
        { "resp-delay", required_argument, NULL, O_RESPDELAY },
        { "enquire-link", required_argument, NULL, O_ENQ },
        { "resp-timeout", required_argument, NULL, O_RESPTO },
        { "ussd-timeout", required_argument, NULL, O_USSDTO },
        { "ussd-abort", required_argument, NULL, O_USSDABORT },
        { "dialect", required_argument, NULL, O_DIALECT },
        { "max-pdu", required_argument, NULL, O_MAXPDU },
        { "phone", required_argument, NULL, O_PHONE },
        { "linger", required_argument, NULL, O_LINGER },
        { "script", required_argument, NULL, O_SCRIPT },
        { "bind-wait", required_argument, NULL, O_BINDWAIT },
        { "load", required_argument, NULL, O_LOAD },
        { "window", required_argument, NULL, O_WINDOW },
        { "rate", required_argument, NULL, O_RATE },
        { "ussd", no_argument, NULL, O_USSD },
        { "reply", no_argument, NULL, O_REPLY },
        { "msisdns", required_argument, NULL, O_MSISDNS },
        { "from", required_argument, NULL, O_FROM },
        { "to", required_argument, NULL, O_TO },
        { "text", required_argument, NULL, O_TEXT },
        { "service", required_argument, NULL, O_SERVICE },
        { "answer", required_argument, NULL, O_ANSWER },
        { "step-timeout", required_argument, NULL, O_STEPTO },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 },
    };
    struct smsc_config *c = &o->cfg;
    unsigned long v;
    size_t extra = 0;
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "vqh", lo, NULL)) != -1) {
        const char *a = optarg;
        int bad = 0;
        switch (ch) {
        case O_LISTEN:
            bad = parse_hostport(a, o->listen_host, sizeof o->listen_host,
                                 &c->listen_port);
            o->listen_given = 1;
            break;
        case O_CONTROL:
            bad = parse_hostport(a, o->control_host, sizeof o->control_host,
                                 &c->control_port);
            o->control_given = 1;
            break;
        case O_SYSID: o->first_id = a; break;
        case O_PASSWORD: o->first_pw = a; break;
        case O_ACCOUNT: {
            const char *colon = strchr(a, ':');
            if (!colon || extra + 1 >= SMSC_MAX_ACCOUNTS ||
                strlen(a) >= sizeof o->account_buf[0]) {
                bad = 1;
                break;
            }
            char *buf = o->account_buf[extra + 1];
            strcpy(buf, a);
            buf[colon - a] = '\0';
            c->accounts[extra + 1].system_id = buf;
            c->accounts[extra + 1].password = buf + (colon - a) + 1;
            extra++;
            break;
        }
        case O_IDFMT: bad = parse_idfmt(a, &c->id_format); break;
        case O_DLRIDFMT: bad = parse_idfmt(a, &c->dlr_id_format); break;
        case O_IDSTART:
            bad = parse_ulong(a, 0xFFFFFFFFFFFFul, &v) || v == 0;
            c->id_start = v;
            break;
        case O_DLRDELAY:
            bad = parse_ulong(a, 86400000ul, &v);
            c->dlr_delay_ms = (unsigned)v;
            break;
        case O_DLRFAIL:
            bad = parse_double(a, 0.0, 1.0, &c->dlr_fail_ratio);
            break;
        case O_SEED:
            bad = parse_ulong(a, ~0ul, &v);
            c->seed = v;
            break;
        case O_THROTTLE:
            bad = parse_ulong(a, 1000000ul, &v);
            c->throttle_every = (unsigned)v;
            break;
        case O_WINCHECK:
            bad = parse_ulong(a, 1000000ul, &v);
            c->window_check = (unsigned)v;
            break;
        case O_RESPDELAY:
            bad = parse_ulong(a, 600000ul, &v);
            c->resp_delay_ms = (unsigned)v;
            break;
        case O_ENQ:
            bad = parse_ulong(a, 86400ul, &v);
            c->enquire_link_s = (unsigned)v;
            break;
        case O_RESPTO:
            bad = parse_ulong(a, 3600000ul, &v) || v == 0;
            c->resp_timeout_ms = (unsigned)v;
            break;
        case O_USSDTO:
            bad = parse_ulong(a, 86400ul, &v) || v == 0;
            c->ussd_timeout_s = (unsigned)v;
            break;
        case O_DIALECT:
            if (!ussd_dialect_find(a)) {
                fprintf(stderr, "kyzmat-smsc: unknown --dialect \"%s\"; presets:", a);
                for (const struct ussd_dialect *d = ussd_dialects; d->name; d++)
                    fprintf(stderr, " %s", d->name);
                fputc('\n', stderr);
                return -1;
            }
            c->dialect = a;
            break;
        case O_USSDABORT:
            if (strcmp(a, "end-bit") == 0)
                c->ussd_abort = SMSC_ABORT_END_BIT;
            else if (strcmp(a, "ussrel") == 0)
                c->ussd_abort = SMSC_ABORT_USSREL;
            else
                bad = 1;
            break;
        case O_MAXPDU:
            bad = parse_ulong(a, 16u << 20, &v) || v < 64;
            c->max_pdu_len = (uint32_t)v;
            break;
        case O_PHONE:
            o->mode = MODE_PHONE;
            o->phone = a;
            bad = !*a || strlen(a) > 20 || strspn(a, "0123456789+") != strlen(a);
            break;
        case O_LINGER: bad = parse_double(a, 0, 3600, &o->linger_s); break;
        case O_SCRIPT: o->mode = MODE_SCRIPT; o->script = a; break;
        case O_BINDWAIT:
            bad = parse_ulong(a, 86400ul, &v) || v == 0;
            o->bind_wait_s = (unsigned)v;
            break;
        case O_LOAD:
            o->mode = MODE_LOAD;
            bad = parse_ulong(a, 1000000000ul, &o->load_n) || o->load_n == 0;
            break;
        case O_WINDOW:
            bad = parse_ulong(a, 16000ul, &v) || v == 0;
            o->window = (unsigned)v;
            break;
        case O_RATE: bad = parse_double(a, 0.001, 1e7, &o->rate); break;
        case O_USSD: o->ussd = 1; break;
        case O_REPLY: o->reply = 1; break;
        case O_MSISDNS:
            bad = parse_ulong(a, 10000000ul, &v) || v == 0;
            o->msisdns = (unsigned)v;
            break;
        case O_FROM:
            o->load_from = a;
            bad = !*a || strlen(a) > 18 || strspn(a, "0123456789") != strlen(a);
            break;
        case O_TO: o->load_to = a; break;
        case O_TEXT: o->load_text = a; break;
        case O_SERVICE: o->service = a; break;
        case O_ANSWER: o->answer = a; break;
        case O_STEPTO:
            bad = parse_ulong(a, 3600000ul, &v) || v == 0;
            o->step_timeout_ms = (unsigned)v;
            break;
        case 'v': c->verbose = 1; break;
        case 'q': c->quiet = 1; break;
        case 'h':
        case O_HELP: usage(stdout); return 1;
        case O_VERSION: printf("kyzmat-smsc %s\n", KYZMAT_SMSC_VERSION); return 1;
        case ':':
            fprintf(stderr, "kyzmat-smsc: %s needs a value (see --help)\n",
                    argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "kyzmat-smsc: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (bad) {
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
    c->accounts[0].system_id = o->first_id ? o->first_id : "kyzmat";
    c->accounts[0].password = o->first_pw ? o->first_pw : "secret";
    c->n_accounts = extra + 1;
    c->listen_host = o->listen_host;
    c->control_host = o->control_host;
    if (o->ussd && o->reply) {
        fprintf(stderr, "kyzmat-smsc: --ussd and --reply exclude each other\n");
        return -1;
    }
    if (o->mode == MODE_LOAD && o->ussd && o->service &&
        o->service[0] != '*' && o->service[0] != '#') {
        fprintf(stderr, "kyzmat-smsc: --service must be a dial string like *100#\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Shared                                                              */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void us_to_tv(uint64_t us, struct timeval *tv)
{
    tv->tv_sec = (time_t)(us / 1000000u);
    tv->tv_usec = (suseconds_t)(us % 1000000u);
}

/* The phone makes stdin non-blocking; the flag belongs to the open file
 * the shell shares, so it is put back before exit. */
static int fcntl_getfl_stdin(void)
{
    return fcntl(0, F_GETFL);
}

static void fcntl_setfl_stdin(int fl)
{
    if (fl >= 0)
        fcntl(0, F_SETFL, fl);
}

/* SIGINT / SIGTERM leave the loop so everything is freed on the way out. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* ------------------------------------------------------------------ */
/* Phone                                                               */

/*
 * The phone talks the control protocol: "subscribe MSISDN" once, then
 * "ussd MSISDN *100#" to dial, "ussd MSISDN - TEXT" to answer, "mo ..." to
 * send an SMS.  Its state:
 *
 *   state  | input means          | leaves on
 *   -------+----------------------+-----------------------------------
 *   IDLE   | a dial string / sms  | dial sent -> WAIT
 *   WAIT   | (queued)             | continue -> ANSWER; end/timeout/err -> IDLE
 *   ANSWER | the answer / abort   | answer sent -> WAIT; abort -> IDLE
 *
 * Every command's reply (ok/err) is awaited before the next command, so a
 * pipe full of input is consumed one screen at a time.
 */
enum phone_state { PH_IDLE = 0, PH_WAIT, PH_ANSWER };

#define PHONE_WIDTH 32
#define PHONE_QUEUE 256

struct phone {
    struct event_base *base;
    const char *msisdn;
    struct bufferevent *ctl;
    struct event *stdin_ev, *linger_ev, *wait_ev;
    struct evbuffer *inbuf;     /* stdin bytes not yet cut into lines */
    char *queue[PHONE_QUEUE];   /* input lines waiting for their turn */
    unsigned q_head, q_len;
    enum phone_state st;
    int replies_due;            /* commands sent, ok/err not yet read */
    int stdin_eof;
    int stdin_file;             /* stdin is a file or /dev/null: no polling */
    int tty;
    int prompt_shown;
    int connected;
    int subscribed;
    int done;
    double linger_s;
    unsigned bind_wait_s;
    int rc;
};

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* Byte length of the longest prefix of s[0..n) holding at most max chars. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
    size_t c = 0, i = 0;
    for (; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == max)
                break;
            c++;
        }
    }
    return i;
}

static void phone_out_begin(struct phone *p)
{
    if (p->prompt_shown) {
        fputc('\n', stdout);
        p->prompt_shown = 0;
    }
}

static void put_repeat(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputs(s, stdout);
}

/* Print text in a frame, wrapped at PHONE_WIDTH characters (at a space
 * when there is one), width counted in characters, not bytes. */
static void phone_box(const char *title, const char *text)
{
    enum { MAXL = 128 };
    const char *ls[MAXL];
    size_t ll[MAXL];
    size_t n = 0, width = title ? utf8_chars(title, strlen(title)) + 2 : 0;
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        do {
            size_t take = len;
            if (utf8_chars(p, len) > PHONE_WIDTH) {
                take = utf8_prefix(p, len, PHONE_WIDTH);
                size_t sp = take;
                while (sp > 0 && p[sp] != ' ')
                    sp--;
                if (sp > 0)
                    take = sp;
            }
            if (n < MAXL) {
                ls[n] = p;
                ll[n] = take;
                n++;
            }
            size_t w = utf8_chars(p, take);
            if (w > width)
                width = w;
            p += take;
            len -= take;
            if (len && *p == ' ' && take) {
                p++;
                len--;
            }
        } while (len > 0);
        if (!nl)
            break;
        p = nl + 1;
    }
    if (width < 12)
        width = 12;
    fputs("┌", stdout);
    if (title) {
        printf("─ %s ", title);
        put_repeat("─", width - utf8_chars(title, strlen(title)) - 1);
    } else {
        put_repeat("─", width + 2);
    }
    fputs("┐\n", stdout);
    for (size_t i = 0; i < n; i++) {
        fputs("│ ", stdout);
        fwrite(ls[i], 1, ll[i], stdout);
        put_repeat(" ", width - utf8_chars(ls[i], ll[i]));
        fputs(" │\n", stdout);
    }
    fputs("└", stdout);
    put_repeat("─", width + 2);
    fputs("┘\n", stdout);
}

static void phone_send(struct phone *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void phone_send(struct phone *p, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct evbuffer *out = bufferevent_get_output(p->ctl);
    evbuffer_add(out, line, strlen(line));
    evbuffer_add(out, "\n", 1);
    p->replies_due++;
}

static void phone_finish(struct phone *p, int rc)
{
    if (p->done)
        return;
    p->done = 1;
    p->rc = rc;
    fflush(stdout);
    event_base_loopexit(p->base, NULL);
}

static void phone_prompt(struct phone *p)
{
    if (p->prompt_shown || p->st == PH_WAIT || p->replies_due || p->done)
        return;
    if (p->stdin_eof && !p->q_len)
        return;                /* input has ended: no more prompts */
    fputs("Dial or answer> ", stdout);
    fflush(stdout);
    p->prompt_shown = 1;
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    phone_finish(arg, 0);
}

/* Nothing left to do after end of input: quit (after --linger). */
static void phone_maybe_done(struct phone *p)
{
    if (!p->stdin_eof || p->q_len || p->st == PH_WAIT || p->replies_due ||
        p->done || !p->subscribed)
        return;
    if (p->linger_s > 0) {
        if (!evtimer_pending(p->linger_ev, NULL)) {
            struct timeval tv;
            us_to_tv((uint64_t)(p->linger_s * 1e6), &tv);
            evtimer_add(p->linger_ev, &tv);
        }
        return;
    }
    phone_finish(p, 0);
}

static void phone_escape(const char *in, char *out, size_t cap)
{
    smsc_escape_line(in, out, cap);
}

/* Take queued input while the state allows it. */
static void phone_pump(struct phone *p)
{
    while (p->q_len && p->st != PH_WAIT && !p->replies_due && p->subscribed) {
        char *line = p->queue[p->q_head];
        p->q_head = (p->q_head + 1) % PHONE_QUEUE;
        p->q_len--;
        if (!p->tty) {
            if (!p->prompt_shown)
                fputs("Dial or answer> ", stdout);
            printf("%s\n", line);
        }
        p->prompt_shown = 0;
        char esc[1500];
        phone_escape(line, esc, sizeof esc);
        if (strncmp(line, "sms ", 4) == 0) {
            char to[32];
            int off = 0;
            if (sscanf(line + 4, "%31s %n", to, &off) >= 1 && off > 0) {
                phone_escape(line + 4 + off, esc, sizeof esc);
                phone_send(p, "mo %s %s %s", p->msisdn, to, esc);
            } else {
                printf("[usage: sms TO TEXT]\n");
            }
        } else if (strcmp(line, "abort") == 0 && p->st == PH_ANSWER) {
            phone_send(p, "ussd-abort %s", p->msisdn);
            printf("[session aborted]\n");
            p->st = PH_IDLE;
        } else if (p->st == PH_ANSWER) {
            phone_send(p, "ussd %s - %s", p->msisdn, esc);
            p->st = PH_WAIT;
        } else if (line[0] == '*' || line[0] == '#') {
            phone_send(p, "ussd %s %s", p->msisdn, esc);
            p->st = PH_WAIT;
        } else if (line[0]) {
            printf("[dial a code like *100#, or: sms TO TEXT]\n");
        }
        free(line);
        if (p->st == PH_WAIT) {
            struct timeval tv = { 60, 0 };
            evtimer_add(p->wait_ev, &tv);
        }
    }
    phone_prompt(p);
    phone_maybe_done(p);
    fflush(stdout);
}

static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct phone *p = arg;
    if (p->st != PH_WAIT)
        return;
    phone_out_begin(p);
    printf("[no answer from the network]\n");
    p->st = PH_IDLE;
    phone_pump(p);
}

static void phone_line_from_ctl(struct phone *p, char *line)
{
    if (strncmp(line, "ok", 2) == 0 && (line[2] == '\0' || line[2] == ' ')) {
        if (p->replies_due)
            p->replies_due--;
        if (!p->subscribed) {
            p->subscribed = 1;
            if (p->tty) {
                printf("Phone %s ready. Dial a code like *100#; Ctrl-D quits.\n",
                       p->msisdn);
            }
        }
        phone_pump(p);
        return;
    }
    if (strncmp(line, "err", 3) == 0) {
        if (p->replies_due)
            p->replies_due--;
        phone_out_begin(p);
        printf("[error: %s]\n", line[3] ? line + 4 : "?");
        if (!p->subscribed) {
            phone_finish(p, 1);
            return;
        }
        if (p->st == PH_WAIT)
            p->st = PH_IDLE;
        phone_pump(p);
        return;
    }
    /* events: "ussd MSISDN KIND TEXT" / "sms FROM TO TEXT" */
    char *rest = line;
    char *kind = strsep(&rest, " ");
    if (!kind || !rest)
        return;
    if (strcmp(kind, "ussd") == 0) {
        char *who = strsep(&rest, " ");
        char *what = rest ? strsep(&rest, " ") : NULL;
        if (!who || !what || strcmp(who, p->msisdn) != 0)
            return;
        char *text = rest ? rest : (char *)"";
        smsc_unescape_line(text);
        phone_out_begin(p);
        if (strcmp(what, "timeout") == 0) {
            printf("[session timed out]\n");
            p->st = PH_IDLE;
        } else {
            phone_box(NULL, text);
            if (strcmp(what, "continue") == 0) {
                p->st = PH_ANSWER;
            } else if (strcmp(what, "end") == 0) {
                printf("[session ended]\n");
                p->st = PH_IDLE;
            }
        }
        evtimer_del(p->wait_ev);
        phone_pump(p);
    } else if (strcmp(kind, "sms") == 0) {
        char *from = strsep(&rest, " ");
        char *to = rest ? strsep(&rest, " ") : NULL;
        if (!from || !to || strcmp(to, p->msisdn) != 0)
            return;
        char *text = rest ? rest : (char *)"";
        smsc_unescape_line(text);
        char title[48];
        snprintf(title, sizeof title, "SMS from %s", from);
        phone_out_begin(p);
        phone_box(title, text);
        phone_prompt(p);
        fflush(stdout);
    }
}

static void phone_ctl_read(struct bufferevent *bev, void *arg)
{
    struct phone *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;
    while (!p->done && (line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF))) {
        phone_line_from_ctl(p, line);
        free(line);
    }
}

static void phone_ctl_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct phone *p = arg;
    if (what & BEV_EVENT_CONNECTED) {
        p->connected = 1;
        phone_send(p, "subscribe %s", p->msisdn);
        /* input from a pipe is meant for a bound gateway: wait for one */
        if (!p->tty)
            phone_send(p, "wait-bind %u", p->bind_wait_s);
        return;
    }
    phone_out_begin(p);
    if (!p->connected)
        fprintf(stderr, "kyzmat-smsc: cannot connect to the control port: %s\n",
                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    else
        printf("[network gone]\n");
    phone_finish(p, 1);
}

static void phone_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct phone *p = arg;
    int n = evbuffer_read(p->inbuf, fd, 4096);
    if (n > 0 && p->stdin_file) {
        /* a file cannot be polled: take it whole, it never blocks */
        while (n > 0 && evbuffer_get_length(p->inbuf) < (1u << 20))
            n = evbuffer_read(p->inbuf, fd, 4096);
        char *line;
        size_t len;
        while (p->q_len < PHONE_QUEUE &&
               (line = evbuffer_readln(p->inbuf, &len, EVBUFFER_EOL_CRLF)))
            p->queue[(p->q_head + p->q_len++) % PHONE_QUEUE] = line;
        n = 0;
    }
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        /* EOF (Ctrl-D): a last line without newline still counts */
        size_t left = evbuffer_get_length(p->inbuf);
        if (left && p->q_len < PHONE_QUEUE) {
            char *line = malloc(left + 1);
            if (line) {
                evbuffer_remove(p->inbuf, line, left);
                line[left] = '\0';
                p->queue[(p->q_head + p->q_len++) % PHONE_QUEUE] = line;
            }
        }
        p->stdin_eof = 1;
        event_del(p->stdin_ev);
        if (p->tty && p->prompt_shown) {
            fputc('\n', stdout);
            p->prompt_shown = 0;
        }
        phone_pump(p);
        return;
    }
    char *line;
    size_t len;
    while (p->q_len < PHONE_QUEUE &&
           (line = evbuffer_readln(p->inbuf, &len, EVBUFFER_EOL_CRLF))) {
        p->queue[(p->q_head + p->q_len++) % PHONE_QUEUE] = line;
    }
    if (p->q_len >= PHONE_QUEUE)
        event_del(p->stdin_ev);   /* back-pressure: read more later */
    phone_pump(p);
    if (p->q_len < PHONE_QUEUE && !p->stdin_eof && !p->done)
        event_add(p->stdin_ev, NULL);
}

static int phone_run(struct event_base *base, const char *msisdn,
                     const char *host, uint16_t port, double linger_s,
                     unsigned bind_wait_s)
{
    struct phone p;
    memset(&p, 0, sizeof p);
    p.bind_wait_s = bind_wait_s;
    p.base = base;
    p.msisdn = msisdn;
    p.linger_s = linger_s;
    p.tty = isatty(0);
    p.inbuf = evbuffer_new();
    p.ctl = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    p.stdin_ev = event_new(base, 0, EV_READ | EV_PERSIST, phone_stdin_cb, &p);
    p.linger_ev = evtimer_new(base, linger_cb, &p);
    p.wait_ev = evtimer_new(base, wait_cb, &p);
    int rc = 1;
    if (!p.inbuf || !p.ctl || !p.stdin_ev || !p.linger_ev || !p.wait_ev)
        goto out;
    bufferevent_setcb(p.ctl, phone_ctl_read, NULL, phone_ctl_event, &p);
    bufferevent_enable(p.ctl, EV_READ | EV_WRITE);
    char spec[96];
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    snprintf(spec, sizeof spec, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
             port);
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0) {
        fprintf(stderr, "kyzmat-smsc: bad control address %s\n", spec);
        goto out;
    }
    if (bufferevent_socket_connect(p.ctl, (struct sockaddr *)&ss, sslen) != 0) {
        fprintf(stderr, "kyzmat-smsc: cannot connect to %s\n", spec);
        goto out;
    }
    struct stat st;
    if (!p.tty && fstat(0, &st) == 0 && (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)))
        p.stdin_file = 1;
    if (p.stdin_file) {
        /* read once the control link is up (the first pump) */
        phone_stdin_cb(0, EV_READ, &p);
    } else {
        evutil_make_socket_nonblocking(0);
        event_add(p.stdin_ev, NULL);
    }
    event_base_dispatch(base);
    rc = p.rc;
out:
    while (p.q_len) {
        free(p.queue[p.q_head]);
        p.q_head = (p.q_head + 1) % PHONE_QUEUE;
        p.q_len--;
    }
    if (p.stdin_ev)
        event_free(p.stdin_ev);
    if (p.linger_ev)
        event_free(p.linger_ev);
    if (p.wait_ev)
        event_free(p.wait_ev);
    if (p.ctl)
        bufferevent_free(p.ctl);
    if (p.inbuf)
        evbuffer_free(p.inbuf);
    fflush(stdout);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Script                                                              */

/*
 * A script is parsed whole before the simulator starts (so a typo fails at
 * once, naming the line), then run as a cursor over its lines once an ESME
 * is bound.  Commands that wait (wait-bind, expect-*, sleep) park the cursor
 * and arm one timer; events from the simulator are queued and every new
 * event re-runs the cursor.  Expectations consume the events they match.
 */
struct sevent {
    struct sevent *next;
    enum smsc_event_kind kind;
    enum smsc_ussd_kind ussd;
    char *to, *text;
};

struct script {
    struct event_base *base;
    struct smsc *s;
    const char *file;
    struct smsc_script_line *lines;
    size_t n, pc;
    uint64_t timeout_ms;         /* for expect-* (timeout line), default 5 s */
    uint64_t bind_wait_ms;       /* for wait-bind without a duration */
    int waiting;                 /* the current line has armed the timer */
    int running;
    struct event *timer;
    struct sevent *evq;
    unsigned expectations;
    int done, rc;
};

/* Parse one script line (see smsc_script_parse_line); print why not. */
static int script_parse_line(const char *file, int lineno, const char *line,
                             struct smsc_script_line *out)
{
    char err[160];
    if (smsc_script_parse_line(line, out, err, sizeof err) != 0) {
        fprintf(stderr, "script %s:%d: %s\n", file, lineno, err);
        return -1;
    }
    out->lineno = lineno;
    return 0;
}

static int script_load(struct script *sc, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "script %s: %s\n", file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    size_t alloc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (sc->n == alloc) {
            alloc = alloc ? alloc * 2 : 32;
            struct smsc_script_line *nl = realloc(sc->lines, alloc * sizeof *nl);
            if (!nl) {
                rc = -1;
                break;
            }
            sc->lines = nl;
        }
        if (script_parse_line(file, lineno, p, &sc->lines[sc->n]) != 0) {
            rc = -1;
            break;
        }
        sc->n++;
    }
    free(line);
    fclose(f);
    return rc;
}

static void script_end(struct script *sc, int rc)
{
    if (sc->done)
        return;
    sc->done = 1;
    sc->rc = rc;
    evtimer_del(sc->timer);
    smsc_set_observer(sc->s, NULL, NULL);
    event_base_loopexit(sc->base, NULL);
}

__attribute__((format(printf, 3, 4)))
static void script_fail(struct script *sc, const struct smsc_script_line *l,
                        const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stdout, "script %s:%d: FAILED: %s\n", sc->file, l ? l->lineno : 0,
            msg);
    fflush(stdout);
    script_end(sc, 1);
}

static void sevent_free(struct sevent *e)
{
    free(e->to);
    free(e->text);
    free(e);
}

/* Remove and return the first queued event accepted by match(). */
static struct sevent *evq_take(struct script *sc, const struct smsc_script_line *l,
                               int (*match)(const struct smsc_script_line *,
                                            const struct sevent *))
{
    for (struct sevent **pp = &sc->evq; *pp; pp = &(*pp)->next)
        if (match(l, *pp)) {
            struct sevent *e = *pp;
            *pp = e->next;
            return e;
        }
    return NULL;
}

static int match_ussd(const struct smsc_script_line *l, const struct sevent *e)
{
    return (e->kind == SMSC_EV_USSD || e->kind == SMSC_EV_USSD_TIMEOUT) &&
           (!l->a || strcmp(l->a, e->to) == 0);
}

static int match_sms(const struct smsc_script_line *l, const struct sevent *e)
{
    return e->kind == SMSC_EV_SMS && strcmp(l->a, e->to) == 0 &&
           strstr(e->text, l->text) != NULL;
}

static const char *sev_kind_name(const struct sevent *e)
{
    if (e->kind == SMSC_EV_USSD_TIMEOUT)
        return "timeout";
    return e->ussd == SMSC_USSD_END ? "end"
         : e->ussd == SMSC_USSD_NOTICE ? "notice" : "continue";
}

static void script_wait(struct script *sc, uint64_t ms)
{
    if (sc->waiting)
        return;
    sc->waiting = 1;
    struct timeval tv;
    us_to_tv(ms * 1000u, &tv);
    evtimer_add(sc->timer, &tv);
}

/* Run lines until one has to wait.  Re-entered on every event/timer. */
static void script_run(struct script *sc)
{
    if (sc->running || sc->done)
        return;
    sc->running = 1;
    char err[160];
    while (!sc->done && sc->pc < sc->n) {
        struct smsc_script_line *l = &sc->lines[sc->pc];
        int advance = 1;
        switch (l->cmd) {
        case SMSC_SC_WAIT_BIND:
            if (smsc_receivers(sc->s) == 0) {
                script_wait(sc, l->ms ? l->ms : sc->bind_wait_ms);
                advance = 0;
            }
            break;
        case SMSC_SC_TIMEOUT:
            sc->timeout_ms = l->ms;
            break;
        case SMSC_SC_SLEEP:
            if (!sc->waiting) {
                script_wait(sc, l->ms);
                advance = 0;
            } else {
                advance = 0;   /* the timer advances it */
            }
            break;
        case SMSC_SC_DIAL: {
            char svc[24];
            if (smsc_dial_service(l->b, svc, sizeof svc) != 0) {
                script_fail(sc, l, "'%s' is not a dial string", l->b);
                break;
            }
            if (smsc_ussd(sc->s, l->a, svc, l->b, err, sizeof err) != 0)
                script_fail(sc, l, "dial %s %s: %s", l->a, l->b, err);
            break;
        }
        case SMSC_SC_SEND:
            if (smsc_ussd(sc->s, l->a, "-", l->text, err, sizeof err) != 0)
                script_fail(sc, l, "send %s: %s", l->a, err);
            break;
        case SMSC_SC_ABORT:
            if (smsc_ussd_abort(sc->s, l->a, err, sizeof err) != 0)
                script_fail(sc, l, "abort %s: %s", l->a, err);
            break;
        case SMSC_SC_MO:
            if (smsc_mo(sc->s, l->a, l->b, l->text, 0, err, sizeof err) < 0)
                script_fail(sc, l, "mo: %s", err);
            break;
        case SMSC_SC_DROP:
            smsc_drop(sc->s, l->a);
            break;
        case SMSC_SC_THROTTLE:
            smsc_set_throttle(sc->s, (unsigned)l->ms);
            break;
        case SMSC_SC_EXPECT_CONT:
        case SMSC_SC_EXPECT_END:
        case SMSC_SC_EXPECT_TIMEOUT: {
            struct sevent *e = evq_take(sc, l, match_ussd);
            if (!e) {
                script_wait(sc, sc->timeout_ms);
                advance = 0;
                break;
            }
            const char *want = l->cmd == SMSC_SC_EXPECT_CONT ? "continue"
                             : l->cmd == SMSC_SC_EXPECT_END ? "end" : "timeout";
            const char *got = sev_kind_name(e);
            char esc[600];
            smsc_escape_line(e->text, esc, sizeof esc);
            sc->expectations++;
            if (strcmp(want, got) != 0 && !(l->cmd == SMSC_SC_EXPECT_END &&
                                            strcmp(got, "notice") == 0))
                script_fail(sc, l, "expected ussd %s, got %s \"%s\" for %s",
                            want, got, esc, e->to);
            else if (l->text && !strstr(e->text, l->text))
                script_fail(sc, l, "ussd %s for %s: \"%s\" does not contain "
                            "\"%s\"", got, e->to, esc, l->text);
            sevent_free(e);
            break;
        }
        case SMSC_SC_EXPECT_SMS: {
            struct sevent *e = evq_take(sc, l, match_sms);
            if (!e) {
                script_wait(sc, sc->timeout_ms);
                advance = 0;
                break;
            }
            sc->expectations++;
            sevent_free(e);
            break;
        }
        }
        if (!advance || sc->done)
            break;
        if (sc->waiting) {
            evtimer_del(sc->timer);
            sc->waiting = 0;
        }
        sc->pc++;
    }
    if (!sc->done && sc->pc == sc->n) {
        fprintf(stdout, "script %s: ok (%zu commands, %u expectations)\n",
                sc->file, sc->n, sc->expectations);
        fflush(stdout);
        script_end(sc, 0);
    }
    sc->running = 0;
}

static void script_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct script *sc = arg;
    struct smsc_script_line *l = sc->pc < sc->n ? &sc->lines[sc->pc] : NULL;
    sc->waiting = 0;
    if (!l)
        return;
    if (l->cmd == SMSC_SC_SLEEP) {
        sc->pc++;
        script_run(sc);
        return;
    }
    /* A timed-out expectation: say what did arrive meanwhile. */
    char seen[512] = "";
    size_t o = 0;
    for (struct sevent *e = sc->evq; e && o < sizeof seen - 80; e = e->next) {
        char esc[48];
        smsc_escape_line(e->text, esc, sizeof esc);
        int n = snprintf(seen + o, sizeof seen - o, "%s%s %s \"%s\"",
                         o ? "; " : " (unconsumed: ",
                         e->kind == SMSC_EV_SMS ? "sms to" : sev_kind_name(e),
                         e->to, esc);
        if (n > 0)
            o += (size_t)n;
    }
    if (o)
        snprintf(seen + o, sizeof seen - o, ")");
    switch (l->cmd) {
    case SMSC_SC_WAIT_BIND:
        script_fail(sc, l, "no ESME bound within %llu ms",
                    (unsigned long long)(l->ms ? l->ms : sc->bind_wait_ms));
        break;
    case SMSC_SC_EXPECT_SMS:
        script_fail(sc, l, "no SMS to %s containing \"%s\" within %llu ms%s",
                    l->a, l->text, (unsigned long long)sc->timeout_ms, seen);
        break;
    default:
        script_fail(sc, l, "no USSD %s%s within %llu ms%s",
                    l->cmd == SMSC_SC_EXPECT_CONT ? "continue" :
                    l->cmd == SMSC_SC_EXPECT_END ? "end" : "timeout",
                    l->a ? " for the MSISDN" : "",
                    (unsigned long long)sc->timeout_ms, seen);
        break;
    }
}

static void script_observer(void *arg, const struct smsc_event *ev)
{
    struct script *sc = arg;
    if (ev->kind == SMSC_EV_SMS || ev->kind == SMSC_EV_USSD ||
        ev->kind == SMSC_EV_USSD_TIMEOUT) {
        struct sevent *e = calloc(1, sizeof *e);
        if (!e)
            return;
        e->kind = ev->kind;
        e->ussd = ev->ussd;
        e->to = strdup(ev->to ? ev->to : "");
        e->text = strdup(ev->text ? ev->text : "");
        struct sevent **pp = &sc->evq;
        while (*pp)
            pp = &(*pp)->next;
        *pp = e;
    }
    script_run(sc);
}

/* ------------------------------------------------------------------ */
/* Load                                                                */

/*
 * Latency histogram: microseconds in log buckets, 64 linear sub-buckets per
 * power of two (HdrHistogram-like, under 1.6 % error), so N can be large.
 */
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB + 58 * HIST_SUB)

struct hist {
    uint64_t count, max;
    uint64_t b[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);      /* >= 6 */
    uint64_t m = v >> (e - 6);                            /* 64..127 */
    unsigned i = HIST_SUB + (e - 6) * HIST_SUB + (unsigned)(m - HIST_SUB);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t hist_value(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned e = (i - HIST_SUB) / HIST_SUB + 6;
    uint64_t m = (i - HIST_SUB) % HIST_SUB + HIST_SUB;
    uint64_t w = 1ull << (e - 6);
    return (m << (e - 6)) + w / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static uint64_t hist_pct(const struct hist *h, double pct)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)h->count), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

struct subscriber {
    char msisdn[22];
    int busy;                    /* a step in flight */
    int in_dialog;               /* next step answers instead of dialling */
    uint64_t t0;                 /* the step's intended start (us) */
};

struct load {
    struct event_base *base;
    struct smsc *s;
    const struct opts *o;
    unsigned long n, started, finished, ok, errors;
    unsigned window, in_flight;
    double rate;
    uint64_t t_start, t_end, bind_deadline;
    struct hist *h;
    struct subscriber *subs;
    unsigned n_subs, next_sub;
    struct event *tick;
    struct event *pace;         /* open loop: fires at the next intended start */
    int bound;
    int done;
};

static void load_finish(struct load *L)
{
    if (L->done)
        return;
    L->done = 1;
    L->t_end = now_us();
    smsc_set_observer(L->s, NULL, NULL);
    event_base_loopexit(L->base, NULL);
}

static void load_complete(struct load *L, uint64_t t0, int ok)
{
    uint64_t t = now_us();
    L->finished++;
    if (L->in_flight)
        L->in_flight--;
    if (ok) {
        L->ok++;
        hist_add(L->h, t > t0 ? t - t0 : 0);
    } else {
        L->errors++;
    }
    if (L->finished >= L->n)
        load_finish(L);
}

static struct subscriber *find_sub(struct load *L, const char *msisdn)
{
    /* MSISDNs are base + index, so the index is the difference. */
    unsigned long long base = strtoull(L->subs[0].msisdn, NULL, 10);
    unsigned long long v = strtoull(msisdn, NULL, 10);
    if (v < base || v - base >= L->n_subs)
        return NULL;
    struct subscriber *u = &L->subs[v - base];
    return strcmp(u->msisdn, msisdn) == 0 ? u : NULL;
}

/* Start one step whose intended start time is t0. 0 = started, -1 = no
 * free subscriber (USSD) right now. */
static int load_start_one(struct load *L, uint64_t t0)
{
    char err[128];
    if (!L->o->ussd && !L->o->reply) {
        char from[24];
        unsigned long long base = strtoull(L->o->load_from, NULL, 10);
        snprintf(from, sizeof from, "%llu",
                 base + (unsigned long long)(L->started % L->n_subs));
        L->started++;
        L->in_flight++;
        int n = smsc_mo(L->s, from, L->o->load_to, L->o->load_text, t0, err,
                        sizeof err);
        if (n > 1) {
            fprintf(stderr, "[load] --text must fit one SMS\n");
            load_finish(L);
        } else if (n < 0) {
            load_complete(L, t0, 0);
        }
        return 0;
    }
    struct subscriber *u = NULL;
    for (unsigned k = 0; k < L->n_subs; k++) {
        struct subscriber *c = &L->subs[(L->next_sub + k) % L->n_subs];
        if (!c->busy) {
            u = c;
            L->next_sub = (L->next_sub + k + 1) % L->n_subs;
            break;
        }
    }
    if (!u)
        return -1;
    L->started++;
    L->in_flight++;
    u->busy = 1;
    u->t0 = t0;
    if (L->o->reply) {
        /* the tag names the subscriber, so a refused deliver_sm ends its step */
        int n = smsc_mo(L->s, u->msisdn, L->o->load_to, L->o->load_text,
                        (uint64_t)(u - L->subs), err, sizeof err);
        if (n > 1) {
            fprintf(stderr, "[load] --text must fit one SMS\n");
            load_finish(L);
        } else if (n < 0) {
            u->busy = 0;
            load_complete(L, t0, 0);
        }
        return 0;
    }
    int rc;
    if (u->in_dialog) {
        rc = smsc_ussd(L->s, u->msisdn, "-", L->o->answer, err, sizeof err);
    } else {
        char svc[24];
        smsc_dial_service(L->o->service, svc, sizeof svc);
        rc = smsc_ussd(L->s, u->msisdn, svc, L->o->service, err, sizeof err);
    }
    if (rc != 0) {
        u->busy = 0;
        u->in_dialog = 0;
        smsc_ussd_abort(L->s, u->msisdn, err, sizeof err);
        load_complete(L, t0, 0);
    }
    return 0;
}

/* Closed loop: fill the window.  Open loop: start every step whose time
 * has come (as far as the window allows). */
static void load_pump(struct load *L)
{
    if (!L->bound || L->done)
        return;
    uint64_t t = now_us();
    while (L->started < L->n && L->in_flight < L->window && !L->done) {
        uint64_t t0 = t;
        if (L->rate > 0) {
            t0 = L->t_start + (uint64_t)((double)L->started * 1e6 / L->rate);
            if (t0 > t)
                break;
        }
        if (load_start_one(L, t0) != 0)
            break;
    }
    /* Open loop: wake exactly when the next step is due (the 1 ms tick
     * alone would start steps up to a tick late, which the latency, counted
     * from the intended time, would then show as the gateway's). */
    if (L->rate > 0 && L->pace && L->started < L->n && L->in_flight < L->window &&
        !L->done) {
        uint64_t next = L->t_start + (uint64_t)((double)L->started * 1e6 / L->rate);
        uint64_t wait = next > t ? next - t : 0;
        struct timeval tv = { (time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u) };
        event_del(L->pace);
        event_add(L->pace, &tv);
    }
}

static void load_pace_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    load_pump(arg);
}

static void load_observer(void *arg, const struct smsc_event *ev)
{
    struct load *L = arg;
    switch (ev->kind) {
    case SMSC_EV_BIND:
        if (!L->bound && smsc_receivers(L->s) > 0) {
            L->bound = 1;
            L->t_start = now_us();
            fprintf(stderr, "[load] %s bound, starting %lu %s\n",
                    ev->system_id ? ev->system_id : "?", L->n,
                    L->o->ussd ? "USSD steps" :
                    L->o->reply ? "MO messages (each until its reply MT)" :
                    "MO messages");
        }
        break;
    case SMSC_EV_DELIVER_RESP:
        if (L->o->reply) {
            struct subscriber *u = ev->tag < L->n_subs ? &L->subs[ev->tag] : NULL;
            if (ev->status != 0 && u && u->busy) {
                u->busy = 0;
                load_complete(L, u->t0, 0);
            }
        } else if (!L->o->ussd) {
            load_complete(L, ev->tag, ev->status == 0);
        }
        break;
    case SMSC_EV_SMS: {
        if (!L->o->reply || !ev->to)
            break;
        /* the reply's destination is the MO's sender (a '+' may be added) */
        struct subscriber *u = find_sub(L, ev->to[0] == '+' ? ev->to + 1 : ev->to);
        if (u && u->busy) {
            u->busy = 0;
            load_complete(L, u->t0, 1);
        }
        break;
    }
    case SMSC_EV_USSD:
    case SMSC_EV_USSD_TIMEOUT: {
        if (!L->o->ussd)
            break;
        struct subscriber *u = find_sub(L, ev->to);
        if (!u || !u->busy) {
            if (u && ev->kind == SMSC_EV_USSD_TIMEOUT)
                u->in_dialog = 0;
            break;
        }
        u->busy = 0;
        u->in_dialog = ev->kind == SMSC_EV_USSD &&
                       ev->ussd == SMSC_USSD_CONTINUE;
        load_complete(L, u->t0, ev->kind == SMSC_EV_USSD);
        break;
    }
    default:
        break;
    }
    load_pump(L);
}

static void load_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct load *L = arg;
    uint64_t t = now_us();
    if (!L->bound) {
        if (t > L->bind_deadline) {
            fprintf(stderr, "[load] no ESME bound within %u s\n",
                    L->o->bind_wait_s);
            load_finish(L);
        }
        return;
    }
    if (L->o->ussd || L->o->reply) {
        /* a step without an answer in --step-timeout is an error */
        uint64_t limit = (uint64_t)L->o->step_timeout_ms * 1000u;
        char err[64];
        for (unsigned i = 0; i < L->n_subs && !L->done; i++) {
            struct subscriber *u = &L->subs[i];
            if (u->busy && t > u->t0 + limit) {
                u->busy = 0;
                u->in_dialog = 0;
                if (L->o->ussd)
                    smsc_ussd_abort(L->s, u->msisdn, err, sizeof err);
                load_complete(L, u->t0, 0);
            }
        }
    }
    load_pump(L);
}

static int load_run(struct event_base *base, struct smsc *s,
                    const struct opts *o)
{
    struct load L;
    memset(&L, 0, sizeof L);
    L.base = base;
    L.s = s;
    L.o = o;
    L.n = o->load_n;
    L.window = o->window;
    L.rate = o->rate;
    L.n_subs = o->msisdns;
    L.h = calloc(1, sizeof *L.h);
    L.subs = calloc(L.n_subs, sizeof *L.subs);
    L.tick = event_new(base, -1, EV_PERSIST, load_tick_cb, &L);
    L.pace = evtimer_new(base, load_pace_cb, &L);
    if (!L.h || !L.subs || !L.tick || !L.pace) {
        fprintf(stderr, "kyzmat-smsc: out of memory\n");
        free(L.h);
        free(L.subs);
        if (L.tick)
            event_free(L.tick);
        if (L.pace)
            event_free(L.pace);
        return 1;
    }
    unsigned long long first = strtoull(o->load_from, NULL, 10);
    for (unsigned i = 0; i < L.n_subs; i++)
        snprintf(L.subs[i].msisdn, sizeof L.subs[i].msisdn, "%llu", first + i);
    L.bind_deadline = now_us() + (uint64_t)o->bind_wait_s * 1000000u;
    smsc_set_observer(s, load_observer, &L);
    /* 1 ms tick: open-loop pacing and step timeouts */
    struct timeval tv = { 0, 1000 };
    event_add(L.tick, &tv);
    if (smsc_receivers(s) > 0) {
        L.bound = 1;
        L.t_start = now_us();
    }
    fprintf(stderr, "[load] waiting for a bind (up to %u s)\n", o->bind_wait_s);
    load_pump(&L);
    event_base_dispatch(base);
    smsc_set_observer(s, NULL, NULL);
    int rc = 0;
    if (!L.t_end)
        L.t_end = now_us();
    double el = L.bound ? (double)(L.t_end - L.t_start) / 1e6 : 0.0;
    double tput = el > 0 ? (double)L.ok / el : 0.0;
    double p50 = (double)hist_pct(L.h, 50) / 1000.0;
    double p90 = (double)hist_pct(L.h, 90) / 1000.0;
    double p99 = (double)hist_pct(L.h, 99) / 1000.0;
    double mx = (double)L.h->max / 1000.0;
    printf("mode: %s, %s, window %u\n",
           o->ussd ? "USSD steps" : o->reply ? "MO SMS -> reply MT" : "MO SMS",
           L.rate > 0 ? "open loop" : "closed loop", L.window);
    if (L.rate > 0)
        printf("rate: %.1f /s intended\n", L.rate);
    printf("count: %lu\nok: %lu\nerrors: %lu\n", L.finished, L.ok, L.errors);
    printf("elapsed: %.3f s\nthroughput: %.1f /s\n", el, tput);
    printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90,
           p99, mx);
    printf("RESULT n=%lu ok=%lu err=%lu elapsed_s=%.3f tput=%.1f p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           L.finished, L.ok, L.errors, el, tput, p50, p90, p99, mx);
    fflush(stdout);
    if (!L.bound || L.finished < L.n || L.ok == 0)
        rc = 1;                /* never bound, cut short, or nothing worked */
    event_free(L.tick);
    event_free(L.pace);
    free(L.h);
    free(L.subs);
    return rc;
}

/* ------------------------------------------------------------------ */
/* main                                                                */

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    smsc_config_defaults(&o.cfg);
    strcpy(o.listen_host, "127.0.0.1");
    strcpy(o.control_host, "127.0.0.1");
    o.bind_wait_s = 60;
    o.window = 10;
    o.msisdns = 100;
    o.load_from = "996555000000";
    o.load_to = "100";
    o.load_text = "load test";
    o.service = "*100#";
    o.answer = "1";
    o.step_timeout_ms = 10000;
    int pr = parse_args(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? 0 : 2;

    signal(SIGPIPE, SIG_IGN);
    /* Precise timers (timerfd): open-loop pacing needs better than the
     * millisecond rounding of epoll_wait's timeout. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!base)
        base = event_base_new();
    if (!base) {
        fprintf(stderr, "kyzmat-smsc: cannot create the event loop\n");
        return 1;
    }
    int rc = 0;
    if (o.mode == MODE_PHONE && !o.listen_given) {
        int fl = fcntl_getfl_stdin();
        rc = phone_run(base, o.phone, o.control_host, o.cfg.control_port,
                       o.linger_s, o.bind_wait_s);
        fcntl_setfl_stdin(fl);
        event_base_free(base);
        return rc;
    }
    struct script sc;
    memset(&sc, 0, sizeof sc);
    if (o.mode == MODE_SCRIPT) {
        sc.file = o.script;
        sc.timeout_ms = 5000;
        sc.bind_wait_ms = (uint64_t)o.bind_wait_s * 1000u;
        if (script_load(&sc, o.script) != 0) {
            for (size_t i = 0; i < sc.n; i++)
                smsc_script_line_free(&sc.lines[i]);
            free(sc.lines);
            event_base_free(base);
            return 1;
        }
    }
    if (o.mode == MODE_LOAD && !o.cfg.verbose)
        o.cfg.quiet = 1;
    if (o.mode == MODE_PHONE && !o.control_given)
        o.cfg.control_port = 0;   /* in-process phone: any free port */

    char err[256];
    struct smsc *s = smsc_new(base, &o.cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "kyzmat-smsc: %s\n", err);
        for (size_t i = 0; i < sc.n; i++)
            smsc_script_line_free(&sc.lines[i]);
        free(sc.lines);
        event_base_free(base);
        return 1;
    }
    printf("listening smpp %s:%u\n", o.listen_host, smsc_smpp_port(s));
    printf("listening control %s:%u\n", o.control_host, smsc_control_port(s));
    fflush(stdout);
    fprintf(stderr, "[smsc] kyzmat-smsc %s: smpp %s:%u, control %s:%u, "
            "%zu account%s\n", KYZMAT_SMSC_VERSION, o.listen_host,
            smsc_smpp_port(s), o.control_host, smsc_control_port(s),
            o.cfg.n_accounts, o.cfg.n_accounts == 1 ? "" : "s");

    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (sigint)
        event_add(sigint, NULL);
    if (sigterm)
        event_add(sigterm, NULL);

    switch (o.mode) {
    case MODE_SERVER:
        event_base_dispatch(base);
        break;
    case MODE_PHONE: {
        int fl = fcntl_getfl_stdin();
        rc = phone_run(base, o.phone, o.control_host, smsc_control_port(s),
                       o.linger_s, o.bind_wait_s);
        fcntl_setfl_stdin(fl);
        break;
    }
    case MODE_SCRIPT:
        sc.base = base;
        sc.s = s;
        sc.timer = evtimer_new(base, script_timer_cb, &sc);
        if (!sc.timer) {
            rc = 1;
            break;
        }
        smsc_set_observer(s, script_observer, &sc);
        /* the script starts once an ESME is bound: an implicit wait-bind */
        {
            struct smsc_script_line *nl = realloc(sc.lines, (sc.n + 1) * sizeof *nl);
            if (!nl) {
                rc = 1;
                break;
            }
            memmove(nl + 1, nl, sc.n * sizeof *nl);
            memset(&nl[0], 0, sizeof nl[0]);
            nl[0].cmd = SMSC_SC_WAIT_BIND;
            sc.lines = nl;
            sc.n++;
        }
        script_run(&sc);
        if (!sc.done)
            event_base_dispatch(base);
        rc = sc.done ? sc.rc : 1;
        if (!sc.done) {
            fprintf(stdout, "script %s: interrupted\n", sc.file);
            rc = 1;
        }
        break;
    case MODE_LOAD:
        rc = load_run(base, s, &o);
        break;
    }

    if (smsc_quit_requested(s))
        fprintf(stderr, "[smsc] quit\n");
    smsc_free(s);
    if (sc.timer)
        event_free(sc.timer);
    while (sc.evq) {
        struct sevent *e = sc.evq;
        sc.evq = e->next;
        sevent_free(e);
    }
    for (size_t i = 0; i < sc.n; i++)
        smsc_script_line_free(&sc.lines[i]);
    free(sc.lines);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    event_base_free(base);
    return rc;
}
