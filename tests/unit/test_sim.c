/*
 * tests/unit/test_sim.c — the simulator's own rooms below the SMSC core:
 * smpp/sim/jsonw (checked against jansson, whose output it replaces, on
 * escapes, non-UTF-8 keys and values, nesting and number limits),
 * smpp/sim/loop's grave (nothing is freed before the next loop pass, all
 * of it then or on close; its sim_event_free/sim_bev_free null what they
 * free), and smpp/sim/control on a real loop: a client
 * socket sends command lines and reads the answers and event lines.
 *
 * Waiting means running the loop one pass at a time and poll()ing the
 * client socket until a whole line is there or a deadline passes (never a
 * fixed sleep).
 * May call: smpp/sim/ (jsonw, loop, control, smsc), smpp/pdu, jansson (the
 * oracle), base/clock, libevent, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "base/clock.h"
#include "smpp/pdu.h"
#include "smpp/sim/control.h"
#include "smpp/sim/jsonw.h"
#include "smpp/sim/loop.h"
#include "smpp/sim/smsc.h"
#include "tests/unit/smpp_wire.h"

/* ------------------------------------------------------------------ */
/* jsonw against jansson                                               */

/* The same object written both ways: each string goes in as a key and
 * as a value, next to numbers, booleans, null, an array and an empty
 * object and array. */
static void same_as_jansson(const char *const *strs, size_t n)
{
    json_t *o = json_object();
    struct sim_json j;
    sim_json_init(&j);
    sim_json_obj(&j, NULL);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "s%zu", i);
        json_object_set_new(o, key, json_string(strs[i]));
        sim_json_str(&j, key, strs[i]);
        json_object_set_new(o, strs[i], json_integer((json_int_t)i));
        sim_json_int(&j, strs[i], (long long)i);
    }
    json_t *a = json_array();
    sim_json_arr(&j, "arr");
    const long long nums[] = { 0, -1, 1, LLONG_MAX, LLONG_MIN, 4294967296LL };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "n", json_integer(nums[i]));
        json_object_set_new(x, "b", json_boolean(i & 1));
        json_object_set_new(x, "z", json_null());
        json_array_append_new(a, x);
        sim_json_obj(&j, NULL);
        sim_json_int(&j, "n", nums[i]);
        sim_json_bool(&j, "b", (int)(i & 1));
        sim_json_null(&j, "z");
        sim_json_end(&j);
    }
    sim_json_end(&j);
    json_object_set_new(o, "arr", a);
    json_object_set_new(o, "empty", json_object());
    sim_json_obj(&j, "empty");
    sim_json_end(&j);
    json_object_set_new(o, "none", json_array());
    sim_json_arr(&j, "none");
    sim_json_end(&j);
    sim_json_end(&j);
    char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *got = sim_json_done(&j);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
    json_decref(o);
}

static void test_jsonw(void **state)
{
    (void)state;
    static const char *const plain[] = {
        "", "a", "kyzmat", "quote\"back\\slash/slash",
        "\n\r\t\b\f", "\x01\x1f\x7f", "Кыргызча текст", "€ 😀 ∑",
        "mixed \"Тил\"\n1. English",
    };
    same_as_jansson(plain, sizeof plain / sizeof plain[0]);
    /* not UTF-8 (as keys and values): jansson refuses them, jsonw leaves
     * them out the same way */
    static const char *const bad[] = {
        "ok", "\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf", "after",
    };
    same_as_jansson(bad, sizeof bad / sizeof bad[0]);

    /* a container under a bad key goes with everything inside it */
    struct sim_json j;
    sim_json_init(&j);
    sim_json_obj(&j, NULL);
    sim_json_int(&j, "a", 1);
    sim_json_obj(&j, "\xff");
    sim_json_int(&j, "x", 2);
    sim_json_arr(&j, "y");
    sim_json_int(&j, NULL, 3);
    sim_json_end(&j);
    sim_json_end(&j);
    sim_json_int(&j, "b", 4);
    sim_json_str(&j, "c", NULL);
    sim_json_end(&j);
    char *out = sim_json_done(&j);
    assert_string_equal(out, "{\"a\":1,\"b\":4}");
    free(out);

    /* unbalanced: no text */
    sim_json_init(&j);
    sim_json_obj(&j, NULL);
    assert_null(sim_json_done(&j));
    sim_json_init(&j);
    sim_json_end(&j);
    assert_null(sim_json_done(&j));
}

