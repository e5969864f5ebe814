#!/usr/bin/env python3
"""scripts/gen-pdu-corpus.py — writes the seed corpus tests/fuzz/corpus/pdu/.

One file per PDU type (the golden vectors of tests/unit/test_pdu.c, built
here field by field from SMPP 3.4 chapter 4), plus broken variants of them:
truncated, a lying command_length, an over-long C-string, sm_length 255 or
past the end, TLV overruns and standard TLVs of a wrong length, trailing
octets, unknown command ids.  Deterministic: re-running rewrites the same
files.  The fz-* files next to them are inputs libFuzzer found (minimised
with -merge=1); this script leaves them alone.
Usage: scripts/gen-pdu-corpus.py [OUTDIR]
"""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus", "pdu")


def cstr(s):
    return s.encode() + b"\0"


def u8(*v):
    return bytes(v)


def tlv(tag, val):
    return struct.pack(">HH", tag, len(val)) + val


def pdu(cid, body=b"", status=0, seq=1):
    return struct.pack(">IIII", 16 + len(body), cid, status, seq) + body


def sm_body(service="", src=(0, 0, ""), dst=(0, 0, ""), esm=0, pid=0, prio=0,
            sched="", valid="", reg=0, rep=0, dc=0, defid=0, sm=b"", tlvs=b""):
    return (cstr(service) + u8(src[0], src[1]) + cstr(src[2]) + u8(dst[0], dst[1])
            + cstr(dst[2]) + u8(esm, pid, prio) + cstr(sched) + cstr(valid)
            + u8(reg, rep, dc, defid, len(sm)) + sm + tlvs)


MSISDN = "996555123456"
good = {
    "bind_transmitter": pdu(0x2, cstr("kyzmat") + cstr("secret") + cstr("") + u8(0x34, 1, 1) + cstr("")),
    "bind_receiver": pdu(0x1, cstr("rx") + cstr("pw") + cstr("VMA") + u8(0x34, 0, 0) + cstr("^996")),
    "bind_transceiver": pdu(0x9, cstr("kyzmat") + cstr("secret") + cstr("USSD") + u8(0x34, 5, 0) + cstr("")),
    "bind_transmitter_resp": pdu(0x80000002, cstr("SMSC") + tlv(0x0210, b"\x34")),
    "bind_receiver_resp": pdu(0x80000001, cstr("SMSC")),
    "bind_transceiver_resp": pdu(0x80000009, cstr("SMSC") + tlv(0x0210, b"\x34")),
    "bind_transceiver_resp_err_empty": pdu(0x80000009, b"", status=0x0E),
    "outbind": pdu(0xB, cstr("smsc1") + cstr("pw")),
    "unbind": pdu(0x6),
    "unbind_resp": pdu(0x80000006),
    "enquire_link": pdu(0x15, seq=0x7fffffff),
    "enquire_link_resp": pdu(0x80000015, seq=0x7fffffff),
    "generic_nack": pdu(0x80000000, status=3, seq=77),
    "submit_sm_ussd_ucs2": pdu(0x4, sm_body("USSD", (0, 0, "100"), (1, 1, MSISDN), dc=8,
                                            sm=b"\x04\x21\x04\x30",
                                            tlvs=tlv(0x0501, b"\x02") + tlv(0x1383, b"\x12\x00"))),
    "submit_sm_ussd_end": pdu(0x4, sm_body("USSD", (0, 0, "100"), (1, 1, MSISDN), dc=0x0f,
                                           sm=b"Thank you", tlvs=tlv(0x0501, b"\x11") + tlv(0x1383, b"\x12\x05"))),
    "submit_sm_sar": pdu(0x4, sm_body(src=(0, 0, "100"), dst=(1, 1, MSISDN), reg=1,
                                      sm=b"part two",
                                      tlvs=tlv(0x020C, b"\xbe\xef") + tlv(0x020E, b"\x03") + tlv(0x020F, b"\x02"))),
    "submit_sm_udh": pdu(0x4, sm_body(src=(5, 0, "Kyzmat"), dst=(1, 1, MSISDN), esm=0x40, dc=8,
                                      sm=b"\x05\x00\x03\x2a\x02\x01" + "Салам".encode("utf-16-be"))),
    "submit_sm_payload": pdu(0x4, sm_body(src=(0, 0, "100"), dst=(1, 1, MSISDN),
                                          tlvs=tlv(0x0424, b"long text " * 30))),
    "submit_sm_resp": pdu(0x80000004, cstr("5f3a9c01"), seq=0x102),
    "submit_sm_resp_throttled_empty": pdu(0x80000004, b"", status=0x58),
    "submit_sm_resp_tlv": pdu(0x80000004, cstr("1") + tlv(0x0425, b"\x00") + tlv(0x0423, b"\x03\x00\x01")),
    "deliver_sm_ussd_start": pdu(0x5, sm_body("USSD", (1, 1, MSISDN), (0, 0, "*100#"), dc=0x0f, sm=b"*100#",
                                              tlvs=tlv(0x0501, b"\x01") + tlv(0x1383, b"\x12\x00")), seq=7),
    "deliver_sm_ussd_continue": pdu(0x5, sm_body("USSD", (1, 1, MSISDN), (0, 0, "100"), sm=b"2",
                                                 tlvs=tlv(0x0501, b"\x12") + tlv(0x1383, b"\x12\x02")
                                                 + tlv(0x0204, b"\x00\x2a"))),
    "deliver_sm_ussd_abort": pdu(0x5, sm_body("USSD", (1, 1, MSISDN), (0, 0, "100"),
                                              tlvs=tlv(0x0501, b"\x81") + tlv(0x1383, b"\x12\x03"))),
    "deliver_sm_receipt": pdu(0x5, sm_body(src=(1, 1, MSISDN), dst=(0, 0, "100"), esm=4,
                                           sm=b"id:42 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:hi",
                                           tlvs=tlv(0x001E, b"42\0") + tlv(0x0427, b"\x02") + tlv(0x0423, b"\x03\x00\x00"))),
    "deliver_sm_vendor_tlv": pdu(0x5, sm_body(src=(1, 1, "1"), dst=(0, 0, "2"),
                                              tlvs=tlv(0x1400, b"\xde\xad\x00") + tlv(0xFFFF, b""))),
    "deliver_sm_resp": pdu(0x80000005, cstr(""), seq=7),
    "deliver_sm_resp_tlv": pdu(0x80000005, cstr("") + tlv(0x001D, b"ok\0")),
    "data_sm": pdu(0x103, cstr("") + u8(1, 1) + cstr(MSISDN) + u8(0, 0) + cstr("100") + u8(0, 1, 0)
                   + tlv(0x0424, b"hi")),
    "data_sm_resp": pdu(0x80000103, cstr("77") + tlv(0x001D, b"ok\0")),
    "query_sm": pdu(0x3, cstr("5f3a9c01") + u8(0, 0) + cstr("100")),
    "query_sm_resp": pdu(0x80000003, cstr("5f3a9c01") + cstr("240101120000000+") + u8(2, 0)),
    "cancel_sm": pdu(0x8, cstr("") + cstr("5f3a9c01") + u8(0, 0) + cstr("100") + u8(1, 1) + cstr(MSISDN)),
    "cancel_sm_resp": pdu(0x80000008),
    "replace_sm": pdu(0x7, cstr("5f3a9c01") + u8(0, 0) + cstr("100") + cstr("") + cstr("000001000000000R")
                      + u8(1, 0, 2) + b"hi"),
    "replace_sm_resp": pdu(0x80000007, status=0x13),
    "alert_notification": pdu(0x102, u8(1, 1) + cstr(MSISDN) + u8(0, 0) + cstr("100") + tlv(0x0422, b"\x00")),
}


