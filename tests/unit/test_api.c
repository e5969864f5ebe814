/*
 * tests/unit/test_api.c — cmocka tests of the HTTP API (gateway/api.c):
 * the API on an event_base in this process with a real store in a fresh
 * mkdtemp directory, driven by libevent's own HTTP client on the same
 * base (127.0.0.1, server port 0 read back with api_port()).
 *
 * Covers: the pure parts (SMS parts counted by the link's splitter in
 * every split mode and with Latin-1, body schemas; rendering is
 * tests/unit/test_template.c's, the SHA-256 vectors of the token hash
 * test_base.c's); every endpoint's happy path;
 * 401/403/404/405/413/415/400/409/422, each checked to change nothing in
 * the store; idempotency keys; 200 concurrent POSTs on open keep-alive
 * connections -> a few commits, and every 202 already visible to a second
 * database connection when it arrives (so it was sent after the commit);
 * a real commit failure (a deferred foreign key, installed by an extra
 * migration, fails COMMIT) -> 503 for every request of the batch and
 * nothing stored; another connection holding the write lock -> 503 busy;
 * the edge (gateway/http_edge): the head deadline on raw sockets (a
 * trickling head closed, the deadline restarting after each answer), the
 * connection cap closing the oldest idle one, the default cap and the
 * http.head_timeout / max_connections keys; evhttp's HTML pages turned
 * into JSON also behind a pipeline and for CONNECT, two Content-Length
 * headers (or one and a Transfer-Encoding) refused, a NUL after the
 * bearer token refused, the 413 sent before the body (also under Expect:
 * 100-continue).
 * USSD notices (issue 14 item 4) through a fake link adapter: STOP
 * honoured (409, not sent), law_required only with its own scope (403 on
 * every route otherwise), "from" checked (422), each notice recorded
 * before its 200, the per-phone hourly limit (429 with Retry-After).
 * Appeals (issue 12): the agency's pages, one appeal, another agency's and
 * a mistyped reference, state changes along the table, replies with their
 * idempotency key; an anonymous appeal's phone in no answer.
 *
 * Owns: its temp directories (tests/unit/tmpdb.h), bases and connections.
 * May call: gateway/api.h, gateway/appeals.h, gateway/http_edge.h, gateway/config.h, gateway/store.h, gateway/template.h,
 * gateway/log.h, gateway/outbox.h (struct outbox_route), smpp/text.h,
 * base/sha256.h, tests/unit/tmpdb.h, tests/unit/http_body.h, libevent,
 * jansson, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base64.h"
#include "base/sha256.h"

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/http_body.h"
#include "tests/unit/tmpdb.h"
#include "gateway/api.h"
#include "gateway/api_parse.h"
#include "gateway/appeals.h"
#include "gateway/config.h"
#include "gateway/http_edge.h"
#include "gateway/log.h"
#include "gateway/notify.h"
#include "gateway/outbox.h"
#include "gateway/store.h"
#include "gateway/template.h"
#include "smpp/text.h"

/* ---- fixture -------------------------------------------------------------- */

struct fx {
    struct tmpdb db;              /* first: its directory and store */
    struct event_base *base;
    struct api *api;
    int port;
    char tok_a[API_TOKEN_LEN];    /* agency "mvd", all scopes */
    char tok_b[API_TOKEN_LEN];    /* agency "tax", all scopes */
    char tok_msg[API_TOKEN_LEN];  /* agency "mvd", messages only */
    char tok_law[API_TOKEN_LEN];  /* agency "mvd", messages and law_required */
    int64_t agency_a, agency_b;
};

/* A deferred foreign key that only COMMIT checks: a message to the trap
 * number makes the whole batch fail at commit time. */
#define TRAP_NUMBER "996700000666"
static const struct store_migration trap_migration[] = {
    { "test trap",
      "CREATE TABLE trap_parent(id INTEGER PRIMARY KEY);"
      "CREATE TABLE trap(ref INTEGER REFERENCES trap_parent(id)"
      "  DEFERRABLE INITIALLY DEFERRED);"
      "CREATE TRIGGER trap_outbox AFTER INSERT ON outbox"
      "  WHEN NEW.msisdn = '" TRAP_NUMBER "'"
      "  BEGIN INSERT INTO trap(ref) VALUES (1); END;" },
};

/* The route the fixture's API is told a message takes (api_opts.route),
 * and the number it was last asked about. */
static struct outbox_route fx_route;
static int fx_route_rc;
static char fx_route_to[STORE_MSISDN_MAX];

static int fx_route_cb(void *ud, const char *msisdn, struct outbox_route *r)
{
    (void)ud;
    snprintf(fx_route_to, sizeof fx_route_to, "%s", msisdn);
    *r = fx_route;
    return fx_route_rc;
}

/* The USSN the fixture's API pushes (api_opts.ussd_notice): how many went
 * to the "link", and the last one's number and from. */
static int fx_notices;
static char fx_notice_to[STORE_MSISDN_MAX], fx_notice_from[24];
static bool fx_notice_fail;     /* the link refuses the next notices */
/* When set: a 200 with a notice id checks that this second connection
 * already sees its record (so it was sent after the commit). */
static struct store *fx_notice_check;

static int fx_notice_cb(void *ud, const char *msisdn, const char *from,
                        const char *text, int *too_long, char *err,
                        size_t errlen)
{
    (void)ud;
    (void)text;
    *too_long = 0;
    if (fx_notice_fail) {
        snprintf(err, errlen, "no bound link serves this number now");
        return -1;
    }
    fx_notices++;
    snprintf(fx_notice_to, sizeof fx_notice_to, "%s", msisdn);
    snprintf(fx_notice_from, sizeof fx_notice_from, "%s", from ? from : "");
    return 0;
}

/* The codes a notice may come from (api_opts.notice_from_ok), as
 * gateway/main.c answers for a menu set serving *100#. */
static bool fx_from_ok(void *ud, const char *from)
{
    (void)ud;
    return strcmp(from, "100") == 0 || strcmp(from, "*100#") == 0;
}

static int fx_open(void **state, bool trap)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    log_set_level(KLOG_ERROR);
    *state = f;                 /* the teardown frees what was made */
    if (tmpdb_open_with(&f->db, "kzapi", trap ? trap_migration : NULL,
                        trap ? 1 : 0) != 0)
        return -1;
    char err[256];
    if (api_token_create(f->db.st, "mvd", "*", f->tok_a, sizeof f->tok_a, err,
                         sizeof err) != STORE_OK ||
        api_token_create(f->db.st, "tax", NULL, f->tok_b, sizeof f->tok_b, err,
                         sizeof err) != STORE_OK ||
        api_token_create(f->db.st, "mvd", "messages", f->tok_msg,
                         sizeof f->tok_msg, err, sizeof err) != STORE_OK ||
        api_token_create(f->db.st, "mvd", "messages,law_required", f->tok_law,
                         sizeof f->tok_law, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "token: %s\n", err);
        return -1;
    }
    store_agency_by_code(f->db.st, "mvd", &f->agency_a);
    store_agency_by_code(f->db.st, "tax", &f->agency_b);
    f->base = event_base_new();
    if (!f->base || store_attach(f->db.st, f->base) != STORE_OK)
        return -1;
    memset(&fx_route, 0, sizeof fx_route);
    fx_route_rc = 0;
    fx_notices = 0;
    fx_notice_fail = false;
    fx_notice_check = NULL;
    /* callbacks.allow names the one loopback address the tests' callback
     * URLs use (issue 14 item 9); every other one is refused */
    static char *const allow[] = { "127.0.0.1" };
    struct api_opts o = { .listen = "127.0.0.1:0", .max_body = 65536,
                          .route = fx_route_cb, .ussd_notice = fx_notice_cb,
                          .notice_from_ok = fx_from_ok, .callback_allow = allow,
                          .callback_allow_n = 1 };
    f->api = api_new(f->base, f->db.st, &o, err, sizeof err);
    if (!f->api) {
        fprintf(stderr, "api_new: %s\n", err);
        return -1;
    }
    f->port = api_port(f->api);
    return 0;
}

static int fx_setup(void **state)
{
    return fx_open(state, false);
}

static int fx_setup_trap(void **state)
{
    return fx_open(state, true);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    api_free(f->api);
    store_close(f->db.st);      /* before the base its commit event is on */
    f->db.st = NULL;
    if (f->base)
        event_base_free(f->base);
    return tmpdb_teardown(state);
}

/* ---- client ----------------------------------------------------------------- */

struct resp {
    int done;
    int code;
    char body[4096];
    char allow[64];         /* the Allow header of a 405 */
    char retry_after[16];   /* the Retry-After header of a 429 */
    struct store *check;    /* when set: a 202's id must already be visible */
    int visible;            /* ... and this says it was */
    int64_t id;
};

static void on_resp(struct evhttp_request *req, void *arg)
{
    struct resp *r = arg;
    r->done = 1;
    if (!req) {
        r->code = -1;
        return;
    }
    r->code = evhttp_request_get_response_code(req);
    const char *allow = evhttp_find_header(evhttp_request_get_input_headers(req),
                                           "Allow");
    snprintf(r->allow, sizeof r->allow, "%s", allow ? allow : "");
    const char *ra = evhttp_find_header(evhttp_request_get_input_headers(req),
                                        "Retry-After");
    snprintf(r->retry_after, sizeof r->retry_after, "%s", ra ? ra : "");
    http_body_take(req, r->body, sizeof r->body);
    if (r->code == 200 && fx_notice_check) {
        json_t *j = json_loads(r->body, 0, NULL);
        json_t *id = j ? json_object_get(j, "id") : NULL;
        struct store_notice_rec rec;
        r->visible = id && store_notice_get(fx_notice_check,
                                            (int64_t)json_integer_value(id),
                                            &rec) == STORE_OK;
        json_decref(j);
    }
    if (r->code == 202) {
        json_t *j = json_loads(r->body, 0, NULL);
        r->id = j ? (int64_t)json_integer_value(json_object_get(j, "id")) : 0;
        json_decref(j);
        if (r->check) {
            struct store_msg *m = NULL;
            r->visible = store_msg_get(r->check, r->id, &m) == STORE_OK;
            store_msg_free(m);
        }
    }
}

static struct evhttp_request *new_req(struct resp *r, const char *token,
                                      const char *ctype, const char *body,
                                      size_t len)
{
    struct evhttp_request *req = evhttp_request_new(on_resp, r);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    if (token) {
        char auth[128];
        snprintf(auth, sizeof auth, "Bearer %s", token);
        evhttp_add_header(h, "Authorization", auth);
    }
    if (ctype)
        evhttp_add_header(h, "Content-Type", ctype);
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    return req;
}

/* One request on a fresh connection; loops the base until the answer. */
static int call(struct fx *f, enum evhttp_cmd_type m, const char *path,
                const char *token, const char *ctype, const char *body,
                size_t len, struct resp *r)
{
    memset(r, 0, sizeof *r);
    struct evhttp_connection *c =
        evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
                                   (ev_uint16_t)f->port);
    evhttp_connection_set_timeout(c, 20);
    evhttp_make_request(c, new_req(r, token, ctype, body, len), m, path);
    while (!r->done)
        event_base_loop(f->base, EVLOOP_ONCE);
    evhttp_connection_free(c);
    return r->code;
}

/* POST body (len octets) on a raw socket, sending while the base runs,
 * then read the answer until the server closes.  For answers that come
 * before the upload ends (the early 413): libevent 2.1's own client fails
 * its request when an answer and a FIN arrive while it still sends; curl
 * stops sending, and clients that send everything first (this one, Python's
 * http.client) complete it because the edge drains the rest. */
static int upload(struct fx *f, const char *path, const char *token,
                  const char *body, size_t len, struct resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)f->port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char head[512], got[8192];
    size_t hn = (size_t)snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: x\r\n"
                                 "Authorization: Bearer %s\r\nContent-Type: "
                                 "application/json\r\nContent-Length: %zu\r\n\r\n",
                                 path, token, len);
    size_t sent = 0, total = hn + len, have = 0;
    bool eof = false;
    for (int i = 0; i < 2000000 && (!eof || sent < total); i++) {
        if (sent < total) {
            const char *p = sent < hn ? head + sent : body + (sent - hn);
            size_t n = sent < hn ? hn - sent : total - sent;
            ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0)
                sent += (size_t)k;
            else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                sent = total;   /* reset: nothing more goes */
        }
        ssize_t k = recv(fd, got + have, sizeof got - 1 - have, MSG_DONTWAIT);
        if (k > 0)
            have += (size_t)k;
        else if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            eof = true;
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    }
    close(fd);
    got[have] = '\0';
    const char *b = strstr(got, "\r\n\r\n");
    r->done = 1;
    r->code = have > 12 ? atoi(got + 9) : -1;
    snprintf(r->body, sizeof r->body, "%s", b ? b + 4 : "");
    return r->code;
}

static int post(struct fx *f, const char *path, const char *token,
                const char *json, struct resp *r)
{
    return call(f, EVHTTP_REQ_POST, path, token, "application/json", json,
                json ? strlen(json) : 0, r);
}

static json_t *body_json(const struct resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    return j;
}

static int64_t jint(const struct resp *r, const char *key)
{
    json_t *j = body_json(r);
    int64_t v = (int64_t)json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

static void assert_error(const struct resp *r, int code, const char *field,
                         const char *words)
{
    assert_int_equal(r->code, code);
    json_t *j = body_json(r);
    const char *e = json_string_value(json_object_get(j, "error"));
    assert_non_null(e);
    if (words && !strstr(e, words)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", e, words);
        fail();
    }
    const char *fl = json_string_value(json_object_get(j, "field"));
    if (field)
        assert_string_equal(fl ? fl : "", field);
    json_decref(j);
}

/* Post a good message and return its id (the ids of two consecutive good
 * posts differ by 1 exactly when nothing was stored in between). */
static int64_t good_id(struct fx *f)
{
    struct resp r;
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"+996555000001\",\"text\":\"ok\"}", &r),
                     202);
    return r.id;
}

/* ---- pure parts ------------------------------------------------------------- */

