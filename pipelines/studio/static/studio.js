// reverse-o1 studio. Every piece of data is put on the page as text (textContent), never as HTML:
// rows, seeds and model output are hostile input.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { info: null, version: null, entries: [], current: null, dirty: false, edits: 0, saving: false,
            data: 0, row: null, verdicts: {}, changed: new Set(), focus: 0, validateTimer: null };
const hashTo = (view, id) => `#${view}/${encodeURIComponent(id)}`;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" },
                                           body: JSON.stringify(body) };
  const response = await fetch(path, init);
  let payload = null;
  try { payload = await response.json(); } catch (e) { payload = { detail: response.statusText }; }
  return { status: response.status, ok: response.ok, body: payload };
}

function status(id, text, isError) {
  const node = $(id);
  node.textContent = text;
  node.className = "status" + (isError ? " error" : "");
}

// ---------------------------------------------------------------- seeds
async function loadSeeds(keepDraft) {
  const r = await api("/api/seeds");
  if (!r.ok) { $("seed-file").textContent = r.body.detail; return; }
  S.version = r.body.version;
  S.entries = r.body.entries;
  $("seed-file").textContent = `${r.body.name}: ${S.entries.length} line(s)`;
  renderSeedList();
  if (keepDraft && S.current) {
    const id = S.current.originalId;
    const match = S.entries.find((e) => e.seed && e.seed.id === id);
    S.current = match ? { ...S.current, op: "replace", line: match.line, version: S.version }
                      : { ...S.current, op: "append", line: null, version: S.version };
    if (!match && S.current.originalId === null && S.current.raw !== undefined)
      status("seed-status", "the line you were fixing is gone: saving adds your text as a new line", true);
    validateSoon();
  }
}

function renderSeedList() {
  const needle = $("seed-search").value.trim().toLowerCase();
  const list = $("seed-list");
  list.replaceChildren();
  for (const entry of S.entries) {
    const seed = entry.seed || {};
    const text = `${seed.id || ""} ${seed.problem || ""} ${entry.raw || ""}`.toLowerCase();
    if (needle && !text.includes(needle)) continue;
    const item = el("li", { class: (entry.problems.length ? "invalid" : "") +
                            (S.current && S.current.line === entry.line ? " selected" : ""),
                            "data-line": entry.line, onclick: () => openSeed(entry) },
      el("span", { class: "id" }, seed.id || `line ${entry.line}`),
      String(seed.problem || entry.raw || "").slice(0, 90));
    if (entry.problems.length) item.append(el("span", { class: "badge bad" }, `${entry.problems.length} problem(s)`));
    list.append(item);
  }
}

function openSeed(entry) {
  if (S.dirty && !confirm("Discard the unsaved edit of this seed?")) return;
  const seed = entry.seed && formSafe(entry.seed) ? structuredClone(entry.seed) : null;
  const raw = seed ? undefined : (entry.raw ?? JSON.stringify(entry.seed));
  S.current = { op: "replace", line: entry.line, version: S.version, originalId: entry.seed ? entry.seed.id : null,
                extra: seed || {}, raw };
  fillForm(seed, raw);
  showProblems(entry.problems);
  S.dirty = false;
  status("seed-status", `line ${entry.line}`);
  renderSeedList();
}

function newSeed(template) {
  if (S.dirty && !confirm("Discard the unsaved edit of this seed?")) return;
  const seed = template || { id: "", problem: "", answer: "", steps: [{ text: "" }], domain: "math",
                             annotator: $("annotator").value };
  S.current = { op: template ? "insert_after" : "append", line: template ? S.current.line : null,
                version: S.version, originalId: null, extra: seed };
  fillForm(seed, null);
  showProblems([]);
  S.dirty = true;
  status("seed-status", template ? "duplicate (not saved yet)" : "new seed (not saved yet)");
  $("f-id").focus();
}

