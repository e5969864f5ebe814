/*
 * tests/unit/test_dialogs.c — the dialog store (gateway/dialogs) on both
 * back-ends.
 *
 * Every behavioural test runs twice, once per entry of `backends[]`: the
 * in-process table and a real redis-server that the group set-up starts on
 * a free port (tests/unit/redis_helper.h; stopped by pid in the group
 * tear-down, and by PR_SET_PDEATHSIG if the test binary dies).  The Redis
 * stores use database 3, so the SELECT after connect is exercised.  Tests
 * that only make sense for one back-end (another client seeing our writes,
 * Redis killed / frozen / paused, the memory table full or swept) follow.
 *
 * Loop driving: run_until() turns the event_base until a condition holds or
 * a deadline passes; a 5 ms ticker keeps the loop waking so deadlines are
 * checked.  Nothing sleeps a fixed time.
 *
 * May call: gateway/dialogs, hiredis (blocking, through redis_helper.h),
 * libevent, cmocka, libc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <event2/event.h>

#include "base/clock.h"
#include "gateway/dialogs.h"
#include "tests/unit/redis_helper.h"

#define REDIS_DB 3

static struct event_base *base;
static int rport;
static pid_t rpid = -1;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

typedef bool (*cond_fn)(void *arg);

/* Turn the loop until cond(arg) holds; false when timeout_ms passed first. */
static bool run_until(cond_fn cond, void *arg, unsigned timeout_ms)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 5000 };
    event_add(tick, &tv);
    uint64_t end = kz_mono_ms() + timeout_ms;
    bool ok;
    while (!(ok = cond(arg)) && kz_mono_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return ok;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* Let the loop run for ms, waiting for nothing in particular. */
static void spin(unsigned ms)
{
    run_until(never, NULL, ms);
}

/* ---- recording callbacks ----------------------------------------------- */

struct rec {
    int calls;
    enum dialogs_status st;
    uint8_t val[70000];
    size_t len;
    bool had_value;
    char err[256];
    uint64_t at_ms;
    const bool *returned;   /* when set: must be true when the callback runs */
    bool early;             /* the callback ran before the call returned */
    int seq;                /* order of completion (global counter) */
};

static int completion_seq;

static void rec_cb(void *arg, const struct dialogs_result *res)
{
    struct rec *r = arg;
    r->calls++;
    r->st = res->status;
    r->at_ms = kz_mono_ms();
    r->seq = ++completion_seq;
    if (r->returned && !*r->returned)
        r->early = true;
    r->had_value = res->value != NULL;
    r->len = res->len;
    if (res->value && res->len <= sizeof r->val)
        memcpy(r->val, res->value, res->len);
    snprintf(r->err, sizeof r->err, "%s", res->error ? res->error : "");
    if (res->status == DIALOGS_OK)
        assert_null(res->error);
    else
        assert_non_null(res->error);
}

static bool rec_done(void *arg)
{
    return ((struct rec *)arg)->calls > 0;
}

static struct rec *rec_new(void)
{
    return calloc(1, sizeof(struct rec));
}

struct states {
    int ups, downs;
    char reason[256];
};

static void state_cb(void *arg, enum dialogs_state s, const char *reason)
{
    struct states *t = arg;
    if (s == DIALOGS_UP) {
        t->ups++;
        assert_null(reason);
    } else {
        t->downs++;
        assert_non_null(reason);
        snprintf(t->reason, sizeof t->reason, "%s", reason);
    }
}

/* ---- back-ends ----------------------------------------------------------- */

struct backend {
    const char *name;
    bool redis;
};

static const struct backend be_memory = { "memory", false };
static const struct backend be_redis = { "redis", true };

/* Stores made by the tests, freed by teardown_each if a failed assertion
 * left them behind (so a failure does not also report leaks). */
static struct dialogs *live[8];

static struct dialogs *track(struct dialogs *d)
{
    for (int i = 0; i < 8; i++)
        if (!live[i]) {
            live[i] = d;
            break;
        }
    return d;
}

static void store_free(struct dialogs *d)
{
    for (int i = 0; i < 8; i++)
        if (live[i] == d)
            live[i] = NULL;
    dialogs_free(d);
}

static bool is_up(void *arg)
{
    return dialogs_state(arg) == DIALOGS_UP;
}

static void redis_url(char *buf, size_t cap, int port)
{
    snprintf(buf, cap, "redis://127.0.0.1:%d/%d", port, REDIS_DB);
}

static void test_opts(struct dialogs_opts *o)
{
    memset(o, 0, sizeof *o);
    o->request_timeout_ms = 3000;   /* generous: valgrind is slow */
    o->backoff_min_ms = 20;
    o->backoff_max_ms = 200;
}

/* test_opts() with state reports to cb(arg). */
static void watched_opts(struct dialogs_opts *o, dialogs_state_cb cb, void *arg)
{
    test_opts(o);
    o->on_state = cb;
    o->state_arg = arg;
}

/* A store on the back-end, UP.  opts may be NULL (test_opts()). */
static struct dialogs *make_store(const struct backend *be,
                                  const struct dialogs_opts *opts)
{
    struct dialogs_opts o;
    if (!opts) {
        test_opts(&o);
        opts = &o;
    }
    if (!be->redis) {
        struct dialogs *d = track(dialogs_new_memory(base, opts));
        assert_non_null(d);
        assert_string_equal(dialogs_describe(d), "memory");
        return d;
    }
    char url[64], err[256];
    redis_url(url, sizeof url, rport);
    struct dialogs *d = track(dialogs_new_redis(base, url, opts, err, sizeof err));
    if (!d)
        fail_msg("dialogs_new_redis: %s", err);
    assert_true(run_until(is_up, d, 5000));
    return d;
}

static void do_set(struct dialogs *d, const char *key, const void *v,
                   size_t n, unsigned ttl, enum dialogs_status want)
{
    struct rec *r = rec_new();
    assert_int_equal(dialogs_set(d, key, strlen(key), v, n, ttl, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->calls, 1);
    if (r->st != want)
        fail_msg("SET %s: %s (%s), wanted %s", key, dialogs_status_name(r->st),
                 r->err, dialogs_status_name(want));
    free(r);
}

/* GET of key[0..len); returns the record (caller frees). */
static struct rec *do_get_n(struct dialogs *d, const char *key, size_t len)
{
    struct rec *r = rec_new();
    assert_int_equal(dialogs_get(d, key, len, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->calls, 1);
    return r;
}

static struct rec *do_get(struct dialogs *d, const char *key)
{
    return do_get_n(d, key, strlen(key));
}

static enum dialogs_status do_del(struct dialogs *d, const char *key)
{
    struct rec *r = rec_new();
    assert_int_equal(dialogs_del(d, key, strlen(key), rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->calls, 1);
    enum dialogs_status st = r->st;
    free(r);
    return st;
}

static void flush_redis(void)
{
    redisReply *r = rh_command(rport, "FLUSHALL");
    assert_non_null(r);
    freeReplyObject(r);
}

/* One command on a fresh blocking connection after AUTH (when pass is
 * set; user may be NULL) and SELECT db (SELECT is per connection);
 * `line` is split at spaces into arguments.  NULL when anything failed.
 * Caller frees the reply. */
static redisReply *db_command(int port, const char *user, const char *pass,
                              int db, const char *line)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    bool ok = true;
    if (pass) {
        r = user ? redisCommand(c, "AUTH %s %s", user, pass)
                 : redisCommand(c, "AUTH %s", pass);
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (ok) {
        r = redisCommand(c, "SELECT %d", db);
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    char buf[256];
    const char *argv[16];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && argc < 16;
         tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    r = ok ? redisCommandArgv(c, argc, argv, NULL) : NULL;
    redisFree(c);
    return r;
}

static int setup_each(void **state)
{
    const struct backend *be = *state;
    base = event_base_new();
    completion_seq = 0;
    if (be && be->redis)
        flush_redis();
    return base ? 0 : -1;
}

static int teardown_each(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++)
        if (live[i]) {
            dialogs_free(live[i]);
            live[i] = NULL;
        }
    event_base_free(base);
    base = NULL;
    return 0;
}

/* ---- pure parts -------------------------------------------------------- */

static void t_keys(void **state)
{
    (void)state;
    char k[DIALOGS_KEY_MAX + 1];
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "996555123456", NULL), 19);
    assert_string_equal(k, "kz:d:{996555123456}");
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_LANG, "+996555123456", ""), 20);
    assert_string_equal(k, "kz:l:{+996555123456}");
    assert_true(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "996555123456", "17") > 0);
    assert_string_equal(k, "kz:d:{996555123456}:17");
    /* invalid: empty, bad characters, hash-tag breakers, '+' alone/inside */
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "", NULL), -1);
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "+", NULL), -1);
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "99}6", NULL), -1);
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "99+6", NULL), -1);
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "996", "a}b"), -1);
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "996", "a:b"), -1);
    assert_int_equal(dialogs_key(k, sizeof k, 'x', "996", NULL), -1);
    /* boundaries: 32-digit MSISDN and 32-character suffix fit; 33 do not */
    char m[40], s[40];
    memset(m, '7', 32);
    m[32] = '\0';
    memset(s, 'a', 32);
    s[32] = '\0';
    int n = dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, m, s);
    assert_int_equal(n, 6 + 32 + 2 + 32);
    m[32] = '7';
    m[33] = '\0';
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, m, NULL), -1);
    m[32] = '\0';
    s[32] = 'a';
    s[33] = '\0';
    assert_int_equal(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, m, s), -1);
    /* too small a buffer */
    assert_int_equal(dialogs_key(k, 19, DIALOGS_KEY_DIALOG, "996555123456", NULL), -1);
    assert_int_equal(dialogs_key(k, 20, DIALOGS_KEY_DIALOG, "996555123456", NULL), 19);
}