/* ------------------------------------------------------------------ */
/* The grave                                                           */

struct corpse {
    int *freed;
    struct sim_dead gone;
};

static void corpse_bury(struct sim_dead *d)
{
    struct corpse *c = SIM_OWNER(d, struct corpse, gone);
    (*c->freed)++;
    free(c);
}

static void test_grave(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct sim_grave g;
    assert_int_equal(sim_grave_init(&g, base), 0);
    int freed = 0;
    for (int i = 0; i < 3; i++) {
        struct corpse *c = calloc(1, sizeof *c);
        assert_non_null(c);
        c->freed = &freed;
        sim_grave_put(&g, &c->gone, corpse_bury);
    }
    assert_int_equal(freed, 0);            /* not inside the caller */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(freed, 3);            /* the next loop pass */
    struct corpse *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->freed = &freed;
    sim_grave_put(&g, &c->gone, corpse_bury);
    sim_grave_close(&g);                   /* the owner goes: at once */
    assert_int_equal(freed, 4);
    assert_null(g.ev);

    /* freeing what is set nulls it; NULL is nothing to do */
    struct event *ev = event_new(base, -1, 0, NULL, NULL);
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    assert_non_null(ev);
    assert_non_null(bev);
    sim_event_free(&ev);
    sim_bev_free(&bev);
    assert_null(ev);
    assert_null(bev);
    sim_event_free(&ev);
    sim_bev_free(&bev);
    event_base_free(base);

    struct timeval tv = sim_tv_ms(1500);
    assert_int_equal(tv.tv_sec, 1);
    assert_int_equal(tv.tv_usec, 500000);
    tv = sim_tv_us(2000001);
    assert_int_equal(tv.tv_sec, 2);
    assert_int_equal(tv.tv_usec, 1);
}

/* ------------------------------------------------------------------ */
/* The control port on a real loop                                     */

struct ct {
    struct event_base *base;
    struct smsc *s;
    int fd;
    char buf[16384];
    size_t len;
};

/* The next line from the control port (without "\n") into out, running
 * the loop meanwhile; "" when none came within ms. */
static void ct_line(struct ct *t, char *out, size_t cap, unsigned ms)
{
    uint64_t end = kz_mono_ms() + ms;
    for (;;) {
        char *nl = memchr(t->buf, '\n', t->len);
        if (nl) {
            size_t n = (size_t)(nl - t->buf);
            snprintf(out, cap, "%.*s", (int)n, t->buf);
            memmove(t->buf, nl + 1, t->len - n - 1);
            t->len -= n + 1;
            return;
        }
        if (kz_mono_ms() > end) {
            out[0] = '\0';
            return;
        }
        event_base_loop(t->base, EVLOOP_NONBLOCK);
        struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
        if (poll(&pfd, 1, 2) > 0) {
            ssize_t r = recv(t->fd, t->buf + t->len, sizeof t->buf - t->len - 1, 0);
            if (r > 0)
                t->len += (size_t)r;
            else if (r == 0) {
                out[0] = '\0';
                return;
            }
        }
    }
}

static void ct_send(struct ct *t, const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(send(t->fd, line, n, 0), (ssize_t)n);
    assert_int_equal(send(t->fd, "\n", 1, 0), 1);
}

/* Send a command, expect one answer line. */
static void ct_expect(struct ct *t, const char *cmd, const char *want)
{
    char got[16384];
    ct_send(t, cmd);
    ct_line(t, got, sizeof got, 2000);
    assert_string_equal(got, want);
}

