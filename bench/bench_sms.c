/*
 * bench/bench_sms.c — the measuring side of scripts/bench-sms.sh: the SMS
 * path of kyzmatd next to Kannel's sendsms, driven by the same client.
 *
 * Three subcommands, each printing one RESULT line (figures, never
 * assertions):
 *
 *   load --port P --clients K --n N (--kyzmat TOKEN [--batch B] |
 *        --kannel USER:PASS [--dlr-mask M [--dlr-url URL]]) [--control CPORT]
 *        [--wait S]
 *       (--batch B: B messages per request to kyzmat's POST
 *       /v1/messages/batch, 1..100; N counts messages either way)
 *       N requests over K keep-alive connections to 127.0.0.1:P, one in
 *       flight per connection: kyzmat's POST /v1/messages with a bearer
 *       token (accepted = 202, sent only after the commit), or Kannel's
 *       GET /cgi-bin/sendsms (accepted = 202, "Sent." / "Queued for later
 *       delivery"; --dlr-mask M adds &dlr-mask=M, so that Kannel asks
 *       for receipts as kyzmat always does, and --dlr-url the URL smsbox
 *       calls with each, percent-encoded).  A connection the server closes is dialled again (and
 *       counted).  With --control, the simulator's control port (kyzmat-smsc
 *       `stats`) is read before the load and then polled every millisecond
 *       after it until its submit_sm count has grown by the number
 *       accepted, or has not moved for S seconds (default 20): that gives
 *       messages submitted per second from the load's start.
 *       RESULT accepted=.. rejected=.. reconnects=.. accept_s=.. accept_tput=..
 *              p50_ms=.. p99_ms=.. submitted=.. submit_s=.. submit_tput=..
 *       BENCH_SMS_PROGRESS=1 in the environment also prints the accepts of
 *       each second on stderr.
 *
 *   fill DB ROWS
 *       ROWS queued messages written into kyzmat's SQLite outbox at DB
 *       through gateway/store.h (store_enqueue, 50,000 per transaction), as
 *       the API would have stored them (canonical number, client "bench").
 *       RESULT rows=.. fill_s=.. rows_per_s=..
 *
 *   restart --control CPORT --count M [--timeout S] -- CMD [ARGS...]
 *       Reads the simulator's submit_sm count, starts CMD (fork + exec; it
 *       inherits stdout/stderr and the environment, e.g. LD_PRELOAD), then
 *       polls the count every millisecond: the time from the start of CMD
 *       to its first submit_sm and to its M-th, or until S seconds (default
 *       120) pass or CMD dies.  Then CMD is stopped: SIGTERM, SIGKILL after
 *       15 s; its pid is printed on stderr first.
 *       RESULT first_ms=.. count=.. count_ms=.. (or first_ms=- when none)
 *
 * Owns: its sockets, the child of `restart`, the store it fills.
 * May call: bench/httpc.h, gateway/store.h, gateway/phone.h (phone_canon), libevent,
 * libc, POSIX.  Exit status: 0 when the measurement ran, 1 when it could
 * not (no connection, no control port, store error), 2 on bad usage.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "base/clock.h"
#include "bench/httpc.h"
#include "gateway/api.h"
#include "gateway/phone.h"
#include "gateway/store.h"

/* Seconds on the monotonic clock (base/clock's, in microseconds). */
static double mono(void)
{
    return (double)kz_mono_us() / 1e6;
}

/* ---- the simulator's control port ---------------------------------------- */

/*
 * One control connection, blocking with a 2 s limit per answer (a bench
 * client, not the gateway: nothing else runs on this thread meanwhile).
 */
struct ctl {
    int fd;
    size_t len;
    char buf[8192];
};

static int ctl_open(struct ctl *c, int port)
{
    c->len = 0;
    c->fd = http_dial(port);
    return c->fd < 0 ? -1 : 0;
}

/* The simulator's submit_sm count, or -1 when the answer did not come. */
static long ctl_submits(struct ctl *c)
{
    static const char cmd[] = "stats\n";
    if (send(c->fd, cmd, sizeof cmd - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof cmd - 1))
        return -1;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            *nl = '\0';
            long v = -1;
            const char *p = strstr(c->buf, "\"submits\":");
            if (strncmp(c->buf, "ok ", 3) == 0 && p)
                v = strtol(p + 10, NULL, 10);
            size_t used = (size_t)(nl + 1 - c->buf);
            memmove(c->buf, nl + 1, c->len - used);
            c->len -= used;
            return v;
        }
        if (c->len >= sizeof c->buf - 1)
            return -1;
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        if (poll(&pfd, 1, 2000) <= 0)
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- load ---------------------------------------------------------------- */

