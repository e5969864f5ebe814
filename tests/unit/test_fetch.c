/*
 * tests/unit/test_fetch.c — cmocka tests of gateway/fetch.[ch].
 *
 * The client runs against a real HTTP server inside the test: libevent's
 * evhttp on the same event_base, listening on 127.0.0.1 port 0 (the port is
 * read back, so parallel runs never collide).  Handlers:
 *   /json            a small JSON document (records the client's port, so a
 *                    test can see keep-alive reuse)
 *   /echo            "METHOD|Content-Type|User-Agent|X-Kz|body"
 *   /slow?ms=N       answers after N ms from an evtimer (never a sleep)
 *   /huge?n=N        N bytes, chunked (no Content-Length)
 *   /biglen?n=N      N bytes with a Content-Length
 *   /500, /302       errors; redirects must not be followed
 *   /app             a CON/END app (Africa's Talking contract) that echoes
 *                    the form fields it received
 * A port that was bound and closed again gives "connection refused".
 * Every test drives the loop until a condition holds or a deadline passes
 * (run_until); nothing sleeps.  Pure helpers are checked against vectors.
 *
 * Owns: its event_base, server and client per test.
 * May call: gateway/fetch.h, libevent, libc, POSIX sockets, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "base/xroad.h"
#include "gateway/fetch.h"

/* ---- the in-test HTTP server --------------------------------------------- */

struct pending {
    struct srv *s;
    struct evhttp_request *req;
    struct event *timer;
    struct pending *next;
};

struct srv {
    struct event_base *base;
    struct evhttp *http;
    int port;
    int refused_port;          /* bound once, then closed */
    struct pending *slow;      /* replies not sent yet */
    int slow_started, slow_sent;
    unsigned json_peer_port;   /* client port of the last /json request */
    int json_hits;
    /* issue 13 xroad: what the stand-in security server saw last */
    char xr_uri[256], xr_client[128], xr_id[64], xr_issue[128], xr_user[64];
    int xr_hits;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static long query_long(struct evhttp_request *req, const char *key, long dflt)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!q)
        return dflt;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    long v = dflt;
    if (evhttp_parse_query_str(q, &kv) == 0) {
        const char *s = evhttp_find_header(&kv, key);
        if (s)
            v = strtol(s, NULL, 10);
    }
    evhttp_clear_headers(&kv);
    return v;
}

static void h_json(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    s->json_peer_port = port;
    s->json_hits++;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"data\":{\"status\":\"ready\",\"ready_on\":\"2026-01-02\","
                           "\"items\":[{\"n\":7},2.5,true,null]},\"name\":\"Айгүл\"}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void h_echo(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(in, "Content-Type");
    const char *ua = evhttp_find_header(in, "User-Agent");
    const char *xk = evhttp_find_header(in, "X-Kz");
    const char *m = "?";
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: m = "GET"; break;
    case EVHTTP_REQ_POST: m = "POST"; break;
    case EVHTTP_REQ_PUT: m = "PUT"; break;
    default: break;
    }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s|%s|%s|%s|", m, ct ? ct : "-", ua ? ua : "-", xk ? xk : "-");
    evbuffer_add_buffer(b, evhttp_request_get_input_buffer(req));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void slow_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    struct srv *s = p->s;
    for (struct pending **pp = &s->slow; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"late\":true}");
    /* If the client has gone, libevent detached the request from its
     * connection and this reply only frees it. */
    evhttp_send_reply(p->req, 200, "OK", b);
    evbuffer_free(b);
    event_free(p->timer);
    free(p);
    s->slow_sent++;
}

static void h_slow(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    long ms = query_long(req, "ms", 1000);
    struct pending *p = calloc(1, sizeof *p);
    p->s = s;
    p->req = req;
    p->timer = evtimer_new(s->base, slow_fire, p);
    p->next = s->slow;
    s->slow = p;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
    s->slow_started++;
}

static void h_huge(struct evhttp_request *req, void *arg)
{
    (void)arg;
    long n = query_long(req, "n", 100000);
    evhttp_send_reply_start(req, 200, "OK");
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    struct evbuffer *b = evbuffer_new();
    while (n > 0) {
        size_t k = n > (long)sizeof chunk ? sizeof chunk : (size_t)n;
        evbuffer_add(b, chunk, k);
        evhttp_send_reply_chunk(req, b);
        n -= (long)k;
    }
    evbuffer_free(b);
    evhttp_send_reply_end(req);
}

