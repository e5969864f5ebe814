"""
tests/integration/test_appeals.py — citizens' appeals (issue 12) through
real processes: kyzmat-smsc plays the network and the handsets (USSD
screens and SMS), kyzmatd runs the example menu set (its *100# option 7,
menus/examples/10-main.yaml: "services" owned by agency tax,
"corruption" by akk and anonymous), and the agencies use the HTTP API.

Proves: an appeal filed by USSD in Kyrgyz, its text typed over two
screens, gets a reference by SMS; one filed by SMS in Russian
(ОБРАЩЕНИЕ ...) gets one too; the owning agency lists its new appeals
(not another agency's), reads one, moves it to in_progress and replies,
and the reply reaches the phone; the anonymous category's agency finds
the phone in none of its API answers, nor does the log hold it, and its
reply still reaches the phone; another phone asking the state of that
reference (by SMS and by USSD) learns nothing; a reference with one digit
wrong is refused (SMS and API) rather than matched; the daily limit
refuses politely and /metrics counts it.
"""
import json
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Kyzmatd, Phone, Smsc, case, cfg, create_token, expect,  # noqa: E402
                     run, smsc_entry)

SHORT = "1414"
REF = re.compile(r"(\d{4}-\d{4}-\d)")


def start(extra="appeals: {sms_category: tax/services}\n"):
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true"))
                + 'admin: {listen: "127.0.0.1:0"}\n' + extra)
    g.wait_log(r"\[sim\] bound")
    return s, g, Api(g.http_port(), create_token(g, "tax"))


def metric(g, name):
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+")
    port = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^%s (\d+)" % name, text, re.M)
    return int(m.group(1)) if m else None


def mo(s, frm, text):
    r = s.control("mo %s %s %s" % (frm, SHORT, text))
    expect(r.startswith("ok"), "mo: %r" % r)


def file_by_ussd(ph, category, parts, lang="1"):
    """Dial *100#, (choose the language), Appeals -> Write, the category,
    the parts, send, confirm: the final screen."""
    kind, t = ph.dial("*100#")
    if "Тил / Язык / Language" in t:
        kind, t = ph.send(lang)
    kind, t = ph.send("7")
    expect("Кайрылуу жазуу" in t, "appeals menu: %r" % t)
    kind, t = ph.send("1")
    expect("Коррупция" in t and "Кызмат" in t, "categories: %r" % t)
    kind, t = ph.send(category)
    expect("жазыңыз" in t, "text prompt: %r" % t)
    for p in parts:
        kind, t = ph.send(p)
        expect("Кошулду" in t and "1 Жөнөтүү" in t, "appended: %r" % t)
    kind, t = ph.send("1")
    expect("жөнөтөбүзбү" in t and "1 Ооба" in t, "confirm: %r" % t)
    kind, t = ph.send("1")
    expect(kind == "end", "final screen: %r %r" % (kind, t))
    return t


def ref_of(text):
    m = REF.search(text)
    expect(m, "no reference in %r" % text)
    return m.group(1)


@case
def ussd_in_kyrgyz_and_sms_in_russian_answered_through_the_api():
    s, g, tax = start()
    ph = Phone(s, "996555200001")
    t = file_by_ussd(ph, "1", ["Кезек өтө узун,", "кызматкерлер орой сүйлөйт"])
    expect("кабыл алынды" in t, "filed: %r" % t)
    ref = ref_of(t)
    sms = ph.sms()
    expect(ref in sms and "КАЙРЫЛУУ" in sms, "reference SMS: %r" % sms)

    # by SMS, in Russian, the default category (sms_category: tax/services)
    ru = Phone(s, "996555200002")
    mo(s, ru.msisdn, "ОБРАЩЕНИЕ Окно 3 не работает с утра")
    sms2 = ru.sms()
    ref2 = ref_of(sms2)
    expect("принято" in sms2, "ru reference SMS: %r" % sms2)

    # the agency's new appeals: both, oldest first, the text as typed
    code, r = tax.call("GET", "/v1/appeals?state=new")
    expect(code == 200, "list: %d %r" % (code, r))
    got = [(a["reference"], a["text"], a["language"], a["channel"]) for a in r["appeals"]]
    expect(got == [(ref, "Кезек өтө узун, кызматкерлер орой сүйлөйт", "ky", "ussd"),
                   (ref2, "Окно 3 не работает с утра", "ru", "sms")], "listed: %r" % got)
    expect(r["appeals"][0]["phone"] == "+996555200001", "phone: %r" % r["appeals"][0])
    # paged: one at a time
    code, p1 = tax.call("GET", "/v1/appeals?state=new&limit=1")
    code, p2 = tax.call("GET", "/v1/appeals?state=new&limit=1&after=" + p1["next"])
    expect([a["reference"] for a in p1["appeals"] + p2["appeals"]] == [ref, ref2]
           and p2["next"] is None, "pages: %r %r" % (p1, p2))

    raw = ref.replace("-", "")
    code, one = tax.call("GET", "/v1/appeals/" + ref)
    expect(code == 200 and one["state"] == "new" and one["history"][0]["by"] == "citizen",
           "one: %d %r" % (code, one))
    code, r = tax.call("POST", "/v1/appeals/%s/state" % raw,
                       {"state": "in_progress", "note": "Текшерилүүдө"})
    expect(code == 200 and r["changed"], "in_progress: %d %r" % (code, r))
    code, r = tax.call("POST", "/v1/appeals/%s/reply" % raw,
                       {"text": "Кечиресиз, чара көрүлдү.", "idempotency_key": "a1"})
    expect(code == 200 and r["state"] == "answered", "reply: %d %r" % (code, r))
    sms = ph.sms()
    expect("Кечиресиз, чара көрүлдү." in sms and ref in sms, "reply SMS: %r" % sms)
    # a retry with the same key sends nothing new
    code, r2 = tax.call("POST", "/v1/appeals/%s/reply" % raw,
                        {"text": "Кечиресиз, чара көрүлдү.", "idempotency_key": "a1"})
    expect(code == 200 and r2["duplicate"] and r2["sms_id"] == r["sms_id"], "retry: %r" % r2)
    ph.no_sms(1.0)
    code, r = tax.call("POST", "/v1/appeals/%s/state" % raw, {"state": "new"})
    expect(code == 409, "answered -> new: %d %r" % (code, r))

    code, r = tax.call("POST", "/v1/appeals/%s/reply" % ref2.replace("-", ""),
                       {"text": "Окно 3 открыто."})
    expect(code == 200, "ru reply: %d %r" % (code, r))
    expect("Окно 3 открыто." in ru.sms(), "ru reply SMS")

    # the filer asks the state by SMS and by USSD
    mo(s, ph.msisdn, "КАЙРЫЛУУ " + ref)
    st = ph.sms()
    expect(ref in st and "жооп берилди" in st, "state by SMS: %r" % st)
    kind, t = ph.dial("*100#")
    kind, t = ph.send("7")
    kind, t = ph.send("2")
    expect("номерин" in t, "reference prompt: %r" % t)
    kind, t = ph.send(ref)
    expect(kind == "end" and "жооп берилди" in t, "state by USSD: %r %r" % (kind, t))


