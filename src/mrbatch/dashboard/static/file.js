// mrbatch file page: one file version across both regions, from /dashboard/api/file,
// refreshed every 5 s (it reads logs and histories: heavier than the overview). Every
// string from the stack goes through esc(): the page shows data, never runs it.
"use strict";

const REFRESH_MS = 5000;
const fileId = new URLSearchParams(location.search).get("id") || "";
let regions = [];

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString() + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function table(headers, rows, cls = "") {
  if (!rows.length) return `<div class="muted">none</div>`;
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.join("")}</tr>`).join("");
  return `<table class="${cls}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const td = (html, cls = "") => `<td class="${cls}">${html}</td>`;
const status = (s) => `<span class="status-${esc(s)}">${esc(s)}</span>`;

function records(data) {
  return table(["region", "status", "owner", "epoch", "chunks", "rows read / written / invalid", "error"],
    Object.entries(data.records).map(([region, r]) => r
      ? [td(esc(region)), td(status(r.status)), td(esc(r.region)), td(esc(r.epoch), "num"),
        td(esc(r.chunks_total ?? ""), "num"),
        td(r.counts ? esc(`${r.counts.rowsRead} / ${r.counts.rowsWritten} / ${r.counts.rowsInvalid}`) : ""),
        td(esc(r.error ? `${r.error}: ${r.cause}` : ""))]
      : [td(esc(region)), td('<span class="muted">no record yet</span>'), td(""), td(""), td(""), td(""), td("")]),
    "records");
}

// One row per event, one column per region: the lanes show where each thing happened.
function timeline(data) {
  const lanes = data.regions.length ? data.regions : Object.keys(data.records);
  const headers = ["time", ...lanes, "source"];
  const rows = data.timeline.map((e) => {
    const cell = `<span class="kind kind-${esc(e.kind.replace(/[^a-z]+/g, "-"))}">${esc(e.kind)}</span> ${esc(e.detail)}`;
    const cells = e.region && lanes.includes(e.region)
      ? lanes.map((l) => td(l === e.region ? cell : ""))
      : [`<td colspan="${lanes.length}" class="both">${cell}</td>`];
    return [td(esc(fmtTime(e.at))), ...cells, td(esc(e.source), "muted")];
  });
  return table(headers, rows, "timeline");
}

function history(events) {
  return table(["id", "time", "type", "details"], events.map((e) => [
    td(e.id, "num"), td(esc(fmtTime(e.at))), td(esc(e.type)),
    td(`<code>${esc(e.details ? JSON.stringify(e.details).slice(0, 300) : "")}</code>`),
  ]), "history");
}

function executions(list) {
  return list.map((x) => `<details class="execution" data-region="${esc(x.region)}" data-machine="${esc(x.state_machine)}">
    <summary>${esc(x.region)} · ${esc(x.state_machine)} · <strong>${esc(x.name)}</strong> ·
      ${status(x.status)} · ${esc(fmtTime(x.start))}${x.stop ? " → " + esc(fmtTime(x.stop)) : ""}
      ${x.error ? `· ${esc(x.error)}` : ""} <span class="muted">(${x.events.length} events)</span></summary>
    ${history(x.events)}</details>`).join("") || `<div class="muted">none</div>`;
}

function errors(e) {
  const rules = Object.entries(e.by_rule).sort().map(([k, v]) => `${esc(k)} ${v}`).join(" · ");
  const more = e.count > e.rows.length ? ` (the first ${e.rows.length} shown)` : "";
  return `<div>${e.count} invalid row(s)${more}${rules ? ": " + rules : ""}</div>` +
    table(["row", "field", "rule", "message"], e.rows.map((r) => [
      td(esc(r.row), "num"), td(esc(r.field)), td(esc(r.rule)), td(esc(r.message)),
    ]), "error-rows");
}

function render(data) {
  document.title = `mrbatch ${data.key}`;
  document.getElementById("file-key").textContent = data.key;
  document.getElementById("file-version").textContent = data.version_id;
  document.getElementById("records").innerHTML = records(data);
  document.getElementById("link").innerHTML = data.link
    ? `<p>Output: <a id="output-link" href="${esc(data.link)}">${esc(data.output)}</a>
       <span class="muted">(a fresh presigned link, valid for an hour)</span></p>`
    : `<p class="muted">no output yet</p>`;
  document.getElementById("timeline").innerHTML = timeline(data);
  const open = new Set([...document.querySelectorAll("details.execution[open] summary strong")].map((s) => s.textContent));
  document.getElementById("executions").innerHTML = executions(data.executions);
  for (const d of document.querySelectorAll("details.execution")) {
    if (open.has(d.querySelector("summary strong").textContent)) d.open = true;
  }
  document.getElementById("errors").innerHTML = errors(data.errors);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function poll() {
  try {
    const response = await fetch(`/dashboard/api/file?id=${encodeURIComponent(fileId)}`, { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    render(body);
  } catch (error) {
    document.getElementById("updated").textContent = `cannot show this file: ${error.message}`;
  } finally {
    setTimeout(poll, REFRESH_MS);
  }
}

poll();
