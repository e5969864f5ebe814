/*
 * gateway/store.h — kyzmat's durable storage (SQLite), the only module that
 * speaks SQL.  See store.c's opening comment for the durability contract
 * (what kill -9 and a power cut can cost) and the schema.
 *
 * What it does: opens one SQLite database in WAL mode, applies the schema
 * migrations, prepares every statement once, and offers small, bounded,
 * indexed operations for the citizen services: agencies, services, offices,
 * applications and their history, status templates, subscriptions,
 * opt-outs, USSD push notices, slots and bookings, lookup rate limits,
 * citizens' appeals and their history,
 * the SMS outbox with delivery receipts, the message log and API tokens.
 *
 * Calls are synchronous but short: no call scans a table, every query is
 * answered from an index and every list is bounded by a caller's limit.
 * The gateway calls them from its event loop.
 *
 * The transaction has one owner: the store.  The contract, for every
 * module that writes (and for a second engine behind this interface):
 *  1. Writers just write.  Every write joins the store's open batch; the
 *     store opens one (BEGIN IMMEDIATE) at the first write after a commit.
 *     No caller begins, checks, commits or rolls back a batch.  A group of
 *     writes that must stay together (a booking and its SMS, one keyword
 *     MO, one page of reminders, one pass of the sender) runs inside
 *     store_atomic(): all of it joins the batch, or none of it.
 *  2. The store commits.  Attached to a loop (store_attach) it commits
 *     once per loop pass: the first write or wait of a pass arms a
 *     zero-delay event that commits after the pass's I/O callbacks, so
 *     every writer of a pass shares one commit (one fsync with FULL).
 *     Without a loop, store_flush() commits now (the --create-token CLI,
 *     tests, benches, a shutdown).
 *  3. Durability is learned only through store_on_commit(st, fn, arg):
 *     fn(arg, rc) runs after the next commit.  rc STORE_OK: every write
 *     this store accepted (returned STORE_OK) before the store_on_commit()
 *     call is durable (to the level of the synchronous setting); anything
 *     else: the batch was rolled back whole (a failed COMMIT, a full disk,
 *     an I/O error that undid the transaction), nothing of it is stored,
 *     and every waiter of that commit gets the error.  A write's own
 *     return value only says whether it was accepted.  The acknowledgements
 *     that promise durability (the API's 202, a receipt's or an MO's
 *     deliver_sm_resp, a booking's confirming screen) are sent from fn.
 *  4. Re-entrancy.  fn never runs inside a store call nor inside the
 *     store_on_commit() that registered it: only from the commit event or
 *     from store_flush().  fn may call any store function except
 *     store_flush(): its writes join the next batch, and a
 *     store_on_commit() from fn waits for the next commit.  A wait may be
 *     cancelled (store_on_commit_cancel) until it runs; a module cancels
 *     its waits before it frees what their arg points to.
 *  5. Another process holding the write lock (SQLITE_BUSY past the short
 *     busy timeout): the batch cannot open and writes run on their own
 *     (each durable when accepted), usually coming back STORE_BUSY
 *     ("nothing changed, try again"); the waiters still run at the next
 *     commit point, with STORE_OK.
 *  6. Without store_attach() nothing is batched: each write commits on its
 *     own before it returns, and store_flush() runs the waiters with
 *     STORE_OK.  store_attach(st, NULL) batches without a loop: only
 *     store_flush() commits (benches, group-commit tests).
 * An asynchronous engine (PostgreSQL) keeps this shape: writes queue into
 * the open transaction, the COMMIT is sent at the end of the pass and the
 * waiters run when its answer arrives; no caller depends on when that is.
 *
 * Ownership: struct store is owned by whoever called store_open() and freed
 * by store_close().  Out-structs with fixed-size buffers are the caller's.
 * struct store_msg values handed out are owned by the caller and freed with
 * store_msg_free(); strings returned through char ** are freed with free().
 * Input strings are only read during the call.
 *
 * Threads: one struct store belongs to one thread.  Several processes (or
 * threads, each with its own store_open()) may share one database file;
 * SQLITE_BUSY past the short busy timeout comes back as STORE_BUSY ("nothing
 * changed, try again"), never as a refusal.
 *
 * Times are milliseconds since the Unix epoch, given by the caller (the
 * store never reads the clock except in store_open(), for lease recovery).
 * Days are "YYYY-MM-DD" and times of day "HH:MM", so text order is time
 * order.  Not re-entrant: no store function may be called from inside
 * another; the only callbacks are the commit waiters (rule 4 above) and
 * store_atomic()'s fn, which runs between store calls.
 *
 * May call: SQLite, libevent (the commit event), libc.
 */
#ifndef KYZMAT_GATEWAY_STORE_H
#define KYZMAT_GATEWAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Return codes of every store_* function that can fail. */
enum store_rc {
    STORE_OK = 0,
    STORE_NOTFOUND,   /* no such row (or not yours, or not in that state) */
    STORE_DUPLICATE,  /* enqueue: the idempotency key was seen; id is the
                         existing message */
    STORE_FULL,       /* booking: the slot has no free place */
    STORE_CONFLICT,   /* a uniqueness rule: an active booking for that
                         service exists; a service or office code belongs to
                         another agency; capacity below places booked */
    STORE_INVALID,    /* an argument is out of range */
    STORE_BUSY,       /* another connection holds the write lock: nothing
                         changed, try again later */
    STORE_ERROR       /* anything else; store_errmsg() says what */
};

/* Short name of a return code ("ok", "not found", ...). */
const char *store_rc_name(int rc);

enum store_sync { STORE_SYNC_NORMAL = 0, STORE_SYNC_FULL };

/* A schema migration: applied in order, each in its own transaction. */
struct store_migration {
    const char *name;  /* named in errors, e.g. "3 outbox" */
    const char *sql;   /* one or more statements */
};

/* Limits of the fixed-size text fields below (including the NUL). */
#define STORE_MSISDN_MAX  24
#define STORE_CODE_MAX    64
#define STORE_NAME_MAX    256
#define STORE_DAY_MAX     11   /* YYYY-MM-DD */
#define STORE_TIME_MAX    6    /* HH:MM */
#define STORE_SCOPES_MAX  128
#define STORE_LANG_MAX    8    /* a language code ("ky") */

