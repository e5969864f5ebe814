/*
 * smpp/sim/script.c — the script runner of kyzmat-smsc and its line parser
 * (see script.h).
 *
 * A script is parsed whole before the simulator starts (so a typo fails at
 * once, naming the line), then run as a cursor over its lines once an ESME
 * is bound.  Commands that wait (wait-bind, expect-*, sleep) park the cursor
 * and arm one timer; events from the simulator are queued and every new
 * event re-runs the cursor.  Expectations consume the events they match.
 *
 * Owns: the lines, the timer, the event queue (struct sim_script).
 * May call: smpp/sim/smsc.h, smpp/sim/loop.h, libevent, libc.
 */
#include "smpp/sim/script.h"

#include "smpp/sim/loop.h"
#include "smpp/sim/smsc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/event.h>

/* ------------------------------------------------------------------ */
/* Script lines: pure parsing                                          */

/* One token: a "quoted string" (\" \\ \n escapes) or a run of non-spaces.
 * Returns a malloc'd string, or NULL at the end of the line. */
static char *next_token(const char **pp, int *err)
{
    const char *p = *pp;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p) {
        *pp = p;
        return NULL;
    }
    size_t cap = strlen(p) + 1, o = 0;
    char *out = malloc(cap);
    if (!out) {
        *err = 1;
        return NULL;
    }
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1]) {
                p++;
                out[o++] = *p == 'n' ? '\n' : *p;
            } else {
                out[o++] = *p;
            }
            p++;
        }
        if (*p != '"') {
            free(out);
            *err = 1;
            *pp = p;
            return NULL;
        }
        p++;
    } else {
        while (*p && *p != ' ' && *p != '\t')
            out[o++] = *p++;
    }
    out[o] = '\0';
    *pp = p;
    return out;
}

/* The rest of the line as text: one quoted token, or the raw rest. */
static char *rest_text(const char **pp, int *err)
{
    const char *p = *pp;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '"')
        return next_token(pp, err);
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    char *out = strndup(p, n);
    if (!out)
        *err = 1;
    *pp = p + strlen(p);
    return out;
}

int smsc_parse_duration(const char *t, uint64_t *ms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(t, &end);
    if (errno || end == t || !(v >= 0))
        return -1;
    double f;
    if (strcmp(end, "ms") == 0)
        f = 1.0;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        f = 1000.0;
    else if (strcmp(end, "m") == 0)
        f = 60000.0;
    else
        return -1;
    /* at most a year: beyond that (or inf/nan) the conversion to an
     * integer would be undefined (found by fuzz_smsc under UBSan) */
    if (!(v * f <= 365.0 * 86400.0 * 1000.0))
        return -1;
    *ms = (uint64_t)(v * f);
    return 0;
}

void smsc_script_line_free(struct smsc_script_line *l)
{
    free(l->a);
    free(l->b);
    free(l->text);
}

/* What follows a command's name. */
enum shape {
    SH_DURATION_OPT,   /* [duration]                  wait-bind */
    SH_DURATION,       /* duration                    timeout, sleep */
    SH_A,              /* word                        abort, expect-timeout */
    SH_A_OPT,          /* [word]                      drop */
    SH_A_B,            /* word word (not "")          dial */
    SH_A_TEXT,         /* word text                   send, expect-sms */
    SH_A_B_TEXT,       /* word word text              mo */
    SH_OPT_A_TEXT,     /* [word] ["text"]             expect-continue, -end */
    SH_COUNT,          /* number 0..1000000           throttle */
};

