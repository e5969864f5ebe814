/*
 * gateway/menuload.h — a menu set loaded off the loop, handed back on it.
 *
 * What it does: runs the menu loader (menus/load, pure and re-entrant) for
 * one directory (or a set of files in memory) on a worker thread, so that a large or hostile menu set
 * costs the event loop nothing while it is parsed and checked (a flat
 * 2 MiB set takes the loader seconds; issue 14 item 5).  When the thread is
 * done, the loop learns it through a pipe watched by an ordinary read
 * event, joins the thread and calls the owner's done callback, on the loop,
 * with the result: a set (to be swapped in) or the loader's errors.
 *
 * Why a pipe and not event_active() from the thread: cross-thread
 * activation in libevent 2.1 needs evthread_use_pthreads() before the base
 * exists, which puts a lock around every event operation of the whole
 * loop (every bufferevent flush of every link and HTTP client) for the
 * sake of one event per reload.  The pipe needs no libevent locking: the
 * thread's only contact with the loop is one write(2).
 *
 * One load at a time: menuload_start refuses while a load runs (the caller
 * remembers the request and starts again from its done callback, which is
 * allowed).  The worker blocks every signal, so SIGHUP/SIGTERM keep going
 * to the loop's thread.  It touches nothing but its own job (a copy of the
 * directory name, the cap, the result) and writes no global.
 *
 * Ownership: the owner (gateway/main.c) owns the struct menuload; the
 * struct owns the thread, the job and the pipe.  The result passed to done
 * belongs to menuload: done may take the set (setting r->set to NULL;
 * it then holds that one reference); whatever is left is freed when done
 * returns.  menuload_free joins a running thread first (it waits for the
 * load to end: the loader cannot be interrupted safely), so nothing the
 * thread uses is freed under it; inside done it is deferred until done
 * returns.  Loop thread only, except the worker's own function.
 * May call: menus/load, menus/menu, base/clock, libevent, pthreads, libc.
 */
#ifndef KYZMAT_GATEWAY_MENULOAD_H
#define KYZMAT_GATEWAY_MENULOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "menus/load.h"
#include "menus/menu.h"

struct event_base;
struct menuload;

struct menuload_result {
    const char *dir;           /* the directory loaded (menuload's copy),
                                * or the in-memory load's label */
    struct menu_set *set;      /* one reference, or NULL: errs says why */
    struct menu_errors errs;   /* the loader's errors (empty on success) */
    uint64_t ms;               /* how long the load took on the thread */
    size_t bytes;              /* the size of the directory's menu files */
};

/* Called on the loop when a load has ended (never from menuload_start). */
typedef void (*menuload_done_fn)(void *ud, struct menuload_result *r);

/* A loader whose results arrive on base's loop.  NULL on failure (out of
 * memory, no pipe, no event). */
struct menuload *menuload_new(struct event_base *base, menuload_done_fn done,
                              void *ud);

/*
 * menuload_start — load dir (copied) with the set's byte cap max_bytes
 * (0 = the loader's default) on a new worker thread, and return at once.
 * Returns 0 (done follows on the loop), or -1 with a reason in err: a
 * load is already running, or the thread could not be created.
 */
int menuload_start(struct menuload *ml, const char *dir, size_t max_bytes,
                   char *err, size_t errlen);

/*
 * menuload_start_sources — the same for n files held in memory (issue 10
 * publish: a stored version's files), copied before it returns; label
 * (copied) names the load in the result's dir ("version 7").
 */
int menuload_start_sources(struct menuload *ml, const char *label,
                           const struct menu_source *src, size_t n,
                           size_t max_bytes, char *err, size_t errlen);

/* true while a load runs (started, its done callback not yet called;
 * inside done it is false, so done may start the next load). */
bool menuload_busy(const struct menuload *ml);

/* How long the running load has taken so far (0 when none runs). */
uint64_t menuload_elapsed_ms(const struct menuload *ml);

/* Join a running thread (waiting for its load to end), drop its result
 * unseen, free everything.  NULL is fine.  Inside done: deferred until
 * done returns. */
void menuload_free(struct menuload *ml);

#endif
