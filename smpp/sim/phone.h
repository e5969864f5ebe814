/*
 * smpp/sim/phone.h — a handset in the terminal (kyzmat-smsc --phone): see
 * phone.c for its states.
 *
 * Owns: nothing between calls.  May call: libevent, libc.
 */
#ifndef KYZMAT_SIM_PHONE_H
#define KYZMAT_SIM_PHONE_H

#include <stdint.h>

struct event_base;

/*
 * sim_phone_run — be MSISDN on the control port host:port until input ends
 * (then --linger s more for SMS), the link goes, or the loop is told to
 * exit (a signal).  Runs base's loop; stdin's flags are restored on return.
 * Piped input first waits up to bind_wait_s for a bound gateway.  Returns
 * the exit status (0, or 1 when the control port failed or refused).
 */
int sim_phone_run(struct event_base *base, const char *msisdn,
                  const char *host, uint16_t port, double linger_s,
                  unsigned bind_wait_s);

#endif