/*
 * store_open — open (creating when missing) the database at path: WAL,
 * synchronous NORMAL or FULL, foreign keys on, busy timeout
 * STORE_BUSY_TIMEOUT_MS once open (longer while opening, so that several
 * processes may open at once).  Applies every missing migration, one
 * transaction each: a failed migration leaves the database as it was
 * before it and the error names it.  Prepares every statement.  Finally
 * puts back to 'queued' every outbox row whose 'sending' lease has expired
 * (by the wall clock; skipped when another connection holds the write
 * lock: that gateway is alive and its sender recovers leases itself).  On success *out is the new store (caller owns it)
 * and STORE_OK is returned; otherwise *out is NULL and err says why.
 */
#define STORE_BUSY_TIMEOUT_MS 10
int store_open(const char *path, enum store_sync sync, struct store **out,
               char *err, size_t errlen);

/*
 * store_open_with — store_open() with extra migrations applied after the
 * built-in ones (for tests of the migration machinery and for local
 * extensions).  extra may be NULL when n_extra is 0; it is read only
 * during the call.
 */
int store_open_with(const char *path, enum store_sync sync,
                    const struct store_migration *extra, size_t n_extra,
                    struct store **out, char *err, size_t errlen);

/* Roll back an open batch and run every waiter left with STORE_ERROR (a
 * module cancels its waits before it is freed; flush first to commit),
 * finalize every statement, free the commit event, close, free.  NULL ok.
 * From inside a waiter, the close happens when the waiters have run. */
void store_close(struct store *st);

/* Text of the last error on this store ("" when none). */
const char *store_errmsg(const struct store *st);

/* Schema version now in the database (number of migrations applied). */
int store_schema_version(struct store *st);
/* Number of built-in migrations. */
int store_builtin_version(void);

/* ---- the transaction (see the contract at the top) ------------------- */

/*
 * store_attach — batch the writes from now on and commit them once per
 * pass of base's loop (a zero-delay event armed by a pass's first write
 * or wait).  base NULL: batch, but commit only at store_flush().  base
 * must outlive the store (store_close() frees the event).  STORE_OK;
 * STORE_ERROR when out of memory; STORE_INVALID when already attached.
 */
struct event_base;
int store_attach(struct store *st, struct event_base *base);

/*
 * store_on_commit — call fn(arg, rc) after the next commit (rule 3):
 * STORE_OK when every write accepted before this call is durable, else
 * the error of the rolled-back batch.  Never calls fn from inside this
 * call.  Returns STORE_OK, or STORE_ERROR when out of memory (fn will not
 * be called).  Cost: an append to an array that keeps its size.
 */
typedef void store_commit_fn(void *arg, int rc);
int store_on_commit(struct store *st, store_commit_fn *fn, void *arg);
/* Forget every wait with this fn and arg that has not run yet (also from
 * inside another waiter).  Returns how many. */
size_t store_on_commit_cancel(struct store *st, store_commit_fn *fn,
                              void *arg);

/*
 * store_flush — commit now and run every waiter with the result: for
 * callers without a loop, and for a loop's end at shutdown.  Returns
 * STORE_OK (also with nothing to commit) or the error of the rolled-back
 * batch.  STORE_INVALID (nothing done) from inside a waiter or inside
 * store_atomic().  NULL st: STORE_OK.
 */
int store_flush(struct store *st);

/*
 * store_atomic — run fn(st, arg) so that its writes stay together.
 * Inside the batch (a savepoint): STORE_OK from fn keeps them in the
 * batch, anything else rolls them back (the rest of the batch is
 * untouched) and is returned.  Without a batch (not attached, or the
 * batch cannot open): a transaction of its own, committed before
 * store_atomic() returns.  STORE_BUSY without calling fn when no
 * transaction can be opened (another connection holds the write lock).
 * fn may call any store function but store_flush(); store_atomic() nests.
 */
typedef int store_atomic_fn(struct store *st, void *arg);
int store_atomic(struct store *st, store_atomic_fn *fn, void *arg);

/*
 * store_test_migrate_before — a test hook: create the database at path
 * (or bring it) up to the built-in migration before the first one whose
 * name contains name_part, and close it, so a test can fill a database as
 * the previous version had it and then store_open() it.  STORE_OK;
 * STORE_NOTFOUND when no migration is named so; else STORE_ERROR (err).
 */
int store_test_migrate_before(const char *path, const char *name_part,
                              char *err, size_t errlen);

/*
 * store_test_fail_commits — a test hook: the next n commits of a
 * non-empty batch fail as a full disk would make them (rolled back,
 * STORE_ERROR, every waiter told).  0 turns it off.
 */
void store_test_fail_commits(struct store *st, unsigned n);

/* ---- agencies, services, offices ---------------------------------------- */

/* Create or rename the agency with this code.  *id_out gets its id. */
int store_agency_put(struct store *st, const char *code, const char *name,
                     int64_t *id_out);
int store_agency_by_code(struct store *st, const char *code, int64_t *id_out);

/* Create the service with this code for agency_id (or find it).
 * STORE_CONFLICT when the code belongs to another agency. */
int store_service_put(struct store *st, int64_t agency_id, const char *code,
                      int64_t *id_out);
int store_service_by_code(struct store *st, const char *code, int64_t *id_out,
                          int64_t *agency_id_out);
/* Name of a service in one language. */
int store_service_name_set(struct store *st, int64_t service_id,
                           const char *lang, const char *name);
/* Name in lang, else in fallback_lang (may be NULL); NOTFOUND when neither. */
int store_service_name(struct store *st, int64_t service_id, const char *lang,
                       const char *fallback_lang, char *name, size_t cap);

int store_office_put(struct store *st, int64_t agency_id, const char *code,
                     int64_t *id_out);
int store_office_by_code(struct store *st, const char *code, int64_t *id_out,
                         int64_t *agency_id_out);
int store_office_name_set(struct store *st, int64_t office_id,
                          const char *lang, const char *name,
                          const char *address);
/* address may be NULL when not wanted. */
int store_office_name(struct store *st, int64_t office_id, const char *lang,
                      const char *fallback_lang, char *name, size_t name_cap,
                      char *address, size_t address_cap);
