/*
 * smpp/sim/control.c — the control port of kyzmat-smsc (see control.h).
 *
 * Each client is a struct ctl_client on a bufferevent; a line is parsed by
 * smsc_ctl_parse (pure) and done by one handler per command (the table
 * ctl_handlers).  Clients are never freed in their own callbacks: a dead
 * one is unlinked into the port's grave (smpp/sim/loop.h), freed on the
 * next loop pass.  "bye" closes once the answer has been written; "quit"
 * asks the SMSC to stop (smsc_request_quit).
 *
 * Owns: struct sim_ctl (listener, clients, their grave).  May call:
 * smpp/sim/smsc.h, smpp/sim/loop, libevent, libc.
 */
#include "smpp/sim/control.h"

#include "smpp/sim/loop.h"
#include "smpp/sim/smsc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define CTL_MAX_LINE  8192
#define CTL_MAX_SUBS  16

struct ctl_client {
    LIST_ENTRY(ctl_client) link;   /* port->clients while alive */
    struct sim_dead gone;          /* in port->grave once dead */
    struct sim_ctl *port;
    struct bufferevent *bev;
    int dead;
    int closing;               /* close once the output has drained */
    int sub_all;
    struct event *wait_ev;     /* armed while "wait-bind" is pending */
    unsigned n_subs;
    char subs[CTL_MAX_SUBS][22];
};

LIST_HEAD(ctl_clients, ctl_client);

struct sim_ctl {
    struct smsc *s;
    struct event_base *base;
    struct evconnlistener *lst;
    uint16_t port;
    struct ctl_clients clients;
    struct sim_grave grave;        /* dead clients, freed next loop pass */
};

/* ------------------------------------------------------------------ */
/* Parsing a line (pure)                                               */

/* Next space-separated word of *p (NULL at the end). */
static char *next_word(char **p)
{
    char *w = *p;
    while (*w == ' ' || *w == '\t')
        w++;
    if (!*w) {
        *p = w;
        return NULL;
    }
    char *e = w;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    if (*e)
        *e++ = '\0';
    *p = e;
    return w;
}

/* The rest of the line after one separating space (may be empty). */
static char *rest_of_line(char **p)
{
    return *p;
}

static const char ctl_help[] =
    "ok commands: stats | drop [SYSTEM_ID] | mo FROM TO TEXT | "
    "ussd MSISDN SERVICE|- TEXT | ussd MSISDN *CODE# | ussd-abort MSISDN | "
    "ussd-log MSISDN | "
    "throttle N | refuse-binds on|off | subscribe MSISDN|* | unsubscribe | "
    "wait-bind [S] | help | bye | quit";

