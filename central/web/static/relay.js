// The relay monitor: per target what is queued, sent, accepted and rejected, the oldest
// event not delivered yet, and a retry of what a target rejected (one target, or all).
import { api, el, fmtNumber, fmtTime, showError, t } from "/static/app.js";

const page = document.getElementById("relay-page");
const mayOperate = page && page.dataset.mayOperate === "true";
const body = document.querySelector("#relay-targets tbody");
const message = document.getElementById("relay-message");
// Fresh enough for a person watching deliveries, light on the database.
const REFRESH_MS = 5000;

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 120) return t("{n} s", { n: fmtNumber(Math.round(seconds)) });
  if (seconds < 7200) return t("{n} min", { n: fmtNumber(Math.round(seconds / 60)) });
  return t("{n} h", { n: fmtNumber(Math.round(seconds / 3600)) });
}

async function retry(target) {
  try {
    const query = target ? `?target=${encodeURIComponent(target)}` : "";
    const answer = await api(`/api/relay/retry${query}`, { method: "POST" });
    message.textContent = t("{n} events queued again.", { n: fmtNumber(answer.queued) });
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

function row(entry) {
  const counts = entry.counts;
  const oldest = entry.oldest_undelivered_at
    ? `${fmtTime(entry.oldest_undelivered_at)} (${age(entry.oldest_undelivered_age_s)})` : "—";
  const health = entry.health.last_error
    ? `${t(entry.health.breaker)} · ${entry.health.last_error}` : t(entry.health.breaker);
  const button = mayOperate && counts.rejected > 0
    ? el("button", { type: "button", className: "retry", dataset: { target: entry.target } }, t("Retry"))
    : null;
  if (button) button.addEventListener("click", () => retry(entry.target));
  return el("tr", { dataset: { target: entry.target } },
    el("td", {}, entry.target),
    ...["queued", "sent", "accepted", "rejected"].map(
      (state) => el("td", { className: `number ${state}` }, fmtNumber(counts[state] || 0))),
    el("td", {}, oldest),
    el("td", {}, health),
    el("td", {}, button));
}

async function refresh() {
  try {
    const status = await api("/api/relay");
    body.replaceChildren(...status.targets.map(row));
    document.getElementById("no-targets").hidden = status.targets.length > 0;
    showError("");
  } catch (error) {
    showError(error.message);
  }
}

const retryAll = document.getElementById("retry-all");
if (retryAll) retryAll.addEventListener("click", () => retry(null));
refresh();
setInterval(refresh, REFRESH_MS);