// A seed the form can show without losing anything; any other opens as its raw JSON line.
function formSafe(seed) {
  const text = (v) => v === undefined || typeof v === "string";
  const answer = seed.answer === undefined || typeof seed.answer === "string" || typeof seed.answer === "number";
  const steps = Array.isArray(seed.steps) && seed.steps.every((st) => st && typeof st === "object" && !Array.isArray(st) &&
    typeof st.text === "string" && (st.factor === undefined || typeof st.factor === "string") &&
    Object.keys(st).every((k) => k === "text" || k === "factor"));
  return text(seed.id) && text(seed.problem) && text(seed.annotator) && text(seed.notes) && answer && steps;
}

function fillForm(seed, raw) {
  $("seed-editor").hidden = false;
  $("raw-box").hidden = seed !== null;
  $("f-raw").value = raw || "";
  const s = seed || {};
  $("f-id").value = s.id ?? ""; $("f-problem").value = s.problem ?? ""; $("f-answer").value = s.answer ?? "";
  $("f-annotator").value = s.annotator ?? ""; $("f-notes").value = s.notes ?? "";
  const steps = Array.isArray(s.steps) ? s.steps : [];
  $("f-steps").replaceChildren(...steps.map((st) => stepItem(typeof st === "object" && st ? st : { text: String(st) })));
}

function factorSelect(value) {
  const select = el("select", { class: "factor", "aria-label": "factor" }, el("option", { value: "" }, "(no factor)"));
  for (const f of S.info.factors) select.append(el("option", { value: f.name, title: f.description }, f.name));
  if (value && !S.info.factors.some((f) => f.name === value)) select.append(el("option", { value }, value));
  select.value = value || "";
  return select;
}

function stepItem(step) {
  const text = el("textarea", { class: "step-text", rows: 2, "aria-label": "step text" });
  text.value = step.text ?? "";
  const li = el("li", {}, text, el("div", { class: "step-tools" }, factorSelect(step.factor),
    el("button", { title: "Alt+↑", onclick: () => moveStep(li, -1) }, "↑"),
    el("button", { title: "Alt+↓", onclick: () => moveStep(li, 1) }, "↓"),
    el("button", { title: "split at the cursor", onclick: () => splitStep(li) }, "Split"),
    el("button", { title: "merge with the next step", onclick: () => mergeStep(li) }, "Merge"),
    el("button", { class: "danger", title: "remove", onclick: () => { li.remove(); edited(); } }, "Remove")));
  return li;
}

function moveStep(li, delta) {
  const sibling = delta < 0 ? li.previousElementSibling : li.nextElementSibling;
  if (!sibling) return;
  if (delta < 0) sibling.before(li); else sibling.after(li);
  li.querySelector("textarea").focus();
  edited();
}

function splitStep(li) {
  const area = li.querySelector("textarea");
  const at = area.selectionStart || 0;
  const rest = area.value.slice(at).trim();
  area.value = area.value.slice(0, at).trim();
  const next = stepItem({ text: rest });
  li.after(next);
  next.querySelector("textarea").focus();
  edited();
}

function mergeStep(li) {
  const next = li.nextElementSibling;
  if (!next) return;
  const area = li.querySelector("textarea");
  area.value = `${area.value.trim()} ${next.querySelector("textarea").value.trim()}`.trim();
  next.remove();
  edited();
}

function formSeed() {
  const seed = { ...S.current.extra };
  for (const k of ["id", "problem", "answer", "steps", "annotator", "notes"]) delete seed[k];
  const result = { id: $("f-id").value, problem: $("f-problem").value, answer: $("f-answer").value,
    steps: [...$("f-steps").children].map((li) => {
      const step = { text: li.querySelector("textarea").value };
      const factor = li.querySelector("select").value;
      if (factor) step.factor = factor;
      return step;
    }) };
  if ($("f-annotator").value.trim()) result.annotator = $("f-annotator").value;
  if ($("f-notes").value.trim()) result.notes = $("f-notes").value;
  return { ...result, ...seed };
}

