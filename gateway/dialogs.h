/*
 * gateway/dialogs.h — the USSD dialog store: an asynchronous key-value
 * store with per-key TTL and two back-ends behind one interface.
 *
 * What it does: keeps opaque byte strings (a serialised dialog, a
 * remembered language) under short keys, each with a time to live.
 *   - Redis back-end (dialogs_new_redis): one hiredis async connection on
 *     the caller's event_base; every key is one Redis string written with
 *     SET key value PX ttl, so Redis expires idle dialogs itself.  Several
 *     kyzmatd processes pointed at one Redis serve one dialog together: a
 *     dialog started on one continues on the other.
 *   - Memory back-end (dialogs_new_memory): the same operations on a hash
 *     table inside the process (the embedded default, when the config has
 *     no `redis` setting).  Bounded by a maximum entry count.
 * Both behave the same for the caller: same statuses, same ordering, and
 * callbacks that always run later from the event loop.
 *
 * Keys (the scheme; build them with dialogs_key()):
 *     kz:d:{MSISDN}            the subscriber's current dialog
 *     kz:d:{MSISDN}:SUFFIX     a dialog when the link has several per
 *                              subscriber (SUFFIX = its session number or
 *                              user_message_reference, as ussd.c decides)
 *     kz:l:{MSISDN}            the subscriber's remembered language
 * The MSISDN sits in a Redis Cluster hash tag {...}, so every key of one
 * subscriber hashes to one slot (a multi-key command or script over one
 * subscriber's keys stays legal in a cluster).  MSISDN is digits with an
 * optional leading '+', at most DIALOGS_MSISDN_MAX characters.  This module
 * itself speaks to one Redis node; it does not follow MOVED redirections.
 *
 * Calling contract (both back-ends):
 *   - dialogs_get/set/del return 0 when the request was accepted; then its
 *     callback runs EXACTLY ONCE, always later from the event loop, never
 *     from inside the call.  They return -1 only when the store is being
 *     freed, memory ran out, or cb (or key/value with a non-zero length)
 *     is NULL; then the callback is never called.
 *   - Requests on one store complete in the order they were made (Redis
 *     pipelines them on one connection; the memory back-end queues).  One
 *     exception on Redis: a request refused without reaching the server
 *     (UNAVAILABLE while not connected, ERROR for a bad key or value size)
 *     completes in the next loop pass, possibly before earlier requests
 *     still waiting for Redis.  Effects are ordered regardless: Redis
 *     applies commands in the order they were sent.
 *   - A callback may make new requests on the same store.  It must not call
 *     dialogs_free() (free the store from a later loop pass instead).
 *   - Statuses: OK; NOT_FOUND (no such key, or it expired); UNAVAILABLE
 *     (Redis not connected / reconnecting, or the store is being freed);
 *     TIMEOUT (no reply within the request timeout — the late reply, if it
 *     ever comes, is swallowed and the callback is not called again);
 *     ERROR (a Redis error reply, a value or key too large, the memory
 *     back-end full).  Every non-OK result carries a short text.
 *
 * Failure behaviour of the Redis back-end: while not connected every
 * request fails at once (in the next loop pass) with UNAVAILABLE.  The
 * connection is retried with exponential back-off (backoff_min_ms doubling
 * up to backoff_max_ms, with +-25 % jitter); after every connect, AUTH is
 * sent when the URL has a password (AUTH USER PASS when it names a user:
 * Redis 6 ACLs), then the database is selected (or PING sent, for db 0),
 * and only good answers to all of these make the store "up".  A refused
 * AUTH ("AUTH failed: WRONGPASS ...") is a failed attempt like any other:
 * the store stays down and retries with the same back-off.  The password
 * never appears in a description, a reason or an error text of this
 * module.  A connect that does not finish within connect_timeout_ms
 * is abandoned.  If requests are outstanding and nothing at all comes back
 * for stall_ms, the connection is considered dead (e.g. a frozen or
 * unreachable server whose TCP connection never breaks) and is dropped and
 * re-made.  State changes (up; down with the reason) are reported through
 * on_state so the caller can log them.  hiredis 0.14.1 has no timeouts of
 * its own, so all of these are our timers; the hiredis context is never
 * freed inside a hiredis callback (a zero-delay event frees it).
 *
 * Costs: no allocation per request in steady state — request objects come
 * from a free list that grows in slabs, commands are formatted into a stack
 * buffer (values up to about 3.5 KiB; larger ones go through hiredis's own
 * formatter).  hiredis itself still allocates its reply objects and output
 * buffer.  One timer per store covers all requests: every request gets the
 * same timeout, so deadlines come due in the order the requests were made.
 *
 * Ownership: the caller owns the store (dialogs_free()).  Keys and values
 * passed in are only read during the call.  The value handed to a GET
 * callback is valid only during the callback (copy what you keep).
 * Threads: one store belongs to the thread that runs its event_base.
 * The process must ignore SIGPIPE (hiredis writes with plain write()).
 * May call: hiredis (async API + libevent adapter), libevent, libc.
 */
