/*
 * tests/fuzz/fuzz_sentinel.c — libFuzzer target for what a Redis Sentinel
 * answers: the bytes go through hiredis's RESP reader, and every reply it
 * makes goes through sentinel_parse_master (gateway/sentinel.h).
 *
 * Checks, with abort() on a broken property: a reply is accepted only as
 * an array of two strings whose first is an IP address (inet_pton agrees)
 * and whose port is 1..65535; then the address is NUL-terminated and
 * shorter than INET6_ADDRSTRLEN; a refused reply always leaves a reason.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_sentinel.
 *
 * May call: gateway/sentinel.h, hiredis (the reader only), libc.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "gateway/sentinel.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return 0;
    redisReaderFeed(rd, (const char *)data, size);
    void *reply = NULL;
    while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply) {
        char ip[INET6_ADDRSTRLEN], err[300] = "";
        int port = 0;
        unsigned char buf[16];
        if (sentinel_parse_master(reply, ip, sizeof ip, &port, err, sizeof err) == 0) {
            const redisReply *r = reply;
            CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
            CHECK(memchr(ip, '\0', sizeof ip) != NULL);
            CHECK(inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1);
            CHECK(port >= 1 && port <= 65535);
        } else {
            CHECK(err[0] != '\0');
        }
        freeReplyObject(reply);
        reply = NULL;
    }
    redisReaderFree(rd);
    return 0;
}
