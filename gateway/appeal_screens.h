/*
 * gateway/appeal_screens.h — the screens of a USSD appeal node (issue 12):
 * a pure sub-dialog the step engine hands each turn to, as a booking
 * node's (menus/step.h MENU_FX_APPEAL, answered with MENU_EV_BOOKING_*).
 *
 * Mode file: category (skipped when there is one) -> the text, typed over
 * one or more screens (each answer is appended; "1" sends) -> confirm
 * ("1" yes, "2" write again) -> the gateway files it (APPEAL_SCR_FILE)
 * and shows the reference.  Mode status: the reference -> the gateway
 * answers (APPEAL_SCR_STATUS).  The back key goes one screen back (from
 * the first: out of the node); home is the engine's.
 *
 * The state the engine keeps between turns (menu_dialog.app, at most
 * MENU_APP_TEXT_MAX bytes): one phase letter (C category, T text, K
 * confirm, S reference), the category's digit ('-' none), then the text
 * so far.  So a USSD appeal holds up to APPEAL_SCR_TEXT_MAX bytes (about
 * 75 Cyrillic letters); longer ones go by SMS (gateway/appeals.h).
 * Texts are built in for ky, ru and en (another language: en).  Every
 * screen fits one USSD message (80 UCS-2 characters): the text shown on
 * the confirmation is cut to fit.
 *
 * Owns nothing; pure, re-entrant, no I/O.  May call: base/utf8,
 * gateway/template, libc.
 */
#ifndef KYZMAT_GATEWAY_APPEAL_SCREENS_H
#define KYZMAT_GATEWAY_APPEAL_SCREENS_H

#include <stdbool.h>
#include <stddef.h>

#define APPEAL_SCR_STATE_MAX 160     /* = MENU_APP_TEXT_MAX */
#define APPEAL_SCR_TEXT_MAX (APPEAL_SCR_STATE_MAX - 2)
#define APPEAL_SCR_SCREEN_MAX 640

struct appeal_scr_req {
    bool status_mode;          /* mode status (else file) */
    const char *state;         /* "" on entry */
    const char *input;         /* the answer; NULL: draw the current screen */
    const char *lang;          /* "ky", "ru", "en" */
    size_t ncats;              /* categories (mode file), 1..9 */
    const char *titles;        /* their titles in lang, one per line */
    const char *key_back;      /* "0" */
    const char *label_back;    /* "0 Артка" */
};

enum appeal_scr_outcome {
    APPEAL_SCR_CON = 0,        /* show screen, keep state */
    APPEAL_SCR_BACK,           /* back from the first screen: leave */
    APPEAL_SCR_FILE,           /* confirmed: file cat + text */
    APPEAL_SCR_STATUS          /* a reference typed: answer about input */
};

struct appeal_scr_res {
    int outcome;               /* enum appeal_scr_outcome */
    char screen[APPEAL_SCR_SCREEN_MAX];
    char state[APPEAL_SCR_STATE_MAX + 1];
    int cat;                   /* FILE: the category's index */
    char text[APPEAL_SCR_STATE_MAX + 1];   /* FILE: the text */
};

/* One turn: see the top.  A state that is not one starts over. */
void appeal_scr_turn(const struct appeal_scr_req *rq,
                     struct appeal_scr_res *res);

/* The final screens: filed (with {ref} shown grouped) and "not filed". */
enum appeal_scr_final { APPEAL_SCR_DONE = 0, APPEAL_SCR_COUNT_FINAL };
const char *appeal_scr_final(enum appeal_scr_final t, const char *lang);

#endif
