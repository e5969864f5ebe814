/*
 * menus/step.h — the USSD step engine: one pure function.
 *
 *   menu_step(set, dialog, input) -> (dialog', screen, continue|end, effects)
 *
 * What it does: given a loaded menu set, the dialog state and one event
 * (the citizen dialled a code, typed an answer, or the gateway reports
 * the result of an effect), it moves the dialog on and says what to show
 * and what to do.  It never does I/O: HTTP calls, SMS, app callbacks and
 * remembering a phone's language are returned as effects, which the
 * gateway carries out (gateway/effects) and whose result it feeds back as
 * the next event (MENU_EV_HTTP_*, MENU_EV_APP_*).
 *
 * How the gateway drives it:
 *   1. dialled *100*2*1#: load the phone's saved dialog if any (else
 *      menu_dialog_init), set in.event = MENU_EV_START, in.text = "*100*2*1#",
 *      in.lang = the phone's remembered language (or NULL), call.
 *   2. citizen answered: in.event = MENU_EV_INPUT, in.text = the answer.
 *   3. after every step: carry out out.fx[0..nfx) in order; if out.show,
 *      send out.screen (out.end: as the final screen, then drop the dialog);
 *      if !out.show && !out.end, the dialog waits for an effect result
 *      (an http or app effect is among fx): carry it out and call
 *      menu_step again with MENU_EV_HTTP_OK/FAIL/TIMEOUT or
 *      MENU_EV_APP_CON/END/FAIL within the USSD deadline; that step's
 *      screen is the answer to the citizen's last input.
 *   4. save the dialog (menu_dialog_encode) unless it ended.
 *
 * Reserved keys (defaults 0 back, 00 home, 99 more; per set) are checked
 * before a node sees the input, on every screen the engine draws (menu,
 * input, paged end text); inside an app node all input goes to the app,
 * which has its own keys.  Invalid input re-shows page 0 of the node with
 * the error text on top; after the node's retry limit the dialog goes to
 * the node's on_fail (or ends with the set's "too_many" text).
 *
 * Performance: no allocation; every string the output holds lives in
 * `out` itself (screen buffer and a small arena).  A step costs a few
 * microseconds (bench figure in the unit test output).
 *
 * Ownership: set is read only (the caller keeps it alive during the call);
 * d is read and written; in is read; out is written entirely (it must not
 * be shared between threads).  Pure and re-entrant.
 * May call: menus/menu, menus/screen, menus/dialog, libc (regexec).
 */
#ifndef KYZMAT_MENUS_STEP_H
#define KYZMAT_MENUS_STEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "menus/dialog.h"
#include "menus/menu.h"
#include "menus/screen.h"

enum menu_event {
    MENU_EV_START = 0,     /* text = dialled string ("*100*2*1#") */
    MENU_EV_INPUT,         /* text = the citizen's answer */
    MENU_EV_HTTP_OK,       /* kv = values by variable name (from the save map) */
    MENU_EV_HTTP_FAIL,     /* HTTP error status, bad body, connection failed */
    MENU_EV_HTTP_TIMEOUT,  /* no answer within the effect's timeout_ms */
    MENU_EV_APP_CON,       /* text = app body after "CON " */
    MENU_EV_APP_END,       /* text = app body after "END " */
    MENU_EV_APP_FAIL,      /* HTTP error, timeout, or no CON/END prefix */
    /* results of MENU_FX_STATUS (the gateway's own store): */
    MENU_EV_STATUS_OK,     /* kv "status" (the status code) and "updated"
                              (DD.MM.YYYY of the last change) */
    MENU_EV_STATUS_NOT_FOUND, /* no application of that number for this
                              phone: the same whether it exists or not */
    MENU_EV_STATUS_LOCKED, /* too many failed lookups by this phone */
    MENU_EV_STATUS_FAIL,   /* the store failed (busy, error, none) */
    MENU_EV_STATUS_AMBIGUOUS, /* the phone has that number with several
                              agencies: text = the final screen asking for
                              the agency's code (the gateway's, in the
                              dialog's language) */
    /* results of MENU_FX_BOOKING (the gateway's booking sub-dialog): */
    MENU_EV_BOOKING_CON,   /* text = the screen to show (it fits one);
                              kv "state" = the sub-dialog's state to keep
                              (the BOOKING_* events also answer an appeal
                              node's MENU_FX_APPEAL: issue 12) */
    MENU_EV_BOOKING_END,   /* text = the final screen */
    MENU_EV_BOOKING_BACK,  /* "back" on its first screen: leave the node */
    MENU_EV_BOOKING_FAIL   /* the store failed: the node's on_error */
};

struct menu_kv {
    const char *name;
    const char *value;
};

