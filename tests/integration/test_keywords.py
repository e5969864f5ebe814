"""
tests/integration/test_keywords.py — citizens' SMS keywords through real
processes: kyzmat-smsc plays the network (control `mo FROM TO TEXT`, replies
read from its `sms FROM TO TEXT` events), kyzmatd answers through its
durable outbox, and the agency's side is the HTTP API (an application with
an owner created by POST /v1/applications/{number}/status).

Proves: the owner gets the status in Kyrgyz or Russian by the keyword's
language; a stranger gets the same neutral answer for an existing and for a
made-up number; five wrong numbers lock the phone out ("try again in 30
minutes") while the owner still gets answers; STOP is confirmed, after it
the API refuses an ordinary message to that number (409) and accepts a
law_required one from a token granted that scope (202, and it reaches the
phone); START opts back in.
Numbers never appear unmasked in the log.  When the agency has worded a
status with a template (PUT /v1/templates/{status}/{lang}), the owner's
STATUS reply is that wording in the keyword's language, not the raw code;
a stranger still gets only the neutral answer; after DELETE the built-in
line with the raw code is back.  Numbers are per agency (issue 14 item 6):
a second agency's 12345 of another owner changes nothing for the owner; an
owner with 12345 at two agencies is asked for the agency's code, and
"STATUS MVD-12345" answers that agency's; a prefixed miss is a miss.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Api, SmsLog, case, create_token, expect, run, start_gateway  # noqa: E402

OWNER = "996555123456"
STRANGER = "996700111222"
SHORT = "1414"


def start():
    s, g, api = start_gateway()
    code, r = api.call("POST", "/v1/applications/12345/status",
                       {"status": "ready", "owner": "+" + OWNER,
                        "note": "Борборго келиңиз.", "notify": False})
    expect(code in (200, 201, 202), "application: %r %r" % (code, r))
    return s, g, api


def mo(s, frm, text):
    r = s.control("mo %s %s %s" % (frm, SHORT, text))
    expect(r.startswith("ok"), "mo: %r" % r)


def ask(s, phone, text):
    """The keyword `text` from phone's number: the SMS it gets back."""
    mo(s, phone.who, text)
    return phone.sms()


def replies(s, exchanges):
    """Each (phone, keyword, the exact reply it must get, what it is)."""
    for phone, text, want, what in exchanges:
        got = ask(s, phone, text)
        expect(got == want, "%s: %r" % (what, got))


@case
def status_for_the_owner_neutral_for_others_and_lockout():
    s, g, api = start()
    owner, stranger = SmsLog(s, OWNER), SmsLog(s, STRANGER)
    replies(s, [(owner, "АБАЛ 12345", "Арыз №12345: ready. Борборго келиңиз.", "owner, ky"),
                (owner, "  статус   №12345 ", "Заявление №12345: ready. Борборго келиңиз.", "owner, ru")])

    # a stranger: the same neutral answer whether the application exists or not
    a = ask(s, stranger, "STATUS 12345")
    b = ask(s, stranger, "STATUS 99999")
    expect(a == b == "No application with that number for this phone.",
           "neutral answers differ or leak: %r %r" % (a, b))
    expect("ready" not in a and "12345" not in a, "status leaked: %r" % a)

    ru_neutral = "Для этого телефона нет заявления с таким номером."
    replies(s, [
        # three more wrong numbers: the fifth failure locks the phone out
        (stranger, "СТАТУС 11111", ru_neutral, "ru neutral"),
        (stranger, "СТАТУС 22222", ru_neutral, "ru neutral"),
        (stranger, "STATUS 33333", "Too many attempts. Try again in 30 minutes.", "lock-out"),
        # locked: even the right number tells nothing
        (stranger, "абал 12345", "Өтө көп аракет. 30 мүнөттөн кийин кайра аракет кылыңыз.", "locked"),
        # the owner is not locked by someone else's guesses
        (owner, "status 12345", "Application 12345: ready. Борборго келиңиз.", "owner, en")])

    g.wait_log(r"keyword STATUS \(ky\) from \*+\d{4}: locked out")
    log = g.log()
    expect(OWNER not in log and STRANGER not in log, "a number unmasked in the log")
    expect(g.alive(), "kyzmatd died")


