/*
 * smpp/sim/phone.c — a handset in the terminal (kyzmat-smsc --phone).
 *
 * The phone is a client of the control port (smpp/sim/control.c), local or
 * remote: it subscribes to its MSISDN, sends what is typed (or piped) as
 * control commands and draws what comes back — USSD screens and SMS to it
 * in a box of PHONE_WIDTH characters.  It never touches struct smsc.
 *
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
 *
 * Owns: its control connection, stdin's event and the queued input lines.
 * May call: smpp/sim/smsc.h (the line escapes only), smpp/sim/loop.h,
 * base/utf8, libevent, libc.
 */
#include "smpp/sim/phone.h"

#include "base/utf8.h"
#include "smpp/sim/loop.h"
#include "smpp/sim/smsc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

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

/* Characters of s[0..n) as the terminal shows them (base/utf8: an
 * invalid byte is one character). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; c++) {
        uint32_t cp;
        i += kz_utf8_next_lossy((const uint8_t *)s + i, n - i, &cp);
    }
    return c;
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
                take = kz_utf8_prefix((const uint8_t *)p, len, PHONE_WIDTH);
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
            struct timeval tv = sim_tv_us((uint64_t)(p->linger_s * 1e6));
            evtimer_add(p->linger_ev, &tv);
        }
        return;
    }
    phone_finish(p, 0);
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
        smsc_escape_line(line, esc, sizeof esc);
        if (strncmp(line, "sms ", 4) == 0) {
            char to[32];
            int off = 0;
            if (sscanf(line + 4, "%31s %n", to, &off) >= 1 && off > 0) {
                smsc_escape_line(line + 4 + off, esc, sizeof esc);
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

/* Split an event's "A B TEXT" in place: the first two words into *a and
 * *b, the rest, unescaped, into *text ("" when absent).  0, or -1 when a
 * word is missing. */
static int split_event(char *rest, char **a, char **b, char **text)
{
    *a = strsep(&rest, " ");
    *b = rest ? strsep(&rest, " ") : NULL;
    if (!*a || !*b)
        return -1;
    *text = rest ? rest : (char *)"";
    smsc_unescape_line(*text);
    return 0;
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
        char *who, *what, *text;
        if (split_event(rest, &who, &what, &text) != 0 || strcmp(who, p->msisdn) != 0)
            return;
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
        char *from, *to, *text;
        if (split_event(rest, &from, &to, &text) != 0 || strcmp(to, p->msisdn) != 0)
            return;
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

static int phone_loop(struct event_base *base, const char *msisdn,
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
    sim_event_free(&p.stdin_ev);
    sim_event_free(&p.linger_ev);
    sim_event_free(&p.wait_ev);
    sim_bev_free(&p.ctl);
    if (p.inbuf)
        evbuffer_free(p.inbuf);
    fflush(stdout);
    return rc;
}

int sim_phone_run(struct event_base *base, const char *msisdn,
                  const char *host, uint16_t port, double linger_s,
                  unsigned bind_wait_s)
{
    /* The phone makes stdin non-blocking; the flag belongs to the open
     * file the shell shares, so it is put back before returning. */
    int fl = fcntl(0, F_GETFL);
    int rc = phone_loop(base, msisdn, host, port, linger_s, bind_wait_s);
    if (fl >= 0)
        fcntl(0, F_SETFL, fl);
    return rc;
}
