"""
tests/integration/test_notices.py — USSD push notices (POST
/v1/ussd/notices) through real processes: kyzmat-smsc plays the network
(its control port counts the USSD PDUs it received, `stats` ussd_in, and a
subscriber sees each one as 'ussd MSISDN notice TEXT'), kyzmatd pushes the
USSN on its link (issue 14 item 4).

Proves: a notice to a phone that sent STOP is refused (409 naming "to")
and not sent: the simulator receives nothing for it, while a notice posted
right after it to another phone arrives, and only that one.  law_required
is a scope of its own: the default token ("*") gets 403 naming it, for a
notice and for a message; a token granted it reaches the opted-out phone.
"from" is a code the menu set serves (*100#, as "100" or "*100#") or one
ussd.notice_from names; any other is refused (422 naming "from") and not
sent.  Every notice is recorded in the database (agency, phone, from,
text, law_required, time, outcome) before its 200, and a phone gets at
most ussd.notices_per_phone_per_hour: the next is 429 with Retry-After,
not sent and not recorded, while another phone still gets its notice.

Owns: the processes it starts (harness).
May call: harness, the Python standard library.
"""
import json
import os
import re
import sqlite3
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Kyzmatd, Smsc, SmsLog, case, cfg, create_token,  # noqa: E402
                     expect, run, smsc_entry, start_gateway, subscribe)

OPTED_OUT = "996555000333"
OTHER = "996555000444"


def ussd_in(s):
    """USSD PDUs the simulator has received from the gateway."""
    return s.stats()["ussd_in"]


def stop(s, who):
    """`who` sends STOP and gets its confirmation SMS (sent after the
    opt-out is durable)."""
    sms = SmsLog(s, who)
    r = s.control("mo %s 1414 STOP" % who)
    expect(r.startswith("ok"), "mo: %r" % r)
    got = sms.sms()
    expect(got, "no STOP confirmation")
    sms.close()


@case
def a_notice_to_a_phone_that_sent_stop_is_refused_and_not_sent():
    s, g, api = start_gateway()
    stop(s, OPTED_OUT)
    _sock, other = subscribe(s, OTHER)
    before = ussd_in(s)
    code, r = api.call("POST", "/v1/ussd/notices", {"to": "+" + OPTED_OUT, "text": "Жаңылыктар"})
    expect(code == 409 and r.get("field") == "to" and "opted out" in r.get("error", ""),
           "notice to an opted-out phone: %r %r" % (code, r))
    # a notice to another phone after it: it arrives, and it is the only
    # USSD PDU the simulator got (one link, in order: a notice sent for
    # the refused request would have come first)
    code, r = api.call("POST", "/v1/ussd/notices", {"to": "+" + OTHER, "text": "Эскертүү"})
    expect(code == 200 and r.get("sent") is True, "notice to another phone: %r %r" % (code, r))
    line = other.readline().decode().rstrip("\n")
    expect(line == "ussd %s notice Эскертүү" % OTHER, "at the other phone: %r" % line)
    expect(ussd_in(s) == before + 1, "the simulator got %d USSD PDUs (wanted 1)" % (ussd_in(s) - before))
    expect(g.alive(), "kyzmatd died")


@case
def law_required_needs_a_scope_of_its_own():
    s, g, api = start_gateway()
    stop(s, OPTED_OUT)
    _sock, phone = subscribe(s, OPTED_OUT)
    text = "Сотко чакыруу: 10-декабрь, саат 10:00."
    body = {"to": "+" + OPTED_OUT, "text": text, "law_required": True}
    for path in ("/v1/messages", "/v1/ussd/notices"):
        code, r = api.call("POST", path, body)
        expect(code == 403 and r.get("field") == "law_required" and "law_required" in r.get("error", ""),
               "%s, law_required without the scope: %r %r" % (path, code, r))
    law = Api(g.http_port(), create_token(g, scopes="messages,law_required"))
    code, r = law.call("POST", "/v1/ussd/notices", body)
    expect(code == 200 and r.get("sent") is True, "law_required notice with the scope: %r %r" % (code, r))
    line = phone.readline().decode().rstrip("\n")
    expect(line == "ussd %s notice %s" % (OPTED_OUT, text), "at the opted-out phone: %r" % line)
    expect(g.alive(), "kyzmatd died")


