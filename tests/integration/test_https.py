"""
tests/integration/test_https.py — HTTPS for the agencies' API and the
admin listener (issue 13, branch tls-http), with certificates from
certs.make_pki and Python's ssl module as the client:
  - POST /v1/messages over HTTPS with a client certificate is accepted and
    the SMS reaches the simulator;
  - without a client certificate, with one from a rogue CA, and with plain
    HTTP on the HTTPS port there is no HTTP answer; each failed handshake
    is logged once per peer with its reason and counted in
    kyzmat_http_tls_handshake_failures_total, read from /metrics on the
    admin listener, itself over HTTPS;
  - a plain listen on a non-loopback address is refused by `kyzmatd
    --check` and at start with a message naming the fix;
  - SIGHUP reads the certificate again: new connections see the new one
    (fingerprints compared), and a broken file keeps the old one and the
    log says why;
  - X-Road mode (http.xroad): with the security server's certificate and
    the X-Road-Client of a configured member a request is accepted as that
    agency without a token; the same header over a connection with another
    client certificate is ignored (401 without a token); an unknown member
    gets 403.

Owns: the processes it starts (harness), its PKI folders.
May call: harness, certs, the Python standard library (ssl, http.client).
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import make_pki  # noqa: E402
from harness import (BIN, TMP, WRAP, Kyzmatd, Smsc, case, cfg, create_token,  # noqa: E402
                     expect, run, smsc_entry, wait_until)

# Under valgrind (VALGRIND=1) every step is tens of times slower.
T = 10.0 * (10 if WRAP else 1)

_pki = {}


def pki(name="main"):
    """A PKI of its own per name (made once per run)."""
    if name not in _pki:
        _pki[name] = make_pki(os.path.join(TMP, "pki-" + name))
    return _pki[name]


def client_ctx(p, cert=None, verify=True):
    """A client context trusting p's CA (or nothing checked), presenting
    p[cert] when given ("client", "ss_client", "rogue")."""
    if verify:
        c = ssl.create_default_context(cafile=p["ca"])
    else:
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
    if cert:
        c.load_cert_chain(p[cert], p[cert + "_key"])
    return c


def https(port, method, path, ctx, body=None, headers=None, source="127.0.0.1"):
    """(status, JSON or text) of one request over HTTPS from source."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=T,
                                       source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = dict(headers or {})
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        try:
            return r.status, json.loads(text or b"{}")
        except ValueError:
            return r.status, text.decode("utf-8", "replace")
    finally:
        conn.close()


def refused(port, ctx, source):
    """True when a request over TLS with ctx from source gets no HTTP
    answer (the handshake, or with TLS 1.3 the first read, fails)."""
    try:
        code, _ = https(port, "GET", "/v1/health", ctx, source=source)
        return False
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
        return True