/* Offices that have published slots for service_id, ids > after_id in
 * ascending order, at most max.  *n_out gets the count. */
int store_offices_for_service(struct store *st, int64_t service_id,
                              int64_t after_id, int64_t *ids, size_t max,
                              size_t *n_out);

/* ---- slots and bookings ------------------------------------------------- */

struct store_slot {
    int64_t id, office_id, service_id;
    char day[STORE_DAY_MAX];
    char time[STORE_TIME_MAX];
    int capacity, booked;
};

/*
 * store_slot_put — publish a slot (or change its capacity).
 * STORE_CONFLICT when capacity would fall below the places booked;
 * STORE_INVALID for a malformed day/time or negative capacity.
 */
int store_slot_put(struct store *st, int64_t office_id, int64_t service_id,
                   const char *day, const char *time, int capacity,
                   int64_t *id_out);
int store_slot_get(struct store *st, int64_t slot_id, struct store_slot *out);
/* Days >= from_day with at least one free place, ascending, at most max. */
int store_slot_days(struct store *st, int64_t office_id, int64_t service_id,
                    const char *from_day, char (*days)[STORE_DAY_MAX],
                    size_t max, size_t *n_out);
/* Slots of one day with a free place, by time, at most max. */
int store_slot_times(struct store *st, int64_t office_id, int64_t service_id,
                     const char *day, struct store_slot *out, size_t max,
                     size_t *n_out);

struct store_booking {
    int64_t id, slot_id, service_id, office_id, created_at;
    char msisdn[STORE_MSISDN_MAX];
    char day[STORE_DAY_MAX];
    char time[STORE_TIME_MAX];
    char lang[STORE_LANG_MAX]; /* the language it was booked in; "" unknown */
};

/*
 * store_book — one place in slot_id for msisdn, atomically: the slot's
 * booked count rises only while below capacity, and one msisdn holds at
 * most one active booking per service.  STORE_OK (*id_out = booking id),
 * STORE_FULL, STORE_CONFLICT (already an active booking for the service),
 * STORE_NOTFOUND (no such slot), STORE_BUSY (retry; nothing changed).
 */
int store_book(struct store *st, const char *msisdn, int64_t slot_id,
               int64_t now, int64_t *id_out);
/* Cancel msisdn's active booking booking_id and free its place.
 * STORE_NOTFOUND when it is not msisdn's or not active. */
int store_booking_cancel(struct store *st, int64_t booking_id,
                         const char *msisdn, int64_t now);
/*
 * store_booking_move — replace msisdn's active booking by one in
 * new_slot_id (same service), atomically: the old one becomes 'moved' and
 * frees its place, the new one takes a place.  On STORE_FULL / NOTFOUND /
 * INVALID (other service) nothing changed.  *new_id_out gets the new id.
 */
int store_booking_move(struct store *st, int64_t booking_id,
                       const char *msisdn, int64_t new_slot_id, int64_t now,
                       int64_t *new_id_out);
int store_booking_get(struct store *st, int64_t booking_id,
                      struct store_booking *out, char *state, size_t state_cap);
/* msisdn's active bookings by day and time, at most max. */
int store_bookings_active(struct store *st, const char *msisdn,
                          struct store_booking *out, size_t max,
                          size_t *n_out);
/* Record the language booking_id was made in (for its SMS). */
int store_booking_set_lang(struct store *st, int64_t booking_id,
                           const char *lang);
/* Services with at least one free place on a day >= from_day, ids >
 * after_id ascending, at most max. */
int store_services_bookable(struct store *st, const char *from_day,
                            int64_t after_id, int64_t *ids, size_t max,
                            size_t *n_out);
/* Code (may be NULL) and agency of a service. */
int store_service_get(struct store *st, int64_t service_id, char *code,
                      size_t code_cap, int64_t *agency_id_out);
/* Active bookings on day whose reminder is not sent yet, at most max. */
int store_reminders_due(struct store *st, const char *day,
                        struct store_booking *out, size_t max, size_t *n_out);
int store_booking_reminded(struct store *st, int64_t booking_id);

/* ---- read-back for agencies (issue 12 part 3) ---------------------------- */

/* An office or a service of an agency: its id and code. */
struct store_coded {
    int64_t id;
    char code[STORE_CODE_MAX];
};
/* agency_id's offices (offices true) or services, by code, codes > after
 * ("" or NULL: from the start), at most max. */
int store_coded_list(struct store *st, bool offices, int64_t agency_id,
                     const char *after, struct store_coded *out, size_t max,
                     size_t *n_out);

/* A name in one language (address: offices only, else ""). */
struct store_name {
    char lang[STORE_LANG_MAX];
    char name[STORE_NAME_MAX];
    char address[STORE_NAME_MAX];
};
/* Every name of the office (office true) or service id, by language. */
int store_names(struct store *st, bool office, int64_t id,
                struct store_name *out, size_t max, size_t *n_out);

/* office_id's slots from from_day to to_day (inclusive), of service_id
 * (0: every service), by day, time and id, after the slot *after (its
 * day, time and id; NULL: from the start), at most max; full ones too. */
int store_slots_list(struct store *st, int64_t office_id, int64_t service_id,
                     const char *from_day, const char *to_day,
                     const struct store_slot *after, struct store_slot *out,
                     size_t max, size_t *n_out);

/* A booking of a day with its state ("active", "cancelled", "moved"). */
struct store_day_booking {
    struct store_booking b;
    char state[16];
};
/* office_id's bookings on `day` in every state, by time and id, after
 * (after_time, after_id) ("" and 0: from the start), at most max. */
int store_bookings_day(struct store *st, int64_t office_id, const char *day,
                       const char *after_time, int64_t after_id,
                       struct store_day_booking *out, size_t max, size_t *n_out);

/* ---- applications ------------------------------------------------------- */

/*
 * An application is its agency's: (agency_id, number) is unique, and two
 * agencies may both have "12345" (issue 14 item 6).  An agency reads and
 * writes only its own numbers; a citizen finds their own applications by
 * number across agencies (store_app_find).
 */