function editArgs(op) {
  const raw = !$("raw-box").hidden;
  return { version: S.current.version, op: op || S.current.op, line: S.current.line,
           ...(raw ? { raw: $("f-raw").value } : { seed: formSeed() }) };
}

function edited() { S.dirty = true; S.edits += 1; status("seed-status", "unsaved changes"); validateSoon(); }

function validateSoon() {
  clearTimeout(S.validateTimer);
  S.validateTimer = setTimeout(async () => {
    if (!S.current) return;
    const r = await api("/api/seeds/validate", editArgs());
    showProblems(r.ok ? r.body.problems : [{ field: "edit", message: r.body.detail }]);
  }, 250);
}

function fieldInput(field) {
  const m = /^steps\[(\d+)\]/.exec(field);
  if (m) { const li = $("f-steps").children[Number(m[1])]; return li && li.querySelector("textarea"); }
  return { id: $("f-id"), problem: $("f-problem"), answer: $("f-answer"), annotator: $("f-annotator"),
           notes: $("f-notes"), line: $("f-raw") }[field];
}

function showProblems(problems) {
  document.querySelectorAll("#seed-editor .bad").forEach((n) => n.classList.remove("bad"));
  $("seed-problems").replaceChildren(...problems.map((p) => {
    const input = fieldInput(p.field);
    if (input) input.classList.add("bad");
    return el("li", { class: "problem" }, `${p.field}: ${p.message}`);
  }));
}

async function saveSeed(op) {
  if (!S.current || S.saving) return;
  const args = editArgs(op);
  const edits = S.edits;
  S.saving = true;
  let r;
  try { r = await api("/api/seeds/save", args); } finally { S.saving = false; }
  if (r.status === 409) { openConflict(r.body.detail); return; }
  if (r.status === 422) { showProblems(r.body.problems); status("seed-status", r.body.detail, true); return; }
  if (!r.ok) { status("seed-status", r.body.detail, true); return; }
  if (S.edits !== edits) {  // typed while it saved: keep the form, on the new version
    S.current = { ...S.current, op: "replace", line: r.body.line, version: r.body.version };
    await loadSeeds(false);
    status("seed-status", "saved; you typed since: those changes are not saved yet");
    return;
  }
  S.dirty = false;
  const line = args.op === "delete" ? null : r.body.line;
  await loadSeeds(false);
  const entry = S.entries.find((e) => e.line === line);
  if (entry) openSeed(entry); else { S.current = null; $("seed-editor").hidden = true; }
  status("seed-status", args.op === "delete" ? "deleted" : `saved (line ${line})`);
}

function openConflict(message) {
  $("conflict-message").textContent = message;
  $("conflict").hidden = false;
}

async function saveAsNew() {
  const r = await api("/api/seeds/save-as", editArgs());
  $("conflict").hidden = true;
  if (!r.ok) { status("seed-status", r.body.detail, true); if (r.body.problems) showProblems(r.body.problems); return; }
  S.dirty = false;
  await loadSeeds(false);
  const entry = S.entries.find((e) => e.line === r.body.line);
  if (entry) openSeed(entry);
  status("seed-status", `saved as ${r.body.name}; the studio now edits that file`);
}

async function runImport() {
  const r = await api("/api/seeds/import", { version: S.version, format: $("import-format").value, text: $("import-text").value });
  if (r.status === 409) { $("import-box").hidden = true; openConflict(r.body.detail); return; }
  const out = $("import-result");
  if (!r.ok) { out.replaceChildren(el("li", {}, r.body.detail)); return; }
  out.replaceChildren(el("li", { class: "status" }, `${r.body.added} seed(s) added`),
                      ...r.body.skipped.map((s) => el("li", {}, `line ${s.line}: ${s.reason}`)));
  await loadSeeds(false);
}

