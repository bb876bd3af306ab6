// A no-read's picture in an accessible dialog, beside its station, time and reason.
// Any page that lists events imports it: showSnapshot(eventId, {title}) opens the dialog,
// snapshotButton(event) gives a row's "Picture" button (null when no picture is kept).
import { api, el, fmtNumber, fmtTime, t } from "/static/app.js";

let dialog = null;
let opener = null;

function ensureStyles() {
  if (document.querySelector('link[data-snapshot-css]')) return;
  document.head.append(el("link", { rel: "stylesheet", href: "/static/snapshot.css", dataset: { snapshotCss: "" } }));
}

function ensureDialog() {
  if (dialog) return dialog;
  ensureStyles();
  dialog = el("dialog", { id: "snapshot-dialog", className: "snapshot", "aria-labelledby": "snapshot-title" });
  const close = el("button", { type: "button", className: "secondary snapshot-close" }, t("Close"));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.querySelector(".snapshot-picture").replaceChildren();
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  });
  // A click on the backdrop (outside the dialog's box) closes it, as Escape does.
  dialog.addEventListener("click", (clicked) => {
    if (clicked.target === dialog) dialog.close();
  });
  dialog.append(
    el("header", { className: "snapshot-head" }, el("h2", { id: "snapshot-title" }), close),
    el("div", { className: "snapshot-body" },
      el("figure", { className: "snapshot-picture" }),
      el("dl", { className: "snapshot-facts" })),
    el("p", { className: "error snapshot-error", role: "alert", hidden: true }),
  );
  document.body.append(dialog);
  return dialog;
}

function fact(term, value) {
  return [el("dt", {}, term), el("dd", {}, value)];
}

function reasonOf(facts) {
  return facts.reason || t("A symbol seen in {frames} frames was never decoded", { frames: fmtNumber(facts.frames) });
}

function showFacts(box, facts) {
  box.querySelector(".snapshot-facts").replaceChildren(
    ...fact(t("Station"), `${facts.site}/${facts.line}/${facts.station}`),
    ...fact(t("Observed"), fmtTime(facts.observed_at, { site: facts.site })),
    ...fact(t("Reason"), reasonOf(facts)),
    ...fact(t("Size"), t("{size} bytes", { size: fmtNumber(facts.size) })),
  );
  const image = el("img", {
    src: `/api/events/${encodeURIComponent(facts.event_id)}/image`,
    alt: t("Picture of the symbol the station could not read, at {station}", { station: facts.station }),
  });
  image.addEventListener("error", () => showProblem(box, t("The picture could not be loaded.")));
  box.querySelector(".snapshot-picture").replaceChildren(image);
}

function showProblem(box, message) {
  const problem = box.querySelector(".snapshot-error");
  problem.textContent = message;
  problem.hidden = !message;
}

/** Open the picture of no-read `eventId`; resolves once its facts are shown (or refused). */
export async function showSnapshot(eventId, { title } = {}) {
  const box = ensureDialog();
  opener = document.activeElement;
  box.querySelector("#snapshot-title").textContent = title || t("No-read picture");
  box.querySelector(".snapshot-facts").replaceChildren();
  box.querySelector(".snapshot-picture").replaceChildren(el("p", { className: "muted" }, t("Loading…")));
  showProblem(box, "");
  if (!box.open) box.showModal();
  try {
    showFacts(box, await api(`/api/events/${encodeURIComponent(eventId)}/image/facts`));
  } catch (error) {
    box.querySelector(".snapshot-picture").replaceChildren();
    showProblem(box, error.status === 404
      ? t("No picture is kept for this event (retention may have removed it).")
      : t("Cannot load the picture: {reason}", { reason: error.message }));
  }
}

/** A "Picture" button that opens `event`'s picture, or null when it has none. */
export function snapshotButton(event, { title } = {}) {
  if (!event.has_image) return null;
  const button = el("button", {
    type: "button", className: "secondary snapshot-open",
    "aria-label": t("Show the picture of no-read {seq} at {station}", { seq: event.seq, station: event.station }),
  }, t("Picture"));
  button.addEventListener("click", () => showSnapshot(event.event_id, { title }));
  return button;
}