static void t_url(void **state)
{
    (void)state;
    struct dialogs_redis_url u;
    char err[128];
    assert_int_equal(dialogs_parse_url("redis://127.0.0.1:6380/2", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_int_equal(dialogs_parse_url("redis://cache.local", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "cache.local");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(dialogs_parse_url("redis://[::1]:7000/", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");
    /* user info: requirepass form, ACL form, %-escapes, '@' and ':' inside */
    assert_int_equal(dialogs_parse_url("redis://:s3cret@127.0.0.1:6380/2", &u, err,
                                       sizeof err), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_int_equal(dialogs_parse_url("redis://app:p%40ss:w%2Fd@[::1]:7000/5", &u, err,
                                       sizeof err), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss:w/d");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.db, 5);
    assert_int_equal(dialogs_parse_url("redis://a:b@c@cache", &u, err, sizeof err), 0);
    assert_string_equal(u.password, "b@c");     /* the last '@' ends user info */
    assert_string_equal(u.host, "cache");
    const char *bad[] = {
        "", "http://x", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536",
        "redis://h:12x", "redis://h/x", "redis://h/1/2", "redis://pw@h",
        "redis://:@h", "redis://u:@h", "redis://:pw@", "redis://:p%4@h",
        "redis://:p%zz@h", "redis://:p%00w@h", "redis://:p w@h",
        "redis://h?db=1", "redis://[::1", "redis://h:/1", "redis://h h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (dialogs_parse_url(bad[i], &u, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != '\0');
        /* reasons never quote the user info */
        assert_null(strstr(err, "pw"));
        assert_null(strstr(err, "p%"));
    }
    /* redaction for logs */
    char red[128];
    assert_string_equal(dialogs_redact_url("redis://app:s3cret@h:1/2", red, sizeof red),
                        "redis://app:***@h:1/2");
    assert_string_equal(dialogs_redact_url("redis://:s3cret@h", red, sizeof red),
                        "redis://:***@h");
    assert_string_equal(dialogs_redact_url("redis://a:b@c@h/0", red, sizeof red),
                        "redis://a:***@h/0");
    assert_string_equal(dialogs_redact_url("redis://s3cret@h", red, sizeof red),
                        "redis://***@h");
    assert_string_equal(dialogs_redact_url("redis://h:1/2", red, sizeof red),
                        "redis://h:1/2");
    assert_string_equal(dialogs_redact_url("", red, sizeof red), "");
    assert_string_equal(dialogs_redact_url("redis://:s3cret@h", red, 12), "redis://:**");
    /* a bad URL or unknown name fails at creation, with a reason */
    base = event_base_new();
    assert_null(dialogs_new_redis(base, "redis://u@h", NULL, err, sizeof err));
    assert_non_null(strstr(err, "PASSWORD"));
    assert_null(dialogs_new_redis(base, "redis://no-such-host.invalid:1/0", NULL,
                                  err, sizeof err));
    assert_non_null(strstr(err, "no-such-host.invalid"));
    /* dialogs_new: "" is the memory store */
    struct dialogs *d = dialogs_new(base, "", NULL, err, sizeof err);
    assert_non_null(d);
    assert_string_equal(dialogs_describe(d), "memory");
    store_free(d);
    event_base_free(base);
    base = NULL;
}

/* ---- behaviour, both back-ends ------------------------------------------- */

static void t_set_get_del(void **state)
{
    struct dialogs *d = make_store(*state, NULL);
    const char *k = "kz:d:{996555000001}";
    do_set(d, k, "hello", 5, 0, DIALOGS_OK);
    struct rec *g = do_get(d, k);
    assert_int_equal(g->st, DIALOGS_OK);
    assert_int_equal(g->len, 5);
    assert_memory_equal(g->val, "hello", 5);
    free(g);
    do_set(d, k, "second value", 12, 60000, DIALOGS_OK);    /* replaces */
    g = do_get(d, k);
    assert_int_equal(g->st, DIALOGS_OK);
    assert_int_equal(g->len, 12);
    assert_memory_equal(g->val, "second value", 12);
    free(g);
    assert_int_equal(do_del(d, k), DIALOGS_OK);
    g = do_get(d, k);
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    free(g);
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.sets, 2);
    assert_int_equal(s.gets, 3);
    assert_int_equal(s.dels, 1);
    assert_int_equal(s.ok, 5);
    assert_int_equal(s.not_found, 1);
    assert_int_equal(s.inflight, 0);
    store_free(d);
}

static void t_not_found(void **state)
{
    struct dialogs *d = make_store(*state, NULL);
    struct rec *g = do_get(d, "kz:d:{996555000404}");
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    assert_false(g->had_value);
    assert_int_equal(g->len, 0);
    free(g);
    assert_int_equal(do_del(d, "kz:d:{996555000404}"), DIALOGS_NOT_FOUND);
    store_free(d);
}

static void t_ttl_expiry(void **state)
{
    const struct backend *be = *state;
    struct dialogs *d = make_store(be, NULL);
    const char *k = "kz:d:{996555000100}";
    uint64_t t0 = kz_mono_ms();
    do_set(d, k, "short", 5, 100, DIALOGS_OK);
    struct rec *g = do_get(d, k);
    /* read back well inside the TTL (unless the machine stalled) */
    if (g->at_ms - t0 < 80)
        assert_int_equal(g->st, DIALOGS_OK);
    free(g);
    /* poll until gone */
    uint64_t end = t0 + 5000;
    enum dialogs_status st = DIALOGS_OK;
    uint64_t gone_at = 0;
    while (kz_mono_ms() < end) {
        g = do_get(d, k);
        st = g->st;
        gone_at = g->at_ms;
        free(g);
        if (st == DIALOGS_NOT_FOUND)
            break;
        spin(10);           /* let 10 ms pass on the loop */
    }
    assert_int_equal(st, DIALOGS_NOT_FOUND);
    assert_true(gone_at - t0 >= 95);
    /* ttl 0 means the default (180 s): still there after the short TTL */
    do_set(d, k, "long", 4, 0, DIALOGS_OK);
    if (be->redis) {
        char line[64];
        snprintf(line, sizeof line, "PTTL %s", k);
        redisReply *r = db_command(rport, NULL, NULL, REDIS_DB, line);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        assert_true(r->integer > 170000 && r->integer <= 180000);
        freeReplyObject(r);
    }
    g = do_get(d, k);
    assert_int_equal(g->st, DIALOGS_OK);
    free(g);
    store_free(d);
}

static void t_binary_values(void **state)
{
    struct dialogs *d = make_store(*state, NULL);
    uint8_t v[512];
    for (size_t i = 0; i < sizeof v; i++)
        v[i] = (uint8_t)(i * 7);    /* includes NUL, CR, LF, 0xff */
    v[0] = 0;
    do_set(d, "kz:d:{996555000200}", v, sizeof v, 0, DIALOGS_OK);
    struct rec *g = do_get(d, "kz:d:{996555000200}");
    assert_int_equal(g->st, DIALOGS_OK);
    assert_int_equal(g->len, sizeof v);
    assert_memory_equal(g->val, v, sizeof v);
    free(g);
    /* an empty value is a value, not "not found" */
    do_set(d, "kz:d:{996555000201}", "", 0, 0, DIALOGS_OK);
    g = do_get(d, "kz:d:{996555000201}");
    assert_int_equal(g->st, DIALOGS_OK);
    assert_true(g->had_value);
    assert_int_equal(g->len, 0);
    free(g);
    /* binary keys too (NUL inside a key) */
    const char bk[] = { 'k', 0, 'z', '\r', '\n' };
    struct rec *r = rec_new();
    assert_int_equal(dialogs_set(d, bk, sizeof bk, "x", 1, 0, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->st, DIALOGS_OK);
    free(r);
    r = do_get_n(d, bk, 1);                 /* "k" alone */
    assert_int_equal(r->st, DIALOGS_NOT_FOUND);
    free(r);
    r = do_get_n(d, bk, sizeof bk);
    assert_int_equal(r->st, DIALOGS_OK);
    assert_int_equal(r->len, 1);
    free(r);
    store_free(d);
}

static void t_limits(void **state)
{
    struct dialogs *d = make_store(*state, NULL);
    char longkey[DIALOGS_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey);
    struct rec *r = do_get_n(d, longkey, DIALOGS_KEY_MAX + 1);
    assert_int_equal(r->st, DIALOGS_ERROR);
    free(r);
    r = do_get_n(d, longkey, 0);
    assert_int_equal(r->st, DIALOGS_ERROR);
    free(r);
    /* the longest key works */
    longkey[DIALOGS_KEY_MAX] = '\0';
    do_set(d, longkey, "v", 1, 0, DIALOGS_OK);
    /* the largest value works (larger than the stack-formatted command) */
    uint8_t *big = malloc(DIALOGS_VALUE_MAX + 1);
    for (size_t i = 0; i <= DIALOGS_VALUE_MAX; i++)
        big[i] = (uint8_t)(i ^ (i >> 8));
    do_set(d, "kz:d:{996555000300}", big, DIALOGS_VALUE_MAX, 0, DIALOGS_OK);
    struct rec *g = do_get(d, "kz:d:{996555000300}");
    assert_int_equal(g->st, DIALOGS_OK);
    assert_int_equal(g->len, DIALOGS_VALUE_MAX);
    assert_memory_equal(g->val, big, DIALOGS_VALUE_MAX);
    free(g);
    do_set(d, "kz:d:{996555000301}", big, DIALOGS_VALUE_MAX + 1, 0, DIALOGS_ERROR);
    free(big);
    /* refused at once, callback never called: NULL callback */
    assert_int_equal(dialogs_get(d, "k", 1, NULL, NULL), -1);
    store_free(d);
}

/* The callback never runs inside the call, whatever the outcome. */
static void t_never_reentrant(void **state)
{
    const struct backend *be = *state;
    struct dialogs *d = make_store(be, NULL);
    bool returned;
    struct rec *r = rec_new();
    r->returned = &returned;
    enum dialogs_status want[4] = { DIALOGS_OK, DIALOGS_OK, DIALOGS_NOT_FOUND,
                                    DIALOGS_ERROR };
    for (int i = 0; i < 4; i++) {
        memset(r, 0, sizeof *r);
        r->returned = &returned;
        returned = false;
        int rc;
        switch (i) {
        case 0: rc = dialogs_set(d, "kz:d:{1}", 8, "a", 1, 0, rec_cb, r); break;
        case 1: rc = dialogs_get(d, "kz:d:{1}", 8, rec_cb, r); break;
        case 2: rc = dialogs_del(d, "kz:d:{2}", 8, rec_cb, r); break;
        default: rc = dialogs_get(d, "", 0, rec_cb, r); break;
        }
        returned = true;
        assert_int_equal(rc, 0);
        assert_int_equal(r->calls, 0);
        assert_true(run_until(rec_done, r, 5000));
        assert_false(r->early);
        assert_int_equal(r->calls, 1);
        assert_int_equal(r->st, want[i]);
    }
    store_free(d);
    if (be->redis) {
        /* not connected: UNAVAILABLE, still later, never inside the call */
        char url[64];
        redis_url(url, sizeof url, rh_free_port());
        struct dialogs_opts o;
        test_opts(&o);
        d = track(dialogs_new_redis(base, url, &o, NULL, 0));
        assert_non_null(d);
        memset(r, 0, sizeof *r);
        r->returned = &returned;
        returned = false;
        assert_int_equal(dialogs_get(d, "kz:d:{1}", 8, rec_cb, r), 0);
        returned = true;
        assert_int_equal(r->calls, 0);
        assert_true(run_until(rec_done, r, 5000));
        assert_false(r->early);
        assert_int_equal(r->st, DIALOGS_UNAVAILABLE);
        store_free(d);
    }
    free(r);
}

/* Many requests in flight complete once each, in the order made. */
#define NORDER 2000
struct chain {
    struct dialogs *d;
    int left, done;
    enum dialogs_status last;
};

static void chain_cb(void *arg, const struct dialogs_result *res)
{
    struct chain *c = arg;
    c->done++;
    c->last = res->status;
    if (res->status != DIALOGS_OK || c->left == 0)
        return;
    c->left--;
    /* a new request from inside the callback is allowed */
    assert_int_equal(dialogs_set(c->d, "kz:d:{996555000500}", 19, &c->left,
                                 sizeof c->left, 0, chain_cb, c), 0);
}

static bool chain_done(void *arg)
{
    struct chain *c = arg;
    return c->done == 101 || c->last != DIALOGS_OK;
}

static void t_pipelined_order(void **state)
{
    struct dialogs *d = make_store(*state, NULL);
    struct rec *r = calloc(2 * NORDER, sizeof *r);
    char key[64];
    for (int i = 0; i < NORDER; i++) {
        int n = snprintf(key, sizeof key, "kz:d:{99655501%04d}", i);
        char v[32];
        int vn = snprintf(v, sizeof v, "value-%d", i);
        assert_int_equal(dialogs_set(d, key, (size_t)n, v, (size_t)vn, 0, rec_cb,
                                     &r[2 * i]), 0);
        assert_int_equal(dialogs_get(d, key, (size_t)n, rec_cb, &r[2 * i + 1]), 0);
    }
    assert_true(run_until(rec_done, &r[2 * NORDER - 1], 10000));
    for (int i = 0; i < 2 * NORDER; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].seq, i + 1);
        assert_int_equal(r[i].st, DIALOGS_OK);
    }
    for (int i = 0; i < NORDER; i++) {
        char v[32];
        int vn = snprintf(v, sizeof v, "value-%d", i);
        assert_int_equal(r[2 * i + 1].len, (size_t)vn);
        assert_memory_equal(r[2 * i + 1].val, v, (size_t)vn);
    }
    free(r);
    /* a chain of 100 requests, each made from the previous one's callback */
    struct chain c = { d, 100, 0, DIALOGS_OK };
    assert_int_equal(dialogs_set(d, "kz:d:{996555000500}", 19, "x", 1, 0, chain_cb, &c), 0);
    assert_true(run_until(chain_done, &c, 10000));
    assert_int_equal(c.done, 101);
    assert_int_equal(c.last, DIALOGS_OK);
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.inflight, 0);
    store_free(d);
}

/* Freeing with requests in flight: each callback once, UNAVAILABLE. */
struct freerec {
    int calls;
    enum dialogs_status st;
    struct dialogs *d;
    int rc_inside;
};

static void free_cb(void *arg, const struct dialogs_result *res)
{
    struct freerec *f = arg;
    f->calls++;
    f->st = res->status;
    /* requests from inside dialogs_free are refused */
    f->rc_inside = dialogs_get(f->d, "k", 1, free_cb, f);
}

static void t_free_in_flight(void **state)
{
    struct dialogs *d = make_store(*state, NULL);
    struct freerec f[64];
    memset(f, 0, sizeof f);
    for (int i = 0; i < 64; i++) {
        f[i].d = d;
        int rc = (i % 2) ? dialogs_get(d, "kz:d:{996555000600}", 19, free_cb, &f[i])
                         : dialogs_set(d, "kz:d:{996555000600}", 19, "v", 1, 0, free_cb, &f[i]);
        assert_int_equal(rc, 0);
    }
    store_free(d);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(f[i].calls, 1);
        assert_int_equal(f[i].st, DIALOGS_UNAVAILABLE);
        assert_int_equal(f[i].rc_inside, -1);
    }
    /* and nothing fires later */
    spin(50);
    for (int i = 0; i < 64; i++)
        assert_int_equal(f[i].calls, 1);
}

/* ---- Redis only ---------------------------------------------------------- */

/* Two gateways on one Redis serve one dialog together. */
static void t_two_stores(void **state)
{
    (void)state;
    struct dialogs *a = make_store(&be_redis, NULL);
    struct dialogs *b = make_store(&be_redis, NULL);
    char k[DIALOGS_KEY_MAX + 1];
    assert_true(dialogs_key(k, sizeof k, DIALOGS_KEY_DIALOG, "996555000700", NULL) > 0);
    do_set(a, k, "step1", 5, 0, DIALOGS_OK);
    struct rec *g = do_get(b, k);
    assert_int_equal(g->st, DIALOGS_OK);
    assert_memory_equal(g->val, "step1", 5);
    free(g);
    do_set(b, k, "step2", 5, 0, DIALOGS_OK);
    g = do_get(a, k);
    assert_int_equal(g->st, DIALOGS_OK);
    assert_memory_equal(g->val, "step2", 5);
    free(g);
    assert_int_equal(do_del(a, k), DIALOGS_OK);
    g = do_get(b, k);
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    free(g);
    /* written to database REDIS_DB, not 0 */
    do_set(a, k, "x", 1, 0, DIALOGS_OK);
    redisReply *r = rh_command(rport, "EXISTS %s", k);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    store_free(a);
    store_free(b);
}

static void t_redis_error_reply(void **state)
{
    (void)state;
    struct dialogs *d = make_store(&be_redis, NULL);
    redisReply *c = db_command(rport, NULL, NULL, REDIS_DB, "RPUSH kz:d:{996555000800} a b");
    assert_non_null(c);
    freeReplyObject(c);
    struct rec *g = do_get(d, "kz:d:{996555000800}");
    assert_int_equal(g->st, DIALOGS_ERROR);
    assert_non_null(strstr(g->err, "WRONGTYPE"));
    free(g);
    store_free(d);
}

struct stat_wait {
    struct dialogs *d;
    uint64_t want;
    int which;  /* 0 late_replies, 1 stalls, 2 connect_failures */
};

/* The shared server holds every client's commands for 1.5 s. */
static void pause_redis(void)
{
    redisReply *p = rh_command(rport, "CLIENT PAUSE 1500 ALL");
    assert_non_null(p);
    assert_int_equal(p->type, REDIS_REPLY_STATUS);
    freeReplyObject(p);
}

static bool stat_reached(void *arg)
{
    struct stat_wait *w = arg;
    struct dialogs_stats s;
    dialogs_get_stats(w->d, &s);
    uint64_t v = w->which == 0 ? s.late_replies : w->which == 1 ? s.stalls
                                                                : s.connect_failures;
    return v >= w->want;
}

static void t_timeout_late_reply(void **state)
{
    (void)state;
    struct dialogs_opts o;
    test_opts(&o);
    o.request_timeout_ms = 300;
    struct dialogs *d = make_store(&be_redis, &o);
    do_set(d, "kz:d:{996555000900}", "v", 1, 0, DIALOGS_OK);
    pause_redis();
    struct rec *r = rec_new();
    uint64_t t0 = kz_mono_ms();
    assert_int_equal(dialogs_get(d, "kz:d:{996555000900}", 19, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->st, DIALOGS_TIMEOUT);
    uint64_t took = r->at_ms - t0;
    assert_true(took >= 290 && took < 1400);
    /* the late reply arrives after the pause and is swallowed */
    struct stat_wait w = { d, 1, 0 };
    assert_true(run_until(stat_reached, &w, 5000));
    assert_int_equal(r->calls, 1);
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.timeouts, 1);
    assert_int_equal(s.late_replies, 1);
    assert_int_equal(s.stalls, 0);
    assert_int_equal(s.inflight, 0);
    free(r);
    /* and the store carries on */
    struct rec *g = do_get(d, "kz:d:{996555000900}");
    assert_int_equal(g->st, DIALOGS_OK);
    free(g);
    store_free(d);
}

/* Freed while requests are on the wire (server paused): each pending
 * callback once with UNAVAILABLE; one that already timed out is not called
 * again; nothing fires after the free. */
static void t_free_while_waiting(void **state)
{
    (void)state;
    struct dialogs_opts o;
    test_opts(&o);
    o.request_timeout_ms = 300;
    struct dialogs *d = make_store(&be_redis, &o);
    pause_redis();
    struct rec *early = rec_new();
    assert_int_equal(dialogs_get(d, "kz:d:{996555001200}", 19, rec_cb, early), 0);
    assert_true(run_until(rec_done, early, 5000));
    assert_int_equal(early->st, DIALOGS_TIMEOUT);
    struct rec *r = calloc(10, sizeof *r);
    for (int i = 0; i < 10; i++)
        assert_int_equal(dialogs_get(d, "kz:d:{996555001200}", 19, rec_cb, &r[i]), 0);
    spin(50);         /* let hiredis write them */
    for (int i = 0; i < 10; i++)
        assert_int_equal(r[i].calls, 0);
    store_free(d);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].st, DIALOGS_UNAVAILABLE);
        assert_string_equal(r[i].err, "store closed");
    }
    assert_int_equal(early->calls, 1);
    spin(100);
    assert_int_equal(early->calls, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(r[i].calls, 1);
    free(r);
    free(early);
    /* wait the pause out, so the next test's set-up is not held */
    for (int i = 0; i < 5 && !rh_ping(rport); i++)
        continue;       /* each PING waits up to 2 s for the pause to end */
}

static bool downs_seen(void *arg)
{
    return ((struct states *)arg)->downs > 0;
}

struct up_wait {
    struct states *t;
    int ups;
};

static bool ups_seen(void *arg)
{
    struct up_wait *w = arg;
    return w->t->ups >= w->ups;
}

/* Redis killed mid-test: fast failures, no crash; restarted on the same
 * port: reconnects and serves again. */
static void t_redis_killed(void **state)
{
    (void)state;
    struct states t = { 0, 0, "" };
    struct dialogs_opts o;
    watched_opts(&o, state_cb, &t);
    struct dialogs *d = make_store(&be_redis, &o);
    assert_int_equal(t.ups, 1);
    do_set(d, "kz:d:{996555001000}", "v", 1, 0, DIALOGS_OK);

    rh_stop(rpid);
    rpid = -1;
    /* a request made at the moment of the kill: fails, fast */
    struct rec *r = rec_new();
    uint64_t t0 = kz_mono_ms();
    assert_int_equal(dialogs_get(d, "kz:d:{996555001000}", 19, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_true(r->st == DIALOGS_UNAVAILABLE || r->st == DIALOGS_TIMEOUT);
    assert_true(r->at_ms - t0 < 1000);
    assert_true(run_until(downs_seen, &t, 5000));
    assert_int_equal(t.downs, 1);
    assert_true(t.reason[0] != '\0');
    /* while down: UNAVAILABLE at once, with the reason */
    for (int i = 0; i < 20; i++) {
        memset(r, 0, sizeof *r);
        t0 = kz_mono_ms();
        assert_int_equal(dialogs_set(d, "kz:d:{996555001000}", 19, "w", 1, 0, rec_cb, r), 0);
        assert_true(run_until(rec_done, r, 5000));
        assert_int_equal(r->st, DIALOGS_UNAVAILABLE);
        assert_non_null(strstr(r->err, "not connected"));
        assert_true(r->at_ms - t0 < 200);
    }
    /* let a few reconnect attempts fail: reported once, counted each time */
    struct dialogs_stats s0, s;
    dialogs_get_stats(d, &s0);
    spin(300);
    dialogs_get_stats(d, &s);
    assert_true(s.connect_failures > s0.connect_failures);
    assert_int_equal(t.downs, 1);
    assert_int_equal(dialogs_state(d) == DIALOGS_UP, 0);

    rpid = rh_start(rport);
    assert_true(rpid > 0);
    struct up_wait uw = { &t, 2 };
    assert_true(run_until(ups_seen, &uw, 5000));
    assert_int_equal(dialogs_state(d), DIALOGS_UP);
    do_set(d, "kz:d:{996555001000}", "again", 5, 0, DIALOGS_OK);
    struct rec *g = do_get(d, "kz:d:{996555001000}");
    assert_int_equal(g->st, DIALOGS_OK);
    assert_memory_equal(g->val, "again", 5);
    free(g);
    dialogs_get_stats(d, &s);
    assert_int_equal(s.connects, 2);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.inflight, 0);
    free(r);
    store_free(d);
}

/* A frozen server (SIGSTOP: TCP stays up, nothing answers): requests time
 * out, the connection is dropped after stall_ms, reconnect attempts time
 * out, and service resumes after SIGCONT. */
static void t_redis_frozen(void **state)
{
    (void)state;
    struct states t = { 0, 0, "" };
    struct dialogs_opts o;
    watched_opts(&o, state_cb, &t);
    o.request_timeout_ms = 200;
    o.stall_ms = 600;
    o.connect_timeout_ms = 300;
    struct dialogs *d = make_store(&be_redis, &o);
    kill(rpid, SIGSTOP);
    struct rec *r = rec_new();
    assert_int_equal(dialogs_get(d, "kz:d:{996555001100}", 19, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->st, DIALOGS_TIMEOUT);
    assert_true(run_until(downs_seen, &t, 5000));
    assert_non_null(strstr(t.reason, "no reply"));
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.stalls, 1);
    /* attempts while frozen: connect succeeds (kernel), PING never answered */
    spin(800);
    dialogs_get_stats(d, &s);
    assert_true(s.connect_failures >= 1);
    kill(rpid, SIGCONT);
    struct up_wait uw = { &t, 2 };
    assert_true(run_until(ups_seen, &uw, 5000));
    struct rec *g = do_get(d, "kz:d:{996555001100}");
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    free(g);
    free(r);
    store_free(d);
}

/* Nothing listening at start-up: DOWN reported with the reason, requests
 * UNAVAILABLE; a server appearing later is picked up. */
static void t_redis_absent_at_start(void **state)
{
    (void)state;
    struct states t = { 0, 0, "" };
    struct dialogs_opts o;
    watched_opts(&o, state_cb, &t);
    int port = rh_free_port();
    char url[64];
    redis_url(url, sizeof url, port);
    struct dialogs *d = track(dialogs_new_redis(base, url, &o, NULL, 0));
    assert_non_null(d);
    assert_int_equal(t.downs, 0);     /* never from inside dialogs_new_redis */
    assert_true(run_until(downs_seen, &t, 5000));
    assert_non_null(strstr(t.reason, "refused"));
    struct rec *r = rec_new();
    assert_int_equal(dialogs_get(d, "kz:d:{1}", 8, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->st, DIALOGS_UNAVAILABLE);
    assert_non_null(strstr(r->err, "refused"));
    free(r);
    pid_t p2 = rh_start(port);
    assert_true(p2 > 0);
    struct up_wait uw = { &t, 1 };
    bool up = run_until(ups_seen, &uw, 5000);
    rh_stop(p2);
    assert_true(up);
    store_free(d);
}

/* SELECT of a database the server does not have: a clear reason, DOWN. */
static void t_redis_bad_db(void **state)
{
    (void)state;
    struct states t = { 0, 0, "" };
    struct dialogs_opts o;
    watched_opts(&o, state_cb, &t);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/999", rport);
    struct dialogs *d = track(dialogs_new_redis(base, url, &o, NULL, 0));
    assert_non_null(d);
    assert_true(run_until(downs_seen, &t, 5000));
    assert_non_null(strstr(t.reason, "SELECT"));
    assert_int_equal(t.ups, 0);
    store_free(d);
}

/* ---- memory only --------------------------------------------------------- */

static void t_memory_full(void **state)
{
    (void)state;
    struct dialogs_opts o;
    test_opts(&o);
    o.max_entries = 100;
    struct dialogs *d = make_store(&be_memory, &o);
    char k[64];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "kz:d:{%d}", i);
        do_set(d, k, "v", 1, 0, DIALOGS_OK);
    }
    do_set(d, "kz:d:{100}", "v", 1, 0, DIALOGS_ERROR);
    struct rec *r = rec_new();
    assert_int_equal(dialogs_set(d, "kz:d:{100}", 10, "v", 1, 0, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_non_null(strstr(r->err, "full"));
    free(r);
    do_set(d, "kz:d:{5}", "replaced", 8, 0, DIALOGS_OK);    /* existing: fine */
    assert_int_equal(do_del(d, "kz:d:{5}"), DIALOGS_OK);
    do_set(d, "kz:d:{100}", "v", 1, 0, DIALOGS_OK);         /* room again */
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.entries, 100);
    assert_int_equal(s.errors, 2);
    store_free(d);

    /* full of expired entries: a SET reclaims them */
    o.max_entries = 50;
    d = make_store(&be_memory, &o);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "kz:d:{%d}", i);
        do_set(d, k, "v", 1, 30, DIALOGS_OK);
    }
    spin(60);
    do_set(d, "kz:d:{new}", "v", 1, 0, DIALOGS_OK);
    store_free(d);
}

