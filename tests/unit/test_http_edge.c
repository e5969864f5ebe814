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

/* Addresses and whether they are loopback: checked as a sockaddr and as
 * the numeric host a config names. */
static const struct {
    const char *addr;
    bool loopback;
} addrs[] = {
    { "127.0.0.1", true }, { "127.255.255.254", true }, { "127.0.0.0", true },
    { "127.0.0.2", true }, { "128.0.0.1", false }, { "126.255.255.255", false },
    { "10.0.0.1", false }, { "10.1.2.3", false }, { "0.0.0.0", false },
    { "192.168.1.127", false },
    { "::1", true }, { "::ffff:127.0.0.1", true }, { "::ffff:127.9.8.7", true },
    { "::ffff:10.0.0.1", false }, { "::", false }, { "::2", false },
    { "::127.0.0.1", false },        /* IPv4-compatible: not mapped */
    { "fe80::1", false }, { "2001:db8::1", false }, { "1::1", false },
};

static void test_loopback_addresses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = htons(80) };
        struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
        struct sockaddr *sa = (struct sockaddr *)&v4;
        if (inet_pton(AF_INET, addrs[i].addr, &v4.sin_addr) != 1) {
            assert_int_equal(inet_pton(AF_INET6, addrs[i].addr, &v6.sin6_addr), 1);
            sa = (struct sockaddr *)&v6;
        }
        if (http_edge_loopback(sa) != addrs[i].loopback ||
            http_edge_loopback_host(addrs[i].addr) != addrs[i].loopback)
            print_message("%s: want %d\n", addrs[i].addr, addrs[i].loopback);
        assert_int_equal(http_edge_loopback(sa), addrs[i].loopback);
        assert_int_equal(http_edge_loopback_host(addrs[i].addr), addrs[i].loopback);
    }
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    assert_false(http_edge_loopback((struct sockaddr *)&un));
    assert_false(http_edge_loopback(NULL));
}

static void test_loopback_hosts(void **state)
{
    (void)state;
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
