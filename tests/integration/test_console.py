"""
tests/integration/test_console.py — the operators' console (issue 10,
gateway/console): kyzmatd --create-admin makes the first account (and
refuses a taken or bad name and a short password); a login sets an
HttpOnly, SameSite=Strict session cookie; without a session pages redirect
to the login form and /console/api/* answers 401 while /metrics and
/healthz stay open; a change without the CSRF token is refused (403) and
passes with it; wrong passwords are answered 401 and, after five, 429 with
Retry-After; a viewer may not manage accounts (403); an admin creates,
re-roles and disables accounts (the last admin cannot be disabled, a
disabled account's session ends); the audit log shows the logins, the
failures and the account changes, filtered, and its CSV export parses
with Python's csv module with a formula-looking name neutralised;
--create-token leaves an audit row; static files refuse path traversal.

Owns: the processes it starts (harness).
May call: harness, the Python standard library (urllib with a cookie
jar, http.client for raw paths, csv, sqlite3 to read the audit table).
"""
import csv
import http.client
import http.cookiejar
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Kyzmatd, case, cfg, expect, free_port, run,  # noqa: E402
                     smsc_entry)

PASSWORD = "correct horse battery"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


class Browser:
    """One user agent: a cookie jar, no automatic redirects."""

    def __init__(self, port):
        self.port = port
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  NoRedirect())
        self.csrf = None

    def call(self, method, path, body=None, csrf=True, form=None, headers=None):
        """(status, headers, body bytes)."""
        h = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     headers=h, method=method)
        try:
            with self.opener.open(req, timeout=20) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None, **kw):
        code, _, b = self.call(method, path, body, **kw)
        try:
            return code, json.loads(b or b"{}")
        except ValueError:
            return code, {"raw": b.decode(errors="replace")}

    def login(self, name, password):
        code, headers, b = self.call("POST", "/console/login", {"name": name, "password": password})
        if code == 200:
            self.csrf = json.loads(b)["csrf"]
        return code, headers, b


def start():
    """kyzmatd with the admin listener (its link points at a closed port:
    the console needs none); (gateway, admin port)."""
    g = Kyzmatd(cfg(smsc_entry("sim", free_port())) + 'admin: {listen: "127.0.0.1:0"}\n')
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+")
    port = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    return g, port


def kyzmatd_cli(g, *args, stdin=""):
    return subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", g.cfg] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=60)


def create_admin(g, name="aida", password=PASSWORD):
    r = kyzmatd_cli(g, "--create-admin", name, stdin=password + "\n")
    expect(r.returncode == 0 and 'created admin account "%s"' % name in r.stdout,
           "create-admin: %d %r %r" % (r.returncode, r.stdout, r.stderr))


def db_path(g):
    return re.search(r"database: \{path: (\S+)\}", open(g.cfg).read()).group(1)


def audit_rows(g, action=None):
    con = sqlite3.connect("file:%s?mode=ro" % db_path(g), uri=True)
    try:
        q = "SELECT actor, peer, action, target, detail FROM audit"
        rows = con.execute(q + (" WHERE action = ?" if action else "") + " ORDER BY id",
                           (action,) if action else ()).fetchall()
    finally:
        con.close()
    return rows


