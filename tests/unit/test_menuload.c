/*
 * tests/unit/test_menuload.c — a menu set loaded on a worker thread and
 * handed back on the loop (gateway/menuload, issue 14 item 5): the result
 * arrives through the loop on the loop's thread, one load at a time, the
 * loop keeps turning while a slow set loads, a load may start from the
 * done callback (the coalesced SIGHUP), and freeing while a load runs or
 * from inside done leaks nothing (run it under valgrind and ASan).
 * May call: gateway/menuload, menus/menu, libevent, pthreads, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/menuload.h"

struct seen {
    struct event_base *base;
    struct menuload *ml;
    int calls;
    pthread_t thread;          /* where done ran */
    struct menu_set *set;      /* taken from the result */
    size_t nerr, bytes;
    uint64_t ms;
    char dir[256];
    const char *restart;       /* start this dir from done, once */
    bool free_in_done;
    int ticks;                 /* loop timer ticks while loading */
};

static void on_done(void *ud, struct menuload_result *r)
{
    struct seen *s = ud;
    s->calls++;
    s->thread = pthread_self();
    menu_set_unref(s->set);
    s->set = r->set;
    r->set = NULL;
    s->nerr = r->errs.n + r->errs.dropped;
    s->bytes = r->bytes;
    s->ms = r->ms;
    snprintf(s->dir, sizeof s->dir, "%s", r->dir);
    assert_false(menuload_busy(s->ml));
    if (s->restart) {
        char err[128];
        assert_int_equal(menuload_start(s->ml, s->restart, 0, err, sizeof err), 0);
        s->restart = NULL;
        return;
    }
    if (s->free_in_done) {
        menuload_free(s->ml);    /* deferred until done returns */
        s->ml = NULL;
    }
    event_base_loopbreak(s->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ((struct seen *)arg)->ticks++;
}

/* A temporary menu directory holding one file: head, repeat times text,
 * tail; returns its name. */
static char *tmp_menus(const char *head, const char *text, size_t repeat,
                       const char *tail)
{
    char tmpl[] = "/tmp/kz-menuload-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char path[300];
    snprintf(path, sizeof path, "%s/10-set.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(head, f);
    for (size_t i = 0; i < repeat; i++)
        fputs(text, f);
    fputs(tail, f);
    fclose(f);
    return strdup(dir);
}

static void rm_menus(char *dir)
{
    char path[300];
    snprintf(path, sizeof path, "%s/10-set.yaml", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void setup(struct seen *s)
{
    memset(s, 0, sizeof *s);
    s->base = event_base_new();
    assert_non_null(s->base);
    s->ml = menuload_new(s->base, on_done, s);
    assert_non_null(s->ml);
}

/* Start loading dir; it must be accepted. */
static void start(struct seen *s, const char *dir)
{
    char err[128];
    assert_int_equal(menuload_start(s->ml, dir, 0, err, sizeof err), 0);
}

/* Load dir and turn the loop until done has run. */
static void load(struct seen *s, const char *dir)
{
    start(s, dir);
    event_base_dispatch(s->base);
}

static void teardown(struct seen *s)
{
    menuload_free(s->ml);
    menu_set_unref(s->set);
    event_base_free(s->base);
}

static void good_set_comes_back_on_the_loop_thread(void **state)
{
    (void)state;
    struct seen s;
    setup(&s);
    char err[128];
    assert_int_equal(menuload_start(s.ml, "menus/examples", 0, err, sizeof err), 0);
    assert_true(menuload_busy(s.ml));
    assert_int_equal(s.calls, 0);             /* never from start itself */
    /* one at a time */
    assert_int_equal(menuload_start(s.ml, "menus/examples", 0, err, sizeof err), -1);
    assert_string_equal(err, "a menu load is already running");
    event_base_dispatch(s.base);
    assert_int_equal(s.calls, 1);
    assert_true(pthread_equal(s.thread, pthread_self()));
    assert_non_null(s.set);
    assert_true(s.set->nnode > 10);
    assert_int_equal(s.nerr, 0);
    assert_true(s.bytes > 1000);
    assert_string_equal(s.dir, "menus/examples");
    assert_false(menuload_busy(s.ml));
    assert_int_equal(menuload_elapsed_ms(s.ml), 0);
    teardown(&s);
}

static void bad_set_comes_back_with_its_errors(void **state)
{
    (void)state;
    struct seen s;
    setup(&s);
    char *dir = tmp_menus("x: [", "", 0, "\n");
    load(&s, dir);
    assert_int_equal(s.calls, 1);
    assert_null(s.set);
    assert_true(s.nerr >= 1);
    assert_int_equal(s.bytes, 5);
    /* a directory that does not exist: an error too, not a hang */
    load(&s, "/nonexistent/kz-menus");
    assert_int_equal(s.calls, 2);
    assert_null(s.set);
    assert_int_equal(s.nerr, 1);
    assert_int_equal(s.bytes, 0);
    rm_menus(dir);
    teardown(&s);
}

static void loop_keeps_turning_while_a_slow_set_loads(void **state)
{
    (void)state;
    struct seen s;
    setup(&s);
    /* a flat sequence of 200 kB: libfyaml takes a noticeable time over
     * it (about 0.1 s; seconds under valgrind), the loop must not */
    char *dir = tmp_menus("x: [", "1,", 100000, "1]\n");
    struct event *tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
    struct timeval every = { 0, 2000 };
    assert_int_equal(event_add(tick, &every), 0);
    load(&s, dir);
    assert_int_equal(s.calls, 1);
    assert_null(s.set);                       /* "x" is no menu key */
    assert_true(s.bytes > 200000);
    /* the timer ran during the load: at least one tick per 50 ms of it
     * (it is due every 2 ms).  Under valgrind (run-tests.sh exports
     * KYZMAT_WRAP) threads run one at a time in slices, so only one tick
     * per 500 ms is asked: the loop still turns, just not often */
    print_message("load: %" PRIu64 " ms, %d loop ticks meanwhile\n", s.ms, s.ticks);
    uint64_t per = getenv("KYZMAT_WRAP") ? 500 : 50;
    assert_true((uint64_t)s.ticks >= 1 + s.ms / per);
    event_free(tick);
    rm_menus(dir);
    teardown(&s);
}

static void done_may_start_the_next_load(void **state)
{
    (void)state;
    struct seen s;
    setup(&s);
    char *dir = tmp_menus("x: [", "", 0, "\n");
    s.restart = "menus/examples";             /* a SIGHUP came meanwhile */
    load(&s, dir);
    assert_int_equal(s.calls, 2);
    assert_non_null(s.set);
    assert_string_equal(s.dir, "menus/examples");
    rm_menus(dir);
    teardown(&s);
}

static void free_while_loading_joins_the_thread(void **state)
{
    (void)state;
    struct seen s;
    setup(&s);
    char *dir = tmp_menus("x: [", "1,", 50000, "1]\n");
    start(&s, dir);
    menuload_free(s.ml);                      /* joins; the result is dropped */
    s.ml = NULL;
    assert_int_equal(s.calls, 0);
    /* a good set dropped the same way: its reference is released */
    s.ml = menuload_new(s.base, on_done, &s);
    start(&s, "menus/examples");
    usleep(1000);
    menuload_free(s.ml);
    s.ml = NULL;
    assert_int_equal(s.calls, 0);
    rm_menus(dir);
    teardown(&s);
}

static void free_inside_done_is_deferred(void **state)
{
    (void)state;
    struct seen s;
    setup(&s);
    s.free_in_done = true;
    load(&s, "menus/examples");
    assert_int_equal(s.calls, 1);
    assert_null(s.ml);
    assert_non_null(s.set);
    teardown(&s);
}

/* issue 10 publish: files held in memory (a stored version) load on the
 * worker too: copied at start (the caller's buffers may go at once), the
 * label names the load, a broken one comes back with its errors. */
static void sources_load_from_memory(void **state)
{
    (void)state;
    static const char settings[] =
        "settings:\n  languages: [en]\n  default_language: en\n"
        "  keys: { back: \"0\", home: \"00\", more: \"99\" }\n"
        "  labels:\n    back: { en: Back }\n    home: { en: Home }\n"
        "    more: { en: More }\n  messages:\n    failure: { en: Down }\n";
    static const char main_ok[] =
        "nodes:\n  - id: bye\n    type: end\n    text: { en: \"Bye\" }\n"
        "codes:\n  \"*100#\": bye\n";
    struct seen s;
    setup(&s);
    char *a = strdup(settings), *b = strdup(main_ok);
    struct menu_source src[2] = { { "00-settings.yaml", a, strlen(a) },
                                  { "10-main.yaml", b, strlen(b) } };
    char err[128];
    assert_int_equal(menuload_start_sources(s.ml, "version 7", src, 2, 0, err,
                                            sizeof err), 0);
    assert_int_equal(menuload_start_sources(s.ml, "version 8", src, 2, 0, err,
                                            sizeof err), -1);
    free(a);                   /* copied: gone before the worker reads */
    free(b);
    event_base_dispatch(s.base);
    assert_int_equal(s.calls, 1);
    assert_non_null(s.set);
    assert_int_equal(s.nerr, 0);
    assert_string_equal(s.dir, "version 7");
    assert_int_equal(s.bytes, strlen(settings) + strlen(main_ok));
    menu_set_unref(s.set);
    s.set = NULL;
    struct menu_source bad[1] = { { "10-main.yaml", main_ok, strlen(main_ok) } };
    assert_int_equal(menuload_start_sources(s.ml, "version 9", bad, 1, 0, err,
                                            sizeof err), 0);
    event_base_dispatch(s.base);
    assert_int_equal(s.calls, 2);
    assert_null(s.set);
    assert_true(s.nerr > 0);   /* no settings */
    teardown(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_set_comes_back_on_the_loop_thread),
        cmocka_unit_test(bad_set_comes_back_with_its_errors),
        cmocka_unit_test(loop_keeps_turning_while_a_slow_set_loads),
        cmocka_unit_test(done_may_start_the_next_load),
        cmocka_unit_test(free_while_loading_joins_the_thread),
        cmocka_unit_test(free_inside_done_is_deferred),
        cmocka_unit_test(sources_load_from_memory),   /* issue 10 publish */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
