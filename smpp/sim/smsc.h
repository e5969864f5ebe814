/*
 * smpp/sim/smsc.h — the SMSC side of SMPP 3.4, "the operator in a box", on a
 * libevent event_base.  Used by kyzmat-smsc (smpp/sim/cli.c) and by tests.
 *
 * What it does: listens for ESMEs, checks binds against a table of
 * accounts, answers submit_sm / data_sm / query_sm / cancel_sm / replace_sm /
 * enquire_link / unbind, keeps idle links alive with enquire_link, sends
 * delivery receipts after a delay (some of them failures, on request; a
 * receipt not acknowledged with ESME_ROK is sent again a second later), can
 * throttle and watch the client's window, reassembles long MT messages, and
 * plays the network side of USSD in one dialect preset of smpp/dialect.h
 * (default "standard", ../shared/docs/protocol.md: op 1 starts, op 18
 * continues, the gateway answers with op 2 or op 17 and/or the end bit of
 * its_session_info; other presets move the session key to
 * user_message_reference or drop it, end by the end bit alone, or use the
 * 3GPP data_coding values).
 * A line-oriented control port (smpp/sim/control.h) lets people and tests
 * inject MO SMS and USSD input, read statistics and subscribe to what the
 * gateway sends.
 *
 * The core is smsc.c; the USSD network (ussd.c), long-message reassembly
 * (concat.c) and the control port (control.c) are rooms it owns.  The
 * modes of kyzmat-smsc (phone.c, script.c, load.c) use only this header.
 *
 * Ownership: struct smsc owns its listeners, connections, dialogs, queued
 * receipts and control clients; smsc_free() releases all of it.  Strings in
 * the config are copied by smsc_new().  Events handed to the observer are
 * views valid only during the call.
 *
 * Threads: none; everything runs on the caller's event_base.  No function
 * here blocks.
 *
 * May call: smpp/pdu, smpp/text, smpp/dialect, the rest of smpp/sim/, base/
 * (base/tls for the TLS listener), libevent (bufferevent_openssl), OpenSSL,
 * libc (no JSON library: smpp/sim/jsonw.c writes the answers).
 */
#ifndef KYZMAT_SIM_SMSC_H
#define KYZMAT_SIM_SMSC_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct smsc;

/* Decoded UTF-8 text of one message, with its NUL (longer is cut). */
#define SMSC_TEXT_MAX 4096

enum smsc_id_format { SMSC_ID_HEX = 0, SMSC_ID_DEC };

/* How a user/network abort of a USSD dialog is signalled to the gateway. */
enum smsc_abort_style {
    SMSC_ABORT_END_BIT = 0,  /* deliver_sm op 18 with its_session_info end bit */
    SMSC_ABORT_USSREL,       /* deliver_sm op 0x81 ("USSREL"), end bit set too */
};

struct smsc_account {
    const char *system_id;   /* <= 15 chars */
    const char *password;    /* <= 8 chars */
};

#define SMSC_MAX_ACCOUNTS 16

struct smsc_config {
    const char *listen_host;      /* default "127.0.0.1" */
    uint16_t listen_port;         /* 0 = pick one; read it with smsc_smpp_port() */
    const char *control_host;     /* NULL = no control port */
    uint16_t control_port;        /* 0 = pick one */
    struct smsc_account accounts[SMSC_MAX_ACCOUNTS];
    size_t n_accounts;            /* 0 = one account kyzmat/secret */
    enum smsc_id_format id_format;      /* submit_sm_resp message ids */
    enum smsc_id_format dlr_id_format;  /* ids inside receipts */
    uint64_t id_start;            /* first message id number (default 1000000000) */
    unsigned dlr_delay_ms;        /* delay before a receipt (default 0 = next loop pass) */
    double dlr_fail_ratio;        /* 0.0..1.0: share of messages that fail */
    unsigned throttle_every;      /* every Nth submit gets ESME_RTHROTTLED; 0 = off */
    unsigned window_check;        /* > N requests unanswered = violation; 0 = off */
    unsigned resp_delay_ms;       /* delay before each submit_sm/data_sm response */
    unsigned enquire_link_s;      /* idle seconds before we send enquire_link; 0 = never */
    unsigned ussd_timeout_s;      /* USSD dialog inactivity timeout (default 180) */
    unsigned resp_timeout_ms;     /* our deliver_sm without answer (default 10000) */
    enum smsc_abort_style ussd_abort;
    const char *dialect;          /* USSD dialect preset (smpp/dialect.h);
                                   * NULL = "standard" */
    uint32_t max_pdu_len;         /* cap on command_length (default 64 KiB) */
    uint64_t seed;                /* PRNG seed for failures (0 = from time) */
    /* issue 13 tls-smpp: with tls_cert (and tls_key) the SMPP listener
     * speaks TLS only (base/tls kz_tls_server_ctx); tls_client_ca makes it
     * demand a client certificate signed by that CA.  NULL = plain TCP. */
    const char *tls_cert, *tls_key, *tls_client_ca;
    int verbose;                  /* 1 = log every PDU */
    int quiet;                    /* 1 = log errors only */
};

/* Fill *cfg with the defaults listed above. */
void smsc_config_defaults(struct smsc_config *cfg);

/* What the observer sees. */
enum smsc_event_kind {
    SMSC_EV_BIND,          /* an ESME bound: system_id, text = bind type */
    SMSC_EV_CLOSE,         /* a bound ESME went away: system_id */
    SMSC_EV_SMS,           /* a complete MT SMS (after reassembly): from, to, text */
    SMSC_EV_USSD,          /* a USSD submit_sm: to = MSISDN, text, ussd = kind */
    SMSC_EV_USSD_TIMEOUT,  /* a dialog timed out: to = MSISDN */
    SMSC_EV_DELIVER_RESP,  /* answer to our deliver_sm: tag, status */
};