static void test_parts(void **state)
{
    (void)state;
    char t[400];
    memset(t, 'a', 160);
    assert_int_equal(api_sms_parts(t, 160, 0, 0), 1);
    memset(t, 'a', 161);
    assert_int_equal(api_sms_parts(t, 161, 0, 0), 2);
    assert_int_equal(api_sms_parts("Салам", strlen("Салам"), 0, 0), 1);
    memset(t, 0, sizeof t);
    for (int i = 0; i < 71; i++)
        strcat(t, "ж");
    assert_int_equal(api_sms_parts(t, strlen(t), 0, 0), 2);
    assert_int_equal(api_sms_parts("\xff", 1, 0, 0), 0);
    assert_int_equal(api_sms_parts("", 0, 0, 0), 1);
}

/* The parts smpp_text_split() makes of s in mode, with the encoding
 * smpp_text_choose() picks under allow: what smpp/mt sends. */
static size_t splitter_parts(const char *s, enum smpp_text_split_mode mode,
                             unsigned allow)
{
    struct smpp_text_choice ch;
    assert_int_equal(smpp_text_choose((const uint8_t *)s, strlen(s), allow, &ch,
                                      NULL), SMPP_TEXT_OK);
    static struct smpp_text_part parts[SMPP_TEXT_MAX_PARTS];
    static uint8_t payload[8192];
    struct smpp_text_split_req req = { ch.enc, mode, 7, payload, sizeof payload };
    size_t n = 0;
    assert_int_equal(smpp_text_split((const uint8_t *)s, strlen(s), &req, parts,
                                     SMPP_TEXT_MAX_PARTS, &n, NULL), SMPP_TEXT_OK);
    return n;
}

static char *repeat(const char *unit, size_t times)
{
    char *s = calloc(times * strlen(unit) + 1, 1);
    for (size_t i = 0; i < times; i++)
        strcat(s, unit);
    return s;
}

/* The API counts parts with the link's splitter: GSM (basic and
 * extension table), Latin-1 (only where the link allows it), Cyrillic and
 * astral characters, in every split mode. */
static void test_parts_match_the_splitter(void **state)
{
    (void)state;
    static const enum smpp_text_split_mode modes[] = {
        SMPP_SPLIT_UDH8, SMPP_SPLIT_UDH16, SMPP_SPLIT_SAR, SMPP_SPLIT_PAYLOAD
    };
    struct { const char *unit; size_t times; } texts[] = {
        { "a", 160 }, { "a", 161 }, { "a", 305 }, { "a", 306 }, { "a", 307 },
        { "{", 80 }, { "{", 81 }, { "a{", 77 },     /* ESC pairs never split */
        { "\xc3\xb4", 140 }, { "\xc3\xb4", 141 }, { "\xc3\xb4", 300 },  /* ô */
        { "ж", 70 }, { "ж", 71 }, { "ж", 133 }, { "ж", 134 }, { "ж", 135 },
        { "ң", 200 }, { "\xf0\x9f\x98\x80", 40 }, { "a", 1000 },
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *s = repeat(texts[i].unit, texts[i].times);
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
            for (unsigned allow = 0; allow <= SMPP_TEXT_ALLOW_LATIN1; allow++) {
                size_t want = splitter_parts(s, modes[m], allow);
                unsigned got = api_sms_parts(s, strlen(s), modes[m], allow);
                if (got != want) {
                    fprintf(stderr, "%zu x \"%s\", mode %d, allow %u: %u, "
                            "the splitter %zu\n", texts[i].times, texts[i].unit,
                            (int)modes[m], allow, got, want);
                    fail();
                }
            }
        free(s);
    }
    /* the figures themselves, where the modes and Latin-1 differ */
    char *gsm = repeat("a", 305), *lat = repeat("\xc3\xb4", 100),
         *cyr = repeat("ж", 134);
    assert_int_equal(api_sms_parts(gsm, 305, SMPP_SPLIT_UDH8, 0), 2);
    assert_int_equal(api_sms_parts(gsm, 305, SMPP_SPLIT_SAR, 0), 2);
    assert_int_equal(api_sms_parts(gsm, 305, SMPP_SPLIT_UDH16, 0), 3);
    assert_int_equal(api_sms_parts(gsm, 305, SMPP_SPLIT_PAYLOAD, 0), 1);
    assert_int_equal(api_sms_parts(lat, 200, SMPP_SPLIT_UDH8, 0), 2);
    assert_int_equal(api_sms_parts(lat, 200, SMPP_SPLIT_UDH8,
                                   SMPP_TEXT_ALLOW_LATIN1), 1);
    assert_int_equal(api_sms_parts(cyr, strlen(cyr), SMPP_SPLIT_UDH8, 0), 2);
    assert_int_equal(api_sms_parts(cyr, strlen(cyr), SMPP_SPLIT_UDH16, 0), 3);
    assert_int_equal(api_sms_parts(cyr, strlen(cyr), SMPP_SPLIT_PAYLOAD, 0), 1);
    free(gsm);
    free(lat);
    free(cyr);
}

/* Bad case i of a parser: refused (-1) with a 400 naming field, its
 * message containing words. */
static void expect_refused(size_t i, int rc, const struct api_error *e,
                           const char *field, const char *words)
{
    if (rc != -1 || e->status != 400 || strcmp(e->field, field) != 0 ||
        !strstr(e->msg, words)) {
        fprintf(stderr, "case %zu: status %d field \"%s\" msg \"%s\"\n", i,
                e->status, e->field, e->msg);
        fail();
    }
}

static void test_parse(void **state)
{
    (void)state;
    struct api_message m;
    struct api_error e;
#define PM(s) api_parse_message((const uint8_t *)(s), strlen(s), &m, &e)
    assert_int_equal(PM("{\"to\":\"0555123456\",\"text\":\"hi\",\"language\":\"ru\","
                        "\"idempotency_key\":\"k1\",\"callback_url\":\"https://x/cb\","
                        "\"law_required\":true}"), 0);
    assert_string_equal(m.to, "996555123456");
    assert_string_equal(m.lang, "ru");
    assert_true(m.law_required);
    assert_string_equal(m.callback_url, "https://x/cb");
    api_message_clear(&m);
    assert_int_equal(PM("{\"to\":\"996555123456\",\"template\":\"t1\","
                        "\"variables\":{\"b\":1,\"a\":\"x\"}}"), 0);
    assert_string_equal(m.vars, "{\"a\":\"x\",\"b\":1}");
    assert_string_equal(m.lang, "ky");
    api_message_clear(&m);
    struct { const char *body, *field, *words; } bad[] = {
        { "", "", "empty" },
        { "{", "", "invalid JSON" },
        { "[]", "", "object" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"x\":1}", "x", "unknown field" },
        { "{\"to\":\"996555123456\",\"to\":\"996555123456\",\"text\":\"a\"}", "", "invalid JSON" },
        { "{\"text\":\"a\"}", "to", "missing" },
        { "{\"to\":\"12\",\"text\":\"a\"}", "to", "phone" },
        { "{\"to\":996555123456,\"text\":\"a\"}", "to", "string" },
        { "{\"to\":\"996555123456\"}", "text", "exactly one" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"template\":\"t\"}", "template", "exactly one" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"language\":\"de\"}", "language", "ky, ru, en" },
        { "{\"to\":\"996555123456\",\"text\":\"\\u0001\"}", "text", "control" },
        { "{\"to\":\"996555123456\",\"text\":\"a\\u0000b\"}", "", "invalid JSON" },
        { "{\"to\":\"996555123456\",\"text\":\"\xc3\x28\"}", "", "UTF-8" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"callback_url\":\"ftp://x\"}", "callback_url", "http" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"variables\":{}}", "variables", "template" },
        { "{\"to\":\"996555123456\",\"template\":\"t\",\"variables\":{\"a\":[]}}", "variables", "strings" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"law_required\":1}", "law_required", "true or false" },
        { "{\"to\":\"996555123456\",\"text\":\"a\",\"idempotency_key\":\"a b\"}", "idempotency_key", "printable" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_refused(i, PM(bad[i].body), &e, bad[i].field, bad[i].words);
        api_message_clear(&m);
    }
    /* length limits: 1000 characters pass, 1001 do not */
    char big[5000];
    int n = snprintf(big, sizeof big, "{\"to\":\"996555123456\",\"text\":\"");
    memset(big + n, 'a', 1000);
    strcpy(big + n + 1000, "\"}");
    assert_int_equal(PM(big), 0);
    api_message_clear(&m);
    memset(big + n, 'a', 1001);
    strcpy(big + n + 1001, "\"}");
    assert_int_equal(PM(big), -1);
    assert_string_equal(e.field, "text");
    api_message_clear(&m);
#undef PM
    struct api_slot s;
    const char *sb = "{\"office\":\"o1\",\"service\":\"pass\",\"day\":\"2026-12-01\","
                     "\"time\":\"09:30\",\"capacity\":5}";
    assert_int_equal(api_parse_slot((const uint8_t *)sb, strlen(sb), &s, &e), 0);
    assert_int_equal(s.capacity, 5);
    sb = "{\"office\":\"o1\",\"service\":\"pass\",\"day\":\"2026-13-01\","
         "\"time\":\"09:30\",\"capacity\":5}";
    assert_int_equal(api_parse_slot((const uint8_t *)sb, strlen(sb), &s, &e), -1);
    assert_string_equal(e.field, "day");
    struct api_office o;
    const char *ob = "{\"code\":\"o1\",\"name\":{\"ky\":\"Борбор\"},\"address\":{\"ru\":\"x\"}}";
    assert_int_equal(api_parse_office((const uint8_t *)ob, strlen(ob), &o, &e), -1);
    assert_string_equal(e.field, "address");
    api_office_clear(&o);
    struct api_batch bt;
    const char *bb = "{\"messages\":[{\"to\":\"+996555123456\",\"text\":\"a\"},"
                     "{\"to\":\"996700000001\",\"template\":\"t\",\"variables\":{\"x\":1}}]}";
    assert_int_equal(api_parse_batch((const uint8_t *)bb, strlen(bb), &bt, &e), 0);
    assert_int_equal(bt.n, 2);
    assert_string_equal(bt.m[1].tmpl, "t");
    api_batch_clear(&bt);
    bb = "{\"messages\":[{\"to\":\"+996555123456\",\"text\":\"a\"},{\"to\":\"abc\",\"text\":\"b\"}]}";
    assert_int_equal(api_parse_batch((const uint8_t *)bb, strlen(bb), &bt, &e), -1);
    assert_string_equal(e.field, "messages[1].to");
    assert_int_equal(e.status, 400);
    api_batch_clear(&bt);
    bb = "{\"messages\":[{\"to\":\"+996555123456\",\"text\":\"a\",\"tx\":1}]}";
    assert_int_equal(api_parse_batch((const uint8_t *)bb, strlen(bb), &bt, &e), -1);
    assert_string_equal(e.field, "messages[0].tx");
    api_batch_clear(&bt);
    const char *empties[] = { "{\"messages\":[]}", "{\"messages\":{}}", "{}", "[1]",
                              "{\"messages\":[1]}" };
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        assert_int_equal(api_parse_batch((const uint8_t *)empties[i], strlen(empties[i]),
                                         &bt, &e), -1);
        api_batch_clear(&bt);
    }
    struct api_service sv;
    const char *svb = "{\"code\":\"passport\",\"name\":{\"ky\":\"Паспорт\",\"en\":\"Passport\"}}";
    assert_int_equal(api_parse_service((const uint8_t *)svb, strlen(svb), &sv, &e), 0);
    assert_string_equal(sv.code, "passport");
    assert_string_equal(sv.name[0], "Паспорт");
    assert_null(sv.name[1]);
    api_service_clear(&sv);
    svb = "{\"code\":\"passport\"}";
    assert_int_equal(api_parse_service((const uint8_t *)svb, strlen(svb), &sv, &e), -1);
    assert_string_equal(e.field, "name");
    api_service_clear(&sv);
    svb = "{\"code\":\"pass port\",\"name\":{\"ru\":\"x\"},\"extra\":1}";
    assert_int_equal(api_parse_service((const uint8_t *)svb, strlen(svb), &sv, &e), -1);
    api_service_clear(&sv);
}

static int64_t m_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1000;
}

/* ---- endpoints ----------------------------------------------------------------- */