static void h_biglen(struct evhttp_request *req, void *arg)
{
    (void)arg;
    long n = query_long(req, "n", 100000);
    struct evbuffer *b = evbuffer_new();
    char *mem = malloc((size_t)n + 1);
    memset(mem, 'y', (size_t)n);
    evbuffer_add(b, mem, (size_t)n);
    free(mem);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void h_500(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_error(req, 500, "boom");
}

static void h_302(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/json");
    evhttp_send_reply(req, 302, "Found", NULL);
}

/* The CON/END app: first request (empty text) shows a menu, later ones end
 * with the fields it received. */
static void h_app(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = calloc(1, n + 1);
    evbuffer_copyout(in, body, n);
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    struct evbuffer *b = evbuffer_new();
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || evhttp_parse_query_str(body, &kv)) {
        evbuffer_add_printf(b, "not a form");
    } else {
        const char *text = evhttp_find_header(&kv, "text");
        const char *sid = evhttp_find_header(&kv, "sessionId");
        const char *code = evhttp_find_header(&kv, "serviceCode");
        const char *phone = evhttp_find_header(&kv, "phoneNumber");
        const char *net = evhttp_find_header(&kv, "networkCode");
        if (text && !text[0])
            evbuffer_add_printf(b, "\xEF\xBB\xBF" "CON Welcome\r\n1. Echo\r\n");
        else
            evbuffer_add_printf(b, "END text=%s sid=%s code=%s phone=%s net=%s\n",
                                text ? text : "-", sid ? sid : "-", code ? code : "-",
                                phone ? phone : "-", net ? net : "-");
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    evhttp_clear_headers(&kv);
    free(body);
}

/* issue 13 xroad: a security server in plain HTTP (TLS is the integration
 * test's): it records the X-Road headers; a path with "fault" in it gets
 * an X-Road fault as PR-REST describes one. */
static void h_xroad(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *v;
    s->xr_hits++;
    snprintf(s->xr_uri, sizeof s->xr_uri, "%s", evhttp_request_get_uri(req));
    snprintf(s->xr_client, sizeof s->xr_client, "%s",
             (v = evhttp_find_header(in, "X-Road-Client")) ? v : "-");
    snprintf(s->xr_id, sizeof s->xr_id, "%s", (v = evhttp_find_header(in, "X-Road-Id")) ? v : "-");
    snprintf(s->xr_issue, sizeof s->xr_issue, "%s",
             (v = evhttp_find_header(in, "X-Road-Issue")) ? v : "-");
    snprintf(s->xr_user, sizeof s->xr_user, "%s",
             (v = evhttp_find_header(in, "X-Road-UserId")) ? v : "-");
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json;charset=utf-8");
    struct evbuffer *b = evbuffer_new();
    if (strstr(s->xr_uri, "fault")) {
        evhttp_add_header(out, "X-Road-Error", "Server.ServerProxy.ServiceFailed");
        evbuffer_add_printf(b, "{\"type\":\"Server.ServerProxy.ServiceFailed\","
                               "\"message\":\"Service is down\\nforged\",\"detail\":\"x1\"}");
        evhttp_send_reply(req, strstr(s->xr_uri, "fault200") ? 200 : 500, "X", b);
    } else {
        evbuffer_add_printf(b, "{\"status\":\"ready\"}");
        evhttp_send_reply(req, 200, "OK", b);
    }
    evbuffer_free(b);
}

static int srv_start(struct srv *s, struct event_base *base)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    s->http = evhttp_new(base);
    if (!s->http)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* a deep backlog: 200 clients connect at once */
    struct evconnlistener *l =
        evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                1024, (struct sockaddr *)&sin, sizeof sin);
    if (!l)
        return -1;
    if (!evhttp_bind_listener(s->http, l))
        return -1;
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&got, &gl) != 0)
        return -1;
    s->port = ntohs(got.sin_port);
    evhttp_set_cb(s->http, "/json", h_json, s);
    evhttp_set_cb(s->http, "/echo", h_echo, s);
    evhttp_set_cb(s->http, "/slow", h_slow, s);
    evhttp_set_cb(s->http, "/huge", h_huge, s);
    evhttp_set_cb(s->http, "/biglen", h_biglen, s);
    evhttp_set_cb(s->http, "/500", h_500, s);
    evhttp_set_cb(s->http, "/302", h_302, s);
    evhttp_set_cb(s->http, "/app", h_app, s);
    evhttp_set_gencb(s->http, h_xroad, s);     /* /r1/... (issue 13 xroad) */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);

    /* a port nobody listens on: bind, read it back, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in z = sin;
    if (bind(fd, (struct sockaddr *)&z, sizeof z) != 0 ||
        getsockname(fd, (struct sockaddr *)&got, &gl) != 0) {
        close(fd);
        return -1;
    }
    s->refused_port = ntohs(got.sin_port);
    close(fd);
    return 0;
}

static void srv_stop(struct srv *s)
{
    /* finish replies still pending so evhttp_free frees every request */
    while (s->slow) {
        struct pending *p = s->slow;
        s->slow = p->next;
        evhttp_send_error(p->req, 503, "test over");
        event_free(p->timer);
        free(p);
    }
    if (s->http)
        evhttp_free(s->http);
    s->http = NULL;
}

/* ---- fixture ------------------------------------------------------------- */

#define MAXR 256

struct rec {
    int calls;
    struct fetch_result res;   /* copy, body copied into body */
    char body[512];
    char ctype[64];
    char error[160];           /* res.error, copied */
    char xroad_id[40];         /* res.xroad_id, copied (issue 13 xroad) */
    uint64_t at_ms;            /* when done ran */
};

struct tc {
    struct event_base *base;
    struct srv srv;
    struct fetch *f;
    struct rec rec[MAXR];
    int done_total;
    char url[4][256];          /* url() rotates, so four may be alive at once */
    int nurl;
    /* for callback-driven tests */
    fetch_id other;
    int cancel_rc;
    int start_rc_in_done;
    int order[MAXR];
    int norder;
};

static struct tc *T; /* the running test's fixture (callbacks reach it) */

static int t_setup(void **state)
{
    struct tc *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->base = event_base_new();
    if (!t->base || srv_start(&t->srv, t->base) != 0)
        return -1;
    t->f = fetch_new(t->base, NULL);
    if (!t->f)
        return -1;
    t->cancel_rc = -9;
    T = t;
    *state = t;
    return 0;
}

static int t_teardown(void **state)
{
    struct tc *t = *state;
    fetch_free(t->f);
    srv_stop(&t->srv);
    event_base_free(t->base);
    free(t);
    T = NULL;
    return 0;
}

static const char *url(struct tc *t, const char *path)
{
    char *u = t->url[t->nurl++ % 4];
    snprintf(u, sizeof t->url[0], "http://127.0.0.1:%d%s", t->srv.port, path);
    return u;
}

static void on_done(void *arg, const struct fetch_result *res)
{
    struct rec *r = arg;
    r->calls++;
    r->res = *res;
    size_t n = res->body_len < sizeof r->body - 1 ? res->body_len : sizeof r->body - 1;
    memcpy(r->body, res->body, n);
    r->body[n] = '\0';
    r->res.body = NULL; /* not valid after the callback */
    snprintf(r->ctype, sizeof r->ctype, "%s", res->content_type ? res->content_type : "");
    r->res.content_type = NULL;
    snprintf(r->error, sizeof r->error, "%s", res->error ? res->error : "");
    r->res.error = NULL;
    snprintf(r->xroad_id, sizeof r->xroad_id, "%s", res->xroad_id ? res->xroad_id : "");
    r->res.xroad_id = r->res.xroad_fault = NULL;
    r->at_ms = mono_ms();
    T->order[T->norder++] = (int)(r - T->rec);
    T->done_total++;
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until *counter >= target or max_ms passed; the counter's value. */
static int run_until(struct tc *t, const int *counter, int target, int max_ms)
{
    uint64_t end = mono_ms() + (uint64_t)max_ms;
    struct event *tick = event_new(t->base, -1, EV_PERSIST, wake, NULL);
    struct timeval tv = {0, 20000}; /* wake up to re-check the deadline */
    event_add(tick, &tv);
    while (*counter < target && mono_ms() < end)
        event_base_loop(t->base, EVLOOP_ONCE);
    event_free(tick);
    return *counter;
}

/* Run the loop for ms (to see that nothing more happens). */
static void run_for(struct tc *t, int ms)
{
    int never = 0;
    run_until(t, &never, 1, ms);
}

static struct fetch_req get_req(const char *u, uint32_t timeout_ms)
{
    return (struct fetch_req){.method = "GET", .url = u, .timeout_ms = timeout_ms};
}

/* GET each path of the test server into t->rec[0..n) (3 s timeout, body
 * cap `cap`, 0 = the default). */
static void start_gets(struct tc *t, const char *const *paths, int n, size_t cap)
{
    for (int i = 0; i < n; i++) {
        struct fetch_req r = get_req(url(t, paths[i]), 3000);
        r.max_response_bytes = cap;
        assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[i], NULL), FETCH_OK);
    }
}

