// The operators' live dashboard: lines and stations grouped by site, read-rate trends drawn
// as inline SVG, the live event list over Server-Sent Events, saved layouts, batches.
import { api, el, fmtNumber, fmtPercent, fmtTime, showError, t } from "/static/app.js";

const REFRESH_MS = 10000; // figures every 10 s; the stream carries what changes between
const LIVE_ROWS = 50;
const SVG = "http://www.w3.org/2000/svg";

const root = document.getElementById("dashboard");
const grid = document.getElementById("grid");
const liveBody = document.querySelector("#live-events tbody");
const streamState = document.getElementById("stream-state");
const figuresAt = document.getElementById("figures-at");
const mayOperate = root.dataset.mayOperate === "yes";
const layoutForm = document.getElementById("layout-bar");
const layoutSelect = document.getElementById("layout-select");
const batchDialog = document.getElementById("batch-dialog");
const batchForm = document.getElementById("batch-form");
const batchError = document.getElementById("batch-error");

let figures = null;
let layouts = [];
let layout = { show: [], density: "full" };

const STATE_TEXT = {
  online: () => t("online"),
  degraded: () => t("degraded"),
  offline: () => t("offline"),
  unknown: () => t("no status yet"),
};

function stateBadge(state) {
  return el("span", { className: "badge", dataset: { state } }, (STATE_TEXT[state] || STATE_TEXT.unknown)());
}

function figure(label, value, name) {
  return el("div", { className: "fig", dataset: { fig: name } }, el("dt", {}, label), el("dd", {}, value));
}

// -- layouts ---------------------------------------------------------------------------

function wanted(site, line, station) {
  if (!layout.show.length) return 0;
  const keys = [site, `${site}/${line}`, station ? `${site}/${line}/${station}` : null];
  const index = layout.show.findIndex((entry) => keys.includes(entry));
  return index;
}

function linesShown() {
  const lines = [];
  for (const site of figures.sites) {
    for (const line of site.lines) {
      const lineOrder = wanted(site.site, line.line, null);
      const stations = line.stations.filter((s) => !layout.show.length || lineOrder >= 0
        || wanted(site.site, line.line, s.station) >= 0);
      if (!stations.length && lineOrder < 0 && layout.show.length) continue;
      const order = lineOrder >= 0 ? lineOrder
        : Math.min(...stations.map((s) => wanted(site.site, line.line, s.station)));
      lines.push({ line, stations, order });
    }
  }
  return lines.sort((a, b) => a.order - b.order);
}

async function loadLayouts() {
  try {
    layouts = await api("/api/me/layouts");
  } catch (error) {
    layouts = [];
  }
  const chosen = layoutSelect.value;
  layoutSelect.replaceChildren(layoutSelect.options[0],
    ...layouts.map((saved) => el("option", { value: saved.name }, saved.name)));
  layoutSelect.value = layouts.some((saved) => saved.name === chosen) ? chosen : "";
}

function useLayout(name) {
  const saved = layouts.find((candidate) => candidate.name === name);
  layout = saved ? { show: saved.show, density: saved.density } : { show: [], density: "full" };
  layoutForm.elements.show.value = layout.show.join(", ");
  layoutForm.elements.density.value = layout.density;
  layoutForm.elements.name.value = saved ? saved.name : "";
  render();
}

layoutSelect.addEventListener("change", () => useLayout(layoutSelect.value));

layoutForm.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const show = layoutForm.elements.show.value.split(",").map((x) => x.trim()).filter(Boolean);
  const density = layoutForm.elements.density.value;
  layout = { show, density };
  render();
  const name = layoutForm.elements.name.value.trim();
  if (!name) return;
  try {
    await api(`/api/me/layouts/${encodeURIComponent(name)}`, { method: "PUT", body: layout });
    await loadLayouts();
    layoutSelect.value = name;
    showError("");
  } catch (error) {
    showError(t("Cannot save the layout: {reason}", { reason: error.message }));
  }
});

// -- the grid --------------------------------------------------------------------------