struct entries_wait {
    struct dialogs *d;
};

static bool entries_zero(void *arg)
{
    struct dialogs_stats s;
    dialogs_get_stats(((struct entries_wait *)arg)->d, &s);
    return s.entries == 0;
}

static bool all_done_counter(void *arg)
{
    struct dialogs_stats s;
    dialogs_get_stats(arg, &s);
    return s.inflight == 0;
}

static void count_cb(void *arg, const struct dialogs_result *res)
{
    int *ok = arg;
    if (res->status == DIALOGS_OK)
        (*ok)++;
}

static void t_memory_sweep_many(void **state)
{
    (void)state;
    struct dialogs_opts o;
    test_opts(&o);
    o.max_entries = 131072;
    struct dialogs *d = make_store(&be_memory, &o);
    int ok = 0;
    char k[64];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(k, sizeof k, "kz:d:{996%09d}", i);
        assert_int_equal(dialogs_set(d, k, (size_t)n, k, (size_t)n, 300, count_cb, &ok), 0);
    }
    assert_true(run_until(all_done_counter, d, 10000));
    assert_int_equal(ok, 100000);
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    /* (on a slow machine some may have expired during the fill) */
    assert_int_equal(s.entries + s.expired, 100000);
    /* nobody reads them: the sweep alone must reclaim every one */
    struct entries_wait ew = { d };
    assert_true(run_until(entries_zero, &ew, 15000));
    dialogs_get_stats(d, &s);
    assert_int_equal(s.expired, 100000);
    struct rec *g = do_get(d, "kz:d:{996000000007}");
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    free(g);
    store_free(d);
}

