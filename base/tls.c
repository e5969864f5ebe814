/*
 * base/tls.c — OpenSSL contexts from a configuration block; the reason a
 * handshake failed.  Contract in base/tls.h.
 */
#include "base/tls.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

int kz_tls_version_ok(const char *v)
{
    return v == NULL || strcmp(v, "1.2") == 0 || strcmp(v, "1.3") == 0;
}

/* OpenSSL's queue into err (drained), prefixed with what we were doing. */
static void queue_reason(const char *what, const char *file, char *err, size_t errlen)
{
    char ossl[256] = "";
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last != 0)
        ERR_error_string_n(last, ossl, sizeof ossl);
    snprintf(err, errlen, "%s %s: %s", what, file ? file : "",
             last != 0 ? ossl : "failed");
}

/* What both kinds of context share: the floor version, our own certificate. */
static SSL_CTX *ctx_common(const SSL_METHOD *m, const struct kz_tls_opts *o,
                           char *err, size_t errlen)
{
    if (!kz_tls_version_ok(o->min_version)) {
        snprintf(err, errlen, "min_version must be \"1.2\" or \"1.3\", not \"%s\"",
                 o->min_version);
        return NULL;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        snprintf(err, errlen, "cert and key go together: set both or neither");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (ctx == NULL) {
        queue_reason("cannot make a TLS context", NULL, err, errlen);
        return NULL;
    }
    int floor = (o->min_version && strcmp(o->min_version, "1.3") == 0)
                    ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx, floor);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->cert != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
            queue_reason("cannot read certificate", o->cert, err, errlen);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
            queue_reason("cannot read key", o->key, err, errlen);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            queue_reason("key does not match certificate", o->cert, err, errlen);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *kz_tls_client_ctx(const struct kz_tls_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_common(TLS_client_method(), o, err, errlen);
    if (ctx == NULL)
        return NULL;
    if (o->verify) {
        int ok = o->ca ? SSL_CTX_load_verify_locations(ctx, o->ca, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            queue_reason("cannot read CA", o->ca ? o->ca : "(system store)", err, errlen);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

SSL_CTX *kz_tls_server_ctx(const struct kz_tls_opts *o, char *err, size_t errlen)
{
    if (o->cert == NULL || o->key == NULL) {
        snprintf(err, errlen, "a TLS listener needs cert and key");
        return NULL;
    }
    SSL_CTX *ctx = ctx_common(TLS_server_method(), o, err, errlen);
    if (ctx == NULL)
        return NULL;
    if (o->client_ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
        if (names == NULL ||
            SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            queue_reason("cannot read client CA", o->client_ca, err, errlen);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

int kz_tls_client_name(SSL *ssl, const char *host, char *err, size_t errlen)
{
    unsigned char ip[16];
    int literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    /* SNI carries names only (RFC 6066 section 3). */
    if (!literal && SSL_set_tlsext_host_name(ssl, host) != 1) {
        queue_reason("cannot set SNI", host, err, errlen);
        return -1;
    }
    if (SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
        return 0;
    X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
    int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(p, host)
                     : X509_VERIFY_PARAM_set1_host(p, host, 0);
    if (ok != 1) {
        queue_reason("cannot check the name", host, err, errlen);
        return -1;
    }
    X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return 0;
}

const char *kz_tls_reason(SSL *ssl, char *buf, size_t len)
{
    if (ssl != NULL) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            ERR_clear_error();
            snprintf(buf, len, "certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
            return buf;
        }
    }
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last != 0) {
        const char *r = ERR_reason_error_string(last);
        snprintf(buf, len, "%s", r ? r : "TLS error");
    } else {
        snprintf(buf, len, "connection closed during handshake");
    }
    return buf;
}
