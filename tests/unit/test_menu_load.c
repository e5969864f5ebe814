/*
 * tests/unit/test_menu_load.c — the menu loader: every error kind with its
 * exact file:line:column, all errors collected, all-or-nothing, and the
 * shipped example set loading clean.
 * May call: menus/load, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "menus/load.h"

/* Load one or two texts; returns the error count; *out gets the set. */
static size_t load2(const char *n1, const char *t1, const char *n2, const char *t2,
                    struct menu_set **out, struct menu_errors *errs)
{
    struct menu_source src[2] = { { n1, t1, strlen(t1) }, { n2, t2, t2 ? strlen(t2) : 0 } };
    memset(errs, 0, sizeof *errs);
    int rc = menu_set_load_sources(src, t2 ? 2 : 1, NULL, 0, out, errs);
    if (rc == 0)
        assert_int_equal(errs->n, 0);
    else
        assert_null(*out);
    return errs->n;
}

/* 1 when the formatted error list holds exactly `want`. */
static int has(const struct menu_errors *errs, const char *want)
{
    char buf[600];
    for (size_t i = 0; i < errs->n; i++)
        if (strcmp(menu_error_format(&errs->v[i], buf, sizeof buf), want) == 0)
            return 1;
    fprintf(stderr, "wanted: %s\nhave:\n", want);
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "  %s\n", menu_error_format(&errs->v[i], buf, sizeof buf));
    return 0;
}

/* One file that must fail to load with `want` among its errors. */
static void expect_file_error(const char *name, const char *text, const char *want)
{
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_true(load2(name, text, NULL, NULL, &set, &errs) >= 1);
    assert_true(has(&errs, want));
    menu_errors_free(&errs);
}

/* s written n times into buf (a long label or text). */
static const char *repeat(char *buf, size_t cap, const char *s, int n)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        strncat(buf, s, cap - strlen(buf) - 1);
    return buf;
}

static const char *HEAD =
    "settings:\n"
    "  languages: [en, ru]\n"
    "codes:\n"
    "  \"*1#\": a\n";

/* HEAD, then body, into buf. */
static char *with_head(char *buf, size_t cap, const char *body)
{
    snprintf(buf, cap, "%s%s", HEAD, body);
    return buf;
}

static void expect_error(const char *body, const char *want)
{
    char text[4096];
    expect_file_error("t.yaml", with_head(text, sizeof text, body), want);
}

static void test_ok_minimal(void **state)
{
    (void)state;
    char text[1024];
    with_head(text, sizeof text,
              "nodes:\n"
              "  - id: a\n"
              "    type: end\n"
              "    text: {en: Bye, ru: Пока}\n");
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_int_equal(load2("t.yaml", text, NULL, NULL, &set, &errs), 0);
    assert_non_null(set);
    assert_int_equal(set->nnode, 1);
    assert_int_equal(set->nlang, 2);
    assert_string_equal(set->code[0].code, "*1#");
    /* same text, same generation; different text, different generation */
    struct menu_set *again = NULL;
    assert_int_equal(load2("t.yaml", text, NULL, NULL, &again, &errs), 0);
    assert_int_equal(set->generation, again->generation);
    menu_set_unref(again);
    memcpy(strstr(text, "Bye"), "Bey", 3);
    assert_int_equal(load2("t.yaml", text, NULL, NULL, &again, &errs), 0);
    assert_int_not_equal(set->generation, again->generation);
    menu_set_unref(again);
    menu_set_unref(set);
}

static void test_unknown_target(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: menu\n"
                 "    text: Hi\n"
                 "    options:\n"
                 "      - label: X\n"
                 "        next: nowhere\n",
                 "t.yaml:11:15: next: unknown target 'nowhere'");
}

static void test_duplicate_id_across_files(void **state)
{
    (void)state;
    char t1[512];
    with_head(t1, sizeof t1,
              "nodes:\n"
              "  - id: a\n"
              "    type: end\n"
              "    text: Bye\n");
    const char *t2 = "# second file\n"
                     "nodes:\n"
                     "  - type: end\n"
                     "    id: a\n"
                     "    text: Again\n";
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_int_equal(load2("a.yaml", t1, "b.yaml", t2, &set, &errs), 1);
    assert_true(has(&errs, "b.yaml:4:9: duplicate id 'a' (first in a.yaml:6:9)"));
    menu_errors_free(&errs);
}

