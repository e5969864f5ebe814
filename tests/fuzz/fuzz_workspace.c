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
 * flagged unreachable; every measure's pages fit 160 octets.
 * May call: gateway/workspace, menus, jansson, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
