// tests/peer/console_peer.js — what the console's browser walks share
// (console_browser.js, console_menus_browser.js): their command line
// (--port --name --password --out), one JSON object per step on stdout,
// Debian's chromium launched headless through puppeteer-core@24, and the
// exit: 0 when the walk ran to its end, 1 (with a "crash" step) when not.
"use strict";
const puppeteer = require("puppeteer-core");

function arg(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? process.argv[i + 1] : def;
}
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

// Run walk(browser, opts) in a fresh chromium, then close it and exit.
function run(walk) {
  const opts = { port: arg("port"), name: arg("name"), password: arg("password"), out: arg("out", ".") };
  opts.base = "http://127.0.0.1:" + opts.port;
  const go = async () => {
    const browser = await puppeteer.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try { await walk(browser, opts); } finally { await browser.close(); }
  };
  go().then(() => process.exit(0), (e) => { say({ step: "crash", error: String(e && e.stack || e) }); process.exit(1); });
}

module.exports = { say, run };
