// The runs, newest first (GET /runs): filters by status and business key, "More" for the
// next page, and a re-read every two seconds so statuses change while you watch. The re-read
// asks for as many runs as are shown, so a page fetched with "More" stays fresh too.

import { ApiError, get } from "./api.js";
import { badge, clock, duration, errorBox, h, replace, table } from "./dom.js";

const PAGE = 25;
const REFRESH_MS = 2000;
const STATUSES = ["", "queued", "running", "retrying", "completed", "dead_lettered", "discarded", "rejected"];
/** Statuses after which a run's submit→done time is known. */
const FINAL = new Set(["completed", "dead_lettered", "discarded"]);

export function mountRuns(container) {
  const status = h("select", { id: "filter-status" },
    STATUSES.map((s) => h("option", { value: s }, s === "" ? "any status" : s.replaceAll("_", " "))));
  const key = h("input", { id: "filter-key", placeholder: "business key", type: "search" });
  const list = h("div", { id: "runs-table" }, h("p", { class: "muted" }, "Loading…"));
  const more = h("button", { type: "button", class: "secondary", id: "more" }, "More");
  const pager = h("div", { class: "pager" }, more, h("span", { class: "muted", id: "shown" }));
  const view = { runs: [], next: null, wanted: PAGE, stopped: false, timer: null };

  const refresh = async () => {
    clearTimeout(view.timer);
    await load(view, { status: status.value, key: key.value.trim() }, list, pager);
    if (!view.stopped) view.timer = setTimeout(refresh, REFRESH_MS);
  };
  const restart = () => { view.wanted = PAGE; refresh(); };
  status.addEventListener("change", restart);
  key.addEventListener("change", restart);
  more.addEventListener("click", () => { view.wanted = view.runs.length + PAGE; refresh(); });

  replace(container,
    h("h1", {}, "Runs"),
    h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); restart(); } },
      h("label", {}, "Status", status), h("label", {}, "Business key", key),
      h("button", { type: "submit" }, "Filter")),
    list, pager);
  refresh();
  return () => { view.stopped = true; clearTimeout(view.timer); };
}

async function load(view, filter, list, pager) {
  const query = new URLSearchParams({ limit: String(Math.min(view.wanted, 1000)) });
  if (filter.status) query.set("status", filter.status);
  if (filter.key) query.set("business_key", filter.key);
  try {
    const page = await get(`/runs?${query}`);
    view.runs = page.runs;
    view.next = page.next || null;
  } catch (err) {
    replace(list, errorBox(err instanceof ApiError ? err : { message: String(err) }));
    return;
  }
  replace(list, view.runs.length ? runsTable(view.runs) : h("p", { class: "muted", id: "no-runs" }, "No runs match."));
  pager.querySelector("#more").classList.toggle("hidden", !view.next);
  pager.querySelector("#shown").textContent = `${view.runs.length} shown${view.next ? "" : " (all)"}`;
}

function runsTable(runs) {
  const columns = [
    { title: "Run" }, { title: "Business key" }, { title: "Status" },
    { title: "Attempts", num: true }, { title: "Redrives", num: true },
    { title: "Created" }, { title: "Updated" }, { title: "Submit → done", num: true },
  ];
  const rows = runs.map((run) => ({
    attrs: { "data-run": run.run_id, "data-status": run.status },
    cells: [
      h("a", { href: `#/run/${encodeURIComponent(run.run_id)}`, class: "mono" }, run.run_id),
      h("span", { class: "mono" }, run.business_key),
      badge(run.status),
      run.attempts, run.redrives,
      clock(run.created_ms), clock(run.updated_ms),
      FINAL.has(run.status) ? duration(run.updated_ms - run.created_ms) : "—",
    ],
  }));
  return table(columns, rows);
}
