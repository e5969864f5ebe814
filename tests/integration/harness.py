"""
tests/integration/harness.py — start real processes on 127.0.0.1 and check
what they do, for kyzmat's integration tests.

Owns: every process it starts (killed by pid at exit, also on failure) and
a temporary directory per test file.  Waits by polling with deadlines, never
by sleeping a fixed time.  Python standard library only.

A test file builds cases with @case and calls run(); each case prints
"ok NAME" or "FAIL NAME: why" — scripts/run-tests.sh counts those lines.
"""
import atexit
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.environ.get("B", "build")
BIN = os.path.join(ROOT, B)
TMP = tempfile.mkdtemp(prefix="kyzmat-it-")
_procs = []


# Our own binaries may run under a wrapper (VALGRIND=1 in run-tests.sh
# sets KYZMAT_WRAP to a valgrind command line).
WRAP = os.environ.get("KYZMAT_WRAP", "").split()
SANITIZER_RX = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                          r"==\d+== (Invalid|Conditional jump|Use of uninitialised|"
                          r"Mismatched free|Invalid free|.* are (definitely|indirectly) lost)")


def _cleanup():
    """Stop every process: SIGTERM first, so sanitizers and valgrind get to
    report at exit, then SIGKILL what is left.  Returns the problems the
    sanitizers or valgrind reported in any log."""
    for p in _procs:
        if p.poll() is None:
            try:
                p.terminate()
            except Exception:
                pass
    problems = []
    for p in _procs:
        try:
            p.wait(10)
        except Exception:
            p.kill()
            p.wait(5)
        text = read_log(getattr(p, "log_path", ""))
        if p.returncode == 99 and WRAP:
            problems.append("%s: valgrind reported errors (exit 99)" % os.path.basename(p.log_path))
        m = SANITIZER_RX.search(text)
        if m:
            i = text.rfind("\n", 0, m.start())
            problems.append("%s: %s" % (os.path.basename(p.log_path), text[i + 1:i + 1 + 1500]))
    return problems


atexit.register(_cleanup)


class Failure(Exception):
    pass


def wait_until(fn, timeout=10.0, what="condition", interval=0.02):
    """Poll fn() until it returns a true value; return it, or raise."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_seq = [0]


def spawn(args, log_name, env=None, stdin=None, wrap=True):
    """Start a process; its stderr goes to a log file of its own (numbered,
    so no two processes or cases ever share one)."""
    _seq[0] += 1
    base, ext = os.path.splitext(log_name)
    log_name = "%03d-%s%s" % (_seq[0], base, ext)
    log = open(os.path.join(TMP, log_name), "ab")
    if wrap and WRAP and args[0].startswith(BIN):
        args = WRAP + list(args)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=stdin or subprocess.DEVNULL,
                         cwd=ROOT, env=env)
    p.log_path = os.path.join(TMP, log_name)
    _procs.append(p)
    return p


def read_log(path):
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


class Smsc:
    """kyzmat-smsc on port 0 (or a given port) with its control port."""

    def __init__(self, *extra, port=0, name="smsc"):
        self.args = [os.path.join(BIN, "kyzmat-smsc"), "--listen", "127.0.0.1:%d" % port,
                     "--control", "127.0.0.1:0"] + list(extra)
        self.name = name
        self.start()

    def start(self):
        self.proc = spawn(self.args, self.name + ".log")
        self.port = self.ctl_port = None
        deadline = time.monotonic() + 10
        while self.port is None or self.ctl_port is None:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise Failure("kyzmat-smsc exited before listening:\n" + read_log(self.proc.log_path))
            m = re.match(r"listening (smpp|control) 127\.0\.0\.1:(\d+)", line)
            if m and m.group(1) == "smpp":
                self.port = int(m.group(2))
            elif m:
                self.ctl_port = int(m.group(2))
            if time.monotonic() > deadline:
                raise Failure("kyzmat-smsc did not print its ports")
        # Fix the port for restarts, so the gateway reconnects to the same one.
        self.args[2] = "127.0.0.1:%d" % self.port
        self.ctl = socket.create_connection(("127.0.0.1", self.ctl_port), timeout=10)
        self.ctl_file = self.ctl.makefile("rwb")

    def control(self, line):
        self.ctl_file.write((line + "\n").encode())
        self.ctl_file.flush()
        return self.ctl_file.readline().decode().rstrip("\n")

    def stats(self):
        r = self.control("stats")
        if r.startswith("ok "):
            r = r[3:]
        return json.loads(r)

    def kill(self):
        try:
            self.ctl.close()
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait(5)

    def stop(self):
        if self.proc.poll() is None:
            self.kill()

    def log(self):
        return read_log(self.proc.log_path)


class Kyzmatd:
    """kyzmatd with a YAML config written to the test's temp directory."""

    def __init__(self, config_text, name="kyzmatd", extra=()):
        self.name = name
        self.cfg = os.path.join(TMP, name + ".yaml")
        _seq[0] += 1
        # Every gateway gets its own database and an HTTP port of its own
        # (port 0: the kernel picks; read back from the log by http_port()).
        if not re.search(r"^http:", config_text, re.M):
            config_text += 'http: {listen: "127.0.0.1:0"}\n'
        if not re.search(r"^database:", config_text, re.M):
            config_text += "database: {path: %s}\n" % os.path.join(TMP, "db%03d" % _seq[0], "kyzmat.db")
        with open(self.cfg, "w") as f:
            f.write(config_text)
        self.proc = spawn([os.path.join(BIN, "kyzmatd"), "-c", self.cfg] + list(extra), name + ".log")

    def log(self):
        return read_log(self.proc.log_path)

    def wait_log(self, pattern, timeout=10.0, count=1):
        rx = re.compile(pattern)

        def found():
            if self.proc.poll() is not None:
                raise Failure("kyzmatd exited (%s) while waiting for /%s/:\n%s"
                              % (self.proc.returncode, pattern, self.log()[-3000:]))
            return len(rx.findall(self.log())) >= count
        return wait_until(found, timeout, "kyzmatd log /%s/ x%d" % (pattern, count))

    def alive(self):
        return self.proc.poll() is None

    def http_port(self, timeout=10.0):
        self.wait_log(r"HTTP API on 127\.0\.0\.1:\d+", timeout=timeout)
        return int(re.search(r"HTTP API on 127\.0\.0\.1:(\d+)", self.log()).group(1))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise Failure("kyzmatd did not exit within %ds of SIGTERM" % timeout)
        return self.proc.returncode


