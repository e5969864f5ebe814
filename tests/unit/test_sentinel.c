/*
 * tests/unit/test_sentinel.c — gateway/sentinel: the answer reader and the
 * list parser with no server; then a question against fake sentinels
 * (plain sockets on 127.0.0.1 run by this test on the same loop) that
 * refuse, stay silent, do not know the name, or answer.
 *
 * Owns: its listening sockets and the connections they accept.  May call:
 * gateway/sentinel, hiredis (the reader), libevent, cmocka, libc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <hiredis/hiredis.h>

#include "gateway/sentinel.h"

/* RESP text -> one reply object (the caller frees it). */
static redisReply *resp_n(const char *text, size_t n)
{
    redisReader *rd = redisReaderCreate();
    redisReaderFeed(rd, text, n);
    void *r = NULL;
    assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
    assert_non_null(r);
    redisReaderFree(rd);
    return r;
}

static int parse_n(const char *text, size_t n, char *ip, int *port, char *err)
{
    redisReply *r = resp_n(text, n);
    int rc = sentinel_parse_master(r, ip, INET6_ADDRSTRLEN, port, err, 300);
    freeReplyObject(r);
    return rc;
}

static int parse(const char *text, char *ip, int *port, char *err)
{
    return parse_n(text, strlen(text), ip, port, err);
}

static void test_parse_master_answers(void **state)
{
    (void)state;
    char ip[INET6_ADDRSTRLEN], err[300];
    int port = 0;
    assert_int_equal(parse("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n", ip, &port, err), 0);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(port, 6380);
    assert_int_equal(parse("*2\r\n$3\r\n::1\r\n$5\r\n26379\r\n", ip, &port, err), 0);
    assert_string_equal(ip, "::1");
    assert_int_equal(parse("*-1\r\n", ip, &port, err), -1);
    assert_non_null(strstr(err, "does not monitor"));
    assert_int_equal(parse("-ERR unknown command\r\n", ip, &port, err), -1);
    assert_non_null(strstr(err, "refused: ERR unknown command"));
    assert_int_equal(parse("*2\r\n$9\r\nredis.lan\r\n$4\r\n6380\r\n", ip, &port, err), -1);
    assert_non_null(strstr(err, "not an IP address"));
    assert_int_equal(parse("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n70000\r\n", ip, &port, err), -1);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(parse("*2\r\n$9\r\n127.0.0.1\r\n$0\r\n\r\n", ip, &port, err), -1);
    assert_int_equal(parse("*1\r\n$9\r\n127.0.0.1\r\n", ip, &port, err), -1);
    assert_int_equal(parse("+OK\r\n", ip, &port, err), -1);
    /* a NUL inside the address is not an address */
    static const char nul[] = "*2\r\n$10\r\n127.0.0.1\0\r\n$4\r\n6380\r\n";
    assert_int_equal(parse_n(nul, sizeof nul - 1, ip, &port, err), -1);
    assert_non_null(strstr(err, "not an IP address"));
}

static void test_parse_list(void **state)
{
    (void)state;
    struct sentinel_addr a[SENTINEL_MAX];
    char err[300];
    char *ok[] = { "127.0.0.1:26379", "localhost:26380", "[::1]:26381", "127.0.0.1" };
    assert_int_equal(sentinel_parse_list(ok, 4, a, err, sizeof err), 4);
    assert_string_equal(a[0].ip, "127.0.0.1");
    assert_int_equal(a[0].port, 26379);
    assert_string_equal(a[1].host, "localhost");
    assert_int_equal(a[1].port, 26380);
    assert_string_equal(a[2].ip, "::1");
    assert_int_equal(a[3].port, 26379);
    char *badport[] = { "127.0.0.1:0" };
    assert_int_equal(sentinel_parse_list(badport, 1, a, err, sizeof err), -1);
    assert_non_null(strstr(err, "1..65535"));
    char *badhost[] = { "no-such-host.invalid:26379" };
    assert_int_equal(sentinel_parse_list(badhost, 1, a, err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-host.invalid"));
    assert_int_equal(sentinel_parse_list(ok, 0, a, err, sizeof err), -1);
}

/* ---- fake sentinels on the loop --------------------------------------- */

enum mode { ANSWER, UNKNOWN, SILENT };
struct fake {
    struct evconnlistener *l;
    int port;
    enum mode mode;
    int asked;
};

static void fake_read(struct bufferevent *bev, void *arg)
{
    struct fake *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    char buf[512];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    evbuffer_copyout(in, buf, n);
    buf[n] = '\0';
    if (!strstr(buf, "get-master-addr-by-name"))
        return;
    evbuffer_drain(in, n);
    f->asked++;
    static const char answer[] = "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6390\r\n";
    static const char nil[] = "*-1\r\n";
    if (f->mode == ANSWER)
        bufferevent_write(bev, answer, sizeof answer - 1);
    else if (f->mode == UNKNOWN)
        bufferevent_write(bev, nil, sizeof nil - 1);
}

static void fake_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    bufferevent_free(bev);
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd,
                        struct sockaddr *sa, int len, void *arg)
{
    (void)sa;
    (void)len;
    struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
                                                     BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, fake_read, NULL, fake_event, arg);
    bufferevent_enable(bev, EV_READ);
}

