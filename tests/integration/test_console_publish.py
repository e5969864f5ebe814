"""
tests/integration/test_console_publish.py — issue 10 publish: a draft
published from the console goes live on every node; versions are numbered
and immutable; rollback publishes an earlier version's files again; maker-
checker; every step audited.

Cases:
- publish from a draft: version 1 is live, its diff is stored, a phone
  dialling *100# gets the new text; a broken draft is refused (422) with
  its file:line:column error and nothing changes (no version, same text);
  a viewer's publish is 403 and audited;
- two kyzmatd on one database file: a publish on one, the other switches
  within a few seconds (its /console/api/nodes row shows the version); a
  dialog started before the publish finishes on the old version;
  rollback publishes the earlier files as a new number and the old text is
  back on a real dial; SIGHUP loads the folder and marks the node "files";
- maker-checker: an editor's publish is pending (nothing changes), the
  same account cannot approve it (403), another publisher can (live).

The draft is written straight into the store's menu_drafts table (the
workspace's editing routes are another room's); accounts are made through
/console/api/accounts as test_console.py does.
Owns: the processes it starts (harness).
May call: harness, test_console (Browser, create_admin, PASSWORD), the
Python standard library (sqlite3, json, re, signal).
"""
import json
import os
import re
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (TMP, Kyzmatd, Phone, Smsc, case, expect, run,  # noqa: E402
                     smsc_entry, wait_until)
_theirs = len(harness._cases)
from test_console import PASSWORD, Browser, create_admin  # noqa: E402
del harness._cases[_theirs:]     # their helpers, not their cases

SETTINGS = """settings:
  languages: [en]
  default_language: en
  resume_seconds: 0
  keys: { back: "0", home: "00", more: "99" }
  labels:
    back: { en: "Back" }
    home: { en: "Home" }
    more: { en: "More" }
  messages:
    failure: { en: "Unavailable." }
"""

MAIN = """nodes:
  - id: main
    type: menu
    text: { en: "Hello %(v)s" }
    options:
      - { label: { en: "Next" }, next: bye }
  - id: bye
    type: end
    text: { en: "Bye %(v)s" }
codes:
  "*100#": main
"""

_dirs = [0]


def menus_folder(v):
    _dirs[0] += 1
    d = os.path.join(TMP, "pubmenus%d" % _dirs[0])
    os.makedirs(d)
    with open(os.path.join(d, "00-settings.yaml"), "w") as f:
        f.write(SETTINGS)
    with open(os.path.join(d, "10-main.yaml"), "w") as f:
        f.write(MAIN % {"v": v})
    return d


def node(name, smsc, db, menus, maker_checker=False):
    text = ("log: {level: info}\nmenus: %s\nsmsc:\n%s"
            "admin:\n  listen: \"127.0.0.1:0\"\n"
            "  console: {node: %s, version_check: 200ms, maker_checker: %s}\n"
            "database: {path: %s}\n"
            % (menus, smsc_entry("sim", smsc.port, default_route="true"), name,
               "true" if maker_checker else "false", db))
    g = Kyzmatd(text, name=name)
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+")
    g.wait_log(r"\[sim\] bound")
    g.admin = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    g.db = db
    return g


def put_draft(db, files, who="ed"):
    con = sqlite3.connect(db, timeout=10)
    try:
        con.execute("DELETE FROM menu_drafts")
        for name, text in files.items():
            con.execute("INSERT INTO menu_drafts(name, text, updated_by, updated_at)"
                        " VALUES(?, ?, ?, 0)", (name, text, who))
        con.commit()
    finally:
        con.close()


def draft(v):
    return {"00-settings.yaml": SETTINGS, "10-main.yaml": MAIN % {"v": v}}


def audit(db, action):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT actor, action, target, detail FROM audit WHERE action = ?"
                           " ORDER BY id", (action,)).fetchall()
    finally:
        con.close()


