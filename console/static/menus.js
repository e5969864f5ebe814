// console/static/menus.js — the menu workspace (issue 10 console-ws): the
// draft's files (GET /console/api/draft), edited with CodeMirror when it
// loaded (else the textarea); a debounced check and graph of the UNSAVED
// text (POST /console/api/draft/check and /graph with {files}) gives the
// loader's errors inline as file:line:column, marks them in the editor,
// lists every text of the open file with its octets (the measure the
// graph carries) and draws the graph in plain SVG; the text under the
// cursor is measured as you type (POST /console/api/measure); Save is a
// PUT.  The phone emulator dials the live set or the draft.  No framework.
"use strict";
const M = {
  files: {},          // name -> text (what the editor holds, saved or not)
  saved: {},          // name -> text as stored
  current: null,
  cm: null,           // CodeMirror, or null (textarea)
  marks: [],
  timer: null,
  seq: 0,
  session: null,
  graph: null,
};
const $ = (id) => document.getElementById(id);
const el = (tag, props, ...kids) => { const e = Object.assign(document.createElement(tag), props || {}); e.append(...kids); return e; };

function editorText() { return M.cm ? M.cm.getValue() : $("text").value; }
function setEditorText(s) {
  if (M.cm) M.cm.setValue(s); else $("text").value = s;
}
function status(msg, bad) { const s = $("status"); s.textContent = msg; s.className = bad ? "error" : ""; }

function listFiles() {
  const ul = $("files");
  ul.replaceChildren();
  for (const name of Object.keys(M.files).sort()) {
    const li = el("li", { className: name === M.current ? "open" : "" }, el("a", { textContent: name }));
    li.dataset.name = name;
    li.firstChild.addEventListener("click", () => openFile(name));
    ul.appendChild(li);
  }
}

function openFile(name, line) {
  if (M.current && M.current !== name) M.files[M.current] = editorText();
  if (!(name in M.files)) return;
  if (M.current !== name) {
    M.current = name;
    setEditorText(M.files[name]);
  }
  $("current").textContent = name;
  listFiles();
  showDirty();
  markErrors();
  showTexts();
  if (line) {
    if (M.cm) { M.cm.focus(); M.cm.setCursor({ line: line - 1, ch: 0 }); M.cm.scrollIntoView({ line: line - 1, ch: 0 }, 80); }
    else {
      const ta = $("text"), lines = ta.value.split("\n").slice(0, line - 1);
      ta.focus(); ta.selectionStart = ta.selectionEnd = lines.join("\n").length + (line > 1 ? 1 : 0);
    }
  }
}

function showDirty() {
  $("dirty").hidden = !M.current || M.files[M.current] === M.saved[M.current];
}

// ---- check, graph, lengths ------------------------------------------------------

function changed() {
  if (!M.current) return;
  M.files[M.current] = editorText();
  showDirty();
  clearTimeout(M.timer);
  M.timer = setTimeout(recheck, 350);
  measureCursor();
}

async function recheck() {
  const seq = ++M.seq, files = Object.assign({}, M.files);
  let check, graph;
  try {
    [check, graph] = await Promise.all([Console.api("POST", "/console/api/draft/check", { files }),
                                        Console.api("POST", "/console/api/draft/graph", { files })]);
  } catch (e) { status(e.message, true); return; }
  if (seq !== M.seq) return;          // a newer edit is on its way
  M.check = check;
  M.graph = graph.graph;
  const v = $("verdict");
  v.textContent = check.ok ? "✓ the draft loads: " + check.nodes + " nodes, codes " + check.codes.join(", ")
                           : "✗ " + check.errors.length + " error(s)";
  v.className = check.ok ? "ok" : "bad";
  const ul = $("errors");
  ul.replaceChildren();
  for (const e of check.errors) {
    const where = e.file + ":" + e.line + ":" + e.column;
    const a = el("a", { textContent: where });
    a.addEventListener("click", () => openFile(e.file, e.line));
    ul.appendChild(el("li", { className: "err" }, a, ": " + e.message));
  }
  for (const li of $("files").children)
    li.classList.toggle("bad", check.errors.some((e) => e.file === li.dataset.name));
  markErrors();
  showTexts();
  drawGraph();
}

function markErrors() {
  if (!M.cm) return;
  for (const m of M.marks) m.clear ? m.clear() : M.cm.removeLineClass(m, "background", "cm-error-line");
  M.marks = [];
  if (!M.check) return;
  for (const e of M.check.errors) {
    if (e.file !== M.current || !e.line) continue;
    const h = M.cm.addLineClass(e.line - 1, "background", "cm-error-line");
    M.marks.push(h);
    const from = { line: e.line - 1, ch: Math.max(0, e.column - 1) };
    M.marks.push(M.cm.markText(from, { line: e.line - 1, ch: from.ch + 1 }, { className: "cm-error-mark", title: e.message }));
  }
}

