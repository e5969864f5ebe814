/*
 * gateway/store.c — kyzmat's durable storage: the one file that includes
 * sqlite3.h and the one place that holds SQL.
 *
 * Design.  One SQLite database in WAL mode.  The schema is an ordered list
 * of migrations (migrations[] below); `schema_version` records how many
 * were applied, and store_open() applies the missing ones, each in its own
 * transaction, so a failed migration leaves the database as it was.  Every
 * statement the module runs is in one table (sql[], indexed by enum sid),
 * prepared once at open and finalized at close; each is reset right after
 * use so no read transaction stays open between calls (WAL checkpoints
 * need that).  Every query is answered by an index (the indexes sit next
 * to the tables they serve) and every list is bounded by a caller's limit,
 * so a call costs a few B-tree descents, never a scan: the outbox can hold
 * millions of rows and the sender still claims the next due ones from the
 * partial index outbox_due without loading anything else.
 *
 * Group commit, owned here (the contract is at the top of store.h).  Once
 * attached (store_attach), the first write after a commit opens the batch
 * (BEGIN IMMEDIATE: join(), called by S() for every statement that writes
 * and by tx_begin()) and arms a zero-delay event on the loop; the event
 * commits once, after the pass's I/O callbacks, so all writers of one pass
 * share one WAL commit (one fsync with synchronous=FULL, none with
 * NORMAL), and then runs the waiters (store_on_commit) with the result.
 * The waiters are an array swapped out before they run: one that waits
 * again lands in the next commit's array, one that writes opens the next
 * batch.  A flag (in_flush) guards the run: store_flush() refuses, and
 * store_close() is deferred to its end.  Multi-statement operations
 * (booking, moving, status change with history) and store_atomic() run
 * inside a SAVEPOINT when a transaction is open, so a refused operation
 * leaves the rest of the batch intact; with none open they run in their
 * own BEGIN IMMEDIATE transaction.
 *
 * What a crash costs.
 *  - Process crash (kill -9, segfault, OOM kill) with WAL and synchronous
 *    NORMAL or FULL: nothing that was committed.  A commit in WAL mode is
 *    the write() of the transaction's frames and its commit frame into the
 *    -wal file; once write() returned the data is in the kernel's page cache
 *    and survives the death of the process; the next open replays the WAL.
 *    What is lost is the open batch: writes whose commit had not returned.
 *    Since the API answers 202 only from its commit waiter, called with
 *    STORE_OK, kill -9 loses no acknowledged message.  Messages leased for
 *    sending ('sending') go back to 'queued' when their lease ends, so a
 *    message may be sent twice (at-least-once), never lost.
 *  - Power cut / kernel panic with synchronous=NORMAL: WAL commits are not
 *    fsync'ed; the WAL is synced only when it is checkpointed (every ~1000
 *    pages, i.e. a few MB of writes, and at close).  Transactions committed
 *    since the last checkpoint sync may be lost; the database itself stays
 *    consistent (the lost ones vanish whole, oldest kept).  For the API
 *    this means a 202 given in the last moments (up to one WAL's worth of
 *    commits) before a power cut can be forgotten.
 *  - Power cut with synchronous=FULL: the WAL is fsync'ed at every commit,
 *    so every 202 survives.  The price is one fsync per batch.  Measured
 *    with bench/bench_store.c on the 2-vCPU development VM (virtio disk,
 *    busy machine; two runs): one commit per message gives 6,700-9,400/s
 *    with NORMAL but only 120-320/s with FULL (an fsync costs 3-8 ms);
 *    with 100 messages per commit NORMAL does 38,000-43,000/s and FULL
 *    16,500-23,000/s.  Group commit is what makes FULL affordable: one
 *    fsync per loop pass, not per message, so FULL reaches 10,000/s once
 *    a pass carries ~50 or more requests (which is the case under load).
 *  - The WAL is checkpointed automatically (PASSIVE, when it passes 1000
 *    pages) inside a commit, i.e. on the loop: a few ms now and then.
 *    journal_size_limit trims the -wal file back to 64 MB afterwards.
 *  - A disk that lies about fsync (write cache without power-loss
 *    protection) voids the FULL guarantee; that is outside our control.
 *
 * Owns: the sqlite3 connection and its prepared statements, the batch,
 * the commit event and the waiters (fn/arg pairs; what arg points to is
 * the caller's).
 * May call: SQLite, libevent (one evtimer), libc.  Never blocks longer than the busy timeout
 * (STORE_BUSY_TIMEOUT_MS) waiting for another connection's lock, plus the
 * I/O of one commit (and of an automatic WAL checkpoint now and then).
 */
#include "gateway/store.h"

#include <sqlite3.h>

#include <event2/event.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- schema ------------------------------------------------------------- */

/* The outbox's columns and indexes, as migration 4 created them and
 * migration 6 re-creates them around its new state CHECK: one text, so
 * the rebuilt table cannot drift from the original. */
#define OUTBOX_COLS_HEAD \
    "  id INTEGER PRIMARY KEY," \
    "  client TEXT NOT NULL DEFAULT '', idem_key TEXT," \
    "  msisdn TEXT NOT NULL, body TEXT, template TEXT, data TEXT," \
    "  lang TEXT, callback_url TEXT," \
    "  law_required INTEGER NOT NULL DEFAULT 0,"
#define OUTBOX_COLS_TAIL \
    "  attempts INTEGER NOT NULL DEFAULT 0," \
    "  next_attempt_at INTEGER NOT NULL, expires_at INTEGER NOT NULL," \
    "  lease_until INTEGER," \
    "  smsc TEXT, smsc_msgid TEXT, msgid_dec INTEGER, msgid_hex INTEGER," \
    "  err INTEGER NOT NULL DEFAULT 0," \
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL," \
    "  submitted_at INTEGER, done_at INTEGER);"
#define OUTBOX_INDEXES \
    "CREATE UNIQUE INDEX outbox_idem ON outbox(client, idem_key)" \
    "  WHERE idem_key IS NOT NULL;" \
    "CREATE INDEX outbox_due ON outbox(next_attempt_at)" \
    "  WHERE state = 'queued';" \
    "CREATE INDEX outbox_lease ON outbox(lease_until)" \
    "  WHERE state = 'sending';" \
    "CREATE INDEX outbox_msgid ON outbox(smsc, smsc_msgid)" \
    "  WHERE smsc_msgid IS NOT NULL;" \
    "CREATE INDEX outbox_msgid_dec ON outbox(smsc, msgid_dec)" \
    "  WHERE msgid_dec IS NOT NULL;" \
    "CREATE INDEX outbox_msgid_hex ON outbox(smsc, msgid_hex)" \
    "  WHERE msgid_hex IS NOT NULL;"

static const struct store_migration migrations[] = {
    { "1 directory",
      "CREATE TABLE agencies("
      "  id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE,"
      "  name TEXT NOT NULL);"
      "CREATE TABLE services("
      "  id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE,"
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id));"
      "CREATE TABLE service_names("
      "  service_id INTEGER NOT NULL REFERENCES services(id),"
      "  lang TEXT NOT NULL, name TEXT NOT NULL,"
      "  PRIMARY KEY(service_id, lang)) WITHOUT ROWID;"
      "CREATE TABLE offices("
      "  id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE,"
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id));"
      "CREATE TABLE office_names("
      "  office_id INTEGER NOT NULL REFERENCES offices(id),"
      "  lang TEXT NOT NULL, name TEXT NOT NULL, address TEXT,"
      "  PRIMARY KEY(office_id, lang)) WITHOUT ROWID;"
      "CREATE TABLE api_tokens("
      "  hash BLOB PRIMARY KEY,"
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id),"
      "  scopes TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
      "  revoked_at INTEGER) WITHOUT ROWID;" },
    { "2 applications",
      "CREATE TABLE applications("
      "  number TEXT PRIMARY KEY,"
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id),"
      "  service_id INTEGER REFERENCES services(id),"
      "  owner_msisdn TEXT NOT NULL, status TEXT NOT NULL,"
      "  updated_at INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE application_history("
      "  id INTEGER PRIMARY KEY,"
      "  number TEXT NOT NULL REFERENCES applications(number),"
      "  status TEXT NOT NULL, note TEXT, at INTEGER NOT NULL);"
      "CREATE INDEX application_history_by_number"
      "  ON application_history(number, id);"
      "CREATE TABLE status_templates("
      "  agency_id INTEGER NOT NULL, status TEXT NOT NULL,"
      "  lang TEXT NOT NULL, body TEXT NOT NULL,"
      "  PRIMARY KEY(agency_id, status, lang)) WITHOUT ROWID;"
      "CREATE TABLE lookup_attempts("
      "  msisdn TEXT PRIMARY KEY, window_start INTEGER NOT NULL,"
      "  failures INTEGER NOT NULL, locked_until INTEGER NOT NULL)"
      "  WITHOUT ROWID;"
      "CREATE TABLE subscriptions("
      "  id INTEGER PRIMARY KEY, msisdn TEXT NOT NULL, topic TEXT NOT NULL,"
      "  created_at INTEGER NOT NULL, UNIQUE(msisdn, topic));"
      "CREATE INDEX subscriptions_by_topic ON subscriptions(topic, id);"
      "CREATE TABLE opt_outs("
      "  msisdn TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;" },
    { "3 appointments",
      "CREATE TABLE slots("
      "  id INTEGER PRIMARY KEY,"
      "  office_id INTEGER NOT NULL REFERENCES offices(id),"
      "  service_id INTEGER NOT NULL REFERENCES services(id),"
      "  day TEXT NOT NULL, time TEXT NOT NULL,"
      "  capacity INTEGER NOT NULL CHECK(capacity >= 0),"
      "  booked INTEGER NOT NULL DEFAULT 0"
      "    CHECK(booked >= 0 AND booked <= capacity),"
      "  UNIQUE(office_id, service_id, day, time));"
      "CREATE INDEX slots_by_day ON slots(day);"
      "CREATE TABLE office_services("
      "  service_id INTEGER NOT NULL, office_id INTEGER NOT NULL,"
      "  PRIMARY KEY(service_id, office_id)) WITHOUT ROWID;"
      "CREATE TABLE bookings("
      "  id INTEGER PRIMARY KEY, msisdn TEXT NOT NULL,"
      "  slot_id INTEGER NOT NULL REFERENCES slots(id),"
      "  service_id INTEGER NOT NULL REFERENCES services(id),"
      "  state TEXT NOT NULL CHECK(state IN ('active','cancelled','moved')),"
      "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
      "  reminder_sent INTEGER NOT NULL DEFAULT 0);"
      /* one active booking per citizen and service; also serves the
       * "my bookings" list */
      "CREATE UNIQUE INDEX bookings_one_active"
      "  ON bookings(msisdn, service_id) WHERE state = 'active';"
      "CREATE INDEX bookings_reminder ON bookings(slot_id)"
      "  WHERE state = 'active' AND reminder_sent = 0;" },
    { "4 outbox",
      "CREATE TABLE outbox("
      OUTBOX_COLS_HEAD
      "  state TEXT NOT NULL CHECK(state IN ('queued','sending','submitted',"
      "    'delivered','failed','expired')),"
      OUTBOX_COLS_TAIL
      OUTBOX_INDEXES
      "CREATE TABLE receipts("
      "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, smsc TEXT NOT NULL,"
      "  msgid TEXT NOT NULL, outbox_id INTEGER, state TEXT,"
      "  err INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX receipts_by_outbox ON receipts(outbox_id)"
      "  WHERE outbox_id IS NOT NULL;"
      "CREATE TABLE message_log("
      "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
      "  direction TEXT NOT NULL CHECK(direction IN ('mo','mt')),"
      "  msisdn TEXT NOT NULL, smsc TEXT, body TEXT, outbox_id INTEGER);"
      "CREATE INDEX message_log_by_msisdn ON message_log(msisdn, id);" },
    { "5 retention",
      /* store_prune() deletes old rows in bounded, indexed steps */
      "CREATE INDEX outbox_done ON outbox(done_at)"
      "  WHERE done_at IS NOT NULL;"
      "CREATE INDEX receipts_by_at ON receipts(at);"
      "CREATE INDEX message_log_by_at ON message_log(at);"
      "CREATE INDEX lookup_attempts_by_window"
      "  ON lookup_attempts(window_start);" },
    { "6 outbox state check without an IN list",
      /* SQLite evaluates CHECK(state IN (6 values)) by building an
       * ephemeral B-tree (a temporary pager and page cache) for every row
       * inserted or updated: ~7% of the CPU of a POST /v1/messages in the
       * API's profile.  The same rule as an OR chain costs a few
       * comparisons.  SQLite cannot alter a CHECK, so the table is rebuilt
       * (same columns, same order, same indexes; no trigger, view or
       * foreign key refers to it); a one-time copy at the first open. */
      "CREATE TABLE outbox_v6("
      OUTBOX_COLS_HEAD
      "  state TEXT NOT NULL CHECK(state = 'queued' OR state = 'sending' OR"
      "    state = 'submitted' OR state = 'delivered' OR state = 'failed' OR"
      "    state = 'expired'),"
      OUTBOX_COLS_TAIL
      "INSERT INTO outbox_v6 SELECT * FROM outbox;"
      "DROP TABLE outbox;"
      "ALTER TABLE outbox_v6 RENAME TO outbox;"
      OUTBOX_INDEXES
      "CREATE INDEX outbox_done ON outbox(done_at)"
      "  WHERE done_at IS NOT NULL;" },
    { "7 booking language",
      /* the language the citizen booked in: confirmation, reminder and
       * change SMS are written in it (NULL for older rows: the default) */
      "ALTER TABLE bookings ADD COLUMN lang TEXT;"
      "CREATE INDEX slots_free_by_service ON slots(service_id, day)"
      "  WHERE booked < capacity;" },
    { "8 muted topics",
      /* a citizen who said "no more SMS about application N" (USSD
       * unsubscribe); kept across STOP/START: it is a preference, not a
       * subscription */
      "CREATE TABLE sub_mutes("
      "  msisdn TEXT NOT NULL, topic TEXT NOT NULL, at INTEGER NOT NULL,"
      "  PRIMARY KEY(msisdn, topic)) WITHOUT ROWID;" },
    { "9 message parts and held receipts",
      /* every part's SMSC message id of a long SMS (receipts come per
       * part; the message is delivered when every part is), indexed like
       * the outbox's own msgid columns; and receipts already acknowledged
       * to the SMSC that match no message yet (they overtook their
       * submit_sm_resp): kept here until they match or give up, so a
       * crash cannot lose them */
      "CREATE TABLE outbox_parts("
      "  message_id INTEGER NOT NULL, part INTEGER NOT NULL,"
      "  smsc TEXT NOT NULL, smsc_msgid TEXT NOT NULL,"
      "  msgid_dec INTEGER, msgid_hex INTEGER,"
      "  state TEXT NOT NULL DEFAULT 'submitted' CHECK(state = 'submitted'"
      "    OR state = 'delivered' OR state = 'failed' OR state = 'expired'),"
      "  err INTEGER NOT NULL DEFAULT 0, done_at INTEGER,"
      "  PRIMARY KEY(message_id, part)) WITHOUT ROWID;"
      "CREATE INDEX outbox_parts_msgid ON outbox_parts(smsc, smsc_msgid);"
      "CREATE INDEX outbox_parts_dec ON outbox_parts(smsc, msgid_dec)"
      "  WHERE msgid_dec IS NOT NULL;"
      "CREATE INDEX outbox_parts_hex ON outbox_parts(smsc, msgid_hex)"
      "  WHERE msgid_hex IS NOT NULL;"
      "CREATE TABLE receipts_held("
      "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, smsc TEXT NOT NULL,"
      "  msgid TEXT NOT NULL, state INTEGER NOT NULL,"
      "  err INTEGER NOT NULL DEFAULT 0);" },
    { "10 message sender and link",
      /* an SMS from a USSD menu goes out from the dialled service code on
       * the link the dialog came in on, as before it went through the
       * outbox: its source address and preferred link (NULL: the
       * sender's default and the routing rule) */
      "ALTER TABLE outbox ADD COLUMN sender TEXT;"
      "ALTER TABLE outbox ADD COLUMN via TEXT;" },
    { "11 lookup misses in a sliding window",
      /* one row per failed lookup, so the lock-out counts the misses of
       * the last window (sliding, not from the first miss) and a
       * successful lookup no longer forgets them; lookup_attempts keeps
       * the lock and the window's summary, and its rows (deleted by
       * store_lookup_clear or the prune) take their misses with them */
      "CREATE TABLE lookup_misses("
      "  msisdn TEXT NOT NULL, at INTEGER NOT NULL);"
      "CREATE INDEX lookup_misses_by_msisdn ON lookup_misses(msisdn, at);"
      "CREATE TRIGGER lookup_attempts_gone AFTER DELETE ON lookup_attempts"
      "  BEGIN DELETE FROM lookup_misses WHERE msisdn = old.msisdn; END;" },
    { "12 application numbers per agency (issue 14 item 6)",
      /* issue 14 item 6: an application is unique per (agency, number),
       * so two agencies may both have "12345" and neither learns of or
       * squats the other's.  SQLite cannot change a table's key, so both
       * tables are rebuilt (as migration 6 rebuilt the outbox): every
       * application and every history row is copied (the history keeps
       * its ids, so its order, and gains the agency of its application;
       * foreign_keys is always on, so no history row lacks one), then the
       * old tables go and the new ones take their names (the history's
       * foreign key follows the rename).  applications_by_number serves
       * the citizens' lookups (store_app_find).  Last, the subscription
       * and mute topics "app:NUMBER" name their application's agency:
       * "app:AGENCY_ID/NUMBER" (gateway/notify's notify_topic()); numbers
       * are still unique while this runs, and a topic of no application
       * stays as it was. */
      "CREATE TABLE applications_v12("
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id),"
      "  number TEXT NOT NULL,"
      "  service_id INTEGER REFERENCES services(id),"
      "  owner_msisdn TEXT NOT NULL, status TEXT NOT NULL,"
      "  updated_at INTEGER NOT NULL,"
      "  PRIMARY KEY(agency_id, number)) WITHOUT ROWID;"
      "INSERT INTO applications_v12(agency_id, number, service_id,"
      "  owner_msisdn, status, updated_at)"
      "  SELECT agency_id, number, service_id, owner_msisdn, status,"
      "  updated_at FROM applications;"
      "CREATE TABLE application_history_v12("
      "  id INTEGER PRIMARY KEY, agency_id INTEGER NOT NULL,"
      "  number TEXT NOT NULL, status TEXT NOT NULL, note TEXT,"
      "  at INTEGER NOT NULL,"
      "  FOREIGN KEY(agency_id, number)"
      "    REFERENCES applications_v12(agency_id, number));"
      "INSERT INTO application_history_v12(id, agency_id, number, status,"
      "  note, at)"
      "  SELECT h.id, a.agency_id, h.number, h.status, h.note, h.at"
      "  FROM application_history h JOIN applications a"
      "  ON a.number = h.number;"
      "DROP TABLE application_history;"
      "DROP TABLE applications;"
      "ALTER TABLE applications_v12 RENAME TO applications;"
      "ALTER TABLE application_history_v12 RENAME TO application_history;"
      "CREATE INDEX applications_by_number ON applications(number);"
      "CREATE INDEX application_history_by_app"
      "  ON application_history(agency_id, number, id);"
      "UPDATE subscriptions SET topic = 'app:' || (SELECT agency_id"
      "  FROM applications WHERE number = substr(topic, 5)) || '/'"
      "  || substr(topic, 5) WHERE substr(topic, 1, 4) = 'app:'"
      "  AND substr(topic, 5) IN (SELECT number FROM applications);"
      "UPDATE sub_mutes SET topic = 'app:' || (SELECT agency_id"
      "  FROM applications WHERE number = substr(topic, 5)) || '/'"
      "  || substr(topic, 5) WHERE substr(topic, 1, 4) = 'app:'"
      "  AND substr(topic, 5) IN (SELECT number FROM applications);" },
    { "13 idempotency request hash (issue 14 item 8)",
      /* the SHA-256 of the request's canonical content, kept with its
       * idempotency key: the same key with other content is a conflict,
       * not a duplicate (store_enqueue).  NULL for rows from before this
       * migration and for writers that give none: those match any. */
      "ALTER TABLE outbox ADD COLUMN req_hash BLOB;" },
    { "14 agency webhook secrets (issue 14 item 9)",
      /* the key each client scope's callbacks are signed with (Standard
       * Webhooks), and the one it replaced while it is still honoured */
      "CREATE TABLE webhook_secrets("
      "  client TEXT PRIMARY KEY, secret BLOB NOT NULL,"
      "  prev_secret BLOB, prev_until INTEGER,"
      "  rotated_at INTEGER NOT NULL) WITHOUT ROWID;" },
    { "15 ussd notices (issue 14 item 4)",
      /* every USSD push notice an agency sent through the API: who sent
       * it, to whom, from which code, what, whether the law required it,
       * when, and how it went ('sent' when it went to the link, 'failed'
       * with err when not).  The per-phone limit counts a phone's sent
       * notices of the last hour from the partial index. */
      "CREATE TABLE ussd_notices("
      "  id INTEGER PRIMARY KEY,"
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id),"
      "  client TEXT NOT NULL, msisdn TEXT NOT NULL, sender TEXT,"
      "  body TEXT NOT NULL, law_required INTEGER NOT NULL DEFAULT 0,"
      "  at INTEGER NOT NULL,"
      "  outcome TEXT NOT NULL DEFAULT 'sent'"
      "    CHECK(outcome = 'sent' OR outcome = 'failed'),"
      "  err TEXT);"
      "CREATE INDEX ussd_notices_sent ON ussd_notices(msisdn, at)"
      "  WHERE outcome = 'sent';" },
    { "16 console accounts, sessions and audit (issue 10 console)",
      /* issue 10 console: the operators' console.  An account has a role
       * and a libsodium password hash (crypto_pwhash_str, Argon2id);
       * disabled_at set: it cannot log in.  A session is kept as the
       * SHA-256 of its cookie token, never the token; it carries its
       * CSRF token and ends idle or at expires_at.  The audit log is
       * append-only: the triggers refuse UPDATE and DELETE. */
      "CREATE TABLE console_accounts("
      "  id INTEGER PRIMARY KEY,"
      "  name TEXT NOT NULL UNIQUE,"
      "  role TEXT NOT NULL CHECK(role IN"
      "    ('viewer', 'editor', 'publisher', 'admin')),"
      "  pwhash TEXT NOT NULL,"
      "  created_at INTEGER NOT NULL, disabled_at INTEGER);"
      "CREATE TABLE console_sessions("
      "  hash BLOB PRIMARY KEY,"
      "  account_id INTEGER NOT NULL REFERENCES console_accounts(id),"
      "  csrf TEXT NOT NULL,"
      "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
      "  last_seen INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX console_sessions_account"
      "  ON console_sessions(account_id);"
      "CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);"
      "CREATE TABLE audit("
      "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  at INTEGER NOT NULL, actor TEXT NOT NULL, peer TEXT NOT NULL,"
      "  action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',"
      "  detail TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX audit_actor ON audit(actor, id);"
      "CREATE INDEX audit_action ON audit(action, id);"
      "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
      "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
      "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
      "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;" },
    { "17 read-back lists by agency (issue 12 part 3)",
      /* an agency lists its own offices and services by code, and an
       * office's slots by day; each list is one index range */
      "CREATE INDEX offices_by_agency ON offices(agency_id, code);"
      "CREATE INDEX services_by_agency ON services(agency_id, code);"
      "CREATE INDEX slots_by_office_day ON slots(office_id, day, time);" },
    { "18 menu drafts (issue 10 workspace)",
      /* the console's draft of the menu set: one row per file, shared by
       * every node (so every editor sees one draft); never live: a
       * publish copies it into a version */
      "CREATE TABLE menu_drafts("
      "  name TEXT PRIMARY KEY, text TEXT NOT NULL,"
      "  updated_by TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;" },
    /* appeals (issue 12 appeals) */
    { "19 citizens' appeals and their history (issue 12 appeals)",
      /* an appeal filed by USSD or SMS: its reference (9 digits, the
       * last a Damm check digit, random so not guessable; UNIQUE: the
       * filer draws again on a collision), the category and the agency
       * owning it, whether the category is anonymous (the phone is kept
       * so the answer reaches it, but never shown to the agency), the
       * text, language, channel and state.  appeals_by_agency serves the
       * agency's pages (by state or all), appeals_by_phone the daily
       * limit per phone.  The history has every state change and reply,
       * with who made it ("citizen", "agency:CODE"). */
      "CREATE TABLE appeals("
      "  id INTEGER PRIMARY KEY, ref TEXT NOT NULL UNIQUE,"
      "  agency_id INTEGER NOT NULL REFERENCES agencies(id),"
      "  category TEXT NOT NULL, anonymous INTEGER NOT NULL DEFAULT 0,"
      "  msisdn TEXT NOT NULL, body TEXT NOT NULL, lang TEXT NOT NULL,"
      "  channel TEXT NOT NULL,"
      "  state TEXT NOT NULL DEFAULT 'new' CHECK(state IN ('new',"
      "    'in_progress', 'answered', 'closed', 'rejected')),"
      "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
      "CREATE INDEX appeals_by_agency ON appeals(agency_id, state, id);"
      "CREATE INDEX appeals_by_agency_all ON appeals(agency_id, id);"
      "CREATE INDEX appeals_by_phone ON appeals(msisdn, created_at);"
      "CREATE TABLE appeal_history("
      "  id INTEGER PRIMARY KEY,"
      "  appeal_id INTEGER NOT NULL REFERENCES appeals(id),"
      "  kind TEXT NOT NULL CHECK(kind IN ('state', 'reply')),"
      "  state TEXT NOT NULL, body TEXT, who TEXT NOT NULL,"
      "  at INTEGER NOT NULL);"
      "CREATE INDEX appeal_history_by_appeal"
      "  ON appeal_history(appeal_id, id);" },
    /* issue 10 publish */
    { "20 menu versions and what each node runs (issue 10 publish)",
      /* a published menu set: its number is its id; files and diff never
       * change once stored (only its state moves: pending -> live |
       * rejected, live -> retired); at most one is live, found by the
       * partial index in one descent (every node asks every second) */
      "CREATE TABLE menu_versions("
      "  id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL,"
      "  author TEXT NOT NULL, note TEXT NOT NULL, files TEXT NOT NULL,"
      "  diff TEXT NOT NULL, state TEXT NOT NULL CHECK(state IN"
      "  ('pending', 'live', 'retired', 'rejected')),"
      "  approved_by TEXT, approved_at INTEGER);"
      "CREATE UNIQUE INDEX menu_versions_live ON menu_versions(state)"
      "  WHERE state = 'live';"
      "CREATE TRIGGER menu_versions_immutable BEFORE UPDATE OF id, created_at,"
      "  author, note, files, diff ON menu_versions"
      "  BEGIN SELECT RAISE(ABORT, 'a menu version is immutable'); END;"
      "CREATE TRIGGER menu_versions_no_delete BEFORE DELETE ON menu_versions"
      "  BEGIN SELECT RAISE(ABORT, 'menu versions are kept'); END;"
      "CREATE TABLE node_versions("
      "  node TEXT PRIMARY KEY, version INTEGER NOT NULL,"
      "  source TEXT NOT NULL CHECK(source IN ('console', 'files')),"
      "  seen_at INTEGER NOT NULL) WITHOUT ROWID;" },
};
#define N_BUILTIN ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- statements ----------------------------------------------------------- */