// ---------------------------------------------------------------- review
async function loadRows() {
  const q = encodeURIComponent($("row-search").value.trim());
  const r = await api(`/api/data/${S.data}/rows?limit=500&q=${q}`);
  const list = $("row-list");
  if (!r.ok) { list.replaceChildren(el("li", {}, r.body.detail)); return; }
  list.replaceChildren(...r.body.rows.map((row) => el("li", { "data-id": row.id,
      class: S.row && S.row.id === row.id ? "selected" : "", onclick: () => { location.hash = hashTo("review", row.id); } },
    el("span", { class: "badge" }, row.method), el("span", { class: "badge " + (row.answer_correct ? "good" : "bad") },
      row.answer_correct ? "answer right" : "answer wrong"), row.problem.slice(0, 70),
    el("span", { class: "muted" }, ` · ${row.steps} steps · mean soft ${row.mean_soft === null ? "–" : row.mean_soft.toFixed(2)}` +
      ` · ${row.id.slice(0, 8)}`))));
}

function softColour(soft) {
  if (soft === null || soft === undefined) return "#f2f2f2";
  return `hsl(${Math.round(120 * soft)}, 70%, 88%)`;
}

async function openRow(rowId) {
  if (S.changed.size && (!S.row || S.row.id !== rowId) && !confirm("Discard the verdicts you have not saved?")) {
    location.hash = hashTo("review", S.row.id);
    return;
  }
  const r = await api(`/api/data/${S.data}/rows/${encodeURIComponent(rowId)}`);
  if (!r.ok) { $("row-view").hidden = true; return; }
  const row = r.body;
  S.row = row; S.verdicts = {}; S.changed = new Set(); S.focus = 0;
  const me = $("annotator").value.trim();
  for (const [step, by] of Object.entries(row.human)) if (me && by[me]) S.verdicts[step] = by[me];
  $("row-view").hidden = false;
  $("row-meta").textContent = `${row.method} · ${row.generator.model || "?"} · ${row.generator.prompt_version || ""} · ` +
    `answer ${row.answer_correct ? "right" : "wrong"} · ${row.source_kind} ${row.problem_id} · id ${row.id}` +
    (row.judge_model ? ` · judge ${row.judge_model}` : "") +
    (row.agreement === null || row.agreement === undefined ? "" : ` · MC and judge agree on ${(100 * row.agreement).toFixed(0)}%`);
  $("row-problem").textContent = row.problem;
  $("row-tree-link").hidden = !row.has_tree;
  $("row-tree-link").href = hashTo("tree", row.id);
  const sides = { mc: Array.isArray(row.mc_labels), judge: Array.isArray(row.judge_labels) };
  $("row-steps").replaceChildren(...row.steps.map((step) => stepReview(step, row.human[step.index] || {}, sides)));
  focusStep(0);
  status("labels-status", "");
  loadRows();
}

// A labeller's verdict on a step as a small badge: ✓ right, ✗ wrong, ? none (unmeasured, or its reply said neither).
function verdictBadge(who, verdict, disagree) {
  const mark = verdict === true ? "✓" : verdict === false ? "✗" : "?";
  const kind = verdict === true ? "good" : verdict === false ? "bad" : "";
  return el("span", { class: `badge side ${kind}` + (disagree ? " disagree" : ""), "data-side": who.toLowerCase(),
    title: `${who}: ${verdict === true ? "correct" : verdict === false ? "wrong" : "no verdict"}` +
      (disagree ? " (MC and the judge disagree here)" : "") }, `${who} ${mark}`);
}