function measureCells(tr, m) {
  const over = !m.fits;
  Console.cell(tr, m.encoding);
  Console.cell(tr, m.octets + "/" + m.limit_octets, m.octets > m.limit_octets ? "over" : "");
  Console.cell(tr, m.chars + "/" + m.limit, m.chars > m.limit ? "over" : "");
  Console.cell(tr, m.pages > 1 ? m.pages + " pages" : "1", over ? "over" : "");
}

function showTexts() {
  const tb = document.querySelector("#texts tbody");
  tb.replaceChildren();
  if (!M.graph) return;
  for (const n of M.graph.nodes) {
    if (n.file !== M.current) continue;
    for (const [lang, t] of Object.entries(n.texts || {})) {
      const m = t.measure;   // null: not measured (a text with variables)
      const tr = el("tr", { className: m && m.pages > 1 ? "paginates" : "" });
      Console.cell(tr, n.id);
      Console.cell(tr, lang);
      if (m) measureCells(tr, m);
      else for (let i = 0; i < 4; i++) Console.cell(tr, "—");
      Console.cell(tr, t.text, "text").title = t.text;
      tr.addEventListener("click", () => openFile(n.file, n.line));
      tb.appendChild(tr);
    }
  }
}

// The quoted (or plain) value on the cursor's line, measured as typed.
async function measureCursor() {
  const box = $("cursor-measure");
  let line = "";
  if (M.cm) line = M.cm.getLine(M.cm.getCursor().line) || "";
  else { const ta = $("text"); const before = ta.value.slice(0, ta.selectionStart); line = ta.value.split("\n")[before.split("\n").length - 1] || ""; }
  const m = line.match(/^\s*(?:-\s*)?([A-Za-z_]+)\s*:\s*"((?:[^"\\]|\\.)*)"/) || line.match(/^\s*(?:-\s*)?([A-Za-z_]+)\s*:\s*([^"{\[#][^#]*)$/);
  if (!m || !m[2].trim()) { box.textContent = ""; return; }
  const lang = ["ky", "ru", "en"].includes(m[1]) ? m[1] : "ru";
  try {
    const r = await Console.api("POST", "/console/api/measure", { text: m[2].replace(/\\n/g, "\n").replace(/\\"/g, '"'), lang, final: true });
    box.textContent = "this text (" + lang + "): " + r.encoding + ", " + r.octets + "/" + r.limit_octets + " octets, " +
      r.chars + "/" + r.limit + " characters" + (r.pages > 1 ? ", paginates into " + r.pages + " pages" : ", fits one screen");
    box.className = r.fits ? "hint" : "hint error";
  } catch (e) { box.textContent = ""; }
}

// ---- the graph: plain SVG, columns by distance from the entries ----------------

function drawGraph() {
  const box = $("graph");
  box.replaceChildren();
  const g = M.graph;
  if (!g) { box.textContent = "No graph: the draft has errors."; return; }
  const depth = {}, queue = [];
  for (const n of g.nodes) if (n.root) { depth[n.id] = 0; queue.push(n.id); }
  const out = {};
  for (const e of g.edges) (out[e.from] = out[e.from] || []).push(e.to);
  while (queue.length) {
    const id = queue.shift();
    for (const to of out[id] || []) if (!(to in depth)) { depth[to] = depth[id] + 1; queue.push(to); }
  }
  const maxd = Math.max(0, ...Object.values(depth));
  const cols = {}, pos = {}, W = 150, H = 34, GX = 40, GY = 12;
  for (const n of g.nodes) {
    const d = n.id in depth ? depth[n.id] : maxd + 1;
    (cols[d] = cols[d] || []).push(n);
  }
  let rows = 0;
  for (const [d, list] of Object.entries(cols)) {
    list.forEach((n, i) => { pos[n.id] = { x: 10 + d * (W + GX), y: 10 + i * (H + GY) }; });
    rows = Math.max(rows, list.length);
  }
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  const width = 20 + (maxd + 2) * (W + GX), height = 20 + rows * (H + GY);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const mk = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
  for (const e of g.edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    svg.appendChild(mk("path", { d: "M" + (a.x + W) + "," + (a.y + H / 2) + " C" + (a.x + W + GX / 2) + "," + (a.y + H / 2) +
                                    " " + (b.x - GX / 2) + "," + (b.y + H / 2) + " " + b.x + "," + (b.y + H / 2) }));
  }
  for (const n of g.nodes) {
    const p = pos[n.id];
    const cls = ["n", n.root ? "root" : "", n.final ? "final" : "", n.dead_end ? "dead" : "", n.unreachable ? "unreachable" : ""];
    const grp = mk("g", { class: cls.join(" ").trim(), transform: "translate(" + p.x + "," + p.y + ")" });
    grp.dataset.id = n.id;
    grp.appendChild(mk("rect", { width: W, height: H, rx: 5 }));
    const t1 = mk("text", { x: 6, y: 14 }); t1.textContent = n.id;
    const t2 = mk("text", { x: 6, y: 27 }); t2.textContent = n.type + (n.unreachable ? " · unreachable" : n.dead_end ? " · dead end" : "");
    grp.append(t1, t2);
    const title = mk("title", {}); title.textContent = n.file + ":" + n.line; grp.appendChild(title);
    grp.addEventListener("click", () => { openFile(n.file, n.line); $("editing").scrollIntoView(); });
    svg.appendChild(grp);
  }
  box.appendChild(svg);
}

// ---- saving ----------------------------------------------------------------------

async function save() {
  if (!M.current) return;
  M.files[M.current] = editorText();
  try {
    await Console.api("PUT", "/console/api/draft/" + encodeURIComponent(M.current), { text: M.files[M.current] });
    M.saved[M.current] = M.files[M.current];
    status("Saved " + M.current + ".");
  } catch (e) { status("Not saved: " + e.message, true); }
  showDirty();
}

async function loadDraft() {
  const r = await Console.api("GET", "/console/api/draft");
  M.files = {}; M.saved = {};
  for (const [name, f] of Object.entries(r.files)) { M.files[name] = f.text; M.saved[name] = f.text; }
  const names = Object.keys(M.files).sort();
  M.current = null;
  if (names.length) openFile(names[0]);
  else { listFiles(); status(Console.may("editor") ? "The draft is empty: copy the live set or add a file." : "The draft is empty."); }
  recheck();
}

// ---- the phone emulator ------------------------------------------------------------

function showScreen(r) {
  const s = r.screen || {};
  $("screen").textContent = s.text || "";
  const info = $("screen-info");
  info.replaceChildren(
    el("span", { className: s.octets > s.limit_octets ? "over" : "", textContent: s.encoding + " (DCS " + s.data_coding + ") · " + s.octets + "/" + s.limit_octets + " octets" }),
    " · " + s.chars + "/" + s.limit + " characters · page " + s.page + "/" + s.pages + (r.end ? " · ended" : ""));
  info.dataset.octets = s.octets;
  const notes = $("notes"), sms = $("sms");
  for (const n of r.notes || []) notes.appendChild(el("li", { textContent: n }));
  for (const m of r.sms || []) sms.appendChild(el("li", { textContent: m.to + " (" + m.lang + "): " + m.text }));
  M.session = r.end ? null : r.session;
}

async function emulate(path, body) {
  try { showScreen(await Console.api("POST", path, body)); }
  catch (e) { $("screen").textContent = "✗ " + e.message; $("screen-info").textContent = ""; }
}

function wireEmulator() {
  $("dial").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target, body = { code: f.code.value.trim(), lang: f.lang.value };
    if (f.set.value === "draft") { body.draft = true; if (M.current) M.files[M.current] = editorText(); body.files = M.files; }
    $("notes").replaceChildren(); $("sms").replaceChildren();
    emulate("/console/api/emulator/dial", body);
  });
  $("reply").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!M.session) return;
    const t = $("reply-text");
    emulate("/console/api/emulator/answer", { session: M.session, text: t.value });
    t.value = "";
  });
  for (const b of document.querySelectorAll("#reply button[data-key]"))
    b.addEventListener("click", () => M.session && emulate("/console/api/emulator/answer", { session: M.session, key: b.dataset.key }));
  $("end").addEventListener("click", async () => {
    if (!M.session) return;
    await Console.api("POST", "/console/api/emulator/end", { session: M.session }).catch(() => {});
    M.session = null;
    $("screen-info").textContent = "ended";
  });
}

