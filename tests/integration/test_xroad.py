"""
tests/integration/test_xroad.py — back-end calls through Tunduk (X-Road),
issue 13: a USSD status node with an `xroad:` block, kyzmatd configured
with our X-Road client identity and certificate, and a stand-in security
server made here (Python ssl + http.server in a thread).

The stand-in does what a consumer security server does at its door: it
demands mutual TLS (a client certificate signed by the test CA, from
certs.py make_pki; anything else is refused in the handshake), checks the
request against PR-REST (path /r1/<5 service parts>/<path>, X-Road-Client
exactly our identifier, X-Road-Id a UUID) and answers like one: the
provider's JSON, the provider's 404, or an X-Road fault (X-Road-Error:
Server.ServerProxy.ServiceFailed with a JSON type/message/detail body).

An agency's callback_url may name an X-Road service too
("xroad:SERVICE/path"): the callback is POSTed through the same security
server, with the webhook-id as X-Road-Issue.

Cases: a lookup reaches the citizen's screen; a fault takes on_error, is
logged with its code, service and X-Road-Id and counted under
status="xroad_fault"; every request has its own X-Road-Id; without our
client certificate, or trusting the wrong CA, the call fails cleanly and
takes on_error; a message's callback goes through the security server,
and a gateway without one refuses an xroad: callback_url with a 422.
"""
import json
import os
import re
import ssl
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import make_pki  # noqa: E402
from harness import (Api, Kyzmatd, Phone, Smsc, TMP, backend, case, cfg,  # noqa: E402
                     create_token, expect, menus_dir, run, smsc_entry, wait_until)

CLIENT = "KG/GOV/70000003/kyzmat"
SERVICE = "KG/GOV/70000001/tax-sub/getStatus"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
FAULT = "Server.ServerProxy.ServiceFailed"

MENU = """
nodes:
  - id: xr_number
    type: input
    text: { ky: "Номер:", ru: "Номер:", en: "Number:" }
    kind: digits
    min: 5
    max: 10
    var: app_no
    next: xr_lookup
  - id: xr_lookup
    type: status
    var: app_no
    xroad:
      service: %s
      path: "/status/{app_no}"
      issue: "{app_no}"
    timeout_ms: 3000
    save: { state: status, since: updated }
    next: status_route
    on_not_found: status_notfound
    on_locked: status_locked
    on_error: xr_down
  - id: xr_down
    type: end
    text: { ky: "Тундук жооп бербейт.", ru: "Тундук не отвечает.", en: "Tunduk is not answering." }
codes:
  "*500#": xr_number
""" % SERVICE

_pki = []


def pki():
    if not _pki:
        _pki.append(make_pki(os.path.join(TMP, "pki")))
    return _pki[0]


