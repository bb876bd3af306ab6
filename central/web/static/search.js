// The search page: the form's filters go to /api/events and into the address (so a search
// can be bookmarked or sent); pages are the API's keyset cursors, forward and back; times
// show in each event's site time zone with its offset.
import { api, el, fmtNumber, fmtTime, showError, t, timeZoneOf } from "/static/app.js";

const form = document.getElementById("search-form");
const tbody = document.querySelector("#search-results tbody");
const totalLine = document.getElementById("search-total");
const pageLine = document.getElementById("page-number");
const prevButton = document.getElementById("page-prev");
const nextButton = document.getElementById("page-next");
const empty = document.getElementById("search-empty");
const FILTERS = ["site", "line", "station", "gtin", "lot", "serial", "sscc", "kind", "seq_from", "seq_to"];
const CHOICES = ["order", "direction", "limit"];

// Where the results are: the cursor of the page shown (null: the first) and its number.
let state = { cursor: null, page: 1, next: null, prev: null };

/** Wall-clock "YYYY-MM-DDTHH:MM[:SS]" in `zone` as an RFC 3339 instant (UTC). */
function zonedToIso(local, zone) {
  const [date, time = "00:00:00"] = local.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi, s = 0] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  let guess = wall;
  for (let i = 0; i < 2; i += 1) guess = wall - offsetMs(zone, guess);
  return new Date(guess).toISOString();
}

/** The offset of `zone` from UTC at the instant `ms`, in milliseconds. */
function offsetMs(zone, ms) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(ms));
  const part = (type) => Number(parts.find((p) => p.type === type).value);
  const asUtc = Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"), part("second"));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** An instant as the datetime-local value of `zone` (to show an address's from/to). */
function isoToZoned(iso, zone) {
  const ms = new Date(iso).getTime();
  if (Number.isNaN(ms)) return "";
  return new Date(ms + offsetMs(zone, ms)).toISOString().slice(0, 19);
}

function formZone() {
  const station = form.elements.station.value.trim();
  return timeZoneOf(form.elements.site.value.trim() || station.split("/")[0] || null);
}

/** The API query of the form (and the page's cursor). */
function query(withCursor = true) {
  const params = new URLSearchParams();
  for (const name of [...FILTERS, ...CHOICES]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ["from", "to"]) {
    const value = form.elements[name].value;
    if (value) params.set(name, zonedToIso(value, formZone()));
  }
  if (withCursor && state.cursor) params.set("cursor", state.cursor);
  return params;
}

/** The form filled from the address, as a bookmarked or shared search is opened. */
function fromAddress() {
  const params = new URLSearchParams(window.location.search);
  for (const name of [...FILTERS, ...CHOICES]) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
  for (const name of ["from", "to"]) {
    if (params.has(name)) form.elements[name].value = isoToZoned(params.get(name), formZone());
  }
  state = { cursor: params.get("cursor"), page: Number(params.get("page")) || 1, next: null, prev: null };
}

/** The key the trace page reads: (01)GTIN(21)serial, (00)SSCC, or the raw text. */
function traceCode(event) {
  const gs1 = event.gs1 || {};
  if (gs1["00"]) return `(00)${gs1["00"]}`;
  if (gs1["01"] && gs1["21"]) return `(01)${gs1["01"]}(21)${gs1["21"]}`;
  return event.text || null;
}

async function viewImage(eventId) {
  try {
    const module = await import("/static/snapshot.js");
    module.showSnapshot(eventId);
  } catch (error) {
    showError(t("The picture viewer is not available."));
  }
}

function row(event) {
  const gs1 = event.gs1 || {};
  const failed = Object.entries(event.checks || {}).filter(([, check]) => !check.passed).map(([name]) => name);
  const code = traceCode(event);
  const actions = el("td", { className: "actions" });
  if (code) {
    actions.append(el("a", { href: `/trace?code=${encodeURIComponent(code)}`, className: "trace-link" }, t("Trace")));
  }
  if (event.kind === "noread" && event.has_image) {
    const button = el("button", { type: "button", className: "secondary view-image" }, t("View image"));
    button.addEventListener("click", () => viewImage(event.event_id));
    actions.append(button);
  }
  return el("tr", { className: event.kind === "noread" ? "noread" : failed.length ? "failed" : "", dataset: { eventId: event.event_id } },
    el("td", {}, fmtTime(event.observed_at, { site: event.site })),
    el("td", {}, `${event.site}/${event.line}/${event.station}`),
    el("td", { className: "number" }, String(event.seq)),
    el("td", {}, t(event.kind)),
    el("td", {}, gs1["01"] || ""),
    el("td", {}, gs1["10"] || ""),
    el("td", {}, gs1["21"] || gs1["00"] || (gs1["01"] ? "" : event.text || "")),
    el("td", {}, failed.length ? failed.join(", ") : t("ok")),
    actions,
  );
}

function showTotal(body) {
  const limit = Number(form.elements.limit.value);
  const shown = body.events.length;
  const first = shown ? (state.page - 1) * limit + 1 : 0;
  const values = { first: fmtNumber(first), last: fmtNumber(first + Math.max(shown - 1, 0)), total: fmtNumber(body.total) };
  totalLine.textContent = body.total_exact
    ? t("Events {first}–{last} of {total}", values)
    : t("Events {first}–{last} of more than {total}", values);
  pageLine.textContent = t("Page {page}", { page: fmtNumber(state.page) });
}

async function run({ push = false } = {}) {
  const params = query();
  const address = new URLSearchParams(params);
  if (state.page > 1) address.set("page", String(state.page));
  const target = `${window.location.pathname}?${address}`;
  if (push) window.history.pushState(null, "", target);
  else window.history.replaceState(null, "", target);
  try {
    const body = await api(`/api/events?${params}`);
    state.next = body.next_cursor;
    state.prev = body.prev_cursor;
    tbody.replaceChildren(...body.events.map(row));
    empty.hidden = body.events.length > 0;
    showTotal(body);
    prevButton.disabled = !state.prev || state.page <= 1;
    nextButton.disabled = !state.next;
    showError("");
  } catch (error) {
    showError(t("The search failed: {reason}", { reason: error.message }));
  }
  markSort();
}

function markSort() {
  for (const button of document.querySelectorAll("button.sort")) {
    const active = button.dataset.order === form.elements.order.value;
    button.closest("th").setAttribute("aria-sort", active ? (form.elements.direction.value === "asc" ? "ascending" : "descending") : "none");
  }
}

function restart() {
  state = { cursor: null, page: 1, next: null, prev: null };
  run({ push: true });
}

form.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  restart();
});
form.addEventListener("reset", () => window.setTimeout(restart, 0));
nextButton.addEventListener("click", () => {
  state = { ...state, cursor: state.next, page: state.page + 1 };
  run({ push: true });
});
prevButton.addEventListener("click", () => {
  const page = state.page - 1;
  state = { ...state, cursor: page <= 1 ? null : state.prev, page };
  run({ push: true });
});
for (const button of document.querySelectorAll("button.sort")) {
  button.addEventListener("click", () => {
    const same = form.elements.order.value === button.dataset.order;
    form.elements.order.value = button.dataset.order;
    form.elements.direction.value = same && form.elements.direction.value === "desc" ? "asc" : "desc";
    restart();
  });
}
window.addEventListener("popstate", () => {
  fromAddress();
  run();
});

fromAddress();
run();