def login(g, name):
    b = Browser(g.admin)
    code, _, body = b.login(name, PASSWORD)
    expect(code == 200, "login %s: %d %r" % (name, code, body))
    return b


def account(admin, name, role):
    code, j = admin.json("POST", "/console/api/accounts",
                         {"op": "create", "name": name, "role": role, "password": PASSWORD})
    expect(code in (200, 201), "create %s: %d %r" % (name, code, j))


def node_row(b, name):
    code, j = b.json("GET", "/console/api/nodes")
    expect(code == 200, "nodes: %d %r" % (code, j))
    return next((n for n in j["nodes"] if n["node"] == name), None)


def wait_version(b, name, version, source="console", timeout=10):
    def ok():
        r = node_row(b, name)
        return r is not None and r["version"] == version and r["source"] == source
    wait_until(ok, timeout, "node %s on version %s (%s)" % (name, version, source))


def dial_text(phone):
    kind, text = phone.dial("*100#")
    phone.abort()
    return text


@case
def publish_from_draft_and_refuse_a_broken_one():
    s = Smsc()
    db = os.path.join(TMP, "pub1.db")
    g = node("n1", s, db, menus_folder("disk"))
    create_admin(g, "aida")
    admin = login(g, "aida")
    account(admin, "vera", "viewer")
    phone = Phone(s, "996555000101")
    expect("Hello disk" in dial_text(phone), "before any publish: the folder")
    wait_version(admin, "n1", None, "files")

    put_draft(db, draft("one"))
    code, j = admin.json("POST", "/console/api/publish", {"note": "first"})
    expect(code == 201 and j == {"number": 1, "state": "live"}, "publish: %d %r" % (code, j))
    wait_version(admin, "n1", 1)
    expect("Hello one" in dial_text(phone), "the new text on a real dial")
    code, v = admin.json("GET", "/console/api/versions/1")
    expect(code == 200 and v["author"] == "aida" and v["note"] == "first" and v["state"] == "live"
           and v["files"]["10-main.yaml"] == MAIN % {"v": "one"}
           and "+++ b/10-main.yaml" in v["diff"] and "+    text: { en: \"Hello one\" }" in v["diff"],
           "version 1: %d %r" % (code, v))

    # a broken draft: refused with file:line:column, nothing changes
    put_draft(db, {"00-settings.yaml": SETTINGS,
                   "10-main.yaml": (MAIN % {"v": "two"}).replace("next: bye", "next: nowhere")})
    code, j = admin.json("POST", "/console/api/publish", {"note": "broken"})
    errs = j.get("errors") or []
    expect(code == 422 and errs and errs[0]["file"] == "10-main.yaml" and errs[0]["line"] > 0
           and errs[0]["column"] > 0 and "nowhere" in errs[0]["message"],
           "broken draft: %d %r" % (code, j))
    code, lst = admin.json("GET", "/console/api/versions")
    expect(code == 200 and [x["number"] for x in lst["versions"]] == [1] and lst["live"] == 1,
           "still one version: %r" % lst)
    expect("Hello one" in dial_text(phone), "still the live text")

    # the page: /console/versions leads to it, served as HTML with its script
    code, h, _ = admin.call("GET", "/console/versions")
    expect(code == 303 and h["Location"] == "/console/static/versions.html", "page: %d" % code)
    code, h, page = admin.call("GET", "/console/static/versions.html")
    expect(code == 200 and h["Content-Type"] == "text/html; charset=utf-8"
           and b"versions.js" in page, "versions.html: %d" % code)
    code, h, _ = admin.call("GET", "/console/static/versions.js")
    expect(code == 200 and "javascript" in h["Content-Type"], "versions.js: %d" % code)

    # a viewer may not publish; the attempt is audited
    viewer = login(g, "vera")
    code, j = viewer.json("POST", "/console/api/publish", {"note": "x"})
    expect(code == 403, "viewer publish: %d %r" % (code, j))
    rows = audit(db, "publish.refused")
    expect(any(r[0] == "vera" for r in rows) and any(r[0] == "aida" and '"code":422' in r[3]
                                                     for r in rows),
           "refusals audited: %r" % rows)
    rows = audit(db, "publish")
    expect(len(rows) == 1 and rows[0][0] == "aida" and rows[0][2] == "version 1"
           and '"note":"first"' in rows[0][3], "publish audited: %r" % rows)
    # the database refuses to change a stored version
    con = sqlite3.connect(db, timeout=10)
    try:
        con.execute("UPDATE menu_versions SET files = '{}' WHERE id = 1")
        changed = True
    except sqlite3.DatabaseError:
        changed = False
    con.close()
    expect(not changed, "a version's files were changed in the database")


