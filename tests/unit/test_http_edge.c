/*
 * tests/unit/test_http_edge.c — the pure parts of gateway/http_edge added
 * for issue 13 (tls-http): which peers a plain listener serves (loopback
 * only: 127.0.0.0/8, ::1, IPv4-mapped 127/8), for addresses and for the
 * numeric hosts the config names.
 *
 * May call: gateway/http_edge, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "gateway/http_edge.h"

static bool loop4(const char *a)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
    assert_int_equal(inet_pton(AF_INET, a, &sa.sin_addr), 1);
    return http_edge_loopback((struct sockaddr *)&sa);
}

static bool loop6(const char *a)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
    assert_int_equal(inet_pton(AF_INET6, a, &sa.sin6_addr), 1);
    return http_edge_loopback((struct sockaddr *)&sa);
}

static void test_loopback_addresses(void **state)
{
    (void)state;
    assert_true(loop4("127.0.0.1"));
    assert_true(loop4("127.255.255.254"));
    assert_true(loop4("127.0.0.0"));
    assert_false(loop4("128.0.0.1"));
    assert_false(loop4("126.255.255.255"));
    assert_false(loop4("10.0.0.1"));
    assert_false(loop4("0.0.0.0"));
    assert_false(loop4("192.168.1.127"));
    assert_true(loop6("::1"));
    assert_true(loop6("::ffff:127.0.0.1"));
    assert_true(loop6("::ffff:127.9.8.7"));
    assert_false(loop6("::ffff:10.0.0.1"));
    assert_false(loop6("::"));
    assert_false(loop6("::2"));
    assert_false(loop6("::127.0.0.1"));      /* IPv4-compatible: not mapped */
    assert_false(loop6("fe80::1"));
    assert_false(loop6("2001:db8::1"));
    assert_false(loop6("1::1"));
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    assert_false(http_edge_loopback((struct sockaddr *)&un));
    assert_false(http_edge_loopback(NULL));
}

static void test_loopback_hosts(void **state)
{
    (void)state;
    assert_true(http_edge_loopback_host("127.0.0.1"));
    assert_true(http_edge_loopback_host("127.0.0.2"));
    assert_true(http_edge_loopback_host("::1"));
    assert_true(http_edge_loopback_host("::ffff:127.0.0.1"));
    assert_false(http_edge_loopback_host("0.0.0.0"));
    assert_false(http_edge_loopback_host("::"));
    assert_false(http_edge_loopback_host("10.1.2.3"));
    assert_false(http_edge_loopback_host("localhost"));     /* a name */
    assert_false(http_edge_loopback_host("127.1"));         /* not numeric enough */
    assert_false(http_edge_loopback_host("[::1]"));         /* brackets: parse first */
    assert_false(http_edge_loopback_host(""));
    assert_false(http_edge_loopback_host(NULL));
    /* with the listen parser, as the config check does */
    char host[64];
    int port;
    assert_int_equal(http_edge_listen_parse("[::1]:8080", host, sizeof host, &port), 0);
    assert_true(http_edge_loopback_host(host));
    assert_int_equal(http_edge_listen_parse("0.0.0.0:8080", host, sizeof host, &port), 0);
    assert_false(http_edge_loopback_host(host));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_addresses),
        cmocka_unit_test(test_loopback_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
