// hauld dashboard: reads the same REST API as curl does, every two seconds.
"use strict";

const $ = (sel) => document.querySelector(sel);
let selected = null;

function text(v) {
  return v === null || v === undefined ? "–" : String(v);
}

function cell(row, value, cls) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (cls) td.className = cls;
  row.appendChild(td);
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

async function refreshHealth() {
  try {
    const h = await getJSON("/healthz");
    $("#health").textContent = `${h.status} · CRIU ${h.criu.version_text} · live = ` +
      `${h.strategies.live} · lazy pages ${h.features.lazy_pages ? "yes" : "no"}`;
  } catch (e) {
    $("#health").textContent = "unreachable";
  }
}

async function refreshJobs() {
  const body = $("#jobs tbody");
  try {
    const list = await getJSON("/migrations?limit=100");
    body.replaceChildren();
    for (const j of list.migrations) {
      const tr = document.createElement("tr");
      cell(tr, j.created_at && j.created_at.replace("T", " ").replace("Z", ""));
      cell(tr, j.role);
      cell(tr, j.pid);
      cell(tr, j.to);
      cell(tr, j.mode);
      cell(tr, j.state, j.state);
      cell(tr, j.phase);
      cell(tr, j.stats.downtime_ms === null ? null : j.stats.downtime_ms + " ms");
      cell(tr, j.result ? "pid " + j.result.pid : j.error ? j.error.code : null);
      tr.addEventListener("click", () => { selected = j.id; refreshDetail(); });
      body.appendChild(tr);
    }
    $("#empty").hidden = list.migrations.length > 0;
  } catch (e) {
    $("#empty").hidden = false;
    $("#empty").textContent = String(e);
  }
}

async function refreshDetail() {
  if (!selected) return;
  const job = await getJSON("/migrations/" + selected);
  const ev = await getJSON("/migrations/" + selected + "/events");
  $("#detail").hidden = false;
  $("#detail-id").textContent = job.id;
  $("#detail-json").textContent = JSON.stringify(job, null, 2);
  const ol = $("#events");
  ol.replaceChildren();
  for (const e of ev.events) {
    const li = document.createElement("li");
    li.textContent = `${e.ts} [${e.level}] ${e.phase}: ${e.message}`;
    ol.appendChild(li);
  }
}

async function tick() {
  await Promise.allSettled([refreshHealth(), refreshJobs(), refreshDetail()]);
  setTimeout(tick, 2000);
}

tick();
