/*
 * tests/unit/test_tls.c — base/tls: contexts from options, and handshakes
 * between them over an in-memory BIO pair (no sockets): a good chain and
 * name pass; a wrong CA, a wrong name, a missing client certificate or a
 * too-old protocol fail with a readable reason.
 *
 * Owns: a temporary folder of certificates made with the `openssl` command
 * (one CA, a server certificate for "smsc.test" and 127.0.0.1, a client
 * certificate, and a second, unrelated CA).  May call: base/tls, OpenSSL,
 * the openssl command, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/err.h>

#include "base/tls.h"

static char dir[] = "/tmp/kz-tls-XXXXXX";
static char path_buf[8][256];

static const char *p(int i, const char *name)
{
    snprintf(path_buf[i], sizeof path_buf[i], "%s/%s", dir, name);
    return path_buf[i];
}

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int make_certs(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    const char *q = "2>/dev/null >/dev/null";
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        const char *ca = i == 0 ? "ca" : "other";
        rc |= sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                 "-nodes -keyout %s.key -out %s.pem -days 2 -subj /CN=%s %s",
                 dir, ca, ca, ca, q);
    }
    struct { const char *name, *san; } leaf[] = {
        {"server", "DNS:smsc.test,IP:127.0.0.1"}, {"client", "DNS:agency.test"}};
    for (int i = 0; i < 2; i++) {
        rc |= sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                 "-keyout %s.key -out %s.csr -subj /CN=%s %s && printf 'subjectAltName=%s\\n' "
                 "> %s.ext && openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key "
                 "-CAcreateserial -days 2 -extfile %s.ext -out %s.pem %s",
                 dir, leaf[i].name, leaf[i].name, leaf[i].name, q, leaf[i].san,
                 leaf[i].name, leaf[i].name, leaf[i].name, leaf[i].name, q);
    }
    return rc == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    (void)state;
    return sh("rm -rf %s", dir);
}

/* Drive both ends over a BIO pair until both finish or one fails. */
static int handshake(SSL_CTX *cc, SSL_CTX *sc, const char *host, char *why, size_t wl)
{
    SSL *c = SSL_new(cc), *s = SSL_new(sc);
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    char err[256];
    if (host && kz_tls_client_name(c, host, err, sizeof err) != 0) {
        snprintf(why, wl, "%s", err);
        return -1;
    }
    int cdone = 0, sdone = 0, rc = -1;
    for (int round = 0; round < 50 && !(cdone && sdone); round++) {
        if (!cdone) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ) {
                kz_tls_reason(c, why, wl);
                goto out;
            }
        }
        if (!sdone) {
            int r = SSL_do_handshake(s);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ) {
                kz_tls_reason(s, why, wl);
                goto out;
            }
        }
    }
    rc = (cdone && sdone) ? 0 : -1;
    if (rc == 0 && why)
        snprintf(why, wl, "ok");
out:
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static SSL_CTX *server(const char *client_ca, const char *minv)
{
    char err[256];
    struct kz_tls_opts o = {.cert = p(0, "server.pem"), .key = p(1, "server.key"),
                            .client_ca = client_ca, .min_version = minv};
    SSL_CTX *ctx = kz_tls_server_ctx(&o, err, sizeof err);
    assert_non_null(ctx);
    return ctx;
}

static SSL_CTX *client(const char *ca, int client_cert, const char *maxv)
{
    char err[256];
    struct kz_tls_opts o = {.ca = ca, .verify = 1};
    if (client_cert) {
        o.cert = p(4, "client.pem");
        o.key = p(5, "client.key");
    }
    SSL_CTX *ctx = kz_tls_client_ctx(&o, err, sizeof err);
    assert_non_null(ctx);
    if (maxv)
        SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
    return ctx;
}

static void test_tls_good_chain_and_name(void **state)
{
    (void)state;
    char why[256];
    SSL_CTX *s = server(NULL, NULL), *c = client(p(2, "ca.pem"), 0, NULL);
    assert_int_equal(handshake(c, s, "smsc.test", why, sizeof why), 0);
    assert_int_equal(handshake(c, s, "127.0.0.1", why, sizeof why), 0);
    SSL_CTX_free(c);
    SSL_CTX_free(s);
}