function trendChart(points) {
  const width = 240, height = 48;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "trend");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const rated = points.filter((p) => p.read_rate !== null);
  const last = rated.length ? rated[rated.length - 1].read_rate : null;
  svg.setAttribute("aria-label", t("Read rate, last hour: {rate}", { rate: fmtPercent(last) }));
  for (const level of [0.9]) { // the vendors' usual alarm level
    const y = height - level * height;
    const guide = document.createElementNS(SVG, "line");
    for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: y, y2: y, class: "guide" })) guide.setAttribute(k, v);
    svg.append(guide);
  }
  if (rated.length) {
    const end = new Date(points[points.length - 1].at).getTime();
    const x = (iso) => width - ((end - new Date(iso).getTime()) / 3600000) * width;
    const path = document.createElementNS(SVG, "polyline");
    path.setAttribute("points", rated.map((p) => `${x(p.at).toFixed(1)},${(height - p.read_rate * height).toFixed(1)}`).join(" "));
    path.setAttribute("class", "rate");
    svg.append(path);
  }
  return svg;
}

function stationTile(line, station) {
  const full = layout.density === "full";
  const name = `${station.site}/${station.line}/${station.station}`;
  return el("article", { className: `station state-${station.state}`, dataset: { station: name } },
    el("header", {}, el("strong", {}, station.station), " ", stateBadge(station.state),
      station.open_alarms ? el("a", { className: "badge alarms", href: "/alarms", dataset: { state: "warning" } },
        t("{count} alarms", { count: fmtNumber(station.open_alarms) })) : null),
    full ? el("dl", {},
      figure(t("Read rate 1 min"), fmtPercent(station.read_rate_minute), "rate-minute"),
      figure(t("Read rate 1 h"), fmtPercent(station.read_rate_hour), "rate-hour"),
      figure(t("No-reads 1 h"), fmtNumber(station.noreads_hour), "noreads"),
      figure(t("Mismatches 1 h"), fmtNumber(station.mismatches_hour), "mismatches"),
      figure(t("Camera fps"), fmtNumber(station.fps, { maximumFractionDigits: 1 }), "fps"),
      figure(t("Outbox"), fmtNumber(station.outbox_depth), "outbox"),
      figure(t("Last event"), station.last_event_at ? fmtTime(station.last_event_at, { site: station.site, date: false }) : "–", "last")) : null);
}

function batchBox(line) {
  const key = `${line.site}/${line.line}`;
  if (line.batch) {
    return el("p", { className: "batch" },
      t("Batch {lot} · GTIN {gtin} · since {since}", {
        lot: line.batch.lot, gtin: line.batch.gtin, since: fmtTime(line.batch.started_at, { site: line.site }),
      }), " ",
      mayOperate ? el("button", { type: "button", className: "secondary close-batch", dataset: { batch: line.batch.id, line: key } }, t("Close batch")) : null);
  }
  return el("p", { className: "batch muted" }, t("No batch open"), " ",
    mayOperate ? el("button", { type: "button", className: "start-batch", dataset: { line: key } }, t("Start batch")) : null);
}

function lineCard({ line, stations }) {
  return el("section", { className: "card line", dataset: { line: `${line.site}/${line.line}` } },
    el("header", {},
      el("h2", {}, `${line.site} / ${line.line}`),
      el("span", { className: "muted" }, t("Read rate 1 min {minute} · 1 h {hour}", {
        minute: fmtPercent(line.read_rate_minute), hour: fmtPercent(line.read_rate_hour) }))),
    batchBox(line),
    trendChart(line.trend),
    el("div", { className: "stations" }, ...stations.map((station) => stationTile(line, station))));
}

function render() {
  if (!figures) return;
  grid.dataset.density = layout.density;
  const shown = linesShown();
  grid.replaceChildren(...(shown.length ? shown.map(lineCard) : [el("p", { className: "muted" }, t("No stations to show."))]));
  figuresAt.textContent = t("Figures at {time}", { time: fmtTime(figures.at, { date: false }) });
}

async function refresh() {
  try {
    figures = await api("/api/dashboard");
    render();
    showError("");
  } catch (error) {
    showError(t("Cannot load the dashboard: {reason}", { reason: error.message }));
  }
}

