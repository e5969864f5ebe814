/*
 * gateway/sentinel.c — asks Redis Sentinels where the master is (contract
 * in sentinel.h).
 *
 * One question walks the list once: connect to sentinel i, send the
 * question, take the answer; a refusal, a timeout or a bad answer adds its
 * reason and moves to i+1.  The first good answer ends the question and
 * makes that sentinel the first asked next time.  A context we are done
 * with moves to `dead` and a zero-delay event frees it: never inside one of
 * its own callbacks (hiredis frees a context itself after a failed connect
 * or a disconnect, so those paths only forget it).
 */
#include "gateway/sentinel.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

struct sentinel {
    struct event_base *base;
    struct sentinel_addr list[SENTINEL_MAX];
    size_t n, first;            /* first: asked first next time */
    char master[128];
    unsigned timeout_ms;
    char desc[600];
    /* the question under way */
    bool active;
    size_t tried;               /* sentinels asked so far */
    sentinel_cb cb;
    void *arg;
    redisAsyncContext *ac;      /* the sentinel being asked */
    redisAsyncContext *dead;    /* done with, freed by free_ev */
    struct event *timer, *free_ev, *done_ev;
    char why[900];              /* reasons so far */
    char ip[INET6_ADDRSTRLEN];  /* the answer, handed over by done_ev */
    int port;
};

static void ask_next(struct sentinel *s);

int sentinel_parse_list(char *const *items, size_t n, struct sentinel_addr *out,
                        char *err, size_t errlen)
{
    if (n == 0 || n > SENTINEL_MAX) {
        snprintf(err, errlen, "give 1 to %d sentinels, not %zu", SENTINEL_MAX, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct sentinel_addr *a = &out[i];
        const char *s = items[i], *colon = strrchr(s, ':');
        size_t hl = colon ? (size_t)(colon - s) : strlen(s);
        if (hl > 1 && s[0] == '[' && s[hl - 1] == ']') {   /* [::1]:26379 */
            s++;
            hl -= 2;
        }
        long port = 26379;
        if (colon) {
            char *end;
            port = strtol(colon + 1, &end, 10);
            if (*end || end == colon + 1 || port < 1 || port > 65535) {
                snprintf(err, errlen, "sentinel \"%.100s\": port must be 1..65535", items[i]);
                return -1;
            }
        }
        if (hl == 0 || hl >= sizeof a->host) {
            snprintf(err, errlen, "sentinel \"%.100s\": missing or long host", items[i]);
            return -1;
        }
        memcpy(a->host, s, hl);
        a->host[hl] = '\0';
        a->port = (int)port;
        struct addrinfo hints = { 0 }, *ai = NULL;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int gai = getaddrinfo(a->host, NULL, &hints, &ai);
        if (gai != 0 || !ai) {
            snprintf(err, errlen, "sentinel %.100s: %s", a->host,
                     gai ? gai_strerror(gai) : "no address");
            if (ai)
                freeaddrinfo(ai);
            return -1;
        }
        const void *p = ai->ai_family == AF_INET6
            ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
            : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        inet_ntop(ai->ai_family, p, a->ip, sizeof a->ip);
        freeaddrinfo(ai);
    }
    return (int)n;
}

int sentinel_parse_master(const struct redisReply *r, char *ip, size_t iplen,
                          int *port, char *err, size_t errlen)
{
    if (!r) {
        snprintf(err, errlen, "no answer");
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(err, errlen, "does not monitor that master");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "refused: %.200s", r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "unexpected answer (not an address and a port)");
        return -1;
    }
    const char *h = r->element[0]->str, *p = r->element[1]->str;
    unsigned char buf[16];
    if (r->element[0]->len >= INET6_ADDRSTRLEN || strlen(h) != r->element[0]->len ||
        (inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1)) {
        snprintf(err, errlen, "master announced as \"%.64s\", not an IP address "
                 "(set the sentinels' announce-hostnames/resolve-hostnames off)", h);
        return -1;
    }
    char *end;
    long v = strtol(p, &end, 10);
    if (r->element[1]->len == 0 || *end || v < 1 || v > 65535) {
        snprintf(err, errlen, "master port \"%.16s\" is not 1..65535", p);
        return -1;
    }
    if (strlen(h) >= iplen) {
        snprintf(err, errlen, "address too long");
        return -1;
    }
    memcpy(ip, h, strlen(h) + 1);
    *port = (int)v;
    return 0;
}

/* Forget the current context; it is freed from free_ev (when hiredis has
 * not freed it itself: `gone`). */
static void retire(struct sentinel *s, bool gone)
{
    redisAsyncContext *ac = s->ac;
    s->ac = NULL;
    event_del(s->timer);
    if (ac && !gone) {
        if (s->dead) {              /* never two: free the older now */
            redisAsyncContext *old = s->dead;
            s->dead = NULL;
            redisAsyncFree(old);
        }
        s->dead = ac;
        event_active(s->free_ev, EV_TIMEOUT, 1);
    }
}

/* The sentinel being asked failed: note why and move on. */
static void failed(struct sentinel *s, const char *why, bool gone)
{
    const struct sentinel_addr *a = &s->list[(s->first + s->tried) % s->n];
    size_t l = strlen(s->why);
    snprintf(s->why + l, sizeof s->why - l, "%s%s:%d: %s", l ? "; " : "",
             a->host, a->port, why);
    retire(s, gone);
    s->tried++;
    ask_next(s);
}

