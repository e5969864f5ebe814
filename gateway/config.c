/*
 * gateway/config.c — YAML -> struct config, driven by one table of keys.
 *
 * Design: `keys[]` below is the whole file format.  Each row says which
 * section a key lives in, its type, its default (written as it would be in
 * the file), its range, flags and help text, and where the value goes
 * (offsetof).  Defaults are applied by running the default text through
 * the same converter as the file's values, so the table cannot disagree
 * with itself; --help-config prints the same rows; reload compares smsc
 * entries row by row.
 *
 * libfyaml builds a document tree (its own syntax errors are collected
 * through a quiet fy_diag, never printed); we walk the tree and append every
 * problem to the caller's error list with 1-based line:column taken from the
 * scalar tokens (for a mapping or sequence, from the key that names it).
 *
 * Owns: nothing global.  A struct config owns all its strings and arrays.
 * A key may live in a mapping nested under its entry: its row's name is
 * the path, "tls.enabled" (issue 13 tls-smpp: smsc[].tls); parse_map_in
 * walks such a mapping with the group "tls." and the same table.  A
 * section may sit inside another (admin.console, http.tls, admin.tls,
 * http.xroad: sections[].parent), its keys' fields in the parent's struct.
 *
 * May call: libfyaml, libc, base/utf8, base/netaddr, base/xroad,
 * dialogs_parse_url(), http_edge_listen_parse/http_edge_loopback_host,
 * api_is_code, api_scopes_check, appeals_kw_item() and
 * appeals_category_item() (pure).  No I/O except
 * config_load_file() (reads the one file, and checks
 * the help text where told).
 */
#include "gateway/config.h"
#include "base/netaddr.h"
#include "base/utf8.h"
#include "base/xroad.h"
#include "smpp/dialect.h"
#include "gateway/log.h"
#include "gateway/dialogs.h"
#include "gateway/http_edge.h"
#include "gateway/api.h"
#include "gateway/api_parse.h"
#include "gateway/appeals.h"

#include <errno.h>
#include <libfyaml.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(KLOG_ERROR == 0 && KLOG_DEBUG == 3,
               "log.level choices below follow enum log_level");

/* ---- the table ---------------------------------------------------------- */

enum ktype { T_STR, T_UINT, T_BOOL, T_DUR, T_ENUM, T_STRLIST };

enum sect { S_TOP, S_LOG, S_SMSC, S_HTTP, S_ADMIN, S_REDIS, S_DB, S_BOOKING,
            S_USSD, S_CALLBACKS, S_XROAD /* issue 13 xroad */,
            S_ADMIN_CONSOLE,    /* issue 10 console: admin.console */
            S_HTTP_TLS, S_ADMIN_TLS, S_HTTP_XROAD,  /* issue 13 tls-http */
            S_APPEALS,          /* issue 12 appeals */
            S_COUNT };

struct section {
    const char *name;           /* NULL for S_TOP (keys at the top level) */
    int is_list;                /* a list of mappings (smsc) */
    const char *help;
    enum sect parent;           /* S_TOP, or the section it sits in
                                 * (admin.console, http.tls, ...); its keys'
                                 * fields live in the parent's struct */
};

static const struct section sections[S_COUNT] = {
    [S_TOP]   = { NULL, 0, NULL },
    [S_LOG]   = { "log", 0, "where and how much to log" },
    [S_SMSC]  = { "smsc", 1, "list of SMSC links; each entry is one ESME bind" },
    [S_HTTP]  = { "http", 0, "HTTP API" },
    [S_ADMIN] = { "admin", 0, "the operators' listener: GET /metrics (Prometheus), "
                  "/healthz, /readyz, and the console under /console/" },
    [S_REDIS] = { "redis", 0, "USSD dialog store" },
    [S_DB]    = { "database", 0, "SQLite store for the SMS outbox" },
    [S_BOOKING] = { "booking", 0, "appointments: the reminder SMS the day before" },
    [S_USSD]  = { "ussd", 0, "USSD push notices (POST /v1/ussd/notices)" },
    [S_CALLBACKS] = { "callbacks", 0, "the agencies' callback_url calls" },
    /* issue 13 xroad */
    [S_XROAD] = { "xroad", 0, "back-end calls through an X-Road (Tunduk) security "
                  "server: menu nodes with an xroad: block" },
    [S_ADMIN_CONSOLE] = { "console", 0, "the operators' console under "
                          "/console/ on the admin listener", S_ADMIN },
    /* issue 13 tls-http */
    [S_HTTP_TLS] = { "tls", 0, "HTTPS for the API: with cert and key set, "
                     "http.listen speaks only TLS (1.2 or 1.3)", S_HTTP },
    [S_ADMIN_TLS] = { "tls", 0, "HTTPS for the admin listener: with cert and "
                      "key set, admin.listen speaks only TLS", S_ADMIN },
    [S_HTTP_XROAD] = { "xroad", 0, "the API as an X-Road (Tunduk) REST service: "
                       "behind the agencies' security server, X-Road-Client "
                       "names the calling agency", S_HTTP },
    [S_APPEALS] = { "appeals", 0, "citizens' appeals (issue 12): limit and SMS "
                    "keywords" },
};

#define F_REQUIRED  0x01u   /* smsc entries: must be given */
#define F_SECRET    0x02u   /* never echo the value */
#define F_NAME      0x04u   /* [a-z0-9_-] only */
#define F_HOSTPORT  0x08u   /* "host:port" */
#define F_REDIS_URL 0x10u   /* "" or redis://... */
#define F_DIGITS    0x20u   /* list items: digits only */
#define F_HHMM      0x40u   /* "HH:MM", 00:00..23:59 */
#define F_LEVEL     0x80u   /* enum: syslog's level names too (log_level_from_name) */
#define F_USSD_CODE 0x100u  /* list items: a service code, 0-9 * # only */
#define F_NETALLOW  0x200u  /* list items: host names or CIDRs (base/netaddr) */
#define F_XR_CLIENT 0x400u  /* "" or an X-Road client identifier (issue 13 xroad) */
#define F_HTTP_URL  0x800u  /* "" or http(s)://HOST[:PORT] (issue 13 xroad) */
#define F_MEMBERS   0x1000u /* a mapping CLIENT: "AGENCY [SCOPES]", kept as a
                             * list of "CLIENT=AGENCY[ SCOPES]" (issue 13) */
#define F_APPEAL_KW 0x2000u /* list items: LANG:WORD[=AGENCY/CATEGORY] */
#define F_APPEAL_CAT 0x4000u /* "" or AGENCY/CATEGORY */

struct key {
    enum sect sect;
    const char *name;
    enum ktype type;
    const char *def;            /* default as YAML text; NULL = none */
    unsigned long long min, max;/* uint/dur: value range (dur in ms);
                                 * str/list items: length range */
    const char *const *choices; /* enum: names, index = stored value */
    unsigned flags;
    size_t off;                 /* into struct config or config_smsc */
    size_t off_count;           /* strlist: where the count goes */
    const char *help;
};

static const char *const level_choices[] = { "error", "warn", "info", "debug", NULL };
static const char *const bind_choices[] = { "transceiver", "tx_rx", NULL };
static const char *const split_choices[] = { "udh", "udh16", "sar", "payload", NULL };
static const char *const sync_choices[] = { "normal", "full", NULL };
static const char *const tls_version_choices[] = { "1.2", "1.3", NULL };

#define C(f) offsetof(struct config, f)
#define E(f) offsetof(struct config_smsc, f)
#define HOUR_MS 3600000ull