static void test_unreachable(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: end\n"
                 "    text: Bye\n"
                 "  - id: orphan\n"
                 "    type: end\n"
                 "    text: Nobody\n",
                 "t.yaml:9:9: node 'orphan' is unreachable from any code");
}

static void test_missing_translation(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: end\n"
                 "    text:\n"
                 "      en: Bye\n",
                 "t.yaml:8:5: text: missing translation 'ru'");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: end\n"
                 "    text: {en: Bye, ru: Пока, de: Tschüss}\n",
                 "t.yaml:8:31: text: 'de' is not a language of this menu set");
}

static void test_option_cannot_fit(void **state)
{
    (void)state;
    /* 75 Cyrillic letters + "1. " + newline + footer > 80 UCS-2 units */
    char body[2048];
    char label[400];
    repeat(label, sizeof label, "ж", 75);
    snprintf(body, sizeof body,
             "nodes:\n"
             "  - id: a\n"
             "    type: menu\n"
             "    text: Hi\n"
             "    options:\n"
             "      - {label: \"%s\", next: b}\n"
             "  - id: b\n"
             "    type: end\n"
             "    text: Bye\n",
             label);
    expect_error(body, "t.yaml:6:9: option 1 of 'a' cannot fit one USSD screen in 'en' even alone "
                       "(78 + footer 25 > 80 characters)");
}

/* Settings with a resume message (%s) and more lines after it (%s). */
static const char SETTINGS_RESUME[] =
    "settings:\n"
    "  languages: [en]\n"
    "  messages:\n"
    "    resume: \"%s\"\n"
    "%s"
    "codes:\n"
    "  \"*1#\": a\n"
    "nodes:\n"
    "  - id: a\n"
    "    type: end\n"
    "    text: Bye\n";

static void test_settings_problems(void **state)
{
    (void)state;
    char text[2048];
    char lng[600];
    repeat(lng, sizeof lng, "ж", 81);
    snprintf(text, sizeof text, SETTINGS_RESUME, lng, "  keys: {back: \"9\", more: \"9\"}\n");
    const char *t2 = "settings:\n  languages: [ru]\n";
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_true(load2("s.yaml", text, "t.yaml", t2, &set, &errs) >= 2);
    assert_true(has(&errs, "t.yaml:1:1: settings declared twice (first in s.yaml:2:3)"));
    assert_true(has(&errs, "s.yaml:5:3: keys 'back' and 'more' are both '9'"));
    menu_errors_free(&errs);
    snprintf(text, sizeof text, SETTINGS_RESUME, lng, "");
    assert_int_equal(load2("s.yaml", text, NULL, NULL, &set, &errs), 1);
    assert_true(has(&errs, "s.yaml:4:5: message 'resume' does not fit one screen in 'en' (81 of 80 characters)"));
    menu_errors_free(&errs);
}

/* Every settings key's refusals, each list exactly as reported (the
 * order is the settings table's). */