struct store_app {
    char number[STORE_CODE_MAX];
    int64_t agency_id, service_id;  /* service_id 0 when none */
    char agency[STORE_CODE_MAX];    /* the agency's code */
    char owner[STORE_MSISDN_MAX];
    char status[STORE_CODE_MAX];
    int64_t updated_at;
};

/*
 * store_app_status — agency_id's status change for its application
 * `number`: updates it (or creates it: then owner is required) and appends
 * the change to its history, atomically.  owner / service_id (0) may be
 * NULL / 0 to keep what is recorded.  Another agency's application of the
 * same number is neither read nor changed.  STORE_INVALID when creating
 * without owner; STORE_NOTFOUND for an unknown agency or service.
 */
int store_app_status(struct store *st, const char *number, int64_t agency_id,
                     int64_t service_id, const char *owner,
                     const char *status, const char *note, int64_t now);
/* agency_id's application `number`; STORE_NOTFOUND when that agency has
 * none (whether or not another agency has one). */
int store_app_get(struct store *st, int64_t agency_id, const char *number,
                  struct store_app *out);
/*
 * store_app_find — every agency's application `number` whose owner is
 * `owner` (canonical, gateway/phone), by agency id, at most max, into
 * out[0..*n_out): a citizen's own applications of that number.  One
 * indexed read; applications of other owners are never returned.
 */
int store_app_find(struct store *st, const char *number, const char *owner,
                   struct store_app *out, size_t max, size_t *n_out);

struct store_app_event {
    char status[STORE_CODE_MAX];
    char note[STORE_NAME_MAX];
    int64_t at;
};
/* History of agency_id's application `number`, newest first, at most max. */
int store_app_history(struct store *st, int64_t agency_id, const char *number,
                      struct store_app_event *out, size_t max, size_t *n_out);

/* Template for (agency, status, lang); agency_id 0 and status "*" are the
 * fallbacks looked up when nothing more precise exists ("*" only for
 * application statuses: never for a "booking.<kind>" SMS). */
int store_template_set(struct store *st, int64_t agency_id, const char *status,
                       const char *lang, const char *body);
/* *body_out is malloc'd (caller frees).  NOTFOUND when none applies. */
int store_template_get(struct store *st, int64_t agency_id, const char *status,
                       const char *lang, char **body_out);

/* One stored template (store_template_list); body is malloc'd. */
struct store_template {
    char status[STORE_CODE_MAX];
    char lang[STORE_LANG_MAX];
    char *body;
};
/*
 * store_template_list — agency_id's own templates (no fallbacks) ordered
 * by (status, lang), those after the cursor (after_status, after_lang)
 * only ("" or NULL for both: from the start), at most max: one indexed
 * range read on the primary key.  out[0..*n_out) hold malloc'd bodies:
 * free them with store_templates_free(out, *n_out).  On an error nothing
 * is left to free (*n_out 0).
 */
int store_template_list(struct store *st, int64_t agency_id,
                        const char *after_status, const char *after_lang,
                        struct store_template *out, size_t max, size_t *n_out);
/* Free the bodies of t[0..n) (the array itself is the caller's). */
void store_templates_free(struct store_template *t, size_t n);
/* Delete agency_id's template (status, lang).  NOTFOUND when none. */
int store_template_delete(struct store *st, int64_t agency_id,
                          const char *status, const char *lang);

/* ---- lookup rate limit -------------------------------------------------- */

/* *locked_until_out = end of msisdn's lock-out, 0 when not locked at now. */
int store_lookup_locked(struct store *st, const char *msisdn, int64_t now,
                        int64_t *locked_until_out);
/*
 * store_lookup_failed — count a failed lookup by msisdn.  The misses of
 * the last window_ms are counted (a sliding window; a successful lookup
 * does not forget them, so interleaving one's own application buys no
 * guesses); reaching max_failures locks msisdn out until now + lock_ms.
 * *failures_out (the misses in the window) and *locked_until_out (0 when
 * not locked) may be NULL.
 */
int store_lookup_failed(struct store *st, const char *msisdn, int64_t now,
                        int64_t window_ms, int max_failures, int64_t lock_ms,
                        int *failures_out, int64_t *locked_until_out);
/* Forget msisdn's failures and lock-out (an operator's unlock). */
int store_lookup_clear(struct store *st, const char *msisdn);

/* ---- subscriptions and opt-outs ----------------------------------------- */

/* Subscribe msisdn to topic (e.g. "app:12345"); STORE_OK when already. */
int store_sub_add(struct store *st, const char *msisdn, const char *topic,
                  int64_t now);
int store_sub_remove(struct store *st, const char *msisdn, const char *topic);
/* Subscribers of topic with subscription id > after_id, ascending, at most
 * max; ids[i] is the cursor to pass as after_id for the next page. */
int store_sub_list(struct store *st, const char *topic, int64_t after_id,
                   char (*msisdns)[STORE_MSISDN_MAX], int64_t *ids,
                   size_t max, size_t *n_out);
/*
 * store_sub_mute — msisdn wants (mute false) or no longer wants (true) the
 * SMS of topic that it gets without subscribing: an application's owner
 * and "app:<number>".  Idempotent.  Kept across STOP/START.
 */
int store_sub_mute(struct store *st, const char *msisdn, const char *topic,
                   bool mute, int64_t now);
int store_sub_muted(struct store *st, const char *msisdn, const char *topic,
                    bool *muted);
/* STOP: record the opt-out and drop every subscription of msisdn. */
int store_optout_set(struct store *st, const char *msisdn, int64_t now);
int store_optout_clear(struct store *st, const char *msisdn);
/* *opted_out = whether msisdn has opted out. */
int store_optout_get(struct store *st, const char *msisdn, bool *opted_out);

/* ---- USSD push notices (issue 14 item 4) ------------------------------ */

/* One notice an agency pushed (POST /v1/ussd/notices); strings are read
 * during the call only. */
struct store_notice {
    int64_t agency_id;        /* who sent it */
    const char *client;       /* "agency:ID", as the API names its caller */
    const char *msisdn;       /* to whom, canonical */
    const char *sender;       /* the "from" code; NULL or "": the gateway's */
    const char *text;
    bool law_required;
};
/* Record a notice as sent at now (before it goes to the link, so the
 * per-phone limit sees it); *id_out its id.  Joins the batch: durable
 * with the next commit (store_on_commit). */
