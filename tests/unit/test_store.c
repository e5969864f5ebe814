/*
 * tests/unit/test_store.c — cmocka tests of the storage module
 * (gateway/store.c) against real SQLite files in a fresh mkdtemp directory
 * under /tmp per test (removed afterwards).
 *
 * Covers: migrations from empty, idempotent re-open, a failing migration
 * leaving the file unchanged, a newer schema refused; every operation
 * (USSD push notices and their per-phone count too);
 * idempotent enqueue; receipts matched across hex and decimal ids; lease
 * expiry re-queueing (by call and at re-open); bounded pruning; group
 * commit owned by the store (batches, a failed commit, the commit waiters
 * and their re-entrancy rules, atomic groups, the commit once per pass of
 * a real loop).
 * Two tests use real concurrency with fork(): N processes, each with its
 * own connection, race for the last 3 places of a slot (exactly 3 must win;
 * the parent holds the write lock until every racer has been told
 * STORE_BUSY once, so the retry path is exercised, and busy must never
 * turn into a refusal); and a child that enqueues on a loop and reports
 * ids only from its commit waiter is killed with SIGKILL midway, after
 * which every reported id must be in the database.  Children leave
 * with _exit() so cmocka's state in the parent is untouched.
 *
 * Owns: its temp directories (made and removed by tests/unit/tmpdb.h).
 * May call: gateway/store.h, tests/unit/tmpdb.h, libevent, libc, POSIX,
 * cmocka; SQLite directly only to fill a database as an older schema
 * version had it (a migration's test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <sqlite3.h>

#include "tests/unit/tmpdb.h"
#include "gateway/store.h"

/* ---- fixture: a temp directory and a database path in it ---------------- */

/* The tests open the database themselves (f->db.st = tmpdb_connect()), so
 * that each sees the migrations run. */
struct fx {
    struct tmpdb db;            /* first: tmpdb_setup_dir/teardown */
};

static int fx_setup(void **state)
{
    return tmpdb_setup_dir(state, sizeof(struct fx), "kzstore", TMPDB_FILE);
}

static const int64_t T0 = 1800000000000;  /* a fixed "now" in ms */

/* ---- migrations ------------------------------------------------------------- */

static void test_migrations(void **state)
{
    struct fx *f = *state;
    char err[256];
    struct store *st = tmpdb_connect(&f->db);
    assert_int_equal(store_schema_version(st), store_builtin_version());
    assert_true(store_builtin_version() >= 4);
    int64_t id = 0;
    assert_int_equal(store_agency_put(st, "gov", "Government", &id), STORE_OK);
    store_close(st);

    /* re-open: nothing to apply, data kept */
    st = tmpdb_connect(&f->db);
    assert_int_equal(store_schema_version(st), store_builtin_version());
    int64_t id2 = 0;
    assert_int_equal(store_agency_by_code(st, "gov", &id2), STORE_OK);
    assert_int_equal(id, id2);
    store_close(st);

    /* a migration whose second statement fails leaves nothing behind */
    struct store_migration broken = {
        "broken", "CREATE TABLE extra_t(x); CREATE TABLE extra_t(y);" };
    st = NULL;
    int rc = store_open_with(f->db.path, STORE_SYNC_NORMAL, &broken, 1, &st,
                             err, sizeof err);
    assert_int_equal(rc, STORE_ERROR);
    assert_null(st);
    assert_non_null(strstr(err, "broken"));
    char want[32];
    snprintf(want, sizeof want, "migration %d", store_builtin_version() + 1);
    assert_non_null(strstr(err, want));

    st = tmpdb_connect(&f->db);
    assert_int_equal(store_schema_version(st), store_builtin_version());
    store_close(st);

    /* the same table name is free, so the first statement was undone */
    struct store_migration good = { "extra", "CREATE TABLE extra_t(x);" };
    rc = store_open_with(f->db.path, STORE_SYNC_FULL, &good, 1, &st, err,
                         sizeof err);
    assert_int_equal(rc, STORE_OK);
    assert_int_equal(store_schema_version(st), store_builtin_version() + 1);
    store_close(st);

    /* a database newer than the build is refused, and not touched */
    st = NULL;
    rc = store_open(f->db.path, STORE_SYNC_NORMAL, &st, err, sizeof err);
    assert_int_equal(rc, STORE_ERROR);
    assert_null(st);
    assert_non_null(strstr(err, "newer"));

    /* bad arguments */
    assert_int_equal(store_open("", STORE_SYNC_NORMAL, &st, err, sizeof err),
                     STORE_INVALID);
    assert_int_equal(store_open("/nonexistent-dir/x/y.db", STORE_SYNC_NORMAL,
                                &st, err, sizeof err), STORE_ERROR);
    assert_null(st);
}

/* Issue 14 item 6: the migration to per-agency application numbers, on a
 * database filled as the version before it had it (raw SQL: the store's
 * own statements are the new schema's).  Every application and history
 * row is kept (ids, so the order, too), the topics "app:NUMBER" become
 * "app:AGENCY_ID/NUMBER" (gateway/notify's notify_topic()), other topics
 * stay, and another agency may then use the same number. */
