/*
 * tests/unit/test_config.c — gateway/config: defaults, the sample file,
 * every kind of error with its exact file:line:column, durations, ranges,
 * duplicate names, "did you mean", reload comparison and --help-config;
 * smsc[].tls (issue 13 tls-smpp).
 *
 * Runs from the repository root (scripts/run-tests.sh does `cd` there);
 * the sample is read from scripts/kyzmat.yaml.
 * May call: gateway/config, libc (a temporary file in /tmp), cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/log.h"

/* Parse text as "t.yaml"; on failure return every error as one
 * newline-separated string (caller frees), else NULL with *out set. */
static char *parse(const char *text, struct config **out)
{
    struct config_errors errs = { 0 };
    *out = NULL;
    int rc = config_parse_string(text, strlen(text), "t.yaml", out, &errs);
    if (rc == 0) {
        assert_non_null(*out);
        assert_int_equal(errs.n, 0);
        config_errors_free(&errs);
        return NULL;
    }
    assert_null(*out);
    assert_true(errs.n > 0);
    size_t cap = 64 + errs.n * 300;
    char *all = calloc(1, cap);
    assert_non_null(all);
    for (size_t i = 0; i < errs.n; i++) {
        char line[300];
        config_error_format(&errs, &errs.v[i], line, sizeof line);
        strcat(all, line);
        strcat(all, "\n");
    }
    config_errors_free(&errs);
    return all;
}

static struct config *parse_ok(const char *text)
{
    struct config *cfg;
    char *errs = parse(text, &cfg);
    if (errs) {
        print_message("unexpected errors:\n%s", errs);
        free(errs);
        fail();
    }
    return cfg;
}

/* Assert the text is refused with exactly these errors. */
static void expect_errors(const char *text, const char *want)
{
    struct config *cfg;
    char *got = parse(text, &cfg);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* An smsc entry as wanted, field by field (prefixes included). */
static void assert_smsc(const struct config_smsc *s, const struct config_smsc *w)
{
    assert_string_equal(s->name, w->name);
    assert_string_equal(s->host, w->host);
    assert_int_equal(s->port, w->port);
    assert_string_equal(s->system_id, w->system_id);
    assert_string_equal(s->password, w->password);
    assert_string_equal(s->system_type, w->system_type);
    assert_int_equal(s->bind, w->bind);
    assert_int_equal(s->window, w->window);
    assert_int_equal(s->tps, w->tps);
    assert_int_equal(s->enquire_link_ms, w->enquire_link_ms);
    assert_int_equal(s->response_timeout_ms, w->response_timeout_ms);
    assert_int_equal(s->reconnect_min_ms, w->reconnect_min_ms);
    assert_int_equal(s->reconnect_max_ms, w->reconnect_max_ms);
    assert_int_equal(s->max_pdu_len, w->max_pdu_len);
    assert_string_equal(s->dialect, w->dialect);
    assert_int_equal(s->session_timeout_ms, w->session_timeout_ms);
    assert_int_equal(s->prefix_count, w->prefix_count);
    for (size_t i = 0; i < w->prefix_count; i++)
        assert_string_equal(s->prefixes[i], w->prefixes[i]);
    assert_int_equal(s->default_route, w->default_route);
    assert_int_equal(s->split, w->split);
}

/* The embedded default link. */
static void assert_sim(const struct config_smsc *s)
{
    static const struct config_smsc sim = {
        .name = "sim", .host = "127.0.0.1", .port = 2775, .system_id = "kyzmat",
        .password = "secret", .system_type = "", .bind = CONFIG_BIND_TRANSCEIVER,
        .window = 10, .tps = 100, .enquire_link_ms = 30000, .response_timeout_ms = 10000,
        .reconnect_min_ms = 1000, .reconnect_max_ms = 60000, .max_pdu_len = 65536,
        .dialect = "standard", .session_timeout_ms = 180000, .prefix_count = 0,
        .default_route = false, .split = CONFIG_SPLIT_UDH,
    };
    assert_smsc(s, &sim);
}

/* The settings outside the smsc list as wanted, field by field. */
static void assert_top(const struct config *c, const struct config *w)
{
    assert_string_equal(c->log_file, w->log_file);
    assert_string_equal(c->http_listen, w->http_listen);
    assert_int_equal(c->http_max_body, w->http_max_body);
    assert_string_equal(c->redis_url, w->redis_url);
    assert_string_equal(c->db_path, w->db_path);
    assert_int_equal(c->db_synchronous, w->db_synchronous);
    assert_string_equal(c->menus, w->menus);
    assert_int_equal(c->reminders, w->reminders);
    assert_string_equal(c->reminder_at, w->reminder_at);
    assert_int_equal(c->reminder_check_s, w->reminder_check_s);
    assert_int_equal(c->reminder_skip_recent_ms, w->reminder_skip_recent_ms);
}

static void assert_top_defaults(const struct config *c)
{
    static const struct config defaults = {
        .log_file = "", .http_listen = "127.0.0.1:8080", .http_max_body = 1048576,
        .redis_url = "", .db_path = "var/kyzmat.db", .db_synchronous = CONFIG_SYNC_NORMAL,
        .menus = "menus/examples", .reminders = true, .reminder_at = "18:00",
        .reminder_check_s = 60, .reminder_skip_recent_ms = 6 * 3600000,
    };
    assert_top(c, &defaults);
}

/* ---- defaults -------------------------------------------------------------- */

static void test_no_config_is_the_embedded_defaults(void **state)
{
    (void)state;
    struct config *c = config_defaults();
    assert_non_null(c);
    assert_int_equal(c->log_level, KLOG_INFO);
    assert_int_equal(c->smsc_count, 1);
    assert_sim(&c->smsc[0]);
    assert_top_defaults(c);
    config_free(c);

    c = parse_ok("");            /* an empty file: the same */
    assert_int_equal(c->smsc_count, 1);
    assert_sim(&c->smsc[0]);
    config_free(c);
    c = parse_ok("# only a comment\n");
    assert_int_equal(c->smsc_count, 1);
    config_free(c);
}

static void test_one_line_configs(void **state)
{
    (void)state;
    struct config *c = parse_ok("log: {level: debug}\n");
    assert_int_equal(c->log_level, KLOG_DEBUG);
    assert_int_equal(c->smsc_count, 1);
    assert_sim(&c->smsc[0]);
    assert_top_defaults(c);
    config_free(c);

    c = parse_ok("smsc: [{name: megacom, host: 10.1.2.3}]");
    assert_int_equal(c->smsc_count, 1);
    assert_string_equal(c->smsc[0].name, "megacom");
    assert_string_equal(c->smsc[0].host, "10.1.2.3");
    assert_int_equal(c->smsc[0].port, 2775);
    assert_string_equal(c->smsc[0].password, "secret");
    config_free(c);

    c = parse_ok("smsc: []\n");   /* explicitly none */
    assert_int_equal(c->smsc_count, 0);
    config_free(c);
    c = parse_ok("log:\n");       /* a section with nothing under it */
    assert_int_equal(c->log_level, KLOG_INFO);
    config_free(c);
}

/* log.level takes syslog's names too (issue 14 item 12: "warning" was
 * refused, only "warn" was read): the most severe kyzmat has for emerg,
 * alert and crit, info for notice. */
static void test_log_level_syslog_names(void **state)
{
    (void)state;
    /* the names each level is read from */
    static const char *const names[KLOG_DEBUG + 1][6] = {
        [KLOG_ERROR] = { "emerg", "alert", "crit", "err", "error", NULL },
        [KLOG_WARN] = { "warning", "warn", NULL },
        [KLOG_INFO] = { "notice", "info", NULL },
        [KLOG_DEBUG] = { "debug", NULL },
    };
    for (int level = KLOG_ERROR; level <= KLOG_DEBUG; level++) {
        for (const char *const *n = names[level]; *n; n++) {
            char y[64];
            snprintf(y, sizeof y, "log: {level: %s}\n", *n);
            struct config *c = parse_ok(y);
            if (c->log_level != level)
                fail_msg("log.level %s read as %d, wanted %d", *n, c->log_level,
                         level);
            config_free(c);
        }
    }
    /* still exact: no prefix, no trailing garbage, no NUL inside */
    expect_errors("log: {level: warningx}\n",
                  "t.yaml:1:14: log.level: \"warningx\" is not one of error, warn, "
                  "info, debug\n");
    struct config *cfg = NULL;
    char *errs = parse("log: {level: \"warn\\0ing\"}\n", &cfg);
    assert_non_null(errs);
    assert_non_null(strstr(errs, "log.level: "));
    free(errs);
}

/* ---- the sample file ------------------------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    if (buf)
        *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

static void test_sample_parses_clean(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = read_all("scripts/kyzmat.yaml", &len);
    assert_non_null(text);
    assert_true(len > 100);
    struct config *c = NULL;
    struct config_errors errs = { 0 };
    int rc = config_parse_string(text, len, "scripts/kyzmat.yaml", &c, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        char line[300];
        print_message("%s\n", config_error_format(&errs, &errs.v[i], line, sizeof line));
    }
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    config_errors_free(&errs);

    /* the sample sets everything to its default for megacom */
    assert_int_equal(c->smsc_count, 2);
    const struct config_smsc *m = config_find_smsc(c, "megacom");
    assert_non_null(m);
    assert_int_equal(m->line, 24);
    assert_int_equal(m->prefix_count, 2);
    assert_string_equal(m->prefixes[0], "99655");
    assert_string_equal(m->prefixes[1], "99622");
    struct config_smsc tmp = *m;
    tmp.name = (char *)"sim";
    tmp.prefixes = NULL;
    tmp.prefix_count = 0;
    assert_sim(&tmp);

    const struct config_smsc *o = config_find_smsc(c, "o");
    assert_non_null(o);
    assert_int_equal(o->port, 2776);
    assert_string_equal(o->system_id, "kyzmat2");
    assert_true(o->default_route);
    assert_int_equal(o->window, 10);
    assert_null(config_find_smsc(c, "sim"));
    assert_top_defaults(c);
    assert_string_equal(c->source, "scripts/kyzmat.yaml");
    config_free(c);
    free(text);

    /* and config_load_file reads the same file */
    struct config_errors e2 = { 0 };
    assert_int_equal(config_load_file("scripts/kyzmat.yaml", &c, &e2), 0);
    assert_int_equal(c->smsc_count, 2);
    config_free(c);
    config_errors_free(&e2);
}

