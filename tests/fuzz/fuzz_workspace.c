/*
 * tests/fuzz/fuzz_workspace.c — libFuzzer target for the console's
 * workspace (gateway/workspace): a draft's files as JSON into check, graph
 * and measure.
 *
 * Input: JSON text, the request a browser sends ({"name.yaml": "text"}, or
 * anything else a hostile client might); input that is not JSON is taken
 * as YAML and split at a NUL byte into two files (so the loader, the draft
 * mode and the graph are reached from raw YAML too).  Never a crash, a
 * leak or a hang, and the answers agree: check and graph give the same
 * verdict; a draft that checks clean has a graph with every node, no node
 * flagged unreachable; every measure's pages fit 160 octets.  A clean
 * draft is dialled in the emulator (every code, a few answers): every
 * screen fits 160 octets and the session is gone once the dialog ends.
 * May call: gateway/workspace, gateway/emulator, menus, jansson, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/emulator.h"
#include "gateway/workspace.h"
#include "tests/fuzz/fuzz.h"

static json_t *files_of(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK, NULL);
    if (j)
        return j;
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t l0 = nul ? (size_t)(nul - text) : size;
    j = json_object();
    json_object_set_new(j, "a.yaml", json_stringn_nocheck(text, l0));
    if (nul)
        json_object_set_new(j, "b.yaml", json_stringn_nocheck(nul + 1, size - l0 - 1));
    return j;
}

static void check_measure(const json_t *m)
{
    if (!json_is_object(m))
        return;
    const json_t *pages = json_object_get(m, "page");
    for (size_t i = 0; i < json_array_size(pages); i++)
        CHECK(json_integer_value(json_object_get(json_array_get(pages, i), "octets")) <= 160);
}

static const json_t *screen_of(const json_t *a)
{
    const json_t *sc = json_object_get(a, "screen");
    if (json_is_object(sc))
        CHECK(json_integer_value(json_object_get(sc, "octets")) <= 160);
    return sc;
}

/* Dial each code (at most 4) of a clean draft and answer a few times. */
static void emulate(json_t *files, const json_t *codes, size_t seed)
{
    static const char *const inputs[] = { "1", "2", "99", "0", "00", "12345", "x", "3" };
    struct emulator *em = emulator_new(2, 0, NULL);
    CHECK(em != NULL);
    for (size_t c = 0; c < json_array_size(codes) && c < 4; c++) {
        int st;
        json_t *req = json_pack("{s:O, s:O}", "code", json_array_get(codes, c), "files", files);
        json_t *a = emulator_dial(em, req, NULL, 0, &st, NULL, NULL);
        json_decref(req);
        for (size_t k = 0; st == 200 && k < 10; k++) {
            screen_of(a);
            if (json_is_true(json_object_get(a, "end")))
                break;
            json_t *r = json_pack("{s:O, s:s}", "session", json_object_get(a, "session"),
                                  "text", inputs[(k + seed) % 8]);
            json_decref(a);
            a = emulator_answer(em, r, 0, &st, NULL, NULL);
            json_decref(r);
        }
        json_decref(a);
        CHECK(emulator_sweep(em, 0) <= 1);
        CHECK(emulator_sweep(em, 1000 * 1000) == 0);
    }
    emulator_free(em);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    json_t *files = files_of(data, size);
    json_t *c = workspace_check(files);
    json_t *g = workspace_graph(files);
    CHECK(c && g);
    bool ok = json_is_true(json_object_get(c, "ok"));
    CHECK(ok == json_is_true(json_object_get(g, "ok")));
    const json_t *graph = json_object_get(g, "graph");
    if (ok) {
        const json_t *nodes = json_object_get(graph, "nodes");
        CHECK(json_array_size(nodes) ==
              (size_t)json_integer_value(json_object_get(c, "nodes")));
        for (size_t i = 0; i < json_array_size(nodes); i++) {
            const json_t *n = json_array_get(nodes, i);
            CHECK(!json_is_true(json_object_get(n, "unreachable")));
            const char *lang;
            const json_t *t;
            json_object_foreach((json_t *)json_object_get(n, "texts"), lang, t)
                check_measure(json_object_get(t, "measure"));
        }
        emulate(files, json_object_get(c, "codes"), size);
    }
    /* the first string of the draft, measured as typed */
    const char *name;
    json_t *v;
    if (json_is_object(files)) {
        json_object_foreach(files, name, v) {
            if (!json_is_string(v))
                continue;
            size_t l = json_string_length(v);
            json_t *m = workspace_measure(json_string_value(v), l > 4000 ? 4000 : l,
                                          "ru", size & 1, NULL);
            check_measure(m);
            json_decref(m);
            break;
        }
    }
    json_decref(c);
    json_decref(g);
    json_decref(files);
    return 0;
}