@case
def create_admin_from_the_command_line():
    g, _ = start()
    create_admin(g)
    r = kyzmatd_cli(g, "--create-admin", "aida", stdin=PASSWORD + "\n")
    expect(r.returncode == 1 and "exists already" in r.stderr, "taken name: %r" % r.stderr)
    r = kyzmatd_cli(g, "--create-admin", "Bad Name", stdin=PASSWORD + "\n")
    expect(r.returncode == 1 and "bad account name" in r.stderr, "bad name: %r" % r.stderr)
    r = kyzmatd_cli(g, "--create-admin", "bek", stdin="short\n")
    expect(r.returncode == 1 and "too short" in r.stderr, "short password: %r" % r.stderr)
    r = kyzmatd_cli(g, "--create-admin", "root", "--random-password")
    m = re.search(r'created admin account "root" with password (\S+)', r.stdout)
    expect(r.returncode == 0 and m and len(m.group(1)) >= 10, "random: %r" % r.stdout)
    r = kyzmatd_cli(g, "--random-password")
    expect(r.returncode == 2 and "--create-admin" in r.stderr, "lone flag: %r" % r.stderr)
    # the random password logs in
    _, port = start_console_port(g)
    b = Browser(port)
    code, _, body = b.login("root", m.group(1))
    expect(code == 200, "random password login: %d %r" % (code, body))
    # --create-token is audited too (never the token)
    tok = kyzmatd_cli(g, "--create-token", "tax")
    expect(tok.returncode == 0, "token: %r" % tok.stderr)
    rows = audit_rows(g, "token.create")
    expect(len(rows) == 1 and rows[0][0] == "cli" and rows[0][3] == "tax"
           and tok.stdout.strip() not in rows[0][4], "token audit: %r" % rows)
    rows = audit_rows(g, "account.create")
    expect([r[3] for r in rows] == ["aida", "root"] and all(r[0] == "cli" for r in rows),
           "create audit: %r" % rows)


def start_console_port(g):
    port = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    return g, port


@case
def login_session_cookie_and_logout():
    g, port = start()
    create_admin(g)
    anon = Browser(port)
    code, h, _ = anon.call("GET", "/console/")
    expect(code == 303 and h["Location"] == "/console/login", "page without session: %d %s"
           % (code, h.get("Location")))
    code, _ = anon.json("GET", "/console/api/me")
    expect(code == 401, "api without session: %d" % code)
    code, h, body = anon.call("GET", "/console/login")
    expect(code == 200 and h["Content-Type"] == "text/html; charset=utf-8" and b"<form" in body,
           "login page: %d %s" % (code, h["Content-Type"]))
    code, h, _ = anon.call("GET", "/console/static/console.css")
    expect(code == 200 and h["Content-Type"] == "text/css; charset=utf-8", "css: %d" % code)
    code, h, _ = anon.call("GET", "/console/static/console.js")
    expect(code == 303 and h["Location"] == "/console/login", "script without session: %d" % code)
    for path in ("/metrics", "/healthz"):
        code, _, _ = anon.call("GET", path)
        expect(code == 200, "%s stays open: %d" % (path, code))

    b = Browser(port)
    code, h, body = b.login("aida", PASSWORD)
    expect(code == 200, "login: %d %r" % (code, body))
    me = json.loads(body)
    expect(me["name"] == "aida" and me["role"] == "admin" and len(me["csrf"]) == 64, "login: %r" % me)
    cookie = h["Set-Cookie"]
    expect(re.match(r"kz_console=[0-9a-f]{64};", cookie), "cookie value: %s" % cookie)
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/console"):
        expect(attr in cookie, "cookie lacks %s: %s" % (attr, cookie))
    expect("Secure" not in cookie, "plain HTTP listener: no Secure: %s" % cookie)
    token = re.match(r"kz_console=([0-9a-f]+)", cookie).group(1)
    con = sqlite3.connect("file:%s?mode=ro" % db_path(g), uri=True)
    stored = [r[0] for r in con.execute("SELECT hex(hash) FROM console_sessions")]
    con.close()
    expect(len(stored) == 1 and stored[0].lower() != token, "the token itself is not stored")
    code, me2 = b.json("GET", "/console/api/me")
    expect(code == 200 and me2["name"] == "aida" and me2["csrf"] == me["csrf"], "me: %d %r" % (code, me2))
    code, h, body = b.call("GET", "/console/")
    expect(code == 200 and h["Content-Type"] == "text/html; charset=utf-8", "home: %d" % code)
    code, _, _ = b.call("GET", "/console/static/console.js")
    expect(code == 200, "script with a session: %d" % code)

    code, _ = b.json("POST", "/console/logout", csrf=False)
    expect(code == 403, "logout without CSRF: %d" % code)
    code, _ = b.json("POST", "/console/logout", headers={"X-CSRF-Token": "0" * 64}, csrf=False)
    expect(code == 403, "logout with a wrong CSRF token: %d" % code)
    code, h, _ = b.call("POST", "/console/logout")
    expect(code == 200 and "Max-Age=0" in h.get("Set-Cookie", ""), "logout: %d" % code)
    code, _ = b.json("GET", "/console/api/me")
    expect(code == 401, "after logout: %d" % code)
    actions = [r[2] for r in audit_rows(g)]
    expect("login" in actions and "logout" in actions, "audit: %r" % actions)

    # a form login (the page's own) lands on the console's home
    f = Browser(port)
    code, h, _ = f.call("POST", "/console/login", form={"name": "aida", "password": PASSWORD})
    expect(code == 303 and h["Location"] == "/console/", "form login: %d %s" % (code, h.get("Location")))
    code, _ = f.json("GET", "/console/api/me")
    expect(code == 200, "form session: %d" % code)
    # a change posted from a foreign origin is refused even with the token
    code, _ = b.json("POST", "/console/login", {"name": "aida", "password": PASSWORD},
                     headers={"Origin": "http://evil.example"})
    expect(code == 403, "foreign Origin: %d" % code)