static void test_every_key_set(void **state)
{
    (void)state;
    struct config *c = parse_ok(
        "log: {level: warn, file: /var/log/kyzmat.log}\n"
        "smsc:\n"
        "  - name: bee_line-2\n"
        "    host: smsc.example.net\n"
        "    port: 1\n"
        "    system_id: abcdefghijklmno\n"
        "    password: '12345678'\n"
        "    system_type: VMA\n"
        "    bind: tx_rx\n"
        "    window: 1000\n"
        "    tps: 0\n"
        "    enquire_link: 5m\n"
        "    response_timeout: 500ms\n"
        "    reconnect_min: 2s\n"
        "    reconnect_max: 1h\n"
        "    max_pdu_len: 1024\n"
        "    dialect: umr\n"
        "    session_timeout: 90s\n"
        "    prefixes: [99670]\n"
        "    default_route: true\n"
        "    split: payload\n"
        "http: {listen: '[::1]:9000', max_body: 2048}\n"
        "redis: {url: 'redis://127.0.0.1:6380/2'}\n"
        "database: {path: /tmp/x.db, synchronous: full}\n"
        "booking: {reminders: false, reminder_at: '07:05', "
        "reminder_check_seconds: 3600, reminder_skip_recent: 0s}\n"
        "menus: /etc/kyzmat/menus\n");
    assert_int_equal(c->log_level, KLOG_WARN);
    static char *prefixes[] = { "99670" };        /* unquoted number is fine */
    static const struct config_smsc want = {
        .name = "bee_line-2", .host = "smsc.example.net", .port = 1,
        .system_id = "abcdefghijklmno", .password = "12345678", .system_type = "VMA",
        .bind = CONFIG_BIND_TX_RX, .window = 1000, .tps = 0, .enquire_link_ms = 300000,
        .response_timeout_ms = 500, .reconnect_min_ms = 2000, .reconnect_max_ms = 3600000,
        .max_pdu_len = 1024, .dialect = "umr", .session_timeout_ms = 90000,
        .prefixes = prefixes, .prefix_count = 1, .default_route = true,
        .split = CONFIG_SPLIT_PAYLOAD,
    };
    assert_smsc(&c->smsc[0], &want);
    static const struct config want_top = {
        .log_file = "/var/log/kyzmat.log", .http_listen = "[::1]:9000", .http_max_body = 2048,
        .redis_url = "redis://127.0.0.1:6380/2", .db_path = "/tmp/x.db",
        .db_synchronous = CONFIG_SYNC_FULL, .menus = "/etc/kyzmat/menus", .reminders = false,
        .reminder_at = "07:05", .reminder_check_s = 3600, .reminder_skip_recent_ms = 0,
    };
    assert_top(c, &want_top);
    config_free(c);
}

