/*
 * gateway/console_core.h — the operators' console's pure parts (issue 10
 * console): roles, account names, password rules, cookies, CSRF tokens,
 * session lifetimes, static-file path safety and content types, CSV
 * cells, and the failed-login limiter.
 *
 * Everything here is a pure function of its arguments (the limiter of its
 * own table and the time it is given): no I/O, no clock, no allocation
 * except console_csv_cell's result.  gateway/console.c is the shell that
 * feeds them requests; tests/unit/test_console.c tests them alone.
 * May call: libc.
 */
#ifndef KYZMAT_GATEWAY_CONSOLE_CORE_H
#define KYZMAT_GATEWAY_CONSOLE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Roles, in order of power: each may do what the ones below it may. */
enum console_role {
    CONSOLE_NOBODY = 0,        /* a route open without a session */
    CONSOLE_VIEWER, CONSOLE_EDITOR, CONSOLE_PUBLISHER, CONSOLE_ADMIN
};
/* "viewer".."admin" -> the role; -1 when unknown. */
int console_role_parse(const char *s);
/* The role's name ("?" when out of range). */
const char *console_role_name(int role);
/* May an account with role have do what needs role need? */
bool console_role_allows(int have, int need);

/* An account name: 1..64 of [a-z0-9._-] (and @), starting with a letter or
 * digit.  Names are shown in pages and CSV cells, so nothing else. */
bool console_name_ok(const char *name);
/* Why a password is refused, or NULL: at least CONSOLE_PASSWORD_MIN
 * bytes, at most 1024, no control characters. */
#define CONSOLE_PASSWORD_MIN 10
const char *console_password_problem(const char *pw);

/* Session and CSRF tokens: 32 random bytes as 64 lower-case hex digits. */
#define CONSOLE_TOKEN_BYTES 32
#define CONSOLE_TOKEN_HEX (2 * CONSOLE_TOKEN_BYTES)
void console_hex(const uint8_t *b, size_t n, char *out /* 2n + 1 */);
bool console_token_ok(const char *s);
/* Constant-time equality of two NUL-terminated strings of equal length
 * (false when the lengths differ; NULL never equal). */
bool console_secret_eq(const char *a, const char *b);

/* The value of cookie name in a Cookie header (NULL: none) into out;
 * true when found and it fits cap. */
bool console_cookie_get(const char *header, const char *name, char *out,
                        size_t cap);
/* A Set-Cookie value for the session cookie: HttpOnly, SameSite=Strict,
 * Path=/console, Secure when secure; max_age_s < 0: the deletion.  Returns
 * the length, or -1 when it does not fit. */
int console_cookie_format(char *out, size_t cap, const char *name,
                          const char *value, bool secure, long max_age_s);

/* Is a session live at now?  Idle: now - last_seen >= idle_ms; absolute:
 * now >= expires_at. */
bool console_session_live(int64_t now, int64_t last_seen, int64_t expires_at,
                          int64_t idle_ms);

/* A static file's path below the console folder: rel (what follows
 * "/console/static/" or a page's file name, before any '?') is safe when
 * it is 1..128 of [A-Za-z0-9._-/], no segment is empty or starts with a
 * '.', and it holds no "%" escapes or backslashes.  true, or false:
 * refused (traversal, hidden files, odd bytes). */
bool console_path_safe(const char *rel);
/* Content type by extension, with charset=utf-8 for text; NULL: not
 * served (unknown extension). */
const char *console_content_type(const char *path);

/* A CSV cell (RFC 4180): quoted when it holds a comma, a quote, CR or LF
 * (quotes doubled), and prefixed with ' when it begins with = + - @ (or a
 * tab or CR) so a spreadsheet does not run it as a formula.  Returns a
 * malloc'd string (NULL when out of memory). */
char *console_csv_cell(const char *in);

/*
 * The failed-login limiter: per key (a peer address, an account name),
 * at most max failures in a window; then refused until the window ends.
 * A fixed table: when full, the entry whose window started first is
 * reused.
 */
#define CONSOLE_LIMIT_SLOTS 512
#define CONSOLE_LIMIT_KEY 80
struct console_limiter {
    unsigned max;               /* failures allowed per window */
    uint64_t window_ms;
    struct {
        char key[CONSOLE_LIMIT_KEY];
        uint64_t start;         /* the window's first failure */
        unsigned n;
    } slot[CONSOLE_LIMIT_SLOTS];
};
void console_limit_init(struct console_limiter *l, unsigned max,
                        uint64_t window_ms);
/* 0 when key may try now, else the ms until it may. */
uint64_t console_limit_wait(const struct console_limiter *l, const char *key,
                            uint64_t now);
/* A failure for key at now. */
void console_limit_fail(struct console_limiter *l, const char *key,
                        uint64_t now);
/* Forget key (a successful login). */
void console_limit_clear(struct console_limiter *l, const char *key);

/* "YYYY-MM-DD" (UTC midnight; end_of_day: the last ms of that day) or
 * milliseconds since the epoch -> ms; -1 when neither. */
int64_t console_parse_time(const char *s, bool end_of_day);

#endif