static void test_settings_each_key(void **state)
{
    (void)state;
    static const struct {
        const char *settings, *node_text, *want;
    } cases[] = {
        { "  default_language: en\n", "Bye",
          "t.yaml:2:3: settings: 'languages' must be a list such as [ky, ru, en]\n"
          "t.yaml:2:21: default_language 'en' is not in languages\n" },
        { "  languages: [en, EN, en]\n", "Bye",
          "t.yaml:2:19: language 'EN': use a 2-3 letter code such as ky\n"
          "t.yaml:2:23: language 'en' listed twice\n" },
        { "  languages: []\n", "Bye", "t.yaml:2:3: settings: 'languages' is empty\n" },
        { "  languages: [en]\n  default_language: de\n", "Bye",
          "t.yaml:3:21: default_language 'de' is not in languages\n" },
        { "  languages: [en]\n  keys: 5\n", "Bye",
          "t.yaml:3:3: settings: 'keys' must map back/home/more to digits\n" },
        { "  languages: [en]\n  keys: {back: \"0a\"}\n", "Bye",
          "t.yaml:3:17: key 'back' must be 1-4 digits\n" },
        { "  languages: [en]\n  vars: [x]\n", "Bye",
          "t.yaml:3:3: settings: 'vars' must map names to values\n" },
        { "  languages: [en]\n  vars: {9x: a, phone: b}\n", "Bye",
          "t.yaml:3:10: bad variable name '9x'\n"
          "t.yaml:3:17: variable 'phone' declared twice or built in\n" },
        { "  languages: [en]\n  labels: x\n  messages: y\n", "Bye",
          "t.yaml:3:3: settings: 'labels' must map back/home/more to texts\n"
          "t.yaml:4:3: settings: 'messages' must map names to texts\n" },
        { "  languages: [de]\n", "Tschuess",
          "t.yaml:2:3: settings: 'back' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'home' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'more' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'invalid' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'too_many' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'failure' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'timeout' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'resume' needs a text for language 'de'\n"
          "t.yaml:2:3: settings: 'unknown_code' needs a text for language 'de'\n" },
        { "  languages: [en]\n  language_menu: a\n", "Bye",
          "t.yaml:3:18: language_menu must be a menu node\n" },
        { "  languages: [en]\n  resume_seconds: 99999\n  retries: 0\n", "Bye",
          "t.yaml:3:19: resume_seconds must be a number from 0 to 86400\n"
          "t.yaml:4:12: retries must be a number from 1 to 10\n" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[1024], got[2048] = "";
        snprintf(text, sizeof text, "settings:\n%scodes:\n  \"*1#\": a\n"
                 "nodes:\n  - {id: a, type: end, text: %s}\n",
                 cases[c].settings, cases[c].node_text);
        struct menu_set *set = NULL;
        struct menu_errors errs;
        load2("t.yaml", text, NULL, NULL, &set, &errs);
        for (size_t i = 0; i < errs.n; i++) {
            char line[600];
            menu_error_format(&errs.v[i], line, sizeof line);
            strncat(got, line, sizeof got - strlen(got) - 2);
            strcat(got, "\n");
        }
        menu_errors_free(&errs);
        assert_string_equal(got, cases[c].want);
    }
    /* an override must name a constant of settings.vars */
    const char *t = "settings:\n  languages: [en]\n  vars: {k: v}\ncodes:\n  \"*1#\": a\n"
                    "nodes:\n  - {id: a, type: end, text: \"{k}\"}\n";
    struct menu_source src = { "t.yaml", t, strlen(t) };
    struct menu_override ov[2] = { { "nope", "x" }, { "k", "w" } };
    struct menu_set *set = NULL;
    struct menu_errors errs = { 0 };
    assert_int_equal(menu_set_load_sources(&src, 1, ov, 2, &set, &errs), -1);
    assert_int_equal(errs.n, 1);
    assert_true(has(&errs, "t.yaml: override 'nope' is not a constant in settings.vars"));
    menu_errors_free(&errs);
    assert_int_equal(menu_set_load_sources(&src, 1, ov + 1, 1, &set, &errs), 0);
    assert_string_equal(set->var[menu_set_find_var(set, "k", 1)].constant, "w");
    menu_set_unref(set);
}

/* settings.booking_texts: the operator's wording of booking screens */
static void test_booking_texts(void **state)
{
    (void)state;
    const char *body =
        "settings:\n"
        "  languages: [en, ru]\n"
        "  booking_texts:\n"
        "    booked: {en: \"Done: {day} {time}, ticket {ticket}\", ru: \"Готово: {day} {time}\"}\n"
        "    taken: \"Gone, sorry.\"\n"
        "codes:\n"
        "  \"*1#\": a\n"
        "nodes:\n"
        "  - id: a\n"
        "    type: booking\n";
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_int_equal(load2("t.yaml", body, NULL, NULL, &set, &errs), 0);
    assert_string_equal(set->booking_text[0][MENU_BT_BOOKED], "Done: {day} {time}, ticket {ticket}");
    assert_string_equal(set->booking_text[1][MENU_BT_BOOKED], "Готово: {day} {time}");
    assert_string_equal(set->booking_text[1][MENU_BT_TAKEN], "Gone, sorry.");
    assert_null(set->booking_text[0][MENU_BT_SERVICE]);   /* built in */
    menu_set_unref(set);
    char lng[400];
    repeat(lng, sizeof lng, "ж", 81);
    char text[2048];
    snprintf(text, sizeof text,
             "settings:\n"
             "  languages: [en, ru]\n"
             "  booking_texts:\n"
             "    bookd: x\n"
             "    booked: \"{day} at {tiem}\"\n"
             "    taken: {en: x}\n"
             "    gone: {en: x, ru: y, de: z}\n"
             "    busy: \"%s\"\n"
             "codes:\n"
             "  \"*1#\": a\n"
             "nodes:\n"
             "  - id: a\n"
             "    type: booking\n", lng);
    assert_true(load2("t.yaml", text, NULL, NULL, &set, &errs) >= 5);
    assert_true(has(&errs, "t.yaml:4:5: booking_texts: unknown key 'bookd'"));
    assert_true(has(&errs, "t.yaml:5:14: booking_texts.booked: unknown placeholder {tiem} "
                           "(known: {service} {office} {address} {place} {day} {date} {time} {ticket})"));
    assert_true(has(&errs, "t.yaml:6:5: booking_texts.taken: missing translation 'ru'"));
    assert_true(has(&errs, "t.yaml:7:26: booking_texts.gone: 'de' is not a language of the set"));
    assert_true(has(&errs, "t.yaml:8:12: booking_texts.busy: must be 1 to 160 octets on the air "
                           "(80 characters in Cyrillic)"));
    menu_errors_free(&errs);
}

static void test_loop_without_input(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: switch\n"
                 "    cases:\n"
                 "      - {var: x, equals: \"1\", next: s}\n"
                 "    default: s\n"
                 "  - id: s\n"
                 "    type: sms\n"
                 "    text: Hi\n"
                 "    next: a\n"
                 "  - id: in\n"
                 "    type: input\n"
                 "    text: Number?\n"
                 "    var: x\n"
                 "    next: a\n",
                 "t.yaml:6:9: loop with no input: a -> s -> a");
}