static const struct key keys[] = {
    { S_LOG, "level", T_ENUM, "info", 0, 0, level_choices, F_LEVEL, C(log_level), 0,
      "lowest level written; syslog's names work too: emerg, alert, crit, err "
      "= error, warning = warn, notice = info (-v on the command line forces debug)" },
    { S_LOG, "file", T_STR, "", 0, 4096, NULL, 0, C(log_file), 0,
      "append to this file; empty = stderr; reopened on SIGHUP for logrotate" },

    { S_SMSC, "name", T_STR, NULL, 1, 32, NULL, F_REQUIRED | F_NAME, E(name), 0,
      "unique tag for logs and routing, [a-z0-9_-]" },
    { S_SMSC, "host", T_STR, "127.0.0.1", 1, 253, NULL, 0, E(host), 0,
      "SMSC address (IPv4, IPv6 or host name)" },
    { S_SMSC, "port", T_UINT, "2775", 1, 65535, NULL, 0, E(port), 0,
      "SMSC TCP port" },
    { S_SMSC, "system_id", T_STR, "kyzmat", 1, 15, NULL, 0, E(system_id), 0,
      "bind system_id" },
    { S_SMSC, "password", T_STR, "secret", 0, 8, NULL, F_SECRET, E(password), 0,
      "bind password (never logged)" },
    { S_SMSC, "system_type", T_STR, "", 0, 12, NULL, 0, E(system_type), 0,
      "bind system_type, often empty" },
    { S_SMSC, "bind", T_ENUM, "transceiver", 0, 0, bind_choices, 0, E(bind), 0,
      "one bind_transceiver, or a transmitter + receiver pair" },
    { S_SMSC, "window", T_UINT, "10", 1, 1000, NULL, 0, E(window), 0,
      "requests outstanding without a response" },
    { S_SMSC, "tps", T_UINT, "100", 0, 100000, NULL, 0, E(tps), 0,
      "requests per second sent, 0 = unlimited" },
    { S_SMSC, "throttle_pause", T_DUR, "100ms", 10, 60000, NULL, 0,
      E(throttle_pause_ms), 0,
      "pause after a second throttle (ESME_RTHROTTLED/RMSGQFUL) in a row; doubles per further one" },
    { S_SMSC, "throttle_max_pause", T_DUR, "2s", 10, 600000, NULL, 0,
      E(throttle_max_pause_ms), 0, "cap on the throttling pause" },
    { S_SMSC, "throttle_min_tps", T_UINT, "1", 1, 100000, NULL, 0,
      E(throttle_min_tps), 0,
      "floor of the adaptive send rate after throttling (it climbs back to tps on successes)" },
    { S_SMSC, "enquire_link", T_DUR, "30s", 1000, HOUR_MS, NULL, 0,
      E(enquire_link_ms), 0, "idle time before an enquire_link" },
    { S_SMSC, "response_timeout", T_DUR, "10s", 100, 5 * 60000ull, NULL, 0,
      E(response_timeout_ms), 0, "a request without a response by then has failed" },
    { S_SMSC, "reconnect_min", T_DUR, "1s", 100, HOUR_MS, NULL, 0,
      E(reconnect_min_ms), 0, "first reconnect back-off" },
    { S_SMSC, "reconnect_max", T_DUR, "60s", 100, HOUR_MS, NULL, 0,
      E(reconnect_max_ms), 0, "back-off cap (>= reconnect_min)" },
    { S_SMSC, "max_pdu_len", T_UINT, "65536", 1024, 16777216, NULL, 0,
      E(max_pdu_len), 0, "largest command_length accepted from the SMSC" },
    { S_SMSC, "dialect", T_STR, "standard", 1, 32, NULL, F_NAME, E(dialect), 0,
      "USSD dialect preset: standard, standard-3gpp, end-bit, umr, msisdn" },
    { S_SMSC, "session_timeout", T_DUR, "180s", 1000, HOUR_MS, NULL, 0,
      E(session_timeout_ms), 0, "USSD dialog inactivity limit" },
    { S_SMSC, "prefixes", T_STRLIST, "[]", 1, 20, NULL, F_DIGITS, E(prefixes),
      E(prefix_count), "MT numbers starting with one of these go here" },
    { S_SMSC, "default_route", T_BOOL, "false", 0, 0, NULL, 0, E(default_route), 0,
      "MT that matches no prefix goes here" },
    { S_SMSC, "split", T_ENUM, "udh", 0, 0, split_choices, 0, E(split), 0,
      "how long SMS are split" },
    /* issue 13 tls-smpp: SMPP over TLS, the mapping tls: {...} of an entry */
    { S_SMSC, "tls.enabled", T_BOOL, "false", 0, 0, NULL, 0, E(tls.enabled), 0,
      "connect to this SMSC over TLS (tls: {enabled: true, ...})" },
    { S_SMSC, "tls.ca", T_STR, "", 0, 4096, NULL, 0, E(tls.ca), 0,
      "PEM file of the CA(s) that sign the SMSC's certificate; empty = the "
      "system's store" },
    { S_SMSC, "tls.cert", T_STR, "", 0, 4096, NULL, 0, E(tls.cert), 0,
      "client certificate (PEM chain) for an SMSC that asks for one; needs tls.key" },
    { S_SMSC, "tls.key", T_STR, "", 0, 4096, NULL, 0, E(tls.key), 0,
      "private key (PEM) of tls.cert" },
    { S_SMSC, "tls.verify", T_BOOL, "true", 0, 0, NULL, 0, E(tls.verify), 0,
      "verify the SMSC's certificate chain and name; false only by explicit "
      "choice (warned at start)" },
    { S_SMSC, "tls.verify_name", T_STR, "", 0, 253, NULL, 0, E(tls.verify_name), 0,
      "name the SMSC's certificate must carry, also sent as SNI; empty = host" },
    { S_SMSC, "tls.min_version", T_ENUM, "1.2", 0, 0, tls_version_choices, 0,
      E(tls.min_version), 0, "lowest TLS version accepted" },

    { S_HTTP, "listen", T_STR, "127.0.0.1:8080", 3, 300, NULL, F_HOSTPORT,
      C(http_listen), 0, "address:port of the HTTP API (port 0: any free one, logged)" },
    { S_ADMIN, "listen", T_STR, "", 0, 300, NULL, F_HOSTPORT, C(admin_listen), 0,
      "address:port of the admin listener (port 0: any free one, logged); "
      "empty = none.  Keep it on a private address: /metrics and the "
      "probes have no token (the console has logins)" },
    { S_ADMIN, "max_connections", T_UINT, "64", 1, 10000, NULL, 0,
      C(admin_max_connections), 0,
      "cap on admin connections (scrapers, probes); at the cap the oldest "
      "idle one is closed" },
    /* issue 10 console */
    { S_ADMIN_CONSOLE, "dir", T_STR, "", 0, 4096, NULL, 0, C(console_dir), 0,
      "folder of the console's pages; empty = console/ of the source tree "
      "beside the binary, else /usr/share/kyzmat/console" },
    { S_ADMIN_CONSOLE, "session_idle", T_DUR, "30m", 60000, 24 * HOUR_MS, NULL,
      0, C(console_idle_ms), 0, "a session ends after this without a request" },
    { S_ADMIN_CONSOLE, "session_max", T_DUR, "12h", 60000, 30 * 24 * HOUR_MS,
      NULL, 0, C(console_max_ms), 0,
      "a session ends this long after its login, in use or not" },
    { S_ADMIN_CONSOLE, "login_failures", T_UINT, "5", 1, 1000, NULL, 0,
      C(console_login_max), 0,
      "failed logins allowed per address and per account name in a "
      "login_window; then 429 until the window ends" },
    { S_ADMIN_CONSOLE, "login_window", T_DUR, "15m", 1000, 24 * HOUR_MS, NULL,
      0, C(console_login_window_ms), 0, "see login_failures" },
    /* issue 10 publish */
    { S_ADMIN_CONSOLE, "maker_checker", T_BOOL, "false", 0, 0, NULL, 0,
      C(console_maker_checker), 0,
      "a publish (or rollback) waits as pending until a publisher other "
      "than its author approves it" },
    { S_ADMIN_CONSOLE, "node", T_STR, "", 0, 127, NULL, 0, C(console_node), 0,
      "this node's name in the console's nodes table; empty = "
      "HOSTNAME:PORT of http.listen (applies at restart)" },
    { S_ADMIN_CONSOLE, "version_check", T_DUR, "1s", 100, 600000, NULL, 0,
      C(console_version_check_ms), 0,
      "how often this node asks the database for the live menu version "
      "(applies at restart)" },
    { S_HTTP, "max_body", T_UINT, "1048576", 1024, 64ull << 20, NULL, 0,
      C(http_max_body), 0, "largest request body accepted, octets" },
    { S_HTTP, "head_timeout", T_DUR, "10s", 100, HOUR_MS, NULL, 0,
      C(http_head_timeout_ms), 0,
      "a client must send a whole request (head and body) within this of "
      "connecting or of the previous answer, else it is closed; also the "
      "keep-alive idle limit" },
    { S_HTTP, "max_connections", T_UINT, "0", 0, 1000000, NULL, 0,
      C(http_max_connections), 0,
      "cap on API connections; at the cap the oldest one without a request "
      "in progress is closed; 0 = RLIMIT_NOFILE less 256 kept for the links, "
      "the database, Redis and curl (logged at start)" },
    /* issue 13 tls-http: HTTPS, and plain HTTP on loopback only */
    { S_HTTP, "insecure_plain", T_BOOL, "false", 0, 0, NULL, 0,
      C(http_insecure_plain), 0,
      "allow plain HTTP (no http.tls) on a non-loopback http.listen and from "
      "any peer: only behind a TLS proxy on a private network (logged as a "
      "warning at start)" },
    { S_HTTP_TLS, "cert", T_STR, "", 0, 4096, NULL, 0, C(http_tls_cert), 0,
      "PEM certificate chain the API serves; empty = plain HTTP (loopback "
      "only); the files are read again on SIGHUP" },
    { S_HTTP_TLS, "key", T_STR, "", 0, 4096, NULL, 0, C(http_tls_key), 0,
      "its PEM private key" },
    { S_HTTP_TLS, "client_ca", T_STR, "", 0, 4096, NULL, 0,
      C(http_tls_client_ca), 0,
      "PEM CA bundle: when set, every client must present a certificate it "
      "signed (mutual TLS), else the handshake is refused" },
    { S_HTTP_XROAD, "security_server_cert", T_STR, "", 0, 4096, NULL, 0,
      C(http_xroad_ss_cert), 0,
      "the security server's TLS client certificate: a PEM file (read at "
      "start) or its SHA-256 (64 hex digits, colons allowed); it must also be "
      "signed by (or be in) http.tls.client_ca.  Only a connection that "
      "presents it may name the agency by X-Road-Client" },
    { S_HTTP_XROAD, "members", T_STRLIST, "[]", 1, 600, NULL, F_MEMBERS,
      C(http_xroad_members), C(http_xroad_members_count),
      "X-Road clients served, as a mapping INSTANCE/CLASS/MEMBER[/SUBSYSTEM]: "
      "\"AGENCY [SCOPES]\" (scopes as for --create-token, default *); any "
      "other X-Road-Client gets 403; read at start" },
    { S_ADMIN, "insecure_plain", T_BOOL, "false", 0, 0, NULL, 0,
      C(admin_insecure_plain), 0,
      "allow plain HTTP (no admin.tls) on a non-loopback admin.listen and "
      "from any peer (logged as a warning at start)" },
    { S_ADMIN_TLS, "cert", T_STR, "", 0, 4096, NULL, 0, C(admin_tls_cert), 0,
      "PEM certificate chain of the admin listener; empty = plain HTTP "
      "(loopback only); read again on SIGHUP" },
    { S_ADMIN_TLS, "key", T_STR, "", 0, 4096, NULL, 0, C(admin_tls_key), 0,
      "its PEM private key" },
    { S_ADMIN_TLS, "client_ca", T_STR, "", 0, 4096, NULL, 0,
      C(admin_tls_client_ca), 0,
      "PEM CA bundle: when set, scrapers must present a certificate it signed" },

    { S_REDIS, "url", T_STR, "", 0, 1024, NULL, F_REDIS_URL, C(redis_url), 0,
      "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (AUTH, SELECT; %XX escapes "
      "in USER and PASSWORD; changes apply on SIGHUP); empty = dialogs kept in "
      "the process.  With sentinels only its USER, PASSWORD and DB count" },
    { S_REDIS, "sentinels", T_STRLIST, "[]", 3, 300, NULL, F_HOSTPORT,
      C(redis_sentinels), C(redis_sentinel_count),
      "Redis Sentinels (\"host:port\", up to 16) asked for the master's "
      "address before every connect, so dialogs follow a failover; needs "
      "master; applies at restart" },
    { S_REDIS, "master", T_STR, "", 0, 100, NULL, 0, C(redis_master), 0,
      "the name the sentinels monitor (sentinel monitor NAME ...)" },

    { S_DB, "path", T_STR, "var/kyzmat.db", 1, 4096, NULL, 0, C(db_path), 0,
      "SQLite file" },
    { S_DB, "synchronous", T_ENUM, "normal", 0, 0, sync_choices, 0,
      C(db_synchronous), 0, "normal survives a crash, full a power cut" },

    { S_BOOKING, "reminders", T_BOOL, "true", 0, 0, NULL, 0, C(reminders), 0,
      "send each booking a reminder SMS the day before its appointment" },
    { S_BOOKING, "reminder_at", T_STR, "18:00", 1, 16, NULL, F_HHMM,
      C(reminder_at), 0,
      "local time of day from which tomorrow's reminders go out (HH:MM)" },
    { S_BOOKING, "reminder_check_seconds", T_UINT, "60", 1, 3600, NULL, 0,
      C(reminder_check_s), 0,
      "how often the reminder timer looks for bookings, seconds" },
    { S_BOOKING, "reminder_skip_recent", T_DUR, "6h", 0, 48 * HOUR_MS, NULL, 0,
      C(reminder_skip_recent_ms), 0,
      "no reminder for a booking made this close before its reminder time, "
      "or after it (its confirmation is recent); 0s: always one" },

    { S_USSD, "notice_from", T_STRLIST, "[]", 1, 20, NULL, F_USSD_CODE,
      C(ussd_notice_from), C(ussd_notice_from_count),
      "service codes a notice may come from besides the menu set's own "
      "(\"*200#\" or \"200\"); any other \"from\" is refused (422)" },
    { S_USSD, "notices_per_phone_per_hour", T_UINT, "5", 1, 1000, NULL, 0,
      C(ussd_notices_per_hour), 0,
      "notices one phone may get in any hour; more are refused (429 with "
      "Retry-After); changes apply on restart" },
    /* issue 14 item 9 */
    { S_CALLBACKS, "allow", T_STRLIST, "[]", 1, 253, NULL, F_NETALLOW,
      C(callbacks_allow), C(callbacks_allow_count),
      "hosts and CIDRs a callback_url may reach although they are loopback, "
      "link-local or metadata addresses (127.0.0.0/8, ::1, 0.0.0.0/8, "
      "169.254.0.0/16, fe80::/10, fd00:ec2::254, localhost), e.g. "
      "[127.0.0.1, hooks.internal]; read at start" },

    /* issue 13 xroad */
    { S_XROAD, "security_server", T_STR, "", 0, 1024, NULL, F_HTTP_URL,
      C(xroad.security_server), 0,
      "our X-Road security server, https://HOST:PORT (or http:// where the "
      "server allows it); empty = no X-Road calls; read at start" },
    { S_XROAD, "client", T_STR, "", 0, 1100, NULL, F_XR_CLIENT, C(xroad.client), 0,
      "our client identifier, INSTANCE/CLASS/MEMBER/SUBSYSTEM "
      "(e.g. KG/GOV/70000003/kyzmat), sent as X-Road-Client" },
    { S_XROAD, "ca", T_STR, "", 0, 4096, NULL, 0, C(xroad.ca), 0,
      "PEM file of the CA that signed the security server's certificate; "
      "empty = the system's CAs" },
    { S_XROAD, "cert", T_STR, "", 0, 4096, NULL, 0, C(xroad.cert), 0,
      "PEM file of our client certificate (mutual TLS, registered on the "
      "security server); with key" },
    { S_XROAD, "key", T_STR, "", 0, 4096, NULL, 0, C(xroad.key), 0,
      "PEM file of the client certificate's private key; with cert" },
    { S_XROAD, "user_id", T_STR, "", 0, 255, NULL, 0, C(xroad.user_id), 0,
      "X-Road-UserId on every call (e.g. KG + the operator's id); empty = none" },
    /* issue 12 appeals */
    { S_APPEALS, "per_phone_per_day", T_UINT, "5", 1, 1000, NULL, 0,
      C(appeals_per_day), 0,
      "appeals one phone may file in any 24 hours (USSD and SMS together); "
      "more are refused politely and counted "
      "(kyzmat_appeals_limited_total); read at start" },
    { S_APPEALS, "keywords", T_STRLIST, "[]", 4, 200, NULL,
      F_APPEAL_KW, C(appeals_keywords), C(appeals_keywords_count),
      "SMS words that file an appeal (WORD text) or tell its state (WORD "
      "reference), answered in LANG: LANG:WORD, or LANG:WORD=AGENCY/CATEGORY "
      "for a category of its own; empty: ky:КАЙРЫЛУУ, ru:ОБРАЩЕНИЕ, "
      "en:APPEAL; read at start" },
    { S_APPEALS, "sms_category", T_STR, "", 0, 130, NULL, F_APPEAL_CAT,
      C(appeals_sms_category), 0,
      "AGENCY/CATEGORY of an appeal filed by SMS with a word that names "
      "none; empty: such words only tell states" },

    { S_TOP, "menus", T_STR, "menus/examples", 1, 4096, NULL, 0, C(menus), 0,
      "directory of menu files" },
    { S_TOP, "menus_max_bytes", T_UINT, "2097152", 65536, 64ull << 20, NULL, 0,
      C(menus_max_bytes), 0,
      "cap on the menu set's total size, octets; a bigger set is refused "
      "before parsing (the old menus stay)" },
};
#define NKEYS (sizeof keys / sizeof keys[0])

