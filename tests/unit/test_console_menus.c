/*
 * tests/unit/test_console_menus.c — cmocka tests of the console menu
 * rooms' pure part (issue 10 console-ws, gateway/console_menus): the
 * mapping of /console/vendor/... paths onto Debian's libjs-codemirror and
 * libjs-d3 folders, which refuses traversal, hidden files, unknown
 * folders and file types that are not served.
 *
 * Owns: nothing.
 * May call: gateway/console_menus.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/console_menus.h"

static void test_vendor_paths(void **state)
{
    (void)state;
    const char *root = NULL, *rel = NULL;
    assert_true(console_menus_vendor("/console/vendor/codemirror/lib/codemirror.js", &root, &rel));
    assert_string_equal(root, "/usr/share/javascript/codemirror");
    assert_string_equal(rel, "lib/codemirror.js");
    assert_true(console_menus_vendor("/console/vendor/codemirror/mode/yaml/yaml.js", &root, &rel));
    assert_string_equal(rel, "mode/yaml/yaml.js");
    assert_true(console_menus_vendor("/console/vendor/d3/d3.min.js", &root, &rel));
    assert_string_equal(root, "/usr/share/javascript/d3");
    assert_string_equal(rel, "d3.min.js");
    static const char *const refused[] = {
        "/console/vendor/codemirror/../../../etc/passwd.js",
        "/console/vendor/codemirror/lib/../../d3/d3.js",
        "/console/vendor/codemirror/.hidden.js",
        "/console/vendor/codemirror//lib/codemirror.js",
        "/console/vendor/codemirror/lib%2fcodemirror.js",
        "/console/vendor/codemirror/lib/codemirror.sh",   /* not a served type */
        "/console/vendor/codemirror/",
        "/console/vendor/jquery/jquery.js",                /* not a vendor folder */
        "/console/vendor/d3",
        "/console/static/console.js",
        "",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        root = rel = NULL;
        assert_false(console_menus_vendor(refused[i], &root, &rel));
        assert_null(root);
    }
    assert_false(console_menus_vendor(NULL, &root, &rel));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vendor_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
