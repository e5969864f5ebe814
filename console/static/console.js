// console/static/console.js — shared by every page after the login: who
// am I (GET /console/api/me), the navigation, logout, and api(), which
// sends the session's CSRF token with every change.  No framework.
"use strict";
const Console = {
  me: null,
  async api(method, path, body) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = Console.me ? Console.me.csrf : "";
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const res = await fetch(path, opts);
    if (res.status === 401) { location.href = "/console/login"; throw new Error("logged out"); }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  },
  text(el, s) { el.textContent = s; return el; },
  cell(tr, s, cls) { const td = document.createElement("td"); td.textContent = s; if (cls) td.className = cls; tr.appendChild(td); return td; },
  when(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19); },
  ready: null,
};
Console.ready = (async () => {
  Console.me = await Console.api("GET", "/console/api/me");
  const me = document.getElementById("me");
  if (me) me.textContent = Console.me.name + " (" + Console.me.role + ")";
  const who = document.getElementById("who"), role = document.getElementById("role");
  if (who) who.textContent = Console.me.name;
  if (role) role.textContent = Console.me.role;
  const nav = document.getElementById("nav");
  if (nav && Console.me.role === "admin") {
    for (const [href, label] of [["/console/accounts", "Accounts"], ["/console/audit", "Audit log"]]) {
      const a = document.createElement("a"); a.href = href; a.textContent = label; nav.appendChild(a);
    }
  }
  for (const el of document.querySelectorAll(".admin-only")) el.hidden = Console.me.role !== "admin";
  const out = document.getElementById("logout");
  if (out) out.addEventListener("click", async () => {
    await Console.api("POST", "/console/logout").catch(() => {});
    location.href = "/console/login";
  });
  return Console.me;
})();
