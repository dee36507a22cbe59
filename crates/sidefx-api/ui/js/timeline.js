// A run's events as a timeline: grouped by delivery of the step (each `step.started` opens a
// group, so a redelivery of the same attempt after a crash is a group of its own), every
// event at +ms from the run's creation, and the wait between two groups labelled with its
// cause: the retry's backoff, the lease a crashed worker's command waits out, a live claim.
// Pure functions of the events: the run page renders what they return.

import { badge, duration, h } from "./dom.js";

/** Groups `events` (in order) into {groups: [{title, events, gap}]}; times from `startMs`. */
export function groupTimeline(events, startMs) {
  const t0 = startMs ?? (events.length ? events[0].ts : 0);
  const groups = [{ kind: "submit", title: "Submitted", events: [], gap: null }];
  const deliveries = new Map();
  let attempt = 0;
  const open = (kind, title, event) => {
    const previous = groups[groups.length - 1];
    groups.push({ kind, title, events: [], gap: gapBetween(previous, event) });
  };
  const delivery = () => {
    const n = (deliveries.get(attempt) || 0) + 1;
    deliveries.set(attempt, n);
    return `Attempt ${attempt}${n > 1 ? ` · redelivery ${n - 1}` : ""}`;
  };
  for (const event of events) {
    const previous = groups[groups.length - 1];
    const last = previous.events.length ? previous.events[previous.events.length - 1].event : null;
    if (event.type === "step.started") {
      attempt = event.attempt;
      open("attempt", delivery(), event);
    } else if (event.type === "run.redriven" || event.type === "run.discarded") {
      open("operator", event.type === "run.redriven" ? "Redriven" : "Discarded", event);
    } else if (last && leftForRedelivery(last)) {
      // The broker drops a redelivery's repeated `step.started` (same idempotency key), so
      // the first event after a crash or a live claim is where the redelivery begins.
      open("attempt", delivery(), event);
    }
    groups[groups.length - 1].events.push({ at: event.ts - t0, event });
  }
  return { groups: groups.filter((g) => g.events.length) };
}

/** An event after which the worker let the command go without acking it. */
function leftForRedelivery(event) {
  return event.type === "chaos.crash_now" ||
    (event.type === "side_effect.skipped" && event.reason === "already_in_progress");
}

/** The wait from the last event of `group` to `next`, and what it was. */
function gapBetween(group, next) {
  const last = group.events[group.events.length - 1];
  if (!last) return null;
  const ms = next.ts - last.event.ts;
  const has = (type) => group.events.find((e) => e.event.type === type);
  const crash = has("chaos.crash_now");
  if (crash) return { kind: "lease", text: `worker crashed · ${duration(ms)} lease wait until redelivery` };
  const retry = has("retry.considered");
  if (retry) {
    const planned = duration(retry.event.backoff_s * 1000);
    return { kind: "backoff", text: `backoff ${planned} planned · next attempt ${duration(ms)} later` };
  }
  const live = group.events.find((e) => e.event.type === "side_effect.skipped" && e.event.reason === "already_in_progress");
  if (live) return { kind: "lease", text: `claim held by another worker · ${duration(ms)} until redelivery` };
  if (group.kind === "submit") return { kind: "queue", text: `${duration(ms)} until a worker took it` };
  return { kind: "queue", text: `${duration(ms)} later` };
}

/** The nodes that describe one event: its fields that matter and its badges. */
export function describe(event) {
  const e = event;
  switch (e.type) {
    case "run.created": return [`key ${e.business_key}`, `amount ${e.amount}`];
    case "command.enqueued": return [`attempt ${e.attempt} on the commands topic`];
    case "step.started": return [`${e.step_id}, attempt ${e.attempt}`];
    case "step.failed": return [badge("failed"), e.reason];
    case "retry.considered":
      return [badge("backoff", `backoff ${e.backoff_s.toFixed(2)} s`), `next attempt ${e.next_attempt} of ${e.max_attempts}`, e.error];
    case "retry.scheduled": return [`attempt ${e.attempt} waits in the retry outbox`];
    case "side_effect.executing": return [badge("in_progress", "executing"), e.effect_id, e.claim ? `claim ${e.claim}` : null];
    case "side_effect.done": return [badge("done"), receiptText(e.receipt) || ticketName(e.artifact_path)];
    case "side_effect.skipped":
      return [badge("skipped", e.reason === "already_done" ? "skipped · already done" : "skipped · in progress"),
        e.by_run ? h("span", {}, "by run ", h("a", { href: `#/run/${encodeURIComponent(e.by_run)}`, class: "mono" }, e.by_run)) : null];
    case "side_effect.healed": return [badge("healed"), "the receipt proves the effect; not repeated"];
    case "side_effect.taken_over": return [badge("taken_over", "taken over"), `from ${e.previous_owner}`];
    case "chaos.crash_now": return [badge("crash", "crash"), e.note];
    case "step.completed": return [`attempt ${e.attempt}`];
    case "run.completed": return [badge("completed")];
    case "run.dlq": return [badge("dead_lettered", "dead-lettered"), e.error];
    case "run.redriven": return [badge("redriven"), `by ${e.by}`, e.reason ? `: ${e.reason}` : null, e.redrive ? `(redrive ${e.redrive})` : null];
    case "run.discarded": return [badge("discarded"), `by ${e.by}`, e.reason ? `: ${e.reason}` : null];
    default: return [JSON.stringify(e)];
  }
}

/** "ticket tickets/ticket_k.json", "charge ch_… (tickets/…)", "remote id …". */
export function receiptText(receipt) {
  if (!receipt) return null;
  switch (receipt.kind) {
    case "ticket": return `ticket ${ticketName(receipt.path)}`;
    case "charge": return `charge ${receipt.charge_id} (${ticketName(receipt.ticket_path)})`;
    case "remote": return `remote id ${receipt.id}`;
    default: return JSON.stringify(receipt);
  }
}

/**
 * A ticket's path from `tickets/` on: events carry the worker's own path, which says where
 * the server keeps its files and nothing a reader needs (`GET /runs/{id}` is relative already).
 */
function ticketName(path) {
  if (typeof path !== "string") return null;
  const at = path.lastIndexOf("tickets/");
  return at >= 0 ? path.slice(at) : path.split("/").pop();
}

/** The timeline's nodes. */
export function renderTimeline(grouped) {
  const nodes = [];
  for (const group of grouped.groups) {
    if (group.gap) nodes.push(h("div", { class: `gap ${group.gap.kind}`, "data-gap": group.gap.kind }, group.gap.text));
    const rows = group.events.map(({ at, event }) =>
      h("div", { class: `event${event.type === "chaos.crash_now" ? " crash" : ""}`, "data-type": event.type },
        h("span", { class: "at" }, `+${Math.max(0, Math.round(at))} ms`),
        h("span", { class: "type" }, event.type),
        h("span", { class: "detail" }, describe(event).map((part) => (typeof part === "string" ? h("span", {}, part) : part)))));
    const span = group.events[group.events.length - 1].event.ts - group.events[0].event.ts;
    nodes.push(h("section", { class: "attempt", "data-kind": group.kind },
      h("header", {}, group.title, h("span", { class: "muted" }, `${group.events.length} events · ${duration(span)}`)),
      rows));
  }
  return nodes;
}