/* ---- tests: the client ----------------------------------------------------- */

static void test_get_json_ok(void **state)
{
    struct tc *t = *state;
    struct fetch_req r = get_req(url(t, "/json"), 2000);
    fetch_id id = 0;
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[0], &id), FETCH_OK);
    assert_true(id != 0);
    assert_int_equal(t->rec[0].calls, 0); /* never from inside fetch_start */
    assert_int_equal(fetch_inflight(t->f), 1);
    assert_int_equal(run_until(t, &t->done_total, 1, 5000), 1);
    struct rec *x = &t->rec[0];
    assert_int_equal(x->calls, 1);
    assert_int_equal(x->res.status, FETCH_DONE_OK);
    assert_int_equal(x->res.http_code, 200);
    assert_string_equal(x->ctype, "application/json");
    assert_true(strstr(x->body, "\"ready\"") != NULL);
    assert_int_equal(fetch_inflight(t->f), 0);
    /* the id is dead now */
    assert_int_equal(fetch_cancel(t->f, id), 0);

    /* two more, one after the other: the connection is kept and reused */
    unsigned port1 = t->srv.json_peer_port;
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[i], NULL), FETCH_OK);
        assert_int_equal(run_until(t, &t->done_total, i + 1, 5000), i + 1);
        assert_int_equal(t->rec[i].res.status, FETCH_DONE_OK);
        assert_int_equal(t->srv.json_peer_port, port1);
    }
    assert_int_equal(t->srv.json_hits, 3);
}

static void test_post_ok(void **state)
{
    struct tc *t = *state;
    const char *hdr[] = {"X-Kz: 42"};
    struct fetch_req r = {.method = "POST", .url = url(t, "/echo"), .body = "a=1&b=x+y",
                          .body_len = 9, .headers = hdr, .nheaders = 1, .timeout_ms = 2000};
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[0], NULL), FETCH_OK);
    /* PUT with an explicit content type and a body that has a NUL inside */
    static const char bin[] = {'{', '}', 0, 'z'};
    struct fetch_req p = {.method = "PUT", .url = url(t, "/echo"), .body = bin, .body_len = 4,
                          .content_type = "application/json", .timeout_ms = 2000};
    assert_int_equal(fetch_start(t->f, &p, on_done, &t->rec[1], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 2, 5000), 2);
    assert_int_equal(t->rec[0].res.status, FETCH_DONE_OK);
    assert_string_equal(t->rec[0].body,
                        "POST|application/x-www-form-urlencoded|kyzmat/0.1|42|a=1&b=x+y");
    assert_int_equal(t->rec[1].res.status, FETCH_DONE_OK);
    assert_int_equal(t->rec[1].res.body_len, strlen("PUT|application/json|kyzmat/0.1|-|") + 4);
    assert_memory_equal(t->rec[1].body, "PUT|application/json|kyzmat/0.1|-|{}\0z",
                        t->rec[1].res.body_len);
}

static void test_timeout_on_time(void **state)
{
    struct tc *t = *state;
    struct fetch_req r = get_req(url(t, "/slow?ms=1000"), 200);
    uint64_t t0 = mono_ms();
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[0], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 1, 5000), 1);
    uint64_t took = mono_ms() - t0;
    struct rec *x = &t->rec[0];
    assert_int_equal(x->res.status, FETCH_TIMEOUT);
    assert_int_equal(x->res.http_code, 0);
    print_message("timeout 200 ms: done after %u ms (measured %llu)\n", x->res.elapsed_ms,
                  (unsigned long long)took);
    assert_true(x->res.elapsed_ms >= 195);
    assert_true(x->res.elapsed_ms < 700);
    /* the late answer is harmless: it comes, nothing is called again */
    assert_int_equal(run_until(t, &t->srv.slow_sent, 1, 5000), 1);
    run_for(t, 100);
    assert_int_equal(x->calls, 1);
    assert_int_equal(t->done_total, 1);
    /* and the client still works */
    struct fetch_req g = get_req(url(t, "/json"), 2000);
    assert_int_equal(fetch_start(t->f, &g, on_done, &t->rec[1], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 2, 5000), 2);
    assert_int_equal(t->rec[1].res.status, FETCH_DONE_OK);
}

static void test_size_cap(void **state)
{
    struct tc *t = *state;
    static const char *const paths[] = { "/huge?n=200000", "/biglen?n=200000",
                                         "/biglen?n=8192", "/huge?n=8193" };
    start_gets(t, paths, 4, 8192);
    assert_int_equal(run_until(t, &t->done_total, 4, 5000), 4);
    assert_int_equal(t->rec[0].res.status, FETCH_TOO_LARGE); /* chunked: write callback */
    assert_int_equal(t->rec[1].res.status, FETCH_TOO_LARGE); /* Content-Length: curl refuses */
    assert_int_equal(t->rec[2].res.status, FETCH_DONE_OK);   /* exactly the cap */
    assert_int_equal(t->rec[2].res.body_len, 8192);
    assert_int_equal(t->rec[3].res.status, FETCH_TOO_LARGE); /* one byte over */
    for (int i = 0; i < 4; i++)
        assert_int_equal(t->rec[i].calls, 1);
}

static void test_http_error_and_refused(void **state)
{
    struct tc *t = *state;
    static const char *const paths[] = { "/500", "/302" };
    start_gets(t, paths, 2, 0);
    char refused[128];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/json", t->srv.refused_port);
    struct fetch_req r = get_req(refused, 3000);
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[2], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 3, 5000), 3);
    assert_int_equal(t->rec[0].res.status, FETCH_HTTP_ERROR);
    assert_int_equal(t->rec[0].res.http_code, 500);
    assert_int_equal(t->rec[1].res.status, FETCH_HTTP_ERROR); /* not followed */
    assert_int_equal(t->rec[1].res.http_code, 302);
    assert_int_equal(t->rec[2].res.status, FETCH_CONNECT_FAILED);
    assert_int_equal(t->rec[2].res.http_code, 0);
    assert_int_equal(t->srv.json_hits, 0);
}

