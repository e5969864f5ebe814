/*
 * gateway/menuload.c — a menu set loaded off the loop; see menuload.h for
 * what and why.
 *
 * The hand-off, step by step:
 *   loop    menuload_start: copies the directory name into a job, blocks
 *           every signal, creates the worker, restores the mask;
 *   worker  menu_set_load_dir_opts (pure, re-entrant: its own documents,
 *           diagnostics and error list; libfyaml keeps no shared state
 *           between documents), measures the files, writes one byte on the
 *           pipe and returns; it never touches the loop or the log;
 *   loop    the pipe is readable: drain it, pthread_join (the byte is the
 *           worker's last act, so the join waits microseconds at most, and
 *           it orders every write of the worker before the loop's reads),
 *           detach the job, call done, free what done did not take.
 * Owns: the pipe, its read event, the worker thread and its job.
 * May call: menus/load, menus/menu, base/clock, libevent, pthreads, libc.
 */
#include "gateway/menuload.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
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
    char *dir;
    size_t max_bytes;
    int wfd;                   /* the pipe's write end (menuload's) */
    uint64_t started_ms;       /* loop's clock at start, for elapsed */
    struct menuload_result res;
};

struct menuload {
    struct event *ev;          /* the pipe's read end, on the loop */
    int rfd, wfd;
    menuload_done_fn done;
    void *ud;
    pthread_t th;
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
    free(j->dir);
    free(j);
}

/* The bytes of dir's menu files (*.yaml, *.yml, no dot files): what the
 * loader was given to read, for the operator's log line. */
static size_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name, *dot = strrchr(n, '.');
        struct stat st;
        if (n[0] == '.' || !dot || (strcmp(dot, ".yaml") != 0 && strcmp(dot, ".yml") != 0))
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
    menu_set_load_dir_opts(j->dir, &o, &j->res.set, &j->res.errs);
    j->res.ms = kz_mono_ms() - t0;
    j->res.bytes = dir_bytes(j->dir);
    char b = 1;
    while (write(j->wfd, &b, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* The pipe is readable: a load has ended (loop thread). */
static void on_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct menuload *ml = arg;
    char buf[16];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    struct job *j = ml->job;
    if (!j)
        return;
    pthread_join(ml->th, NULL);
    ml->job = NULL;            /* done may start the next load */
    ml->in_done = true;
    ml->done(ml->ud, &j->res);
    ml->in_done = false;
    job_free(j);
    if (ml->freeing)
        menuload_free(ml);
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
    ml->rfd = fds[0];
    ml->wfd = fds[1];
    ml->done = done;
    ml->ud = ud;
    ml->ev = event_new(base, ml->rfd, EV_READ | EV_PERSIST, on_ready, ml);
    if (!ml->ev || event_add(ml->ev, NULL) != 0) {
        menuload_free(ml);
        return NULL;
    }
    return ml;
}

int menuload_start(struct menuload *ml, const char *dir, size_t max_bytes,
                   char *err, size_t errlen)
{
    if (ml->job || ml->freeing) {
        snprintf(err, errlen, "a menu load is already running");
        return -1;
    }
    struct job *j = calloc(1, sizeof *j);
    if (j)
        j->dir = strdup(dir);
    if (!j || !j->dir) {
        job_free(j);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->res.dir = j->dir;
    j->max_bytes = max_bytes;
    j->wfd = ml->wfd;
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
    close(ml->rfd);
    close(ml->wfd);
    free(ml);
}
