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
law_required one (202, and it reaches the phone); START opts back in.
Numbers never appear unmasked in the log.  When the agency has worded a
status with a template (PUT /v1/templates/{status}/{lang}), the owner's
STATUS reply is that wording in the keyword's language, not the raw code;
a stranger still gets only the neutral answer; after DELETE the built-in
line with the raw code is back.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Failure, Kyzmatd, Smsc, BIN, case, cfg, expect, run,  # noqa: E402
                     smsc_entry)

OWNER = "996555123456"
STRANGER = "996700111222"
SHORT = "1414"


class Phone:
    """The SMS a number receives, from kyzmat-smsc's control events."""

    def __init__(self, smsc, msisdn):
        self.msisdn = msisdn
        self.sock = socket.create_connection(("127.0.0.1", smsc.ctl_port), timeout=10)
        self.f = self.sock.makefile("rwb")
        self.f.write(("subscribe %s\n" % msisdn).encode())
        self.f.flush()
        ok = self.f.readline().decode()
        expect(ok.startswith("ok"), "subscribe: %r" % ok)

    def sms(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                line = self.f.readline().decode().rstrip("\n")
            except socket.timeout:
                break
            if line.startswith("sms "):
                _, frm, to, text = line.split(" ", 3)
                if to == self.msisdn:
                    return text.replace("\\n", "\n")
        raise Failure("no SMS for %s within %ss" % (self.msisdn, timeout))


def start():
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true")))
    g.wait_log(r"\[sim\] bound")
    tok = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", g.cfg, "--create-token", "tax"],
                         capture_output=True, text=True, timeout=30)
    expect(tok.returncode == 0 and tok.stdout.startswith("kz_"), "token: %r" % tok.stderr)
    api = Api(g.http_port(), tok.stdout.strip())
    code, r = api.call("POST", "/v1/applications/12345/status",
                       {"status": "ready", "owner": "+" + OWNER,
                        "note": "Борборго келиңиз.", "notify": False})
    expect(code in (200, 201, 202), "application: %r %r" % (code, r))
    return s, g, api


def mo(s, frm, text):
    r = s.control("mo %s %s %s" % (frm, SHORT, text))
    expect(r.startswith("ok"), "mo: %r" % r)


@case
def status_for_the_owner_neutral_for_others_and_lockout():
    s, g, api = start()
    owner, stranger = Phone(s, OWNER), Phone(s, STRANGER)
    mo(s, OWNER, "АБАЛ 12345")
    got = owner.sms()
    expect(got == "Арыз №12345: ready. Борборго келиңиз.", "owner, ky: %r" % got)
    mo(s, OWNER, "  статус   №12345 ")
    got = owner.sms()
    expect(got == "Заявление №12345: ready. Борборго келиңиз.", "owner, ru: %r" % got)

    # a stranger: the same neutral answer whether the application exists or not
    mo(s, STRANGER, "STATUS 12345")
    a = stranger.sms()
    mo(s, STRANGER, "STATUS 99999")
    b = stranger.sms()
    expect(a == b == "No application with that number for this phone.",
           "neutral answers differ or leak: %r %r" % (a, b))
    expect("ready" not in a and "12345" not in a, "status leaked: %r" % a)

    # three more wrong numbers: the fifth failure locks the phone out
    for n in ("11111", "22222"):
        mo(s, STRANGER, "СТАТУС " + n)
        got = stranger.sms()
        expect(got == "Для этого телефона нет заявления с таким номером.", "ru neutral: %r" % got)
    mo(s, STRANGER, "STATUS 33333")
    got = stranger.sms()
    expect(got == "Too many attempts. Try again in 30 minutes.", "lock-out: %r" % got)
    # locked: even the right number tells nothing
    mo(s, STRANGER, "абал 12345")
    got = stranger.sms()
    expect(got == "Өтө көп аракет. 30 мүнөттөн кийин кайра аракет кылыңыз.", "locked: %r" % got)
    # the owner is not locked by someone else's guesses
    mo(s, OWNER, "status 12345")
    got = owner.sms()
    expect(got == "Application 12345: ready. Борборго келиңиз.", "owner, en: %r" % got)

    g.wait_log(r"keyword STATUS \(ky\) from \*+\d{4}: locked out")
    log = g.log()
    expect(OWNER not in log and STRANGER not in log, "a number unmasked in the log")
    expect(g.alive(), "kyzmatd died")


