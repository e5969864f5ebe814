"""
tests/integration/test_console_menus.py — the console's menu rooms (issue
10 console-ws, gateway/console_menus): an editor saves a draft file and a
viewer may not (403), the save is audited with the file's name and size
only; the draft is checked with the loader's error at file:line:column
for a broken YAML, its unsaved text too; the graph flags an unreachable
node; measure says 81 Cyrillic characters do not fit one screen; the
draft can be filled from the live folder; the phone emulator dials *100#
of the live set (any viewer) and of the draft (editor only), answers,
goes back and ends; a draft's http node pointed at 127.0.0.1 is refused
by fetch's guard unless callbacks.allow names it; the vendor scripts are
served with charset=utf-8 and refuse traversal.

Owns: the processes it starts (harness).
May call: harness, test_console's helpers (Browser, create_admin), the
Python standard library.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (ROOT, Kyzmatd, backend, case, cfg, expect, free_port,  # noqa: E402
                     menus_dir, run, smsc_entry, wait_until)
from test_console import PASSWORD, Browser, audit_rows, create_admin  # noqa: E402

# test_console's cases run from their own file
del harness._cases[:]

HTTP_SET = os.path.join(ROOT, "tests", "unit", "menus-http")


def start(extra=""):
    """kyzmatd with the example menus live, the admin listener and the
    console: (gateway, admin port, back-end port)."""
    bport = backend()
    g = Kyzmatd(cfg(smsc_entry("sim", free_port())) + "menus: %s\n" % menus_dir(bport)
                + 'admin: {listen: "127.0.0.1:0"}\n' + extra)
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+")
    port = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    create_admin(g)
    return g, port, bport


def accounts(port):
    """The admin, an editor and a viewer, each logged in."""
    admin = Browser(port)
    expect(admin.login("aida", PASSWORD)[0] == 200, "admin login")
    out = [admin]
    for name, role in (("emil", "editor"), ("vera", "viewer")):
        code, r = admin.json("POST", "/console/api/accounts", {"op": "create", "name": name, "role": role})
        expect(code == 201, "create %s: %d %r" % (name, code, r))
        b = Browser(port)
        expect(b.login(name, r["password"])[0] == 200, "%s login" % name)
        out.append(b)
    return out


def http_files(bport):
    """tests/unit/menus-http (a set with http nodes) on back-end bport."""
    files = {}
    for n in sorted(os.listdir(HTTP_SET)):
        text = open(os.path.join(HTTP_SET, n), encoding="utf-8").read()
        files[n] = text.replace("127.0.0.1:8099", "127.0.0.1:%d" % bport)
    return files


def audited(g, action):
    """The audit rows of action, once the store has committed them."""
    wait_until(lambda: audit_rows(g, action), 10, "audit %s" % action)
    return audit_rows(g, action)


BROKEN = "nodes:\n  - id: a\n    type: end\n    text: [unclosed\n"


@case
def the_draft_is_saved_by_editors_checked_and_graphed():
    g, port, _ = start()
    _, editor, viewer = accounts(port)
    code, r = viewer.json("PUT", "/console/api/draft/50-extra.yaml", {"text": "x: 1\n"})
    expect(code == 403, "viewer save: %d %r" % (code, r))
    code, r = editor.json("PUT", "/console/api/draft/50-extra.yaml", {"text": "x: 1\n"}, csrf=False)
    expect(code == 403, "save without CSRF: %d %r" % (code, r))
    code, r = editor.json("PUT", "/console/api/draft/../etc.yaml", {"text": "x"})
    expect(code in (400, 404), "a bad name: %d %r" % (code, r))
    # from the live folder, then one file saved
    code, r = editor.json("POST", "/console/api/draft/from-live")
    expect(code == 200 and r["files"] == 5 and r["size"] > 1000, "from live: %d %r" % (code, r))
    code, r = viewer.json("GET", "/console/api/draft")
    expect(code == 200 and sorted(r["files"]) == ["00-settings.yaml", "10-main.yaml", "20-status.yaml",
                                                    "30-booking.yaml", "40-subscribe.yaml"]
           and r["files"]["10-main.yaml"]["updated_by"] == "emil", "draft: %d %r" % (code, sorted(r)))
    code, r = viewer.json("POST", "/console/api/draft/check")
    expect(code == 200 and r["ok"] is True and "*100#" in r["codes"], "check the live copy: %r" % r)
    code, r = editor.json("PUT", "/console/api/draft/50-extra.yaml", {"text": BROKEN})
    expect(code == 200 and r["size"] == len(BROKEN), "save: %d %r" % (code, r))
    rows = audited(g, "draft.put")
    expect(len(rows) == 1 and rows[0][0] == "emil" and rows[0][3] == "50-extra.yaml"
           and '"size":%d' % len(BROKEN) in rows[0][4].replace(" ", "") and "unclosed" not in rows[0][4],
           "audited, name and size only: %r" % rows)
    code, r = viewer.json("POST", "/console/api/draft/check")
    errs = [e for e in r.get("errors", []) if e["file"] == "50-extra.yaml"]
    expect(code == 200 and r["ok"] is False and errs and errs[0]["line"] == 5 and errs[0]["column"] >= 1,
           "check's error at file:line:column: %r" % r)
    # the unsaved text in the body is checked instead of the store's
    code, r = viewer.json("POST", "/console/api/draft/check",
                          {"files": {"50-extra.yaml": "nodes:\n  - id: a\n    type: bogus\n"}})
    errs = [e for e in r.get("errors", []) if e["file"] == "50-extra.yaml"]
    expect(code == 200 and errs and errs[0]["line"] == 3, "unsaved text: %r" % r)
    code, r = editor.json("DELETE", "/console/api/draft/50-extra.yaml")
    expect(code == 200 and len(audited(g, "draft.delete")) == 1, "delete: %d %r" % (code, r))
    code, r = editor.json("DELETE", "/console/api/draft/50-extra.yaml")
    expect(code == 404, "delete twice: %d" % code)
    # the graph flags a node nothing leads to
    lonely = "nodes:\n  - id: lonely\n    type: end\n    text: {ky: \"x\", ru: \"x\", en: \"x\"}\n"
    code, r = editor.json("PUT", "/console/api/draft/60-lonely.yaml", {"text": lonely})
    code, r = viewer.json("POST", "/console/api/draft/graph")
    nodes = {n["id"]: n for n in ((r.get("graph") or {}).get("nodes") or [])}
    expect(code == 200 and nodes.get("lonely", {}).get("unreachable") is True
           and nodes["lonely"]["file"] == "60-lonely.yaml" and nodes["lonely"]["line"] == 2
           and nodes["main"]["unreachable"] is False and (r["graph"]["edges"]),
           "graph: %d %r" % (code, {k: v.get("unreachable") for k, v in nodes.items()}))


@case
def measure_as_you_type():
    g, port, _ = start()
    _, _, viewer = accounts(port)
    code, r = viewer.json("POST", "/console/api/measure", {"text": "Ж" * 80, "lang": "ru", "final": True})
    expect(code == 200 and r["encoding"] == "UCS-2" and r["fits"] is True and r["pages"] == 1,
           "80 Cyrillic characters fit: %r" % r)
    code, r = viewer.json("POST", "/console/api/measure", {"text": "Ж" * 81, "lang": "ru", "final": True})
    expect(code == 200 and r["encoding"] == "UCS-2" and r["fits"] is False and r["pages"] >= 2
           and r["chars"] == 81 and r["limit"] == 80, "81 do not: %r" % r)
    code, r = viewer.json("POST", "/console/api/measure", {"text": "x", "lang": "xx"})
    expect(code == 400 and "error" in r, "unknown language: %d %r" % (code, r))
    # the vendor scripts: their type with charset, traversal refused, no session no file
    code, h, b = viewer.call("GET", "/console/vendor/codemirror/lib/codemirror.js")
    expect(code == 200 and h["Content-Type"] == "text/javascript; charset=utf-8" and b"CodeMirror" in b,
           "codemirror: %d %s" % (code, h.get("Content-Type")))
    code, h, _ = viewer.call("GET", "/console/vendor/d3/d3.min.js")
    expect(code == 200 and "charset=utf-8" in h["Content-Type"], "d3: %d" % code)
    code, _, _ = viewer.call("GET", "/console/vendor/codemirror/../../../../etc/passwd")
    expect(code in (400, 404), "traversal: %d" % code)
    code, _, _ = Browser(port).call("GET", "/console/vendor/d3/d3.min.js")
    expect(code in (303, 401), "no session: %d" % code)
    code, h, b = viewer.call("GET", "/console/menus")
    expect(code == 200 and "text/html; charset=utf-8" == h["Content-Type"] and b"menus.js" in b,
           "the page: %d" % code)


def screen(r):
    return r["screen"]["text"]


@case
def the_emulator_dials_live_and_draft():
    g, port, bport = start()
    _, editor, viewer = accounts(port)
    code, r = viewer.json("POST", "/console/api/emulator/dial", {"code": "*100#", "lang": "en"})
    expect(code == 200 and screen(r).startswith("Public Service Centre") and r["lang"] == "en"
           and r["screen"]["encoding"] == "GSM-7" and r["screen"]["limit_octets"] == 160
           and 0 < r["screen"]["octets"] <= 160 and r["screen"]["page"] == 1, "live dial: %d %r" % (code, r))
    sid = r["session"]
    code, r = viewer.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "5"})
    expect(code == 200 and r["node"] == "help" and r["end"] in (False, True), "help: %d %r" % (code, r))
    code, r = viewer.json("POST", "/console/api/emulator/dial", {"code": "*100#", "lang": "ru"})
    sid = r["session"]
    expect(r["screen"]["encoding"] == "UCS-2", "ru is UCS-2: %r" % r["screen"])
    code, r = viewer.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "1"})
    expect(code == 200 and r["node"] == "status_number", "status: %d %r" % (code, r))
    code, r = viewer.json("POST", "/console/api/emulator/answer", {"session": sid, "key": "back"})
    expect(code == 200 and r["node"] == "main", "back: %d %r" % (code, r))
    code, r = viewer.json("POST", "/console/api/emulator/end", {"session": sid})
    expect(code == 200 and r["end"] is True, "end: %d %r" % (code, r))
    code, r = viewer.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "1"})
    expect(code == 404, "after the end: %d %r" % (code, r))
    # the draft: editors only; a viewer cannot smuggle files into a live dial
    code, r = viewer.json("POST", "/console/api/emulator/dial", {"code": "*100#", "draft": True})
    expect(code == 403, "viewer dials the draft: %d %r" % (code, r))
    code, r = viewer.json("POST", "/console/api/emulator/dial",
                          {"code": "*100#", "lang": "en", "files": {"a.yaml": "codes: {}\n"}})
    expect(code == 200 and screen(r).startswith("Public Service Centre"), "files ignored: %d %r" % (code, r))
    main = open(os.path.join(HTTP_SET, "10-main.yaml"), encoding="utf-8").read()
    files = http_files(bport)
    files["10-main.yaml"] = main.replace('en: "Public Service Centre"', 'en: "Draft Centre"')
    for n, t in files.items():
        expect(editor.json("PUT", "/console/api/draft/" + n, {"text": t})[0] == 200, "put " + n)
    code, r = editor.json("POST", "/console/api/emulator/dial", {"code": "*100#", "lang": "en", "draft": True})
    expect(code == 200 and screen(r).startswith("Draft Centre"), "draft dial: %d %r" % (code, r))
    sid = r["session"]
    editor.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "2"})
    code, r = editor.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "1"})
    notes = " ".join(r.get("notes", []))
    expect(code == 200 and "not answering" in screen(r) and "book_offices" in notes
           and "HTTP 200" not in notes, "a draft's http node at 127.0.0.1 is refused: %d %r" % (code, r))
    code, r = editor.json("POST", "/console/api/emulator/dial",
                          {"code": "*100#", "lang": "en", "draft": True,
                           "files": {"10-main.yaml": "nodes: [\n"}})
    expect(code == 422 and r.get("errors"), "a broken draft is not dialled: %d %r" % (code, r))


@case
def callbacks_allow_lets_a_draft_reach_a_test_backend():
    g, port, bport = start("callbacks: {allow: [127.0.0.1]}\n")
    _, editor, _ = accounts(port)
    code, r = editor.json("POST", "/console/api/emulator/dial",
                          {"code": "*100#", "lang": "en", "draft": True, "files": http_files(bport)})
    sid = r["session"]
    editor.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "2"})
    code, r = editor.json("POST", "/console/api/emulator/answer", {"session": sid, "text": "1"})
    expect(code == 200 and r["node"] == "book_office" and screen(r).startswith("Choose an office:")
           and "HTTP 200" in " ".join(r["notes"]), "allowed back-end: %d %r" % (code, r))


if __name__ == "__main__":
    run()