def smsc_entry(name, port, system_id="kyzmat", password="secret", **kw):
    lines = ["  - name: %s" % name, "    host: 127.0.0.1", "    port: %d" % port,
             "    system_id: %s" % system_id, "    password: %s" % password]
    for k, v in kw.items():
        lines.append("    %s: %s" % (k, v))
    return "\n".join(lines) + "\n"


# ---- peers and configs shared by the test files ---------------------------

def expect(cond, msg):
    if not cond:
        raise Failure(msg)


class NodePeer:
    """tests/peer/smsc.js: an SMSC on node-smpp; events as JSON lines."""

    def __init__(self, *extra):
        self.proc = spawn(["node", os.path.join(ROOT, "tests/peer/smsc.js"), "--port", "0"] + list(extra),
                          "nodepeer.log", stdin=subprocess.PIPE)
        self.events = []
        self.lock = threading.Lock()
        first = json.loads(self.proc.stdout.readline().decode() or "{}")
        if first.get("event") != "listening":
            raise Failure("node peer did not start: %r\n%s" % (first, read_log(self.proc.log_path)))
        self.port = first["port"]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line.decode())
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def count(self, name, **match):
        with self.lock:
            return sum(1 for e in self.events if e.get("event") == name
                       and all(e.get(k) == v for k, v in match.items()))

    def find(self, name):
        with self.lock:
            return [e for e in self.events if e.get("event") == name]

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()


def cfg(*entries, level="info"):
    """A kyzmatd config: log level and smsc entries (see smsc_entry)."""
    return "log: {level: %s}\nsmsc:\n" % level + "".join(entries)


def gateway(port, name="sim", level="info", **link):
    """kyzmatd with one link `name` to the SMSC on port, once it is bound."""
    g = Kyzmatd(cfg(smsc_entry(name, port, **link), level=level))
    g.wait_log(r"\[%s\] bound" % name)
    return g


def subscribe(smsc, who):
    """A control connection of its own to kyzmat-smsc, subscribed to the
    events of `who` (an MSISDN or *); returns (socket, file)."""
    sock = socket.create_connection(("127.0.0.1", smsc.ctl_port), timeout=10)
    f = sock.makefile("rwb")
    f.write(("subscribe %s\n" % who).encode())
    f.flush()
    ok = f.readline().decode()
    expect(ok.startswith("ok"), "subscribe %s: %r" % (who, ok))
    return sock, f


