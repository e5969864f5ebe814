/*
 * gateway/console_publish.h — the console's publish room (issue 10
 * publish): a draft becomes an immutable numbered version, the live one;
 * an earlier version is published again (rollback); maker-checker.
 *
 * Routes (registered by console_publish_routes; roles checked here too,
 * so that a refused attempt is audited):
 *   POST /console/api/publish         {"note"} editor+ (see publish_mode):
 *        the draft (gateway/store's store_draft_*) loaded strictly by the
 *        same loader; errors -> 422 {"error", "errors": [{"file","line",
 *        "column","message"}]} and nothing changes; else version N is
 *        stored with the diff against the live one (gateway/mdiff), live
 *        (201 {"number","state":"live"}) or, with maker-checker on,
 *        pending (201 {"number","state":"pending"}).
 *   POST /console/api/rollback        {"version","note"} publisher+: the
 *        files of an earlier version (live or retired) published again
 *        as a new number (pending under maker-checker).
 *   GET  /console/api/versions        ?before=&limit= {"versions": [{
 *        "number","author","created","note","state","approved_by",
 *        "approved_at"}], "live", "next"}
 *   GET  /console/api/versions/N      the same fields with "files" and
 *        "diff"
 *   POST /console/api/versions/N/approve | /reject   publisher+, not the
 *        version's author (403): a pending version goes live or is
 *        rejected.
 *   GET  /console/api/nodes           {"live", "nodes": [{"node",
 *        "version","source","seen_at","current"}]}: which version each
 *        node runs, and whether from files on disk ("files").
 *   GET  /console/versions            the page (a 303 to
 *        /console/static/versions.html).
 * Every change and every refused attempt is audited (publish, rollback,
 * publish.approve, publish.reject, publish.refused).  The answer to a
 * change follows the store's commit.
 *
 * Ownership: opts is the caller's and must outlive the console's routes.
 * Loop thread only.
 * May call: gateway/console, gateway/console_core, gateway/store,
 * gateway/workspace, gateway/mdiff, base/clock, jansson, libc.
 */
#ifndef KYZMAT_GATEWAY_CONSOLE_PUBLISH_H
#define KYZMAT_GATEWAY_CONSOLE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "gateway/mdiff.h"

struct console;

struct console_publish_opts {
    bool maker_checker;         /* admin.console.maker_checker */
    /* a version went live through this node: check the store now
     * (gateway/menuwatch); NULL: the timer will */
    void (*went_live)(void *ud);
    void *ud;
};

/* Register the routes above; 0, or -1 (the route table is full). */
int console_publish_routes(struct console *c,
                           const struct console_publish_opts *o);

/* ---- the rules, pure ------------------------------------------------- */

enum publish_mode { PUBLISH_FORBIDDEN, PUBLISH_LIVE, PUBLISH_PENDING };
/* What a publish by an account of role does: without maker-checker a
 * publisher or admin publishes live and anyone else is refused; with it,
 * an editor, publisher or admin makes a pending version (every version
 * then needs a second pair of eyes) and a viewer is refused. */
enum publish_mode publish_mode(int role, bool maker_checker);
/* May who (role) approve or reject a version made by author?  0, or 403:
 * below publisher, or who is the author. */
int publish_may_decide(int role, const char *who, const char *author);

/* A version's files (a JSON object {name: text}) as diff input, texts
 * borrowed from files; at most max.  Returns the count. */
size_t publish_files_view(const json_t *files, struct mdiff_file *out,
                          size_t max);

#endif
