"""
tests/integration/test_redis.py — kyzmatd and a password-protected Redis:
AUTH and SELECT from redis.url (right password, wrong password, ACL user),
the password never in the log or in --check output, and a redis.url
changed by SIGHUP applied without a restart.

kyzmat-smsc plays the network and the handsets, kyzmatd runs the example
menu set pointed at its own back-end (menus/examples/backend.py), and real
redis-servers on free ports hold the dialogs; a second client (a raw RESP
socket here) checks which server and database the keys landed in.
"""
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failure, Kyzmatd, Phone, Smsc, BIN, backend, case, cfg,  # noqa: E402
                     TMP, expect, free_port, menus_dir, run, smsc_entry, spawn, wait_until)

PASS = "Kz-s3cret-pw"


class AuthRedis:
    """A private redis-server started with --requirepass (or none)."""

    def __init__(self, password=PASS):
        self.port = free_port()
        self.password = password
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", TMP]
        if password:
            args += ["--requirepass", password]
        self.proc = spawn(args, "redis.log", wrap=False)
        wait_until(self.ready, 10, "redis-server to answer PING")

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64)[:1] in (b"+", b"-")      # PONG or NOAUTH: up
        except OSError:
            return False

    def cmd(self, *args, db=0, user=None, password=None):
        """Run AUTH, SELECT db and args on one connection; the last reply."""
        pw = password or self.password
        cmds = []
        if pw:
            cmds.append(("AUTH", user, pw) if user else ("AUTH", pw))
        cmds += [("SELECT", str(db)), args]
        req = b""
        for c in cmds:
            c = [a for a in c if a is not None]
            req += b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode())
                                                  for a in c)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(req)
            f = s.makefile("rb")
            reply = None
            for _ in cmds:
                reply = read_reply(f)
            return reply

    def url(self, db=0, user="", password=None):
        pw = self.password if password is None else password
        auth = "%s:%s@" % (user, pw) if pw else ""
        return "redis://%s127.0.0.1:%d/%d" % (auth, self.port, db)


def read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-", b":"):
        return rest.decode()
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return [read_reply(f) for _ in range(max(n, 0))]
    raise Failure("bad RESP line %r" % line)


def gw_config(smsc_port, menus, redis_url):
    return (cfg(smsc_entry("sim", smsc_port)) + "menus: %s\n" % menus
            + "redis: {url: \"%s\"}\n" % redis_url)


def start(redis_url, wait_up=True):
    s = Smsc()
    g = Kyzmatd(gw_config(s.port, menus_dir(backend()), redis_url))
    if wait_up:
        g.wait_log(r"\[dialogs\] redis .* is up")
    g.wait_log(r"\[sim\] bound")
    return s, g


def no_password_in(g, *extra):
    text = g.log() + "".join(extra)
    expect(PASS not in text, "the password shows in the log or output:\n%s" % text[-2000:])


@case
def auth_and_database_from_the_url():
    r = AuthRedis()
    s, g = start(r.url(db=3))
    ph = Phone(s, "996555300001")
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "first screen: %r %r" % (kind, t))
    ph.send("3")
    keys = r.cmd("KEYS", "kz:*", db=3)
    expect("kz:d:{996555300001}" in keys, "dialog not in db 3: %r" % keys)
    expect(r.cmd("KEYS", "kz:*", db=0) == [], "keys leaked into db 0")
    g.wait_log(r"\[dialogs\] redis 127\.0\.0\.1:%d/3 is up" % r.port)
    # --check does not print the password either
    chk = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", g.cfg, "--check"],
                         capture_output=True, text=True, timeout=30)
    expect(chk.returncode == 0 and "configuration ok" in chk.stdout,
           "--check: %r %r" % (chk.stdout, chk.stderr))
    no_password_in(g, chk.stdout, chk.stderr)
    g.stop()


