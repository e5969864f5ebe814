/*
 * menus/menu.h — the loaded USSD menu model: immutable after loading.
 *
 * What it does: declares the in-memory form of a menu set (every node of
 * every file in one menu directory), the error list the loader fills, and
 * the small helpers the step engine uses to read the model (template
 * rendering, language and variable lookup).  The loader (menus/load.h)
 * builds a set; the step engine (menus/step.h) only reads it.
 *
 * Compact and fast: node ids, variable names and languages are interned to
 * small integers at load time; every text is pre-split into template
 * segments (literal runs and variable references), so a step does no
 * parsing and no allocation.  All memory of a set lives in one arena
 * owned by the set and is released at once by the last menu_set_unref().
 *
 * Reload and in-flight dialogs: a set never changes after loading.  The
 * gateway swaps its "current set" pointer on reload; a dialog that is in
 * flight (waiting for an HTTP/app result) holds a reference
 * (menu_set_ref) so the set it started on stays alive until that step is
 * done.  Saved dialogs (menus/dialog.h) name their nodes and variables by
 * id, not by index, so a dialog saved under one generation is mapped onto
 * the next set by node id; if its node no longer exists it cannot be
 * decoded (MENU_ESTALE) and the gateway starts the dialog over.
 * `generation` is a hash of the set's source texts: loading the same files
 * twice gives the same generation.
 *
 * Owns: struct menu_set owns everything reachable from it.  struct
 * menu_errors is owned by the caller (menu_errors_free).
 * Threads: a loaded set is read-only and may be read from any thread; the
 * reference count is not atomic (the gateway uses it from its loop only).
 * May call: libc.
 */
#ifndef KYZMAT_MENUS_MENU_H
#define KYZMAT_MENUS_MENU_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds (documented in menus/README.md). */
#define MENU_MAX_LANGS    4     /* languages per set */
#define MENU_ID_MAX       32    /* node id length */
#define MENU_VAL_MAX      120   /* one variable value, bytes of UTF-8 */
#define MENU_VARS_MAX     8     /* variables alive in one dialog */
#define MENU_STACK_MAX    8     /* back-stack depth (oldest dropped) */
#define MENU_OPTIONS_MAX  30    /* options of one menu node */
#define MENU_APP_TEXT_MAX 160   /* inputs forwarded to an app, joined by '*' */
#define MENU_KEY_MAX      4     /* a reserved key: 1..4 digits */
#define MENU_NONE         0xFFFFu /* "no node" / "no variable" */

/* The octet budget of one USSD screen (TS 29.002 maxUSSD-StringLength). */
#define MENU_SCREEN_OCTETS 160
#define MENU_GSM7_CHARS    182  /* 160 * 8 / 7 septets */
#define MENU_UCS2_CHARS    80   /* 160 / 2 UTF-16 units */

enum menu_kind {
    MENU_K_MENU = 0,   /* numbered options */
    MENU_K_INPUT,      /* prompt + validated value into a variable */
    MENU_K_SWITCH,     /* branch on variables, no screen */
    MENU_K_HTTP,       /* call a back-end, continue with its answer */
    MENU_K_SMS,        /* send an SMS, continue at once */
    MENU_K_APP,        /* hand the rest of the dialog to a CON/END app */
    MENU_K_END,        /* final text */
    MENU_K_STATUS,     /* application status from the gateway's store */
    MENU_K_BOOKING,    /* appointment booking sub-dialog over the store */
    MENU_K_SUBSCRIBE,  /* (un)subscribe the caller to an application's SMS */
    MENU_K_APPEAL      /* issue 12 appeals: file an appeal, or its state */
};

enum menu_booking_mode { MENU_BOOK_NEW = 0, MENU_BOOK_MANAGE };

/*
 * The screens of a booking node that an operator may reword
 * (settings.booking_texts, names in menu_booking_text_names); an entry
 * left NULL uses the gateway's built-in ky/ru/en text.  Placeholders:
 * {service} {office} {address} {place} {day} {date} {time} {ticket}.
 * Same order as gateway/booking.c's own table.
 */
