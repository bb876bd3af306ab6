// The alarms page: open alarms first (acknowledged with a comment), the cleared history,
// and the thresholds editor for admins. Everything comes from /api/alarms and
// /api/alarm-rules; the page refreshes itself every few seconds.

import { api, el, fmtNumber, fmtTime, showError, t } from "/static/app.js";

const root = document.getElementById("alarms-page");
const mayOperate = root.dataset.mayOperate === "true";
const mayAdminister = root.dataset.mayAdminister === "true";
const REFRESH_MS = 5000;
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };

const KINDS = {
  read_rate: t("Read rate"),
  noreads: t("No-reads"),
  station_offline: t("Station offline"),
  station_degraded: t("Station degraded"),
  events_lost: t("Events lost"),
  seq_gap: t("Sequence gap"),
  seq_reused: t("Sequence reused"),
  batch_mismatch: t("Batch mismatch"),
  relay_stuck: t("Relay stuck"),
  dead_letters: t("Dead letters"),
  event_conflict: t("Event conflict"),
};
const SEVERITIES = { critical: t("critical"), warning: t("warning"), info: t("info") };

const FIELDS = [
  { name: "read_rate_min_pct", label: t("Read rate below (%)"), step: "0.1", off: true },
  { name: "noread_max_pct", label: t("No-reads above (%)"), step: "0.1", off: true },
  { name: "window_s", label: t("Window (s)"), step: "1", off: false },
  { name: "min_events", label: t("Minimum events in the window"), step: "1", off: false },
  { name: "hysteresis_pct", label: t("Hysteresis (percentage points)"), step: "0.1", off: false },
  { name: "offline_after_s", label: t("Offline after silence (s)"), step: "1", off: true },
  { name: "relay_stuck_after_min", label: t("Relay stuck after (min)"), step: "1", off: true, siteOnly: true },
];

/** The alarm's message in the reader's language where its kind is known, else as stored. */
function messageOf(alarm) {
  const d = alarm.details || {};
  const values = {
    station: alarm.station || "",
    rate: fmtNumber(d.rate_pct, { maximumFractionDigits: 1 }),
    threshold: fmtNumber(d.threshold_pct),
    minutes: fmtNumber((d.window_s || 0) / 60),
    passages: fmtNumber(d.passages),
  };
  if (alarm.kind === "read_rate" && d.rate_pct !== undefined) {
    return t("Read rate {rate} % over {minutes} min ({passages} passages), below {threshold} %", values);
  }
  if (alarm.kind === "noreads" && d.rate_pct !== undefined) {
    return t("No-reads {rate} % over {minutes} min ({passages} passages), above {threshold} %", values);
  }
  if (alarm.kind === "station_offline" && alarm.key === "silent") {
    return t("No status or event since {time}", { time: fmtTime(d.last_seen_at) });
  }
  if (alarm.kind === "station_offline") return t("The station's connection to the broker dropped");
  if (alarm.kind === "relay_stuck" && d.breaker) return t("Relay target {target}: circuit breaker open", { target: alarm.key });
  if (alarm.kind === "relay_stuck") {
    return t("Relay target {target}: an event waits undelivered since {time}", { target: alarm.key, time: fmtTime(d.oldest_undelivered_at) });
  }
  return alarm.message;
}

function age(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (seconds < 90) return t("{n} s", { n: fmtNumber(seconds) });
  if (seconds < 5400) return t("{n} min", { n: fmtNumber(Math.round(seconds / 60)) });
  if (seconds < 172800) return t("{n} h", { n: fmtNumber(Math.round(seconds / 3600)) });
  return t("{n} d", { n: fmtNumber(Math.round(seconds / 86400)) });
}

function siteOf(alarm) {
  return alarm.station ? alarm.station.split("/")[0] : null;
}

function acknowledgement(alarm) {
  if (!alarm.acknowledged_at) return null;
  return el("div", { className: "ack" },
    el("span", {}, t("{who}, {time}", { who: alarm.acknowledged_by, time: fmtTime(alarm.acknowledged_at, { site: siteOf(alarm) }) })),
    alarm.acknowledged_comment ? el("q", { className: "comment" }, alarm.acknowledged_comment) : null);
}

function row(alarm, open) {
  const site = siteOf(alarm);
  const ackCell = el("td", { className: "ack-cell" }, acknowledgement(alarm));
  if (open && !alarm.acknowledged_at && mayOperate) {
    ackCell.append(el("button", { type: "button", className: "secondary ack-button", dataset: { id: String(alarm.id) } }, t("Acknowledge")));
  }
  return el("tr", { dataset: { id: String(alarm.id), severity: alarm.severity }, className: alarm.acknowledged_at ? "acknowledged" : "" },
    el("td", {}, el("span", { className: "badge", dataset: { state: alarm.severity } }, SEVERITIES[alarm.severity] || alarm.severity)),
    el("td", {}, alarm.station || "–"),
    el("td", {}, KINDS[alarm.kind] || alarm.kind),
    el("td", { className: "message", title: alarm.message }, messageOf(alarm)),
    el("td", {}, fmtTime(alarm.raised_at, { site })),
    open ? el("td", {}, age(alarm.raised_at)) : el("td", {}, fmtTime(alarm.cleared_at, { site })),
    ackCell);
}

let openById = new Map();

