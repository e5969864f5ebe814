/*
 * gateway/log.c — one line per event, to stderr or an append-only file.
 *
 * Design: a line is built in a stack buffer (time, level, tag, message with
 * control characters escaped) and written with a single write(2); nothing
 * is allocated per line.  The file is opened O_APPEND, so logrotate's
 * "move, then SIGHUP" works with log_reopen(), and several writers never
 * interleave inside a line.  A failed write is dropped: the log must never
 * stop the event loop.
 *
 * Citizens' free text (MO SMS) goes through log_text_safe() first: a pure
 * function that masks numbers the way log_msisdn masks MSISDNs and shows
 * every character that could hide, reorder or forge a line as an escape.
 *
 * Owns: the log fd, a copy of the file path, the level (process-wide).
 * May call: base/utf8, libc.
 */
#include "gateway/log.h"

#include "base/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_level = KLOG_INFO;
static int g_fd = -1;           /* -1: stderr */
static char *g_path;            /* NULL: stderr */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* syslog's names (syslog.conf, RFC 5424) for the same levels: kyzmat has
 * no emerg, alert or crit, so they mean error; notice, between warning and
 * info, means info (nothing that syslog would show is dropped). */
static const struct {
    const char *name;
    int level;
} level_synonyms[] = {
    { "emerg", KLOG_ERROR }, { "alert", KLOG_ERROR }, { "crit", KLOG_ERROR },
    { "err", KLOG_ERROR }, { "warning", KLOG_WARN }, { "notice", KLOG_INFO },
};

const char *log_level_name(int level)
{
    if (level < KLOG_ERROR || level > KLOG_DEBUG)
        return "?";
    return level_names[level];
}

int log_level_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = KLOG_ERROR; i <= KLOG_DEBUG; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof level_synonyms / sizeof level_synonyms[0]; i++)
        if (strcmp(name, level_synonyms[i].name) == 0)
            return level_synonyms[i].level;
    return -1;
}

void log_set_level(int level)
{
    if (level < KLOG_ERROR)
        level = KLOG_ERROR;
    if (level > KLOG_DEBUG)
        level = KLOG_DEBUG;
    g_level = level;
}

int log_get_level(void)
{
    return g_level;
}

int log_enabled(int level)
{
    return level <= g_level;
}

static int open_append(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 && err && errlen)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return fd;
}

int log_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        log_close();
        return 0;
    }
    char *copy = strdup(path);
    if (!copy) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    int fd = open_append(path, err, errlen);
    if (fd < 0) {
        free(copy);
        return -1;
    }
    if (g_fd >= 0)
        close(g_fd);
    free(g_path);
    g_fd = fd;
    g_path = copy;
    return 0;
}

int log_reopen(char *err, size_t errlen)
{
    if (!g_path)
        return 0;
    int fd = open_append(g_path, err, errlen);
    if (fd < 0)
        return -1;
    if (g_fd >= 0)
        close(g_fd);
    g_fd = fd;
    return 0;
}

void log_close(void)
{
    if (g_fd >= 0)
        close(g_fd);
    g_fd = -1;
    free(g_path);
    g_path = NULL;
}

/* The escape for byte c into esc (no NUL): \n, \r, \t, \xNN for C0 and
 * DEL; with `quoted` also \\ and \" (free text shown inside quotes), and
 * \xNN for any byte >= 0x80 (log_text_safe calls it only for bytes that
 * are not UTF-8).  Returns the escape's length, 0 when c is shown as it is. */
static size_t escape_byte(uint8_t c, int quoted, char esc[4])
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '\n': memcpy(esc, "\\n", 2); return 2;
    case '\r': memcpy(esc, "\\r", 2); return 2;
    case '\t': memcpy(esc, "\\t", 2); return 2;
    default:
        break;
    }
    if (quoted && (c == '\\' || c == '"')) {
        esc[0] = '\\';
        esc[1] = (char)c;
        return 2;
    }
    if ((c >= 0x20 && c < 0x7f) || (c >= 0x80 && !quoted))
        return 0;
    esc[0] = '\\';
    esc[1] = 'x';
    esc[2] = hex[c >> 4];
    esc[3] = hex[c & 15];
    return 4;
}

/* Append src to buf at *pos, escaping control characters (\n, \r, \t,
 * \xNN) so the event stays on one line.  Stops before cap - 1. */
static void put_escaped(char *buf, size_t cap, size_t *pos, const char *src)
{
    size_t p = *pos;
    for (const unsigned char *s = (const unsigned char *)src; *s; s++) {
        char esc[4];
        const char *piece = esc;
        size_t n = escape_byte(*s, 0, esc);
        if (n == 0) {
            piece = (const char *)s;
            n = 1;
        }
        if (p + n >= cap)
            break;
        memcpy(buf + p, piece, n);
        p += n;
    }
    *pos = p;
}

