/*
 * tests/fuzz/fuzz_menu_step.c — libFuzzer target for the step engine and
 * the dialog decoder (both parse untrusted bytes).
 *
 * Input: u8 L, then L bytes of dialog blob (a saved dialog, possibly
 * corrupt), then events: u8 kind, u8 len, len bytes of text (for
 * MENU_EV_HTTP_OK the text is "name=value&name=value").  A blob that does
 * not decode gives a fresh dialog.  After every step: a shown screen fits
 * 160 octets, the dialog encodes, decodes back and re-encodes to the same
 * bytes.  Any violation aborts.  The menu set is built in (every node
 * kind, Kyrgyz texts that paginate) so the target needs no files.
 * May call: menus (load, step, dialog), libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "menus/load.h"
#include "menus/step.h"
#include "tests/fuzz/fuzz.h"

static const char SET[] =
    "settings:\n"
    "  languages: [ky, ru, en]\n"
    "  language_menu: lang\n"
    "  resume_seconds: 60\n"
    "  vars: {backend: \"http://127.0.0.1:1\"}\n"
    "codes: {\"*100#\": main, \"*100*7#\": app}\n"
    "nodes:\n"
    "  - id: lang\n"
    "    type: menu\n"
    "    text: \"Тил / Язык / Language\"\n"
    "    options:\n"
    "      - {label: Кыргызча, language: ky, next: main}\n"
    "      - {label: Русский, language: ru, next: main}\n"
    "      - {label: English, language: en, next: main}\n"
    "  - id: main\n"
    "    type: menu\n"
    "    var: pick\n"
    "    text: {ky: \"Мамлекеттик кызматтар борбору: өтүнмөлөр, үй-бүлө, ңңң\", ru: \"Центр госуслуг: заявления и справки\", en: Centre}\n"
    "    options:\n"
    "      - {label: {ky: Арыздын абалы, ru: Статус заявления, en: Status}, value: s, next: num}\n"
    "      - {label: {ky: Жазылуу, ru: Подписка, en: Subscribe}, value: sub, next: sms}\n"
    "      - {label: {ky: Жардам жана байланыш, ru: Помощь и контакты, en: Help}, next: help}\n"
    "      - {label: {ky: Өнөктөш, ru: Партнёр, en: Partner}, next: app}\n"
    "      - {label: {ky: Күн, ru: Дата, en: Date}, next: date}\n"
    "  - id: num\n"
    "    type: input\n"
    "    kind: digits\n"
    "    min: 5\n"
    "    max: 10\n"
    "    var: no\n"
    "    text: {ky: \"Номерди териңиз:\", ru: \"Введите номер:\", en: \"Number:\"}\n"
    "    on_fail: help\n"
    "    next: fetch\n"
    "  - id: fetch\n"
    "    type: http\n"
    "    url: \"{backend}/s?n={no}&l={lang}&p={phone}\"\n"
    "    save: {st: state, txt: text}\n"
    "    next: route\n"
    "    on_error: help\n"
    "  - id: route\n"
    "    type: switch\n"
    "    cases: [{var: st, equals: ok, next: show}, {var: st, equals: \"\", next: help}]\n"
    "    default: show\n"
    "  - id: show\n"
    "    type: end\n"
    "    text: \"№{no}: {txt} {st} {pick}\"\n"
    "  - id: sms\n"
    "    type: sms\n"
    "    text: {ky: \"Сиз жазылдыңыз {phone}\", ru: \"Вы подписаны\", en: Subscribed}\n"
    "    next: help\n"
    "  - id: date\n"
    "    type: input\n"
    "    kind: regex\n"
    "    pattern: \"[0-9]{2}[.][0-9]{2}\"\n"
    "    var: dt\n"
    "    text: Date?\n"
    "    next: help\n"
    "  - id: app\n"
    "    type: app\n"
    "    url: \"{backend}/app\"\n"
    "    on_error: help\n"
    "  - id: help\n"
    "    type: end\n"
    "    text: {ky: \"Борбор дүйшөмбүдөн жумага чейин 8:30дан 17:30га чейин иштейт. Бишкек, Токтогул 125. Ош, Ленин 200. Телефон 1919. Ыңгайлуу убакта келиңиз, өтүнмөңүздү текшериңиз.\", ru: \"Центр работает с понедельника по пятницу с 8:30 до 17:30. Бишкек, Токтогула 125. Ош, Ленина 200. Телефон 1919.\", en: \"Open Monday to Friday 8:30-17:30. Bishkek, 125 Toktogul St. Osh, 200 Lenin St. Phone 1919. Bring your passport [and] {{copies}} ~ euro €.\"}\n";

static struct menu_set *set;
static struct menu_output out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!set) {
        struct menu_source src = { "fuzz.yaml", SET, sizeof SET - 1 };
        struct menu_errors errs = { 0 };
        if (menu_set_load_sources(&src, 1, NULL, 0, &set, &errs) != 0)
            abort();
        menu_errors_free(&errs);
    }
    if (size < 1)
        return 0;
    size_t bl = data[0];
    if (bl > size - 1)
        bl = size - 1;
    struct menu_dialog d;
    if (menu_dialog_decode(set, data + 1, bl, &d) != MENU_OK)
        menu_dialog_init(&d);
    size_t off = 1 + bl;
    uint32_t now = 1000;
    int steps = 0;
    while (off + 2 <= size && steps < 64) {
        int kind = data[off] % 8;
        size_t tl = data[off + 1];
        off += 2;
        if (tl > size - off)
            tl = size - off;
        char text[256];
        memcpy(text, data + off, tl);
        text[tl] = '\0';
        off += tl;
        struct menu_kv kv[8];
        size_t nkv = 0;
        if (kind == MENU_EV_HTTP_OK) {
            char *p = text;
            while (p && *p && nkv < 8) {
                char *amp = strchr(p, '&');
                if (amp)
                    *amp++ = '\0';
                char *eq = strchr(p, '=');
                if (eq) {
                    *eq = '\0';
                    kv[nkv].name = p;
                    kv[nkv].value = eq + 1;
                    nkv++;
                }
                p = amp;
            }
        }
        struct menu_input in = { 0 };
        in.event = kind;
        in.text = text;
        in.len = tl;
        in.kv = kv;
        in.nkv = nkv;
        in.phone = "+996555000000";
        in.session_id = "sid";
        in.lang = (steps & 1) ? "ru" : NULL;
        in.now = now;
        now += data[off - 1 - tl] & 0x7f;
        int rc = menu_step(set, &d, &in, &out);
        if (rc == MENU_OK && out.show &&
            (out.octets > MENU_SCREEN_OCTETS || out.screen_len != strlen(out.screen)))
            abort();
        uint8_t a[MENU_DIALOG_BLOB_MAX], b[MENU_DIALOG_BLOB_MAX];
        int na = menu_dialog_encode(set, &d, a, sizeof a);
        if (na < 0)
            abort();
        struct menu_dialog d2;
        if (menu_dialog_decode(set, a, (size_t)na, &d2) != MENU_OK) {
            /* only a dialog that never started may lack a node */
            if (d.wait != MENU_W_NONE && d.wait != MENU_W_END)
                abort();
        } else {
            int nb = menu_dialog_encode(set, &d2, b, sizeof b);
            if (nb != na || memcmp(a, b, (size_t)na) != 0)
                abort();
        }
        steps++;
    }
    return 0;
}