int smsc_ctl_parse(char *line, struct smsc_ctl_req *r, char *err, size_t errlen)
{
    static const struct { const char *name; enum smsc_ctl_cmd cmd; } cmds[] = {
        { "stats", SMSC_CTL_STATS }, { "drop", SMSC_CTL_DROP },
        { "mo", SMSC_CTL_MO }, { "ussd", SMSC_CTL_USSD },
        { "ussd-log", SMSC_CTL_USSD_LOG }, { "ussd-abort", SMSC_CTL_USSD_ABORT },
        { "throttle", SMSC_CTL_THROTTLE }, { "refuse-binds", SMSC_CTL_REFUSE_BINDS },
        { "subscribe", SMSC_CTL_SUBSCRIBE }, { "unsubscribe", SMSC_CTL_UNSUBSCRIBE },
        { "wait-bind", SMSC_CTL_WAIT_BIND }, { "help", SMSC_CTL_HELP },
        { "bye", SMSC_CTL_BYE }, { "quit", SMSC_CTL_QUIT },
    };
    memset(r, 0, sizeof *r);
    r->text = "";
    char *p = line;
    char *cmd = next_word(&p);
    if (!cmd)
        return SMSC_CTL_NONE;
    r->cmd = SMSC_CTL_UNKNOWN;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            r->cmd = cmds[i].cmd;
    char *end = NULL;
    switch (r->cmd) {
    case SMSC_CTL_NONE:
    case SMSC_CTL_STATS:
    case SMSC_CTL_UNSUBSCRIBE:
    case SMSC_CTL_HELP:
    case SMSC_CTL_BYE:
    case SMSC_CTL_QUIT:
        break;
    case SMSC_CTL_UNKNOWN:
        snprintf(err, errlen, "unknown command '%.40s' (try help)", cmd);
        return -1;
    case SMSC_CTL_DROP:
        r->a = next_word(&p);
        break;
    case SMSC_CTL_MO:
    case SMSC_CTL_USSD:
        r->a = next_word(&p);
        r->b = next_word(&p);
        r->text = rest_of_line(&p);
        if (!r->a || !r->b) {
            snprintf(err, errlen, "usage: %s", r->cmd == SMSC_CTL_MO
                     ? "mo FROM TO TEXT" : "ussd MSISDN SERVICE|- TEXT");
            return -1;
        }
        smsc_unescape_line(r->text);
        break;
    case SMSC_CTL_USSD_LOG:
    case SMSC_CTL_USSD_ABORT:
        r->a = next_word(&p);
        if (!r->a) {
            snprintf(err, errlen, "usage: %s MSISDN", cmd);
            return -1;
        }
        break;
    case SMSC_CTL_THROTTLE:
        r->a = next_word(&p);
        r->n = r->a ? strtoul(r->a, &end, 10) : 0;
        if (!r->a || *end || r->n > 1000000 || r->a[0] == '-') {
            snprintf(err, errlen, "usage: throttle N (0 = off)");
            return -1;
        }
        break;
    case SMSC_CTL_REFUSE_BINDS:
        r->a = next_word(&p);
        if (r->a && strcmp(r->a, "on") == 0) {
            r->n = 1;
        } else if (!r->a || strcmp(r->a, "off") != 0) {
            snprintf(err, errlen, "usage: refuse-binds on|off");
            return -1;
        }
        break;
    case SMSC_CTL_SUBSCRIBE:
        r->a = next_word(&p);
        if (!r->a || strlen(r->a) > 20) {
            snprintf(err, errlen, "usage: subscribe MSISDN|*");
            return -1;
        }
        break;
    case SMSC_CTL_WAIT_BIND:
        r->a = next_word(&p);
        r->n = r->a ? strtoul(r->a, &end, 10) : 30;
        if ((r->a && (*end || r->a[0] == '-')) || r->n == 0 || r->n > 86400) {
            snprintf(err, errlen, "usage: wait-bind [SECONDS]");
            return -1;
        }
        break;
    }
    return (int)r->cmd;
}

/* ------------------------------------------------------------------ */
/* Clients                                                             */

static void ctl_send(struct ctl_client *k, const char *line)
{
    if (k->dead)
        return;
    struct evbuffer *out = bufferevent_get_output(k->bev);
    evbuffer_add(out, line, strlen(line));
    evbuffer_add(out, "\n", 1);
}

__attribute__((format(printf, 2, 3)))
static void ctl_reply(struct ctl_client *k, const char *fmt, ...)
{
    char line[CTL_MAX_LINE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctl_send(k, line);
}

static void client_free_now(struct ctl_client *k)
{
    sim_event_free(&k->wait_ev);
    sim_bev_free(&k->bev);
    free(k);
}

static void client_bury(struct sim_dead *d)
{
    client_free_now(SIM_OWNER(d, struct ctl_client, gone));
}

static void ctl_kill(struct ctl_client *k)
{
    struct sim_ctl *cp = k->port;
    if (k->dead)
        return;
    k->dead = 1;
    LIST_REMOVE(k, link);
    sim_grave_put(&cp->grave, &k->gone, client_bury);
    bufferevent_disable(k->bev, EV_READ | EV_WRITE);
    if (k->wait_ev)
        evtimer_del(k->wait_ev);
}

static void ctl_wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ctl_send(arg, "err no receiver bound in time");
}

