/*
 * gateway/menuload.c — a menu set loaded off the loop; see menuload.h for
 * what and why.
 *
 * The hand-off, step by step:
 *   loop    menuload_start: copies the directory name (or, from
 *           menuload_start_sources, the files) into a job, blocks
 *           every signal, creates the worker, restores the mask;
 *   worker  runs menu_set_load_dir_opts or _sources_opts (pure, re-entrant: its own documents,
 *           diagnostics and error list; libfyaml keeps no shared state
 *           between documents), returns the freed memory to the system
 *           (malloc_trim), measures the files, writes one byte on the pipe
 *           and returns; it never touches the loop or the log;
 *   loop    the pipe is readable: drain it, join the worker without
 *           blocking (pthread_tryjoin_np; the byte is the worker's last
 *           act, but a worker descheduled on a busy machine may need a
 *           moment more to exit: then again 1 ms later, from a timer), so
 *           the join orders every write of the worker before the loop's
 *           reads and the loop never waits for it; detach the job, call
 *           done, free what done did not take.
 * The worker keeps the loop's priority on purpose: a worker at nice +10
 * was measured to stall the loop more, not less (preempted while it holds
 * the process's memory-map lock, growing its malloc arena, it makes the
 * loop's page faults wait: 130 ms answers on a busy 2-core machine).
 * Owns: the pipe, its read event, the retry timer, the worker thread and
 * its job.
 * May call: menus/load, menus/menu, base/clock, libevent, pthreads, libc.
 */
#include "gateway/menuload.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "menus/load.h"

struct job {
    char *dir;                 /* or the label of src (issue 10 publish) */
    struct menu_source *src;   /* in-memory files (copies), or NULL */
    size_t nsrc;
    size_t max_bytes;
    int wfd;                   /* the pipe's write end (menuload's) */
    uint64_t started_ms;       /* loop's clock at start, for elapsed */
    pthread_mutex_t *mu;       /* menuload's: orders the worker's writes of */
    bool finished;             /* res before the loop's reads (under mu), in
                                * terms the thread checkers (helgrind) know */
    struct menuload_result res;
};

struct menuload {
    struct event *ev;          /* the pipe's read end, on the loop */
    struct event *retry;       /* the join, tried again (on_joinable) */
    int rfd, wfd;
    menuload_done_fn done;
    void *ud;
    pthread_t th;
    pthread_mutex_t mu;        /* for job->finished (see struct job) */
    struct job *job;           /* the running load; NULL: none */
    bool in_done;              /* inside done: menuload_free is deferred */
    bool freeing;
};

static void job_free(struct job *j)
{
    if (!j)
        return;
    menu_set_unref(j->res.set);
    menu_errors_free(&j->res.errs);
    for (size_t i = 0; j->src && i < j->nsrc; i++) {
        free((char *)j->src[i].name);
        free((char *)j->src[i].text);
    }
    free(j->src);
    free(j->dir);
    free(j);
}

/* The bytes of dir's menu files (menu_file_name: the loader's own
 * filter): what it was given to read, for the operator's log line. */