/* ---- errors, each with its position ------------------------------------ */

static void test_unknown_keys_did_you_mean(void **state)
{
    (void)state;
    expect_errors("log: {levle: debug}\n",
                  "t.yaml:1:7: unknown key \"levle\" in log (did you mean \"level\"?)\n");
    expect_errors("smsc:\n  - name: a\n    prot: 1\n",
                  "t.yaml:3:5: unknown key \"prot\" in smsc[1] (did you mean \"port\"?)\n");
    expect_errors("smsc:\n  - name: a\n    systemid: x\n",
                  "t.yaml:3:5: unknown key \"systemid\" in smsc[1] (did you mean \"system_id\"?)\n");
    expect_errors("htpp: {}\n",
                  "t.yaml:1:1: unknown key \"htpp\" (did you mean \"http\"?)\n");
    expect_errors("menu: x\n",
                  "t.yaml:1:1: unknown key \"menu\" (did you mean \"menus\"?)\n");
    /* nothing close: no guess, but say where a known key belongs */
    expect_errors("colour: blue\n", "t.yaml:1:1: unknown key \"colour\"\n");
    expect_errors("port: 2775\n",
                  "t.yaml:1:1: unknown key \"port\" (it belongs in an entry of \"smsc:\")\n");
    expect_errors("level: info\n",
                  "t.yaml:1:1: unknown key \"level\" (it belongs under \"log:\")\n");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_errors("smsc:\n  - name: a\n    port: {x: 1}\n",
                  "t.yaml:3:12: smsc[1].port: expected a whole number, got a mapping\n");
    expect_errors("smsc:\n  - name: a\n    port: abc\n",
                  "t.yaml:3:11: smsc[1].port: expected a whole number, got \"abc\"\n");
    expect_errors("smsc:\n  - name: a\n    port: -1\n",
                  "t.yaml:3:11: smsc[1].port: expected a whole number, got \"-1\"\n");
    expect_errors("smsc:\n  - name: a\n    window:\n",
                  "t.yaml:3:5: smsc[1].window: expected a whole number, got nothing\n");
    expect_errors("smsc:\n  - name: a\n    default_route: yes\n",
                  "t.yaml:3:20: smsc[1].default_route: expected true or false, got \"yes\"\n");
    expect_errors("smsc:\n  - name: a\n    prefixes: \"99655\"\n",
                  "t.yaml:3:15: smsc[1].prefixes: expected a list of strings, got a scalar\n");
    expect_errors("smsc:\n  - name: a\n    prefixes: [\"99655\", x1, [1]]\n",
                  "t.yaml:3:25: smsc[1].prefixes: \"x1\" must be 1 to 20 digits\n"
                  "t.yaml:3:30: smsc[1].prefixes: each item must be a string\n");
    expect_errors("smsc: megacom\n",
                  "t.yaml:1:7: smsc: expected a list of entries (\"- name: ...\"), got a scalar\n");
    expect_errors("smsc:\n  - megacom\n",
                  "t.yaml:2:5: smsc[1]: expected a mapping (name: ..., host: ...), got a scalar\n");
    expect_errors("log: debug\n",
                  "t.yaml:1:6: log: expected a mapping of keys, got a scalar\n");
    expect_errors("- a\n- b\n",
                  "t.yaml:1:3: expected a mapping of keys (log:, smsc:, http:, ...), got a list\n");
    expect_errors("log: {level: loud}\n",
                  "t.yaml:1:14: log.level: \"loud\" is not one of error, warn, info, debug\n");
    expect_errors("smsc:\n  - name: a\n    bind: transciever\n",
                  "t.yaml:3:11: smsc[1].bind: \"transciever\" is not one of transceiver, "
                  "tx_rx (did you mean \"transceiver\"?)\n");
    expect_errors("http: {listen: 8080}\n",
                  "t.yaml:1:16: http.listen: must be ADDRESS:PORT, e.g. 127.0.0.1:8080 (port 0: any free port, logged at start)\n");
    expect_errors("redis: {url: 127.0.0.1}\n",
                  "t.yaml:1:14: redis.url: must be empty or "
                  "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\n");
    expect_errors("smsc:\n  - &a {name: a}\n  - *a\n",
                  "t.yaml:3:5: smsc[2]: expected a mapping (name: ..., host: ...), got an alias\n");
}