@case
def two_nodes_switch_dialogs_in_flight_and_rollback():
    s1, s2 = Smsc(name="smsc1"), Smsc(name="smsc2")
    db = os.path.join(TMP, "pub2.db")
    g1 = node("n1", s1, db, menus_folder("disk"))
    g2 = node("n2", s2, db, menus_folder("disk"))
    create_admin(g1, "aida")
    b1 = login(g1, "aida")
    b2 = login(g2, "aida")          # one database: the same accounts

    put_draft(db, draft("one"))
    code, j = b1.json("POST", "/console/api/publish", {"note": "v1"})
    expect(code == 201 and j["number"] == 1, "publish 1: %d %r" % (code, j))
    wait_version(b1, "n2", 1, timeout=5)     # the other node switched
    wait_version(b2, "n1", 1, timeout=5)
    p2 = Phone(s2, "996555000202")
    expect("Hello one" in dial_text(p2), "node 2 serves version 1")

    # a dialog started on version 1 moves cleanly to version 2 when it
    # continues: its next screen is version 2's node of the same id (the
    # gateway's rule for every menu swap, SIGHUP's too: a step already
    # running finishes on the set it started with)
    kind, text = p2.dial("*100#")
    expect(kind == "continue" and "Hello one" in text, "first screen: %r" % text)
    put_draft(db, draft("two"))
    code, j = b1.json("POST", "/console/api/publish", {"note": "v2"})
    expect(code == 201 and j["number"] == 2, "publish 2: %d %r" % (code, j))
    wait_version(b1, "n2", 2, timeout=5)
    kind, text = p2.send("1")
    expect(kind == "end" and text == "Bye two", "dialog in flight moved cleanly: %r" % text)
    expect("Hello two" in dial_text(p2), "a new dialog gets version 2")

    # rollback: version 1's files again, as version 3
    code, j = b2.json("POST", "/console/api/rollback", {"version": 1, "note": "back"})
    expect(code == 201 and j == {"number": 3, "state": "live"}, "rollback: %d %r" % (code, j))
    wait_version(b1, "n1", 3, timeout=5)
    wait_version(b1, "n2", 3, timeout=5)
    p1 = Phone(s1, "996555000203")
    expect("Hello one" in dial_text(p1) and "Hello one" in dial_text(p2), "rolled back text")
    code, v = b1.json("GET", "/console/api/versions/3")
    expect(code == 200 and v["files"]["10-main.yaml"] == MAIN % {"v": "one"}
           and "-    text: { en: \"Hello two\" }" in v["diff"], "version 3: %r" % v)
    code, lst = b1.json("GET", "/console/api/versions?limit=2")
    expect([x["number"] for x in lst["versions"]] == [3, 2] and lst["next"] == 2
           and [x["state"] for x in lst["versions"]] == ["live", "retired"], "list: %r" % lst)
    rows = audit(db, "rollback")
    expect(len(rows) == 1 and rows[0][2] == "version 3" and '"from":1' in rows[0][3],
           "rollback audited: %r" % rows)

    # SIGHUP: node 1 loads its folder and says so; node 2 stays
    g1.signal(signal.SIGHUP)
    wait_version(b1, "n1", None, "files", timeout=10)
    expect("Hello disk" in dial_text(p1), "SIGHUP: the folder again on node 1")
    r2 = node_row(b1, "n2")
    expect(r2["version"] == 3 and r2["current"], "node 2 untouched: %r" % r2)
    # the next publish wins again
    put_draft(db, draft("four"))
    code, j = b1.json("POST", "/console/api/publish", {"note": "v4"})
    expect(code == 201 and j["number"] == 4, "publish 4: %r" % j)
    wait_version(b1, "n1", 4, timeout=5)
    expect("Hello four" in dial_text(p1), "publish after SIGHUP wins")