static void test_messages(void **state)
{
    struct fx *f = *state;
    struct resp r;
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"+996555123456\",\"text\":\"Салам\","
                          "\"language\":\"ky\",\"callback_url\":\"http://127.0.0.1:1/cb\"}",
                          &r), 202);
    int64_t id = r.id;
    assert_true(id > 0);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    assert_true(json_is_false(json_object_get(j, "duplicate")));
    json_decref(j);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id, &m), STORE_OK);
    assert_string_equal(m->to, "996555123456");
    assert_string_equal(m->text, "Салам");
    assert_string_equal(m->callback_url, "http://127.0.0.1:1/cb");
    store_msg_free(m);

    char path[64];
    snprintf(path, sizeof path, "/v1/messages/%lld", (long long)id);
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r), 200);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    assert_int_equal(json_integer_value(json_object_get(j, "parts")), 1);
    assert_true(json_integer_value(json_object_get(j, "created_at")) > 0);
    assert_true(json_is_null(json_object_get(j, "done_at")));
    json_decref(j);
    /* after a receipt the state and times follow */
    assert_int_equal(store_claim_due(f->db.st, m_now(), 1000, &m, 1,
                                     &(size_t){ 0 }), STORE_OK);
    store_msg_free(m);
    assert_int_equal(store_mark_submitted(f->db.st, id, "sim", "abc1", 5), STORE_OK);
    assert_int_equal(store_mark_failed(f->db.st, id, 0x45, 6), STORE_OK);
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r), 200);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "failed");
    assert_int_equal(json_integer_value(json_object_get(j, "error")), 0x45);
    assert_int_equal(json_integer_value(json_object_get(j, "submitted_at")), 5);
    json_decref(j);
    /* another agency's message, an unknown one, a malformed id: 404 */
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_b, NULL, NULL, 0, &r), 404);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/messages/999999", f->tok_a,
                          NULL, NULL, 0, &r), 404);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/messages/12x", f->tok_a,
                          NULL, NULL, 0, &r), 404);
    /* idempotency: same key, same id, duplicate=true; other agency: own id */
    const char *k = "{\"to\":\"996555123456\",\"text\":\"x\",\"idempotency_key\":\"k-1\"}";
    assert_int_equal(post(f, "/v1/messages", f->tok_a, k, &r), 202);
    int64_t kid = r.id;
    assert_int_equal(post(f, "/v1/messages", f->tok_a, k, &r), 202);
    assert_int_equal(r.id, kid);
    j = body_json(&r);
    assert_true(json_is_true(json_object_get(j, "duplicate")));
    json_decref(j);
    assert_int_equal(post(f, "/v1/messages", f->tok_b, k, &r), 202);
    assert_true(r.id != kid);
    /* templates are stored with their variables, and their text */
    assert_int_equal(store_template_set(f->db.st, f->agency_a, "remind", "ru",
                                        "Напоминаем: приём {day}."), STORE_OK);
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"996555123456\",\"template\":\"remind\","
                          "\"variables\":{\"day\":\"2026-12-01\"},\"language\":\"ru\"}",
                          &r), 202);
    assert_int_equal(store_msg_get(f->db.st, r.id, &m), STORE_OK);
    assert_string_equal(m->tmpl, "remind");
    assert_string_equal(m->data, "{\"day\":\"2026-12-01\"}");
    assert_string_equal(m->lang, "ru");
    assert_non_null(m->text);   /* NULL: the outbox fails it, "no text" */
    assert_string_equal(m->text, "Напоминаем: приём 2026-12-01.");
    store_msg_free(m);
    /* opted out: refused unless the law requires it */
    assert_int_equal(store_optout_set(f->db.st, "996555999999", 1), STORE_OK);
    int64_t before = good_id(f);
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"996555999999\",\"text\":\"promo\"}", &r), 409);
    assert_error(&r, 409, "to", "opted out");
    assert_int_equal(good_id(f), before + 1);
    assert_int_equal(post(f, "/v1/messages", f->tok_law,
                          "{\"to\":\"996555999999\",\"text\":\"court\","
                          "\"law_required\":true}", &r), 202);
    assert_int_equal(store_msg_get(f->db.st, r.id, &m), STORE_OK);
    assert_true(m->law_required);
    store_msg_free(m);
}

/* POST a templated message that is refused: code, field and words of the
 * answer, and nothing stored. */
static void refused_tmpl(struct fx *f, const char *path, const char *body,
                         int code, const char *field, const char *words)
{
    struct resp r;
    int64_t before = good_id(f);
    assert_int_equal(post(f, path, f->tok_a, body, &r), code);
    assert_error(&r, code, field, words);
    assert_int_equal(good_id(f), before + 1);
}

/* POST body to /v1/messages: 202, and the stored text is want; its id. */
static int64_t posted_text(struct fx *f, const char *body, const char *want)
{
    struct resp r;
    struct store_msg *m = NULL;
    assert_int_equal(post(f, "/v1/messages", f->tok_a, body, &r), 202);
    assert_int_equal(store_msg_get(f->db.st, r.id, &m), STORE_OK);
    assert_non_null(m->text);
    assert_string_equal(m->text, want);
    store_msg_free(m);
    return r.id;
}

/* A templated message is rendered when it is accepted (the outbox sends
 * text only: issue 14 item 2), with the store's fallbacks, or refused
 * with a 4xx naming what is missing; nothing is stored then. */
static void test_message_template(void **state)
{
    struct fx *f = *state;
    struct resp r;
    refused_tmpl(f, "/v1/messages",
                 "{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"variables\":{\"day\":\"1.12\"},\"language\":\"en\"}",
                 422, "template", "no template \"visit\" in language en");
    refused_tmpl(f, "/v1/messages/batch",
                 "{\"messages\":[{\"to\":\"996555123456\",\"text\":\"a\"},"
                 "{\"to\":\"996555123457\",\"template\":\"visit\"}]}",
                 422, "messages[1].template", "no template \"visit\"");
    assert_int_equal(store_template_set(f->db.st, f->agency_a, "visit", "en",
                                        "Visit on {day} at {time}."), STORE_OK);
    /* every placeholder needs a variable, every variable a placeholder */
    refused_tmpl(f, "/v1/messages",
                 "{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"variables\":{\"day\":\"1.12\"},\"language\":\"en\"}",
                 422, "variables", "needs the variable \"time\"");
    refused_tmpl(f, "/v1/messages",
                 "{\"to\":\"996555123456\",\"template\":\"visit\",\"language\":\"en\","
                 "\"variables\":{\"day\":\"1.12\",\"time\":9,\"tme\":\"x\"}}",
                 422, "variables", "has no placeholder {tme}");
    refused_tmpl(f, "/v1/messages/batch",
                 "{\"messages\":[{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"language\":\"en\",\"variables\":{\"day\":\"1\",\"time\":\"2\"}},"
                 "{\"to\":\"996555123457\",\"template\":\"visit\",\"language\":\"en\"}]}",
                 422, "messages[1].variables", "needs the variable \"day\"");
    /* the rendered text must be a text: no control characters */
    refused_tmpl(f, "/v1/messages",
                 "{\"to\":\"996555123456\",\"template\":\"visit\",\"language\":\"en\","
                 "\"variables\":{\"day\":\"1\\u0001\",\"time\":\"2\"}}",
                 400, "variables", "control character");
    /* rendered (a number as JSON writes it); the batch too */
    int64_t id = posted_text(f, "{\"to\":\"996555123456\",\"template\":\"visit\","
                             "\"language\":\"en\",\"variables\":{\"day\":\"1.12\","
                             "\"time\":9}}", "Visit on 1.12 at 9.");
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id, &m), STORE_OK);
    assert_string_equal(m->tmpl, "visit");
    store_msg_free(m);
    assert_int_equal(post(f, "/v1/messages/batch", f->tok_a,
                          "{\"messages\":[{\"to\":\"996555123456\",\"text\":\"a\"},"
                          "{\"to\":\"996555123457\",\"template\":\"visit\",\"language\":"
                          "\"en\",\"variables\":{\"day\":\"2.12\",\"time\":\"10:00\"}}]}",
                          &r), 202);
    int64_t last = good_id(f) - 1;
    assert_int_equal(store_msg_get(f->db.st, last, &m), STORE_OK);
    assert_string_equal(m->text, "Visit on 2.12 at 10:00.");
    store_msg_free(m);
    /* the language is the message's: no "visit" in ky */
    refused_tmpl(f, "/v1/messages",
                 "{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"variables\":{\"day\":\"1.12\",\"time\":9}}",
                 422, "template", "no template \"visit\" in language ky");
    /* the store's fallbacks: agency 0's text, then its status "*" */
    assert_int_equal(store_template_set(f->db.st, 0, "*", "ky",
                                        "Арыз {number}: {status}."), STORE_OK);
    assert_int_equal(store_template_set(f->db.st, 0, "visit", "ky",
                                        "Кабыл алуу {day} {time}."), STORE_OK);
    posted_text(f, "{\"to\":\"996555123456\",\"template\":\"visit\","
                "\"variables\":{\"day\":\"1.12\",\"time\":9}}", "Кабыл алуу 1.12 9.");
    posted_text(f, "{\"to\":\"996555123456\",\"template\":\"ready\","
                "\"variables\":{\"number\":\"A-7\",\"status\":\"даяр\"}}",
                "Арыз A-7: даяр.");
}

/* One element of a batch's answer: its "error" ("" when none) and id. */
static const char *batch_elem(const struct resp *r, size_t i, int64_t *id,
                              char *err, size_t cap)
{
    json_t *j = body_json(r);
    json_t *o = json_array_get(json_object_get(j, "results"), i);
    assert_non_null(o);
    const char *e = json_string_value(json_object_get(o, "error"));
    const char *fl = json_string_value(json_object_get(o, "field"));
    snprintf(err, cap, "%s%s%s", e ? e : "", fl ? " @" : "", fl ? fl : "");
    *id = (int64_t)json_integer_value(json_object_get(o, "id"));
    json_decref(j);
    return err;
}

/* POST first, then again (202 both): the same id, the second flagged a
 * duplicate; the id. */
static int64_t posted_twice(struct fx *f, const char *first, const char *again)
{
    struct resp r;
    assert_int_equal(post(f, "/v1/messages", f->tok_a, first, &r), 202);
    int64_t id = r.id;
    assert_int_equal(post(f, "/v1/messages", f->tok_a, again, &r), 202);
    assert_int_equal(r.id, id);
    json_t *j = body_json(&r);
    assert_true(json_is_true(json_object_get(j, "duplicate")));
    json_decref(j);
    return id;
}

/* Issue 14 item 8: an idempotency key reused with other content is a 409
 * naming the key (nothing stored), not a 202 duplicate; the same content
 * in another spelling (key order, white space, the number's "+", a
 * default written out, variables in another order) still is one. */
static void test_idempotency_conflict(void **state)
{
    struct fx *f = *state;
    struct resp r;
    int64_t id = posted_twice(f, "{\"to\":\"996555123456\",\"text\":\"first\","
                              "\"idempotency_key\":\"order-7\"}",
                              "{ \"idempotency_key\" : \"order-7\", \"text\":\"first\","
                              "\n \"language\":\"ky\", \"law_required\":false,"
                              " \"to\":\"+996555123456\" }");
    refused_tmpl(f, "/v1/messages", "{\"to\":\"996555123456\",\"text\":\"second\","
                 "\"idempotency_key\":\"order-7\"}", 409, "idempotency_key",
                 "\"order-7\"");
    refused_tmpl(f, "/v1/messages", "{\"to\":\"996555000777\",\"text\":\"first\","
                 "\"idempotency_key\":\"order-7\"}", 409, "idempotency_key",
                 "different message");
    /* templated: the variables are compared as values */
    assert_int_equal(store_template_set(f->db.st, f->agency_a, "visit", "en",
                                        "Visit on {day} at {time}."), STORE_OK);
    posted_twice(f, "{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"language\":\"en\",\"idempotency_key\":\"v-1\","
                 "\"variables\":{\"day\":\"1.12\",\"time\":9}}",
                 "{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"language\":\"en\",\"idempotency_key\":\"v-1\","
                 "\"variables\":{\"time\":9,\"day\":\"1.12\"}}");
    refused_tmpl(f, "/v1/messages", "{\"to\":\"996555123456\",\"template\":\"visit\","
                 "\"language\":\"en\",\"idempotency_key\":\"v-1\","
                 "\"variables\":{\"time\":10,\"day\":\"1.12\"}}", 409,
                 "idempotency_key", "\"v-1\"");
    /* a batch answers it per message: the same content is a duplicate, the
     * other one an error naming the key, and the rest is stored */
    int64_t before = good_id(f);
    assert_int_equal(post(f, "/v1/messages/batch", f->tok_a,
                          "{\"messages\":[{\"text\":\"first\",\"to\":\"996555123456\","
                          "\"idempotency_key\":\"order-7\"},{\"to\":\"996555123456\","
                          "\"text\":\"third\",\"idempotency_key\":\"order-7\"},"
                          "{\"to\":\"996555123456\",\"text\":\"new\"}]}", &r), 202);
    char err[300];
    int64_t eid;
    assert_string_equal(batch_elem(&r, 0, &eid, err, sizeof err), "");
    assert_int_equal(eid, id);
    batch_elem(&r, 1, &eid, err, sizeof err);
    assert_non_null(strstr(err, "\"order-7\""));
    assert_non_null(strstr(err, "@idempotency_key"));
    assert_string_equal(batch_elem(&r, 2, &eid, err, sizeof err), "");
    assert_int_equal(eid, before + 1);
    assert_int_equal(good_id(f), before + 2);
    /* the first message was not changed by any of it */
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id, &m), STORE_OK);
    assert_string_equal(m->text, "first");
    assert_string_equal(m->to, "996555123456");
    store_msg_free(m);
}

/* Issue 14 item 9: a callback_url that names a loopback, link-local or
 * metadata address (or localhost) is refused with 422 before anything is
 * stored, unless callbacks.allow names it (the fixture allows 127.0.0.1). */
static void test_callback_url_refused(void **state)
{
    struct fx *f = *state;
    static const char *const urls[] = {
        "http://localhost:8080/cb", "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/cb", "http://127.0.0.2/cb", "http://127.1.2.3/cb",
        "http://0.0.0.0:80/cb", "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/", "http://[fe80::1]/", "https://API.localhost/",
        "http://2852039166/",   /* 169.254.169.254 as one number */
        "http://hooks.example.org@127.0.0.5/cb",
    };
    char body[300];
    struct resp r;
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        snprintf(body, sizeof body, "{\"to\":\"996555123456\",\"text\":\"x\","
                 "\"callback_url\":\"%s\"}", urls[i]);
        refused_tmpl(f, "/v1/messages", body, 422, "callback_url", "callbacks.allow");
    }
    refused_tmpl(f, "/v1/messages/batch",
                 "{\"messages\":[{\"to\":\"996555123456\",\"text\":\"a\"},"
                 "{\"to\":\"996555123456\",\"text\":\"b\","
                 "\"callback_url\":\"http://169.254.169.254/\"}]}",
                 422, "messages[1].callback_url", "callbacks.allow");
    /* what the list names, and public names, pass */
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"996555123456\",\"text\":\"x\","
                          "\"callback_url\":\"http://127.0.0.1:9/cb\"}", &r), 202);
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"996555123456\",\"text\":\"x\","
                          "\"callback_url\":\"https://hooks.example.org/cb\"}", &r), 202);
}

/* The secret of a 201 from POST /v1/webhook-secret, and its
 * previous_valid_until (0 when null). */
static void webhook_secret(const struct resp *r, char *secret, size_t cap,
                           int64_t *prev_until)
{
    assert_int_equal(r->code, 201);
    json_t *j = body_json(r);
    const char *s = json_string_value(json_object_get(j, "secret"));
    assert_non_null(s);
    snprintf(secret, cap, "%s", s);
    json_t *p = json_object_get(j, "previous_valid_until");
    assert_true(json_is_null(p) || json_is_integer(p));
    *prev_until = json_is_integer(p) ? (int64_t)json_integer_value(p) : 0;
    json_decref(j);
}