#ifndef KYZMAT_GATEWAY_DIALOGS_H
#define KYZMAT_GATEWAY_DIALOGS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct dialogs;
struct sentinel_addr;

enum dialogs_status {
    DIALOGS_OK = 0,
    DIALOGS_NOT_FOUND,
    DIALOGS_UNAVAILABLE,
    DIALOGS_TIMEOUT,
    DIALOGS_ERROR
};

/* Connection state of a store (the memory back-end is always UP). */
enum dialogs_state {
    DIALOGS_DOWN = 0,       /* not connected; waiting for the next attempt */
    DIALOGS_CONNECTING,     /* connect or database selection under way */
    DIALOGS_UP              /* requests are being served */
};

/* Limits.  A key longer than DIALOGS_KEY_MAX or a value longer than
 * DIALOGS_VALUE_MAX is refused with DIALOGS_ERROR (both back-ends). */
#define DIALOGS_KEY_MAX     128
#define DIALOGS_VALUE_MAX   65536
#define DIALOGS_MSISDN_MAX  32

/* Defaults used when an option is 0. */
#define DIALOGS_DEFAULT_TTL_MS          180000u  /* session timeout */
#define DIALOGS_DEFAULT_REQUEST_MS      300u
#define DIALOGS_DEFAULT_CONNECT_MS      1000u
#define DIALOGS_DEFAULT_BACKOFF_MIN_MS  100u
#define DIALOGS_DEFAULT_BACKOFF_MAX_MS  5000u
#define DIALOGS_DEFAULT_STALL_MS        3000u
#define DIALOGS_DEFAULT_MAX_ENTRIES     1000000u

/* Result handed to a callback.  `value`/`len`: the bytes of a successful
 * GET (len may be 0; value is then non-NULL but not to be read), valid only
 * during the callback; NULL/0 otherwise.  `error`: NULL for OK, else a
 * short human text ("not connected: Connection refused", "timed out after
 * 300 ms", Redis's own error reply, ...), valid only during the callback. */
struct dialogs_result {
    enum dialogs_status status;
    const uint8_t *value;
    size_t len;
    const char *error;
};

/* Completion callback: `arg` is the caller's pointer given with the request. */
typedef void (*dialogs_cb)(void *arg, const struct dialogs_result *res);

/* State report: called on every change to UP and on the change to DOWN
 * (an up connection lost, or the first failed attempt after start, after
 * being up or after dialogs_set_url).  Repeated failed attempts while down
 * are counted in the stats, not reported — unless the reason changes
 * (e.g. "Connection refused" becomes "AUTH failed: WRONGPASS ..."), so a
 * cause is reported once per outage, not once per retry.  `reason` is NULL
 * for UP, else a short text valid only during the call (never containing
 * the password).  It may make requests; it must not free the store or
 * call dialogs_set_url(). */
typedef void (*dialogs_state_cb)(void *arg, enum dialogs_state state,
                                 const char *reason);

/* Options; zero-initialise and set what you need (0 = default above). */
struct dialogs_opts {
    unsigned default_ttl_ms;     /* used when a SET passes ttl_ms 0 */
    unsigned request_timeout_ms; /* Redis: reply deadline per request */
    unsigned connect_timeout_ms; /* Redis: connect + database selection */
    unsigned backoff_min_ms;     /* Redis: first retry delay */
    unsigned backoff_max_ms;     /* Redis: retry delay cap */
    unsigned stall_ms;           /* Redis: silence with requests outstanding
                                    that drops the connection */
    size_t max_entries;          /* memory: entries held at most (live or
                                    expired but not yet swept) */
    dialogs_state_cb on_state;   /* may be NULL */
    void *state_arg;
    /* Redis Sentinel (issue 9; read by dialogs_new only): when nsentinels
     * > 0 the store asks these for `master`'s address before every
     * connect (gateway/sentinel.h), checks with ROLE that it reached a
     * master, and asks again when the connection drops or the server
     * answers READONLY; the url then only gives AUTH and the database
     * (its host is ignored; "" means no AUTH, database 0). */
    const struct sentinel_addr *sentinels;
    size_t nsentinels;
    const char *master;
};

