/*
 * gateway/config.h — kyzmatd's configuration: one table of keys.
 *
 * What it does: turns YAML text (libfyaml) into struct config.  One table
 * in config.c lists every key with its type, default, range and help text;
 * that table drives parsing, validation, defaults, comparison (for reload)
 * and `kyzmatd --help-config`.  Every problem becomes a value,
 * `file:line:column: message` (1-based), and all problems are collected,
 * not just the first.  With no file at all the embedded defaults give one
 * smsc "sim" at 127.0.0.1:2775 (what kyzmat-smsc accepts by default).
 *
 * Ownership: struct config is plain data; every string and array in it is
 * owned by the config and freed by config_free().  struct config_errors is
 * owned by the caller (config_errors_free()).
 * Purity: config_parse_string() does no I/O and prints nothing;
 * config_load_file() only reads the one file (and checks that the TLS
 * files it names are readable).  Re-entrant.
 * May call: libfyaml, libc.
 */
#ifndef KYZMAT_GATEWAY_CONFIG_H
#define KYZMAT_GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/xroad.h"

enum config_bind { CONFIG_BIND_TRANSCEIVER = 0, CONFIG_BIND_TX_RX };
enum config_split {
    CONFIG_SPLIT_UDH = 0, CONFIG_SPLIT_UDH16, CONFIG_SPLIT_SAR,
    CONFIG_SPLIT_PAYLOAD
};
enum config_sync { CONFIG_SYNC_NORMAL = 0, CONFIG_SYNC_FULL };

/* issue 13 tls-smpp: an smsc entry's `tls:` mapping (SMPP over TLS). */
enum config_tls_version { CONFIG_TLS_12 = 0, CONFIG_TLS_13 };
struct config_smsc_tls {
    bool enabled;
    char *ca;                   /* PEM CA file; "" = the system's store */
    char *cert, *key;           /* client certificate and key; "" = none */
    bool verify;                /* the server's chain and name (default true) */
    char *verify_name;          /* name its certificate must carry; "" = host */
    int min_version;            /* enum config_tls_version */
};

/* One smsc entry.  Durations are in milliseconds. */
struct config_smsc {
    char *name;                 /* required, unique, [a-z0-9_-]{1,32} */
    char *host;
    unsigned port;
    char *system_id;            /* <= 15 chars */
    char *password;             /* <= 8 chars; never logged */
    char *system_type;          /* <= 12 chars, may be "" */
    int bind;                   /* enum config_bind */
    unsigned window;
    unsigned tps;               /* 0 = unlimited */
    unsigned throttle_pause_ms; /* adaptive throttling (smpp/esme.h) */
    unsigned throttle_max_pause_ms;
    unsigned throttle_min_tps;
    unsigned enquire_link_ms;
    unsigned response_timeout_ms;
    unsigned reconnect_min_ms;
    unsigned reconnect_max_ms;
    unsigned max_pdu_len;
    char *dialect;              /* USSD dialect preset name (issue 3) */
    unsigned session_timeout_ms;/* USSD dialog inactivity (issue 3) */
    char **prefixes;            /* MT routing by number prefix (issue 4) */
    size_t prefix_count;
    bool default_route;
    int split;                  /* enum config_split */
    struct config_smsc_tls tls; /* issue 13 tls-smpp */
    int line;                   /* where the entry starts (1-based; 0 = embedded) */
};