static void test_ranges(void **state)
{
    (void)state;
    expect_errors("smsc:\n  - name: a\n    port: 0\n",
                  "t.yaml:3:11: smsc[1].port: 0 is out of range 1..65535\n");
    expect_errors("smsc:\n  - name: a\n    port: 65536\n",
                  "t.yaml:3:11: smsc[1].port: 65536 is out of range 1..65535\n");
    expect_errors("smsc:\n  - name: a\n    window: 0\n",
                  "t.yaml:3:13: smsc[1].window: 0 is out of range 1..1000\n");
    expect_errors("smsc:\n  - name: a\n    window: 1001\n",
                  "t.yaml:3:13: smsc[1].window: 1001 is out of range 1..1000\n");
    expect_errors("smsc:\n  - name: a\n    window: 99999999999999999999\n",
                  "t.yaml:3:13: smsc[1].window: expected a whole number, got "
                  "\"99999999999999999999\"\n");
    expect_errors("smsc:\n  - name: a\n    system_id: abcdefghijklmnop\n",
                  "t.yaml:3:16: smsc[1].system_id: is 16 characters long, at most 15 allowed\n");
    /* the password's value is never echoed */
    expect_errors("smsc:\n  - name: a\n    password: hunter2hunter2\n",
                  "t.yaml:3:15: smsc[1].password: value is 14 characters long, at most 8 allowed\n");
    expect_errors("smsc:\n  - name: Mega\n",
                  "t.yaml:2:11: smsc[1].name: may contain only a-z, 0-9, '_' and '-'\n");
    expect_errors("smsc:\n  - name: ''\n",
                  "t.yaml:2:11: smsc[1].name: must not be empty\n");
    /* the menu set's byte cap: 64 KiB .. 64 MiB */
    expect_errors("menus_max_bytes: 65535\n",
                  "t.yaml:1:18: menus_max_bytes: 65535 is out of range "
                  "65536..67108864\n");
    expect_errors("menus_max_bytes: 67108865\n",
                  "t.yaml:1:18: menus_max_bytes: 67108865 is out of range "
                  "65536..67108864\n");
    /* booking: a time of day, an interval, a bounded duration */
    expect_errors("booking: {reminder_at: '24:00'}\n",
                  "t.yaml:1:24: booking.reminder_at: must be a time of day HH:MM, "
                  "00:00 to 23:59\n");
    expect_errors("booking:\n  reminder_at: 6pm\n",
                  "t.yaml:2:16: booking.reminder_at: must be a time of day HH:MM, "
                  "00:00 to 23:59\n");
    expect_errors("booking:\n  reminder_at: '18:60'\n",
                  "t.yaml:2:16: booking.reminder_at: must be a time of day HH:MM, "
                  "00:00 to 23:59\n");
    expect_errors("booking:\n  reminder_check_seconds: 0\n",
                  "t.yaml:2:27: booking.reminder_check_seconds: 0 is out of range "
                  "1..3600\n");
    expect_errors("booking:\n  reminder_skip_recent: 49h\n",
                  "t.yaml:2:25: booking.reminder_skip_recent: 49h is out of range "
                  "0s..48h\n");
    expect_errors("booking:\n  reminders: yes please\n",
                  "t.yaml:2:14: booking.reminders: expected true or false, got "
                  "\"yes please\"\n");
    expect_errors("booking:\n  remindr_at: '18:00'\n",
                  "t.yaml:2:3: unknown key \"remindr_at\" in booking "
                  "(did you mean \"reminder_at\"?)\n");
    expect_errors("reminder_at: '18:00'\n",
                  "t.yaml:1:1: unknown key \"reminder_at\" "
                  "(it belongs under \"booking:\")\n");
    assert_int_equal(config_hhmm_minutes("00:00"), 0);
    assert_int_equal(config_hhmm_minutes("23:59"), 23 * 60 + 59);
    assert_int_equal(config_hhmm_minutes("18:00"), 18 * 60);
    assert_int_equal(config_hhmm_minutes("8:00"), -1);
    assert_int_equal(config_hhmm_minutes("18:00:00"), -1);
    assert_int_equal(config_hhmm_minutes(NULL), -1);
    /* boundaries that are fine */
    struct config *c = parse_ok("smsc:\n  - {name: a, port: 65535, window: 1, "
                                "system_id: abcdefghijklmno, password: ''}\n");
    assert_int_equal(c->smsc[0].port, 65535);
    assert_int_equal(c->smsc[0].window, 1);
    assert_string_equal(c->smsc[0].password, "");
    config_free(c);
}

static void test_durations(void **state)
{
    (void)state;
    struct config *c = parse_ok("smsc:\n  - name: a\n    enquire_link: 1500ms\n"
                                "    response_timeout: 5m\n    reconnect_min: 100ms\n"
                                "    reconnect_max: 1h\n    session_timeout: 180s\n");
    assert_int_equal(c->smsc[0].enquire_link_ms, 1500);
    assert_int_equal(c->smsc[0].response_timeout_ms, 300000);
    assert_int_equal(c->smsc[0].reconnect_min_ms, 100);
    assert_int_equal(c->smsc[0].reconnect_max_ms, 3600000);
    assert_int_equal(c->smsc[0].session_timeout_ms, 180000);
    config_free(c);

    expect_errors("smsc:\n  - name: a\n    enquire_link: 30\n",
                  "t.yaml:3:19: smsc[1].enquire_link: \"30\" needs a unit: ms, s, m or h (e.g. 30s)\n");
    expect_errors("smsc:\n  - name: a\n    enquire_link: 30x\n",
                  "t.yaml:3:19: smsc[1].enquire_link: expected a duration such as 500ms, "
                  "30s, 5m, got \"30x\"\n");
    expect_errors("smsc:\n  - name: a\n    enquire_link: -1s\n",
                  "t.yaml:3:19: smsc[1].enquire_link: expected a duration such as 500ms, "
                  "30s, 5m, got \"-1s\"\n");
    expect_errors("smsc:\n  - name: a\n    enquire_link: 500ms\n",
                  "t.yaml:3:19: smsc[1].enquire_link: 500ms is out of range 1s..1h\n");
    expect_errors("smsc:\n  - name: a\n    enquire_link: 2h\n",
                  "t.yaml:3:19: smsc[1].enquire_link: 2h is out of range 1s..1h\n");
    expect_errors("smsc:\n  - name: a\n    enquire_link: 999999999999h\n",
                  "t.yaml:3:19: smsc[1].enquire_link: 999999999999h is out of range 1s..1h\n");
    expect_errors("smsc:\n  - name: a\n    reconnect_min: 10s\n    reconnect_max: 5s\n",
                  "t.yaml:4:20: smsc[1]: reconnect_max must not be below reconnect_min\n");
}

static void test_required_and_duplicates(void **state)
{
    (void)state;
    expect_errors("smsc:\n  - host: 10.0.0.1\n    port: 2775\n",
                  "t.yaml:2:5: smsc[1]: missing required key \"name\"\n");
    expect_errors("smsc:\n  - {}\n",
                  "t.yaml:1:1: smsc[1]: missing required key \"name\"\n");
    expect_errors("smsc:\n"
                  "  - name: megacom\n"
                  "  - name: o\n"
                  "  - name: megacom\n",
                  "t.yaml:4:11: smsc[3]: duplicate smsc name \"megacom\" (first at line 2)\n");
    /* libfyaml itself refuses a key given twice in one mapping */
    expect_errors("smsc:\n  - name: a\n    port: 1\n    port: 2\n",
                  "t.yaml:4:5: duplicate key\n");
}

static void test_all_errors_collected_in_order(void **state)
{
    (void)state;
    expect_errors("log: {levle: debug}\n"
                  "smsc:\n"
                  "  - name: megacom\n"
                  "    port: 99999\n"
                  "  - name: megacom\n"
                  "    window: 0\n"
                  "  - host: x\n"
                  "databse: {}\n",
                  "t.yaml:1:7: unknown key \"levle\" in log (did you mean \"level\"?)\n"
                  "t.yaml:4:11: smsc[1].port: 99999 is out of range 1..65535\n"
                  "t.yaml:5:11: smsc[2]: duplicate smsc name \"megacom\" (first at line 3)\n"
                  "t.yaml:6:13: smsc[2].window: 0 is out of range 1..1000\n"
                  "t.yaml:7:5: smsc[3]: missing required key \"name\"\n"
                  "t.yaml:8:1: unknown key \"databse\" (did you mean \"database\"?)\n");
}

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    struct config *c;
    char *got = parse("smsc:\n  - name: a\n    port: [1,\n", &c);
    assert_non_null(got);
    /* libfyaml's own message, with our file name and a 1-based position */
    assert_true(strncmp(got, "t.yaml:4:1: ", 12) == 0);
    free(got);
    got = parse("log: {level: info\n", &c);
    assert_non_null(got);
    assert_true(strncmp(got, "t.yaml:", 7) == 0);
    free(got);
}