static void test_migration_app_numbers(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(store_test_migrate_before(f->db.path,
                                               "application numbers per agency",
                                               err, sizeof err), STORE_OK);
    assert_int_equal(store_test_migrate_before(f->db.path, "no such", err,
                                               sizeof err), STORE_NOTFOUND);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db.path, &db), SQLITE_OK);
    static const char fill[] =
        "PRAGMA foreign_keys=ON;"
        "INSERT INTO agencies(id, code, name) VALUES(1, 'MVD', 'Police'),"
        " (2, 'GRS', 'Registry');"
        "INSERT INTO services(id, code, agency_id) VALUES(5, 'passport', 2);"
        "INSERT INTO applications(number, agency_id, service_id, owner_msisdn,"
        " status, updated_at) VALUES"
        " ('12345', 1, NULL, '996700000001', 'ready', 1000),"
        " ('PAS-7', 2, 5, '996700000002', 'processing', 2000);"
        "INSERT INTO application_history(id, number, status, note, at) VALUES"
        " (10, '12345', 'received', 'filed', 900),"
        " (11, 'PAS-7', 'received', NULL, 1900),"
        " (12, '12345', 'ready', NULL, 1000),"
        " (13, 'PAS-7', 'processing', 'x', 2000);"
        "INSERT INTO subscriptions(msisdn, topic, created_at) VALUES"
        " ('996700000009', 'app:12345', 1), ('996700000009', 'app:99999', 1),"
        " ('996700000009', 'news', 1);"
        "INSERT INTO sub_mutes(msisdn, topic, at) VALUES"
        " ('996700000002', 'app:PAS-7', 1);";
    assert_int_equal(sqlite3_exec(db, fill, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct store *st = tmpdb_connect(&f->db);
    assert_int_equal(store_schema_version(st), store_builtin_version());
    struct store_app a;
    assert_int_equal(store_app_get(st, 1, "12345", &a), STORE_OK);
    assert_string_equal(a.status, "ready");
    assert_string_equal(a.owner, "996700000001");
    assert_string_equal(a.agency, "MVD");
    assert_int_equal(a.service_id, 0);
    assert_int_equal(a.updated_at, 1000);
    assert_int_equal(store_app_get(st, 2, "PAS-7", &a), STORE_OK);
    assert_int_equal(a.service_id, 5);
    assert_string_equal(a.status, "processing");
    assert_int_equal(store_app_get(st, 2, "12345", &a), STORE_NOTFOUND);
    struct store_app_event ev[4];
    size_t n = 0;
    assert_int_equal(store_app_history(st, 1, "12345", ev, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].status, "ready");
    assert_string_equal(ev[1].status, "received");
    assert_string_equal(ev[1].note, "filed");
    assert_int_equal(ev[1].at, 900);
    assert_int_equal(store_app_history(st, 2, "PAS-7", ev, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].note, "x");

    char ms[2][STORE_MSISDN_MAX];
    int64_t cur[2];
    assert_int_equal(store_sub_list(st, "app:1/12345", 0, ms, cur, 2, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0], "996700000009");
    assert_int_equal(store_sub_list(st, "app:12345", 0, ms, cur, 2, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_sub_list(st, "app:99999", 0, ms, cur, 2, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_sub_list(st, "news", 0, ms, cur, 2, &n), STORE_OK);
    assert_int_equal(n, 1);
    bool muted = false;
    assert_int_equal(store_sub_muted(st, "996700000002", "app:2/PAS-7", &muted),
                     STORE_OK);
    assert_true(muted);

    /* GRS may now have its own 12345; MVD's is untouched */
    assert_int_equal(store_app_status(st, "12345", 2, 0, "996700000003", "new",
                                      NULL, T0), STORE_OK);
    assert_int_equal(store_app_get(st, 1, "12345", &a), STORE_OK);
    assert_string_equal(a.status, "ready");
    assert_int_equal(store_app_history(st, 1, "12345", ev, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    store_close(st);
}

/* ---- directory: agencies, services, offices, tokens --------------------- */

/* One listed template: its status, language and body. */
static void expect_template(const struct store_template *t, const char *status,
                            const char *lang, const char *body)
{
    assert_string_equal(t->status, status);
    assert_string_equal(t->lang, lang);
    assert_string_equal(t->body, body);
}

static void test_directory(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t gov = 0, tax = 0, id = 0, ag = 0;
    assert_int_equal(store_agency_put(st, "gov", "Gov", &gov), STORE_OK);
    assert_int_equal(store_agency_put(st, "tax", "Tax", &tax), STORE_OK);
    assert_int_equal(store_agency_put(st, "gov", "Government", &id), STORE_OK);
    assert_int_equal(id, gov);
    assert_int_equal(store_agency_by_code(st, "nope", &id), STORE_NOTFOUND);
    assert_int_equal(store_agency_put(st, "", "x", &id), STORE_INVALID);

    int64_t pass = 0;
    assert_int_equal(store_service_put(st, gov, "passport", &pass), STORE_OK);
    assert_int_equal(store_service_put(st, gov, "passport", &id), STORE_OK);
    assert_int_equal(id, pass);
    assert_int_equal(store_service_put(st, tax, "passport", &id),
                     STORE_CONFLICT);
    assert_int_equal(store_service_put(st, 9999, "ghost", &id),
                     STORE_NOTFOUND);
    assert_int_equal(store_service_by_code(st, "passport", &id, &ag),
                     STORE_OK);
    assert_int_equal(id, pass);
    assert_int_equal(ag, gov);

    char name[STORE_NAME_MAX], addr[STORE_NAME_MAX];
    assert_int_equal(store_service_name_set(st, pass, "ky", "Паспорт ky"),
                     STORE_OK);
    assert_int_equal(store_service_name_set(st, pass, "ru", "Паспорт"),
                     STORE_OK);
    assert_int_equal(store_service_name_set(st, pass, "ru", "Паспорт РФ"),
                     STORE_OK);
    assert_int_equal(store_service_name(st, pass, "ru", "ky", name,
                                        sizeof name), STORE_OK);
    assert_string_equal(name, "Паспорт РФ");
    assert_int_equal(store_service_name(st, pass, "en", "ky", name,
                                        sizeof name), STORE_OK);
    assert_string_equal(name, "Паспорт ky");
    assert_int_equal(store_service_name(st, pass, "en", NULL, name,
                                        sizeof name), STORE_NOTFOUND);
    assert_int_equal(store_service_name_set(st, 424242, "ru", "x"),
                     STORE_NOTFOUND);

    int64_t off = 0;
    assert_int_equal(store_office_put(st, gov, "bishkek-1", &off), STORE_OK);
    assert_int_equal(store_office_put(st, tax, "bishkek-1", &id),
                     STORE_CONFLICT);
    assert_int_equal(store_office_by_code(st, "bishkek-1", &id, &ag),
                     STORE_OK);
    assert_int_equal(id, off);
    assert_int_equal(store_office_name_set(st, off, "ru", "ЦОН 1",
                                           "Чуй 100"), STORE_OK);
    assert_int_equal(store_office_name(st, off, "ky", "ru", name, sizeof name,
                                       addr, sizeof addr), STORE_OK);
    assert_string_equal(name, "ЦОН 1");
    assert_string_equal(addr, "Чуй 100");

    /* an office offers a service once it publishes a slot for it */
    int64_t ids[4];
    size_t n = 9;
    assert_int_equal(store_offices_for_service(st, pass, 0, ids, 4, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    int64_t off2 = 0, slot = 0;
    assert_int_equal(store_office_put(st, gov, "osh-1", &off2), STORE_OK);
    assert_int_equal(store_slot_put(st, off2, pass, "2027-01-10", "09:00", 2,
                                    &slot), STORE_OK);
    assert_int_equal(store_slot_put(st, off, pass, "2027-01-10", "09:00", 2,
                                    &slot), STORE_OK);
    assert_int_equal(store_slot_put(st, off, pass, "2027-01-10", "09:30", 2,
                                    &slot), STORE_OK);
    assert_int_equal(store_offices_for_service(st, pass, 0, ids, 4, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_true(ids[0] < ids[1]);
    assert_int_equal(store_offices_for_service(st, pass, ids[0], ids, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 1);

    /* API tokens: stored by hash, revocable */
    unsigned char h1[32], h2[32];
    memset(h1, 0xA5, sizeof h1);
    memset(h2, 0x5A, sizeof h2);
    char scopes[STORE_SCOPES_MAX];
    assert_int_equal(store_token_add(st, h1, sizeof h1, gov, "status,slots",
                                     T0), STORE_OK);
    assert_int_equal(store_token_add(st, h1, sizeof h1, gov, "x", T0),
                     STORE_CONFLICT);
    assert_int_equal(store_token_get(st, h1, sizeof h1, &id, scopes,
                                     sizeof scopes), STORE_OK);
    assert_int_equal(id, gov);
    assert_string_equal(scopes, "status,slots");
    assert_int_equal(store_token_get(st, h2, sizeof h2, &id, NULL, 0),
                     STORE_NOTFOUND);
    assert_int_equal(store_token_revoke(st, h1, sizeof h1, T0 + 1), STORE_OK);
    assert_int_equal(store_token_get(st, h1, sizeof h1, &id, NULL, 0),
                     STORE_NOTFOUND);
    assert_int_equal(store_token_revoke(st, h1, sizeof h1, T0 + 2),
                     STORE_NOTFOUND);
}

/* ---- applications, templates, lookup limit, subscriptions --------------- */

/* Applications: created with an owner, changed by their agency only,
 * with their history.  Numbers are per agency (issue 14 item 6): another
 * agency's change of the same number is a new application of its own
 * (needing its owner, as any new one), and leaves gov's untouched. */
static void apps_and_history(struct store *st, int64_t gov, int64_t tax,
                             int64_t pass)
{
    /* new application needs its owner */
    assert_int_equal(store_app_status(st, "A-1", gov, pass, NULL, "received",
                                      NULL, T0), STORE_INVALID);
    assert_int_equal(store_app_status(st, "A-1", gov, pass, "996700111222",
                                      "received", "filed", T0), STORE_OK);
    assert_int_equal(store_app_status(st, "A-1", gov, 0, NULL, "approved",
                                      "ok", T0 + 10), STORE_OK);
    /* another agency can change nothing of it: without an owner its "A-1"
     * is new to it (refused as for any new number), with one it is its
     * own A-1 */
    assert_int_equal(store_app_status(st, "A-1", tax, 0, NULL, "rejected",
                                      NULL, T0 + 20), STORE_INVALID);
    assert_int_equal(store_app_status(st, "A-1", tax, 0, "996700999999",
                                      "rejected", NULL, T0 + 20),
                     STORE_OK);
    struct store_app a;
    assert_int_equal(store_app_get(st, gov, "A-1", &a), STORE_OK);
    assert_string_equal(a.status, "approved");
    assert_string_equal(a.owner, "996700111222");
    assert_int_equal(a.agency_id, gov);
    assert_string_equal(a.agency, "gov");
    assert_string_equal(a.number, "A-1");
    assert_int_equal(a.service_id, pass);
    assert_int_equal(a.updated_at, T0 + 10);
    assert_int_equal(store_app_get(st, gov, "A-2", &a), STORE_NOTFOUND);
    assert_int_equal(store_app_get(st, tax, "A-1", &a), STORE_OK);
    assert_string_equal(a.status, "rejected");
    assert_string_equal(a.owner, "996700999999");
    assert_int_equal(a.agency_id, tax);
    assert_int_equal(a.service_id, 0);

    struct store_app_event ev[5];
    size_t n = 0;
    assert_int_equal(store_app_history(st, gov, "A-1", ev, 5, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].status, "approved");
    assert_string_equal(ev[0].note, "ok");
    assert_string_equal(ev[1].status, "received");
    assert_int_equal(ev[1].at, T0);
    assert_int_equal(store_app_history(st, gov, "A-1", ev, 1, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_app_history(st, tax, "A-1", ev, 5, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].status, "rejected");
}

/* Issue 14 item 6: a citizen's own applications of one number, across
 * agencies; another owner's are never found. */
static void apps_found_by_owner(struct store *st, int64_t gov, int64_t tax)
{
    const char *me = "996700555000";
    assert_int_equal(store_app_status(st, "77", gov, 0, me, "ready", NULL, T0),
                     STORE_OK);
    assert_int_equal(store_app_status(st, "77", tax, 0, "996700555111",
                                      "ready", NULL, T0), STORE_OK);
    struct store_app a[4];
    size_t n = 9;
    assert_int_equal(store_app_find(st, "77", me, a, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].agency_id, gov);
    assert_string_equal(a[0].agency, "gov");
    assert_string_equal(a[0].number, "77");
    assert_string_equal(a[0].owner, me);
    /* the same number of the same owner at tax: both, by agency */
    assert_int_equal(store_app_status(st, "77", tax, 0, me, "new", NULL, T0),
                     STORE_OK);
    assert_int_equal(store_app_find(st, "77", me, a, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(a[0].agency_id, gov);
    assert_int_equal(a[1].agency_id, tax);
    assert_string_equal(a[1].status, "new");
    assert_int_equal(store_app_find(st, "77", me, a, 1, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_app_find(st, "77", "996700555222", a, 4, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_app_find(st, "", me, a, 4, &n), STORE_INVALID);
}

/* Templates: exact, then agency 0, then status "*"; listed and deleted. */
static void templates(struct store *st, int64_t gov, int64_t tax)
{
    char *body = NULL;
    assert_int_equal(store_template_get(st, gov, "approved", "ru", &body),
                     STORE_NOTFOUND);
    assert_null(body);
    assert_int_equal(store_template_set(st, 0, "*", "ru", "generic"),
                     STORE_OK);
    assert_int_equal(store_template_set(st, 0, "approved", "ru", "global ok"),
                     STORE_OK);
    assert_int_equal(store_template_set(st, gov, "approved", "ru", "gov ok"),
                     STORE_OK);
    assert_int_equal(store_template_get(st, gov, "approved", "ru", &body),
                     STORE_OK);
    assert_string_equal(body, "gov ok");
    free(body);
    assert_int_equal(store_template_get(st, tax, "approved", "ru", &body),
                     STORE_OK);
    assert_string_equal(body, "global ok");
    free(body);
    assert_int_equal(store_template_get(st, tax, "rejected", "ru", &body),
                     STORE_OK);
    assert_string_equal(body, "generic");
    free(body);
    assert_int_equal(store_template_get(st, tax, "rejected", "ky", &body),
                     STORE_NOTFOUND);

    /* list: the agency's own templates only, by (status, lang), paged */
    assert_int_equal(store_template_set(st, gov, "*", "ky", "gov any"),
                     STORE_OK);
    assert_int_equal(store_template_set(st, gov, "approved", "en", "gov en"),
                     STORE_OK);
    assert_int_equal(store_template_set(st, gov, "booking.moved", "ky",
                                        "{day} {time}"), STORE_OK);
    struct store_template tl[4];
    size_t tn = 0;
    assert_int_equal(store_template_list(st, gov, NULL, NULL, tl, 2, &tn),
                     STORE_OK);
    assert_int_equal(tn, 2);
    expect_template(&tl[0], "*", "ky", "gov any");
    expect_template(&tl[1], "approved", "en", "gov en");
    char cs[STORE_CODE_MAX], cl[STORE_LANG_MAX];
    snprintf(cs, sizeof cs, "%s", tl[1].status);
    snprintf(cl, sizeof cl, "%s", tl[1].lang);
    store_templates_free(tl, tn);
    assert_int_equal(store_template_list(st, gov, cs, cl, tl, 4, &tn),
                     STORE_OK);
    assert_int_equal(tn, 2);
    expect_template(&tl[0], "approved", "ru", "gov ok");
    expect_template(&tl[1], "booking.moved", "ky", "{day} {time}");
    store_templates_free(tl, tn);
    assert_int_equal(store_template_list(st, gov, "booking.moved", "ky", tl, 4,
                                         &tn), STORE_OK);
    assert_int_equal(tn, 0);
    assert_int_equal(store_template_list(st, tax, NULL, NULL, tl, 4, &tn),
                     STORE_OK);
    assert_int_equal(tn, 0);   /* agency 0's fallbacks are not tax's own */
    /* delete: only the agency's own row; the fallback shows through again */
    assert_int_equal(store_template_delete(st, tax, "approved", "ru"),
                     STORE_NOTFOUND);
    assert_int_equal(store_template_delete(st, gov, "approved", "ru"),
                     STORE_OK);
    assert_int_equal(store_template_delete(st, gov, "approved", "ru"),
                     STORE_NOTFOUND);
    assert_int_equal(store_template_get(st, gov, "approved", "ru", &body),
                     STORE_OK);
    assert_string_equal(body, "global ok");
    free(body);
    assert_int_equal(store_template_delete(st, gov, "", "ru"), STORE_INVALID);

}

static void lookup_limit(struct store *st)
{
    /* lookup limit: 3 failures in 60 s lock for 600 s */
    int fails = 0;
    int64_t until = 0;
    const char *p = "996555000001";
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(store_lookup_failed(st, p, T0 + i, 60000, 3, 600000,
                                             &fails, &until), STORE_OK);
        assert_int_equal(fails, i);
        assert_int_equal(until, 0);
    }
    assert_int_equal(store_lookup_locked(st, p, T0 + 3, &until), STORE_OK);
    assert_int_equal(until, 0);
    assert_int_equal(store_lookup_failed(st, p, T0 + 3, 60000, 3, 600000,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 3);
    assert_int_equal(until, T0 + 3 + 600000);
    assert_int_equal(store_lookup_locked(st, p, T0 + 1000, &until), STORE_OK);
    assert_int_equal(until, T0 + 3 + 600000);
    assert_int_equal(store_lookup_locked(st, p, T0 + 700000, &until),
                     STORE_OK);
    assert_int_equal(until, 0);
    /* a new window starts counting from 1 */
    assert_int_equal(store_lookup_failed(st, p, T0 + 700000, 60000, 3, 600000,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 1);
    assert_int_equal(until, 0);
    assert_int_equal(store_lookup_clear(st, p), STORE_OK);
    assert_int_equal(store_lookup_failed(st, p, T0 + 700001, 60000, 1, 5,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 1);
    assert_int_equal(until, T0 + 700006);
    assert_int_equal(store_lookup_locked(st, "996555000002", T0, &until),
                     STORE_OK);
    assert_int_equal(until, 0);

}

/* Issue 14 item 7: the window slides.  Misses are counted over the last
 * window_ms, not from the first miss, so two misses at the end of one
 * window and one at the start of the next lock; and nothing but
 * store_lookup_clear forgets them (the owner's own lookups in between
 * change nothing). */
static void lookup_window_slides(struct store *st)
{
    const char *p = "996555000003";
    int fails = 0;
    int64_t until = 0;
    struct store_app app;
    assert_int_equal(store_lookup_failed(st, p, T0, 60000, 3, 600000, &fails,
                                         &until), STORE_OK);
    assert_int_equal(fails, 1);
    assert_int_equal(store_lookup_failed(st, p, T0 + 59000, 60000, 3, 600000,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 2);
    assert_int_equal(until, 0);
    /* the owner's own lookup in between: a read, it clears nothing */
    (void)store_app_get(st, 1, "12345", &app);
    /* T0 has left the window; T0 + 59000 has not */
    assert_int_equal(store_lookup_failed(st, p, T0 + 60000, 60000, 3, 600000,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 2);
    assert_int_equal(until, 0);
    (void)store_app_get(st, 1, "12345", &app);
    assert_int_equal(store_lookup_failed(st, p, T0 + 60001, 60000, 3, 600000,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 3);
    assert_int_equal(until, T0 + 60001 + 600000);
    assert_int_equal(store_lookup_locked(st, p, T0 + 60002, &until), STORE_OK);
    assert_int_equal(until, T0 + 60001 + 600000);
    /* an operator's clear forgets the misses and the lock */
    assert_int_equal(store_lookup_clear(st, p), STORE_OK);
    assert_int_equal(store_lookup_locked(st, p, T0 + 60002, &until), STORE_OK);
    assert_int_equal(until, 0);
    assert_int_equal(store_lookup_failed(st, p, T0 + 60003, 60000, 3, 600000,
                                         &fails, &until), STORE_OK);
    assert_int_equal(fails, 1);
}

static void subs_and_optout(struct store *st)
{
    /* subscriptions, paged; STOP drops them all */
    char ms[2][STORE_MSISDN_MAX];
    size_t n = 0;
    int64_t cur[2];
    assert_int_equal(store_sub_add(st, "996700000001", "app:A-1", T0),
                     STORE_OK);
    assert_int_equal(store_sub_add(st, "996700000001", "app:A-1", T0),
                     STORE_OK);
    assert_int_equal(store_sub_add(st, "996700000002", "app:A-1", T0),
                     STORE_OK);
    assert_int_equal(store_sub_add(st, "996700000003", "app:A-1", T0),
                     STORE_OK);
    assert_int_equal(store_sub_add(st, "996700000001", "news", T0), STORE_OK);
    assert_int_equal(store_sub_list(st, "app:A-1", 0, ms, cur, 2, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ms[0], "996700000001");
    assert_string_equal(ms[1], "996700000002");
    assert_int_equal(store_sub_list(st, "app:A-1", cur[1], ms, cur, 2, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0], "996700000003");
    assert_int_equal(store_sub_remove(st, "996700000003", "app:A-1"),
                     STORE_OK);
    assert_int_equal(store_sub_remove(st, "996700000003", "app:A-1"),
                     STORE_NOTFOUND);

    bool out = true;
    assert_int_equal(store_optout_get(st, "996700000001", &out), STORE_OK);
    assert_false(out);
    assert_int_equal(store_optout_set(st, "996700000001", T0), STORE_OK);
    assert_int_equal(store_optout_set(st, "996700000001", T0), STORE_OK);
    assert_int_equal(store_optout_get(st, "996700000001", &out), STORE_OK);
    assert_true(out);
    assert_int_equal(store_sub_list(st, "app:A-1", 0, ms, cur, 2, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ms[0], "996700000002");
    assert_int_equal(store_sub_list(st, "news", 0, ms, NULL, 2, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_optout_clear(st, "996700000001"), STORE_OK);
    assert_int_equal(store_optout_get(st, "996700000001", &out), STORE_OK);
    assert_false(out);

    assert_int_equal(store_log_message(st, "mo", "996700000001", "megacom",
                                       "STATUS A-1", 0, T0), STORE_OK);
    assert_int_equal(store_log_message(st, "xx", "996700000001", NULL, NULL,
                                       0, T0), STORE_INVALID);
}

static void test_applications(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t gov = 0, tax = 0, pass = 0;
    assert_int_equal(store_agency_put(st, "gov", "Gov", &gov), STORE_OK);
    assert_int_equal(store_agency_put(st, "tax", "Tax", &tax), STORE_OK);
    assert_int_equal(store_service_put(st, gov, "passport", &pass), STORE_OK);
    apps_and_history(st, gov, tax, pass);
    apps_found_by_owner(st, gov, tax);
    templates(st, gov, tax);
    lookup_limit(st);
    lookup_window_slides(st);
    subs_and_optout(st);
}

/* ---- bookings ------------------------------------------------------------------ */

struct world {
    int64_t gov, pass, visa, off;
};

static void make_world(struct store *st, struct world *w)
{
    assert_int_equal(store_agency_put(st, "gov", "Gov", &w->gov), STORE_OK);
    assert_int_equal(store_service_put(st, w->gov, "passport", &w->pass),
                     STORE_OK);
    assert_int_equal(store_service_put(st, w->gov, "visa", &w->visa),
                     STORE_OK);
    assert_int_equal(store_office_put(st, w->gov, "bishkek-1", &w->off),
                     STORE_OK);
}

static void assert_booked(struct store *st, int64_t slot, int want)
{
    struct store_slot s;
    assert_int_equal(store_slot_get(st, slot, &s), STORE_OK);
    assert_int_equal(s.booked, want);
}

/* Inside a batch a refused booking keeps the rest of the batch. */
static void bookings_in_batch(struct fx *f, const struct world *w, int64_t s1,
                              int64_t s2)
{
    struct store *st = f->db.st;
    struct store_booking bk;
    char sstate[16];
    const char *D = "996700000004", *E = "996700000005";
    int64_t s4 = 0, bD = 0, bE = 0;
    assert_int_equal(store_slot_put(st, w->off, w->pass, "2027-01-12", "09:00",
                                    1, &s4), STORE_OK);
    assert_int_equal(store_attach(st, NULL), STORE_OK);     /* batches */
    assert_int_equal(store_attach(st, NULL), STORE_INVALID);
    assert_int_equal(store_book(st, D, s4, T0, &bD), STORE_OK);
    assert_int_equal(store_book(st, E, s4, T0, &bE), STORE_FULL);
    /* s1 has a free place: the place is taken, then the second passport
     * booking is refused and the savepoint gives the place back */
    assert_booked(st, s1, 1);
    assert_int_equal(store_book(st, D, s1, T0, &bE), STORE_CONFLICT);
    assert_booked(st, s1, 1);
    assert_int_equal(store_flush(st), STORE_OK);
    store_close(st);
    st = f->db.st = tmpdb_connect(&f->db);
    assert_booked(st, s4, 1);
    assert_booked(st, s1, 1);
    assert_booked(st, s2, 1);
    assert_int_equal(store_booking_get(st, bD, &bk, sstate, sizeof sstate),
                     STORE_OK);
    assert_string_equal(bk.msisdn, D);
}

/* Slots refused: malformed day or time, negative capacity, no office. */
static void bad_slots(struct store *st, const struct world *w)
{
    int64_t s1 = 0;
    assert_int_equal(store_slot_put(st, w->off, w->pass, "2027-1-10", "09:00", 2,
                                    &s1), STORE_INVALID);
    assert_int_equal(store_slot_put(st, w->off, w->pass, "2027-01-10", "9:00", 2,
                                    &s1), STORE_INVALID);
    assert_int_equal(store_slot_put(st, w->off, w->pass, "2027-01-10", "09:00",
                                    -1, &s1), STORE_INVALID);
    assert_int_equal(store_slot_put(st, 777, w->pass, "2027-01-10", "09:00", 2,
                                    &s1), STORE_NOTFOUND);
}

static void test_bookings(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct world w;
    make_world(st, &w);
    int64_t s1 = 0, s2 = 0, s3 = 0, sv = 0, id = 0;
    bad_slots(st, &w);
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-10", "09:00",
                                    2, &s1), STORE_OK);
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-10", "10:00",
                                    1, &s2), STORE_OK);
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-11", "09:00",
                                    1, &s3), STORE_OK);
    assert_int_equal(store_slot_put(st, w.off, w.visa, "2027-01-10", "09:00",
                                    5, &sv), STORE_OK);
    /* re-publishing the same slot changes its capacity, same id */
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-10", "10:00",
                                    1, &id), STORE_OK);
    assert_int_equal(id, s2);

    const char *A = "996700000001", *B = "996700000002",
               *C = "996700000003";
    int64_t bA = 0, bB = 0, bC = 0, bx = 0;
    assert_int_equal(store_book(st, A, s1, T0, &bA), STORE_OK);
    assert_booked(st, s1, 1);
    /* one active booking per citizen and service ... */
    assert_int_equal(store_book(st, A, s2, T0, &bx), STORE_CONFLICT);
    assert_booked(st, s2, 0);
    assert_int_equal(store_book(st, A, s1, T0, &bx), STORE_CONFLICT);
    assert_booked(st, s1, 1);
    /* ... but another service is fine */
    assert_int_equal(store_book(st, A, sv, T0, &bx), STORE_OK);
    assert_int_equal(store_book(st, B, s1, T0, &bB), STORE_OK);
    assert_booked(st, s1, 2);
    assert_int_equal(store_book(st, C, s1, T0, &bC), STORE_FULL);
    assert_booked(st, s1, 2);
    assert_int_equal(store_book(st, C, 999, T0, &bC), STORE_NOTFOUND);
    /* capacity cannot drop below what is booked */
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-10", "09:00",
                                    1, &id), STORE_CONFLICT);

    /* the full slot is not offered */
    char days[4][STORE_DAY_MAX];
    struct store_slot times[4];
    size_t n = 0;
    assert_int_equal(store_slot_times(st, w.off, w.pass, "2027-01-10", times,
                                      4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(times[0].id, s2);
    assert_string_equal(times[0].time, "10:00");
    assert_int_equal(store_slot_days(st, w.off, w.pass, "2027-01-01", days, 4,
                                     &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(days[0], "2027-01-10");
    assert_string_equal(days[1], "2027-01-11");
    assert_int_equal(store_slot_days(st, w.off, w.pass, "2027-01-11", days, 4,
                                     &n), STORE_OK);
    assert_int_equal(n, 1);

    /* cancel frees the place; only the owner may cancel; then book again */
    assert_int_equal(store_booking_cancel(st, bA, B, T0), STORE_NOTFOUND);
    assert_int_equal(store_booking_cancel(st, bA, A, T0 + 1), STORE_OK);
    assert_int_equal(store_booking_cancel(st, bA, A, T0 + 1), STORE_NOTFOUND);
    assert_booked(st, s1, 1);
    assert_int_equal(store_book(st, C, s1, T0, &bC), STORE_OK);
    assert_booked(st, s1, 2);
    assert_int_equal(store_book(st, A, s3, T0, &bA), STORE_OK);
    char sstate[16];
    struct store_booking bk;
    assert_int_equal(store_booking_get(st, bA, &bk, sstate, sizeof sstate),
                     STORE_OK);
    assert_string_equal(sstate, "active");
    assert_string_equal(bk.day, "2027-01-11");

    /* move: to a full slot changes nothing; to a free one moves the place */
    int64_t nb = 0;
    assert_int_equal(store_booking_move(st, bB, B, s3, T0, &nb), STORE_FULL);
    assert_booked(st, s1, 2);
    assert_booked(st, s3, 1);
    assert_int_equal(store_booking_move(st, bB, B, sv, T0, &nb),
                     STORE_INVALID);
    assert_booked(st, s1, 2);
    assert_int_equal(store_booking_move(st, bB, B, s2, T0 + 5, &nb), STORE_OK);
    assert_booked(st, s1, 1);
    assert_booked(st, s2, 1);
    assert_int_equal(store_booking_get(st, bB, &bk, sstate, sizeof sstate),
                     STORE_OK);
    assert_string_equal(sstate, "moved");
    assert_int_equal(store_booking_get(st, nb, &bk, sstate, sizeof sstate),
                     STORE_OK);
    assert_string_equal(sstate, "active");
    assert_int_equal(bk.slot_id, s2);
    assert_string_equal(bk.msisdn, B);

    struct store_booking list[4];
    assert_int_equal(store_bookings_active(st, A, list, 4, &n), STORE_OK);
    assert_int_equal(n, 2);   /* visa on the 10th, passport on the 11th */
    assert_string_equal(list[0].day, "2027-01-10");
    assert_int_equal(list[0].service_id, w.visa);
    assert_int_equal(list[1].slot_id, s3);

    /* reminders for the 10th: A (visa), C (s1), B (s2) */
    assert_int_equal(store_reminders_due(st, "2027-01-10", list, 4, &n),
                     STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(store_booking_reminded(st, list[0].id), STORE_OK);
    assert_int_equal(store_reminders_due(st, "2027-01-10", list, 4, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_booking_reminded(st, 99999), STORE_NOTFOUND);

    bookings_in_batch(f, &w, s1, s2);
}

/*
 * N processes, each with its own connection, book the last 3 places of a
 * slot at the same moment (released together by closing a pipe).
 */
#define RACERS 12

/* issue 12 part 3: an agency's lists read back, by code, by day and
 * time, paged by cursor, and never another agency's. */
static void test_read_back(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct world w;
    make_world(st, &w);
    int64_t tax, tax_off, osh, s1, s2, s3, s4, b1, b2, b3;
    assert_int_equal(store_agency_put(st, "tax", "Tax", &tax), STORE_OK);
    assert_int_equal(store_office_put(st, tax, "a-tax", &tax_off), STORE_OK);
    assert_int_equal(store_office_put(st, w.gov, "osh-1", &osh), STORE_OK);
    assert_int_equal(store_office_name_set(st, w.off, "ru", "Бишкек", "ул. 1"), STORE_OK);
    assert_int_equal(store_office_name_set(st, w.off, "en", "Bishkek", NULL), STORE_OK);
    struct store_coded c[4];
    size_t n = 0;
    assert_int_equal(store_coded_list(st, true, w.gov, "", c, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].code, "bishkek-1");
    assert_string_equal(c[1].code, "osh-1");
    n = 0;
    assert_int_equal(store_coded_list(st, true, w.gov, "bishkek-1", c, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].code, "osh-1");
    n = 0;
    assert_int_equal(store_coded_list(st, false, w.gov, NULL, c, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(c[1].code, "visa");
    struct store_name nm[4];
    n = 0;
    assert_int_equal(store_names(st, true, w.off, nm, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(nm[0].lang, "en");
    assert_string_equal(nm[0].address, "");
    assert_string_equal(nm[1].address, "ул. 1");

    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-10", "10:00", 2, &s1), STORE_OK);
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-01-10", "09:00", 1, &s2), STORE_OK);
    assert_int_equal(store_slot_put(st, w.off, w.visa, "2027-01-11", "08:00", 1, &s3), STORE_OK);
    assert_int_equal(store_slot_put(st, osh, w.pass, "2027-01-10", "09:00", 1, &s4), STORE_OK);
    struct store_slot sl[4];
    n = 0;
    assert_int_equal(store_slots_list(st, w.off, 0, "2027-01-01", "2027-12-31", NULL,
                                      sl, 2, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sl[0].id, s2);
    assert_int_equal(sl[1].id, s1);
    struct store_slot after = sl[1];
    n = 0;
    assert_int_equal(store_slots_list(st, w.off, 0, "2027-01-01", "2027-12-31", &after,
                                      sl, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sl[0].id, s3);
    n = 0;
    assert_int_equal(store_slots_list(st, w.off, w.pass, "2027-01-11", "2027-12-31", NULL,
                                      sl, 4, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_slots_list(st, w.off, 0, "2027-1-1", "2027-12-31", NULL,
                                      sl, 4, &n), STORE_INVALID);

    assert_int_equal(store_book(st, "996555000001", s1, T0, &b1), STORE_OK);
    assert_int_equal(store_book(st, "996555000002", s2, T0, &b2), STORE_OK);
    assert_int_equal(store_book(st, "996555000003", s4, T0, &b3), STORE_OK);
    assert_int_equal(store_booking_cancel(st, b1, "996555000001", T0 + 1), STORE_OK);
    struct store_day_booking db[4];
    n = 0;
    assert_int_equal(store_bookings_day(st, w.off, "2027-01-10", "", 0, db, 4, &n), STORE_OK);
    assert_int_equal(n, 2);                     /* Osh's booking is not there */
    assert_int_equal(db[0].b.id, b2);           /* 09:00 before 10:00 */
    assert_string_equal(db[0].state, "active");
    assert_string_equal(db[1].b.msisdn, "996555000001");
    assert_string_equal(db[1].state, "cancelled");
    n = 0;
    assert_int_equal(store_bookings_day(st, w.off, "2027-01-10", "09:00", b2, db, 4, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(db[0].b.id, b1);
    assert_int_equal(store_bookings_day(st, w.off, "tomorrow", "", 0, db, 4, &n),
                     STORE_INVALID);
}

/* issue 10 workspace: the draft's files, replaced by name, listed by
 * name; bad names refused. */
static void test_menu_draft(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    assert_int_equal(store_draft_put(st, "20-status.yaml", "nodes: []", "ana", T0), STORE_OK);
    assert_int_equal(store_draft_put(st, "10-main.yaml", "codes: {}", "ana", T0), STORE_OK);
    assert_int_equal(store_draft_put(st, "10-main.yaml", "codes: {x: y}", "bek", T0 + 5),
                     STORE_OK);
    assert_int_equal(store_draft_put(st, "../etc/passwd", "x", "ana", T0), STORE_INVALID);
    assert_int_equal(store_draft_put(st, ".hidden", "x", "ana", T0), STORE_INVALID);
    assert_int_equal(store_draft_put(st, "a.yaml", "x", "", T0), STORE_INVALID);
    struct store_draft d[4];
    size_t n = 0;
    assert_int_equal(store_draft_list(st, d, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].name, "10-main.yaml");
    assert_string_equal(d[0].text, "codes: {x: y}");
    assert_string_equal(d[0].updated_by, "bek");
    assert_int_equal(d[0].updated_at, T0 + 5);
    assert_string_equal(d[1].name, "20-status.yaml");
    store_drafts_free(d, n);
    assert_int_equal(store_draft_delete(st, "20-status.yaml"), STORE_OK);
    assert_int_equal(store_draft_delete(st, "20-status.yaml"), STORE_NOTFOUND);
    n = 0;
    assert_int_equal(store_draft_list(st, d, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_drafts_free(d, n);
}

/* issue 10 publish: versions are numbered, one is live (the one before
 * retired), pending ones are approved or rejected once, files and diff
 * cannot be changed in the database, and each node's row is replaced. */
static void test_menu_versions(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t n1 = 0, n2 = 0, n3 = 0, live = -1;
    assert_int_equal(store_version_live(st, &live), STORE_NOTFOUND);
    assert_int_equal(live, 0);
    struct store_version_new v = { .author = "ana", .note = "first",
                                   .files = "{\"a.yaml\":\"x\"}", .diff = "+x\n",
                                   .live = true, .now = T0 };
    assert_int_equal(store_version_add(st, &v, &n1), STORE_OK);
    assert_int_equal(n1, 1);
    assert_int_equal(store_version_live(st, &live), STORE_OK);
    assert_int_equal(live, 1);
    v.note = "second";
    v.now = T0 + 1;
    assert_int_equal(store_version_add(st, &v, &n2), STORE_OK);
    assert_int_equal(n2, 2);
    assert_int_equal(store_version_live(st, &live), STORE_OK);
    assert_int_equal(live, 2);
    /* a pending one changes nothing live until approved */
    v.live = false;
    v.author = "bek";
    v.note = NULL;
    assert_int_equal(store_version_add(st, &v, &n3), STORE_OK);
    assert_int_equal(n3, 3);
    assert_int_equal(store_version_live(st, &live), STORE_OK);
    assert_int_equal(live, 2);
    struct store_version g;
    assert_int_equal(store_version_get(st, 1, &g), STORE_OK);
    assert_string_equal(g.state, "retired");
    assert_string_equal(g.note, "first");
    assert_string_equal(g.files, "{\"a.yaml\":\"x\"}");
    assert_string_equal(g.diff, "+x\n");
    assert_int_equal(g.created_at, T0);
    store_version_clear(&g);
    assert_int_equal(store_version_decide(st, 3, true, "cem", T0 + 9), STORE_OK);
    assert_int_equal(store_version_decide(st, 3, false, "cem", T0 + 9), STORE_NOTFOUND);
    assert_int_equal(store_version_decide(st, 2, true, "cem", T0 + 9), STORE_NOTFOUND);
    assert_int_equal(store_version_decide(st, 99, true, "cem", T0 + 9), STORE_NOTFOUND);
    assert_int_equal(store_version_live(st, &live), STORE_OK);
    assert_int_equal(live, 3);
    assert_int_equal(store_version_get(st, 3, &g), STORE_OK);
    assert_string_equal(g.state, "live");
    assert_string_equal(g.approved_by, "cem");
    assert_int_equal(g.approved_at, T0 + 9);
    store_version_clear(&g);
    assert_int_equal(store_version_get(st, 4, &g), STORE_NOTFOUND);
    /* rejected: stays out of the way */
    int64_t n4 = 0;
    assert_int_equal(store_version_add(st, &v, &n4), STORE_OK);
    assert_int_equal(store_version_decide(st, n4, false, "cem", T0 + 10), STORE_OK);
    assert_int_equal(store_version_live(st, &live), STORE_OK);
    assert_int_equal(live, 3);
    /* the list: newest first, paged */
    struct store_version l[3];
    size_t n = 0;
    assert_int_equal(store_version_list(st, 0, l, 3, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(l[0].number, 4);
    assert_string_equal(l[0].state, "rejected");
    assert_null(l[0].files);
    assert_int_equal(l[2].number, 2);
    n = 0;
    assert_int_equal(store_version_list(st, 2, l, 3, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].number, 1);
    /* refused: no author, no files, a note too long */
    v.author = "";
    assert_int_equal(store_version_add(st, &v, NULL), STORE_INVALID);
    v.author = "ana";
    v.files = NULL;
    assert_int_equal(store_version_add(st, &v, NULL), STORE_INVALID);
    char note[STORE_VERSION_NOTE_MAX + 1];
    memset(note, 'n', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    v.files = "{}";
    v.note = note;
    assert_int_equal(store_version_add(st, &v, NULL), STORE_INVALID);
    store_close(st);
    f->db.st = NULL;
    /* immutable in the database itself */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db.path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE menu_versions SET files = '{}'"
                                          " WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE menu_versions SET diff = ''"
                                          " WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM menu_versions", NULL, NULL,
                                      NULL), SQLITE_OK);
    /* two live ones cannot exist */
    assert_int_not_equal(sqlite3_exec(db, "UPDATE menu_versions SET state = 'live'"
                                          " WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = f->db.st = tmpdb_connect(&f->db);
    /* nodes */
    assert_int_equal(store_node_seen(st, "a:8080", 3, "console", T0), STORE_OK);
    assert_int_equal(store_node_seen(st, "b:8080", 2, "console", T0), STORE_OK);
    assert_int_equal(store_node_seen(st, "b:8080", 0, "files", T0 + 1), STORE_OK);
    assert_int_equal(store_node_seen(st, "c", 0, "disk", T0), STORE_INVALID);
    assert_int_equal(store_node_seen(st, "", 0, "files", T0), STORE_INVALID);
    struct store_node nodes[4];
    n = 0;
    assert_int_equal(store_node_list(st, nodes, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].node, "a:8080");
    assert_int_equal(nodes[0].version, 3);
    assert_string_equal(nodes[0].source, "console");
    assert_string_equal(nodes[1].node, "b:8080");
    assert_int_equal(nodes[1].version, 0);
    assert_string_equal(nodes[1].source, "files");
    assert_int_equal(nodes[1].seen_at, T0 + 1);
}

static void test_booking_race(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct world w;
    make_world(st, &w);
    int64_t slot = 0, id = 0;
    assert_int_equal(store_slot_put(st, w.off, w.pass, "2027-02-01", "09:00",
                                    10, &slot), STORE_OK);
    for (int i = 0; i < 7; i++) {
        char m[24];
        snprintf(m, sizeof m, "99670010%04d", i);
        assert_int_equal(store_book(st, m, slot, T0, &id), STORE_OK);
    }
    assert_booked(st, slot, 7);

    int ready[2], go[2], busy[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(busy), 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(ready[0]);
            close(go[1]);
            close(busy[0]);
            struct store *cs = NULL;
            char err[256];
            int code = 10;
            if (store_open(f->db.path, STORE_SYNC_NORMAL, &cs, err, sizeof err)
                == STORE_OK) {
                char c = 'r', m[24];
                snprintf(m, sizeof m, "99670020%04d", i);
                if (write(ready[1], &c, 1) != 1)
                    _exit(11);
                while (read(go[0], &c, 1) < 0 && errno == EINTR)
                    ;
                int64_t bid = 0;
                int rc;
                bool told = false;
                while ((rc = store_book(cs, m, slot, T0, &bid)) ==
                       STORE_BUSY) {
                    /* busy is "not yet", never "no": tell the parent once,
                     * then try again */
                    if (!told && write(busy[1], &c, 1) != 1)
                        _exit(12);
                    told = true;
                }
                code = rc == STORE_OK ? 0 : rc == STORE_FULL ? 1 : 20 + rc;
                store_close(cs);
            }
            _exit(code);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(busy[1]);
    for (int i = 0; i < RACERS; i++) {
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
    }
    /* Hold the write lock while everybody goes, until each racer has seen
     * STORE_BUSY at least once: so the retry path is surely taken.  (A
     * write opens the batch, which holds the lock until the flush.) */
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    assert_int_equal(store_lookup_clear(st, "996700000000"), STORE_OK);
    close(go[1]);
    for (int i = 0; i < RACERS; i++) {
        char c;
        assert_int_equal(read(busy[0], &c, 1), 1);
    }
    assert_int_equal(store_flush(st), STORE_OK);
    int ok = 0, full = 0;
    for (int i = 0; i < RACERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        if (code == 0)
            ok++;
        else if (code == 1)
            full++;
        else
            fail_msg("racer %d exited %d", i, code);
    }
    close(ready[0]);
    close(busy[0]);
    assert_int_equal(ok, 3);
    assert_int_equal(full, RACERS - 3);
    assert_booked(st, slot, 10);
    struct store_booking list[2];
    size_t n = 0;
    int winners = 0;
    for (int i = 0; i < RACERS; i++) {
        char m[24];
        snprintf(m, sizeof m, "99670020%04d", i);
        assert_int_equal(store_bookings_active(st, m, list, 2, &n), STORE_OK);
        winners += (int)n;
    }
    assert_int_equal(winners, 3);
}

/* ---- outbox ---------------------------------------------------------------------- */

static struct store_msg_new msg(const char *to, const char *text)
{
    struct store_msg_new m = { 0 };
    m.to = to;
    m.text = text;
    m.lang = "ru";
    m.expires_at = T0 + 3600000;
    return m;
}

/* Enqueue: idempotency per client, templates, bad ones; read back. */
static void outbox_enqueue_get(struct store *st, int64_t *id1_out,
                               int64_t *id2_out, int64_t *id3_out)
{
    int64_t id1 = 0, id2 = 0, id3 = 0, idx = 0;
    struct store_msg_new m = msg("996700000001", "hello");
    m.client = "gov";
    m.idem_key = "k1";
    m.callback_url = "http://127.0.0.1:1/cb";
    assert_int_equal(store_enqueue(st, &m, T0, &id1), STORE_OK);
    m.text = "different";
    assert_int_equal(store_enqueue(st, &m, T0 + 1, &idx), STORE_DUPLICATE);
    assert_int_equal(idx, id1);
    m.client = "tax";   /* keys are per client */
    assert_int_equal(store_enqueue(st, &m, T0 + 1, &id2), STORE_OK);
    assert_true(id2 != id1);

    struct store_msg_new t = msg("996700000002", NULL);
    assert_int_equal(store_enqueue(st, &t, T0, &idx), STORE_INVALID);
    t.tmpl = "status";
    t.data = "{\"number\":\"A-1\"}";
    t.law_required = true;
    t.not_before = T0 + 5000;
    assert_int_equal(store_enqueue(st, &t, T0, &id3), STORE_OK);
    struct store_msg_new bad = msg("", "x");
    assert_int_equal(store_enqueue(st, &bad, T0, &idx), STORE_INVALID);

    struct store_msg *g = NULL;
    assert_int_equal(store_msg_get(st, id1, &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_QUEUED);
    assert_string_equal(g->text, "hello");
    assert_string_equal(g->to, "996700000001");
    assert_string_equal(g->client, "gov");
    assert_string_equal(g->idem_key, "k1");
    assert_string_equal(g->callback_url, "http://127.0.0.1:1/cb");
    assert_null(g->tmpl);
    assert_null(g->smsc);
    assert_int_equal(g->created_at, T0);
    assert_int_equal(g->next_attempt_at, T0);
    assert_false(g->law_required);
    store_msg_free(g);
    assert_int_equal(store_msg_get(st, id3, &g), STORE_OK);
    assert_string_equal(g->tmpl, "status");
    assert_null(g->text);
    assert_true(g->law_required);
    assert_int_equal(g->next_attempt_at, T0 + 5000);
    store_msg_free(g);
    assert_int_equal(store_msg_get(st, 424242, &g), STORE_NOTFOUND);
    assert_null(g);

    *id1_out = id1;
    *id2_out = id2;
    *id3_out = id3;
}

/* Retries, lifetimes and final failures of the outbox. */
static void outbox_retry_expire(struct store *st, int64_t id3)
{
    struct store_msg *c[8], *g = NULL;
    size_t n = 0;
    /* retry: back to queued, due later; throttling refunds the attempt;
     * a retry past the lifetime expires */
    assert_int_equal(store_claim_due(st, T0 + 6000, 1000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0]->id, id3);
    store_msg_free(c[0]);
    int ns = -1;
    assert_int_equal(store_mark_retry(st, id3, T0 + 9000, 0x58, true, T0 + 6001,
                                      &ns), STORE_OK);
    assert_int_equal(ns, STORE_MSG_QUEUED);
    assert_int_equal(store_mark_retry(st, id3, T0 + 9000, 0x58, true, T0 + 6001,
                                      &ns), STORE_NOTFOUND);
    assert_int_equal(store_claim_due(st, T0 + 8999, 1000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_claim_due(st, T0 + 9000, 1000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0]->attempts, 1);   /* the throttled one was refunded */
    store_msg_free(c[0]);
    assert_int_equal(store_mark_retry(st, id3, T0 + 3600000, 8, false,
                                      T0 + 9001, &ns), STORE_OK);
    assert_int_equal(ns, STORE_MSG_EXPIRED);
    assert_int_equal(store_msg_get(st, id3, &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_EXPIRED);
    assert_int_equal(g->err, 8);
    assert_int_equal(g->done_at, T0 + 9001);
    store_msg_free(g);

    /* a queued message past its lifetime is handed out as expired */
    int64_t id5 = 0, id6 = 0;
    struct store_msg_new m5 = msg("996700000005", "late");
    m5.expires_at = T0 + 100;
    assert_int_equal(store_enqueue(st, &m5, T0, &id5), STORE_OK);
    assert_int_equal(store_claim_due(st, T0 + 100, 1000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0]->id, id5);
    assert_int_equal(c[0]->state, STORE_MSG_EXPIRED);
    store_msg_free(c[0]);

    /* mark_failed from queued; not twice */
    struct store_msg_new m6 = msg("996700000006", "f");
    assert_int_equal(store_enqueue(st, &m6, T0, &id6), STORE_OK);
    assert_int_equal(store_mark_failed(st, id6, 0x0b, T0 + 1), STORE_OK);
    assert_int_equal(store_mark_failed(st, id6, 0x0b, T0 + 1), STORE_NOTFOUND);
    assert_int_equal(store_claim_due(st, T0 + 200, 1000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 0);
}

static void test_outbox(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t id1 = 0, id2 = 0, id3 = 0;
    outbox_enqueue_get(st, &id1, &id2, &id3);
    struct store_msg *g = NULL;

    /* claim: due ones only, earliest first, leased */
    struct store_msg *c[8];
    size_t n = 0;
    assert_int_equal(store_claim_due(st, T0 + 10, 30000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i]->state, STORE_MSG_SENDING);
        assert_int_equal(c[i]->attempts, 1);
        assert_int_equal(c[i]->lease_until, T0 + 10 + 30000);
        assert_true(c[i]->id == id1 || c[i]->id == id2);
        store_msg_free(c[i]);
    }
    assert_int_equal(store_claim_due(st, T0 + 10, 30000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 0);

    /* submitted with a hex id, receipt in decimal (and the reverse) */
    assert_int_equal(store_mark_submitted(st, id1, "megacom", "1A2B3C",
                                          T0 + 20), STORE_OK);
    assert_int_equal(store_mark_submitted(st, id1, "megacom", "1A2B3C",
                                          T0 + 20), STORE_NOTFOUND);
    assert_int_equal(store_mark_submitted(st, id2, "megacom", "12345678",
                                          T0 + 21), STORE_OK);
    int64_t rid = 0;
    assert_int_equal(store_receipt(st, "beeline", "1715004",
                                   STORE_MSG_DELIVERED, 0, T0 + 30, &rid),
                     STORE_NOTFOUND);   /* other smsc */
    assert_int_equal(store_receipt(st, "megacom", "1715004", -1, 0, T0 + 30,
                                   &rid), STORE_OK);   /* ENROUTE: log only */
    assert_int_equal(rid, id1);
    assert_int_equal(store_msg_get(st, id1, &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_SUBMITTED);
    assert_string_equal(g->smsc_msgid, "1A2B3C");
    assert_int_equal(g->submitted_at, T0 + 20);
    store_msg_free(g);
    assert_int_equal(store_receipt(st, "megacom", "1715004",
                                   STORE_MSG_DELIVERED, 0, T0 + 31, &rid),
                     STORE_OK);
    assert_int_equal(rid, id1);
    assert_int_equal(store_receipt(st, "megacom", "00bc614e",
                                   STORE_MSG_FAILED, 11, T0 + 32, &rid),
                     STORE_OK);
    assert_int_equal(rid, id2);
    assert_int_equal(store_msg_get(st, id1, &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_DELIVERED);
    assert_int_equal(g->done_at, T0 + 31);
    store_msg_free(g);
    assert_int_equal(store_msg_get(st, id2, &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_FAILED);
    assert_int_equal(g->err, 11);
    store_msg_free(g);
    /* final stays final */
    assert_int_equal(store_receipt(st, "megacom", "1a2b3c",
                                   STORE_MSG_FAILED, 1, T0 + 40, &rid),
                     STORE_OK);
    assert_int_equal(store_msg_get(st, id1, &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_DELIVERED);
    store_msg_free(g);
    assert_int_equal(store_receipt(st, "megacom", "999", STORE_MSG_DELIVERED,
                                   0, T0 + 40, &rid), STORE_NOTFOUND);
    assert_int_equal(rid, 0);
    assert_int_equal(store_receipt(st, "megacom", "1", 7, 0, T0, &rid),
                     STORE_INVALID);

    /* exact text ids (non numeric) */
    int64_t id4 = 0;
    struct store_msg_new m4 = msg("996700000004", "x");
    assert_int_equal(store_enqueue(st, &m4, T0, &id4), STORE_OK);
    assert_int_equal(store_claim_due(st, T0 + 50, 1000, c, 8, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_msg_free(c[0]);
    assert_int_equal(store_mark_submitted(st, id4, "megacom", "msg-77:xz",
                                          T0 + 51), STORE_OK);
    assert_int_equal(store_receipt(st, "megacom", "msg-77:xz",
                                   STORE_MSG_DELIVERED, 0, T0 + 52, &rid),
                     STORE_OK);
    assert_int_equal(rid, id4);

    outbox_retry_expire(st, id3);
}

/* A message claimed and submitted in n parts with the given ids. */
static int64_t submitted_parts(struct store *st, const char *to,
                               const char *const *ids, unsigned n,
                               int64_t now)
{
    struct store_msg_new m = msg(to, "long");
    int64_t id = 0;
    assert_int_equal(store_enqueue(st, &m, now, &id), STORE_OK);
    struct store_msg *c[1];
    size_t k = 0;
    assert_int_equal(store_claim_due(st, now, 30000, c, 1, &k), STORE_OK);
    assert_int_equal(k, 1);
    assert_int_equal(c[0]->id, id);
    store_msg_free(c[0]);
    assert_int_equal(store_mark_submitted_parts(st, id, "megacom", ids, n,
                                                now), STORE_OK);
    return id;
}

static int msg_state(struct store *st, int64_t id, int64_t *done_at)
{
    struct store_msg *g = NULL;
    assert_int_equal(store_msg_get(st, id, &g), STORE_OK);
    int s = g->state;
    if (done_at)
        *done_at = g->done_at;
    store_msg_free(g);
    return s;
}

/* Three parts, decimal ids; receipts in hex, text, decimal.  Returns the
 * message. */
static int64_t parts_delivered(struct store *st, const char *const *ids)
{
    struct store_receipt_info ri;
    int parts = -1, dl = -1;
    int64_t id = submitted_parts(st, "996700000001", ids, 3, T0);
    assert_int_equal(store_msg_parts(st, id, &parts, &dl), STORE_OK);
    assert_int_equal(parts, 3);
    assert_int_equal(dl, 0);
    struct store_msg *g = NULL;
    assert_int_equal(store_msg_get(st, id, &g), STORE_OK);
    assert_string_equal(g->smsc_msgid, "1000");   /* part 1, as before */
    store_msg_free(g);

    assert_int_equal(store_receipt_ex(st, "megacom", "3e9", STORE_MSG_DELIVERED,
                                      0, T0 + 10, &ri), STORE_OK);
    assert_int_equal(ri.id, id);
    assert_int_equal(ri.part, 2);
    assert_int_equal(ri.parts, 3);
    assert_int_equal(ri.parts_delivered, 1);
    assert_int_equal(ri.final_now, -1);
    assert_int_equal(msg_state(st, id, NULL), STORE_MSG_SUBMITTED);
    /* the same receipt again changes nothing */
    assert_int_equal(store_receipt_ex(st, "megacom", "1001", STORE_MSG_DELIVERED,
                                      0, T0 + 11, &ri), STORE_OK);
    assert_int_equal(ri.parts_delivered, 1);
    /* an intermediate receipt for part 1: logged only */
    assert_int_equal(store_receipt_ex(st, "megacom", "1000", -1, 0, T0 + 12,
                                      &ri), STORE_OK);
    assert_int_equal(ri.part, 1);
    assert_int_equal(ri.parts_delivered, 1);
    assert_int_equal(store_receipt_ex(st, "megacom", "1000",
                                      STORE_MSG_DELIVERED, 0, T0 + 20, &ri),
                     STORE_OK);
    assert_int_equal(ri.part, 1);
    assert_int_equal(ri.parts_delivered, 2);
    assert_int_equal(ri.final_now, -1);
    assert_int_equal(msg_state(st, id, NULL), STORE_MSG_SUBMITTED);
    /* the last part: delivered, done at its receipt (old signature) */
    int64_t rid = 0, done = 0;
    assert_int_equal(store_receipt(st, "megacom", "3ea", STORE_MSG_DELIVERED, 0,
                                   T0 + 30, &rid), STORE_OK);
    assert_int_equal(rid, id);
    assert_int_equal(msg_state(st, id, &done), STORE_MSG_DELIVERED);
    assert_int_equal(done, T0 + 30);
    assert_int_equal(store_msg_parts(st, id, &parts, &dl), STORE_OK);
    assert_int_equal(dl, 3);
    return id;
}

/* Issue 14 item 8: a key reused with another request hash is a conflict
 * (nothing stored, the first id handed back); the same hash, or a row or
 * caller without one (a row from before the migration has NULL, as one
 * written without a hash), is a duplicate. */
static void test_idem_hash(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    uint8_t h1[STORE_REQ_HASH_LEN], h2[STORE_REQ_HASH_LEN];
    memset(h1, 1, sizeof h1);
    memset(h2, 2, sizeof h2);
    int64_t id = 0, idx = 0, other = 0;
    struct store_msg_new m = msg("996700000001", "hello");
    m.client = "agency:1";
    m.idem_key = "k1";
    m.req_hash = h1;
    assert_int_equal(store_enqueue(st, &m, T0, &id), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0 + 1, &idx), STORE_DUPLICATE);
    assert_int_equal(idx, id);
    m.req_hash = h2;
    m.text = "other";
    idx = 0;
    assert_int_equal(store_enqueue(st, &m, T0 + 2, &idx), STORE_CONFLICT);
    assert_int_equal(idx, id);
    m.req_hash = NULL;   /* a caller without a hash: as before */
    assert_int_equal(store_enqueue(st, &m, T0 + 3, &idx), STORE_DUPLICATE);
    /* a row without a hash matches any */
    m.idem_key = "old";
    assert_int_equal(store_enqueue(st, &m, T0, &other), STORE_OK);
    m.req_hash = h1;
    assert_int_equal(store_enqueue(st, &m, T0 + 1, &idx), STORE_DUPLICATE);
    assert_int_equal(idx, other);
    m.req_hash = h2;
    assert_int_equal(store_enqueue(st, &m, T0 + 1, &idx), STORE_DUPLICATE);
    /* nothing of the refused one is stored */
    struct store_msg *g = NULL;
    assert_int_equal(store_msg_get(st, id, &g), STORE_OK);
    assert_string_equal(g->text, "hello");
    store_msg_free(g);
    assert_int_equal(store_msg_get(st, other + 1, &g), STORE_NOTFOUND);
}

static void test_parts(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct store_receipt_info ri;
    int parts = -1, dl = -1;

    const char *ids[3] = { "1000", "1001", "1002" };
    int64_t id = parts_delivered(st, ids), done = 0;
    struct store_msg *g = NULL;

    /* a failed part fails the message at once; later parts change the
     * part, not the message */
    const char *ids2[3] = { "2000", "2001", "2002" };
    int64_t id2 = submitted_parts(st, "996700000002", ids2, 3, T0 + 40);
    assert_int_equal(store_receipt_ex(st, "megacom", "2000",
                                      STORE_MSG_DELIVERED, 0, T0 + 50, &ri),
                     STORE_OK);
    assert_int_equal(store_receipt_ex(st, "megacom", "2002", STORE_MSG_FAILED,
                                      11, T0 + 60, &ri), STORE_OK);
    assert_int_equal(ri.final_now, STORE_MSG_FAILED);
    assert_int_equal(msg_state(st, id2, &done), STORE_MSG_FAILED);
    assert_int_equal(done, T0 + 60);
    assert_int_equal(store_msg_get(st, id2, &g), STORE_OK);
    assert_int_equal(g->err, 11);
    store_msg_free(g);
    assert_int_equal(store_receipt_ex(st, "megacom", "2001",
                                      STORE_MSG_DELIVERED, 0, T0 + 70, &ri),
                     STORE_OK);
    assert_int_equal(ri.final_now, -1);
    assert_int_equal(ri.parts_delivered, 2);
    assert_int_equal(msg_state(st, id2, &done), STORE_MSG_FAILED);
    assert_int_equal(done, T0 + 60);

    /* an expired part: expired */
    const char *ids3[2] = { "abc-1", "abc-2" };
    int64_t id3 = submitted_parts(st, "996700000003", ids3, 2, T0 + 80);
    assert_int_equal(store_receipt_ex(st, "megacom", "abc-2", STORE_MSG_EXPIRED,
                                      0, T0 + 90, &ri), STORE_OK);
    assert_int_equal(ri.part, 2);
    assert_int_equal(msg_state(st, id3, NULL), STORE_MSG_EXPIRED);

    /* newest message first: an id reused by the SMSC later matches the
     * newer one-part message, not the old part */
    const char *one[1] = { "1001" };
    int64_t id4 = submitted_parts(st, "996700000004", one, 1, T0 + 100);
    assert_int_equal(store_msg_parts(st, id4, &parts, &dl), STORE_OK);
    assert_int_equal(parts, 0);                 /* one part: no rows */
    assert_int_equal(store_receipt_ex(st, "megacom", "1001",
                                      STORE_MSG_DELIVERED, 0, T0 + 110, &ri),
                     STORE_OK);
    assert_int_equal(ri.id, id4);
    assert_int_equal(ri.part, 0);
    assert_int_equal(ri.parts, 1);
    assert_int_equal(ri.parts_delivered, 1);
    assert_int_equal(ri.final_now, STORE_MSG_DELIVERED);
    /* another link's id does not match; nor does an unknown one */
    assert_int_equal(store_receipt_ex(st, "beeline", "2001",
                                      STORE_MSG_DELIVERED, 0, T0, &ri),
                     STORE_NOTFOUND);
    assert_int_equal(ri.id, 0);
    assert_int_equal(store_receipt_ex(st, "megacom", "ffff", 7, 0, T0, &ri),
                     STORE_INVALID);

    /* bad arguments; a second submit of a row no longer being sent */
    const char *holey[2] = { "1", "" };
    assert_int_equal(store_mark_submitted_parts(st, id, "megacom", holey, 2,
                                                T0), STORE_INVALID);
    assert_int_equal(store_mark_submitted_parts(st, id, "megacom", NULL, 0,
                                                T0), STORE_INVALID);
    assert_int_equal(store_mark_submitted_parts(st, id, "megacom", ids, 3,
                                                T0), STORE_NOTFOUND);

    /* prune takes the parts with their message */
    int64_t pruned = 0;
    assert_int_equal(store_prune(st, T0 + 1000, T0 + 1000, 100, &pruned),
                     STORE_OK);
    assert_int_equal(store_msg_parts(st, id, &parts, &dl), STORE_OK);
    assert_int_equal(parts, 0);
    assert_int_equal(store_msg_parts(st, id2, &parts, &dl), STORE_OK);
    assert_int_equal(parts, 0);
}

static void test_held_receipts(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t h1 = 0, h2 = 0, h3 = 0;
    assert_int_equal(store_receipt_hold(st, "megacom", "77aa",
                                        STORE_MSG_DELIVERED, 0, T0, &h1),
                     STORE_OK);
    /* held inside a batch: durable only with the commit */
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    assert_int_equal(store_receipt_hold(st, "megacom", "77ab", STORE_MSG_FAILED,
                                        5, T0 + 1, &h2), STORE_OK);
    store_test_fail_commits(st, 1);
    assert_int_equal(store_flush(st), STORE_ERROR);        /* rolled back */
    assert_int_equal(store_receipt_hold(st, "beeline", "77ac", -1, 0, T0 + 2,
                                        &h3), STORE_OK);
    assert_int_equal(store_flush(st), STORE_OK);
    assert_int_equal(store_receipt_hold(st, "", "1", -1, 0, T0, NULL),
                     STORE_INVALID);
    assert_int_equal(store_receipt_hold(st, "megacom", "1", 9, 0, T0, NULL),
                     STORE_INVALID);
    char longid[80];
    memset(longid, '7', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(store_receipt_hold(st, "megacom", longid, -1, 0, T0, NULL),
                     STORE_INVALID);

    /* a new connection (the next start) sees the committed ones, paged */
    store_close(st);
    st = f->db.st = tmpdb_connect(&f->db);
    struct store_held_receipt h[4];
    size_t n = 0;
    assert_int_equal(store_receipts_held(st, 0, h, 1, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, h1);
    assert_string_equal(h[0].smsc, "megacom");
    assert_string_equal(h[0].msgid, "77aa");
    assert_int_equal(h[0].state, STORE_MSG_DELIVERED);
    assert_int_equal(h[0].at, T0);
    assert_int_equal(store_receipts_held(st, h[0].id, h, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, h3);
    assert_string_equal(h[0].smsc, "beeline");
    assert_int_equal(h[0].state, -1);
    assert_int_equal(store_receipt_unhold(st, h1), STORE_OK);
    assert_int_equal(store_receipt_unhold(st, h1), STORE_NOTFOUND);
    assert_int_equal(store_receipts_held(st, 0, h, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    /* pruned by age */
    int64_t pruned = 0;
    assert_int_equal(store_prune(st, T0 + 3, T0 + 3, 10, &pruned), STORE_OK);
    assert_true(pruned >= 1);
    assert_int_equal(store_receipts_held(st, 0, h, 4, &n), STORE_OK);
    assert_int_equal(n, 0);
}

static void test_msgid_parse(void **state)
{
    (void)state;
    int64_t d = 0, h = 0;
    assert_int_equal(store_msgid_parse("12345678", &d, &h), 3);
    assert_int_equal(d, 12345678);
    assert_int_equal(h, 0x12345678);
    assert_int_equal(store_msgid_parse("bc614e", &d, &h), 2);
    assert_int_equal(h, 12345678);
    assert_int_equal(store_msgid_parse("BC614E", &d, &h), 2);
    assert_int_equal(h, 12345678);
    assert_int_equal(store_msgid_parse("", &d, &h), 0);
    assert_int_equal(store_msgid_parse("12-3", &d, &h), 0);
    /* 17 hex digits do not fit; 20 decimal digits above 2^64 neither */
    assert_int_equal(store_msgid_parse("11111111111111111", &d, &h), 1);
    assert_int_equal(store_msgid_parse("99999999999999999999", &d, &h), 0);
    assert_int_equal(store_msgid_parse("18446744073709551615", &d, &h), 1);
    assert_int_equal(d, -1);   /* the 64-bit pattern */
    assert_int_equal(store_msgid_parse("ffffffffffffffff", &d, &h), 2);
    assert_int_equal(h, -1);
}

/* ---- leases and batches ------------------------------------------------------ */

static void test_leases(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        struct store_msg_new m = msg("996700000001", "lease");
        assert_int_equal(store_enqueue(st, &m, T0 + i, &ids[i]), STORE_OK);
    }
    struct store_msg *c[4];
    size_t n = 0;
    assert_int_equal(store_claim_due(st, T0 + 10, 1000, c, 2, &n), STORE_OK);
    assert_int_equal(n, 2);   /* the limit holds, earliest first */
    assert_int_equal(c[0]->id, ids[0]);
    assert_int_equal(c[1]->id, ids[1]);
    for (size_t i = 0; i < n; i++)
        store_msg_free(c[i]);
    int64_t back = -1;
    assert_int_equal(store_outbox_recover(st, T0 + 1009, &back), STORE_OK);
    assert_int_equal(back, 0);   /* leases still running */
    assert_int_equal(store_outbox_recover(st, T0 + 1010, &back), STORE_OK);
    assert_int_equal(back, 2);
    /* a submit_sm_resp arriving after the lease ran out still counts: the
     * SMSC has the message, it must not be sent again */
    const int64_t late = ids[0];
    assert_int_equal(store_mark_submitted(st, late, "megacom", "77",
                                          T0 + 1010), STORE_OK);
    assert_int_equal(store_claim_due(st, T0 + 1011, 1000, c, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_true(c[i]->id != late);
        assert_int_equal(c[i]->attempts, c[i]->id == ids[2] ? 1 : 2);
        store_msg_free(c[i]);
    }
    store_close(st);

    /* store_open() re-queues, by the wall clock, what a dead process held
     * past its lease: leases taken "in 2001" have ended, those ending in
     * 2027 (T0) have not. */
    const int64_t past = 1000000000000;   /* 2001-09-09 */
    st = f->db.st = tmpdb_connect(&f->db);
    int64_t old[2];
    for (int i = 0; i < 2; i++) {
        struct store_msg_new m = msg("996700000002", "old");
        m.expires_at = past + 3600000;
        assert_int_equal(store_enqueue(st, &m, past, &old[i]), STORE_OK);
    }
    assert_int_equal(store_claim_due(st, past, 1000, c, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        store_msg_free(c[i]);
    store_close(st);
    st = f->db.st = tmpdb_connect(&f->db);
    struct store_msg *g = NULL;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_msg_get(st, old[i], &g), STORE_OK);
        assert_int_equal(g->state, STORE_MSG_QUEUED);
        assert_int_equal(g->lease_until, 0);
        assert_int_equal(g->attempts, 1);
        store_msg_free(g);
    }
    assert_int_equal(store_msg_get(st, ids[0], &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_SUBMITTED);
    store_msg_free(g);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(store_msg_get(st, ids[i], &g), STORE_OK);
        assert_int_equal(g->state, STORE_MSG_SENDING);
        store_msg_free(g);
    }
    /* a sole owner may take everything back at start-up */
    assert_int_equal(store_outbox_recover(st, INT64_MAX, &back), STORE_OK);
    assert_int_equal(back, 2);
    assert_int_equal(store_msg_get(st, ids[2], &g), STORE_OK);
    assert_int_equal(g->state, STORE_MSG_QUEUED);
    store_msg_free(g);
}

static void test_prune(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t ids[3], n = -1;
    for (int i = 0; i < 3; i++) {
        struct store_msg_new m = msg("996700000001", "old");
        assert_int_equal(store_enqueue(st, &m, T0, &ids[i]), STORE_OK);
    }
    assert_int_equal(store_mark_failed(st, ids[0], 1, T0 + 1), STORE_OK);
    assert_int_equal(store_mark_failed(st, ids[1], 1, T0 + 2), STORE_OK);
    assert_int_equal(store_receipt(st, "megacom", "404", STORE_MSG_DELIVERED,
                                   0, T0, NULL), STORE_NOTFOUND);  /* logged */
    assert_int_equal(store_receipt(st, "megacom", "405", STORE_MSG_DELIVERED,
                                   0, T0 + 5, NULL), STORE_NOTFOUND);
    assert_int_equal(store_log_message(st, "mt", "996700000001", "megacom",
                                       "old", ids[0], T0), STORE_OK);
    assert_int_equal(store_log_message(st, "mo", "996700000001", "megacom",
                                       "new", 0, T0 + 100), STORE_OK);
    int64_t until = 0;
    assert_int_equal(store_lookup_failed(st, "996700000001", T0, 60000, 5,
                                         60000, NULL, NULL), STORE_OK);
    assert_int_equal(store_lookup_failed(st, "996700000002", T0, 60000, 1,
                                         60000, NULL, &until), STORE_OK);
    assert_int_equal(until, T0 + 60000);

    assert_int_equal(store_prune(st, T0 + 2, T0 + 10, 0, &n), STORE_OK);
    assert_int_equal(n, 0);
    /* one each: outbox ids[0], receipt 404, log "old", lookup of ...01;
     * ...02 is still locked at T0 + 10 */
    assert_int_equal(store_prune(st, T0 + 2, T0 + 10, 10, &n), STORE_OK);
    assert_int_equal(n, 4);
    struct store_msg *g = NULL;
    assert_int_equal(store_msg_get(st, ids[0], &g), STORE_NOTFOUND);
    assert_int_equal(store_msg_get(st, ids[1], &g), STORE_OK);
    store_msg_free(g);
    assert_int_equal(store_msg_get(st, ids[2], &g), STORE_OK);  /* queued */
    store_msg_free(g);
    assert_int_equal(store_lookup_locked(st, "996700000002", T0 + 10, &until),
                     STORE_OK);
    assert_int_equal(until, T0 + 60000);
    assert_int_equal(store_prune(st, T0 + 2, T0 + 10, 10, &n), STORE_OK);
    assert_int_equal(n, 0);
    /* later: the bound holds per table (1 each), then the rest */
    assert_int_equal(store_prune(st, T0 + 200000, T0 + 200000, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 4);   /* ids[1], receipt 405, log "new", ...02 */
    assert_int_equal(store_prune(st, T0 + 200000, T0 + 200000, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_msg_get(st, ids[2], &g), STORE_OK);
    store_msg_free(g);
}

static void test_batches(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t a = 0, b = 0, c = 0;
    struct store_msg_new m = msg("996700000001", "batch");
    struct store_msg *g = NULL;

    assert_int_equal(store_flush(st), STORE_OK);   /* no-op */
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0, &a), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0, &b), STORE_OK);
    /* a failed commit: the whole batch is gone */
    store_test_fail_commits(st, 1);
    assert_int_equal(store_flush(st), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(st), "commit"));
    assert_int_equal(store_msg_get(st, a, &g), STORE_NOTFOUND);
    assert_int_equal(store_msg_get(st, b, &g), STORE_NOTFOUND);

    /* idempotency inside one batch */
    m.idem_key = "same";
    assert_int_equal(store_enqueue(st, &m, T0, &a), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0, &b), STORE_DUPLICATE);
    assert_int_equal(a, b);
    m.idem_key = NULL;
    assert_int_equal(store_enqueue(st, &m, T0, &c), STORE_OK);
    assert_int_equal(store_flush(st), STORE_OK);
    store_close(st);
    st = f->db.st = tmpdb_connect(&f->db);
    assert_int_equal(store_msg_get(st, a, &g), STORE_OK);
    store_msg_free(g);
    assert_int_equal(store_msg_get(st, c, &g), STORE_OK);
    store_msg_free(g);

    /* another connection holding the write lock (its batch is open): the
     * batch cannot open, a write says busy, not ok; the waiters still run */
    struct store *other = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(other, NULL), STORE_OK);
    assert_int_equal(store_lookup_clear(other, "996700000000"), STORE_OK);
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0, &c), STORE_BUSY);
    assert_int_equal(store_flush(st), STORE_OK);
    assert_int_equal(store_flush(other), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0, &c), STORE_OK);
    assert_int_equal(store_flush(st), STORE_OK);
    store_close(other);
    assert_string_equal(store_rc_name(STORE_FULL), "full");
    assert_string_equal(store_msg_state_name(STORE_MSG_EXPIRED), "expired");
    assert_string_equal(store_msg_state_name(99), "?");
}

/* ---- commit waiters and atomic groups ------------------------------------- */

/* A waiter that records its calls, and can write, wait again or flush. */
struct probe {
    struct store *st;
    int calls, rc, order, *seq;
    bool write, again, try_flush;
    int flush_rc;
    int64_t id;
};

static void probe_cb(void *arg, int rc)
{
    struct probe *p = arg;
    p->calls++;
    p->rc = rc;
    p->order = ++*p->seq;
    if (p->try_flush)
        p->flush_rc = store_flush(p->st);
    if (p->write) {
        struct store_msg_new m = msg("996700000003", "from a waiter");
        assert_int_equal(store_enqueue(p->st, &m, T0, &p->id), STORE_OK);
        p->write = false;
    }
    if (p->again) {
        p->again = false;
        assert_int_equal(store_on_commit(p->st, probe_cb, p), STORE_OK);
    }
}

/* Another connection (opened before any batch holds the write lock):
 * whether it sees message id, i.e. whether the id is durable. */
static struct store *reader(struct fx *f)
{
    return tmpdb_connect(&f->db);
}

static bool visible(struct store *o, int64_t id)
{
    struct store_msg *g = NULL;
    int rc = store_msg_get(o, id, &g);
    store_msg_free(g);
    return rc == STORE_OK;
}

static void test_commit_waiters(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct store *o = reader(f);
    int seq = 0;
    struct probe p1 = { .st = st, .seq = &seq }, p2 = p1, p3 = p1;
    int64_t a = 0;
    struct store_msg_new m = msg("996700000002", "waited for");

    /* not attached: every write commits on its own; flush runs waiters */
    assert_int_equal(store_enqueue(st, &m, T0, &a), STORE_OK);
    assert_true(visible(o, a));
    assert_int_equal(store_on_commit(st, probe_cb, &p1), STORE_OK);
    assert_int_equal(p1.calls, 0);              /* never inside the call */
    assert_int_equal(store_flush(st), STORE_OK);
    assert_int_equal(p1.calls, 1);
    assert_int_equal(p1.rc, STORE_OK);

    /* attached: the write waits in the batch; waiters run in order; one
     * that writes opens the next batch, one that waits again waits for
     * the next commit, one that flushes is refused */
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    assert_int_equal(store_enqueue(st, &m, T0, &a), STORE_OK);
    assert_false(visible(o, a));
    p1.write = true;
    p2.again = true;
    p3.try_flush = true;
    assert_int_equal(store_on_commit(st, probe_cb, &p1), STORE_OK);
    assert_int_equal(store_on_commit(st, probe_cb, &p2), STORE_OK);
    assert_int_equal(store_on_commit(st, probe_cb, &p3), STORE_OK);
    assert_int_equal(store_flush(st), STORE_OK);
    assert_true(visible(o, a));
    assert_int_equal(p1.calls, 2);
    assert_int_equal(p2.calls, 1);
    assert_int_equal(p3.calls, 1);
    assert_true(p1.order < p2.order && p2.order < p3.order);
    assert_int_equal(p3.flush_rc, STORE_INVALID);
    assert_int_equal(p1.rc, STORE_OK);
    assert_false(visible(o, p1.id));            /* in the next batch */
    assert_int_equal(store_flush(st), STORE_OK);
    assert_true(visible(o, p1.id));
    assert_int_equal(p2.calls, 2);              /* the next commit */

    /* a cancelled waiter is not called; a failed commit tells every one */
    int64_t b = 0;
    assert_int_equal(store_enqueue(st, &m, T0, &b), STORE_OK);
    assert_int_equal(store_on_commit(st, probe_cb, &p1), STORE_OK);
    assert_int_equal(store_on_commit(st, probe_cb, &p2), STORE_OK);
    assert_int_equal(store_on_commit(st, probe_cb, &p2), STORE_OK);
    assert_int_equal(store_on_commit_cancel(st, probe_cb, &p2), 2);
    store_test_fail_commits(st, 1);
    assert_int_equal(store_flush(st), STORE_ERROR);
    assert_int_equal(p1.calls, 3);
    assert_int_equal(p1.rc, STORE_ERROR);
    assert_int_equal(p2.calls, 2);
    assert_false(visible(o, b));

    /* closing with waiters left: they hear the batch is gone */
    assert_int_equal(store_enqueue(st, &m, T0, &b), STORE_OK);
    assert_int_equal(store_on_commit(st, probe_cb, &p3), STORE_OK);
    store_close(st);
    f->db.st = NULL;
    assert_int_equal(p3.calls, 2);
    assert_int_equal(p3.rc, STORE_ERROR);
    assert_false(visible(o, b));
    store_close(o);
}

/* store_atomic's fn: two enqueues, then what arg->rc says. */
struct group {
    int rc, calls, inner_rc;
    int64_t a, b;
    bool nest;
};

static int group_fn(struct store *st, void *arg)
{
    struct group *g = arg;
    g->calls++;
    struct store_msg_new m = msg("996700000004", "together");
    assert_int_equal(store_enqueue(st, &m, T0, &g->a), STORE_OK);
    assert_int_equal(store_flush(st), STORE_INVALID);
    if (g->nest) {
        struct group in = { .rc = STORE_CONFLICT };
        g->inner_rc = store_atomic(st, group_fn, &in);
        assert_int_equal(in.calls, 1);
    }
    assert_int_equal(store_enqueue(st, &m, T0, &g->b), STORE_OK);
    return g->rc;
}

static void test_atomic(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct store *o = reader(f);
    struct store_msg *got = NULL;
    /* not attached: a transaction of its own, durable on return */
    struct group g = { .rc = STORE_OK };
    assert_int_equal(store_atomic(st, group_fn, &g), STORE_OK);
    assert_true(visible(o, g.a) && visible(o, g.b));
    g = (struct group){ .rc = STORE_FULL };
    assert_int_equal(store_atomic(st, group_fn, &g), STORE_FULL);
    assert_int_equal(store_msg_get(st, g.a, &got), STORE_NOTFOUND);
    assert_int_equal(store_msg_get(st, g.b, &got), STORE_NOTFOUND);

    /* in the batch: a refused group leaves the rest of the batch; a
     * nested refused group leaves its outer group */
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    int64_t before = 0;
    struct store_msg_new m = msg("996700000005", "before");
    assert_int_equal(store_enqueue(st, &m, T0, &before), STORE_OK);
    g = (struct group){ .rc = STORE_CONFLICT };
    assert_int_equal(store_atomic(st, group_fn, &g), STORE_CONFLICT);
    assert_int_equal(store_msg_get(st, g.a, &got), STORE_NOTFOUND);
    g = (struct group){ .rc = STORE_OK, .nest = true };
    assert_int_equal(store_atomic(st, group_fn, &g), STORE_OK);
    assert_int_equal(g.inner_rc, STORE_CONFLICT);
    assert_int_equal(store_flush(st), STORE_OK);
    assert_true(visible(o, before) && visible(o, g.a) && visible(o, g.b));

    /* another connection holds the write lock: STORE_BUSY, fn not run */
    struct store *other = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(other, NULL), STORE_OK);
    assert_int_equal(store_lookup_clear(other, "996700000000"), STORE_OK);
    g = (struct group){ .rc = STORE_OK };
    assert_int_equal(store_atomic(st, group_fn, &g), STORE_BUSY);
    assert_int_equal(g.calls, 0);
    assert_int_equal(store_flush(other), STORE_OK);
    store_close(other);
    store_close(o);
}

/* SQLite's temporary files (statement journals among them) are opened
 * and unlinked at once; /proc/self/fd still names them "etilqs_...". */
static int temp_files_open(void)
{
    int n = 0;
    char path[64], link[512];
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k > 0) {
            link[k] = '\0';
            n += strstr(link, "etilqs_") != NULL;
        }
    }
    return n;
}

/* One sender's pass: claim, then mark every message submitted in two
 * parts (a savepoint of its own inside the group's). */
struct big_pass {
    int temp_files;
    size_t n;
};

static int big_pass_fn(struct store *st, void *arg)
{
    struct big_pass *b = arg;
    struct store_msg *m[200];
    assert_int_equal(store_claim_due(st, T0, 60000, m, 200, &b->n), STORE_OK);
    for (size_t i = 0; i < b->n; i++) {
        char a[32], c[32];
        snprintf(a, sizeof a, "p1-%lld", (long long)m[i]->id);
        snprintf(c, sizeof c, "p2-%lld", (long long)m[i]->id);
        const char *ids[2] = { a, c };
        assert_int_equal(store_mark_submitted_parts(st, m[i]->id, "smsc-a",
                                                    ids, 2, T0), STORE_OK);
        store_msg_free(m[i]);
    }
    b->temp_files = temp_files_open();
    return STORE_OK;
}

/* A big group in the batch keeps its undo pages in memory: the sender's
 * pass once spilled them to a temporary file, a write per page, eleven
 * times the WAL's own writes. */
static void test_atomic_in_memory(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(st, NULL), STORE_OK);
    for (int i = 0; i < 2000; i++) {
        struct store_msg_new m = msg("996700000007", "a queued message");
        assert_int_equal(store_enqueue(st, &m, T0, NULL), STORE_OK);
    }
    assert_int_equal(store_flush(st), STORE_OK);
    int before = temp_files_open();
    struct big_pass b = { 0 };
    assert_int_equal(store_atomic(st, big_pass_fn, &b), STORE_OK);
    assert_int_equal(b.n, 200);
    assert_int_equal(b.temp_files, before);
    assert_int_equal(store_flush(st), STORE_OK);
}

/* On a loop: one commit per pass, after the pass's callbacks. */
struct pass_writer {
    struct store *st;
    struct probe *p;
    int64_t id[3];
};

static void write_in_pass(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pass_writer *w = arg;
    for (int i = 0; i < 3; i++) {
        struct store_msg_new m = msg("996700000006", "one pass");
        assert_int_equal(store_enqueue(w->st, &m, T0, &w->id[i]), STORE_OK);
    }
    assert_int_equal(store_on_commit(w->st, probe_cb, w->p), STORE_OK);
}

static void test_commit_per_pass(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    struct store *o = reader(f);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_int_equal(store_attach(st, base), STORE_OK);
    int seq = 0;
    struct probe p = { .st = st, .seq = &seq };
    struct pass_writer w = { st, &p, { 0 } };
    struct event *ev = evtimer_new(base, write_in_pass, &w);
    struct timeval zero = { 0, 0 };
    evtimer_add(ev, &zero);
    /* the writes' pass, then the commit at the end of that pass */
    int passes = 0;
    while (p.calls == 0 && passes < 10) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        passes++;
    }
    assert_true(passes <= 2);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.rc, STORE_OK);
    for (int i = 0; i < 3; i++)
        assert_true(visible(o, w.id[i]));
    /* a waiter alone (nothing written) also runs at the pass's end */
    assert_int_equal(store_on_commit(st, probe_cb, &p), STORE_OK);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(p.calls, 2);
    event_free(ev);
    store_close(st);
    f->db.st = NULL;
    event_base_free(base);
    store_close(o);
}

/*
 * kill -9 durability: the child writes batches of 20 enqueues on a loop
 * and writes their ids to a pipe only from its commit waiter, called with
 * STORE_OK (the only way the store says "durable"); the parent kills it
 * with SIGKILL after 2000 reported ids, then every reported id must be in
 * the database.
 */
struct k9 {
    struct store *st;
    int fd;
    int64_t ids[20];
    bool waiting;
};

static void k9_committed(void *arg, int rc)
{
    struct k9 *k = arg;
    k->waiting = false;
    if (rc == STORE_OK &&
        write(k->fd, k->ids, sizeof k->ids) != (ssize_t)sizeof k->ids)
        _exit(5);
}

static void k9_child(const char *path, int fd)
{
    struct store *cs = NULL;
    char err[256];
    struct event_base *base = event_base_new();
    if (!base || store_open(path, STORE_SYNC_NORMAL, &cs, err, sizeof err)
                 != STORE_OK || store_attach(cs, base) != STORE_OK)
        _exit(3);
    struct k9 k = { cs, fd, { 0 }, false };
    for (int64_t t = T0;; t++) {
        for (int i = 0; i < 20; i++) {
            struct store_msg_new m = msg("996700000009", "durable");
            if (store_enqueue(cs, &m, t, &k.ids[i]) != STORE_OK)
                _exit(4);
        }
        if (store_on_commit(cs, k9_committed, &k) != STORE_OK)
            _exit(6);
        k.waiting = true;
        while (k.waiting)
            event_base_loop(base, EVLOOP_ONCE);
    }
}

static void test_kill9(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    store_close(st);
    f->db.st = NULL;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        k9_child(f->db.path, p[1]);
    }
    close(p[1]);
    size_t cap = 1 << 16, n = 0;
    int64_t *got = malloc(cap * sizeof *got);
    assert_non_null(got);
    bool killed = false;
    for (;;) {
        ssize_t r = read(p[0], got + n, (cap - n) * sizeof *got);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r >= 0);
        if (r == 0)
            break;   /* the child is dead and the pipe drained */
        assert_int_equal(r % (ssize_t)sizeof *got, 0);
        n += (size_t)r / sizeof *got;
        if (!killed && n >= 2000) {
            assert_int_equal(kill(pid, SIGKILL), 0);
            killed = true;
        }
        assert_true(n < cap);
    }
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(n >= 2000);

    st = f->db.st = tmpdb_connect(&f->db);
    for (size_t i = 0; i < n; i++) {
        struct store_msg *g = NULL;
        int rc = store_msg_get(st, got[i], &g);
        if (rc != STORE_OK)
            fail_msg("acknowledged id %lld missing after kill -9",
                     (long long)got[i]);
        assert_int_equal(g->state, STORE_MSG_QUEUED);
        store_msg_free(g);
    }
    free(got);
}

/* USSD push notices (issue 14 item 4): recorded with who sent them, to
 * whom, from which code, the text, law_required, the time and the
 * outcome; the per-phone count sees only the notices sent to that phone
 * since the given time (a failed one, another phone's, an older one not). */
static void test_notices(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st = tmpdb_connect(&f->db);
    int64_t ag = 0, id1 = 0, id2 = 0, id3 = 0, id4 = 0;
    assert_int_equal(store_agency_put(st, "mvd", "MVD", &ag), STORE_OK);
    struct store_notice n = { ag, "agency:1", "996555000001", "100",
                              "Эртең саат 10:00дө келиңиз.", false };
    assert_int_equal(store_notice_add(st, &n, T0, &id1), STORE_OK);
    n.sender = NULL;
    n.law_required = true;
    assert_int_equal(store_notice_add(st, &n, T0 + 1000, &id2), STORE_OK);
    assert_int_equal(store_notice_add(st, &n, T0 + 2000, &id3), STORE_OK);
    assert_int_equal(store_notice_failed(st, id3, "no bound link"), STORE_OK);
    n.msisdn = "996555000002";
    assert_int_equal(store_notice_add(st, &n, T0 + 3000, &id4), STORE_OK);
    assert_true(id1 < id2 && id2 < id3 && id3 < id4);

    unsigned c = 99;
    int64_t oldest = -1;
    assert_int_equal(store_notices_recent(st, "996555000001", T0, &c, &oldest),
                     STORE_OK);
    assert_int_equal(c, 2);
    assert_int_equal(oldest, T0);
    assert_int_equal(store_notices_recent(st, "996555000001", T0 + 1, &c,
                                          &oldest), STORE_OK);
    assert_int_equal(c, 1);
    assert_int_equal(oldest, T0 + 1000);
    assert_int_equal(store_notices_recent(st, "996555000003", T0, &c, &oldest),
                     STORE_OK);
    assert_int_equal(c, 0);
    assert_int_equal(oldest, 0);

    struct store_notice_rec rec;
    assert_int_equal(store_notice_get(st, id1, &rec), STORE_OK);
    assert_int_equal(rec.id, id1);
    assert_int_equal(rec.agency_id, ag);
    assert_int_equal(rec.at, T0);
    assert_string_equal(rec.client, "agency:1");
    assert_string_equal(rec.msisdn, "996555000001");
    assert_string_equal(rec.sender, "100");
    assert_string_equal(rec.text, "Эртең саат 10:00дө келиңиз.");
    assert_false(rec.law_required);
    assert_false(rec.failed);
    assert_string_equal(rec.err, "");
    assert_int_equal(store_notice_get(st, id3, &rec), STORE_OK);
    assert_string_equal(rec.sender, "");
    assert_true(rec.law_required);
    assert_true(rec.failed);
    assert_string_equal(rec.err, "no bound link");
    assert_int_equal(store_notice_get(st, id4 + 1, &rec), STORE_NOTFOUND);
    assert_int_equal(store_notice_failed(st, id4 + 1, "x"), STORE_NOTFOUND);
    n.client = "";
    assert_int_equal(store_notice_add(st, &n, T0, &id1), STORE_INVALID);
    assert_int_equal(store_notices_recent(st, "", T0, &c, &oldest),
                     STORE_INVALID);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, tmpdb_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_migrations),
        T(test_migration_app_numbers),
        T(test_directory),
        T(test_applications),
        T(test_bookings),
        T(test_booking_race),
        T(test_read_back),
        T(test_menu_draft),
        T(test_menu_versions),   /* issue 10 publish */
        T(test_outbox),
        T(test_idem_hash),
        cmocka_unit_test(test_msgid_parse),
        T(test_parts),
        T(test_held_receipts),
        T(test_leases),
        T(test_prune),
        T(test_batches),
        T(test_commit_waiters),
        T(test_atomic),
        T(test_atomic_in_memory),
        T(test_commit_per_pass),
        T(test_kill9),
        T(test_notices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