/* ------------------------------------------------------------------ */
/* Commands: one handler each                                          */

typedef void ctl_fn(struct ctl_client *k, struct smsc_ctl_req *r);

static void cmd_stats(struct ctl_client *k, struct smsc_ctl_req *r)
{
    (void)r;
    char *j = smsc_stats_json(k->port->s);
    ctl_reply(k, "ok %s", j ? j : "{}");
    free(j);
}

static void cmd_drop(struct ctl_client *k, struct smsc_ctl_req *r)
{
    ctl_reply(k, "ok dropped %u", smsc_drop(k->port->s, r->a));
}

static void cmd_mo(struct ctl_client *k, struct smsc_ctl_req *r)
{
    char err[128];
    int n = smsc_mo(k->port->s, r->a, r->b, r->text, 0, err, sizeof err);
    if (n < 0)
        ctl_reply(k, "err %s", err);
    else
        ctl_reply(k, "ok parts=%d", n);
}

static void cmd_ussd(struct ctl_client *k, struct smsc_ctl_req *r)
{
    struct smsc *s = k->port->s;
    char *msisdn = r->a, *svc = r->b, *text = r->text;
    char dial_svc[22], err[128];
    int open = smsc_ussd_session(s, msisdn) >= 0;
    if (!*text && !open &&
        smsc_dial_service(svc, dial_svc, sizeof dial_svc) == 0) {
        /* "ussd MSISDN *100#": dial, service derived from the string */
        text = svc;
        svc = dial_svc;
    } else if (!*text && open && strcmp(svc, "-") != 0) {
        /* "ussd MSISDN 1": an answer given as the only argument */
        text = svc;
    } else if (!*text && !open) {
        ctl_send(k, "err no dialog open; dial with: ussd MSISDN *CODE#");
        return;
    }
    if (smsc_ussd(s, msisdn, svc, text, err, sizeof err) != 0) {
        ctl_reply(k, "err %s", err);
    } else {
        int session = smsc_ussd_session(s, msisdn);
        ctl_reply(k, "ok session=%u", session >= 0 ? (unsigned)session : 0u);
    }
}

static void cmd_ussd_log(struct ctl_client *k, struct smsc_ctl_req *r)
{
    char *j = smsc_ussd_log_json(k->port->s, r->a);
    if (!j)
        ctl_reply(k, "err no USSD dialog recorded for %s", r->a);
    else
        ctl_reply(k, "ok %s", j);
    free(j);
}

static void cmd_ussd_abort(struct ctl_client *k, struct smsc_ctl_req *r)
{
    char err[128];
    if (smsc_ussd_abort(k->port->s, r->a, err, sizeof err) != 0)
        ctl_reply(k, "err %s", err);
    else
        ctl_send(k, "ok");
}

static void cmd_throttle(struct ctl_client *k, struct smsc_ctl_req *r)
{
    smsc_set_throttle(k->port->s, (unsigned)r->n);
    ctl_send(k, "ok");
}

static void cmd_refuse_binds(struct ctl_client *k, struct smsc_ctl_req *r)
{
    smsc_set_refuse_binds(k->port->s, r->n ? 1 : 0);
    ctl_send(k, "ok");
}

static void cmd_subscribe(struct ctl_client *k, struct smsc_ctl_req *r)
{
    if (strcmp(r->a, "*") == 0) {
        k->sub_all = 1;
        ctl_send(k, "ok");
    } else if (k->n_subs >= CTL_MAX_SUBS) {
        ctl_send(k, "err too many subscriptions");
    } else {
        snprintf(k->subs[k->n_subs++], sizeof k->subs[0], "%s", r->a);
        ctl_send(k, "ok");
    }
}

