/*
 * gateway/menuwatch.c — every node follows the console's live menu
 * version; see menuwatch.h for the what and the rule.
 *
 * State: `seen` is the live number the last check acted on (-1 before
 * the first), `running` the version whose set this node runs (0: its
 * folder), `gen` counts SIGHUP loads, so a version load started before
 * one is dropped when it lands.  The store is read on the loop (one
 * indexed row per check; the version's files only when the number
 * changed) and the parse runs on menuload's worker.
 * Owns: the timer, the menuload, the node name.
 * May call: gateway/menuload, gateway/store, gateway/workspace,
 * gateway/log, base/clock, libevent, jansson, libc.
 */
#include "gateway/menuwatch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base/clock.h"
#include "gateway/log.h"
#include "gateway/menuload.h"
#include "gateway/store.h"
#include "gateway/workspace.h"
#include "menus/menu.h"

#define PEER "menus"

struct menuwatch {
    struct menuwatch_opts o;
    char *node;
    struct event *tick;
    struct menuload *ml;
    int64_t seen, running, loading;
    unsigned gen, loading_gen;
    int64_t recorded;          /* version written to node_versions (-1) */
    bool recorded_files;       /* ... and its source was "files" */
};

static void record(struct menuwatch *w, bool files)
{
    const char *source = files ? "files" : "console";
    if (w->recorded == w->running && w->recorded_files == files)
        return;
    if (store_node_seen(w->o.db, w->node, w->running, source,
                        (int64_t)kz_wall_ms()) != STORE_OK) {
        log_msg(KLOG_WARN, PEER, "cannot record node %s: %s", w->node,
                store_errmsg(w->o.db));
        return;
    }
    w->recorded = w->running;
    w->recorded_files = files;
}

/* Start loading version n (read from the store) on the worker. */
static void load_version(struct menuwatch *w, int64_t n)
{
    struct store_version v;
    char err[256], label[40];
    if (store_version_get(w->o.db, n, &v) != STORE_OK) {
        log_msg(KLOG_ERROR, PEER, "cannot read menu version %" PRId64 ": %s",
                n, store_errmsg(w->o.db));
        return;
    }
    json_t *files = json_loads(v.files, 0, NULL);
    store_version_clear(&v);
    struct ws_files wf;
    snprintf(label, sizeof label, "version %" PRId64, n);
    if (!files || workspace_files(files, &wf, err, sizeof err) != 0 ||
        menuload_start_sources(w->ml, label, wf.src, wf.n, w->o.max_bytes,
                               err, sizeof err) != 0) {
        log_msg(KLOG_ERROR, PEER, "cannot load menu %s: %s", label,
                files ? err : "its files are not JSON");
        json_decref(files);
        return;
    }
    json_decref(files);
    w->loading = n;
    w->loading_gen = w->gen;
}

static void check(struct menuwatch *w)
{
    int64_t n = 0;
    int rc = store_version_live(w->o.db, &n);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        log_msg(KLOG_WARN, PEER, "cannot ask for the live menu version: %s",
                store_errmsg(w->o.db));
        return;
    }
    if (n == w->seen)
        return;
    if (menuload_busy(w->ml))
        return;                /* the next check tries again */
    w->seen = n;
    if (n == 0)
        record(w, true);    /* nothing published: the folder */
    else
        load_version(w, n);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    check(arg);
}

static void on_landed(void *ud, struct menuload_result *res)
{
    struct menuwatch *w = ud;
    if (w->loading_gen != w->gen) {
        log_msg(KLOG_INFO, PEER, "menu %s dropped: SIGHUP loaded the folder "
                "meanwhile", res->dir);
        return;
    }
    if (!res->set) {
        char buf[512] = "";
        if (res->errs.n)
            menu_error_format(&res->errs.v[0], buf, sizeof buf);
        log_msg(KLOG_ERROR, PEER, "menu %s refused (%zu errors, first: %s); "
                "still running the previous menus", res->dir,
                res->errs.n + res->errs.dropped, buf);
        return;
    }
    struct menu_set *set = res->set;
    res->set = NULL;
    unsigned nodes = set->nnode;
    w->o.apply(w->o.ud, set, w->loading);
    w->running = w->loading;
    log_msg(KLOG_INFO, PEER, "menu %s is live on node %s (%u nodes, loaded "
            "in %" PRIu64 " ms); new dialogs get it, dialogs in flight "
            "continue at their node", res->dir, w->node, nodes, res->ms);
    record(w, false);
}

struct menuwatch *menuwatch_new(struct event_base *base,
                                const struct menuwatch_opts *o)
{
    struct menuwatch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->o = *o;
    if (!w->o.every_ms)
        w->o.every_ms = 1000;
    w->node = strdup(o->node);
    w->seen = -1;
    w->recorded = -1;
    w->tick = event_new(base, -1, EV_PERSIST, on_tick, w);
    w->ml = menuload_new(base, on_landed, w);
    struct timeval tv = { (time_t)(w->o.every_ms / 1000),
                          (suseconds_t)(w->o.every_ms % 1000) * 1000 };
    if (!w->node || !w->tick || !w->ml || event_add(w->tick, &tv) != 0) {
        menuwatch_free(w);
        return NULL;
    }
    event_active(w->tick, EV_TIMEOUT, 0);   /* the first check at once */
    return w;
}

void menuwatch_kick(struct menuwatch *w)
{
    if (w)
        event_active(w->tick, EV_TIMEOUT, 0);
}

void menuwatch_files(struct menuwatch *w)
{
    if (!w)
        return;
    w->gen++;
    w->running = 0;
    record(w, true);
}

int64_t menuwatch_running(const struct menuwatch *w)
{
    return w ? w->running : 0;
}

void menuwatch_free(struct menuwatch *w)
{
    if (!w)
        return;
    menuload_free(w->ml);
    if (w->tick)
        event_free(w->tick);
    free(w->node);
    free(w);
}