// ---- start ---------------------------------------------------------------------------

(async () => {
  await Console.ready;
  const editor = Console.may("editor");
  for (const e of document.querySelectorAll(".editor-only")) e.hidden = !editor;
  if (!editor) document.querySelector("#dial select[name=set] option[value=draft]").disabled = true;
  if (window.CodeMirror) {
    M.cm = CodeMirror.fromTextArea($("text"), { mode: "yaml", lineNumbers: true, indentUnit: 2, tabSize: 2,
      extraKeys: { Tab: (cm) => cm.replaceSelection("  ") }, readOnly: !editor });
    M.cm.on("change", changed);
    M.cm.on("cursorActivity", measureCursor);
  } else {
    $("text").readOnly = !editor;
    $("text").addEventListener("input", changed);
    $("text").addEventListener("click", measureCursor);
  }
  document.body.dataset.editor = M.cm ? "codemirror" : "textarea";
  $("save").addEventListener("click", save);
  $("delete").addEventListener("click", async () => {
    if (!M.current || !confirm("Delete " + M.current + " from the draft?")) return;
    try { await Console.api("DELETE", "/console/api/draft/" + encodeURIComponent(M.current)); await loadDraft(); }
    catch (e) { status(e.message, true); }
  });
  $("new-file").addEventListener("click", () => {
    const name = prompt("File name (e.g. 50-news.yaml)");
    if (!name) return;
    M.files[name] = M.files[name] || "nodes:\n";
    openFile(name);
    changed();
  });
  $("from-live").addEventListener("click", async () => {
    if (!confirm("Replace the whole draft by the live set's files?")) return;
    try { const r = await Console.api("POST", "/console/api/draft/from-live"); status("Copied " + r.files + " files."); await loadDraft(); }
    catch (e) { status(e.message, true); }
  });
  wireEmulator();
  await loadDraft();
})();
