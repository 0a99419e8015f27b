// hauld dashboard: the same REST API as curl, and the event stream (GET /events)
// for live updates (no polling but the header's status every 30 s). Views have addresses of their own (#/jobs, #/jobs/ID, #/new,
// #/host), so a link to one job can be shared and reloaded.
"use strict";

const $ = (sel, root) => (root || document).querySelector(sel);
const TOKEN_KEY = "hauld.token";
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

// ---------------------------------------------------------------- formatting

function text(v) {
  return v === null || v === undefined || v === "" ? "–" : String(v);
}
function ms(v) {
  if (v === null || v === undefined) return "–";
  return v < 1000 ? v + " ms" : (v / 1000).toFixed(v < 10000 ? 2 : 1) + " s";
}
function bytes(v) {
  if (v === null || v === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v) + " " + u[i];
}
function when(ts) {
  return ts ? ts.replace("T", " ").replace(/\.\d+Z$/, "").replace("Z", "") : "–";
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}
function what(j) {
  if (j.container) return "container " + (j.container.name || j.container.id);
  return "pid " + j.pid + (j.command ? " · " + j.command : "");
}
function direction(j) {
  return j.role === "source" ? "this host → " + j.to : j.to + " → this host";
}
function announce(msg) {
  $("#live").textContent = msg;
}

// ---------------------------------------------------------------- the API

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// One request; resolves to {status, body} (body: parsed JSON or null). A 401 shows
// the token form and rejects.
async function api(method, path, body, headers) {
  const h = Object.assign({}, headers || {});
  if (token()) h.Authorization = "Bearer " + token();
  if (body !== undefined) h["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers: h, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try { json = await r.json(); } catch (e) { json = null; }
  if (r.status === 401) {
    askToken(json && json.error ? json.error.message : "this API needs a token");
    throw new Error("unauthorized");
  }
  return { status: r.status, body: json };
}

async function getJSON(path) {
  const r = await api("GET", path);
  if (r.status !== 200) {
    const m = r.body && r.body.error ? r.body.error.message : "HTTP " + r.status;
    throw new Error(m);
  }
  return r.body;
}

function askToken(why) {
  $("#token-view").hidden = false;
  $("#token-error").textContent = token() ? "The token was refused: " + why : "";
  if (document.activeElement !== $("#token-input")) $("#token-input").focus();
}

$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token-input").value.trim());
  $("#token-input").value = "";
  $("#token-view").hidden = true;
  stream.restart();
  route();
});

// ---------------------------------------------------------------- event stream

