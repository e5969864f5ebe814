"""
tests/integration/test_tls_smpp.py — SMPP over TLS (issue 13): kyzmatd's
link to kyzmat-smsc listening with TLS (--tls-cert/--tls-key, and
--tls-client-ca for client certificates), with certificates made by
certs.py for each run.

  * a bind over TLS, then a USSD dialog and an SMS with its delivery
    receipt over that link;
  * a server certificate from another CA, one that does not name the host
    (or the tls.verify_name) the gateway asked for: refused, the reason logged, retried with
    back-off, never bound;
  * what goes over the loopback: a TCP relay of our own between kyzmatd and
    the simulator records every byte; over TLS neither the system_id, the
    password nor the SMS text appear in it, over plain TCP they do (so the
    check can fail);
  * a simulator that demands a client certificate: no bind without
    tls.cert/tls.key, a bind with them;
  * an unbind from the SMSC (a peer of Python's ssl module) is answered
    over TLS before the link closes;
  * a CA file that cannot be read: refused at start with its path.

Owns: its relay threads and sockets.  May call: harness (processes, the
simulator's control port, the API), certs (the PKI), the standard library.
"""
import os
import re
import socket
import ssl
import sys
import threading
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import make_pki  # noqa: E402
from harness import (Api, Kyzmatd, Phone, Smsc, TMP, backend, case, cfg, create_token,  # noqa: E402
                     expect, menus_dir, pdu, read_pdu, run, smsc_entry, wait_until)

PKI = make_pki(os.path.join(TMP, "pki"))


def tls_block(**kw):
    """The smsc entry's tls: mapping, enabled and trusting the test CA."""
    kv = {"enabled": "true", "ca": PKI["ca"]}
    kv.update(kw)
    return "{" + ", ".join("%s: %s" % (k, v) for k, v in kv.items()) + "}"


def tls_sim(*extra, cert="server"):
    """kyzmat-smsc listening with TLS, serving PKI[cert]."""
    return Smsc("--tls-cert", PKI[cert], "--tls-key", PKI[cert + "_key"], *extra)


def gateway_conf(port, menus=None, **link):
    text = cfg(smsc_entry("op", port, **link))
    return text + ("menus: %s\n" % menus if menus else "")


def stamps(g, pattern):
    """Wall-clock seconds of the kyzmatd log lines matching pattern."""
    out = []
    for line in g.log().splitlines():
        if re.search(pattern, line):
            t = datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            out.append(t.timestamp())
    return out


@case
def bind_ussd_dialog_and_sms_with_receipt_over_tls():
    s = tls_sim("--dlr-delay", "100")
    g = Kyzmatd(gateway_conf(s.port, menus_dir(backend()), tls=tls_block(),
                             default_route="true"))
    g.wait_log(r"\[op\] connected to 127\.0\.0\.1:%d over TLSv1\.[23]" % s.port, timeout=30)
    g.wait_log(r"\[op\] bound", timeout=30)
    expect(s.stats().get("binds") == 1, "simulator stats: %r" % s.stats())
    ph = Phone(s, "996555100001")
    kind, t = ph.dial("*100#")
    expect(kind == "continue" and "Тил / Язык / Language" in t, "language menu: %r" % t)
    kind, t = ph.send("3")
    expect(kind == "continue" and "Application status" in t, "English menu: %r" % t)
    ph.abort()
    api = Api(g.http_port(), create_token(g))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555100001", "text": "Over TLS: салам"})
    expect(code in (200, 201, 202) and "id" in r, "POST /v1/messages: %d %r" % (code, r))
    expect(ph.sms() == "Over TLS: салам", "the SMS the handset got")
    wait_until(lambda: api.state(r["id"]) == "delivered", 30, "the receipt over TLS")
    expect(s.stats().get("binds") == 1, "the link rebound: %r" % s.stats())
    expect(g.stop() == 0, "kyzmatd did not exit 0 on SIGTERM")


