// tests/peer/console_browser.js — a real browser in front of the operators'
// console (issue 10), for tests/integration/test_console_browser.py:
// Debian's chromium, headless, driven through puppeteer-core@24 (it never
// downloads a browser: executablePath is /usr/bin/chromium).
//
// Usage: node console_browser.js --port N --name NAME --password PW --out DIR
// Walks the console as an operator would and prints one JSON object per
// step on stdout ({"step": ..., ...}); the Python side checks them.  Saves
// screenshots of the home, accounts and audit pages at 1280x800 and
// 390x844 into DIR.  Exit status 0 when the walk ran to its end (what it
// saw is for the caller to judge), 1 on a crash (tests/peer/console_peer.js
// holds the command line, the launch and the exit shared with
// console_menus_browser.js).
"use strict";
const path = require("path");
const { say, run } = require("./console_peer");

async function shots(page, out, tag) {
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewport({ width: w, height: h });
    await page.screenshot({ path: path.join(out, `console-${tag}-${w}x${h}.png`), fullPage: true });
  }
  await page.setViewport({ width: 1280, height: 800 });
}

async function walk(browser, { base, name, password, out }) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(base + "/console/", { waitUntil: "networkidle0" });
  say({ step: "unauthenticated", url: page.url() });

  await page.type("input[name=name]", name);
  await page.type("input[name=password]", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "networkidle0" }), page.click("button[type=submit]")]);
  await page.waitForFunction(() => document.getElementById("who").textContent !== "…");
  say({
    step: "home", url: page.url(),
    who: await page.$eval("#who", (e) => e.textContent),
    role: await page.$eval("#role", (e) => e.textContent),
    cookieVisible: await page.evaluate(() => document.cookie.includes("kz_console")),
    nav: await page.$$eval("header nav a", (as) => as.map((a) => a.textContent)),
  });
  await shots(page, out, "home");

  // a change without the CSRF token, from the page itself
  const noCsrf = await page.evaluate(async () => (await fetch("/console/api/accounts", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ op: "create", name: "sneaky", role: "admin" }) })).status);
  say({ step: "no-csrf", status: noCsrf });

  await page.goto(base + "/console/accounts", { waitUntil: "networkidle0" });
  await page.waitForSelector("#accounts tbody tr");
  await page.type("#create input[name=name]", "vera");
  await page.select("#create select[name=role]", "viewer");
  await page.click("#create button[type=submit]");
  await page.waitForFunction(() => /Done|error/i.test(document.getElementById("status").textContent) ||
                             document.getElementById("status").className === "error");
  const status = await page.$eval("#status", (e) => e.textContent);
  await page.waitForFunction(() => document.querySelectorAll("#accounts tbody tr").length >= 2);
  say({
    step: "accounts", status,
    names: await page.$$eval("#accounts tbody tr td:first-child", (tds) => tds.map((t) => t.textContent)),
  });
  await shots(page, out, "accounts");

  await page.goto(base + "/console/audit", { waitUntil: "networkidle0" });
  await page.waitForSelector("#audit tbody tr");
  say({
    step: "audit",
    actions: await page.$$eval("#audit tbody tr td:nth-child(4)", (tds) => tds.map((t) => t.textContent)),
    csv: await page.$eval("#csv", (a) => a.getAttribute("href")),
  });
  await page.type("#filter input[name=action]", "account.create");
  await page.click("#filter button[type=submit]");
  await page.waitForFunction(() => [...document.querySelectorAll("#audit tbody tr td:nth-child(4)")]
    .every((t) => t.textContent === "account.create"));
  say({
    step: "audit-filtered",
    actions: await page.$$eval("#audit tbody tr td:nth-child(4)", (tds) => tds.map((t) => t.textContent)),
    csv: await page.$eval("#csv", (a) => a.getAttribute("href")),
  });
  await shots(page, out, "audit");

  await Promise.all([page.waitForNavigation({ waitUntil: "networkidle0" }), page.click("#logout")]);
  const me = await page.evaluate(async () => (await fetch("/console/api/me")).status);
  say({ step: "logout", url: page.url(), me, problems });
}

run(walk);
