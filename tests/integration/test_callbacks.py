"""
tests/integration/test_callbacks.py — a message's callback_url through
kyzmatd (issue 14 item 9): the callback reaches a receiver on loopback only
because the config's callbacks.allow names it; it is signed in the Standard
Webhooks form with the agency's secret from POST /v1/webhook-secret, and the
signature is checked here with Python's own hmac module (so our HMAC, base64
and header layout are judged by someone else's code); after a rotation both
the new and the old key sign.  Without the allow-list a loopback URL is
refused with a 422 naming callback_url, and a host name that resolves to
loopback is accepted but never called (refused when connecting).

Owns: the processes and the receiver it starts (harness, http.server).
May call: harness, the Python standard library.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Api, Kyzmatd, Smsc, case, cfg, create_token, expect, run,  # noqa: E402
                     smsc_entry, wait_until)


class Receiver:
    """An HTTP receiver on 127.0.0.1 recording every POST (headers, body)."""

    def __init__(self):
        got = self.got = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def start(extra_cfg=""):
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, default_route="true")) + extra_cfg)
    g.wait_log(r"\[sim\] bound")
    return s, g, Api(g.http_port(), create_token(g))


def verify(secret, headers, body):
    """The keys (by index in the signature list) Python's hmac accepts."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = "%s.%s.%s" % (headers["webhook-id"], headers["webhook-timestamp"], body.decode())
    want = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()).decode()
    sigs = headers.get("webhook-signature", "").split(" ")
    return [i for i, s in enumerate(sigs) if s.startswith("v1,") and hmac.compare_digest(s[3:], want)]


def post_with_callback(api, url, to="+996555123456"):
    code, r = api.call("POST", "/v1/messages", {"to": to, "text": "cb", "callback_url": url})
    expect(code == 202, "POST: %r %r" % (code, r))
    return r["id"]


@case
def callbacks_are_signed_the_standard_webhooks_way_and_verify_with_python_hmac():
    rx = Receiver()
    try:
        s, g, api = start("callbacks: {allow: [127.0.0.1]}\n")
        code, r = api.call("POST", "/v1/webhook-secret")
        expect(code == 201 and r["secret"].startswith("whsec_") and r["previous_valid_until"] is None,
               "secret: %r %r" % (code, r))
        secret = r["secret"]
        expect(len(base64.b64decode(secret[6:])) == 32, "32 random bytes: %r" % secret)
        mid = post_with_callback(api, "http://127.0.0.1:%d/cb" % rx.port)
        wait_until(lambda: rx.got, 15, "the callback")
        h, body = rx.got[0]
        doc = json.loads(body)
        expect(doc["id"] == mid and doc["state"] == "delivered", "body: %r" % body)
        expect(h["webhook-id"] == "msg_%d_delivered" % mid, "webhook-id: %r" % h)
        expect(abs(int(h["webhook-timestamp"]) - time.time()) < 300, "timestamp: %r" % h)
        expect(verify(secret, h, body) == [0], "signature %r does not verify" % h.get("webhook-signature"))
        # a wrong key does not verify (the check is not vacuous)
        other = "whsec_" + base64.b64encode(b"x" * 32).decode()
        expect(verify(other, h, body) == [], "a wrong key verified")

        # rotation: the new key signs first, the old one too for a while
        code, r2 = api.call("POST", "/v1/webhook-secret")
        expect(code == 201 and r2["secret"] != secret and r2["previous_valid_until"] > time.time() * 1000,
               "rotate: %r %r" % (code, r2))
        mid2 = post_with_callback(api, "http://127.0.0.1:%d/cb" % rx.port)
        wait_until(lambda: len(rx.got) >= 2, 15, "the second callback")
        h2, body2 = rx.got[1]
        expect(json.loads(body2)["id"] == mid2, "second body: %r" % body2)
        expect(verify(r2["secret"], h2, body2) == [0] and verify(secret, h2, body2) == [1],
               "rotated signatures: %r" % h2.get("webhook-signature"))
        log = g.log()
        expect("webhook signing secret created" in log and "webhook signing secret rotated" in log,
               "the rotations are logged")
        expect(secret[6:] not in log and r2["secret"][6:] not in log, "a secret in the log")
    finally:
        rx.close()


@case
def without_the_allow_list_loopback_callbacks_are_refused_and_never_called():
    rx = Receiver()
    try:
        s, g, api = start()
        for url in ("http://127.0.0.1:%d/cb" % rx.port, "http://localhost:%d/cb" % rx.port,
                    "http://169.254.169.254/latest/meta-data/", "http://[::1]:%d/" % rx.port,
                    "http://2130706433:%d/" % rx.port):
            code, r = api.call("POST", "/v1/messages",
                               {"to": "+996555123456", "text": "x", "callback_url": url})
            expect(code == 422 and r.get("field") == "callback_url", "%s: %r %r" % (url, code, r))
        # a name that is not "localhost" but resolves to loopback (this
        # machine's own name, from /etc/hosts): accepted, then refused at
        # connect time, so the receiver never hears of it
        name = socket.gethostname()
        try:
            addr = socket.gethostbyname(name)
        except OSError:
            addr = ""
        if not addr.startswith("127."):
            print("# %s does not resolve to loopback (%r): connect-time case skipped" % (name, addr))
            return
        mid = post_with_callback(api, "http://%s:%d/cb" % (name, rx.port))
        wait_until(lambda: api.state(mid) == "delivered", 10, "the message to be delivered")
        g.wait_log(r"callback \{\"id\":%d,.*gave up after 3 tries: connect_failed" % mid, timeout=20)
        expect(rx.got == [], "the receiver was called: %r" % rx.got)
    finally:
        rx.close()


if __name__ == "__main__":
    run()
