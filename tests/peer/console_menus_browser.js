// tests/peer/console_menus_browser.js — a real browser on the console's
// menu workspace (issue 10 console-ws), for
// tests/integration/test_console_menus_browser.py: Debian's chromium,
// headless, through puppeteer-core@24 (executablePath /usr/bin/chromium).
//
// Usage: node console_menus_browser.js --port N --name NAME --password PW --out DIR
// Logs in, opens /console/menus, copies the live set into the draft, types
// an error into a file and reads the inline error, fixes it, types a
// 100-character Cyrillic label and reads its length before saving, reads
// the graph and clicks a node, then dials *100# in the emulator, answers
// and goes back.  Prints one JSON object per step ({"step": ...}); the
// Python side judges them.  Screenshots of the editor, the graph and the
// emulator at 1280x800 and 390x844 go to DIR.  Exit 0 when the walk ran
// to its end, 1 on a crash (tests/peer/console_peer.js: the shared launch).
"use strict";
const path = require("path");
const { say, run } = require("./console_peer");

async function shot(page, out, tag, sel) {
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewport({ width: w, height: h });
    if (sel) await page.$eval(sel, (e) => e.scrollIntoView());
    await page.screenshot({ path: path.join(out, `console-${tag}-${w}x${h}.png`) });
  }
  await page.setViewport({ width: 1280, height: 800 });
}

// Replace the open file's text the way typing does (CodeMirror's change
// event, or the textarea's input event).
async function setText(page, fn) {
  await page.evaluate((src) => {
    const f = new Function("t", "return (" + src + ")(t)");
    const cmEl = document.querySelector(".CodeMirror");
    if (cmEl) { const cm = cmEl.CodeMirror; cm.setValue(f(cm.getValue())); return; }
    const ta = document.getElementById("text");
    ta.value = f(ta.value);
    ta.dispatchEvent(new Event("input"));
  }, fn.toString());
}

async function walk(browser, { base, name, password, out }) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("dialog", (d) => d.accept());
  await page.goto(base + "/console/login", { waitUntil: "networkidle0" });
  await page.type("input[name=name]", name);
  await page.type("input[name=password]", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "networkidle0" }), page.click("button[type=submit]")]);

  await page.goto(base + "/console/menus", { waitUntil: "networkidle0" });
  await page.waitForFunction(() => document.body.dataset.editor);
  await page.click("#from-live");
  await page.waitForFunction(() => document.querySelectorAll("#files li").length >= 5);
  await page.waitForFunction(() => /loads/.test(document.getElementById("verdict").textContent));
  say({
    step: "open", editor: await page.evaluate(() => document.body.dataset.editor),
    files: await page.$$eval("#files li", (lis) => lis.map((l) => l.dataset.name)),
    verdict: await page.$eval("#verdict", (e) => e.textContent),
    nav: await page.$$eval("header nav a", (as) => as.map((a) => a.textContent)),
  });

  // an error typed into 10-main.yaml, seen inline before saving
  await page.$$eval("#files li a", (as) => as.find((a) => a.textContent === "10-main.yaml").click());
  await page.waitForFunction(() => document.getElementById("current").textContent === "10-main.yaml");
  await setText(page, (t) => t.replace("  - id: help\n    type: end", "  - id: help\n    type: ending"));
  await page.waitForSelector("#errors li.err");
  say({
    step: "error",
    errors: await page.$$eval("#errors li", (lis) => lis.map((l) => l.textContent)),
    // marks live in CodeMirror's model (a line out of view is not in the DOM)
    marked: await page.evaluate(() => { const c = document.querySelector(".CodeMirror");
      return c ? c.CodeMirror.getAllMarks().filter((m) => m.className === "cm-error-mark").length : -1; }),
    dirty: await page.$eval("#dirty", (e) => !e.hidden),
  });
  await shot(page, out, "menus-error", "#editing");
  await setText(page, (t) => t.replace("type: ending", "type: end"));
  await page.waitForFunction(() => /loads/.test(document.getElementById("verdict").textContent));
  say({ step: "fixed", verdict: await page.$eval("#verdict", (e) => e.textContent),
        errors: await page.$$eval("#errors li", (lis) => lis.length) });

  // a 100-character Cyrillic label: its length shows as it is typed
  const long = "Ж".repeat(100);
  await setText(page, new Function("t", "return t.replace('ru: \"Центр государственных услуг\"', 'ru: \"" + long + "\"')"));
  const longRow = () => [...document.querySelectorAll("#texts tbody tr.paginates")]
    .some((tr) => tr.children[4].textContent === "100/80");
  await page.waitForFunction(longRow);
  const cmLine = await page.evaluate(() => {
    const cm = document.querySelector(".CodeMirror") && document.querySelector(".CodeMirror").CodeMirror;
    if (!cm) return -1;
    const n = cm.getValue().split("\n").findIndex((l) => l.includes("ЖЖЖЖ"));
    cm.setCursor({ line: n, ch: 10 });
    return n;
  });
  if (cmLine >= 0) await page.waitForFunction(() => /paginates/.test(document.getElementById("cursor-measure").textContent));
  say({
    step: "length",
    rows: await page.$$eval("#texts tbody tr.paginates", (trs) => trs.map((tr) => [...tr.children].slice(0, 6).map((td) => td.textContent))),
    cursor: await page.$eval("#cursor-measure", (e) => e.textContent),
  });
  await setText(page, (t) => t.replace(/Ж{100}/, "Центр государственных услуг"));
  await page.waitForFunction(() => document.querySelector("#texts tbody tr") &&
    ![...document.querySelectorAll("#texts tbody tr")].some((tr) => tr.children[4].textContent === "100/80"));

  // the graph: nodes drawn, a click opens its file at its line
  await page.waitForSelector("#graph svg g.n");
  const nodes = await page.$$eval("#graph svg g.n", (gs) => gs.map((g) => [g.dataset.id, g.getAttribute("class")]));
  await page.$$eval("#graph svg g.n", (gs) => gs.find((g) => g.dataset.id === "status_number")
    .dispatchEvent(new MouseEvent("click", { bubbles: true })));
  await page.waitForFunction(() => document.getElementById("current").textContent === "20-status.yaml");
  say({ step: "graph", nodes, opened: await page.$eval("#current", (e) => e.textContent),
        legend: await page.$$eval("#legend .key", (ks) => ks.map((k) => k.textContent)) });
  await shot(page, out, "menus-graph", "#graph-room");

  // the emulator: dial *100# of the live set in English, answer, back
  await page.select("#dial select[name=lang]", "en");
  await page.select("#dial select[name=set]", "live");
  await page.click("#dial button[type=submit]");
  await page.waitForFunction(() => /octets/.test(document.getElementById("screen-info").textContent));
  const dial = { screen: await page.$eval("#screen", (e) => e.textContent),
                 info: await page.$eval("#screen-info", (e) => e.textContent) };
  await page.type("#reply-text", "1");
  await page.click("#reply button[type=submit]");
  await page.waitForFunction((s) => document.getElementById("screen").textContent !== s, {}, dial.screen);
  const answered = await page.$eval("#screen", (e) => e.textContent);
  await page.click("#reply button[data-key=back]");
  await page.waitForFunction((s) => document.getElementById("screen").textContent !== s, {}, answered);
  say({ step: "emulator", dial, answered, back: await page.$eval("#screen", (e) => e.textContent), problems });
  await shot(page, out, "menus-emulator", "#emulator");
}

run(walk);
