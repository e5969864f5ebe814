// console/static/audit.js — the audit page: filter, page back in time,
// and the CSV link with the same filter.
"use strict";
(async () => {
  await Console.ready;
  const body = document.querySelector("#audit tbody");
  const more = document.getElementById("more");
  const form = document.getElementById("filter");
  let next = null;
  function query(extra) {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }
  async function load(append) {
    const r = await Console.api("GET", "/console/api/audit?" + query(append && next ? { before: next } : {}));
    if (!append) body.replaceChildren();
    for (const e of r.entries) {
      const tr = document.createElement("tr");
      Console.cell(tr, Console.when(e.at)); Console.cell(tr, e.actor); Console.cell(tr, e.peer);
      Console.cell(tr, e.action); Console.cell(tr, e.target); Console.cell(tr, e.detail, "detail");
      body.appendChild(tr);
    }
    next = r.next;
    more.hidden = next === null;
    document.getElementById("csv").href = "/console/api/audit.csv?" + query();
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(false); });
  more.addEventListener("click", () => load(true));
  load(false);
})();
