"""
tests/integration/test_console_menus_browser.py — the menu workspace in a
real browser (issue 10 console-ws): Debian's chromium, headless, driven by
tests/peer/console_menus_browser.js through puppeteer-core@24, against a
real kyzmatd with the example menus live.  The page loads CodeMirror from
Debian's libjs-codemirror; the live set is copied into the draft; an error
typed into a file shows inline as file:line:column and is marked in the
editor before anything is saved; fixing it clears it; a 100-character
Cyrillic label is flagged as paginating as it is typed; the graph draws
the nodes and a click opens a node's file; the emulator dials *100#, shows
the screen with its encoding and octets of 160, answers and goes back.
Screenshots of the editor, the graph and the emulator at 1280x800 and
390x844 are saved to the test's output folder.

Owns: the processes it starts (harness).
May call: harness, test_console_browser's walk, test_console_menus' start, node with puppeteer-core,
/usr/bin/chromium, the Python standard library.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import native_case, ROOT, Failure, case, expect, run  # noqa: E402
from test_console_browser import screenshots_saved, walk  # noqa: E402
from test_console_menus import start  # noqa: E402

# the helpers' own cases run from their own files
del harness._cases[:]

SCRIPT = os.path.join(ROOT, "tests", "peer", "console_menus_browser.js")


@native_case("chromium drives it; its routes run under valgrind in test_console_menus")
def the_menu_workspace_in_chromium():
    if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        raise Failure("no chromium at /usr/bin/chromium (apt-get install chromium)")
    g, port, _ = start()
    s = walk(port, SCRIPT)
    o = s["open"]
    expect(o["editor"] == "codemirror" and len(o["files"]) == 5 and "Menus" in o["nav"]
           and "loads" in o["verdict"], "open: %r" % o)
    e = s["error"]
    expect(any(x.startswith("10-main.yaml:") and x.split(":")[1].isdigit() and x.split(":")[2].isdigit()
               for x in e["errors"]) and e["marked"] >= 1 and e["dirty"], "inline error: %r" % e)
    expect(s["fixed"]["errors"] == 0 and "loads" in s["fixed"]["verdict"], "fixed: %r" % s["fixed"])
    ln = s["length"]
    expect(["main", "ru", "UCS-2", "200/160", "100/80"] in [r[:5] for r in ln["rows"]]
           and "100/80 characters" in ln["cursor"] and "paginates" in ln["cursor"], "length: %r" % ln)
    gr = s["graph"]
    ids = {n[0]: n[1] for n in gr["nodes"]}
    expect("main" in ids and "root" in ids["main"] and gr["opened"] == "20-status.yaml"
           and "unreachable" in gr["legend"] and "dead end" in gr["legend"], "graph: %r" % gr)
    em = s["emulator"]
    expect(em["dial"]["screen"].startswith("Public Service Centre") and "GSM-7" in em["dial"]["info"]
           and "/160 octets" in em["dial"]["info"] and "page 1/1" in em["dial"]["info"]
           and em["answered"] != em["dial"]["screen"] and em["back"] == em["dial"]["screen"]
           and not em["problems"], "emulator: %r" % em)
    screenshots_saved("menus-error", "menus-graph", "menus-emulator")


if __name__ == "__main__":
    run()