enum sid {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
    S_VERSION,
    S_AGENCY_PUT, S_AGENCY_BY_CODE,
    S_SERVICE_PUT, S_SERVICE_BY_CODE, S_SERVICE_NAME_SET, S_SERVICE_NAME,
    S_OFFICE_PUT, S_OFFICE_BY_CODE, S_OFFICE_NAME_SET, S_OFFICE_NAME,
    S_OFFICE_SERVICE_LINK, S_OFFICES_FOR_SERVICE,
    S_SLOT_PUT, S_SLOT_GET, S_SLOT_DAYS, S_SLOT_TIMES, S_SLOT_TAKE,
    S_SLOT_GIVE, S_SLOT_EXISTS,
    S_BOOKING_INSERT, S_BOOKING_RETIRE, S_BOOKING_GET, S_BOOKINGS_ACTIVE,
    S_REMINDERS_DUE, S_BOOKING_REMINDED, S_BOOKING_LANG,
    S_SERVICES_BOOKABLE, S_SERVICE_GET, S_MUTE_ADD, S_MUTE_DEL, S_MUTE_GET,
    S_APP_UPDATE, S_APP_INSERT, S_APP_GET, S_HISTORY_ADD, S_HISTORY_LIST,
    S_APP_FIND,                         /* issue 14 item 6 */
    S_TEMPLATE_SET, S_TEMPLATE_GET, S_TEMPLATE_LIST, S_TEMPLATE_DEL,
    S_LOOKUP_GET, S_LOOKUP_MISS, S_LOOKUP_EXPIRE, S_LOOKUP_FAIL,
    S_LOOKUP_CLEAR,
    S_SUB_ADD, S_SUB_DEL, S_SUB_DEL_ALL, S_SUB_LIST,
    S_OPTOUT_SET, S_OPTOUT_CLEAR, S_OPTOUT_GET,
    S_TOKEN_ADD, S_TOKEN_GET, S_TOKEN_REVOKE,
    S_OUT_INSERT, S_OUT_BY_IDEM, S_OUT_GET, S_OUT_CLAIM, S_OUT_RECOVER,
    S_OUT_SUBMITTED, S_OUT_RETRY, S_OUT_FAILED, S_RF_PART_TEXT,
    S_RF_PART_DEC, S_RF_PART_HEX, S_RF_OUT_TEXT, S_RF_OUT_DEC, S_RF_OUT_HEX,
    S_OUT_RECEIPT_SET, S_RECEIPT_LOG, S_MSGLOG_ADD,
    S_PRUNE_OUTBOX, S_PRUNE_RECEIPTS, S_PRUNE_MSGLOG, S_PRUNE_LOOKUPS,
    S_PART_ADD, S_PART_SET, S_PART_COUNT, S_PRUNE_PARTS,
    S_HELD_ADD, S_HELD_DEL, S_HELD_LIST, S_PRUNE_HELD,
    /* issue 14 item 4: ussd notices */
    S_NOTICE_ADD, S_NOTICE_FAILED, S_NOTICE_RECENT, S_NOTICE_GET,
    /* issue 14 item 9 */
    S_WEBHOOK_ROTATE, S_WEBHOOK_FOR_MSG,
    /* issue 11: the outbox's gauges */
    S_OUT_QUEUED_COUNT, S_OUT_OLDEST_DUE,
    /* issue 10 console: accounts, sessions, audit */
    S_ACCT_ADD, S_ACCT_GET, S_ACCT_LIST, S_ACCT_ROLE, S_ACCT_DISABLE,
    S_ACCT_PWHASH, S_ACCT_ADMINS, S_ACCT_COUNT,
    S_SESS_ADD, S_SESS_GET, S_SESS_TOUCH, S_SESS_DEL, S_SESS_DEL_ACCT,
    S_SESS_PRUNE, S_AUDIT_ADD, S_AUDIT_LIST,
    /* issue 10 workspace: the draft */
    S_DRAFT_PUT, S_DRAFT_DEL, S_DRAFT_LIST,
    /* issue 10 publish: menu versions, what each node runs */
    S_VER_ADD, S_VER_RETIRE, S_VER_DECIDE, S_VER_LIVE, S_VER_GET, S_VER_LIST,
    S_NODE_SEEN, S_NODE_LIST,
    /* issue 12 part 3: read-back for agencies */
    S_OFFICES_LIST, S_SERVICES_LIST, S_OFFICE_NAMES, S_SERVICE_NAMES,
    S_SLOTS_LIST, S_BOOKINGS_DAY,
    /* issue 12 appeals */
    S_APPEAL_ADD, S_APPEAL_GET, S_APPEAL_LIST, S_APPEAL_LIST_STATE,
    S_APPEAL_SET_STATE, S_APPEAL_HIST_ADD, S_APPEAL_HIST_LIST,
    S_APPEAL_TODAY,
    S_COUNT
};

/* The columns struct store_msg is read from (see row_to_msg()). */
#define MSG_COLS \
    "id, state, client, idem_key, msisdn, body, template, data, lang," \
    " callback_url, smsc, smsc_msgid, law_required, attempts, err," \
    " next_attempt_at, expires_at, lease_until, created_at, updated_at," \
    " submitted_at, done_at, sender, via"

/* issue 10 console: the columns struct store_account is read from. */
#define ACCT_COLS "id, name, role, pwhash, created_at, COALESCE(disabled_at, 0)"
/* issue 10 publish: struct store_version's columns (ver_row()) */
#define VER_COLS "id, created_at, author, note, state," \
    " COALESCE(approved_by, ''), COALESCE(approved_at, 0)"

/* issue 14 item 6: the columns struct store_app is read from (app_row()). */
#define APP_COLS \
    "a.agency_id, COALESCE(a.service_id, 0), a.owner_msisdn, a.status," \
    " a.updated_at, g.code, a.number"

/* issue 12 appeals: the columns struct store_appeal is read from
 * (appeal_row()). */
