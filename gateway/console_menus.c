/*
 * gateway/console_menus.c — the console's menu rooms (issue 10
 * console-ws): thin handlers between gateway/console's requests and the
 * pure workspace (gateway/workspace), the store's draft and the phone
 * emulator (gateway/emulator).  The routes, roles and the from-live bound
 * are in console_menus.h.
 *
 * Design.  Every handler answers once: at once, or (an emulator step
 * that waits for an http node's back-end) from the emulator's done
 * callback, which gets the console_req as its argument.  The draft is the
 * store's (one row per file); check, graph and dial take the files of the
 * body when given (the editor's unsaved text), else the stored draft as
 * a JSON object {name: text}.  Nothing here touches the live set but the
 * emulator's own reference to it.
 *
 * Owns: struct console_menus (the options).  Borrows the console, the
 * emulator and the live set.
 * May call: gateway/console, gateway/workspace, gateway/emulator,
 * gateway/store, menus/load, base/clock, jansson, libc.
 */
#include "gateway/console_menus.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "gateway/console.h"
#include "gateway/emulator.h"
#include "gateway/store.h"
#include "gateway/workspace.h"
#include "menus/load.h"

#define DRAFT_PREFIX "/console/api/draft/"

struct console_menus {
    struct console_menus_opts o;
};

/* ---- vendor scripts ------------------------------------------------------- */

static const struct {
    const char *prefix, *root;
} vendors[] = {
    { "/console/vendor/codemirror/", "/usr/share/javascript/codemirror" },
    { "/console/vendor/d3/", "/usr/share/javascript/d3" },
};

bool console_menus_vendor(const char *path, const char **root, const char **rel)
{
    for (size_t i = 0; path && i < sizeof vendors / sizeof vendors[0]; i++) {
        size_t n = strlen(vendors[i].prefix);
        if (strncmp(path, vendors[i].prefix, n) != 0)
            continue;
        if (!console_path_safe(path + n) || !console_content_type(path + n))
            return false;
        *root = vendors[i].root;
        *rel = path + n;
        return true;
    }
    return false;
}

static void h_vendor(struct console_req *r, void *arg)
{
    (void)arg;
    const char *root, *rel;
    if (!console_menus_vendor(r->path, &root, &rel)) {
        console_error(r, 404, "no such vendor file");
        return;
    }
    console_send_file(r, root, rel);
}

static void h_page(struct console_req *r, void *arg)
{
    (void)arg;
    console_send_file(r, console_dir(r->c), "menus.html");
}

/* ---- the draft -------------------------------------------------------------- */

/* The stored draft as {name: text} (full: with updated_by/at), or NULL
 * (a store error). */
static json_t *stored_draft(struct console_req *r, bool full)
{
    struct store_draft d[MENU_SET_MAX_FILES];
    size_t n = 0;
    if (store_draft_list(console_store(r->c), d, MENU_SET_MAX_FILES, &n) != STORE_OK)
        return NULL;
    json_t *files = json_object();
    for (size_t i = 0; files && i < n; i++) {
        json_t *text = workspace_string(d[i].text, strlen(d[i].text));
        json_t *v = full ? json_pack("{s:o, s:s, s:I}", "text", text, "updated_by",
                                     d[i].updated_by, "updated_at",
                                     (json_int_t)d[i].updated_at)
                         : text;
        json_object_set_new(files, d[i].name, v);
    }
    store_drafts_free(d, n);
    return files;
}

static void h_draft_get(struct console_req *r, void *arg)
{
    (void)arg;
    json_t *files = stored_draft(r, true);
    if (!files) {
        console_error(r, 500, "cannot read the draft");
        return;
    }
    console_json(r, 200, json_pack("{s:o}", "files", files));
}

static void audit_file(struct console_req *r, const char *action, const char *name,
                       size_t size)
{
    console_audit(r, NULL, action, name, json_pack("{s:s, s:I}", "file", name, "size",
                                                   (json_int_t)size));
}