int store_notice_add(struct store *st, const struct store_notice *n,
                     int64_t now, int64_t *id_out);
/* The notice id could not go out: outcome 'failed' with err (no longer
 * counted by store_notices_recent).  NOTFOUND when no such notice. */
int store_notice_failed(struct store *st, int64_t id, const char *err);
/* A recorded notice, as store_notice_get reads it (texts cut to fit). */
#define STORE_NOTICE_TEXT_MAX 1024   /* the API takes at most 800 bytes */
struct store_notice_rec {
    int64_t id, agency_id, at;
    char client[STORE_CODE_MAX];
    char msisdn[STORE_MSISDN_MAX];
    char sender[STORE_MSISDN_MAX];   /* "" : the gateway's own code */
    char text[STORE_NOTICE_TEXT_MAX];
    bool law_required;
    bool failed;                     /* outcome 'failed' (else 'sent') */
    char err[200];                   /* why it failed, "" when sent */
};
/* Notice id into *out; NOTFOUND when no such notice. */
int store_notice_get(struct store *st, int64_t id, struct store_notice_rec *out);
/* How many notices were sent to msisdn at or after since, and the time of
 * the oldest of them (0 when none): the per-phone limit, from an index. */
int store_notices_recent(struct store *st, const char *msisdn, int64_t since,
                         unsigned *count, int64_t *oldest);

/* ---- appeals (issue 12 appeals) --------------------------------------- */

/* A citizen's appeal (gateway/appeals.h has the rules: states, limits,
 * who sees what).  Strings are read during the call only. */
#define STORE_APPEAL_TEXT_MAX 1024   /* the text, bytes with the NUL */
#define STORE_APPEAL_REF_MAX  16
struct store_appeal_new {
    const char *ref;          /* canonical (gateway/appeal_ref.h) */
    int64_t agency_id;        /* the category's agency */
    const char *category;     /* the category's id */
    bool anonymous;           /* the agency never sees msisdn */
    const char *msisdn;       /* canonical; kept for the answers */
    const char *text;         /* what the citizen wrote */
    const char *lang;         /* the language answers go in */
    const char *channel;      /* "ussd" or "sms" */
};
/* Add an appeal in state 'new' with its first history row (by
 * "citizen"); *id_out its id.  STORE_CONFLICT when ref is taken (nothing
 * stored: draw another).  Joins the batch. */
int store_appeal_add(struct store *st, const struct store_appeal_new *a,
                     int64_t now, int64_t *id_out);
struct store_appeal {
    int64_t id, agency_id, created_at, updated_at;
    char ref[STORE_APPEAL_REF_MAX];
    char agency[STORE_CODE_MAX];      /* the agency's code */
    char category[STORE_CODE_MAX];
    bool anonymous;
    char msisdn[STORE_MSISDN_MAX];
    char text[STORE_APPEAL_TEXT_MAX];
    char lang[STORE_LANG_MAX];
    char channel[8];
    char state[16];           /* new in_progress answered closed rejected */
};
/* The appeal of reference ref (canonical); NOTFOUND when none. */
int store_appeal_get(struct store *st, const char *ref,
                     struct store_appeal *out);
/* Up to max of agency_id's appeals with id > after_id, by id; state NULL:
 * every state. */
int store_appeals_list(struct store *st, int64_t agency_id, const char *state,
                       int64_t after_id, struct store_appeal *out, size_t max,
                       size_t *n_out);
/* Set appeal_id's state and add a history row (kind "state" or "reply",
 * text the note or the reply, may be NULL) by who, in one step.  The
 * transition rule is the caller's (appeals_next_ok); an unknown state is
 * STORE_CONFLICT, no such appeal NOTFOUND. */
int store_appeal_change(struct store *st, int64_t appeal_id, const char *kind,
                        const char *state, const char *text, const char *who,
                        int64_t now);
struct store_appeal_event {
    int64_t id, at;
    char kind[8];             /* "state" or "reply" */
    char state[16];           /* the state after it */
    char text[STORE_APPEAL_TEXT_MAX];   /* the note or reply, "" */
    char who[STORE_CODE_MAX + 8];       /* "citizen", "agency:CODE" */
};
/* Up to max history rows of appeal_id with id > after_id, oldest first. */
int store_appeal_history(struct store *st, int64_t appeal_id, int64_t after_id,
                         struct store_appeal_event *out, size_t max,
                         size_t *n_out);
/* How many appeals msisdn filed at or after since (the daily limit). */
int store_appeals_since(struct store *st, const char *msisdn, int64_t since,
                        unsigned *count);

/* ---- API tokens --------------------------------------------------------- */

/* Tokens are stored as the caller's hash (e.g. SHA-256), never in clear. */
int store_token_add(struct store *st, const void *hash, size_t hash_len,
                    int64_t agency_id, const char *scopes, int64_t now);
/* NOTFOUND when unknown or revoked. scopes may be NULL. */
int store_token_get(struct store *st, const void *hash, size_t hash_len,
                    int64_t *agency_id_out, char *scopes, size_t scopes_cap);
int store_token_revoke(struct store *st, const void *hash, size_t hash_len,
                       int64_t now);

/* ---- issue 10 console: accounts, sessions, audit ---------------------- */

/* An operator's console account.  role is "viewer", "editor", "publisher"
 * or "admin" (the table refuses anything else: STORE_CONFLICT); pwhash is
 * a libsodium crypto_pwhash_str string.  Names are unique
 * (STORE_CONFLICT). */
#define STORE_ACCOUNT_NAME_MAX 65
#define STORE_ROLE_MAX 16
#define STORE_PWHASH_MAX 128
#define STORE_CSRF_MAX 65
struct store_account {
    int64_t id;
    char name[STORE_ACCOUNT_NAME_MAX];
    char role[STORE_ROLE_MAX];
    char pwhash[STORE_PWHASH_MAX];
    int64_t created_at;
    int64_t disabled_at;      /* 0: enabled */
};
int store_account_add(struct store *st, const char *name, const char *role,
                      const char *pwhash, int64_t now, int64_t *id_out);
int store_account_get(struct store *st, const char *name,
                      struct store_account *out);
