/*
 * gateway/console_publish.c — the console's publish room: publish,
 * rollback, versions, approve/reject, nodes (issue 10 publish); the routes
 * and their rules are in console_publish.h.
 *
 * A publish: the draft's files (store_draft_list) as a JSON object,
 * loaded strictly with workspace_load (the loader the nodes run, in
 * memory; refused -> 422 with every file:line:column), diffed against
 * the live version's files (mdiff_sets, bounded), stored as one version
 * (store_version_add: live, retiring the one before, in one transaction;
 * or pending), audited, answered once the batch is committed (so another
 * node can read what the answer names).  The nodes switch by themselves
 * (gateway/menuwatch asks the store every admin.console.version_check);
 * this node is nudged at once through opts->went_live.
 * Owns: the waits of its answers (one per change, freed by the waiter).
 * May call: gateway/console, gateway/console_core, gateway/store,
 * gateway/workspace, gateway/mdiff, base/clock, jansson, libc.
 */
#include "gateway/console_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "gateway/console.h"
#include "gateway/workspace.h"
#include "menus/load.h"

#define VERSIONS_PAGE_MAX 200
#define NODES_MAX 256
#define DIFF_MAX (256u << 10)          /* octets of diff kept per version */

/* ---- the rules, pure ------------------------------------------------------- */

enum publish_mode publish_mode(int role, bool maker_checker)
{
    if (maker_checker)
        return console_role_allows(role, CONSOLE_EDITOR) ? PUBLISH_PENDING
                                                         : PUBLISH_FORBIDDEN;
    return console_role_allows(role, CONSOLE_PUBLISHER) ? PUBLISH_LIVE
                                                        : PUBLISH_FORBIDDEN;
}

int publish_may_decide(int role, const char *who, const char *author)
{
    if (!console_role_allows(role, CONSOLE_PUBLISHER) || !who || !author ||
        strcmp(who, author) == 0)
        return 403;
    return 0;
}

size_t publish_files_view(const json_t *files, struct mdiff_file *out,
                          size_t max)
{
    size_t n = 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)files, name, v) {
        if (n == max)
            break;
        if (json_is_string(v))
            out[n++] = (struct mdiff_file){ name, json_string_value(v),
                                             json_string_length(v) };
    }
    return n;
}

/* ---- publish and rollback ------------------------------------------------------ */

static void refuse(struct console_req *r, const char *action, int code,
                   const char *why, json_t *extra)
{
    console_audit(r, NULL, "publish.refused", action,
                  json_pack("{s:s, s:i}", "why", why, "code", code));
    json_t *j = extra ? extra : json_object();
    json_object_set_new(j, "error", json_string(why));
    console_answer_committed(r, code, j, NULL);    /* the audit row is kept first */
}

/* The draft as {name: text}; NULL with *why set. */
static json_t *draft_files(struct store *st, const char **why)
{
    static struct store_draft d[MENU_SET_MAX_FILES + 1];   /* loop only */
    size_t n = 0;
    if (store_draft_list(st, d, MENU_SET_MAX_FILES + 1, &n) != STORE_OK) {
        *why = "database error";
        return NULL;
    }
    json_t *files = n && n <= MENU_SET_MAX_FILES ? json_object() : NULL;
    for (size_t i = 0; files && i < n; i++)
        json_object_set_new(files, d[i].name,
                            workspace_string(d[i].text, strlen(d[i].text)));
    store_drafts_free(d, n);
    if (!files)
        *why = n ? "the draft has too many files" : "the draft is empty";
    return files;
}

/* The diff from the live version's files (none: from nothing) to files;
 * malloc'd, or NULL when out of memory. */
static char *diff_from_live(struct store *st, const json_t *files)
{
    struct mdiff_file a[MENU_SET_MAX_FILES], b[MENU_SET_MAX_FILES];
    struct store_version live;
    int64_t n = 0;
    json_t *old = NULL;
    if (store_version_live(st, &n) == STORE_OK &&
        store_version_get(st, n, &live) == STORE_OK) {
        old = json_loads(live.files, 0, NULL);
        store_version_clear(&live);
    }
    size_t na = old ? publish_files_view(old, a, MENU_SET_MAX_FILES) : 0;
    size_t nb = publish_files_view(files, b, MENU_SET_MAX_FILES);
    char *out = NULL;
    mdiff_sets(a, na, b, nb, DIFF_MAX, &out);
    json_decref(old);
    return out;
}