struct config {
    int log_level;              /* enum log_level (gateway/log.h) */
    char *log_file;             /* "" = stderr */
    struct config_smsc *smsc;
    size_t smsc_count;
    char *http_listen;          /* "host:port" */
    unsigned http_max_body;
    unsigned http_head_timeout_ms; /* whole request within this (http_edge) */
    unsigned http_max_connections; /* 0 = from RLIMIT_NOFILE */
    char *admin_listen;         /* "host:port", or "" (no admin listener) */
    unsigned admin_max_connections;
    /* issue 10 console: admin.console */
    char *console_dir;          /* "" = beside the binary, else /usr/share */
    unsigned console_idle_ms, console_max_ms;
    unsigned console_login_max, console_login_window_ms;
    /* issue 13 tls-http: HTTPS for the API and the admin listener.  Empty
     * cert = plain HTTP, allowed on a loopback listen only unless
     * insecure_plain (checked by the parser). */
    char *http_tls_cert, *http_tls_key, *http_tls_client_ca;
    bool http_insecure_plain;
    char *admin_tls_cert, *admin_tls_key, *admin_tls_client_ca;
    bool admin_insecure_plain;
    /* issue 13 tls-http: the API as an X-Road service (http.xroad) */
    char *http_xroad_ss_cert;   /* PEM path or SHA-256 hex; "" = off */
    char **http_xroad_members;  /* "CLIENT=AGENCY[ SCOPES]" */
    size_t http_xroad_members_count;
    /* issue 10 publish: admin.console */
    bool console_maker_checker;
    char *console_node;         /* "" = hostname:port of http.listen */
    unsigned console_version_check_ms;
    char *redis_url;            /* "" = dialogs kept in process */
    char **redis_sentinels;     /* "host:port" (issue 9); empty = none */
    size_t redis_sentinel_count;
    char *redis_master;         /* the name they monitor; "" with none */
    char *db_path;
    int db_synchronous;         /* enum config_sync */
    char *menus;                /* directory of menu files */
    unsigned menus_max_bytes;   /* cap on the menu set's size (menus/load) */
    /* booking: the reminder SMS the day before (gateway/reminders) */
    bool reminders;             /* send them at all */
    char *reminder_at;          /* "HH:MM", local time of day */
    unsigned reminder_check_s;  /* timer interval, seconds */
    unsigned reminder_skip_recent_ms; /* booked this close before the
                                 * reminder time (or after it): none */
    /* USSD push notices (gateway/api, POST /v1/ussd/notices) */
    char **ussd_notice_from;    /* codes a notice may come from besides the
                                 * menu set's ("*200#" or "200") */
    size_t ussd_notice_from_count;
    unsigned ussd_notices_per_hour; /* per phone, in any hour */
    /* issue 14 item 9: callback_url exceptions (base/netaddr.h) */
    char **callbacks_allow;     /* host names and CIDRs; empty by default */
    size_t callbacks_allow_count;
    /* issue 13 xroad: back-end calls through an X-Road security server
     * (strings "" when not set; read at start) */
    struct xroad_conf xroad;
    /* issue 12 appeals (gateway/appeals) */
    unsigned appeals_per_day;   /* per phone, in any 24 hours */
    char **appeals_keywords;    /* "LANG:WORD[=AGENCY/CATEGORY]" */
    size_t appeals_keywords_count;
    char *appeals_sms_category; /* "AGENCY/CATEGORY" or "" */
    char *source;               /* file it came from, or "(defaults)" */
};

struct config_error {
    int line, column;           /* 1-based; 0 when not tied to a place */
    char msg[240];
};

struct config_errors {
    char *file;                 /* name used in messages */
    struct config_error *v;
    size_t n, cap;
    size_t dropped;             /* errors beyond CONFIG_MAX_ERRORS */
};
#define CONFIG_MAX_ERRORS 100

/*
 * config_parse_string — parse `len` bytes of YAML.  filename is used in
 * messages only (NULL -> "<string>").  On success returns 0 and *out is a
 * new config (caller frees with config_free).  On any problem returns -1,
 * *out is NULL and errs holds every problem found (errs must be zeroed or
 * freshly freed by the caller; it is appended to).  An empty text gives the
 * defaults.
 */
int config_parse_string(const char *text, size_t len, const char *filename,
                        struct config **out, struct config_errors *errs);

/* Read `path` and parse it; a read failure is one error with line 0.
 * Unlike config_parse_string it also checks that the files an enabled
 * smsc tls: block names (ca, cert, key) can be read (issue 13 tls-smpp):
 * "file:line:col: smsc[1].tls.ca: cannot read PATH: reason". */
int config_load_file(const char *path, struct config **out,
                     struct config_errors *errs);

/* The embedded defaults (what `kyzmatd` with no -c runs).  NULL only when
 * out of memory. */
struct config *config_defaults(void);

/* Free a config and everything it owns.  NULL is fine. */
void config_free(struct config *cfg);

/* Free what errs holds and zero it. */
void config_errors_free(struct config_errors *errs);

/* "file:line:column: message" (or "file: message" when line is 0) into
 * buf; returns buf. */
const char *config_error_format(const struct config_errors *errs,
                                const struct config_error *e, char *buf,
                                size_t n);

/* 1 when two smsc entries have the same values for every key (reload
 * leaves such an entry untouched), else 0. */
int config_smsc_equal(const struct config_smsc *a, const struct config_smsc *b);

/* Names of the keys whose values differ, comma-separated, into buf (cut to
 * fit); returns how many differ.  For the reload log line. */
size_t config_smsc_diff(const struct config_smsc *a, const struct config_smsc *b,
                        char *buf, size_t n);

/* Find an entry by name; NULL when absent. */
const struct config_smsc *config_find_smsc(const struct config *cfg,
                                           const char *name);

/* Names for enum values, as written in the file. */
const char *config_bind_name(int bind);
const char *config_split_name(int split);
/* "1.2" or "1.3" for enum config_tls_version (issue 13 tls-smpp). */
const char *config_tls_version_name(int v);

/* Minute of the day of an "HH:MM" text (00:00..23:59); -1 when it is not
 * one.  Pure. */
int config_hhmm_minutes(const char *hhmm);

/* Print every key with its type, default, range and help (--help-config). */
void config_print_help(FILE *fp);

#endif