/* Accounts with id > after_id, by id, at most max. */
int store_account_list(struct store *st, int64_t after_id,
                       struct store_account *out, size_t max, size_t *n_out);
/* NOTFOUND when no such account. */
int store_account_set_role(struct store *st, const char *name, const char *role);
/* disabled_at 0: enable again. */
int store_account_set_disabled(struct store *st, const char *name,
                               int64_t disabled_at);
int store_account_set_pwhash(struct store *st, const char *name,
                             const char *pwhash);
/* *accounts = every account, *admins = enabled admins (either may be
 * NULL). */
int store_account_counts(struct store *st, int64_t *accounts, int64_t *admins);

/* A console session, kept as the hash of its cookie token (never the
 * token), with the account it belongs to as it is now. */
struct store_session {
    int64_t account_id;
    char csrf[STORE_CSRF_MAX];
    int64_t created_at, expires_at, last_seen;
    char name[STORE_ACCOUNT_NAME_MAX];
    char role[STORE_ROLE_MAX];
    bool disabled;
};
int store_session_add(struct store *st, const void *hash, size_t hash_len,
                      int64_t account_id, const char *csrf, int64_t now,
                      int64_t expires_at);
/* NOTFOUND when unknown (or logged out). */
int store_session_get(struct store *st, const void *hash, size_t hash_len,
                      struct store_session *out);
int store_session_touch(struct store *st, const void *hash, size_t hash_len,
                        int64_t now);
int store_session_del(struct store *st, const void *hash, size_t hash_len);
/* Every session of the account (disabled, password reset). */
int store_sessions_del_account(struct store *st, const char *name);
/* Delete at most limit sessions whose expires_at <= now. */
int store_sessions_prune(struct store *st, int64_t now, size_t limit,
                         int64_t *n_out);

/* The audit log: append-only (the database refuses UPDATE and DELETE).
 * Strings may be NULL except actor and action. */
struct store_audit {
    int64_t at;
    const char *actor;        /* account name, or "cli" */
    const char *peer;         /* the client's address, or "local" */
    const char *action;       /* "login", "account.create", ... */
    const char *target;       /* what it was done to */
    const char *detail;       /* what changed (JSON text); never a secret */
};
int store_audit_add(struct store *st, const struct store_audit *a);
#define STORE_AUDIT_TEXT_MAX 512
struct store_audit_rec {
    int64_t id, at;
    char actor[STORE_ACCOUNT_NAME_MAX + 8];
    char peer[64];
    char action[64];
    char target[STORE_AUDIT_TEXT_MAX];
    char detail[STORE_AUDIT_TEXT_MAX];
};
/* "" / NULL / 0: any.  to 0: no upper bound; before_id 0: the newest. */
struct store_audit_filter {
    const char *actor, *action;
    int64_t from, to;         /* at, inclusive, ms */
    int64_t before_id;        /* a page's cursor: ids below this */
};
/* Newest first, at most max. */
int store_audit_list(struct store *st, const struct store_audit_filter *f,
                     struct store_audit_rec *out, size_t max, size_t *n_out);

/* ---- the menu draft (issue 10 workspace) -------------------------------- */

/*
 * The console's draft of the menu set: files (name -> YAML text) shared by
 * every node on the database; never live.  Names are [A-Za-z0-9._-], not
 * starting with '.', shorter than STORE_DRAFT_NAME_MAX; a text is at most
 * STORE_DRAFT_TEXT_MAX octets (the loader's own file cap).
 */
#define STORE_DRAFT_NAME_MAX 64
#define STORE_DRAFT_TEXT_MAX (1u << 20)
struct store_draft {
    char name[STORE_DRAFT_NAME_MAX];
    char *text;                         /* store_drafts_free() */
    char updated_by[STORE_ACCOUNT_NAME_MAX];
    int64_t updated_at;
};
/* Create or replace one file of the draft.  STORE_INVALID: a bad name, a
 * text too long, no author. */
int store_draft_put(struct store *st, const char *name, const char *text,
                    const char *who, int64_t now);
/* Remove one file.  STORE_NOTFOUND when there is none of that name. */
int store_draft_delete(struct store *st, const char *name);
/* The draft's files by name, at most max (texts owned by the caller). */
int store_draft_list(struct store *st, struct store_draft *out, size_t max,
                     size_t *n_out);
void store_drafts_free(struct store_draft *d, size_t n);

/* ---- menu versions (issue 10 publish) ------------------------------------ */

/*
 * A published menu set: its number, who made it and when, a note, its
 * files (a JSON object {name: YAML text}) and the unified diff against
 * the version live when it was made.  Versions are immutable once stored
 * (the database refuses a change of files, diff, author, note, time, and
 * any DELETE); only the state moves: pending -> live | rejected (maker-
 * checker), live -> retired (when another one goes live).  At most one
 * is live; every node runs the live one (gateway/menuwatch).
 */
#define STORE_VERSION_NOTE_MAX 512
#define STORE_NODE_NAME_MAX 128
struct store_version_new {
    const char *author, *note;          /* note may be NULL */
    const char *files, *diff;           /* diff may be NULL */
    bool live;                          /* else pending */
    int64_t now;
};
struct store_version {
    int64_t number, created_at, approved_at;   /* approved_at 0: none */
    char author[STORE_ACCOUNT_NAME_MAX];
    char approved_by[STORE_ACCOUNT_NAME_MAX];  /* "" when none */
    char note[STORE_VERSION_NOTE_MAX];
    char state[16];                     /* pending|live|retired|rejected */
    char *files, *diff;                 /* store_version_get only (owned:
                                         * store_version_clear); NULL in
                                         * lists */
};
/* Store a new version, numbered one above the highest; live: the live
 * one is retired in the same transaction.  STORE_INVALID: no author or
 * files, a note too long. */
int store_version_add(struct store *st, const struct store_version_new *v,
                      int64_t *n_out);
/* A pending version approved (made live, the live one retired) or
 * rejected by by.  STORE_NOTFOUND when n is not pending. */
int store_version_decide(struct store *st, int64_t n, bool approve,
                         const char *by, int64_t now);
/* The live version's number: one indexed read.  STORE_NOTFOUND (and 0)
 * when none was published. */
