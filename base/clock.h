/*
 * base/clock.h — the clocks, named for what they read.
 *
 *   kz_wall_ms()  CLOCK_REALTIME: milliseconds since the Unix epoch.  For
 *                 what is stored or shown (created_at, days, lock-outs
 *                 shared through the database).  Jumps with the system clock.
 *   kz_mono_ms()  CLOCK_MONOTONIC: milliseconds since an arbitrary start.
 *                 For timeouts, deadlines and rates inside one process; never
 *                 stored, never compared across processes.
 *   kz_mono_us()  the same clock in microseconds, for latency figures.
 *
 * Owns: nothing.  May call: clock_gettime.  Includes nothing of the project.
 */
#ifndef KZ_BASE_CLOCK_H
#define KZ_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t kz_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t kz_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t kz_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