static void fake_start(struct event_base *base, struct fake *f, enum mode m)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 0,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    f->mode = m;
    f->asked = 0;
    f->l = evconnlistener_new_bind(base, fake_accept, f, LEV_OPT_CLOSE_ON_FREE |
                                   LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin,
                                   sizeof sin);
    assert_non_null(f->l);
    socklen_t sl = sizeof sin;
    getsockname(evconnlistener_get_fd(f->l), (struct sockaddr *)&sin, &sl);
    f->port = ntohs(sin.sin_port);
}

struct outcome {
    int calls;
    char ip[64];
    int port;
    char err[900];
    struct event_base *base;
};

static void got(void *arg, const char *addr, int port, const char *err)
{
    struct outcome *o = arg;
    o->calls++;
    snprintf(o->ip, sizeof o->ip, "%s", addr ? addr : "");
    o->port = port;
    snprintf(o->err, sizeof o->err, "%s", err ? err : "");
    event_base_loopbreak(o->base);
}

static void run(struct event_base *base)
{
    struct timeval tv = { 5, 0 };   /* a safety net: the test fails on calls */
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_ask_walks_the_list(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct fake silent, unknown, good;
    fake_start(base, &silent, SILENT);
    fake_start(base, &unknown, UNKNOWN);
    fake_start(base, &good, ANSWER);
    /* a port nobody listens on: bind one, close it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sin;
    bind(s, (struct sockaddr *)&sin, sizeof sin);
    getsockname(s, (struct sockaddr *)&sin, &sl);
    int dead_port = ntohs(sin.sin_port);
    close(s);

    struct sentinel_addr list[4];
    int ports[4] = { dead_port, silent.port, unknown.port, good.port };
    for (int i = 0; i < 4; i++) {
        snprintf(list[i].host, sizeof list[i].host, "127.0.0.1");
        snprintf(list[i].ip, sizeof list[i].ip, "127.0.0.1");
        list[i].port = ports[i];
    }
    struct sentinel *st = sentinel_new(base, list, 4, "kz", 200);
    assert_non_null(st);
    struct outcome o = { .base = base };
    assert_int_equal(sentinel_ask(st, got, &o), 0);
    assert_int_equal(sentinel_ask(st, got, &o), -1);   /* one at a time */
    assert_int_equal(o.calls, 0);                      /* never inside the call */
    run(base);
    assert_int_equal(o.calls, 1);
    assert_string_equal(o.ip, "127.0.0.1");
    assert_int_equal(o.port, 6390);
    assert_int_equal(silent.asked, 1);
    assert_int_equal(unknown.asked, 1);
    /* the one that answered is asked first next time */
    assert_int_equal(sentinel_ask(st, got, &o), 0);
    run(base);
    assert_int_equal(o.calls, 2);
    assert_int_equal(good.asked, 2);
    assert_int_equal(unknown.asked, 1);
    /* every one fails: the reasons, one per sentinel */
    good.mode = UNKNOWN;
    assert_int_equal(sentinel_ask(st, got, &o), 0);
    run(base);
    assert_int_equal(o.calls, 3);
    assert_string_equal(o.ip, "");
    assert_non_null(strstr(o.err, "does not monitor"));
    assert_non_null(strstr(o.err, "no answer within 200 ms"));
    assert_non_null(strstr(o.err, "refused"));
    /* cancelled: never called back */
    good.mode = ANSWER;
    assert_int_equal(sentinel_ask(st, got, &o), 0);
    sentinel_cancel(st);
    struct timeval tv = { 0, 300000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_int_equal(o.calls, 3);
    assert_non_null(strstr(sentinel_describe(st), "sentinels of \"kz\""));
    sentinel_free(st);
    evconnlistener_free(silent.l);
    evconnlistener_free(unknown.l);
    evconnlistener_free(good.l);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_master_answers),
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_ask_walks_the_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