def refused_with_backoff(s, reason, **tls):
    """kyzmatd against s with tls.* overrides: at least three handshakes fail
    with reason, spaced by the 300 ms..1200 ms back-off; never bound."""
    g = Kyzmatd(gateway_conf(s.port, tls=tls_block(**tls), reconnect_min="300ms",
                             reconnect_max="1200ms"))
    pattern = (r"\[op\] disconnected: TLS handshake with 127\.0\.0\.1:%d failed: %s"
               % (s.port, re.escape(reason)))
    g.wait_log(pattern, timeout=30, count=3)
    t = stamps(g, pattern)
    gaps = [b - a for a, b in zip(t, t[1:])]
    # 300 ms then 600 ms, each +-20% jitter (plus a handshake's time)
    expect(gaps[0] >= 0.24 and gaps[1] >= 0.48 and gaps[1] > gaps[0],
           "back-off between attempts: %r" % gaps)
    g.wait_log(r"\[op\] reconnect scheduled", timeout=30, count=3)
    expect(not re.search(r"\[op\] (bound|connected)", g.log()), "a refused link bound")
    expect(s.stats().get("binds") == 0, "the simulator saw a bind: %r" % s.stats())
    expect(g.alive(), "kyzmatd died")
    g.stop()


@case
def certificate_of_another_ca_is_refused_and_retried():
    refused_with_backoff(tls_sim(cert="rogue"),
                         "certificate verify failed: unable to get local issuer certificate")


@case
def certificate_for_another_name_is_refused_and_retried():
    # signed by the right CA, but for elsewhere.test only: the gateway
    # dials 127.0.0.1, which the certificate does not name
    refused_with_backoff(tls_sim(cert="wrong_name"), "certificate verify failed: IP address mismatch")
    refused_with_backoff(tls_sim(cert="wrong_name"), "certificate verify failed: hostname mismatch",
                         verify_name="smsc.test")


@case
def verify_name_other_than_the_certificates_is_refused():
    refused_with_backoff(tls_sim(), "certificate verify failed: hostname mismatch",
                         verify_name="other.test")