/* ---- AUTH, database selection, switching servers ------------------------ */

#define PASS "s3cret-Pw"
#define ACL_PASS "app-Pw2"

static pid_t start_redis_retry(int *port, const char *a1, const char *a2)
{
    pid_t pid = -1;
    for (int attempt = 0; attempt < 5 && pid <= 0; attempt++) {
        *port = rh_free_port();
        pid = rh_start_with(*port, a1, a2);
    }
    assert_true(pid > 0);
    return pid;
}

/* Every state report, reasons joined, to look for a leaked password. */
struct reports {
    int ups, downs;
    char all[2048];
};

static void reports_cb(void *arg, enum dialogs_state s, const char *reason)
{
    struct reports *t = arg;
    if (s == DIALOGS_UP) {
        t->ups++;
        return;
    }
    t->downs++;
    size_t n = strlen(t->all);
    snprintf(t->all + n, sizeof t->all - n, "%s|", reason);
}

static bool reports_down(void *arg)
{
    return ((struct reports *)arg)->downs > 0;
}

static bool reports_auth_failed(void *arg)
{
    return strstr(((struct reports *)arg)->all, "AUTH failed") != NULL;
}

struct rep_wait {
    struct reports *t;
    int ups;
};

static bool reports_up(void *arg)
{
    struct rep_wait *w = arg;
    return w->t->ups >= w->ups;
}