@case
def wrong_passwords_are_rate_limited():
    g, port = start()
    create_admin(g)
    b = Browser(port)
    for i in range(5):
        code, _, _ = b.login("aida", "wrong password %d" % i)
        expect(code == 401, "wrong password %d: %d" % (i, code))
    code, h, _ = b.login("aida", "wrong again!")
    expect(code == 429 and int(h["Retry-After"]) > 0, "sixth failure: %d %s" % (code, h.get("Retry-After")))
    code, _, _ = b.login("aida", PASSWORD)
    expect(code == 429, "even the right password waits: %d" % code)
    rows = audit_rows(g, "login.failed")
    expect(len(rows) == 5 and all(r[3] == "aida" and r[1] == "127.0.0.1" for r in rows)
           and all(PASSWORD not in r[4] and "wrong" in r[4] for r in rows), "failures: %r" % rows)
    expect(not audit_rows(g, "login"), "no successful login")


@case
def csrf_roles_accounts_and_audit():
    g, port = start()
    create_admin(g)
    admin = Browser(port)
    expect(admin.login("aida", PASSWORD)[0] == 200, "admin login")
    new = {"op": "create", "name": "vera", "role": "viewer"}
    code, r = admin.json("POST", "/console/api/accounts", new, csrf=False)
    expect(code == 403, "create without CSRF: %d %r" % (code, r))
    code, r = admin.json("POST", "/console/api/accounts", new)
    expect(code == 201 and r["name"] == "vera" and len(r.get("password", "")) >= 10,
           "create: %d %r" % (code, r))
    vera_pw = r["password"]
    code, r = admin.json("POST", "/console/api/accounts", new)
    expect(code == 409, "create twice: %d" % code)
    code, r = admin.json("POST", "/console/api/accounts", {"op": "create", "name": "x", "role": "root"})
    expect(code == 400, "bad role: %d" % code)
    code, r = admin.json("POST", "/console/api/accounts", {"op": "create", "name": "y", "role": "viewer",
                                                            "password": "short"})
    expect(code == 400 and "short" in r["error"], "short password: %d %r" % (code, r))

    viewer = Browser(port)
    expect(viewer.login("vera", vera_pw)[0] == 200, "viewer login")
    code, r = viewer.json("GET", "/console/api/me")
    expect(code == 200 and r["role"] == "viewer", "viewer me: %r" % r)
    code, _ = viewer.json("GET", "/console/api/accounts")
    expect(code == 403, "viewer lists accounts: %d" % code)
    code, _ = viewer.json("POST", "/console/api/accounts", {"op": "create", "name": "evil", "role": "admin"})
    expect(code == 403, "viewer creates an account: %d" % code)
    code, _, _ = viewer.call("GET", "/console/accounts")
    expect(code == 403, "viewer opens the accounts page: %d" % code)
    code, _ = viewer.json("GET", "/console/api/audit")
    expect(code == 403, "viewer reads the audit log: %d" % code)

    code, r = admin.json("POST", "/console/api/accounts", {"op": "role", "name": "vera", "role": "editor"})
    expect(code == 200, "re-role: %d %r" % (code, r))
    code, r = viewer.json("GET", "/console/api/me")
    expect(r.get("role") == "editor", "the session follows the role: %r" % r)
    code, r = admin.json("POST", "/console/api/accounts", {"op": "disable", "name": "aida"})
    expect(code == 409, "the last admin: %d %r" % (code, r))
    code, r = admin.json("POST", "/console/api/accounts", {"op": "role", "name": "aida", "role": "viewer"})
    expect(code == 409, "demote the last admin: %d %r" % (code, r))
    code, r = admin.json("POST", "/console/api/accounts", {"op": "disable", "name": "vera"})
    expect(code == 200, "disable: %d %r" % (code, r))
    code, _ = viewer.json("GET", "/console/api/me")
    expect(code == 401, "a disabled account's session ends: %d" % code)
    code, _, _ = Browser(port).login("vera", vera_pw)
    expect(code == 401, "a disabled account cannot log in: %d" % code)
    code, r = admin.json("GET", "/console/api/accounts")
    by = {a["name"]: a for a in r["accounts"]}
    expect(by["vera"]["disabled"] and by["vera"]["role"] == "editor" and by["aida"]["role"] == "admin",
           "accounts: %r" % r)

    # a formula-looking name in a failed login reaches the audit log
    Browser(port).login("=HYPERLINK(\"http://x\",\"y\")", "whatever password")
    code, r = admin.json("GET", "/console/api/audit?actor=aida")
    actions = [e["action"] for e in r["entries"]]
    expect(code == 200 and "login" in actions and "account.create" in actions
           and "account.role" in actions and "account.disable" in actions, "audit: %r" % actions)
    role = [e for e in r["entries"] if e["action"] == "account.role"][0]
    expect(role["target"] == "vera" and json.loads(role["detail"]) == {"from": "viewer", "to": "editor"}
           and role["peer"] == "127.0.0.1", "role entry: %r" % role)
    code, r = admin.json("GET", "/console/api/audit?action=login&limit=1")
    expect(code == 200 and len(r["entries"]) == 1 and r["next"], "paged: %r" % r)
    code, r2 = admin.json("GET", "/console/api/audit?action=login&before=%d" % r["next"])
    expect(code == 200 and all(e["id"] < r["next"] for e in r2["entries"]) and r2["entries"],
           "next page: %r" % r2)
    code, r = admin.json("GET", "/console/api/audit?from=2000-01-01&to=2000-01-02")
    expect(code == 200 and r["entries"] == [], "old range: %r" % r)
    code, _ = admin.json("GET", "/console/api/audit?from=yesterday")
    expect(code == 400, "bad from: %d" % code)

    code, h, body = admin.call("GET", "/console/api/audit.csv")
    expect(code == 200 and h["Content-Type"] == "text/csv; charset=utf-8", "csv: %d" % code)
    rows = list(csv.reader(io.StringIO(body.decode())))
    expect(rows[0] == ["id", "at", "actor", "peer", "action", "target", "detail"], "header: %r" % rows[0])
    failed = [x for x in rows[1:] if x[4] == "login.failed"]
    expect(failed and failed[0][2] == "'=HYPERLINK(\"http://x\",\"y\")", "neutralised: %r" % failed)
    expect(all(not c.startswith(("=", "+", "-", "@")) for x in rows[1:] for c in x),
           "no cell starts a formula")
    expect(len(rows) - 1 == len(audit_rows(g)), "every row exported")


@case
def static_files_refuse_traversal():
    g, port = start()
    create_admin(g)
    b = Browser(port)
    expect(b.login("aida", PASSWORD)[0] == 200, "login")
    cookie = "; ".join("%s=%s" % (c.name, c.value) for c in b.jar)
    for path in ("/console/static/../../etc/passwd", "/console/static/%2e%2e/%2e%2e/etc/passwd",
                 "/console/static/.hidden", "/console/static//etc/passwd",
                 "/console/static/..%2f..%2fMakefile"):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", path, headers={"Cookie": cookie})
        r = c.getresponse()
        body = r.read()
        c.close()
        expect(r.status in (400, 404) and b"root:" not in body, "%s: %d %r" % (path, r.status, body[:80]))
    code, h, _ = b.call("GET", "/console/static/console.js")
    expect(code == 200 and h["Content-Type"] == "text/javascript; charset=utf-8", "js: %d" % code)


if __name__ == "__main__":
    run()
