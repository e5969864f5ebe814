/*
 * tests/unit/http_body.h — the body of an HTTP request or answer that a
 * test's libevent handler received, as a C string (header-only; one static
 * function).
 *
 * http_body_take(req, out, cap) moves the request's input buffer into out
 * (cap > 0): at most cap - 1 octets, the rest dropped, then a NUL.  Returns
 * the octets kept.  Works for a server handler (the request's body) and a
 * client callback (the answer's body) alike.
 *
 * Owns nothing.  May call: libevent (evhttp, evbuffer).
 */
#ifndef KYZMAT_TESTS_HTTP_BODY_H
#define KYZMAT_TESTS_HTTP_BODY_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/http.h>

static inline size_t http_body_take(struct evhttp_request *req, char *out, size_t cap)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(b);
    if (n >= cap)
        n = cap - 1;
    evbuffer_remove(b, out, n);
    out[n] = '\0';
    return n;
}

#endif