// -- batches ---------------------------------------------------------------------------

grid.addEventListener("click", async (clicked) => {
  const start = clicked.target.closest("button.start-batch");
  const close = clicked.target.closest("button.close-batch");
  if (start) {
    batchForm.reset();
    batchForm.elements.line.value = start.dataset.line;
    document.getElementById("batch-line-label").textContent = start.dataset.line;
    batchError.hidden = true;
    batchDialog.showModal();
  } else if (close) {
    if (!window.confirm(t("Close the batch on {line}?", { line: close.dataset.line }))) return;
    try {
      await api(`/api/batches/${close.dataset.batch}/close`, { method: "POST" });
      await refresh();
    } catch (error) {
      showError(t("Cannot close the batch: {reason}", { reason: error.message }));
    }
  }
});

document.getElementById("batch-cancel").addEventListener("click", () => batchDialog.close());

batchForm.addEventListener("submit", async (submitted) => {
  submitted.preventDefault();
  const form = batchForm.elements;
  const body = { line: form.line.value, gtin: form.gtin.value.trim(), lot: form.lot.value.trim() };
  if (form.expiry.value) body.expiry = form.expiry.value;
  if (form.target_quantity.value) body.target_quantity = Number(form.target_quantity.value);
  try {
    await api("/api/batches", { method: "POST", body });
    batchDialog.close();
    await refresh();
  } catch (error) {
    batchError.textContent = t("Cannot start the batch: {reason}", { reason: error.message });
    batchError.hidden = false;
  }
});

// -- the live stream -------------------------------------------------------------------

function cell(text) {
  return el("td", {}, text ?? "");
}

function liveRow(event) {
  const gs1 = event.gs1 || {};
  const failed = Object.entries(event.checks || {}).filter(([, r]) => !r.passed).map(([name]) => name);
  return el("tr", { className: event.kind === "noread" ? "noread" : (failed.length ? "failed" : ""), dataset: { eventId: event.event_id } },
    cell(fmtTime(event.observed_at, { site: event.site, date: false })),
    cell(`${event.site}/${event.line}/${event.station}`),
    cell(fmtNumber(event.seq, { useGrouping: false })),
    cell(t(event.kind === "noread" ? "no-read" : event.kind)),
    cell(gs1["01"]), cell(gs1["10"]), cell(gs1["21"] || gs1["00"] || (gs1["01"] ? "" : event.text)),
    cell(failed.length ? failed.join("; ") : t("ok")));
}

function tile(station) {
  return grid.querySelector(`article.station[data-station="${CSS.escape(station)}"]`);
}

function onScan(event) {
  liveBody.prepend(liveRow(event));
  while (liveBody.rows.length > LIVE_ROWS) liveBody.deleteRow(-1);
  const found = tile(`${event.site}/${event.line}/${event.station}`);
  const last = found && found.querySelector('[data-fig="last"] dd');
  if (last) last.textContent = fmtTime(event.observed_at, { site: event.site, date: false });
}

function onStatus(change) {
  const found = tile(`${change.site}/${change.line}/${change.station}`);
  if (!found) return;
  found.className = `station state-${change.state}`;
  const badge = found.querySelector("header .badge");
  if (badge) badge.replaceWith(stateBadge(change.state));
}

function connect() {
  const stream = new EventSource("/api/stream");
  stream.addEventListener("open", () => {
    streamState.dataset.state = "online";
    streamState.textContent = t("Live: connected");
  });
  stream.addEventListener("error", () => {
    streamState.dataset.state = "offline";
    streamState.textContent = t("Live: reconnecting…");
  });
  stream.addEventListener("scan", (message) => onScan(JSON.parse(message.data)));
  stream.addEventListener("status", (message) => onStatus(JSON.parse(message.data)));
  stream.addEventListener("alarms", () => refresh());
  stream.addEventListener("dropped", () => refresh());
}

await loadLayouts();
await refresh();
connect();
setInterval(refresh, REFRESH_MS);