/*
 * files (taken) checked with the loader and stored as a new version by
 * r->who: answered here (422, 403, 503, or 201 after the commit).
 * action "publish" or "rollback"; from: the version rolled back to.
 */
static void make_version(struct console_req *r,
                         const struct console_publish_opts *o, json_t *files,
                         const char *note, const char *action, int64_t from)
{
    struct store *st = console_store(r->c);
    json_t *errors = NULL;
    struct menu_set *set = workspace_load(files, &errors);
    if (!set) {
        json_t *e = json_object();
        json_object_set(e, "errors", errors ? json_object_get(errors, "errors")
                                            : NULL);
        json_decref(errors);
        json_decref(files);
        refuse(r, action, 422, "the menu set has errors; nothing was published",
               e);
        return;
    }
    menu_set_unref(set);
    enum publish_mode mode = publish_mode(r->who.role, o->maker_checker);
    char *text = json_dumps(files, JSON_COMPACT | JSON_SORT_KEYS);
    char *diff = text ? diff_from_live(st, files) : NULL;
    struct store_version_new v = {
        .author = r->who.name, .note = note, .files = text, .diff = diff,
        .live = mode == PUBLISH_LIVE, .now = (int64_t)kz_wall_ms(),
    };
    int64_t n = 0;
    int rc = text && diff ? store_version_add(st, &v, &n) : STORE_ERROR;
    free(text);
    free(diff);
    if (rc != STORE_OK) {
        json_decref(files);
        console_error(r, rc == STORE_INVALID ? 400 : 503,
                      rc == STORE_INVALID ? "bad note" : "database error");
        return;
    }
    const char *state = mode == PUBLISH_LIVE ? "live" : "pending";
    char target[32];
    snprintf(target, sizeof target, "version %lld", (long long)n);
    json_t *names = json_array();
    const char *k;
    json_t *val;
    json_object_foreach(files, k, val)
        json_array_append_new(names, json_string(k));
    json_decref(files);
    json_t *detail = json_pack("{s:s, s:s, s:o}", "note", note, "state",
                               state, "files", names);
    if (from)
        json_object_set_new(detail, "from", json_integer(from));
    console_audit(r, NULL, action, target, detail);
    if (mode == PUBLISH_LIVE && o->went_live)
        o->went_live(o->ud);
    console_answer_committed(r, 201, json_pack("{s:I, s:s}", "number",
                                               (json_int_t)n, "state", state), NULL);
}

/* The body's note ("" when absent); NULL when not a string or too long. */
static const char *body_note(const json_t *b)
{
    json_t *n = json_object_get(b, "note");
    if (!n)
        return "";
    if (!json_is_string(n) || json_string_length(n) >= STORE_VERSION_NOTE_MAX)
        return NULL;
    return json_string_value(n);
}

static void h_publish(struct console_req *r, void *arg)
{
    const struct console_publish_opts *o = arg;
    if (publish_mode(r->who.role, o->maker_checker) == PUBLISH_FORBIDDEN) {
        refuse(r, "publish", 403, "your role may not publish", NULL);
        return;
    }
    json_t *b = console_body_json(r);
    const char *note = b ? body_note(b) : "";
    if (!note) {
        json_decref(b);
        console_error(r, 400, "note: a text shorter than 512 octets");
        return;
    }
    const char *why = NULL;
    json_t *files = draft_files(console_store(r->c), &why);
    if (!files)
        refuse(r, "publish", why[0] == 'd' ? 503 : 422, why, NULL);
    else
        make_version(r, o, files, note, "publish", 0);
    json_decref(b);
}

