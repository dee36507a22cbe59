// One run: its record and effects (GET /runs/{id}), then its timeline, first from the durable
// history (GET /runs/{id}/history, page by page) and then live from the event stream
// (GET /runs/{id}/events, SSE), with the redrive and discard actions while it is dead-lettered.

import { ApiError, get, optional, seg } from "./api.js";
import { runActions } from "./actions.js";
import { badge, clock, duration, errorBox, h, randomHex, replace, table } from "./dom.js";
import { groupTimeline, receiptText, renderTimeline } from "./timeline.js";

/** Every event type the stream names in its `event:` field (addEventListener needs them). */
const EVENT_TYPES = [
  "run.created", "command.enqueued", "step.started", "step.failed", "side_effect.skipped",
  "side_effect.healed", "side_effect.taken_over", "side_effect.executing", "side_effect.done",
  "chaos.crash_now", "step.completed", "run.completed", "retry.considered", "retry.scheduled",
  "run.dlq", "run.redriven", "run.discarded",
];
/** Events after which the run's record (status, effects) has changed. */
const CHANGES_RECORD = new Set(["side_effect.done", "side_effect.healed", "run.completed", "run.dlq", "run.redriven", "run.discarded", "step.failed"]);
const FINAL = new Set(["completed", "dead_lettered", "discarded"]);
const WATCH_MS = 2000;

export function mountRun(container, runId) {
  const page = {
    runId, run: null, events: [], seen: new Set(), source: null, stopped: false, refreshTimer: null, watchTimer: null,
    record: h("div", { id: "run-record" }), actions: h("div", { id: "run-actions" }),
    effects: h("div", { id: "run-effects" }), timeline: h("div", { class: "timeline", id: "timeline" }),
    live: h("span", { class: "live muted", id: "live" }),
  };
  replace(container,
    h("h1", {}, "Run ", h("span", { class: "mono" }, runId)),
    page.record, page.actions,
    h("h2", {}, "Side effect"), page.effects,
    h("h2", {}, "Timeline ", page.live), page.timeline);
  start(page);
  return () => {
    page.stopped = true;
    clearTimeout(page.refreshTimer);
    clearTimeout(page.watchTimer);
    closeStream(page);
  };
}

async function start(page) {
  if (!(await refreshRun(page))) return;
  await loadHistory(page);
  render(page);
  openStream(page);
  watch(page);
}

/**
 * While the run is not final and no stream is open (it ended, or the API has none), re-reads
 * the record and the history every two seconds: a redriven run goes on after its stream ended.
 */
function watch(page) {
  const tick = async () => {
    if (page.stopped) return;
    if (page.run && !FINAL.has(page.run.status) && !page.source) {
      await refreshRun(page);
      await loadHistory(page);
      render(page);
    }
    page.watchTimer = setTimeout(tick, WATCH_MS);
  };
  page.watchTimer = setTimeout(tick, WATCH_MS);
}

/** Re-reads the run's record; false if it does not exist. */
async function refreshRun(page) {
  try {
    page.run = await get(`/runs/${seg(page.runId)}`);
  } catch (err) {
    replace(page.record, errorBox(err instanceof ApiError ? err : { message: String(err) }));
    return false;
  }
  renderRecord(page);
  return true;
}

/** The durable history, page by page; an API without the route leaves it to the stream. */
async function loadHistory(page) {
  let after = null;
  for (;;) {
    const query = after === null ? "" : `?after=${after}`;
    const body = await optional(`/runs/${seg(page.runId)}/history${query}`).catch(() => null);
    if (!body) return;
    for (const item of body.events) add(page, item.event, item.seq);
    if (body.next_after === null || body.next_after === undefined || body.next_after === after) return;
    after = body.next_after;
  }
}