static void test_bad_requests(void **state)
{
    struct tc *t = *state;
    struct fetch_req r = get_req(url(t, "/json"), 1000);
    struct rec *x = &t->rec[0];
    assert_int_equal(fetch_start(NULL, &r, on_done, x, NULL), FETCH_EINVAL);
    assert_int_equal(fetch_start(t->f, &r, NULL, x, NULL), FETCH_EINVAL);
    r.method = "TRACE";
    assert_int_equal(fetch_start(t->f, &r, on_done, x, NULL), FETCH_EINVAL);
    r.method = "GET";
    r.body = "x";
    r.body_len = 1;
    assert_int_equal(fetch_start(t->f, &r, on_done, x, NULL), FETCH_EINVAL);
    r.body = NULL;
    r.body_len = 0;
    r.timeout_ms = 0;
    assert_int_equal(fetch_start(t->f, &r, on_done, x, NULL), FETCH_EINVAL);
    r.timeout_ms = 1000;
    const char *bad_hdr[] = {"X-A: 1\r\nX-B: 2"};
    r.headers = bad_hdr;
    r.nheaders = 1;
    assert_int_equal(fetch_start(t->f, &r, on_done, x, NULL), FETCH_EINVAL);
    r.headers = NULL;
    r.nheaders = 0;
    struct fetch_req ftp = get_req("ftp://127.0.0.1/x", 1000);
    assert_int_equal(fetch_start(t->f, &ftp, on_done, x, NULL), FETCH_EINVAL);
    struct fetch_req file = get_req("file:///etc/passwd", 1000);
    assert_int_equal(fetch_start(t->f, &file, on_done, x, NULL), FETCH_EINVAL);
    run_for(t, 50);
    assert_int_equal(x->calls, 0);
    assert_int_equal(fetch_inflight(t->f), 0);

    /* max_inflight */
    struct fetch_opts o = {.max_inflight = 2};
    struct fetch *g = fetch_new(t->base, &o);
    assert_non_null(g);
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[1], NULL), FETCH_OK);
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[2], NULL), FETCH_OK);
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[3], NULL), FETCH_EBUSY);
    assert_int_equal(run_until(t, &t->done_total, 2, 5000), 2);
    assert_int_equal(t->rec[1].res.status, FETCH_DONE_OK);
    assert_int_equal(t->rec[3].calls, 0);
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[3], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 3, 5000), 3);
    fetch_free(g);
}

static void test_concurrency(void **state)
{
    struct tc *t = *state;
    enum { N = 200, SLOW = 20, SLOW_MS = 2000 };
    char fast[128], slow[128];
    snprintf(fast, sizeof fast, "http://127.0.0.1:%d/json", t->srv.port);
    snprintf(slow, sizeof slow, "http://127.0.0.1:%d/slow?ms=%d", t->srv.port, SLOW_MS);
    uint64_t t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        /* slow ones spread among the fast ones */
        struct fetch_req r = get_req(i % (N / SLOW) == 0 ? slow : fast, 10000);
        assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[i], NULL), FETCH_OK);
    }
    assert_int_equal(fetch_inflight(t->f), N);
    assert_int_equal(run_until(t, &t->done_total, N, 20000), N);
    uint32_t fast_max = 0, slow_min = UINT32_MAX, fast_sum = 0;
    uint64_t last_fast_at = 0, first_slow_at = UINT64_MAX;
    for (int i = 0; i < N; i++) {
        struct rec *x = &t->rec[i];
        assert_int_equal(x->calls, 1);
        assert_int_equal(x->res.status, FETCH_DONE_OK);
        if (i % (N / SLOW) == 0) {
            if (x->res.elapsed_ms < slow_min)
                slow_min = x->res.elapsed_ms;
            if (x->at_ms < first_slow_at)
                first_slow_at = x->at_ms;
        } else {
            fast_sum += x->res.elapsed_ms;
            if (x->res.elapsed_ms > fast_max)
                fast_max = x->res.elapsed_ms;
            if (x->at_ms > last_fast_at)
                last_fast_at = x->at_ms;
        }
    }
    print_message("%d requests (%d slow at %d ms): fast max %u ms, fast mean %u ms, "
                  "slow min %u ms, all done in %llu ms\n",
                  N, SLOW, SLOW_MS, fast_max, fast_sum / (N - SLOW), slow_min,
                  (unsigned long long)(mono_ms() - t0));
    /* the fast ones did not wait for the slow ones */
    assert_true(slow_min >= SLOW_MS - 5);
    assert_true(last_fast_at <= first_slow_at);
    assert_true(fast_max < SLOW_MS / 2);
    assert_int_equal(fetch_inflight(t->f), 0);
}

/* rec[0] = /json that cancels t->other (a slow one, rec[1]) */
static void cancel_other(void *arg, const struct fetch_result *res)
{
    on_done(arg, res);
    T->cancel_rc = fetch_cancel(T->f, T->other);
}

/* rec[2] and rec[3] each cancel the other; exactly one is reported */
static fetch_id pair[2];
static void cancel_pair(void *arg, const struct fetch_result *res)
{
    on_done(arg, res);
    int me = (int)((struct rec *)arg - &T->rec[2]);
    T->rec[me + 2].res.http_code = fetch_cancel(T->f, pair[1 - me]) + 1000;
    /* cancelling ourselves while being reported is a no-op */
    assert_int_equal(fetch_cancel(T->f, pair[me]), 0);
}