static struct dialogs *new_store_url(const char *url, struct dialogs_opts *o)
{
    char err[256];
    struct dialogs *d = track(dialogs_new_redis(base, url, o, err, sizeof err));
    if (!d)
        fail_msg("dialogs_new_redis: %s", err);
    return d;
}

/* `redis-cli -n DB GET key` against the server: the key's value, "" when
 * absent.  A second client, not ours, decides where the key landed. */
static void cli_get(int port, const char *pass, int db, const char *key, char *out,
                    size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "REDISCLI_AUTH='%s' redis-cli -h 127.0.0.1 -p %d -n %d "
             "--raw GET '%s'", pass ? pass : "", port, db, key);
    if (!pass)
        snprintf(cmd, sizeof cmd, "redis-cli -h 127.0.0.1 -p %d -n %d --raw GET '%s'",
                 port, db, key);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    out[0] = '\0';
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(f), 0);
}

/* requirepass: the right password serves, in the URL's database; the
 * wrong one keeps the store down with one clear report and never shows
 * the password; no password at all is told apart (NOAUTH). */
static void t_redis_auth(void **state)
{
    (void)state;
    int port;
    pid_t pid = start_redis_retry(&port, "--requirepass", PASS);
    struct reports t = { 0 };
    struct dialogs_opts o;
    watched_opts(&o, reports_cb, &t);
    char url[160];

    /* right password, database 7 */
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/7", PASS, port);
    struct dialogs *d = new_store_url(url, &o);
    assert_true(run_until(is_up, d, 5000));
    assert_null(strstr(dialogs_describe(d), PASS));
    do_set(d, "kz:d:{996555009001}", "authed", 6, 0, DIALOGS_OK);
    struct rec *g = do_get(d, "kz:d:{996555009001}");
    assert_int_equal(g->st, DIALOGS_OK);
    assert_memory_equal(g->val, "authed", 6);
    free(g);
    char v[64];
    cli_get(port, PASS, 7, "kz:d:{996555009001}", v, sizeof v);
    assert_string_equal(v, "authed");
    cli_get(port, PASS, 0, "kz:d:{996555009001}", v, sizeof v);
    assert_string_equal(v, "");
    store_free(d);

    /* wrong password: down, reported once, retried with back-off */
    memset(&t, 0, sizeof t);
    snprintf(url, sizeof url, "redis://:wrong-%s@127.0.0.1:%d/7", PASS, port);
    d = new_store_url(url, &o);
    assert_true(run_until(reports_down, &t, 5000));
    assert_non_null(strstr(t.all, "AUTH failed: WRONGPASS"));
    struct dialogs_stats s;
    run_until(stat_reached, &(struct stat_wait){ d, 3, 2 }, 4400); /* several attempts */
    dialogs_get_stats(d, &s);
    assert_true(s.connect_failures >= 3);
    assert_int_equal(s.connects, 0);
    assert_int_equal(t.downs, 1);
    assert_int_equal(t.ups, 0);
    assert_int_not_equal(dialogs_state(d), DIALOGS_UP);
    struct rec *r = rec_new();
    assert_int_equal(dialogs_get(d, "kz:d:{996555009001}", 19, rec_cb, r), 0);
    assert_true(run_until(rec_done, r, 5000));
    assert_int_equal(r->st, DIALOGS_UNAVAILABLE);
    assert_null(strstr(r->err, PASS));
    free(r);
    assert_null(strstr(t.all, PASS));
    assert_null(strstr(dialogs_describe(d), PASS));
    store_free(d);

    /* no password for a protected server */
    memset(&t, 0, sizeof t);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    d = new_store_url(url, &o);
    assert_true(run_until(reports_down, &t, 5000));
    assert_non_null(strstr(t.all, "PING refused: NOAUTH"));
    store_free(d);

    /* the password changed on a running server: the loss is reported, and
     * then the AUTH failure, once */
    memset(&t, 0, sizeof t);
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/0", PASS, port);
    d = new_store_url(url, &o);
    assert_true(run_until(is_up, d, 5000));
    redisReply *cr = db_command(port, NULL, PASS, 0, "CONFIG SET requirepass other-pw");
    assert_non_null(cr);
    freeReplyObject(cr);
    cr = db_command(port, NULL, "other-pw", 0, "CLIENT KILL TYPE normal");
    assert_non_null(cr);
    freeReplyObject(cr);
    assert_true(run_until(reports_auth_failed, &t, 5000));
    assert_non_null(strstr(t.all, "Server closed the connection|AUTH failed: WRONGPASS"));
    int downs = t.downs;
    dialogs_get_stats(d, &s);
    uint64_t fails = s.connect_failures;
    run_until(stat_reached, &(struct stat_wait){ d, fails + 2, 2 }, 5000);
    dialogs_get_stats(d, &s);
    assert_true(s.connect_failures >= fails + 2);
    assert_int_equal(t.downs, downs);       /* not once per retry */
    assert_null(strstr(t.all, PASS));
    /* the password is put back: the store comes back by itself */
    cr = db_command(port, NULL, "other-pw", 0, "CONFIG SET requirepass " PASS);
    assert_non_null(cr);
    freeReplyObject(cr);
    struct rep_wait uw = { &t, 2 };
    assert_true(run_until(reports_up, &uw, 5000));
    store_free(d);
    rh_stop(pid);
}