class SmsLog:
    """Every 'sms FROM TO TEXT' event of a simulator for `who` (default
    every number), collected by a reader thread from a control connection
    of its own.  Events are (to, text) in order of arrival."""

    def __init__(self, smsc, who="*"):
        self.who = who
        self.sock, self.f = subscribe(smsc, who)
        self.sock.settimeout(None)
        self.cond = threading.Condition()
        self.events = []            # (to, text)
        self.read_at = 0            # next() has handed out events[:read_at]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for raw in self.f:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("sms "):
                    _, _frm, to, text = line.split(" ", 3)
                    with self.cond:
                        self.events.append((to, text.replace("\\n", "\n")))
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass

    def next(self, to=None, timeout=10):
        """The next SMS not handed out yet (to `to` when given; those to
        others before it are passed over): (to, text), or Failure."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(self.read_at, len(self.events)):
                    if to is None or self.events[i][0] == to:
                        self.read_at = i + 1
                        return self.events[i]
                self.read_at = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("no SMS%s at the simulator within %ss"
                                  % (" for %s" % to if to else "", timeout))
                self.cond.wait(left)

    def sms(self, timeout=10):
        """The text of the next SMS to the number this log subscribed to
        (to any number for *)."""
        return self.next(None if self.who == "*" else self.who, timeout)[1]

    def to(self, number):
        with self.cond:
            return [t for n, t in self.events if n == number]

    def snapshot(self):
        with self.cond:
            return list(self.events)

    def count(self):
        with self.cond:
            return len(self.events)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        except OSError:
            pass


def in_threads(fn, items, timeout=120):
    """fn(item) for every item, each in a thread of its own, all at once;
    returns once every thread has ended (or timeout per thread)."""
    threads = [threading.Thread(target=fn, args=(it,)) for it in items]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout)



# ---- the agencies' API, the example menus and their back-end ---------------

class Api:
    """The agencies' HTTP API with a bearer token (one request at a time)."""

    def __init__(self, port, token):
        self.base = "http://127.0.0.1:%d" % port
        self.token = token

    def call(self, method, path, body=None, raw=None, ctype="application/json", token=True):
        """(status, JSON answer); raw sends bytes as they are."""
        import urllib.error
        import urllib.request
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"raw": text[:200].decode("utf-8", "replace")}

    def state(self, mid):
        """A message's state, or "HTTP nnn" when it cannot be read."""
        code, r = self.call("GET", "/v1/messages/%d" % mid)
        return r.get("state") if code == 200 else "HTTP %d" % code


def create_token(g, agency="tax", scopes=None):
    """A new API token for `agency` in gateway g's database (with --scopes
    when given: "*,law_required" adds what * does not grant)."""
    extra = ["--scopes", scopes] if scopes else []
    tok = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", g.cfg, "--create-token", agency] + extra,
                         capture_output=True, text=True, timeout=60)
    expect(tok.returncode == 0 and tok.stdout.startswith("kz_"), "token: %r" % tok.stderr)
    return tok.stdout.strip()


def start_gateway(*smsc_args, **link):
    """kyzmat-smsc (with smsc_args), kyzmatd bound to it as link "sim"
    (default_route unless link says otherwise) and an API client with a
    new token: (smsc, gateway, api)."""
    s = Smsc(*smsc_args)
    link.setdefault("default_route", "true")
    g = gateway(s.port, **link)
    return s, g, Api(g.http_port(), create_token(g))


def backend():
    """menus/examples/backend.py on a free port; returns the port."""
    p = spawn([sys.executable, os.path.join(ROOT, "menus/examples/backend.py"), "0"], "backend.log",
              wrap=False)
    line = p.stdout.readline().decode()
    m = re.match(r"listening 127\.0\.0\.1:(\d+)", line)
    if not m:
        raise Failure("backend did not start: %r %s" % (line, read_log(p.log_path)))
    return int(m.group(1))


_menu_n = [0]


def menus_dir(backend_port, extra=None):
    """A copy of menus/examples pointed at our back-end, plus extra files."""
    import shutil
    _menu_n[0] += 1
    d = os.path.join(TMP, "menus%d" % _menu_n[0])
    shutil.copytree(os.path.join(ROOT, "menus/examples"), d,
                    ignore=shutil.ignore_patterns("*.py"))
    path = os.path.join(d, "00-settings.yaml")
    text = open(path).read()
    text = text.replace("http://127.0.0.1:8099", "http://127.0.0.1:%d" % backend_port)
    open(path, "w").write(text)
    for name, body in (extra or {}).items():
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
    return d


# ---- handsets and Redis, shared by the USSD test files ---------------------

GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
          "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXT = set("\f^{}\\[~]|€")


def air_octets(text):
    if all(ch in GSM or ch in GSM_EXT for ch in text):
        return (sum(2 if ch in GSM_EXT else 1 for ch in text) * 7 + 7) // 8
    return len(text.encode("utf-16-be"))