function stepReview(step, human, sides) {
  const soft = step.soft === null || step.soft === undefined ? "unmeasured" : step.soft.toFixed(2);
  const label = step.label === null || step.label === undefined ? (step.disagree ? "no label: MC ≠ judge" : "unmeasured")
    : step.label ? "✓ correct" : "✗ wrong";
  const q = step.q === null || step.q === undefined ? null : el("span", { class: "badge", title: "the search's Q in [-1, 1]" },
    `Q ${step.q.toFixed(2)}`);
  const buttons = S.info.verdicts.map((v) => el("button", { "data-verdict": v, onclick: () => mark(step.index, v) }, v));
  const others = Object.entries(human).map(([who, v]) => `${who}: ${v}`).join(", ");
  const li = el("li", { "data-step": step.index, onclick: () => focusStep(step.index) },
    el("div", { class: "text" }, step.text),
    el("div", { class: "step-tools" }, el("span", { class: "badge" }, label),
      sides && sides.mc ? verdictBadge("MC", step.mc, step.disagree) : null,
      sides && sides.judge ? verdictBadge("Judge", step.judge, step.disagree) : null, el("span", { class: "badge" }, `soft ${soft}`), q,
      el("span", { class: "badge" }, `${step.correct_rollouts ?? 0}/${step.rollouts ?? 0} rollouts right`),
      el("span", { class: "verdicts" }, ...buttons), others ? el("span", { class: "human" }, others) : null));
  li.style.background = softColour(step.soft);
  if (step.disagree) li.classList.add("disagree");
  paintVerdict(li, S.verdicts[step.index]);
  return li;
}

function paintVerdict(li, verdict) {
  li.querySelectorAll(".verdicts button").forEach((b) => b.classList.toggle("on", b.dataset.verdict === verdict));
}

function mark(index, verdict) {
  S.verdicts[index] = verdict;
  S.changed.add(String(index));
  paintVerdict($("row-steps").children[index], verdict);
  status("labels-status", "unsaved labels");
}

function focusStep(index) {
  const items = $("row-steps").children;
  if (!items.length) return;
  S.focus = Math.max(0, Math.min(items.length - 1, index));
  [...items].forEach((li, i) => li.classList.toggle("focus", i === S.focus));
}

async function saveLabels() {
  const annotator = $("annotator").value.trim();
  if (!annotator) { status("labels-status", "type your name in 'annotator' first", true); $("annotator").focus(); return; }
  if (!S.changed.size) { status("labels-status", "mark at least one step", true); return; }
  const labels = Object.fromEntries([...S.changed].map((i) => [i, S.verdicts[i]]));  // only this session's marks
  const r = await api("/api/labels", { data: S.data, row_id: S.row.id, annotator, labels });
  if (r.ok) S.changed = new Set();
  status("labels-status", r.ok ? `saved ${r.body.written.length} label(s)` : r.body.detail, !r.ok);
}

// ---------------------------------------------------------------- tree
const num = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

async function openTree(rowId) {
  const r = await api(`/api/data/${S.data}/tree/${encodeURIComponent(rowId)}`);
  $("tree-back").href = hashTo("review", rowId);
  $("tree-node").replaceChildren();
  if (!r.ok) { $("tree-box").replaceChildren(el("p", {}, r.body.detail)); return; }
  const t = r.body;
  $("tree-problem").textContent = t.problem;
  $("tree-prefix").replaceChildren(...(t.prefix || []).map((st) => el("li", {}, st.factor ? `[${st.factor}] ` : "", st.text)));
  const c = t.counts || {};
  $("tree-source").textContent = t.source === "trees"
    ? `every node of the search (trees/): ${c.nodes} nodes, ${c.expanded} expanded, ${c.dead_ends} dead ends, ` +
      `${c.answers} stated answers, ${c.unvisited} children never visited · gold answer ${t.gold_answer ?? "?"}`
    : `pieced together from the PRM rows (this folder has no trees/): only the ${c.nodes} nodes on found trajectories`;
  drawTree(t);
  $("tree-trajectories").replaceChildren(...t.trajectories.map((tr) => el("li", {},
    el("a", { href: hashTo("review", tr.id) }, tr.id), ` · ${tr.steps} steps · answer ${tr.answer_correct ? "right ✓" : "wrong"}`)));
}