enum smsc_ussd_kind { SMSC_USSD_CONTINUE = 0, SMSC_USSD_END, SMSC_USSD_NOTICE };

/* Status for SMSC_EV_DELIVER_RESP when no answer came. */
#define SMSC_STATUS_TIMEOUT   0xFFFF0001u
#define SMSC_STATUS_LINK_LOST 0xFFFF0002u

struct smsc_event {
    enum smsc_event_kind kind;
    const char *system_id;   /* the ESME's account (may be NULL) */
    const char *from;        /* SMS: source_addr; USSD: service code */
    const char *to;          /* SMS: destination_addr; USSD: MSISDN */
    const char *text;        /* UTF-8, NUL-terminated */
    enum smsc_ussd_kind ussd;
    uint64_t tag;            /* DELIVER_RESP: the tag given to smsc_mo() */
    uint32_t status;         /* DELIVER_RESP: command_status or SMSC_STATUS_* */
};

typedef void smsc_event_fn(void *arg, const struct smsc_event *ev);

/*
 * smsc_new — validate cfg, bind the listeners (and the control port when
 * cfg->control_host is set) on base.  Returns NULL with a reason in err on
 * failure (bad option, address in use).  The caller owns the result.
 */
struct smsc *smsc_new(struct event_base *base, const struct smsc_config *cfg,
                      char *err, size_t errlen);
/* Close every connection and free everything.  Not from inside an observer
 * callback (call smsc_request_quit() there and free after the loop ends). */
void smsc_free(struct smsc *s);

/* Ports actually bound (useful with port 0).  Control: 0 when disabled. */
uint16_t smsc_smpp_port(const struct smsc *s);
uint16_t smsc_control_port(const struct smsc *s);

/* One observer (scripted and load modes); NULL to remove.  The control
 * port, when there is one, hears every event too, just before it. */
void smsc_set_observer(struct smsc *s, smsc_event_fn *fn, void *arg);

/* Number of ESME connections bound now that can receive deliver_sm. */
unsigned smsc_receivers(const struct smsc *s);
/* Number of bound ESME connections (any bind type). */
unsigned smsc_bound(const struct smsc *s);

/*
 * smsc_mo — send a mobile-originated SMS (deliver_sm, GSM 7-bit or UCS-2
 * chosen by content, split with a UDH when long) to a bound receiver.
 * tag comes back in SMSC_EV_DELIVER_RESP for each part.  Returns the
 * number of parts sent, or -1 with a reason in err (no receiver, bad text).
 */
int smsc_mo(struct smsc *s, const char *from, const char *to,
            const char *utf8, uint64_t tag, char *err, size_t errlen);

/*
 * smsc_ussd — the subscriber MSISDN dials (no dialog open: a deliver_sm op 1
 * to destination `service` with `text`, e.g. "*100#") or answers (a dialog
 * is waiting: op 18 with `text`; `service` is ignored).  Returns 0 or -1
 * with a reason in err (no receiver, the dialog waits for the gateway).
 */
int smsc_ussd(struct smsc *s, const char *msisdn, const char *service,
              const char *text, char *err, size_t errlen);
/* Abort MSISDN's dialog in the dialect's way: the end bit on the continue
 * op for its-keyed presets (SMSC_ABORT_END_BIT), else (or with
 * SMSC_ABORT_USSREL) the preset's abort op 0x81.  0, or -1 when none. */
int smsc_ussd_abort(struct smsc *s, const char *msisdn, char *err, size_t errlen);

/* Close ESME connections: all when system_id is NULL.  Returns how many. */
unsigned smsc_drop(struct smsc *s, const char *system_id);
void smsc_set_throttle(struct smsc *s, unsigned every);
void smsc_set_refuse_binds(struct smsc *s, int on);

/*
 * smsc_ussd_log_json — the record of MSISDN's open dialog, or else of its
 * latest finished one (the last 64 are kept), as one line of JSON
 * (malloc'd; caller frees): msisdn, service, dialect, outcome ("open",
 * "end", "abort", "timeout", "failed"), session, umr, sent / received (per
 * PDU: op, dcs, its (session or null), end (its end bit), umr (or null)),
 * n_sent, n_received, mismatches (deviations of the gateway from the
 * preset) and mismatch (the first, "" if none).  NULL when none.
 */
char *smsc_ussd_log_json(const struct smsc *s, const char *msisdn);

/* Statistics as one line of JSON (malloc'd; caller frees). */
char *smsc_stats_json(const struct smsc *s);

/* The session number of MSISDN's open USSD dialog, or -1 when none. */
int smsc_ussd_session(const struct smsc *s, const char *msisdn);

/* Stop: log it, mark it and tell the loop to exit in 50 ms (so an answer
 * being written can leave).  For the control port's "quit"; safe inside
 * any callback. */
void smsc_request_quit(struct smsc *s);
/* True once a quit was requested (the loop has been told to exit). */
int smsc_quit_requested(const struct smsc *s);

/*
 * Helpers shared by the rooms of the simulator (pure, no I/O):
 * smsc_dial_service: "*100*2#" -> "100" (digits of the first code); returns
 * 0, or -1 when s is not a dial string.  smsc_escape_line: copy s with
 * '\\', '\n', '\r' escaped; smsc_unescape_line reverses it in place.
 */
int smsc_dial_service(const char *dial, char *out, size_t cap);
void smsc_escape_line(const char *s, char *out, size_t cap);
void smsc_unescape_line(char *s);

#endif