enum menu_booking_text {
    MENU_BT_SERVICE = 0, MENU_BT_OFFICE, MENU_BT_DAY, MENU_BT_TIME,
    MENU_BT_CONFIRM, MENU_BT_YES_BOOK, MENU_BT_BOOKED, MENU_BT_TAKEN,
    MENU_BT_INVALID, MENU_BT_NO_SERVICES, MENU_BT_NO_DAYS, MENU_BT_NO_TIMES,
    MENU_BT_ALREADY, MENU_BT_BUSY, MENU_BT_LIST, MENU_BT_LIST_EMPTY,
    MENU_BT_CANCEL_OPT, MENU_BT_MOVE_OPT, MENU_BT_CANCEL_Q, MENU_BT_YES,
    MENU_BT_CANCELLED, MENU_BT_MOVED, MENU_BT_GONE, MENU_BT_COUNT
};
extern const char *const menu_booking_text_names[MENU_BT_COUNT];
enum menu_sub_action { MENU_SUB_ON = 0, MENU_SUB_OFF };
/* issue 12 appeals: an appeal node files one (category, text, confirm)
 * or tells the caller the state of one of theirs by its reference. */
enum menu_appeal_mode { MENU_APPEAL_FILE = 0, MENU_APPEAL_STATUS };
#define MENU_APPEAL_CATS_MAX 9   /* one digit to choose */
/* One category of an appeal node: owned by an agency (its API code);
 * anonymous ones never show the caller's phone to the agency. */
struct menu_appeal_cat {
    const char *id;            /* [A-Za-z0-9._-]{1,63} */
    const char *agency;        /* the owning agency's code */
    bool anonymous;
    const struct menu_text *title;
};

enum menu_input_kind {
    MENU_IN_TEXT = 0,  /* any text within min/max length */
    MENU_IN_DIGITS,    /* 0-9 only, min/max length */
    MENU_IN_REGEX,     /* POSIX extended regex, whole input */
    MENU_IN_DATE       /* DD.MM.YYYY, a real calendar date */
};

/* One template segment: a literal run or a variable reference. */
struct menu_seg {
    const char *lit;   /* literal bytes (NULL for a variable) */
    uint16_t len;      /* literal length */
    uint16_t var;      /* variable index when lit == NULL */
};

struct menu_tmpl {
    const struct menu_seg *seg;
    uint16_t nseg;
    uint16_t lit_len;  /* sum of literal lengths */
};

/* A translated text: one template per language of the set. */
struct menu_text {
    const struct menu_tmpl *t[MENU_MAX_LANGS];
};

struct menu_option {
    const struct menu_text *label;
    uint16_t next;
    int8_t set_lang;   /* language index this option selects, or -1 */
    const char *value; /* stored into the menu's var when chosen, or NULL */
};

struct menu_case {
    uint16_t var;
    const char *equals; /* "" matches an empty/unset variable */
    uint16_t next;
};

struct menu_save {
    uint16_t var;       /* dialog variable that receives the value */
    const char *field;  /* top-level field of the back-end's JSON answer */
};

struct menu_node {
    const char *id;
    uint8_t kind;              /* enum menu_kind */
    bool shortcut;             /* shortcut dial may walk through (default) */
    const char *file;          /* where it was declared (for messages) */
    int line, col;             /* 1-based */
    const struct menu_text *text; /* menu title / input prompt / end / sms text */
    uint16_t next;             /* input, http, sms: where to go next */
    /* menu */
    const struct menu_option *opt;
    uint16_t nopt;
    /* input */
    uint8_t in_kind;           /* enum menu_input_kind */
    uint16_t min_len, max_len; /* characters */
    regex_t *re;
    uint16_t var;              /* input: the value; menu: the option's value */
    const struct menu_text *error; /* NULL: the set's "invalid" message */
    uint8_t retries;           /* invalid answers allowed before on_fail */
    uint16_t on_fail;          /* MENU_NONE: the set's "too_many" end text */
    /* switch */
    const struct menu_case *cases;
    uint16_t ncases;
    uint16_t dflt;
    /* http */
    const char *method;        /* "GET" or "POST" */
    const struct menu_tmpl *url; /* http and app; issue 13 xroad: a node's
                                  * `xroad:` block is compiled into url as
                                  * "xroad:/r1/<service>" path "#" issue
                                  * (base/xroad.h), rendered like any url */
    const struct menu_tmpl *body;
    uint32_t timeout_ms;
    const struct menu_save *save;
    uint16_t nsave;
    uint16_t on_error;         /* MENU_NONE: the set's "failure" end text */
    uint16_t on_timeout;       /* MENU_NONE: same as on_error */
    /* sms */
    const struct menu_tmpl *to; /* NULL: the caller's own number */
    /* status: var = the number; save = status/updated; next = found;
     * on_error = store failure; url (and timeout_ms) set: live mode */
    uint16_t on_notfound;      /* not found for this phone */
    uint16_t on_locked;        /* too many failed lookups: try later */
    /* subscribe: var = the number; next = done; on_notfound / on_locked /
     * on_error as for status; mode = enum menu_sub_action */
    /* booking: on_error = store failure; mode = enum menu_booking_mode */
    uint8_t mode;
    const char *services;      /* booking: service codes "a,b" or NULL (all) */
    uint16_t days;             /* booking: days ahead offered (0: default) */
    /* appeal (issue 12): mode = enum menu_appeal_mode; on_error = store
     * failure; its categories (mode file, 1..MENU_APPEAL_CATS_MAX) */
    const struct menu_appeal_cat *cats;
    uint16_t ncats;
};