function nodeAnswer(n) {
  if (n.answer === null || n.answer === undefined) return n.terminal_reason === "dead_end" ? "none (dead end)" : "–";
  const verdict = n.answer_correct === null || n.answer_correct === undefined ? "unmeasured" : n.answer_correct ? "✓ right" : "✗ wrong";
  return `${n.answer} (${n.terminal_reason === "answer" ? "its step states it" : "its rollout reached it"}, ${verdict})`;
}

function showNode(n, isRoot) {
  const items = [["step", n.text || (isRoot ? "(the root: the problem and the human prefix)" : "")], ["factor", n.factor || "–"],
    ["visits", n.visits ?? "–"], ["Q", num(n.q, 3)], ["correct evaluations", n.correct ?? "–"], ["own value", num(n.value, 0)],
    ["prior", num(n.prior, 3)], ["factor prior", num(n.factor_prior, 3)],
    ["expanded", n.expanded === null || n.expanded === undefined ? "–" : n.expanded ? "yes" : "no"],
    ["terminal", n.terminal_reason || (n.terminal ? "a trajectory ends here" : "no")], ["answer", nodeAnswer(n)]];
  if (n.value_model) items.push(["value model", `${n.value_model}: P(correct) ${num(n.score, 3)}`],
    ["evaluations the verifier checked", n.checked ?? "–"]);
  const dl = el("dl", { class: "node-detail" }, ...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  if (n.candidates && n.candidates.length) dl.append(el("dt", {}, `best of ${n.candidates.length} (by the value model)`),
    el("dd", {}, el("ol", {}, ...n.candidates.map((c) => el("li", {}, `${c.kept ? "✓ kept · " : ""}${num(c.score, 3)} · `, c.text ?? "")))));
  if (n.rollout && n.rollout.length) dl.append(el("dt", {}, "rollout"), el("dd", {}, el("ol", {}, ...n.rollout.map((st) => el("li", {}, st)))));
  if (n.trajectories && n.trajectories.length) dl.append(el("dt", {}, "trajectories through it"),
    el("dd", {}, ...n.trajectories.map((id) => el("a", { href: hashTo("review", id), class: "traj" }, id.slice(0, 8)))));
  $("tree-node").replaceChildren(dl);
}

function drawTree(t) {
  const kids = {};
  for (const n of t.nodes) if (n.parent) (kids[n.parent] = kids[n.parent] || []).push(n);
  const byId = Object.fromEntries(t.nodes.map((n) => [n.id, n]));
  const pos = {}; let leaf = 0; let depthMax = 0;
  const place = (id, depth) => {
    depthMax = Math.max(depthMax, depth);
    const children = kids[id] || [];
    if (!children.length) { pos[id] = { x: leaf++, y: depth }; return; }
    children.forEach((c) => place(c.id, depth + 1));
    pos[id] = { x: children.reduce((s, c) => s + pos[c.id].x, 0) / children.length, y: depth };
  };
  place(t.root, 0);
  const W = 150, H = 90, NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", String(Math.max(leaf, 1) * W + 40)); svg.setAttribute("height", String((depthMax + 1) * H + 40));
  const sx = (id) => 20 + pos[id].x * W + W / 2, sy = (id) => 25 + pos[id].y * H;
  const shape = (tag, attrs) => { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v)); return n; };
  for (const n of t.nodes) if (n.parent && pos[n.parent] && pos[n.id])
    svg.append(shape("line", { x1: sx(n.parent), y1: sy(n.parent), x2: sx(n.id), y2: sy(n.id), stroke: "#8c959f" }));
  for (const id of Object.keys(pos)) {
    const n = byId[id];
    const unvisited = n.parent && n.visits === 0;
    const dead = n.terminal_reason === "dead_end";
    const g = shape("g", { class: "node" + (unvisited ? " unvisited" : "") + (dead ? " dead" : ""), "data-id": id });
    const q = n.q === null || n.q === undefined || unvisited ? null : n.q;
    const fill = q === null ? "#eaeef2" : `hsl(${Math.round(60 * (q + 1))}, 70%, 80%)`;
    const stroke = dead ? "#d1242f" : "#24292f";
    g.append(n.terminal ? shape("rect", { x: sx(id) - 9, y: sy(id) - 9, width: 18, height: 18, fill, stroke })
                        : shape("circle", { cx: sx(id), cy: sy(id), r: 9, fill, stroke }));
    const mark = n.verified ? " ✓" : dead ? " ✗ dead end" : n.terminal_reason === "answer" && n.answer_correct === false ? " ✗" : "";
    const caption = shape("text", { x: sx(id), y: sy(id) + 22, "text-anchor": "middle" });
    caption.textContent = (n.parent ? "" : "root ") + `N=${n.visits ?? "?"} Q=${q === null ? "?" : q.toFixed(2)}` +
      (n.prior === null || n.prior === undefined ? "" : ` P=${n.prior.toFixed(2)}`) + mark;
    g.append(caption);
    if (n.factor) {
      const factor = shape("text", { x: sx(id), y: sy(id) + 35, "text-anchor": "middle", class: "factor" });
      factor.textContent = n.factor;
      g.append(factor);
    }
    const title = shape("title", {}); title.textContent = n.text || "(the problem)";
    g.append(title);
    g.addEventListener("click", () => showNode(n, !n.parent));
    svg.append(g);
  }
  $("tree-box").replaceChildren(svg);
}