static void h_draft_put(struct console_req *r, void *arg)
{
    (void)arg;
    const char *name = r->path + strlen(DRAFT_PREFIX);
    json_t *body = console_body_json(r);
    const char *text = json_string_value(json_object_get(body, "text"));
    if (!menu_file_name(name) || strlen(name) >= STORE_DRAFT_NAME_MAX) {
        console_error(r, 400, "a menu file name: [A-Za-z0-9._-], ending .yaml or .yml");
    } else if (!text) {
        console_error(r, 400, "text: the file's YAML, a string");
    } else {
        size_t len = strlen(text);
        int rc = store_draft_put(console_store(r->c), name, text, r->who.name,
                                 kz_wall_ms());
        if (rc == STORE_OK) {
            audit_file(r, "draft.put", name, len);
            console_answer_committed(r, 200, json_pack("{s:s, s:I}", "name", name,
                                                       "size", (json_int_t)len), NULL);
        } else {
            console_error(r, rc == STORE_INVALID ? 400 : 500,
                          rc == STORE_INVALID ? "refused: a bad name or a text over 1 MiB"
                                              : "cannot save the draft");
        }
    }
    json_decref(body);
}

static void h_draft_delete(struct console_req *r, void *arg)
{
    (void)arg;
    const char *name = r->path + strlen(DRAFT_PREFIX);
    int rc = store_draft_delete(console_store(r->c), name);
    if (rc == STORE_OK) {
        audit_file(r, "draft.delete", name, 0);
        console_answer_committed(r, 200, json_pack("{s:s}", "deleted", name), NULL);
    } else {
        console_error(r, rc == STORE_NOTFOUND ? 404 : 500,
                      rc == STORE_NOTFOUND ? "no such draft file" : "cannot delete");
    }
}

/* ---- from the live folder (bounded: console_menus.h) ------------------------------ */

struct live_files {
    char *name[MENU_SET_MAX_FILES];
    char *text[MENU_SET_MAX_FILES];
    size_t n, total;
};

static void live_files_free(struct live_files *lf)
{
    for (size_t i = 0; i < lf->n; i++) {
        free(lf->name[i]);
        free(lf->text[i]);
    }
    lf->n = 0;
}

/* Read dir/name whole (at most cap bytes) into a new string; NULL with
 * *too_big set when longer. */
static char *read_capped(const char *dir, const char *name, size_t cap, bool *too_big)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(cap + 1) : NULL;
    size_t got = buf ? fread(buf, 1, cap + 1, f) : 0;
    bool bad = !buf || ferror(f);
    if (f)
        fclose(f);
    *too_big = !bad && got > cap;
    if (bad || *too_big) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

/* The folder's menu files: NULL, or why not (a sentence). */
static const char *read_live(const char *dir, struct live_files *lf, int *code)
{
    *code = 413;
    DIR *d = dir && *dir ? opendir(dir) : NULL;
    if (!d) {
        *code = 500;
        return "cannot open the live menus folder";
    }
    const char *why = NULL;
    struct dirent *de;
    while (!why && (de = readdir(d)) != NULL) {
        if (!menu_file_name(de->d_name))
            continue;
        if (lf->n == MENU_SET_MAX_FILES || strlen(de->d_name) >= STORE_DRAFT_NAME_MAX) {
            why = "the live folder has too many menu files (or too long a name)";
            break;
        }
        size_t left = MENU_SET_MAX_BYTES - lf->total;
        size_t cap = left < STORE_DRAFT_TEXT_MAX ? left : STORE_DRAFT_TEXT_MAX;
        bool too_big;
        char *text = read_capped(dir, de->d_name, cap, &too_big);
        if (!text) {
            why = too_big ? "the live folder is over 2 MiB (or a file over 1 MiB)"
                          : "cannot read a live menu file";
            *code = too_big ? 413 : 500;
            break;
        }
        lf->name[lf->n] = strdup(de->d_name);
        lf->text[lf->n++] = text;
        lf->total += strlen(text);
    }
    closedir(d);
    return why;
}

