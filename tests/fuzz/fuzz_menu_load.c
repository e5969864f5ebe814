/*
 * tests/fuzz/fuzz_menu_load.c — libFuzzer target for the menu loader.
 *
 * Input: YAML text; a NUL byte splits it into two "files" (so cross-file
 * checks are reached).  The loader must never crash, leak or hang, and
 * must be all-or-nothing: a set with errors is never returned.  When a set
 * loads, a few steps are run on it (start on every code, then inputs), and
 * every screen must fit 160 octets.
 * May call: menus (load, step), libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "menus/load.h"
#include "menus/step.h"
#include "tests/fuzz/fuzz.h"

static struct menu_output out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const char *text = (const char *)data;
    struct menu_source src[2];
    size_t n = 1;
    const char *nul = memchr(text, '\0', size);
    src[0].name = "a.yaml";
    src[0].text = text;
    src[0].len = nul ? (size_t)(nul - text) : size;
    if (nul) {
        src[1].name = "b.yaml";
        src[1].text = nul + 1;
        src[1].len = size - src[0].len - 1;
        n = 2;
    }
    struct menu_set *set = NULL;
    struct menu_errors errs = { 0 };
    int rc = menu_set_load_sources(src, n, NULL, 0, &set, &errs);
    if (rc == 0 && (!set || errs.n != 0))
        abort();
    if (rc != 0 && (set || errs.n + errs.dropped == 0))
        abort();
    menu_errors_free(&errs);
    if (!set)
        return 0;
    static const char *const inputs[] = { "1", "2", "99", "0", "00", "12345", "x", "3" };
    for (uint16_t c = 0; c < set->ncode && c < 4; c++) {
        struct menu_dialog d;
        menu_dialog_init(&d);
        struct menu_input in = { 0 };
        in.phone = "+996555000000";
        in.session_id = "s";
        in.event = MENU_EV_START;
        in.text = set->code[c].code;
        in.len = strlen(in.text);
        in.lang = set->lang[0];
        for (size_t k = 0; k < 12; k++) {
            if (menu_step(set, &d, &in, &out) == MENU_OK && out.show &&
                out.octets > MENU_SCREEN_OCTETS)
                abort();
            if (out.end)
                break;
            memset(&in, 0, sizeof in);
            in.phone = "+996555000000";
            in.session_id = "s";
            if (d.wait == MENU_W_HTTP) {
                in.event = k % 3 == 0 ? MENU_EV_HTTP_FAIL : MENU_EV_HTTP_OK;
            } else if (d.wait == MENU_W_APP) {
                in.event = MENU_EV_APP_CON;
                in.text = "Hi\n1. Go";
                in.len = strlen(in.text);
            } else {
                in.event = MENU_EV_INPUT;
                in.text = inputs[(k + size) % 8];
                in.len = strlen(in.text);
            }
        }
    }
    menu_set_unref(set);
    return 0;
}
