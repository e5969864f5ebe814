"""
tests/integration/booking_setup.py — what the booking tests share: days
from today, one gateway on Redis and a database file, an API client for
the agency "centre", and publishing offices, services and slots through
the API.  No cases of its own (importing it registers none).

Owns: nothing beyond what harness.py starts.  May call: harness.py.
"""
import datetime
import os
import sqlite3

from harness import Api, Kyzmatd, Redis, Smsc, TMP, cfg, create_token, expect, menus_dir, smsc_entry


def day(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def ddmm(iso):
    return "%s.%s" % (iso[8:10], iso[5:7])


def gateway(s, db, redis_url, name="sim", system_id="kyzmat", password="secret",
            settings_extra=""):
    menus = menus_dir(9)
    if settings_extra:
        path = os.path.join(menus, "00-settings.yaml")
        text = open(path).read().replace("settings:\n", "settings:\n" + settings_extra, 1)
        open(path, "w").write(text)
    text = (cfg(smsc_entry(name, s.port, system_id=system_id, password=password,
                           default_route="true"))
            + "menus: %s\n" % menus
            + "redis: {url: \"%s\"}\n" % redis_url
            + "database: {path: %s}\n" % db)
    g = Kyzmatd(text, name="gw-" + name)
    g.wait_log(r"\[%s\] bound" % name)
    g.wait_log(r"\[dialogs\] redis .* is up")
    return g


def start(db_name, settings_extra=""):
    """Redis, kyzmat-smsc and one gateway on database TMP/db_name, with an
    API client for the agency "centre": (smsc, database path, gateway, api)."""
    r = Redis()
    s = Smsc()
    db = os.path.join(TMP, db_name)
    g = gateway(s, db, r.url, settings_extra=settings_extra)
    return s, db, g, Api(g.http_port(), create_token(g, "centre"))


def publish(api, offices, services, slots):
    for code, ru in offices:
        c, r = api.call("POST", "/v1/offices", {
            "code": code, "name": {"ky": ru, "ru": ru, "en": code},
            "address": {"ru": "ул. Токтогула 125", "ky": "Токтогул көч. 125"}})
        expect(c in (200, 201), "office %s: %d %r" % (code, c, r))
    for code, names in services:
        c, r = api.call("POST", "/v1/services", {"code": code, "name": names})
        expect(c in (200, 201), "service %s: %d %r" % (code, c, r))
    for office, service, d, t, cap in slots:
        c, r = api.call("POST", "/v1/slots", {"office": office, "service": service, "day": d,
                                              "time": t, "capacity": cap})
        expect(c in (200, 201), "slot %s %s %s: %d %r" % (office, d, t, c, r))


def db_rows(db, q, *args):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(q, args).fetchall()
    finally:
        con.close()


PASSPORT = {"ky": "Паспорт", "ru": "Паспорт", "en": "Passport"}
IDCARD = {"ky": "ID-карта", "ru": "ID-карта", "en": "ID card"}


