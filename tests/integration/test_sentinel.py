"""
tests/integration/test_sentinel.py — dialogs survive a Redis failover
(issue 9): kyzmatd asks Redis Sentinels for the master before every
connect (redis.sentinels, redis.master), checks with ROLE that it reached a
master, and follows the sentinels when the master dies or is demoted.

Starts its own Redis master and replica and three redis-sentinel processes
on free ports (a quorum of 2, down-after 1 s), kyzmat-smsc and kyzmatd, and
stops them by pid.  Cases: a dialog begun on the master continues on the
promoted replica after the master is killed (kill -9); a graceful
`SENTINEL FAILOVER` (the old master demoted, its connection still open) is
followed too; sentinels that cannot be reached or do not know the name
leave the store down with their reasons, and --check refuses sentinels
without a master name.

A scripted sentinel and a scripted Redis (small RESP servers in this
file) check the two guards against a demoted master: ROLE must say
"master" before the store is up, and a READONLY answer makes kyzmatd ask
the sentinels again.

Owns: the processes it starts, the sentinels' config files in its temp
folder, and the scripted servers' threads.  May call: harness.py, redis-server, redis-sentinel.
"""
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (native_case, BIN, TMP, Kyzmatd, Phone, Redis, Smsc, backend, case, cfg,  # noqa: E402
                     expect, free_port, menus_dir, run, smsc_entry, spawn, wait_until)


def resp(port, *args):
    """One command on a fresh connection; the raw reply text."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a)
                                                    for a in args)).encode())
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            out += chunk
            if not chunk or out.endswith(b"\r\n"):
                break
        return out.decode(errors="replace")


class Cluster:
    """A master, a replica and three sentinels watching "kz"."""

    def __init__(self, name="kz"):
        self.name = name
        self.master = Redis()
        self.replica = Redis()
        resp(self.replica.port, "REPLICAOF", "127.0.0.1", str(self.master.port))
        wait_until(lambda: "master_link_status:up" in resp(self.replica.port, "INFO",
                                                           "replication"),
                   15, "the replica to sync")
        self.sentinels = []
        for i in range(3):
            port = free_port()
            path = os.path.join(TMP, "sentinel-%d-%d.conf" % (port, i))
            with open(path, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                        "sentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s 1000\n"
                        "sentinel failover-timeout %s 10000\n"
                        "sentinel parallel-syncs %s 1\n"
                        % (port, TMP, name, self.master.port, name, name, name))
            p = spawn(["redis-sentinel", path], "sentinel-%d.log" % port, wrap=False)
            self.sentinels.append((port, p))
        for port, _ in self.sentinels:
            wait_until(lambda port=port: self.others(port) >= 2, 20,
                       "sentinel %d to see the others" % port)

    def others(self, port):
        try:
            text = resp(port, "SENTINEL", "MASTER", self.name)
        except OSError:
            return 0        # not listening yet
        m = re.search(r"num-other-sentinels\r\n[:$]\d*\r?\n?(\d+)", text)
        return int(m.group(1)) if m else 0

    def master_port(self):
        text = resp(self.sentinels[0][0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        m = re.findall(r"\$\d+\r\n([^\r]+)\r\n", text)
        return int(m[1]) if len(m) == 2 else None

    def yaml(self):
        return ("redis: {sentinels: [%s], master: %s}\n"
                % (", ".join('"127.0.0.1:%d"' % p for p, _ in self.sentinels), self.name))


def start(cluster_yaml):
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port)) + "menus: %s\n" % menus_dir(backend())
                + cluster_yaml)
    g.wait_log(r"\[sim\] bound", timeout=20)
    return s, g


def replicated(c, msisdn):
    key = "kz:d:{%s}" % msisdn
    return lambda: ":1" in resp(c.replica.port, "EXISTS", key)


@native_case("waits for the sentinels' failover; asking them, ROLE and READONLY run under valgrind in a_replica_or_a_demoted_master_is_left_for_the_real_one")
def dialog_continues_on_the_promoted_replica():
    c = Cluster()
    s, g = start(c.yaml())
    g.wait_log(r"\[dialogs\] redis sentinels of \"kz\" at .*, master 127\.0\.0\.1:%d/0 is up"
               % c.master.port)
    ph = Phone(s, "996555900001")
    kind, t = ph.dial("*100#")
    expect(kind == "continue" and "3. English" in t, "first screen: %r %r" % (kind, t))
    wait_until(replicated(c, "996555900001"), 10, "the dialog to reach the replica")
    c.master.kill()
    g.wait_log(r"\[dialogs\] .* is down", timeout=10)
    wait_until(lambda: c.master_port() == c.replica.port, 30, "the sentinels to promote the replica")
    g.wait_log(r"\[dialogs\] redis sentinels of \"kz\" at .*, master 127\.0\.0\.1:%d/0 is up"
               % c.replica.port, timeout=30)
    kind, t = ph.send("3")      # English, in the language menu begun before the kill
    expect(kind == "continue" and "Public Service Centre" in t,
           "the dialog did not continue on the promoted replica: %r %r" % (kind, t))
    g.stop()


@native_case("waits for the sentinels' failover; see a_replica_or_a_demoted_master_is_left_for_the_real_one")
def graceful_failover_is_followed():
    c = Cluster()
    s, g = start(c.yaml())
    g.wait_log(r"master 127\.0\.0\.1:%d/0 is up" % c.master.port)
    ph = Phone(s, "996555900002")
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "first screen: %r %r" % (kind, t))
    wait_until(replicated(c, "996555900002"), 10, "the dialog to reach the replica")
    out = resp(c.sentinels[0][0], "SENTINEL", "FAILOVER", "kz")
    expect(out.startswith("+OK"), "SENTINEL FAILOVER: %r" % out)
    wait_until(lambda: c.master_port() == c.replica.port, 30, "the failover")
    wait_until(lambda: "role:slave" in resp(c.master.port, "INFO", "replication"), 30,
               "the old master to become a replica")

    # The demoted master may keep our connection open: a write there is
    # refused READONLY, which makes kyzmatd ask the sentinels again (this
    # dial may end "temporarily unavailable"; it only makes a write).
    Phone(s, "996555900003").dial("*100#")
    g.wait_log(r"master 127\.0\.0\.1:%d/0 is up" % c.replica.port, timeout=30)
    kind, t = ph.send("3")
    expect(kind == "continue" and "Public Service Centre" in t,
           "after a graceful failover: %r %r" % (kind, t))
    g.stop()


class Scripted(socketserver.ThreadingTCPServer):
    """A RESP server on a free port whose answer to a command comes from
    answer(args) (a list of str) -> raw RESP bytes."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer):
        self.answer = answer
        self.asked = []
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class ScriptedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line.startswith(b"*"):
                return
            args = []
            for _ in range(int(line[1:])):
                n = int(self.rfile.readline()[1:])
                args.append(self.rfile.read(n + 2)[:-2].decode(errors="replace"))
            self.server.asked.append(args)
            self.wfile.write(self.server.answer(args))