@case
def from_must_be_a_code_the_gateway_serves():
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true"))
                + 'ussd: {notice_from: ["*200#"]}\n')
    g.wait_log(r"\[sim\] bound")
    api = Api(g.http_port(), create_token(g))
    _sock, phone = subscribe(s, OTHER)
    before = ussd_in(s)
    for bad in ("999", "*300#", "1000"):
        code, r = api.call("POST", "/v1/ussd/notices", {"to": "+" + OTHER, "text": "x", "from": bad})
        expect(code == 422 and r.get("field") == "from", "from %s: %r %r" % (bad, code, r))
    for good in ("100", "*100#", "200", "*200#"):
        code, r = api.call("POST", "/v1/ussd/notices", {"to": "+" + OTHER, "text": "from " + good,
                                                        "from": good})
        expect(code == 200 and r.get("sent") is True, "from %s: %r %r" % (good, code, r))
        line = phone.readline().decode().rstrip("\n")
        expect(line == "ussd %s notice from %s" % (OTHER, good), "at the phone: %r" % line)
    expect(ussd_in(s) == before + 4, "the simulator got %d USSD PDUs (wanted 4)" % (ussd_in(s) - before))
    expect(g.alive(), "kyzmatd died")


def post_notice(api, body):
    """(status, JSON answer, Retry-After header or None)."""
    req = urllib.request.Request(api.base + "/v1/ussd/notices", data=json.dumps(body).encode(),
                                 method="POST")
    req.add_header("Authorization", "Bearer " + api.token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), r.headers.get("Retry-After")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers.get("Retry-After")


def notices_in_db(g):
    """The gateway's recorded notices, oldest first, read from its database."""
    path = re.search(r"^database: \{path: (.*)\}$", open(g.cfg).read(), re.M).group(1)
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return db.execute("SELECT a.code, n.msisdn, n.sender, n.body, n.law_required,"
                          " n.outcome FROM ussd_notices n JOIN agencies a ON a.id = n.agency_id"
                          " ORDER BY n.id").fetchall()
    finally:
        db.close()


@case
def notices_are_recorded_and_limited_per_phone():
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true"))
                + "ussd: {notices_per_phone_per_hour: 2}\n")
    g.wait_log(r"\[sim\] bound")
    api = Api(g.http_port(), create_token(g))
    _sock, phone = subscribe(s, OTHER)
    for i in range(2):
        code, r, _ = post_notice(api, {"to": "+" + OTHER, "text": "Эскертүү %d" % i, "from": "100"})
        expect(code == 200 and r.get("sent") is True and r.get("id"), "notice %d: %r %r" % (i, code, r))
        line = phone.readline().decode().rstrip("\n")
        expect(line == "ussd %s notice Эскертүү %d" % (OTHER, i), "at the phone: %r" % line)
    before = ussd_in(s)
    code, r, retry = post_notice(api, {"to": "+" + OTHER, "text": "Эскертүү 2"})
    expect(code == 429 and r.get("field") == "to" and retry and 3500 <= int(retry) <= 3600,
           "third notice within the hour: %r %r Retry-After %r" % (code, r, retry))
    code, r, _ = post_notice(api, {"to": "+" + OPTED_OUT, "text": "Башка телефон"})
    expect(code == 200, "another phone: %r %r" % (code, r))
    expect(ussd_in(s) == before + 1, "the simulator got %d USSD PDUs (wanted 1)" % (ussd_in(s) - before))
    rows = notices_in_db(g)
    expect(rows == [("tax", OTHER, "100", "Эскертүү 0", 0, "sent"),
                    ("tax", OTHER, "100", "Эскертүү 1", 0, "sent"),
                    ("tax", OPTED_OUT, None, "Башка телефон", 0, "sent")],
           "recorded notices: %r" % rows)
    expect(g.alive(), "kyzmatd died")


if __name__ == "__main__":
    run()