static const struct {
    const char *name;
    enum smsc_script_cmd cmd;
    enum shape shape;
    const char *usage;           /* NULL: the shape cannot be wrong */
} script_cmds[] = {
    { "wait-bind", SMSC_SC_WAIT_BIND, SH_DURATION_OPT, "wait-bind [30s]" },
    { "timeout", SMSC_SC_TIMEOUT, SH_DURATION, "timeout 5s" },
    { "sleep", SMSC_SC_SLEEP, SH_DURATION, "sleep 500ms" },
    { "dial", SMSC_SC_DIAL, SH_A_B, "dial MSISDN *100#" },
    { "send", SMSC_SC_SEND, SH_A_TEXT, "send MSISDN TEXT" },
    { "abort", SMSC_SC_ABORT, SH_A, "abort MSISDN" },
    { "expect-continue", SMSC_SC_EXPECT_CONT, SH_OPT_A_TEXT, NULL },
    { "expect-end", SMSC_SC_EXPECT_END, SH_OPT_A_TEXT, NULL },
    { "expect-timeout", SMSC_SC_EXPECT_TIMEOUT, SH_A, "expect-timeout MSISDN" },
    { "mo", SMSC_SC_MO, SH_A_B_TEXT, "mo FROM TO TEXT" },
    { "expect-sms", SMSC_SC_EXPECT_SMS, SH_A_TEXT, "expect-sms MSISDN \"substring\"" },
    { "drop", SMSC_SC_DROP, SH_A_OPT, NULL },
    { "throttle", SMSC_SC_THROTTLE, SH_COUNT, "throttle N" },
};

/* Read the arguments of one shape from *pp into out.  0, or -1 when they
 * do not fit the shape (the usage applies); *err on a bad quote. */
static int parse_shape(enum shape sh, const char **pp, struct smsc_script_line *out,
                       int *err)
{
    unsigned long v = 0;
    char *end = NULL;
    switch (sh) {
    case SH_DURATION_OPT:
        out->a = next_token(pp, err);
        return out->a && smsc_parse_duration(out->a, &out->ms) != 0 ? -1 : 0;
    case SH_DURATION:
        out->a = next_token(pp, err);
        return !out->a || smsc_parse_duration(out->a, &out->ms) != 0 ? -1 : 0;
    case SH_A:
    case SH_A_OPT:
        out->a = next_token(pp, err);
        return sh == SH_A && !out->a ? -1 : 0;
    case SH_A_B:
        out->a = next_token(pp, err);
        out->b = next_token(pp, err);
        return !out->a || !out->b || out->b[0] == '\0' ? -1 : 0;
    case SH_A_TEXT:
        out->a = next_token(pp, err);
        out->text = rest_text(pp, err);
        return !out->a || !out->text ? -1 : 0;
    case SH_A_B_TEXT:
        out->a = next_token(pp, err);
        out->b = next_token(pp, err);
        out->text = rest_text(pp, err);
        return !out->a || !out->b || !out->text ? -1 : 0;
    case SH_OPT_A_TEXT: {
        char *t1 = next_token(pp, err), *t2 = next_token(pp, err);
        if (t2) {
            out->a = t1;
            out->text = t2;
        } else {
            out->text = t1 ? t1 : strdup("");
        }
        return 0;
    }
    case SH_COUNT:
        out->a = next_token(pp, err);
        errno = 0;
        v = out->a && out->a[0] >= '0' && out->a[0] <= '9'
            ? strtoul(out->a, &end, 10) : 0;
        if (!out->a || !end || *end || errno || v > 1000000ul)
            return -1;
        out->ms = v;
        return 0;
    }
    return -1;
}