// EventSource cannot send a token, so the stream is read with fetch: the same
// text/event-stream, parsed here, resumed after the last id when it ends.
const stream = {
  last: null, ctrl: null, listeners: new Set(), timer: null,
  restart() {
    if (this.ctrl) this.ctrl.abort();
    clearTimeout(this.timer);
    this.open();
  },
  status(up, msg) {
    const s = $("#stream");
    s.className = "stream " + (up ? "up" : "down");
    s.textContent = msg;
  },
  async open() {
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    const h = token() ? { Authorization: "Bearer " + token() } : {};
    const q = this.last !== null ? "?after=" + this.last : "";
    try {
      const r = await fetch("/events" + q, { headers: h, signal: ctrl.signal, cache: "no-store" });
      if (r.status === 401) { this.status(false, "events: need the token"); askToken("the event stream needs the token"); return; }
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      this.status(true, "events: live");
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          this.dispatch(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    if (ctrl.signal.aborted) return;
    this.status(false, "events: reconnecting");
    this.timer = setTimeout(() => this.open(), 2000);
  },
  dispatch(block) {
    let data = "", id = null;
    for (const line of block.split("\n")) {
      // The stream's first comment names its cursor: a reconnect resumes there
      // even when no event came before it.
      const opened = /^: hauld events after (\d+)/.exec(line);
      if (opened && this.last === null) this.last = Number(opened[1]);
      if (line.startsWith("data:")) data += line.slice(5).trim();
      else if (line.startsWith("id:")) id = Number(line.slice(3).trim());
    }
    if (id !== null) this.last = id;
    if (!data) return;
    let ev;
    try { ev = JSON.parse(data); } catch (e) { return; }
    for (const f of this.listeners) f(ev);
  },
};

// ---------------------------------------------------------------- routing

const views = ["jobs", "job", "new", "host"];
let current = { view: null, id: null, params: new URLSearchParams() };

function parseHash() {
  const h = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query] = h.split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  if (parts[0] === "jobs" && parts[1]) return { view: "job", id: parts[1], params };
  if (parts[0] === "new") return { view: "new", params };
  if (parts[0] === "host") return { view: "host", params };
  return { view: "jobs", params };
}

function route() {
  const r = parseHash();
  const changed = r.view !== current.view || r.id !== current.id;
  current = r;
  for (const v of views) $("#view-" + v).hidden = v !== r.view;
  for (const a of document.querySelectorAll("header nav a")) {
    const on = a.dataset.view === r.view || (r.view === "job" && a.dataset.view === "jobs");
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const titles = { jobs: "Migrations", job: "Migration " + (r.id || ""), new: "Start a migration", host: "This host" };
  document.title = titles[r.view] + " · hauld";
  if (r.view === "jobs") jobsView.show(r.params);
  else if (r.view === "job") jobView.show(r.id, changed);
  else if (r.view === "new") newView.show(changed);
  else if (r.view === "host") hostView.show();
  if (changed) $("#main").focus({ preventScroll: true });
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- header

async function refreshHealth() {
  try {
    const h = await getJSON("/healthz");
    $("#health").textContent = `${h.status} · CRIU ${h.criu.version_text || "?"} · live = ${h.strategies.live}`;
    return h;
  } catch (e) {
    if (e.message !== "unauthorized") $("#health").textContent = "unreachable";
    return null;
  }
}

// ---------------------------------------------------------------- jobs view

const jobsView = {
  params: null, rows: new Map(), next: null, refetch: null,
  show(params) {
    this.params = params;
    $("#f-state").value = params.get("state") || "";
    $("#f-type").value = params.get("type") || "";
    const limit = params.get("limit") || "25";
    // A shared address may name a page size the menu does not offer.
    if (![...$("#f-limit").options].some((o) => o.value === limit)) $("#f-limit").append(el("option", { text: limit }));
    $("#f-limit").value = limit;
    this.load();
  },
  query() {
    const q = new URLSearchParams();
    for (const k of ["state", "type", "limit", "before"]) {
      const v = this.params.get(k);
      if (v) q.set(k, v);
    }
    if (!q.get("limit")) q.set("limit", "25");
    return q;
  },
  async load() {
    const q = this.query();
    $("#jobs-error").textContent = "";
    let list;
    try {
      list = await getJSON("/migrations?" + q);
    } catch (e) {
      if (e.message !== "unauthorized") $("#jobs-error").textContent = "Cannot read the migrations: " + e.message;
      return;
    }
    const body = $("#jobs tbody");
    body.replaceChildren();
    this.rows.clear();
    for (const j of list.migrations) this.render(j, null);
    $("#jobs-empty").hidden = list.migrations.length > 0;
    this.next = list.next;
    $("#page-next").disabled = list.next === null;
    $("#page-first").disabled = !this.params.get("before");
  },
  // One job's rows (and, when it failed, a second row with the sentence).
  render(j, replace) {
    const tr = el("tr", { "data-id": j.id },
      el("td", { text: when(j.created_at) }),
      el("td", { text: j.type }),
      el("td", {}, el("a", { href: "#/jobs/" + j.id, text: what(j) })),
      el("td", { text: direction(j) }),
      el("td", { text: j.mode + (j.strategy ? " / " + j.strategy : "") }),
      el("td", { class: j.state + " state", text: j.state }),
      el("td", { text: j.phase }),
      el("td", { text: ms(j.stats.downtime_ms) }),
      el("td", { text: ms(j.stats.total_ms) }),
      el("td", { text: bytes(j.stats.bytes) }));
    const rows = [tr];
    if (j.error && j.state !== "succeeded") {
      const where = { source: "at the source", destination: "at the destination", unknown: "unknown" };
      rows.push(el("tr", { class: "sub", "data-sub": j.id },
        el("td", { colspan: "10" }, (j.error.code || "") + ": " + j.error.message +
          " — the process now runs: " + (where[j.error.process_at] || text(j.error.process_at)))));
    }
    if (replace) {
      const old = this.rows.get(j.id);
      old[0].replaceWith(...rows);
      for (const r of old.slice(1)) r.remove();
    } else if (replace === false) {
      $("#jobs tbody").prepend(...rows);
    } else {
      $("#jobs tbody").append(...rows);
    }
    this.rows.set(j.id, rows);
    $("#jobs-empty").hidden = true;
  },
  // An event: refresh its job's row, or the first page when a new job appeared.
  async onEvent(ev) {
    if (current.view !== "jobs") return;
    if (this.rows.has(ev.job)) {
      const j = ev.kind === "state" && ev.data && ev.data.id ? ev.data : await getJSON("/migrations/" + ev.job).catch(() => null);
      if (j && this.rows.has(j.id)) this.render(j, true);
    } else if (!this.params.get("before")) {
      clearTimeout(this.refetch);
      this.refetch = setTimeout(() => this.load(), 200);
    }
  },
};

function setJobsHash(changes) {
  const p = new URLSearchParams(current.params);
  for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
  const q = p.toString();
  location.hash = "#/jobs" + (q ? "?" + q : "");
}
$("#f-state").addEventListener("change", (e) => setJobsHash({ state: e.target.value, before: "" }));
$("#f-type").addEventListener("change", (e) => setJobsHash({ type: e.target.value, before: "" }));
$("#f-limit").addEventListener("change", (e) => setJobsHash({ limit: e.target.value, before: "" }));
$("#page-next").addEventListener("click", () => { if (jobsView.next !== null) setJobsHash({ before: String(jobsView.next) }); });
$("#page-first").addEventListener("click", () => setJobsHash({ before: "" }));

// ---------------------------------------------------------------- job view

const PHASES_SOURCE = ["queued", "connecting", "preflight", "precopy", "dumping", "transferring",
  "restoring", "committing", "lazy", "rollback", "done"];

const jobView = {
  id: null, job: null, events: [], charts: {}, pending: null,
  async show(id, changed) {
    if (changed) {
      this.id = id;
      this.job = null;
      this.events = [];
      $("#job-id").textContent = id;
      $("#logs").replaceChildren();
      $("#cancel-error").textContent = "";
      $("#events tbody").replaceChildren();
      for (const c of Object.values(this.charts)) c.destroy();
      this.charts = {};
    }
    await this.reload();
  },
  async reload() {
    const id = this.id;
    let job, evs;
    try {
      [job, evs] = await Promise.all([getJSON("/migrations/" + id), getJSON("/migrations/" + id + "/events")]);
    } catch (e) {
      if (e.message !== "unauthorized") {
        $("#job-facts").replaceChildren(el("dt", { text: "error" }), el("dd", { text: e.message }));
      }
      return;
    }
    if (id !== this.id) return;
    // Merged, not replaced: the stream may have brought newer events meanwhile.
    this.addEvents(evs.events);
    this.render(job);
  },
  addEvents(list) {
    const seen = new Set(this.events.map((e) => e.id));
    for (const e of list) if (!seen.has(e.id)) this.events.push(e);
    this.events.sort((x, y) => x.id - y.id);
  },
  onEvent(ev) {
    if (current.view !== "job" || ev.job !== this.id) return;
    this.addEvents([ev]);
    announce(`Migration ${ev.job.slice(0, 8)}: ${ev.state || ""} ${ev.phase}: ${ev.message}`);
    // Coalesce a burst of events into one read of the job.
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.reloadJob(), 150);
  },
  async reloadJob() {
    const id = this.id;
    const job = await getJSON("/migrations/" + id).catch(() => null);
    if (job && id === this.id) this.render(job);
  },
  render(j) {
    this.job = j;
    const f = $("#job-facts");
    const facts = [
      ["Type", j.type], ["What moved", what(j)], ["Direction", direction(j)],
      ["Role", j.role === "source" ? "source (this host sends)" : "destination (this host receives)"],
      ["Mode", j.mode], ["Strategy", j.strategy ? j.strategy + (j.strategy_reason ? " — " + j.strategy_reason : "") : "–"],
      ["State", j.state], ["Phase", j.phase],
      ["Created", when(j.created_at)], ["Started", when(j.started_at)], ["Finished", when(j.finished_at)],
      ["Result", j.result ? "pid " + j.result.pid + " at the destination" + (j.result.container ? ", container " + j.result.container : "") : "–"],
      ["Downtime", ms(j.stats.downtime_ms)], ["Total", ms(j.stats.total_ms)], ["Bytes", bytes(j.stats.bytes)],
      ["From CRIU", bytes(j.stats.bytes_raw)],
      ["Compression", j.stats.compression ? j.stats.compression + (j.stats.compress_ratio !== null ? ", " + j.stats.compress_ratio.toFixed(3) + " of the raw bytes on the wire" : "") : "–"],
    ];
    f.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }),
      el("dd", { text: text(v), class: k === "State" ? j.state : null, "data-fact": k.toLowerCase() })]));
    const err = $("#job-error");
    if (j.error) {
      const where = { source: "at the source", destination: "at the destination", unknown: "unknown (hauld cannot confirm a copy)" };
      err.hidden = false;
      err.replaceChildren(el("strong", { text: j.error.code + " in phase " + j.error.phase + ": " }),
        j.error.message, el("br"), "The process now runs: " + (where[j.error.process_at] || text(j.error.process_at)) + ".");
    } else {
      err.hidden = true;
    }
    this.renderCancel(j);
    this.renderTimeline(j);
    this.renderTimes(j);
    this.renderIterations(j);
    this.renderLazy(j);
    this.renderEvents();
  },
  // Whether a cancel can still be accepted, as DELETE /migrations/ID decides.
  cancelState(j) {
    if (j.role !== "source") return "This host receives this migration: cancel it at the source host (" + j.to + ").";
    if (FINAL.has(j.state)) return "The migration has ended (" + j.state + "): there is nothing to cancel.";
    if (j.mode === "lazy" && (j.phase === "restoring" || j.phase === "lazy"))
      return "The destination runs the process already (post-copy): the migration can no longer be undone.";
    if (j.phase === "committing") return "The source copy is being released: the migration can no longer be undone.";
    return null;
  },
  renderCancel(j) {
    const why = this.cancelState(j);
    $("#cancel").disabled = why !== null;
    $("#cancel-why").textContent = why || "The process goes on running at the source if you cancel now.";
  },
  renderTimeline(j) {
    const ol = $("#timeline");
    const phases = [];
    for (const e of this.events) {
      if (e.kind !== "phase" && e.kind !== "state") continue;
      const p = e.kind === "state" && FINAL.has(e.state) ? "done" : e.phase;
      if (phases.length && phases[phases.length - 1].phase === p) continue;
      phases.push({ phase: p, ts: Date.parse(e.ts), state: e.state });
    }
    ol.replaceChildren(...phases.map((p, i) => {
      const next = phases[i + 1];
      const dur = next ? ms(next.ts - p.ts) : FINAL.has(j.state) ? "" : "now";
      const li = el("li", { class: !next && !FINAL.has(j.state) ? "current" : null },
        el("strong", { text: p.phase === "done" ? "done (" + j.state + ")" : p.phase }),
        el("span", { class: "t", text: when(new Date(p.ts).toISOString()).slice(11) + (dur ? " · " + dur : "") }));
      return li;
    }));
  },
  renderTimes(j) {
    const d = j.stats.downtime_ms, f = j.stats.frozen_ms;
    const box = $("#times");
    if (d === null && f === null) {
      box.replaceChildren(el("p", { class: "muted", text: j.role === "source" ? "Not measured yet." : "Measured by the source host only." }));
      return;
    }
    const max = Math.max(d || 0, f || 0, 1);
    const bar = (label, v, cls) => el("div", { class: "bar" },
      el("span", { text: label, style: "min-width:7em" }),
      el("span", { class: "b " + cls, style: "width:" + Math.round(300 * (v || 0) / max) + "px" }),
      el("span", { text: ms(v) }));
    box.replaceChildren(bar("downtime", d, "down"), bar("frozen", f, "frozen"));
  },
  renderIterations(j) {
    const it = j.stats.iterations || [];
    $("#iter-table tbody").replaceChildren(...it.map((i) => el("tr", {},
      el("td", { text: i.index }), el("td", { text: i.kind }), el("td", { text: text(i.pages_written) }),
      el("td", { text: text(i.pages_skipped) }), el("td", { text: bytes(i.bytes) }),
      el("td", { text: ms(i.frozen_ms) }), el("td", { text: ms(i.duration_ms) }))));
    const box = $("#chart-iter");
    if (!it.length) {
      if (this.charts.iter) { this.charts.iter.destroy(); delete this.charts.iter; }
      box.replaceChildren(el("p", { class: "muted", text: j.role === "source" ? "No iteration yet." : "Iterations are counted by the source host." }));
      return;
    }
    // An empty slot before the first iteration and after the last, so that each
    // bar stands clear of the edges (uPlot needs no special case for one point).
    const lo = it[0].index - 0.5, hi = it[it.length - 1].index + 0.5;
    const data = [[lo, ...it.map((i) => i.index), hi], [null, ...it.map((i) => i.pages_written), null],
      [null, ...it.map((i) => (i.bytes || 0) / 1048576), null]];
    this.plot("iter", box, data, {
      scales: { x: { time: false, range: [lo, hi] }, y: { range: (u, lo, hi) => [0, hi * 1.15 || 1] }, mib: { range: (u, lo, hi) => [0, hi * 1.15 || 1] } },
      series: [{ label: "iteration" },
        { label: "pages written", stroke: "#1f4fa8", fill: "rgba(31,79,168,0.35)", width: 1,
          paths: typeof uPlot !== "undefined" && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.5, 80] }) : undefined },
        { label: "MiB sent", stroke: "#a3211a", width: 2, scale: "mib", points: { show: true, size: 10 } }],
      axes: [{ label: "iteration", incrs: [1], values: (u, ticks) => ticks.map((t) => Number.isInteger(t) ? t : "") }, { label: "pages" }, { label: "MiB", scale: "mib", side: 1, grid: { show: false } }],
    });
  },
  renderLazy(j) {
    const prog = this.events.filter((e) => e.kind === "progress" && e.data);
    const show = j.mode === "lazy" && j.role === "source";
    $("#lazy-box").hidden = !show;
    if (!show) return;
    const total = j.stats.lazy_pages;
    $("#lazy-text").textContent = total === null ? "The lazy transfer has not started." :
      `${total - (j.stats.lazy_pages_left || 0)} of ${total} pages sent; ${text(j.stats.lazy_pages_left)} left.`;
    if (!prog.length) return;
    const t0 = Date.parse(prog[0].ts);
    const pts = prog.map((e) => [(Date.parse(e.ts) - t0) / 1000, e.data.lazy_pages_left]);
    // The job's own figure is the newest: the last page may leave between two events.
    const end = j.finished_at ? Date.parse(j.finished_at) : Date.now();
    if (j.stats.lazy_pages_left !== null && (end - t0) / 1000 > pts[pts.length - 1][0])
      pts.push([(end - t0) / 1000, j.stats.lazy_pages_left]);
    const data = [pts.map((p) => p[0]), pts.map((p) => p[1])];
    this.plot("lazy", $("#chart-lazy"), data, {
      scales: { x: { time: false } },
      series: [{ label: "seconds" }, { label: "pages left", stroke: "#1f4fa8", width: 2, points: { show: true } }],
      axes: [{ label: "seconds into the lazy phase" }, { label: "pages left" }],
    });
  },
  plot(name, box, data, opts) {
    if (typeof uPlot === "undefined") {
      box.replaceChildren(el("p", { class: "error", text: "The chart library is not installed (run scripts/setup.sh)." }));
      return;
    }
    const width = Math.max(300, Math.min(1200, box.clientWidth - 20 || 600));
    // Made anew each time: the scales depend on the data, and a job has few points.
    if (this.charts[name]) this.charts[name].destroy();
    box.replaceChildren();
    this.charts[name] = new uPlot(Object.assign({ width, height: 220 }, opts), data, box);
  },
  renderEvents() {
    const body = $("#events tbody");
    body.replaceChildren(...this.events.map((e) => el("tr", { class: e.level === "error" ? "failed" : null },
      el("td", { text: when(e.ts).slice(11) }), el("td", { text: e.level }), el("td", { text: e.kind }),
      el("td", { text: e.phase }), el("td", { text: e.message }))));
  },
  async cancel() {
    $("#cancel-error").textContent = "";
    $("#cancel").disabled = true;
    const r = await api("DELETE", "/migrations/" + this.id).catch(() => null);
    if (!r) return;
    if (r.status === 202) {
      announce("Cancel accepted; the migration stops at its next step.");
      this.render(r.body);
    } else {
      $("#cancel-error").textContent = r.body && r.body.error ? r.body.error.message : "HTTP " + r.status;
      this.reloadJob();
    }
  },
  async logs() {
    const box = $("#logs");
    let r;
    try { r = await getJSON("/migrations/" + this.id + "/logs"); } catch (e) { box.replaceChildren(el("p", { class: "error", text: e.message })); return; }
    if (!r.logs.length) { box.replaceChildren(el("p", { class: "muted", text: "No CRIU log on this host for this migration." })); return; }
    box.replaceChildren(...r.logs.map((l) => el("details", {},
      el("summary", { text: `${l.host}: ${l.name} (${bytes(l.size)}${l.truncated ? ", its end" : ""})` }),
      el("pre", { class: "log", text: l.text }))));
  },
};
$("#cancel").addEventListener("click", () => jobView.cancel());
$("#load-logs").addEventListener("click", () => jobView.logs());