#define MAX_SMSC 256
#define MAX_PREFIXES 1000

static const char *const type_names[] = {
    [T_STR] = "string", [T_UINT] = "integer", [T_BOOL] = "boolean",
    [T_DUR] = "duration", [T_ENUM] = "choice", [T_STRLIST] = "list",
};

/* ---- errors --------------------------------------------------------------- */

static void add_err(struct config_errors *errs, int line, int col,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_err(struct config_errors *errs, int line, int col,
                    const char *fmt, ...)
{
    if (errs->n >= CONFIG_MAX_ERRORS) {
        errs->dropped++;
        return;
    }
    if (errs->n == errs->cap) {
        size_t nc = errs->cap ? errs->cap * 2 : 8;
        struct config_error *nv = realloc(errs->v, nc * sizeof *nv);
        if (!nv) {
            errs->dropped++;
            return;
        }
        errs->v = nv;
        errs->cap = nc;
    }
    struct config_error *e = &errs->v[errs->n++];
    e->line = line;
    e->column = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void config_errors_free(struct config_errors *errs)
{
    if (!errs)
        return;
    free(errs->file);
    free(errs->v);
    memset(errs, 0, sizeof *errs);
}

const char *config_error_format(const struct config_errors *errs,
                                const struct config_error *e, char *buf,
                                size_t n)
{
    const char *file = errs && errs->file ? errs->file : "<string>";
    if (e->line > 0)
        snprintf(buf, n, "%s:%d:%d: %s", file, e->line, e->column, e->msg);
    else
        snprintf(buf, n, "%s: %s", file, e->msg);
    return buf;
}

/* ---- "did you mean" ------------------------------------------------------- */

/* Optimal-string-alignment distance (a swap of two neighbours costs 1),
 * for short names only. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return SIZE_MAX;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

struct suggest {
    const char *best;
    size_t dist;
};

static void suggest_try(struct suggest *s, const char *given, const char *cand)
{
    size_t d = edit_distance(given, cand);
    size_t limit = strlen(cand) <= 4 ? 1 : 2;
    if (d <= limit && (!s->best || d < s->dist)) {
        s->best = cand;
        s->dist = d;
    }
}

/* Append " (did you mean \"x\"?)" or nothing, into hint[0..n). */
static void hint_text(const struct suggest *s, char *hint, size_t n)
{
    if (s->best)
        snprintf(hint, n, " (did you mean \"%s\"?)", s->best);
    else
        hint[0] = '\0';
}

/* ---- positions ------------------------------------------------------------ */

struct pos {
    int line, col;              /* 1-based; 0 = unknown */
};

static struct pos node_pos(struct fy_node *n, struct pos fallback)
{
    if (n && fy_node_get_type(n) == FYNT_SCALAR) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
        if (m) {
            /* a quoted scalar's (an alias's) token starts after the quote
             * (the '*'); point at that */
            enum fy_node_style st = fy_node_get_style(n);
            int quoted = (st == FYNS_SINGLE_QUOTED || st == FYNS_DOUBLE_QUOTED ||
                          fy_node_is_alias(n)) && m->column > 0;
            return (struct pos){ m->line + 1, m->column + 1 - quoted };
        }
    }
    if (n && fy_node_get_type(n) == FYNT_SEQUENCE) {
        /* a list starts where its first item does */
        void *it = NULL;
        struct fy_node *first = fy_node_sequence_iterate(n, &it);
        if (first)
            return node_pos(first, fallback);
    }
    if (n && fy_node_get_type(n) == FYNT_MAPPING) {
        /* a mapping starts where its first key does */
        void *it = NULL;
        struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
        if (p && fy_node_pair_key(p) &&
            fy_node_get_type(fy_node_pair_key(p)) == FYNT_SCALAR)
            return node_pos(fy_node_pair_key(p), fallback);
    }
    return fallback;
}

/* ---- values ----------------------------------------------------------------- */

struct ctx {
    struct config_errors *errs;
    int check_files;            /* config_load_file: TLS files readable? */
};

static void *field(void *base, size_t off)
{
    return (char *)base + off;
}

static int is_null_scalar(struct fy_node *n)
{
    if (!n)
        return 1;
    if (fy_node_get_type(n) != FYNT_SCALAR)
        return 0;
    size_t len = 0;
    fy_node_get_scalar(n, &len);
    return len == 0 && fy_node_get_scalar_token(n) == NULL;
}

static int parse_uint(const char *s, size_t len, unsigned long long *out)
{
    if (len == 0 || len > 19)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "500ms", "30s", "5m", "1h" -> milliseconds.  Returns 0, -1 for bad
 * syntax, -2 for a number without a unit. */
static int parse_duration(const char *s, size_t len, unsigned long long *out)
{
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || i > 12)
        return -1;
    unsigned long long v;
    if (parse_uint(s, i, &v) != 0)
        return -1;
    const char *u = s + i;
    size_t ul = len - i;
    unsigned long long mul;
    if (ul == 0)
        return -2;
    if (ul == 2 && memcmp(u, "ms", 2) == 0)
        mul = 1;
    else if (ul == 1 && u[0] == 's')
        mul = 1000;
    else if (ul == 1 && u[0] == 'm')
        mul = 60000;
    else if (ul == 1 && u[0] == 'h')
        mul = HOUR_MS;
    else
        return -1;
    *out = v * mul;  /* v < 10^12, mul <= 3.6e6: fits in 64 bits */
    return 0;
}

static void fmt_duration(unsigned long long ms, char *buf, size_t n)
{
    if (ms && ms % HOUR_MS == 0)
        snprintf(buf, n, "%lluh", ms / HOUR_MS);
    else if (ms && ms % 60000 == 0)
        snprintf(buf, n, "%llum", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%llus", ms / 1000);
    else
        snprintf(buf, n, "%llums", ms);
}

static char *dup_n(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static void free_strlist(char ***list, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *count = 0;
}

/* Minute of the day of "HH:MM" in s[0..len), or -1. */
static int hhmm_minutes(const char *s, size_t len)
{
    if (len != 5)
        return -1;
    for (size_t i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

/* Checks a string's length and flags; fills why when it fails. */
static int check_string(const struct key *k, const char *s, size_t len,
                        char *why, size_t whylen)
{
    if (memchr(s, '\0', len)) {
        snprintf(why, whylen, "must not contain a NUL character");
        return -1;
    }
    if (len < k->min || len > k->max) {
        if (k->min == k->max)
            snprintf(why, whylen, "must be %llu characters long", k->min);
        else if (k->min == 0)
            snprintf(why, whylen, "is %zu characters long, at most %llu allowed",
                     len, k->max);
        else if (len < k->min)
            snprintf(why, whylen, "must not be empty");
        else
            snprintf(why, whylen, "is %zu characters long, at most %llu allowed",
                     len, k->max);
        return -1;
    }
    if (k->flags & F_NAME) {
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-')) {
                snprintf(why, whylen,
                         "may contain only a-z, 0-9, '_' and '-'");
                return -1;
            }
        }
    }
    if ((k->flags & F_HOSTPORT) && len > 0) {   /* "" only where min is 0 */
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':')
                colon = s + i;
        unsigned long long port;
        if (!colon || colon == s ||
            parse_uint(colon + 1, len - (size_t)(colon + 1 - s), &port) != 0 ||
            port > 65535) {
            snprintf(why, whylen, "must be ADDRESS:PORT, e.g. 127.0.0.1:8080 "
                     "(port 0: any free port, logged at start)");
            return -1;
        }
    }
    if ((k->flags & F_XR_CLIENT) && len > 0) {   /* issue 13 xroad */
        char w[120];
        struct xroad_id id;
        if (xroad_id_parse(s, len, XROAD_CLIENT_PARTS, &id, NULL, w, sizeof w) != 0) {
            snprintf(why, whylen, "must be INSTANCE/CLASS/MEMBER/SUBSYSTEM: %s", w);
            return -1;
        }
    }
    if ((k->flags & F_HTTP_URL) && len > 0) {    /* issue 13 xroad */
        size_t sch = len > 7 && memcmp(s, "http://", 7) == 0 ? 7
                     : len > 8 && memcmp(s, "https://", 8) == 0 ? 8 : 0;
        bool bad = sch == 0;
        for (size_t i = sch; i < len && !bad; i++)
            bad = (unsigned char)s[i] <= ' ' || strchr("?#/@\\", s[i]) != NULL;
        if (bad) {
            snprintf(why, whylen, "must be https://HOST[:PORT] (or http://), "
                     "without a path");
            return -1;
        }
    }
    char ag[STORE_CODE_MAX], ca[STORE_CODE_MAX];     /* issue 12 appeals */
    if ((k->flags & F_APPEAL_CAT) && len > 0 &&
        appeals_category_item(s, len, ag, ca) < 0) {
        snprintf(why, whylen, "must be AGENCY/CATEGORY (codes of letters, "
                 "digits, . _ : -), or empty");
        return -1;
    }
    if ((k->flags & F_HHMM) && hhmm_minutes(s, len) < 0) {
        snprintf(why, whylen, "must be a time of day HH:MM, 00:00 to 23:59");
        return -1;
    }
    if ((k->flags & F_REDIS_URL) && len > 0) {
        /* The store's own parser, so --check refuses what the store would;
         * its reasons never quote the user info (a password). */
        char u[1100], e[160] = "";
        struct dialogs_redis_url pu;
        int bad = len >= sizeof u || len < 8 || memcmp(s, "redis://", 8) != 0;
        if (!bad) {
            memcpy(u, s, len);
            u[len] = '\0';
            bad = memchr(s, '\0', len) != NULL ||
                  dialogs_parse_url(u, &pu, e, sizeof e) != 0;
            explicit_bzero(u, sizeof u);
            explicit_bzero(&pu, sizeof pu);
        }
        if (bad) {
            const char *r = strncmp(e, "redis url: ", 11) == 0 ? e + 11 : NULL;
            snprintf(why, whylen,
                     "must be empty or redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]%s%.100s",
                     r ? ": " : "", r ? r : "");
            return -1;
        }
    }
    return 0;
}

/* A T_ENUM value: one of k->choices (its index is stored); for F_LEVEL also
 * the syslog names gateway/log reads (warning, err, notice, ...). */
static int set_enum(const struct key *k, void *base, const char *s, size_t len,
                    char *why, size_t whylen)
{
    struct suggest sg = { NULL, 0 };
    char given[48];
    snprintf(given, sizeof given, "%.*s", (int)(len > 40 ? 40 : len), s);
    if (k->flags & F_LEVEL && strlen(given) == len) {
        int level = log_level_from_name(given);
        if (level >= 0) {
            *(int *)field(base, k->off) = level;
            return 0;
        }
    }
    for (int i = 0; k->choices[i]; i++) {
        if (strlen(k->choices[i]) == len && !memcmp(k->choices[i], s, len)) {
            *(int *)field(base, k->off) = i;
            return 0;
        }
        suggest_try(&sg, given, k->choices[i]);
    }
    char list[128] = "";
    size_t p = 0;
    for (int i = 0; k->choices[i] && p < sizeof list; i++) {
        int w = snprintf(list + p, sizeof list - p, "%s%s", i ? ", " : "",
                         k->choices[i]);
        if (w < 0)
            break;
        p += (size_t)w;
    }
    char hint[80];
    hint_text(&sg, hint, sizeof hint);
    snprintf(why, whylen, "\"%s\" is not one of %s%s", given, list, hint);
    return -1;
}

/*
 * Convert one scalar's text and store it at base+k->off.  Returns 0, or -1
 * with why filled.  Used both for the file's values and for the defaults.
 */
static int set_scalar(const struct key *k, void *base, const char *s,
                      size_t len, char *why, size_t whylen)
{
    unsigned long long v;
    switch (k->type) {
    case T_STR: {
        if (check_string(k, s, len, why, whylen) != 0)
            return -1;
        char *d = dup_n(s, len);
        if (!d) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        char **dst = field(base, k->off);
        free(*dst);
        *dst = d;
        return 0;
    }
    case T_UINT:
        if (parse_uint(s, len, &v) != 0) {
            snprintf(why, whylen, "expected a whole number, got \"%.*s\"",
                     (int)(len > 40 ? 40 : len), s);
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(why, whylen, "%llu is out of range %llu..%llu", v, k->min,
                     k->max);
            return -1;
        }
        *(unsigned *)field(base, k->off) = (unsigned)v;
        return 0;
    case T_DUR: {
        int r = parse_duration(s, len, &v);
        if (r == -2) {
            snprintf(why, whylen,
                     "\"%.*s\" needs a unit: ms, s, m or h (e.g. 30s)",
                     (int)(len > 40 ? 40 : len), s);
            return -1;
        }
        if (r != 0) {
            snprintf(why, whylen,
                     "expected a duration such as 500ms, 30s, 5m, got \"%.*s\"",
                     (int)(len > 40 ? 40 : len), s);
            return -1;
        }
        if (v < k->min || v > k->max) {
            char a[32], b[32], c[32];
            fmt_duration(v, a, sizeof a);
            fmt_duration(k->min, b, sizeof b);
            fmt_duration(k->max, c, sizeof c);
            snprintf(why, whylen, "%s is out of range %s..%s", a, b, c);
            return -1;
        }
        *(unsigned *)field(base, k->off) = (unsigned)v;
        return 0;
    }
    case T_BOOL:
        if ((len == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) ||
                          !memcmp(s, "TRUE", 4)))) {
            *(bool *)field(base, k->off) = true;
            return 0;
        }
        if ((len == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) ||
                          !memcmp(s, "FALSE", 5)))) {
            *(bool *)field(base, k->off) = false;
            return 0;
        }
        snprintf(why, whylen, "expected true or false, got \"%.*s\"",
                 (int)(len > 40 ? 40 : len), s);
        return -1;
    case T_ENUM:
        return set_enum(k, base, s, len, why, whylen);
    case T_STRLIST:
        /* only the default "[]" comes here as text */
        if (len == 2 && !memcmp(s, "[]", 2)) {
            free_strlist(field(base, k->off), field(base, k->off_count));
            return 0;
        }
        snprintf(why, whylen, "expected a list");
        return -1;
    }
    snprintf(why, whylen, "unknown type");
    return -1;
}

