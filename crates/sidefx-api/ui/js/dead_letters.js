// The dead letters: the runs dead-lettered now (GET /runs?status=dead_lettered), each with the
// reason its archive record gives (GET /debug/dlq: the last error, the attempts, whether the
// worker refused the command at intake), and the redrive and discard buttons; "Redrive all"
// asks the API to redrive every one it safely can (POST /dlq/redrive).

import { ApiError, get, optional, post } from "./api.js";
import { runActions } from "./actions.js";
import { badge, clock, errorBox, h, replace, table } from "./dom.js";

const REFRESH_MS = 3000;
const LIMIT = 200;

export function mountDeadLetters(container) {
  const list = h("div", { id: "dead-letters" }, h("p", { class: "muted" }, "Loading…"));
  const bulkResult = h("div", { id: "bulk-result", "aria-live": "polite" });
  const view = { stopped: false, timer: null };
  const refresh = async () => {
    clearTimeout(view.timer);
    await load(list, refresh);
    if (!view.stopped) view.timer = setTimeout(refresh, REFRESH_MS);
  };
  const redriveAll = async () => {
    try {
      const answer = await post("/dlq/redrive", {});
      replace(bulkResult, bulkOutcome(answer));
    } catch (err) {
      replace(bulkResult, errorBox(err instanceof ApiError ? err : { message: String(err) }));
    }
    refresh();
  };
  replace(container,
    h("h1", {}, "Dead letters"),
    h("div", { class: "row" }, h("button", { type: "button", id: "redrive-all", class: "secondary", onclick: redriveAll }, "Redrive all")),
    bulkResult, list);
  refresh();
  return () => { view.stopped = true; clearTimeout(view.timer); };
}

async function load(list, refresh) {
  let runs;
  try {
    runs = (await get(`/runs?status=dead_lettered&limit=${LIMIT}`)).runs;
  } catch (err) {
    replace(list, errorBox(err instanceof ApiError ? err : { message: String(err) }));
    return;
  }
  // The archive has the reasons; without it (or without a record yet) the row shows "—".
  const archive = await optional(`/debug/dlq?limit=${LIMIT}`).catch(() => null);
  const records = new Map();
  for (const record of (archive && archive.items) || []) {
    if (!records.has(record.run_id)) records.set(record.run_id, record);
  }
  if (!runs.length) {
    replace(list, h("p", { class: "muted", id: "no-dead-letters" }, "No dead-lettered runs."));
    return;
  }
  // Rows whose actions are being typed in are kept, not rebuilt under the user's fingers.
  const focused = list.contains(document.activeElement) ? document.activeElement.closest("tr") : null;
  if (focused && runs.some((r) => r.run_id === focused.dataset.run)) return;
  replace(list, lettersTable(runs, records, refresh));
}

function lettersTable(runs, records, refresh) {
  const columns = [{ title: "Run" }, { title: "Business key" }, { title: "Reason" }, { title: "Attempts", num: true }, { title: "Dead-lettered" }, { title: "" }];
  const rows = runs.map((run) => {
    const record = records.get(run.run_id);
    const reason = record ? [record.refused ? badge("rejected", "refused at intake") : null, record.error] : "—";
    return {
      attrs: { "data-run": run.run_id },
      cells: [
        h("a", { href: `#/run/${encodeURIComponent(run.run_id)}`, class: "mono" }, run.run_id),
        h("span", { class: "mono" }, run.business_key),
        h("span", { class: "reason-text" }, reason),
        record ? `${record.attempt + 1} of ${record.max_attempts}` : run.attempts,
        clock(record ? record.ts : run.updated_ms),
        runActions(run.run_id, () => refresh()),
      ],
    };
  });
  return table(columns, rows);
}

function bulkOutcome(answer) {
  const redriven = answer.redriven || [];
  const refused = answer.refused || [];
  return h("div", { class: "card" },
    h("p", { class: "notice" }, `${redriven.length} redriven, ${refused.length} refused.`),
    refused.map((r) => h("p", { class: "form-error" }, `${r.run_id}: ${r.message || r.error}`)));
}