static void cmd_unsubscribe(struct ctl_client *k, struct smsc_ctl_req *r)
{
    (void)r;
    k->sub_all = 0;
    k->n_subs = 0;
    ctl_send(k, "ok");
}

static void cmd_wait_bind(struct ctl_client *k, struct smsc_ctl_req *r)
{
    if (smsc_receivers(k->port->s) > 0) {
        ctl_send(k, "ok bound");
        return;
    }
    if (!k->wait_ev)
        k->wait_ev = evtimer_new(k->port->base, ctl_wait_timeout_cb, k);
    struct timeval tv = { (time_t)r->n, 0 };
    if (!k->wait_ev || evtimer_add(k->wait_ev, &tv) != 0)
        ctl_send(k, "err out of memory");
}

static void cmd_help(struct ctl_client *k, struct smsc_ctl_req *r)
{
    (void)r;
    ctl_send(k, ctl_help);
}

static void cmd_bye(struct ctl_client *k, struct smsc_ctl_req *r)
{
    (void)r;
    ctl_send(k, "ok bye");
    bufferevent_disable(k->bev, EV_READ);
    k->closing = 1;            /* close once the reply is written */
}

static void cmd_quit(struct ctl_client *k, struct smsc_ctl_req *r)
{
    (void)r;
    ctl_send(k, "ok quitting");
    smsc_request_quit(k->port->s);
}

static ctl_fn *const ctl_handlers[] = {
    [SMSC_CTL_STATS] = cmd_stats,
    [SMSC_CTL_DROP] = cmd_drop,
    [SMSC_CTL_MO] = cmd_mo,
    [SMSC_CTL_USSD] = cmd_ussd,
    [SMSC_CTL_USSD_LOG] = cmd_ussd_log,
    [SMSC_CTL_USSD_ABORT] = cmd_ussd_abort,
    [SMSC_CTL_THROTTLE] = cmd_throttle,
    [SMSC_CTL_REFUSE_BINDS] = cmd_refuse_binds,
    [SMSC_CTL_SUBSCRIBE] = cmd_subscribe,
    [SMSC_CTL_UNSUBSCRIBE] = cmd_unsubscribe,
    [SMSC_CTL_WAIT_BIND] = cmd_wait_bind,
    [SMSC_CTL_HELP] = cmd_help,
    [SMSC_CTL_BYE] = cmd_bye,
    [SMSC_CTL_QUIT] = cmd_quit,
};

static void ctl_command(struct ctl_client *k, char *line)
{
    char err[128];
    struct smsc_ctl_req r;
    if (smsc_ctl_parse(line, &r, err, sizeof err) < 0) {
        ctl_reply(k, "err %s", err);
        return;
    }
    /* SMSC_CTL_NONE (an empty line) has no handler and no answer */
    if ((size_t)r.cmd < sizeof ctl_handlers / sizeof ctl_handlers[0] &&
        ctl_handlers[r.cmd])
        ctl_handlers[r.cmd](k, &r);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
    struct ctl_client *k = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!k->dead && !k->closing) {
        size_t n = 0;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) > CTL_MAX_LINE) {
                ctl_send(k, "err line too long");
                k->closing = 1;
                bufferevent_disable(bev, EV_READ);
            }
            break;
        }
        if (n > CTL_MAX_LINE)
            ctl_send(k, "err line too long");
        else
            ctl_command(k, line);
        free(line);
    }
}

static void ctl_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct ctl_client *k = arg;
    if (k->closing)
        ctl_kill(k);
}

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    ctl_kill(arg);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                          struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct sim_ctl *cp = arg;
    struct ctl_client *k = calloc(1, sizeof *k);
    if (!k) {
        evutil_closesocket(fd);
        return;
    }
    k->port = cp;
    k->bev = sim_accept(cp->base, fd);
    if (!k->bev) {
        free(k);
        return;
    }
    bufferevent_setcb(k->bev, ctl_read_cb, ctl_write_cb, ctl_event_cb, k);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
    LIST_INSERT_HEAD(&cp->clients, k, link);
}