static const char *kind_name(struct fy_node *n)
{
    if (!n)
        return "nothing";
    switch (fy_node_get_type(n)) {
    case FYNT_MAPPING:
        return "a mapping";
    case FYNT_SEQUENCE:
        return "a list";
    default:
        return "a scalar";
    }
}

static const char *expect_name(const struct key *k)
{
    switch (k->type) {
    case T_STR:
        return "a string";
    case T_UINT:
        return "a whole number";
    case T_BOOL:
        return "true or false";
    case T_DUR:
        return "a duration (500ms, 30s, 5m)";
    case T_ENUM:
        return "one of its choices";
    case T_STRLIST:
        return "a list of strings";
    }
    return "?";
}

/* Is s[0..len) no item of list key k?  true with why ("must be ..."). */
static bool list_item_bad(const struct key *k, const char *s, size_t len,
                          char *why, size_t n)
{
    bool ok = len >= k->min && len <= k->max;
    bool code = (k->flags & F_USSD_CODE) != 0;
    for (size_t i = 0; ok && (k->flags & (F_DIGITS | F_USSD_CODE)) && i < len;
         i++)
        if ((s[i] < '0' || s[i] > '9') &&
            !(code && (s[i] == '*' || s[i] == '#')))
            ok = false;
    if (!ok) {
        snprintf(why, n, "must be %llu to %llu %s", k->min, k->max,
                 code ? "of 0-9 * #"
                      : (k->flags & F_DIGITS) ? "digits" : "characters");
        return true;
    }
    struct appeals_kw kw;                           /* issue 12 appeals */
    if ((k->flags & F_APPEAL_KW) && appeals_kw_item(s, len, &kw, why, n) < 0)
        return true;
    if (!(k->flags & F_NETALLOW))
        return false;
    char item[256];
    snprintf(item, sizeof item, "%.*s", (int)len, s);
    if (len < sizeof item && kz_netallow_item_ok(item) && !memchr(s, 0, len))
        return false;
    snprintf(why, n, "is neither a host name nor an address or CIDR");
    return true;
}