static void test_control_port(void **state)
{
    (void)state;
    struct ct t;
    memset(&t, 0, sizeof t);
    t.base = event_base_new();
    assert_non_null(t.base);
    struct smsc_config cfg;
    smsc_config_defaults(&cfg);
    cfg.listen_port = 0;
    cfg.control_port = 0;
    cfg.quiet = 1;
    cfg.seed = 7;
    char err[200];
    t.s = smsc_new(t.base, &cfg, err, sizeof err);
    assert_non_null(t.s);
    assert_true(smsc_control_port(t.s) > 0);
    t.fd = wire_connect(smsc_control_port(t.s));

    char line[16384];
    ct_send(&t, "help");
    ct_line(&t, line, sizeof line, 2000);
    assert_true(strncmp(line, "ok commands: stats | drop", 25) == 0);
    /* each command and its one answer line, in this order */
    static const char *const said[][2] = {
        {"bogus", "err unknown command 'bogus' (try help)"},
        {"mo 1", "err usage: mo FROM TO TEXT"},
        {"mo 996555 100 hi", "err no bound receiver"},
        {"ussd 996555 1", "err no dialog open; dial with: ussd MSISDN *CODE#"},
        {"ussd-abort 996555", "err no dialog"},
        {"ussd-log 996555", "err no USSD dialog recorded for 996555"},
        {"throttle 3", "ok"},
        {"refuse-binds on", "ok"},
        {"refuse-binds off", "ok"},
        {"drop", "ok dropped 0"},
        {"subscribe *", "ok"},
        {"unsubscribe", "ok"},
    };
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        ct_expect(&t, said[i][0], said[i][1]);
    ct_send(&t, "stats");
    ct_line(&t, line, sizeof line, 2000);
    assert_true(strncmp(line, "ok {", 4) == 0);
    json_error_t je;
    json_t *st = json_loads(line + 3, 0, &je);
    assert_non_null(st);
    assert_int_equal(json_integer_value(json_object_get(st, "bound")), 0);
    assert_string_equal(json_string_value(json_object_get(st, "dialect")), "standard");
    assert_non_null(json_object_get(json_object_get(st, "accounts"), "kyzmat"));
    json_decref(st);
    /* an empty line has no answer: the next answer is the next command's */
    ct_send(&t, "");
    ct_expect(&t, "drop", "ok dropped 0");

    /* wait-bind answers as soon as a receiver binds */
    ct_send(&t, "wait-bind 5");
    int esme = wire_connect(smsc_smpp_port(t.s));
    struct smpp_pdu b;
    smpp_pdu_reset(&b, SMPP_BIND_TRANSCEIVER, 0, 1);
    b.system_id = "kyzmat";
    b.password = "secret";
    b.interface_version = 0x34;
    uint8_t wire[256];
    int n = wire_encode(&b, wire, sizeof wire);
    assert_int_equal(send(esme, wire, (size_t)n, 0), n);
    ct_line(&t, line, sizeof line, 3000);
    assert_string_equal(line, "ok bound");
    ct_expect(&t, "wait-bind", "ok bound");

    /* an event line for a subscriber, with its text escaped */
    ct_expect(&t, "subscribe 996555", "ok");
    ct_expect(&t, "ussd 996555 *100#", "ok session=7");
    assert_int_equal(smsc_ussd_session(t.s, "996555"), 7);
    ct_expect(&t, "ussd 996555 - again", "err dialog waits for the gateway");
    ct_expect(&t, "ussd-abort 996555", "ok");
    assert_int_equal(smsc_ussd_session(t.s, "996555"), -1);
    ct_send(&t, "ussd-log 996555");
    ct_line(&t, line, sizeof line, 2000);
    assert_true(strstr(line, "\"outcome\":\"abort\"") != NULL);
    ct_expect(&t, "mo 996555 100 two\\nlines", "ok parts=1");

    /* bye closes this client only; quit stops the loop */
    int other = wire_connect(smsc_control_port(t.s));
    int keep = t.fd;
    t.fd = other;
    ct_expect(&t, "bye", "ok bye");
    ct_line(&t, line, sizeof line, 2000);
    assert_string_equal(line, "");          /* closed */
    close(other);
    t.fd = keep;
    assert_false(smsc_quit_requested(t.s));
    ct_expect(&t, "quit", "ok quitting");
    assert_true(smsc_quit_requested(t.s));

    close(esme);
    close(t.fd);
    smsc_free(t.s);
    event_base_free(t.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonw),
        cmocka_unit_test(test_grave),
        cmocka_unit_test(test_control_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