struct menu_input {
    int event;                 /* enum menu_event */
    const char *text;          /* UTF-8, need not be NUL-terminated */
    size_t len;
    const struct menu_kv *kv;  /* MENU_EV_HTTP_OK */
    size_t nkv;
    const char *phone;         /* MSISDN, international with '+'; never NULL */
    const char *session_id;    /* the gateway's dialog id (for app nodes) */
    const char *lang;          /* remembered language code or NULL (START) */
    uint32_t now;              /* seconds, the gateway's clock */
};

enum menu_fx_kind {
    MENU_FX_HTTP = 1,          /* call a back-end; result fed back */
    MENU_FX_SMS,               /* send one SMS (fire and forget) */
    MENU_FX_APP,               /* POST to an AT-style app; CON/END fed back */
    MENU_FX_STORE_LANG,        /* remember phone -> lang */
    MENU_FX_STATUS,            /* look up application `number` for `phone`
                                  in the store, or (url set: live mode) GET
                                  url from the agency's API, with the
                                  store's lock-out; MENU_EV_STATUS_* fed back */
    MENU_FX_BOOKING,           /* one turn of the booking sub-dialog:
                                  MENU_EV_BOOKING_* fed back */
    MENU_FX_SUBSCRIBE,         /* (un)subscribe `phone` to application
                                  `number` (mode); MENU_EV_STATUS_* fed back:
                                  OK done, NOT_FOUND not this phone's, ... */
    MENU_FX_APPEAL             /* one turn of an appeal node's sub-dialog
                                  (issue 12), as a booking's: mode, state,
                                  input, appeal_cats; MENU_EV_BOOKING_*
                                  fed back */
};

/* At most MENU_FX_MAX effects per step (a chain of more than that many sms
 * nodes without a screen in between would drop the extra ones). */
#define MENU_FX_MAX   6
#define MENU_SAVE_MAX 8

struct menu_effect {
    int kind;                  /* enum menu_fx_kind */
    /* http */
    const char *method;        /* "GET" / "POST" */
    const char *url;           /* http and app */
    const char *body;          /* POST body (form-encoded) or NULL */
    const char *content_type;  /* of body, or NULL */
    uint32_t timeout_ms;       /* http and app */
    size_t nsave;              /* JSON field save_field[i] -> variable save_var[i] */
    const char *save_var[MENU_SAVE_MAX];
    const char *save_field[MENU_SAVE_MAX];
    /* sms */
    const char *to;
    const char *text;          /* sms text (UTF-8) */
    /* sms and store-lang */
    const char *lang;          /* language code */
    /* app (AT contract fields) and store-lang (phone) */
    const char *session_id;
    const char *service_code;  /* as dialled root, e.g. "*100#" */
    const char *phone;
    const char *app_text;      /* inputs so far joined by '*', "" at first */
    /* status and subscribe (with phone and lang) */
    const char *number;        /* the application number as typed */
    /* booking (with phone, lang, session_id) and subscribe (mode) */
    int mode;                  /* enum menu_booking_mode / menu_sub_action */
    const char *state;         /* booking: the state it returned last, "" */
    const char *input;         /* booking: the citizen's answer; NULL on
                                  entry and on resume (draw again) */
    const char *services;      /* booking: node's service codes or NULL */
    unsigned days;             /* booking: days ahead (0: default) */
    const char *fallback_lang; /* booking: the set's default language */
    const char *key_back, *key_more;     /* booking: the set's keys */
    const char *const *booking_texts;    /* booking: the operator's wording
                                            in this language, by enum
                                            menu_booking_text (NULL entries:
                                            built in); points into the set */
    const char *label_back, *label_more; /* booking: "0 Back", "99 More" */
    /* appeal (issue 12; with mode, state, input, phone, lang,
     * session_id, key_back and label_back) */
    const struct menu_appeal_cat *appeal_cats;  /* points into the set */
    size_t appeal_ncats;
    const char *appeal_titles; /* the category titles in this language,
                                  one per line */
};

struct menu_output {
    bool show;                 /* send `screen` now */
    bool end;                  /* ... as the final screen; drop the dialog */
    char screen[MENU_SCREEN_BUF];
    size_t screen_len;
    int enc;                   /* enum menu_enc of this screen */
    size_t octets;             /* its size on the air (<= 160) */
    unsigned page, npages;
    size_t nfx;
    struct menu_effect fx[MENU_FX_MAX];
    size_t arena_used;
    char arena[6144];          /* strings the effects point to */
};

/*
 * menu_step — advance dialog d by one event.  Returns MENU_OK (out filled,
 * d updated), MENU_EUNEXPECTED (an event the dialog does not wait for;
 * d unchanged, nothing to show) or MENU_EINVAL (NULL argument).
 */
int menu_step(const struct menu_set *set, struct menu_dialog *d,
              const struct menu_input *in, struct menu_output *out);

#endif
