#!/usr/bin/env python3
"""menus/examples/backend.py - the small local back-end of the example menu set.

What it does: answers the http nodes of menus/examples (status, offices,
days, times, book, subscribe) with JSON, in the dialog's language, from a
few fixed records, so the example runs end to end and integration tests
have a peer that is not kyzmat.  Standard library only.

Run:  python3 menus/examples/backend.py [PORT]   (PORT 0 or none: any free port)
It prints "listening 127.0.0.1:PORT" once ready (poll for that line), then
serves until killed.  Point the menu set at it with the settings constant
`backend` (menu_set_load_dir_with(dir, {"backend", "http://127.0.0.1:PORT"})).
Subscriptions and bookings are kept in memory and printed to stdout, one
JSON line each, so a test can check what the gateway sent.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATUS = {
    "1234567": {"ky": "даяр, алып кетсеңиз болот", "ru": "готово, можно забрать", "en": "ready for pick-up"},
    "7654321": {"ky": "каралууда", "ru": "на рассмотрении", "en": "under review"},
}
OFFICES = {"ky": "1. Бишкек-1\n2. Ош-2", "ru": "1. Бишкек-1\n2. Ош-2", "en": "1. Bishkek-1\n2. Osh-2"}
DAYS = {"ky": "1. 01.12\n2. 02.12\n3. 03.12", "ru": "1. 01.12\n2. 02.12\n3. 03.12",
        "en": "1. 01.12\n2. 02.12\n3. 03.12"}
TIMES = {"ky": "1. 09:00\n2. 10:30\n3. 14:00", "ru": "1. 09:00\n2. 10:30\n3. 14:00",
         "en": "1. 09:00\n2. 10:30\n3. 14:00"}
DAY_NAMES = ["01.12", "02.12", "03.12"]
TIME_NAMES = ["09:00", "10:30", "14:00"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet: stdout carries the records
        pass

    def answer(self, code, obj):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def params(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            q.update({k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()})
        return u.path, q

    def route(self):
        path, q = self.params()
        lang = q.get("lang", "ky") if q.get("lang") in ("ky", "ru", "en") else "ky"
        if path == "/status":
            rec = STATUS.get(q.get("number", ""))
            if rec is None:
                return self.answer(200, {"state": "notfound", "text": ""})
            return self.answer(200, {"state": "found", "text": rec[lang]})
        if path == "/offices":
            return self.answer(200, {"list": OFFICES[lang]})
        if path == "/days":
            return self.answer(200, {"list": DAYS[lang]})
        if path == "/times":
            return self.answer(200, {"list": TIMES[lang]})
        if path == "/book" and self.command == "POST":
            try:
                day = DAY_NAMES[int(q["day"]) - 1]
                time = TIME_NAMES[int(q["time"]) - 1]
            except (KeyError, ValueError, IndexError):
                return self.answer(400, {"error": "bad day or time"})
            ticket = "A-%02d" % (len(BOOKED) + 1)
            BOOKED.append(q)
            print(json.dumps({"booked": q, "ticket": ticket}, ensure_ascii=False), flush=True)
            return self.answer(200, {"ticket": ticket, "when": "%s %s" % (day, time)})
        if path == "/subscribe" and self.command == "POST":
            print(json.dumps({"subscribed": q}, ensure_ascii=False), flush=True)
            return self.answer(200, {"ok": "1"})
        return self.answer(404, {"error": "no such path"})

    do_GET = route
    do_POST = route


BOOKED = []

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("listening 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()