static void test_yaml_syntax_error(void **state)
{
    (void)state;
    struct menu_set *set = NULL;
    struct menu_errors errs;
    const char *bad = "settings:\n  languages: [en\ncodes: {\n";
    assert_true(load2("bad.yaml", bad, NULL, NULL, &set, &errs) >= 1);
    assert_string_equal(errs.v[0].file, "bad.yaml");
    assert_true(errs.v[0].line >= 2);
    assert_non_null(strstr(errs.v[0].msg, "YAML:"));
    menu_errors_free(&errs);
}

static void test_unknown_variable_and_key(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: end\n"
                 "    text: \"Hello {nobody}\"\n",
                 "t.yaml:8:12: text: unknown variable {nobody}");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: end\n"
                 "    txt: Bye\n"
                 "    text: Bye\n",
                 "t.yaml:8:5: end node 'a': unknown key 'txt'");
}

static void test_bad_regex_and_kind(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: input\n"
                 "    text: Code?\n"
                 "    kind: regex\n"
                 "    pattern: \"[a-\"\n"
                 "    var: v\n"
                 "    next: b\n"
                 "  - id: b\n"
                 "    type: end\n"
                 "    text: Bye\n",
                 "t.yaml:10:15: bad pattern: Invalid range end");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: blah\n",
                 "t.yaml:7:11: unknown node type 'blah' (menu, input, switch, http, sms, app, end, status)");
}