/* Replace the stored draft by lf's files: NULL, or why not. */
static const char *replace_draft(struct console_req *r, const struct live_files *lf)
{
    struct store *st = console_store(r->c);
    json_t *old = stored_draft(r, false);
    if (!old)
        return "cannot read the draft";
    const char *name;
    json_t *v;
    json_object_foreach(old, name, v)
        store_draft_delete(st, name);
    json_decref(old);
    for (size_t i = 0; i < lf->n; i++)
        if (!lf->name[i] || store_draft_put(st, lf->name[i], lf->text[i], r->who.name,
                                            kz_wall_ms()) != STORE_OK)
            return "cannot save the draft";
    return NULL;
}

static void h_from_live(struct console_req *r, void *arg)
{
    struct console_menus *m = arg;
    struct live_files lf = { 0 };
    int code = 500;
    const char *why = read_live(m->o.live_dir ? m->o.live_dir(m->o.ud) : NULL, &lf, &code);
    if (!why && (why = replace_draft(r, &lf)) != NULL)
        code = 500;
    if (why) {
        console_error(r, code, why);
    } else {
        console_audit(r, NULL, "draft.from_live", "", json_pack("{s:I, s:I}", "files",
                      (json_int_t)lf.n, "size", (json_int_t)lf.total));
        console_answer_committed(r, 200, json_pack("{s:I, s:I}", "files",
                                                   (json_int_t)lf.n, "size",
                                                   (json_int_t)lf.total), NULL);
    }
    live_files_free(&lf);
}

/* ---- check, graph, measure ------------------------------------------------------ */

/* The files to work on: the body's "files", else the stored draft (a new
 * reference), or NULL (answered). */
static json_t *files_of(struct console_req *r, json_t *body)
{
    json_t *files = json_object_get(body, "files");
    if (files)
        return json_incref(files);
    files = stored_draft(r, false);
    if (!files)
        console_error(r, 500, "cannot read the draft");
    return files;
}

static void check_or_graph(struct console_req *r, bool graph)
{
    json_t *body = console_body_json(r);
    json_t *files = files_of(r, body);
    if (files)
        console_json(r, 200, graph ? workspace_graph(files) : workspace_check(files));
    json_decref(files);
    json_decref(body);
}

static void h_check(struct console_req *r, void *arg)
{
    (void)arg;
    check_or_graph(r, false);
}

static void h_graph(struct console_req *r, void *arg)
{
    (void)arg;
    check_or_graph(r, true);
}

static void h_measure(struct console_req *r, void *arg)
{
    (void)arg;
    json_t *body = console_body_json(r);
    json_t *text = json_object_get(body, "text");
    const char *lang = json_string_value(json_object_get(body, "lang"));
    json_t *j = workspace_measure(json_string_value(text), json_string_length(text),
                                  lang ? lang : "ru",
                                  json_is_true(json_object_get(body, "final")),
                                  json_object_get(body, "files"));
    console_json(r, json_object_get(j, "error") ? 400 : 200, j);
    json_decref(body);
}

/* ---- the emulator ---------------------------------------------------------------- */

/* The emulator's later answer: r waited for it. */
static void emu_done(void *arg, json_t *answer, int status)
{
    console_json(arg, status, answer);
}

/* Answer now, or leave r to emu_done (j NULL, status 0). */
static void emu_reply(struct console_req *r, json_t *j, int status)
{
    if (j)
        console_json(r, status, j);
    else if (status)
        console_error(r, status, "the emulator failed");
}

/* The dial's request: the body, with the draft's files when "draft" is
 * true (the body's, else the stored draft); NULL when answered. */
