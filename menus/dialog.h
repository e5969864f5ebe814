/*
 * menus/dialog.h — one citizen's dialog state and its compact byte form.
 *
 * What it does: struct menu_dialog is everything the step engine needs to
 * carry from one step to the next (current node, page, language, retry
 * count, back stack, variables, what it waits for).  The gateway stores it
 * between steps (Redis or in process) as the byte string that
 * menu_dialog_encode() produces, and gives it back to
 * menu_dialog_decode() on the next event.
 *
 * Byte form, version 1 (all integers little-endian):
 *   u8 version (1) | u8 wait | u8 resume_wait | u8 lang (0xFF none)
 *   | u8 retries | u16 page | u32 generation | u32 last_active
 *   | str code | str node | u8 depth, depth x str node
 *   | u8 nvars, nvars x (str name, str value) | str app_text
 * where str = u8 length + bytes.  Nodes, codes and variables are stored by
 * id (not by index), so a dialog saved under one menu set is mapped onto a
 * reloaded set by id; an id that no longer exists makes the blob
 * MENU_ESTALE (the gateway then starts the dialog over).  A typical idle
 * dialog is well under 250 bytes (the unit test prints the figure).
 *
 * Decoding is a parser of untrusted bytes: every length is checked before
 * use, every value range-checked, trailing bytes rejected; a corrupt or
 * unknown-version blob is MENU_ECORRUPT, never a crash (fuzzed by
 * tests/fuzz/fuzz_menu_step.c).
 *
 * Ownership: plain data, no pointers; copy freely.  Pure, re-entrant.
 * May call: libc, menus/menu.h lookups.
 */
#ifndef KYZMAT_MENUS_DIALOG_H
#define KYZMAT_MENUS_DIALOG_H

#include <stddef.h>
#include <stdint.h>

#include "menus/menu.h"

/* Status values shared by dialog.h and step.h. */
enum {
    MENU_OK = 0,
    MENU_ECORRUPT = -1,     /* blob malformed, or an unknown version */
    MENU_ESTALE = -2,       /* blob names a node/code/variable the set lacks */
    MENU_EUNEXPECTED = -3,  /* event the dialog does not wait for */
    MENU_ENOSPACE = -4,     /* output buffer too small */
    MENU_EINVAL = -5        /* bad argument */
};

/* What the dialog waits for. */
enum menu_wait {
    MENU_W_NONE = 0,    /* fresh: only a start event is valid */
    MENU_W_INPUT,       /* a screen of `node` is shown, waits for the citizen */
    MENU_W_HTTP,        /* waits for the result of node's http effect */
    MENU_W_APP,         /* waits for the app's CON/END answer */
    MENU_W_APP_INPUT,   /* the app's CON text is shown, waits for the citizen */
    MENU_W_RESUME,      /* "1 Continue / 2 Start over" is shown */
    MENU_W_END,         /* the dialog has ended */
    MENU_W_STORE,       /* waits for the result of node's store effect (status,
                           subscribe) */
    MENU_W_BOOKING,     /* waits for a booking turn's result */
    MENU_W_BOOKING_INPUT, /* a booking screen is shown, waits for the citizen */
    MENU_W_COUNT
};

struct menu_dialog_var {
    uint16_t var;                 /* index into set->var */
    uint8_t len;
    char val[MENU_VAL_MAX + 1];   /* NUL-terminated */
};

struct menu_dialog {
    uint32_t generation;          /* set the last step ran on */
    uint32_t last_active;         /* seconds (the caller's clock) */
    uint16_t node;                /* MENU_NONE when fresh */
    uint16_t page;
    uint16_t code;                /* index into set->code, MENU_NONE fresh */
    uint8_t lang;                 /* index into set->lang; 0xFF unknown */
    uint8_t retries;              /* invalid answers on this node so far */
    uint8_t wait;                 /* enum menu_wait */
    uint8_t resume_wait;          /* what it waited for before the drop */
    uint8_t depth;
    uint16_t stack[MENU_STACK_MAX];
    uint8_t nvars;
    struct menu_dialog_var vars[MENU_VARS_MAX];
    uint16_t app_len;
    char app[MENU_APP_TEXT_MAX + 1]; /* inputs for the app, joined by '*' */
};

#define MENU_DIALOG_BLOB_MAX 2048  /* upper bound of an encoded dialog */

/* A fresh dialog (wait NONE, no node, no language). */
void menu_dialog_init(struct menu_dialog *d);

/* Encode d (which must be valid for set) into buf.  Returns the length,
 * or MENU_ENOSPACE / MENU_EINVAL. */
int menu_dialog_encode(const struct menu_set *set, const struct menu_dialog *d,
                       uint8_t *buf, size_t cap);

/* Decode len bytes into *d, mapping ids onto set.  Returns MENU_OK,
 * MENU_ECORRUPT or MENU_ESTALE; *d is fully written on MENU_OK and reset
 * to a fresh dialog otherwise. */
int menu_dialog_decode(const struct menu_set *set, const uint8_t *buf,
                       size_t len, struct menu_dialog *d);

/* The value of dialog variable `var`, or NULL when unset. */
const char *menu_dialog_get(const struct menu_dialog *d, uint16_t var);

/* Set dialog variable `var` to len bytes of val (cut to MENU_VAL_MAX at a
 * UTF-8 boundary).  When all MENU_VARS_MAX slots are taken, the oldest
 * variable is dropped. */
void menu_dialog_set(struct menu_dialog *d, uint16_t var, const char *val,
                     size_t len);

#endif