static void test_cancel_in_done(void **state)
{
    struct tc *t = *state;
    struct fetch_req s = get_req(url(t, "/slow?ms=300"), 3000);
    assert_int_equal(fetch_start(t->f, &s, on_done, &t->rec[1], &t->other), FETCH_OK);
    struct fetch_req j = get_req(url(t, "/json"), 3000);
    assert_int_equal(fetch_start(t->f, &j, cancel_other, &t->rec[0], NULL), FETCH_OK);
    assert_int_equal(fetch_start(t->f, &j, cancel_pair, &t->rec[2], &pair[0]), FETCH_OK);
    assert_int_equal(fetch_start(t->f, &j, cancel_pair, &t->rec[3], &pair[1]), FETCH_OK);
    assert_int_equal(run_until(t, &t->srv.slow_sent, 1, 5000), 1); /* the late answer */
    run_for(t, 100);
    assert_int_equal(t->rec[0].calls, 1);
    assert_int_equal(t->cancel_rc, 1);
    assert_int_equal(t->rec[1].calls, 0);
    assert_int_equal(t->rec[2].calls + t->rec[3].calls, 1);
    int who = t->rec[2].calls ? 2 : 3;
    assert_int_equal(t->rec[who].res.http_code, 1001); /* its cancel stopped the other */
    assert_int_equal(t->done_total, 2);
    assert_int_equal(fetch_inflight(t->f), 0);
    /* cancel from outside, and of unknown ids */
    fetch_id id;
    assert_int_equal(fetch_start(t->f, &s, on_done, &t->rec[4], &id), FETCH_OK);
    assert_int_equal(fetch_cancel(t->f, id), 1);
    assert_int_equal(fetch_cancel(t->f, id), 0);
    assert_int_equal(fetch_cancel(t->f, 0), 0);
    assert_int_equal(fetch_cancel(t->f, ((uint64_t)7 << 32) | 999), 0);
    /* the slot is reused with a new generation: the old id stays dead */
    fetch_id id2;
    assert_int_equal(fetch_start(t->f, &j, on_done, &t->rec[5], &id2), FETCH_OK);
    assert_true(id2 != id);
    assert_int_equal(fetch_cancel(t->f, id), 0);
    assert_int_equal(run_until(t, &t->done_total, 3, 5000), 3);
    assert_int_equal(t->rec[5].res.status, FETCH_DONE_OK);
    assert_int_equal(t->rec[4].calls, 0);
}

/* during fetch_free: record and try to start another */
static void shutdown_done(void *arg, const struct fetch_result *res)
{
    on_done(arg, res);
    struct fetch_req r = get_req("http://127.0.0.1:1/x", 1000);
    T->start_rc_in_done = fetch_start(T->f, &r, on_done, &T->rec[MAXR - 1], NULL);
}

static void test_free_in_flight(void **state)
{
    struct tc *t = *state;
    struct fetch_req s = get_req(url(t, "/slow?ms=2000"), 5000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fetch_start(t->f, &s, shutdown_done, &t->rec[i], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->srv.slow_started, 5, 5000), 5);
    fetch_free(t->f);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(t->rec[i].calls, 1);
        assert_int_equal(t->rec[i].res.status, FETCH_SHUTDOWN);
        assert_int_equal(t->order[i], i); /* start order */
    }
    assert_int_equal(t->start_rc_in_done, FETCH_ECLOSED);
    assert_int_equal(t->rec[MAXR - 1].calls, 0);
    t->f = NULL;
    run_for(t, 50);
    assert_int_equal(t->done_total, 5);
}

/* rec[0] (fast) frees the client from inside its own done */
static void free_in_done(void *arg, const struct fetch_result *res)
{
    on_done(arg, res);
    fetch_free(T->f);
    T->f = NULL;
}

static void test_free_in_done(void **state)
{
    struct tc *t = *state;
    struct fetch_req s = get_req(url(t, "/slow?ms=2000"), 5000);
    struct fetch_req j = get_req(url(t, "/json"), 5000);
    assert_int_equal(fetch_start(t->f, &s, on_done, &t->rec[1], NULL), FETCH_OK);
    assert_int_equal(fetch_start(t->f, &j, free_in_done, &t->rec[0], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 2, 5000), 2);
    assert_null(t->f);
    assert_int_equal(t->rec[0].res.status, FETCH_DONE_OK);
    assert_int_equal(t->rec[1].res.status, FETCH_SHUTDOWN);
    assert_int_equal(t->order[0], 0);
    assert_int_equal(t->order[1], 1);
    run_for(t, 50);
    assert_int_equal(t->done_total, 2);
}

/* each done starts the next request, three in a row */
static void chain_done(void *arg, const struct fetch_result *res)
{
    on_done(arg, res);
    struct rec *r = arg;
    int i = (int)(r - T->rec);
    if (i < 2) {
        struct fetch_req q = get_req(T->url[0], 2000);
        T->start_rc_in_done = fetch_start(T->f, &q, chain_done, &T->rec[i + 1], NULL);
        assert_int_equal(T->start_rc_in_done, FETCH_OK);
        assert_int_equal(T->rec[i + 1].calls, 0); /* not from inside fetch_start */
    }
}

static void test_start_in_done(void **state)
{
    struct tc *t = *state;
    struct fetch_req r = get_req(url(t, "/json"), 2000); /* t->url[0] */
    assert_int_equal(fetch_start(t->f, &r, chain_done, &t->rec[0], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 3, 5000), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t->rec[i].calls, 1);
        assert_int_equal(t->rec[i].res.status, FETCH_DONE_OK);
        assert_int_equal(t->order[i], i);
    }
    run_for(t, 50);
    assert_int_equal(t->done_total, 3);
}

static void test_app_roundtrip(void **state)
{
    struct tc *t = *state;
    char body[512];
    size_t blen;
    struct fetch_field fl[] = {{"sessionId", "kz-0001"}, {"serviceCode", "*100#"},
                               {"phoneNumber", "+996555123456"}, {"networkCode", "43709"},
                               {"text", ""}};
    assert_int_equal(fetch_form_encode(fl, 5, body, sizeof body, &blen), FETCH_OK);
    struct fetch_req r = {.method = "POST", .url = url(t, "/app"), .body = body,
                          .body_len = blen, .timeout_ms = 2000};
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[0], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 1, 5000), 1);
    assert_int_equal(t->rec[0].res.status, FETCH_DONE_OK);
    char text[200];
    struct fetch_app_reply ar;
    assert_int_equal(fetch_app_reply_parse(t->rec[0].body, t->rec[0].res.body_len, text,
                                           sizeof text, &ar, NULL, 0),
                     FETCH_OK);
    assert_false(ar.end);
    assert_string_equal(text, "Welcome\n1. Echo");

    fl[4].value = "1*Ош шаары & co";
    assert_int_equal(fetch_form_encode(fl, 5, body, sizeof body, &blen), FETCH_OK);
    r.body_len = blen;
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[1], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, 2, 5000), 2);
    char err[128];
    assert_int_equal(fetch_app_reply_parse(t->rec[1].body, t->rec[1].res.body_len, text,
                                           sizeof text, &ar, err, sizeof err),
                     FETCH_OK);
    assert_true(ar.end);
    assert_string_equal(text, "text=1*Ош шаары & co sid=kz-0001 code=*100# "
                              "phone=+996555123456 net=43709");
}

/* ---- tests: pure helpers ----------------------------------------------- */

