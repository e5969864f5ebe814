/*
 * gateway/pwhash.h — password hashing off the loop (issue 10 console).
 *
 * What it does: hashes and verifies console passwords with libsodium's
 * crypto_pwhash_str / crypto_pwhash_str_verify (Argon2id, the
 * "interactive" limits: 64 MiB and tens of ms per call on purpose).  That
 * is far too slow for the event loop, so the loop's calls (pwhash_hash,
 * pwhash_verify) queue a job for one worker thread and return at once;
 * the result comes back on the loop through a pipe (the same hand-off as
 * gateway/menuload: the worker's only contact with the loop is one
 * write(2), no libevent locking), where the job's callback runs.  The
 * command line (kyzmatd --create-admin) has no loop and calls
 * pwhash_hash_now.
 *
 * One worker, jobs in order, at most PWHASH_QUEUE_MAX waiting: a burst of
 * logins costs one core and 64 MiB, never more; beyond that the call
 * refuses (the console answers 503).  Passwords are copied into the job
 * and wiped (sodium_memzero) when the job ends.
 *
 * Ownership: the creator owns struct pwhash; it owns the thread, the
 * queue, the pipe.  A job's arg is the caller's: the callback gets it back
 * exactly once — with the result, or with PWHASH_CANCELLED from
 * pwhash_free (then only to let the caller free what arg holds; answer
 * nothing).  pwhash_free waits for the running job (at most one hash).
 * Loop thread only, except the worker's own function.
 * May call: libsodium, libevent (one read event), pthreads, libc.
 */
#ifndef KYZMAT_GATEWAY_PWHASH_H
#define KYZMAT_GATEWAY_PWHASH_H

#include <stddef.h>

struct event_base;
struct pwhash;

#define PWHASH_STR_MAX 128      /* >= crypto_pwhash_STRBYTES */
#define PWHASH_PASSWORD_MAX 1024
#define PWHASH_QUEUE_MAX 8

enum pwhash_rc {
    PWHASH_OK = 0,        /* hashed; or the password matches */
    PWHASH_MISMATCH,      /* verify: it does not */
    PWHASH_FAILED,        /* out of memory, a malformed stored hash */
    PWHASH_CANCELLED      /* pwhash_free: the job never ran */
};

/* On the loop: rc, and for a hash job the new hash string (NULL else). */
typedef void pwhash_done_fn(void *arg, int rc, const char *hash);

struct pwhash *pwhash_new(struct event_base *base);
/* Queue a hash of password (copied).  0, or -1 when the queue is full or
 * memory short (fn is then not called). */
int pwhash_hash(struct pwhash *p, const char *password, pwhash_done_fn *fn,
                void *arg);
/* Queue a check of password against stored (both copied); stored NULL or
 * "": a dummy hash is checked, so an unknown name costs the same time,
 * and the answer is PWHASH_MISMATCH. */
int pwhash_verify(struct pwhash *p, const char *stored, const char *password,
                  pwhash_done_fn *fn, void *arg);
/* Jobs queued or running. */
unsigned pwhash_pending(const struct pwhash *p);
/* Join the worker (after its running job), call every job left with
 * PWHASH_CANCELLED, free.  NULL is fine.  Not from inside a callback. */
void pwhash_free(struct pwhash *p);

/* Synchronous, for the command line: out gets the hash.  0, or -1. */
int pwhash_hash_now(const char *password, char out[PWHASH_STR_MAX]);
/* Synchronous check (tests): PWHASH_OK or PWHASH_MISMATCH. */
int pwhash_verify_now(const char *stored, const char *password);

#endif
