// console/static/accounts.js — the accounts page: list, create, and the
// per-account actions (role, disable/enable, password reset).
"use strict";
(async () => {
  await Console.ready;
  const body = document.querySelector("#accounts tbody");
  const status = document.getElementById("status");
  const say = (s, bad) => { status.textContent = s; status.className = bad ? "error" : ""; };
  async function change(req) {
    try {
      const r = await Console.api("POST", "/console/api/accounts", req);
      say(r.password ? "Done. Password for " + r.name + " (shown once): " + r.password : "Done.");
      await load();
    } catch (e) { say(e.message, true); }
  }
  function row(a) {
    const tr = document.createElement("tr");
    Console.cell(tr, a.name);
    const sel = document.createElement("select");
    for (const r of ["viewer", "editor", "publisher", "admin"]) {
      const o = document.createElement("option"); o.textContent = r; o.selected = r === a.role; sel.appendChild(o);
    }
    sel.addEventListener("change", () => change({ op: "role", name: a.name, role: sel.value }));
    tr.appendChild(document.createElement("td")).appendChild(sel);
    Console.cell(tr, Console.when(a.created));
    Console.cell(tr, a.disabled ? "disabled" : "enabled");
    const td = tr.appendChild(document.createElement("td"));
    const toggle = document.createElement("button");
    toggle.textContent = a.disabled ? "Enable" : "Disable";
    toggle.addEventListener("click", () => change({ op: a.disabled ? "enable" : "disable", name: a.name }));
    const reset = document.createElement("button");
    reset.textContent = "Reset password";
    reset.addEventListener("click", () => change({ op: "password", name: a.name }));
    td.append(toggle, " ", reset);
    return tr;
  }
  async function load() {
    const r = await Console.api("GET", "/console/api/accounts");
    body.replaceChildren(...r.accounts.map(row));
  }
  document.getElementById("create").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const req = { op: "create", name: f.get("name"), role: f.get("role") };
    if (f.get("password")) req.password = f.get("password");
    change(req).then(() => ev.target.reset());
  });
  load().catch((e) => say(e.message, true));
})();