int smsc_script_parse_line(const char *line, struct smsc_script_line *out,
                           char *errbuf, size_t errlen)
{
    const size_t n_cmds = sizeof script_cmds / sizeof script_cmds[0];
    const char *p = line;
    int err = 0;
    memset(out, 0, sizeof *out);
    char *word = next_token(&p, &err);
    if (!word) {
        snprintf(errbuf, errlen, err ? "unterminated quote" : "empty line");
        return -1;
    }
    size_t k = 0;
    while (k < n_cmds && strcmp(word, script_cmds[k].name) != 0)
        k++;
    if (k == n_cmds) {
        snprintf(errbuf, errlen, "unknown command '%.40s'", word);
        free(word);
        return -1;
    }
    free(word);
    out->cmd = script_cmds[k].cmd;
    int misfit = parse_shape(script_cmds[k].shape, &p, out, &err);
    if (err) {
        snprintf(errbuf, errlen, "unterminated quote");
        smsc_script_line_free(out);
        return -1;
    }
    if (misfit) {
        snprintf(errbuf, errlen, "usage: %s", script_cmds[k].usage);
        smsc_script_line_free(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The runner                                                          */

struct sevent {
    TAILQ_ENTRY(sevent) link;
    enum smsc_event_kind kind;
    enum smsc_ussd_kind ussd;
    char *to, *text;
};

struct sim_script {
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
    TAILQ_HEAD(sevents, sevent) evq;
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

/* Append the file's lines after the implicit wait-bind (sc->lines[0]). */
static int script_read(struct sim_script *sc, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, alloc = sc->n;
    ssize_t len;
    int lineno = 0, rc = 0;
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
        if (script_parse_line(sc->file, lineno, p, &sc->lines[sc->n]) != 0) {
            rc = -1;
            break;
        }
        sc->n++;
    }
    free(line);
    return rc;
}

struct sim_script *sim_script_load(const char *file, unsigned bind_wait_s)
{
    struct sim_script *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    sc->file = file;
    sc->timeout_ms = 5000;
    sc->bind_wait_ms = (uint64_t)bind_wait_s * 1000u;
    TAILQ_INIT(&sc->evq);
    /* the script starts once an ESME is bound: an implicit wait-bind */
    sc->lines = calloc(1, sizeof *sc->lines);
    if (!sc->lines) {
        free(sc);
        return NULL;
    }
    sc->lines[0].cmd = SMSC_SC_WAIT_BIND;
    sc->n = 1;
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "script %s: %s\n", file, strerror(errno));
        sim_script_free(sc);
        return NULL;
    }
    int rc = script_read(sc, f);
    fclose(f);
    if (rc != 0) {
        sim_script_free(sc);
        return NULL;
    }
    return sc;
}

static void sevent_free(struct sevent *e)
{
    free(e->to);
    free(e->text);
    free(e);
}

void sim_script_free(struct sim_script *sc)
{
    if (!sc)
        return;
    sim_event_free(&sc->timer);
    struct sevent *e;
    while ((e = TAILQ_FIRST(&sc->evq))) {
        TAILQ_REMOVE(&sc->evq, e, link);
        sevent_free(e);
    }
    for (size_t i = 0; i < sc->n; i++)
        smsc_script_line_free(&sc->lines[i]);
    free(sc->lines);
    free(sc);
}

static void script_end(struct sim_script *sc, int rc)
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
static void script_fail(struct sim_script *sc, const struct smsc_script_line *l,
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

/* Remove and return the first queued event accepted by match(). */
static struct sevent *evq_take(struct sim_script *sc, const struct smsc_script_line *l,
                               int (*match)(const struct smsc_script_line *,
                                            const struct sevent *))
{
    struct sevent *e;
    TAILQ_FOREACH(e, &sc->evq, link)
        if (match(l, e)) {
            TAILQ_REMOVE(&sc->evq, e, link);
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

static const char *expect_name(enum smsc_script_cmd cmd)
{
    return cmd == SMSC_SC_EXPECT_CONT ? "continue"
         : cmd == SMSC_SC_EXPECT_END ? "end" : "timeout";
}

static void script_wait(struct sim_script *sc, uint64_t ms)
{
    if (sc->waiting)
        return;
    sc->waiting = 1;
    struct timeval tv = sim_tv_ms(ms);
    evtimer_add(sc->timer, &tv);
}

/* expect-continue / expect-end / expect-timeout: 1 when the line is done
 * (held or failed), 0 while it waits for its event. */
static int script_expect_ussd(struct sim_script *sc, const struct smsc_script_line *l)
{
    struct sevent *e = evq_take(sc, l, match_ussd);
    if (!e) {
        script_wait(sc, sc->timeout_ms);
        return 0;
    }
    const char *want = expect_name(l->cmd);
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
    return 1;
}

/* Do line l.  1 when the cursor may advance, 0 when the line waits. */
static int script_step(struct sim_script *sc, const struct smsc_script_line *l)
{
    char err[160];
    switch (l->cmd) {
    case SMSC_SC_WAIT_BIND:
        if (smsc_receivers(sc->s) == 0) {
            script_wait(sc, l->ms ? l->ms : sc->bind_wait_ms);
            return 0;
        }
        return 1;
    case SMSC_SC_TIMEOUT:
        sc->timeout_ms = l->ms;
        return 1;
    case SMSC_SC_SLEEP:
        script_wait(sc, l->ms);  /* the timer advances it */
        return 0;
    case SMSC_SC_DIAL: {
        char svc[24];
        if (smsc_dial_service(l->b, svc, sizeof svc) != 0)
            script_fail(sc, l, "'%s' is not a dial string", l->b);
        else if (smsc_ussd(sc->s, l->a, svc, l->b, err, sizeof err) != 0)
            script_fail(sc, l, "dial %s %s: %s", l->a, l->b, err);
        return 1;
    }
    case SMSC_SC_SEND:
        if (smsc_ussd(sc->s, l->a, "-", l->text, err, sizeof err) != 0)
            script_fail(sc, l, "send %s: %s", l->a, err);
        return 1;
    case SMSC_SC_ABORT:
        if (smsc_ussd_abort(sc->s, l->a, err, sizeof err) != 0)
            script_fail(sc, l, "abort %s: %s", l->a, err);
        return 1;
    case SMSC_SC_MO:
        if (smsc_mo(sc->s, l->a, l->b, l->text, 0, err, sizeof err) < 0)
            script_fail(sc, l, "mo: %s", err);
        return 1;
    case SMSC_SC_DROP:
        smsc_drop(sc->s, l->a);
        return 1;
    case SMSC_SC_THROTTLE:
        smsc_set_throttle(sc->s, (unsigned)l->ms);
        return 1;
    case SMSC_SC_EXPECT_CONT:
    case SMSC_SC_EXPECT_END:
    case SMSC_SC_EXPECT_TIMEOUT:
        return script_expect_ussd(sc, l);
    case SMSC_SC_EXPECT_SMS: {
        struct sevent *e = evq_take(sc, l, match_sms);
        if (!e) {
            script_wait(sc, sc->timeout_ms);
            return 0;
        }
        sc->expectations++;
        sevent_free(e);
        return 1;
    }
    }
    return 1;
}

/* Run lines until one has to wait.  Re-entered on every event/timer. */
static void script_run(struct sim_script *sc)
{
    if (sc->running || sc->done)
        return;
    sc->running = 1;
    while (!sc->done && sc->pc < sc->n) {
        if (!script_step(sc, &sc->lines[sc->pc]) || sc->done)
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

/* What arrived but was not consumed, for a timed-out expectation:
 * " (unconsumed: ...)" or "". */
static void script_unconsumed(const struct sim_script *sc, char *seen, size_t cap)
{
    size_t o = 0;
    seen[0] = '\0';
    const struct sevent *e;
    TAILQ_FOREACH(e, &sc->evq, link) {
        if (o >= cap - 80)
            break;
        char esc[48];
        smsc_escape_line(e->text, esc, sizeof esc);
        int n = snprintf(seen + o, cap - o, "%s%s %s \"%s\"",
                         o ? "; " : " (unconsumed: ",
                         e->kind == SMSC_EV_SMS ? "sms to" : sev_kind_name(e),
                         e->to, esc);
        if (n > 0)
            o += (size_t)n;
    }
    if (o)
        snprintf(seen + o, cap - o, ")");
}

static void script_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sim_script *sc = arg;
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
    char seen[512];
    script_unconsumed(sc, seen, sizeof seen);
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
                    expect_name(l->cmd), l->a ? " for the MSISDN" : "",
                    (unsigned long long)sc->timeout_ms, seen);
        break;
    }
}

static void script_observer(void *arg, const struct smsc_event *ev)
{
    struct sim_script *sc = arg;
    if (ev->kind == SMSC_EV_SMS || ev->kind == SMSC_EV_USSD ||
        ev->kind == SMSC_EV_USSD_TIMEOUT) {
        struct sevent *e = calloc(1, sizeof *e);
        if (!e)
            return;
        e->kind = ev->kind;
        e->ussd = ev->ussd;
        e->to = strdup(ev->to ? ev->to : "");
        e->text = strdup(ev->text ? ev->text : "");
        TAILQ_INSERT_TAIL(&sc->evq, e, link);
    }
    script_run(sc);
}

int sim_script_run(struct sim_script *sc, struct event_base *base,
                   struct smsc *s)
{
    sc->base = base;
    sc->s = s;
    sc->timer = evtimer_new(base, script_timer_cb, sc);
    if (!sc->timer)
        return 1;
    smsc_set_observer(s, script_observer, sc);
    script_run(sc);
    if (!sc->done)
        event_base_dispatch(base);
    smsc_set_observer(s, NULL, NULL);
    if (!sc->done) {
        fprintf(stdout, "script %s: interrupted\n", sc->file);
        return 1;
    }
    return sc->rc;
}