int store_version_live(struct store *st, int64_t *n_out);
/* One version with its files and diff.  STORE_NOTFOUND when unknown. */
int store_version_get(struct store *st, int64_t n, struct store_version *out);
void store_version_clear(struct store_version *v);
/* Newest first, numbers below before (0: from the newest), at most max;
 * without files and diff. */
int store_version_list(struct store *st, int64_t before,
                       struct store_version *out, size_t max, size_t *n_out);

/* What each node runs: the version (0: none) and where its set came from
 * ("console": the live version; "files": its folder, after a SIGHUP or
 * before any publish), since seen_at. */
struct store_node {
    char node[STORE_NODE_NAME_MAX];
    int64_t version, seen_at;
    char source[16];
};
int store_node_seen(struct store *st, const char *node, int64_t version,
                    const char *source, int64_t now);
int store_node_list(struct store *st, struct store_node *out, size_t max,
                    size_t *n_out);

/* ---- outbox ------------------------------------------------------------- */

enum store_msg_state {
    STORE_MSG_QUEUED = 0, STORE_MSG_SENDING, STORE_MSG_SUBMITTED,
    STORE_MSG_DELIVERED, STORE_MSG_FAILED, STORE_MSG_EXPIRED
};
/* "queued", "sending", ... ; "?" when out of range. */
const char *store_msg_state_name(int state);

/* What store_enqueue() takes.  Strings may be NULL except to. */
struct store_msg_new {
    const char *client;       /* idempotency scope (agency code); NULL = "" */
    const char *idem_key;     /* NULL: no idempotency */
    const char *to;           /* MSISDN */
    const char *text;         /* text, or NULL when template is used */
    const char *tmpl;         /* template name */
    const char *data;         /* template variables (JSON text) */
    const char *lang;
    const char *callback_url;
    bool law_required;        /* may go to an opted-out number */
    int64_t not_before;       /* first attempt at or after */
    int64_t expires_at;       /* final failure ('expired') after */
    const char *sender;       /* source address; NULL: the sender's own */
    const char *via;          /* link to prefer; NULL: the routing rule */
    /* issue 14 item 8: STORE_REQ_HASH_LEN bytes digesting the request's
     * content, kept with idem_key; NULL: none (matches any) */
    const uint8_t *req_hash;
};
#define STORE_REQ_HASH_LEN 32

/* A message as stored.  Every string is NULL when unset. */
struct store_msg {
    int64_t id;
    int state;                /* enum store_msg_state */
    char *client, *idem_key, *to, *text, *tmpl, *data, *lang, *callback_url;
    char *smsc, *smsc_msgid;
    char *sender, *via;       /* as given to store_enqueue() */
    bool law_required;
    int attempts;
    int err;                  /* last error code (SMPP status or own), 0 */
    int64_t next_attempt_at, expires_at, lease_until;
    int64_t created_at, updated_at, submitted_at, done_at;  /* 0 = not yet */
};
void store_msg_free(struct store_msg *m);

/*
 * store_enqueue — add a message in state 'queued'.  STORE_OK with *id_out
 * = new id; STORE_DUPLICATE with *id_out = the existing message's id when
 * (client, idem_key) was used before with the same req_hash (or either
 * has none): the new content is ignored; STORE_CONFLICT with *id_out =
 * the existing message's id when it was used with another req_hash
 * (nothing stored).
 */
int store_enqueue(struct store *st, const struct store_msg_new *m, int64_t now,
                  int64_t *id_out);
/* *out = the message (caller frees with store_msg_free()). */
int store_msg_get(struct store *st, int64_t id, struct store_msg **out);

/*
 * Issue 14 item 9: the keys a client scope's callbacks are signed with
 * (Standard Webhooks).  store_webhook_rotate makes key (len bytes, at most
 * STORE_WEBHOOK_KEY_MAX) the scope's key; the one it replaces (if any)
 * stays valid until *prev_until (ms; 0: not at all), and *prev_until
 * becomes 0 when there was none.  store_webhook_keys
 * gives the keys for message msg_id's scope at now: the current one first,
 * then the previous one while it is valid; STORE_NOTFOUND when the scope
 * has none (or there is no such message).
 */
#define STORE_WEBHOOK_KEY_MAX 64
struct store_webhook_keys {
    unsigned n;                         /* 0..2 */
    size_t len[2];
    uint8_t key[2][STORE_WEBHOOK_KEY_MAX];
};
int store_webhook_rotate(struct store *st, const char *client, const void *key,
                         size_t len, int64_t now, int64_t *prev_until);
int store_webhook_keys(struct store *st, int64_t msg_id, int64_t now,
                       struct store_webhook_keys *out);

/*
 * store_claim_due — take up to max 'queued' messages with next_attempt_at
 * <= now, earliest first: each becomes 'sending' with a lease until now +
 * lease_ms and attempts + 1; a message past its expires_at becomes
 * 'expired' instead (it is handed out too, so its callback can be made).
 * out[0..*n_out) are the claimed messages as they are now, earliest due
 * first (caller frees each with store_msg_free()).
 * Cost: one indexed range read of at most max rows.
 */
int store_claim_due(struct store *st, int64_t now, int64_t lease_ms,
                    struct store_msg **out, size_t max, size_t *n_out);
/*
 * store_outbox_recover — 'sending' messages whose lease ended at or before
 * now become 'queued' again (one indexed UPDATE).  *n_out (may be NULL)
 * gets their number.  store_open() calls it with the wall clock; a gateway
 * that is the only user of its database may call it with INT64_MAX at
 * start-up to resend at once what the dead process had in flight.
 */
int store_outbox_recover(struct store *st, int64_t now, int64_t *n_out);
/*
 * store_outbox_gauges — for metrics: *queued = the queued messages, counted
 * up to limit (a bounded read of the partial index outbox_due; a deeper
 * queue reads as limit), and *oldest_due = the earliest next_attempt_at of
 * a queued message (0: none queued), one index probe.
 */
int store_outbox_gauges(struct store *st, int64_t limit, int64_t *queued,
                        int64_t *oldest_due);
/*
 * store_mark_submitted — 'sending' -> 'submitted' with the SMSC's message
 * id (any format).  Also from 'queued': a submit_sm_resp that arrives after
 * the lease ran out still proves the SMSC has the message, so it is not
 * sent again.  STORE_NOTFOUND when the message is in neither state.
 */
