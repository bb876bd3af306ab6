// The lot report page: the server renders the figures; this formats its times in the
// site's time zone and its numbers in the reader's locale, and prints on request.
import { fmtNumber, fmtTime } from "/static/app.js";

const page = document.getElementById("lot-page");
const site = page ? page.dataset.site || null : null;

for (const node of document.querySelectorAll("#lot-page time[data-time]")) {
  node.dateTime = node.dataset.time;
  node.textContent = fmtTime(node.dataset.time, { site });
}
for (const node of document.querySelectorAll("#lot-page [data-number]")) {
  node.textContent = fmtNumber(Number(node.dataset.number));
}
const printButton = document.getElementById("print-report");
if (printButton) printButton.addEventListener("click", () => window.print());