// ---------------------------------------------------------------- start form

const newView = {
  cand: null,
  async show(changed) {
    if (changed) this.syncType();
    await this.loadCandidates();
    const h = await refreshHealth();
    if (h && h.peers) {
      $("#peer-list").replaceChildren(...h.peers.filter((p) => /:\d+$/.test(p.address))
        .map((p) => el("option", { value: p.address })));
    }
  },
  syncType() {
    const pid = $("#n-type").value === "pid";
    $("#pick-pid").hidden = !pid;
    $("#pick-ctr").hidden = pid;
    if (this.cand) this.renderContainers();
  },
  async loadCandidates() {
    try {
      this.cand = await getJSON("/candidates");
    } catch (e) {
      if (e.message !== "unauthorized") $("#form-error").textContent = "Cannot list this host's candidates: " + e.message;
      return;
    }
    this.renderProcesses();
    this.renderContainers();
  },
  renderProcesses() {
    const only = $("#only-movable").checked;
    const chosen = $("#n-pid").value;
    const rows = this.cand.processes.filter((p) => !only || p.movable).map((p) => {
      const id = "cand-pid-" + p.pid;
      const radio = el("input", { type: "radio", name: "cand-pid", id, value: p.pid, checked: String(p.pid) === chosen });
      radio.addEventListener("change", () => { $("#n-pid").value = p.pid; clearFieldError("pid"); });
      return el("tr", {},
        el("td", {}, radio, el("label", { for: id, class: "visually-hidden", text: "pid " + p.pid + " " + p.command })),
        el("td", { text: p.pid }), el("td", {}, el("code", { text: p.command || "[" + p.comm + "]" })),
        el("td", { text: bytes(p.rss_bytes) }), el("td", { text: p.tasks }),
        el("td", { text: p.own_pidns ? "yes" : "no" }),
        el("td", { class: p.movable ? "yes" : "no", text: p.movable ? "yes" : "no: " + p.why }));
    });
    $("#cand-procs tbody").replaceChildren(...rows);
    if (!rows.length) $("#cand-procs tbody").append(el("tr", {}, el("td", { colspan: "7", text: "No process tree to show." })));
  },
  renderContainers() {
    const type = $("#n-type").value;
    const box = $("#cand-ctrs");
    const e = this.cand.containers[type];
    if (!e) { box.replaceChildren(); return; }
    if (!e.reachable) { box.replaceChildren(el("p", { class: "muted", text: type + ": " + e.why })); return; }
    if (!e.containers.length) { box.replaceChildren(el("p", { class: "muted", text: type + ": no container runs." })); return; }
    const rows = e.containers.map((c) => {
      const id = "cand-ctr-" + c.id.slice(0, 24);
      const radio = el("input", { type: "radio", name: "cand-ctr", id, value: c.name });
      radio.addEventListener("change", () => { $("#n-container").value = c.name; clearFieldError("container"); });
      return el("tr", {}, el("td", {}, radio, el("label", { for: id, class: "visually-hidden", text: c.name })),
        el("td", { text: c.name }), el("td", {}, el("code", { text: c.id.slice(0, 12) })),
        el("td", { text: c.image }), el("td", { text: c.state }));
    });
    box.replaceChildren(el("table", { class: "small" },
      el("caption", { text: type + " containers" }),
      el("thead", {}, el("tr", {}, ...["Pick", "Name", "Id", "Image", "State"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows)));
  },
  // The request as the form says it; values are sent as typed, so that the API
  // itself judges them and its error names the field.
  request() {
    const type = $("#n-type").value;
    const req = { type, to: $("#n-to").value.trim(), mode: document.querySelector('input[name="mode"]:checked').value };
    if (type === "pid") {
      const v = $("#n-pid").value.trim();
      if (v !== "") req.pid = /^-?\d+$/.test(v) ? Number(v) : v;
    } else {
      const v = $("#n-container").value.trim();
      if (v !== "") req.container = v;
    }
    const opts = {};
    for (const c of document.querySelectorAll('input[name="opt"]:checked')) opts[c.value] = true;
    for (const i of document.querySelectorAll("input[data-opt]")) {
      const v = i.value.trim();
      if (v !== "") opts[i.dataset.opt] = /^-?\d+$/.test(v) ? Number(v) : v;
    }
    const paths = $("#o-shared_paths").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (paths.length) opts.shared_paths = paths;
    if (Object.keys(opts).length) req.options = opts;
    return req;
  },
  async submit() {
    clearErrors();
    const req = this.request();
    const key = "dash-" + Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    $("#start").disabled = true;
    let r;
    try {
      r = await api("POST", "/migrations", req, { "Idempotency-Key": key });
    } catch (e) {
      $("#start").disabled = false;
      if (e.message !== "unauthorized") $("#form-error").textContent = "The request failed: " + e.message;
      return;
    }
    $("#start").disabled = false;
    if (r.status === 202 && r.body && r.body.id) {
      announce("Migration started.");
      location.hash = "#/jobs/" + r.body.id;
      return;
    }
    const err = r.body && r.body.error ? r.body.error : { message: "HTTP " + r.status, field: null };
    showFieldError(err.field, err.message);
  },
};
$("#n-type").addEventListener("change", () => { clearFieldError("type"); newView.syncType(); });
$("#only-movable").addEventListener("change", () => newView.cand && newView.renderProcesses());
$("#refresh-cand").addEventListener("click", () => newView.loadCandidates());
$("#new-form").addEventListener("submit", (ev) => { ev.preventDefault(); newView.submit(); });

function fieldControl(field) {
  return document.querySelector(`[data-field="${CSS.escape(field)}"]`);
}
function clearFieldError(field) {
  const s = document.getElementById("err-" + field);
  if (s) s.textContent = "";
  const c = fieldControl(field);
  if (c) c.removeAttribute("aria-invalid");
}
function clearErrors() {
  $("#form-error").textContent = "";
  for (const s of document.querySelectorAll("#new-form .field-error")) s.textContent = "";
  for (const c of document.querySelectorAll("#new-form [aria-invalid]")) c.removeAttribute("aria-invalid");
}
// The API's error beside the field it names ("to", "pid", "options.max_frozen_ms", ...),
// or above the form when it names none this form has.
function showFieldError(field, message) {
  const c = field ? fieldControl(field) : null;
  let s = field ? document.getElementById("err-" + field) : null;
  if (!s && c && field.startsWith("options.")) s = $("#err-options");
  if (!c || !s) {
    $("#form-error").textContent = (field ? field + ": " : "") + message;
    return;
  }
  s.textContent = message;
  s.setAttribute("role", "alert");
  c.setAttribute("aria-invalid", "true");
  (c.matches("[role=radiogroup]") ? c.querySelector("input:checked") : c).focus();
}

// ---------------------------------------------------------------- host view

const hostView = {
  async show() {
    const h = await refreshHealth();
    if (!h) return;
    const yes = (b) => el("span", { class: b ? "yes" : "no", text: b ? "yes" : "no" });
    const dl = (pairs) => el("dl", { class: "facts" }, ...pairs.flatMap(([k, v]) => [el("dt", { text: k }),
      el("dd", {}, v instanceof Node ? v : text(v))]));
    const cards = [
      el("div", { class: "card" }, el("h3", { text: "hauld" }), dl([
        ["Status", el("span", { class: h.status === "ok" ? "yes" : "no", text: h.status })],
        ["Version", h.version], ["Kernel", h.kernel],
        ["Jobs", `${h.jobs.queued} queued, ${h.jobs.running} running, ${h.jobs.incoming} incoming`]])),
      el("div", { class: "card" }, el("h3", { text: "CRIU" }), dl([
        ["Version", h.criu.version_text], ["Binary", h.criu.path], ["criu check", yes(h.criu.check_ok)],
        ["Check error", h.criu.check_error]])),
      el("div", { class: "card" }, el("h3", { text: "Kernel features" }), dl([
        ["Memory tracking (pre-copy)", yes(h.features.mem_track)],
        ["Lazy pages (post-copy)", yes(h.features.lazy_pages)],
        ["fs.pipe-max-size", bytes(h.features.pipe_max_size) + (h.features.pipe_max_size >= 4194304 ? "" : " (lazy mode needs 4 MiB)")]])),
      el("div", { class: "card" }, el("h3", { text: "Strategy of mode live" }), dl([
        ["Would run", h.strategies.live], ["Why", h.strategies.why]])),
    ];
    const engines = Object.entries(h.engines || {}).map(([name, e]) => el("tr", {},
      el("th", { scope: "row", text: name }), el("td", { text: e.host || e.root || "–" }),
      el("td", {}, yes(e.reachable)), el("td", { text: text(e.version) }), el("td", {}, yes(e.checkpoint)),
      el("td", { text: text(e.why) })));
    const peers = (h.peers || []).map((p) => el("tr", {},
      el("td", {}, el("code", { text: p.address })), el("td", { text: when(p.last_seen) }),
      el("td", { text: p.sent }), el("td", { text: p.received }), el("td", { class: p.last_state, text: p.last_state })));
    const table = (caption, heads, rows, empty) => el("table", { class: "small" }, el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, ...heads.map((x) => el("th", { scope: "col", text: x })))),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: String(heads.length), text: empty }))])));
    $("#host").replaceChildren(el("div", { class: "host-grid" }, ...cards),
      el("h3", { text: "Container engines" }),
      table("Engines this hauld drives", ["Engine", "Where", "Reachable", "Version", "Can checkpoint", "Why not"], engines, "none"),
      el("h3", { text: "Peers seen recently" }),
      table("Peers of the newest migrations", ["Peer address", "Last seen", "Sent to", "Received from", "Last state"], peers,
        h.peers ? "No migration yet." : "Shown with the API token only."));
  },
};

// ---------------------------------------------------------------- start

stream.listeners.add((ev) => jobsView.onEvent(ev));
stream.listeners.add((ev) => jobView.onEvent(ev));
stream.listeners.add((ev) => {
  if (ev.kind === "state" && FINAL.has(ev.state)) announce(`Migration ${ev.job.slice(0, 8)} ${ev.state}.`);
});
refreshHealth();
// The header's status; the rest of the page follows the event stream.
setInterval(refreshHealth, 30000);
stream.open();
route();