@case
def anonymous_category_hides_the_phone_and_strangers_learn_nothing():
    s, g, tax = start()
    akk = Api(g.http_port(), create_token(g, "akk"))
    ph = Phone(s, "996555200011")
    t = file_by_ussd(ph, "2", ["Паспорт бөлүмүндө пара сурашты"])
    ref = ref_of(t)
    expect(ref in ph.sms(), "reference SMS")

    code, lst = akk.call("GET", "/v1/appeals")
    code2, one = akk.call("GET", "/v1/appeals/" + ref)
    expect(code == 200 and code2 == 200, "akk reads: %d %d" % (code, code2))
    for body in (json.dumps(lst), json.dumps(one)):
        expect("200011" not in body and "phone" not in body, "phone leaked: %s" % body)
    expect(one["anonymous"] is True, "anonymous: %r" % one)
    # tax does not see akk's appeal: 404 as for a reference nobody has
    code, r = tax.call("GET", "/v1/appeals/" + ref)
    code0, r0 = tax.call("GET", "/v1/appeals/0000-0000-0")
    expect(code == 404 and code0 == 404 and r == r0, "other agency: %d %r / %r" % (code, r, r0))
    code, r = tax.call("GET", "/v1/appeals")
    expect(code == 200 and r["appeals"] == [], "tax's list: %r" % r)

    code, r = akk.call("POST", "/v1/appeals/%s/reply" % ref, {"text": "Иш козголду."})
    expect(code == 200 and "200011" not in json.dumps(r), "akk reply: %d %r" % (code, r))
    expect("Иш козголду." in ph.sms(), "the reply reached the anonymous citizen")

    # another phone asks the state of that reference: the answer for one nobody has
    other = Phone(s, "996555200012")
    mo(s, other.msisdn, "КАЙРЫЛУУ " + ref)
    a = other.sms()
    mo(s, other.msisdn, "КАЙРЫЛУУ 0000-0000-0")
    b = other.sms()
    expect(a == b and ref not in a, "stranger: %r vs %r" % (a, b))
    kind, t = other.dial("*100#")
    if "Тил / Язык / Language" in t:
        kind, t = other.send("1")
    other.send("7")
    other.send("2")
    kind, t = other.send(ref)
    expect(kind == "end" and t == a.strip(), "stranger by USSD: %r" % t)

    # one digit wrong: refused, not matched (SMS and API)
    d = ref[0]
    typo = ("0" if d == "9" else chr(ord(d) + 1)) + ref[1:]
    mo(s, ph.msisdn, "КАЙРЫЛУУ " + typo)
    t = ph.sms()
    expect("туура эмес" in t, "typo by SMS: %r" % t)
    code, r = akk.call("GET", "/v1/appeals/" + typo)
    expect(code == 400 and "check digit" in r["error"], "typo by API: %d %r" % (code, r))

    # the phone is in no log line (masked or not: never whole)
    expect("996555200011" not in g.log(), "phone in the log")


@case
def daily_limit_refuses_politely_and_is_counted():
    s, g, tax = start("appeals: {per_phone_per_day: 2, sms_category: tax/services}\n")
    ph = Phone(s, "996555200021")
    refs = []
    for i in range(2):
        mo(s, ph.msisdn, "APPEAL The queue was long today, number %d" % i)
        refs.append(ref_of(ph.sms()))
    expect(len(set(refs)) == 2, "two references: %r" % refs)
    mo(s, ph.msisdn, "APPEAL A third one the same day")
    t = ph.sms()
    expect("limit" in t and not REF.search(t), "refused: %r" % t)
    # by USSD too: shown on the screen
    t = file_by_ussd(ph, "1", ["Үчүнчү кайрылуу"])
    expect("чегине" in t, "USSD refusal: %r" % t)
    expect(metric(g, "kyzmat_appeals_limited_total") == 2, "limited metric")
    expect(metric(g, "kyzmat_appeals_filed_total") == 2, "filed metric")
    code, r = tax.call("GET", "/v1/appeals")
    expect(len(r["appeals"]) == 2, "stored: %r" % r)


if __name__ == "__main__":
    run()
