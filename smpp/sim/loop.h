/*
 * smpp/sim/loop.h — the simulator's glue to libevent: listening on a
 * numeric address, taking an accepted socket as a bufferevent, timevals.
 *
 * Both the SMPP listener (smsc.c) and the control port (control.c) listen
 * and accept the same way: numeric IPv4/IPv6 only (no resolver on the
 * loop), SO_REUSEADDR, TCP_NODELAY on every accepted socket (request and
 * answer are small; Nagle would add its delay to every exchange).
 *
 * Freeing: sim_event_free / sim_bev_free free what is set and null it.
 *
 * The grave: an object is never freed inside its own callback (the house
 * rule; hiredis's freeClientAsync).  One that dies there is unlinked,
 * marked dead and put in its owner's grave, which frees it on the next
 * loop pass; a grave is emptied at once only when its owner is freed.
 *
 * Owns: nothing (the caller owns what it gets; a grave owns what is in
 * it).  May call: libevent (bufferevent_openssl), OpenSSL, libc.
 */
#ifndef KYZMAT_SIM_LOOP_H
#define KYZMAT_SIM_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/listener.h>
#include <event2/util.h>

struct bufferevent;
struct event;
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

/* issue 13 tls-smpp: the same, speaking TLS as the server with a fresh
 * SSL from ctx (an SSL_CTX *; the bufferevent owns the SSL and the
 * socket).  NULL, with fd closed, on failure. */
struct ssl_ctx_st;
struct bufferevent *sim_accept_tls(struct event_base *base, evutil_socket_t fd,
                                   struct ssl_ctx_st *ctx);

/* Free *ev / *bev when set, and clear it: null what you free.  NULL is
 * fine (nothing to do), so an owner's free need not test each one. */
void sim_event_free(struct event **ev);
void sim_bev_free(struct bufferevent **bev);

/* Embedded in an object that may die inside its own callback. */
struct sim_dead {
    SLIST_ENTRY(sim_dead) link;
    void (*free_fn)(struct sim_dead *);  /* frees the object around it */
};

SLIST_HEAD(sim_dead_list, sim_dead);

struct sim_grave {
    struct sim_dead_list dead;
    struct event *ev;                    /* zero-delay: the next loop pass */
};

/* The object of type that embeds member m at ptr. */
#define SIM_OWNER(ptr, type, m) ((type *)(void *)((char *)(ptr) - offsetof(type, m)))

/* 0, or -1 when out of memory (sim_grave_close is still safe). */
int sim_grave_init(struct sim_grave *g, struct event_base *base);
/* Put d (unlinked from everything else) in g: free_fn(d) runs on the next
 * loop pass, or in sim_grave_close. */
void sim_grave_put(struct sim_grave *g, struct sim_dead *d,
                   void (*free_fn)(struct sim_dead *));
/* Free everything in g now, then g's event.  For the owner's own free. */
void sim_grave_close(struct sim_grave *g);

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