#define APPEAL_COLS \
    "p.id, p.ref, p.agency_id, g.code, p.category, p.anonymous, p.msisdn," \
    " p.body, p.lang, p.channel, p.state, p.created_at, p.updated_at"

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_VERSION] = "SELECT version FROM schema_version",

    [S_AGENCY_PUT] =
        "INSERT INTO agencies(code, name) VALUES(?1, ?2)"
        " ON CONFLICT(code) DO UPDATE SET name = excluded.name RETURNING id",
    [S_AGENCY_BY_CODE] = "SELECT id FROM agencies WHERE code = ?1",
    [S_SERVICE_PUT] =
        "INSERT INTO services(code, agency_id) VALUES(?1, ?2)"
        " ON CONFLICT(code) DO UPDATE SET agency_id = services.agency_id"
        " WHERE services.agency_id = excluded.agency_id RETURNING id",
    [S_SERVICE_BY_CODE] = "SELECT id, agency_id FROM services WHERE code = ?1",
    [S_SERVICE_NAME_SET] =
        "INSERT INTO service_names(service_id, lang, name) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(service_id, lang) DO UPDATE SET name = excluded.name",
    [S_SERVICE_NAME] =
        "SELECT name FROM service_names WHERE service_id = ?1"
        " AND lang IN (?2, ?3) ORDER BY lang = ?2 DESC LIMIT 1",
    [S_OFFICE_PUT] =
        "INSERT INTO offices(code, agency_id) VALUES(?1, ?2)"
        " ON CONFLICT(code) DO UPDATE SET agency_id = offices.agency_id"
        " WHERE offices.agency_id = excluded.agency_id RETURNING id",
    [S_OFFICE_BY_CODE] = "SELECT id, agency_id FROM offices WHERE code = ?1",
    [S_OFFICE_NAME_SET] =
        "INSERT INTO office_names(office_id, lang, name, address)"
        " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(office_id, lang) DO UPDATE"
        " SET name = excluded.name, address = excluded.address",
    [S_OFFICE_NAME] =
        "SELECT name, address FROM office_names WHERE office_id = ?1"
        " AND lang IN (?2, ?3) ORDER BY lang = ?2 DESC LIMIT 1",
    [S_OFFICE_SERVICE_LINK] =
        "INSERT INTO office_services(service_id, office_id) VALUES(?1, ?2)"
        " ON CONFLICT DO NOTHING",
    [S_OFFICES_FOR_SERVICE] =
        "SELECT office_id FROM office_services WHERE service_id = ?1"
        " AND office_id > ?2 ORDER BY office_id LIMIT ?3",

    [S_SLOT_PUT] =
        "INSERT INTO slots(office_id, service_id, day, time, capacity)"
        " VALUES(?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(office_id, service_id, day, time) DO UPDATE"
        " SET capacity = excluded.capacity"
        " WHERE excluded.capacity >= slots.booked RETURNING id",
    [S_SLOT_GET] =
        "SELECT id, office_id, service_id, day, time, capacity, booked"
        " FROM slots WHERE id = ?1",
    [S_SLOT_DAYS] =
        "SELECT day FROM slots WHERE office_id = ?1 AND service_id = ?2"
        " AND day >= ?3 AND booked < capacity GROUP BY day ORDER BY day"
        " LIMIT ?4",
    [S_SLOT_TIMES] =
        "SELECT id, office_id, service_id, day, time, capacity, booked"
        " FROM slots WHERE office_id = ?1 AND service_id = ?2 AND day = ?3"
        " AND booked < capacity ORDER BY time LIMIT ?4",
    [S_SLOT_TAKE] =
        "UPDATE slots SET booked = booked + 1"
        " WHERE id = ?1 AND booked < capacity RETURNING service_id",
    [S_SLOT_GIVE] =
        "UPDATE slots SET booked = booked - 1 WHERE id = ?1 AND booked > 0",
    [S_SLOT_EXISTS] = "SELECT service_id FROM slots WHERE id = ?1",

    [S_BOOKING_INSERT] =
        "INSERT INTO bookings(msisdn, slot_id, service_id, state, created_at,"
        " updated_at) VALUES(?1, ?2, ?3, 'active', ?4, ?4)",
    [S_BOOKING_RETIRE] =
        "UPDATE bookings SET state = ?3, updated_at = ?4"
        " WHERE id = ?1 AND msisdn = ?2 AND state = 'active'"
        " RETURNING slot_id, service_id",
    [S_BOOKING_GET] =
        "SELECT b.id, b.slot_id, b.service_id, s.office_id, b.created_at,"
        " b.msisdn, s.day, s.time, b.lang, b.state"
        " FROM bookings b JOIN slots s ON s.id = b.slot_id WHERE b.id = ?1",
    [S_BOOKINGS_ACTIVE] =
        "SELECT b.id, b.slot_id, b.service_id, s.office_id, b.created_at,"
        " b.msisdn, s.day, s.time, b.lang"
        " FROM bookings b JOIN slots s ON s.id = b.slot_id"
        " WHERE b.msisdn = ?1 AND b.state = 'active'"
        " ORDER BY s.day, s.time LIMIT ?2",
    [S_REMINDERS_DUE] =
        "SELECT b.id, b.slot_id, b.service_id, s.office_id, b.created_at,"
        " b.msisdn, s.day, s.time, b.lang"
        " FROM slots s JOIN bookings b ON b.slot_id = s.id"
        " WHERE s.day = ?1 AND b.state = 'active' AND b.reminder_sent = 0"
        " ORDER BY b.id LIMIT ?2",
    [S_BOOKING_REMINDED] =
        "UPDATE bookings SET reminder_sent = 1 WHERE id = ?1",
    [S_BOOKING_LANG] = "UPDATE bookings SET lang = ?2 WHERE id = ?1",
    [S_SERVICES_BOOKABLE] =
        "SELECT DISTINCT service_id FROM slots WHERE service_id > ?1"
        " AND day >= ?2 AND booked < capacity ORDER BY service_id LIMIT ?3",
    [S_SERVICE_GET] = "SELECT code, agency_id FROM services WHERE id = ?1",
    /* issue 12 part 3: read-back (offices_by_agency, services_by_agency,
     * slots_by_office_day) */
    [S_OFFICES_LIST] =
        "SELECT id, code FROM offices WHERE agency_id = ?1 AND code > ?2"
        " ORDER BY code LIMIT ?3",
    [S_SERVICES_LIST] =
        "SELECT id, code FROM services WHERE agency_id = ?1 AND code > ?2"
        " ORDER BY code LIMIT ?3",
    [S_OFFICE_NAMES] =
        "SELECT lang, name, address FROM office_names WHERE office_id = ?1"
        " ORDER BY lang",
    [S_SERVICE_NAMES] =
        "SELECT lang, name, NULL FROM service_names WHERE service_id = ?1"
        " ORDER BY lang",
    [S_SLOTS_LIST] =
        "SELECT id, office_id, service_id, day, time, capacity, booked"
        " FROM slots WHERE office_id = ?1 AND (?2 = 0 OR service_id = ?2)"
        " AND day >= ?3 AND day <= ?4"
        " AND (day, time, id) > (?5, ?6, ?7)"
        " ORDER BY day, time, id LIMIT ?8",
    [S_BOOKINGS_DAY] =
        "SELECT b.id, b.slot_id, b.service_id, s.office_id, b.created_at,"
        " b.msisdn, s.day, s.time, b.lang, b.state"
        " FROM slots s JOIN bookings b ON b.slot_id = s.id"
        " WHERE s.office_id = ?1 AND s.day = ?2"
        " AND (s.time, b.id) > (?3, ?4)"
        " ORDER BY s.time, b.id LIMIT ?5",

    /* issue 14 item 6: an application is its agency's (agency_id,
     * number) */
    [S_APP_UPDATE] =
        "UPDATE applications SET status = ?3, updated_at = ?4,"
        " service_id = COALESCE(?5, service_id),"
        " owner_msisdn = COALESCE(?6, owner_msisdn)"
        " WHERE agency_id = ?2 AND number = ?1",
    [S_APP_INSERT] =
        "INSERT INTO applications(number, agency_id, status, updated_at,"
        " service_id, owner_msisdn) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_APP_GET] =
        "SELECT " APP_COLS " FROM applications a"
        " JOIN agencies g ON g.id = a.agency_id"
        " WHERE a.agency_id = ?1 AND a.number = ?2",
    [S_HISTORY_ADD] =
        "INSERT INTO application_history(agency_id, number, status, note, at)"
        " VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_HISTORY_LIST] =
        "SELECT status, note, at FROM application_history"
        " WHERE agency_id = ?1 AND number = ?2 ORDER BY id DESC LIMIT ?3",
    /* every agency's application `number` owned by ?2, on
     * applications_by_number */
    [S_APP_FIND] =
        "SELECT " APP_COLS " FROM applications a"
        " JOIN agencies g ON g.id = a.agency_id"
        " WHERE a.number = ?1 AND a.owner_msisdn = ?2"
        " ORDER BY a.agency_id LIMIT ?3",
    [S_TEMPLATE_SET] =
        "INSERT INTO status_templates(agency_id, status, lang, body)"
        " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(agency_id, status, lang)"
        " DO UPDATE SET body = excluded.body",
    [S_TEMPLATE_GET] =
        /* the "*" fallback is for application statuses only: a booking
         * SMS ("booking.confirmed", ...) never takes a status text */
        "SELECT body FROM status_templates WHERE agency_id IN (?1, 0)"
        " AND status IN (?2, CASE WHEN substr(?2, 1, 8) = 'booking.'"
        "   THEN ?2 ELSE '*' END) AND lang = ?3"
        " ORDER BY agency_id DESC, status = '*' LIMIT 1",
    /* keyset paging on the primary key: (status, lang) > the cursor */
    [S_TEMPLATE_LIST] =
        "SELECT status, lang, body FROM status_templates WHERE agency_id = ?1"
        " AND (status, lang) > (?2, ?3) ORDER BY status, lang LIMIT ?4",
    [S_TEMPLATE_DEL] =
        "DELETE FROM status_templates WHERE agency_id = ?1 AND status = ?2"
        " AND lang = ?3",

    [S_LOOKUP_GET] =
        "SELECT locked_until FROM lookup_attempts WHERE msisdn = ?1",
    /* ?1 msisdn ?2 now ?3 window: record a miss, forget those that left
     * the window */
    [S_LOOKUP_MISS] =
        "INSERT INTO lookup_misses(msisdn, at) VALUES(?1, ?2)",
    [S_LOOKUP_EXPIRE] =
        "DELETE FROM lookup_misses WHERE msisdn = ?1 AND at <= ?2 - ?3",
    /* ?1 msisdn ?2 now ?4 max failures ?5 lock: the misses left in the
     * window (the aggregate always gives one row; WHERE true keeps ON
     * CONFLICT from being read as a join); reaching the limit locks, else
     * the lock stays as it was */
    [S_LOOKUP_FAIL] =
        "INSERT INTO lookup_attempts(msisdn, window_start, failures,"
        " locked_until) SELECT ?1, MIN(at), COUNT(*), CASE WHEN COUNT(*) >= ?4"
        " THEN ?2 + ?5 ELSE 0 END FROM lookup_misses WHERE msisdn = ?1"
        " ON CONFLICT(msisdn) DO UPDATE SET"
        "  window_start = excluded.window_start,"
        "  failures = excluded.failures,"
        "  locked_until = CASE WHEN excluded.failures >= ?4"
        "    THEN excluded.locked_until ELSE locked_until END"
        " RETURNING failures, locked_until",
    [S_LOOKUP_CLEAR] = "DELETE FROM lookup_attempts WHERE msisdn = ?1",

    [S_SUB_ADD] =
        "INSERT INTO subscriptions(msisdn, topic, created_at)"
        " VALUES(?1, ?2, ?3) ON CONFLICT(msisdn, topic) DO NOTHING",
    [S_SUB_DEL] = "DELETE FROM subscriptions WHERE msisdn = ?1 AND topic = ?2",
    [S_SUB_DEL_ALL] = "DELETE FROM subscriptions WHERE msisdn = ?1",
    [S_MUTE_ADD] =
        "INSERT INTO sub_mutes(msisdn, topic, at) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(msisdn, topic) DO NOTHING",
    [S_MUTE_DEL] = "DELETE FROM sub_mutes WHERE msisdn = ?1 AND topic = ?2",
    [S_MUTE_GET] = "SELECT 1 FROM sub_mutes WHERE msisdn = ?1 AND topic = ?2",
    [S_SUB_LIST] =
        "SELECT id, msisdn FROM subscriptions WHERE topic = ?1 AND id > ?2"
        " ORDER BY id LIMIT ?3",
    [S_OPTOUT_SET] =
        "INSERT INTO opt_outs(msisdn, at) VALUES(?1, ?2)"
        " ON CONFLICT(msisdn) DO NOTHING",
    [S_OPTOUT_CLEAR] = "DELETE FROM opt_outs WHERE msisdn = ?1",
    [S_OPTOUT_GET] = "SELECT 1 FROM opt_outs WHERE msisdn = ?1",

    /* issue 14 item 4: ussd notices */
    [S_NOTICE_ADD] =
        "INSERT INTO ussd_notices(agency_id, client, msisdn, sender, body,"
        " law_required, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_NOTICE_FAILED] =
        "UPDATE ussd_notices SET outcome = 'failed', err = ?2 WHERE id = ?1",
    /* a phone's sent notices since ?2: walks ussd_notices_sent */
    [S_NOTICE_RECENT] =
        "SELECT COUNT(*), COALESCE(MIN(at), 0) FROM ussd_notices"
        " WHERE msisdn = ?1 AND at >= ?2 AND outcome = 'sent'",
    [S_NOTICE_GET] =
        "SELECT agency_id, at, client, msisdn, sender, body, law_required,"
        " outcome = 'failed', err FROM ussd_notices WHERE id = ?1",

    /* issue 12 appeals */
    [S_APPEAL_ADD] =
        "INSERT INTO appeals(ref, agency_id, category, anonymous, msisdn,"
        " body, lang, channel, state, created_at, updated_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'new', ?9, ?9)",
    [S_APPEAL_GET] =
        "SELECT " APPEAL_COLS " FROM appeals p JOIN agencies g"
        " ON g.id = p.agency_id WHERE p.ref = ?1",
    /* ?1 agency ?2 after id ?3 limit: walks appeals_by_agency_all */
    [S_APPEAL_LIST] =
        "SELECT " APPEAL_COLS " FROM appeals p JOIN agencies g"
        " ON g.id = p.agency_id WHERE p.agency_id = ?1 AND p.id > ?2"
        " ORDER BY p.id LIMIT ?3",
    /* ... and in state ?4: walks appeals_by_agency */
    [S_APPEAL_LIST_STATE] =
        "SELECT " APPEAL_COLS " FROM appeals p JOIN agencies g"
        " ON g.id = p.agency_id WHERE p.agency_id = ?1 AND p.state = ?4"
        " AND p.id > ?2 ORDER BY p.id LIMIT ?3",
    [S_APPEAL_SET_STATE] =
        "UPDATE appeals SET state = ?2, updated_at = ?3 WHERE id = ?1",
    [S_APPEAL_HIST_ADD] =
        "INSERT INTO appeal_history(appeal_id, kind, state, body, who, at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_APPEAL_HIST_LIST] =
        "SELECT id, kind, state, COALESCE(body, ''), who, at"
        " FROM appeal_history WHERE appeal_id = ?1 AND id > ?2"
        " ORDER BY id LIMIT ?3",
    /* a phone's appeals since ?2: walks appeals_by_phone */
    [S_APPEAL_TODAY] =
        "SELECT COUNT(*) FROM appeals WHERE msisdn = ?1 AND created_at >= ?2",

    [S_TOKEN_ADD] =
        "INSERT INTO api_tokens(hash, agency_id, scopes, created_at)"
        " VALUES(?1, ?2, ?3, ?4)",
    [S_TOKEN_GET] =
        "SELECT agency_id, scopes FROM api_tokens WHERE hash = ?1"
        " AND revoked_at IS NULL",
    [S_TOKEN_REVOKE] =
        "UPDATE api_tokens SET revoked_at = ?2 WHERE hash = ?1"
        " AND revoked_at IS NULL",

    [S_OUT_INSERT] =
        "INSERT INTO outbox(client, idem_key, msisdn, body, template, data,"
        " lang, callback_url, law_required, state, next_attempt_at,"
        " expires_at, created_at, updated_at, sender, via, req_hash)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', ?10, ?11,"
        " ?12, ?12, ?13, ?14, ?15)"
        " ON CONFLICT(client, idem_key) WHERE idem_key IS NOT NULL"
        " DO NOTHING",   /* no RETURNING: see store_enqueue */
    /* issue 14 item 8: the first message's id and request hash */
    [S_OUT_BY_IDEM] =
        "SELECT id, req_hash FROM outbox WHERE client = ?1 AND idem_key = ?2",
    [S_OUT_GET] = "SELECT " MSG_COLS " FROM outbox WHERE id = ?1",
    /* ?1 now ?2 lease end ?3 limit.  The inner SELECT walks outbox_due. */
    [S_OUT_CLAIM] =
        "UPDATE outbox SET"
        " state = CASE WHEN expires_at <= ?1 THEN 'expired' ELSE 'sending' END,"
        " lease_until = CASE WHEN expires_at <= ?1 THEN NULL ELSE ?2 END,"
        " attempts = attempts + (expires_at > ?1),"
        " done_at = CASE WHEN expires_at <= ?1 THEN ?1 END,"
        " updated_at = ?1"
        " WHERE id IN (SELECT id FROM outbox WHERE state = 'queued'"
        "   AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?3)"
        " RETURNING " MSG_COLS,
    [S_OUT_RECOVER] =
        "UPDATE outbox SET state = 'queued', lease_until = NULL,"
        " updated_at = ?2 WHERE state = 'sending' AND lease_until <= ?1",
    [S_OUT_SUBMITTED] =
        "UPDATE outbox SET state = 'submitted', smsc = ?2, smsc_msgid = ?3,"
        " msgid_dec = ?4, msgid_hex = ?5, lease_until = NULL,"
        " submitted_at = ?6, updated_at = ?6"
        " WHERE id = ?1 AND (state = 'sending' OR state = 'queued')",
    /* ?1 id ?2 next ?3 err ?4 refund(0/1) ?5 now */
    [S_OUT_RETRY] =
        "UPDATE outbox SET"
        " state = CASE WHEN ?2 >= expires_at THEN 'expired' ELSE 'queued' END,"
        " done_at = CASE WHEN ?2 >= expires_at THEN ?5 END,"
        " next_attempt_at = ?2, err = ?3, lease_until = NULL,"
        " attempts = MAX(attempts - ?4, 0), updated_at = ?5"
        " WHERE id = ?1 AND state = 'sending' RETURNING state",
    [S_OUT_FAILED] =
        "UPDATE outbox SET state = 'failed', err = ?2, lease_until = NULL,"
        " updated_at = ?3, done_at = ?3"
        " WHERE id = ?1 AND (state = 'queued' OR state = 'sending' OR"
        " state = 'submitted')",
    /* Receipt matching, one index equality each (see receipt_match()):
     * ?1 smsc ?2 the id as text, or one of its numeric readings.  Newest
     * message first; of one message, its last part first.  No IN list and
     * no UNION: SQLite builds an ephemeral B-tree (a temporary pager and
     * page cache, memset and all) per execution for those, which cost ~60%
     * of the gateway's CPU per SMS in callgrind. */
    [S_RF_PART_TEXT] =
        "SELECT message_id, part FROM outbox_parts WHERE smsc = ?1"
        " AND smsc_msgid = ?2 ORDER BY message_id DESC, part DESC LIMIT 1",
    [S_RF_PART_DEC] =
        "SELECT message_id, part FROM outbox_parts WHERE smsc = ?1"
        " AND msgid_dec = ?2 ORDER BY message_id DESC, part DESC LIMIT 1",
    [S_RF_PART_HEX] =
        "SELECT message_id, part FROM outbox_parts WHERE smsc = ?1"
        " AND msgid_hex = ?2 ORDER BY message_id DESC, part DESC LIMIT 1",
    [S_RF_OUT_TEXT] =
        "SELECT id, 0 FROM outbox WHERE smsc = ?1 AND smsc_msgid = ?2"
        " ORDER BY id DESC LIMIT 1",
    [S_RF_OUT_DEC] =
        "SELECT id, 0 FROM outbox WHERE smsc = ?1 AND msgid_dec = ?2"
        " ORDER BY id DESC LIMIT 1",
    [S_RF_OUT_HEX] =
        "SELECT id, 0 FROM outbox WHERE smsc = ?1 AND msgid_hex = ?2"
        " ORDER BY id DESC LIMIT 1",
    [S_OUT_RECEIPT_SET] =
        "UPDATE outbox SET state = ?2, err = ?3, lease_until = NULL,"
        " updated_at = ?4, done_at = ?4"
        " WHERE id = ?1 AND (state = 'queued' OR state = 'sending' OR"
        " state = 'submitted') RETURNING callback_url IS NOT NULL,"
        " submitted_at",
    /* issue 11: bounded by ?1 and by the partial index outbox_due */
    [S_OUT_QUEUED_COUNT] =
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE state = 'queued'"
        " LIMIT ?1)",
    [S_OUT_OLDEST_DUE] =
        "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued'",
    [S_RECEIPT_LOG] =
        "INSERT INTO receipts(at, smsc, msgid, outbox_id, state, err)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_MSGLOG_ADD] =
        "INSERT INTO message_log(at, direction, msisdn, smsc, body, outbox_id)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    /* ?1 before ?2 limit (?3 now): the oldest first, along an index */
    [S_PRUNE_OUTBOX] =
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
        " WHERE done_at IS NOT NULL AND done_at < ?1 ORDER BY done_at"
        " LIMIT ?2)",
    [S_PRUNE_RECEIPTS] =
        "DELETE FROM receipts WHERE id IN (SELECT id FROM receipts"
        " WHERE at < ?1 ORDER BY at LIMIT ?2)",
    [S_PRUNE_MSGLOG] =
        "DELETE FROM message_log WHERE id IN (SELECT id FROM message_log"
        " WHERE at < ?1 ORDER BY at LIMIT ?2)",
    [S_PRUNE_LOOKUPS] =
        "DELETE FROM lookup_attempts WHERE msisdn IN (SELECT msisdn"
        " FROM lookup_attempts WHERE window_start < ?1 ORDER BY window_start"
        " LIMIT ?2) AND locked_until <= ?3",

    /* ?1 message ?2 part ?3 smsc ?4 id ?5 dec ?6 hex */
    [S_PART_ADD] =
        "INSERT OR REPLACE INTO outbox_parts(message_id, part, smsc,"
        " smsc_msgid, msgid_dec, msgid_hex) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_PART_SET] =
        "UPDATE outbox_parts SET state = ?3, err = ?4, done_at = ?5"
        " WHERE message_id = ?1 AND part = ?2 AND state = 'submitted'",
    [S_PART_COUNT] =
        "SELECT count(*), coalesce(sum(state = 'delivered'), 0)"
        " FROM outbox_parts WHERE message_id = ?1",
    /* before S_PRUNE_OUTBOX, over the same rows */
    [S_PRUNE_PARTS] =
        "DELETE FROM outbox_parts WHERE message_id IN (SELECT id FROM outbox"
        " WHERE done_at IS NOT NULL AND done_at < ?1 ORDER BY done_at"
        " LIMIT ?2)",
    [S_HELD_ADD] =
        "INSERT INTO receipts_held(at, smsc, msgid, state, err)"
        " VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_HELD_DEL] = "DELETE FROM receipts_held WHERE id = ?1",
    [S_HELD_LIST] =
        "SELECT id, at, smsc, msgid, state, err FROM receipts_held"
        " WHERE id > ?1 ORDER BY id LIMIT ?2",
    /* a small table (rows leave when they match or give up): by id */
    [S_PRUNE_HELD] =
        "DELETE FROM receipts_held WHERE id IN (SELECT id FROM receipts_held"
        " WHERE at < ?1 ORDER BY id LIMIT ?2)",

    /* issue 14 item 9: ?1 client ?2 key ?3 now ?4 until when the old key
     * is still honoured */
    [S_WEBHOOK_ROTATE] =
        "INSERT INTO webhook_secrets(client, secret, rotated_at)"
        " VALUES(?1, ?2, ?3) ON CONFLICT(client) DO UPDATE SET"
        " prev_secret = secret, prev_until = ?4,"
        " secret = excluded.secret, rotated_at = excluded.rotated_at"
        " RETURNING prev_until",
    /* ?1 message id ?2 now */
    [S_WEBHOOK_FOR_MSG] =
        "SELECT w.secret, CASE WHEN w.prev_until > ?2 THEN w.prev_secret END"
        " FROM outbox o JOIN webhook_secrets w ON w.client = o.client"
        " WHERE o.id = ?1",

    /* issue 10 console: accounts, sessions, audit */
    [S_ACCT_ADD] =
        "INSERT INTO console_accounts(name, role, pwhash, created_at)"
        " VALUES(?1, ?2, ?3, ?4)",
    [S_ACCT_GET] =
        "SELECT " ACCT_COLS " FROM console_accounts WHERE name = ?1",
    [S_ACCT_LIST] =
        "SELECT " ACCT_COLS " FROM console_accounts WHERE id > ?1"
        " ORDER BY id LIMIT ?2",
    [S_ACCT_ROLE] = "UPDATE console_accounts SET role = ?2 WHERE name = ?1",
    /* ?2 NULL: enabled again */
    [S_ACCT_DISABLE] =
        "UPDATE console_accounts SET disabled_at = ?2 WHERE name = ?1",
    [S_ACCT_PWHASH] =
        "UPDATE console_accounts SET pwhash = ?2 WHERE name = ?1",
    /* a handful of rows: the accounts table is small by nature */
    [S_ACCT_ADMINS] =
        "SELECT COUNT(*) FROM console_accounts WHERE role = 'admin'"
        " AND disabled_at IS NULL",
    [S_ACCT_COUNT] = "SELECT COUNT(*) FROM console_accounts",
    [S_SESS_ADD] =
        "INSERT INTO console_sessions(hash, account_id, csrf, created_at,"
        " expires_at, last_seen) VALUES(?1, ?2, ?3, ?4, ?5, ?4)",
    [S_SESS_GET] =
        "SELECT s.account_id, s.csrf, s.created_at, s.expires_at,"
        " s.last_seen, a.name, a.role, a.disabled_at IS NOT NULL"
        " FROM console_sessions s JOIN console_accounts a"
        " ON a.id = s.account_id WHERE s.hash = ?1",
    [S_SESS_TOUCH] =
        "UPDATE console_sessions SET last_seen = ?2 WHERE hash = ?1",
    [S_SESS_DEL] = "DELETE FROM console_sessions WHERE hash = ?1",
    [S_SESS_DEL_ACCT] =
        "DELETE FROM console_sessions WHERE account_id ="
        " (SELECT id FROM console_accounts WHERE name = ?1)",
    /* ?1 now ?2 limit: ended ones, from the expiry index (idle ones go
     * when they are next presented) */
    [S_SESS_PRUNE] =
        "DELETE FROM console_sessions WHERE hash IN (SELECT hash FROM"
        " console_sessions WHERE expires_at <= ?1 ORDER BY expires_at"
        " LIMIT ?2)",
    [S_AUDIT_ADD] =
        "INSERT INTO audit(at, actor, peer, action, target, detail)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    /* newest first, ids below ?5 (a page's cursor); ?1 actor ?2 action
     * ('' = any) ?3..?4 the time range ?6 limit.  Walks the primary key
     * backwards (or audit_actor / audit_action when one is given) and
     * stops at the limit. */
    [S_AUDIT_LIST] =
        "SELECT id, at, actor, peer, action, target, detail FROM audit"
        " WHERE (?1 = '' OR actor = ?1) AND (?2 = '' OR action = ?2)"
        " AND at >= ?3 AND at <= ?4 AND id < ?5 ORDER BY id DESC LIMIT ?6",
    /* issue 10 workspace: the draft, by file name */
    [S_DRAFT_PUT] =
        "INSERT INTO menu_drafts(name, text, updated_by, updated_at)"
        " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET"
        " text = excluded.text, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
    [S_DRAFT_DEL] = "DELETE FROM menu_drafts WHERE name = ?1",
    [S_DRAFT_LIST] =
        "SELECT name, text, updated_by, updated_at FROM menu_drafts"
        " ORDER BY name LIMIT ?1",
    /* issue 10 publish: ?1 created_at ?2 author ?3 note ?4 files ?5 diff
     * ?6 state */
    [S_VER_ADD] =
        "INSERT INTO menu_versions(created_at, author, note, files, diff,"
        " state) VALUES(?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    [S_VER_RETIRE] =
        "UPDATE menu_versions SET state = 'retired' WHERE state = 'live'",
    /* ?1 number ?2 'live' | 'rejected' ?3 by ?4 at: pending ones only */
    [S_VER_DECIDE] =
        "UPDATE menu_versions SET state = ?2, approved_by = ?3,"
        " approved_at = ?4 WHERE id = ?1 AND state = 'pending'",
    /* one descent of menu_versions_live */
    [S_VER_LIVE] = "SELECT id FROM menu_versions WHERE state = 'live'",
    [S_VER_GET] =
        "SELECT " VER_COLS ", files, diff FROM menu_versions WHERE id = ?1",
    /* newest first, numbers below ?1 (a page's cursor), ?2 rows */
    [S_VER_LIST] =
        "SELECT " VER_COLS " FROM menu_versions WHERE id < ?1"
        " ORDER BY id DESC LIMIT ?2",
    [S_NODE_SEEN] =
        "INSERT INTO node_versions(node, version, source, seen_at)"
        " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(node) DO UPDATE SET"
        " version = excluded.version, source = excluded.source,"
        " seen_at = excluded.seen_at",
    [S_NODE_LIST] =
        "SELECT node, version, source, seen_at FROM node_versions"
        " ORDER BY node LIMIT ?1",
};

