/*
 * smpp/sim/control.h — the simulator's control port: a line protocol over
 * TCP for people (kyzmat-smsc --phone, nc) and tests, to inject MO SMS and
 * USSD input, read statistics, and subscribe to what the gateway sends.
 *
 * One command per line; every command gets one answer line, "ok ..." or
 * "err REASON".  After "subscribe MSISDN|*" a client also gets event lines
 * ("sms FROM TO TEXT", "ussd MSISDN continue|end|notice TEXT", "ussd MSISDN
 * timeout"; TEXT with \n, \r and \\ escaped, see smsc_escape_line).
 *
 * The port belongs to a struct smsc (smsc_new opens it when
 * cfg->control_host is set, smsc_free closes it); it drives the SMSC only
 * through the public calls of smsc.h, and hears the SMSC's events through
 * sim_ctl_event().
 *
 * Owns: the listener and its clients.  May call: smpp/sim/smsc.h,
 * smpp/sim/loop, libevent, libc.
 */
#ifndef KYZMAT_SIM_CONTROL_H
#define KYZMAT_SIM_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct smsc;
struct smsc_event;

/* Control-port commands. */
enum smsc_ctl_cmd {
    SMSC_CTL_NONE = 0,           /* empty line */
    SMSC_CTL_STATS, SMSC_CTL_DROP, SMSC_CTL_MO, SMSC_CTL_USSD,
    SMSC_CTL_USSD_LOG, SMSC_CTL_USSD_ABORT, SMSC_CTL_THROTTLE,
    SMSC_CTL_REFUSE_BINDS, SMSC_CTL_SUBSCRIBE, SMSC_CTL_UNSUBSCRIBE,
    SMSC_CTL_WAIT_BIND, SMSC_CTL_HELP, SMSC_CTL_BYE, SMSC_CTL_QUIT,
    SMSC_CTL_UNKNOWN
};

struct smsc_ctl_req {
    enum smsc_ctl_cmd cmd;
    char *a, *b;                 /* words (into the line), NULL if absent */
    char *text;                  /* rest of the line, unescaped ("" if none) */
    unsigned long n;             /* throttle N, wait-bind seconds, refuse-binds 1/0 */
};

/*
 * smsc_ctl_parse — split one control line (no newline) in place: words
 * are cut out of line, the text of mo/ussd is unescaped in place, so *r
 * points into line.  Returns the command (>= 0; SMSC_CTL_NONE for an empty
 * line), or -1 with "usage: ..." / "unknown command ..." in err.  Pure;
 * fuzzed by tests/fuzz/fuzz_smsc.c.
 */
int smsc_ctl_parse(char *line, struct smsc_ctl_req *r, char *err, size_t errlen);

struct sim_ctl;

/* Listen on host:port (numeric; port 0 = any) for the control clients of
 * s.  NULL with a reason in err. */
struct sim_ctl *sim_ctl_new(struct smsc *s, struct event_base *base,
                            const char *host, uint16_t port, char *err,
                            size_t errlen);
/* The port actually bound. */
uint16_t sim_ctl_port(const struct sim_ctl *k);
/* An event of the SMSC: lines to the subscribers, answers to wait-bind. */
void sim_ctl_event(struct sim_ctl *k, const struct smsc_event *ev);
/* Close the listener and every client.  NULL is fine. */
void sim_ctl_free(struct sim_ctl *k);

#endif
