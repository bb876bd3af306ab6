// What every page's script shares: translations, the session's CSRF token, times in the
// site's time zone and numbers in the person's locale. Loaded as a module by base.html.

const dataBlock = document.getElementById("page-data");

/** The page's JSON data block: language, locale, messages, sites, time zone, user. */
export const pageData = dataBlock ? JSON.parse(dataBlock.textContent) : {
  language: "en", locale: "en-GB", messages: {}, sites: {}, time_zone: "UTC", user: null,
};

/** The translation of an English message; {name} placeholders filled from `values`. */
export function t(message, values = {}) {
  const text = pageData.messages[message] || message;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** The IANA time zone of a site (its own, or the configured default). */
export function timeZoneOf(site) {
  return (site && pageData.sites[site] && pageData.sites[site].time_zone) || pageData.time_zone;
}

const timeFormats = new Map();

function timeFormat(zone) {
  if (!timeFormats.has(zone)) {
    timeFormats.set(zone, new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      timeZoneName: "longOffset",
    }));
  }
  return timeFormats.get(zone);
}

/** An ISO time in the site's time zone with its offset, as the server writes it too:
 * "05/12/2026 14:03:07 (UTC+07:00)" (day first in both languages, as Vietnam writes dates);
 * `date: false` leaves the date out. */
export function fmtTime(iso, { site = null, date = true } = {}) {
  if (!iso) return "";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  const part = {};
  for (const { type, value } of timeFormat(timeZoneOf(site)).formatToParts(when)) part[type] = value;
  const offset = part.timeZoneName === "GMT" ? "+00:00" : part.timeZoneName.replace("GMT", "");
  const time = `${part.hour}:${part.minute}:${part.second} (UTC${offset})`;
  return date ? `${part.day}/${part.month}/${part.year} ${time}` : time;
}

/** A number in the person's locale (Vietnamese groups with "." and decimals with ","). */
export function fmtNumber(value, options = {}) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return new Intl.NumberFormat(pageData.locale, options).format(value);
}

/** A share 0..1 as a percentage in the person's locale. */
export function fmtPercent(share, digits = 1) {
  if (share === null || share === undefined) return "–";
  return fmtNumber(share, { style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** An error from the API, with its HTTP status and the server's explanation. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/** fetch() for this site's API: JSON in and out, the CSRF header on changes, errors thrown. */
export async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    throw new ApiError(401, t("Your session has ended; sign in again."));
  }
  if (raw) return response;
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed && parsed.detail !== undefined ? parsed.detail : text);
  return parsed;
}

/** A new element: el("td", {className: "x"}, "text", child...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Show (or with no message, hide) the page's error line. */
export function showError(message) {
  const box = document.getElementById("page-error");
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}

// The language links: remember the choice on the account too (when signed in), then go.
for (const link of document.querySelectorAll("a[data-language]")) {
  link.addEventListener("click", async (clicked) => {
    if (!pageData.user) return;
    clicked.preventDefault();
    try {
      await api("/api/me/language", { method: "PUT", body: { language: link.dataset.language } });
    } catch (error) {
      // The cookie the link sets still switches this browser.
    }
    window.location.assign(link.href);
  });
}
