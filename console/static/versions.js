// console/static/versions.js — the versions page: list (paged), a
// version's diff coloured, publish the draft with a note, approve or
// reject a pending version, roll back to an earlier one, and the nodes
// table (refreshed every 5 s).  Uses Console (console.js).
"use strict";
(async () => {
  const me = await Console.ready;
  const body = document.querySelector("#versions tbody");
  const more = document.getElementById("more");
  const status = document.getElementById("status");
  const errors = document.getElementById("errors");
  const form = document.getElementById("publish");
  const el = (tag, props) => Object.assign(document.createElement(tag), props);
  let next = null;
  form.hidden = !Console.may("editor");

  function say(text, bad) { status.textContent = text; status.className = bad ? "error" : ""; }
  function button(td, label, fn) {
    const b = el("button", { type: "button", textContent: label });
    b.addEventListener("click", fn);
    td.appendChild(b);
  }
  async function change(method, path, data, done) {
    errors.replaceChildren();
    try {
      const r = await Console.api(method, path, data);
      say(done(r));
      await Promise.all([load(false), nodes()]);
    } catch (e) { say(e.message, true); }
  }
  function row(v) {
    const tr = document.createElement("tr");
    Console.cell(tr, String(v.number)); Console.cell(tr, v.author); Console.cell(tr, Console.when(v.created));
    Console.cell(tr, v.note); Console.cell(tr, v.state, "state-" + v.state); Console.cell(tr, v.approved_by || "");
    const td = Console.cell(tr, "");
    button(td, "Diff", () => show(v.number));
    if (v.state === "pending" && Console.may("publisher") && v.author !== me.name) {
      button(td, "Approve", () => change("POST", "/console/api/versions/" + v.number + "/approve", undefined,
                                         (r) => "version " + r.number + " is " + r.state));
      button(td, "Reject", () => change("POST", "/console/api/versions/" + v.number + "/reject", undefined,
                                        (r) => "version " + r.number + " " + r.state));
    }
    if (v.state === "retired" && Console.may("publisher"))
      button(td, "Roll back to this", () => {
        const note = prompt("Note for the rollback to version " + v.number, "rollback to version " + v.number);
        if (note !== null)
          change("POST", "/console/api/rollback", { version: v.number, note },
                 (r) => "version " + r.number + " (" + r.state + "): version " + v.number + "'s files again");
      });
    return tr;
  }
  async function load(append) {
    const r = await Console.api("GET", "/console/api/versions" + (append && next ? "?before=" + next : ""));
    if (!append) body.replaceChildren();
    for (const v of r.versions) body.appendChild(row(v));
    next = r.next;
    more.hidden = next === null;
  }
  // The diff, one span per line: + added, - removed, @@ hunk, ---/+++ file.
  async function show(n) {
    const v = await Console.api("GET", "/console/api/versions/" + n);
    document.getElementById("detail-title").textContent =
      "Version " + v.number + " — " + v.note + " (" + Object.keys(v.files).length + " files)";
    const pre = document.getElementById("diff");
    pre.replaceChildren();
    for (const line of (v.diff || "(no change against the version live before)").split("\n")) {
      const cls = /^(---|\+\+\+) /.test(line) ? "file" : line.startsWith("@@") ? "hunk"
        : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
      pre.appendChild(el("span", { className: cls, textContent: line }));
    }
    document.getElementById("detail").hidden = false;
  }
  async function nodes() {
    const r = await Console.api("GET", "/console/api/nodes");
    const nb = document.querySelector("#nodes tbody");
    nb.replaceChildren();
    for (const n of r.nodes) {
      const tr = document.createElement("tr");
      Console.cell(tr, n.node);
      Console.cell(tr, n.version === null ? "its folder" : "version " + n.version + (n.current ? " (live)" : ""));
      Console.cell(tr, n.source === "files" ? "files on disk" : "console");
      Console.cell(tr, Console.when(n.seen_at));
      nb.appendChild(tr);
    }
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const note = new FormData(form).get("note");
    const res = await fetch("/console/api/publish", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf },
      body: JSON.stringify({ note }),
    });
    const r = await res.json().catch(() => ({}));
    if (!res.ok) {
      say(r.error || res.statusText, true);
      for (const e of r.errors || [])
        errors.appendChild(el("li", { textContent: e.file + ":" + e.line + ":" + e.column + ": " + e.message }));
      return;
    }
    say("version " + r.number + " is " + r.state);
    form.reset();
    await Promise.all([load(false), nodes()]);
  });
  more.addEventListener("click", () => load(true));
  await Promise.all([load(false), nodes()]);
  setInterval(() => nodes().catch(() => {}), 5000);
})();