static void h_rollback(struct console_req *r, void *arg)
{
    const struct console_publish_opts *o = arg;
    if (!console_role_allows(r->who.role, CONSOLE_PUBLISHER)) {
        refuse(r, "rollback", 403, "your role may not roll back", NULL);
        return;
    }
    json_t *b = console_body_json(r);
    json_t *jv = json_object_get(b, "version");
    const char *note = b ? body_note(b) : NULL;
    struct store_version v;
    int rc = json_is_integer(jv) && note
                 ? store_version_get(console_store(r->c),
                                     json_integer_value(jv), &v)
                 : STORE_INVALID;
    if (rc != STORE_OK) {
        console_error(r, rc == STORE_INVALID ? 400 : rc == STORE_NOTFOUND ? 404 : 503,
                      rc == STORE_INVALID ? "expected {\"version\": N, \"note\"}"
                      : rc == STORE_NOTFOUND ? "no such version" : "database error");
        json_decref(b);
        return;
    }
    json_t *files = json_loads(v.files, 0, NULL);
    bool was_live = strcmp(v.state, "live") == 0 || strcmp(v.state, "retired") == 0;
    int64_t from = v.number;
    store_version_clear(&v);
    if (!was_live || !json_is_object(files)) {
        json_decref(files);
        refuse(r, "rollback", 409, "only a version that was live can be "
               "published again", NULL);
    } else {
        char auto_note[64];
        snprintf(auto_note, sizeof auto_note, "rollback to version %lld",
                 (long long)from);
        make_version(r, o, files, *note ? note : auto_note, "rollback", from);
    }
    json_decref(b);
}

/* ---- versions ------------------------------------------------------------------ */

static json_t *version_json(const struct store_version *v)
{
    json_t *j = json_pack("{s:I, s:s, s:I, s:s, s:s}", "number",
                          (json_int_t)v->number, "author", v->author,
                          "created", (json_int_t)v->created_at, "note",
                          v->note, "state", v->state);
    json_object_set_new(j, "approved_by", v->approved_by[0]
                                              ? json_string(v->approved_by)
                                              : json_null());
    json_object_set_new(j, "approved_at", v->approved_at
                                              ? json_integer(v->approved_at)
                                              : json_null());
    return j;
}

static int64_t query_int(const struct console_req *r, const char *key,
                         int64_t dflt)
{
    char buf[24];
    if (!console_query(r, key, buf, sizeof buf))
        return dflt;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end || v < 0 ? dflt : v;
}

static void h_versions(struct console_req *r, void *arg)
{
    (void)arg;
    static struct store_version list[VERSIONS_PAGE_MAX];   /* loop only */
    struct store *st = console_store(r->c);
    int64_t limit = query_int(r, "limit", 50), live = 0;
    if (limit < 1 || limit > VERSIONS_PAGE_MAX)
        limit = VERSIONS_PAGE_MAX;
    size_t n = 0;
    int rc = store_version_list(st, query_int(r, "before", 0), list,
                                (size_t)limit, &n);
    int lrc = rc == STORE_OK ? store_version_live(st, &live) : rc;
    if (lrc != STORE_OK && lrc != STORE_NOTFOUND) {
        console_error(r, 503, "database error");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, version_json(&list[i]));
    json_t *next = n == (size_t)limit && n ? json_integer(list[n - 1].number)
                                           : json_null();
    console_json(r, 200, json_pack("{s:o, s:o, s:o}", "versions", a, "live",
                                   live ? json_integer(live) : json_null(),
                                   "next", next));
}

/* "/console/api/versions/N[/verb]" -> N and verb ("" when none); false
 * when malformed. */
static bool version_path(const char *path, int64_t *n, char *verb, size_t cap)
{
    const char *p = path + strlen("/console/api/versions/");
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v <= 0 || (*end && *end != '/'))
        return false;
    *n = v;
    snprintf(verb, cap, "%s", *end ? end + 1 : "");
    return true;
}

static void h_version(struct console_req *r, void *arg)
{
    (void)arg;
    int64_t n;
    char verb[16];
    struct store_version v;
    if (!version_path(r->path, &n, verb, sizeof verb) || verb[0]) {
        console_error(r, 404, "no such page");
        return;
    }
    int rc = store_version_get(console_store(r->c), n, &v);
    if (rc != STORE_OK) {
        console_error(r, rc == STORE_NOTFOUND ? 404 : 503,
                      rc == STORE_NOTFOUND ? "no such version" : "database error");
        return;
    }
    json_t *j = version_json(&v);
    json_t *files = json_loads(v.files, 0, NULL);
    json_object_set_new(j, "files", files ? files : json_object());
    json_object_set_new(j, "diff", workspace_string(v.diff, strlen(v.diff)));
    store_version_clear(&v);
    console_json(r, 200, j);
}

