/*
 * gateway/menuwatch.h — every node follows the console's live menu
 * version (issue 10 publish).
 *
 * What it does: every `every_ms` (admin.console.version_check, 1 s) it
 * asks the store for the live version's number (one read of a partial
 * index).  When the number differs from the last one seen, it reads that
 * version's files, loads them on its own menu loader's worker thread
 * (gateway/menuload, in memory: nothing parsed on the loop) and hands the
 * set to apply() on the loop, which swaps it in as a SIGHUP does
 * (ussd_set_menus: new dialogs get it; a step already running finishes
 * on the set it holds a reference to; a saved dialog that continues is
 * mapped onto the new set by node id, so it moves cleanly).  It records what this node runs in the store's
 * node_versions (its name, the version, source "console" or "files"),
 * written only when that changes.
 *
 * Files on disk and SIGHUP (the rule, README "Publish and roll back"):
 *  - before any publish, a node runs its menus folder (source "files");
 *  - once a version is live, it wins: at start (the first check runs at
 *    once) and at each publish, approval or rollback;
 *  - a SIGHUP loads the folder as before; menuwatch_files() then marks
 *    the node "files" and it stays on the folder until the next version
 *    goes live (a version load still in flight is dropped).
 * A version that does not load (it did when published; a newer loader
 * may be stricter) is logged and skipped; the node keeps its set.
 *
 * Ownership: the caller owns the struct (menuwatch_free before the store
 * and the base); the struct owns its timer, its menuload and its copy of
 * the node name.  apply takes one reference to the set.  Loop thread.
 * May call: gateway/menuload, gateway/store, gateway/workspace,
 * gateway/log, base/clock, libevent, jansson, libc.
 */
#ifndef KYZMAT_GATEWAY_MENUWATCH_H
#define KYZMAT_GATEWAY_MENUWATCH_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct menu_set;
struct menuwatch;
struct store;

struct menuwatch_opts {
    struct store *db;          /* borrowed */
    const char *node;          /* this node's name (copied) */
    uint64_t every_ms;         /* 0: 1000 */
    size_t max_bytes;          /* the set's cap (menus_max_bytes) */
    /* swap set in (one reference taken); version is its number */
    void (*apply)(void *ud, struct menu_set *set, int64_t version);
    void *ud;
};

/* NULL when out of memory. */
struct menuwatch *menuwatch_new(struct event_base *base,
                                const struct menuwatch_opts *o);
/* Check now (a version went live through this node). */
void menuwatch_kick(struct menuwatch *w);
/* The folder was loaded (SIGHUP): this node runs "files" until the next
 * version goes live. */
void menuwatch_files(struct menuwatch *w);
/* The version this node runs (0: its folder). */
int64_t menuwatch_running(const struct menuwatch *w);
void menuwatch_free(struct menuwatch *w);

#endif
