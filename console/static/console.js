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
  // The rooms in the header, each with the least role that may open it
  // (a later room adds its line here and its route in gateway/console).
  rooms: [["/console/accounts", "Accounts", "admin"], ["/console/audit", "Audit log", "admin"],
          ["/console/menus", "Menus", "viewer"]],
  roles: ["viewer", "editor", "publisher", "admin"],
  may(role) { return Console.roles.indexOf(Console.me.role) >= Console.roles.indexOf(role); },
};
Console.rooms.push(["/console/versions", "Versions", "viewer"]);   // issue 10 publish
// The page's header: the brand, the rooms this role may open, who, logout.
function header(me) {
  const top = document.getElementById("top");
  if (!top) return;
  const el = (tag, props) => Object.assign(document.createElement(tag), props);
  const nav = el("nav");
  for (const [href, label, role] of Console.rooms)
    if (Console.may(role)) nav.appendChild(el("a", { href, textContent: label }));
  const out = el("button", { type: "button", id: "logout", textContent: "Log out" });
  out.addEventListener("click", async () => {
    await Console.api("POST", "/console/logout").catch(() => {});
    location.href = "/console/login";
  });
  top.replaceChildren(el("a", { className: "brand", href: "/console/", textContent: "kyzmat console" }), nav,
                      el("span", { id: "me", textContent: me.name + " (" + me.role + ")" }), out);
}
Console.ready = (async () => {
  Console.me = await Console.api("GET", "/console/api/me");
  header(Console.me);
  const who = document.getElementById("who"), role = document.getElementById("role");
  if (who) who.textContent = Console.me.name;
  if (role) role.textContent = Console.me.role;
  for (const el of document.querySelectorAll(".admin-only")) el.hidden = Console.me.role !== "admin";
  return Console.me;
})();