@case
def stop_opts_out_law_required_still_goes_start_opts_in():
    s, g, api = start()
    owner = SmsLog(s, OWNER)
    got = ask(s, owner, "ТОКТОТ")
    expect(got.startswith("Мындан ары мыйзам талап кылгандан башка"), "STOP confirmation: %r" % got)

    code, r = api.call("POST", "/v1/messages", {"to": "+" + OWNER, "text": "Жаңылыктар"})
    expect(code == 409, "ordinary message to an opted-out number: %r %r" % (code, r))
    law = "Салык төлөө мөөнөтү 1-декабрда бүтөт."
    law_api = Api(g.http_port(), create_token(g, scopes="messages,law_required"))
    code, r = law_api.call("POST", "/v1/messages", {"to": "+" + OWNER, "text": law,
                                                    "law_required": True})
    expect(code == 202, "law_required message: %r %r" % (code, r))
    got = owner.sms()
    expect(got == law, "law_required message at the phone: %r" % got)

    # an opted-out phone still gets the answer to its own request
    got = ask(s, owner, "HELP")
    expect(got.startswith("STATUS <number>"), "help: %r" % got)

    got = ask(s, owner, "СТАРТ")
    expect(got.startswith("Вы снова будете получать"), "START confirmation: %r" % got)
    code, r = api.call("POST", "/v1/messages", {"to": "+" + OWNER, "text": "Кош келиңиз"})
    expect(code == 202, "after START: %r %r" % (code, r))
    got = owner.sms()
    expect(got == "Кош келиңиз", "after START at the phone: %r" % got)

    # not a keyword: logged, nothing sent back
    mo(s, OWNER, "hello")
    g.wait_log(r'MO from \*+3456 to 1414: "hello"')
    got = ask(s, owner, "PING")
    expect(got.startswith("PONG"), "PING still answered: %r" % got)
    expect(g.alive(), "kyzmatd died")


@case
def status_reply_uses_the_agency_template_for_the_owner_only():
    s, g, api = start()
    owner, stranger = SmsLog(s, OWNER), SmsLog(s, STRANGER)
    for lang, text in (("ky", "Арызыңыз №{number} даяр: паспортту алып кетиңиз. {note}"),
                       ("ru", "Заявление №{number} готово: паспорт можно забрать. {note}")):
        code, r = api.call("PUT", "/v1/templates/ready/" + lang, {"text": text})
        expect(code == 200, "template %s: %r %r" % (lang, code, r))
    replies(s, [
        (owner, "АБАЛ 12345", "Арызыңыз №12345 даяр: паспортту алып кетиңиз. Борборго келиңиз.",
         "owner, ky template"),
        (owner, "статус 12345", "Заявление №12345 готово: паспорт можно забрать. Борборго келиңиз.",
         "owner, ru template"),
        # no English template: the built-in line with the raw code
        (owner, "STATUS 12345", "Application 12345: ready. Борборго келиңиз.", "owner, en"),
        # a stranger learns nothing from the template either
        (stranger, "АБАЛ 12345", "Бул телефон үчүн мындай номурдагы арыз жок.", "stranger")])
    code, r = api.call("DELETE", "/v1/templates/ready/ky")
    expect(code == 200, "DELETE: %r %r" % (code, r))
    replies(s, [(owner, "АБАЛ 12345", "Арыз №12345: ready. Борборго келиңиз.", "owner after DELETE")])
    expect(g.alive(), "kyzmatd died")


@case
def same_number_at_two_agencies_asks_for_the_agency_code():
    s, g, api = start()                # tax's 12345 belongs to OWNER
    owner, stranger = SmsLog(s, OWNER), SmsLog(s, STRANGER)
    mvd = Api(int(api.base.rsplit(":", 1)[1]), create_token(g, "MVD"))
    # MVD's own 12345, of another phone: no 403, nothing changes for OWNER
    code, r = mvd.call("POST", "/v1/applications/12345/status",
                       {"status": "processing", "owner": "+" + STRANGER, "notify": False})
    expect(code == 201 and r.get("created") is True, "MVD's 12345: %r %r" % (code, r))
    replies(s, [(owner, "STATUS 12345", "Application 12345: ready. Борборго келиңиз.", "owner, tax's"),
                (stranger, "STATUS 12345", "Application 12345: processing.", "MVD's owner")])
    # OWNER's second 12345, at MVD (a new owner is set by the agency)
    code, r = mvd.call("POST", "/v1/applications/12345/status",
                       {"status": "issued", "owner": "+" + OWNER, "notify": False})
    expect(code == 200 and r.get("created") is False, "MVD's 12345 to OWNER: %r %r" % (code, r))
    replies(s, [
        (owner, "STATUS 12345", "This number is with several agencies. Type it with the "
         "agency's code: tax-12345, MVD-12345", "ambiguous, en"),
        (owner, "СТАТУС 12345", "Номер в нескольких ведомствах. Наберите с кодом: "
         "tax-12345, MVD-12345", "ambiguous, ru"),
        (owner, "STATUS MVD-12345", "Application 12345: issued.", "MVD's, prefixed"),
        (owner, "абал tax-12345", "Арыз №12345: ready. Борборго келиңиз.", "tax's, prefixed"),
        # the stranger no longer owns MVD's 12345: a prefixed miss, counted
        (stranger, "STATUS MVD-12345", "No application with that number for this phone.",
         "stranger, prefixed miss")])
    g.wait_log(r"keyword STATUS \(en\) from \*+\d{4}: several agencies, their codes sent")
    g.wait_log(r"keyword STATUS \(en\) from \*+1222: neutral answer \(failures 1,")
    expect(g.alive(), "kyzmatd died")


if __name__ == "__main__":
    run()