/* A value that must be one of a few names: each refusal, at the value. */
static void test_bad_choices(void **state)
{
    (void)state;
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: input\n"
                 "    text: Code?\n"
                 "    kind: number\n"
                 "    var: v\n"
                 "    next: b\n"
                 "  - id: b\n"
                 "    type: end\n"
                 "    text: Bye\n",
                 "t.yaml:9:11: input kind 'number': use text, digits, regex or date");
    static const char http[] =
        "nodes:\n"
        "  - id: a\n"
        "    type: http\n"
        "    url: http://127.0.0.1:1/x\n"
        "    method: %s\n"
        "%s"
        "    next: b\n"
        "  - id: b\n"
        "    type: end\n"
        "    text: Bye\n";
    char body[512];
    snprintf(body, sizeof body, http, "PUT", "");
    expect_error(body, "t.yaml:9:13: method must be GET or POST");
    snprintf(body, sizeof body, http, "GET", "    body: x=1\n");
    expect_error(body, "t.yaml:9:13: a GET request has no body");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: booking\n"
                 "    mode: cancel\n",
                 "t.yaml:8:11: mode must be book (a new booking) or manage (list, cancel, move)");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: input\n"
                 "    text: Number?\n"
                 "    var: n\n"
                 "    next: s\n"
                 "  - id: s\n"
                 "    type: subscribe\n"
                 "    var: n\n"
                 "    action: pause\n"
                 "    next: e\n"
                 "    on_not_found: e\n"
                 "    on_locked: e\n"
                 "  - id: e\n"
                 "    type: end\n"
                 "    text: Done\n",
                 "t.yaml:14:13: action must be subscribe or unsubscribe");
}

/* issue 13 xroad: an http node's xroad block, and its mistakes placed at
 * file:line:column (a bad identifier part at the part itself). */
static void test_xroad_node(void **state)
{
    (void)state;
    static const char http[] =
        "nodes:\n"
        "  - id: a\n"
        "    type: http\n"
        "    xroad:\n"
        "      service: %s\n"
        "      path: %s\n"
        "      issue: \"{phone}\"\n"
        "%s"
        "    next: b\n"
        "  - id: b\n"
        "    type: end\n"
        "    text: Bye\n";
    char body[1024], text[4096];
    snprintf(body, sizeof body, http, "KG/GOV/70000001/tax-sub/getStatus", "/x?q=1", "");
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_int_equal(load2("t.yaml", with_head(text, sizeof text, body), NULL, NULL, &set,
                           &errs), 0);
    uint16_t a = menu_set_find_node(set, "a", 1);
    assert_int_not_equal(a, MENU_NONE);
    assert_non_null(set->node[a].url);
    assert_string_equal(set->node[a].method, "GET");
    menu_set_unref(set);
    snprintf(body, sizeof body, http, "KG/GOV//tax-sub/getStatus", "/x", "");
    expect_error(body, "t.yaml:9:23: xroad.service: an identifier part is empty "
                       "(INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)");
    snprintf(body, sizeof body, http, "\"KG/GOV/1/s/g/h\"", "/x", "");
    expect_error(body, "t.yaml:9:30: xroad.service: an identifier has too many parts "
                       "(INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)");
    snprintf(body, sizeof body, http, "KG/GOV/1/s/g", "x", "");
    expect_error(body, "t.yaml:10:13: xroad.path must start with '/' or '?'");
    snprintf(body, sizeof body, http, "KG/GOV/1/s/g", "\"/a b\"", "");
    expect_error(body, "t.yaml:10:14: xroad.path: no spaces, '#', control characters or "
                       "non-ASCII text (variables are percent-encoded for you)");
    snprintf(body, sizeof body, http, "KG/GOV/1/s/g", "/x", "    url: http://x/\n");
    expect_error(body, "t.yaml:8:5: http node 'a': give either 'url' or 'xroad', not both");
    snprintf(body, sizeof body, http, "KG/GOV/1/s/g", "/x", "    xroad2: 1\n");
    expect_error(body, "t.yaml:12:5: http node 'a': unknown key 'xroad2'");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: http\n"
                 "    xroad: { service: a/b/c/d/e, user: x }\n"
                 "    next: b\n"
                 "  - id: b\n"
                 "    type: end\n"
                 "    text: Bye\n",
                 "t.yaml:8:34: xroad: unknown key 'user'");
    expect_error("nodes:\n"
                 "  - id: a\n"
                 "    type: http\n"
                 "    xroad: { path: /x }\n"
                 "    next: b\n"
                 "  - id: b\n"
                 "    type: end\n"
                 "    text: Bye\n",
                 "t.yaml:8:5: xroad needs 'service' (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)");
}