static void test_tls_wrong_name_or_ca_refused(void **state)
{
    (void)state;
    char why[256];
    SSL_CTX *s = server(NULL, NULL);
    SSL_CTX *c = client(p(2, "ca.pem"), 0, NULL);
    assert_int_equal(handshake(c, s, "other.test", why, sizeof why), -1);
    assert_non_null(strstr(why, "hostname mismatch"));
    assert_int_equal(handshake(c, s, "127.0.0.2", why, sizeof why), -1);
    assert_non_null(strstr(why, "mismatch"));
    SSL_CTX_free(c);
    c = client(p(2, "other.pem"), 0, NULL);
    assert_int_equal(handshake(c, s, "smsc.test", why, sizeof why), -1);
    assert_non_null(strstr(why, "certificate verify failed"));
    SSL_CTX_free(c);
    /* verify: 0 is the operator's explicit choice: anything passes. */
    char err[256];
    struct kz_tls_opts o = {.verify = 0};
    c = kz_tls_client_ctx(&o, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(handshake(c, s, "other.test", why, sizeof why), 0);
    SSL_CTX_free(c);
    SSL_CTX_free(s);
}

static void test_tls_client_certificate_demanded(void **state)
{
    (void)state;
    char why[256];
    SSL_CTX *s = server(p(3, "ca.pem"), NULL);
    SSL_CTX *c = client(p(2, "ca.pem"), 0, NULL);
    assert_int_equal(handshake(c, s, "smsc.test", why, sizeof why), -1);
    SSL_CTX_free(c);
    c = client(p(2, "ca.pem"), 1, NULL);
    assert_int_equal(handshake(c, s, "smsc.test", why, sizeof why), 0);
    SSL_CTX_free(c);
    SSL_CTX_free(s);
}

static void test_tls_old_protocol_refused(void **state)
{
    (void)state;
    char why[256];
    SSL_CTX *s = server(NULL, "1.3");
    SSL_CTX *c = client(p(2, "ca.pem"), 0, "1.1");
    assert_int_equal(handshake(c, s, "smsc.test", why, sizeof why), -1);
    assert_string_not_equal(why, "ok");
    SSL_CTX_free(c);
    SSL_CTX_free(s);
}

static void test_tls_bad_options_say_why(void **state)
{
    (void)state;
    char err[256];
    struct kz_tls_opts o = {.cert = p(0, "server.pem"), .key = p(1, "client.key")};
    assert_null(kz_tls_server_ctx(&o, err, sizeof err));
    assert_non_null(strstr(err, "mismatch"));
    o = (struct kz_tls_opts){.cert = p(0, "server.pem")};
    assert_null(kz_tls_server_ctx(&o, err, sizeof err));
    o = (struct kz_tls_opts){.cert = p(0, "missing.pem"), .key = p(1, "server.key")};
    assert_null(kz_tls_server_ctx(&o, err, sizeof err));
    assert_non_null(strstr(err, "missing.pem"));
    o = (struct kz_tls_opts){.ca = p(0, "missing.pem"), .verify = 1};
    assert_null(kz_tls_client_ctx(&o, err, sizeof err));
    assert_non_null(strstr(err, "cannot read CA"));
    o = (struct kz_tls_opts){.min_version = "1.1"};
    assert_null(kz_tls_client_ctx(&o, err, sizeof err));
    assert_non_null(strstr(err, "min_version"));
    assert_true(kz_tls_version_ok(NULL));
    assert_true(kz_tls_version_ok("1.3"));
    assert_false(kz_tls_version_ok("1.0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_good_chain_and_name),
        cmocka_unit_test(test_tls_wrong_name_or_ca_refused),
        cmocka_unit_test(test_tls_client_certificate_demanded),
        cmocka_unit_test(test_tls_old_protocol_refused),
        cmocka_unit_test(test_tls_bad_options_say_why),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