async function refresh() {
  try {
    const [open, all] = await Promise.all([
      api("/api/alarms?open=true&limit=1000"),
      api("/api/alarms?open=false&limit=300"),
    ]);
    open.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9)
      || Number(Boolean(a.acknowledged_at)) - Number(Boolean(b.acknowledged_at))
      || b.raised_at.localeCompare(a.raised_at));
    openById = new Map(open.map((alarm) => [String(alarm.id), alarm]));
    document.querySelector("#open-alarms tbody").replaceChildren(...open.map((alarm) => row(alarm, true)));
    document.getElementById("open-count").textContent = fmtNumber(open.length);
    document.getElementById("no-open").hidden = open.length > 0;
    const cleared = all.filter((alarm) => alarm.cleared_at).slice(0, 100);
    document.querySelector("#cleared-alarms tbody").replaceChildren(...cleared.map((alarm) => row(alarm, false)));
    document.getElementById("no-cleared").hidden = cleared.length > 0;
    showError("");
  } catch (error) {
    showError(t("Cannot load alarms: {reason}", { reason: error.message }));
  }
}

// -- acknowledging ---------------------------------------------------------------------

const dialog = document.getElementById("ack-dialog");
const ackForm = document.getElementById("ack-form");
let acking = null;

document.getElementById("open-alarms").addEventListener("click", (event) => {
  const button = event.target.closest("button.ack-button");
  if (!button) return;
  acking = openById.get(button.dataset.id) || null;
  if (!acking) return;
  document.getElementById("ack-summary").textContent = `${acking.station || ""} · ${KINDS[acking.kind] || acking.kind} · ${messageOf(acking)}`;
  ackForm.elements.comment.value = "";
  dialog.showModal();
  ackForm.elements.comment.focus();
});

document.getElementById("ack-cancel").addEventListener("click", () => dialog.close());

ackForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!acking) return;
  const comment = ackForm.elements.comment.value.trim();
  try {
    await api(`/api/alarms/${acking.id}/ack`, { method: "POST", body: comment ? { comment } : {} });
    dialog.close();
    acking = null;
    await refresh();
  } catch (error) {
    dialog.close();
    showError(t("Cannot acknowledge: {reason}", { reason: error.message }));
  }
});

// -- thresholds (admins) ---------------------------------------------------------------

let rules = null;

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((issue) => `${(issue.loc || []).slice(1).join(".")}: ${issue.msg}`).join("; ");
  return JSON.stringify(detail);
}

function renderRuleFields() {
  const scope = document.getElementById("rules-scope").value;
  const isDefault = scope === "*";
  const own = isDefault ? rules.defaults : (rules.stations.find((s) => s.station === scope) || { overrides: {} }).overrides;
  const inherited = isDefault ? rules.builtin : rules.effective_defaults;
  const fields = FIELDS.filter((field) => isDefault || !field.siteOnly).map((field) => {
    const set = Object.prototype.hasOwnProperty.call(own, field.name);
    const value = set ? own[field.name] : null;
    const base = inherited[field.name];
    const input = el("input", { type: "number", name: field.name, step: field.step, min: "0", inputMode: "decimal",
      value: set && value !== null ? String(value) : "", placeholder: base === null ? t("off") : String(base) });
    const wrap = el("div", { className: "rule" }, el("label", {}, field.label, input));
    if (field.off) {
      const off = el("input", { type: "checkbox", name: `${field.name}__off`, checked: set && value === null });
      wrap.append(el("label", { className: "off" }, el("span", {}, t("Off")), off));
    }
    return wrap;
  });
  document.getElementById("rules-fields").replaceChildren(...fields);
}

function readRuleFields() {
  const form = document.getElementById("rules-form");
  const chosen = {};
  for (const field of FIELDS) {
    const input = form.elements[field.name];
    if (!input) continue;
    const off = form.elements[`${field.name}__off`];
    if (off && off.checked) chosen[field.name] = null;
    else if (input.value !== "") chosen[field.name] = Number(input.value);
  }
  return chosen;
}

async function loadRules() {
  rules = await api("/api/alarm-rules");
  const select = document.getElementById("rules-scope");
  const current = select.value || "*";
  select.replaceChildren(el("option", { value: "*" }, t("All stations (default)")),
    ...rules.stations.map((s) => el("option", { value: s.station }, s.station)));
  select.value = rules.stations.some((s) => s.station === current) ? current : "*";
  renderRuleFields();
}

async function saveRules(event) {
  event.preventDefault();
  const scope = document.getElementById("rules-scope").value;
  const stations = Object.fromEntries(rules.stations.filter((s) => Object.keys(s.overrides).length).map((s) => [s.station, s.overrides]));
  const body = { defaults: rules.defaults, stations };
  if (scope === "*") body.defaults = readRuleFields();
  else body.stations[scope] = readRuleFields();
  const saved = document.getElementById("rules-saved");
  try {
    rules = await api("/api/alarm-rules", { method: "PUT", body });
    await loadRules();
    saved.textContent = t("Saved.");
    showError("");
  } catch (error) {
    saved.textContent = "";
    showError(t("Cannot save thresholds: {reason}", { reason: detailText(error.detail) }));
  }
}

if (mayAdminister) {
  document.getElementById("rules-scope").addEventListener("change", renderRuleFields);
  document.getElementById("rules-form").addEventListener("submit", saveRules);
  loadRules().catch((error) => showError(t("Cannot load thresholds: {reason}", { reason: error.message })));
}

refresh();
setInterval(() => { if (!dialog.open) refresh(); }, REFRESH_MS);
