"""
tests/integration/test_console_browser.py — the operators' console in a
real browser (issue 10): Debian's chromium, headless, driven by
tests/peer/console_browser.js through the npm package puppeteer-core@24
(tests/peer/package.json; `npm install` in tests/peer).  Against a real
kyzmatd: a page without a session lands on the login form; the form logs
in and the home page names the account and its role; the session cookie
is invisible to scripts (HttpOnly); a POST from the page without the CSRF
token is refused (403); an admin creates an account on the accounts page
and sees it listed; the audit page lists the login and the creation,
filters by action and points its CSV link at the same filter; logout
returns to the login form and ends the session.  Screenshots of the home,
accounts and audit pages at 1280x800 and 390x844 are saved to the test's
output folder (printed at the end, "logs in ...").

Owns: the processes it starts (harness).
May call: harness, node with puppeteer-core (NODE_PATH may point at
another node_modules), /usr/bin/chromium, the Python standard library.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import native_case, ROOT, TMP, Failure, case, expect, run  # noqa: E402
from test_console import PASSWORD, create_admin, start  # noqa: E402

# test_console's helpers are shared; its cases run from their own file
del harness._cases[:]

SCRIPT = os.path.join(ROOT, "tests", "peer", "console_browser.js")


def walk(port, script=SCRIPT):
    """The browser's steps, by name (script: the walk to run)."""
    env = dict(os.environ)
    env["NODE_PATH"] = os.pathsep.join(p for p in (env.get("NODE_PATH"),
                                                    os.path.join(ROOT, "tests", "peer", "node_modules")) if p)
    r = subprocess.run(["node", script, "--port", str(port), "--name", "aida", "--password", PASSWORD,
                        "--out", TMP], capture_output=True, text=True, timeout=120, env=env)
    if "Cannot find module 'puppeteer-core'" in r.stderr:
        raise Failure("puppeteer-core is not installed: npm install in tests/peer")
    steps = {}
    for line in r.stdout.splitlines():
        try:
            s = json.loads(line)
        except ValueError:
            continue
        steps[s["step"]] = s
    expect(r.returncode == 0 and "crash" not in steps,
           "browser: %d %r %s" % (r.returncode, steps.get("crash"), r.stderr[-2000:]))
    return steps


@native_case("chromium drives it; its routes run under valgrind in test_console")
def the_console_in_chromium():
    if not os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        raise Failure("no chromium at /usr/bin/chromium (apt-get install chromium)")
    g, port = start()
    create_admin(g)
    s = walk(port)
    expect(s["unauthenticated"]["url"].endswith("/console/login"), "no session: %r" % s["unauthenticated"])
    home = s["home"]
    expect(home["url"].endswith("/console/") and home["who"] == "aida" and home["role"] == "admin",
           "home: %r" % home)
    expect(home["cookieVisible"] is False, "the session cookie is HttpOnly: %r" % home)
    expect(home["nav"] == ["Accounts", "Audit log", "Menus", "Versions"],
           "admin navigation: %r" % home["nav"])
    expect(s["no-csrf"]["status"] == 403, "a POST without CSRF: %r" % s["no-csrf"])
    acc = s["accounts"]
    expect("vera" in acc["names"] and acc["status"].startswith("Done. Password for vera"),
           "accounts: %r" % acc)
    audit = s["audit"]
    expect("login" in audit["actions"] and "account.create" in audit["actions"], "audit: %r" % audit)
    filt = s["audit-filtered"]
    expect(filt["actions"] and set(filt["actions"]) == {"account.create"}
           and "action=account.create" in filt["csv"], "filtered: %r" % filt)
    out = s["logout"]
    expect(out["url"].endswith("/console/login") and out["me"] == 401 and not out["problems"],
           "logout: %r" % out)
    screenshots_saved("home", "accounts", "audit")


def screenshots_saved(*tags):
    """Each page's screenshots at both sizes are in the output folder."""
    for tag in tags:
        for size in ("1280x800", "390x844"):
            p = os.path.join(TMP, "console-%s-%s.png" % (tag, size))
            expect(os.path.getsize(p) > 1000, "screenshot %s" % p)


if __name__ == "__main__":
    run()