static const char *const state_names[] = {
    "queued", "sending", "submitted", "delivered", "failed", "expired"
};

/* Waiters for a commit: fn NULL once run or cancelled. */
struct waits {
    struct { store_commit_fn *fn; void *arg; } *v;
    size_t n, cap;
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    bool writes[S_COUNT];  /* the statement writes: it joins the batch */
    bool group;        /* attached: writes join a batch (else autocommit) */
    bool in_batch;     /* the batch is open (BEGIN IMMEDIATE ran) */
    bool batch_lost;   /* SQLite rolled the batch back after an error */
    bool in_flush;     /* the waiters are running */
    bool close_later;  /* store_close() from inside a waiter */
    bool armed;        /* commit_ev is pending */
    unsigned atomic;   /* store_atomic() depth */
    unsigned fail_commits;   /* store_test_fail_commits() */
    struct event *commit_ev; /* zero-delay commit on the loop, or NULL */
    struct waits wait;       /* for the next commit */
    struct waits run;        /* being run (swapped with wait) */
    char err[256];
};

/* ---- small helpers -------------------------------------------------------- */

const char *store_rc_name(int rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOTFOUND: return "not found";
    case STORE_DUPLICATE: return "duplicate";
    case STORE_FULL: return "full";
    case STORE_CONFLICT: return "conflict";
    case STORE_INVALID: return "invalid";
    case STORE_BUSY: return "busy";
    case STORE_ERROR: return "error";
    }
    return "?";
}

const char *store_msg_state_name(int state)
{
    if (state < 0 || state > STORE_MSG_EXPIRED)
        return "?";
    return state_names[state];
}

static int state_from_name(const char *s)
{
    for (int i = 0; s && i <= STORE_MSG_EXPIRED; i++)
        if (strcmp(s, state_names[i]) == 0)
            return i;
    return -1;
}

static void seterr(struct store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void seterr(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
}

/*
 * A statement failed with SQLite code rc: remember why and map the code.
 * When SQLite rolled the whole transaction back by itself (I/O error, disk
 * full), the batch is gone: note it so its commit says so.
 */
static int fail(struct store *st, int rc, const char *what)
{
    seterr(st, "%s: %s", what, sqlite3_errmsg(st->db));
    if (st->in_batch && !st->batch_lost && sqlite3_get_autocommit(st->db)) {
        /* The rest of the pass joins a new transaction that
         * its commit will roll back: the pass fails as a whole. */
        st->batch_lost = true;
        sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    }
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return STORE_BUSY;
    if (prim == SQLITE_CONSTRAINT)
        return STORE_CONFLICT;
    return STORE_ERROR;
}

static void join(struct store *st);

/* The statement id, reset and with bindings cleared, ready to bind.  A
 * statement that writes joins the batch first (opening it if none is). */
static sqlite3_stmt *S(struct store *st, enum sid id)
{
    if (st->writes[id] && !st->in_batch && st->group)
        join(st);
    sqlite3_stmt *s = st->stmt[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void bt(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void bi(sqlite3_stmt *s, int i, int64_t v)
{
    sqlite3_bind_int64(s, i, v);
}

/* Bind v, or NULL when v is 0 (optional ids). */
static void bi0(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static void copy_col(sqlite3_stmt *s, int col, char *dst, size_t cap)
{
    if (!cap)
        return;
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* Run a statement that returns no row (or whose rows are ignored). */
static int run(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        int r = fail(st, rc, what);
        sqlite3_reset(s);
        return r;
    }
    sqlite3_reset(s);
    return STORE_OK;
}

/* run(), and STORE_NOTFOUND when it changed no row. */
static int run_changed(struct store *st, sqlite3_stmt *s, const char *what)
{
    int r = run(st, s, what);
    return r == STORE_OK && sqlite3_changes(st->db) == 0 ? STORE_NOTFOUND : r;
}

/* Step once: SQLITE_ROW -> STORE_OK (caller reads, then resets),
 * SQLITE_DONE -> STORE_NOTFOUND (reset), else the mapped error (reset). */
static int row(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return STORE_NOTFOUND;
    }
    int r = fail(st, rc, what);
    sqlite3_reset(s);
    return r;
}

/* A single-row query whose first column is an integer. */
static int one_int(struct store *st, sqlite3_stmt *s, const char *what,
                   int64_t *out)
{
    int r = row(st, s, what);
    if (r == STORE_OK) {
        if (out)
            *out = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    return r;
}

/* Row i of a list query into out (the caller's array). */
typedef void row_fn(sqlite3_stmt *s, void *out, size_t i);

/* Step s for up to max rows, each read by fn into out at *n_out (counted
 * up from 0 by the caller), then reset: STORE_OK, or the mapped error. */
static int rows(struct store *st, sqlite3_stmt *s, row_fn *fn, void *out,
                size_t max, size_t *n_out, const char *what)
{
    int rc = SQLITE_DONE;
    while (*n_out < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(s, out, (*n_out)++);
    if (*n_out < max && rc != SQLITE_DONE) {
        int r = fail(st, rc, what);
        sqlite3_reset(s);
        return r;
    }
    sqlite3_reset(s);
    return STORE_OK;
}

/* The row readers of the lists whose rows are one column. */
static void id_row(sqlite3_stmt *s, void *out, size_t i)
{
    ((int64_t *)out)[i] = sqlite3_column_int64(s, 0);
}

static void day_row(sqlite3_stmt *s, void *out, size_t i)
{
    copy_col(s, 0, ((char (*)[STORE_DAY_MAX])out)[i], STORE_DAY_MAX);
}

static bool bad(const char *s)
{
    return s == NULL || *s == '\0';
}

/* Arm the commit event (attached to a loop): it fires after this pass. */
static void arm(struct store *st)
{
    if (st->commit_ev && !st->armed) {
        static const struct timeval zero = { 0, 0 };
        evtimer_add(st->commit_ev, &zero);
        st->armed = true;
    }
}

/*
 * Open the batch when attached and none is (and no transaction of an
 * operation is).  When another connection holds the write lock it stays
 * closed: the write runs on its own and says STORE_BUSY itself.
 */
static void join(struct store *st)
{
    if (!st->group || st->in_batch || !sqlite3_get_autocommit(st->db))
        return;
    if (run(st, st->stmt[S_BEGIN], "begin batch") == STORE_OK) {
        st->in_batch = true;
        arm(st);
    }
}

/*
 * Transactions for multi-statement operations: a savepoint inside a
 * transaction (the batch, or an outer operation's), else a transaction of
 * their own.  *sp says which; tx_end(st, sp, STORE_OK) keeps the work,
 * any other value throws it away; returns the final code.
 */
static int tx_begin(struct store *st, bool *sp)
{
    join(st);
    *sp = !sqlite3_get_autocommit(st->db);
    if (*sp)
        return run(st, S(st, S_SAVEPOINT), "savepoint");
    return run(st, S(st, S_BEGIN), "begin");
}

static int tx_end(struct store *st, bool sp, int r)
{
    if (sp) {
        if (r == STORE_OK)
            return run(st, S(st, S_RELEASE), "release") == STORE_OK
                       ? STORE_OK : STORE_ERROR;
        run(st, S(st, S_ROLLBACK_TO), "rollback to");
        run(st, S(st, S_RELEASE), "release");
        return r;
    }
    if (sqlite3_get_autocommit(st->db))
        return r == STORE_OK ? STORE_ERROR : r;  /* already rolled back */
    if (r == STORE_OK) {
        int c = run(st, S(st, S_COMMIT), "commit");
        if (c != STORE_OK) {
            if (!sqlite3_get_autocommit(st->db))
                run(st, S(st, S_ROLLBACK), "rollback");
            return c;
        }
        return STORE_OK;
    }
    run(st, S(st, S_ROLLBACK), "rollback");
    return r;
}

/* ---- open / close / migrations -------------------------------------------- */

static int exec_err(sqlite3 *db, const char *q, char *err, size_t errlen,
                    const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
    }
    return rc;
}

static int read_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1,
                                &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *v = sqlite3_column_int(s, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *v = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

/*
 * Bring the schema to n_total migrations.  The version is read inside the
 * write transaction, so two processes opening a new file at once apply
 * each migration once.  A database newer than this build is refused.
 */
static int migrate(sqlite3 *db, int n_builtin,
                   const struct store_migration *extra, size_t n_extra,
                   char *err, size_t errlen)
{
    int total = n_builtin + (int)n_extra;
    if (exec_err(db, "CREATE TABLE IF NOT EXISTS schema_version("
                     "version INTEGER NOT NULL);", err, errlen,
                 "schema_version") != SQLITE_OK)
        return STORE_ERROR;
    for (;;) {
        int v = 0;
        if (read_version(db, &v) != SQLITE_OK) {
            snprintf(err, errlen, "schema_version: %s", sqlite3_errmsg(db));
            return STORE_ERROR;
        }
        if (v > total) {
            snprintf(err, errlen, "database schema version %d is newer than"
                     " this build knows (%d)", v, total);
            return STORE_ERROR;
        }
        if (v == total)
            return STORE_OK;
        if (exec_err(db, "BEGIN IMMEDIATE", err, errlen, "begin migration")
            != SQLITE_OK)
            return STORE_BUSY;
        if (read_version(db, &v) != SQLITE_OK || v >= total) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            continue;   /* someone else migrated meanwhile: look again */
        }
        const struct store_migration *m =
            v < n_builtin ? &migrations[v] : &extra[v - n_builtin];
        char what[96];
        snprintf(what, sizeof what, "migration %d (%s)", v + 1, m->name);
        char q[64];
        snprintf(q, sizeof q, v == 0 ? "INSERT INTO schema_version VALUES(%d)"
                                     : "UPDATE schema_version SET version=%d",
                 v + 1);
        if (exec_err(db, m->sql, err, errlen, what) != SQLITE_OK ||
            exec_err(db, q, err, errlen, what) != SQLITE_OK ||
            exec_err(db, "COMMIT", err, errlen, what) != SQLITE_OK) {
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return STORE_ERROR;
        }
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int store_open_with(const char *path, enum store_sync sync,
                    const struct store_migration *extra, size_t n_extra,
                    struct store **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    *out = NULL;
    if (bad(path) || (n_extra && !extra)) {
        snprintf(err, errlen, "store_open: no path");
        return STORE_INVALID;
    }
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    int rc = sqlite3_open_v2(path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "cannot open");
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    /* Opening may wait for other processes (they may be migrating). */
    sqlite3_busy_timeout(st->db, 5000);
    if (exec_err(st->db, "PRAGMA journal_mode=WAL", err, errlen, path)
        != SQLITE_OK)
        goto fail;
    {
        /* journal_mode answers with the mode it got: insist on wal */
        sqlite3_stmt *s = NULL;
        bool wal = false;
        if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &s, NULL)
            == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
            const unsigned char *m = sqlite3_column_text(s, 0);
            wal = m && strcmp((const char *)m, "wal") == 0;
        }
        sqlite3_finalize(s);
        if (!wal) {
            snprintf(err, errlen, "%s: cannot switch to WAL mode", path);
            goto fail;
        }
    }
    /* temp_store=MEMORY: a savepoint's undo pages (store_atomic, and an
     * operation's own inside it) stay in memory; spilled to a temporary
     * file they cost a pwrite per page, 11x the WAL's own writes. */
    if (exec_err(st->db, sync == STORE_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                                 : "PRAGMA synchronous=NORMAL",
                 err, errlen, path) != SQLITE_OK ||
        exec_err(st->db, "PRAGMA foreign_keys=ON;"
                         "PRAGMA temp_store=MEMORY;"
                         "PRAGMA journal_size_limit=67108864", err, errlen,
                 path)
            != SQLITE_OK)
        goto fail;
    rc = migrate(st->db, N_BUILTIN, extra, n_extra, err, errlen);
    if (rc != STORE_OK)
        goto fail_rc;
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmt[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "prepare statement %d: %s", i,
                     sqlite3_errmsg(st->db));
            goto fail;
        }
        /* Transaction control never joins the batch: it is what opens and
         * ends transactions.  (SQLite calls BEGIN IMMEDIATE a write, so
         * without this an operation's own BEGIN, after the batch could
         * not open on a busy lock, opened the batch on its second try and
         * then ran BEGIN again: "cannot start a transaction within a
         * transaction".) */
        bool control = i == S_BEGIN || i == S_COMMIT || i == S_ROLLBACK ||
                       i == S_SAVEPOINT || i == S_RELEASE || i == S_ROLLBACK_TO;
        st->writes[i] = !control && !sqlite3_stmt_readonly(st->stmt[i]);
    }
    /* A connection holding the write lock now is a live gateway whose
     * sender recovers leases itself: do not wait for its batch. */
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    rc = store_outbox_recover(st, wall_ms(), NULL);
    if (rc != STORE_OK && rc != STORE_BUSY) {
        snprintf(err, errlen, "%s", st->err);
        goto fail_rc;
    }
    st->err[0] = '\0';
    *out = st;
    return STORE_OK;
fail:
    rc = STORE_ERROR;
fail_rc:
    store_close(st);
    return rc;
}

int store_open(const char *path, enum store_sync sync, struct store **out,
               char *err, size_t errlen)
{
    return store_open_with(path, sync, NULL, 0, out, err, errlen);
}

int store_test_migrate_before(const char *path, const char *name_part,
                              char *err, size_t errlen)
{
    int k = 0;
    while (k < N_BUILTIN && !strstr(migrations[k].name, name_part))
        k++;
    if (k == N_BUILTIN) {
        snprintf(err, errlen, "no migration named like \"%s\"", name_part);
        return STORE_NOTFOUND;
    }
    sqlite3 *db = NULL;
    int rc = STORE_ERROR;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        snprintf(err, errlen, "%s: %s", path,
                 db ? sqlite3_errmsg(db) : "cannot open");
    else if (exec_err(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON",
                      err, errlen, path) == SQLITE_OK)
        rc = migrate(db, k, NULL, 0, err, errlen);
    sqlite3_close(db);
    return rc;
}

static void run_waits(struct store *st, int rc);

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->in_flush) {          /* from a waiter: after the others ran */
        st->close_later = true;
        return;
    }
    if (st->db && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->in_batch = false;
    if (st->wait.n) {            /* never committed: tell who still waits */
        seterr(st, "closed before the commit");
        run_waits(st, STORE_ERROR);
        if (st->db && !sqlite3_get_autocommit(st->db))   /* a waiter wrote */
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    if (st->commit_ev)
        event_free(st->commit_ev);
    free(st->wait.v);
    free(st->run.v);
    free(st);
}

const char *store_errmsg(const struct store *st)
{
    return st ? st->err : "no store";
}

int store_schema_version(struct store *st)
{
    int64_t v = -1;
    if (one_int(st, S(st, S_VERSION), "schema version", &v) != STORE_OK)
        return -1;
    return (int)v;
}

int store_builtin_version(void)
{
    return N_BUILTIN;
}

/* ---- the transaction: batch, commit, waiters --------------------------- */

static void on_commit_event(evutil_socket_t fd, short what, void *arg);

int store_attach(struct store *st, struct event_base *base)
{
    if (st->group) {
        seterr(st, "attach: already attached");
        return STORE_INVALID;
    }
    if (base) {
        st->commit_ev = evtimer_new(base, on_commit_event, st);
        if (!st->commit_ev) {
            seterr(st, "attach: out of memory");
            return STORE_ERROR;
        }
    }
    st->group = true;
    return STORE_OK;
}

/* Commit the open batch (none: STORE_OK).  On any failure it is rolled
 * back whole: nothing of it is stored. */
static int commit_batch(struct store *st)
{
    if (!st->in_batch)
        return STORE_OK;
    st->in_batch = false;
    if (st->batch_lost || st->fail_commits) {
        if (!st->batch_lost) {
            st->fail_commits--;
            seterr(st, "commit batch: failed by the test hook");
        } else {
            seterr(st, "commit batch: the batch was rolled back by an error");
        }
        st->batch_lost = false;
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return STORE_ERROR;
    }
    int r = run(st, S(st, S_COMMIT), "commit batch");
    if (r != STORE_OK) {
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Run the waiters registered so far with rc.  The array is swapped out
 * first: a waiter that waits again is in the next commit's array. */
static void run_waits(struct store *st, int rc)
{
    struct waits t = st->run;
    st->run = st->wait;
    st->wait = t;
    st->wait.n = 0;
    st->in_flush = true;
    for (size_t i = 0; i < st->run.n; i++) {
        store_commit_fn *fn = st->run.v[i].fn;
        if (!fn)
            continue;               /* cancelled */
        st->run.v[i].fn = NULL;     /* save it first: fn may cancel others */
        fn(st->run.v[i].arg, rc);
    }
    st->run.n = 0;
    st->in_flush = false;
}

int store_flush(struct store *st)
{
    if (!st)
        return STORE_OK;
    if (st->in_flush || st->atomic) {
        seterr(st, "flush: from inside a commit waiter or store_atomic()");
        return STORE_INVALID;
    }
    if (st->armed) {
        evtimer_del(st->commit_ev);
        st->armed = false;
    }
    int rc = commit_batch(st);
    if (rc == STORE_OK) {
        run_waits(st, rc);
    } else {
        /* the waiters' store calls may overwrite err: keep the commit's */
        char keep[sizeof st->err];
        memcpy(keep, st->err, sizeof keep);
        run_waits(st, rc);
        memcpy(st->err, keep, sizeof keep);
    }
    if (st->close_later) {
        st->close_later = false;
        store_close(st);
    }
    return rc;
}

/* The loop's commit point: after the I/O callbacks of the pass. */
static void on_commit_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct store *st = arg;
    st->armed = false;
    store_flush(st);
}

int store_on_commit(struct store *st, store_commit_fn *fn, void *arg)
{
    if (!fn)
        return STORE_INVALID;
    struct waits *w = &st->wait;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        void *v = realloc(w->v, cap * sizeof *w->v);
        if (!v) {
            seterr(st, "on commit: out of memory");
            return STORE_ERROR;
        }
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n].fn = fn;
    w->v[w->n].arg = arg;
    w->n++;
    arm(st);
    return STORE_OK;
}

size_t store_on_commit_cancel(struct store *st, store_commit_fn *fn,
                              void *arg)
{
    size_t n = 0;
    struct waits *lists[2] = { &st->wait, &st->run };
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lists[k]->n; i++)
            if (lists[k]->v[i].fn == fn && lists[k]->v[i].arg == arg) {
                lists[k]->v[i].fn = NULL;
                n++;
            }
    return n;
}

int store_atomic(struct store *st, store_atomic_fn *fn, void *arg)
{
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    st->atomic++;
    r = fn(st, arg);
    st->atomic--;
    return tx_end(st, sp, r);
}

void store_test_fail_commits(struct store *st, unsigned n)
{
    st->fail_commits = n;
}

/* ---- agencies, services, offices ------------------------------------------ */

int store_agency_put(struct store *st, const char *code, const char *name,
                     int64_t *id_out)
{
    if (bad(code) || !name)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_AGENCY_PUT);
    bt(s, 1, code);
    bt(s, 2, name);
    return one_int(st, s, "agency put", id_out);
}

int store_agency_by_code(struct store *st, const char *code, int64_t *id_out)
{
    if (bad(code))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_AGENCY_BY_CODE);
    bt(s, 1, code);
    return one_int(st, s, "agency by code", id_out);
}