static const char *scalar_key(struct fy_node *kn, size_t *len);

/* issue 13 tls-http: what is wrong with an X-Road member (client id c,
 * value "AGENCY [SCOPES]" v), or NULL.  why holds the detail. */
static const char *member_bad(const char *c, size_t cl, const char *v, size_t vl,
                              char *why, size_t n)
{
    unsigned parts = 0;
    size_t plen = 0;
    bool ok = cl > 0;
    for (size_t i = 0; ok && i <= cl; i++) {
        if (i == cl || c[i] == '/') {
            ok = plen >= 1 && plen <= 255;
            parts++;
            plen = 0;
        } else if ((unsigned char)c[i] <= ' ' || c[i] == '=' || c[i] == 0x7f) {
            ok = false;
        } else {
            plen++;
        }
    }
    if (!ok || parts < 3 || parts > 4)
        return "is not an X-Road client id INSTANCE/CLASS/MEMBER[/SUBSYSTEM]";
    char val[STORE_CODE_MAX + STORE_SCOPES_MAX + 2];
    if (vl >= sizeof val || memchr(v, 0, vl))
        return "its value is too long";
    snprintf(val, sizeof val, "%.*s", (int)vl, v);
    char *sp = strchr(val, ' ');
    if (sp)
        *sp++ = '\0';
    if (!api_is_code(val))
        return "its value must start with an agency code (1..63 of A-Z a-z "
               "0-9 . _ : -)";
    if (sp && api_scopes_check(sp, why, n) != 0)
        return why;
    return NULL;
}

/* issue 13 tls-http: http.xroad.members, a mapping of X-Road client ids to
 * "AGENCY [SCOPES]", kept as a list of "CLIENT=AGENCY[ SCOPES]". */
static void set_members(struct ctx *cx, const struct key *k, void *base,
                        struct fy_node *v, struct pos vp, const char *prefix)
{
    if (is_null_scalar(v)) {
        free_strlist(field(base, k->off), field(base, k->off_count));
        return;
    }
    int n = fy_node_get_type(v) == FYNT_MAPPING ? fy_node_mapping_item_count(v) : -1;
    if (n < 0 || n > MAX_PREFIXES) {
        add_err(cx->errs, vp.line, vp.col, "%s%s: expected a mapping of at most "
                "%d \"INSTANCE/CLASS/MEMBER/SUBSYSTEM\": \"AGENCY [SCOPES]\", "
                "got %s", prefix, k->name, MAX_PREFIXES,
                n < 0 ? kind_name(v) : "more");
        return;
    }
    char **list = calloc((size_t)n + 1, sizeof *list);
    size_t cnt = 0;
    bool bad = !list;
    void *it = NULL;
    struct fy_node_pair *pair;
    while (list && (pair = fy_node_mapping_iterate(v, &it)) != NULL && cnt < (size_t)n) {
        size_t cl = 0, vl = 0;
        const char *c = scalar_key(fy_node_pair_key(pair), &cl);
        struct fy_node *vn = fy_node_pair_value(pair);
        const char *s = vn && fy_node_get_type(vn) == FYNT_SCALAR &&
                        !fy_node_is_alias(vn) ? fy_node_get_scalar(vn, &vl) : NULL;
        struct pos ip = node_pos(fy_node_pair_key(pair), vp);
        char why[200];
        const char *wrong = !c ? "keys must be X-Road client ids"
                          : !s ? "each value must be a string \"AGENCY [SCOPES]\""
                          : member_bad(c, cl, s, vl, why, sizeof why);
        if (wrong) {
            add_err(cx->errs, ip.line, ip.col, "%s%s: \"%.*s\" %s", prefix,
                    k->name, c ? (int)(cl > 60 ? 60 : cl) : 0, c ? c : "", wrong);
            bad = true;
            continue;
        }
        if (asprintf(&list[cnt], "%.*s=%.*s", (int)cl, c, (int)vl, s) < 0) {
            list[cnt] = NULL;
            bad = true;
            break;
        }
        cnt++;
    }
    if (bad) {
        free_strlist(&list, &cnt);
        return;
    }
    free_strlist(field(base, k->off), field(base, k->off_count));
    *(char ***)field(base, k->off) = list;
    *(size_t *)field(base, k->off_count) = cnt;
}

/* Store value node v for key k.  where: the key's position (used when v
 * has none of its own).  prefix: "smsc[1]." or "" for messages. */
static void set_value(struct ctx *cx, const struct key *k, void *base,
                      struct fy_node *v, struct pos where, const char *prefix)
{
    struct pos vp = node_pos(v, where);
    char why[200];
    if (v && fy_node_is_alias(v)) {
        add_err(cx->errs, vp.line, vp.col,
                "%s%s: aliases (*name) are not supported", prefix, k->name);
        return;
    }
    if (k->flags & F_MEMBERS) {         /* issue 13 tls-http */
        set_members(cx, k, base, v, vp, prefix);
        return;
    }
    if (k->type == T_STRLIST) {
        if (is_null_scalar(v)) {
            free_strlist(field(base, k->off), field(base, k->off_count));
            return;
        }
        if (fy_node_get_type(v) != FYNT_SEQUENCE) {
            add_err(cx->errs, vp.line, vp.col, "%s%s: expected %s, got %s",
                    prefix, k->name, expect_name(k), kind_name(v));
            return;
        }
        int n = fy_node_sequence_item_count(v);
        if (n < 0)
            n = 0;
        if (n > MAX_PREFIXES) {
            add_err(cx->errs, vp.line, vp.col, "%s%s: %d items, at most %d",
                    prefix, k->name, n, MAX_PREFIXES);
            return;
        }
        char **list = calloc((size_t)n + 1, sizeof *list);
        if (!list) {
            add_err(cx->errs, vp.line, vp.col, "out of memory");
            return;
        }
        size_t cnt = 0;
        int bad = 0;
        void *it = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(v, &it)) != NULL &&
               cnt < (size_t)n) {
            struct pos ip = node_pos(item, vp);
            size_t len = 0;
            const char *s = NULL;
            if (fy_node_get_type(item) == FYNT_SCALAR && !fy_node_is_alias(item))
                s = fy_node_get_scalar(item, &len);
            if (!s || is_null_scalar(item)) {
                add_err(cx->errs, ip.line, ip.col,
                        "%s%s: each item must be a string", prefix, k->name);
                bad = 1;
                continue;
            }
            if (list_item_bad(k, s, len, why, sizeof why)) {
                add_err(cx->errs, ip.line, ip.col, "%s%s: \"%.*s\" %s", prefix,
                        k->name, (int)(len > 40 ? 40 : len), s, why);
                bad = 1;
                continue;
            }
            list[cnt] = dup_n(s, len);
            if (!list[cnt]) {
                bad = 1;
                break;
            }
            cnt++;
        }
        if (bad) {
            free_strlist(&list, &cnt);
            return;
        }
        char ***dst = field(base, k->off);
        size_t *dcount = field(base, k->off_count);
        free_strlist(dst, dcount);
        *dst = list;
        *dcount = cnt;
        return;
    }
    if (v && fy_node_get_type(v) != FYNT_SCALAR) {
        add_err(cx->errs, vp.line, vp.col, "%s%s: expected %s, got %s", prefix,
                k->name, expect_name(k), kind_name(v));
        return;
    }
    size_t len = 0;
    const char *s = "";
    if (!is_null_scalar(v)) {
        s = fy_node_get_scalar(v, &len);
        if (!s) {
            s = "";
            len = 0;
        }
    } else if (k->type != T_STR) {
        add_err(cx->errs, vp.line, vp.col, "%s%s: expected %s, got nothing",
                prefix, k->name, expect_name(k));
        return;
    }
    if (set_scalar(k, base, s, len, why, sizeof why) != 0) {
        if ((k->flags & F_SECRET) && k->type == T_STR)
            add_err(cx->errs, vp.line, vp.col, "%s%s: value %s", prefix,
                    k->name, why);
        else
            add_err(cx->errs, vp.line, vp.col, "%s%s: %s", prefix, k->name, why);
    }
}

/* Apply the defaults of one section to base. */
static int apply_defaults(enum sect sect, void *base)
{
    char why[200];
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->sect != sect || !k->def)
            continue;
        if (set_scalar(k, base, k->def, strlen(k->def), why, sizeof why) != 0)
            return -1;  /* a bad default or out of memory */
    }
    return 0;
}

static void free_section(enum sect sect, void *base)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->sect != sect)
            continue;
        if (k->type == T_STR) {
            char **p = field(base, k->off);
            free(*p);
            *p = NULL;
        } else if (k->type == T_STRLIST) {
            free_strlist(field(base, k->off), field(base, k->off_count));
        }
    }
}

/* ---- sections ------------------------------------------------------------ */

static const char *scalar_key(struct fy_node *kn, size_t *len)
{
    if (!kn || fy_node_get_type(kn) != FYNT_SCALAR || fy_node_is_alias(kn))
        return NULL;
    return fy_node_get_scalar(kn, len);
}

static const struct key *find_key(enum sect sect, const char *name, size_t len)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect == sect && strlen(keys[i].name) == len &&
            !memcmp(keys[i].name, name, len))
            return &keys[i];
    return NULL;
}

/* Is there a key of sect under group path g[0..len) ("tls")?  Its rows
 * are named "tls.enabled", ... (issue 13 tls-smpp). */
static bool is_group(enum sect sect, const char *g, size_t len)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect == sect && strlen(keys[i].name) > len &&
            !memcmp(keys[i].name, g, len) && keys[i].name[len] == '.')
            return true;
    return false;
}

static void parse_map_in(struct ctx *cx, enum sect sect, struct fy_node *m,
                         void *base, struct pos where, const char *prefix,
                         const char *group, int *seen, struct pos *seen_pos);

/* issue 10 console: the section inside sect named name (admin.console),
 * or -1. */
static int child_section(enum sect sect, const char *name, size_t len)
{
    for (int s = S_LOG; s < S_COUNT; s++)
        if (sections[s].parent == sect && sect != S_TOP &&
            strlen(sections[s].name) == len && !memcmp(sections[s].name, name, len))
            return s;
    return -1;
}