class Phone:
    """A handset on kyzmat-smsc's control port: USSD screens and SMS."""

    def __init__(self, smsc, msisdn):
        self.msisdn = msisdn
        self.sock = socket.create_connection(("127.0.0.1", smsc.ctl_port), timeout=20)
        self.buf = b""
        self.events = []
        self.sms_seen = []
        self.cmd("subscribe %s" % msisdn)

    def readline(self, timeout):
        """One line, or None when none came within timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise Failure("control connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd(self, line):
        self.sock.sendall((line + "\n").encode())
        while True:
            r = self.readline(20)
            if r is None:
                raise Failure("%s: no answer from the simulator" % line)
            if r.startswith("ok") or r.startswith("err"):
                if r.startswith("err"):
                    raise Failure("%s: %s" % (line, r))
                return r
            self.events.append(r)

    def _next(self, want, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.events):
                got = want(line)
                if got is not None:
                    del self.events[i]
                    return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("%s: nothing within %ss (events %r)" % (self.msisdn, timeout,
                                                                       self.events[-5:]))
            line = self.readline(left)
            if line is not None:
                self.events.append(line)

    def screen(self, timeout=15):
        def want(line):
            m = re.match(r"ussd (\S+) (continue|end|notice|timeout)\s?(.*)", line)
            if not m or m.group(1) != self.msisdn:
                return None
            text = m.group(3).replace("\\n", "\n").replace("\\\\", "\\")
            if air_octets(text) > 160:
                raise Failure("screen of %d octets (> 160): %r" % (air_octets(text), text))
            return m.group(2), text
        return self._next(want, timeout)

    def sms(self, timeout=15):
        """The next SMS to this phone: its text."""
        def want(line):
            m = re.match(r"sms (\S+) (\S+) (.*)", line)
            if not m or m.group(2).lstrip("+") != self.msisdn:
                return None
            return m.group(3).replace("\\n", "\n").replace("\\\\", "\\")
        return self._next(want, timeout)

    def no_sms(self, wait=1.0):
        try:
            t = self.sms(timeout=wait)
        except Failure:
            return
        raise Failure("%s got an SMS it should not have: %r" % (self.msisdn, t))

    def dial(self, code):
        self.cmd("ussd %s - %s" % (self.msisdn, code))
        return self.screen()

    def send(self, text):
        self.cmd("ussd %s - %s" % (self.msisdn, text))
        return self.screen()

    def abort(self):
        self.cmd("ussd-abort %s" % self.msisdn)

    def english(self):
        """Dial the example menus (*100#), choose English (remembered for
        this number) and hang up."""
        self.dial("*100#")
        self.send("3")
        self.abort()

    def record(self):
        """The simulator's record of this handset's last dialog (JSON)."""
        r = self.cmd("ussd-log %s" % self.msisdn)
        return json.loads(r[3:])

    def close(self):
        self.sock.close()


class Redis:
    """A private redis-server on a free port (no persistence)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.start()

    def start(self):
        # --dir: a replica's sync (test_sentinel) writes an RDB file even
        # with --save "": keep it in the test's folder, not the tree
        self.proc = spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--dir", TMP],
                          "redis.log", wrap=False)
        wait_until(self.ping, 10, "redis-server to answer PING")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def cmd(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            req = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a)
                                                  for a in args)
            s.sendall(req.encode())
            return s.recv(65536)

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port



# ---- raw SMPP, for hostile peers -----------------------------------------

def pdu(cmd, seq, body=b"", status=0):
    return struct.pack(">IIII", 16 + len(body), cmd, status, seq) + body


def read_pdu(sock):
    hdr = _recv_exact(sock, 16)
    if hdr is None:
        return None
    length, cmd, status, seq = struct.unpack(">IIII", hdr)
    body = _recv_exact(sock, length - 16) if length > 16 else b""
    return cmd, status, seq, body


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ---- cases -----------------------------------------------------------------

_cases = []


def case(fn):
    _cases.append(fn)
    return fn


def native_case(why):
    """A case that runs natively and under ASan, but not under valgrind
    (KYZMAT_WRAP): it spends its time waiting on outside servers
    (Prometheus, Redis Sentinel's failover, chromium), and every C path it
    takes is also taken, under valgrind, by another case; `why` names
    which.  It prints "skip NAME (why)", counted neither way."""
    def mark(fn):
        fn.native_only = why
        return case(fn)
    return mark


def run():
    only = os.environ.get("CASE")
    bad = 0
    for fn in _cases:
        if only and only not in fn.__name__:
            continue
        if WRAP and getattr(fn, "native_only", None):
            print("skip %s (not under valgrind: %s)" % (fn.__name__, fn.native_only),
                  flush=True)
            continue
        t0 = time.monotonic()
        try:
            fn()
            problems = _cleanup()
            if problems:
                raise Failure("sanitizer/valgrind report:\n" + "\n".join(problems))
            print("ok %s (%.2fs)" % (fn.__name__, time.monotonic() - t0), flush=True)
        except Exception as e:  # a failed case must not stop the others
            bad += 1
            print("FAIL %s: %s" % (fn.__name__, e), flush=True)
            traceback.print_exc(file=sys.stdout)
        finally:
            _cleanup()
            del _procs[:]
    print("logs in", TMP)
    sys.exit(1 if bad else 0)