/* services and offices share their shape: code unique, owned by an agency */
static int owned_put(struct store *st, enum sid put, int64_t agency_id,
                     const char *code, int64_t *id_out, const char *what)
{
    if (bad(code) || agency_id <= 0)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, put);
    bt(s, 1, code);
    bi(s, 2, agency_id);
    int r = one_int(st, s, what, id_out);
    if (r == STORE_NOTFOUND) {
        seterr(st, "%s: code %s belongs to another agency", what, code);
        return STORE_CONFLICT;
    }
    if (r == STORE_CONFLICT)   /* foreign key: no such agency */
        return STORE_NOTFOUND;
    return r;
}

static int owned_by_code(struct store *st, enum sid q, const char *code,
                         int64_t *id_out, int64_t *agency_id_out,
                         const char *what)
{
    if (bad(code))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, q);
    bt(s, 1, code);
    int r = row(st, s, what);
    if (r != STORE_OK)
        return r;
    if (id_out)
        *id_out = sqlite3_column_int64(s, 0);
    if (agency_id_out)
        *agency_id_out = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_service_put(struct store *st, int64_t agency_id, const char *code,
                      int64_t *id_out)
{
    return owned_put(st, S_SERVICE_PUT, agency_id, code, id_out,
                     "service put");
}

int store_service_by_code(struct store *st, const char *code, int64_t *id_out,
                          int64_t *agency_id_out)
{
    return owned_by_code(st, S_SERVICE_BY_CODE, code, id_out, agency_id_out,
                         "service by code");
}

/* A service's or an office's name in lang (q: S_*_NAME_SET; ?4, the
 * address, only for offices).  An unknown id is STORE_NOTFOUND. */
static int name_set(struct store *st, enum sid q, int64_t id, const char *lang,
                    const char *name, const char *address, const char *what)
{
    if (bad(lang) || !name)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, q);
    bi(s, 1, id);
    bt(s, 2, lang);
    bt(s, 3, name);
    if (q == S_OFFICE_NAME_SET)
        bt(s, 4, address);
    int r = run(st, s, what);
    return r == STORE_CONFLICT ? STORE_NOTFOUND : r;
}

/* The name (column 0) and, when address is not NULL, the address (column
 * 1) of a service or office in lang, else in fallback_lang (q: S_*_NAME). */
static int name_get(struct store *st, enum sid q, int64_t id, const char *lang,
                    const char *fallback_lang, char *name, size_t name_cap,
                    char *address, size_t address_cap, const char *what)
{
    if (bad(lang))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, q);
    bi(s, 1, id);
    bt(s, 2, lang);
    bt(s, 3, fallback_lang ? fallback_lang : lang);
    int r = row(st, s, what);
    if (r != STORE_OK)
        return r;
    copy_col(s, 0, name, name_cap);
    if (address)
        copy_col(s, 1, address, address_cap);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_service_name_set(struct store *st, int64_t service_id,
                           const char *lang, const char *name)
{
    return name_set(st, S_SERVICE_NAME_SET, service_id, lang, name, NULL,
                    "service name");
}

int store_service_name(struct store *st, int64_t service_id, const char *lang,
                       const char *fallback_lang, char *name, size_t cap)
{
    return name_get(st, S_SERVICE_NAME, service_id, lang, fallback_lang, name,
                    cap, NULL, 0, "service name");
}

int store_office_put(struct store *st, int64_t agency_id, const char *code,
                     int64_t *id_out)
{
    return owned_put(st, S_OFFICE_PUT, agency_id, code, id_out, "office put");
}

int store_office_by_code(struct store *st, const char *code, int64_t *id_out,
                         int64_t *agency_id_out)
{
    return owned_by_code(st, S_OFFICE_BY_CODE, code, id_out, agency_id_out,
                         "office by code");
}

int store_office_name_set(struct store *st, int64_t office_id,
                          const char *lang, const char *name,
                          const char *address)
{
    return name_set(st, S_OFFICE_NAME_SET, office_id, lang, name, address,
                    "office name");
}

int store_office_name(struct store *st, int64_t office_id, const char *lang,
                      const char *fallback_lang, char *name, size_t name_cap,
                      char *address, size_t address_cap)
{
    return name_get(st, S_OFFICE_NAME, office_id, lang, fallback_lang, name,
                    name_cap, address, address_cap, "office name");
}

int store_offices_for_service(struct store *st, int64_t service_id,
                              int64_t after_id, int64_t *ids, size_t max,
                              size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_OFFICES_FOR_SERVICE);
    bi(s, 1, service_id);
    bi(s, 2, after_id);
    bi(s, 3, (int64_t)max);
    return rows(st, s, id_row, ids, max, n_out, "offices for service");
}

/* ---- slots and bookings --------------------------------------------------- */

static bool valid_day(const char *d)
{
    if (!d || strlen(d) != 10 || d[4] != '-' || d[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9'))
            return false;
    int mo = (d[5] - '0') * 10 + (d[6] - '0');
    int da = (d[8] - '0') * 10 + (d[9] - '0');
    return mo >= 1 && mo <= 12 && da >= 1 && da <= 31;
}

static bool valid_time(const char *t)
{
    if (!t || strlen(t) != 5 || t[2] != ':')
        return false;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (t[i] < '0' || t[i] > '9'))
            return false;
    return (t[0] - '0') * 10 + (t[1] - '0') < 24 && t[3] < '6';
}

static void slot_from_row(sqlite3_stmt *s, struct store_slot *o)
{
    o->id = sqlite3_column_int64(s, 0);
    o->office_id = sqlite3_column_int64(s, 1);
    o->service_id = sqlite3_column_int64(s, 2);
    copy_col(s, 3, o->day, sizeof o->day);
    copy_col(s, 4, o->time, sizeof o->time);
    o->capacity = sqlite3_column_int(s, 5);
    o->booked = sqlite3_column_int(s, 6);
}

static void slot_row(sqlite3_stmt *s, void *out, size_t i)
{
    slot_from_row(s, &((struct store_slot *)out)[i]);
}

int store_slot_put(struct store *st, int64_t office_id, int64_t service_id,
                   const char *day, const char *time, int capacity,
                   int64_t *id_out)
{
    if (!valid_day(day) || !valid_time(time) || capacity < 0)
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    sqlite3_stmt *s = S(st, S_SLOT_PUT);
    bi(s, 1, office_id);
    bi(s, 2, service_id);
    bt(s, 3, day);
    bt(s, 4, time);
    bi(s, 5, capacity);
    r = one_int(st, s, "slot put", id_out);
    if (r == STORE_NOTFOUND) {
        seterr(st, "slot put: capacity %d is below the places booked",
               capacity);
        r = STORE_CONFLICT;
    } else if (r == STORE_CONFLICT) {
        r = STORE_NOTFOUND;   /* foreign key: no such office or service */
    }
    if (r == STORE_OK) {
        s = S(st, S_OFFICE_SERVICE_LINK);
        bi(s, 1, service_id);
        bi(s, 2, office_id);
        r = run(st, s, "office service");
    }
    return tx_end(st, sp, r);
}

int store_slot_get(struct store *st, int64_t slot_id, struct store_slot *out)
{
    sqlite3_stmt *s = S(st, S_SLOT_GET);
    bi(s, 1, slot_id);
    int r = row(st, s, "slot get");
    if (r != STORE_OK)
        return r;
    slot_from_row(s, out);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_slot_days(struct store *st, int64_t office_id, int64_t service_id,
                    const char *from_day, char (*days)[STORE_DAY_MAX],
                    size_t max, size_t *n_out)
{
    *n_out = 0;
    if (!from_day)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SLOT_DAYS);
    bi(s, 1, office_id);
    bi(s, 2, service_id);
    bt(s, 3, from_day);
    bi(s, 4, (int64_t)max);
    return rows(st, s, day_row, days, max, n_out, "slot days");
}

int store_slot_times(struct store *st, int64_t office_id, int64_t service_id,
                     const char *day, struct store_slot *out, size_t max,
                     size_t *n_out)
{
    *n_out = 0;
    if (!day)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SLOT_TIMES);
    bi(s, 1, office_id);
    bi(s, 2, service_id);
    bt(s, 3, day);
    bi(s, 4, (int64_t)max);
    return rows(st, s, slot_row, out, max, n_out, "slot times");
}

/*
 * Take one place in slot_id and insert the active booking, inside the
 * caller's transaction.  The UPDATE only succeeds while booked < capacity,
 * so two connections can never both take the last place: the write lock
 * orders them and the second sees the first's booked.
 */
static int take_place(struct store *st, const char *msisdn, int64_t slot_id,
                      int64_t now, int64_t *id_out, int64_t *service_id)
{
    sqlite3_stmt *s = S(st, S_SLOT_TAKE);
    bi(s, 1, slot_id);
    int64_t svc = 0;
    int r = one_int(st, s, "take place", &svc);
    if (r == STORE_NOTFOUND) {
        s = S(st, S_SLOT_EXISTS);
        bi(s, 1, slot_id);
        r = one_int(st, s, "slot exists", NULL);
        if (r == STORE_OK) {
            seterr(st, "book: slot %lld is full", (long long)slot_id);
            return STORE_FULL;
        }
        return r;
    }
    if (r != STORE_OK)
        return r;
    if (*service_id && *service_id != svc) {
        seterr(st, "book: slot %lld is for another service",
               (long long)slot_id);
        return STORE_INVALID;
    }
    *service_id = svc;
    s = S(st, S_BOOKING_INSERT);
    bt(s, 1, msisdn);
    bi(s, 2, slot_id);
    bi(s, 3, svc);
    bi(s, 4, now);
    r = run(st, s, "booking insert");
    if (r == STORE_CONFLICT)
        seterr(st, "book: already an active booking for this service");
    if (r == STORE_OK && id_out)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return r;
}

static int retire(struct store *st, int64_t booking_id, const char *msisdn,
                  const char *state, int64_t now, int64_t *service_id);

/*
 * One change of msisdn's bookings in its own transaction (a savepoint
 * inside an open batch): retire booking_id to state `retired` (NULL: no
 * booking is retired), then, when `take`, take a place in slot_id.  The
 * first refusal undoes the whole change.
 */
static int booking_change(struct store *st, const char *msisdn,
                          int64_t booking_id, const char *retired, bool take,
                          int64_t slot_id, int64_t now, int64_t *id_out)
{
    if (bad(msisdn))
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    int64_t svc = 0;
    if (retired)
        r = retire(st, booking_id, msisdn, retired, now, &svc);
    if (r == STORE_OK && take)
        r = take_place(st, msisdn, slot_id, now, id_out, &svc);
    return tx_end(st, sp, r);
}

int store_book(struct store *st, const char *msisdn, int64_t slot_id,
               int64_t now, int64_t *id_out)
{
    return booking_change(st, msisdn, 0, NULL, true, slot_id, now, id_out);
}

/* Retire (cancel / move) an active booking and give its place back. */
static int retire(struct store *st, int64_t booking_id, const char *msisdn,
                  const char *state, int64_t now, int64_t *service_id)
{
    sqlite3_stmt *s = S(st, S_BOOKING_RETIRE);
    bi(s, 1, booking_id);
    bt(s, 2, msisdn);
    bt(s, 3, state);
    bi(s, 4, now);
    int r = row(st, s, "booking retire");
    if (r != STORE_OK)
        return r;
    int64_t slot = sqlite3_column_int64(s, 0);
    *service_id = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    s = S(st, S_SLOT_GIVE);
    bi(s, 1, slot);
    r = run(st, s, "give place");
    if (r == STORE_OK && sqlite3_changes(st->db) != 1) {
        seterr(st, "booking %lld: slot count already 0",
               (long long)booking_id);
        r = STORE_ERROR;   /* broken invariant: refuse rather than skew */
    }
    return r;
}

int store_booking_cancel(struct store *st, int64_t booking_id,
                         const char *msisdn, int64_t now)
{
    return booking_change(st, msisdn, booking_id, "cancelled", false, 0, now,
                          NULL);
}

int store_booking_move(struct store *st, int64_t booking_id,
                       const char *msisdn, int64_t new_slot_id, int64_t now,
                       int64_t *new_id_out)
{
    return booking_change(st, msisdn, booking_id, "moved", true, new_slot_id,
                          now, new_id_out);
}

static void booking_from_row(sqlite3_stmt *s, struct store_booking *b)
{
    b->id = sqlite3_column_int64(s, 0);
    b->slot_id = sqlite3_column_int64(s, 1);
    b->service_id = sqlite3_column_int64(s, 2);
    b->office_id = sqlite3_column_int64(s, 3);
    b->created_at = sqlite3_column_int64(s, 4);
    copy_col(s, 5, b->msisdn, sizeof b->msisdn);
    copy_col(s, 6, b->day, sizeof b->day);
    copy_col(s, 7, b->time, sizeof b->time);
    copy_col(s, 8, b->lang, sizeof b->lang);
}

int store_booking_get(struct store *st, int64_t booking_id,
                      struct store_booking *out, char *state, size_t state_cap)
{
    sqlite3_stmt *s = S(st, S_BOOKING_GET);
    bi(s, 1, booking_id);
    int r = row(st, s, "booking get");
    if (r != STORE_OK)
        return r;
    booking_from_row(s, out);
    if (state)
        copy_col(s, 9, state, state_cap);
    sqlite3_reset(s);
    return STORE_OK;
}

static void booking_row(sqlite3_stmt *s, void *out, size_t i)
{
    booking_from_row(s, &((struct store_booking *)out)[i]);
}

int store_bookings_active(struct store *st, const char *msisdn,
                          struct store_booking *out, size_t max,
                          size_t *n_out)
{
    *n_out = 0;
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_BOOKINGS_ACTIVE);
    bt(s, 1, msisdn);
    bi(s, 2, (int64_t)max);
    return rows(st, s, booking_row, out, max, n_out, "bookings active");
}

int store_booking_set_lang(struct store *st, int64_t booking_id,
                           const char *lang)
{
    if (!lang || !*lang || strlen(lang) >= STORE_LANG_MAX)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_BOOKING_LANG);
    bi(s, 1, booking_id);
    bt(s, 2, lang);
    int r = run(st, s, "booking lang");
    if (r == STORE_OK && sqlite3_changes(st->db) != 1)
        r = STORE_NOTFOUND;
    return r;
}

/* ---- read-back for agencies (issue 12 part 3) ----------------------------- */

static void coded_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_coded *c = &((struct store_coded *)out)[i];
    c->id = sqlite3_column_int64(s, 0);
    copy_col(s, 1, c->code, sizeof c->code);
}

int store_coded_list(struct store *st, bool offices, int64_t agency_id,
                     const char *after, struct store_coded *out, size_t max,
                     size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, offices ? S_OFFICES_LIST : S_SERVICES_LIST);
    bi(s, 1, agency_id);
    bt(s, 2, after ? after : "");
    bi(s, 3, (int64_t)max);
    return rows(st, s, coded_row, out, max, n_out, offices ? "offices list"
                                                           : "services list");
}

static void name_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_name *n = &((struct store_name *)out)[i];
    copy_col(s, 0, n->lang, sizeof n->lang);
    copy_col(s, 1, n->name, sizeof n->name);
    copy_col(s, 2, n->address, sizeof n->address);
}

int store_names(struct store *st, bool office, int64_t id,
                struct store_name *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, office ? S_OFFICE_NAMES : S_SERVICE_NAMES);
    bi(s, 1, id);
    return rows(st, s, name_row, out, max, n_out, "names");
}

int store_slots_list(struct store *st, int64_t office_id, int64_t service_id,
                     const char *from_day, const char *to_day,
                     const struct store_slot *after, struct store_slot *out,
                     size_t max, size_t *n_out)
{
    *n_out = 0;
    if (!valid_day(from_day) || !valid_day(to_day))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SLOTS_LIST);
    bi(s, 1, office_id);
    bi(s, 2, service_id);
    bt(s, 3, from_day);
    bt(s, 4, to_day);
    bt(s, 5, after ? after->day : "");
    bt(s, 6, after ? after->time : "");
    bi(s, 7, after ? after->id : 0);
    bi(s, 8, (int64_t)max);
    return rows(st, s, slot_row, out, max, n_out, "slots list");
}

static void day_booking_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_day_booking *d = &((struct store_day_booking *)out)[i];
    booking_from_row(s, &d->b);
    copy_col(s, 9, d->state, sizeof d->state);
}

int store_bookings_day(struct store *st, int64_t office_id, const char *day,
                       const char *after_time, int64_t after_id,
                       struct store_day_booking *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (!valid_day(day))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_BOOKINGS_DAY);
    bi(s, 1, office_id);
    bt(s, 2, day);
    bt(s, 3, after_time ? after_time : "");
    bi(s, 4, after_id);
    bi(s, 5, (int64_t)max);
    return rows(st, s, day_booking_row, out, max, n_out, "bookings of a day");
}

int store_services_bookable(struct store *st, const char *from_day,
                            int64_t after_id, int64_t *ids, size_t max,
                            size_t *n_out)
{
    *n_out = 0;
    if (!valid_day(from_day))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SERVICES_BOOKABLE);
    bi(s, 1, after_id);
    bt(s, 2, from_day);
    bi(s, 3, (int64_t)max);
    return rows(st, s, id_row, ids, max, n_out, "services bookable");
}

int store_service_get(struct store *st, int64_t service_id, char *code,
                      size_t code_cap, int64_t *agency_id_out)
{
    sqlite3_stmt *s = S(st, S_SERVICE_GET);
    bi(s, 1, service_id);
    int r = row(st, s, "service get");
    if (r != STORE_OK)
        return r;
    if (code)
        copy_col(s, 0, code, code_cap);
    if (agency_id_out)
        *agency_id_out = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_reminders_due(struct store *st, const char *day,
                        struct store_booking *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (!valid_day(day))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_REMINDERS_DUE);
    bt(s, 1, day);
    bi(s, 2, (int64_t)max);
    return rows(st, s, booking_row, out, max, n_out, "reminders due");
}

