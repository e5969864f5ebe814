/*
 * smpp/sim/load.h — kyzmat-smsc --load: the load generator, a benchmark
 * driver that pushes N MO SMS or USSD steps through the bound gateway and
 * prints throughput and latency percentiles.
 *
 * Closed loop (a window of W steps in flight) or open loop (--rate R
 * starts per second, latency counted from the intended start so queueing
 * is not hidden; W still caps what is in flight).  A step is: one MO SMS
 * until its deliver_sm_resp; with reply, one MO SMS until the gateway's MT
 * to its sender; with ussd, one dial or answer until the gateway's USSD
 * submit_sm for that MSISDN.
 *
 * Owns: its subscribers, histogram and timers during sim_load_run.
 * May call: smpp/sim/smsc.h, libevent, libc, libm.
 */
#ifndef KYZMAT_SIM_LOAD_H
#define KYZMAT_SIM_LOAD_H

struct event_base;
struct smsc;

struct sim_load_opts {
    unsigned long n;             /* steps (--load N) */
    unsigned window;             /* in flight at most (default 10) */
    double rate;                 /* open loop: starts per second; 0 = closed */
    int ussd;                    /* steps are USSD */
    int reply;                   /* MO done when the reply MT comes */
    unsigned msisdns;            /* distinct subscribers (default 100) */
    const char *text, *to, *from, *service, *answer;
    unsigned step_timeout_ms;    /* a step without answer is an error */
    unsigned bind_wait_s;        /* how long to wait for a bind */
};

/* The defaults listed in kyzmat-smsc --help. */
void sim_load_defaults(struct sim_load_opts *o);

/*
 * sim_load_run — wait for a bind, run o->n steps against s on base's loop,
 * print the report on stdout (ending with one "RESULT n=.. ok=.. ..."
 * line).  Sets s's observer for the run and removes it.  Returns the exit
 * status: 1 when no bind came, the run was cut short or nothing succeeded.
 */
int sim_load_run(struct event_base *base, struct smsc *s,
                 const struct sim_load_opts *o);

#endif