static size_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        struct stat st;
        if (!menu_file_name(n))
            continue;
        if (fstatat(dirfd(d), n, &st, 0) == 0 && S_ISREG(st.st_mode))
            total += (size_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* The worker thread: the load, then one byte to wake the loop. */
static void *worker(void *arg)
{
    struct job *j = arg;
    struct menu_load_opts o = { .max_bytes = j->max_bytes };
    uint64_t t0 = kz_mono_ms();
    if (j->src)                /* issue 10 publish: a stored version */
        menu_set_load_sources_opts(j->src, j->nsrc, &o, &j->res.set,
                                   &j->res.errs);
    else
        menu_set_load_dir_opts(j->dir, &o, &j->res.set, &j->res.errs);
    j->res.ms = kz_mono_ms() - t0;
    /* libfyaml's documents (hundreds of MB for a hostile set) went back to
     * this thread's malloc arena; give them back to the system here.  Else
     * the loop's first free() of a result block in this arena would do it
     * (glibc trims an arena when a free merges into its top: measured,
     * 36 ms of munmap and madvise on the loop for a flat 2 MiB set). */
    malloc_trim(0);
    if (j->src)
        for (size_t i = 0; i < j->nsrc; i++)
            j->res.bytes += j->src[i].len;
    else
        j->res.bytes = dir_bytes(j->dir);
    pthread_mutex_lock(j->mu);
    j->finished = true;
    pthread_mutex_unlock(j->mu);
    char b = 1;
    while (write(j->wfd, &b, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* The worker has written its byte: join it without waiting, then hand
 * the result to done (loop thread).  A worker that has not quite exited
 * yet is tried again 1 ms later: a blocking join here would put the loop
 * behind the scheduler's choice of when the worker runs again. */
static void on_joinable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct menuload *ml = arg;
    struct job *j = ml->job;
    if (!j)
        return;
    pthread_mutex_lock(&ml->mu);
    bool finished = j->finished;
    pthread_mutex_unlock(&ml->mu);
    if (!finished)
        return;                /* not yet: its byte is still to come */
    if (pthread_tryjoin_np(ml->th, NULL) == EBUSY) {
        struct timeval again = { 0, 1000 };
        evtimer_add(ml->retry, &again);
        return;
    }
    ml->job = NULL;            /* done may start the next load */
    ml->in_done = true;
    ml->done(ml->ud, &j->res);
    ml->in_done = false;
    job_free(j);
    if (ml->freeing)
        menuload_free(ml);
}

/* The pipe is readable: a load has ended (loop thread). */
static void on_ready(evutil_socket_t fd, short what, void *arg)
{
    char buf[16];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    on_joinable(fd, what, arg);
}

struct menuload *menuload_new(struct event_base *base, menuload_done_fn done,
                              void *ud)
{
    struct menuload *ml = calloc(1, sizeof *ml);
    if (!ml)
        return NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(ml);
        return NULL;
    }
    pthread_mutex_init(&ml->mu, NULL);
    ml->rfd = fds[0];
    ml->wfd = fds[1];
    ml->done = done;
    ml->ud = ud;
    ml->ev = event_new(base, ml->rfd, EV_READ | EV_PERSIST, on_ready, ml);
    ml->retry = evtimer_new(base, on_joinable, ml);
    if (!ml->ev || !ml->retry || event_add(ml->ev, NULL) != 0) {
        menuload_free(ml);
        return NULL;
    }
    return ml;
}

/* A new job for dir (or a label), or NULL (out of memory). */
static struct job *job_new(struct menuload *ml, const char *dir,
                           size_t max_bytes)
{
    struct job *j = calloc(1, sizeof *j);
    if (j)
        j->dir = strdup(dir);
    if (!j || !j->dir) {
        job_free(j);
        return NULL;
    }
    j->res.dir = j->dir;
    j->mu = &ml->mu;
    j->max_bytes = max_bytes;
    j->wfd = ml->wfd;
    return j;
}

/* Run j on a new worker (j is taken). */
static int job_start(struct menuload *ml, struct job *j, char *err,
                     size_t errlen)
{
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->started_ms = kz_mono_ms();
    /* the worker is born with every signal blocked: they stay the loop's */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&ml->th, NULL, worker, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        job_free(j);
        snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
        return -1;
    }
    ml->job = j;
    return 0;
}

static int busy_err(const struct menuload *ml, char *err, size_t errlen)
{
    if (ml->job || ml->freeing) {
        snprintf(err, errlen, "a menu load is already running");
        return -1;
    }
    return 0;
}

int menuload_start(struct menuload *ml, const char *dir, size_t max_bytes,
                   char *err, size_t errlen)
{
    if (busy_err(ml, err, errlen) != 0)
        return -1;
    return job_start(ml, job_new(ml, dir, max_bytes), err, errlen);
}

/* issue 10 publish: the files of a stored version, copied. */
int menuload_start_sources(struct menuload *ml, const char *label,
                           const struct menu_source *src, size_t n,
                           size_t max_bytes, char *err, size_t errlen)
{
    if (busy_err(ml, err, errlen) != 0)
        return -1;
    struct job *j = job_new(ml, label, max_bytes);
    if (j && !(j->src = calloc(n ? n : 1, sizeof *j->src))) {
        job_free(j);
        j = NULL;
    }
    for (size_t i = 0; j && i < n; i++) {
        char *name = strdup(src[i].name), *text = malloc(src[i].len + 1);
        j->src[j->nsrc++] = (struct menu_source){ name, text, src[i].len };
        if (!name || !text) {
            job_free(j);
            j = NULL;
        } else {
            memcpy(text, src[i].text, src[i].len);
            text[src[i].len] = '\0';
        }
    }
    return job_start(ml, j, err, errlen);
}

bool menuload_busy(const struct menuload *ml)
{
    return ml->job != NULL;
}

uint64_t menuload_elapsed_ms(const struct menuload *ml)
{
    return ml->job ? kz_mono_ms() - ml->job->started_ms : 0;
}

void menuload_free(struct menuload *ml)
{
    if (!ml)
        return;
    if (ml->in_done) {
        ml->freeing = true;
        return;
    }
    if (ml->job) {
        pthread_join(ml->th, NULL);   /* waits for the load to end */
        job_free(ml->job);
        ml->job = NULL;
    }
    if (ml->ev)
        event_free(ml->ev);
    if (ml->retry)
        event_free(ml->retry);
    close(ml->rfd);
    close(ml->wfd);
    pthread_mutex_destroy(&ml->mu);
    free(ml);
}
