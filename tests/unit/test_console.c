/*
 * tests/unit/test_console.c — cmocka tests of the operators' console's
 * pure parts (gateway/console_core: roles, names, passwords, cookies,
 * CSRF comparison, session lifetimes, static-file path safety, content
 * types, CSV cells, the failed-login limiter, times), of its store block
 * (accounts, sessions, the append-only audit log, against a real SQLite
 * file), of gateway/pwhash (hash and verify, on the worker and handed
 * back on a real loop) and of --create-admin (gateway/console_cli).
 *
 * Owns: its temp directories (tests/unit/tmpdb.h).
 * Also the admin.console configuration keys (gateway/config).
 * May call: gateway/config.h, gateway/console_core.h, gateway/console_cli.h,
 * gateway/pwhash.h, gateway/store.h, tests/unit/tmpdb.h, libevent, libc,
 * cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>

#include "gateway/config.h"
#include "gateway/console_cli.h"
#include "gateway/console_core.h"
#include "gateway/pwhash.h"
#include "gateway/store.h"
#include "tests/unit/tmpdb.h"

/* ---- roles, names, passwords ----------------------------------------------- */

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(console_role_parse("viewer"), CONSOLE_VIEWER);
    assert_int_equal(console_role_parse("admin"), CONSOLE_ADMIN);
    assert_int_equal(console_role_parse("Admin"), -1);
    assert_int_equal(console_role_parse("nobody"), -1);
    assert_int_equal(console_role_parse(NULL), -1);
    assert_string_equal(console_role_name(CONSOLE_PUBLISHER), "publisher");
    assert_true(console_role_allows(CONSOLE_ADMIN, CONSOLE_PUBLISHER));
    assert_true(console_role_allows(CONSOLE_EDITOR, CONSOLE_EDITOR));
    assert_false(console_role_allows(CONSOLE_VIEWER, CONSOLE_EDITOR));
    assert_false(console_role_allows(CONSOLE_EDITOR, CONSOLE_ADMIN));
    /* no session: only open routes */
    assert_true(console_role_allows(CONSOLE_NOBODY, CONSOLE_NOBODY));
    assert_false(console_role_allows(CONSOLE_NOBODY, CONSOLE_VIEWER));
}

/* Each string of a table against a predicate. */
struct verdict {
    const char *in;
    bool ok;
};

static void check_all(bool (*pred)(const char *), const struct verdict *v,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pred(v[i].in) != v[i].ok)
            fail_msg("\"%s\": want %s", v[i].in ? v[i].in : "(null)",
                     v[i].ok ? "accepted" : "refused");
    }
}

/* A string of n copies of 'a' (static storage, n < 256). */
static const char *run_of_a(size_t n)
{
    static char buf[256];
    memset(buf, 'a', n);
    buf[n] = '\0';
    return buf;
}

static void test_names_passwords(void **state)
{
    (void)state;
    static const struct verdict names[] = {
        { "aida", true }, { "a.b-c_d@x", true }, { "0perator", true },
        { "", false }, { "-x", false }, { "=cmd", false }, { "Aida", false },
        { "a b", false }, { "a<b", false }, { NULL, false },
    };
    check_all(console_name_ok, names, sizeof names / sizeof names[0]);
    assert_false(console_name_ok(run_of_a(69)));
    assert_false(console_name_ok(run_of_a(65)));
    assert_true(console_name_ok(run_of_a(64)));
    assert_non_null(console_password_problem("short"));
    assert_non_null(console_password_problem("123456789"));
    assert_null(console_password_problem("1234567890"));
    assert_non_null(console_password_problem("12345678\t90"));
    assert_non_null(console_password_problem(NULL));
}

/* ---- cookies, tokens, sessions -------------------------------------------- */

static void test_cookie_get(void **state)
{
    (void)state;
    char v[80];
    assert_true(console_cookie_get("a=1; kz_console=abc; b=2", "kz_console", v,
                                   sizeof v));
    assert_string_equal(v, "abc");
    assert_true(console_cookie_get("kz_console=xyz", "kz_console", v, sizeof v));
    assert_string_equal(v, "xyz");
    /* a longer name that starts alike is another cookie */
    assert_false(console_cookie_get("kz_console2=evil", "kz_console", v,
                                    sizeof v));
    assert_false(console_cookie_get("x_kz_console=evil", "kz_console", v,
                                    sizeof v));
    assert_false(console_cookie_get(NULL, "kz_console", v, sizeof v));
    assert_false(console_cookie_get("kz_console=toolong", "kz_console", v, 4));
    assert_true(console_cookie_get("kz_console=v ; z=1", "kz_console", v,
                                   sizeof v));
    assert_string_equal(v, "v");
}