struct load;
struct conn {
    struct load *ld;
    struct event *ev;
    int fd;
    size_t inlen;
    double sent_at;
    bool busy;                 /* a request is in flight */
    long msgs;                 /* messages it carries */
    char in[16384];            /* a batch answer: ~50 bytes a message */
};
struct load {
    struct event_base *base;
    int port;
    const char *token;         /* kyzmat: bearer token */
    const char *user, *pass;   /* Kannel: sendsms-user */
    int dlr_mask;              /* Kannel: dlr-mask asked for (0 = none) */
    char dlr_url[512];         /* Kannel: "&dlr-url=..." (encoded) or "" */
    long n, issued, done, ok, bad, reconnects;
    long batch;                /* kyzmat: messages per request (1: POST
                                  /v1/messages, else /v1/messages/batch) */
    long nlat;
    double *lat;               /* ms per accepted request, nlat entries */
    double t0;                 /* load start (mono) */
    long last_ok;              /* at the previous progress tick */
    bool failed;               /* a connection could not be (re)made */
};

/* B messages, one request: {"messages": [...]} into req. */
static int batch_req(struct load *ld, long i, long b, char *req, size_t cap)
{
    static char body[100 * 96 + 32];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"messages\":[");
    for (long k = 0; k < b; k++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "%s{\"to\":\"+996555%06ld\",\"text\":\"Your "
                              "application %ld is ready for collection\"}",
                              k ? "," : "", (i + k) % 1000000, i + k);
    n += (size_t)snprintf(body + n, sizeof body - n, "]}");
    return snprintf(req, cap,
                    "POST /v1/messages/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s", ld->token, n, body);
}

static int send_req(struct conn *c)
{
    struct load *ld = c->ld;
    static char req[100 * 96 + 1024];
    char body[160];
    long i = ld->issued;
    int len;
    c->msgs = 1;
    /* The same message on both systems: plain GSM text, 12-digit number. */
    if (ld->token && ld->batch > 1) {
        c->msgs = ld->n - i < ld->batch ? ld->n - i : ld->batch;
        len = batch_req(ld, i, c->msgs, req, sizeof req);
    } else if (ld->token) {
        int blen = snprintf(body, sizeof body,
                            "{\"to\":\"+996555%06ld\",\"text\":\"Your application "
                            "%ld is ready for collection\"}",
                            i % 1000000, i);
        len = snprintf(req, sizeof req,
                       "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n%s",
                       ld->token, blen, body);
    } else {
        char dlr[32] = "";
        if (ld->dlr_mask > 0)
            snprintf(dlr, sizeof dlr, "&dlr-mask=%d", ld->dlr_mask);
        len = snprintf(req, sizeof req,
                       "GET /cgi-bin/sendsms?username=%s&password=%s&from=kyzmat"
                       "&to=996555%06ld&text=Your+application+%ld+is+ready+for"
                       "+collection%s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                       ld->user, ld->pass, i % 1000000, i, dlr, ld->dlr_url);
    }
    if (len <= 0 || (size_t)len >= sizeof req)
        return -1;
    /* at most ~10 KB into an empty socket buffer: one send does it */
    if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len)
        return -1;
    ld->issued += c->msgs;
    c->busy = true;
    c->sent_at = mono();
    return 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg);