def relen(b, n=None):
    """Set command_length to n (default: the real length)."""
    return struct.pack(">I", len(b) if n is None else n) + b[4:]


broken = {
    "short_15": good["enquire_link"][:15],
    "short_4": good["enquire_link"][:4],
    "len_15": relen(good["enquire_link"], 15),
    "len_lies_long": relen(good["submit_sm_resp"], 200),
    "len_huge": relen(good["submit_sm_resp"], 0xFFFFFFFF),
    "unknown_cmd": pdu(0x99, b"abc"),
    "submit_multi": pdu(0x21, b"\0\0\0\0"),
    "enquire_link_trailing": relen(good["enquire_link"] + b"\0"),
    "generic_nack_body": relen(good["generic_nack"] + b"\0"),
    "query_sm_trailing": relen(good["query_sm"] + b"\xff"),
    "bind_no_nul": pdu(0x2, b"kyzmatkyzmatkyzmat"),
    "bind_sysid_16": pdu(0x2, cstr("A" * 16) + cstr("") + cstr("") + u8(0x34, 0, 0) + cstr("")),
    "bind_truncated": relen(good["bind_transmitter"][:-2]),
    "submit_src_21": pdu(0x4, sm_body(src=(0, 0, "1" * 21))),
    "submit_sm_255": pdu(0x4, sm_body(sm=b"x" * 255)[:-256] + b"\xff" + b"x" * 255),
    "submit_sm_past_end": pdu(0x4, sm_body(sm=b"x" * 20)[:-21] + b"\x28" + b"x" * 20),
    "tlv_overrun": relen(good["submit_sm_resp"] + struct.pack(">HH", 0x0427, 5) + b"\x01"),
    "tlv_hdr_cut": relen(good["submit_sm_resp"] + b"\x04\x27\x00"),
    "its_len_1": pdu(0x5, sm_body(tlvs=tlv(0x1383, b"\x12"))),
    "ussd_op_len_2": pdu(0x5, sm_body(tlvs=tlv(0x0501, b"\x01\x00"))),
    "nec_len_2": pdu(0x5, sm_body(tlvs=tlv(0x0423, b"\x03\x00"))),
    "receipted_id_66": pdu(0x5, sm_body(tlvs=tlv(0x001E, b"1" * 65 + b"\0"))),
    "alert_on_delivery_len_1": pdu(0x4, sm_body(tlvs=tlv(0x130C, b"\x00"))),
    "too_many_tlvs": pdu(0x80000004, b"\0" + tlv(0x1400, b"") * 25),
    "empty_resp_status_ok": pdu(0x80000004),
    "empty_request": pdu(0x4, status=0x58),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in list(good.items()) + [("bad_" + k, v) for k, v in broken.items()]:
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(good) + len(broken)} files in {OUT}")


if __name__ == "__main__":
    main()
