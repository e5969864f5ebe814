"""
tests/integration/hostile.py — a hostile SMSC for kyzmat's integration
tests: accepts the bind properly, then sends malformed PDUs and records how
each one is answered.  Test use only; listens on 127.0.0.1.

Every malformed PDU has a sane command_length (so the stream stays in
frame) and a unique sequence number; a correct ESME answers each one with
generic_nack or the matching *_resp carrying an error status, and keeps the
link.  The last act (optional) is a command_length of 0xFFFFFFFF, after
which the only sane thing is to drop the link.
"""
import random
import socket
import struct
import threading

from harness import pdu, read_pdu

BIND_TRX = 0x00000009
DELIVER_SM = 0x00000005
DATA_SM = 0x00000103
GENERIC_NACK = 0x80000000


def cstr(s, n=None):
    return s + b"\0"


def deliver_body(service_type=b"", src=b"996555000001", dst=b"100", sm=b"hi", sm_len=None, tlvs=b"",
                 esm=0, dc=0):
    return (cstr(service_type) + bytes([1, 1]) + cstr(src) + bytes([0, 0]) + cstr(dst)
            + bytes([esm, 0, 0]) + b"\0" + b"\0" + bytes([0, 0, dc, 0])
            + bytes([len(sm) if sm_len is None else sm_len]) + sm + tlvs)


def malformed(rng, i):
    """The i-th malformed PDU: (command_id, body)."""
    kind = i % 12
    if kind == 0:   # unknown command id
        return 0x00000099 + (i % 7), b""
    if kind == 1:   # sm_length beyond the body
        return DELIVER_SM, deliver_body(sm=b"abc", sm_len=200)
    if kind == 2:   # C-string with no NUL within its maximum (service_type max 6)
        return DELIVER_SM, b"USSDUSSDUSSD" + deliver_body()[1:]
    if kind == 3:   # TLV length overrunning the PDU
        return DELIVER_SM, deliver_body(tlvs=struct.pack(">HH", 0x0501, 50) + b"\x01")
    if kind == 4:   # ussd_service_op of the wrong size
        return DELIVER_SM, deliver_body(tlvs=struct.pack(">HH", 0x0501, 3) + b"\x01\x02\x03")
    if kind == 5:   # trailing garbage after the TLVs (a truncated TLV header)
        return DELIVER_SM, deliver_body() + b"\x05"
    if kind == 6:   # empty body
        return DELIVER_SM, b""
    if kind == 7:   # random bytes
        return DELIVER_SM, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 80)))
    if kind == 8:   # its_session_info of one octet
        return DELIVER_SM, deliver_body(tlvs=struct.pack(">HH", 0x1383, 1) + b"\x07")
    if kind == 9:   # destination_addr too long (max 21 incl. NUL)
        return DELIVER_SM, deliver_body(dst=b"9" * 40)
    if kind == 10:  # data_sm with a missing field
        return DATA_SM, b"USSD\0\x01\x01"
    return DELIVER_SM, deliver_body(sm=b"x" * 10, sm_len=255)  # 255 > 254


class HostileSmsc:
    def __init__(self, count=1000, final_absurd=True, seed=1):
        self.count = count
        self.final_absurd = final_absurd
        self.rng = random.Random(seed)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.binds = 0
        self.answers = {}          # seq -> (command_id, status)
        self.sent = 0
        self.done = threading.Event()
        self.closed_after_absurd = False
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _serve_bind(self, c):
        p = read_pdu(c)
        if p is None or p[0] != BIND_TRX:
            raise RuntimeError("expected bind_transceiver, got %r" % (p,))
        self.binds += 1
        c.sendall(pdu(0x80000000 | BIND_TRX, p[2], b"hostile\0"))

    def _run(self):
        try:
            c, _ = self.srv.accept()
            c.settimeout(20)
            self._serve_bind(c)
            reader = threading.Thread(target=self._read, args=(c,), daemon=True)
            reader.start()
            for i in range(self.count):
                cmd, body = malformed(self.rng, i)
                c.sendall(pdu(cmd, 1000 + i, body))
                self.sent += 1
            reader.join(20)
            if self.final_absurd:
                c.sendall(struct.pack(">IIII", 0xFFFFFFFF, DELIVER_SM, 0, 99999))
                try:
                    while True:
                        p = read_pdu(c)
                        if p is None:
                            self.closed_after_absurd = True
                            break
                except OSError:
                    self.closed_after_absurd = True
                # The ESME should come back and bind again.
                c2, _ = self.srv.accept()
                c2.settimeout(20)
                self._serve_bind(c2)
                self.c2 = c2
        except Exception as e:  # reported through .error
            self.error = e
        finally:
            self.done.set()

    def _read(self, c):
        while len(self.answers) < self.count:
            p = read_pdu(c)
            if p is None:
                return
            cmd, status, seq, _ = p
            if cmd == 0x80000015 or cmd == 0x00000015:  # enquire_link traffic
                if cmd == 0x00000015:
                    c.sendall(pdu(0x80000015, seq))
                continue
            self.answers[seq] = (cmd, status)
