/*
 * smpp/sim/script.h — kyzmat-smsc --script: a test script run against the
 * gateway that binds to the simulator (see scripts/smsc-*.txt).
 *
 * Two parts: the pure parser of one script line (no I/O; fuzzed by
 * tests/fuzz/fuzz_smsc.c), and the runner, which loads a whole file, then
 * drives the SMSC (smpp/sim/smsc.h) once an ESME is bound and reports
 * "script FILE: ok (...)" or "script FILE:LINE: FAILED: why" on stdout.
 *
 * Owns: the parsed lines, the runner's timer and its queue of events.
 * May call: smpp/sim/smsc.h, libevent, libc.
 */
#ifndef KYZMAT_SIM_SCRIPT_H
#define KYZMAT_SIM_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct smsc;

/* Commands of a --script file, one per line. */
enum smsc_script_cmd {
    SMSC_SC_WAIT_BIND = 0, SMSC_SC_TIMEOUT, SMSC_SC_SLEEP, SMSC_SC_DIAL,
    SMSC_SC_SEND, SMSC_SC_ABORT, SMSC_SC_EXPECT_CONT, SMSC_SC_EXPECT_END,
    SMSC_SC_EXPECT_TIMEOUT, SMSC_SC_MO, SMSC_SC_EXPECT_SMS, SMSC_SC_DROP,
    SMSC_SC_THROTTLE
};

struct smsc_script_line {
    int lineno;                  /* set by the caller */
    enum smsc_script_cmd cmd;
    char *a, *b, *text;          /* owned strings, NULL when absent */
    uint64_t ms;                 /* a duration, or throttle's N */
};

/*
 * smsc_script_parse_line — parse one non-blank, non-comment script line
 * (words; "quoted strings" with \" \\ \n escapes; durations 500ms / 5s /
 * 2m / bare seconds).  Returns 0 with *out filled (free it with
 * smsc_script_line_free), or -1 with a reason in err and nothing to free.
 */
int smsc_script_parse_line(const char *line, struct smsc_script_line *out,
                           char *err, size_t errlen);
void smsc_script_line_free(struct smsc_script_line *l);
/* "500ms", "5s", "2m", "3" (seconds) -> *ms.  0, or -1 when malformed,
 * negative or longer than a year. */
int smsc_parse_duration(const char *t, uint64_t *ms);

/* ---- the runner ---------------------------------------------------- */

struct sim_script;

/*
 * sim_script_load — read and parse FILE whole, before the simulator starts,
 * so a typo fails at once: "script FILE:LINE: reason" on stderr and NULL.
 * An implicit wait-bind comes first (the script starts once an ESME is
 * bound; wait-bind without a duration waits bind_wait_s).
 */
struct sim_script *sim_script_load(const char *file, unsigned bind_wait_s);

/*
 * sim_script_run — run the script against s on base's loop until it ends
 * or the loop is told to exit (a signal: "script FILE: interrupted").
 * Sets s's observer for the run and removes it.  Returns the exit status:
 * 0 when every expectation held, else 1.
 */
int sim_script_run(struct sim_script *sc, struct event_base *base,
                   struct smsc *s);

void sim_script_free(struct sim_script *sc);

#endif