static void test_not_utf8(void **state)
{
    (void)state;
    expect_errors("menus: caf\xe9\n",
                  "t.yaml:1:11: not UTF-8 text (octet 0xe9)\n");
    /* libfyaml 0.7.12 would loop forever on this one (a directive with a
     * bad octet); it never gets that far */
    expect_errors("%\xff", "t.yaml:1:2: not UTF-8 text (octet 0xff)\n");
    expect_errors("log: {}\n\xc0\x80\n", "t.yaml:2:1: not UTF-8 text (octet 0xc0)\n");
    struct config *c;
    char *got = parse("menus: x\n\0", &c);   /* strlen stops at the NUL */
    assert_null(got);
    config_free(c);
    struct config_errors errs = { 0 };
    assert_int_equal(config_parse_string("menus: x\n\0", 10, "t.yaml", &c, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.v[0].line, 2);
    assert_string_equal(errs.v[0].msg, "not UTF-8 text (octet 0x00): a NUL character");
    config_errors_free(&errs);
    /* UTF-8 itself is fine, and columns count characters */
    expect_errors("menus: \"меню\"\nлог: 1\n",
                  "t.yaml:2:1: unknown key \"лог\"\n");
    c = parse_ok("menus: /srv/меню\n");
    assert_string_equal(c->menus, "/srv/меню");
    config_free(c);
}

static void test_errors_capped(void **state)
{
    (void)state;
    char *text = calloc(1, 300 * 20);
    assert_non_null(text);
    strcpy(text, "smsc:\n");
    for (int i = 0; i < 200; i++)
        sprintf(text + strlen(text), "  - {name: n%d, port: 0}\n", i);
    struct config *c = NULL;
    struct config_errors errs = { 0 };
    assert_int_equal(config_parse_string(text, strlen(text), NULL, &c, &errs), -1);
    assert_int_equal(errs.n, CONFIG_MAX_ERRORS);
    assert_int_equal(errs.dropped, 100);
    char line[300];
    assert_string_equal(config_error_format(&errs, &errs.v[0], line, sizeof line),
                        "<string>:2:22: smsc[1].port: 0 is out of range 1..65535");
    config_errors_free(&errs);
    free(text);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    struct config *c = (struct config *)1;
    struct config_errors errs = { 0 };
    assert_int_equal(config_load_file("/nonexistent/kyzmat.yaml", &c, &errs), -1);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    char line[300];
    assert_string_equal(config_error_format(&errs, &errs.v[0], line, sizeof line),
                        "/nonexistent/kyzmat.yaml: cannot open: No such file or directory");
    config_errors_free(&errs);
}

/* ---- reload comparison, help --------------------------------------------- */

static void test_smsc_equal(void **state)
{
    (void)state;
    const char *base = "smsc:\n  - {name: a, prefixes: [\"1\", \"2\"]}\n  - {name: b}\n";
    struct config *x = parse_ok(base), *y = parse_ok(base);
    assert_true(config_smsc_equal(&x->smsc[0], &y->smsc[0]));
    assert_false(config_smsc_equal(&x->smsc[0], &y->smsc[1]));
    config_free(y);
    const char *variants[] = {
        "smsc:\n  - {name: a, prefixes: [\"1\", \"3\"]}\n",
        "smsc:\n  - {name: a, prefixes: [\"1\"]}\n",
        "smsc:\n  - {name: a, prefixes: [\"1\", \"2\"], port: 2776}\n",
        "smsc:\n  - {name: a, prefixes: [\"1\", \"2\"], password: x}\n",
        "smsc:\n  - {name: a, prefixes: [\"1\", \"2\"], enquire_link: 31s}\n",
        "smsc:\n  - {name: a, prefixes: [\"1\", \"2\"], default_route: true}\n",
        "smsc:\n  - {name: a, prefixes: [\"1\", \"2\"], bind: tx_rx}\n",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        y = parse_ok(variants[i]);
        assert_false(config_smsc_equal(&x->smsc[0], &y->smsc[0]));
        config_free(y);
    }
    /* which keys differ, for the reload log line (passwords by name only) */
    y = parse_ok("smsc:\n  - {name: a, prefixes: [\"1\"], port: 2776, password: x}\n");
    char diff[128];
    assert_int_equal(config_smsc_diff(&x->smsc[0], &y->smsc[0], diff, sizeof diff), 3);
    assert_string_equal(diff, "port, password, prefixes");
    assert_int_equal(config_smsc_diff(&x->smsc[0], &y->smsc[0], diff, 8), 3);
    assert_string_equal(diff, "port, p");
    assert_int_equal(config_smsc_diff(&x->smsc[0], &x->smsc[0], diff, sizeof diff), 0);
    assert_string_equal(diff, "");
    config_free(y);
    /* same values written differently are equal */
    y = parse_ok("smsc:\n  - name: a\n    prefixes:\n      - \"1\"\n      - 2\n"
                 "    enquire_link: 30000ms\n");
    assert_true(config_smsc_equal(&x->smsc[0], &y->smsc[0]));
    config_free(y);
    config_free(x);
}

/* callbacks.allow (issue 14 item 9): empty by default, host names and
 * CIDRs, anything else refused with its place. */
static void test_callbacks_allow(void **state)
{
    (void)state;
    struct config *c = config_defaults();
    assert_non_null(c);
    assert_int_equal(c->callbacks_allow_count, 0);
    config_free(c);
    c = parse_ok("callbacks:\n  allow: [127.0.0.1, \"::1\", 10.0.0.0/8, hooks.internal]\n");
    assert_int_equal(c->callbacks_allow_count, 4);
    assert_string_equal(c->callbacks_allow[0], "127.0.0.1");
    assert_string_equal(c->callbacks_allow[1], "::1");
    assert_string_equal(c->callbacks_allow[2], "10.0.0.0/8");
    assert_string_equal(c->callbacks_allow[3], "hooks.internal");
    config_free(c);
    expect_errors("callbacks:\n  allow: [\"http://x/\", 10.0.0.0/40]\n",
                  "t.yaml:2:11: callbacks.allow: \"http://x/\" is neither a host "
                  "name nor an address or CIDR\n"
                  "t.yaml:2:24: callbacks.allow: \"10.0.0.0/40\" is neither a "
                  "host name nor an address or CIDR\n");
}

/* xroad (issue 13 xroad): off by default; the identifier, the URL and what
 * the keys need from each other checked with their places. */
static void test_xroad_block(void **state)
{
    (void)state;
    struct config *c = config_defaults();
    assert_non_null(c);
    assert_string_equal(c->xroad.security_server, "");
    config_free(c);
    c = parse_ok("xroad:\n"
                 "  security_server: https://ss.example:8443\n"
                 "  client: KG/GOV/70000003/kyzmat\n"
                 "  ca: /etc/kyzmat/ss-ca.pem\n"
                 "  cert: /etc/kyzmat/xroad.pem\n"
                 "  key: /etc/kyzmat/xroad.key\n"
                 "  user_id: KG1\n");
    assert_string_equal(c->xroad.security_server, "https://ss.example:8443");
    assert_string_equal(c->xroad.client, "KG/GOV/70000003/kyzmat");
    assert_string_equal(c->xroad.ca, "/etc/kyzmat/ss-ca.pem");
    assert_string_equal(c->xroad.cert, "/etc/kyzmat/xroad.pem");
    assert_string_equal(c->xroad.key, "/etc/kyzmat/xroad.key");
    assert_string_equal(c->xroad.user_id, "KG1");
    config_free(c);
    expect_errors("xroad:\n  security_server: http://ss:80\n  client: KG/GOV/70000003\n",
                  "t.yaml:3:11: xroad.client: must be INSTANCE/CLASS/MEMBER/SUBSYSTEM: "
                  "an identifier has too few parts\n");
    expect_errors("xroad:\n  security_server: https://ss/r1\n  client: KG/GOV/1/k\n",
                  "t.yaml:2:20: xroad.security_server: must be https://HOST[:PORT] (or "
                  "http://), without a path\n");
    expect_errors("xroad:\n  security_server: https://ss\n  client: KG/GOV/1/k\n"
                  "  cert: /x.pem\n",
                  "t.yaml:1:1: xroad: cert and key go together\n");
    expect_errors("xroad:\n  security_server: https://ss\n",
                  "t.yaml:1:1: xroad: client is required (INSTANCE/CLASS/MEMBER/SUBSYSTEM)\n");
    expect_errors("xroad:\n  client: KG/GOV/1/k\n",
                  "t.yaml:1:1: xroad: security_server is required when the block sets "
                  "anything else\n");
}

static void test_help_lists_every_key(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_print_help(f);
    fclose(f);
    const char *want[] = {
        "log:", "level", "file", "smsc:", "name", "(required)", "host", "127.0.0.1",
        "port", "2775", "system_id", "password", "system_type", "bind",
        "transceiver | tx_rx", "window", "1..1000", "tps", "enquire_link", "30s",
        "response_timeout", "reconnect_min", "reconnect_max", "max_pdu_len",
        "dialect", "session_timeout", "180s", "prefixes", "default_route", "split",
        "http:", "listen", "max_body", "redis:", "url", "database:", "path",
        "synchronous", "menus", "menus/examples", "booking:", "reminders",
        "reminder_at", "\"18:00\"", "00:00..23:59", "reminder_check_seconds",
        "reminder_skip_recent", "0s..48h",
        /* log.level's syslog names (issue 14 item 12) */
        "error | warn | info | debug", "emerg, alert, crit, err", "warning = warn",
        "notice = info",
        "callbacks:", "allow", "items of 1..253 chars",
        "xroad:", "security_server", "INSTANCE/CLASS/MEMBER/SUBSYSTEM", "user_id",
        /* issue 13 tls-smpp */
        "tls.enabled", "tls.ca", "tls.cert", "tls.key", "tls.verify",
        "tls.verify_name", "tls.min_version", "1.2 | 1.3",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(buf, want[i]))
            print_message("missing in --help-config: %s\n", want[i]);
        assert_non_null(strstr(buf, want[i]));
    }
    free(buf);
}

