/*
 * tests/unit/clock_at.h — a fixed wall-clock time for tests that run on a
 * fake "now" (header-only; one static function).
 *
 * clock_at(y, mo, d, h, mi) is that minute in the process's local time
 * zone, in ms since the epoch (the test sets TZ in main and calls tzset()
 * first, so days and "past times" are the same on every machine).
 *
 * Owns nothing.  May call: libc.
 */
#ifndef KYZMAT_TESTS_CLOCK_AT_H
#define KYZMAT_TESTS_CLOCK_AT_H

#include <stdint.h>
#include <string.h>
#include <time.h>

static inline int64_t clock_at(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

#endif