static void test_form_and_url_escape(void **state)
{
    (void)state;
    char out[128];
    size_t n;
    struct fetch_field f[] = {{"a b", "x+y=z&w"}, {"text", "1*2#"}, {"u", "Ң~"}, {"e", NULL}};
    assert_int_equal(fetch_form_encode(f, 4, out, sizeof out, &n), FETCH_OK);
    assert_string_equal(out, "a+b=x%2By%3Dz%26w&text=1*2%23&u=%D2%A2%7E&e=");
    assert_int_equal(n, strlen(out));
    assert_int_equal(fetch_form_encode(f, 0, out, sizeof out, &n), FETCH_OK);
    assert_string_equal(out, "");
    /* exact fit and one byte short */
    struct fetch_field g[] = {{"k", "v v"}};
    assert_int_equal(fetch_form_encode(g, 1, out, 6, &n), FETCH_OK); /* "k=v+v" + NUL */
    assert_string_equal(out, "k=v+v");
    assert_int_equal(fetch_form_encode(g, 1, out, 5, &n), FETCH_ENOSPACE);
    assert_string_equal(out, "");
    assert_int_equal(fetch_form_encode(g, 1, out, 0, &n), FETCH_EINVAL);

    assert_int_equal(fetch_url_escape("a b/c?d=e&f~g.h_i-j", 19, out, sizeof out, &n), FETCH_OK);
    assert_string_equal(out, "a%20b%2Fc%3Fd%3De%26f~g.h_i-j");
    assert_int_equal(fetch_url_escape("*100#", 5, out, sizeof out, &n), FETCH_OK);
    assert_string_equal(out, "%2A100%23");
    assert_int_equal(fetch_url_escape("\0\xff", 2, out, sizeof out, &n), FETCH_OK);
    assert_string_equal(out, "%00%FF");
    assert_int_equal(n, 6);
    assert_int_equal(fetch_url_escape("#", 1, out, 4, &n), FETCH_OK);
    assert_int_equal(fetch_url_escape("#", 1, out, 3, &n), FETCH_ENOSPACE);
    assert_int_equal(fetch_url_escape("", 0, out, 1, &n), FETCH_OK);
    assert_string_equal(out, "");
}

static int app(const char *body, size_t len, char *text, size_t cap, struct fetch_app_reply *r)
{
    char err[128];
    int rc = fetch_app_reply_parse(body, len, text, cap, r, err, sizeof err);
    if (rc == FETCH_OK)
        assert_string_equal(err, "");
    else
        assert_true(err[0] != '\0');
    return rc;
}
#define APP(s, text, cap, r) app(s, sizeof(s) - 1, text, cap, r)

