/*
 * smpp/sim/loop.h — the simulator's glue to libevent: listening on a
 * numeric address, taking an accepted socket as a bufferevent, timevals.
 *
 * Both the SMPP listener (smsc.c) and the control port (control.c) listen
 * and accept the same way: numeric IPv4/IPv6 only (no resolver on the
 * loop), SO_REUSEADDR, TCP_NODELAY on every accepted socket (request and
 * answer are small; Nagle would add its delay to every exchange).
 *
 * Owns: nothing (the caller owns what it gets).  May call: libevent, libc.
 */
#ifndef KYZMAT_SIM_LOOP_H
#define KYZMAT_SIM_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/listener.h>
#include <event2/util.h>

struct bufferevent;
struct event_base;

/* Listen on host (numeric) : port (0 = any) with callback cb(arg).
 * *bound gets the port actually bound.  NULL with a reason in err. */
struct evconnlistener *sim_listen(struct event_base *base, const char *host,
                                  uint16_t port, evconnlistener_cb cb,
                                  void *arg, uint16_t *bound, char *err,
                                  size_t errlen);

/* An accepted socket as a bufferevent (TCP_NODELAY, closed when the
 * bufferevent is freed).  NULL, with fd closed, when out of memory. */
struct bufferevent *sim_accept(struct event_base *base, evutil_socket_t fd);

static inline struct timeval sim_tv_us(uint64_t us)
{
    struct timeval tv = { (time_t)(us / 1000000u), (suseconds_t)(us % 1000000u) };
    return tv;
}

static inline struct timeval sim_tv_ms(uint64_t ms)
{
    return sim_tv_us(ms * 1000u);
}

#endif