static json_t *dial_request(struct console_req *r, json_t *body)
{
    if (!json_is_true(json_object_get(body, "draft"))) {
        json_object_del(body, "files");     /* "files" would dial a draft */
        return json_incref(body);
    }
    if (!console_role_allows(r->who.role, CONSOLE_EDITOR)) {
        console_error(r, 403, "dialling the draft needs the editor role");
        return NULL;
    }
    json_t *files = files_of(r, body);
    if (!files)
        return NULL;
    json_object_set_new(body, "files", files);
    return json_incref(body);
}

static void h_dial(struct console_req *r, void *arg)
{
    struct console_menus *m = arg;
    if (!m->o.em) {
        console_error(r, 503, "no emulator");
        return;
    }
    json_t *body = console_body_json(r);
    json_t *req = body ? dial_request(r, body) : NULL;
    if (!body) {
        console_error(r, 400, "a JSON object: {\"code\", \"lang\"?, \"draft\"?}");
    } else if (req) {
        int status = 0;
        json_t *j = emulator_dial(m->o.em, req, m->o.live ? m->o.live(m->o.ud) : NULL,
                                  kz_wall_ms(), &status, emu_done, r);
        emu_reply(r, j, status);
    }
    json_decref(req);
    json_decref(body);
}

static void h_answer_or_end(struct console_req *r, struct console_menus *m, bool end)
{
    json_t *body = console_body_json(r);
    if (!m->o.em || !body) {
        console_error(r, m->o.em ? 400 : 503, m->o.em ? "a JSON object: {\"session\"}"
                                                      : "no emulator");
    } else {
        int status = 0;
        json_t *j = end ? emulator_end(m->o.em, body, &status)
                        : emulator_answer(m->o.em, body, kz_wall_ms(), &status,
                                          emu_done, r);
        emu_reply(r, j, status);
    }
    json_decref(body);
}

static void h_answer(struct console_req *r, void *arg)
{
    h_answer_or_end(r, arg, false);
}

static void h_end(struct console_req *r, void *arg)
{
    h_answer_or_end(r, arg, true);
}

/* ---- life cycle -------------------------------------------------------------------- */

struct console_menus *console_menus_new(struct console *c,
                                        const struct console_menus_opts *o)
{
    static const struct {
        enum evhttp_cmd_type m;
        const char *path;
        int role;
        console_handler_fn *fn;
    } t[] = {
        { EVHTTP_REQ_GET, "/console/menus", CONSOLE_VIEWER, h_page },
        { EVHTTP_REQ_GET, "/console/vendor/", CONSOLE_VIEWER, h_vendor },
        { EVHTTP_REQ_GET, "/console/api/draft", CONSOLE_VIEWER, h_draft_get },
        { EVHTTP_REQ_PUT, DRAFT_PREFIX, CONSOLE_EDITOR, h_draft_put },
        { EVHTTP_REQ_DELETE, DRAFT_PREFIX, CONSOLE_EDITOR, h_draft_delete },
        { EVHTTP_REQ_POST, "/console/api/draft/from-live", CONSOLE_EDITOR, h_from_live },
        { EVHTTP_REQ_POST, "/console/api/draft/check", CONSOLE_VIEWER, h_check },
        { EVHTTP_REQ_POST, "/console/api/draft/graph", CONSOLE_VIEWER, h_graph },
        { EVHTTP_REQ_POST, "/console/api/measure", CONSOLE_VIEWER, h_measure },
        { EVHTTP_REQ_POST, "/console/api/emulator/dial", CONSOLE_VIEWER, h_dial },
        { EVHTTP_REQ_POST, "/console/api/emulator/answer", CONSOLE_VIEWER, h_answer },
        { EVHTTP_REQ_POST, "/console/api/emulator/end", CONSOLE_VIEWER, h_end },
    };
    struct console_menus *m = c ? calloc(1, sizeof *m) : NULL;
    if (!m)
        return NULL;
    m->o = *o;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (console_route(c, t[i].m, t[i].path, t[i].role, t[i].fn, m) != 0) {
            free(m);
            return NULL;
        }
    return m;
}

void console_menus_free(struct console_menus *m)
{
    free(m);
}