static void test_unknown_dialect(void **state)
{
    (void)state;
    const char *y = "smsc:\n  - name: a\n    dialect: standrad\n";
    struct config *cfg = NULL;
    struct config_errors errs;
    memset(&errs, 0, sizeof errs);
    assert_int_not_equal(config_parse_string(y, strlen(y), "d.yaml", &cfg, &errs), 0);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.v[0].line, 3);
    assert_int_equal(errs.v[0].column, 14);
    assert_non_null(strstr(errs.v[0].msg, "did you mean \"standard\""));
    assert_non_null(strstr(errs.v[0].msg, "msisdn"));
    config_errors_free(&errs);
}

/* redis.url: the store's own parser decides, so --check refuses what the
 * dialog store would; passwords are accepted and never quoted back. */
static void test_redis_url(void **state)
{
    (void)state;
    struct config *c = parse_ok("redis: {url: 'redis://:s3cret@127.0.0.1:6380/2'}\n");
    assert_string_equal(c->redis_url, "redis://:s3cret@127.0.0.1:6380/2");
    config_free(c);
    c = parse_ok("redis: {url: 'redis://app:p%40ss@cache.local/0'}\n");
    assert_string_equal(c->redis_url, "redis://app:p%40ss@cache.local/0");
    config_free(c);
    c = parse_ok("redis: {url: ''}\n");
    assert_string_equal(c->redis_url, "");
    config_free(c);
    expect_errors("redis: {url: 'redis://s3cret@h'}\n",
                  "t.yaml:1:14: redis.url: must be empty or "
                  "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: user info must be "
                  ":PASSWORD@ or USER:PASSWORD@\n");
    expect_errors("redis: {url: 'redis://:s3%zzcret@h'}\n",
                  "t.yaml:1:14: redis.url: must be empty or "
                  "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: bad %-escape in the "
                  "password\n");
    expect_errors("redis: {url: 'redis://:s3cret@h:99999/1'}\n",
                  "t.yaml:1:14: redis.url: must be empty or "
                  "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: port must be 1..65535\n");
    expect_errors("redis: {url: 'redis://h/70000'}\n",
                  "t.yaml:1:14: redis.url: must be empty or "
                  "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: database must be a "
                  "number 0..65535\n");
}

/* issue 13 tls-smpp: smsc[].tls — defaults, every key, the errors with
 * their places, reload comparison and the files checked by
 * config_load_file only. */
static void assert_tls(const struct config_smsc_tls *t, const struct config_smsc_tls *w,
                       const char *version)
{
    assert_int_equal(t->enabled, w->enabled);
    assert_int_equal(t->verify, w->verify);
    assert_string_equal(t->ca, w->ca);
    assert_string_equal(t->cert, w->cert);
    assert_string_equal(t->key, w->key);
    assert_string_equal(t->verify_name, w->verify_name);
    assert_int_equal(t->min_version, w->min_version);
    assert_string_equal(config_tls_version_name(t->min_version), version);
}

