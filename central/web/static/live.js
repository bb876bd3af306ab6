// The newest scan events, polled every two seconds, with the station and code filters.
import { api, fmtNumber, fmtTime, t } from "/static/app.js";
import { snapshotButton } from "/static/snapshot.js";

const POLL_MS = 2000; // often enough to watch a line, light on the server
const LIMIT = 100;

const form = document.getElementById("filters");
const tbody = document.querySelector("#events tbody");
const errorBox = document.getElementById("error");
const summary = document.getElementById("summary");
const health = document.getElementById("health");

const KIND_LABELS = { read: t("read"), noread: t("no-read"), pack: t("pack") };

function query() {
  const params = new URLSearchParams({ limit: String(LIMIT) });
  for (const [key, value] of new FormData(form)) {
    if (value.trim()) params.set(key, value.trim());
  }
  return params;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

function failedChecks(event) {
  return Object.entries(event.checks || {})
    .filter(([, result]) => !result.passed)
    .map(([name, result]) => (result.detail ? `${name}: ${result.detail}` : name));
}

// A no-read's kind cell also opens its picture, when one is kept.
function kindCell(event) {
  const td = cell(KIND_LABELS[event.kind] || event.kind);
  const button = snapshotButton(event);
  if (button) td.append(" ", button);
  return td;
}

function row(event) {
  const tr = document.createElement("tr");
  const gs1 = event.gs1 || {};
  const failed = failedChecks(event);
  tr.className = event.kind === "noread" ? "noread" : failed.length ? "failed" : "";
  tr.dataset.eventId = event.event_id;
  tr.append(
    cell(fmtTime(event.observed_at, { site: event.site })),
    cell(`${event.site}/${event.line}/${event.station}`),
    cell(String(event.seq)),
    kindCell(event),
    cell(event.symbology),
    cell(gs1["01"]),
    cell(gs1["10"]),
    cell(gs1["21"] || gs1["00"] || (gs1["01"] ? "" : event.text)),
    cell(String(event.frames)),
    cell(failed.length ? failed.join("; ") : t("ok")),
  );
  return tr;
}

async function refreshEvents() {
  try {
    const body = await api(`/api/events?${query()}`);
    tbody.replaceChildren(...body.events.map(row));
    summary.textContent = t("{count} newest events shown", { count: fmtNumber(body.events.length) });
    errorBox.hidden = true;
  } catch (error) {
    errorBox.textContent = t("Cannot load events: {reason}", { reason: error.message });
    errorBox.hidden = false;
  }
}

async function refreshHealth() {
  try {
    const body = await api("/healthz");
    health.dataset.state = body.status;
    const ingest = body.ingest;
    health.textContent = ingest
      ? t("{status} · {stored} stored · {dead} dead-lettered", {
        status: t(body.status), stored: fmtNumber(ingest.stored), dead: fmtNumber(ingest.dead_lettered),
      })
      : t(body.status);
  } catch (error) {
    health.dataset.state = "down";
    health.textContent = t("central unreachable");
  }
}

form.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  refreshEvents();
});

refreshEvents();
refreshHealth();
setInterval(refreshEvents, POLL_MS);
setInterval(refreshHealth, POLL_MS);
