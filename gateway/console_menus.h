/*
 * gateway/console_menus.h — the console's menu rooms (issue 10
 * console-ws): the draft workspace, its check, graph and length as you
 * type, the phone emulator, and the vendor scripts the pages load.
 *
 * Routes (registered by console_menus_new on the console; roles):
 *   GET    /console/menus                  viewer: the page (menus.html)
 *   GET    /console/api/draft              viewer: {"files": {name: {"text",
 *                                          "updated_by", "updated_at"}}}
 *   PUT    /console/api/draft/NAME {text}  editor: save one file (audited
 *                                          "draft.put": name and size)
 *   DELETE /console/api/draft/NAME         editor: remove it ("draft.delete")
 *   POST   /console/api/draft/from-live    editor: the draft becomes the
 *                                          live folder's files
 *                                          ("draft.from_live")
 *   POST   /console/api/draft/check        viewer: workspace_check of
 *                                          {"files"} or the stored draft
 *   POST   /console/api/draft/graph        viewer: workspace_graph, same
 *   POST   /console/api/measure            viewer: workspace_measure of
 *                                          {"text","lang","final","files"?}
 *   POST   /console/api/emulator/dial      viewer for the live set; editor
 *                                          for {"draft": true} (its files
 *                                          or the stored draft: its http
 *                                          nodes are guarded, see
 *                                          gateway/emulator.h)
 *   POST   /console/api/emulator/answer, /end   viewer (by session id)
 *   GET    /console/vendor/codemirror/..., /console/vendor/d3/...  viewer:
 *          Debian's libjs-codemirror and libjs-d3, read-only, through
 *          console_send_file (path-checked, O_NOFOLLOW, charset=utf-8)
 *
 * from-live reads the config's menus folder on the loop, bounded: at most
 * MENU_SET_MAX_FILES menu files (.yaml, .yml) of MENU_SET_MAX_BYTES (2 MiB) in
 * all, each at most STORE_DRAFT_TEXT_MAX, local disk (a few ms); a folder
 * beyond that is refused (413), never read further.
 *
 * Ownership: the creator (main.c) owns struct console_menus and frees it
 * with console_menus_free, before the console and the emulator.  It
 * borrows the console, the emulator and what the live callbacks return.
 * Emulator answers that wait for a back-end keep their console_req until
 * the emulator's done callback (the emulator is freed before the console,
 * so every one is answered).  Loop thread only.
 * May call: gateway/console, gateway/workspace, gateway/emulator,
 * gateway/store, menus/load, base/clock, jansson, libc.
 */
#ifndef KYZMAT_GATEWAY_CONSOLE_MENUS_H
#define KYZMAT_GATEWAY_CONSOLE_MENUS_H

#include <stdbool.h>
#include <stddef.h>

struct console;
struct emulator;
struct menu_set;

struct console_menus_opts {
    struct emulator *em;                        /* borrowed; NULL: 503 */
    struct menu_set *(*live)(void *ud);         /* the set in use (borrowed) */
    const char *(*live_dir)(void *ud);          /* the config's menus folder */
    void *ud;
};

struct console_menus;

/* Register the routes on c.  NULL when out of memory or the table is
 * full. */
struct console_menus *console_menus_new(struct console *c,
                                        const struct console_menus_opts *o);
void console_menus_free(struct console_menus *m);

/* The vendor folder and file for a path under /console/vendor/ (pure):
 * "/console/vendor/codemirror/lib/codemirror.js" -> *root
 * "/usr/share/javascript/codemirror", rel "lib/codemirror.js".  false when
 * the path names no vendor folder or its rest is not console_path_safe
 * or has no served content type. */
bool console_menus_vendor(const char *path, const char **root, const char **rel);

#endif