/* Redis 6 ACL: AUTH USER PASS; a wrong user's password is refused. */
static void t_redis_acl_user(void **state)
{
    (void)state;
    int port;
    pid_t pid = start_redis_retry(&port, "--requirepass", PASS);
    redisReply *cr = db_command(port, NULL, PASS, 0,
                                  "ACL SETUSER app on >" ACL_PASS " ~* &* +@all");
    assert_non_null(cr);
    assert_int_equal(cr->type, REDIS_REPLY_STATUS);
    freeReplyObject(cr);
    struct reports t = { 0 };
    struct dialogs_opts o;
    watched_opts(&o, reports_cb, &t);
    char url[160];
    snprintf(url, sizeof url, "redis://app:%s@127.0.0.1:%d/2", ACL_PASS, port);
    struct dialogs *d = new_store_url(url, &o);
    assert_true(run_until(is_up, d, 5000));
    assert_non_null(strstr(dialogs_describe(d), "app@"));
    assert_null(strstr(dialogs_describe(d), ACL_PASS));
    do_set(d, "kz:l:{996555009002}", "ky", 2, 0, DIALOGS_OK);
    cr = db_command(port, "app", ACL_PASS, 2, "GET kz:l:{996555009002}");
    assert_non_null(cr);
    assert_int_equal(cr->type, REDIS_REPLY_STRING);
    assert_string_equal(cr->str, "ky");
    freeReplyObject(cr);
    store_free(d);

    snprintf(url, sizeof url, "redis://app:%s@127.0.0.1:%d/2", PASS, port);
    d = new_store_url(url, &o);
    assert_true(run_until(reports_down, &t, 5000));
    assert_non_null(strstr(t.all, "AUTH failed: WRONGPASS"));
    assert_null(strstr(t.all, PASS));
    store_free(d);
    rh_stop(pid);
}