int store_mark_submitted(struct store *st, int64_t id, const char *smsc,
                         const char *smsc_msgid, int64_t now);
/*
 * store_mark_retry — 'sending' -> 'queued' for another try at next_at
 * (or 'expired' when next_at is past expires_at).  refund: do not count
 * the attempt (throttling).  *state_out (may be NULL) gets the new state.
 */
int store_mark_retry(struct store *st, int64_t id, int64_t next_at, int err,
                     bool refund, int64_t now, int *state_out);
/* -> 'failed' (final) from queued, sending or submitted. */
int store_mark_failed(struct store *st, int64_t id, int err, int64_t now);
/*
 * store_receipt — a delivery receipt from smsc for smsc_msgid, matched
 * whatever its format: the exact text first, else the same number written
 * in decimal or hex (either way round); newest message first.  state is
 * STORE_MSG_DELIVERED, _FAILED or _EXPIRED (final; applied unless the
 * message is already final; for a message with recorded parts, see
 * store_receipt_ex()) or -1 for an intermediate receipt (logged
 * only).  Every receipt is logged.  *id_out (may be NULL) gets the
 * message id; STORE_NOTFOUND when none matched.
 */
int store_receipt(struct store *st, const char *smsc, const char *smsc_msgid,
                  int state, int err, int64_t now, int64_t *id_out);

/*
 * store_mark_submitted_parts — store_mark_submitted() for a message sent
 * in n parts: the message row takes part 1's id (as before) and, when n >
 * 1, every part's id is recorded (outbox_parts), atomically, so that each
 * part's receipt finds the message.  msgids[0..n) are the SMSC's ids of
 * parts 1..n, none empty (STORE_INVALID).  n == 1 is exactly
 * store_mark_submitted().  STORE_NOTFOUND as there.
 */
int store_mark_submitted_parts(struct store *st, int64_t id, const char *smsc,
                               const char *const *msgids, unsigned n,
                               int64_t now);

/* What store_receipt_ex() found and did. */
struct store_receipt_info {
    int64_t id;           /* the message, 0 when none matched */
    int part;             /* 1-based part matched; 0: the message's own row
                             (a one-part message, or one submitted before
                             parts were recorded) */
    int parts;            /* the message's recorded parts (1 for part 0) */
    int parts_delivered;  /* of those, delivered after this receipt (part 0:
                             1 when this receipt delivered the message) */
    int final_now;        /* the state this receipt gave the message
                             (DELIVERED, FAILED, EXPIRED), or -1 when the
                             message's state did not change */
    bool has_callback;    /* with final_now: the message has a callback URL */
    int64_t submitted_at; /* with final_now: when it was submitted (ms; 0
                             when it never was) */
};

/*
 * store_receipt_ex — store_receipt() with the details.  Matching as
 * store_receipt() (exact text first, else decimal <-> hex; newest message
 * first), against every recorded part as well as the message rows.  A
 * part's receipt sets that part's state (unless the part is already
 * final); the message then becomes failed / expired at its first failed or
 * expired part (with that receipt's err), delivered when its last part is
 * delivered, done_at = now either way; a message already final does not
 * change.  STORE_OK with *out filled, STORE_NOTFOUND (out->id 0), or an
 * error (nothing changed).  out may be NULL.
 */
int store_receipt_ex(struct store *st, const char *smsc,
                     const char *smsc_msgid, int state, int err, int64_t now,
                     struct store_receipt_info *out);

/* *parts = the message's recorded parts (0 when none are: a one-part
 * message, or not submitted yet), *delivered = how many are delivered.
 * Either pointer may be NULL. */
int store_msg_parts(struct store *st, int64_t id, int *parts, int *delivered);

/*
 * Held receipts: a receipt already acknowledged to the SMSC that matched
 * no message yet (it overtook its submit_sm_resp) is kept here until it
 * matches or is given up, so a crash cannot lose it.  state as for
 * store_receipt() (-1 intermediate).  store_receipt_hold: *id_out gets the
 * row's id; STORE_INVALID for an empty smsc / id or one too long for the
 * fields of struct store_held_receipt.  store_receipt_unhold: drop it
 * (STORE_NOTFOUND when gone).  store_receipts_held: rows with id >
 * after_id, ascending, at most max (for the sender at start-up).  Rows
 * older than store_prune()'s `before` are pruned.
 */
#define STORE_SMSC_MAX  64
#define STORE_MSGID_MAX 65
struct store_held_receipt {
    int64_t id, at;
    char smsc[STORE_SMSC_MAX];
    char msgid[STORE_MSGID_MAX];
    int state, err;
};
int store_receipt_hold(struct store *st, const char *smsc,
                       const char *smsc_msgid, int state, int err,
                       int64_t now, int64_t *id_out);
int store_receipt_unhold(struct store *st, int64_t held_id);
int store_receipts_held(struct store *st, int64_t after_id,
                        struct store_held_receipt *out, size_t max,
                        size_t *n_out);

/* Message log: one line per SMS in ('mo') or out ('mt'). outbox_id 0 = none. */
int store_log_message(struct store *st, const char *direction,
                      const char *msisdn, const char *smsc, const char *text,
                      int64_t outbox_id, int64_t now);

/*
 * store_prune — retention: delete at most `limit` rows from each of the
 * outbox (final messages, done_at < before) and their parts, receipts,
 * held receipts and the message log (at < before), and lookup counters whose window began before `before`
 * and that are not locked at now.  Bounded and indexed; call it now and
 * then (e.g. from a timer) until *n_out (may be NULL) comes back 0.
 * Applications, history, bookings and subscriptions are records: kept.
 */
int store_prune(struct store *st, int64_t before, int64_t now, size_t limit,
                int64_t *n_out);

/*
 * store_msgid_parse — the numeric readings of an SMSC message id: *dec
 * when it is all decimal digits (fitting 64 bits), *hex when it is all hex
 * digits (at most 16).  Returns a bit mask: 1 = dec valid, 2 = hex valid.
 * Pure; exposed for tests.
 */
int store_msgid_parse(const char *id, int64_t *dec, int64_t *hex);

#endif
