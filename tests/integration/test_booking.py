"""
tests/integration/test_booking.py — appointment booking and SMS
subscriptions by USSD, end to end: an agency publishes offices, services
and slots through the API; handsets on kyzmat-smsc walk the example menu
set's `booking` and `subscribe` nodes; the gateway's SQLite store is read
afterwards to check what was written.

Cases: a full walk in Russian (service -> office -> day -> time ->
confirm, SMS confirmation; list, move, a second booking of the same
service refused, cancel — each with its SMS), every screen within 160
octets; 100 handsets racing for the last 3 places of one slot through two
gateways that share one database and one Redis (exactly 3 booked, every
other handset told the time was just taken); an application's SMS turned
off and on again by its owner, and a stranger who tries it learns nothing.
"""
import datetime
import os
import re
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Kyzmatd, Phone, Redis, Smsc, TMP, case, cfg, create_token,  # noqa: E402
                     expect, in_threads, menus_dir, run, smsc_entry)
from booking_setup import (IDCARD, PASSPORT, day, db_rows, ddmm, gateway,  # noqa: E402
                           publish, start)

@case
def book_list_move_refuse_twice_and_cancel_in_russian_with_sms():
    s, db, g, api = start("walk.db")
    d1, d2 = day(1), day(2)
    publish(api, [("bishkek1", "Бишкек №1"), ("osh1", "Ош №1")],
            [("passport", PASSPORT), ("idcard", IDCARD)],
            [("bishkek1", "passport", d1, "09:00", 2), ("bishkek1", "passport", d1, "09:30", 1),
             ("bishkek1", "passport", d2, "10:00", 1), ("osh1", "passport", d1, "11:00", 1),
             ("bishkek1", "idcard", d1, "12:00", 1)])
    ph = Phone(s, "996555200001")
    kind, t = ph.dial("*100#")
    kind, t = ph.send("2")                        # Русский
    expect("Запись на приём" in t, "main menu: %r" % t)
    kind, t = ph.send("2")
    expect(kind == "continue" and "Выберите услугу" in t and "1. Паспорт" in t
           and "2. ID-карта" in t, "services: %r" % t)
    kind, t = ph.send("7")
    expect("Неверный выбор" in t and "Выберите услугу" in t, "invalid choice: %r" % t)
    kind, t = ph.send("1")
    expect("Выберите отделение" in t and "1. Бишкек №1" in t and "2. Ош №1" in t, "offices: %r" % t)
    kind, t = ph.send("0")
    expect("Выберите услугу" in t, "back to services: %r" % t)
    ph.send("1")
    kind, t = ph.send("1")
    expect("Выберите день" in t and ddmm(d1) in t and ddmm(d2) in t, "days: %r" % t)
    kind, t = ph.send("1")
    expect("выберите время" in t and "1. 09:00" in t and "2. 09:30" in t, "times: %r" % t)
    kind, t = ph.send("2")
    expect("Паспорт" in t and "Бишкек №1" in t and "09:30" in t and "1. Записаться" in t,
           "confirm: %r" % t)
    kind, t = ph.send("1")
    expect(kind == "end" and "Вы записаны" in t and "09:30" in t and "Талон №" in t,
           "booked: %r %r" % (kind, t))
    ticket = re.search(r"Талон №(\d+)", t).group(1)
    sms = ph.sms()
    expect("Паспорт" in sms and "09:30" in sms and "Бишкек №1" in sms and "Токтогула" in sms
           and ticket in sms, "confirmation SMS: %r" % sms)
    expect(db_rows(db, "SELECT booked FROM slots WHERE time = '09:30'")[0][0] == 1, "09:30 booked")

    # my bookings -> move to 09:00 of the same day (09:30 is mine, 11:00 is Osh)
    kind, t = ph.dial("*100*3#")
    expect("Ваши записи" in t and "09:30" in t and "Паспорт" in t, "my bookings: %r" % t)
    kind, t = ph.send("1")
    expect("1. Отменить" in t and "2. Перенести" in t, "one booking: %r" % t)
    kind, t = ph.send("2")
    expect("Выберите день" in t, "move: days: %r" % t)
    kind, t = ph.send("1")
    expect("1. 09:00" in t and "09:30" not in t, "move: times (09:30 full): %r" % t)
    ph.send("1")
    kind, t = ph.send("1")
    expect(kind == "end" and "Запись перенесена" in t and "09:00" in t, "moved: %r" % t)
    sms = ph.sms()
    expect("перенесена" in sms and "09:00" in sms, "move SMS: %r" % sms)
    rows = db_rows(db, "SELECT s.time, b.state, b.lang FROM bookings b JOIN slots s"
                       " ON s.id = b.slot_id ORDER BY b.id")
    expect(rows == [("09:30", "moved", "ru"), ("09:00", "active", "ru")], "rows: %r" % rows)
    expect(db_rows(db, "SELECT booked FROM slots WHERE time = '09:30'")[0][0] == 0,
           "the old place was given back")

    # one active booking per citizen and service
    kind, t = ph.dial("*100*2#")
    ph.send("1")                                   # passport
    ph.send("1")                                   # Bishkek
    ph.send("2")                                   # the day after
    ph.send("1")                                   # 10:00
    kind, t = ph.send("1")
    expect(kind == "end" and "уже есть запись" in t and "09:00" in t, "second booking: %r" % t)
    ph.no_sms(0.5)

    # cancel
    ph.dial("*100*3#")
    ph.send("1")
    kind, t = ph.send("1")
    expect("Отменить запись?" in t and "1. Да" in t, "cancel question: %r" % t)
    kind, t = ph.send("1")
    expect(kind == "end" and "отменена" in t, "cancelled: %r" % t)
    sms = ph.sms()
    expect("отменена" in sms, "cancel SMS: %r" % sms)
    kind, t = ph.dial("*100*3#")
    expect(kind == "end" and "нет записей" in t, "no bookings left: %r" % t)
    total = db_rows(db, "SELECT SUM(booked) FROM slots")[0][0]
    expect(total == 0, "every place given back (%r)" % total)
    expect(g.alive(), "kyzmatd died")