def addr(port):
    return b"*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n" % (len(str(port)), port)


@case
def a_replica_or_a_demoted_master_is_left_for_the_real_one():
    c = Cluster()
    # A Redis that says it is a master but refuses writes, as a master
    # demoted under an open connection does.
    fake = Scripted(lambda a: {"PING": b"+PONG\r\n", "ROLE": b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n",
                               "GET": b"$-1\r\n"}.get(a[0].upper(),
                               b"-READONLY You can't write against a read only replica.\r\n"))
    # The scripted sentinel names the replica first, then the fake, then
    # the real master.
    order = [c.replica.port, fake.port]
    sent = Scripted(lambda a: addr(order.pop(0) if order else c.master.port))
    s, g = start("redis: {sentinels: [\"127.0.0.1:%d\"], master: kz}\n" % sent.port)
    g.wait_log(r"is down: 127\.0\.0\.1:%d is not a master \(slave\)" % c.replica.port)
    g.wait_log(r"master 127\.0\.0\.1:%d/0 is up" % fake.port, timeout=15)
    kind, t = Phone(s, "996555900005").dial("*100#")    # GET, then a refused SET
    g.wait_log(r"is down: the master became a replica \(READONLY\)", timeout=10)
    g.wait_log(r"master 127\.0\.0\.1:%d/0 is up" % c.master.port, timeout=15)
    ph = Phone(s, "996555900006")
    kind, t = ph.dial("*100#")
    expect(kind == "continue" and "3. English" in t, "on the real master: %r %r" % (kind, t))
    expect(":1" in resp(c.master.port, "EXISTS", "kz:d:{996555900006}"),
           "the dialog is not on the real master")
    g.stop()


@case
def unreachable_sentinels_say_why():
    dead = [free_port(), free_port()]
    known = Cluster(name="other")
    y = "redis: {sentinels: [%s], master: kz}\n" % ", ".join(
        ['"127.0.0.1:%d"' % p for p in dead] + ['"127.0.0.1:%d"' % known.sentinels[0][0]])
    s, g = start(y)
    g.wait_log(r"\[dialogs\] .* is down: no master from the sentinels: "
               r"127\.0\.0\.1:%d: .*; 127\.0\.0\.1:%d: .*; 127\.0\.0\.1:%d: does not monitor"
               % (dead[0], dead[1], known.sentinels[0][0]), timeout=15)
    ph = Phone(s, "996555900004")
    kind, t = ph.dial("*100#")
    expect(kind == "end", "a dial with no Redis should end politely: %r %r" % (kind, t))
    g.stop()
    # sentinels without a master name: refused before start
    path = os.path.join(TMP, "nomaster.yaml")
    with open(path, "w") as f:
        f.write('redis: {sentinels: ["127.0.0.1:26379"]}\n')
    chk = subprocess.run([os.path.join(BIN, "kyzmatd"), "-c", path, "--check"],
                         capture_output=True, text=True, timeout=30)
    expect(chk.returncode != 0 and "redis.sentinels and redis.master go together"
           in chk.stdout + chk.stderr, "--check: %r %r" % (chk.stdout, chk.stderr))


if __name__ == "__main__":
    run()