/* Is key (as stored) the one secret ("whsec_" + base64) stands for? */
static void assert_key(const uint8_t *key, size_t len, const char *secret)
{
    char b64[100];
    assert_int_equal(len, 32);
    assert_int_equal(kz_base64_encode(key, len, b64, sizeof b64), 44);
    assert_memory_equal(secret, "whsec_", 6);
    assert_string_equal(secret + 6, b64);
}

/* Issue 14 item 9: an agency gets (and rotates) its callback signing key
 * from an authenticated route; the old key keeps signing for a day. */
static void test_webhook_secret(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char s1[80], s2[80];
    int64_t prev = -1;
    assert_int_equal(post(f, "/v1/webhook-secret", NULL, NULL, &r), 401);
    char tok_t[API_TOKEN_LEN], err[200];
    assert_int_equal(api_token_create(f->db.st, "mvd", "templates", tok_t,
                                      sizeof tok_t, err, sizeof err), STORE_OK);
    assert_int_equal(post(f, "/v1/webhook-secret", tok_t, NULL, &r), 403);
    /* a message of the agency, to ask the store for its keys */
    assert_int_equal(post(f, "/v1/messages", f->tok_a,
                          "{\"to\":\"996555123456\",\"text\":\"x\"}", &r), 202);
    int64_t id = r.id;
    struct store_webhook_keys k;
    assert_int_equal(store_webhook_keys(f->db.st, id, m_now(), &k), STORE_NOTFOUND);

    assert_int_equal(post(f, "/v1/webhook-secret", f->tok_msg, NULL, &r), 201);
    webhook_secret(&r, s1, sizeof s1, &prev);
    assert_int_equal(strlen(s1), 6 + 44);
    assert_int_equal(prev, 0);
    assert_int_equal(store_webhook_keys(f->db.st, id, m_now(), &k), STORE_OK);
    assert_int_equal(k.n, 1);
    assert_key(k.key[0], k.len[0], s1);

    assert_int_equal(post(f, "/v1/webhook-secret", f->tok_a, NULL, &r), 201);
    webhook_secret(&r, s2, sizeof s2, &prev);
    assert_string_not_equal(s1, s2);
    int64_t now = m_now();
    assert_true(prev > now + 23 * 3600 * 1000LL && prev < now + 25 * 3600 * 1000LL);
    assert_int_equal(store_webhook_keys(f->db.st, id, now, &k), STORE_OK);
    assert_int_equal(k.n, 2);
    assert_key(k.key[0], k.len[0], s2);
    assert_key(k.key[1], k.len[1], s1);
    assert_int_equal(store_webhook_keys(f->db.st, id, prev, &k), STORE_OK);
    assert_int_equal(k.n, 1);
    assert_key(k.key[0], k.len[0], s2);
    /* another agency's messages are not signed with it */
    assert_int_equal(post(f, "/v1/messages", f->tok_b,
                          "{\"to\":\"996555123456\",\"text\":\"x\"}", &r), 202);
    assert_int_equal(store_webhook_keys(f->db.st, r.id, now, &k), STORE_NOTFOUND);
}

static int get_parts(struct fx *f, int64_t id)
{
    char path[64];
    struct resp r;
    snprintf(path, sizeof path, "/v1/messages/%lld", (long long)id);
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r),
                     200);
    return (int)jint(&r, "parts");
}

/* GET /v1/messages/{id} counts a queued message in the parts the link of
 * its route will send: that link's split mode and Latin-1 permission. */
static void test_message_parts_follow_route(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char body[1024];
    char *gsm = repeat("a", 305), *lat = repeat("\xc3\xb4", 100);
    snprintf(body, sizeof body, "{\"to\":\"+996555123456\",\"text\":\"%s\"}", gsm);
    assert_int_equal(post(f, "/v1/messages", f->tok_a, body, &r), 202);
    int64_t id = r.id;
    assert_int_equal(get_parts(f, id), 2);
    assert_string_equal(fx_route_to, "996555123456");
    fx_route.split = SMPP_SPLIT_UDH16;
    assert_int_equal(get_parts(f, id), 3);
    fx_route.split = SMPP_SPLIT_SAR;
    assert_int_equal(get_parts(f, id), 2);
    fx_route.split = SMPP_SPLIT_PAYLOAD;
    assert_int_equal(get_parts(f, id), 1);
    fx_route_rc = -2;               /* no link serves it now: the defaults */
    assert_int_equal(get_parts(f, id), 2);
    fx_route_rc = 0;
    fx_route.split = SMPP_SPLIT_UDH8;
    snprintf(body, sizeof body, "{\"to\":\"+996555123456\",\"text\":\"%s\"}", lat);
    assert_int_equal(post(f, "/v1/messages", f->tok_a, body, &r), 202);
    assert_int_equal(get_parts(f, r.id), 2);                /* UCS-2 */
    fx_route.allow = SMPP_TEXT_ALLOW_LATIN1;
    assert_int_equal(get_parts(f, r.id), 1);                /* Latin-1 */
    free(gsm);
    free(lat);
}

/* The route table's edges: the first path that fits is the resource, its
 * methods make the 405's Allow, {params} are one segment each, and the
 * 404 of a path under /v1/templates/ says what the paths are. */
static void test_routing(void **state)
{
    struct fx *f = *state;
    struct resp r;
    const char *templ = "templates are /v1/templates/{status}/{language}";
    call(f, EVHTTP_REQ_GET, "/v1/messages/batch", f->tok_a, NULL, NULL, 0, &r);
    assert_error(&r, 405, NULL, "method not allowed");
    assert_string_equal(r.allow, "POST");
    call(f, EVHTTP_REQ_POST, "/v1/messages/12", f->tok_a, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 405);
    assert_string_equal(r.allow, "GET");
    call(f, EVHTTP_REQ_POST, "/v1/templates/ready/ky", f->tok_a, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 405);
    assert_string_equal(r.allow, "GET, PUT, DELETE");
    call(f, EVHTTP_REQ_DELETE, "/v1/health", NULL, NULL, NULL, 0, &r);
    assert_string_equal(r.allow, "GET");
    /* 404s come before the token is looked at */
    const char *miss[] = { "/v1/templates/", "/v1/templates/ready",
                           "/v1/templates/ready/ky/x", "/v1/templates//ky",
                           "/v1/templates/ready/kyrgyzstan", "/v1/templates/a%00/ky" };
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        call(f, EVHTTP_REQ_GET, miss[i], NULL, NULL, NULL, 0, &r);
        assert_error(&r, 404, NULL, templ);
    }
    const char *none[] = { "/v1/messages/", "/v1/messages/1/2",
                           "/v1/applications//status", "/v1/health/",
                           "/v1/applications/a/b/status", "/v1" };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        call(f, EVHTTP_REQ_GET, none[i], NULL, NULL, NULL, 0, &r);
        assert_error(&r, 404, NULL, "no such resource");
    }
    /* an application number longer than any code is no resource; one of
     * 64 bytes is one, and is refused by the number rule after the token */
    char path[160], num[70];
    memset(num, 'A', 65);
    num[65] = '\0';
    snprintf(path, sizeof path, "/v1/applications/%s/status", num);
    call(f, EVHTTP_REQ_POST, path, NULL, NULL, NULL, 0, &r);
    assert_error(&r, 404, NULL, "no such resource");
    num[64] = '\0';
    snprintf(path, sizeof path, "/v1/applications/%s/status", num);
    call(f, EVHTTP_REQ_POST, path, NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 401);
    post(f, path, f->tok_a, "{\"status\":\"x\"}", &r);
    assert_error(&r, 404, NULL, "application number must be");
    /* a message id: digits only, in range, else no such message */
    const char *ids[] = { "/v1/messages/0", "/v1/messages/-1", "/v1/messages/%31",
                          "/v1/messages/99999999999999999999", "/v1/messages/+1" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        call(f, EVHTTP_REQ_GET, ids[i], f->tok_a, NULL, NULL, 0, &r);
        assert_error(&r, 404, NULL, "no such message");
    }
    int64_t id = good_id(f);
    snprintf(path, sizeof path, "/v1/messages/000%lld", (long long)id);
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r),
                     200);
    /* template path segments are percent-decoded */
    assert_int_equal(call(f, EVHTTP_REQ_PUT, "/v1/templates/re%61dy/k%79", f->tok_a,
                          "application/json", "{\"text\":\"x\"}", 12, &r), 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    assert_string_equal(json_string_value(json_object_get(j, "language")), "ky");
    json_decref(j);
}

static void test_errors_change_nothing(void **state)
{
    struct fx *f = *state;
    struct resp r;
    struct api_stats s0, s1;
    int64_t id0 = good_id(f);
    api_get_stats(f->api, &s0);
    const char *ok = "{\"to\":\"996555123456\",\"text\":\"a\"}";

    call(f, EVHTTP_REQ_POST, "/v1/messages", NULL, "application/json", ok,
         strlen(ok), &r);
    assert_error(&r, 401, NULL, "missing");
    post(f, "/v1/messages", "kz_00", ok, &r);
    assert_error(&r, 401, NULL, "unknown");
    post(f, "/v1/offices", f->tok_msg, "{\"code\":\"o\",\"name\":{\"ky\":\"x\"}}", &r);
    assert_error(&r, 403, NULL, "scope");
    call(f, EVHTTP_REQ_POST, "/v1/messages", f->tok_a, "text/plain", ok,
         strlen(ok), &r);
    assert_error(&r, 415, NULL, "application/json");
    call(f, EVHTTP_REQ_POST, "/v1/messages", f->tok_a, NULL, ok, strlen(ok), &r);
    assert_error(&r, 415, NULL, NULL);
    call(f, EVHTTP_REQ_GET, "/v1/messages", f->tok_a, NULL, NULL, 0, &r);
    assert_error(&r, 405, NULL, "method");
    call(f, EVHTTP_REQ_DELETE, "/v1/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 405);
    call(f, EVHTTP_REQ_GET, "/v1/nothing", f->tok_a, NULL, NULL, 0, &r);
    assert_error(&r, 404, NULL, "no such");
    call(f, EVHTTP_REQ_GET, "/", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 404);
    post(f, "/v1/messages", f->tok_a, "{\"to\":", &r);
    assert_error(&r, 400, NULL, "invalid JSON");
    post(f, "/v1/messages", f->tok_a, "{\"to\":\"996555123456\",\"text\":\"a\",\"nope\":1}", &r);
    assert_error(&r, 400, "nope", "unknown field");
    post(f, "/v1/messages", f->tok_a, "{\"to\":\"+1 555\",\"text\":\"a\"}", &r);
    assert_error(&r, 400, "to", "phone");
    post(f, "/v1/messages", f->tok_a, "{\"to\":\"996555123456\",\"text\":\"\xed\xa0\x80\"}", &r);
    assert_error(&r, 400, NULL, "UTF-8");
    post(f, "/v1/messages", f->tok_a, "{\"to\":\"996555123456\"}", &r);
    assert_error(&r, 400, NULL, "required");
    post(f, "/v1/messages", f->tok_a, "{\"text\":\"a\"}", &r);
    assert_error(&r, 400, "to", "missing");
    /* 10 MB body: 413 from evhttp's cap, before any of it is handled, as
     * our JSON error (not evhttp's HTML page); one byte over the cap too
     * (sent with upload(): the 413 comes while the body is still going) */
    size_t big = 10u << 20;
    char *b = malloc(big);
    memset(b, ' ', big);
    memcpy(b, ok, strlen(ok));
    upload(f, "/v1/messages", f->tok_a, b, big, &r);
    assert_error(&r, 413, NULL, "at most 65536 bytes");
    json_t *j413 = body_json(&r);
    assert_true(json_is_null(json_object_get(j413, "field")));
    json_decref(j413);
    upload(f, "/v1/messages", f->tok_a, b, 65537, &r);
    assert_error(&r, 413, NULL, "http.max_body");
    /* exactly the cap reaches our parser (here: cut JSON -> 400) */
    memset(b, ' ', 65536);
    memcpy(b, "{\"to\":", 6);
    call(f, EVHTTP_REQ_POST, "/v1/messages", f->tok_a, "application/json", b,
         65536, &r);
    assert_error(&r, 400, NULL, "invalid JSON");
    free(b);
    /* a method evhttp refuses by itself: its 501 page is JSON too */
    call(f, EVHTTP_REQ_TRACE, "/v1/messages", f->tok_a, NULL, NULL, 0, &r);
    assert_error(&r, 501, NULL, "method not implemented");

    /* applications, offices, slots refused: none created */
    post(f, "/v1/applications/A-9/status", f->tok_a, "{\"status\":\"ready\"}", &r);
    assert_error(&r, 400, "owner", "owner");
    post(f, "/v1/applications/A-9/status", f->tok_a,
         "{\"status\":\"ready\",\"owner\":\"996555123456\",\"colour\":1}", &r);
    assert_error(&r, 400, "colour", "unknown field");
    struct store_app app;
    assert_int_equal(store_app_get(f->db.st, f->agency_a, "A-9", &app),
                     STORE_NOTFOUND);
    post(f, "/v1/offices", f->tok_a, "{\"code\":\"o9\",\"name\":{\"de\":\"x\"}}", &r);
    assert_error(&r, 400, "name", "language");
    post(f, "/v1/slots", f->tok_a, "{\"office\":\"o9\",\"service\":\"s9\","
         "\"day\":\"2026-12-01\",\"time\":\"09:00\",\"capacity\":3}", &r);
    assert_error(&r, 422, "office", "unknown office");
    int64_t x, y;
    assert_int_equal(store_office_by_code(f->db.st, "o9", &x, &y), STORE_NOTFOUND);
    assert_int_equal(store_service_by_code(f->db.st, "s9", &x, &y), STORE_NOTFOUND);

    api_get_stats(f->api, &s1);
    assert_int_equal(s1.accepted, s0.accepted);
    assert_int_equal(good_id(f), id0 + 1);
    /* health: no token needed, counters */
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/health", NULL, NULL, NULL, 0, &r), 200);
    json_t *j = body_json(&r);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_true(json_integer_value(json_object_get(j, "rejected")) >= 15);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")),
                     (json_int_t)s1.accepted + 1);
    json_decref(j);
}