static void test_app_reply_vectors(void **state)
{
    (void)state;
    char t[64];
    struct fetch_app_reply r;
    assert_int_equal(APP("CON Pick one\n1. A\n2. B", t, sizeof t, &r), FETCH_OK);
    assert_false(r.end);
    assert_string_equal(t, "Pick one\n1. A\n2. B");
    assert_int_equal(APP("END Thanks", t, sizeof t, &r), FETCH_OK);
    assert_true(r.end);
    assert_string_equal(t, "Thanks");
    assert_int_equal(APP("END", t, sizeof t, &r), FETCH_OK);
    assert_true(r.end);
    assert_string_equal(t, "");
    assert_int_equal(APP("\xEF\xBB\xBF \r\n\tCON  two spaces\r\nline\rx \r\n\r\n", t, sizeof t, &r),
                     FETCH_OK);
    assert_string_equal(t, " two spaces\nline\nx");
    assert_int_equal(r.len, strlen(t));
    assert_int_equal(APP("CON\r\nnext line", t, sizeof t, &r), FETCH_OK);
    assert_string_equal(t, "next line");
    assert_int_equal(APP("END\nx", t, sizeof t, &r), FETCH_OK);
    assert_string_equal(t, "x");
    /* refused */
    assert_int_equal(APP("", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("  \r\n", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("CONTINUE", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("con hello", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("CON:hello", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("CO", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("<html>END</html>", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("\xEF\xBB CON x", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("CON a\xC0\xAF", t, sizeof t, &r), FETCH_EAPP);  /* overlong */
    assert_int_equal(APP("CON a\xED\xA0\x80", t, sizeof t, &r), FETCH_EAPP); /* surrogate */
    assert_int_equal(APP("CON a\0b", t, sizeof t, &r), FETCH_EAPP);
    assert_int_equal(APP("CON \xD2", t, sizeof t, &r), FETCH_EAPP); /* cut sequence */
    assert_string_equal(t, "");
    /* cut at a character boundary: "ңң" is 4 bytes; cap 4 holds 3 + NUL */
    assert_int_equal(APP("END ңң", t, 4, &r), FETCH_OK);
    assert_true(r.truncated);
    assert_string_equal(t, "ң");
    assert_int_equal(APP("END ңң", t, 5, &r), FETCH_OK);
    assert_false(r.truncated);
    assert_string_equal(t, "ңң");
    assert_int_equal(APP("END ab", t, 1, &r), FETCH_OK);
    assert_true(r.truncated);
    assert_string_equal(t, "");
    assert_int_equal(fetch_app_reply_parse("END", 3, t, 0, &r, NULL, 0), FETCH_EINVAL);
}

static void test_json_map_vectors(void **state)
{
    (void)state;
    const char *doc = "{\"data\":{\"status\":\"ready\",\"ready_on\":\"2026-01-02\","
                      "\"items\":[{\"n\":7},2.5,true,null,0.1,-12,1e300]},"
                      "\"name\":\"Айгүл\",\"long\":\"abcdefghij\",\"o\":{}}";
    const char *paths[] = {"$.data.status", "data.ready_on", ".name", "$.data.items[0].n",
                           "$.data.items[1]", "$.data.items[2]", "$.data.items[3]",
                           "$.data.items[9]", "$.data", "$.long", "$.data.items[4]",
                           "$.data.items[5]", "$.missing.x", "$.data.items.x",
                           "$.data.status[0]", "$.data.items[6]", "$.o"};
    enum { NP = sizeof paths / sizeof paths[0] };
    struct fetch_json_value v[NP];
    char buf[256], err[128];
    assert_int_equal(fetch_json_map(doc, strlen(doc), paths, NP, 9, buf, sizeof buf, v, err,
                                     sizeof err),
                     FETCH_OK);
    assert_string_equal(err, "");
    assert_int_equal(v[0].found, FETCH_JSON_FOUND);
    assert_string_equal(v[0].value, "ready");
    assert_int_equal(v[0].len, 5);
    assert_int_equal(v[1].found, FETCH_JSON_TOO_LONG);                 /* 10 bytes > 9 */
    assert_null(v[1].value);
    assert_int_equal(v[2].found, FETCH_JSON_TOO_LONG); /* "Айгүл" is 10 bytes */
    assert_string_equal(v[3].value, "7");
    assert_string_equal(v[4].value, "2.5");
    assert_string_equal(v[5].value, "true");
    assert_int_equal(v[6].found, FETCH_JSON_MISSING); /* null */
    assert_int_equal(v[7].found, FETCH_JSON_MISSING);
    assert_int_equal(v[8].found, FETCH_JSON_NOT_SCALAR);
    assert_int_equal(v[9].found, FETCH_JSON_TOO_LONG);
    assert_string_equal(v[10].value, "0.1");
    assert_string_equal(v[11].value, "-12");
    assert_int_equal(v[12].found, FETCH_JSON_MISSING);
    assert_int_equal(v[13].found, FETCH_JSON_MISSING);
    assert_int_equal(v[14].found, FETCH_JSON_MISSING);
    assert_string_equal(v[15].value, "1e+300");
    assert_int_equal(v[16].found, FETCH_JSON_NOT_SCALAR);

    /* value_max large enough: full strings; bare top-level keys as in menus */
    const char *p2[] = {"name", "data.ready_on", "$", "[0]"};
    assert_int_equal(fetch_json_map(doc, strlen(doc), p2, 4, 120, buf, sizeof buf, v, NULL, 0),
                     FETCH_OK);
    assert_string_equal(v[0].value, "Айгүл");
    assert_string_equal(v[1].value, "2026-01-02");
    assert_int_equal(v[2].found, FETCH_JSON_NOT_SCALAR);
    assert_int_equal(v[3].found, FETCH_JSON_MISSING);
    /* a scalar document and an array root */
    const char *p3[] = {"$", "[1]"};
    assert_int_equal(fetch_json_map("\"hi\"", 4, p3, 1, 10, buf, sizeof buf, v, NULL, 0), FETCH_OK);
    assert_string_equal(v[0].value, "hi");
    assert_int_equal(fetch_json_map("[1,\"b\"]", 7, p3, 2, 10, buf, sizeof buf, v, NULL, 0),
                     FETCH_OK);
    assert_int_equal(v[0].found, FETCH_JSON_NOT_SCALAR);
    assert_string_equal(v[1].value, "b");
    /* buffer too small: nothing reported found */
    assert_int_equal(fetch_json_map(doc, strlen(doc), paths, 1, 9, buf, 5, v, err, sizeof err),
                     FETCH_ENOSPACE);
    assert_int_equal(v[0].found, FETCH_JSON_MISSING);
    assert_int_equal(fetch_json_map(doc, strlen(doc), paths, 1, 9, buf, 6, v, err, sizeof err),
                     FETCH_OK);
    assert_string_equal(v[0].value, "ready");

    /* refused bodies */
    static const char *const bad[] = {
        "",                          /* empty */
        "{\"a\":1,\"a\":2}",         /* duplicate key */
        "{\"a\":\"\xC3\x28\"}",      /* invalid UTF-8 */
        "{\"a\":\"x\\u0000y\"}",     /* NUL inside a string */
        "{\"a\":1} trailing",        /* two texts */
        "{\"a\":",                   /* cut */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(fetch_json_map(bad[i], strlen(bad[i]), paths, 1, 9, buf, sizeof buf, v,
                                        err, sizeof err),
                         FETCH_EJSON);
        assert_true(err[0] != '\0');
        assert_int_equal(v[0].found, FETCH_JSON_MISSING);
    }
    /* refused paths */
    static const char *const badp[] = {"", "$.", "$..a", "a..b", "$[", "$[x]", "$[1", "a]",
                                       "$[1234567890]", "$x", "a.b[0]c",
                                       "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
    for (size_t i = 0; i < sizeof badp / sizeof badp[0]; i++) {
        const char *pp[] = {"$.data.status", badp[i]};
        err[0] = '\0';
        assert_int_equal(fetch_json_map(doc, strlen(doc), pp, 2, 9, buf, sizeof buf, v, err,
                                        sizeof err),
                         FETCH_EPATH);
        assert_true(err[0] != '\0');
    }
    /* 16 segments is the limit, not an error */
    const char *deep[] = {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"};
    assert_int_equal(fetch_json_map(doc, strlen(doc), deep, 1, 9, buf, sizeof buf, v, NULL, 0),
                     FETCH_OK);
    assert_int_equal(v[0].found, FETCH_JSON_MISSING);
    /* names of codes and statuses */
    assert_string_equal(fetch_status_name(FETCH_TIMEOUT), "timeout");
    assert_string_equal(fetch_strerror(FETCH_EJSON), "invalid JSON");
}

/* GET u on g (guarded or not) into t->rec[i]; its status after the run. */
static int guarded_get(struct tc *t, struct fetch *g, const char *u, bool guard,
                       int i)
{
    struct fetch_req r = get_req(u, 3000);
    r.guard = guard;
    int before = t->done_total;
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[i], NULL), FETCH_OK);
    assert_int_equal(run_until(t, &t->done_total, before + 1, 5000), before + 1);
    return t->rec[i].res.status;
}

/* Issue 14 item 9: a guarded request (a callback_url) never reaches a
 * loopback address: not by its literal, not by a name that resolves
 * there (the DNS-rebinding case: "localhost" stands for any name), not
 * over a connection an unguarded request left in the cache; unless the
 * allow-list names the host or a CIDR holding the address. */
static void test_guard_refuses_internal(void **state)
{
    struct tc *t = *state;
    char lit[128], name[128];
    snprintf(lit, sizeof lit, "http://127.0.0.1:%d/json", t->srv.port);
    snprintf(name, sizeof name, "http://localhost:%d/json", t->srv.port);
    assert_int_equal(guarded_get(t, t->f, lit, true, 0), FETCH_CONNECT_FAILED);
    assert_string_equal(t->rec[0].error, FETCH_REFUSED_MSG);
    assert_int_equal(guarded_get(t, t->f, name, true, 1), FETCH_CONNECT_FAILED);
    assert_string_equal(t->rec[1].error, FETCH_REFUSED_MSG);
    assert_int_equal(t->srv.json_hits, 0);
    /* unguarded (a back-end the operator configured): as before, and its
     * connection stays in the cache */
    assert_int_equal(guarded_get(t, t->f, lit, false, 2), FETCH_DONE_OK);
    assert_int_equal(t->srv.json_hits, 1);
    assert_int_equal(guarded_get(t, t->f, lit, true, 3), FETCH_CONNECT_FAILED);
    assert_string_equal(t->rec[3].error, FETCH_REFUSED_MSG);
    assert_int_equal(t->srv.json_hits, 1);

    /* a CIDR lets the addresses in; a name lets its host in, not others */
    char *cidr[] = { "127.0.0.0/8" };
    struct fetch_opts o = { .allow = cidr, .allow_n = 1 };
    struct fetch *g = fetch_new(t->base, &o);
    assert_non_null(g);
    assert_int_equal(guarded_get(t, g, name, true, 4), FETCH_DONE_OK);
    assert_int_equal(guarded_get(t, g, lit, true, 5), FETCH_DONE_OK);
    fetch_free(g);
    char *host[] = { "LocalHost" };
    o.allow = host;
    g = fetch_new(t->base, &o);
    assert_non_null(g);
    assert_int_equal(guarded_get(t, g, name, true, 6), FETCH_DONE_OK);
    assert_int_equal(guarded_get(t, g, lit, true, 7), FETCH_CONNECT_FAILED);
    fetch_free(g);
    assert_int_equal(t->srv.json_hits, 4);
    char *bad[] = { "not a host" };
    o.allow = bad;
    assert_null(fetch_new(t->base, &o));
}

/* ---- issue 13 xroad: calls through a security server -------------------- */

static bool is_uuid4(const char *u)
{
    if (strlen(u) != 36 || u[14] != '4' || !strchr("89ab", u[19]))
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !strchr("0123456789abcdef", u[i]))
            return false;
    }
    return true;
}

/* The url, the headers and a fresh X-Road-Id per request; a fault. */
static void test_xroad_call(void **state)
{
    struct tc *t = *state;
    char ss[64];
    snprintf(ss, sizeof ss, "http://127.0.0.1:%d/", t->srv.port);
    struct xroad_conf xc = { .security_server = ss, .client = "KG/GOV/70000003/kyz mat",
                             .user_id = "KG123" };
    struct fetch_opts o = { .xroad = &xc };
    struct fetch *g = fetch_new(t->base, &o);
    assert_non_null(g);
    const char *call = "xroad:/r1/KG/GOV/70000001/tax-sub/getStatus/status/12%2F3?x=1#A-1%20x";
    assert_int_equal(guarded_get(t, g, call, false, 0), FETCH_DONE_OK);
    assert_string_equal(t->srv.xr_uri, "/r1/KG/GOV/70000001/tax-sub/getStatus/status/12%2F3?x=1");
    assert_string_equal(t->srv.xr_client, "KG/GOV/70000003/kyz%20mat");
    assert_string_equal(t->srv.xr_issue, "A-1 x");
    assert_string_equal(t->srv.xr_user, "KG123");
    assert_true(is_uuid4(t->srv.xr_id));
    assert_string_equal(t->rec[0].xroad_id, t->srv.xr_id);
    char first[64];
    snprintf(first, sizeof first, "%s", t->srv.xr_id);
    /* no issue: no header; a new X-Road-Id */
    assert_int_equal(guarded_get(t, g, "xroad:/r1/KG/GOV/70000001/tax-sub/getStatus", false, 1),
                     FETCH_DONE_OK);
    assert_string_equal(t->srv.xr_issue, "-");
    assert_true(is_uuid4(t->srv.xr_id));
    assert_string_not_equal(first, t->srv.xr_id);
    /* a fault, with a 500 and with a 200: never the agency's answer */
    assert_int_equal(guarded_get(t, g, "xroad:/r1/KG/GOV/70000001/tax-sub/fault", false, 2),
                     FETCH_XROAD_FAULT);
    assert_int_equal(t->rec[2].res.http_code, 500);
    assert_non_null(strstr(t->rec[2].error, "Server.ServerProxy.ServiceFailed"));
    assert_non_null(strstr(t->rec[2].error, "KG/GOV/70000001/tax-sub/fault"));
    assert_non_null(strstr(t->rec[2].error, t->srv.xr_id));
    assert_non_null(strstr(t->rec[2].error, "Service is down?forged"));  /* no new line */
    assert_int_equal(guarded_get(t, g, "xroad:/r1/KG/GOV/70000001/tax-sub/fault200", false, 3),
                     FETCH_XROAD_FAULT);
    assert_string_equal(fetch_status_name(FETCH_XROAD_FAULT), "xroad_fault");
    /* a plain request through the same client carries no X-Road header */
    assert_int_equal(guarded_get(t, g, url(t, "/r1/plain"), false, 4), FETCH_DONE_OK);
    assert_string_equal(t->srv.xr_client, "-");
    assert_string_equal(t->srv.xr_id, "-");
    /* an outsider's URL is never an X-Road call; a malformed call is refused */
    struct fetch_req r = get_req(call, 3000);
    r.guard = true;
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[5], NULL), FETCH_EINVAL);
    r = get_req("xroad:/r1/KG/GOV/70000001/getStatus", 3000);
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[5], NULL), FETCH_ENOXROAD);
    r = get_req("xroad:/r1/KG/GOV/70000001/tax-sub/getStatus#a%0Ab", 3000);
    assert_int_equal(fetch_start(g, &r, on_done, &t->rec[5], NULL), FETCH_ENOXROAD);
    assert_int_equal(t->srv.xr_hits, 5);
    fetch_free(g);
    /* a client without a security server: such calls are refused */
    r = get_req(call, 3000);
    assert_int_equal(fetch_start(t->f, &r, on_done, &t->rec[5], NULL), FETCH_ENOXROAD);
    /* a bad client identifier: no client at all */
    xc.client = "KG/GOV/70000003";
    assert_null(fetch_new(t->base, &o));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_get_json_ok),
        T(test_post_ok),
        T(test_timeout_on_time),
        T(test_size_cap),
        T(test_http_error_and_refused),
        T(test_bad_requests),
        T(test_concurrency),
        T(test_cancel_in_done),
        T(test_free_in_flight),
        T(test_free_in_done),
        T(test_start_in_done),
        T(test_app_roundtrip),
        T(test_guard_refuses_internal),
        T(test_xroad_call),
        cmocka_unit_test(test_form_and_url_escape),
        cmocka_unit_test(test_app_reply_vectors),
        cmocka_unit_test(test_json_map_vectors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fetch_global_cleanup();
    return rc;
}
