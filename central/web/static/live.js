// Live view of the newest scan events: polls the API every two seconds.
"use strict";

const POLL_MS = 2000; // often enough to watch a line, light on the server
const LIMIT = 100;

const form = document.getElementById("filters");
const tbody = document.querySelector("#events tbody");
const errorBox = document.getElementById("error");
const summary = document.getElementById("summary");
const health = document.getElementById("health");

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
    .map(([name, result]) => result.detail ? `${name}: ${result.detail}` : name);
}

function row(event) {
  const tr = document.createElement("tr");
  const gs1 = event.gs1 || {};
  const failed = failedChecks(event);
  tr.className = event.kind === "noread" ? "noread" : (failed.length ? "failed" : "");
  tr.dataset.eventId = event.event_id;
  tr.append(
    cell(event.observed_at),
    cell(`${event.site}/${event.line}/${event.station}`),
    cell(String(event.seq)),
    cell(event.kind),
    cell(event.symbology),
    cell(gs1["01"]),
    cell(gs1["10"]),
    cell(gs1["21"] || gs1["00"] || (gs1["01"] ? "" : event.text)),
    cell(String(event.frames)),
    cell(failed.length ? failed.join("; ") : "ok"),
  );
  return tr;
}

async function refreshEvents() {
  try {
    const response = await fetch(`/api/events?${query()}`);
    const body = await response.json();
    if (!response.ok) {
      throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
    }
    tbody.replaceChildren(...body.events.map(row));
    summary.textContent = `${body.events.length} newest events shown`;
    errorBox.hidden = true;
  } catch (error) {
    errorBox.textContent = `Cannot load events: ${error.message}`;
    errorBox.hidden = false;
  }
}

async function refreshHealth() {
  try {
    const response = await fetch("/healthz");
    const body = await response.json();
    health.dataset.state = body.status;
    const ingest = body.ingest;
    health.textContent = ingest
      ? `${body.status} · ${ingest.stored} stored · ${ingest.dead_lettered} dead-lettered`
      : body.status;
  } catch (error) {
    health.dataset.state = "down";
    health.textContent = "central unreachable";
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