/* agency's application number is stored with this status and owner. */
static void expect_app(struct fx *f, int64_t agency, const char *number,
                       const char *status, const char *owner)
{
    struct store_app app;
    assert_int_equal(store_app_get(f->db.st, agency, number, &app), STORE_OK);
    assert_string_equal(app.owner, owner);
    assert_string_equal(app.status, status);
    assert_int_equal(app.agency_id, agency);
}

static void test_applications(void **state)
{
    struct fx *f = *state;
    struct resp r;
    assert_int_equal(store_template_set(f->db.st, f->agency_a, "ready", "ky",
                                        "Арыз {number}: {status}. {note}"),
                     STORE_OK);
    char topic[NOTIFY_TOPIC_MAX];
    notify_topic(f->agency_a, "A-1", topic, sizeof topic);
    assert_int_equal(store_sub_add(f->db.st, "996700000002", topic, 1), STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000003", topic, 1), STORE_OK);
    assert_int_equal(store_optout_set(f->db.st, "996700000003", 1), STORE_OK);
    /* the opt-out dropped 3's subscription; subscribe again after it */
    assert_int_equal(store_optout_set(f->db.st, "996700000004", 1), STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000004", topic, 1), STORE_OK);
    int64_t id0 = good_id(f);

    assert_int_equal(post(f, "/v1/applications/A-1/status", f->tok_a,
                          "{\"status\":\"ready\",\"owner\":\"0700000001\","
                          "\"service\":\"passport\",\"note\":\"Кабинет 5\"}", &r),
                     201);
    json_t *j = body_json(&r);
    assert_true(json_is_true(json_object_get(j, "created")));
    assert_int_equal(json_integer_value(json_object_get(j, "queued")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "opted_out")), 1);
    json_decref(j);
    expect_app(f, f->agency_a, "A-1", "ready", "996700000001");
    /* the SMS: owner then subscriber, rendered in the owner's language */
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id0 + 1, &m), STORE_OK);
    assert_string_equal(m->to, "996700000001");
    assert_string_equal(m->text, "Арыз A-1: ready. Кабинет 5");
    store_msg_free(m);
    assert_int_equal(store_msg_get(f->db.st, id0 + 2, &m), STORE_OK);
    assert_string_equal(m->to, "996700000002");
    store_msg_free(m);

    assert_int_equal(post(f, "/v1/applications/A-1/status", f->tok_a,
                          "{\"status\":\"issued\",\"notify\":false}", &r), 200);
    struct store_app_event ev[4];
    size_t n = 0;
    assert_int_equal(store_app_history(f->db.st, f->agency_a, "A-1", ev, 4,
                                       &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].status, "issued");
    /* another agency: A's number is one it does not have (issue 14 item
     * 6), answered as one nobody has, and A's history is untouched */
    assert_int_equal(post(f, "/v1/applications/A-1/status", f->tok_b,
                          "{\"status\":\"lost\"}", &r), 400);
    assert_error(&r, 400, "owner", "owner");
    struct resp nobody;
    assert_int_equal(post(f, "/v1/applications/Z-404/status", f->tok_b,
                          "{\"status\":\"lost\"}", &nobody), 400);
    assert_string_equal(r.body, nobody.body);
    assert_int_equal(store_app_history(f->db.st, f->agency_a, "A-1", ev, 4,
                                       &n), STORE_OK);
    assert_int_equal(n, 2);
    /* token without the applications scope */
    assert_int_equal(post(f, "/v1/applications/A-1/status", f->tok_msg,
                          "{\"status\":\"lost\"}", &r), 403);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/applications/A-1/status",
                          f->tok_a, NULL, NULL, 0, &r), 405);
    assert_int_equal(good_id(f), id0 + 3);
}

/* Issue 14 item 6: two agencies both have "12345", each changing and
 * telling only its own; neither learns of the other's (no 403). */
static void test_app_numbers_per_agency(void **state)
{
    struct fx *f = *state;
    struct resp r;
    int64_t id0 = good_id(f);
    assert_int_equal(post(f, "/v1/applications/12345/status", f->tok_a,
                          "{\"status\":\"ready\",\"owner\":\"0700000001\"}",
                          &r), 201);
    assert_int_equal(post(f, "/v1/applications/12345/status", f->tok_b,
                          "{\"status\":\"new\",\"owner\":\"0700000002\"}",
                          &r), 201);
    json_t *j = body_json(&r);
    assert_true(json_is_true(json_object_get(j, "created")));
    assert_int_equal(json_integer_value(json_object_get(j, "queued")), 1);
    json_decref(j);
    /* B's change went to B's owner only */
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id0 + 2, &m), STORE_OK);
    assert_string_equal(m->to, "996700000002");
    store_msg_free(m);
    /* A changes its own again: A's owner, not B's */
    assert_int_equal(post(f, "/v1/applications/12345/status", f->tok_a,
                          "{\"status\":\"issued\"}", &r), 200);
    assert_int_equal(store_msg_get(f->db.st, id0 + 3, &m), STORE_OK);
    assert_string_equal(m->to, "996700000001");
    store_msg_free(m);
    expect_app(f, f->agency_a, "12345", "issued", "996700000001");
    expect_app(f, f->agency_b, "12345", "new", "996700000002");
    assert_int_equal(good_id(f), id0 + 4);
}

static void test_offices_slots(void **state)
{
    struct fx *f = *state;
    struct resp r;
    const char *o = "{\"code\":\"bishkek-1\",\"name\":{\"ky\":\"Бишкек 1\","
                    "\"ru\":\"Бишкек 1\"},\"address\":{\"ky\":\"Чүй 100\"}}";
    assert_int_equal(post(f, "/v1/offices", f->tok_a, o, &r), 201);
    int64_t oid = jint(&r, "id");
    assert_int_equal(post(f, "/v1/offices", f->tok_a, o, &r), 200);
    assert_int_equal(jint(&r, "id"), oid);
    char name[64], addr[64];
    assert_int_equal(store_office_name(f->db.st, oid, "ky", NULL, name, sizeof name,
                                       addr, sizeof addr), STORE_OK);
    assert_string_equal(name, "Бишкек 1");
    assert_string_equal(addr, "Чүй 100");
    assert_int_equal(post(f, "/v1/offices", f->tok_b, o, &r), 403);

    const char *s = "{\"office\":\"bishkek-1\",\"service\":\"passport\","
                    "\"day\":\"2026-12-01\",\"time\":\"09:30\",\"capacity\":3}";
    assert_int_equal(post(f, "/v1/slots", f->tok_a, s, &r), 200);
    int64_t sid = jint(&r, "id");
    struct store_slot sl;
    assert_int_equal(store_slot_get(f->db.st, sid, &sl), STORE_OK);
    assert_int_equal(sl.capacity, 3);
    assert_int_equal(sl.office_id, oid);
    /* capacity change; below the booked places is a conflict */
    int64_t bid;
    assert_int_equal(store_book(f->db.st, "996555000001", sid, 1, &bid), STORE_OK);
    assert_int_equal(store_book(f->db.st, "996555000002", sid, 1, &bid), STORE_OK);
    s = "{\"office\":\"bishkek-1\",\"service\":\"passport\","
        "\"day\":\"2026-12-01\",\"time\":\"09:30\",\"capacity\":1}";
    assert_int_equal(post(f, "/v1/slots", f->tok_a, s, &r), 409);
    assert_int_equal(store_slot_get(f->db.st, sid, &sl), STORE_OK);
    assert_int_equal(sl.capacity, 3);
    s = "{\"office\":\"bishkek-1\",\"service\":\"passport\","
        "\"day\":\"2026-12-01\",\"time\":\"09:30\",\"capacity\":10}";
    assert_int_equal(post(f, "/v1/slots", f->tok_a, s, &r), 200);
    assert_int_equal(jint(&r, "booked"), 2);
    assert_int_equal(store_slot_get(f->db.st, sid, &sl), STORE_OK);
    assert_int_equal(sl.capacity, 10);
    /* another agency cannot publish into this office */
    assert_int_equal(post(f, "/v1/slots", f->tok_b, s, &r), 403);
}

/* ---- group commit ------------------------------------------------------------ */

#define NCONC 200

struct conc {
    struct evhttp_connection *c[NCONC];
    struct resp r[NCONC];
    struct store *check;        /* a second connection to the database */
};

/* Open NCONC keep-alive connections (one GET each) so the POSTs that follow
 * all arrive on established connections in as few passes as possible. */
static void conc_open(struct fx *f, struct conc *k)
{
    for (int i = 0; i < NCONC; i++) {
        k->c[i] = evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
                                             (ev_uint16_t)f->port);
        evhttp_connection_set_timeout(k->c[i], 30);
        memset(&k->r[i], 0, sizeof k->r[i]);
        evhttp_make_request(k->c[i], new_req(&k->r[i], NULL, NULL, NULL, 0),
                            EVHTTP_REQ_GET, "/v1/health");
    }
    for (int i = 0; i < NCONC; i++) {
        while (!k->r[i].done)
            event_base_loop(f->base, EVLOOP_ONCE);
        assert_int_equal(k->r[i].code, 200);
    }
}

/* One POST /v1/messages on every connection: connection i uses token
 * toks[(i / run) % ntok] and text "<tag><i>", to the trap number on
 * connection trap_i (-1: none); a 202 is checked against `check` (NULL:
 * not).  Runs the loop until every answer is in. */
struct conc_send {
    const char *const *toks;
    int ntok, run;
    char tag;
    struct store *check;
    const char *trap_to;
    int trap_i;
};

static void conc_send(struct fx *f, struct conc *k, const struct conc_send *cs)
{
    for (int i = 0; i < NCONC; i++) {
        memset(&k->r[i], 0, sizeof k->r[i]);
        k->r[i].check = cs->check;
        char body[128];
        snprintf(body, sizeof body, "{\"to\":\"%s\",\"text\":\"%c%d\"}",
                 i == cs->trap_i ? cs->trap_to : "996555100000", cs->tag, i);
        evhttp_make_request(k->c[i], new_req(&k->r[i],
                                             cs->toks[(i / cs->run) % cs->ntok],
                                             "application/json", body,
                                             strlen(body)),
                            EVHTTP_REQ_POST, "/v1/messages");
    }
    for (int i = 0; i < NCONC; i++)
        while (!k->r[i].done)
            event_base_loop(f->base, EVLOOP_ONCE);
}

/* NCONC messages from tok_a, the trap on trap_i, checked against k->check. */
static void conc_post(struct fx *f, struct conc *k, const char *trap_to, int trap_i)
{
    const char *tok[1] = { f->tok_a };
    struct conc_send cs = { tok, 1, 1, 'n', k->check, trap_to, trap_i };
    conc_send(f, k, &cs);
}

/* The connections opened (conc_open) and a second database connection
 * (with the trap migration when the fixture has it). */
static struct conc *conc_new(struct fx *f, bool trap)
{
    struct conc *k = calloc(1, sizeof *k);
    assert_non_null(k);
    if (trap) {
        char err[256];
        assert_int_equal(store_open_with(f->db.path, STORE_SYNC_NORMAL, trap_migration,
                                         1, &k->check, err, sizeof err), STORE_OK);
    } else {
        k->check = tmpdb_connect(&f->db);
    }
    conc_open(f, k);
    return k;
}

static void conc_free(struct conc *k)
{
    for (int i = 0; i < NCONC; i++)
        evhttp_connection_free(k->c[i]);
    store_close(k->check);
    free(k);
}

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    struct conc *k = conc_new(f, false);
    struct api_stats s0, s1;
    api_get_stats(f->api, &s0);
    conc_post(f, k, NULL, -1);
    api_get_stats(f->api, &s1);
    for (int i = 0; i < NCONC; i++) {
        assert_int_equal(k->r[i].code, 202);
        assert_true(k->r[i].visible);   /* committed before the 202 left */
        for (int j = 0; j < i; j++)
            assert_true(k->r[j].id != k->r[i].id);
    }
    uint64_t commits = s1.commits - s0.commits;
    fprintf(stderr, "# %d concurrent POSTs: %llu commits\n", NCONC,
            (unsigned long long)commits);
    assert_true(commits >= 1);
    assert_true(commits <= 10);
    assert_int_equal(s1.accepted - s0.accepted, NCONC);
    conc_free(k);
}

/*
 * The token cache (api.c, authorize): within one commit group the last
 * token's look-up is reused.  Mixed tokens in the same groups must each
 * get their own agency, a token differing from the cached one in its last
 * character must not ride on it, and a token revoked between groups is
 * refused in the next one.
 */
static void test_token_cache_groups(void **state)
{
    struct fx *f = *state;
    char forged[API_TOKEN_LEN];
    memcpy(forged, f->tok_a, sizeof forged);
    size_t fl = strlen(forged);
    forged[fl - 1] = forged[fl - 1] == '0' ? '1' : '0';
    const char *toks[3] = { f->tok_a, f->tok_b, forged };
    char want_a[32], want_b[32];
    snprintf(want_a, sizeof want_a, "agency:%lld", (long long)f->agency_a);
    snprintf(want_b, sizeof want_b, "agency:%lld", (long long)f->agency_b);
    struct conc *k = conc_new(f, false);
    struct store *st2 = k->check;
    struct api_stats s0, s1;
    api_get_stats(f->api, &s0);
    /* runs of the same token, so the cache is hit, then a switch */
    struct conc_send mixed = { toks, 3, 7, 'c', st2, NULL, -1 };
    conc_send(f, k, &mixed);
    api_get_stats(f->api, &s1);
    int n202 = 0;
    for (int i = 0; i < NCONC; i++) {
        int t = (i / 7) % 3;
        if (t == 2) {
            assert_int_equal(k->r[i].code, 401);
            continue;
        }
        assert_int_equal(k->r[i].code, 202);
        assert_true(k->r[i].visible);
        n202++;
        struct store_msg *m = NULL;
        assert_int_equal(store_msg_get(st2, k->r[i].id, &m), STORE_OK);
        assert_string_equal(m->client, t == 0 ? want_a : want_b);
        store_msg_free(m);
    }
    assert_int_equal(s1.accepted - s0.accepted, (uint64_t)n202);
    assert_true(s1.commits - s0.commits < (uint64_t)n202);   /* grouped */
    /* revoke tok_b between groups: every tok_b request of the next groups
     * is refused, even right after a tok_b request was served from cache */
    uint8_t h[32];
    kz_sha256(f->tok_b, strlen(f->tok_b), h);
    assert_int_equal(store_token_revoke(f->db.st, h, 32, 1), STORE_OK);
    struct conc_send alternating = { toks, 2, 1, 'd', NULL, NULL, -1 };
    conc_send(f, k, &alternating);
    for (int i = 0; i < NCONC; i++)
        assert_int_equal(k->r[i].code, i % 2 ? 401 : 202);
    conc_free(k);
}