int store_booking_reminded(struct store *st, int64_t booking_id)
{
    sqlite3_stmt *s = S(st, S_BOOKING_REMINDED);
    bi(s, 1, booking_id);
    return run_changed(st, s, "booking reminded");
}

/* ---- applications --------------------------------------------------------- */

/* S_APP_UPDATE or S_APP_INSERT: the same six parameters. */
static int app_write(struct store *st, enum sid q, const char *number,
                     int64_t agency_id, const char *status, int64_t now,
                     int64_t service_id, const char *owner, const char *what)
{
    sqlite3_stmt *s = S(st, q);
    bt(s, 1, number);
    bi(s, 2, agency_id);
    bt(s, 3, status);
    bi(s, 4, now);
    bi0(s, 5, service_id);
    bt(s, 6, owner);
    return run(st, s, what);
}

int store_app_status(struct store *st, const char *number, int64_t agency_id,
                     int64_t service_id, const char *owner,
                     const char *status, const char *note, int64_t now)
{
    if (bad(number) || bad(status) || agency_id <= 0 ||
        (owner && !*owner))
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    /* issue 14 item 6: only the agency's own number space; another
     * agency's application of the same number is not looked at */
    r = app_write(st, S_APP_UPDATE, number, agency_id, status, now,
                  service_id, owner, "application update");
    if (r == STORE_OK && sqlite3_changes(st->db) == 0) {
        if (!owner) {
            seterr(st, "application %s: new, owner required", number);
            r = STORE_INVALID;
        } else {
            r = app_write(st, S_APP_INSERT, number, agency_id, status, now,
                          service_id, owner, "application insert");
            if (r == STORE_CONFLICT)
                r = STORE_NOTFOUND;   /* foreign key: agency or service */
        }
    } else if (r == STORE_CONFLICT) {
        r = STORE_NOTFOUND;           /* foreign key: no such service */
    }
    if (r == STORE_OK) {
        sqlite3_stmt *s = S(st, S_HISTORY_ADD);
        bi(s, 1, agency_id);
        bt(s, 2, number);
        bt(s, 3, status);
        bt(s, 4, note);
        bi(s, 5, now);
        r = run(st, s, "application history");
    }
    return tx_end(st, sp, r);
}

/* One row of APP_COLS into ((struct store_app *)out)[i]. */
static void app_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_app *a = &((struct store_app *)out)[i];
    a->agency_id = sqlite3_column_int64(s, 0);
    a->service_id = sqlite3_column_int64(s, 1);
    copy_col(s, 2, a->owner, sizeof a->owner);
    copy_col(s, 3, a->status, sizeof a->status);
    a->updated_at = sqlite3_column_int64(s, 4);
    copy_col(s, 5, a->agency, sizeof a->agency);
    copy_col(s, 6, a->number, sizeof a->number);
}

int store_app_get(struct store *st, int64_t agency_id, const char *number,
                  struct store_app *out)
{
    if (bad(number))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_APP_GET);
    bi(s, 1, agency_id);
    bt(s, 2, number);
    int r = row(st, s, "application get");
    if (r != STORE_OK)
        return r;
    app_row(s, out, 0);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_app_find(struct store *st, const char *number, const char *owner,
                   struct store_app *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (bad(number) || bad(owner))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_APP_FIND);
    bt(s, 1, number);
    bt(s, 2, owner);
    bi(s, 3, (int64_t)max);
    return rows(st, s, app_row, out, max, n_out, "application find");
}

static void event_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_app_event *e = &((struct store_app_event *)out)[i];
    copy_col(s, 0, e->status, sizeof e->status);
    copy_col(s, 1, e->note, sizeof e->note);
    e->at = sqlite3_column_int64(s, 2);
}

int store_app_history(struct store *st, int64_t agency_id, const char *number,
                      struct store_app_event *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (bad(number))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_HISTORY_LIST);
    bi(s, 1, agency_id);
    bt(s, 2, number);
    bi(s, 3, (int64_t)max);
    return rows(st, s, event_row, out, max, n_out, "application history");
}

int store_template_set(struct store *st, int64_t agency_id, const char *status,
                       const char *lang, const char *body)
{
    if (agency_id < 0 || bad(status) || bad(lang) || !body)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_TEMPLATE_SET);
    bi(s, 1, agency_id);
    bt(s, 2, status);
    bt(s, 3, lang);
    bt(s, 4, body);
    return run(st, s, "template set");
}

int store_template_get(struct store *st, int64_t agency_id, const char *status,
                       const char *lang, char **body_out)
{
    *body_out = NULL;
    if (bad(status) || bad(lang))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_TEMPLATE_GET);
    bi(s, 1, agency_id);
    bt(s, 2, status);
    bt(s, 3, lang);
    int r = row(st, s, "template get");
    if (r != STORE_OK)
        return r;
    const unsigned char *t = sqlite3_column_text(s, 0);
    *body_out = strdup(t ? (const char *)t : "");
    sqlite3_reset(s);
    if (!*body_out) {
        seterr(st, "template get: out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

void store_templates_free(struct store_template *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].body);
        t[i].body = NULL;
    }
}

int store_template_list(struct store *st, int64_t agency_id,
                        const char *after_status, const char *after_lang,
                        struct store_template *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (agency_id < 0)
        return STORE_INVALID;
    if (max == 0)
        return STORE_OK;
    sqlite3_stmt *s = S(st, S_TEMPLATE_LIST);
    bi(s, 1, agency_id);
    bt(s, 2, after_status ? after_status : "");
    bt(s, 3, after_lang ? after_lang : "");
    bi(s, 4, (int64_t)max);
    int rc = SQLITE_DONE;
    while (*n_out < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_template *t = &out[*n_out];
        const unsigned char *b = sqlite3_column_text(s, 2);
        t->body = strdup(b ? (const char *)b : "");
        if (!t->body) {
            sqlite3_reset(s);
            store_templates_free(out, *n_out);
            *n_out = 0;
            seterr(st, "template list: out of memory");
            return STORE_ERROR;
        }
        copy_col(s, 0, t->status, sizeof t->status);
        copy_col(s, 1, t->lang, sizeof t->lang);
        (*n_out)++;
    }
    if (*n_out < max && rc != SQLITE_DONE) {
        int r = fail(st, rc, "template list");
        sqlite3_reset(s);
        store_templates_free(out, *n_out);
        *n_out = 0;
        return r;
    }
    sqlite3_reset(s);
    return STORE_OK;
}

int store_template_delete(struct store *st, int64_t agency_id,
                          const char *status, const char *lang)
{
    if (agency_id < 0 || bad(status) || bad(lang))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_TEMPLATE_DEL);
    bi(s, 1, agency_id);
    bt(s, 2, status);
    bt(s, 3, lang);
    return run_changed(st, s, "template delete");
}

/* ---- lookup rate limit ------------------------------------------------------ */

int store_lookup_locked(struct store *st, const char *msisdn, int64_t now,
                        int64_t *locked_until_out)
{
    *locked_until_out = 0;
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_LOOKUP_GET);
    bt(s, 1, msisdn);
    int64_t until = 0;
    int r = one_int(st, s, "lookup locked", &until);
    if (r == STORE_NOTFOUND)
        return STORE_OK;
    if (r == STORE_OK && until > now)
        *locked_until_out = until;
    return r;
}

int store_lookup_failed(struct store *st, const char *msisdn, int64_t now,
                        int64_t window_ms, int max_failures, int64_t lock_ms,
                        int *failures_out, int64_t *locked_until_out)
{
    if (bad(msisdn) || window_ms <= 0 || max_failures <= 0 || lock_ms < 0)
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    sqlite3_stmt *s = S(st, S_LOOKUP_MISS);
    bt(s, 1, msisdn);
    bi(s, 2, now);
    r = run(st, s, "lookup failed");
    if (r == STORE_OK) {
        s = S(st, S_LOOKUP_EXPIRE);
        bt(s, 1, msisdn);
        bi(s, 2, now);
        bi(s, 3, window_ms);
        r = run(st, s, "lookup failed");
    }
    int64_t until = 0;
    int fails = 0;
    if (r == STORE_OK) {
        s = S(st, S_LOOKUP_FAIL);
        bt(s, 1, msisdn);
        bi(s, 2, now);
        bi(s, 4, max_failures);
        bi(s, 5, lock_ms);
        r = row(st, s, "lookup failed");
        if (r == STORE_NOTFOUND)
            r = STORE_ERROR;
        if (r == STORE_OK) {
            fails = sqlite3_column_int(s, 0);
            until = sqlite3_column_int64(s, 1);
            /* finish the statement so the write is complete */
            r = run(st, s, "lookup failed");
        }
    }
    r = tx_end(st, sp, r);
    if (r != STORE_OK)
        return r;
    if (failures_out)
        *failures_out = fails;
    if (locked_until_out)
        *locked_until_out = until > now ? until : 0;
    return STORE_OK;
}

int store_lookup_clear(struct store *st, const char *msisdn)
{
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_LOOKUP_CLEAR);
    bt(s, 1, msisdn);
    return run(st, s, "lookup clear");
}

/* ---- subscriptions and opt-outs ------------------------------------------- */

int store_sub_add(struct store *st, const char *msisdn, const char *topic,
                  int64_t now)
{
    if (bad(msisdn) || bad(topic))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SUB_ADD);
    bt(s, 1, msisdn);
    bt(s, 2, topic);
    bi(s, 3, now);
    return run(st, s, "subscribe");
}

int store_sub_remove(struct store *st, const char *msisdn, const char *topic)
{
    if (bad(msisdn) || bad(topic))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SUB_DEL);
    bt(s, 1, msisdn);
    bt(s, 2, topic);
    return run_changed(st, s, "unsubscribe");
}

int store_sub_mute(struct store *st, const char *msisdn, const char *topic,
                   bool mute, int64_t now)
{
    if (bad(msisdn) || bad(topic))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, mute ? S_MUTE_ADD : S_MUTE_DEL);
    bt(s, 1, msisdn);
    bt(s, 2, topic);
    if (mute)
        bi(s, 3, now);
    return run(st, s, mute ? "mute" : "unmute");
}

int store_sub_muted(struct store *st, const char *msisdn, const char *topic,
                    bool *muted)
{
    *muted = false;
    if (bad(msisdn) || bad(topic))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_MUTE_GET);
    bt(s, 1, msisdn);
    bt(s, 2, topic);
    int r = one_int(st, s, "muted", NULL);
    if (r == STORE_OK)
        *muted = true;
    return r == STORE_NOTFOUND ? STORE_OK : r;
}

/* A page of subscribers: their numbers and (when wanted) row ids. */
struct sub_page {
    char (*msisdns)[STORE_MSISDN_MAX];
    int64_t *ids;
};

static void sub_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct sub_page *pg = out;
    if (pg->ids)
        pg->ids[i] = sqlite3_column_int64(s, 0);
    copy_col(s, 1, pg->msisdns[i], STORE_MSISDN_MAX);
}

int store_sub_list(struct store *st, const char *topic, int64_t after_id,
                   char (*msisdns)[STORE_MSISDN_MAX], int64_t *ids,
                   size_t max, size_t *n_out)
{
    *n_out = 0;
    if (bad(topic))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SUB_LIST);
    bt(s, 1, topic);
    bi(s, 2, after_id);
    bi(s, 3, (int64_t)max);
    struct sub_page pg = { msisdns, ids };
    return rows(st, s, sub_row, &pg, max, n_out, "subscribers");
}

int store_optout_set(struct store *st, const char *msisdn, int64_t now)
{
    if (bad(msisdn))
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    sqlite3_stmt *s = S(st, S_OPTOUT_SET);
    bt(s, 1, msisdn);
    bi(s, 2, now);
    r = run(st, s, "opt out");
    if (r == STORE_OK) {
        s = S(st, S_SUB_DEL_ALL);
        bt(s, 1, msisdn);
        r = run(st, s, "opt out subscriptions");
    }
    return tx_end(st, sp, r);
}

int store_optout_clear(struct store *st, const char *msisdn)
{
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_OPTOUT_CLEAR);
    bt(s, 1, msisdn);
    return run(st, s, "opt in");
}

int store_optout_get(struct store *st, const char *msisdn, bool *opted_out)
{
    *opted_out = false;
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_OPTOUT_GET);
    bt(s, 1, msisdn);
    int r = one_int(st, s, "opt-out get", NULL);
    if (r == STORE_OK)
        *opted_out = true;
    return r == STORE_NOTFOUND ? STORE_OK : r;
}

/* ---- USSD notices (issue 14 item 4) ------------------------------------------ */

int store_notice_add(struct store *st, const struct store_notice *n,
                     int64_t now, int64_t *id_out)
{
    *id_out = 0;
    if (bad(n->client) || bad(n->msisdn) || !n->text || n->agency_id <= 0)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_NOTICE_ADD);
    bi(s, 1, n->agency_id);
    bt(s, 2, n->client);
    bt(s, 3, n->msisdn);
    bt(s, 4, n->sender && *n->sender ? n->sender : NULL);
    bt(s, 5, n->text);
    bi(s, 6, n->law_required);
    bi(s, 7, now);
    int r = run(st, s, "notice add");
    if (r == STORE_OK)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return r;
}

int store_notice_failed(struct store *st, int64_t id, const char *err)
{
    sqlite3_stmt *s = S(st, S_NOTICE_FAILED);
    bi(s, 1, id);
    bt(s, 2, err);
    return run_changed(st, s, "notice failed");
}

int store_notice_get(struct store *st, int64_t id, struct store_notice_rec *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = S(st, S_NOTICE_GET);
    bi(s, 1, id);
    int r = row(st, s, "notice get");
    if (r != STORE_OK)
        return r;
    out->id = id;
    out->agency_id = sqlite3_column_int64(s, 0);
    out->at = sqlite3_column_int64(s, 1);
    copy_col(s, 2, out->client, sizeof out->client);
    copy_col(s, 3, out->msisdn, sizeof out->msisdn);
    copy_col(s, 4, out->sender, sizeof out->sender);
    copy_col(s, 5, out->text, sizeof out->text);
    out->law_required = sqlite3_column_int(s, 6) != 0;
    out->failed = sqlite3_column_int(s, 7) != 0;
    copy_col(s, 8, out->err, sizeof out->err);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_notices_recent(struct store *st, const char *msisdn, int64_t since,
                         unsigned *count, int64_t *oldest)
{
    *count = 0;
    *oldest = 0;
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_NOTICE_RECENT);
    bt(s, 1, msisdn);
    bi(s, 2, since);
    int r = row(st, s, "notices recent");
    if (r == STORE_OK) {
        *count = (unsigned)sqlite3_column_int64(s, 0);
        *oldest = sqlite3_column_int64(s, 1);
        sqlite3_reset(s);
    }
    return r;
}

/* ---- appeals (issue 12 appeals) ---------------------------------------------- */

static int appeal_hist_add(struct store *st, int64_t appeal_id,
                           const char *kind, const char *state,
                           const char *text, const char *who, int64_t now)
{
    sqlite3_stmt *s = S(st, S_APPEAL_HIST_ADD);
    bi(s, 1, appeal_id);
    bt(s, 2, kind);
    bt(s, 3, state);
    bt(s, 4, text && *text ? text : NULL);
    bt(s, 5, who);
    bi(s, 6, now);
    return run(st, s, "appeal history add");
}

int store_appeal_add(struct store *st, const struct store_appeal_new *a,
                     int64_t now, int64_t *id_out)
{
    *id_out = 0;
    if (bad(a->ref) || a->agency_id <= 0 || bad(a->category) ||
        bad(a->msisdn) || bad(a->text) || bad(a->lang) || bad(a->channel) ||
        strlen(a->text) >= STORE_APPEAL_TEXT_MAX)
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    sqlite3_stmt *s = S(st, S_APPEAL_ADD);
    bt(s, 1, a->ref);
    bi(s, 2, a->agency_id);
    bt(s, 3, a->category);
    bi(s, 4, a->anonymous);
    bt(s, 5, a->msisdn);
    bt(s, 6, a->text);
    bt(s, 7, a->lang);
    bt(s, 8, a->channel);
    bi(s, 9, now);
    r = run(st, s, "appeal add");   /* a taken ref: STORE_CONFLICT */
    int64_t id = r == STORE_OK ? sqlite3_last_insert_rowid(st->db) : 0;
    if (r == STORE_OK)
        r = appeal_hist_add(st, id, "state", "new", NULL, "citizen", now);
    r = tx_end(st, sp, r);
    if (r == STORE_OK)
        *id_out = id;
    return r;
}

static void appeal_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_appeal *a = (struct store_appeal *)out + i;
    a->id = sqlite3_column_int64(s, 0);
    copy_col(s, 1, a->ref, sizeof a->ref);
    a->agency_id = sqlite3_column_int64(s, 2);
    copy_col(s, 3, a->agency, sizeof a->agency);
    copy_col(s, 4, a->category, sizeof a->category);
    a->anonymous = sqlite3_column_int(s, 5) != 0;
    copy_col(s, 6, a->msisdn, sizeof a->msisdn);
    copy_col(s, 7, a->text, sizeof a->text);
    copy_col(s, 8, a->lang, sizeof a->lang);
    copy_col(s, 9, a->channel, sizeof a->channel);
    copy_col(s, 10, a->state, sizeof a->state);
    a->created_at = sqlite3_column_int64(s, 11);
    a->updated_at = sqlite3_column_int64(s, 12);
}

int store_appeal_get(struct store *st, const char *ref,
                     struct store_appeal *out)
{
    memset(out, 0, sizeof *out);
    if (bad(ref))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_APPEAL_GET);
    bt(s, 1, ref);
    int r = row(st, s, "appeal get");
    if (r == STORE_OK) {
        appeal_row(s, out, 0);
        sqlite3_reset(s);
    }
    return r;
}

int store_appeals_list(struct store *st, int64_t agency_id, const char *state,
                       int64_t after_id, struct store_appeal *out, size_t max,
                       size_t *n_out)
{
    *n_out = 0;
    if (agency_id <= 0 || after_id < 0)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, state ? S_APPEAL_LIST_STATE : S_APPEAL_LIST);
    bi(s, 1, agency_id);
    bi(s, 2, after_id);
    bi(s, 3, (int64_t)max);
    if (state)
        bt(s, 4, state);
    return rows(st, s, appeal_row, out, max, n_out, "appeals list");
}

int store_appeal_change(struct store *st, int64_t appeal_id, const char *kind,
                        const char *state, const char *text, const char *who,
                        int64_t now)
{
    if (appeal_id <= 0 || bad(kind) || bad(state) || bad(who) ||
        (text && strlen(text) >= STORE_APPEAL_TEXT_MAX))
        return STORE_INVALID;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    sqlite3_stmt *s = S(st, S_APPEAL_SET_STATE);
    bi(s, 1, appeal_id);
    bt(s, 2, state);
    bi(s, 3, now);
    r = run_changed(st, s, "appeal state");   /* a bad state: CONFLICT */
    if (r == STORE_OK)
        r = appeal_hist_add(st, appeal_id, kind, state, text, who, now);
    return tx_end(st, sp, r);
}

static void appeal_event_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_appeal_event *e = (struct store_appeal_event *)out + i;
    e->id = sqlite3_column_int64(s, 0);
    copy_col(s, 1, e->kind, sizeof e->kind);
    copy_col(s, 2, e->state, sizeof e->state);
    copy_col(s, 3, e->text, sizeof e->text);
    copy_col(s, 4, e->who, sizeof e->who);
    e->at = sqlite3_column_int64(s, 5);
}

int store_appeal_history(struct store *st, int64_t appeal_id, int64_t after_id,
                         struct store_appeal_event *out, size_t max,
                         size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_APPEAL_HIST_LIST);
    bi(s, 1, appeal_id);
    bi(s, 2, after_id);
    bi(s, 3, (int64_t)max);
    return rows(st, s, appeal_event_row, out, max, n_out, "appeal history");
}

int store_appeals_since(struct store *st, const char *msisdn, int64_t since,
                        unsigned *count)
{
    *count = 0;
    if (bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_APPEAL_TODAY);
    bt(s, 1, msisdn);
    bi(s, 2, since);
    int64_t n = 0;
    int r = one_int(st, s, "appeals since", &n);
    if (r == STORE_OK)
        *count = (unsigned)n;
    return r;
}

