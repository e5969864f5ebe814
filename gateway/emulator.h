/*
 * gateway/emulator.h — the console's phone emulator: dial a code of a
 * draft or of the live menu set, answer, go back, end, and see each
 * screen exactly as the handset gets it.
 *
 * What it does: an emulator session is one USSD dialog run by the
 * gateway's own step engine (menus/step: menu_step, the same function a
 * real dial goes through) on a set it holds a reference to — a draft
 * loaded from the request's files (gateway/workspace, strictly: a draft
 * with errors cannot be dialled) or the live set the daemon passes in.
 * Every answer carries the screen text, its encoding (GSM-7 / UCS-2, the
 * data_coding the link would use), octets used of 160, characters of the
 * 182 / 80 limit, and the page shown of how many (the gateway's own
 * pagination), in the language chosen at dial time (ky, ru, en: any
 * language of the set; none: the set's language menu comes first).
 *
 * Effects (a draft must not reach citizens nor the agencies' data):
 *  - http: with a fetch (emulator_new) and a done callback, the node's URL
 *    is called through gateway/fetch, on the loop, never blocking it (point
 *    the draft's back-end at a test URL); the answer then comes later,
 *    through done, and a note gives the call and its outcome.  A draft's
 *    calls (a dial with "files") are guarded (fetch_req.guard: no
 *    loopback, link-local or metadata address unless callbacks.allow
 *    names it; issue 10 console-ws); the live set's are not.  Without
 *    either, the node is not called: its on_error path (else the set's
 *    failure text) follows and a note names the URL;
 *  - app: not called (its on_error path, with a note);
 *  - sms: listed in the answer ("sms": [{"to","text","lang"}]), not sent;
 *  - remember language: kept in the session only;
 *  - status / subscribe (the gateway's store, or an agency's API): not
 *    read; "not found" (the neutral answer) unless the dial asked for a
 *    simulated application ("status": {"status": "ready", "updated":
 *    "20.11.2026"}), then found with those values;
 *  - booking: the store is not read; its on_error path, with a note.
 * Each of these adds a line to "notes".
 *
 * Requests and answers (JSON; *status is the HTTP status to send):
 *  dial   {"code": "*100#", "lang"?: "ru", "files"?: {draft},
 *          "phone"?: "+996...", "status"?: {...}}   (no files: the live set)
 *  answer {"session": id, "text": "1"} or {"session": id, "key":
 *          "back" | "home" | "more"}
 *  end    {"session": id}
 *  answer shape: {"session", "node", "end", "lang", "screen": {"text",
 *          "encoding", "data_coding", "octets", "limit_octets", "chars",
 *          "units", "limit", "page", "pages"}, "notes": [..], "sms": [..]}
 *          (page counts from 1); errors: {"error": "..."} (and "errors"
 *          for a draft that does not load).
 * A dialog that ends removes its session; so does idleness (idle_ms
 * since the last request) and emulator_end.  At most max_sessions live
 * at once (503 beyond, after dropping the idle ones).  Session ids are
 * 128 random bits in hex.
 *
 * Answers now or later: emulator_dial and emulator_answer return the
 * answer, or NULL with *status 0 when an http node's call runs; then
 * done(arg, answer, status) follows exactly once from the loop (the
 * answer is done's to json_decref).  If the session goes first (end,
 * expiry, emulator_free), done gets a 410 (503 at emulator_free) answer
 * instead, from inside that call.  A session waiting for its call refuses
 * answers (409).  done may call the emulator again, but never
 * emulator_free.
 *
 * Ownership: the owner (the admin listener's handlers) owns the struct
 * emulator; it owns its sessions, their set references and their calls
 * in flight (cancelled when a session goes).  The fetch is the owner's and
 * must outlive the emulator.  Requests are borrowed, answers are the
 * caller's.  Loop thread only; no I/O of its own but getrandom(2) for ids.
 * May call: menus (step, dialog, measure), gateway/workspace,
 * gateway/fetch, jansson, libc.
 */
#ifndef KYZMAT_GATEWAY_EMULATOR_H
#define KYZMAT_GATEWAY_EMULATOR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "menus/menu.h"

struct emulator;
struct fetch;

/* The answer to a request that waited for a back-end call. */
typedef void (*emulator_done_fn)(void *arg, json_t *answer, int status);

/* max_sessions 0: 64; idle_ms 0: 10 minutes; f: the client http nodes
 * are called with (NULL: never called).  NULL when out of memory. */
struct emulator *emulator_new(size_t max_sessions, uint32_t idle_ms, struct fetch *f);
/* Drop every session and the emulator.  NULL is fine. */
void emulator_free(struct emulator *em);

/* Start a dialog (see the top).  live: the daemon's current set, or NULL
 * (then files are required); a session keeps its own reference.  done
 * (may be NULL: http nodes are then not called) and arg: see the top. */
json_t *emulator_dial(struct emulator *em, const json_t *req, struct menu_set *live,
                      int64_t now_ms, int *status, emulator_done_fn done, void *arg);
/* The citizen's answer, or a reserved key by name. */
json_t *emulator_answer(struct emulator *em, const json_t *req, int64_t now_ms,
                        int *status, emulator_done_fn done, void *arg);
/* Hang up: drop the session. */
json_t *emulator_end(struct emulator *em, const json_t *req, int *status);

/* Drop the sessions idle for idle_ms; returns how many are left. */
size_t emulator_sweep(struct emulator *em, int64_t now_ms);

#endif