@case
def stop_opts_out_law_required_still_goes_start_opts_in():
    s, g, api = start()
    owner = Phone(s, OWNER)
    mo(s, OWNER, "ТОКТОТ")
    got = owner.sms()
    expect(got.startswith("Мындан ары мыйзам талап кылгандан башка"), "STOP confirmation: %r" % got)

    code, r = api.call("POST", "/v1/messages", {"to": "+" + OWNER, "text": "Жаңылыктар"})
    expect(code == 409, "ordinary message to an opted-out number: %r %r" % (code, r))
    law = "Салык төлөө мөөнөтү 1-декабрда бүтөт."
    code, r = api.call("POST", "/v1/messages", {"to": "+" + OWNER, "text": law,
                                                "law_required": True})
    expect(code == 202, "law_required message: %r %r" % (code, r))
    got = owner.sms()
    expect(got == law, "law_required message at the phone: %r" % got)

    # an opted-out phone still gets the answer to its own request
    mo(s, OWNER, "HELP")
    got = owner.sms()
    expect(got.startswith("STATUS <number>"), "help: %r" % got)

    mo(s, OWNER, "СТАРТ")
    got = owner.sms()
    expect(got.startswith("Вы снова будете получать"), "START confirmation: %r" % got)
    code, r = api.call("POST", "/v1/messages", {"to": "+" + OWNER, "text": "Кош келиңиз"})
    expect(code == 202, "after START: %r %r" % (code, r))
    got = owner.sms()
    expect(got == "Кош келиңиз", "after START at the phone: %r" % got)

    # not a keyword: logged, nothing sent back
    mo(s, OWNER, "hello")
    g.wait_log(r'MO from \*+3456 to 1414: "hello"')
    mo(s, OWNER, "PING")
    got = owner.sms()
    expect(got.startswith("PONG"), "PING still answered: %r" % got)
    expect(g.alive(), "kyzmatd died")


@case
def status_reply_uses_the_agency_template_for_the_owner_only():
    s, g, api = start()
    owner, stranger = Phone(s, OWNER), Phone(s, STRANGER)
    for lang, text in (("ky", "Арызыңыз №{number} даяр: паспортту алып кетиңиз. {note}"),
                       ("ru", "Заявление №{number} готово: паспорт можно забрать. {note}")):
        code, r = api.call("PUT", "/v1/templates/ready/" + lang, {"text": text})
        expect(code == 200, "template %s: %r %r" % (lang, code, r))
    mo(s, OWNER, "АБАЛ 12345")
    got = owner.sms()
    expect(got == "Арызыңыз №12345 даяр: паспортту алып кетиңиз. Борборго келиңиз.",
           "owner, ky template: %r" % got)
    mo(s, OWNER, "статус 12345")
    got = owner.sms()
    expect(got == "Заявление №12345 готово: паспорт можно забрать. Борборго келиңиз.",
           "owner, ru template: %r" % got)
    # no English template: the built-in line with the raw code
    mo(s, OWNER, "STATUS 12345")
    got = owner.sms()
    expect(got == "Application 12345: ready. Борборго келиңиз.", "owner, en: %r" % got)
    # a stranger learns nothing from the template either
    mo(s, STRANGER, "АБАЛ 12345")
    got = stranger.sms()
    expect(got == "Бул телефон үчүн мындай номурдагы арыз жок.", "stranger: %r" % got)
    code, r = api.call("DELETE", "/v1/templates/ready/ky")
    expect(code == 200, "DELETE: %r %r" % (code, r))
    mo(s, OWNER, "АБАЛ 12345")
    got = owner.sms()
    expect(got == "Арыз №12345: ready. Борборго келиңиз.", "owner after DELETE: %r" % got)
    expect(g.alive(), "kyzmatd died")

if __name__ == "__main__":
    run()