static void h_decide(struct console_req *r, void *arg)
{
    const struct console_publish_opts *o = arg;
    struct store *st = console_store(r->c);
    int64_t n;
    char verb[16], target[32];
    struct store_version v;
    if (!version_path(r->path, &n, verb, sizeof verb) ||
        (strcmp(verb, "approve") != 0 && strcmp(verb, "reject") != 0)) {
        console_error(r, 404, "no such page");
        return;
    }
    bool approve = verb[0] == 'a';
    const char *action = approve ? "publish.approve" : "publish.reject";
    snprintf(target, sizeof target, "version %lld", (long long)n);
    int rc = store_version_get(st, n, &v);
    if (rc != STORE_OK) {
        console_error(r, rc == STORE_NOTFOUND ? 404 : 503,
                      rc == STORE_NOTFOUND ? "no such version" : "database error");
        return;
    }
    int may = publish_may_decide(r->who.role, r->who.name, v.author);
    bool pending = strcmp(v.state, "pending") == 0;
    store_version_clear(&v);
    if (may != 0) {
        refuse(r, action, 403, console_role_allows(r->who.role, CONSOLE_PUBLISHER)
                   ? "a version is approved by a publisher other than its author"
                   : "your role may not approve or reject", NULL);
        return;
    }
    rc = pending ? store_version_decide(st, n, approve, r->who.name,
                                        (int64_t)kz_wall_ms())
                 : STORE_NOTFOUND;
    if (rc != STORE_OK) {
        console_error(r, rc == STORE_NOTFOUND ? 409 : 503,
                      rc == STORE_NOTFOUND ? "the version is not pending"
                                           : "database error");
        return;
    }
    console_audit(r, NULL, action, target, NULL);
    if (approve && o->went_live)
        o->went_live(o->ud);
    console_answer_committed(r, 200, json_pack("{s:I, s:s}", "number", (json_int_t)n,
                                               "state", approve ? "live" : "rejected"),
                             NULL);
}

/* ---- nodes ----------------------------------------------------------------------- */

static void h_nodes(struct console_req *r, void *arg)
{
    (void)arg;
    static struct store_node list[NODES_MAX];   /* loop only */
    struct store *st = console_store(r->c);
    size_t n = 0;
    int64_t live = 0;
    int rc = store_node_list(st, list, NODES_MAX, &n);
    int lrc = rc == STORE_OK ? store_version_live(st, &live) : rc;
    if (lrc != STORE_OK && lrc != STORE_NOTFOUND) {
        console_error(r, 503, "database error");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_node *x = &list[i];
        json_array_append_new(a, json_pack(
            "{s:s, s:o, s:s, s:I, s:b}", "node", x->node, "version",
            x->version ? json_integer(x->version) : json_null(), "source",
            x->source, "seen_at", (json_int_t)x->seen_at, "current",
            live && x->version == live && strcmp(x->source, "console") == 0));
    }
    console_json(r, 200, json_pack("{s:o, s:o}", "live",
                                   live ? json_integer(live) : json_null(),
                                   "nodes", a));
}

/* The page: console.c's table serves pages outside static/, so this room
 * sends its page's address (kept in static/, served to viewers). */
static void h_page(struct console_req *r, void *arg)
{
    (void)arg;
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location",
                      "/console/static/versions.html");
    console_send(r, 303, "text/plain; charset=utf-8", "", 0);
}

int console_publish_routes(struct console *c,
                           const struct console_publish_opts *o)
{
    /* publish, rollback, approve: the role is checked in the handler, so
     * that a refused attempt is audited */
    static const struct {
        enum evhttp_cmd_type m;
        const char *path;
        console_handler_fn *fn;
    } t[] = {
        { EVHTTP_REQ_POST, "/console/api/publish", h_publish },
        { EVHTTP_REQ_POST, "/console/api/rollback", h_rollback },
        { EVHTTP_REQ_GET, "/console/api/versions", h_versions },
        { EVHTTP_REQ_GET, "/console/api/versions/", h_version },
        { EVHTTP_REQ_POST, "/console/api/versions/", h_decide },
        { EVHTTP_REQ_GET, "/console/api/nodes", h_nodes },
        { EVHTTP_REQ_GET, "/console/versions", h_page },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (console_route(c, t[i].m, t[i].path, CONSOLE_VIEWER, t[i].fn,
                          (void *)o) != 0)
            return -1;
    return 0;
}