static void test_smsc_tls(void **state)
{
    (void)state;
    struct config *c = config_defaults();
    assert_non_null(c);
    static const struct config_smsc_tls off = {
        .enabled = false, .verify = true, .ca = "", .cert = "", .key = "",
        .verify_name = "", .min_version = CONFIG_TLS_12,
    };
    assert_tls(&c->smsc[0].tls, &off, "1.2");
    config_free(c);

    c = parse_ok("smsc:\n  - name: a\n    tls:\n      enabled: true\n"
                 "      ca: /etc/kyzmat/ca.pem\n      cert: /etc/kyzmat/c.pem\n"
                 "      key: /etc/kyzmat/c.key\n      verify: false\n"
                 "      verify_name: smsc.example.net\n      min_version: \"1.3\"\n"
                 "  - {name: b, tls: {enabled: true, min_version: 1.2}}\n"
                 "  - {name: c, tls: }\n");
    static const struct config_smsc_tls all = {
        .enabled = true, .verify = false, .ca = "/etc/kyzmat/ca.pem",
        .cert = "/etc/kyzmat/c.pem", .key = "/etc/kyzmat/c.key",
        .verify_name = "smsc.example.net", .min_version = CONFIG_TLS_13,
    };
    assert_tls(&c->smsc[0].tls, &all, "1.3");
    assert_true(c->smsc[1].tls.enabled);
    assert_true(c->smsc[1].tls.verify);
    assert_int_equal(c->smsc[1].tls.min_version, CONFIG_TLS_12);
    assert_false(c->smsc[2].tls.enabled);
    /* reload: a changed tls key restarts the link and is named */
    assert_false(config_smsc_equal(&c->smsc[1], &c->smsc[2]));
    char diff[128];
    assert_int_equal(config_smsc_diff(&c->smsc[2], &c->smsc[1], diff, sizeof diff), 2);
    assert_string_equal(diff, "name, tls.enabled");
    config_free(c);

    expect_errors("smsc:\n  - name: a\n    tls: {enabled: true, cert: /c.pem}\n",
                  "t.yaml:3:32: smsc[1].tls: cert and key go together (key is missing)\n");
    expect_errors("smsc:\n  - name: a\n    tls: {key: /c.key}\n",
                  "t.yaml:3:16: smsc[1].tls: cert and key go together (cert is missing)\n");
    expect_errors("smsc:\n  - name: a\n    tls: {min_version: 1.1}\n",
                  "t.yaml:3:24: smsc[1].tls.min_version: \"1.1\" is not one of 1.2, 1.3 "
                  "(did you mean \"1.2\"?)\n");
    expect_errors("smsc:\n  - name: a\n    tls: {enabeld: true, verify: maybe}\n",
                  "t.yaml:3:11: unknown key \"enabeld\" in smsc[1].tls (did you mean "
                  "\"enabled\"?)\n"
                  "t.yaml:3:34: smsc[1].tls.verify: expected true or false, got \"maybe\"\n");
    expect_errors("smsc:\n  - name: a\n    tls: true\n",
                  "t.yaml:3:10: smsc[1].tls: expected a mapping of keys, got a scalar\n");
    expect_errors("smsc:\n  - name: a\n    tls.enabled: true\n",
                  "t.yaml:3:5: unknown key \"tls.enabled\" in smsc[1]\n");
    expect_errors("smsc:\n  - name: a\n    tls: {enabled: true, tls: {}}\n",
                  "t.yaml:3:26: unknown key \"tls\" in smsc[1].tls\n");

    /* the files: not looked at by config_parse_string (no I/O), refused by
     * config_load_file when the block is enabled, with path and place */
    const char *text = "smsc:\n  - name: a\n    tls:\n      enabled: true\n"
                       "      ca: /nonexistent/ca.pem\n      cert: scripts/kyzmat.yaml\n"
                       "      key: /nonexistent/c.key\n";
    c = parse_ok(text);
    config_free(c);
    char path[] = "/tmp/kyzmat-test-tls-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct config_errors errs = { 0 };
    assert_int_equal(config_load_file(path, &c, &errs), -1);
    assert_null(c);
    assert_int_equal(errs.n, 2);
    char line[300], want[300];
    snprintf(want, sizeof want, "%s:5:11: smsc[1].tls.ca: cannot read /nonexistent/ca.pem: "
             "No such file or directory", path);
    assert_string_equal(config_error_format(&errs, &errs.v[0], line, sizeof line), want);
    snprintf(want, sizeof want, "%s:7:12: smsc[1].tls.key: cannot read /nonexistent/c.key: "
             "No such file or directory", path);
    assert_string_equal(config_error_format(&errs, &errs.v[1], line, sizeof line), want);
    config_errors_free(&errs);
    /* disabled: the files are not needed yet */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("smsc:\n  - name: a\n    tls: {enabled: false, ca: /nonexistent/ca.pem}\n", f);
    fclose(f);
    assert_int_equal(config_load_file(path, &c, &errs), 0);
    assert_false(c->smsc[0].tls.enabled);
    config_free(c);
    config_errors_free(&errs);
    unlink(path);
}

/* issue 13 tls-http: http.tls and admin.tls, and plain HTTP on loopback
 * only unless insecure_plain says otherwise. */
