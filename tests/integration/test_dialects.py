"""
tests/integration/test_dialects.py — every USSD dialect preset end to end:
kyzmatd with `dialect: NAME` against kyzmat-smsc --dialect NAME (the
simulator plays the network side from the same preset table, smpp/dialect).
For each preset a subscriber dials *100#, picks English and walks to a final
screen; the simulator's record of the dialog (control command `ussd-log`)
must show the preset's op codes both ways, its session key sent and echoed
(its_session_info, user_message_reference, or none), its data_coding values
and its way of ending.  An abort in the preset's way must reach kyzmatd as
a release; a gateway and a network on different presets must not crash
anything and must be logged as a mismatch by the simulator.

Helpers here are copies of the few test_ussd.py needs (importing that file
would register its cases).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failure, Kyzmatd, Phone, Smsc, ROOT, TMP, backend, case, cfg, expect,  # noqa: E402
                     menus_dir, run, smsc_entry, spawn, read_log, wait_until)

# What each preset looks like on the wire (mirrors smpp/dialect.c; written
# out here so that a change to the table has to be made on purpose twice).
PRESETS = {
    "standard":      dict(key="its", dcs=(0x00, 0x08), end_op=17, end_bit=True,  abort_op=18),
    "standard-3gpp": dict(key="its", dcs=(0x0F, 0x48), end_op=17, end_bit=True,  abort_op=18),
    "end-bit":       dict(key="its", dcs=(0x00, 0x08), end_op=2,  end_bit=True,  abort_op=18),
    "umr":           dict(key="umr", dcs=(0x00, 0x08), end_op=17, end_bit=False, abort_op=0x81),
    "msisdn":        dict(key="none", dcs=(0x00, 0x08), end_op=17, end_bit=False, abort_op=0x81),
}


def start(network, gateway=None, smsc_args=()):
    """kyzmat-smsc --dialect network, kyzmatd with dialect gateway (same by default)."""
    s = Smsc("--dialect", network, *smsc_args)
    expect(s.stats()["dialect"] == network, "simulator runs dialect %r" % s.stats()["dialect"])
    port = backend()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port, dialect=gateway or network))
                + "menus: %s\n" % menus_dir(port))
    g.wait_log(r"\[sim\] bound")
    return s, g


def walk(ph):
    """*100#, English, status, a valid number: the final screen."""
    kind, t = ph.dial("*100#")
    expect(kind == "continue" and "Language" in t, "language menu: %r %r" % (kind, t))
    kind, t = ph.send("3")
    expect(kind == "continue" and "Application status" in t, "main menu in English: %r" % t)
    kind, t = ph.send("1")
    expect(kind == "continue", "status prompt: %r %r" % (kind, t))
    kind, t = ph.send("1234567")
    expect(kind == "end", "final screen: %r %r" % (kind, t))
    return t


def check_record(name, rec):
    """The dialog record follows preset name in both directions."""
    p = PRESETS[name]
    sent, recv = rec["sent"], rec["received"]
    expect(rec["dialect"] == name and rec["outcome"] == "end", "record: %s" % rec)
    expect([x["op"] for x in sent] == [1, 18, 18, 18], "ops sent: %s" % sent)
    expect([x["op"] for x in recv] == [2, 2, 2, p["end_op"]], "ops received: %s" % recv)
    # the network's session key, and its echo
    for x in sent + recv:
        if p["key"] == "its":
            expect(x["its"] == rec["session"], "its_session_info %s, dialog %d" % (x, rec["session"]))
            expect(x["umr"] is None or x in recv, "umr sent on an its link: %s" % x)
        elif p["key"] == "umr":
            expect(x["umr"] == rec["umr"] and x["its"] is None,
                   "umr %s, dialog %d" % (x, rec["umr"]))
        else:
            expect(x["its"] is None and x["umr"] is None, "a session key on msisdn: %s" % x)
    # end signalling: the end bit only on the final screen, where the preset has one
    expect([x["end"] for x in recv] == [False, False, False, p["end_bit"]],
           "end bits received: %s" % recv)
    expect(not any(x["end"] for x in sent), "end bit sent by the handset: %s" % sent)
    # data_coding: the handset's digits are GSM, the language menu is UCS-2
    # (Cyrillic), the English screens GSM
    expect(all(x["dcs"] == p["dcs"][0] for x in sent), "dcs sent: %s" % sent)
    expect(recv[0]["dcs"] == p["dcs"][1], "language menu dcs: %s" % recv[0])
    expect(all(x["dcs"] == p["dcs"][0] for x in recv[1:]), "English screens dcs: %s" % recv)
    expect(rec["mismatches"] == 0, "the gateway strayed from %s: %s" % (name, rec["mismatch"]))


