/*
 * bench/bench_api.c — durable accepts per second of the HTTP API
 * (gateway/api.c): POST /v1/messages answered 202 only after the group
 * commit, with K keep-alive connections each keeping one request in
 * flight, for synchronous NORMAL and FULL.
 *
 * The server runs in a forked child (its own event_base, store and API on
 * 127.0.0.1 port 0) so the client's work is not counted against it; the
 * child reports its port and a fresh token through a pipe and is stopped
 * with SIGTERM by pid.  At the end GET /v1/health gives the number of
 * commits, so the table shows accepts per commit too.  Prints figures;
 * asserts nothing.
 *
 * Usage: bench_api [SECONDS [K]] (default 5 s, K = 64).  The database lives
 * in a new mkdtemp directory under /tmp (removed at the end).
 * Owns: its child process and directory.  May call: gateway/api.h,
 * gateway/store.h, gateway/log.h, libevent, jansson, libc, POSIX.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "gateway/api.h"
#include "gateway/log.h"
#include "gateway/store.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* The child: serve until SIGTERM. */
static int serve(const char *db, enum store_sync sync, int wfd)
{
    char err[256], tok[API_TOKEN_LEN];
    struct store *st;
    log_set_level(KLOG_ERROR);
    if (store_open(db, sync, &st, err, sizeof err) != STORE_OK ||
        api_token_create(st, "bench", "*", tok, sizeof tok, err, sizeof err) !=
            STORE_OK) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    struct event_base *base = event_base_new();
    struct api_opts o = { .listen = "127.0.0.1:0", .max_body = 65536 };
    struct api *api = api_new(base, st, &o, err, sizeof err);
    if (!api) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    struct event *sig = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(sig, NULL);
    dprintf(wfd, "%d %s\n", api_port(api), tok);
    close(wfd);
    event_base_dispatch(base);
    event_free(sig);
    api_free(api);
    event_base_free(base);
    store_close(st);
    return 0;
}

struct client;
struct conn {
    struct client *cl;
    struct evhttp_connection *c;
    int n;
    int nodelay;
};
struct client {
    struct event_base *base;
    const char *token;
    double end;
    long ok, bad, inflight;
    char health[512];
};

static void send_one(struct conn *c);

static void on_resp(struct evhttp_request *req, void *arg)
{
    struct conn *c = arg;
    struct client *cl = c->cl;
    cl->inflight--;
    if (req && evhttp_request_get_response_code(req) == 202)
        cl->ok++;
    else
        cl->bad++;
    if (!c->nodelay) {   /* the client side wants no Nagle delay either */
        int one = 1;
        evutil_socket_t fd =
            bufferevent_getfd(evhttp_connection_get_bufferevent(c->c));
        if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                                  sizeof one) == 0)
            c->nodelay = 1;
    }
    if (mono() < cl->end)
        send_one(c);
    else if (cl->inflight == 0)
        event_base_loopbreak(cl->base);
}

static void send_one(struct conn *c)
{
    struct evhttp_request *req = evhttp_request_new(on_resp, c);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char auth[128], body[128];
    snprintf(auth, sizeof auth, "Bearer %s", c->cl->token);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "Authorization", auth);
    evhttp_add_header(h, "Content-Type", "application/json");
    int len = snprintf(body, sizeof body,
                       "{\"to\":\"+996555%06d\",\"text\":\"Арыз даяр %d\"}",
                       c->n % 1000000, c->n);
    c->n++;
    evbuffer_add(evhttp_request_get_output_buffer(req), body, (size_t)len);
    c->cl->inflight++;
    evhttp_make_request(c->c, req, EVHTTP_REQ_POST, "/v1/messages");
}

static void on_health(struct evhttp_request *req, void *arg)
{
    struct client *cl = arg;
    if (req) {
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(b);
        if (n >= sizeof cl->health)
            n = sizeof cl->health - 1;
        evbuffer_remove(b, cl->health, n);
        cl->health[n] = '\0';
    }
    event_base_loopbreak(cl->base);
}

static void run(const char *dir, enum store_sync sync, double secs, int k)
{
    char db[300];
    snprintf(db, sizeof db, "%s/api-%d.db", dir, (int)sync);
    int fds[2];
    if (pipe(fds) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(serve(db, sync, fds[1]));
    }
    close(fds[1]);
    char line[128] = "";
    FILE *fp = fdopen(fds[0], "r");
    int port = 0;
    char token[API_TOKEN_LEN] = "";
    if (!fp || !fgets(line, sizeof line, fp) ||
        sscanf(line, "%d %67s", &port, token) != 2) {
        fprintf(stderr, "server did not start\n");
        if (fp)
            fclose(fp);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return;
    }
    fclose(fp);
    struct client cl = { .base = event_base_new(), .token = token };
    struct conn *cs = calloc((size_t)k, sizeof *cs);
    for (int i = 0; i < k; i++) {
        cs[i].cl = &cl;
        cs[i].n = i * 100000;
        cs[i].c = evhttp_connection_base_new(cl.base, NULL, "127.0.0.1",
                                             (ev_uint16_t)port);
        evhttp_connection_set_timeout(cs[i].c, 30);
    }
    double t0 = mono();
    cl.end = t0 + secs;
    for (int i = 0; i < k; i++)
        send_one(&cs[i]);
    event_base_dispatch(cl.base);
    double dt = mono() - t0;
    struct evhttp_request *hr = evhttp_request_new(on_health, &cl);
    evhttp_add_header(evhttp_request_get_output_headers(hr), "Host", "127.0.0.1");
    evhttp_make_request(cs[0].c, hr, EVHTTP_REQ_GET, "/v1/health");
    event_base_dispatch(cl.base);
    json_t *j = json_loads(cl.health, 0, NULL);
    long commits = j ? (long)json_integer_value(json_object_get(j, "commits")) : 0;
    json_decref(j);
    printf("%-7s K=%-4d %8.0f accepts/s  (%ld in %.2f s, %ld not 202, %ld "
           "commits, %.1f per commit)\n",
           sync == STORE_SYNC_FULL ? "FULL" : "NORMAL", k, (double)cl.ok / dt,
           cl.ok, dt, cl.bad, commits,
           commits ? (double)cl.ok / (double)commits : 0.0);
    fflush(stdout);
    for (int i = 0; i < k; i++)
        evhttp_connection_free(cs[i].c);
    free(cs);
    event_base_free(cl.base);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    const char *sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char p[320];
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        unlink(p);
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 5.0;
    int k = argc > 2 ? atoi(argv[2]) : 64;
    if (secs <= 0 || k <= 0)
        return 2;
    char dir[] = "/tmp/kzbenchapi.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    printf("bench_api: POST /v1/messages, durable 202s, %.0f s per run, %s\n",
           secs, dir);
    run(dir, STORE_SYNC_NORMAL, secs, k);
    run(dir, STORE_SYNC_FULL, secs, k);
    run(dir, STORE_SYNC_NORMAL, secs, 8);
    run(dir, STORE_SYNC_FULL, secs, 8);
    rmdir(dir);
    return 0;
}