/* Counters since the store was made (never reset). */
struct dialogs_stats {
    uint64_t gets, sets, dels;   /* requests accepted */
    uint64_t ok, not_found;      /* completions by status ... */
    uint64_t unavailable, timeouts, errors;
    uint64_t late_replies;       /* Redis replies that came after TIMEOUT */
    uint64_t connects;           /* Redis: successful connects (up) */
    uint64_t disconnects;        /* Redis: up connections lost or dropped */
    uint64_t connect_failures;   /* Redis: attempts that failed */
    uint64_t stalls;             /* Redis: connections dropped for silence */
    uint64_t inflight;           /* requests accepted, callback not yet run */
    uint64_t entries;            /* memory: entries held now (incl. expired
                                    not yet swept); Redis: 0 */
    uint64_t expired;            /* memory: entries removed by expiry */
};

/* Parsed form of a redis:// URL. */
struct dialogs_redis_url {
    char host[256];              /* name or numeric address, no brackets */
    int port;                    /* default 6379 */
    int db;                      /* default 0 */
    char user[128];              /* ACL user; "" = none (AUTH PASS) */
    char password[512];          /* "" = no AUTH */
};

/* Parse "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" (HOST a name, an IPv4
 * address or an [IPv6] address; PORT 1..65535; DB 0..65535).  USER and
 * PASSWORD may carry %XX escapes (needed for '@', '/', '%' or spaces in
 * them; %00 is refused); ":PASSWORD@" is the classic requirepass form
 * (AUTH PASSWORD), "USER:PASSWORD@" a Redis 6 ACL user (AUTH USER
 * PASSWORD).  A user without a password, an empty password and query
 * strings are refused.  Returns 0, or -1 with a reason in err (the reason
 * never quotes the user info).  Pure: no I/O, no allocation. */
int dialogs_parse_url(const char *url, struct dialogs_redis_url *out,
                      char *err, size_t errlen);

/* Copy `url` into buf (cap bytes, NUL-terminated, truncated if need be)
 * with the password replaced by "***" ("redis://app:***@host:6379/1"), for
 * log lines and --check output.  Text that is not a redis:// URL with user
 * info is copied unchanged.  Returns buf.  Pure. */
const char *dialogs_redact_url(const char *url, char *buf, size_t cap);

/* Make an in-process store on `base` (which must outlive it).  opts may be
 * NULL.  Returns NULL only when memory runs out.  Owned by the caller. */
struct dialogs *dialogs_new_memory(struct event_base *base,
                                   const struct dialogs_opts *opts);

/* Make a Redis store on `base` for `url` (see dialogs_parse_url).  The host
 * name is resolved here, once, with the blocking resolver (call this at
 * start-up or reload, not from the loop's hot path); reconnects use the
 * address found then.  The first connect is started at once but completes
 * later: the store is DOWN/CONNECTING until then and requests fail with
 * UNAVAILABLE — wait for on_state(UP) or dialogs_state() before serving if
 * that matters.  Returns NULL with a reason in err on a bad URL, a name
 * that does not resolve, or no memory.  Owned by the caller. */
struct dialogs *dialogs_new_redis(struct event_base *base, const char *url,
                                  const struct dialogs_opts *opts,
                                  char *err, size_t errlen);

/* Either of the above: memory when url is NULL or "", else Redis. */
struct dialogs *dialogs_new(struct event_base *base, const char *url,
                            const struct dialogs_opts *opts,
                            char *err, size_t errlen);

