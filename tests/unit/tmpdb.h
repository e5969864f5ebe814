/*
 * tests/unit/tmpdb.h — a throw-away directory with one file in it for
 * tests: a SQLite database (with its WAL companions) or a log file
 * (header-only; static functions).  Every test of the gateway that needs a
 * real store or a real log file takes its fixture from here, so the
 * directory is made, named and removed the same way everywhere.
 *
 * struct tmpdb holds the mkdtemp directory, the file's path in it and,
 * for a database, the fixture's own connection (NULL until opened).
 * tmpdb_make(t, tag, file) makes /tmp/<tag>.XXXXXX and the path <dir>/<file>.
 * tmpdb_open(t, tag) and tmpdb_open_with(t, tag, extra, n) make the
 * directory and open kyzmat.db in it (the store's migrations, plus n extra
 * ones), into t->st; on failure they print why, remove what they made and
 * return -1.  tmpdb_connect(t) opens one more connection to the same file
 * (asserted; the caller closes it).  tmpdb_close(t) closes t->st (NULL is
 * fine) and removes the file, its -wal, -shm and -journal companions and
 * the directory; tmpdb_remove(path, dir) is that removal alone (missing
 * files are fine).
 *
 * cmocka fixtures: a test's fixture struct whose FIRST member is a struct
 * tmpdb can use tmpdb_setup(state, size, tag, seed) (a zeroed fixture of
 * size bytes, the database opened, then seed(fixture) when seed is not
 * NULL; seed returns 0, or -1 to fail the set-up), tmpdb_setup_dir(state,
 * size, tag, file) (directory and path only, nothing opened) and
 * tmpdb_teardown(state) (tmpdb_close, then free).
 *
 * Owns: the directories it makes (until removed) and t->st.
 * May call: gateway/store.h, POSIX, libc, cmocka.
 */
#ifndef KYZMAT_TESTS_TMPDB_H
#define KYZMAT_TESTS_TMPDB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/store.h"

#define TMPDB_FILE "kyzmat.db"

struct tmpdb {
    char dir[64];
    char path[128];
    struct store *st;
};

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

static inline int tmpdb_make(struct tmpdb *t, const char *tag, const char *file)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/%s.XXXXXX", tag);
    if (!mkdtemp(t->dir)) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, file);
    return 0;
}

static inline void tmpdb_close(struct tmpdb *t)
{
    store_close(t->st);
    t->st = NULL;
    if (t->path[0])             /* else the directory was never made */
        tmpdb_remove(t->path, t->dir);
}

static inline int tmpdb_open_with(struct tmpdb *t, const char *tag,
                                  const struct store_migration *extra, size_t n)
{
    if (tmpdb_make(t, tag, TMPDB_FILE) != 0)
        return -1;
    char err[256] = "";
    int rc = store_open_with(t->path, STORE_SYNC_NORMAL, extra, n, &t->st, err,
                             sizeof err);
    if (rc != STORE_OK) {
        fprintf(stderr, "store_open %s: %s (%s)\n", t->path, err, store_rc_name(rc));
        tmpdb_close(t);
        return -1;
    }
    return 0;
}

static inline int tmpdb_open(struct tmpdb *t, const char *tag)
{
    return tmpdb_open_with(t, tag, NULL, 0);
}

static inline struct store *tmpdb_connect(const struct tmpdb *t)
{
    char err[256] = "";
    struct store *st = NULL;
    int rc = store_open(t->path, STORE_SYNC_NORMAL, &st, err, sizeof err);
    if (rc != STORE_OK)
        print_message("store_open %s: %s\n", t->path, err);
    assert_int_equal(rc, STORE_OK);
    return st;
}

static inline int tmpdb_teardown(void **state)
{
    struct tmpdb *t = *state;
    if (!t)
        return 0;
    tmpdb_close(t);
    free(t);
    *state = NULL;
    return 0;
}

static inline int tmpdb_setup(void **state, size_t size, const char *tag,
                              int (*seed)(void *fixture))
{
    struct tmpdb *t = calloc(1, size);
    if (!t)
        return -1;
    *state = t;
    if (tmpdb_open(t, tag) != 0 || (seed && seed(t) != 0)) {
        if (t->st)
            fprintf(stderr, "seed: %s\n", store_errmsg(t->st));
        tmpdb_teardown(state);
        return -1;
    }
    return 0;
}

static inline int tmpdb_setup_dir(void **state, size_t size, const char *tag,
                                  const char *file)
{
    struct tmpdb *t = calloc(1, size);
    if (!t || tmpdb_make(t, tag, file) != 0) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

#endif
