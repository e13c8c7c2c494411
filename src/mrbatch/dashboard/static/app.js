// mrbatch dashboard: polls /dashboard/api/overview every 2 s and redraws; hand-drawn SVG
// charts, no library, nothing fetched from elsewhere. Every string from the stack (file
// names, email subjects) goes through esc(): the page shows data, never runs it.
"use strict";

const POLL_MS = 2000;
const COLORS = ["#2563eb", "#1a7f37", "#b42318", "#8a6d00", "#7c3aed"];
let range = 900;

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function fmtTime(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";
}

function fmtNumber(n) {
  return Number.isInteger(n) ? String(n) : Number(n).toFixed(2);
}

// Values per bucket from `since`, with buckets that have no point as 0.
function dense(points, since, step, count) {
  const values = new Array(count).fill(0);
  for (const [t, v] of points || []) {
    const i = Math.round((t - since) / step);
    if (i >= 0 && i < count) values[i] += v;
  }
  return values;
}

function chart(title, lines, data) {
  const count = Math.max(1, Math.floor((data.now - data.since) / data.step) + 1);
  const w = 300, h = 80, pad = 2;
  const dense_lines = lines.map((l) => ({ ...l, values: dense(l.points, data.since, data.step, count) }));
  const max = Math.max(1, ...dense_lines.flatMap((l) => l.values));
  const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(1, count - 1);
  const y = (v) => h - pad - (v * (h - 2 * pad)) / max;
  const paths = dense_lines.map((l, k) => {
    const pts = l.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="1.5" points="${pts}"/>`;
  }).join("");
  const legend = dense_lines.map((l, k) =>
    `<span style="color:${COLORS[k % COLORS.length]}">■</span><span>${esc(l.label)} ${fmtNumber(l.total ?? l.values.reduce((a, b) => a + b, 0))}</span>`
  ).join("");
  return `<div class="chart"><div class="title">${esc(title)}<span class="total">max ${fmtNumber(max)}/${data.step}s</span></div>
    <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(title)}">
    <line x1="0" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#d9dee5"/>${paths}</svg>
    <div class="legend">${legend}</div></div>`;
}

function table(headers, rows, cls = "") {
  if (!rows.length) return `<div class="muted">none</div>`;
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => (typeof c === "number"
    ? `<td class="num">${fmtNumber(c)}</td>` : `<td>${c}</td>`)).join("")}</tr>`).join("");
  return `<table class="${cls}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function executionLines(series, machine) {
  return ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"].map((m) => ({
    label: m.replace("Executions", "").toLowerCase(), points: series[`${machine}.${m}`],
  }));
}

function regionCard(name, region, data) {
  const active = data.routing.active_region === name;
  const s = region.series;
  const machines = Object.keys(region.executions);
  const chunk = machines.find((m) => m.startsWith("chunk")) || "chunk_processor_batched";
  const counter = (n, label) => ({ label, points: s[n], total: region.totals[n] });
  const charts = [
    chart("Input files split", [counter("InputFilesSplit", "split")], data),
    chart("Files processed", [counter("ProcessedFiles", "processed"), counter("FailedFiles", "failed")], data),
    chart("Main orchestrator executions", executionLines(s, "main_orchestrator"), data),
    chart("Chunk processor executions", executionLines(s, chunk), data),
    chart("Files reconciled", [counter("ReconciledFiles", "reconciled")], data),
    chart("Emails sent", [counter("EmailSent", "sent")], data),
  ].join("");
  const files = table(["status", "files"], Object.entries(region.files).sort()
    .map(([k, v]) => [`<span class="status-${esc(k)}">${esc(k)}</span>`, v]), "files-by-status");
  const rules = table(["rule", "invalid rows"], Object.entries(region.invalid_rows).sort()
    .map(([k, v]) => [esc(k), v]), "invalid-rows");
  const executions = table(["state machine", "started", "succeeded", "failed", "aborted", "timed out"],
    machines.map((m) => {
      const e = region.executions[m];
      return [esc(m), e.started, e.ExecutionsSucceeded || 0, e.ExecutionsFailed || 0,
        e.ExecutionsAborted || 0, e.ExecutionsTimedOut || 0];
    }), "executions");
  const role = active ? "active" : "standby";
  return `<div class="region ${role}" data-region="${esc(name)}">
    <h2>${esc(name)}<span class="badge ${role}">${role.toUpperCase()}</span></h2>
    <div class="charts">${charts}</div>
    <div class="tables"><div><h3>Files by status</h3>${files}</div>
    <div><h3>Invalid rows by rule</h3>${rules}</div>
    <div><h3>Executions</h3>${executions}</div></div></div>`;
}

function replication(rep, data) {
  const rows = Object.entries(rep.directions || {}).map(([key, d]) => {
    const o = d.objects || {};
    const tables = Object.values(d.tables || {});
    const most = (field) => Math.max(0, ...tables.map((t) => t[field] || 0));
    const pct = (p) => (o[`latency_${p}_seconds`] ?? "—");
    return [esc(key) + (d.paused ? " (paused)" : ""), o.operations_pending ?? 0, o.bytes_pending ?? 0,
      o.late ?? 0, pct("p50"), pct("p90"), pct("p99"), o.worst_latency_seconds ?? 0,
      most("items_pending"), most("oldest_pending_age_seconds"), most("last_lag_seconds")];
  });
  const charts = Object.entries(rep.series || {}).map(([key, s]) => chart(`${key}`, [
    { label: "operations pending", points: s.ReplicationOperationsPending },
    { label: "p50 latency s", points: s.ReplicationLatencyP50 },
    { label: "p99 latency s", points: s.ReplicationLatencyP99 },
  ], data)).join("");
  return table(["direction", "operations pending", "bytes pending", "over SLA",
    "p50 (s)", "p90 (s)", "p99 (s)", "worst (s)", "table items pending", "table lag now (s)",
    "table lag last (s)"], rows, "replication") +
    `<div class="charts">${charts}</div>` +
    `<div class="muted">replicator status at ${esc(fmtTime(rep.updated_at))}</div>`;
}

// The newest file versions, each linking to its own page (/dashboard/file?id=...).
function files(list, regions) {
  return table(["file", "version", "owner", "epoch", ...regions, "updated"], (list || []).map((f) => [
    `<a href="/dashboard/file?id=${encodeURIComponent(f.file_id)}">${esc(f.key)}</a>`,
    `<span class="muted">${esc(f.version_id)}</span>`, esc(f.region), f.epoch,
    ...regions.map((r) => `<span class="status-${esc(f.statuses[r])}">${esc(f.statuses[r] ?? "—")}</span>`),
    esc(fmtTime(f.updated_at)),
  ]), "files");
}

function runbooks(runs) {
  return table(["started", "kind", "from → to", "status", "steps"], runs.map((r) => [
    esc(fmtTime(r.started_at)), esc(r.kind), `${esc(r.source)} → ${esc(r.target)}`,
    `<span class="status-${esc(r.status)}">${esc(r.status)}</span>`,
    r.steps.map((st) => `${esc(st.name)} <span class="status-${esc(st.status)}">${esc(st.status)}</span>` +
      (st.ended_at ? ` ${(st.ended_at - st.started_at).toFixed(2)} s` : "")).join(" · "),
  ]), "runbooks");
}

function chaos(list) {
  return table(["#", "started", "kind", "target", "detail", "ends", "state"], (list || []).map((e) => [
    e.id, esc(fmtTime(e.started_at)), esc(e.kind), esc(e.target), esc(e.detail),
    esc(e.ended_at ? fmtTime(e.ended_at) : e.ends_at ? fmtTime(e.ends_at) : "when told"),
    e.in_force ? '<span class="status-InProgress">in force</span>' : "ended",
  ]), "chaos");
}

function emails(list) {
  return table(["date", "to", "subject"], list.map((m) => [esc(m.date), esc(m.to), esc(m.subject)]), "emails");
}

function render(data) {
  document.getElementById("active-region").textContent = data.routing.active_region;
  document.getElementById("epoch").textContent = data.routing.epoch;
  document.getElementById("routing-reason").textContent = data.routing.reason ? `(${data.routing.reason})` : "";
  document.getElementById("regions").innerHTML = Object.entries(data.regions)
    .map(([name, region]) => regionCard(name, region, data)).join("");
  document.getElementById("files").innerHTML = files(data.files, Object.keys(data.regions));
  document.getElementById("replication").innerHTML = replication(data.replication, data);
  document.getElementById("runbooks").innerHTML = runbooks(data.runbooks);
  document.getElementById("chaos").innerHTML = chaos(data.chaos);
  document.getElementById("emails").innerHTML = emails(data.emails);
  document.getElementById("updated").textContent = `updated ${fmtTime(data.now)}`;
}

async function poll() {
  try {
    const response = await fetch(`/dashboard/api/overview?range=${range}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    document.getElementById("updated").textContent = `cannot reach the stack: ${error.message}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

for (const button of document.querySelectorAll(".range button")) {
  button.addEventListener("click", () => {
    range = Number(button.dataset.range);
    for (const b of document.querySelectorAll(".range button")) b.classList.toggle("selected", b === button);
  });
}
poll();