/* Point a live store at another back-end (SIGHUP with a new redis.url):
 * url as for dialogs_new() — NULL or "" is the memory back-end, else a
 * redis:// URL, resolved here with the blocking resolver as in
 * dialogs_new_redis().  Any kind may become any kind.
 *   - Checked first: on a bad URL or a name that does not resolve it
 *     returns -1 with a reason in err and the store is left exactly as it
 *     was (still serving the old back-end).
 *   - Then the old Redis connection stops taking requests.  Requests
 *     already sent on it keep their place: each is answered by the old
 *     server or fails (TIMEOUT after request_timeout_ms, UNAVAILABLE if
 *     the connection breaks), and every callback still runs exactly once;
 *     the old connection is closed as soon as none is left waiting.
 *     Calling dialogs_set_url() again while an old connection still drains
 *     closes that one at once: its waiting requests fail with UNAVAILABLE
 *     ("redis url changed").
 *   - Ordering holds per connection only: answers from the old server may
 *     complete after requests made later on the new back-end.
 *   - A new Redis back-end starts DOWN/CONNECTING exactly as in
 *     dialogs_new_redis(): until it is up (on_state(UP) again) requests fail
 *     with UNAVAILABLE, so dialogs in flight across the switch may fail or
 *     find nothing — their data stay in the old store; nothing is copied.
 *     A failure to reach the new server is reported through on_state(DOWN).
 *   - The memory back-end's entries are dropped when it is left; a new
 *     memory back-end starts empty and UP (on_state(UP) is called from the
 *     loop).
 *   - Setting the URL the store already uses reconnects all the same
 *     (memory to memory: nothing happens).
 * Must not be called from inside one of this store's callbacks (on_state
 * included).  Returns 0 or -1. */
int dialogs_set_url(struct dialogs *d, const char *url, char *err, size_t errlen);

/* Free the store.  Every request still outstanding gets its callback, from
 * inside this call, with DIALOGS_UNAVAILABLE and error "store closed";
 * such callbacks must not make requests (they get -1).  Must not be
 * called from inside one of this store's callbacks.  NULL is a no-op. */
void dialogs_free(struct dialogs *d);

/* Read `key` (keylen bytes).  Callback: OK with the bytes, NOT_FOUND,
 * UNAVAILABLE, TIMEOUT or ERROR.  Returns 0 or -1 (see the contract). */
int dialogs_get(struct dialogs *d, const char *key, size_t keylen,
                dialogs_cb cb, void *arg);

/* Store `len` bytes of `value` under `key`, replacing any value, expiring
 * after ttl_ms milliseconds (0 = the store's default TTL).  The bytes are
 * copied before the call returns.  Callback: OK, UNAVAILABLE, TIMEOUT or
 * ERROR (on TIMEOUT the write may or may not have happened). */
int dialogs_set(struct dialogs *d, const char *key, size_t keylen,
                const void *value, size_t len, unsigned ttl_ms,
                dialogs_cb cb, void *arg);

/* Remove `key`.  Callback: OK (it existed), NOT_FOUND, UNAVAILABLE,
 * TIMEOUT or ERROR. */
int dialogs_del(struct dialogs *d, const char *key, size_t keylen,
                dialogs_cb cb, void *arg);

/* Key kinds for dialogs_key(). */
enum dialogs_key_kind {
    DIALOGS_KEY_DIALOG = 'd',    /* kz:d:{MSISDN}[:SUFFIX] */
    DIALOGS_KEY_LANG = 'l'       /* kz:l:{MSISDN}[:SUFFIX] */
};

/* Build a key into buf (cap bytes, NUL-terminated).  msisdn: digits with
 * an optional leading '+', 1..DIALOGS_MSISDN_MAX characters.  suffix: NULL
 * or "" for none, else 1..32 characters from [A-Za-z0-9_.-].  Returns the
 * key length, or -1 when an argument is invalid or buf is too small.
 * Pure; meant for stack buffers (DIALOGS_KEY_MAX + 1 bytes always fit). */
int dialogs_key(char *buf, size_t cap, enum dialogs_key_kind kind,
                const char *msisdn, const char *suffix);

/* Current connection state. */
enum dialogs_state dialogs_state(const struct dialogs *d);

/* "memory" or "redis HOST:PORT/DB" — for log lines; owned by the store. */
const char *dialogs_describe(const struct dialogs *d);

/* Copy of the counters. */
void dialogs_get_stats(const struct dialogs *d, struct dialogs_stats *out);

/* Name of a status ("ok", "not found", "unavailable", "timeout",
 * "error"); "?" when out of range. */
const char *dialogs_status_name(enum dialogs_status st);

#endif