struct menu_code {
    const char *code;          /* "*100#" */
    uint16_t root;
};

/* Built-in variables, always present at these indices. */
enum { MENU_VAR_PHONE = 0, MENU_VAR_CODE, MENU_VAR_LANG, MENU_VAR_BUILTINS };

struct menu_var {
    const char *name;
    const char *constant;      /* value of a settings constant, else NULL */
};

enum menu_msg {
    MENU_MSG_INVALID = 0,  /* invalid input (prefixed to the re-shown screen) */
    MENU_MSG_TOO_MANY,     /* retry limit reached: final text */
    MENU_MSG_FAILURE,      /* back-end failed and the node has no on_error */
    MENU_MSG_TIMEOUT,      /* back-end timed out and no on_timeout/on_error */
    MENU_MSG_RESUME,       /* "1 Continue / 2 Start over" */
    MENU_MSG_UNKNOWN_CODE, /* dialled a code no menu answers */
    MENU_MSG_COUNT
};

enum { MENU_KEY_BACK = 0, MENU_KEY_HOME, MENU_KEY_MORE, MENU_KEY_COUNT };

struct menu_arena_block;

struct menu_set {
    uint32_t generation;       /* FNV-1a of the source texts */
    int refs;
    /* languages */
    char lang[MENU_MAX_LANGS][4]; /* "ky", "ru", "en" */
    uint8_t nlang;
    uint8_t default_lang;
    uint16_t language_menu;    /* node asked when the phone's language is unknown */
    uint32_t resume_seconds;   /* 0: never offer resume */
    uint8_t retries;           /* default retry limit */
    /* reserved keys and their translated labels */
    char key[MENU_KEY_COUNT][MENU_KEY_MAX + 1];
    const struct menu_text *key_label[MENU_KEY_COUNT];
    const struct menu_text *msg[MENU_MSG_COUNT];
    /* model */
    struct menu_node *node;
    uint16_t nnode;
    const uint16_t *by_id;     /* node indices sorted by id (binary search) */
    struct menu_code *code;
    uint16_t ncode;
    struct menu_var *var;
    uint16_t nvar;
    /* booking screens reworded by the operator, by language; NULL: built in */
    const char *booking_text[MENU_MAX_LANGS][MENU_BT_COUNT];
    struct menu_arena_block *arena;
};

/* Loader errors: "file:line:column: message", all of them, in order. */
struct menu_error {
    char file[128];
    int line, column;          /* 1-based; 0 when not tied to a place */
    char msg[200];
};

struct menu_errors {
    struct menu_error *v;
    size_t n, cap;
    size_t dropped;            /* beyond MENU_MAX_ERRORS */
};
#define MENU_MAX_ERRORS 200

/* Take one more reference; returns set. */
struct menu_set *menu_set_ref(struct menu_set *set);
/* Drop a reference; the last one frees the set and everything it owns.
 * NULL is fine. */
void menu_set_unref(struct menu_set *set);

/* Node index for an id, or MENU_NONE. O(log n). */
uint16_t menu_set_find_node(const struct menu_set *set, const char *id,
                            size_t len);
/* Variable index for a name, or MENU_NONE. */
uint16_t menu_set_find_var(const struct menu_set *set, const char *name,
                           size_t len);
/* Language index for a code ("ky"), or -1. */
int menu_set_find_lang(const struct menu_set *set, const char *code);
/* Code entry whose code equals `code` exactly ("*100#"), or NULL. */
const struct menu_code *menu_set_find_code(const struct menu_set *set,
                                           const char *code, size_t len);

/* Append one error (printf-style message).  file may be NULL. */
void menu_errors_add(struct menu_errors *errs, const char *file, int line,
                     int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Free what errs holds and zero it. */
void menu_errors_free(struct menu_errors *errs);
/* "file:line:column: message" (or "file: message" when line is 0) into
 * buf (always NUL-terminated); returns buf. */
const char *menu_error_format(const struct menu_error *e, char *buf,
                              size_t n);

/* Internal to menus/: the arena every set allocation comes from. */
void *menu_arena_alloc(struct menu_set *set, size_t n);
char *menu_arena_strndup(struct menu_set *set, const char *s, size_t n);

#endif