/* The server's connected clients (INFO clients), the asking one included. */
static long clients_of(int port)
{
    redisReply *r = rh_command(port, "INFO clients");
    if (!r)
        return -1;
    long n = -1;
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "connected_clients:")
                                                  : NULL;
    if (p)
        n = strtol(p + 18, NULL, 10);
    freeReplyObject(r);
    return n;
}

struct clients_wait {
    int port;
    long want;
};

static bool clients_are(void *arg)
{
    struct clients_wait *w = arg;
    return clients_of(w->port) == w->want;
}

#define NSWITCH 64

static bool all_called(void *arg)
{
    struct rec **v = arg;
    for (int i = 0; i < NSWITCH; i++)
        if (v[i]->calls == 0)
            return false;
    return true;
}

/* dialogs_set_url with requests in flight: every callback exactly once
 * (answered by the old server, which is alive), the old connection closed
 * once drained, the new server serving and holding the new writes. */
static void t_set_url_switch(void **state)
{
    (void)state;
    int port2;
    pid_t pid2 = start_redis_retry(&port2, NULL, NULL);
    struct reports t = { 0 };
    struct dialogs_opts o;
    watched_opts(&o, reports_cb, &t);
    char url[128], url2[128], err[256];
    redis_url(url, sizeof url, rport);
    snprintf(url2, sizeof url2, "redis://127.0.0.1:%d/4", port2);
    struct dialogs *d = new_store_url(url, &o);
    assert_true(run_until(is_up, d, 5000));
    assert_int_equal(clients_of(rport), 2);

    /* a bad URL or an unknown host: refused, the store untouched */
    assert_int_equal(dialogs_set_url(d, "redis://u@h", err, sizeof err), -1);
    assert_true(err[0] != '\0');
    assert_int_equal(dialogs_set_url(d, "redis://no-such-host.invalid/0", err,
                                     sizeof err), -1);
    assert_int_equal(dialogs_state(d), DIALOGS_UP);
    do_set(d, "kz:d:{996555009100}", "old", 3, 0, DIALOGS_OK);

    struct rec *v[NSWITCH];
    char k[64];
    for (int i = 0; i < NSWITCH; i++) {
        v[i] = rec_new();
        int n = snprintf(k, sizeof k, "kz:d:{99655509%04d}", i);
        int rc = i % 2 ? dialogs_get(d, "kz:d:{996555009100}", 19, rec_cb, v[i])
                       : dialogs_set(d, k, (size_t)n, "x", 1, 0, rec_cb, v[i]);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(dialogs_set_url(d, url2, err, sizeof err), 0);
    assert_int_not_equal(dialogs_state(d), DIALOGS_UP);
    assert_non_null(strstr(dialogs_describe(d), url2 + 18));
    /* a request made now, before the new server is up: UNAVAILABLE */
    struct rec *early = rec_new();
    assert_int_equal(dialogs_get(d, "kz:d:{996555009100}", 19, rec_cb, early), 0);
    assert_true(run_until(all_called, v, 5000));
    assert_true(run_until(rec_done, early, 5000));
    for (int i = 0; i < NSWITCH; i++) {
        if (v[i]->st != DIALOGS_OK)
            fail_msg("request %d: %s (%s)", i, dialogs_status_name(v[i]->st), v[i]->err);
        if (i % 2)
            assert_memory_equal(v[i]->val, "old", 3);
    }
    struct rep_wait uw = { &t, 2 };
    assert_true(run_until(reports_up, &uw, 5000));
    assert_int_equal(t.downs, 0);
    /* the old connection is gone (only our INFO probe is left) */
    struct clients_wait cw = { rport, 1 };
    assert_true(run_until(clients_are, &cw, 5000));
    /* the new server serves; the old dialog stays behind */
    struct rec *g = do_get(d, "kz:d:{996555009100}");
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    free(g);
    do_set(d, "kz:d:{996555009101}", "new", 3, 0, DIALOGS_OK);
    char val[32];
    cli_get(port2, NULL, 4, "kz:d:{996555009101}", val, sizeof val);
    assert_string_equal(val, "new");
    cli_get(rport, NULL, REDIS_DB, "kz:d:{996555009101}", val, sizeof val);
    assert_string_equal(val, "");
    /* nothing was called twice */
    spin(100);
    for (int i = 0; i < NSWITCH; i++) {
        assert_int_equal(v[i]->calls, 1);
        free(v[i]);
    }
    assert_int_equal(early->calls, 1);
    assert_int_equal(early->st, DIALOGS_UNAVAILABLE);
    free(early);
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(s.connects, 2);
    store_free(d);
    rh_stop(pid2);
}

/* The old server frozen at the switch: its requests time out (once), then
 * the old connection is freed; a second switch while one drains fails the
 * drained one's requests at once; memory <-> Redis both ways. */
static void t_set_url_old_frozen(void **state)
{
    (void)state;
    int port2;
    pid_t pid2 = start_redis_retry(&port2, NULL, NULL);
    struct reports t = { 0 };
    struct dialogs_opts o;
    watched_opts(&o, reports_cb, &t);
    o.request_timeout_ms = 300;
    char url[128], url2[128], err[256];
    redis_url(url, sizeof url, rport);
    snprintf(url2, sizeof url2, "redis://127.0.0.1:%d/0", port2);
    struct dialogs *d = new_store_url(url, &o);
    assert_true(run_until(is_up, d, 5000));

    kill(rpid, SIGSTOP);
    struct rec *v[NSWITCH];
    for (int i = 0; i < NSWITCH; i++) {
        v[i] = rec_new();
        assert_int_equal(dialogs_get(d, "kz:d:{996555009200}", 19, rec_cb, v[i]), 0);
    }
    spin(30);                           /* the GETs go out on the old socket */
    assert_int_equal(dialogs_set_url(d, url2, err, sizeof err), 0);
    struct rep_wait uw = { &t, 2 };
    assert_true(run_until(reports_up, &uw, 5000));
    assert_true(run_until(all_called, v, 5000));
    for (int i = 0; i < NSWITCH; i++) {
        assert_int_equal(v[i]->calls, 1);
        assert_int_equal(v[i]->st, DIALOGS_TIMEOUT);
    }
    /* new requests meanwhile are served by the new server */
    do_set(d, "kz:d:{996555009201}", "n", 1, 0, DIALOGS_OK);
    kill(rpid, SIGCONT);
    /* once thawed the old server's late replies are swallowed, and its
     * connection goes */
    struct clients_wait cw = { rport, 1 };
    assert_true(run_until(clients_are, &cw, 5000));
    for (int i = 0; i < NSWITCH; i++)
        assert_int_equal(v[i]->calls, 1);

    /* second switch while the first still drains: forced, each once */
    kill(rpid, SIGSTOP);
    assert_int_equal(dialogs_set_url(d, url, err, sizeof err), 0);   /* -> frozen */
    assert_int_equal(dialogs_set_url(d, url2, err, sizeof err), 0);  /* -> 2 */
    assert_true(run_until(reports_up, &(struct rep_wait){ &t, 3 }, 5000));
    for (int i = 0; i < NSWITCH; i++)
        memset(v[i], 0, sizeof *v[i]);
    for (int i = 0; i < NSWITCH; i++)
        assert_int_equal(dialogs_get(d, "kz:d:{996555009201}", 19, rec_cb, v[i]), 0);
    assert_int_equal(dialogs_set_url(d, url, err, sizeof err), 0);   /* drain 2 */
    assert_int_equal(dialogs_set_url(d, "", err, sizeof err), 0);    /* force 2 */
    assert_true(run_until(all_called, v, 5000));
    for (int i = 0; i < NSWITCH; i++) {
        assert_int_equal(v[i]->calls, 1);
        /* answered before the force, or failed by it */
        assert_true(v[i]->st == DIALOGS_OK || v[i]->st == DIALOGS_UNAVAILABLE);
        if (v[i]->st == DIALOGS_UNAVAILABLE)
            assert_string_equal(v[i]->err, "redis url changed");
    }
    kill(rpid, SIGCONT);
    /* now memory: up, serving, empty */
    assert_true(run_until(reports_up, &(struct rep_wait){ &t, 4 }, 5000));
    assert_string_equal(dialogs_describe(d), "memory");
    struct rec *g = do_get(d, "kz:d:{996555009201}");
    assert_int_equal(g->st, DIALOGS_NOT_FOUND);
    free(g);
    do_set(d, "kz:d:{996555009202}", "m", 1, 0, DIALOGS_OK);
    assert_int_equal(dialogs_set_url(d, "", err, sizeof err), 0);    /* no-op */
    g = do_get(d, "kz:d:{996555009202}");
    assert_int_equal(g->st, DIALOGS_OK);
    free(g);
    /* and back to Redis: the memory entries go, Redis serves */
    assert_int_equal(dialogs_set_url(d, url2, err, sizeof err), 0);
    assert_true(run_until(is_up, d, 5000));
    g = do_get(d, "kz:d:{996555009201}");
    assert_int_equal(g->st, DIALOGS_OK);
    free(g);
    struct dialogs_stats s;
    dialogs_get_stats(d, &s);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(s.entries, 0);
    for (int i = 0; i < NSWITCH; i++)
        free(v[i]);
    store_free(d);
    cw.port = port2;
    assert_true(run_until(clients_are, &cw, 5000));
    rh_stop(pid2);
}

/* A memory store becomes Redis (the embedded default, then a config with
 * redis.url): in-flight memory results still arrive, once. */
static void t_set_url_from_memory(void **state)
{
    (void)state;
    struct reports t = { 0 };
    struct dialogs_opts o;
    watched_opts(&o, reports_cb, &t);
    struct dialogs *d = make_store(&be_memory, &o);
    do_set(d, "kz:d:{996555009300}", "mem", 3, 0, DIALOGS_OK);
    struct rec *g = rec_new();
    assert_int_equal(dialogs_get(d, "kz:d:{996555009300}", 19, rec_cb, g), 0);
    char url[128], err[256];
    redis_url(url, sizeof url, rport);
    assert_int_equal(dialogs_set_url(d, url, err, sizeof err), 0);
    assert_int_equal(g->calls, 0);
    assert_true(run_until(rec_done, g, 5000));
    assert_int_equal(g->st, DIALOGS_OK);
    assert_memory_equal(g->val, "mem", 3);
    assert_true(run_until(is_up, d, 5000));
    assert_int_equal(t.ups, 1);
    assert_non_null(strstr(dialogs_describe(d), "redis 127.0.0.1:"));
    do_set(d, "kz:d:{996555009301}", "r", 1, 0, DIALOGS_OK);
    char v[16];
    cli_get(rport, NULL, REDIS_DB, "kz:d:{996555009301}", v, sizeof v);
    assert_string_equal(v, "r");
    assert_int_equal(g->calls, 1);
    free(g);
    store_free(d);
}

/* ---- main ---------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    for (int attempt = 0; attempt < 5 && rpid <= 0; attempt++) {
        rport = rh_free_port();
        rpid = rh_start(rport);
    }
    if (rpid <= 0) {
        fprintf(stderr, "test_dialogs: cannot start redis-server\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rh_stop(rpid);
    rpid = -1;
    return 0;
}

/* One entry per back-end, named test/backend. */
#define ON(f, be) { #f "/" #be, f, setup_each, teardown_each, (void *)&be_##be }
#define BOTH(f) ON(f, memory), ON(f, redis)
#define ONE_R(f) ON(f, redis)
#define ONE_M(f) ON(f, memory)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_keys),
        cmocka_unit_test(t_url),
        BOTH(t_set_get_del),
        BOTH(t_not_found),
        BOTH(t_ttl_expiry),
        BOTH(t_binary_values),
        BOTH(t_limits),
        BOTH(t_never_reentrant),
        BOTH(t_pipelined_order),
        BOTH(t_free_in_flight),
        ONE_R(t_two_stores),
        ONE_R(t_redis_error_reply),
        ONE_R(t_timeout_late_reply),
        ONE_R(t_free_while_waiting),
        ONE_R(t_redis_bad_db),
        ONE_R(t_redis_absent_at_start),
        ONE_R(t_redis_frozen),
        ONE_R(t_redis_killed),
        ONE_R(t_redis_auth),
        ONE_R(t_redis_acl_user),
        ONE_R(t_set_url_switch),
        ONE_R(t_set_url_old_frozen),
        ONE_R(t_set_url_from_memory),
        ONE_M(t_memory_full),
        ONE_M(t_memory_sweep_many),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