static void test_cookie_format(void **state)
{
    (void)state;
    char c[256];
    assert_true(console_cookie_format(c, sizeof c, "kz_console", "tok", false,
                                      3600) > 0);
    assert_non_null(strstr(c, "kz_console=tok;"));
    assert_non_null(strstr(c, "HttpOnly"));
    assert_non_null(strstr(c, "SameSite=Strict"));
    assert_non_null(strstr(c, "Path=/console"));
    assert_non_null(strstr(c, "Max-Age=3600"));
    assert_null(strstr(c, "Secure"));
    assert_true(console_cookie_format(c, sizeof c, "kz_console", "tok", true,
                                      60) > 0);
    assert_non_null(strstr(c, "; Secure"));
    /* the deletion: empty value, Max-Age=0 */
    assert_true(console_cookie_format(c, sizeof c, "kz_console", "tok", false,
                                      -1) > 0);
    assert_non_null(strstr(c, "kz_console=;"));
    assert_non_null(strstr(c, "Max-Age=0"));
    assert_int_equal(console_cookie_format(c, 10, "kz_console", "tok", false,
                                           1), -1);
}

static void test_tokens_csrf(void **state)
{
    (void)state;
    uint8_t b[CONSOLE_TOKEN_BYTES];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 37);
    char hex[CONSOLE_TOKEN_HEX + 1];
    console_hex(b, sizeof b, hex);
    assert_int_equal(strlen(hex), CONSOLE_TOKEN_HEX);
    assert_memory_equal(hex, "00254a6f94b9de03", 16);
    assert_true(console_token_ok(hex));
    hex[3] = 'G';
    assert_false(console_token_ok(hex));
    assert_false(console_token_ok("abc"));
    assert_false(console_token_ok(NULL));
    /* the CSRF comparison: equal only when equal, NULL never */
    assert_true(console_secret_eq("abcd", "abcd"));
    assert_false(console_secret_eq("abcd", "abce"));
    assert_false(console_secret_eq("abcd", "abc"));
    assert_false(console_secret_eq("", "abcd"));
    assert_false(console_secret_eq(NULL, "abcd"));
    assert_false(console_secret_eq("abcd", NULL));
}

static void test_session_live(void **state)
{
    (void)state;
    int64_t idle = 1000;
    assert_true(console_session_live(5000, 4500, 10000, idle));
    assert_false(console_session_live(5000, 4000, 10000, idle));   /* idle */
    assert_false(console_session_live(10000, 9999, 10000, idle));  /* max */
    assert_true(console_session_live(9999, 9999, 10000, idle));
}

/* ---- static files ------------------------------------------------------------- */

static void test_path_safe(void **state)
{
    (void)state;
    static const struct verdict paths[] = {
        { "console.css", true }, { "js/app-1.2.js", true },
        { "", false }, { NULL, false }, { "..", false },
        { "../etc/passwd", false }, { "a/../../b", false }, { "a/./b", false },
        { "/etc/passwd", false }, { "a//b", false }, { "a/", false },
        { ".htpasswd", false }, { "%2e%2e/x", false }, { "..%2fx", false },
        { "a\\..\\b", false }, { "a b.css", false }, { "a\nb", false },
    };
    check_all(console_path_safe, paths, sizeof paths / sizeof paths[0]);
    assert_true(console_path_safe(run_of_a(128)));
    assert_false(console_path_safe(run_of_a(129)));
}

static void test_content_type(void **state)
{
    (void)state;
    assert_string_equal(console_content_type("index.html"),
                        "text/html; charset=utf-8");
    assert_string_equal(console_content_type("static/console.css"),
                        "text/css; charset=utf-8");
    assert_string_equal(console_content_type("a.js"),
                        "text/javascript; charset=utf-8");
    assert_null(console_content_type("kyzmat.db"));
    assert_null(console_content_type("Makefile"));
}

/* ---- CSV --------------------------------------------------------------------- */

static void csv_is(const char *in, const char *want)
{
    char *c = console_csv_cell(in);
    assert_non_null(c);
    assert_string_equal(c, want);
    free(c);
}

