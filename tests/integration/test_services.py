"""
tests/integration/test_services.py — the agencies' side through kyzmatd:
an API token, a message posted over HTTP reaching the simulated phone in
Kyrgyz with a delivery receipt, bad API input refused with a clear 4xx and
nothing stored (a body over http.max_body too: 413 with our JSON error,
not evhttp's HTML page), and status templates set, listed and deleted
through the API (PUT/GET/DELETE /v1/templates/{status}/{lang}) and used by
the status SMS that reaches the owner's phone, or the built-in text of its
language when the agency has none; a templated message rendered and
delivered, or refused with a 422 naming the missing template or variable.
(The issue's larger proofs — status pushes, booking races,
kill -9 during a burst — grow here.)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Api, SmsLog, case, create_token, expect, run,  # noqa: E402
                     start_gateway, subscribe, wait_until)


@case
def message_posted_reaches_the_phone_in_kyrgyz_and_is_delivered():
    s, g, api = start_gateway()
    ev = SmsLog(s)
    text = "Сиздин арызыңыз №12345 даяр. Борборго келиңиз."
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": text, "language": "ky"})
    expect(code == 202 and r["state"] == "queued", "POST: %r %r" % (code, r))
    to, got = ev.next()
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
def a_batch_is_one_request_one_commit_and_refuses_only_opted_out_recipients():
    s, g, api = start_gateway()
    ev = SmsLog(s)
    s.control("mo 996555000333 100 STOP")          # this one has opted out
    wait_until(lambda: "opted out" in g.log() or "STOP" in g.log(), 5, "the STOP to be handled")
    msgs = [{"to": "+99655500%04d" % i, "text": "Batch %d" % i} for i in range(50)]
    msgs.append({"to": "+996555000333", "text": "to the opted-out one"})
    msgs.append({"to": "+996555000111", "text": "keyed", "idempotency_key": "b-1"})
    code, r = api.call("POST", "/v1/messages/batch", {"messages": msgs})
    expect(code == 202 and len(r["results"]) == 52, "batch: %r %r" % (code, str(r)[:300]))
    ids = [x.get("id") for x in r["results"]]
    expect(all(ids[i] for i in range(50)) and len(set(ids[:50])) == 50, "ids: %r" % ids[:50])
    expect(r["results"][50].get("field") == "to" and "opted out" in r["results"][50]["error"],
           "opted-out element: %r" % r["results"][50])
    # the keyed one again, alone: the same id, flagged
    c2, r2 = api.call("POST", "/v1/messages", msgs[51])
    expect(c2 == 202 and r2["id"] == r["results"][51]["id"] and r2["duplicate"], "key: %r" % r2)
    got = set()
    while len(got) < 51:
        to, text = ev.next()
        if text.startswith("Batch") or text == "keyed":
            got.add(text)
    # a bad element refuses the whole batch and names it; nothing stored
    before = api.call("GET", "/v1/health")[1]
    bad = [{"to": "+996555000444", "text": "fine"}, {"to": "not a phone", "text": "x"}]
    code, r = api.call("POST", "/v1/messages/batch", {"messages": bad})
    expect(code == 400 and r.get("field") == "messages[1].to", "bad batch: %r %r" % (code, r))
    code, r = api.call("POST", "/v1/messages/batch", {"messages": [{"to": "+996555000444",
                                                                   "text": "x"}] * 1001})
    expect(code == 400 and r.get("field") == "messages", "too big: %r %r" % (code, r))
    after = api.call("GET", "/v1/health")[1]
    expect(before["accepted"] == 52 and after["accepted"] == 52,
           "accepted (51 of the batch + the repeat): %r then %r" % (before, after))
    expect(g.alive(), "kyzmatd died")


@case
def bad_api_input_gets_4xx_and_changes_nothing():
    s, g, api = start_gateway()
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
        expect("error" in r, "%s: no error message: %r" % (name, r))
    # the 413 is our JSON error, and names the limit
    code, r = api.call("POST", "/v1/messages", raw=b'{"text": "' + b"a" * (2 << 20) + b'"}')
    expect(code == 413 and "1048576" in r.get("error", "") and "field" in r and r["field"] is None,
           "413 body: %r %r" % (code, r))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": "after"})
    expect(code == 202 and r["id"] == first + 1, "a refused request took an id: %r" % r)
    expect(g.alive(), "kyzmatd died")


@case
def ussn_notice_pushed_through_the_api():
    s, g, api = start_gateway()
    _sock, f = subscribe(s, "996555123999")
    text = "Эртең саат 10:00дө кабыл алууга келиңиз."
    code, r = api.call("POST", "/v1/ussd/notices", {"to": "+996555123999", "text": text})
    expect(code == 200 and r.get("sent") is True, "notice: %r %r" % (code, r))
    line = f.readline().decode().rstrip("\n")
    expect(line == "ussd 996555123999 notice " + text, "at the phone: %r" % line)
    # 81 Cyrillic letters do not fit one USSD screen
    code, r = api.call("POST", "/v1/ussd/notices", {"to": "+996555123999", "text": "Ж" * 81})
    expect(code == 400 and r.get("field") == "text" and "160" in r.get("error", ""),
           "too long: %r %r" % (code, r))


@case
def status_templates_set_listed_used_and_deleted_through_the_api():
    s, g, api = start_gateway()
    owner = "996555700001"
    sock, f = subscribe(s, owner)
    text = "Сиздин {number} арызыңыз даяр. {note}"
    code, r = api.call("PUT", "/v1/templates/ready/ky", {"text": text})
    expect(code == 200 and r == {"status": "ready", "language": "ky", "text": text, "kind": "status"},
           "PUT: %r %r" % (code, r))
    code, r = api.call("PUT", "/v1/templates/booking.reminder/ru",
                       {"text": "Напоминаем: {service}, {day} {time}, {office} ({address}), талон {ticket}."})
    expect(code == 200 and r.get("kind") == "booking", "booking template: %r %r" % (code, r))
    # a typo in a placeholder is refused by name, nothing stored
    code, r = api.call("PUT", "/v1/templates/issued/ky", {"text": "Арыз {numbr} берилди."})
    expect(code == 400 and r.get("field") == "text" and "{numbr}" in r.get("error", ""),
           "unknown placeholder: %r %r" % (code, r))
    code, r = api.call("PUT", "/v1/templates/booking.moved/ky", {"text": "{number} {day}"})
    expect(code == 400 and "{number}" in r.get("error", ""), "application placeholder in a booking "
           "template: %r %r" % (code, r))
    code, r = api.call("PUT", "/v1/templates/issued/kg", {"text": "x"})
    expect(code == 400 and r.get("field") == "language", "language: %r %r" % (code, r))
    code, r = api.call("GET", "/v1/templates")
    expect(code == 200 and [(t["status"], t["language"]) for t in r["templates"]]
           == [("booking.reminder", "ru"), ("ready", "ky")] and r["next"] is None, "list: %r %r" % (code, r))
    # the status SMS is the template, rendered
    note = "3-терезе."
    code, r = api.call("POST", "/v1/applications/PAS-7/status",
                       {"status": "ready", "owner": "+" + owner, "note": note, "language": "ky"})
    expect(code == 201 and r.get("template") is True and r.get("queued") == 1
           and r.get("notified") == 1, "status: %r %r" % (code, r))
    sock.settimeout(10)
    line = f.readline().decode().rstrip("\n")
    expect(line.split(" ", 3)[2:] == [owner, "Сиздин PAS-7 арызыңыз даяр. " + note],
           "at the phone: %r" % line)
    # another agency sees none of it; a token without the scope is refused
    other = Api(g.http_port(), create_token(g, "police"))
    code, r = other.call("GET", "/v1/templates/ready/ky")
    expect(code == 404, "another agency's template: %r %r" % (code, r))
    tok = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", g.cfg, "--create-token", "tax",
                          "--scopes", "applications"], capture_output=True, text=True, timeout=60)
    expect(tok.returncode == 0, "token: %r" % tok.stderr)
    apps_only = Api(g.http_port(), tok.stdout.strip())
    code, r = apps_only.call("PUT", "/v1/templates/ready/ky", {"text": "x"})
    expect(code == 403 and "templates" in r.get("error", ""), "scope: %r %r" % (code, r))
    # delete: gone, and the next change notifies nobody
    code, r = api.call("DELETE", "/v1/templates/ready/ky")
    expect(code == 200 and r.get("deleted") is True, "DELETE: %r %r" % (code, r))
    code, r = api.call("GET", "/v1/templates/ready/ky")
    expect(code == 404, "after DELETE: %r %r" % (code, r))
    # ... is told in the built-in text of its language (issue 14 item 13:
    # it used to be a 200 that told nobody), and the answer says so
    code, r = api.call("POST", "/v1/applications/PAS-7/status", {"status": "ready", "language": "ky"})
    expect(code == 200 and r.get("template") is False and r.get("builtin_text") is True
           and r.get("queued") == 1 and r.get("notified") == 1, "no template: %r %r" % (code, r))
    line = f.readline().decode().rstrip("\n")
    expect(line.split(" ", 3)[2:] == [owner, "Арыз PAS-7: абалы «ready»."],
           "built-in text at the phone: %r" % line)
    g.wait_log(r"no template for status ready in ky: application PAS-7 notified with the built-in text", 5)
    code, r = api.call("POST", "/v1/applications/PAS-7/status",
                       {"status": "issued", "note": "Окно 3.", "language": "ru"})
    expect(code == 200 and r.get("notified") == 1, "built-in, ru: %r %r" % (code, r))
    line = f.readline().decode().rstrip("\n")
    expect(line.split(" ", 3)[2:] == [owner, "Заявление PAS-7: статус «issued». Окно 3."],
           "built-in text in Russian at the phone: %r" % line)
    expect(g.alive(), "kyzmatd died")


@case
def templated_message_is_delivered_with_its_rendered_text():
    # issue 14 item 2: a message with template + variables was answered 202
    # and then failed in the outbox with "no text"
    s, g, api = start_gateway()
    ev = SmsLog(s)
    code, r = api.call("PUT", "/v1/templates/reminder/ru", {"text": "Заявление {number}: {note}"})
    expect(code == 200, "PUT: %r %r" % (code, r))
    code, r = api.call("POST", "/v1/messages", {
        "to": "+996555700101", "template": "reminder", "language": "ru",
        "variables": {"number": "PAS-9", "note": "приходите завтра в 10:00."}})
    expect(code == 202 and r.get("state") == "queued", "POST: %r %r" % (code, r))
    to, got = ev.next()
    expect(to == "996555700101" and got == "Заявление PAS-9: приходите завтра в 10:00.",
           "SMS at the phone: %r %r" % (to, got))
    wait_until(lambda: api.call("GET", "/v1/messages/%d" % r["id"])[1].get("state") == "delivered",
               10, "the receipt to mark it delivered")
    code, r = api.call("POST", "/v1/messages/batch", {"messages": [
        {"to": "+996555700102", "template": "reminder", "language": "ru",
         "variables": {"number": 77, "note": "готово."}}]})
    expect(code == 202 and r["results"][0].get("id"), "batch: %r %r" % (code, r))
    to, got = ev.next()
    expect(to == "996555700102" and got == "Заявление 77: готово.", "batch SMS: %r %r" % (to, got))
    # refused before it is accepted, naming what is missing; nothing stored
    before = api.call("GET", "/v1/health")[1]["accepted"]
    code, r = api.call("POST", "/v1/messages", {"to": "+996555700101", "template": "reminder",
                                                "language": "ky", "variables": {"number": "1", "note": "x"}})
    expect(code == 422 and r.get("field") == "template" and '"reminder"' in r.get("error", "")
           and "ky" in r["error"], "no template in ky: %r %r" % (code, r))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555700101", "template": "reminder",
                                                "language": "ru", "variables": {"number": "1"}})
    expect(code == 422 and r.get("field") == "variables" and '"note"' in r.get("error", ""),
           "missing variable: %r %r" % (code, r))
    code, r = api.call("POST", "/v1/messages/batch", {"messages": [
        {"to": "+996555700101", "text": "fine"},
        {"to": "+996555700102", "template": "remindr", "language": "ru"}]})
    expect(code == 422 and r.get("field") == "messages[1].template", "batch refused: %r %r" % (code, r))
    expect(api.call("GET", "/v1/health")[1]["accepted"] == before, "a refused message was accepted")
    expect(g.alive(), "kyzmatd died")

if __name__ == "__main__":
    run()
