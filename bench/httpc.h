/*
 * bench/httpc.h — the benches' raw HTTP/1.1 client pieces, shared by
 * bench_api.c and bench_sms.c: a blocking loopback connect with
 * TCP_NODELAY, and the one answer framer for keep-alive answers read back
 * to back from one buffer.
 *
 * Header-only (static inline) because each bench is one translation
 * unit.  http_answer() is pure (bytes only, no allocation); http_dial()
 * connects and blocks (the benches' client side, never the gateway).
 * May call: libc, POSIX sockets.
 */
#ifndef KYZMAT_BENCH_HTTPC_H
#define KYZMAT_BENCH_HTTPC_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY, or -1. */
static inline int http_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* One answer at the head of a buffer. */
struct http_answer {
    int status;               /* "HTTP/1.1 NNN" -> NNN (0: unreadable) */
    bool closing;             /* the server closes after it */
    const char *body;         /* into the buffer */
    size_t body_len;
};

/* Length of one complete answer at the head of in[0..len) (0: not yet),
 * with a filled.  in must have room for a NUL at in[len]. */
static inline size_t http_answer(char *in, size_t len, struct http_answer *a)
{
    in[len] = '\0';
    char *eoh = strstr(in, "\r\n\r\n");
    if (!eoh)
        return 0;
    a->status = len > 12 ? atoi(in + 9) : 0;   /* "HTTP/1.1 NNN" */
    a->closing = strncmp(in, "HTTP/1.0", 8) == 0;
    size_t clen = 0;
    for (char *h = strchr(in, '\n'); h && h < eoh; h = strchr(h, '\n')) {
        h++;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = (size_t)strtoul(h + 15, NULL, 10);
        else if (strncasecmp(h, "Connection:", 11) == 0) {
            const char *v = h + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                a->closing = true;
            else if (strncasecmp(v, "keep-alive", 10) == 0)
                a->closing = false;
        }
    }
    a->body = eoh + 4;
    a->body_len = clen;
    size_t total = (size_t)(eoh + 4 - in) + clen;
    return total > len ? 0 : total;
}

#endif