// ---------------------------------------------------------------- agreement and report
async function loadAgreement() {
  const r = await api("/api/agreement");
  $("agreement-note").textContent = `human labels: ${S.info.labels}`;
  if (!r.ok) { $("agreement-box").replaceChildren(el("p", {}, r.body.detail)); return; }
  const pct = (w) => (w && w.value !== null && w.value !== undefined ? `${(100 * w.value).toFixed(1)}%` : "–");
  const ci = (w) => (w && w.low !== null && w.low !== undefined ? `[${(100 * w.low).toFixed(1)}, ${(100 * w.high).toFixed(1)}]` : "");
  const head = ["group", "steps", "step accuracy", "95% CI", "F1 wrong steps", "first-error acc.", "95% CI", "solutions"];
  const table = el("table", { id: "agreement-table" }, el("tr", {}, ...head.map((k) => el("th", {}, k))),
    ...(r.body.groups || []).map((g) => el("tr", {}, el("td", { class: "l" }, g.group), el("td", {}, g.counts.steps_compared),
      el("td", {}, pct(g.step_accuracy)), el("td", {}, ci(g.step_accuracy)), el("td", {}, pct(g.wrong_steps.f1)),
      el("td", {}, pct(g.first_error.overall)), el("td", {}, ci(g.first_error.overall)), el("td", {}, g.counts.solutions_compared))));
  $("agreement-box").replaceChildren(table, el("pre", { class: "text" }, r.body.table));
}

function loadReports() {
  $("report-links").replaceChildren(...S.info.data.map((d) => el("li", {},
    el("a", { href: `/report/${d.index}`, target: "_blank", rel: "noopener" }, `report of ${d.path}`), ` · ${d.rows} PRM rows`)));
}

// ---------------------------------------------------------------- routing and keys
function currentView() {
  const hash = location.hash.slice(1) || (S.info && S.info.seeds ? "seeds" : "review");
  const at = hash.indexOf("/");
  let arg = at < 0 ? "" : hash.slice(at + 1);
  try { arg = decodeURIComponent(arg); } catch (e) { arg = ""; }
  return [at < 0 ? hash : hash.slice(0, at), arg];
}