class SecurityServer:
    """The stand-in consumer security server (HTTPS, client certificate
    required).  requests: what reached it; problems: what broke PR-REST."""

    def __init__(self):
        p = pki()
        self.requests = []
        self.posts = []         # callbacks that came through (do_POST)
        self.problems = []
        self.refused = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                peer = self.connection.getpeercert() or {}
                cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
                r = {"path": self.path, "client": self.headers.get("X-Road-Client"),
                     "id": self.headers.get("X-Road-Id"),
                     "issue": self.headers.get("X-Road-Issue"), "cert": cn}
                outer.requests.append(r)
                m = re.match(r"^/r1/([^/]+/){4}[^/]+/status/(\d+)$", self.path)
                if not self.path.startswith("/r1/" + SERVICE + "/") or not m:
                    outer.problems.append("path %r" % self.path)
                if r["client"] != CLIENT:
                    outer.problems.append("X-Road-Client %r" % r["client"])
                if not UUID.match(r["id"] or ""):
                    outer.problems.append("X-Road-Id %r" % r["id"])
                number = m.group(2) if m else ""
                hdr = {"Content-Type": "application/json;charset=utf-8"}
                if outer.problems:
                    code, body = 400, b'{"type":"Client.BadRequest","message":"bad"}'
                    hdr["X-Road-Error"] = "Client.BadRequest"
                elif number == "5000000":
                    code = 500
                    hdr["X-Road-Error"] = FAULT
                    body = ('{"type":"%s","message":"Service is down","detail":"%s"}'
                            % (FAULT, r["id"])).encode()
                elif number.startswith("12345"):
                    code = 200
                    body = b'{"status": "ready", "updated": "2026-11-20T09:30:00Z"}'
                    hdr.update({"X-Road-Id": r["id"], "X-Road-Client": CLIENT,
                                "X-Road-Service": SERVICE})
                else:
                    code, body = 404, b'{"error": "no such application"}'
                self.send_response(code)
                for k, v in hdr.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                outer.posts.append({"path": self.path, "client": self.headers.get("X-Road-Client"),
                                    "id": self.headers.get("X-Road-Id"),
                                    "issue": self.headers.get("X-Road-Issue"),
                                    "webhook_id": self.headers.get("webhook-id"),
                                    "body": self.rfile.read(n)})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class S(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                try:
                    return ctx.wrap_socket(sock, server_side=True), addr
                except (ssl.SSLError, OSError):
                    outer.refused += 1
                    sock.close()
                    raise

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(p["server"], p["server_key"])
        ctx.load_verify_locations(p["ca"])
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.srv = S(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


def start(cert=True, ca="ca", admin=False):
    """A security server, kyzmat-smsc and kyzmatd whose menus have *500#
    (the xroad status lookup): (ss, smsc, kyzmatd, admin port or None)."""
    p = pki()
    ss = SecurityServer()
    s = Smsc()
    xr = ("xroad:\n  security_server: https://127.0.0.1:%d\n  client: %s\n  ca: %s\n"
          % (ss.port, CLIENT, p[ca]))
    if cert:
        xr += "  cert: %s\n  key: %s\n" % (p["client"], p["client_key"])
    text = (cfg(smsc_entry("sim", s.port, default_route="true")) + "menus: %s\n" % menus_dir(backend(), {"95-xroad.yaml": MENU})
            + xr + ('admin: {listen: "127.0.0.1:0"}\n' if admin else ""))
    g = Kyzmatd(text)
    g.wait_log(r"\[sim\] bound")
    g.wait_log(r"X-Road: back-end calls through https://127\.0\.0\.1:%d as %s" % (ss.port, CLIENT))
    port = None
    if admin:
        g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+")
        port = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    return ss, s, g, port


def lookup(ph, number):
    ph.dial("*500#")
    return ph.send(number)


@case
def a_status_lookup_through_the_security_server_reaches_the_screen():
    ss, s, g, _ = start()
    ph = Phone(s, "996555200001")
    ph.english()
    kind, t = lookup(ph, "1234567")
    expect(kind == "end" and "1234567" in t and "20.11.2026" in t and "Tunduk" not in t,
           "the agency's answer on the screen: %r" % t)
    expect(not ss.problems, "PR-REST broken: %r" % ss.problems)
    r = ss.requests[-1]
    expect(r["path"] == "/r1/%s/status/1234567" % SERVICE, "path: %r" % r)
    expect(r["client"] == CLIENT and UUID.match(r["id"]), "headers: %r" % r)
    expect(r["issue"] == "1234567", "X-Road-Issue: %r" % r)
    expect(r["cert"] == "client", "our client certificate (CN client): %r" % r)
    # the provider's 404 is "not found for this phone", as for a direct API
    kind, t = lookup(ph, "7777777")
    expect(kind == "end" and "No application 7777777 found" in t, "404: %r" % t)
    expect(g.alive(), "kyzmatd died")


@case
def an_xroad_fault_takes_on_error_and_is_logged_and_counted():
    ss, s, g, port = start(admin=True)
    ph = Phone(s, "996555200002")
    ph.english()
    kind, t = lookup(ph, "5000000")
    expect(kind == "end" and "Tunduk is not answering" in t, "on_error: %r" % t)
    xid = ss.requests[-1]["id"]
    g.wait_log(r"X-Road fault %s from %s \(X-Road-Id %s\): Service is down"
               % (re.escape(FAULT), re.escape(SERVICE), xid))
    lines = [ln for ln in g.log().splitlines() if xid in ln]
    expect(len(lines) == 1, "the fault logged once: %r" % lines)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    want = ('kyzmat_backend_requests_total{backend="xroad:%s",status="xroad_fault"} 1'
            % SERVICE)
    expect(want in text, "fault metric: %r" % [ln for ln in text.splitlines() if "xroad" in ln])
    expect(g.alive(), "kyzmatd died")


@case
def every_request_has_its_own_x_road_id():
    ss, s, g, _ = start()
    ph = Phone(s, "996555200003")
    ph.english()
    for n in ("1234567", "1234568", "1234567", "5000000", "1234569"):
        lookup(ph, n)
    ids = [r["id"] for r in ss.requests]
    expect(len(ids) == 5 and all(UUID.match(i) for i in ids), "ids: %r" % ids)
    expect(len(set(ids)) == len(ids), "an X-Road-Id was reused: %r" % ids)
    expect(not ss.problems, "PR-REST broken: %r" % ss.problems)


@case
def without_our_certificate_or_with_a_wrong_ca_the_call_fails_cleanly():
    for what, kw in (("no client certificate", {"cert": False}),
                     ("the wrong CA", {"ca": "other_ca"})):
        ss, s, g, _ = start(**kw)
        ph = Phone(s, "996555200004")
        ph.english()
        kind, t = lookup(ph, "1234567")
        expect(kind == "end" and "Tunduk is not answering" in t, "%s: %r" % (what, t))
        expect(not ss.requests, "%s: a request got through: %r" % (what, ss.requests))
        wait_until(lambda: ss.refused >= 1 or "certificate" in g.log(), 10,
                   "%s: a refused handshake" % what)
        g.wait_log(r"live status: error .*X-Road service %s, X-Road-Id [0-9a-f-]{36}"
                   % re.escape(SERVICE))
        expect(g.alive(), "kyzmatd died")
        g.stop()
        s.stop()


CB_SERVICE = "KG/GOV/70000001/tax-sub/smsStatus"


@case
def a_callback_goes_through_the_security_server():
    ss, s, g, _ = start()
    api = Api(g.http_port(), create_token(g))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": "x-road cb",
                                                "callback_url": "xroad:%s/cb?v=1" % CB_SERVICE})
    expect(code == 202, "POST: %r %r" % (code, r))
    mid = r["id"]
    wait_until(lambda: ss.posts, 30, "the callback at the security server")
    p = ss.posts[0]
    expect(p["path"] == "/r1/%s/cb?v=1" % CB_SERVICE and p["client"] == CLIENT
           and UUID.match(p["id"] or "") and p["issue"] == p["webhook_id"]
           and p["issue"].startswith("msg_%d_" % mid), "callback request: %r" % p)
    body = json.loads(p["body"])
    expect(body["id"] == mid and body["state"] == "delivered", "callback body: %r" % body)
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": "x",
                                                "callback_url": "xroad:KG/GOV/1/only-four"})
    expect(code == 400 and r.get("field") == "callback_url" and "parts" in r.get("error", ""),
           "a four-part service: %r %r" % (code, r))
    g.stop()


@case
def without_a_security_server_an_xroad_callback_is_refused():
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true")))
    g.wait_log(r"\[sim\] bound")
    api = Api(g.http_port(), create_token(g))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555123456", "text": "x",
                                                "callback_url": "xroad:%s/cb" % CB_SERVICE})
    expect(code == 422 and r.get("field") == "callback_url"
           and "xroad.security_server" in r.get("error", ""), "no security server: %r %r" % (code, r))
    g.stop()


if __name__ == "__main__":
    run()