class Relay:
    """A TCP relay on 127.0.0.1 to the simulator that keeps every byte that
    passes, both ways (what a capture on the loopback would see)."""

    def __init__(self, to_port):
        self.to_port = to_port
        self.seen = bytearray()
        self.lock = threading.Lock()
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(8)
        self.port = self.lst.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lst.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.to_port))
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    def _pipe(self, src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            with self.lock:
                self.seen += data
            dst.sendall(data)

    def bytes(self):
        with self.lock:
            return bytes(self.seen)

    def close(self):
        self.lst.close()


def through_relay(tls):
    """Bind through a relay with system_id/password of our own and send one
    SMS; returns (what the relay saw, the secrets)."""
    secrets = {"system_id": b"tlsuser7", "password": b"pw7sEcr", "text": b"Secret-SMS-4711"}
    args = ("--system-id", "tlsuser7", "--password", "pw7sEcr")
    s = tls_sim(*args) if tls else Smsc(*args)
    relay = Relay(s.port)
    link = {"tls": tls_block()} if tls else {}
    g = Kyzmatd(gateway_conf(relay.port, system_id="tlsuser7", password="pw7sEcr",
                             default_route="true", **link))
    g.wait_log(r"\[op\] bound", timeout=30)
    ph = Phone(s, "996555100002")
    api = Api(g.http_port(), create_token(g))
    code, r = api.call("POST", "/v1/messages", {"to": "+996555100002", "text": "Secret-SMS-4711"})
    expect(code in (200, 201, 202), "POST /v1/messages: %d %r" % (code, r))
    expect(ph.sms() == "Secret-SMS-4711", "the SMS did not arrive")
    wait_until(lambda: api.state(r["id"]) == "delivered", 30, "the receipt")
    g.stop()
    relay.close()
    return relay.bytes(), secrets


@case
def loopback_capture_shows_no_plaintext_pdu():
    seen, secrets = through_relay(tls=True)
    expect(len(seen) > 500, "the relay saw only %d bytes" % len(seen))
    expect(seen[0] == 0x16 and seen[1] == 0x03, "not a TLS record first: %r" % seen[:8])
    for what, b in secrets.items():
        expect(b not in seen, "the %s went over the wire in clear" % what)
    # the same relay without TLS sees all three: the check above can fail
    plain, secrets = through_relay(tls=False)
    for what, b in secrets.items():
        expect(b in plain, "plain TCP: the %s not seen by the relay" % what)


@case
def client_certificate_demanded_by_the_smsc():
    s = tls_sim("--tls-client-ca", PKI["ca"])
    g = Kyzmatd(gateway_conf(s.port, tls=tls_block(), reconnect_min="300ms",
                             reconnect_max="600ms"), name="nocert")
    g.wait_log(r"\[op\] disconnected: TLS .*certificate required", timeout=30, count=2)
    expect(not re.search(r"\[op\] bound", g.log()), "bound without a client certificate")
    expect(s.stats().get("binds") == 0, "the simulator took a bind: %r" % s.stats())
    g.stop()
    g = Kyzmatd(gateway_conf(s.port, tls=tls_block(cert=PKI["client"], key=PKI["client_key"])),
                name="withcert")
    g.wait_log(r"\[op\] bound", timeout=30)
    wait_until(lambda: s.stats().get("binds") == 1, 5, "the simulator to count the bind")
    expect(g.stop() == 0, "kyzmatd did not exit 0 on SIGTERM")


class PySmsc:
    """An SMSC of Python's own ssl module and a few raw PDUs: accepts one
    TLS connection, answers the bind, then unbinds the gateway and keeps
    what came back (the unbind_resp must not be lost when kyzmatd closes
    the TLS link right after writing it)."""

    def __init__(self):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(PKI["server"], PKI["server_key"])
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(4)
        self.port = self.lst.getsockname()[1]
        self.got = []
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        raw, _ = self.lst.accept()
        raw.settimeout(10)
        try:
            with self.ctx.wrap_socket(raw, server_side=True) as c:
                cmd, _, seq, _ = read_pdu(c)
                self.got.append(cmd)
                c.sendall(pdu(0x80000009, seq, b"pysmsc\0"))
                c.sendall(pdu(0x00000006, 77))
                while True:
                    p = read_pdu(c)
                    if p is None:
                        break
                    self.got.append(p[0])
                    if p[0] == 0x80000006:
                        break
        except (OSError, ssl.SSLError) as e:
            self.got.append(repr(e))
        self.done.set()


@case
def unbind_from_the_smsc_gets_its_answer_over_tls():
    peer = PySmsc()
    g = Kyzmatd(gateway_conf(peer.port, tls=tls_block(), reconnect_min="5s"))
    g.wait_log(r"\[op\] unbound by the SMSC", timeout=30)
    expect(peer.done.wait(10), "the peer saw no end")
    expect(peer.got[0] == 0x00000009, "not a bind_transceiver first: %r" % peer.got)
    expect(peer.got[-1] == 0x80000006, "no unbind_resp came over TLS: %r" % peer.got)
    g.stop()


@case
def unreadable_tls_files_are_refused_at_start_with_the_path():
    missing = os.path.join(TMP, "no-such-ca.pem")
    g = Kyzmatd(gateway_conf(9, tls=tls_block(ca=missing)), name="badca")
    wait_until(lambda: not g.alive(), 10, "kyzmatd to refuse the config")
    expect(re.search(r"badca\.yaml:\d+:\d+: smsc\[1\]\.tls\.ca: cannot read %s: No such file"
                     % re.escape(missing), g.log()), "the error: %s" % g.log()[-600:])
    expect(g.proc.returncode != 0, "kyzmatd exited 0 on a bad config")


if __name__ == "__main__":
    run()
