"""
tests/integration/test_reminders.py — the day-before reminder SMS end to
end: kyzmatd with reminder_at "00:00" and a 1 s timer, an office and a slot
for tomorrow published through the agencies' API, bookings written into
kyzmatd's SQLite file (the schema of gateway/store.c's migrations:
bookings row + slots.booked + 1), and the simulated phones of kyzmat-smsc.

Checks: each booking made well before gets exactly one reminder, in the
language it was booked in (ky, ru); a booking made just now (after its
reminder time) and a number that sent STOP get none; after kill -9 and a
restart on the same database nobody gets a second one, while a booking
added after the restart still gets its own (so the timer did run again).

Owns: the processes it starts (through the harness) and their temp files.
"""
import datetime
import os
import re
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TMP, Api, Kyzmatd, SmsLog, Smsc, case, cfg, create_token,  # noqa: E402
                     expect, run, smsc_entry, wait_until)


def now_ms():
    return int(time.time() * 1000)


def book(db, msisdn, slot_id, lang, created_at):
    """One active booking, as store_book() writes it (and its language)."""
    con = sqlite3.connect(db, timeout=10)
    try:
        with con:
            svc = con.execute("SELECT service_id FROM slots WHERE id = ?", (slot_id,)).fetchone()[0]
            con.execute("UPDATE slots SET booked = booked + 1 WHERE id = ? AND booked < capacity",
                        (slot_id,))
            cur = con.execute("INSERT INTO bookings(msisdn, slot_id, service_id, state, created_at,"
                              " updated_at, lang) VALUES(?, ?, ?, 'active', ?, ?, ?)",
                              (msisdn, slot_id, svc, created_at, created_at, lang))
            return cur.lastrowid
    finally:
        con.close()


def query(db, sql, args=()):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def publish(api, office):
    """The office and a passport slot in it tomorrow at 10:00; returns
    (day, slot id)."""
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    code, r = api.call("POST", "/v1/offices", office)
    expect(code in (200, 201), "office: %r %r" % (code, r))
    code, r = api.call("POST", "/v1/slots", {"office": office["code"], "service": "passport",
                                             "day": tomorrow, "time": "10:00", "capacity": 10})
    expect(code == 200 and r.get("id"), "slot: %r %r" % (code, r))
    return tomorrow, r["id"]


def start(db_dir):
    """kyzmat-smsc, the SMS its phones get, and the start of a kyzmatd
    config (link "sim", database in TMP/db_dir): (smsc, SmsLog, db, config)."""
    s = Smsc()
    db = os.path.join(TMP, db_dir, "kyzmat.db")
    return s, SmsLog(s), db, (cfg(smsc_entry("sim", s.port, default_route="true"))
                              + "database: {path: %s}\n" % db)