static void test_commit_failure(void **state)
{
    struct fx *f = *state;
    struct conc *k = conc_new(f, true);
    struct store *st2 = k->check;
    int64_t id0 = good_id(f);
    struct api_stats s0, s1;
    api_get_stats(f->api, &s0);
    conc_post(f, k, TRAP_NUMBER, 0);
    api_get_stats(f->api, &s1);
    assert_true(s1.commit_failures - s0.commit_failures >= 1);
    assert_int_equal(k->r[0].code, 503);
    int n503 = 0;
    for (int i = 0; i < NCONC; i++) {
        if (k->r[i].code == 503) {
            n503++;
            assert_non_null(strstr(k->r[i].body, "nothing was stored"));
        } else {
            assert_int_equal(k->r[i].code, 202);
            assert_true(k->r[i].visible);
        }
    }
    fprintf(stderr, "# commit failure: %d of %d answered 503\n", n503, NCONC);
    /* the failed batch is over: its write lock is free again */
    assert_int_equal(store_lookup_clear(st2, "996555000000"), STORE_OK);
    /* nothing of the failed batch is stored: the ids of the 202s and the
     * next good message account for every row written since id0 */
    int64_t next = good_id(f);
    assert_int_equal(next, id0 + 1 + (NCONC - n503));
    struct store_msg *m = NULL;
    /* later batches work again */
    assert_int_equal(store_msg_get(f->db.st, next, &m), STORE_OK);
    store_msg_free(m);

    /* another connection holds the write lock (a write opened its batch):
     * 503 busy, nothing stored */
    assert_int_equal(store_attach(st2, NULL), STORE_OK);
    assert_int_equal(store_lookup_clear(st2, "996555000000"), STORE_OK);
    struct resp r;
    post(f, "/v1/messages", f->tok_a, "{\"to\":\"996555123456\",\"text\":\"b\"}", &r);
    assert_error(&r, 503, NULL, "busy");
    assert_int_equal(store_flush(st2), STORE_OK);
    assert_int_equal(good_id(f), next + 1);
    conc_free(k);
}

/* ---- status templates ----------------------------------------------------- */

static void test_template_parse(void **state)
{
    (void)state;
    struct api_template t;
    struct api_error e;
#define PT(st, lg, b) \
    api_parse_template((const uint8_t *)(b), strlen(b), st, lg, &t, &e)
    assert_int_equal(PT("ready", "ky", "{\"text\":\"Арыз {number}: {status}. {note}\"}"), 0);
    assert_string_equal(t.status, "ready");
    assert_string_equal(t.lang, "ky");
    assert_string_equal(t.text, "Арыз {number}: {status}. {note}");
    api_template_clear(&t);
    /* ordinary braces and near-placeholders stay text */
    assert_int_equal(PT("*", "en", "{\"text\":\"{} { number } {{number}} a{b c}\"}"), 0);
    api_template_clear(&t);
    assert_int_equal(PT("booking.confirmed", "ru",
                        "{\"text\":\"{service}: {office}, {address}, {day} {time}, "
                        "талон {ticket}\"}"), 0);
    assert_true(template_is_booking(t.status));
    api_template_clear(&t);
    struct { const char *st, *lg, *body, *field, *words; } bad[] = {
        /* each kind refuses the other's placeholders, naming the culprit */
        { "ready", "ky", "{\"text\":\"{numbr}\"}", "text", "unknown placeholder {numbr}" },
        { "ready", "ky", "{\"text\":\"{day}\"}", "text", "{number} {status} {note}" },
        { "booking.moved", "ky", "{\"text\":\"{number}\"}", "text",
          "{service} {office} {address} {place} {day} {date} {time} {ticket}" },
        { "*", "ky", "{\"text\":\"ok {ticket}\"}", "text", "{ticket}" },
        { "ready", "ky", "{\"text\":\"\"}", "text", "empty" },
        { "ready", "ky", "{\"text\":\"a\\u0007\"}", "text", "control" },
        { "ready", "ky", "{\"text\":\"\xc3\x28\"}", "", "UTF-8" },
        { "ready", "ky", "{\"text\":\"a\",\"lang\":\"ky\"}", "lang", "unknown field" },
        { "ready", "ky", "{}", "text", "missing" },
        { "ready", "de", "{\"text\":\"a\"}", "language", "ky, ru, en" },
        { "ready", "kyr", "{\"text\":\"a\"}", "language", "ky, ru, en" },
        { "re ady", "ky", "{\"text\":\"a\"}", "status", "A-Z" },
        { "**", "ky", "{\"text\":\"a\"}", "status", "A-Z" },
        { "booking.", "ky", "{\"text\":\"a\"}", "status", "name after" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_refused(i, PT(bad[i].st, bad[i].lg, bad[i].body), &e, bad[i].field,
                       bad[i].words);
        api_template_clear(&t);
    }
    /* 1000 characters pass, 1001 do not (Cyrillic: 2 bytes each) */
    char big[2200];
    int n = snprintf(big, sizeof big, "{\"text\":\"");
    for (int i = 0; i < 1000; i++)
        memcpy(big + n + 2 * i, "ж", 2);
    strcpy(big + n + 2000, "\"}");
    assert_int_equal(PT("ready", "ru", big), 0);
    api_template_clear(&t);
    memcpy(big + n + 2000, "ж\"}", 5);
    assert_int_equal(PT("ready", "ru", big), -1);
    assert_string_equal(e.field, "text");
    api_template_clear(&t);
#undef PT
}

static int put(struct fx *f, const char *path, const char *token,
               const char *json, struct resp *r)
{
    return call(f, EVHTTP_REQ_PUT, path, token, "application/json", json,
                strlen(json), r);
}

/* GET /v1/templates after test_templates' puts: pages, cursor, refusals. */
static void check_template_list(struct fx *f, const char *tok_apps)
{
    struct resp r;
    /* the list, two per page: (*, ru) (booking.confirmed, ky) | (ready, ky) */
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates?limit=2", f->tok_a,
                          NULL, NULL, 0, &r), 200);
    json_t *j = body_json(&r);
    json_t *a = json_object_get(j, "templates");
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0),
                                                          "status")), "*");
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 1),
                                                          "kind")), "booking");
    const char *next = json_string_value(json_object_get(j, "next"));
    assert_non_null(next);
    assert_string_equal(next, "booking.confirmed/ky");
    json_decref(j);
    assert_int_equal(call(f, EVHTTP_REQ_GET,
                          "/v1/templates?limit=2&after=booking.confirmed%2Fky",
                          f->tok_a, NULL, NULL, 0, &r), 200);
    j = body_json(&r);
    a = json_object_get(j, "templates");
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0),
                                                          "status")), "ready");
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates?limit=0", f->tok_a,
                          NULL, NULL, 0, &r), 400);
    assert_error(&r, 400, "limit", NULL);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates?after=ready",
                          f->tok_a, NULL, NULL, 0, &r), 400);
    assert_error(&r, 400, "after", NULL);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates", tok_apps, NULL,
                          NULL, 0, &r), 403);
    assert_int_equal(call(f, EVHTTP_REQ_DELETE, "/v1/templates", f->tok_a, NULL,
                          NULL, 0, &r), 405);
}

static void test_templates(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char tok_apps[API_TOKEN_LEN], err[128];
    assert_int_equal(api_token_create(f->db.st, "mvd", "applications", tok_apps,
                                      sizeof tok_apps, err, sizeof err),
                     STORE_OK);
    /* set: 200 with what was stored, in the store at once */
    assert_int_equal(put(f, "/v1/templates/ready/ky", f->tok_a,
                         "{\"text\":\"Арыз {number}: даяр. {note}\"}", &r), 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    assert_string_equal(json_string_value(json_object_get(j, "language")), "ky");
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "status");
    json_decref(j);
    char *body = NULL;
    assert_int_equal(store_template_get(f->db.st, f->agency_a, "ready", "ky", &body),
                     STORE_OK);
    assert_string_equal(body, "Арыз {number}: даяр. {note}");
    free(body);
    /* replace; "*" percent-encoded; a booking template */
    assert_int_equal(put(f, "/v1/templates/ready/ky", f->tok_a,
                         "{\"text\":\"Арыз №{number} даяр. {note}\"}", &r), 200);
    assert_int_equal(put(f, "/v1/templates/%2A/ru", f->tok_a,
                         "{\"text\":\"Заявление {number}: {status}\"}", &r), 200);
    assert_int_equal(put(f, "/v1/templates/booking.confirmed/ky", f->tok_a,
                         "{\"text\":\"{service}: {day} {time}, {office}\"}", &r),
                     200);
    /* refused: nothing stored */
    assert_int_equal(put(f, "/v1/templates/issued/ky", f->tok_a,
                         "{\"text\":\"{number} {datee}\"}", &r), 400);
    assert_error(&r, 400, "text", "unknown placeholder {datee}");
    assert_int_equal(put(f, "/v1/templates/issued/de", f->tok_a,
                         "{\"text\":\"x\"}", &r), 400);
    assert_error(&r, 400, "language", "ky, ru, en");
    assert_int_equal(put(f, "/v1/templates/is%20sued/ky", f->tok_a,
                         "{\"text\":\"x\"}", &r), 400);
    assert_error(&r, 400, "status", NULL);
    assert_int_equal(put(f, "/v1/templates/issued/ky", tok_apps,
                         "{\"text\":\"x\"}", &r), 403);
    assert_error(&r, 403, NULL, "\"templates\" scope");
    assert_int_equal(call(f, EVHTTP_REQ_PUT, "/v1/templates/issued/ky", f->tok_a,
                          "text/plain", "{\"text\":\"x\"}", 12, &r), 415);
    assert_int_equal(store_template_get(f->db.st, f->agency_a, "issued", "ky", &body),
                     STORE_NOTFOUND);
    assert_int_equal(call(f, EVHTTP_REQ_POST, "/v1/templates/issued/ky", f->tok_a,
                          "application/json", "{\"text\":\"x\"}", 12, &r), 405);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates/a/b/c", f->tok_a,
                          NULL, NULL, 0, &r), 404);
    /* one, own only: another agency sees none of it */
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates/ready/ky", f->tok_a,
                          NULL, NULL, 0, &r), 200);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "Арыз №{number} даяр. {note}");
    json_decref(j);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates/ready/ru", f->tok_a,
                          NULL, NULL, 0, &r), 404);   /* "*" is not "ready" */
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates/ready/ky", f->tok_b,
                          NULL, NULL, 0, &r), 404);
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/templates", f->tok_b, NULL,
                          NULL, 0, &r), 200);
    j = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "templates")), 0);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    check_template_list(f, tok_apps);

    /* a status change is rendered with the template set through the API */
    int64_t id0 = good_id(f);
    assert_int_equal(post(f, "/v1/applications/T-1/status", f->tok_a,
                          "{\"status\":\"ready\",\"owner\":\"996700000007\","
                          "\"note\":\"Кабинет 2\"}", &r), 201);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id0 + 1, &m), STORE_OK);
    assert_string_equal(m->text, "Арыз №T-1 даяр. Кабинет 2");
    store_msg_free(m);
    assert_int_equal(jint(&r, "notified"), 1);

    /* delete: own only, then 404; the application then has no template */
    assert_int_equal(call(f, EVHTTP_REQ_DELETE, "/v1/templates/ready/ky",
                          f->tok_b, NULL, NULL, 0, &r), 404);
    assert_int_equal(call(f, EVHTTP_REQ_DELETE, "/v1/templates/ready/ky",
                          f->tok_a, NULL, NULL, 0, &r), 200);
    j = body_json(&r);   /* json_is_true evaluates its argument twice */
    assert_true(json_is_true(json_object_get(j, "deleted")));
    json_decref(j);
    assert_int_equal(call(f, EVHTTP_REQ_DELETE, "/v1/templates/ready/ky",
                          f->tok_a, NULL, NULL, 0, &r), 404);
    assert_int_equal(store_template_get(f->db.st, f->agency_a, "ready", "ky", &body),
                     STORE_NOTFOUND);
    assert_int_equal(post(f, "/v1/applications/T-1/status", f->tok_a,
                          "{\"status\":\"ready\"}", &r), 200);
    j = body_json(&r);
    assert_false(json_is_true(json_object_get(j, "template")));
    /* ... and is told in the built-in text (issue 14 item 13: it used to
     * be told nothing, with a 200) */
    assert_true(json_is_true(json_object_get(j, "builtin_text")));
    assert_int_equal(json_integer_value(json_object_get(j, "notified")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "queued")), 1);
    json_decref(j);
    assert_int_equal(store_msg_get(f->db.st, id0 + 2, &m), STORE_OK);
    assert_string_equal(m->to, "996700000007");
    assert_string_equal(m->text, "Арыз T-1: абалы «ready».");
    store_msg_free(m);
    assert_int_equal(good_id(f), id0 + 3);
}

