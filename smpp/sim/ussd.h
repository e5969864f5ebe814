/*
 * smpp/sim/ussd.h — the network side of USSD in the simulator: dialogs
 * keyed by MSISDN, played in one dialect preset of smpp/dialect (the same
 * table the gateway reads).  Part of the SMSC core: struct smsc owns one
 * struct sim_ussd; the public smsc_ussd*() calls of smsc.h land here.
 *
 * ussd_network_deliver() builds what the handset sends (op 1 dials, op 18
 * answers, an abort in the preset's way); ussd_network_read() reads the
 * gateway's answers and notes where they stray from the preset.  Each
 * dialog keeps a record of the ops both ways (key, end bit, data_coding);
 * finished records go to a ring of the last REC_RING that the control
 * port shows ("ussd-log MSISDN").
 *
 * Dialog states: WAIT_APP (our deliver_sm is out, the gateway's answer is
 * due), WAIT_USER (the gateway asked, the subscriber answers), DEAD (ended:
 * unhashed, in the grave until the next loop pass, never freed inside
 * its own timer callback).  A dialog without a step for ussd_timeout_s
 * times out.
 *
 * Owns: the dialogs, their timers, the record ring.  May call: smpp/pdu,
 * smpp/dialect, smpp/sim/smsc.c (smsc_send_ussd, smsc_emit: below),
 * smpp/sim/concat (the lenient decoder), smpp/sim/jsonw, smpp/sim/log,
 * smpp/sim/loop (the grave), libevent, libc.
 */
#ifndef KYZMAT_SIM_USSD_H
#define KYZMAT_SIM_USSD_H

#include "smpp/sim/loop.h"
#include "smpp/sim/smsc.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event;
struct event_base;
struct smpp_pdu;
struct ussd_dialect;
struct sim_dialog;
struct ussd_rec;

#define SIM_DIALOG_BUCKETS 4096u

LIST_HEAD(sim_dialogs, sim_dialog);

struct sim_ussd {
    struct smsc *s;                      /* the core that owns this */
    struct event_base *base;
    const struct smsc_config *cfg;       /* the core's (timeout, abort style) */
    const struct ussd_dialect *dialect;
    struct sim_dialogs dialogs[SIM_DIALOG_BUCKETS];  /* by MSISDN hash */
    struct sim_grave grave;              /* ended dialogs, freed next pass */
    struct ussd_rec *recs;               /* REC_RING finished dialogs */
    unsigned rec_next;
    unsigned n_dialogs;
    uint8_t next_session;
    uint16_t next_umr;
    uint64_t n_in, n_out, n_mismatches;  /* for smsc_stats_json */
};

/* Set u up for the core s; seed picks the first session and umr.  0, or
 * -1 when out of memory (then sim_ussd_clear is still safe). */
int sim_ussd_init(struct sim_ussd *u, struct smsc *s, struct event_base *base,
                  const struct smsc_config *cfg,
                  const struct ussd_dialect *dialect, uint64_t seed);
/* Free every dialog (open or ended), the ring and the grave. */
void sim_ussd_clear(struct sim_ussd *u);

/* smsc_ussd(), smsc_ussd_abort(), smsc_ussd_log_json() of smsc.h. */
int sim_ussd_input(struct sim_ussd *u, const char *msisdn, const char *service,
                   const char *text, char *err, size_t errlen);
int sim_ussd_abort(struct sim_ussd *u, const char *msisdn, char *err,
                   size_t errlen);
char *sim_ussd_log_json(const struct sim_ussd *u, const char *msisdn);
/* The session number of MSISDN's dialog, or -1 when none is open. */
int sim_ussd_session(const struct sim_ussd *u, const char *msisdn);

/*
 * sim_ussd_mt — a USSD submit_sm p from the gateway, received on the
 * connection conn_id (log tag `tag`, account system_id): read it in the
 * dialect's way, move the dialog on, log it and emit SMSC_EV_USSD.
 */
void sim_ussd_mt(struct sim_ussd *u, const struct smpp_pdu *p,
                 unsigned conn_id, const char *tag, const char *system_id);

/* ---- what ussd.c calls in the core (smsc.c) ------------------------- */

/* Send deliver_sm p to a bound receiver: the connection prefer if it is
 * still there, else the next one.  On success *conn_id and *tag (valid for
 * this loop pass) name the connection used.  0, or -1 with err. */
int smsc_send_ussd(struct smsc *s, unsigned prefer, struct smpp_pdu *p,
                   unsigned *conn_id, const char **tag, char *err,
                   size_t errlen);
/* Hand ev to the control port and the observer. */
void smsc_emit(struct smsc *s, const struct smsc_event *ev);

#endif