static void test_all_errors_collected(void **state)
{
    (void)state;
    /* three independent problems in two files: all three reported, no set */
    const char *t1 = "settings:\n"
                     "  languages: [en]\n"
                     "codes:\n"
                     "  \"*1#\": a\n"
                     "nodes:\n"
                     "  - id: a\n"
                     "    type: menu\n"
                     "    text: Hi\n"
                     "    options:\n"
                     "      - {label: One, next: x1}\n"
                     "      - {label: Two, next: x2}\n";
    const char *t2 = "nodes:\n"
                     "  - id: b\n"
                     "    type: end\n"
                     "    text: \"{undefined}\"\n";
    struct menu_set *set = NULL;
    struct menu_errors errs;
    assert_int_equal(load2("a.yaml", t1, "b.yaml", t2, &set, &errs), 3);
    assert_null(set);
    assert_true(has(&errs, "a.yaml:10:28: next: unknown target 'x1'"));
    assert_true(has(&errs, "a.yaml:11:28: next: unknown target 'x2'"));
    assert_true(has(&errs, "b.yaml:4:12: text: unknown variable {undefined}"));
    menu_errors_free(&errs);
}

static void test_no_settings_no_codes(void **state)
{
    (void)state;
    expect_file_error("x.yaml", "nodes: []\n",
                      "x.yaml: no 'settings' in any menu file (languages are required)");
    /* not UTF-8, or a YAML directive: refused before the YAML parser, at
     * the line and column (in characters) of the fault */
    expect_file_error("u.yaml", "settings:\n  languages: [en]\n  x: \"\xa9\x9a\"\n",
                      "u.yaml:3:7: not valid UTF-8 text");
    expect_file_error("v.yaml", "settings:\n  languages: [en]\n  x: \"жж\xa9\"\n",
                      "v.yaml:3:9: not valid UTF-8 text");
    static const char nul[] = "settings:\n  x: ж\0\n";  /* a NUL: no text either */
    struct menu_source src = { "n.yaml", nul, sizeof nul - 1 };
    struct menu_set *set = NULL;
    struct menu_errors errs = { 0 };
    assert_int_equal(menu_set_load_sources(&src, 1, NULL, 0, &set, &errs), -1);
    assert_true(has(&errs, "n.yaml:2:7: not valid UTF-8 text"));
    menu_errors_free(&errs);
    expect_file_error("p.yaml", "%YAML 1.2\n---\nsettings: {}\n",
                      "p.yaml:1:1: YAML directives (%...) are not supported");
    expect_file_error("q.yaml", "# ж\n%TAG ! tag:x,2024:\n---\nsettings: {}\n",
                      "q.yaml:2:1: YAML directives (%...) are not supported");
    /* aliases are refused (no expansion bombs) */
    expect_file_error("y.yaml", "settings: &s\n  languages: [en]\ncodes: *s\n",
                      "y.yaml:3:9: aliases (*name) are not supported in menu files");
}

static void test_example_loads_clean(void **state)
{
    (void)state;
    struct menu_set *set = NULL;
    struct menu_errors errs = { 0 };
    int rc = menu_set_load_dir("menus/examples", &set, &errs);
    char buf[600];
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", menu_error_format(&errs.v[i], buf, sizeof buf));
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(menu_set_find_code(set, "*100#", 5));
    assert_int_equal(set->nlang, 3);
    assert_string_equal(set->lang[0], "ky");
    printf("example set: %u nodes, %u variables, generation %08x\n", set->nnode, set->nvar,
           set->generation);
    menu_set_unref(set);
}

