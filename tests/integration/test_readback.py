"""
tests/integration/test_readback.py — what an agency wrote, it can read back
(issue 12 part 3): GET /v1/offices, /v1/services, /v1/slots (paged, with
capacity and what is booked), /v1/bookings?office=&day= (a centre's day:
every booking of that office and day, by time, with the citizen's phone),
and GET /v1/applications/{number} with its history.  Only the agency's
own: another agency sees none of it.

Uses booking_setup.py's set-up (Redis, kyzmat-smsc, one gateway, the agency
"centre") and a handset that books through the example menu set.

Owns: nothing beyond what harness.py starts.  May call: harness.py,
booking_setup.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Api, Phone, case, create_token, expect, run  # noqa: E402
from booking_setup import IDCARD, PASSPORT, day, publish, start  # noqa: E402


def book(s, msisdn, time_choice):
    """A handset books passport at bishkek1 (the second office listed: osh1
    was published first) on the first day, the time_choice-th free time
    (Russian)."""
    ph = Phone(s, msisdn)
    ph.dial("*100#")
    ph.send("2")        # Русский
    ph.send("2")        # booking
    ph.send("1")        # passport
    ph.send("2")        # bishkek1
    ph.send("1")        # the first day
    ph.send(time_choice)
    kind, t = ph.send("1")
    expect(kind == "end" and "Вы записаны" in t, "%s booked: %r %r" % (msisdn, kind, t))
    return ph


@case
def offices_services_slots_and_a_centres_day():
    s, db, g, api = start("readback.db")
    d1, d2 = day(1), day(2)
    publish(api, [("osh1", "Ош №1"), ("bishkek1", "Бишкек №1")],
            [("passport", PASSPORT), ("idcard", IDCARD)],
            [("bishkek1", "passport", d1, "09:30", 1), ("bishkek1", "passport", d1, "09:00", 2),
             ("bishkek1", "passport", d2, "10:00", 1), ("osh1", "passport", d1, "11:00", 1),
             ("bishkek1", "idcard", d1, "12:00", 1)])
    c, r = api.call("GET", "/v1/offices")
    expect(c == 200 and [o["code"] for o in r["offices"]] == ["bishkek1", "osh1"]
           and r["next"] is None, "offices: %d %r" % (c, r))
    b1 = r["offices"][0]["names"]
    expect(b1["ru"]["name"] == "Бишкек №1" and "Токтогула" in b1["ru"]["address"]
           and b1["en"] == {"name": "bishkek1"}, "office names: %r" % b1)
    c, r = api.call("GET", "/v1/offices?limit=1")
    expect(c == 200 and len(r["offices"]) == 1 and r["next"] == "bishkek1", "page 1: %r" % r)
    c, r = api.call("GET", "/v1/offices?limit=1&after=bishkek1")
    expect(c == 200 and [o["code"] for o in r["offices"]] == ["osh1"] and r["next"] is None,
           "page 2: %r" % r)
    c, r = api.call("GET", "/v1/services")
    expect(c == 200 and [x["code"] for x in r["services"]] == ["idcard", "passport"]
           and r["services"][1]["names"]["ru"] == "Паспорт", "services: %d %r" % (c, r))

    c, r = api.call("GET", "/v1/slots?office=bishkek1&from=%s&to=%s" % (d1, d2))
    got = [(x["service"], x["day"], x["time"], x["capacity"]) for x in r.get("slots", [])]
    expect(c == 200 and got == [("passport", d1, "09:00", 2), ("passport", d1, "09:30", 1),
                                ("idcard", d1, "12:00", 1), ("passport", d2, "10:00", 1)],
           "slots by day and time: %d %r" % (c, r))
    c, r = api.call("GET", "/v1/slots?office=bishkek1&service=idcard&from=%s&to=%s" % (d1, d2))
    expect(c == 200 and [x["time"] for x in r["slots"]] == ["12:00"], "idcard slots: %r" % r)
    c, r = api.call("GET", "/v1/slots?office=bishkek1&from=%s&to=%s&limit=3" % (d1, d2))
    expect(c == 200 and len(r["slots"]) == 3 and r["next"], "slots page 1: %r" % r)
    c, r = api.call("GET", "/v1/slots?office=bishkek1&from=%s&to=%s&after=%s" % (d1, d2, r["next"]))
    expect(c == 200 and [x["day"] for x in r["slots"]] == [d2] and r["next"] is None,
           "slots page 2: %r" % r)

    # two citizens book: 09:30 then 09:00; the centre's day lists them by time
    book(s, "996555400001", "2")        # 09:30
    book(s, "996555400002", "1")        # 09:00
    c, r = api.call("GET", "/v1/bookings?office=bishkek1&day=%s" % d1)
    got = [(b["time"], b["phone"], b["service"], b["state"], b["language"])
           for b in r.get("bookings", [])]
    expect(c == 200 and got == [("09:00", "996555400002", "passport", "active", "ru"),
                                ("09:30", "996555400001", "passport", "active", "ru")]
           and r["day"] == d1, "the centre's day: %d %r" % (c, r))
    c, r = api.call("GET", "/v1/bookings?office=bishkek1&day=%s&limit=1" % d1)
    expect(c == 200 and len(r["bookings"]) == 1 and r["next"].startswith("09:00/"), "page: %r" % r)
    c, r2 = api.call("GET", "/v1/bookings?office=bishkek1&day=%s&after=%s" % (d1, r["next"]))
    expect(c == 200 and [b["time"] for b in r2["bookings"]] == ["09:30"], "next page: %r" % r2)
    c, r = api.call("GET", "/v1/slots?office=bishkek1&from=%s&to=%s" % (d1, d1))
    expect([(x["time"], x["booked"], x["free"]) for x in r["slots"]][:2]
           == [("09:00", 1, 1), ("09:30", 1, 0)], "booked and free: %r" % r)

    # another agency sees none of it
    other = Api(g.http_port(), create_token(g, "tax"))
    c, r = other.call("GET", "/v1/bookings?office=bishkek1&day=%s" % d1)
    expect(c == 403, "another agency's office day: %d %r" % (c, r))
    c, r = other.call("GET", "/v1/slots?office=bishkek1")
    expect(c == 403, "another agency's slots: %d %r" % (c, r))
    c, r = other.call("GET", "/v1/offices")
    expect(c == 200 and r["offices"] == [], "another agency's offices: %r" % r)

    # bad queries say what is wrong
    for q, field in (("office=bishkek1", "day"), ("office=bishkek1&day=2026-13-01", "day"),
                     ("day=%s" % d1, "office"), ("office=bishkek1&day=%s&limit=0" % d1, "limit"),
                     ("office=bishkek1&day=%s&after=9" % d1, "after")):
        c, r = api.call("GET", "/v1/bookings?" + q)
        expect(c == 400 and r.get("field") == field, "%s: %d %r" % (q, c, r))
    c, r = api.call("GET", "/v1/bookings?office=nowhere&day=%s" % d1)
    expect(c == 422, "unknown office: %d %r" % (c, r))
    expect(g.alive(), "kyzmatd died")


@case
def an_application_with_its_history():
    s, db, g, api = start("readback-apps.db")
    for status, note in (("received", "at the desk"), ("review", None), ("ready", "collect it")):
        body = {"status": status, "owner": "996555400010", "notify": False}
        if note:
            body["note"] = note
        c, r = api.call("POST", "/v1/applications/A-77/status", body)
        expect(c in (200, 201), "status %s: %d %r" % (status, c, r))
    c, r = api.call("GET", "/v1/applications/A-77")
    expect(c == 200 and r["status"] == "ready" and r["owner"] == "996555400010"
           and [h["status"] for h in r["history"]] == ["ready", "review", "received"]
           and r["history"][0]["note"] == "collect it" and "note" not in r["history"][1]
           and r["history_truncated"] is False, "application: %d %r" % (c, r))
    c, r = api.call("GET", "/v1/applications/B-1")
    expect(c == 404, "unknown application: %d %r" % (c, r))
    other = Api(g.http_port(), create_token(g, "tax"))
    c, r = other.call("GET", "/v1/applications/A-77")
    expect(c == 404, "another agency's application: %d %r" % (c, r))
    c, r = api.call("GET", "/v1/applications/A-77", token=False)
    expect(c == 401, "no token: %d %r" % (c, r))


if __name__ == "__main__":
    run()