@case
def operator_rewords_booking_screens_in_the_menu_set():
    s, db, g, api = start("words.db", settings_extra=(
        "  booking_texts:\n"
        "    day: {ky: \"Кайсы күнү келесиз?\", ru: \"Когда придёте?\", en: \"When will you come?\"}\n"
        "    booked: \"OK: {day} {time}, #{ticket}\"\n"))
    publish(api, [("bishkek1", "Бишкек №1")], [("passport", PASSPORT)],
            [("bishkek1", "passport", day(1), "10:00", 3)])
    ph = Phone(s, "996555500001")
    ph.dial("*100#")
    ph.send("3")                                  # English
    kind, t = ph.send("2")
    expect("When will you come?" in t and "Choose a day" not in t, "reworded: %r" % t)
    ph.send("1")
    kind, t = ph.send("1")
    expect("1. Confirm" in t, "not reworded, built in: %r" % t)
    kind, t = ph.send("1")
    expect(kind == "end" and t.startswith("OK: ") and "10:00, #" in t, "booked: %r" % t)
    expect(g.alive(), "kyzmatd died")


@case
def hundred_phones_race_for_three_places_through_two_gateways():
    r = Redis()
    s = Smsc("--account", "gw2:secret2")
    db = os.path.join(TMP, "race.db")
    g1 = gateway(s, db, r.url, name="one")
    g2 = gateway(s, db, r.url, name="two", system_id="gw2", password="secret2")
    api = Api(g1.http_port(), create_token(g1, "centre"))
    d1 = day(1)
    # one service at one office, one time with 3 places: the lists are skipped
    publish(api, [("bishkek1", "Бишкек №1")], [("passport", PASSPORT)],
            [("bishkek1", "passport", d1, "10:00", 3)])
    n = 100
    phones = [Phone(s, "99655530%04d" % i) for i in range(n)]
    errors = []

    def walk(ph):
        try:
            ph.dial("*100#")
            ph.send("3")                          # English
            kind, t = ph.send("2")                # book: straight to the day list
            expect("Choose a day" in t, "%s: days: %r" % (ph.msisdn, t))
            ph.send("1")
            kind, t = ph.send("1")
            expect("1. Confirm" in t and "10:00" in t, "%s: confirm: %r" % (ph.msisdn, t))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(str(e))

    in_threads(walk, phones)
    expect(not errors, "walks: %s" % errors[:3])
    # everyone confirms at once
    go = threading.Barrier(n)
    results = {}

    def confirm(ph):
        try:
            go.wait(30)
            results[ph.msisdn] = ph.send("1")
        except Exception as e:  # noqa: BLE001
            errors.append(str(e))

    in_threads(confirm, phones)
    expect(not errors, "confirms: %s" % errors[:3])
    booked = [m for m, (k, t) in results.items() if k == "end" and "Booked" in t]
    taken = [m for m, (k, t) in results.items() if "just taken" in t]
    expect(len(booked) == 3, "%d booked (want 3): %r" % (len(booked), booked))
    expect(len(taken) == n - 3, "%d told 'just taken' (want %d); others: %r" % (
        len(taken), n - 3, [v for m, v in results.items() if m not in booked + taken][:3]))
    rows = db_rows(db, "SELECT capacity, booked FROM slots")
    expect(rows == [(3, 3)], "slot: %r" % rows)
    active = sorted(m for (m,) in db_rows(db, "SELECT msisdn FROM bookings WHERE state = 'active'"))
    expect(len(active) == 3 and sorted(x.lstrip("+") for x in active) == sorted(booked),
           "active bookings %r vs booked %r" % (active, booked))
    # both gateways answered confirmations: the race crossed processes
    w1 = len(re.findall(r"booking \d+ written", g1.log()))
    w2 = len(re.findall(r"booking \d+ written", g2.log()))
    print("   race: 100 confirms, booked %d (gw1 wrote %d, gw2 wrote %d)" % (len(booked), w1, w2))
    expect(w1 + w2 == 3, "bookings written %d + %d" % (w1, w2))
    for m in booked:
        ph = next(p for p in phones if p.msisdn == m)
        sms = ph.sms()
        expect("10:00" in sms and "Passport" in sms, "confirmation to %s: %r" % (m, sms))
    expect(g1.alive() and g2.alive(), "a gateway died")