/** Adds an event once: by its sequence number, or (a stream without ids) by its content. */
function add(page, event, seq) {
  const id = seq !== null && seq !== undefined && seq !== "" ? `seq:${seq}` : `json:${JSON.stringify(event)}`;
  if (page.seen.has(id)) return false;
  page.seen.add(id);
  // A stream without ids repeats what the history gave: match those by content too.
  page.seen.add(`json:${JSON.stringify(event)}`);
  page.events.push({ seq: seq === "" ? null : seq, event });
  page.events.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.event.ts - b.event.ts);
  return true;
}

function openStream(page) {
  if (page.stopped || page.source) return;
  const source = new EventSource(`/runs/${seg(page.runId)}/events?client_id=ui-${randomHex()}`);
  page.source = source;
  const onFrame = (frame) => {
    let event;
    try {
      event = JSON.parse(frame.data);
    } catch {
      return;
    }
    if (!event || typeof event.type !== "string" || event.type.startsWith("sse.")) return;
    const seq = frame.lastEventId ? Number(frame.lastEventId) : null;
    if (!add(page, event, seq)) return;
    render(page);
    if (CHANGES_RECORD.has(event.type)) scheduleRefresh(page);
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, onFrame);
  // An API that names no event type sends every frame as "message".
  source.addEventListener("message", onFrame);
  source.addEventListener("sse.end", () => {
    closeStream(page);
    scheduleRefresh(page);
  });
  source.addEventListener("open", () => setLive(page, true));
  source.addEventListener("error", () => setLive(page, source.readyState === EventSource.OPEN));
}

function closeStream(page) {
  if (page.source) page.source.close();
  page.source = null;
  setLive(page, false);
}

function setLive(page, on) {
  page.live.classList.toggle("on", on);
  page.live.textContent = on ? "live" : page.source ? "reconnecting…" : "";
}

function scheduleRefresh(page) {
  clearTimeout(page.refreshTimer);
  page.refreshTimer = setTimeout(() => { if (!page.stopped) refreshRun(page); }, 150);
}

function render(page) {
  const events = page.events.map((e) => e.event);
  const start = page.run ? page.run.created_ms : null;
  replace(page.timeline, events.length ? renderTimeline(groupTimeline(events, start)) : h("p", { class: "muted" }, "No events yet."));
}

function renderRecord(page) {
  const run = page.run;
  const req = run.request || {};
  const facts = [
    ["Status", badge(run.status)], ["Business key", h("span", { class: "mono" }, req.business_key)],
    ["Attempts", run.attempts], ["Redrives", run.redrives],
    ["Created", clock(run.created_ms)], ["Updated", clock(run.updated_ms)],
    ["Submit → done", FINAL.has(run.status) ? duration(run.updated_ms - run.created_ms) : "—"],
    ["Idempotency-Key", run.idempotency_key || "—"],
    ["Request", `amount ${req.amount}, fail mode ${req.fail_mode}, ${req.fail_before_effect_n} failures before the effect, max ${req.max_attempts} attempts`],
  ];
  replace(page.record, h("dl", { class: "card facts", id: "run-facts", "data-status": run.status },
    facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  replace(page.actions, run.status === "dead_lettered" ? h("div", { class: "card stack" },
    h("p", {}, "This run is dead-lettered: redrive it (a new attempt of the same command) or discard it."),
    runActions(run.run_id, (updated) => {
      page.run = updated;
      renderRecord(page);
      openStream(page);
    })) : null);
  replace(page.effects, effectsTable(run.effects || []));
}

function effectsTable(effects) {
  if (!effects.length) return h("p", { class: "muted", id: "no-effect" }, "No effect claimed yet.");
  const columns = [{ title: "Effect" }, { title: "Status" }, { title: "Claims", num: true }, { title: "Owner" }, { title: "Receipt" }, { title: "Updated" }];
  const rows = effects.map((e) => ({
    attrs: { "data-effect": e.effect_id, "data-status": e.status },
    cells: [h("span", { class: "mono" }, e.effect_id), badge(e.status), e.attempts,
      h("span", { class: "mono" }, e.owner || "—"), h("span", { class: "mono receipt" }, receiptText(e.receipt) || "—"),
      h("span", { class: "time" }, clock(e.updated_ms))],
  }));
  return table(columns, rows);
}