static void test_csv_cell(void **state)
{
    (void)state;
    csv_is("plain", "plain");
    csv_is("", "");
    csv_is(NULL, "");
    csv_is("a,b", "\"a,b\"");
    csv_is("say \"hi\"", "\"say \"\"hi\"\"\"");
    csv_is("two\nlines", "\"two\nlines\"");
    csv_is("Кыргызча", "Кыргызча");
    /* formulas are neutralised */
    csv_is("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
    csv_is("+1", "\"'+1\"");
    csv_is("-2+3", "\"'-2+3\"");
    csv_is("@SUM(A1)", "\"'@SUM(A1)\"");
    csv_is("a=b", "a=b");
}

/* ---- the limiter -------------------------------------------------------------- */

static void test_limiter(void **state)
{
    (void)state;
    struct console_limiter *l = malloc(sizeof *l);
    assert_non_null(l);
    console_limit_init(l, 3, 1000);
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 0), 0);
    console_limit_fail(l, "1.2.3.4", 100);
    console_limit_fail(l, "1.2.3.4", 200);
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 300), 0);
    console_limit_fail(l, "1.2.3.4", 300);
    /* the third failure in the window: refused until 100 + 1000 */
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 400), 700);
    assert_int_equal(console_limit_wait(l, "5.6.7.8", 400), 0);
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 1100), 0);
    /* a failure after the window starts a new one */
    console_limit_fail(l, "1.2.3.4", 1200);
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 1200), 0);
    console_limit_fail(l, "1.2.3.4", 1200);
    console_limit_fail(l, "1.2.3.4", 1300);
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 1300), 900);
    console_limit_clear(l, "1.2.3.4");
    assert_int_equal(console_limit_wait(l, "1.2.3.4", 1300), 0);
    /* a full table reuses the oldest slot, never another key's count */
    char key[32];
    for (int i = 0; i < CONSOLE_LIMIT_SLOTS + 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        for (int k = 0; k < 3; k++)
            console_limit_fail(l, key, 5000 + (uint64_t)i);
    }
    assert_true(console_limit_wait(l, key, 5000 + CONSOLE_LIMIT_SLOTS) > 0);
    free(l);
}

static void test_parse_time(void **state)
{
    (void)state;
    assert_int_equal(console_parse_time("1970-01-02", false), 86400000);
    assert_int_equal(console_parse_time("1970-01-02", true), 2 * 86400000 - 1);
    assert_int_equal(console_parse_time("1234", false), 1234);
    assert_int_equal(console_parse_time("", false), -1);
    assert_int_equal(console_parse_time("2026-13-01", false), -1);
    assert_int_equal(console_parse_time("12x", false), -1);
    assert_int_equal(console_parse_time("-5", false), -1);
}

/* ---- the store block ------------------------------------------------------------ */

static int fx_setup(void **state)
{
    return tmpdb_setup(state, sizeof(struct tmpdb), "kz-console", NULL);
}