static int conn_open(struct conn *c)
{
    c->inlen = 0;
    c->busy = false;
    c->fd = http_dial(c->ld->port);
    if (c->fd < 0 || evutil_make_socket_nonblocking(c->fd) < 0)
        return -1;
    c->ev = event_new(c->ld->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
    return c->ev && event_add(c->ev, NULL) == 0 ? 0 : -1;
}

static void conn_close(struct conn *c)
{
    if (c->ev)
        event_free(c->ev);
    c->ev = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Next request on c, if any are left; the loop ends when all are answered. */
static void next(struct conn *c)
{
    struct load *ld = c->ld;
    if (ld->issued < ld->n) {
        if (send_req(c) < 0) {
            ld->failed = true;
            event_base_loopbreak(ld->base);
        }
    } else if (ld->done >= ld->n) {
        event_base_loopbreak(ld->base);
    }
}

/* The deferred half of redial(): runs from a one-shot timer, so the old
 * connection's event is freed outside its own callback. */
static void on_redial(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct load *ld = c->ld;
    conn_close(c);
    if (ld->issued >= ld->n) {
        if (ld->done >= ld->n)
            event_base_loopbreak(ld->base);
        return;
    }
    if (conn_open(c) < 0) {
        ld->failed = true;
        event_base_loopbreak(ld->base);
        return;
    }
    next(c);
}

/* Server closed c (after Connection: close, or on its own): stop reading
 * it now, dial again from the next loop pass. */
static void redial(struct conn *c)
{
    struct load *ld = c->ld;
    static const struct timeval now = { 0, 0 };
    if (c->busy) {   /* the answer never came: counted as rejected */
        ld->bad += c->msgs;
        ld->done += c->msgs;
        c->busy = false;
    }
    event_del(c->ev);
    ld->reconnects++;
    if (event_base_once(ld->base, -1, EV_TIMEOUT, on_redial, c, &now) < 0) {
        ld->failed = true;
        event_base_loopbreak(ld->base);
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    struct load *ld = c->ld;
    ssize_t r = recv(fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        redial(c);
        return;
    }
    c->inlen += (size_t)r;
    struct http_answer ans;
    size_t len;
    while ((len = http_answer(c->in, c->inlen, &ans)) > 0) {
        memmove(c->in, c->in + len, c->inlen - len);
        c->inlen -= len;
        c->busy = false;
        ld->done += c->msgs;
        if (ans.status == 202) {
            ld->lat[ld->nlat++] = (mono() - c->sent_at) * 1e3;
            ld->ok += c->msgs;
        } else {
            ld->bad += c->msgs;
        }
        if (ans.closing) {
            c->busy = false;
            redial(c);
            return;
        }
        next(c);
    }
    if (c->inlen >= sizeof c->in - 1) {   /* an answer larger than we read */
        ld->failed = true;
        event_base_loopbreak(ld->base);
    }
}

/* BENCH_SMS_PROGRESS=1: accepts in each second on stderr, to see a rate
 * that drifts as the database grows. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct load *ld = arg;
    fprintf(stderr, "  t=%5.1f s  accepted %ld (+%ld)\n", mono() - ld->t0,
            ld->ok, ld->ok - ld->last_ok);
    ld->last_ok = ld->ok;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
    if (n <= 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* The load command's options into ld, *k, *ctl_port, *wait_s: 0, or 2
 * (usage). */
static int load_args(int argc, char **argv, struct load *ldp, int *k,
                     int *ctl_port, double *wait_s)
{
    struct load ld = *ldp;
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--port") == 0)
            ld.port = atoi(v);
        else if (strcmp(o, "--clients") == 0)
            *k = atoi(v);
        else if (strcmp(o, "--n") == 0)
            ld.n = atol(v);
        else if (strcmp(o, "--kyzmat") == 0)
            ld.token = v;
        else if (strcmp(o, "--batch") == 0)
            ld.batch = atol(v);
        else if (strcmp(o, "--kannel") == 0) {
            static char up[256];
            snprintf(up, sizeof up, "%s", v);
            char *colon = strchr(up, ':');
            if (!colon)
                return 2;
            *colon = '\0';
            ld.user = up;
            ld.pass = colon + 1;
        } else if (strcmp(o, "--dlr-mask") == 0)
            ld.dlr_mask = atoi(v);
        else if (strcmp(o, "--dlr-url") == 0) {
            /* percent-encode everything but unreserved characters */
            size_t n = (size_t)snprintf(ld.dlr_url, sizeof ld.dlr_url, "&dlr-url=");
            for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
                if (n + 4 >= sizeof ld.dlr_url)
                    return 2;
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
                    ld.dlr_url[n++] = (char)*p;
                else
                    n += (size_t)snprintf(ld.dlr_url + n, 4, "%%%02X", *p);
            }
            ld.dlr_url[n] = '\0';
        }
        else if (strcmp(o, "--control") == 0)
            *ctl_port = atoi(v);
        else if (strcmp(o, "--wait") == 0)
            *wait_s = atof(v);
        else {
            fprintf(stderr, "bench_sms load: unknown option %s\n", o);
            return 2;
        }
    }
    if (ld.batch > 100 || (ld.batch > 1 && !ld.token)) {
        fprintf(stderr, "bench_sms load: --batch is 1..100, kyzmat only\n");
        return 2;
    }
    if (ld.port <= 0 || *k <= 0 || ld.n <= 0 || (!ld.token == !ld.user)) {
        fprintf(stderr, "bench_sms load: --port, --clients, --n and one of "
                        "--kyzmat/--kannel are needed\n");
        return 2;
    }
    *ldp = ld;
    return 0;
}

/* Submitted: poll the simulator's control port until its count grew by
 * ok since sub0, or it stalls for wait_s.  The count (-1: no answer), and
 * in *t_sub when it last moved (seconds since t0). */
static long wait_submitted(struct ctl *ctl, long sub0, long ok, double t0,
                           double wait_s, double *t_sub)
{
    long got = -1;
    double last_move = mono();
    long prev = -1;
    for (;;) {
        long s = ctl_submits(ctl);
        double now = mono();
        if (s < 0)
            break;
        got = s - sub0;
        if (got != prev) {
            prev = got;
            last_move = now;
            *t_sub = now - t0;
        }
        if (got >= ok || now - last_move > wait_s)
            break;
        pause_ms(1);
    }
    return got;
}

static int cmd_load(int argc, char **argv)
{
    struct load ld = { .n = 0 };
    int k = 64, ctl_port = 0;
    double wait_s = 20;
    int bad = load_args(argc, argv, &ld, &k, &ctl_port, &wait_s);
    if (bad)
        return bad;
    struct ctl ctl = { .fd = -1 };
    long sub0 = 0;
    if (ctl_port > 0 && (ctl_open(&ctl, ctl_port) < 0 ||
                         (sub0 = ctl_submits(&ctl)) < 0)) {
        fprintf(stderr, "bench_sms load: no answer on control port %d\n", ctl_port);
        return 1;
    }
    ld.base = event_base_new();
    ld.lat = malloc((size_t)ld.n * sizeof *ld.lat);
    struct conn *cs = calloc((size_t)k, sizeof *cs);
    if (!ld.base || !ld.lat || !cs)
        return 1;
    int up = 0;
    for (; up < k; up++) {
        cs[up].ld = &ld;
        cs[up].fd = -1;
        if (conn_open(&cs[up]) < 0)
            break;
    }
    int rc = 0;
    double t0 = mono(), t_acc = 0;
    if (up < k) {
        fprintf(stderr, "bench_sms load: only %d of %d connections to port %d\n",
                up, k, ld.port);
        rc = 1;
    } else {
        struct event *tick = NULL;
        ld.t0 = t0;
        if (getenv("BENCH_SMS_PROGRESS")) {
            struct timeval one = { 1, 0 };
            tick = event_new(ld.base, -1, EV_PERSIST, on_tick, &ld);
            if (tick)
                event_add(tick, &one);
        }
        for (int i = 0; i < k && ld.issued < ld.n; i++)
            next(&cs[i]);
        event_base_dispatch(ld.base);
        if (tick)
            event_free(tick);
        t_acc = mono() - t0;
        if (ld.failed) {
            fprintf(stderr, "bench_sms load: a connection failed after %ld "
                            "answers\n", ld.done);
            rc = 1;
        }
    }
    for (int i = 0; i < k; i++)
        conn_close(&cs[i]);
    free(cs);
    event_base_free(ld.base);

    /* Submitted: poll until the count grew by what was accepted, or it
     * stalls for wait_s. */
    long got = -1;
    double t_sub = 0;
    if (rc == 0 && ctl.fd >= 0)
        got = wait_submitted(&ctl, sub0, ld.ok, t0, wait_s, &t_sub);
    if (ctl.fd >= 0)
        close(ctl.fd);
    qsort(ld.lat, (size_t)ld.nlat, sizeof *ld.lat, cmp_d);
    printf("RESULT accepted=%ld rejected=%ld reconnects=%ld accept_s=%.3f "
           "accept_tput=%.0f p50_ms=%.2f p99_ms=%.2f",
           ld.ok, ld.bad, ld.reconnects, t_acc,
           t_acc > 0 ? (double)ld.ok / t_acc : 0.0, pct(ld.lat, ld.nlat, 0.50),
           pct(ld.lat, ld.nlat, 0.99));
    if (got >= 0)
        printf(" submitted=%ld submit_s=%.3f submit_tput=%.0f", got, t_sub,
               t_sub > 0 ? (double)got / t_sub : 0.0);
    printf("\n");
    free(ld.lat);
    return rc;
}

/* ---- fill ---------------------------------------------------------------- */

static int cmd_fill(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const char *db = argv[0];
    long rows = atol(argv[1]);
    if (rows <= 0)
        return 2;
    char err[256];
    struct store *st = NULL;
    if (store_open(db, STORE_SYNC_NORMAL, &st, err, sizeof err) != STORE_OK ||
        store_attach(st, NULL) != STORE_OK) {   /* batches, flushed here */
        fprintf(stderr, "bench_sms fill: %s\n", err);
        return 1;
    }
    double t0 = mono();
    int64_t now = kz_wall_ms();
    int rc = STORE_OK;
    for (long i = 0; i < rows && rc == STORE_OK;) {
        for (long j = 0; j < 50000 && i < rows && rc == STORE_OK; j++, i++) {
            char raw[32], to[STORE_MSISDN_MAX], text[96];
            snprintf(raw, sizeof raw, "+996555%06ld", i % 1000000);
            snprintf(text, sizeof text,
                     "Your application %ld is ready for collection", i);
            if (phone_canon(raw, to, sizeof to) < 0) {
                rc = STORE_INVALID;
                break;
            }
            struct store_msg_new m = {
                .client = "bench", .to = to, .text = text,
                .not_before = now, .expires_at = now + 86400000,
            };
            rc = store_enqueue(st, &m, now, NULL);
        }
        if (rc == STORE_OK)
            rc = store_flush(st);   /* on an error store_close rolls back */
    }
    double dt = mono() - t0;
    if (rc != STORE_OK)
        fprintf(stderr, "bench_sms fill: %s (%s)\n", store_rc_name(rc),
                store_errmsg(st));
    store_close(st);
    if (rc != STORE_OK)
        return 1;
    printf("RESULT rows=%ld fill_s=%.2f rows_per_s=%.0f\n", rows, dt,
           (double)rows / dt);
    return 0;
}

/* ---- restart ------------------------------------------------------------- */

/* SIGTERM, poll up to 15 s, then SIGKILL; reaps the child. */
static void stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 1500; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        pause_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int cmd_restart(int argc, char **argv)
{
    int ctl_port = 0, i = 0;
    long count = 1;
    double timeout_s = 120;
    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (strcmp(argv[i], "--control") == 0)
            ctl_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--count") == 0)
            count = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout_s = atof(argv[i + 1]);
        else
            return 2;
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc ||
        ctl_port <= 0 || count <= 0)
        return 2;
    char **cmd = argv + i + 1;
    struct ctl ctl;
    long sub0;
    if (ctl_open(&ctl, ctl_port) < 0 || (sub0 = ctl_submits(&ctl)) < 0) {
        fprintf(stderr, "bench_sms restart: no answer on control port %d\n",
                ctl_port);
        return 1;
    }
    fflush(NULL);
    double t0 = mono();
    pid_t pid = fork();
    if (pid < 0) {
        close(ctl.fd);
        return 1;
    }
    if (pid == 0) {
        close(ctl.fd);
        execv(cmd[0], cmd);
        fprintf(stderr, "bench_sms restart: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    fprintf(stderr, "bench_sms restart: started %s as pid %d\n", cmd[0], (int)pid);
    double first = -1, nth = -1;
    long got = 0;
    bool died = false;
    while (mono() - t0 < timeout_s) {
        long s = ctl_submits(&ctl);
        double now = mono();
        if (s < 0)
            break;
        got = s - sub0;
        if (got > 0 && first < 0)
            first = now - t0;
        if (got >= count) {
            nth = now - t0;
            break;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            died = true;
            break;
        }
        pause_ms(1);
    }
    close(ctl.fd);
    if (!died)
        stop_child(pid);
    else
        fprintf(stderr, "bench_sms restart: %s exited early\n", cmd[0]);
    printf("RESULT");
    if (first >= 0)
        printf(" first_ms=%.1f", first * 1e3);
    else
        printf(" first_ms=-");
    printf(" count=%ld", nth >= 0 ? count : got);
    if (nth >= 0)
        printf(" count_ms=%.1f\n", nth * 1e3);
    else
        printf(" count_ms=-\n");
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "load") == 0)
        return cmd_load(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "fill") == 0)
        return cmd_fill(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "restart") == 0)
        return cmd_restart(argc - 2, argv + 2);
    fprintf(stderr,
            "usage: bench_sms load --port P --clients K --n N "
            "(--kyzmat TOKEN [--batch B] | --kannel USER:PASS [--dlr-mask M [--dlr-url URL]])\n"
            "       [--control CPORT] "
            "[--wait S]\n"
            "       bench_sms fill DB ROWS\n"
            "       bench_sms restart --control CPORT --count M [--timeout S] "
            "-- CMD [ARGS...]\n");
    return 2;
}
