/*
 * bench/responder.c — the minimal HTTP back-end for the Kannel baseline
 * (scripts/bench-kannel.sh): Kannel's smsbox calls its get-url for every MO
 * and sends the body back to the sender as the reply MT.
 *
 * What it does: listens on HOST:PORT (port 0 = any free port) with libevent
 * evhttp and answers every request, whatever its path or query, with
 * "200 OK", Content-Type text/plain and a fixed short body.  The first stdout
 * line is "listening http HOST:PORT" (flushed), so the script can start it
 * with port 0 and read the port back.  Keep-alive is evhttp's default, so
 * smsbox's connection pool is reused.  One thread, no logging per request,
 * nothing parsed, TCP_NODELAY on (as nginx does): it must never be the
 * bottleneck of the benchmark.
 * SIGTERM/SIGINT leave the loop; at exit it prints "requests N" on stderr.
 *
 * Usage: bench_responder [HOST:PORT] [BODY]
 *        (defaults 127.0.0.1:0 and "Balance: 100 KGS")
 *
 * Owns: the event_base, the evhttp server, the signal events.
 * May call: libevent, libc.  exit status 2 on a bad argument or a failed
 * bind (before the loop runs); 0 after a signal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

struct responder {
    const char *body;
    size_t body_len;
    unsigned long long requests;
    struct evbuffer *reply;   /* reused for every answer */
};

static void on_request(struct evhttp_request *req, void *arg)
{
    struct responder *r = arg;
    /* TCP_NODELAY as nginx does by default (tcp_nodelay on), so the
     * back-end adds no Nagle delay of its own; one cheap syscall. */
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    /* no charset parameter: smsbox logs a warning per reply for one */
    evhttp_add_header(h, "Content-Type", "text/plain");
    /* evhttp_send_reply drains the buffer, so it can be refilled each time */
    evbuffer_add_reference(r->reply, r->body, r->body_len, NULL, NULL);
    evhttp_send_reply(req, HTTP_OK, "OK", r->reply);
    r->requests++;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    const char *hostport = argc > 1 ? argv[1] : "127.0.0.1:0";
    struct responder r = { .body = argc > 2 ? argv[2] : "Balance: 100 KGS" };
    r.body_len = strlen(r.body);
    char host[64];
    const char *colon = strrchr(hostport, ':');
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (argc > 3 || !colon || (size_t)(colon - hostport) >= sizeof host ||
        colon == hostport || !end || *end || port > 65535) {
        fprintf(stderr, "usage: %s [HOST:PORT] [BODY]\n", argv[0]);
        return 2;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';

    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    r.reply = evbuffer_new();
    struct event *sigterm = base ? evsignal_new(base, SIGTERM, on_signal, base) : NULL;
    struct event *sigint = base ? evsignal_new(base, SIGINT, on_signal, base) : NULL;
    int rc = 2;
    struct evhttp_bound_socket *bs = NULL;
    if (!base || !http || !r.reply || !sigterm || !sigint) {
        fprintf(stderr, "responder: out of memory\n");
        goto out;
    }
    evhttp_set_gencb(http, on_request, &r);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                               EVHTTP_REQ_HEAD);
    evhttp_set_timeout(http, 60);
    bs = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!bs) {
        fprintf(stderr, "responder: cannot listen on %s\n", hostport);
        goto out;
    }
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    unsigned bound = 0;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    printf("listening http %s:%u\n", host, bound);
    fflush(stdout);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(base);
    fprintf(stderr, "requests %llu\n", r.requests);
    rc = 0;
out:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (http)
        evhttp_free(http);
    if (r.reply)
        evbuffer_free(r.reply);
    if (base)
        event_base_free(base);
    return rc;
}
