/*
 * gateway/log.h — kyzmatd's log: levels, peer tags, number masking.
 *
 * What it does: writes one line per event,
 *     2026-11-26T08:40:00.123Z info [megacom] bound as kyzmat
 * (UTC time with milliseconds, level, [peer] when there is one, message),
 * to stderr or, when configured, appended to a file that log_reopen()
 * reopens (SIGHUP, so logrotate can move the old one away).  Control
 * characters inside a message are escaped so one event stays one line.
 *
 * Phone numbers: call sites never print a raw MSISDN; they print
 * log_mask(number).s (or log_msisdn() into their own buffer), which keeps
 * only the last 4 digits.  Passwords are never handed to the log at all.
 * A citizen's free text (an MO SMS) is printed through log_text_safe(),
 * which masks the numbers typed in it the same way and escapes C1 and
 * bidi controls that the line-level escaping lets through.
 *
 * Owns: one file descriptor (the log file, or none for stderr) and the
 * current level; process-wide state, used from the event-loop thread only.
 * Common path: no allocation; each line is formatted on the stack and
 * written with one write(2) (O_APPEND, so lines from several processes do
 * not interleave).
 * May call: base/utf8, libc.
 */
#ifndef KYZMAT_GATEWAY_LOG_H
#define KYZMAT_GATEWAY_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

/* Same order and values as smpp/esme.h's ESME_LOG_*. */
enum log_level { KLOG_ERROR = 0, KLOG_WARN, KLOG_INFO, KLOG_DEBUG };

/* Longest line written; longer messages are cut and end in "...". */
#define LOG_LINE_MAX 2048

/* Name of a level ("error", "warn", "info", "debug"); "?" when out of range. */
const char *log_level_name(int level);
/* Level for a name: one of the four, or syslog's emerg, alert, crit, err
 * (KLOG_ERROR), warning (KLOG_WARN), notice (KLOG_INFO); -1 otherwise.
 * Exact, lower-case names, as syslog.conf writes them. */
int log_level_from_name(const char *name);

/* Lines above this level are dropped.  Default KLOG_INFO. */
void log_set_level(int level);
int log_get_level(void);
/* 1 when a line at `level` would be written (to skip costly arguments). */
int log_enabled(int level);

/*
 * log_open — send lines to `path` (appended, created 0640 when missing), or
 * to stderr when path is NULL or "".  The path is copied.  On failure the
 * previous destination stays, err gets the reason, and -1 is returned.
 */
int log_open(const char *path, char *err, size_t errlen);
/* Reopen the configured file (after logrotate moved it).  0, or -1 with err
 * filled (then the old descriptor stays in use).  No-op for stderr. */
int log_reopen(char *err, size_t errlen);
/* Close the file (lines go to stderr again) and forget the path. */
void log_close(void);

/* Write one line.  peer may be NULL (no tag).  fmt is printf-like. */
void log_msg(int level, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *peer, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * log_esme — adapter with the signature of esme_callbacks.log, so an esme's
 * lines share the format and the level filter.  ud is ignored.
 */
void log_esme(void *ud, int level, const char *peer, const char *fmt,
              va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * log_format — the pure formatter behind log_msg (exposed for tests): one
 * line, ending in '\n', at time *ts, into buf[0..cap).  Always
 * NUL-terminates when cap > 0; returns the length written (without NUL).
 */
size_t log_format(char *buf, size_t cap, const struct timespec *ts, int level,
                  const char *peer, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/*
 * log_msisdn — mask a phone number for the log: every character but a
 * leading '+' and the last 4 becomes '*'  ("996555123456" -> "********3456",
 * "+996555123456" -> "+********3456"; numbers of 4 characters or fewer,
 * such as service codes, stay as they are; NULL -> "-").  Writes into
 * buf[0..n) (cut to fit, always NUL-terminated when n > 0) and returns buf.
 */
const char *log_msisdn(char *buf, size_t n, const char *number);

/* The same, by value, so a call site needs no buffer of its own:
 *     log_msg(KLOG_INFO, peer, "MO from %s", log_mask(src).s);
 * (the temporary lives until the end of the full expression). */
#define LOG_MSISDN_MAX 72
struct log_masked {
    char s[LOG_MSISDN_MAX];
};
struct log_masked log_mask(const char *number);

/*
 * log_text_safe — a citizen's free text (an MO SMS) made fit for the log:
 *   - numbers: a run of LOG_TEXT_MASK_MIN or more digits, groups joined by
 *     up to two of " -.()/" counting as one ("0555 123 456"), keeps only
 *     its last 4 digits, as log_msisdn does ("**** **3 456");
 *   - escaped: C0 controls and DEL as \n \r \t \xNN; '\\' and '"' with a
 *     backslash (the text can neither end its quotes nor fake an escape);
 *     C1 controls, the bidi marks, embeddings, overrides and isolates
 *     (U+061C, U+200E/F, U+202A-E, U+2066-9) and U+2028/9 as \uXXXX;
 *     bytes that are not UTF-8 as \xNN;
 *   - everything else (Cyrillic, Kyrgyz letters, emoji) as it is.
 * in[0..len) may hold NULs.  Writes into out[0..cap), whole escapes and
 * characters only, always NUL-terminated when cap > 0; returns the length
 * written.  4 * len + 1 bytes always suffice.  Pure: no I/O, no state.
 */
#define LOG_TEXT_MASK_MIN 5
size_t log_text_safe(const void *in, size_t len, char *out, size_t cap);

#endif