/* Walk mapping m of section sect into base.  seen/seen_pos (NKEYS long,
 * may be NULL) record which keys were given and where. */
static void parse_map(struct ctx *cx, enum sect sect, struct fy_node *m,
                      void *base, struct pos where, const char *prefix,
                      int *seen, struct pos *seen_pos)
{
    parse_map_in(cx, sect, m, base, where, prefix, "", seen, seen_pos);
}

/* parse_map within group ("" or "tls."): a key k of the mapping is the row
 * group+k; a key naming a group of its own is walked as a nested mapping. */
static void parse_map_in(struct ctx *cx, enum sect sect, struct fy_node *m,
                         void *base, struct pos where, const char *prefix,
                         const char *group, int *seen, struct pos *seen_pos)
{
    char label[80];     /* "smsc[1].tls" or the section's name */
    int plen = (int)strlen(prefix);
    if (plen > 0 && prefix[plen - 1] == '.')
        plen--;
    if (*group)
        snprintf(label, sizeof label, "%.*s.%.*s", plen, prefix,
                 (int)strlen(group) - 1, group);
    else
        snprintf(label, sizeof label, "%s", sections[sect].name);
    const char *sname = label;
    if (m && fy_node_is_alias(m)) {
        add_err(cx->errs, where.line, where.col,
                "%s: aliases (*name) are not supported", sname);
        return;
    }
    if (is_null_scalar(m))
        return;     /* "log:" with nothing under it: all defaults */
    if (fy_node_get_type(m) != FYNT_MAPPING) {
        struct pos p = node_pos(m, where);
        add_err(cx->errs, p.line, p.col, "%s: expected a mapping of keys, got %s",
                sname, kind_name(m));
        return;
    }
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(m, &it)) != NULL) {
        struct fy_node *kn = fy_node_pair_key(pair);
        struct pos kp = node_pos(kn, where);
        size_t len = 0;
        const char *name = scalar_key(kn, &len);
        if (!name) {
            add_err(cx->errs, kp.line, kp.col, "%s: keys must be plain names",
                    sname);
            continue;
        }
        char path[96];      /* the row's name: group + key */
        size_t glen = strlen(group);
        const struct key *k = NULL;
        if (len < sizeof path - glen && !memchr(name, '.', len)) {
            snprintf(path, sizeof path, "%s%.*s", group, (int)len, name);
            k = find_key(sect, path, glen + len);
            if (!k && is_group(sect, path, glen + len)) {
                char sub[sizeof path + 1];
                snprintf(sub, sizeof sub, "%s.", path);
                parse_map_in(cx, sect, fy_node_pair_value(pair), base, kp,
                             prefix, sub, seen, seen_pos);
                continue;
            }
        }
        int child = k || *group ? -1 : child_section(sect, name, len);
        if (child >= 0) {
            char cprefix[64];
            snprintf(cprefix, sizeof cprefix, "%s%s.", prefix,
                     sections[child].name);
            parse_map(cx, (enum sect)child, fy_node_pair_value(pair), base, kp,
                      cprefix, NULL, NULL);
            continue;
        }
        if (!k) {
            char given[48], hint[80];
            snprintf(given, sizeof given, "%.*s", (int)(len > 40 ? 40 : len), name);
            struct suggest sg = { NULL, 0 };
            for (size_t i = 0; i < NKEYS; i++)
                if (keys[i].sect == sect && !strncmp(keys[i].name, group, glen) &&
                    !strchr(keys[i].name + glen, '.'))
                    suggest_try(&sg, given, keys[i].name + glen);
            hint_text(&sg, hint, sizeof hint);
            /* "smsc[2]." -> "smsc[2]", "log." -> "log" */
            if (*group)
                add_err(cx->errs, kp.line, kp.col, "unknown key \"%s\" in %s%s",
                        given, label, hint);
            else
                add_err(cx->errs, kp.line, kp.col, "unknown key \"%s\" in %.*s%s",
                        given, plen, prefix, hint);
            continue;
        }
        size_t ki = (size_t)(k - keys);
        if (seen)
            seen[ki] = 1;
        struct fy_node *v = fy_node_pair_value(pair);
        if (seen_pos)
            seen_pos[ki] = node_pos(v, kp);
        set_value(cx, k, base, v, kp, prefix);
    }
}

static void free_smsc_entry(struct config_smsc *s)
{
    free_section(S_SMSC, s);
}

/* issue 13 tls-smpp: what the rows cannot say of an entry's tls: block.
 * cert and key go together; with cx->check_files (config_load_file) each
 * file named by an enabled block must be readable now, so a typo is
 * refused at start and on reload, with its path, not at the first
 * connect.  seen/seen_pos as parse_map filled them; ep: the entry. */
static void check_smsc_tls(struct ctx *cx, const struct config_smsc *s, int idx,
                           const int *seen, const struct pos *seen_pos,
                           struct pos ep)
{
    static const char *const names[] = { "tls.ca", "tls.cert", "tls.key" };
    const char *paths[3] = { s->tls.ca, s->tls.cert, s->tls.key };
    struct pos at[3];
    for (int i = 0; i < 3; i++) {
        const struct key *k = find_key(S_SMSC, names[i], strlen(names[i]));
        at[i] = seen[k - keys] ? seen_pos[k - keys] : ep;
    }
    int has_cert = paths[1] && *paths[1], has_key = paths[2] && *paths[2];
    if (has_cert != has_key) {
        struct pos p = has_cert ? at[1] : at[2];
        add_err(cx->errs, p.line, p.col,
                "smsc[%d].tls: cert and key go together (%s is missing)", idx,
                has_cert ? "key" : "cert");
    }
    if (!cx->check_files || !s->tls.enabled)
        return;
    for (int i = 0; i < 3; i++) {
        if (!paths[i] || !*paths[i])
            continue;
        FILE *f = fopen(paths[i], "r");
        if (f) {
            fclose(f);
            continue;
        }
        add_err(cx->errs, at[i].line, at[i].col, "smsc[%d].%s: cannot read %s: %s",
                idx, names[i], paths[i], strerror(errno));
    }
}

static void parse_smsc_list(struct ctx *cx, struct config *cfg,
                            struct fy_node *list, struct pos where)
{
    if (list && fy_node_is_alias(list)) {
        add_err(cx->errs, where.line, where.col,
                "smsc: aliases (*name) are not supported");
        return;
    }
    if (is_null_scalar(list))
        return;   /* "smsc:" with nothing: no links */
    if (fy_node_get_type(list) != FYNT_SEQUENCE) {
        struct pos p = node_pos(list, where);
        add_err(cx->errs, p.line, p.col,
                "smsc: expected a list of entries (\"- name: ...\"), got %s",
                kind_name(list));
        return;
    }
    int n = fy_node_sequence_item_count(list);
    if (n > MAX_SMSC) {
        add_err(cx->errs, where.line, where.col, "smsc: %d entries, at most %d",
                n, MAX_SMSC);
        return;
    }
    if (n <= 0)
        return;
    cfg->smsc = calloc((size_t)n, sizeof *cfg->smsc);
    if (!cfg->smsc) {
        add_err(cx->errs, where.line, where.col, "out of memory");
        return;
    }
    struct pos name_pos[MAX_SMSC];
    void *it = NULL;
    struct fy_node *item;
    int idx = 0;
    while ((item = fy_node_sequence_iterate(list, &it)) != NULL && idx < n) {
        idx++;
        struct pos ep = node_pos(item, where);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "smsc[%d].", idx);
        if (fy_node_is_alias(item) || fy_node_get_type(item) != FYNT_MAPPING) {
            add_err(cx->errs, ep.line, ep.col,
                    "smsc[%d]: expected a mapping (name: ..., host: ...), got %s",
                    idx, fy_node_is_alias(item) ? "an alias" : kind_name(item));
            continue;
        }
        struct config_smsc *s = &cfg->smsc[cfg->smsc_count];
        if (apply_defaults(S_SMSC, s) != 0) {
            free_smsc_entry(s);
            add_err(cx->errs, ep.line, ep.col, "out of memory");
            continue;
        }
        s->line = ep.line;
        int seen[NKEYS] = { 0 };
        struct pos seen_pos[NKEYS];
        memset(seen_pos, 0, sizeof seen_pos);
        parse_map(cx, S_SMSC, item, s, ep, prefix, seen, seen_pos);
        for (size_t i = 0; i < NKEYS; i++)
            if (keys[i].sect == S_SMSC && (keys[i].flags & F_REQUIRED) && !seen[i])
                add_err(cx->errs, ep.line, ep.col,
                        "smsc[%d]: missing required key \"%s\"", idx,
                        keys[i].name);
        const struct key *kmin = find_key(S_SMSC, "reconnect_min", 13);
        const struct key *kmax = find_key(S_SMSC, "reconnect_max", 13);
        if (s->reconnect_min_ms > s->reconnect_max_ms) {
            struct pos p = seen[kmax - keys] ? seen_pos[kmax - keys]
                         : seen[kmin - keys] ? seen_pos[kmin - keys] : ep;
            add_err(cx->errs, p.line, p.col,
                    "smsc[%d]: reconnect_max must not be below reconnect_min",
                    idx);
        }
        if (s->dialect && !ussd_dialect_find(s->dialect)) {
            const struct key *kd = find_key(S_SMSC, "dialect", 7);
            struct pos p = seen[kd - keys] ? seen_pos[kd - keys] : ep;
            struct suggest sg = { NULL, 0 };
            char names[200] = "", hint[80];
            size_t used = 0;
            for (const struct ussd_dialect *d = ussd_dialects; d->name; d++) {
                suggest_try(&sg, s->dialect, d->name);
                int w = snprintf(names + used, sizeof names - used, "%s%s",
                                 used ? ", " : "", d->name);
                if (w > 0 && (size_t)w < sizeof names - used)
                    used += (size_t)w;
            }
            hint_text(&sg, hint, sizeof hint);
            add_err(cx->errs, p.line, p.col,
                    "smsc[%d].dialect: unknown USSD dialect \"%s\"%s; presets: %s",
                    idx, s->dialect, hint, names);
        }
        check_smsc_tls(cx, s, idx, seen, seen_pos, ep);
        const struct key *kname = find_key(S_SMSC, "name", 4);
        struct pos np = seen_pos[kname - keys];
        if (s->name) {
            for (size_t j = 0; j < cfg->smsc_count; j++) {
                if (cfg->smsc[j].name && !strcmp(cfg->smsc[j].name, s->name)) {
                    add_err(cx->errs, np.line, np.col,
                            "smsc[%d]: duplicate smsc name \"%s\" (first at line %d)",
                            idx, s->name, name_pos[j].line);
                    break;
                }
            }
        }
        name_pos[cfg->smsc_count] = np;
        cfg->smsc_count++;
    }
}