/* ---- API tokens ------------------------------------------------------------ */

int store_token_add(struct store *st, const void *hash, size_t hash_len,
                    int64_t agency_id, const char *scopes, int64_t now)
{
    if (!hash || !hash_len || hash_len > 64)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_TOKEN_ADD);
    sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
    bi(s, 2, agency_id);
    bt(s, 3, scopes ? scopes : "");
    bi(s, 4, now);
    return run(st, s, "token add");
}

int store_token_get(struct store *st, const void *hash, size_t hash_len,
                    int64_t *agency_id_out, char *scopes, size_t scopes_cap)
{
    if (!hash || !hash_len || hash_len > 64)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_TOKEN_GET);
    sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
    int r = row(st, s, "token get");
    if (r != STORE_OK)
        return r;
    if (agency_id_out)
        *agency_id_out = sqlite3_column_int64(s, 0);
    if (scopes)
        copy_col(s, 1, scopes, scopes_cap);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_token_revoke(struct store *st, const void *hash, size_t hash_len,
                       int64_t now)
{
    if (!hash || !hash_len || hash_len > 64)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_TOKEN_REVOKE);
    sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
    bi(s, 2, now);
    return run_changed(st, s, "token revoke");
}

/* ---- issue 10 console: accounts, sessions, audit ---------------------------- */

static void acct_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_account *a = (struct store_account *)out + i;
    a->id = sqlite3_column_int64(s, 0);
    copy_col(s, 1, a->name, sizeof a->name);
    copy_col(s, 2, a->role, sizeof a->role);
    copy_col(s, 3, a->pwhash, sizeof a->pwhash);
    a->created_at = sqlite3_column_int64(s, 4);
    a->disabled_at = sqlite3_column_int64(s, 5);
}

int store_account_add(struct store *st, const char *name, const char *role,
                      const char *pwhash, int64_t now, int64_t *id_out)
{
    if (!name || !*name || strlen(name) >= STORE_ACCOUNT_NAME_MAX || !role ||
        !pwhash || strlen(pwhash) >= STORE_PWHASH_MAX)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_ACCT_ADD);
    bt(s, 1, name);
    bt(s, 2, role);
    bt(s, 3, pwhash);
    bi(s, 4, now);
    int r = run(st, s, "account add");
    if (r == STORE_OK && id_out)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return r;
}

int store_account_get(struct store *st, const char *name,
                      struct store_account *out)
{
    sqlite3_stmt *s = S(st, S_ACCT_GET);
    bt(s, 1, name);
    int r = row(st, s, "account get");
    if (r == STORE_OK) {
        acct_row(s, out, 0);
        sqlite3_reset(s);
    }
    return r;
}

int store_account_list(struct store *st, int64_t after_id,
                       struct store_account *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_ACCT_LIST);
    bi(s, 1, after_id);
    bi(s, 2, (int64_t)max);
    return rows(st, s, acct_row, out, max, n_out, "account list");
}

int store_account_set_role(struct store *st, const char *name, const char *role)
{
    sqlite3_stmt *s = S(st, S_ACCT_ROLE);
    bt(s, 1, name);
    bt(s, 2, role);
    return run_changed(st, s, "account role");
}

int store_account_set_disabled(struct store *st, const char *name,
                               int64_t disabled_at)
{
    sqlite3_stmt *s = S(st, S_ACCT_DISABLE);
    bt(s, 1, name);
    bi0(s, 2, disabled_at);
    return run_changed(st, s, "account disable");
}

int store_account_set_pwhash(struct store *st, const char *name,
                             const char *pwhash)
{
    if (!pwhash || strlen(pwhash) >= STORE_PWHASH_MAX)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_ACCT_PWHASH);
    bt(s, 1, name);
    bt(s, 2, pwhash);
    return run_changed(st, s, "account password");
}

int store_account_counts(struct store *st, int64_t *accounts, int64_t *admins)
{
    int r = STORE_OK;
    if (accounts)
        r = one_int(st, S(st, S_ACCT_COUNT), "account count", accounts);
    if (r == STORE_OK && admins)
        r = one_int(st, S(st, S_ACCT_ADMINS), "account admins", admins);
    return r;
}

int store_session_add(struct store *st, const void *hash, size_t hash_len,
                      int64_t account_id, const char *csrf, int64_t now,
                      int64_t expires_at)
{
    if (!hash || !hash_len || hash_len > 64 || !csrf ||
        strlen(csrf) >= STORE_CSRF_MAX)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SESS_ADD);
    sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
    bi(s, 2, account_id);
    bt(s, 3, csrf);
    bi(s, 4, now);
    bi(s, 5, expires_at);
    return run(st, s, "session add");
}

int store_session_get(struct store *st, const void *hash, size_t hash_len,
                      struct store_session *out)
{
    if (!hash || !hash_len || hash_len > 64)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_SESS_GET);
    sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
    int r = row(st, s, "session get");
    if (r != STORE_OK)
        return r;
    out->account_id = sqlite3_column_int64(s, 0);
    copy_col(s, 1, out->csrf, sizeof out->csrf);
    out->created_at = sqlite3_column_int64(s, 2);
    out->expires_at = sqlite3_column_int64(s, 3);
    out->last_seen = sqlite3_column_int64(s, 4);
    copy_col(s, 5, out->name, sizeof out->name);
    copy_col(s, 6, out->role, sizeof out->role);
    out->disabled = sqlite3_column_int(s, 7) != 0;
    sqlite3_reset(s);
    return STORE_OK;
}

/* One statement taking a session hash (and, when with_now, a time). */
static int session_op(struct store *st, enum sid q, const void *hash,
                      size_t hash_len, int64_t now, bool with_now,
                      const char *what)
{
    if (!hash || !hash_len || hash_len > 64)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, q);
    sqlite3_bind_blob(s, 1, hash, (int)hash_len, SQLITE_STATIC);
    if (with_now)
        bi(s, 2, now);
    return run_changed(st, s, what);
}

int store_session_touch(struct store *st, const void *hash, size_t hash_len,
                        int64_t now)
{
    return session_op(st, S_SESS_TOUCH, hash, hash_len, now, true,
                      "session touch");
}

int store_session_del(struct store *st, const void *hash, size_t hash_len)
{
    return session_op(st, S_SESS_DEL, hash, hash_len, 0, false, "session del");
}

int store_sessions_del_account(struct store *st, const char *name)
{
    sqlite3_stmt *s = S(st, S_SESS_DEL_ACCT);
    bt(s, 1, name);
    return run(st, s, "sessions del");
}

int store_sessions_prune(struct store *st, int64_t now, size_t limit,
                         int64_t *n_out)
{
    sqlite3_stmt *s = S(st, S_SESS_PRUNE);
    bi(s, 1, now);
    bi(s, 2, (int64_t)limit);
    int r = run(st, s, "sessions prune");
    if (n_out)
        *n_out = r == STORE_OK ? sqlite3_changes(st->db) : 0;
    return r;
}

int store_audit_add(struct store *st, const struct store_audit *a)
{
    if (!a || !a->actor || !a->action)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_AUDIT_ADD);
    bi(s, 1, a->at);
    bt(s, 2, a->actor);
    bt(s, 3, a->peer ? a->peer : "");
    bt(s, 4, a->action);
    bt(s, 5, a->target ? a->target : "");
    bt(s, 6, a->detail ? a->detail : "");
    return run(st, s, "audit add");
}

static void audit_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_audit_rec *a = (struct store_audit_rec *)out + i;
    a->id = sqlite3_column_int64(s, 0);
    a->at = sqlite3_column_int64(s, 1);
    copy_col(s, 2, a->actor, sizeof a->actor);
    copy_col(s, 3, a->peer, sizeof a->peer);
    copy_col(s, 4, a->action, sizeof a->action);
    copy_col(s, 5, a->target, sizeof a->target);
    copy_col(s, 6, a->detail, sizeof a->detail);
}

/* ---- the menu draft (issue 10 workspace) ---------------------------------- */

static bool draft_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= STORE_DRAFT_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

int store_draft_put(struct store *st, const char *name, const char *text,
                    const char *who, int64_t now)
{
    if (!draft_name_ok(name) || !text || strlen(text) > STORE_DRAFT_TEXT_MAX ||
        !who || !*who)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_DRAFT_PUT);
    bt(s, 1, name);
    bt(s, 2, text);
    bt(s, 3, who);
    bi(s, 4, now);
    return run(st, s, "draft put");
}

int store_draft_delete(struct store *st, const char *name)
{
    if (!draft_name_ok(name))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_DRAFT_DEL);
    bt(s, 1, name);
    return run_changed(st, s, "draft delete");
}

void store_drafts_free(struct store_draft *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].text);
        d[i].text = NULL;
    }
}

int store_draft_list(struct store *st, struct store_draft *out, size_t max,
                     size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_DRAFT_LIST);
    bi(s, 1, (int64_t)max);
    int rc = SQLITE_DONE;
    while (*n_out < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_draft *d = &out[*n_out];
        const unsigned char *t = sqlite3_column_text(s, 1);
        d->text = strdup(t ? (const char *)t : "");
        if (!d->text) {
            sqlite3_reset(s);
            store_drafts_free(out, *n_out);
            *n_out = 0;
            seterr(st, "draft list: out of memory");
            return STORE_ERROR;
        }
        copy_col(s, 0, d->name, sizeof d->name);
        copy_col(s, 2, d->updated_by, sizeof d->updated_by);
        d->updated_at = sqlite3_column_int64(s, 3);
        (*n_out)++;
    }
    int r = *n_out < max && rc != SQLITE_DONE ? fail(st, rc, "draft list") : STORE_OK;
    sqlite3_reset(s);
    return r;
}

/* ---- issue 10 publish: menu versions, what each node runs ------------------ */

static void ver_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_version *v = (struct store_version *)out + i;
    v->number = sqlite3_column_int64(s, 0);
    v->created_at = sqlite3_column_int64(s, 1);
    copy_col(s, 2, v->author, sizeof v->author);
    copy_col(s, 3, v->note, sizeof v->note);
    copy_col(s, 4, v->state, sizeof v->state);
    copy_col(s, 5, v->approved_by, sizeof v->approved_by);
    v->approved_at = sqlite3_column_int64(s, 6);
    v->files = NULL;
    v->diff = NULL;
}

struct ver_add {
    const struct store_version_new *v;
    int64_t *n_out;
};

/* store_atomic's body: the live one retired and the new one live, or
 * the new one pending. */
static int ver_add_fn(struct store *st, void *arg)
{
    const struct ver_add *a = arg;
    if (a->v->live) {
        int r = run(st, S(st, S_VER_RETIRE), "version retire");
        if (r != STORE_OK)
            return r;
    }
    sqlite3_stmt *s = S(st, S_VER_ADD);
    bi(s, 1, a->v->now);
    bt(s, 2, a->v->author);
    bt(s, 3, a->v->note ? a->v->note : "");
    bt(s, 4, a->v->files);
    bt(s, 5, a->v->diff ? a->v->diff : "");
    bt(s, 6, a->v->live ? "live" : "pending");
    return one_int(st, s, "version add", a->n_out);
}

int store_version_add(struct store *st, const struct store_version_new *v,
                      int64_t *n_out)
{
    if (!v || bad(v->author) || strlen(v->author) >= STORE_ACCOUNT_NAME_MAX ||
        !v->files || (v->note && strlen(v->note) >= STORE_VERSION_NOTE_MAX))
        return STORE_INVALID;
    int64_t n = 0;
    struct ver_add a = { v, &n };
    int r = store_atomic(st, ver_add_fn, &a);
    if (n_out)
        *n_out = r == STORE_OK ? n : 0;
    return r;
}

struct ver_decide {
    int64_t n;
    bool approve;
    const char *by;
    int64_t now;
};

static int ver_decide_fn(struct store *st, void *arg)
{
    const struct ver_decide *a = arg;
    if (a->approve) {
        /* only when n is pending: else nothing changes (checked below) */
        sqlite3_stmt *g = S(st, S_VER_GET);
        bi(g, 1, a->n);
        int r = row(st, g, "version get");
        if (r != STORE_OK)
            return r;
        bool pending = strcmp((const char *)sqlite3_column_text(g, 4),
                              "pending") == 0;
        sqlite3_reset(g);
        if (!pending)
            return STORE_NOTFOUND;
        if ((r = run(st, S(st, S_VER_RETIRE), "version retire")) != STORE_OK)
            return r;
    }
    sqlite3_stmt *s = S(st, S_VER_DECIDE);
    bi(s, 1, a->n);
    bt(s, 2, a->approve ? "live" : "rejected");
    bt(s, 3, a->by);
    bi(s, 4, a->now);
    return run_changed(st, s, "version decide");
}

int store_version_decide(struct store *st, int64_t n, bool approve,
                         const char *by, int64_t now)
{
    if (bad(by))
        return STORE_INVALID;
    struct ver_decide a = { n, approve, by, now };
    return store_atomic(st, ver_decide_fn, &a);
}

int store_version_live(struct store *st, int64_t *n_out)
{
    *n_out = 0;
    return one_int(st, S(st, S_VER_LIVE), "version live", n_out);
}

static char *col_dup(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return strdup(t ? (const char *)t : "");
}

int store_version_get(struct store *st, int64_t n, struct store_version *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = S(st, S_VER_GET);
    bi(s, 1, n);
    int r = row(st, s, "version get");
    if (r != STORE_OK)
        return r;
    ver_row(s, out, 0);
    out->files = col_dup(s, 7);
    out->diff = col_dup(s, 8);
    sqlite3_reset(s);
    if (!out->files || !out->diff) {
        store_version_clear(out);
        seterr(st, "version get: out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

void store_version_clear(struct store_version *v)
{
    if (!v)
        return;
    free(v->files);
    free(v->diff);
    v->files = v->diff = NULL;
}

int store_version_list(struct store *st, int64_t before,
                       struct store_version *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_VER_LIST);
    bi(s, 1, before > 0 ? before : INT64_MAX);
    bi(s, 2, (int64_t)max);
    return rows(st, s, ver_row, out, max, n_out, "version list");
}

int store_node_seen(struct store *st, const char *node, int64_t version,
                    const char *source, int64_t now)
{
    if (bad(node) || strlen(node) >= STORE_NODE_NAME_MAX || !source ||
        (strcmp(source, "console") != 0 && strcmp(source, "files") != 0))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_NODE_SEEN);
    bt(s, 1, node);
    bi(s, 2, version);
    bt(s, 3, source);
    bi(s, 4, now);
    return run(st, s, "node seen");
}

static void node_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_node *n = (struct store_node *)out + i;
    copy_col(s, 0, n->node, sizeof n->node);
    n->version = sqlite3_column_int64(s, 1);
    copy_col(s, 2, n->source, sizeof n->source);
    n->seen_at = sqlite3_column_int64(s, 3);
}

int store_node_list(struct store *st, struct store_node *out, size_t max,
                    size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_NODE_LIST);
    bi(s, 1, (int64_t)max);
    return rows(st, s, node_row, out, max, n_out, "node list");
}

int store_audit_list(struct store *st, const struct store_audit_filter *f,
                     struct store_audit_rec *out, size_t max, size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *s = S(st, S_AUDIT_LIST);
    bt(s, 1, f && f->actor ? f->actor : "");
    bt(s, 2, f && f->action ? f->action : "");
    bi(s, 3, f ? f->from : 0);
    bi(s, 4, f && f->to ? f->to : INT64_MAX);
    bi(s, 5, f && f->before_id ? f->before_id : INT64_MAX);
    bi(s, 6, (int64_t)max);
    return rows(st, s, audit_row, out, max, n_out, "audit list");
}

/* ---- outbox ----------------------------------------------------------------- */

int store_msgid_parse(const char *id, int64_t *dec, int64_t *hex)
{
    int mask = 0;
    size_t n = id ? strlen(id) : 0;
    if (n == 0)
        return 0;
    uint64_t d = 0, h = 0;
    bool dok = true, hok = n <= 16;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        int hv = c >= '0' && c <= '9' ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (hv < 0) {
            dok = hok = false;
            break;
        }
        if (hv > 9)
            dok = false;
        if (dok) {
            if (d > (UINT64_MAX - (uint64_t)hv) / 10)
                dok = false;
            else
                d = d * 10 + (uint64_t)hv;
        }
        if (hok)
            h = h << 4 | (uint64_t)hv;
    }
    /* store the 64-bit pattern; values above INT64_MAX read as negative */
    if (dok) {
        mask |= 1;
        if (dec)
            memcpy(dec, &d, sizeof *dec);
    }
    if (hok) {
        mask |= 2;
        if (hex)
            memcpy(hex, &h, sizeof *hex);
    }
    return mask;
}

void store_msg_free(struct store_msg *m)
{
    if (!m)
        return;
    char **f[] = { &m->client, &m->idem_key, &m->to, &m->text, &m->tmpl,
                   &m->data, &m->lang, &m->callback_url, &m->smsc,
                   &m->smsc_msgid, &m->sender, &m->via };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        free(*f[i]);
    free(m);
}

static bool dup_col(sqlite3_stmt *s, int col, char **dst)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t) {
        *dst = NULL;
        return sqlite3_errcode(sqlite3_db_handle(s)) != SQLITE_NOMEM;
    }
    *dst = strdup((const char *)t);
    return *dst != NULL;
}

/* A row of MSG_COLS as a new struct store_msg; NULL when out of memory. */
static struct store_msg *row_to_msg(sqlite3_stmt *s)
{
    struct store_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->id = sqlite3_column_int64(s, 0);
    m->state = state_from_name((const char *)sqlite3_column_text(s, 1));
    bool ok = dup_col(s, 2, &m->client) && dup_col(s, 3, &m->idem_key) &&
              dup_col(s, 4, &m->to) && dup_col(s, 5, &m->text) &&
              dup_col(s, 6, &m->tmpl) && dup_col(s, 7, &m->data) &&
              dup_col(s, 8, &m->lang) && dup_col(s, 9, &m->callback_url) &&
              dup_col(s, 10, &m->smsc) && dup_col(s, 11, &m->smsc_msgid) &&
              dup_col(s, 22, &m->sender) && dup_col(s, 23, &m->via);
    m->law_required = sqlite3_column_int(s, 12) != 0;
    m->attempts = sqlite3_column_int(s, 13);
    m->err = sqlite3_column_int(s, 14);
    m->next_attempt_at = sqlite3_column_int64(s, 15);
    m->expires_at = sqlite3_column_int64(s, 16);
    m->lease_until = sqlite3_column_int64(s, 17);
    m->created_at = sqlite3_column_int64(s, 18);
    m->updated_at = sqlite3_column_int64(s, 19);
    m->submitted_at = sqlite3_column_int64(s, 20);
    m->done_at = sqlite3_column_int64(s, 21);
    if (!ok) {
        store_msg_free(m);
        return NULL;
    }
    return m;
}

int store_enqueue(struct store *st, const struct store_msg_new *m, int64_t now,
                  int64_t *id_out)
{
    if (!m || bad(m->to) || (!m->text && bad(m->tmpl)) ||
        (m->idem_key && !*m->idem_key))
        return STORE_INVALID;
    const char *client = m->client ? m->client : "";
    sqlite3_stmt *s = S(st, S_OUT_INSERT);
    bt(s, 1, client);
    bt(s, 2, m->idem_key);
    bt(s, 3, m->to);
    bt(s, 4, m->text);
    bt(s, 5, m->tmpl);
    bt(s, 6, m->data);
    bt(s, 7, m->lang);
    bt(s, 8, m->callback_url);
    bi(s, 9, m->law_required);
    bi(s, 10, m->not_before > now ? m->not_before : now);
    bi(s, 11, m->expires_at);
    bi(s, 12, now);
    bt(s, 13, m->sender);
    bt(s, 14, m->via);
    if (m->req_hash)
        sqlite3_bind_blob(s, 15, m->req_hash, STORE_REQ_HASH_LEN, SQLITE_STATIC);
    /* The id comes from sqlite3_last_insert_rowid(), not from RETURNING:
     * SQLite runs RETURNING through an ephemeral table, i.e. it opens and
     * closes a temporary B-tree and pager per row, which the API's profile
     * showed as ~10% of a POST /v1/messages (bench/bench_api.c). */
    int r = run(st, s, "enqueue");
    if (r != STORE_OK)
        return r;
    if (sqlite3_changes(st->db) == 1) {
        if (id_out)
            *id_out = sqlite3_last_insert_rowid(st->db);
        return STORE_OK;
    }
    if (!m->idem_key)
        return STORE_ERROR;
    /* the key was used: hand back the first message's id */
    s = S(st, S_OUT_BY_IDEM);
    bt(s, 1, client);
    bt(s, 2, m->idem_key);
    r = row(st, s, "enqueue idempotency");
    if (r != STORE_OK)
        return r == STORE_NOTFOUND ? STORE_ERROR : r;
    if (id_out)
        *id_out = sqlite3_column_int64(s, 0);
    /* issue 14 item 8: a row without a hash (written before the
     * migration, or by a writer that gives none) matches any content, as
     * every reuse did before; so does a caller without one */
    const void *had = sqlite3_column_blob(s, 1);
    bool same = !m->req_hash || !had ||
                (sqlite3_column_bytes(s, 1) == STORE_REQ_HASH_LEN &&
                 memcmp(had, m->req_hash, STORE_REQ_HASH_LEN) == 0);
    sqlite3_reset(s);
    return same ? STORE_DUPLICATE : STORE_CONFLICT;
}