def fingerprint(port, source="127.0.0.1"):
    """SHA-256 of the certificate the server presents now (not verified)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=T,
                                   source_address=(source, 0))
    with client_ctx(pki(), "client", verify=False).wrap_socket(raw) as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(pem):
    der = ssl.PEM_cert_to_DER_cert(open(pem).read())
    return hashlib.sha256(der).hexdigest()


def tls_block(p, client_ca=True, cert=None, key=None):
    return "  tls: {cert: %s, key: %s%s}\n" % (
        cert or p["server"], key or p["server_key"],
        ", client_ca: %s" % p["ca"] if client_ca else "")


def https_gateway(smsc, http_tls, admin=True, http_extra="", extra="", name="kyzmatd"):
    """kyzmatd bound to smsc with the API over HTTPS (and the admin
    listener over HTTPS without client certificates); (gateway, api port,
    admin port)."""
    p = pki()
    text = (cfg(smsc_entry("sim", smsc.port, default_route="true"))
            + 'http:\n  listen: "127.0.0.1:0"\n' + http_tls + http_extra)
    if admin:
        text += 'admin:\n  listen: "127.0.0.1:0"\n' + tls_block(p, client_ca=False)
    g = Kyzmatd(text + extra, name=name)
    g.wait_log(r"\[sim\] bound", timeout=T)
    port = g.http_port()
    aport = None
    if admin:
        g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+", timeout=T)
        aport = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)",
                              g.log()).group(1))
    return g, port, aport


def series(text, name, listener):
    """The value of name{listener="..."} in a scrape, or None."""
    m = re.search(r'^%s\{listener="%s"\} (\S+)$' % (name, listener), text, re.M)
    return float(m.group(1)) if m else None


def scrape(aport):
    code, text = https(aport, "GET", "/metrics", client_ctx(pki()))
    expect(code == 200, "/metrics over HTTPS: %d %r" % (code, text))
    return text


@case
def https_post_with_client_certificate_reaches_the_simulator():
    p = pki()
    s = Smsc()
    g, port, aport = https_gateway(s, tls_block(p), admin=False)
    g.wait_log(r"\[api\] HTTPS only \(certificate .*client certificates required\)", timeout=T)
    tok = create_token(g, "tax")
    code, r = https(port, "POST", "/v1/messages", client_ctx(p, "client"),
                    {"to": "996555123456", "text": "over TLS"},
                    {"Authorization": "Bearer " + tok})
    expect(code == 202, "POST over HTTPS: %d %r" % (code, r))
    wait_until(lambda: s.stats().get("submits", 0) >= 1, T, "the SMS at the simulator")
    code, r = https(port, "GET", "/v1/messages/%d" % r["id"], client_ctx(p, "client"),
                    headers={"Authorization": "Bearer " + tok})
    expect(code == 200, "GET over HTTPS: %d %r" % (code, r))


@case
def handshakes_without_a_good_certificate_are_refused_logged_and_counted():
    p = pki()
    s = Smsc()
    g, port, aport = https_gateway(s, tls_block(p), http_extra="  head_timeout: 1s\n")
    before = series(scrape(aport), "kyzmat_http_tls_handshake_failures_total",
                    listener="api")
    expect(before == 0, "failures before: %r" % before)
    # no client certificate, from 127.0.0.2
    expect(refused(port, client_ctx(p), "127.0.0.2"), "no client certificate: answered")
    # a client certificate from a rogue CA, from 127.0.0.3
    expect(refused(port, client_ctx(p, "rogue"), "127.0.0.3"), "rogue certificate: answered")
    # plain HTTP on the HTTPS port, from 127.0.0.4
    raw = socket.create_connection(("127.0.0.1", port), timeout=T,
                                   source_address=("127.0.0.4", 0))
    raw.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    try:
        while True:
            b = raw.recv(4096)
            if not b:
                break
            got += b
    except OSError:
        pass
    raw.close()
    expect(b"HTTP/1." not in got and b"ok" not in got, "plain HTTP answered: %r" % got[:200])
    g.wait_log(r"\[api\] 127\.0\.0\.2: TLS handshake failed: peer did not return a "
               r"certificate", timeout=T)
    g.wait_log(r"\[api\] 127\.0\.0\.3: TLS handshake failed: certificate verify failed", timeout=T)
    g.wait_log(r"\[api\] 127\.0\.0\.4: TLS handshake failed: http request", timeout=T)
    # the same peer again: counted, not logged again
    expect(refused(port, client_ctx(p), "127.0.0.2"), "no client certificate again: answered")
    wait_until(lambda: series(scrape(aport), "kyzmat_http_tls_handshake_failures_total",
                              listener="api") == 4, T, "4 failures counted")
    expect(len(re.findall(r"127\.0\.0\.2: TLS handshake failed", g.log())) == 1,
           "one line per peer:\n" + g.log()[-2000:])
    g.wait_log(r"1 more failed TLS handshakes or refused plain connections not logged", timeout=T)
    # a handshake that stalls half-way is closed at the head deadline (1 s)
    raw = socket.create_connection(("127.0.0.1", port), timeout=T,
                                   source_address=("127.0.0.6", 0))
    raw.sendall(b"\x16\x03\x01\x02\x00")     # a ClientHello's record header only
    expect(raw.recv(100) == b"", "stalled handshake: the server sent something")
    raw.close()
    g.wait_log(r"\[api\] 127\.0\.0\.6: TLS handshake failed: no TLS handshake within "
               r"the head deadline", timeout=T)
    wait_until(lambda: series(scrape(aport), "kyzmat_http_tls_handshake_failures_total",
                              listener="api") == 5, T, "5 failures counted")
    # the good client still gets in, and the admin listener counts its own
    tok = create_token(g, "tax")
    code, r = https(port, "GET", "/v1/health", client_ctx(p, "client"),
                    headers={"Authorization": "Bearer " + tok})
    expect(code == 200, "health with a good certificate: %d %r" % (code, r))
    text = scrape(aport)
    expect(series(text, "kyzmat_http_tls_handshake_failures_total", listener="admin") == 0,
           "admin failures: %r" % series(text, "kyzmat_http_tls_handshake_failures_total",
                                         listener="admin"))
    expect(series(text, "kyzmat_http_plain_refused_total", listener="api") == 0,
           "plain refused on an HTTPS listener")
    expect(g.alive(), "kyzmatd died")


@case
def plain_listen_on_a_non_loopback_address_is_refused():
    path = os.path.join(TMP, "plain.yaml")
    for text, key in (('http: {listen: "0.0.0.0:0"}\n', "http"),
                      ('admin: {listen: "[::]:0"}\n', "admin")):
        with open(path, "w") as f:
            f.write(text + "database: {path: %s}\n" % os.path.join(TMP, "plain.db"))
        r = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", path, "--check"],
                           capture_output=True, text=True, timeout=60)
        want = ("%s.listen .*: plain HTTP is allowed on a loopback address only "
                "\\(127\\.0\\.0\\.1, ::1\\); set %s\\.tls\\.cert and %s\\.tls\\.key for "
                "HTTPS, or %s\\.insecure_plain: true" % (key, key, key, key))
        expect(r.returncode != 0 and re.search(want, r.stderr + r.stdout),
               "--check: %d %r %r" % (r.returncode, r.stdout, r.stderr))
        r = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", path],
                           capture_output=True, text=True, timeout=60)
        expect(r.returncode != 0 and re.search(want, r.stderr + r.stdout),
               "start: %d %r" % (r.returncode, r.stderr))
    # the explicit opt-out starts, with a warning
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port)) +
                'http: {listen: "127.0.0.1:0", insecure_plain: true}\n')
    g.wait_log(r"\[api\] plain HTTP from any peer \(http\.insecure_plain\)", timeout=T)


@case
def admin_metrics_over_https_with_client_certificates():
    p = pki()
    s = Smsc()
    text = (cfg(smsc_entry("sim", s.port)) +
            'admin:\n  listen: "127.0.0.1:0"\n' + tls_block(p))
    g = Kyzmatd(text)
    g.wait_log(r"\[admin\] HTTPS only .*client certificates required", timeout=T)
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+", timeout=T)
    aport = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)",
                          g.log()).group(1))
    code, body = https(aport, "GET", "/metrics", client_ctx(p, "client"))
    expect(code == 200 and "kyzmat_http_tls_handshake_failures_total" in body,
           "/metrics: %d %r" % (code, str(body)[:300]))
    expect(refused(aport, client_ctx(p), "127.0.0.5"), "admin without a certificate: answered")
    g.wait_log(r"\[admin\] 127\.0\.0\.5: TLS handshake failed", timeout=T)
    code, body = https(aport, "GET", "/metrics", client_ctx(p, "client"))
    expect(series(body, "kyzmat_http_tls_handshake_failures_total", listener="admin") == 1,
           "admin failure not counted")


@case
def console_cookie_is_secure_over_https():
    """The console on an HTTPS admin listener: its session cookie carries
    Secure, so a browser never sends it over plain HTTP (issue 10 + 13)."""
    p = pki()
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port)) +
                'admin:\n  listen: "127.0.0.1:0"\n' + tls_block(p, client_ca=False))
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+", timeout=T)
    aport = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)",
                          g.log()).group(1))
    pw = "correct horse battery"
    r = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", g.cfg, "--create-admin", "aida"],
                       input=pw + "\n", capture_output=True, text=True, timeout=60)
    expect(r.returncode == 0, "create-admin: %r %r" % (r.stdout, r.stderr))
    conn = http.client.HTTPSConnection("127.0.0.1", aport, context=client_ctx(p), timeout=T)
    try:
        conn.request("POST", "/console/login", body=json.dumps({"name": "aida", "password": pw}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        cookie = resp.getheader("Set-Cookie") or ""
    finally:
        conn.close()
    expect(resp.status == 200 and "Secure" in cookie and "HttpOnly" in cookie,
           "HTTPS console login: %d %r" % (resp.status, cookie))


@case
def sighup_reloads_the_certificate_and_a_broken_one_keeps_the_old():
    p, q = pki(), pki("second")
    d = os.path.join(TMP, "live-certs")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "api.pem"), os.path.join(d, "api.key")
    shutil.copy(p["server"], cert)
    shutil.copy(p["server_key"], key)
    s = Smsc()
    g, port, _ = https_gateway(s, tls_block(p, client_ca=False, cert=cert, key=key),
                               admin=False)
    first = fingerprint(port)
    expect(first == file_fingerprint(p["server"]), "served certificate is not the file's")
    # an open connection keeps working across the reload
    keep = http.client.HTTPSConnection("127.0.0.1", port, context=client_ctx(p), timeout=T)
    keep.request("GET", "/v1/health")
    r = keep.getresponse()
    r.read()
    expect(r.status == 200, "health before: %d" % r.status)
    shutil.copy(q["server"], cert)
    shutil.copy(q["server_key"], key)
    g.signal(signal.SIGHUP)
    g.wait_log(r"\[api\] TLS certificate reloaded from .*api\.pem", timeout=T)
    second = fingerprint(port)
    expect(second == file_fingerprint(q["server"]) and second != first,
           "after SIGHUP: %s (want %s)" % (second, file_fingerprint(q["server"])))
    keep.request("GET", "/v1/health")
    r = keep.getresponse()
    r.read()
    expect(r.status == 200, "the open connection after the reload: %d" % r.status)
    keep.close()
    # a broken file: refused, logged, the second certificate stays
    with open(cert, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    g.signal(signal.SIGHUP)
    g.wait_log(r"\[api\] TLS reload refused: cannot read certificate .*api\.pem.*; new "
               r"connections keep the previous certificate", timeout=T)
    expect(fingerprint(port) == second, "a broken file replaced the certificate")
    expect(g.alive(), "kyzmatd died on a broken certificate")


def xroad_gateway(ss_cert):
    p = pki()
    s = Smsc()
    xroad = ('  xroad:\n    security_server_cert: "%s"\n    members:\n'
             '      KG/GOV/70000001/tax-sms: tax messages\n'
             '      "KG/GOV/70000002/cec": cec\n' % ss_cert)
    g, port, _ = https_gateway(s, tls_block(p), admin=False, http_extra=xroad)
    g.wait_log(r"\[api\] X-Road service: 2 members", timeout=T)
    return s, g, port


@case
def xroad_client_header_is_trusted_from_the_security_server_only():
    p = pki()
    s, g, port = xroad_gateway(p["ss_client"])
    tok = create_token(g, "tax")
    ss, ordinary = client_ctx(p, "ss_client"), client_ctx(p, "client")
    xc = {"X-Road-Client": "KG/GOV/70000001/tax-sms"}
    # the security server's connection: the header names the agency, no token
    code, r = https(port, "POST", "/v1/messages", ss, {"to": "996555700001", "text": "via X-Road"},
                    xc)
    expect(code == 202, "X-Road POST: %d %r" % (code, r))
    wait_until(lambda: s.stats().get("submits", 0) >= 1, T, "the SMS at the simulator")
    # it was stored as agency "tax": tax's own token reads it
    code, m = https(port, "GET", "/v1/messages/%d" % r["id"], ordinary,
                    headers={"Authorization": "Bearer " + tok})
    expect(code == 200, "tax reads the X-Road message: %d %r" % (code, m))
    # the same header over an ordinary client certificate: ignored
    code, r = https(port, "POST", "/v1/messages", ordinary,
                    {"to": "996555700002", "text": "forged"}, xc)
    expect(code == 401 and r.get("error") == "missing bearer token",
           "X-Road-Client from an agency's connection: %d %r" % (code, r))
    # an unknown member from the security server: 403 saying so
    code, r = https(port, "POST", "/v1/messages", ss, {"to": "996555700003", "text": "x"},
                    {"X-Road-Client": "KG/GOV/99999999/other"})
    expect(code == 403 and "is not a member this gateway serves" in r.get("error", ""),
           "unknown member: %d %r" % (code, r))
    # a member's scopes hold as a token's would
    code, r = https(port, "POST", "/v1/offices", ss, {"code": "bishkek-1", "name": "B"}, xc)
    expect(code == 403 and r.get("error") == 'X-Road member lacks the "offices" scope',
           "scope: %d %r" % (code, r))
    # without the header the security server's connection needs a token too
    code, r = https(port, "POST", "/v1/messages", ss, {"to": "996555700004", "text": "x"})
    expect(code == 401, "security server without X-Road-Client: %d %r" % (code, r))
    expect(s.stats().get("submits", 0) == 1, "only the X-Road message was sent")


@case
def xroad_security_server_named_by_its_fingerprint():
    p = pki()
    fp = file_fingerprint(p["ss_client"]).upper()
    s, g, port = xroad_gateway(":".join(fp[i:i + 2] for i in range(0, 64, 2)))
    code, r = https(port, "POST", "/v1/messages", client_ctx(p, "ss_client"),
                    {"to": "996555700005", "text": "by fingerprint"},
                    {"X-Road-Client": "KG/GOV/70000002/cec"})
    expect(code == 202, "X-Road by fingerprint: %d %r" % (code, r))
    code, r = https(port, "POST", "/v1/messages", client_ctx(p, "client"),
                    {"to": "996555700006", "text": "x"},
                    {"X-Road-Client": "KG/GOV/70000002/cec"})
    expect(code == 401, "other certificate: %d %r" % (code, r))


if __name__ == "__main__":
    run()