static void on_answer(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sentinel *s = priv;
    if (!reply || ac != s->ac)
        return;     /* freed or abandoned: on_disconnect / the timer said why */
    char why[300];
    if (sentinel_parse_master(reply, s->ip, sizeof s->ip, &s->port, why, sizeof why) != 0) {
        failed(s, why, false);
        return;
    }
    s->first = (s->first + s->tried) % s->n;
    retire(s, false);
    s->why[0] = '\0';
    event_active(s->done_ev, EV_TIMEOUT, 1);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel *s = ac->data;
    if (status != REDIS_OK && ac == s->ac)
        failed(s, ac->errstr[0] ? ac->errstr : "connect failed", true);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sentinel *s = ac->data;
    (void)status;
    if (ac == s->ac)
        failed(s, ac->err && ac->errstr[0] ? ac->errstr : "connection closed", true);
    else if (ac == s->dead)
        s->dead = NULL;             /* hiredis frees it after this returns */
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sentinel *s = arg;
    char why[64];
    snprintf(why, sizeof why, "no answer within %u ms", s->timeout_ms);
    if (s->ac)
        failed(s, why, false);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sentinel *s = arg;
    redisAsyncContext *ac = s->dead;
    s->dead = NULL;
    if (ac)
        redisAsyncFree(ac);
}

/* The question ended (an answer in ip/port, or reasons in why): hand it
 * over from the loop. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sentinel *s = arg;
    if (!s->active)
        return;
    s->active = false;
    if (s->why[0])
        s->cb(s->arg, NULL, 0, s->why);
    else
        s->cb(s->arg, s->ip, s->port, NULL);
}

static void ask_next(struct sentinel *s)
{
    while (s->tried < s->n) {
        const struct sentinel_addr *a = &s->list[(s->first + s->tried) % s->n];
        redisAsyncContext *ac = redisAsyncConnect(a->ip, a->port);
        const char *why = !ac ? "out of memory" : ac->err ? ac->errstr : NULL;
        if (!why) {
            ac->data = s;
            if (redisLibeventAttach(ac, s->base) != REDIS_OK)
                why = "cannot attach to the event loop";
        }
        if (why) {
            char w[200];
            snprintf(w, sizeof w, "%s", why);
            if (ac)
                redisAsyncFree(ac);
            size_t l = strlen(s->why);
            snprintf(s->why + l, sizeof s->why - l, "%s%s:%d: %s", l ? "; " : "",
                     a->host, a->port, w);
            s->tried++;
            continue;
        }
        redisAsyncSetConnectCallback(ac, on_connect);
        redisAsyncSetDisconnectCallback(ac, on_disconnect);
        s->ac = ac;
        if (redisAsyncCommand(ac, on_answer, s, "SENTINEL get-master-addr-by-name %s",
                              s->master) != REDIS_OK) {
            failed(s, "cannot queue the question", false);
            return;
        }
        struct timeval tv = { (time_t)(s->timeout_ms / 1000),
                              (suseconds_t)(s->timeout_ms % 1000) * 1000 };
        event_add(s->timer, &tv);
        return;
    }
    event_active(s->done_ev, EV_TIMEOUT, 1);    /* every one failed */
}

struct sentinel *sentinel_new(struct event_base *base, const struct sentinel_addr *list,
                              size_t n, const char *master, unsigned timeout_ms)
{
    if (!base || n == 0 || n > SENTINEL_MAX || !master || !*master ||
        strlen(master) >= sizeof ((struct sentinel *)0)->master)
        return NULL;
    struct sentinel *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base = base;
    memcpy(s->list, list, n * sizeof *list);
    s->n = n;
    snprintf(s->master, sizeof s->master, "%s", master);
    s->timeout_ms = timeout_ms ? timeout_ms : 1000;
    s->timer = evtimer_new(base, timer_cb, s);
    s->free_ev = event_new(base, -1, 0, free_cb, s);
    s->done_ev = event_new(base, -1, 0, done_cb, s);
    if (!s->timer || !s->free_ev || !s->done_ev) {
        sentinel_free(s);
        return NULL;
    }
    int l = snprintf(s->desc, sizeof s->desc, "sentinels of \"%s\" at ", master);
    for (size_t i = 0; i < n && l > 0 && (size_t)l < sizeof s->desc; i++)
        l += snprintf(s->desc + l, sizeof s->desc - (size_t)l, "%s%s:%d", i ? ", " : "",
                      list[i].host, list[i].port);
    return s;
}

int sentinel_ask(struct sentinel *s, sentinel_cb cb, void *arg)
{
    if (!s || !cb || s->active)
        return -1;
    s->active = true;
    s->cb = cb;
    s->arg = arg;
    s->tried = 0;
    s->why[0] = '\0';
    ask_next(s);
    return 0;
}

void sentinel_cancel(struct sentinel *s)
{
    if (!s || !s->active)
        return;
    s->active = false;
    event_del(s->done_ev);
    retire(s, false);
}

void sentinel_free(struct sentinel *s)
{
    if (!s)
        return;
    s->active = false;
    redisAsyncContext *ac = s->ac, *dead = s->dead;
    s->ac = s->dead = NULL;
    if (ac)
        redisAsyncFree(ac);         /* on_answer gets NULL: ignored */
    if (dead)
        redisAsyncFree(dead);
    struct event *evs[] = { s->timer, s->free_ev, s->done_ev };
    for (size_t i = 0; i < 3; i++)
        if (evs[i])
            event_free(evs[i]);
    free(s);
}

const char *sentinel_describe(const struct sentinel *s)
{
    return s ? s->desc : "";
}
