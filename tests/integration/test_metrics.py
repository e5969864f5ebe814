"""
tests/integration/test_metrics.py — the operators' listener (issue 11,
gateway/admin): kyzmatd with admin.listen answers /healthz, /readyz and
/metrics; a scrape passes `promtool check metrics`; the link's series
follow what the simulator saw (submits by status, the response-time
histogram, MO, up); the outbox's follow the messages (submitted, queued,
the oldest's age) and their receipts (by state, latency); USSD dialogs
and the step latency histogram follow a dial, a back-end call its origin,
time and outcome; the readiness probe names the link that is down and
the dependency series say the database is up; other methods and paths get
JSON errors; without admin.listen nothing listens; Debian's prometheus
scraping it under 20 s of traffic counts what the simulator counted and
fires the link-down rule of scripts/alerts.yml.

Owns: the processes it starts (harness).
May call: harness, prometheus and promtool (package prometheus), the
Python standard library.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (native_case, WRAP, Api, Kyzmatd, Phone, Smsc, backend, case, cfg,  # noqa: E402
                     create_token, expect, menus_dir, run, smsc_entry, wait_until)


def start_admin(smsc, extra=""):
    g = Kyzmatd(cfg(smsc_entry("sim", smsc.port, default_route="true"))
                + 'admin: {listen: "127.0.0.1:0"}\n' + extra)
    g.wait_log(r"\[sim\] bound")
    g.wait_log(r"\[admin\] listening on 127\.0\.0\.1 port \d+")
    port = int(re.search(r"\[admin\] listening on 127\.0\.0\.1 port (\d+)", g.log()).group(1))
    return g, port


def get(port, path, method="GET"):
    """(status, headers, body bytes) of one request to the admin listener."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def series(text, name, **labels):
    """The value of the series name{labels} in a scrape (labels may be a
    subset, in any order), or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


@case
def admin_listener_metrics_health_and_readiness():
    s = Smsc()
    g, port = start_admin(s)
    code, _, body = get(port, "/healthz")
    expect(code == 200 and json.loads(body) == {"ok": True}, "healthz: %d %r" % (code, body))
    code, _, body = get(port, "/readyz")
    expect(code == 200 and json.loads(body) == {"ready": True, "waiting": []},
           "readyz: %d %r" % (code, body))
    # five messages through the API: five submits answered ESME_ROK
    api = Api(g.http_port(), create_token(g, "centre"))
    for i in range(5):
        c, r = api.call("POST", "/v1/messages", {"to": "996555100%03d" % i, "text": "metrics %d" % i})
        expect(c == 202, "message %d: %d %r" % (i, c, r))
    wait_until(lambda: s.stats().get("submits", 0) >= 5, 10, "5 submits at the simulator")

    def scraped():
        c, h, b = get(port, "/metrics")
        expect(c == 200, "metrics: %d" % c)
        expect(h.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
               "content type %r" % h.get("Content-Type"))
        return b.decode()
    wait_until(lambda: series(scraped(), "kyzmat_link_submits_total", link="sim",
                              status="ESME_ROK") == 5, 10, "5 ESME_ROK in the scrape")
    text = scraped()
    expect(series(text, "kyzmat_link_up", link="sim") == 1, "link up")
    expect(series(text, "kyzmat_link_binds_total", link="sim") == 1, "binds")
    expect(series(text, "kyzmat_link_submit_response_seconds_count", link="sim") == 5,
           "response-time histogram count")
    expect(series(text, "kyzmat_link_submit_response_seconds_bucket", link="sim", le="+Inf") == 5,
           "+Inf bucket")
    expect(series(text, "kyzmat_link_submits_total", link="sim", status="timeout") == 0, "timeouts")
    # the outbox: five submitted, none waiting; the simulator's receipts
    # made them delivered, each counted once its pass was durable
    wait_until(lambda: series(scraped(), "kyzmat_receipts_total", link="sim",
                              state="delivered") == 5, 10, "5 delivered receipts")
    text = scraped()
    expect(series(text, "kyzmat_receipt_latency_seconds_count", link="sim") == 5,
           "receipt latency count")
    expect(series(text, "kyzmat_receipt_latency_seconds_bucket", link="sim", le="5") == 5,
           "receipts within 5 s")
    expect(series(text, "kyzmat_receipts_total", link="sim", state="failed") == 0,
           "failed receipts")
    expect(series(text, "kyzmat_outbox_submitted_total") == 5, "outbox submitted")
    expect(series(text, "kyzmat_outbox_queued") == 0, "queued")
    expect(series(text, "kyzmat_outbox_oldest_age_seconds") == 0, "oldest age")
    expect(series(text, "kyzmat_callbacks_total", outcome="failed") == 0, "callbacks")
    # the API: five 202s on the route's template, their times observed
    expect(series(text, "kyzmat_api_requests_total", route="POST /v1/messages", code="202") == 5,
           "API 202s: %s" % [x for x in text.splitlines() if "api_requests" in x])
    expect(series(text, "kyzmat_api_request_seconds_count", route="POST /v1/messages") == 5,
           "API latency count")
    api.call("GET", "/v1/nothing/here")
    expect(series(scraped(), "kyzmat_api_requests_total", route="none", code="404") == 1,
           "a 404 counted under route none")
    expect(series(text, "kyzmat_link_window_size", link="sim") is not None, "window size")
    expect(series(text, "kyzmat_dependency_up", dependency="database") == 1, "database up")
    expect(series(text, "kyzmat_dependency_up", dependency="redis") is None,
           "no Redis series without Redis")
    expect(series(text, "kyzmat_build_info") == 1, "build info")
    expect((series(text, "process_resident_memory_bytes") or 0) > 1e6, "resident memory")
    expect(series(text, "kyzmat_admin_scrapes_total") >= 1, "scrapes")
    expect(not re.search(r"996555100", text), "a phone number in the scrape")
    # Debian's promtool accepts the scrape (format and naming lint)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    expect(p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout.decode(), p.stderr.decode()))
    # not a route: JSON errors; HEAD is GET without a body
    code, h, body = get(port, "/metrics", "POST")
    expect(code == 405 and h.get("Allow") == "GET, HEAD" and json.loads(body)["error"],
           "POST /metrics: %d %r" % (code, body))
    code, _, body = get(port, "/nothing")
    expect(code == 404 and "error" in json.loads(body), "404: %d %r" % (code, body))
    code, _, body = get(port, "/healthz", "HEAD")
    expect(code == 200 and body == b"", "HEAD: %d %r" % (code, body))
    # the link goes: not ready, and the scrape says so
    s.kill()
    wait_until(lambda: get(port, "/readyz")[0] == 503, 10, "readyz 503 without the link")
    code, _, body = get(port, "/readyz")
    expect(json.loads(body) == {"ready": False, "waiting": ["link sim"]}, "readyz: %r" % body)
    expect(series(scraped(), "kyzmat_link_up", link="sim") == 0, "link down")
    expect(g.stop() == 0, "exit status")


FETCH = """
nodes:
  - id: metrics_fetch
    type: http
    url: "{backend}/status?number=12345&lang=en"
    timeout_ms: 3000
    save: { state: state }
    next: metrics_done
    on_error: metrics_down
  - id: metrics_done
    type: end
    text: { ky: "OK {state}", ru: "OK {state}", en: "OK {state}" }
  - id: metrics_down
    type: end
    text: { ky: "down", ru: "down", en: "down" }
