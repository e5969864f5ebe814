/*
 * base/tls.h — OpenSSL contexts for kyzmat's TLS links, made once from a
 * configuration block, and readable reasons when a handshake fails
 * (issue 13: SMPP over TLS, HTTPS for the API and the admin listener).
 *
 * A client context verifies the server's chain against `ca` (or the
 * system's store when `ca` is unset) and, through kz_tls_client_name, its
 * host name; verification is on unless the configuration turns it off.  A
 * client certificate is sent when `cert` and `key` are set.  A server
 * context serves `cert`/`key` and, when `client_ca` is set, demands a
 * client certificate signed by it.  Both refuse anything below TLS 1.2
 * (or 1.3 with min_version "1.3").
 *
 * Not pure (reads certificate files), but does no network I/O and keeps
 * no global state beyond OpenSSL's own.  Owns: nothing; the caller owns
 * every SSL_CTX returned (SSL_CTX_free).  May call: OpenSSL (libssl,
 * libcrypto), libc.
 */
#ifndef KZ_BASE_TLS_H
#define KZ_BASE_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

struct kz_tls_opts {
    const char *ca;          /* PEM bundle that signs the peer; NULL: system store (client) */
    const char *cert;        /* our certificate chain (PEM) */
    const char *key;         /* its private key (PEM) */
    const char *client_ca;   /* server: demand client certificates signed by this */
    const char *min_version; /* "1.2" (default) or "1.3" */
    int verify;              /* client: verify the peer (1, the default) or not (0) */
};

/* A client context, or NULL with the reason in err. */
SSL_CTX *kz_tls_client_ctx(const struct kz_tls_opts *o, char *err, size_t errlen);

/* A server context (cert and key required), or NULL with the reason in err. */
SSL_CTX *kz_tls_server_ctx(const struct kz_tls_opts *o, char *err, size_t errlen);

/* Before the handshake of a client SSL: send `host` as SNI and, when the
 * context verifies, require the certificate to name it (a DNS name, or an
 * IP address written as one).  0, or -1 with the reason in err. */
int kz_tls_client_name(SSL *ssl, const char *host, char *err, size_t errlen);

/* Why the last handshake or read on `ssl` failed, for a log line: the
 * certificate verification result when there is one ("certificate verify
 * failed: hostname mismatch"), else OpenSSL's error queue (drained), else
 * "connection closed during handshake".  ssl may be NULL. */
const char *kz_tls_reason(SSL *ssl, char *buf, size_t len);

/* "1.2" or "1.3" (NULL means "1.2"): 1 if valid, else 0 (for config checks). */
int kz_tls_version_ok(const char *min_version);

#endif
