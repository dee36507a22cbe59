// The health strip on every page: the API and DriftQ (GET /healthz), the workers
// (GET /debug/workers) and the invariants (GET /debug/verify). Each part is read on its own
// timer and shows "unknown" rather than failing when its route is missing or unreachable.

import { ApiError, call, hasRoute, optional } from "./api.js";
import { ago, h, replace } from "./dom.js";

const HEALTH_EVERY_MS = 3000;
// Verification reads every row and ticket, one at a time per API: ask seldom.
const VERIFY_EVERY_MS = 10000;

/** Starts filling `strip`; runs for the page's lifetime. */
export function startHealth(strip) {
  const parts = {
    api: h("span", { class: "pill", id: "health-api" }, "API …"),
    driftq: h("span", { class: "pill", id: "health-driftq" }, "DriftQ …"),
    workers: h("span", { class: "pill", id: "health-workers" }, "Workers …"),
    invariants: h("span", { class: "pill", id: "health-invariants" }, "Invariants …"),
  };
  replace(strip, Object.values(parts));
  repeat(() => readHealth(parts), HEALTH_EVERY_MS);
  repeat(() => readWorkers(parts.workers), HEALTH_EVERY_MS);
  repeat(() => readInvariants(parts.invariants), VERIFY_EVERY_MS);
}

/** Runs `task` now and then `every` ms after each run ends (never two at once). */
function repeat(task, every) {
  const loop = async () => {
    try {
      await task();
    } finally {
      setTimeout(loop, every);
    }
  };
  loop();
}

function show(pill, state, label, value, extra) {
  pill.className = `pill ${state}`;
  replace(pill, label, " ", h("b", {}, value), extra ? h("span", { class: "counts" }, extra) : null);
}

async function readHealth(parts) {
  let body = null;
  try {
    body = (await call("GET", "/healthz")).data;
  } catch (err) {
    // 503: the API answers, DriftQ does not; the body still says why.
    if (!(err instanceof ApiError) || err.status === 0) {
      show(parts.api, "bad", "API", "unreachable");
      show(parts.driftq, "", "DriftQ", "unknown");
      return;
    }
    body = { status: "degraded", driftq: { status: err.message } };
  }
  show(parts.api, body.ok ? "ok" : "warn", "API", body.status || "unknown");
  const driftq = body.driftq && body.driftq.status ? body.driftq.status : "unknown";
  show(parts.driftq, driftq === "ok" ? "ok" : "bad", "DriftQ", driftq);
}

async function readWorkers(pill) {
  let body = null;
  try {
    if (await hasRoute("/debug/workers")) body = await optional("/debug/workers");
  } catch {
    body = null;
  }
  if (!body || !Array.isArray(body.workers)) {
    show(pill, "", "Workers", "unknown");
    return;
  }
  const alive = body.workers.filter((w) => w.alive);
  const lastSeen = Math.max(...body.workers.map((w) => w.last_seen_ms || 0));
  const seen = body.workers.length ? `last seen ${ago(lastSeen)}` : "none registered";
  show(pill, alive.length ? "ok" : "bad", "Workers", `${alive.length} alive`, seen);
}

async function readInvariants(pill) {
  let report;
  try {
    report = await optional("/debug/verify");
  } catch (err) {
    // 409 carries the report of the violations; 503 verify_busy: try again next time.
    if (err instanceof ApiError && err.status === 503) return;
    if (!(err instanceof ApiError) || err.status !== 409) {
      show(pill, "", "Invariants", "unknown");
      return;
    }
    const total = err.body && err.body.violations_total;
    show(pill, "bad", "Invariants", `${total ?? "?"} violations`, err.message);
    return;
  }
  if (!report) {
    show(pill, "", "Invariants", "unknown");
    return;
  }
  const c = report.counts || {};
  const counts = `effects done ${c.done_effects ?? "—"} · tickets ${c.tickets ?? "—"} · ` +
    `runs completed ${c.runs_completed ?? "—"} · dead-lettered ${c.runs_dead_lettered ?? "—"}`;
  show(pill, report.clean ? "ok" : "bad", "Invariants", report.clean ? "clean" : "violations", counts);
}
