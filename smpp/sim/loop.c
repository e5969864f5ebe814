/*
 * smpp/sim/loop.c — listening, accepting and the graves of the simulator
 * (see loop.h).
 *
 * Owns: what is in a grave.  May call: libevent (bufferevent_openssl),
 * OpenSSL, libc (sockets).
 */
#include "smpp/sim/loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/ssl.h>

/* Numeric IPv4/IPv6 host + port (0 allowed) -> sockaddr.  0 or -1. */
static int make_sockaddr(const char *host, uint16_t port,
                         struct sockaddr_storage *ss, int *sslen)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *sslen = sizeof *in;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *sslen = sizeof *in6;
        return 0;
    }
    return -1;
}

struct evconnlistener *sim_listen(struct event_base *base, const char *host,
                                  uint16_t port, evconnlistener_cb cb,
                                  void *arg, uint16_t *bound, char *err,
                                  size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = 0;
    if (make_sockaddr(host, port, &ss, &sslen) != 0) {
        snprintf(err, errlen, "bad address '%s' (numeric IPv4/IPv6 only)", host);
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
        (struct sockaddr *)&ss, sslen);
    if (!l) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", host, port,
                 strerror(errno));
        return NULL;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&got, &gl);
    *bound = got.ss_family == AF_INET6
                 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                 : ntohs(((struct sockaddr_in *)&got)->sin_port);
    return l;
}

struct bufferevent *sim_accept(struct event_base *base, evutil_socket_t fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        evutil_closesocket(fd);
    return bev;
}

struct bufferevent *sim_accept_tls(struct event_base *base, evutil_socket_t fd,
                                   struct ssl_ctx_st *ctx)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        evutil_closesocket(fd);
        return NULL;
    }
    /* BEV_OPT_CLOSE_ON_FREE: the bufferevent frees the SSL and closes fd,
     * also when it fails to be made (then the SSL is gone, fd not) */
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return NULL;
    }
    /* SMPP frames itself: a peer gone without close_notify is an EOF */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void sim_event_free(struct event **ev)
{
    if (*ev)
        event_free(*ev);
    *ev = NULL;
}

void sim_bev_free(struct bufferevent **bev)
{
    if (*bev)
        bufferevent_free(*bev);
    *bev = NULL;
}

static void grave_empty(struct sim_grave *g)
{
    struct sim_dead *d;
    while ((d = SLIST_FIRST(&g->dead))) {
        SLIST_REMOVE_HEAD(&g->dead, link);
        d->free_fn(d);
    }
}

static void grave_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    grave_empty(arg);
}

int sim_grave_init(struct sim_grave *g, struct event_base *base)
{
    SLIST_INIT(&g->dead);
    g->ev = event_new(base, -1, 0, grave_cb, g);
    return g->ev ? 0 : -1;
}

void sim_grave_put(struct sim_grave *g, struct sim_dead *d,
                   void (*free_fn)(struct sim_dead *))
{
    d->free_fn = free_fn;
    SLIST_INSERT_HEAD(&g->dead, d, link);
    event_active(g->ev, EV_TIMEOUT, 0);
}

void sim_grave_close(struct sim_grave *g)
{
    grave_empty(g);
    sim_event_free(&g->ev);
}