codes:
  "*400#": metrics_fetch
"""


@case
def ussd_dialogs_and_step_latency():
    s = Smsc()
    mdir = menus_dir(backend(), {"95-metrics.yaml": FETCH})
    g, port = start_admin(s, "menus: %s/\n" % mdir)
    ph = Phone(s, "996555100777")
    kind, t = ph.dial("*100#")
    expect(kind == "continue", "first screen: %r %r" % (kind, t))
    kind, t = ph.send("1")
    text = get(port, "/metrics")[2].decode()
    # the menu set is named by its folder (a trailing slash does not count)
    set_name = os.path.basename(mdir)
    expect(series(text, "kyzmat_ussd_dialogs_total", menu_set=set_name, event="started") == 1,
           "started in menu set %s: %s" % (set_name, [l for l in text.splitlines()
                                                    if "dialogs_total{" in l][:2]))
    expect(series(text, "kyzmat_ussd_screens_total") == 2, "screens: %s"
           % series(text, "kyzmat_ussd_screens_total"))
    expect(series(text, "kyzmat_ussd_step_seconds_count") == 2, "step count")
    expect(series(text, "kyzmat_ussd_step_seconds_bucket", le="5") == 2, "steps under 5 s")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    expect(p.returncode == 0, "promtool: %s%s" % (p.stdout.decode(), p.stderr.decode()))
    expect(series(text, "kyzmat_ussd_dialogs_total", event="aborted") == 0, "aborted")
    # visits and answers per node: the language menu seen and answered,
    # the main menu seen and not answered (a drop-off, once hung up)
    expect(series(text, "kyzmat_ussd_node_visits_total", node="language") == 1, "language visits")
    expect(series(text, "kyzmat_ussd_node_answers_total", node="language") == 1, "language answers")
    expect(series(text, "kyzmat_ussd_node_visits_total", node="main") == 1, "main visits")
    expect(series(text, "kyzmat_ussd_node_answers_total", node="main") == 0, "main answers")
    # a node calling the back-end: its origin is the label, with the
    # call's time and outcome
    ph.abort()
    kind, t = ph.dial("*400#")
    expect(kind == "end", "back-end screen: %r %r" % (kind, t))
    text = get(port, "/metrics")[2].decode()
    calls = [x for x in text.splitlines() if x.startswith("kyzmat_backend_requests_total")]
    ok = sum(float(x.rsplit(" ", 1)[1]) for x in calls if 'status="ok"' in x)
    expect(ok >= 1 and all('backend="http://127.0.0.1:' in x for x in calls),
           "back-end calls: %s (screen %r)" % (calls, t))
    expect(series(text, "kyzmat_ussd_node_visits_total", node="metrics_fetch") == 1 and
           series(text, "kyzmat_ussd_node_visits_total", node="metrics_done") == 1,
           "the back-end node and its end screen visited once each")
    counts = [x for x in text.splitlines() if x.startswith("kyzmat_backend_request_seconds_count")]
    expect(len(counts) == 1 and float(counts[0].rsplit(" ", 1)[1]) == ok, "back-end latency: %s" % counts)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    expect(p.returncode == 0, "promtool with back-ends: %s%s" % (p.stdout.decode(), p.stderr.decode()))
    expect(not re.search(r"996555100777|100777", text), "a phone number in the scrape")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    expect(p.returncode == 0, "promtool: %s%s" % (p.stdout.decode(), p.stderr.decode()))
    expect(g.stop() == 0, "exit status")


def prometheus(admin_port, rules):
    """Debian's prometheus on a free port, scraping the admin listener
    every second and evaluating rules every second; its HTTP API URL."""
    from harness import TMP, free_port, spawn
    d = os.path.join(TMP, "prom%d" % admin_port)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "rules.yml"), "w") as f:
        f.write(rules)
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "rule_files: [%s]\n"
                "scrape_configs:\n"
                "  - job_name: kyzmat\n"
                "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                % (os.path.join(d, "rules.yml"), admin_port))
    port = free_port()
    spawn(["prometheus", "--config.file=" + os.path.join(d, "prometheus.yml"),
           "--storage.tsdb.path=" + os.path.join(d, "data"),
           "--web.listen-address=127.0.0.1:%d" % port], "prometheus.log", wrap=False)
    url = "http://127.0.0.1:%d" % port
    wait_until(lambda: prom_ready(url), 30, "prometheus ready")
    return url


def prom_ready(url):
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def prom(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())["data"]


def query(url, q):
    """The value of an instant query with one result, or None."""
    res = prom(url, "/api/v1/query?query=" + urllib.parse.quote(q))["result"]
    return float(res[0]["value"][1]) if len(res) == 1 else None


@native_case("20 s of traffic for Prometheus; every series is rendered under valgrind in the other cases")
def prometheus_scrapes_traffic_and_fires_link_down():
    # issue 11's proof: Debian's prometheus scrapes kyzmatd under 20 s of
    # SMS and USSD traffic; the submits it counts agree with the
    # simulator's within 5%; the step histogram has samples; the link-down
    # rule (scripts/alerts.yml, its `for` cut to 2 s so the test need not
    # wait a minute) fires when the simulator is killed
    import threading
    s = Smsc()
    g, port = start_admin(s, "menus: %s\n" % menus_dir(backend()))
    rules = open(os.path.join(os.path.dirname(__file__), "..", "..", "scripts",
                              "alerts.yml")).read()
    rules = re.sub(r"(alert: KyzmatLinkDown\n\s+expr: [^\n]*\n\s+for: )1m", r"\g<1>2s", rules)
    expect("for: 2s" in rules, "the link-down rule's for: was not found")
    url = prometheus(port, rules)
    wait_until(lambda: query(url, 'up{job="kyzmat"}') == 1, 30, "prometheus scrapes kyzmatd")
    api = Api(g.http_port(), create_token(g, "centre"))
    end = time.time() + 20
    stop = []

    def dialer():
        ph = Phone(s, "996555100888")
        while not stop:
            ph.dial("*100#")
            ph.abort()
    th = threading.Thread(target=dialer, daemon=True)
    th.start()
    i = 0
    while time.time() < end:
        c, r = api.call("POST", "/v1/messages", {"to": "996555%06d" % i, "text": "m %d" % i})
        expect(c == 202, "message %d: %d %r" % (i, c, r))
        i += 1
        time.sleep(0.01)
    stop.append(1)
    th.join(10)
    wait_until(lambda: s.stats().get("submits", 0) >= i, 20, "%d submits at the simulator" % i)
    last = [-1]

    def settled():                      # USSD screens in flight land too
        time.sleep(0.5)
        was, last[0] = last[0], s.stats()["submits"]
        return last[0] == was
    wait_until(settled, 20, "the simulator's count settles")
    sim = last[0]
    time.sleep(3)                       # two more scrapes
    got = query(url, 'sum(kyzmat_link_submits_total{status="ESME_ROK"})')
    inc = query(url, 'sum(increase(kyzmat_link_submits_total{status="ESME_ROK"}[5m]))')
    expect(got == sim, "scraped submits %s, the simulator counted %d" % (got, sim))
    expect(inc is not None and abs(inc - sim) <= 0.05 * sim,
           "increase over the run %s vs %d at the simulator" % (inc, sim))
    steps = query(url, "sum(kyzmat_ussd_step_seconds_count)")
    expect(steps and steps > 10, "step histogram samples: %s" % steps)
    p99 = query(url, "histogram_quantile(0.99, sum by (le) (rate(kyzmat_ussd_step_seconds_bucket[1m])))")
    expect(p99 is not None and 0 < p99 < (5 if WRAP else 1), "USSD step p99 %s" % p99)
    # the link goes: the rule fires
    s.kill()

    def firing():
        alerts = prom(url, "/api/v1/alerts")["alerts"]
        return any(a["labels"].get("alertname") == "KyzmatLinkDown" and a["state"] == "firing"
                   and a["labels"].get("link") == "sim" for a in alerts)
    wait_until(firing, 30, "KyzmatLinkDown firing")
    expect(g.stop() == 0, "exit status")


@case
def no_admin_listener_unless_configured():
    s = Smsc()
    g = Kyzmatd(cfg(smsc_entry("sim", s.port)))
    g.wait_log(r"\[sim\] bound")
    expect("[admin]" not in g.log(), "an admin listener without admin.listen:\n%s" % g.log()[-800:])
    expect(g.stop() == 0, "exit status")


if __name__ == "__main__":
    run()