static void test_store_accounts(void **state)
{
    struct store *st = ((struct tmpdb *)*state)->st;
    int64_t id = 0, n = -1, admins = -1;
    assert_int_equal(store_account_counts(st, &n, &admins), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_account_add(st, "aida", "admin", "$h1", 10, &id),
                     STORE_OK);
    assert_true(id > 0);
    assert_int_equal(store_account_add(st, "aida", "viewer", "$h2", 11, NULL),
                     STORE_CONFLICT);
    assert_int_equal(store_account_add(st, "bek", "root", "$h2", 11, NULL),
                     STORE_CONFLICT);                /* no such role */
    assert_int_equal(store_account_add(st, "bek", "viewer", "$h2", 11, NULL),
                     STORE_OK);
    struct store_account a;
    assert_int_equal(store_account_get(st, "aida", &a), STORE_OK);
    assert_string_equal(a.role, "admin");
    assert_string_equal(a.pwhash, "$h1");
    assert_int_equal(a.created_at, 10);
    assert_int_equal(a.disabled_at, 0);
    assert_int_equal(store_account_get(st, "nobody", &a), STORE_NOTFOUND);
    assert_int_equal(store_account_counts(st, &n, &admins), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(admins, 1);
    assert_int_equal(store_account_set_role(st, "bek", "admin"), STORE_OK);
    assert_int_equal(store_account_set_disabled(st, "aida", 99), STORE_OK);
    assert_int_equal(store_account_counts(st, NULL, &admins), STORE_OK);
    assert_int_equal(admins, 1);                    /* aida is disabled */
    assert_int_equal(store_account_set_pwhash(st, "bek", "$h3"), STORE_OK);
    assert_int_equal(store_account_set_role(st, "ghost", "admin"),
                     STORE_NOTFOUND);
    struct store_account list[4];
    size_t got = 0;
    assert_int_equal(store_account_list(st, 0, list, 4, &got), STORE_OK);
    assert_int_equal(got, 2);
    assert_string_equal(list[0].name, "aida");
    assert_int_equal(list[0].disabled_at, 99);
    assert_string_equal(list[1].pwhash, "$h3");
}

static void test_store_sessions(void **state)
{
    struct store *st = ((struct tmpdb *)*state)->st;
    int64_t id;
    assert_int_equal(store_account_add(st, "aida", "editor", "$h", 1, &id),
                     STORE_OK);
    uint8_t h1[32] = { 1 }, h2[32] = { 2 };
    assert_int_equal(store_session_add(st, h1, 32, id, "csrf1", 100, 1000),
                     STORE_OK);
    assert_int_equal(store_session_add(st, h2, 32, id, "csrf2", 100, 200),
                     STORE_OK);
    struct store_session s;
    assert_int_equal(store_session_get(st, h1, 32, &s), STORE_OK);
    assert_string_equal(s.name, "aida");
    assert_string_equal(s.role, "editor");
    assert_string_equal(s.csrf, "csrf1");
    assert_int_equal(s.last_seen, 100);
    assert_int_equal(s.expires_at, 1000);
    assert_false(s.disabled);
    assert_int_equal(store_session_touch(st, h1, 32, 150), STORE_OK);
    assert_int_equal(store_session_get(st, h1, 32, &s), STORE_OK);
    assert_int_equal(s.last_seen, 150);
    /* the role is the account's as it is now */
    assert_int_equal(store_account_set_role(st, "aida", "viewer"), STORE_OK);
    assert_int_equal(store_session_get(st, h1, 32, &s), STORE_OK);
    assert_string_equal(s.role, "viewer");
    int64_t pruned = 0;
    assert_int_equal(store_sessions_prune(st, 500, 10, &pruned), STORE_OK);
    assert_int_equal(pruned, 1);                    /* h2 expired at 200 */
    assert_int_equal(store_session_get(st, h2, 32, &s), STORE_NOTFOUND);
    assert_int_equal(store_session_del(st, h1, 32), STORE_OK);
    assert_int_equal(store_session_get(st, h1, 32, &s), STORE_NOTFOUND);
    assert_int_equal(store_session_add(st, h1, 32, id, "c", 1, 9), STORE_OK);
    assert_int_equal(store_sessions_del_account(st, "aida"), STORE_OK);
    assert_int_equal(store_session_get(st, h1, 32, &s), STORE_NOTFOUND);
}

static void test_store_audit(void **state)
{
    struct store *st = ((struct tmpdb *)*state)->st;
    const char *actors[] = { "aida", "bek", "aida", "cli", "aida" };
    const char *actions[] = { "login", "login", "account.create", "token.create",
                              "logout" };
    for (int i = 0; i < 5; i++) {
        struct store_audit a = { .at = 1000 * (i + 1), .actor = actors[i],
                                 .peer = "127.0.0.1", .action = actions[i],
                                 .target = "t", .detail = "{}" };
        assert_int_equal(store_audit_add(st, &a), STORE_OK);
    }
    struct store_audit_rec rec[8];
    size_t n = 0;
    struct store_audit_filter f = { .actor = "aida" };
    assert_int_equal(store_audit_list(st, &f, rec, 8, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rec[0].action, "logout");   /* newest first */
    assert_string_equal(rec[2].action, "login");
    f = (struct store_audit_filter){ .action = "login" };
    assert_int_equal(store_audit_list(st, &f, rec, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    f = (struct store_audit_filter){ .from = 2000, .to = 4000 };
    assert_int_equal(store_audit_list(st, &f, rec, 8, &n), STORE_OK);
    assert_int_equal(n, 3);
    /* paging: two, then the rest below the last id */
    f = (struct store_audit_filter){ 0 };
    assert_int_equal(store_audit_list(st, &f, rec, 2, &n), STORE_OK);
    assert_int_equal(n, 2);
    f.before_id = rec[1].id;
    assert_int_equal(store_audit_list(st, &f, rec, 8, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rec[2].actor, "aida");
    assert_int_equal(rec[2].at, 1000);
}

/* The audit log is append-only: the database itself refuses a change. */
static void test_audit_append_only(void **state)
{
    struct tmpdb *t = *state;
    struct store_audit a = { .at = 1, .actor = "aida", .action = "login" };
    assert_int_equal(store_audit_add(t->st, &a), STORE_OK);
    static const struct store_migration tamper[] = {
        { "99 tamper", "UPDATE audit SET actor = 'mallory';" },
    };
    store_close(t->st);
    t->st = NULL;
    struct store *st = NULL;
    char err[256] = "";
    assert_int_not_equal(store_open_with(t->path, STORE_SYNC_NORMAL, tamper, 1,
                                         &st, err, sizeof err), STORE_OK);
    assert_non_null(strstr(err, "append-only"));
    static const struct store_migration wipe[] = {
        { "99 wipe", "DELETE FROM audit;" },
    };
    assert_int_not_equal(store_open_with(t->path, STORE_SYNC_NORMAL, wipe, 1,
                                         &st, err, sizeof err), STORE_OK);
    t->st = tmpdb_connect(t);
    struct store_audit_rec rec[2];
    size_t n = 0;
    assert_int_equal(store_audit_list(t->st, NULL, rec, 2, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rec[0].actor, "aida");
}

/* ---- pwhash ---------------------------------------------------------------------- */

struct got {
    int calls, rc;
    char hash[PWHASH_STR_MAX];
    struct event_base *base;
};

static void on_hashed(void *arg, int rc, const char *hash)
{
    struct got *g = arg;
    g->calls++;
    g->rc = rc;
    if (hash)
        snprintf(g->hash, sizeof g->hash, "%s", hash);
    event_base_loopbreak(g->base);
}

static void wait_for(struct got *g, int calls)
{
    while (g->calls < calls)
        event_base_loop(g->base, EVLOOP_ONCE);
}

static void test_pwhash_worker(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct pwhash *p = pwhash_new(base);
    assert_non_null(p);
    struct got g = { .base = base };
    assert_int_equal(pwhash_hash(p, "correct horse", on_hashed, &g), 0);
    assert_int_equal(g.calls, 0);                   /* never inside the call */
    wait_for(&g, 1);
    assert_int_equal(g.rc, PWHASH_OK);
    assert_non_null(strstr(g.hash, "$argon2id$"));
    char stored[PWHASH_STR_MAX];
    snprintf(stored, sizeof stored, "%s", g.hash);
    assert_int_equal(pwhash_verify(p, stored, "correct horse", on_hashed, &g), 0);
    wait_for(&g, 2);
    assert_int_equal(g.rc, PWHASH_OK);
    assert_int_equal(pwhash_verify(p, stored, "wrong horse", on_hashed, &g), 0);
    wait_for(&g, 3);
    assert_int_equal(g.rc, PWHASH_MISMATCH);
    assert_int_equal(pwhash_verify(p, NULL, "anything", on_hashed, &g), 0);
    wait_for(&g, 4);
    assert_int_equal(g.rc, PWHASH_MISMATCH);
    assert_int_equal(pwhash_verify_now(stored, "correct horse"), PWHASH_OK);
    /* jobs left at free are cancelled, each told once */
    struct got c = { .base = base };
    for (int i = 0; i < PWHASH_QUEUE_MAX; i++)
        assert_int_equal(pwhash_hash(p, "queued password", on_hashed, &c), 0);
    assert_int_equal(pwhash_hash(p, "one too many", on_hashed, &c), -1);
    assert_int_equal(pwhash_pending(p), PWHASH_QUEUE_MAX);
    pwhash_free(p);
    assert_int_equal(c.calls, PWHASH_QUEUE_MAX);
    assert_int_equal(c.rc, PWHASH_CANCELLED);
    event_base_free(base);
}

/* ---- --create-admin ---------------------------------------------------------------- */

static int run_create(struct store *st, const char *name, bool random,
                      const char *input, char *out, size_t cap)
{
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    FILE *o = fmemopen(out, cap, "w");
    assert_non_null(in);
    assert_non_null(o);
    int rc = console_create_admin(st, name, random, in, o, o);
    fclose(in);
    fclose(o);
    return rc;
}

static void test_create_admin(void **state)
{
    struct store *st = ((struct tmpdb *)*state)->st;
    char out[512] = "";
    assert_int_equal(run_create(st, "aida", false, "tooshort\n", out, sizeof out), 1);
    assert_non_null(strstr(out, "too short"));
    assert_int_equal(run_create(st, "Bad Name", false, "long enough pw\n", out,
                                sizeof out), 1);
    assert_non_null(strstr(out, "bad account name"));
    assert_int_equal(run_create(st, "aida", false, "long enough pw\n", out,
                                sizeof out), 0);
    assert_non_null(strstr(out, "created admin account \"aida\""));
    struct store_account a;
    assert_int_equal(store_account_get(st, "aida", &a), STORE_OK);
    assert_string_equal(a.role, "admin");
    assert_int_equal(pwhash_verify_now(a.pwhash, "long enough pw"), PWHASH_OK);
    assert_int_equal(run_create(st, "aida", false, "long enough pw\n", out,
                                sizeof out), 1);
    assert_non_null(strstr(out, "exists already"));
    assert_int_equal(run_create(st, "root", true, "", out, sizeof out), 0);
    const char *pw = strstr(out, "with password ");
    assert_non_null(pw);
    char given[32];
    assert_int_equal(sscanf(pw + 14, "%31s", given), 1);
    assert_true(strlen(given) >= CONSOLE_PASSWORD_MIN);
    assert_int_equal(store_account_get(st, "root", &a), STORE_OK);
    assert_int_equal(pwhash_verify_now(a.pwhash, given), PWHASH_OK);
    struct store_audit_rec rec[4];
    size_t n = 0;
    struct store_audit_filter f = { .action = "account.create" };
    assert_int_equal(store_audit_list(st, &f, rec, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rec[0].actor, "cli");
    assert_string_equal(rec[0].target, "root");
    assert_null(strstr(rec[0].detail, given));      /* never the password */
}

/* ---- admin.console in the configuration ------------------------------------------ */

static void test_config_console(void **state)
{
    (void)state;
    static const char good[] =
        "admin:\n  listen: 127.0.0.1:0\n  console:\n    session_idle: 5m\n"
        "    session_max: 2h\n    login_failures: 3\n    login_window: 1m\n"
        "    dir: /srv/console\n";
    struct config *cfg = NULL;
    struct config_errors errs = { 0 };
    assert_int_equal(config_parse_string(good, strlen(good), NULL, &cfg, &errs), 0);
    assert_int_equal(cfg->console_idle_ms, 5 * 60 * 1000);
    assert_int_equal(cfg->console_max_ms, 2 * 3600 * 1000);
    assert_int_equal(cfg->console_login_max, 3);
    assert_int_equal(cfg->console_login_window_ms, 60 * 1000);
    assert_string_equal(cfg->console_dir, "/srv/console");
    config_free(cfg);
    cfg = config_defaults();
    assert_non_null(cfg);
    assert_int_equal(cfg->console_idle_ms, 30 * 60 * 1000);
    assert_int_equal(cfg->console_login_max, 5);
    assert_string_equal(cfg->console_dir, "");
    config_free(cfg);
    /* an unknown key is named with its full path; console is no top key */
    static const char bad[] = "admin:\n  console:\n    sesion_idle: 5m\n"
                              "console:\n  dir: x\n";
    cfg = NULL;
    assert_int_equal(config_parse_string(bad, strlen(bad), NULL, &cfg, &errs), -1);
    assert_null(cfg);
    assert_int_equal(errs.n, 2);
    assert_non_null(strstr(errs.v[0].msg, "admin.console"));
    assert_non_null(strstr(errs.v[0].msg, "session_idle"));   /* the hint */
    config_errors_free(&errs);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, tmpdb_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_names_passwords),
        cmocka_unit_test(test_cookie_get),
        cmocka_unit_test(test_cookie_format),
        cmocka_unit_test(test_tokens_csrf),
        cmocka_unit_test(test_session_live),
        cmocka_unit_test(test_path_safe),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_csv_cell),
        cmocka_unit_test(test_limiter),
        cmocka_unit_test(test_parse_time),
        T(test_store_accounts),
        T(test_store_sessions),
        T(test_store_audit),
        T(test_audit_append_only),
        cmocka_unit_test(test_pwhash_worker),
        T(test_create_admin),
        cmocka_unit_test(test_config_console),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
