/*
 * tests/unit/tmpdb.h — a throw-away SQLite database file for tests
 * (header-only; static functions).
 *
 * tmpdb_remove(path, dir) deletes the database file at path with its WAL,
 * shared-memory and journal companions, then the (now empty) mkdtemp
 * directory dir.  Missing files are fine.
 *
 * Owns nothing.  May call: POSIX, libc.
 */
#ifndef KYZMAT_TESTS_TMPDB_H
#define KYZMAT_TESTS_TMPDB_H

#include <stdio.h>
#include <unistd.h>

static inline void tmpdb_remove(const char *path, const char *dir)
{
    static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

#endif