static void test_token_create(void **state)
{
    struct fx *f = *state;
    char tok[API_TOKEN_LEN], err[128];
    assert_int_equal(api_token_create(f->db.st, "new-agency", "messages,slots", tok,
                                      sizeof tok, err, sizeof err), STORE_OK);
    assert_int_equal(strlen(tok), 67);
    assert_memory_equal(tok, "kz_", 3);
    int64_t ag;
    assert_int_equal(store_agency_by_code(f->db.st, "new-agency", &ag), STORE_OK);
    assert_int_equal(api_token_create(f->db.st, "x", "root", tok, sizeof tok, err,
                                      sizeof err), STORE_INVALID);
    assert_int_equal(api_token_create(f->db.st, "a b", NULL, tok, sizeof tok, err,
                                      sizeof err), STORE_INVALID);
    /* a revoked token is refused */
    assert_int_equal(api_token_create(f->db.st, "mvd", NULL, tok, sizeof tok, err,
                                      sizeof err), STORE_OK);
    struct resp r;
    assert_int_equal(post(f, "/v1/messages", tok,
                          "{\"to\":\"996555123456\",\"text\":\"a\"}", &r), 202);
    uint8_t h[32];
    kz_sha256(tok, strlen(tok), h);
    assert_int_equal(store_token_revoke(f->db.st, h, 32, 1), STORE_OK);
    assert_int_equal(post(f, "/v1/messages", tok,
                          "{\"to\":\"996555123456\",\"text\":\"a\"}", &r), 401);
}

/* POST /v1/ussd/notices (issue 14 item 4): a citizen who sent STOP gets
 * no notice: 409 naming "to", and nothing reaches the link. */
static void test_notice_opted_out(void **state)
{
    struct fx *f = *state;
    struct resp r;
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"996555123456\",\"text\":\"hi\"}", &r), 200);
    assert_int_equal(fx_notices, 1);
    assert_string_equal(fx_notice_to, "996555123456");
    assert_int_equal(store_optout_set(f->db.st, "996555999999", 1), STORE_OK);
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"+996555999999\",\"text\":\"promo\"}", &r),
                     409);
    assert_error(&r, 409, "to", "opted out");
    assert_int_equal(fx_notices, 1);
}

/* POST body to path with token: 403 naming the law_required scope and
 * field, and nothing stored. */
static void law_refused(struct fx *f, const char *path, const char *token,
                        const char *body, const char *field)
{
    struct resp r;
    int64_t before = good_id(f);
    int sent = fx_notices;
    assert_int_equal(post(f, path, token, body, &r), 403);
    assert_error(&r, 403, field, "\"law_required\" scope");
    assert_int_equal(good_id(f), before + 1);
    assert_int_equal(fx_notices, sent);
}

/* law_required is a scope of its own (issue 14 item 4): a messages token,
 * even "*", cannot bypass STOP with it, on any route; a token granted it
 * by name can. */
static void test_law_required_scope(void **state)
{
    struct fx *f = *state;
    struct resp r;
    struct api_notice nt;
    struct api_error e;
    static const char nb[] = "{\"to\":\"0555123456\",\"text\":\"x\","
                             "\"law_required\":true}";
    assert_int_equal(api_parse_notice((const uint8_t *)nb, strlen(nb), &nt, &e), 0);
    assert_true(nt.law_required);
    assert_int_equal(store_optout_set(f->db.st, "996555999999", 1), STORE_OK);
    static const char msg[] = "{\"to\":\"996555999999\",\"text\":\"court\","
                              "\"law_required\":true}";
    static const char batch[] = "{\"messages\":[{\"to\":\"996555000002\","
                                "\"text\":\"a\"},{\"to\":\"996555999999\","
                                "\"text\":\"court\",\"law_required\":true}]}";
    const char *no_law[] = { f->tok_a, f->tok_b, f->tok_msg };
    for (size_t i = 0; i < 3; i++) {
        law_refused(f, "/v1/messages", no_law[i], msg, "law_required");
        law_refused(f, "/v1/messages/batch", no_law[i], batch,
                    "messages[1].law_required");
        law_refused(f, "/v1/ussd/notices", no_law[i], msg, "law_required");
    }
    /* granted by name: it reaches the opted-out number */
    assert_int_equal(post(f, "/v1/messages", f->tok_law, msg, &r), 202);
    assert_int_equal(post(f, "/v1/messages/batch", f->tok_law, batch, &r), 202);
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_law, msg, &r), 200);
    assert_int_equal(fx_notices, 1);
    assert_string_equal(fx_notice_to, "996555999999");
    /* and it can be granted with *, by name */
    char tok[API_TOKEN_LEN], err[128];
    assert_int_equal(api_token_create(f->db.st, "mvd", "*,law_required", tok,
                                      sizeof tok, err, sizeof err), STORE_OK);
    assert_int_equal(post(f, "/v1/ussd/notices", tok, msg, &r), 200);
    assert_int_equal(fx_notices, 2);
    /* without law_required, every token still works */
    assert_int_equal(post(f, "/v1/messages", f->tok_msg,
                          "{\"to\":\"996555000003\",\"text\":\"a\"}", &r), 202);
}

/* A notice's "from" must be a code the gateway serves (issue 14 item 4):
 * anything else is refused, 422 naming "from", and not sent. */
static void test_notice_from(void **state)
{
    struct fx *f = *state;
    struct resp r;
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"996555123456\",\"text\":\"a\","
                          "\"from\":\"999\"}", &r), 422);
    assert_error(&r, 422, "from", "service code");
    assert_int_equal(fx_notices, 0);
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"996555123456\",\"text\":\"a\","
                          "\"from\":\"*100#\"}", &r), 200);
    assert_string_equal(fx_notice_from, "*100#");
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"996555123457\",\"text\":\"a\","
                          "\"from\":\"100\"}", &r), 200);
    assert_string_equal(fx_notice_from, "100");
    /* none given: the gateway's own code (the adapter's choice) */
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"996555123458\",\"text\":\"a\"}", &r), 200);
    assert_string_equal(fx_notice_from, "");
    assert_int_equal(fx_notices, 3);
}

/*
 * Notices are recorded (issue 14 item 4): who sent it, to whom, from,
 * text, law_required, time, outcome; the 200 leaves after the commit (a
 * second connection sees the record when it arrives).  A phone gets at
 * most API_NOTICES_PER_HOUR (the default) in any hour: the next is 429
 * with Retry-After, naming "to", neither sent nor recorded; another phone
 * is not affected.  A notice the link refuses is recorded as failed,
 * answered 503, and does not count.
 */
static void test_notice_record_and_limit(void **state)
{
    struct fx *f = *state;
    struct resp r;
    struct store *st2 = tmpdb_connect(&f->db);
    assert_non_null(st2);
    static const char body[] = "{\"to\":\"996555123456\",\"text\":\"Салам\","
                               "\"from\":\"100\"}";
    fx_notice_check = st2;
    for (int i = 0; i < API_NOTICES_PER_HOUR; i++) {
        assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a, body, &r), 200);
        assert_true(r.visible);
    }
    fx_notice_check = NULL;
    assert_int_equal(fx_notices, API_NOTICES_PER_HOUR);
    int64_t id = jint(&r, "id");
    struct store_notice_rec rec;
    char client[32];
    snprintf(client, sizeof client, "agency:%lld", (long long)f->agency_a);
    assert_int_equal(store_notice_get(f->db.st, id, &rec), STORE_OK);
    assert_int_equal(rec.agency_id, f->agency_a);
    assert_string_equal(rec.client, client);
    assert_string_equal(rec.msisdn, "996555123456");
    assert_string_equal(rec.sender, "100");
    assert_string_equal(rec.text, "Салам");
    assert_false(rec.law_required);
    assert_false(rec.failed);
    assert_true(rec.at > 0);
    /* one more within the hour: 429, Retry-After about an hour */
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a, body, &r), 429);
    assert_error(&r, 429, "to", "in the last hour");
    long ra = atol(r.retry_after);
    assert_true(ra >= 3500 && ra <= 3600);
    assert_int_equal(fx_notices, API_NOTICES_PER_HOUR);
    assert_int_equal(store_notice_get(f->db.st, id + 1, &rec), STORE_NOTFOUND);
    /* another phone is not affected */
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_b,
                          "{\"to\":\"996555123457\",\"text\":\"a\"}", &r), 200);
    assert_int_equal(jint(&r, "id"), id + 1);
    /* the link refuses one: recorded failed, 503, not counted */
    fx_notice_fail = true;
    assert_int_equal(post(f, "/v1/ussd/notices", f->tok_a,
                          "{\"to\":\"996555123458\",\"text\":\"b\"}", &r), 503);
    assert_error(&r, 503, NULL, "no bound link");
    fx_notice_fail = false;
    assert_int_equal(store_notice_get(f->db.st, id + 2, &rec), STORE_OK);
    assert_true(rec.failed);
    assert_string_equal(rec.msisdn, "996555123458");
    assert_string_equal(rec.err, "no bound link serves this number now");
    unsigned n = 9;
    int64_t oldest = 0;
    assert_int_equal(store_notices_recent(f->db.st, "996555123458", 0, &n,
                                          &oldest), STORE_OK);
    assert_int_equal(n, 0);
    store_close(st2);
}

/* ---- the edge (gateway/http_edge): head deadline, connection cap ------------- */

/* Run the base for ms milliseconds. */
static void pump(struct event_base *b, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(b, &tv);
    event_base_dispatch(b);
}

/* A raw client socket connected to port (the kernel completes the
 * handshake; the server accepts it when the base runs). */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_send(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* 1 when the server closed fd (EOF or reset); data read is appended to
 * got (cap > 0, NUL-terminated). */
static int raw_closed(int fd, char *got, size_t cap)
{
    size_t have = strlen(got);
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return 1;
        if (n < 0)
            return 0;
        size_t k = (size_t)n < cap - 1 - have ? (size_t)n : cap - 1 - have;
        memcpy(got + have, buf, k);
        have += k;
        got[have] = '\0';
    }
}

/* An API on f's base and store with an edge of its own. */
static struct api *edge_api(struct fx *f, unsigned head_ms, unsigned max_conn)
{
    struct api_opts o = { .listen = "127.0.0.1:0", .max_body = 65536,
                          .head_timeout_ms = head_ms,
                          .max_connections = max_conn };
    char err[256];
    struct api *a = api_new(f->base, f->db.st, &o, err, sizeof err);
    assert_non_null(a);
    return a;
}

static void test_edge_default_cap(void **state)
{
    (void)state;
    assert_int_equal(http_edge_default_cap(1024), 768);
    assert_int_equal(http_edge_default_cap(20000), 19744);
    assert_int_equal(http_edge_default_cap(256), 192);   /* a quarter */
    assert_int_equal(http_edge_default_cap(1), 1);
    assert_int_equal(http_edge_default_cap(0), 1);
    assert_int_equal(http_edge_default_cap(1ull << 40), 1000000);
}

/* The edge's config keys (gateway/config.c, http section). */
static void test_edge_config(void **state)
{
    (void)state;
    const char *y = "http: {head_timeout: 2s, max_connections: 100}\n";
    struct config *c = NULL;
    struct config_errors errs = { 0 };
    assert_int_equal(config_parse_string(y, strlen(y), NULL, &c, &errs), 0);
    assert_int_equal(c->http_head_timeout_ms, 2000);
    assert_int_equal(c->http_max_connections, 100);
    config_free(c);
    c = config_defaults();
    assert_non_null(c);
    assert_int_equal(c->http_head_timeout_ms, 10000);
    assert_int_equal(c->http_max_connections, 0);
    config_free(c);
    y = "http: {head_timeout: 50ms}\n";  /* below 100 ms: refused */
    assert_int_equal(config_parse_string(y, strlen(y), NULL, &c, &errs), -1);
    config_errors_free(&errs);
}

#define HEALTH "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"

/* A client that sends a header line every 100 ms never completes its head:
 * it is closed at the 300 ms deadline, not kept alive by its trickle. */
static void test_edge_head_deadline(void **state)
{
    struct fx *f = *state;
    struct api *a = edge_api(f, 300, 0);
    int port = api_port(a);
    char got[8192] = "";
    int slow = raw_connect(port), silent = raw_connect(port);
    raw_send(slow, "GET /v1/health HTTP/1.1\r\n");
    int t = 0;
    for (; t < 2000 && !raw_closed(slow, got, sizeof got); t += 100) {
        raw_send(slow, "X-Slow: 1\r\n");
        pump(f->base, 100);
    }
    assert_true(t >= 200 && t <= 600);
    assert_string_equal(got, "");           /* closed, not answered */
    assert_true(raw_closed(silent, got, sizeof got));
    close(slow);
    close(silent);

    /* The deadline restarts after each answer: two requests 200 ms apart
     * (400 ms after the accept) are both answered; idle, it is closed. */
    int ka = raw_connect(port);
    for (int i = 0; i < 2; i++) {
        pump(f->base, 200);
        raw_send(ka, HEALTH);
        pump(f->base, 50);
        assert_false(raw_closed(ka, got, sizeof got));
        assert_non_null(strstr(got, "HTTP/1.1 200"));
        got[0] = '\0';
    }
    pump(f->base, 400);
    assert_true(raw_closed(ka, got, sizeof got));
    close(ka);
    api_free(a);
}

/* At the cap of 3 the oldest connection without a request is closed to
 * make room: a fourth client is answered. */
static void test_edge_cap(void **state)
{
    struct fx *f = *state;
    struct api *a = edge_api(f, 10000, 3);
    int port = api_port(a);
    char got[8192] = "";
    int idle[3];
    for (int i = 0; i < 3; i++) {
        idle[i] = raw_connect(port);
        pump(f->base, 20);
    }
    for (int i = 0; i < 3; i++)
        assert_false(raw_closed(idle[i], got, sizeof got));
    int fresh = raw_connect(port);
    raw_send(fresh, HEALTH);
    pump(f->base, 100);
    assert_false(raw_closed(fresh, got, sizeof got));
    assert_non_null(strstr(got, "HTTP/1.1 200"));
    got[0] = '\0';
    assert_true(raw_closed(idle[0], got, sizeof got));     /* the oldest */
    assert_false(raw_closed(idle[2], got, sizeof got));
    for (int i = 0; i < 3; i++)
        close(idle[i]);
    close(fresh);
    api_free(a);
}

/* Send req on a new raw connection to f's API; the base runs for up to ms
 * or until the server closes; what came back is in got. */
static void raw_exchange(struct fx *f, const char *req, size_t len, int ms,
                         char *got, size_t cap)
{
    int fd = raw_connect(f->port);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    got[0] = '\0';
    for (int t = 0; t < ms && !raw_closed(fd, got, cap); t += 20)
        pump(f->base, 20);
    close(fd);
}

