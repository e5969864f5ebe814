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
 * Effects are not carried out: the emulator never leaves the loop nor the
 * process (a draft must not reach agencies' back-ends or citizens):
 *  - sms: listed in the answer ("sms": [{"to","text","lang"}]), not sent;
 *  - remember language: kept in the session only;
 *  - http / app: not called; the node takes its on_error path (else the
 *    set's failure text) and a note says so, with the URL;
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
 * Ownership: the owner (the admin listener's handlers) owns the struct
 * emulator; it owns its sessions and their set references.  Requests are
 * borrowed, answers are the caller's.  Loop thread only; no I/O but
 * getrandom(2) for ids; no callbacks (nothing is waited for).
 * May call: menus (step, dialog, measure), gateway/workspace, jansson,
 * libc.
 */
#ifndef KYZMAT_GATEWAY_EMULATOR_H
#define KYZMAT_GATEWAY_EMULATOR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "menus/menu.h"

struct emulator;

/* max_sessions 0: 64; idle_ms 0: 10 minutes.  NULL when out of memory. */
struct emulator *emulator_new(size_t max_sessions, uint32_t idle_ms);
/* Drop every session and the emulator.  NULL is fine. */
void emulator_free(struct emulator *em);

/* Start a dialog (see the top).  live: the daemon's current set, or NULL
 * (then files are required); a session keeps its own reference. */
json_t *emulator_dial(struct emulator *em, const json_t *req,
                      struct menu_set *live, int64_t now_ms, int *status);
/* The citizen's answer, or a reserved key by name. */
json_t *emulator_answer(struct emulator *em, const json_t *req, int64_t now_ms,
                        int *status);
/* Hang up: drop the session. */
json_t *emulator_end(struct emulator *em, const json_t *req, int *status);

/* Drop the sessions idle for idle_ms; returns how many are left. */
size_t emulator_sweep(struct emulator *em, int64_t now_ms);

#endif
