/*
 * gateway/pwhash.c — password hashing on a worker thread; see pwhash.h.
 *
 * The hand-off: the loop appends a job to `todo` under the mutex and
 * signals the condition; the worker takes the first job, runs libsodium
 * outside the lock, appends it to `done`, and writes one byte on the
 * pipe.  The loop's read event drains the pipe, takes the whole `done`
 * list under the lock and calls each job's callback outside it.  So no
 * callback ever runs on the worker, and the loop never waits for a hash:
 * the lock is held only to move list heads.  The worker's dummy hash (for
 * unknown names) is made by the worker itself on first use and touched by
 * no one else.
 * Owns: the worker, its mutex and condition, the two job lists, the pipe
 * and its read event.
 * May call: libsodium, libevent, pthreads, libc.
 */
#include "gateway/pwhash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

struct job {
    STAILQ_ENTRY(job) q;
    bool verify;
    int rc;
    char password[PWHASH_PASSWORD_MAX + 1];
    char hash[PWHASH_STR_MAX];          /* in: stored; out: the new hash */
    pwhash_done_fn *fn;
    void *arg;
};
STAILQ_HEAD(job_list, job);

struct pwhash {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job_list todo, done;         /* under mu */
    bool stop;                          /* under mu */
    unsigned pending;                   /* loop thread: queued + running */
    int rfd, wfd;
    struct event *ev;
    char dummy[PWHASH_STR_MAX];         /* the worker's own */
};

_Static_assert(PWHASH_STR_MAX >= crypto_pwhash_STRBYTES, "hash string fits");

int pwhash_hash_now(const char *password, char out[PWHASH_STR_MAX])
{
    if (sodium_init() < 0 || !password)
        return -1;
    return crypto_pwhash_str(out, password, strlen(password),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

int pwhash_verify_now(const char *stored, const char *password)
{
    if (sodium_init() < 0 || !stored || !password)
        return PWHASH_FAILED;
    return crypto_pwhash_str_verify(stored, password, strlen(password)) == 0
               ? PWHASH_OK : PWHASH_MISMATCH;
}

static void run_job(struct pwhash *p, struct job *j)
{
    if (!j->verify) {
        j->rc = pwhash_hash_now(j->password, j->hash) == 0 ? PWHASH_OK
                                                            : PWHASH_FAILED;
    } else if (j->hash[0]) {
        j->rc = pwhash_verify_now(j->hash, j->password);
    } else {
        /* an unknown name: spend the same time, then say no */
        if (!p->dummy[0] && pwhash_hash_now("kyzmat: no such account",
                                            p->dummy) != 0)
            p->dummy[0] = '\0';
        if (p->dummy[0])
            pwhash_verify_now(p->dummy, j->password);
        j->rc = PWHASH_MISMATCH;
    }
    sodium_memzero(j->password, sizeof j->password);
}

static void *worker(void *arg)
{
    struct pwhash *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && STAILQ_EMPTY(&p->todo))
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        struct job *j = STAILQ_FIRST(&p->todo);
        STAILQ_REMOVE_HEAD(&p->todo, q);
        pthread_mutex_unlock(&p->mu);
        run_job(p, j);
        pthread_mutex_lock(&p->mu);
        STAILQ_INSERT_TAIL(&p->done, j, q);
        char b = 1;
        while (write(p->wfd, &b, 1) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void job_end(struct job *j, int rc)
{
    j->fn(j->arg, rc, rc == PWHASH_OK && !j->verify ? j->hash : NULL);
    sodium_memzero(j, sizeof *j);
    free(j);
}

/* The pipe is readable: hand every finished job to its callback. */
static void on_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct pwhash *p = arg;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    struct job_list done = STAILQ_HEAD_INITIALIZER(done);
    pthread_mutex_lock(&p->mu);
    STAILQ_CONCAT(&done, &p->done);
    pthread_mutex_unlock(&p->mu);
    struct job *j;
    while ((j = STAILQ_FIRST(&done)) != NULL) {
        STAILQ_REMOVE_HEAD(&done, q);
        p->pending--;
        job_end(j, j->rc);
    }
}

struct pwhash *pwhash_new(struct event_base *base)
{
    if (sodium_init() < 0)
        return NULL;
    struct pwhash *p = calloc(1, sizeof *p);
    int fds[2];
    if (!p || pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(p);
        return NULL;
    }
    p->rfd = fds[0];
    p->wfd = fds[1];
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    STAILQ_INIT(&p->todo);
    STAILQ_INIT(&p->done);
    p->ev = event_new(base, p->rfd, EV_READ | EV_PERSIST, on_ready, p);
    if (!p->ev || event_add(p->ev, NULL) != 0) {
        pwhash_free(p);
        return NULL;
    }
    /* the worker is born with every signal blocked: they stay the loop's */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    p->started = pthread_create(&p->th, NULL, worker, p) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!p->started) {
        pwhash_free(p);
        return NULL;
    }
    return p;
}

static int submit(struct pwhash *p, bool verify, const char *stored,
                  const char *password, pwhash_done_fn *fn, void *arg)
{
    if (!p || !password || strlen(password) > PWHASH_PASSWORD_MAX ||
        (stored && strlen(stored) >= PWHASH_STR_MAX) ||
        p->pending >= PWHASH_QUEUE_MAX)
        return -1;
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->verify = verify;
    strcpy(j->password, password);
    if (stored)
        strcpy(j->hash, stored);
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&p->mu);
    STAILQ_INSERT_TAIL(&p->todo, j, q);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    p->pending++;
    return 0;
}

int pwhash_hash(struct pwhash *p, const char *password, pwhash_done_fn *fn,
                void *arg)
{
    return submit(p, false, NULL, password, fn, arg);
}

int pwhash_verify(struct pwhash *p, const char *stored, const char *password,
                  pwhash_done_fn *fn, void *arg)
{
    return submit(p, true, stored ? stored : "", password, fn, arg);
}

unsigned pwhash_pending(const struct pwhash *p)
{
    return p ? p->pending : 0;
}

void pwhash_free(struct pwhash *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    struct job *j;
    STAILQ_CONCAT(&p->done, &p->todo);
    while ((j = STAILQ_FIRST(&p->done)) != NULL) {
        STAILQ_REMOVE_HEAD(&p->done, q);
        job_end(j, PWHASH_CANCELLED);
    }
    if (p->ev)
        event_free(p->ev);
    close(p->rfd);
    close(p->wfd);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    sodium_memzero(p->dummy, sizeof p->dummy);
    free(p);
}