async function route() {
  const [view, arg] = currentView();
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${view}`; });
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.id === `tab-${view === "tree" ? "review" : view}`));
  if (view === "seeds") await loadSeeds(false);
  if (view === "review") { await loadRows(); if (arg) await openRow(arg); }
  if (view === "tree" && arg) await openTree(arg);
  if (view === "agreement") await loadAgreement();
  if (view === "report") loadReports();
}

function onKey(event) {
  const ctrl = event.ctrlKey || event.metaKey;
  const view = currentView()[0];
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (view === "seeds") {
    if (ctrl && event.key === "s") { event.preventDefault(); saveSeed(); }
    else if (ctrl && event.key === "Enter" && !$("seed-editor").hidden && $("import-box").hidden) { event.preventDefault(); const li = stepItem({ text: "" });
      const at = document.activeElement.closest("#f-steps li"); if (at) at.after(li); else $("f-steps").append(li);
      li.querySelector("textarea").focus(); edited(); }
    else if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      const li = document.activeElement.closest("#f-steps li"); if (li) { event.preventDefault(); moveStep(li, event.key === "ArrowUp" ? -1 : 1); } }
    else if (event.altKey && event.key.toLowerCase() === "n") { event.preventDefault(); newSeed(null); }
    else if (event.key === "/" && !typing) { event.preventDefault(); $("seed-search").focus(); }
  } else if (view === "review" && S.row) {
    if (ctrl && event.key === "s") { event.preventDefault(); saveLabels(); }
    else if (typing) return;
    else if (event.key === "j") focusStep(S.focus + 1);
    else if (event.key === "k") focusStep(S.focus - 1);
    else if (["1", "2", "3"].includes(event.key)) mark(S.focus, S.info.verdicts[Number(event.key) - 1]);
  }
}

async function start() {
  S.info = (await api("/api/info")).body;
  $("annotator").value = localStorage.getItem("annotator") || S.info.annotator || "";
  $("annotator").addEventListener("change", () => {
    localStorage.setItem("annotator", $("annotator").value.trim());
    if (S.row && !S.changed.size) openRow(S.row.id);  // show this annotator's own verdicts
  });
  $("data-select").replaceChildren(...S.info.data.map((d) => el("option", { value: d.index }, d.path)));
  $("data-notes").textContent = S.info.data.flatMap((d) => d.notes).join(" · ");
  $("import-format").replaceChildren(...S.info.importers.map((f) => el("option", { value: f }, f)));
  $("seed-search").addEventListener("input", renderSeedList);
  $("row-search").addEventListener("input", loadRows);
  $("data-select").addEventListener("change", () => { S.data = Number($("data-select").value); S.row = null; loadRows(); });
  $("seed-editor").addEventListener("input", edited);
  $("seed-new").addEventListener("click", () => newSeed(null));
  $("seed-save").addEventListener("click", () => saveSeed());  // not the click event as the operation
  $("seed-duplicate").addEventListener("click", () => { if (S.current && S.current.line) {
    const copy = formSeed(); copy.id = `${copy.id}-copy`; newSeed(copy); validateSoon(); } });
  $("seed-delete").addEventListener("click", () => { if (S.current && S.current.line && confirm("Delete this seed from the file?")) {
    saveSeed("delete"); } });
  $("step-add").addEventListener("click", () => { $("f-steps").append(stepItem({ text: "" })); edited(); });
  $("seed-import-open").addEventListener("click", () => { $("import-box").hidden = false; });
  $("import-close").addEventListener("click", () => { $("import-box").hidden = true; });
  $("import-run").addEventListener("click", runImport);
  $("conflict-reload").addEventListener("click", async () => { $("conflict").hidden = true; await loadSeeds(true);
    status("seed-status", "reloaded: your edit is still in the form; save again to apply it to the new file"); });
  $("conflict-save-as").addEventListener("click", saveAsNew);
  $("conflict-cancel").addEventListener("click", () => { $("conflict").hidden = true; });
  $("labels-save").addEventListener("click", saveLabels);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  window.addEventListener("beforeunload", (e) => { if (S.dirty || S.changed.size) { e.preventDefault(); e.returnValue = ""; } });
  await route();
  document.body.dataset.ready = "1";
}

start();