@case
def owner_turns_application_sms_off_and_on_stranger_learns_nothing():
    s, db, g, api = start("subs.db")
    c, _ = api.call("PUT", "/v1/templates/ready/ru", {"text": "Заявление {number}: готово."})
    expect(c in (200, 201), "template: %d" % c)
    owner = Phone(s, "996555400001")
    stranger = Phone(s, "996555400002")
    c, res = api.call("POST", "/v1/applications/1234567/status",
                      {"status": "received", "owner": "+996555400001", "language": "ru"})
    expect(c in (200, 201), "application: %d %r" % (c, res))
    # no template for "received": the built-in text
    sms = owner.sms()
    expect(sms == "Заявление 1234567: статус «received».", "built-in text: %r" % sms)
    # the owner turns it off
    owner.dial("*100#")
    owner.send("2")                                # Русский
    kind, t = owner.send("4")
    expect("SMS об изменении" in t and "1. Включить" in t and "2. Отключить" in t, "sub menu: %r" % t)
    owner.send("2")
    kind, t = owner.send("1234567")
    expect(kind == "end" and "больше не придут" in t, "turned off: %r" % t)
    c, res = api.call("POST", "/v1/applications/1234567/status", {"status": "ready", "language": "ru"})
    expect(c == 200 and res.get("muted") == 1 and res.get("queued") == 0, "muted push: %r" % res)
    owner.no_sms(1.0)
    # a stranger cannot turn it on (or learn that it exists)
    stranger.dial("*100#")
    stranger.send("2")
    stranger.send("4")
    stranger.send("1")
    kind, t = stranger.send("1234567")
    expect(kind == "end" and "не найдено" in t, "stranger: %r" % t)
    kind, t2 = stranger.dial("*100*4*1#")
    kind, t2 = stranger.send("7777777")
    expect(t.replace("1234567", "N") == t2.replace("7777777", "N"),
           "stranger: same answer as for no such number: %r / %r" % (t, t2))
    c, res = api.call("POST", "/v1/applications/1234567/status", {"status": "ready", "language": "ru"})
    expect(res.get("muted") == 1, "still muted after the stranger: %r" % res)
    # the owner turns it on again
    owner.dial("*100*4#")
    owner.send("1")
    kind, t = owner.send("1234567")
    expect(kind == "end" and "Вы получите SMS" in t, "turned on: %r" % t)
    c, res = api.call("POST", "/v1/applications/1234567/status", {"status": "ready", "language": "ru"})
    expect(res.get("queued") == 1 and res.get("muted") == 0, "push after on: %r" % res)
    sms = owner.sms()
    expect("1234567" in sms and "готово" in sms, "SMS after on: %r" % sms)
    stranger.no_sms(0.3)
    expect(g.alive(), "kyzmatd died")


if __name__ == "__main__":
    run()
