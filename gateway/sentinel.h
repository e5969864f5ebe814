/*
 * gateway/sentinel.h — where is the Redis master now?  Asks Redis
 * Sentinels (issue 9: dialogs survive a Redis failover), since hiredis
 * 0.14.1 has no Sentinel support of its own.
 *
 * What it does: sentinel_ask() asks the configured sentinels, one at a
 * time, `SENTINEL get-master-addr-by-name NAME`, starting with the one that
 * answered last, and hands the first good answer (an IP address and a
 * port) to the callback; when every sentinel failed (refused, timed out,
 * does not know the name, answered a host name) the callback gets the
 * reasons instead.  The dialog store asks before every connect, so a
 * reconnect after the master died lands on the replica the sentinels
 * promoted.  Each sentinel gets timeout_ms for connect plus answer (our
 * timer: hiredis 0.14 has none).
 *
 * Addresses: sentinels are given as "host:port" and resolved once, in
 * sentinel_new (the blocking resolver: call it at start-up, not from the
 * loop).  A master announced by host name is refused (the loop may not
 * resolve); sentinels announce IP addresses unless `resolve-hostnames yes`.
 *
 * Calling contract: at most one question at a time (sentinel_ask returns -1
 * while one is outstanding); the callback runs exactly once per accepted
 * question, always later from the event loop, never inside sentinel_ask;
 * it may call sentinel_ask again, not sentinel_free.  sentinel_cancel drops
 * an outstanding question (its callback is then never called).
 *
 * Pure part: sentinel_parse_master (a reply -> address) and
 * sentinel_parse_list (config strings -> resolved addresses, the only
 * blocking call) are unit-tested and fuzzed apart from any socket.
 *
 * Owns: the hiredis context of the sentinel being asked (freed from a
 * zero-delay event, never inside its own callback), its timer.
 * May call: hiredis (async + libevent adapter), libevent, libc (getaddrinfo
 * in sentinel_parse_list only).
 */
#ifndef KYZMAT_GATEWAY_SENTINEL_H
#define KYZMAT_GATEWAY_SENTINEL_H

#include <stddef.h>
#include <netinet/in.h>
#include <arpa/inet.h>

struct event_base;
struct redisReply;
struct sentinel;

#define SENTINEL_MAX 16     /* sentinels in one list */

struct sentinel_addr {
    char host[256];         /* as written, for messages */
    char ip[INET6_ADDRSTRLEN];
    int port;
};

/* addr: the master's IP address, port its port; or err (addr NULL) with
 * every sentinel's reason, e.g. "127.0.0.1:26379: Connection refused;
 * 127.0.0.1:26380: no master named \"kz\"". */
typedef void (*sentinel_cb)(void *arg, const char *addr, int port, const char *err);

/* "host:port" strings -> resolved addresses (port default 26379).  Returns
 * the count (1..SENTINEL_MAX), or -1 with the reason in err. */
int sentinel_parse_list(char *const *items, size_t n, struct sentinel_addr *out,
                        char *err, size_t errlen);

/* An answer to SENTINEL get-master-addr-by-name: an array of two strings,
 * an IP address and a port.  0 with ip/port set, or -1 with the reason in
 * err (a nil: the sentinel does not know the name; an error reply; a host
 * name; a bad port). */
int sentinel_parse_master(const struct redisReply *r, char *ip, size_t iplen,
                          int *port, char *err, size_t errlen);

/* list: n resolved addresses (copied); master: the name monitored. */
struct sentinel *sentinel_new(struct event_base *base, const struct sentinel_addr *list,
                              size_t n, const char *master, unsigned timeout_ms);
int sentinel_ask(struct sentinel *s, sentinel_cb cb, void *arg);
void sentinel_cancel(struct sentinel *s);
void sentinel_free(struct sentinel *s);

/* "sentinel kz at 127.0.0.1:26379, 127.0.0.1:26380" (for descriptions). */
const char *sentinel_describe(const struct sentinel *s);

#endif