/* ---- issue 14 item 9: webhook secrets ---------------------------------------- */

int store_webhook_rotate(struct store *st, const char *client, const void *key,
                         size_t len, int64_t now, int64_t *prev_until)
{
    if (bad(client) || !key || len == 0 || len > STORE_WEBHOOK_KEY_MAX ||
        !prev_until)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_WEBHOOK_ROTATE);
    bt(s, 1, client);
    sqlite3_bind_blob(s, 2, key, (int)len, SQLITE_STATIC);
    bi(s, 3, now);
    bi0(s, 4, *prev_until);
    int r = one_int(st, s, "webhook secret rotate", prev_until);
    return r == STORE_NOTFOUND ? STORE_ERROR : r;
}

/* Column col (a key, or NULL) into k. */
static void webhook_key_col(sqlite3_stmt *s, int col, struct store_webhook_keys *k)
{
    const void *b = sqlite3_column_blob(s, col);
    int n = sqlite3_column_bytes(s, col);
    if (!b || n <= 0 || n > STORE_WEBHOOK_KEY_MAX)
        return;
    memcpy(k->key[k->n], b, (size_t)n);
    k->len[k->n++] = (size_t)n;
}

int store_webhook_keys(struct store *st, int64_t msg_id, int64_t now,
                       struct store_webhook_keys *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = S(st, S_WEBHOOK_FOR_MSG);
    bi(s, 1, msg_id);
    bi(s, 2, now);
    int r = row(st, s, "webhook keys");
    if (r != STORE_OK)
        return r;
    webhook_key_col(s, 0, out);
    webhook_key_col(s, 1, out);
    sqlite3_reset(s);
    return out->n ? STORE_OK : STORE_NOTFOUND;
}

int store_msg_get(struct store *st, int64_t id, struct store_msg **out)
{
    *out = NULL;
    sqlite3_stmt *s = S(st, S_OUT_GET);
    bi(s, 1, id);
    int r = row(st, s, "message get");
    if (r != STORE_OK)
        return r;
    *out = row_to_msg(s);
    sqlite3_reset(s);
    if (!*out) {
        seterr(st, "message get: out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

static int cmp_due(const void *a, const void *b)
{
    const struct store_msg *x = *(const struct store_msg *const *)a;
    const struct store_msg *y = *(const struct store_msg *const *)b;
    if (x->next_attempt_at != y->next_attempt_at)
        return x->next_attempt_at < y->next_attempt_at ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int store_claim_due(struct store *st, int64_t now, int64_t lease_ms,
                    struct store_msg **out, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (max == 0)
        return STORE_OK;
    if (lease_ms <= 0)
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_OUT_CLAIM);
    bi(s, 1, now);
    bi(s, 2, now + lease_ms);
    bi(s, 3, (int64_t)max);
    int rc;
    int r = STORE_OK;
    /* RETURNING: all rows are updated at the first step; read them all
     * (at most max) so the statement completes. */
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n_out >= max || r != STORE_OK)
            continue;
        struct store_msg *m = row_to_msg(s);
        if (!m) {
            seterr(st, "claim: out of memory");
            r = STORE_ERROR;
            continue;
        }
        out[(*n_out)++] = m;
    }
    if (rc != SQLITE_DONE)
        r = fail(st, rc, "claim");
    sqlite3_reset(s);
    if (r == STORE_OK && *n_out > 1)   /* RETURNING has no order */
        qsort(out, *n_out, sizeof *out, cmp_due);
    if (r != STORE_OK) {
        /* Rows already marked stay 'sending' until their lease ends (the
         * statement is atomic: on a step error SQLite undid it). */
        for (size_t i = 0; i < *n_out; i++)
            store_msg_free(out[i]);
        *n_out = 0;
    }
    return r;
}

int store_outbox_gauges(struct store *st, int64_t limit, int64_t *queued,
                        int64_t *oldest_due)
{
    sqlite3_stmt *s = S(st, S_OUT_QUEUED_COUNT);
    bi(s, 1, limit);
    int r = one_int(st, s, "queued count", queued);
    if (r != STORE_OK)
        return r;
    s = S(st, S_OUT_OLDEST_DUE);
    r = row(st, s, "oldest due");
    if (r != STORE_OK)
        return r;
    *oldest_due = sqlite3_column_type(s, 0) == SQLITE_NULL
                      ? 0 : sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_outbox_recover(struct store *st, int64_t now, int64_t *n_out)
{
    sqlite3_stmt *s = S(st, S_OUT_RECOVER);
    bi(s, 1, now);
    bi(s, 2, now == INT64_MAX ? wall_ms() : now);
    int r = run(st, s, "recover leases");
    if (n_out)
        *n_out = r == STORE_OK ? sqlite3_changes(st->db) : 0;
    return r;
}

int store_mark_submitted(struct store *st, int64_t id, const char *smsc,
                         const char *smsc_msgid, int64_t now)
{
    if (bad(smsc) || bad(smsc_msgid))
        return STORE_INVALID;
    int64_t dec = 0, hex = 0;
    int mask = store_msgid_parse(smsc_msgid, &dec, &hex);
    sqlite3_stmt *s = S(st, S_OUT_SUBMITTED);
    bi(s, 1, id);
    bt(s, 2, smsc);
    bt(s, 3, smsc_msgid);
    if (mask & 1)
        bi(s, 4, dec);
    if (mask & 2)
        bi(s, 5, hex);
    bi(s, 6, now);
    int r = run(st, s, "mark submitted");
    if (r == STORE_OK && sqlite3_changes(st->db) == 0) {
        seterr(st, "mark submitted: message %lld is not being sent",
               (long long)id);
        return STORE_NOTFOUND;
    }
    return r;
}

int store_mark_retry(struct store *st, int64_t id, int64_t next_at, int err,
                     bool refund, int64_t now, int *state_out)
{
    sqlite3_stmt *s = S(st, S_OUT_RETRY);
    bi(s, 1, id);
    bi(s, 2, next_at);
    bi(s, 3, err);
    bi(s, 4, refund ? 1 : 0);
    bi(s, 5, now);
    int r = row(st, s, "mark retry");
    if (r != STORE_OK)
        return r;
    if (state_out)
        *state_out = state_from_name((const char *)sqlite3_column_text(s, 0));
    return run(st, s, "mark retry");
}

int store_mark_failed(struct store *st, int64_t id, int err, int64_t now)
{
    sqlite3_stmt *s = S(st, S_OUT_FAILED);
    bi(s, 1, id);
    bi(s, 2, err);
    bi(s, 3, now);
    return run_changed(st, s, "mark failed");
}

int store_receipt(struct store *st, const char *smsc, const char *smsc_msgid,
                  int state, int err, int64_t now, int64_t *id_out)
{
    struct store_receipt_info info;
    int r = store_receipt_ex(st, smsc, smsc_msgid, state, err, now, &info);
    if (id_out)
        *id_out = info.id;
    return r;
}

/* The message's final state from a receipt (S_OUT_RECEIPT_SET): sets
 * out->final_now and out->has_callback when it changed. */
static int receipt_final(struct store *st, int64_t id, int msg_state, int err,
                         int64_t now, struct store_receipt_info *out)
{
    sqlite3_stmt *s = S(st, S_OUT_RECEIPT_SET);
    bi(s, 1, id);
    bt(s, 2, state_names[msg_state]);
    bi(s, 3, err);
    bi(s, 4, now);
    int r = row(st, s, "receipt update");
    if (r == STORE_NOTFOUND)
        return STORE_OK;          /* already final: nothing changed */
    if (r != STORE_OK)
        return r;
    out->has_callback = sqlite3_column_int(s, 0) != 0;
    out->submitted_at = sqlite3_column_int64(s, 1);
    out->final_now = msg_state;
    sqlite3_reset(s);
    return STORE_OK;
}

/* A part's receipt: update the part (unless final), then the message from
 * all its parts.  Inside the receipt's transaction. */
static int part_receipt(struct store *st, int64_t id, int part, int state,
                        int err, int64_t now, struct store_receipt_info *out)
{
    int r = STORE_OK;
    bool changed = false;
    if (state >= 0) {
        sqlite3_stmt *s = S(st, S_PART_SET);
        bi(s, 1, id);
        bi(s, 2, part);
        bt(s, 3, state_names[state]);
        bi(s, 4, err);
        bi(s, 5, now);
        r = run(st, s, "receipt part update");
        changed = r == STORE_OK && sqlite3_changes(st->db) > 0;
    }
    if (r != STORE_OK)
        return r;
    sqlite3_stmt *s = S(st, S_PART_COUNT);
    bi(s, 1, id);
    r = row(st, s, "receipt parts");
    if (r != STORE_OK)
        return r == STORE_NOTFOUND ? STORE_ERROR : r;
    out->parts = sqlite3_column_int(s, 0);
    out->parts_delivered = sqlite3_column_int(s, 1);
    sqlite3_reset(s);
    /* the message: failed / expired at its first failed or expired part,
     * delivered with its last part */
    int msg_state = -1;
    if (changed && state != STORE_MSG_DELIVERED)
        msg_state = state;
    else if (changed && out->parts_delivered == out->parts)
        msg_state = STORE_MSG_DELIVERED;
    if (msg_state < 0)
        return STORE_OK;
    return receipt_final(st, id, msg_state, err, now, out);
}

/* One matching statement: a better (newer message; of one message, a
 * part row) candidate into *id / *part.  STORE_OK also when none. */
static int rf_try(struct store *st, int sid, const char *smsc, const char *text,
                  const int64_t *num, int64_t *id, int *part)
{
    sqlite3_stmt *s = S(st, sid);
    bt(s, 1, smsc);
    if (text)
        bt(s, 2, text);
    else
        bi(s, 2, *num);
    int r = row(st, s, "receipt match");
    if (r == STORE_NOTFOUND)
        return STORE_OK;
    if (r != STORE_OK)
        return r;
    int64_t mid = sqlite3_column_int64(s, 0);
    int p = sqlite3_column_int(s, 1);
    sqlite3_reset(s);
    if (mid > *id || (mid == *id && p > *part)) {
        *id = mid;
        *part = p;
    }
    return STORE_OK;
}

/*
 * The message (and part) a receipt id names: the exact text first, else
 * the same number written in decimal or hex, either way round; the newest
 * message; of one message, the part row.  STORE_NOTFOUND when none.
 */
static int receipt_match(struct store *st, const char *smsc, const char *text,
                         int mask, int64_t dec, int64_t hex, int64_t *id,
                         int *part)
{
    *id = 0;
    *part = 0;
    int r = rf_try(st, S_RF_PART_TEXT, smsc, text, NULL, id, part);
    if (r == STORE_OK)
        r = rf_try(st, S_RF_OUT_TEXT, smsc, text, NULL, id, part);
    if (r != STORE_OK || *id)
        return r != STORE_OK ? r : STORE_OK;
    static const int sids[4] = { S_RF_PART_DEC, S_RF_PART_HEX, S_RF_OUT_DEC,
                                 S_RF_OUT_HEX };
    for (int k = 0; k < 4 && r == STORE_OK; k++) {
        if (mask & 1)
            r = rf_try(st, sids[k], smsc, NULL, &dec, id, part);
        if (r == STORE_OK && (mask & 2))
            r = rf_try(st, sids[k], smsc, NULL, &hex, id, part);
    }
    if (r != STORE_OK)
        return r;
    return *id ? STORE_OK : STORE_NOTFOUND;
}

int store_receipt_ex(struct store *st, const char *smsc,
                     const char *smsc_msgid, int state, int err, int64_t now,
                     struct store_receipt_info *out)
{
    struct store_receipt_info dummy;
    if (!out)
        out = &dummy;
    memset(out, 0, sizeof *out);
    out->final_now = -1;
    if (bad(smsc) || bad(smsc_msgid) ||
        (state != -1 && state != STORE_MSG_DELIVERED &&
         state != STORE_MSG_FAILED && state != STORE_MSG_EXPIRED))
        return STORE_INVALID;
    int64_t dec = 0, hex = 0;
    int mask = store_msgid_parse(smsc_msgid, &dec, &hex);
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    int64_t id = 0;
    int part = 0;
    r = receipt_match(st, smsc, smsc_msgid, mask, dec, hex, &id, &part);
    int found = r;
    sqlite3_stmt *s;
    if (r == STORE_OK && part > 0) {
        out->part = part;
        r = part_receipt(st, id, part, state, err, now, out);
    } else if (r == STORE_OK) {
        out->parts = 1;
        if (state >= 0)
            r = receipt_final(st, id, state, err, now, out);
    }
    if (r == STORE_OK || r == STORE_NOTFOUND) {
        s = S(st, S_RECEIPT_LOG);
        bi(s, 1, now);
        bt(s, 2, smsc);
        bt(s, 3, smsc_msgid);
        bi0(s, 4, found == STORE_OK ? id : 0);
        bt(s, 5, state >= 0 ? state_names[state] : NULL);
        bi(s, 6, err);
        r = run(st, s, "receipt log");
    }
    r = tx_end(st, sp, r);
    if (r != STORE_OK) {
        memset(out, 0, sizeof *out);
        out->final_now = -1;
        return r;
    }
    if (found != STORE_OK)
        return STORE_NOTFOUND;
    out->id = id;
    if (out->part == 0)
        out->parts_delivered = out->final_now == STORE_MSG_DELIVERED;
    return STORE_OK;
}

int store_mark_submitted_parts(struct store *st, int64_t id, const char *smsc,
                               const char *const *msgids, unsigned n,
                               int64_t now)
{
    if (!msgids || n == 0 || bad(smsc))
        return STORE_INVALID;
    for (unsigned i = 0; i < n; i++)
        if (bad(msgids[i]))
            return STORE_INVALID;
    if (n == 1)
        return store_mark_submitted(st, id, smsc, msgids[0], now);
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    r = store_mark_submitted(st, id, smsc, msgids[0], now);
    for (unsigned i = 0; r == STORE_OK && i < n; i++) {
        int64_t dec = 0, hex = 0;
        int mask = store_msgid_parse(msgids[i], &dec, &hex);
        sqlite3_stmt *s = S(st, S_PART_ADD);
        bi(s, 1, id);
        bi(s, 2, (int64_t)i + 1);
        bt(s, 3, smsc);
        bt(s, 4, msgids[i]);
        if (mask & 1)
            bi(s, 5, dec);
        if (mask & 2)
            bi(s, 6, hex);
        r = run(st, s, "message part");
    }
    return tx_end(st, sp, r);
}

int store_msg_parts(struct store *st, int64_t id, int *parts, int *delivered)
{
    sqlite3_stmt *s = S(st, S_PART_COUNT);
    bi(s, 1, id);
    int r = row(st, s, "message parts");
    if (r != STORE_OK)
        return r == STORE_NOTFOUND ? STORE_ERROR : r;
    if (parts)
        *parts = sqlite3_column_int(s, 0);
    if (delivered)
        *delivered = sqlite3_column_int(s, 1);
    sqlite3_reset(s);
    return STORE_OK;
}

int store_receipt_hold(struct store *st, const char *smsc,
                       const char *smsc_msgid, int state, int err,
                       int64_t now, int64_t *id_out)
{
    if (bad(smsc) || bad(smsc_msgid) ||
        strlen(smsc) >= STORE_SMSC_MAX || strlen(smsc_msgid) >= STORE_MSGID_MAX ||
        (state != -1 && state != STORE_MSG_DELIVERED &&
         state != STORE_MSG_FAILED && state != STORE_MSG_EXPIRED))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_HELD_ADD);
    bi(s, 1, now);
    bt(s, 2, smsc);
    bt(s, 3, smsc_msgid);
    bi(s, 4, state);
    bi(s, 5, err);
    int r = run(st, s, "hold receipt");
    if (r == STORE_OK && id_out)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return r;
}

int store_receipt_unhold(struct store *st, int64_t held_id)
{
    sqlite3_stmt *s = S(st, S_HELD_DEL);
    bi(s, 1, held_id);
    return run_changed(st, s, "unhold receipt");
}

static void held_row(sqlite3_stmt *s, void *out, size_t i)
{
    struct store_held_receipt *h = &((struct store_held_receipt *)out)[i];
    h->id = sqlite3_column_int64(s, 0);
    h->at = sqlite3_column_int64(s, 1);
    copy_col(s, 2, h->smsc, sizeof h->smsc);
    copy_col(s, 3, h->msgid, sizeof h->msgid);
    h->state = sqlite3_column_int(s, 4);
    h->err = sqlite3_column_int(s, 5);
}

int store_receipts_held(struct store *st, int64_t after_id,
                        struct store_held_receipt *out, size_t max,
                        size_t *n_out)
{
    *n_out = 0;
    if (max == 0)
        return STORE_OK;
    sqlite3_stmt *s = S(st, S_HELD_LIST);
    bi(s, 1, after_id);
    bi(s, 2, (int64_t)max);
    int r = rows(st, s, held_row, out, max, n_out, "held receipts");
    if (r != STORE_OK)
        *n_out = 0;
    return r;
}

int store_log_message(struct store *st, const char *direction,
                      const char *msisdn, const char *smsc, const char *text,
                      int64_t outbox_id, int64_t now)
{
    if (!direction || (strcmp(direction, "mo") && strcmp(direction, "mt")) ||
        bad(msisdn))
        return STORE_INVALID;
    sqlite3_stmt *s = S(st, S_MSGLOG_ADD);
    bi(s, 1, now);
    bt(s, 2, direction);
    bt(s, 3, msisdn);
    bt(s, 4, smsc);
    bt(s, 5, text);
    bi0(s, 6, outbox_id);
    return run(st, s, "message log");
}

int store_prune(struct store *st, int64_t before, int64_t now, size_t limit,
                int64_t *n_out)
{
    static const enum sid q[] = { S_PRUNE_PARTS, S_PRUNE_OUTBOX,
                                  S_PRUNE_RECEIPTS, S_PRUNE_HELD,
                                  S_PRUNE_MSGLOG, S_PRUNE_LOOKUPS };
    static const char *const what[] = { "prune parts", "prune outbox",
                                        "prune receipts", "prune held receipts",
                                        "prune message log", "prune lookups" };
    int64_t n = 0;
    if (n_out)
        *n_out = 0;
    if (limit == 0)
        return STORE_OK;
    bool sp;
    int r = tx_begin(st, &sp);
    if (r != STORE_OK)
        return r;
    for (size_t i = 0; r == STORE_OK && i < sizeof q / sizeof q[0]; i++) {
        sqlite3_stmt *s = S(st, q[i]);
        bi(s, 1, before);
        bi(s, 2, (int64_t)limit);
        if (q[i] == S_PRUNE_LOOKUPS)
            bi(s, 3, now);
        r = run(st, s, what[i]);
        if (r == STORE_OK)
            n += sqlite3_changes(st->db);
    }
    r = tx_end(st, sp, r);
    if (r == STORE_OK && n_out)
        *n_out = n;
    return r;
}
