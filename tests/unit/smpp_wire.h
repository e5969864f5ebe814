/*
 * tests/unit/smpp_wire.h — what the tests that put PDUs on a wire do the
 * same way: encode one and fail the test (with the codec's reason) when it
 * cannot be encoded, send it through the decoder again as a peer would
 * read it, and open a blocking TCP client to a loopback port.  Used by
 * test_esme (its SMSC peer), test_smsc and test_sim (their raw ESME
 * client) and test_dialect (what the gateway reads and answers).
 *
 * Include after <cmocka.h>: the helpers assert with cmocka, so a failure
 * is reported in the calling test.  Header-only (static inline).
 *
 * Owns: nothing (the caller owns buffers and sockets).  May call:
 * smpp/pdu.h, libc sockets, cmocka.
 */
#ifndef KYZMAT_TESTS_SMPP_WIRE_H
#define KYZMAT_TESTS_SMPP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "smpp/pdu.h"

/* p encoded into buf (cap octets); the length, or the test fails. */
static inline int wire_encode(struct smpp_pdu *p, uint8_t *buf, size_t cap)
{
    struct smpp_err err = {0, ""};
    int n = smpp_pdu_encode(p, buf, cap, &err);
    if (n <= 0)
        print_message("encode: %s\n", err.text);
    assert_true(n > 0);
    return n;
}

/* p encoded into buf and decoded again into *back (views into buf): what
 * the other side reads.  Returns the length, or the test fails. */
static inline int wire_roundtrip(struct smpp_pdu *p, uint8_t *buf, size_t cap,
                                 struct smpp_pdu *back)
{
    int n = wire_encode(p, buf, cap);
    assert_int_equal(smpp_pdu_decode(back, buf, (size_t)n, NULL, NULL), 0);
    return n;
}

/* A blocking TCP connection to 127.0.0.1:port; the socket, or the test
 * fails. */
static inline int wire_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

#endif