/* ------------------------------------------------------------------ */
/* The port                                                            */

struct sim_ctl *sim_ctl_new(struct smsc *s, struct event_base *base,
                            const char *host, uint16_t port, char *err,
                            size_t errlen)
{
    struct sim_ctl *cp = calloc(1, sizeof *cp);
    if (!cp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cp->s = s;
    cp->base = base;
    LIST_INIT(&cp->clients);
    if (sim_grave_init(&cp->grave, base) != 0) {
        snprintf(err, errlen, "out of memory");
        sim_ctl_free(cp);
        return NULL;
    }
    cp->lst = sim_listen(base, host, port, ctl_accept_cb, cp, &cp->port, err,
                         errlen);
    if (!cp->lst) {
        sim_ctl_free(cp);
        return NULL;
    }
    return cp;
}

uint16_t sim_ctl_port(const struct sim_ctl *cp)
{
    return cp->port;
}

void sim_ctl_free(struct sim_ctl *cp)
{
    if (!cp)
        return;
    if (cp->lst)
        evconnlistener_free(cp->lst);
    struct ctl_client *k;
    while ((k = LIST_FIRST(&cp->clients))) {
        LIST_REMOVE(k, link);
        client_free_now(k);
    }
    sim_grave_close(&cp->grave);
    free(cp);
}

/* Send line to every client subscribed to msisdn (or to all). */
static void ctl_push(struct sim_ctl *cp, const char *msisdn, const char *line)
{
    struct ctl_client *k;
    LIST_FOREACH(k, &cp->clients, link) {
        int want = k->sub_all;
        for (unsigned i = 0; !want && i < k->n_subs; i++)
            want = strcmp(k->subs[i], msisdn) == 0;
        if (want)
            ctl_send(k, line);
    }
}

/* Does any client want the events of msisdn? */
static int ctl_wanted(const struct sim_ctl *cp, const char *msisdn)
{
    const struct ctl_client *k;
    LIST_FOREACH(k, &cp->clients, link) {
        if (k->sub_all)
            return 1;
        for (unsigned i = 0; i < k->n_subs; i++)
            if (strcmp(k->subs[i], msisdn) == 0)
                return 1;
    }
    return 0;
}

/* A receiver bound: answer every pending "wait-bind". */
static void ctl_bind_waiters(struct sim_ctl *cp)
{
    struct ctl_client *k;
    LIST_FOREACH(k, &cp->clients, link)
        if (k->wait_ev && evtimer_pending(k->wait_ev, NULL)) {
            evtimer_del(k->wait_ev);
            ctl_send(k, "ok bound");
        }
}

void sim_ctl_event(struct sim_ctl *cp, const struct smsc_event *ev)
{
    static const char *const names[] = { "continue", "end", "notice" };
    const char *to = ev->to ? ev->to : "";
    if (ev->kind == SMSC_EV_BIND) {
        if (smsc_receivers(cp->s) > 0)
            ctl_bind_waiters(cp);
        return;
    }
    if ((ev->kind != SMSC_EV_SMS && ev->kind != SMSC_EV_USSD &&
         ev->kind != SMSC_EV_USSD_TIMEOUT) || !ctl_wanted(cp, to))
        return;
    char esc[SMSC_TEXT_MAX * 2];
    char line[SMSC_TEXT_MAX * 2 + 64];
    smsc_escape_line(ev->text, esc, sizeof esc);
    if (ev->kind == SMSC_EV_SMS)
        snprintf(line, sizeof line, "sms %s %s %s", ev->from ? ev->from : "", to, esc);
    else if (ev->kind == SMSC_EV_USSD)
        snprintf(line, sizeof line, "ussd %s %s %s", to, names[ev->ussd], esc);
    else
        snprintf(line, sizeof line, "ussd %s timeout", to);
    ctl_push(cp, to, line);
}