/* Every answer in got is JSON: no HTML page, each head says JSON. */
static void assert_all_json(const char *got, int answers)
{
    int n = 0;
    for (const char *p = strstr(got, "HTTP/1.1 "); p; p = strstr(p + 1, "HTTP/1.1 ")) {
        const char *end = strstr(p, "\r\n\r\n");
        assert_non_null(end);
        const char *ct = strstr(p, "Content-Type: application/json");
        assert_true(ct && ct < end);
        n++;
    }
    assert_int_equal(n, answers);
    assert_null(strstr(got, "<HTML"));
}

/* POST /v1/messages with f's token and a JSON Content-Type, then rest
 * (the remaining headers, the blank line and the body) on a raw
 * connection: exactly one answer, in JSON, is expected; its status. */
static int raw_post(struct fx *f, const char *rest, char *got, size_t cap)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json"
                     "\r\n%s", f->tok_a, rest);
    assert_true(n > 0 && (size_t)n < sizeof req);
    raw_exchange(f, req, (size_t)n, 500, got, cap);
    assert_all_json(got, 1);
    return atoi(got + 9);
}

/* Issue 14 item 10: evhttp's HTML pages after an earlier answer on the
 * same connection (a pipeline), for CONNECT; two Content-Length headers;
 * a NUL after the bearer token. */
static void test_edge_http_framing(void **state)
{
    struct fx *f = *state;
    char got[8192];
    static const char pipe_bad[] = HEALTH "GARBAGE\r\n\r\n";
    raw_exchange(f, pipe_bad, strlen(pipe_bad), 1000, got, sizeof got);
    assert_all_json(got, 2);
    assert_non_null(strstr(got, "HTTP/1.1 400 Bad Request"));
    static const char pipe_trace[] = HEALTH "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_exchange(f, pipe_trace, strlen(pipe_trace), 1000, got, sizeof got);
    assert_all_json(got, 2);
    assert_non_null(strstr(got, "method not implemented"));
    static const char connect_[] = "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_exchange(f, connect_, strlen(connect_), 300, got, sizeof got);
    assert_all_json(got, 1);
    assert_non_null(strstr(got, "HTTP/1.1 501"));

    /* two Content-Length headers (same or different), or one with a
     * Transfer-Encoding: 400, never routed (nothing stored) */
#define BODY "{\"to\":\"996555123456\",\"text\":\"a\"}"   /* 32 octets */
    int64_t before = good_id(f);
    char req[1024];
    const char *frames[] = {
        "Content-Length: 32\r\nContent-Length: 32\r\n\r\n" BODY,
        "Content-Length: 5\r\nContent-Length: 32\r\n\r\n" BODY,
        "Content-Length: 32\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" BODY
        "\r\n0\r\n\r\n",
    };
#undef BODY
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        assert_int_equal(raw_post(f, frames[i], got, sizeof got), 400);
        /* (evhttp 2.1 itself refuses Content-Length with chunks as
         * malformed, in JSON; the edge's own check stands behind it) */
        assert_true(i < 2 ? strstr(got, "more than one Content-Length") != NULL
                          : strstr(got, "Transfer-Encoding") != NULL ||
                            strstr(got, "malformed HTTP request") != NULL);
    }
    assert_int_equal(good_id(f), before + 1);

    /* a NUL after the token: evhttp would cut the value there */
    int n = snprintf(req, sizeof req, "GET /v1/templates HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s", f->tok_a);
    memcpy(req + n, "\0junk\r\n\r\n", 9);
    raw_exchange(f, req, (size_t)n + 9, 300, got, sizeof got);
    assert_all_json(got, 1);
    assert_non_null(strstr(got, "HTTP/1.1 401"));
    /* the same request without the NUL is fine */
    n = snprintf(req, sizeof req, "GET /v1/templates HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer %s\r\n\r\n", f->tok_a);
    raw_exchange(f, req, (size_t)n, 300, got, sizeof got);
    assert_non_null(strstr(got, "HTTP/1.1 200"));
}

/* Issue 14 item 10: a body over max_body is refused with a JSON 413 as
 * soon as the head is in, before any of the body is sent, with or without
 * Expect: 100-continue (which must not get its 100 first). */
static void test_edge_early_413(void **state)
{
    struct fx *f = *state;
    char got[8192], req[512];
    const char *heads[] = { "Content-Length: 10485760\r\n\r\n",
                            "Expect: 100-continue\r\nContent-Length: 10485760\r\n\r\n" };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(raw_post(f, heads[i], got, sizeof got), 413);
        assert_non_null(strstr(got, "at most 65536 bytes"));
    }
    /* a body that fits still gets its 100 Continue, then its answer */
    snprintf(req, sizeof req, "GET /v1/templates HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\nExpect: 100-continue\r\n"
             "Content-Length: 2\r\n\r\n", f->tok_a);
    int fd = raw_connect(f->port);
    raw_send(fd, req);
    got[0] = '\0';
    for (int t = 0; t < 500 && !strstr(got, "100 Continue"); t += 20) {
        pump(f->base, 20);
        raw_closed(fd, got, sizeof got);
    }
    assert_non_null(strstr(got, "HTTP/1.1 100 Continue"));
    raw_send(fd, "{}");
    for (int t = 0; t < 500 && !strstr(got, "HTTP/1.1 200"); t += 20) {
        pump(f->base, 20);
        raw_closed(fd, got, sizeof got);
    }
    assert_non_null(strstr(got, "HTTP/1.1 200"));
    close(fd);
}

/* ---- appeals (issue 12 appeals) ----------------------------------------------- */

/* File one appeal for agency `agency` by `phone`; its reference. */
static void file_appeal(struct fx *f, const char *agency, const char *phone,
                        bool anonymous, char ref[APPEAL_REF_MAX])
{
    struct appeal_filing fl = {
        .msisdn = phone, .agency = agency, .category = anonymous ? "corruption"
        : "roads", .anonymous = anonymous, .text = "Жол бузулган", .lang = "ky",
        .channel = "sms",
    };
    struct appeal_filed res;
    assert_int_equal(appeals_file(f->db.st, &fl, NULL, false, m_now(), &res),
                     STORE_OK);
    assert_int_equal(res.outcome, APPEAL_FILED);
    memcpy(ref, res.ref, APPEAL_REF_MAX);
}

static void appeal_path(char *p, size_t n, const char *ref, const char *tail)
{
    snprintf(p, n, "/v1/appeals/%s%s", ref, tail);
}

static void test_appeals_read(void **state)
{
    struct fx *f = *state;
    struct resp r, nobody;
    char open_ref[APPEAL_REF_MAX], anon[APPEAL_REF_MAX], tax[APPEAL_REF_MAX];
    file_appeal(f, "mvd", "996700000021", false, open_ref);
    file_appeal(f, "mvd", "996700000022", true, anon);
    file_appeal(f, "tax", "996700000023", false, tax);
    /* the agency's new appeals, one per page, oldest first */
    assert_int_equal(call(f, EVHTTP_REQ_GET, "/v1/appeals?state=new&limit=1",
                          f->tok_a, NULL, NULL, 0, &r), 200);
    json_t *j = body_json(&r);
    json_t *arr = json_object_get(j, "appeals");
    assert_int_equal(json_array_size(arr), 1);
    json_t *a0 = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(a0, "ref")), open_ref);
    assert_string_equal(json_string_value(json_object_get(a0, "phone")),
                        "+996700000021");
    char path[128];
    snprintf(path, sizeof path, "/v1/appeals?state=new&limit=1&after=%s",
             json_string_value(json_object_get(j, "next")));
    json_decref(j);
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r),
                     200);
    /* the anonymous one: no phone anywhere in the agency's JSON */
    assert_null(strstr(r.body, "996700000022"));
    j = body_json(&r);
    a0 = json_array_get(json_object_get(j, "appeals"), 0);
    assert_string_equal(json_string_value(json_object_get(a0, "ref")), anon);
    assert_true(json_is_true(json_object_get(a0, "anonymous")));
    assert_null(json_object_get(a0, "phone"));
    assert_true(json_is_null(json_object_get(j, "next")));   /* not tax's */
    json_decref(j);
    appeal_path(path, sizeof path, anon, "");
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r),
                     200);
    assert_null(strstr(r.body, "996700000022"));
    assert_non_null(strstr(r.body, "\"history\""));
    /* another agency's appeal is answered as one nobody has */
    appeal_path(path, sizeof path, tax, "");
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r),
                     404);
    char none[APPEAL_REF_MAX] = "00000000";
    none[8] = (char)('0' + appeal_ref_damm(none, 8));
    appeal_path(path, sizeof path, none, "");
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0,
                          &nobody), 404);
    assert_string_equal(r.body, nobody.body);
    /* a typo: 400 naming the check digit, not someone else's appeal */
    char typo[APPEAL_REF_MAX];
    memcpy(typo, open_ref, sizeof typo);
    typo[0] = typo[0] == '9' ? '0' : (char)(typo[0] + 1);
    appeal_path(path, sizeof path, typo, "");
    assert_int_equal(call(f, EVHTTP_REQ_GET, path, f->tok_a, NULL, NULL, 0, &r),
                     400);
    assert_error(&r, 400, "ref", "check digit");
    /* refused queries: (path, token, code, field) */
    char after_tax[64];
    snprintf(after_tax, sizeof after_tax, "/v1/appeals?after=%s", tax);
    const struct { const char *path, *tok; int code; const char *field; } no[] = {
        { "/v1/appeals/12ab", f->tok_a, 400, "ref" },
        { "/v1/appeals?state=done", f->tok_a, 400, "state" },
        { "/v1/appeals?after=123", f->tok_a, 400, "after" },
        { after_tax, f->tok_a, 400, "after" },           /* not its own */
        { "/v1/appeals?limit=0", f->tok_a, 400, "limit" },
        { "/v1/appeals", f->tok_msg, 403, NULL },        /* no appeals scope */
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        assert_int_equal(call(f, EVHTTP_REQ_GET, no[i].path, no[i].tok, NULL,
                              NULL, 0, &r), no[i].code);
        assert_error(&r, no[i].code, no[i].field, NULL);
    }
}

static void test_appeals_write(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char ref[APPEAL_REF_MAX], path[128];
    file_appeal(f, "mvd", "996700000031", true, ref);
    appeal_path(path, sizeof path, ref, "/state");
    assert_int_equal(post(f, path, f->tok_a, "{\"state\":\"in_progress\","
                          "\"note\":\"Текшерүүдө\"}", &r), 200);
    assert_non_null(strstr(r.body, "\"changed\":true"));
    /* the same again: nothing changed (a retry is safe) */
    assert_int_equal(post(f, path, f->tok_a, "{\"state\":\"in_progress\"}",
                          &r), 200);
    assert_non_null(strstr(r.body, "\"changed\":false"));
    assert_int_equal(post(f, path, f->tok_a, "{\"state\":\"new\"}", &r), 409);
    assert_error(&r, 409, "state", "in_progress");
    assert_int_equal(post(f, path, f->tok_a, "{\"state\":\"done\"}", &r), 400);
    assert_int_equal(post(f, path, f->tok_b, "{\"state\":\"closed\"}", &r), 404);
    /* the reply reaches the phone the agency never saw */
    appeal_path(path, sizeof path, ref, "/reply");
    assert_int_equal(post(f, path, f->tok_a, "{\"text\":\"Чара көрүлдү\","
                          "\"idempotency_key\":\"rep-1\"}", &r), 200);
    assert_null(strstr(r.body, "996700000031"));
    int64_t sms = jint(&r, "sms_id");
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, sms, &m), STORE_OK);
    assert_string_equal(m->to, "996700000031");
    assert_non_null(strstr(m->text, "Чара көрүлдү"));
    store_msg_free(m);
    assert_int_equal(post(f, path, f->tok_a, "{\"text\":\"Чара көрүлдү\","
                          "\"idempotency_key\":\"rep-1\"}", &r), 200);
    assert_int_equal(jint(&r, "sms_id"), sms);
    assert_non_null(strstr(r.body, "\"duplicate\":true"));
    assert_int_equal(post(f, path, f->tok_a, "{\"text\":\"Башка\","
                          "\"idempotency_key\":\"rep-1\"}", &r), 409);
    assert_error(&r, 409, "idempotency_key", NULL);
    struct store_appeal a;
    assert_int_equal(store_appeal_get(f->db.st, ref, &a), STORE_OK);
    assert_string_equal(a.state, "answered");
    struct store_appeal_event ev[8];
    size_t n = 0;
    assert_int_equal(store_appeal_history(f->db.st, a.id, 0, ev, 8, &n),
                     STORE_OK);
    assert_int_equal(n, 3);                 /* new, in_progress, the reply */
    assert_string_equal(ev[1].who, "agency:mvd");
    /* closed: no more replies */
    appeal_path(path, sizeof path, ref, "/state");
    assert_int_equal(post(f, path, f->tok_a, "{\"state\":\"closed\"}", &r), 200);
    appeal_path(path, sizeof path, ref, "/reply");
    assert_int_equal(post(f, path, f->tok_a, "{\"text\":\"x\"}", &r), 409);
    assert_int_equal(post(f, path, f->tok_a, "{\"txt\":\"x\"}", &r), 400);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_parts_match_the_splitter),
        cmocka_unit_test(test_parse),
        T(test_messages),
        T(test_message_template),
        T(test_idempotency_conflict),
        T(test_callback_url_refused),
        T(test_webhook_secret),
        T(test_message_parts_follow_route),
        T(test_routing),
        T(test_errors_change_nothing),
        T(test_applications),
        T(test_app_numbers_per_agency),
        T(test_offices_slots),
        T(test_group_commit),
        T(test_token_cache_groups),
        cmocka_unit_test_setup_teardown(test_commit_failure, fx_setup_trap, fx_teardown),
        T(test_token_create),
        cmocka_unit_test(test_template_parse),
        T(test_templates),
        T(test_notice_opted_out),
        T(test_law_required_scope),
        T(test_notice_from),
        T(test_notice_record_and_limit),
        cmocka_unit_test(test_edge_default_cap),
        cmocka_unit_test(test_edge_config),
        T(test_edge_head_deadline),
        T(test_edge_cap),
        T(test_edge_http_framing),
        T(test_edge_early_413),
        T(test_appeals_read),       /* issue 12 appeals */
        T(test_appeals_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