static void test_listener_tls(void **state)
{
    (void)state;
    struct config *c = config_defaults();
    assert_non_null(c);
    assert_string_equal(c->http_tls_cert, "");
    assert_string_equal(c->admin_tls_key, "");
    assert_false(c->http_insecure_plain);
    config_free(c);
    c = parse_ok("http:\n  listen: 0.0.0.0:8443\n  tls: {cert: /c.pem, key: /k.pem, "
                 "client_ca: /ca.pem}\n"
                 "admin:\n  listen: '[::]:9443'\n  tls:\n    cert: /a.pem\n"
                 "    key: /ak.pem\n");
    assert_string_equal(c->http_listen, "0.0.0.0:8443");
    assert_string_equal(c->http_tls_cert, "/c.pem");
    assert_string_equal(c->http_tls_key, "/k.pem");
    assert_string_equal(c->http_tls_client_ca, "/ca.pem");
    assert_string_equal(c->admin_tls_cert, "/a.pem");
    assert_string_equal(c->admin_tls_key, "/ak.pem");
    assert_string_equal(c->admin_tls_client_ca, "");
    config_free(c);
    /* plain on loopback, or anywhere with the explicit opt-out */
    config_free(parse_ok("http: {listen: '127.0.0.2:80'}\nadmin: {listen: '[::1]:81'}\n"));
    c = parse_ok("http: {listen: '10.0.0.5:80', insecure_plain: true}\n");
    assert_true(c->http_insecure_plain);
    config_free(c);
    expect_errors("http: {listen: '0.0.0.0:8080'}\n",
                  "t.yaml:1:16: http.listen 0.0.0.0:8080: plain HTTP is allowed on "
                  "a loopback address only (127.0.0.1, ::1); set http.tls.cert and "
                  "http.tls.key for HTTPS, or http.insecure_plain: true behind a "
                  "TLS proxy\n");
    expect_errors("admin:\n  listen: '[::]:9100'\n",
                  "t.yaml:2:11: admin.listen [::]:9100: plain HTTP is allowed on "
                  "a loopback address only (127.0.0.1, ::1); set admin.tls.cert and "
                  "admin.tls.key for HTTPS, or admin.insecure_plain: true behind a "
                  "TLS proxy\n");
    expect_errors("http:\n  tls: {cert: /c.pem}\n",
                  "t.yaml:2:15: http.tls: cert and key go together: set both "
                  "(HTTPS) or neither (plain HTTP on loopback)\n");
    expect_errors("admin:\n  tls: {client_ca: /ca.pem}\n",
                  "t.yaml:2:20: admin.tls.client_ca needs admin.tls.cert and "
                  "admin.tls.key\n");
    expect_errors("http:\n  tls: {crt: /c.pem, key: /k.pem}\n",
                  "t.yaml:2:9: unknown key \"crt\" in http.tls (did you mean "
                  "\"cert\"?)\n"
                  "t.yaml:2:27: http.tls: cert and key go together: set both "
                  "(HTTPS) or neither (plain HTTP on loopback)\n");
    expect_errors("http:\n  tls: [a]\n",
                  "t.yaml:2:9: tls: expected a mapping of keys, got a list\n");
}

/* issue 13 tls-http: http.xroad, the API behind a security server */
static void test_xroad(void **state)
{
    (void)state;
    const char *tls = "http:\n  tls: {cert: /c.pem, key: /k.pem, client_ca: /ca.pem}\n";
    char y[1024];
    snprintf(y, sizeof y, "%s  xroad:\n    security_server_cert: /ss.pem\n"
             "    members:\n      KG/GOV/70000001/tax-sms: tax\n"
             "      \"KG/GOV/70000002/cec\": cec messages,applications\n"
             "      KG/COM/123: bank.kg *\n", tls);
    struct config *c = parse_ok(y);
    assert_string_equal(c->http_xroad_ss_cert, "/ss.pem");
    assert_int_equal(c->http_xroad_members_count, 3);
    assert_string_equal(c->http_xroad_members[0], "KG/GOV/70000001/tax-sms=tax");
    assert_string_equal(c->http_xroad_members[1],
                        "KG/GOV/70000002/cec=cec messages,applications");
    assert_string_equal(c->http_xroad_members[2], "KG/COM/123=bank.kg *");
    config_free(c);
    c = config_defaults();
    assert_string_equal(c->http_xroad_ss_cert, "");
    assert_int_equal(c->http_xroad_members_count, 0);
    config_free(c);
    snprintf(y, sizeof y, "%s  xroad:\n    security_server_cert: /ss.pem\n"
             "    members:\n      KG/GOV: tax\n      KG/GOV/1/a/b/c: tax\n"
             "      KG//1/a: tax\n      KG/GOV/1/a: 'tax nosuch'\n"
             "      KG/GOV/1/b: 't@x'\n      KG/GOV/1/c: [tax]\n", tls);
    expect_errors(y,
        "t.yaml:6:7: http.xroad.members: \"KG/GOV\" is not an X-Road client id "
        "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]\n"
        "t.yaml:7:7: http.xroad.members: \"KG/GOV/1/a/b/c\" is not an X-Road "
        "client id INSTANCE/CLASS/MEMBER[/SUBSYSTEM]\n"
        "t.yaml:8:7: http.xroad.members: \"KG//1/a\" is not an X-Road client id "
        "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]\n"
        "t.yaml:9:7: http.xroad.members: \"KG/GOV/1/a\" unknown scope in "
        "\"nosuch\" (want messages, applications, offices, slots, templates, "
        "appeals, law_required or *)\n"
        "t.yaml:10:7: http.xroad.members: \"KG/GOV/1/b\" its value must start "
        "with an agency code (1..63 of A-Z a-z 0-9 . _ : -)\n"
        "t.yaml:11:7: http.xroad.members: \"KG/GOV/1/c\" each value must be a "
        "string \"AGENCY [SCOPES]\"\n");
    expect_errors("http:\n  xroad:\n    members: {KG/GOV/1/a: tax}\n",
                  "t.yaml:3:15: http.xroad: security_server_cert and members go "
                  "together\n");
    expect_errors("http:\n  xroad: {security_server_cert: /ss.pem, "
                  "members: {KG/GOV/1/a: tax}}\n",
                  "t.yaml:2:33: http.xroad needs http.tls with client_ca (signing "
                  "the security server's certificate, or that certificate itself): "
                  "X-Road-Client is trusted only from a connection that presented "
                  "it\n");
    expect_errors("http:\n  xroad: {members: [a]}\n",
                  "t.yaml:2:21: http.xroad.members: expected a mapping of at most "
                  "1000 \"INSTANCE/CLASS/MEMBER/SUBSYSTEM\": \"AGENCY [SCOPES]\", "
                  "got a list\n"
                  "t.yaml:2:21: http.xroad: security_server_cert and members go "
                  "together\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_config_is_the_embedded_defaults),
        cmocka_unit_test(test_one_line_configs),
        cmocka_unit_test(test_log_level_syslog_names),
        cmocka_unit_test(test_sample_parses_clean),
        cmocka_unit_test(test_every_key_set),
        cmocka_unit_test(test_unknown_dialect),
        cmocka_unit_test(test_unknown_keys_did_you_mean),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_required_and_duplicates),
        cmocka_unit_test(test_all_errors_collected_in_order),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_errors_capped),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_smsc_equal),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_help_lists_every_key),
        cmocka_unit_test(test_callbacks_allow),
        cmocka_unit_test(test_xroad),
        cmocka_unit_test(test_listener_tls),
        cmocka_unit_test(test_xroad_block),
        cmocka_unit_test(test_smsc_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
