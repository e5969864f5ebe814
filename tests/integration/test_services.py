"""
tests/integration/test_services.py — the agencies' side through kyzmatd:
an API token, a message posted over HTTP reaching the simulated phone in
Kyrgyz with a delivery receipt, bad API input refused with a clear 4xx and
nothing stored.  (The issue's larger proofs — status pushes, booking races,
kill -9 during a burst — grow here.)
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Failure, Kyzmatd, Smsc, case, cfg, create_token, expect,  # noqa: E402
                     run, smsc_entry, wait_until)


class Events:
    """kyzmat-smsc control events (sms ...) on a connection of its own."""

    def __init__(self, smsc):
        self.sock = socket.create_connection(("127.0.0.1", smsc.ctl_port), timeout=10)
        self.f = self.sock.makefile("rwb")
        self.f.write(b"subscribe *\n")
        self.f.flush()
        self.f.readline()

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
                return frm, to, text.replace("\\n", "\n")
        raise Failure("no SMS at the simulator within %ss" % timeout)


def start():
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true")))
    g.wait_log(r"\[sim\] bound")
    return s, g, Api(g.http_port(), create_token(g))


@case
def message_posted_reaches_the_phone_in_kyrgyz_and_is_delivered():
    s, g, api = start()
    ev = Events(s)
    text = "Сиздин арызыңыз №12345 даяр. Борборго келиңиз."
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": text, "language": "ky"})
    expect(code == 202 and r["state"] == "queued", "POST: %r %r" % (code, r))
    frm, to, got = ev.sms()
    expect(to == "996555123456" and got == text, "SMS at the phone: %r %r" % (to, got))
    wait_until(lambda: api.call("GET", "/v1/messages/%d" % r["id"])[1].get("state") == "delivered",
               10, "the receipt to mark it delivered")
    # idempotency: the same key gives the same id, flagged
    body = {"to": "+996555000111", "text": "Once", "idempotency_key": "k-1"}
    c1, r1 = api.call("POST", "/v1/messages", body)
    c2, r2 = api.call("POST", "/v1/messages", body)
    expect(c1 == 202 and c2 == 202 and r1["id"] == r2["id"] and r2["duplicate"], "idempotency: %r %r" % (r1, r2))
    log = g.log()
    expect("996555123456" not in log and "kz_" not in log, "number or token in the log")


@case
def bad_api_input_gets_4xx_and_changes_nothing():
    s, g, api = start()
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": "first"})
    expect(code == 202, "first message: %r" % r)
    first = r["id"]
    cases = [
        ("invalid JSON", dict(raw=b'{"to": "+996555123456", "text": '), 400),
        ("unknown field", dict(body={"to": "+996555123456", "text": "x", "colour": "red"}), 400),
        ("not a phone number", dict(body={"to": "12ab", "text": "x"}), 400),
        ("invalid UTF-8", dict(raw=b'{"to": "+996555123456", "text": "\xff\xfe"}'), 400),
        ("10 MB body", dict(raw=b'{"to": "+996555123456", "text": "' + b"a" * (10 << 20) + b'"}'), 413),
        ("no token", dict(body={"to": "+996555123456", "text": "x"}, token=False), 401),
        ("wrong content type", dict(raw=b"to=1", ctype="application/x-www-form-urlencoded"), 415),
    ]
    for name, kw, want in cases:
        code, r = api.call("POST", "/v1/messages", **kw)
        expect(code == want, "%s: %d %r (wanted %d)" % (name, code, r, want))
        if want != 413:
            expect("error" in r, "%s: no error message: %r" % (name, r))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": "after"})
    expect(code == 202 and r["id"] == first + 1, "a refused request took an id: %r" % r)
    expect(g.alive(), "kyzmatd died")


@case
def ussn_notice_pushed_through_the_api():
    s, g, api = start()
    sock = socket.create_connection(("127.0.0.1", s.ctl_port), timeout=10)
    f = sock.makefile("rwb")
    f.write(b"subscribe 996555123999\n")
    f.flush()
    f.readline()
    text = "Эртең саат 10:00дө кабыл алууга келиңиз."
    code, r = api.call("POST", "/v1/ussd/notices", {"to": "+996555123999", "text": text})
    expect(code == 200 and r.get("sent") is True, "notice: %r %r" % (code, r))
    line = f.readline().decode().rstrip("\n")
    expect(line == "ussd 996555123999 notice " + text, "at the phone: %r" % line)
    # 81 Cyrillic letters do not fit one USSD screen
    code, r = api.call("POST", "/v1/ussd/notices", {"to": "+996555123999", "text": "Ж" * 81})
    expect(code == 400 and r.get("field") == "text" and "160" in r.get("error", ""),
           "too long: %r %r" % (code, r))


if __name__ == "__main__":
    run()