/* Returns 1 when the file has an smsc: key (even an empty one). */
/* issue 13 xroad: what the block's keys need from each other. */
static void check_xroad(struct ctx *cx, const struct xroad_conf *x, struct pos at)
{
    bool ss = x->security_server && *x->security_server;
    bool cert = x->cert && *x->cert, key = x->key && *x->key;
    bool any = (x->client && *x->client) || cert || key || (x->ca && *x->ca) ||
               (x->user_id && *x->user_id);
    if (!ss && any)
        add_err(cx->errs, at.line, at.col, "xroad: security_server is required "
                "when the block sets anything else");
    if (ss && !(x->client && *x->client))
        add_err(cx->errs, at.line, at.col, "xroad: client is required "
                "(INSTANCE/CLASS/MEMBER/SUBSYSTEM)");
    if (cert != key)
        add_err(cx->errs, at.line, at.col, "xroad: cert and key go together");
}

static int parse_root(struct ctx *cx, struct config *cfg, struct fy_node *root)
{
    struct pos start = { 1, 1 };
    if (is_null_scalar(root))
        return 0;   /* empty file: defaults */
    if (fy_node_is_alias(root) || fy_node_get_type(root) != FYNT_MAPPING) {
        struct pos p = node_pos(root, start);
        add_err(cx->errs, p.line, p.col,
                "expected a mapping of keys (log:, smsc:, http:, ...), got %s",
                kind_name(root));
        return 0;
    }
    int have_smsc = 0;
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
        struct fy_node *kn = fy_node_pair_key(pair);
        struct fy_node *v = fy_node_pair_value(pair);
        struct pos kp = node_pos(kn, start);
        size_t len = 0;
        const char *name = scalar_key(kn, &len);
        if (!name) {
            add_err(cx->errs, kp.line, kp.col, "keys must be plain names");
            continue;
        }
        int done = 0;
        for (int s = S_LOG; s < S_COUNT && !done; s++) {
            if (sections[s].parent != S_TOP || strlen(sections[s].name) != len ||
                memcmp(sections[s].name, name, len))
                continue;
            done = 1;
            if (sections[s].is_list) {
                have_smsc = 1;
                parse_smsc_list(cx, cfg, v, kp);
            } else {
                char prefix[32];
                snprintf(prefix, sizeof prefix, "%s.", sections[s].name);
                size_t nerr = cx->errs->n + cx->errs->dropped;
                parse_map(cx, (enum sect)s, v, cfg, kp, prefix, NULL, NULL);
                if (s == S_XROAD && nerr == cx->errs->n + cx->errs->dropped)
                    check_xroad(cx, &cfg->xroad, kp);   /* issue 13 xroad */
            }
        }
        if (done)
            continue;
        const struct key *k = find_key(S_TOP, name, len);
        if (k) {
            set_value(cx, k, cfg, v, kp, "");
            continue;
        }
        /* unknown: suggest a close top-level name, or say where it lives */
        char given[48], hint[96];
        snprintf(given, sizeof given, "%.*s", (int)(len > 40 ? 40 : len), name);
        struct suggest sg = { NULL, 0 };
        for (int s = S_LOG; s < S_COUNT; s++)
            if (sections[s].parent == S_TOP)
                suggest_try(&sg, given, sections[s].name);
        for (size_t i = 0; i < NKEYS; i++)
            if (keys[i].sect == S_TOP)
                suggest_try(&sg, given, keys[i].name);
        hint_text(&sg, hint, sizeof hint);
        if (!sg.best) {
            for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].name, given) == 0) {
                    snprintf(hint, sizeof hint, " (it belongs %s \"%s:\")",
                             sections[keys[i].sect].is_list ? "in an entry of"
                                                            : "under",
                             sections[keys[i].sect].name);
                    break;
                }
            }
        }
        add_err(cx->errs, kp.line, kp.col, "unknown key \"%s\"%s", given, hint);
    }
    return have_smsc;
}

/* ---- issue 13 tls-http: HTTPS, or plain HTTP on loopback only ---------- */

/* Where the value at path (e.g. "/http/listen") is, or {0, 0}. */
static struct pos path_pos(struct fy_node *root, const char *path)
{
    struct pos none = { 0, 0 };
    struct fy_node *n = root ? fy_node_by_path(root, path, (size_t)-1,
                                               FYNWF_DONT_FOLLOW) : NULL;
    return n ? node_pos(n, none) : none;
}

/* One listener (sect "http" or "admin"): cert and key go together,
 * client_ca needs them, and without them the address must be loopback
 * unless insecure_plain says otherwise. */
static void check_listener(struct ctx *cx, struct fy_node *root, const char *sect,
                           const char *listen, const char *cert,
                           const char *key, const char *client_ca, bool insecure)
{
    char path[32], host[64];
    int port;
    if (!cert[0] != !key[0]) {
        snprintf(path, sizeof path, "/%s/tls/%s", sect, cert[0] ? "cert" : "key");
        struct pos p = path_pos(root, path);
        add_err(cx->errs, p.line, p.col, "%s.tls: cert and key go together: set "
                "both (HTTPS) or neither (plain HTTP on loopback)", sect);
        return;
    }
    if (client_ca[0] && !cert[0]) {
        snprintf(path, sizeof path, "/%s/tls/client_ca", sect);
        struct pos p = path_pos(root, path);
        add_err(cx->errs, p.line, p.col, "%s.tls.client_ca needs %s.tls.cert "
                "and %s.tls.key", sect, sect, sect);
        return;
    }
    if (cert[0] || insecure || !listen[0] ||
        http_edge_listen_parse(listen, host, sizeof host, &port) != 0 ||
        http_edge_loopback_host(host))
        return;
    snprintf(path, sizeof path, "/%s/listen", sect);
    struct pos p = path_pos(root, path);
    add_err(cx->errs, p.line, p.col, "%s.listen %s: plain HTTP is allowed on a "
            "loopback address only (127.0.0.1, ::1); set %s.tls.cert and "
            "%s.tls.key for HTTPS, or %s.insecure_plain: true behind a TLS proxy",
            sect, listen, sect, sect, sect);
}

/* X-Road mode needs the security server's certificate, members, and a
 * client_ca so that the certificate is asked for at all. */
static void check_http_xroad(struct ctx *cx, const struct config *cfg,
                             struct fy_node *root)
{
    /* members given but refused item by item have their own errors */
    bool ss = cfg->http_xroad_ss_cert[0],
         members = cfg->http_xroad_members_count ||
                   path_pos(root, "/http/xroad/members").line > 0;
    if (!ss && !members)
        return;
    const char *path = ss ? "/http/xroad/security_server_cert" : "/http/xroad/members";
    struct pos p = path_pos(root, path);
    if (!ss || !members)
        add_err(cx->errs, p.line, p.col, "http.xroad: security_server_cert and "
                "members go together");
    else if (!cfg->http_tls_client_ca[0])
        add_err(cx->errs, p.line, p.col, "http.xroad needs http.tls with client_ca "
                "(signing the security server's certificate, or that certificate "
                "itself): X-Road-Client is trusted only from a connection that "
                "presented it");
}

static void check_listeners(struct ctx *cx, const struct config *cfg,
                            struct fy_node *root)
{
    check_http_xroad(cx, cfg, root);
    check_listener(cx, root, "http", cfg->http_listen, cfg->http_tls_cert,
                   cfg->http_tls_key, cfg->http_tls_client_ca,
                   cfg->http_insecure_plain);
    check_listener(cx, root, "admin", cfg->admin_listen, cfg->admin_tls_cert,
                   cfg->admin_tls_key, cfg->admin_tls_client_ca,
                   cfg->admin_insecure_plain);
}

/* No smsc: key at all -> the embedded "sim" link. */
static int add_sim(struct config *cfg)
{
    cfg->smsc = calloc(1, sizeof *cfg->smsc);
    if (!cfg->smsc)
        return -1;
    if (apply_defaults(S_SMSC, cfg->smsc) != 0 ||
        (cfg->smsc->name = dup_n("sim", 3)) == NULL) {
        free_smsc_entry(cfg->smsc);
        return -1;
    }
    cfg->smsc_count = 1;
    return 0;
}

/* Errors come out in file order (checks that run after a walk, such as a
 * duplicate name, would otherwise trail).  Stable insertion sort; n <= 100. */
static void sort_errors(struct config_error *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct config_error t = v[i];
        size_t j = i;
        while (j > 0 && (v[j - 1].line > t.line ||
                         (v[j - 1].line == t.line && v[j - 1].column > t.column))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
}

/* ---- public ---------------------------------------------------------------- */

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->smsc_count; i++)
        free_smsc_entry(&cfg->smsc[i]);
    free(cfg->smsc);
    for (int s = S_TOP; s < S_COUNT; s++)
        if (!sections[s].is_list)
            free_section((enum sect)s, cfg);
    free(cfg->source);
    free(cfg);
}

static struct config *new_with_defaults(const char *source)
{
    struct config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    for (int s = S_TOP; s < S_COUNT; s++) {
        if (sections[s].is_list)
            continue;
        if (apply_defaults((enum sect)s, cfg) != 0) {
            config_free(cfg);
            return NULL;
        }
    }
    cfg->source = strdup(source);
    if (!cfg->source) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

static void collect_fy_errors(struct fy_diag *diag, struct config_errors *errs)
{
    void *it = NULL;
    struct fy_diag_error *e;
    size_t before = errs->n + errs->dropped;
    while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
        if (e->type < FYET_ERROR)
            continue;
        add_err(errs, e->line > 0 ? e->line : 0, e->column > 0 ? e->column : 0,
                "%s", e->msg ? e->msg : "YAML error");
    }
    if (errs->n + errs->dropped == before)
        add_err(errs, 0, 0, "not valid YAML");
}

/*
 * A config file must be UTF-8.  Checking it here, before libfyaml sees the
 * text, also keeps us clear of libfyaml 0.7.12's hang on invalid UTF-8 in
 * a directive ("%\xff" loops forever in fy_scan_directive; upstream issue
 * pantoniou/libfyaml#101, fixed after 0.7.12).  Returns 0, or -1 with the
 * 1-based line and column (in characters) of the first bad octet.
 */