size_t log_format(char *buf, size_t cap, const struct timespec *ts, int level,
                  const char *peer, const char *fmt, va_list ap)
{
    if (cap == 0)
        return 0;
    struct tm tm;
    time_t sec = ts->tv_sec;
    if (!gmtime_r(&sec, &tm))
        memset(&tm, 0, sizeof tm);
    int ms = (int)(ts->tv_nsec / 1000000);
    if (ms < 0 || ms > 999)
        ms = 0;
    int n;
    if (peer && *peer)
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ms, log_level_name(level), peer);
    else
        n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ms, log_level_name(level));
    if (n < 0)
        n = 0;
    size_t pos = (size_t)n < cap ? (size_t)n : cap - 1;

    char msg[LOG_LINE_MAX];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    int cut = m < 0 || (size_t)m >= sizeof msg;
    if (m < 0)
        msg[0] = '\0';
    size_t before = pos;
    put_escaped(buf, cap, &pos, msg);
    if (!cut && pos - before < strlen(msg))
        cut = 1;   /* escaping made it longer than the line */
    if (cut && cap > 5) {
        /* keep room for "...\n" */
        if (pos > cap - 5)
            pos = cap - 5;
        memcpy(buf + pos, "...", 3);
        pos += 3;
    }
    if (pos > cap - 2)
        pos = cap >= 2 ? cap - 2 : 0;
    if (cap >= 2)
        buf[pos++] = '\n';
    buf[pos] = '\0';
    return pos;
}

void log_vmsg(int level, const char *peer, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    /* the wall clock read directly, not through base/clock.h: log_format
     * takes the struct timespec (seconds for the date, tv_nsec for the
     * milliseconds of the stamp) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[LOG_LINE_MAX];
    size_t n = log_format(line, sizeof line, &ts, level, peer, fmt, ap);
    int fd = g_fd >= 0 ? g_fd : STDERR_FILENO;
    const char *p = line;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;      /* nowhere to report it; drop the line */
        p += w;
        n -= (size_t)w;
    }
}

void log_msg(int level, const char *peer, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, peer, fmt, ap);
    va_end(ap);
}

void log_esme(void *ud, int level, const char *peer, const char *fmt,
              va_list ap)
{
    (void)ud;
    log_vmsg(level, peer, fmt, ap);
}

const char *log_msisdn(char *buf, size_t n, const char *number)
{
    if (!buf || n == 0)
        return buf;
    if (!number) {
        snprintf(buf, n, "-");
        return buf;
    }
    size_t len = strlen(number);
    size_t start = number[0] == '+' ? 1 : 0;
    size_t keep_from = len > 4 ? len - 4 : 0;
    size_t i = 0;
    for (; i < len && i + 1 < n; i++) {
        if (i < start || i >= keep_from)
            buf[i] = number[i];
        else
            buf[i] = '*';
    }
    buf[i] = '\0';
    return buf;
}

struct log_masked log_mask(const char *number)
{
    struct log_masked m;
    log_msisdn(m.s, sizeof m.s, number);
    return m;
}

/* ---- citizens' free text --------------------------------------------------- */

/* What joins two groups of digits into one number: "0555 12-34-56",
 * "+996 (555) 123 456", "12.03.2026".  At most LOG_NUM_GAP of them in a row. */
#define LOG_NUM_GAP 2
static int num_sep(uint8_t c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/';
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The number starting with the digit at s[0]: its length in bytes (ending
 * on a digit) and, in *digits, how many digits it holds. */
static size_t num_run(const uint8_t *s, size_t len, size_t *digits)
{
    size_t i = 0, end = 0, n = 0;
    while (i < len) {
        if (is_digit(s[i])) {
            n++;
            end = ++i;
            continue;
        }
        size_t gap = 0;
        while (i + gap < len && gap < LOG_NUM_GAP && num_sep(s[i + gap]))
            gap++;
        if (gap == 0 || i + gap >= len || !is_digit(s[i + gap]))
            break;
        i += gap;
    }
    *digits = n;
    return end;
}

/* Characters shown as \uXXXX although they are valid: C1 controls, the
 * bidi marks, embeddings, overrides and isolates (they reorder what an
 * operator reads), and the Unicode line and paragraph separators. */
static int escape_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

/* The piece of output for the character at s[0..len), len > 0: *piece
 * and its length (the character itself, or its escape written into esc);
 * *used gets the input bytes it stands for. */
static size_t text_piece(const uint8_t *s, size_t len, char esc[8],
                         const char **piece, size_t *used)
{
    uint32_t cp;
    size_t n = s[0] < 0x80 ? 0 : kz_utf8_next(s, len, &cp);
    if (n == 0) {                       /* ASCII, or a byte that is not UTF-8 */
        *used = 1;
        *piece = esc;
        size_t e = escape_byte(s[0], 1, esc);
        if (e > 0)
            return e;
        *piece = (const char *)s;
        return 1;
    }
    *used = n;
    if (escape_cp(cp)) {
        *piece = esc;
        return (size_t)snprintf(esc, 8, "\\u%04x", (unsigned)cp);
    }
    *piece = (const char *)s;
    return n;
}

size_t log_text_safe(const void *in, size_t len, char *out, size_t cap)
{
    const uint8_t *s = in;
    size_t p = 0, i = 0;
    if (cap == 0)
        return 0;
    while (i < len) {
        size_t digits;
        size_t run = is_digit(s[i]) ? num_run(s + i, len - i, &digits) : 0;
        if (run > 0) {
            /* a number: every digit but the last four becomes '*' */
            size_t masked = digits >= LOG_TEXT_MASK_MIN ? digits - 4 : 0;
            size_t end = i + run;
            for (; i < end && p + 1 < cap; i++) {
                int hide = is_digit(s[i]) && masked > 0;
                masked -= (size_t)hide;
                out[p++] = hide ? '*' : (char)s[i];
            }
            if (i < end)
                break;                          /* out is full */
            continue;
        }
        char esc[8];
        const char *piece;
        size_t used;
        size_t n = text_piece(s + i, len - i, esc, &piece, &used);
        if (p + n >= cap)
            break;                              /* whole pieces only */
        memcpy(out + p, piece, n);
        p += n;
        i += used;
    }
    out[p] = '\0';
    return p;
}