@case
def one_reminder_each_in_its_language_and_none_again_after_a_restart():
    s, phones, db, conf = start("reminders")
    conf += 'booking: {reminder_at: "00:00", reminder_check_seconds: 1}\n'
    g = Kyzmatd(conf)
    g.wait_log(r"\[sim\] bound")
    api = Api(g.http_port(), create_token(g))

    tomorrow, slot = publish(api, {
        "code": "bishkek-1",
        "name": {"ky": "ЦОН №1", "ru": "ЦОН №1", "en": "PSC 1"},
        "address": {"ky": "Чүй 100", "ru": "Чуй 100", "en": "Chui 100"}})

    # STOP first: the timer may run between any two of these writes
    con = sqlite3.connect(db, timeout=10)
    with con:
        con.execute("INSERT INTO opt_outs(msisdn, at) VALUES(?, ?)", ("996555000104", now_ms()))
    con.close()
    two_days_ago = now_ms() - 2 * 86400 * 1000
    ky = book(db, "996555000101", slot, "ky", two_days_ago)
    ru = book(db, "996555000102", slot, "ru", two_days_ago)
    fresh = book(db, "996555000103", slot, "ky", now_ms())   # after its reminder time
    stop = book(db, "996555000104", slot, "ru", two_days_ago)

    # every booking is settled (reminded or decided against) and the two
    # reminders are delivered
    def settled():
        rows = query(db, "SELECT id FROM bookings WHERE reminder_sent = 0")
        return not rows
    wait_until(settled, 15, "every booking marked reminded")
    wait_until(lambda: query(db, "SELECT count(*) FROM outbox WHERE idem_key LIKE 'reminder:%'"
                                 " AND state = 'delivered'")[0][0] == 2,
               15, "two reminders delivered")
    g.wait_log(r"reminders: \d+ queued for %s" % tomorrow)

    got_ky = phones.to("996555000101")
    got_ru = phones.to("996555000102")
    expect(len(got_ky) == 1 and len(got_ru) == 1, "one each: ky %r ru %r" % (got_ky, got_ru))
    expect(got_ky[0].startswith("Эскертүү: эртең") and "10:00" in got_ky[0]
           and "Талон №%d" % ky in got_ky[0] and "ЦОН №1" in got_ky[0],
           "Kyrgyz reminder: %r" % got_ky[0])
    expect(got_ru[0].startswith("Напоминание: завтра") and "10:00" in got_ru[0]
           and "Талон №%d" % ru in got_ru[0], "Russian reminder: %r" % got_ru[0])
    expect(phones.to("996555000103") == [], "a booking made just now got a reminder")
    expect(phones.to("996555000104") == [], "an opted-out number got a reminder")
    keys = sorted(k for (k,) in query(db, "SELECT idem_key FROM outbox WHERE client = 'kyzmat'"
                                          " AND idem_key LIKE 'reminder:%'"))
    expect(keys == sorted(["reminder:%d" % ky, "reminder:%d" % ru]), "outbox keys: %r" % keys)
    expect((fresh, stop) != (0, 0), "bookings written")
    log = g.log()
    expect("996555000101" not in log and "996555000102" not in log, "a number in the log")

    # kill -9, restart on the same database: nobody is reminded twice; a
    # booking added now is reminded (the timer runs again)
    g.proc.kill()
    g.proc.wait(10)
    before = len(phones.snapshot())
    g2 = Kyzmatd(conf, name="kyzmatd2")
    g2.wait_log(r"\[sim\] bound")
    late = book(db, "996555000105", slot, "ru", two_days_ago)
    wait_until(lambda: phones.to("996555000105"), 15, "the reminder of the booking added after the restart")
    wait_until(lambda: query(db, "SELECT count(*) FROM outbox WHERE idem_key = ? AND state = 'delivered'",
                             ("reminder:%d" % late,))[0][0] == 1, 15, "its receipt")
    after = phones.snapshot()[before:]
    expect(after == [("996555000105", phones.to("996555000105")[0])],
           "SMS after the restart: %r" % after)
    expect(len(phones.to("996555000101")) == 1 and len(phones.to("996555000102")) == 1,
           "a second reminder after the restart")
    expect(re.search(r"reminders: 1 queued for %s" % tomorrow, g2.log()), "log line: %s" % g2.log()[-2000:])
    expect(g2.stop() == 0, "kyzmatd2 did not stop cleanly")


@case
def turned_on_by_sighup_and_a_bad_time_refused():
    s, phones, db, base = start("reload")
    g = Kyzmatd(base + 'booking: {reminders: false, reminder_at: "00:00", '
                       'reminder_check_seconds: 1}\n')
    g.wait_log(r"\[sim\] bound")
    g.wait_log(r"reminders off")
    api = Api(g.http_port(), create_token(g))
    day, slot = publish(api, {"code": "osh-2", "name": {"ky": "ЦОН №2", "ru": "ЦОН №2"}})
    b = book(db, "996555000201", slot, None, now_ms() - 3 * 86400 * 1000)
    expect(query(db, "SELECT reminder_sent FROM bookings WHERE id = ?", (b,)) == [(0,)],
           "reminded while off")
    # on, by SIGHUP: the booking without a language gets it in the menus'
    # default language (ky in menus/examples)
    with open(g.cfg, "w") as f:
        f.write(base + 'booking: {reminders: true, reminder_at: "00:00", '
                       'reminder_check_seconds: 1}\n')
    g.signal(signal.SIGHUP)
    g.wait_log(r"reminders on: tomorrow's bookings from 00:00 local time, checked every 1s")
    got = wait_until(lambda: phones.to("996555000201"), 15, "the reminder after the reload")
    expect(len(got) == 1 and got[0].startswith("Эскертүү: эртең") and "10:00" in got[0]
           and "ЦОН №2" in got[0] and "Талон №%d" % b in got[0], "reminder: %r" % got)
    g.wait_log(r"reminders: 1 queued for %s" % day)
    # a time of day that is none: refused, the old settings kept
    with open(g.cfg, "w") as f:
        f.write(base + 'booking: {reminder_at: "25:00"}\n')
    g.signal(signal.SIGHUP)
    g.wait_log(r"booking\.reminder_at: must be a time of day HH:MM")
    g.wait_log(r"reload refused")
    expect(g.alive(), "kyzmatd died on a bad reload")
    expect(len(phones.to("996555000201")) == 1, "a second reminder")
    expect(g.stop() == 0, "kyzmatd did not stop cleanly")


if __name__ == "__main__":
    run()