static void test_dir_errors_name_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/kz_menu_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const files[][2] = {
        { "01.yaml", "settings:\n  languages: [en]\ncodes:\n  \"*5#\": start\n" },
        { "02.yml", "nodes:\n  - id: start\n    type: end\n    text: Hi\n"
                    "  - id: start\n    type: end\n    text: Again\n" },
        { "notes.txt", "not yaml: [" },                 /* ignored */
    };
    char path[256];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(files[i][1], f);
        fclose(f);
    }
    struct menu_set *set = NULL;
    struct menu_errors errs = { 0 };
    assert_int_equal(menu_set_load_dir(dir, &set, &errs), -1);
    assert_null(set);
    char want[400];
    snprintf(want, sizeof want, "%s/02.yml:5:9: duplicate id 'start' (first in %s/02.yml:2:9)", dir, dir);
    assert_true(has(&errs, want));
    menu_errors_free(&errs);
    /* a missing directory is one error, no crash */
    assert_int_equal(menu_set_load_dir("/nonexistent/menus", &set, &errs), -1);
    assert_int_equal(errs.n, 1);
    menu_errors_free(&errs);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        unlink(path);
    }
    rmdir(dir);
}

/* 1 when some error contains `part` (for messages with a computed tail). */
static int has_part(const struct menu_errors *errs, const char *part)
{
    char buf[600];
    for (size_t i = 0; i < errs->n; i++)
        if (strstr(menu_error_format(&errs->v[i], buf, sizeof buf), part))
            return 1;
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Issue 14 item 5: deep nesting made libfyaml take seconds and hundreds of
 * MB inside a reload; it is refused by a pre-scan, at its place, quickly. */
static void test_deep_nesting_refused(void **state)
{
    (void)state;
    size_t n = (1u << 20) - 64;              /* just under the file limit */
    char *t = malloc(n + 1);
    assert_non_null(t);
    memcpy(t, "settings:\n  x: ", 15);
    memset(t + 15, '[', n - 15);
    t[n] = '\0';
    int64_t t0 = mono_ms();
    /* "settings:" one level, "  x:" two more; the 63rd '[' is level 66 */
    expect_file_error("deep.yaml", t,
                      "deep.yaml:2:67: nested deeper than 64 levels (refused before parsing)");
    memset(t, '{', n);                       /* flow mappings from 1:1, under the top level */
    expect_file_error("deep.yaml", t,
                      "deep.yaml:1:64: nested deeper than 64 levels (refused before parsing)");
    for (size_t i = 0; i + 1 < n; i += 2) {  /* "- - - ...": block sequences */
        t[i] = '-';
        t[i + 1] = ' ';
    }
    expect_file_error("seq.yaml", t,
                      "seq.yaml:1:127: nested deeper than 64 levels (refused before parsing)");
    assert_true(mono_ms() - t0 < 1000);
    free(t);
    /* indentation alone: line k indented k spaces */
    char ind[8192];
    size_t o = 0;
    for (int k = 0; k < 80; k++)
        o += (size_t)snprintf(ind + o, sizeof ind - o, "%*sk%d:\n", k, "", k);
    expect_file_error("ind.yaml", ind,
                      "ind.yaml:64:67: nested deeper than 64 levels (refused before parsing)");
}

/* Brackets in quotes, comments, plain text and block scalars are text. */
static void test_shallow_brackets_pass_the_prescan(void **state)
{
    (void)state;
    char t[4096], deep[200];
    memset(deep, '[', 100);
    deep[100] = '\0';
    snprintf(t, sizeof t,
             "settings:\n  languages: [en]\n"
             "# %s\n"
             "codes: {\"*5#\": start}\n"
             "nodes:\n"
             "  - id: start\n    type: end\n    text: \"%s\"\n"
             "  - id: two\n    type: end\n    text: '%s'\n"
             "  - id: three\n    type: end\n    text: a %s\n"
             "  - id: four\n    type: end\n    text: |\n      %s\n      %s\n",
             deep, deep, deep, deep, deep, deep);
    struct menu_set *set = NULL;
    struct menu_errors errs;
    load2("ok.yaml", t, NULL, NULL, &set, &errs);
    assert_false(has_part(&errs, "nested deeper"));
    menu_set_unref(set);
    menu_errors_free(&errs);
}

/* Issue 14 item 5: a menu set over its byte cap is refused before any
 * parsing, naming the cap; the directory loader stops reading there. */
static void test_set_over_cap_refused(void **state)
{
    (void)state;
    static const char a[] = "settings:\n  languages: [en]\ncodes:\n  \"*5#\": start\n";
    static const char b[] = "nodes:\n  - id: start\n    type: end\n    text: Hi\n";
    struct menu_source src[2] = { { "a.yaml", a, sizeof a - 1 },
                                  { "b.yaml", b, sizeof b - 1 } };
    struct menu_set *set = NULL;
    struct menu_errors errs = { 0 };
    struct menu_load_opts o = { .max_bytes = sizeof a - 1 + sizeof b - 1 };
    assert_int_equal(menu_set_load_sources_opts(src, 2, &o, &set, &errs), 0);
    menu_set_unref(set);
    set = NULL;
    o.max_bytes--;
    assert_int_equal(menu_set_load_sources_opts(src, 2, &o, &set, &errs), -1);
    assert_null(set);
    char want[400];
    snprintf(want, sizeof want, "b.yaml: the menu set is larger than its cap "
             "of %zu bytes (menus_max_bytes)", o.max_bytes);
    assert_true(has(&errs, want));
    assert_int_equal(errs.n, 1);
    menu_errors_free(&errs);
    /* the default cap: 5 files of 1 MB are refused without parsing */
    size_t big = 1u << 20;
    char *t = malloc(big);
    assert_non_null(t);
    memset(t, '[', big);
    struct menu_source five[5];
    for (int i = 0; i < 5; i++)
        five[i] = (struct menu_source){ "big.yaml", t, big };
    assert_int_equal(menu_set_load_sources(five, 5, NULL, 0, &set, &errs), -1);
    snprintf(want, sizeof want, "big.yaml: the menu set is larger than its cap "
             "of %u bytes (menus_max_bytes)", MENU_SET_MAX_BYTES);
    assert_true(has(&errs, want));
    menu_errors_free(&errs);
    free(t);
    /* a directory: the file that crosses the cap is named */
    char dir[] = "/tmp/kz_menu_cap_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/a.yaml", dir);
    snprintf(pb, sizeof pb, "%s/b.yaml", dir);
    FILE *f = fopen(pa, "w");
    assert_non_null(f);
    fputs(a, f);
    fclose(f);
    f = fopen(pb, "w");
    assert_non_null(f);
    fputs(b, f);
    fclose(f);
    assert_int_equal(menu_set_load_dir_opts(dir, &o, &set, &errs), -1);
    assert_null(set);
    snprintf(want, sizeof want, "%s: the menu set is larger than its cap "
             "of %zu bytes (menus_max_bytes)", pb, o.max_bytes);
    assert_true(has(&errs, want));
    menu_errors_free(&errs);
    o.max_bytes++;
    assert_int_equal(menu_set_load_dir_opts(dir, &o, &set, &errs), 0);
    menu_set_unref(set);
    menu_errors_free(&errs);
    unlink(pa);
    unlink(pb);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_minimal),
        cmocka_unit_test(test_unknown_target),
        cmocka_unit_test(test_duplicate_id_across_files),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_missing_translation),
        cmocka_unit_test(test_option_cannot_fit),
        cmocka_unit_test(test_settings_problems),
        cmocka_unit_test(test_settings_each_key),
        cmocka_unit_test(test_booking_texts),
        cmocka_unit_test(test_loop_without_input),
        cmocka_unit_test(test_yaml_syntax_error),
        cmocka_unit_test(test_unknown_variable_and_key),
        cmocka_unit_test(test_bad_regex_and_kind),
        cmocka_unit_test(test_bad_choices),
        cmocka_unit_test(test_xroad_node),
        cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_no_settings_no_codes),
        cmocka_unit_test(test_example_loads_clean),
        cmocka_unit_test(test_deep_nesting_refused),
        cmocka_unit_test(test_shallow_brackets_pass_the_prescan),
        cmocka_unit_test(test_set_over_cap_refused),
        cmocka_unit_test(test_dir_errors_name_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