static int check_utf8(const char *text, size_t len, int *line, int *col,
                      unsigned *octet)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t bad = kz_utf8_text_fault(s, len);
    if (bad == len)
        return 0;
    kz_utf8_line_col(s, bad, line, col);
    *octet = s[bad];
    return -1;
}

/* 1 when every line is blank, a comment, or a "---" / "..." marker. */
static int only_comments(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
            i++;
        size_t rest = len - i;
        if (i < len && text[i] == '#') {
            /* comment: skip the line */
        } else if (rest >= 3 && (!memcmp(text + i, "---", 3) ||
                                 !memcmp(text + i, "...", 3))) {
            i += 3;
            while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
                i++;
            if (i < len && text[i] != '\n' && text[i] != '#')
                return 0;
        } else if (i < len && text[i] != '\n') {
            return 0;
        }
        while (i < len && text[i] != '\n')
            i++;
        i++;
    }
    return 1;
}

static void fy_quiet_output(struct fy_diag *diag, void *user, const char *buf,
                            size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

static int parse_text(const char *text, size_t len, const char *filename,
                      int check_files, struct config **out,
                      struct config_errors *errs);

int config_parse_string(const char *text, size_t len, const char *filename,
                        struct config **out, struct config_errors *errs)
{
    return parse_text(text, len, filename, 0, out, errs);
}

/* config_parse_string; check_files: also whether the TLS files named can
 * be read (config_load_file). */
static int parse_text(const char *text, size_t len, const char *filename,
                      int check_files, struct config **out,
                      struct config_errors *errs)
{
    *out = NULL;
    if (!filename)
        filename = "<string>";
    if (!errs->file)
        errs->file = strdup(filename);
    size_t errs_before = errs->n + errs->dropped;
    size_t errs_before_n = errs->n;

    struct config *cfg = new_with_defaults(filename);
    if (!cfg) {
        add_err(errs, 0, 0, "out of memory");
        return -1;
    }

    int bl, bc;
    unsigned bo;
    if (check_utf8(text, len, &bl, &bc, &bo) != 0) {
        add_err(errs, bl, bc, "not UTF-8 text (octet 0x%02x)%s", bo,
                bo == 0 ? ": a NUL character" : "");
        config_free(cfg);
        return -1;
    }

    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = fy_quiet_output;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) {
        config_free(cfg);
        add_err(errs, 0, 0, "out of memory");
        return -1;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = { 0 };
    pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
    pcfg.diag = diag;

    struct fy_document *doc = NULL;
    if (len > 0)
        doc = fy_document_build_from_string(&pcfg, text, len);
    if (len > 0 && !doc && !only_comments(text, len)) {
        collect_fy_errors(diag, errs);
    } else {
        /* a document, or none at all because the text holds only comments
         * and blank lines (then the defaults apply, as for an empty file) */
        struct ctx cx = { errs, check_files };
        if (!parse_root(&cx, cfg, doc ? fy_document_root(doc) : NULL) &&
            add_sim(cfg) != 0)
            add_err(errs, 0, 0, "out of memory");
        if ((cfg->redis_sentinel_count > 0) != (cfg->redis_master[0] != '\0'))
            add_err(errs, 0, 0, "redis.sentinels and redis.master go together: "
                    "the sentinels' addresses and the name they monitor");
        else if (cfg->redis_sentinel_count > 16)
            add_err(errs, 0, 0, "redis.sentinels: at most 16");
        check_listeners(&cx, cfg, doc ? fy_document_root(doc) : NULL);
    }
    if (errs->v && errs->n > errs_before_n)
        sort_errors(errs->v + errs_before_n, errs->n - errs_before_n);
    fy_document_destroy(doc);
    fy_diag_destroy(diag);

    if (errs->n + errs->dropped != errs_before) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

#define CONFIG_FILE_MAX (1u << 20)

int config_load_file(const char *path, struct config **out,
                     struct config_errors *errs)
{
    *out = NULL;
    if (!errs->file)
        errs->file = strdup(path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        add_err(errs, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        add_err(errs, 0, 0, "out of memory");
        return -1;
    }
    size_t len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        add_err(errs, 0, 0, "cannot read");
        return -1;
    }
    if (len > CONFIG_FILE_MAX) {
        free(buf);
        add_err(errs, 0, 0, "larger than %u octets", CONFIG_FILE_MAX);
        return -1;
    }
    int rc = parse_text(buf, len, path, 1, out, errs);
    free(buf);
    return rc;
}

struct config *config_defaults(void)
{
    struct config_errors errs = { 0 };
    struct config *cfg = NULL;
    config_parse_string("", 0, "(defaults)", &cfg, &errs);
    config_errors_free(&errs);
    return cfg;
}

/* 1 when key k (an S_SMSC key) has the same value in a and b. */
static int smsc_key_equal(const struct key *k, const struct config_smsc *a,
                          const struct config_smsc *b)
{
    const void *pa = (const char *)a + k->off;
    const void *pb = (const char *)b + k->off;
    switch (k->type) {
    case T_STR: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return !sa || !sb ? sa == sb : strcmp(sa, sb) == 0;
    }
    case T_UINT:
    case T_DUR:
        return *(const unsigned *)pa == *(const unsigned *)pb;
    case T_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case T_ENUM:
        return *(const int *)pa == *(const int *)pb;
    case T_STRLIST: {
        size_t na = *(const size_t *)((const char *)a + k->off_count);
        size_t nb = *(const size_t *)((const char *)b + k->off_count);
        char *const *la = *(char **const *)pa, *const *lb = *(char **const *)pb;
        if (na != nb)
            return 0;
        for (size_t j = 0; j < na; j++)
            if (strcmp(la[j], lb[j]) != 0)
                return 0;
        return 1;
    }
    }
    return 0;
}

int config_smsc_equal(const struct config_smsc *a, const struct config_smsc *b)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect == S_SMSC && !smsc_key_equal(&keys[i], a, b))
            return 0;
    return 1;
}

size_t config_smsc_diff(const struct config_smsc *a, const struct config_smsc *b,
                        char *buf, size_t n)
{
    size_t count = 0, p = 0;
    if (n)
        buf[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].sect != S_SMSC || smsc_key_equal(&keys[i], a, b))
            continue;
        if (n && p < n) {
            int w = snprintf(buf + p, n - p, "%s%s", count ? ", " : "",
                             keys[i].name);
            if (w > 0)
                p += (size_t)w;
        }
        count++;
    }
    return count;
}

const struct config_smsc *config_find_smsc(const struct config *cfg,
                                           const char *name)
{
    for (size_t i = 0; cfg && i < cfg->smsc_count; i++)
        if (cfg->smsc[i].name && !strcmp(cfg->smsc[i].name, name))
            return &cfg->smsc[i];
    return NULL;
}

int config_hhmm_minutes(const char *hhmm)
{
    return hhmm ? hhmm_minutes(hhmm, strlen(hhmm)) : -1;
}

const char *config_bind_name(int bind)
{
    return bind >= 0 && bind < 2 ? bind_choices[bind] : "?";
}

const char *config_split_name(int split)
{
    return split >= 0 && split < 4 ? split_choices[split] : "?";
}

const char *config_tls_version_name(int v)
{
    return v == CONFIG_TLS_13 ? tls_version_choices[1] : tls_version_choices[0];
}

static void print_key(FILE *fp, const struct key *k, const char *indent)
{
    char range[96] = "";
    switch (k->type) {
    case T_UINT:
        snprintf(range, sizeof range, "%llu..%llu", k->min, k->max);
        break;
    case T_DUR: {
        char a[32], b[32];
        fmt_duration(k->min, a, sizeof a);
        fmt_duration(k->max, b, sizeof b);
        snprintf(range, sizeof range, "%s..%s", a, b);
        break;
    }
    case T_STR:
        if (k->flags & F_HHMM)
            snprintf(range, sizeof range, "00:00..23:59");
        else if (k->max)
            snprintf(range, sizeof range, "%s%llu chars%s",
                     k->min ? "1.." : "<= ", k->max,
                     (k->flags & F_NAME) ? ", [a-z0-9_-]" : "");
        break;
    case T_STRLIST:
        if (k->flags & F_MEMBERS) {     /* issue 13 tls-http */
            snprintf(range, sizeof range, "mapping CLIENT-ID: AGENCY [SCOPES]");
            break;
        }
        snprintf(range, sizeof range, "items of %llu..%llu %s", k->min,
                 k->max, (k->flags & F_USSD_CODE) ? "of 0-9 * #"
                         : (k->flags & F_DIGITS) ? "digits" : "chars");
        break;
    case T_ENUM: {
        size_t p = 0;
        for (int i = 0; k->choices[i] && p < sizeof range; i++) {
            int w = snprintf(range + p, sizeof range - p, "%s%s", i ? " | " : "",
                             k->choices[i]);
            if (w < 0)
                break;
            p += (size_t)w;
        }
        break;
    }
    case T_BOOL:
        snprintf(range, sizeof range, "true | false");
        break;
    }
    char def[64];
    if (!k->def)
        snprintf(def, sizeof def, "(required)");
    else if (k->type == T_STR)
        snprintf(def, sizeof def, "\"%s\"", k->def);
    else
        snprintf(def, sizeof def, "%s", k->def);
    int w = 19 - (int)strlen(indent);
    fprintf(fp, "%s%-*s %-8s %-16s %s\n%*s%s\n", indent, w, k->name,
            type_names[k->type], def, range, 22, "", k->help);
}

void config_print_help(FILE *fp)
{
    fprintf(fp,
            "kyzmatd configuration keys (YAML).  Every key is optional unless\n"
            "marked (required); durations take a unit: 500ms, 30s, 5m, 1h.\n"
            "Without an smsc: key, one entry named \"sim\" with the defaults\n"
            "below is used (what kyzmat-smsc accepts out of the box).\n\n"
            "%-19s %-8s %-16s %s\n", "key", "type", "default", "range");
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].sect == S_TOP)
            print_key(fp, &keys[i], "");
    for (int s = S_LOG; s < S_COUNT; s++) {
        fprintf(fp, "\n%s%s%s:%s  # %s\n",
                sections[s].parent ? sections[sections[s].parent].name : "",
                sections[s].parent ? "." : "", sections[s].name,
                sections[s].is_list ? "  (list; each entry:)" : "",
                sections[s].help);
        for (size_t i = 0; i < NKEYS; i++)
            if (keys[i].sect == (enum sect)s)
                print_key(fp, &keys[i], "  ");
    }
}