@case
def wrong_password_stays_down_and_says_so_once():
    r = AuthRedis()
    s, g = start(r.url(password="not-" + PASS), wait_up=False)
    g.wait_log(r"\[dialogs\] redis 127\.0\.0\.1:%d/0 is down: AUTH failed: WRONGPASS" % r.port)
    # retries go on (clients keep connecting) but the log says it once
    seen = set()

    def several_attempts():
        for line in (r.cmd("CLIENT", "LIST") or "").splitlines():
            m = re.search(r"\bid=(\d+)", line)
            if m:
                seen.add(m.group(1))
        return len(seen) >= 4
    wait_until(several_attempts, 15, "kyzmatd to retry a few times", interval=0.005)
    expect(len(re.findall(r"AUTH failed", g.log())) == 1,
           "AUTH failure logged more than once:\n%s" % g.log()[-2000:])
    ph = Phone(s, "996555300002")
    kind, t = ph.dial("*100#")
    expect(kind == "end" and "убактылуу иштебей" in t, "answer while down: %r %r" % (kind, t))
    no_password_in(g)
    expect(g.alive(), "kyzmatd died")
    g.stop()


@case
def acl_user_on_redis_7():
    r = AuthRedis()
    expect(r.cmd("ACL", "SETUSER", "kyzmat", "on", ">app-" + PASS, "~kz:*", "&*", "+@all") == "OK",
           "ACL SETUSER failed")
    s, g = start(r.url(db=1, user="kyzmat", password="app-" + PASS))
    g.wait_log(r"\[dialogs\] redis kyzmat@127\.0\.0\.1:%d/1 is up" % r.port)
    ph = Phone(s, "996555300003")
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "first screen: %r %r" % (kind, t))
    keys = r.cmd("KEYS", "kz:*", db=1)
    expect(any("996555300003" in k for k in keys), "no keys for the ACL user: %r" % keys)
    no_password_in(g)
    g.stop()


@case
def sighup_moves_the_dialogs_to_a_new_redis():
    old = AuthRedis(password=None)
    new = AuthRedis()
    s, g = start(old.url())
    ph = Phone(s, "996555300004")
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "on the old server: %r %r" % (kind, t))
    expect(old.cmd("EXISTS", "kz:d:{996555300004}") == "1", "no dialog on the old server")
    text = open(g.cfg).read().replace(old.url(), new.url(db=2))
    with open(g.cfg, "w") as f:
        f.write(text)
    g.signal(signal.SIGHUP)
    g.wait_log(r"\[dialogs\] redis.url changed: moving from redis 127\.0\.0\.1:%d/0 to "
               r"redis 127\.0\.0\.1:%d/2" % (old.port, new.port))
    g.wait_log(r"\[dialogs\] redis 127\.0\.0\.1:%d/2 is up" % new.port)
    # the old connection is closed (only our CLIENT LIST connection is left)
    wait_until(lambda: len(old.cmd("CLIENT", "LIST").splitlines()) == 1, 10,
               "the old Redis connection to close")
    ph2 = Phone(s, "996555300005")
    kind, t = ph2.dial("*100#")
    expect(kind == "continue", "on the new server: %r %r" % (kind, t))
    expect(new.cmd("EXISTS", "kz:d:{996555300005}", db=2) == "1", "no dialog on the new server")
    expect(old.cmd("EXISTS", "kz:d:{996555300005}") == "0", "new dialog on the old server")
    # a reload naming a host that does not resolve is refused as a whole
    text = open(g.cfg).read().replace(new.url(db=2), "redis://:x@no-such-host.invalid/0")
    with open(g.cfg, "w") as f:
        f.write(text)
    g.signal(signal.SIGHUP)
    g.wait_log(r"reload refused: redis\.url: redis host no-such-host\.invalid")
    kind, t = ph2.dial("*100#")
    expect(kind == "continue", "after the refused reload: %r %r" % (kind, t))
    no_password_in(g)
    expect(g.alive(), "kyzmatd died")
    g.stop()


if __name__ == "__main__":
    run()