def dialect_case(name, msisdn):
    def walk_and_abort():
        s, g = start(name)
        ph = Phone(s, msisdn)
        text = walk(ph)
        expect("ready" in text.lower() or "1234567" in text, "status result: %r" % text)
        check_record(name, ph.record())
        expect(s.stats()["ussd_mismatches"] == 0, "mismatches: %s" % s.stats())
        # an abort in the preset's way is a release for kyzmatd
        ph.dial("*100#")
        ph.send("1")                   # the status prompt: a dialog in progress
        ph.abort()
        g.wait_log(r"USSD \*+%s: released by the network \(op %d\)"
                   % (msisdn[-4:], PRESETS[name]["abort_op"]))
        rec = ph.record()
        last = rec["sent"][-1]
        expect(rec["outcome"] == "abort" and last["op"] == PRESETS[name]["abort_op"],
               "abort record: %s" % rec)
        expect(last["end"] == (PRESETS[name]["key"] == "its"), "abort end bit: %s" % last)
        # and the gateway still serves: a new dial gets a screen
        kind, t = ph.dial("*100#")
        expect(kind == "continue", "dial after abort: %r %r" % (kind, t))
        ph.close()
        expect(g.alive(), "kyzmatd died")
    walk_and_abort.__name__ = "%s_walk_to_final_screen_and_abort" % name.replace("-", "_")
    case(walk_and_abort)


for _i, _name in enumerate(PRESETS):
    dialect_case(_name, "99655520%04d" % (_i + 1))


@case
def standard_release_by_ussrel_op():
    s, g = start("standard", smsc_args=("--ussd-abort", "ussrel"))
    ph = Phone(s, "996555209001")
    ph.dial("*100#")
    ph.abort()
    g.wait_log(r"USSD \*+9001: released by the network \(op 129\)")
    rec = ph.record()
    expect(rec["sent"][-1]["op"] == 0x81 and rec["sent"][-1]["end"], "ussrel: %s" % rec)
    expect(g.alive(), "kyzmatd died")


@case
def mismatch_standard_gateway_umr_network():
    """The gateway falls back from its_session_info to the umr it got, so
    this pair happens to work: no crash, the dialog completes."""
    s, g = start("umr", gateway="standard")
    ph = Phone(s, "996555209101")
    walk(ph)
    rec = ph.record()
    expect(rec["outcome"] == "end", "record: %s" % rec)
    expect(all(x["umr"] == rec["umr"] for x in rec["received"]), "umr echoed: %s" % rec)
    ph.dial("*100#")
    ph.abort()
    g.wait_log(r"USSD \*+9101: released by the network \(op 129\)")
    expect(g.alive() and s.proc.poll() is None, "a process died")


@case
def mismatch_umr_gateway_standard_network_is_logged():
    """A umr gateway does not echo its_session_info: the standard network
    sees every screen without its session key, counts and logs it."""
    s, g = start("standard", gateway="umr")
    ph = Phone(s, "996555209201")
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "first screen: %r" % kind)
    ph.send("3")
    ph.send("1")
    kind, t = ph.send("1234567")
    expect(kind == "end", "op 17 still ends the dialog: %r" % kind)
    rec = ph.record()
    expect(rec["mismatches"] >= 4 and "its_session_info" in rec["mismatch"],
           "mismatch recorded: %s" % rec)
    expect(s.stats()["ussd_mismatches"] >= 4, "stats: %s" % s.stats())
    wait_until(lambda: "dialect standard mismatch: no its_session_info echoed" in s.log(),
               5, "the simulator to log the mismatch")
    expect(g.alive() and s.proc.poll() is None, "a process died")


@case
def mismatch_msisdn_gateway_end_bit_network_is_logged():
    """An end-bit network expects op 2 + end bit; a msisdn gateway ends
    with op 17 and echoes nothing.  The dialog still ends (op 17 is read
    leniently) and the deviation is logged."""
    s, g = start("end-bit", gateway="msisdn")
    ph = Phone(s, "996555209301")
    walk(ph)
    rec = ph.record()
    expect(rec["outcome"] == "end" and rec["received"][-1]["op"] == 17, "record: %s" % rec)
    expect(rec["mismatches"] > 0, "no mismatch counted: %s" % rec)
    wait_until(lambda: re.search(r"dialect end-bit mismatch: ", s.log()), 5,
               "the simulator to log the mismatch")
    # the network's abort (end bit on op 18) means nothing to a msisdn
    # gateway but must not crash it
    ph.dial("*100#")
    ph.abort()
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "dial after a foreign abort: %r" % kind)
    expect(g.alive() and s.proc.poll() is None, "a process died")


if __name__ == "__main__":
    run()
