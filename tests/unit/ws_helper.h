/*
 * tests/unit/ws_helper.h — what the workspace and emulator tests share
 * (header-only; static functions): a menu directory read into a draft's
 * files object {name: text}, as the console sends it.
 *
 * Owns: nothing (the caller owns the JSON it gets).
 * May call: menus/load (menu_file_name), jansson, libc, cmocka.
 */
#ifndef KYZMAT_TESTS_WS_HELPER_H
#define KYZMAT_TESTS_WS_HELPER_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "menus/load.h"

/* Every menu file of dir as {name: text}; the reads are asserted. */
static inline json_t *wh_files_of(const char *dir)
{
    json_t *files = json_object();
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!menu_file_name(de->d_name))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        json_object_set_new(files, de->d_name, json_stringn(buf, n));
    }
    closedir(d);
    return files;
}

#endif