@case
def maker_checker():
    s = Smsc()
    db = os.path.join(TMP, "pub3.db")
    g = node("n1", s, db, menus_folder("disk"), maker_checker=True)
    create_admin(g, "aida")
    admin = login(g, "aida")
    account(admin, "ed", "editor")
    account(admin, "pat", "publisher")
    account(admin, "vera", "viewer")
    ed, pat, vera = login(g, "ed"), login(g, "pat"), login(g, "vera")
    phone = Phone(s, "996555000301")

    put_draft(db, draft("mc"))
    code, j = ed.json("POST", "/console/api/publish", {"note": "please"})
    expect(code == 201 and j == {"number": 1, "state": "pending"}, "editor publish: %d %r" % (code, j))
    code, lst = pat.json("GET", "/console/api/versions")
    expect(lst["live"] is None and lst["versions"][0]["state"] == "pending", "pending: %r" % lst)
    time.sleep(0.5)   # two checks of the version timer: nothing is live
    expect("Hello disk" in dial_text(phone), "a pending version is not live")
    code, j = ed.json("POST", "/console/api/versions/1/approve")
    expect(code == 403, "an editor cannot approve: %d %r" % (code, j))
    code, j = vera.json("POST", "/console/api/versions/1/approve")
    expect(code == 403, "a viewer cannot approve: %d %r" % (code, j))
    # a publisher's own publish is pending too, and they cannot approve it
    code, j = pat.json("POST", "/console/api/publish", {"note": "mine"})
    expect(code == 201 and j == {"number": 2, "state": "pending"}, "publisher publish: %r" % j)
    code, j = pat.json("POST", "/console/api/versions/2/approve")
    expect(code == 403, "the author approving their own: %d %r" % (code, j))
    code, j = pat.json("POST", "/console/api/versions/2/reject")
    expect(code == 403, "the author rejecting their own: %d %r" % (code, j))
    code, j = admin.json("POST", "/console/api/versions/2/reject")
    expect(code == 200 and j["state"] == "rejected", "reject: %d %r" % (code, j))
    code, j = pat.json("POST", "/console/api/versions/1/approve")
    expect(code == 200 and j == {"number": 1, "state": "live"}, "approve: %d %r" % (code, j))
    code, j = pat.json("POST", "/console/api/versions/1/approve")
    expect(code == 409, "approved twice: %d %r" % (code, j))
    wait_version(admin, "n1", 1)
    expect("Hello mc" in dial_text(phone), "approved version live")
    code, v = admin.json("GET", "/console/api/versions/1")
    expect(v["state"] == "live" and v["author"] == "ed" and v["approved_by"] == "pat",
           "approved: %r" % v)
    code, j = admin.json("POST", "/console/api/rollback", {"version": 2})
    expect(code == 409, "a rejected version cannot be rolled back to: %d %r" % (code, j))
    expect([r[0] for r in audit(db, "publish")] == ["ed", "pat"], "publishes audited")
    expect([(r[0], r[2]) for r in audit(db, "publish.approve")] == [("pat", "version 1")],
           "approval audited: %r" % audit(db, "publish.approve"))
    expect([(r[0], r[2]) for r in audit(db, "publish.reject")] == [("aida", "version 2")],
           "rejection audited")
    refused = audit(db, "publish.refused")
    expect(sum(1 for r in refused if r[0] == "pat") == 2 and any(r[0] == "ed" for r in refused),
           "refused approvals audited: %r" % refused)


if __name__ == "__main__":
    run()
