// What an operator can do with a dead-lettered run: redrive it (the same command again, a
// new attempt; POST /runs/{id}/redrive) or discard it with a reason (POST /runs/{id}/discard).
// The API refuses (409) what would be unsafe, e.g. redriving a run whose effect is done; the
// refusal's message is shown as it is.

import { ApiError, post, seg } from "./api.js";
import { errorBox, h, replace } from "./dom.js";

/**
 * The action buttons of `runId`; `done(runView)` is called after a successful action with
 * the run as the API answered it.
 */
export function runActions(runId, done) {
  const result = h("div", { class: "action-result", "aria-live": "polite" });
  const reason = h("input", { name: "reason", placeholder: "reason (required to discard)", class: "reason" });
  const act = async (action, body) => {
    try {
      const run = await post(`/runs/${seg(runId)}/${action}`, body);
      replace(result, h("p", { class: "notice" }, action === "redrive" ? "Redriven: a new attempt is on its way." : "Discarded."));
      done(run);
    } catch (err) {
      replace(result, errorBox(err instanceof ApiError ? err : { message: String(err) }));
    }
  };
  const redrive = h("button", { type: "button", class: "redrive", onclick: () => act("redrive", reasonBody(reason)) }, "Redrive");
  const discard = h("button", {
    type: "button", class: "danger discard",
    onclick: () => {
      const why = reason.value.trim();
      if (!why) {
        replace(result, errorBox({ message: "Say why the run is discarded (the reason is kept in its history)." }));
        reason.focus();
        return;
      }
      act("discard", { reason: why });
    },
  }, "Discard");
  return h("div", { class: "actions", "data-run": runId }, h("div", { class: "row" }, reason, redrive, discard), result);
}

function reasonBody(input) {
  const reason = input.value.trim();
  return reason ? { reason } : {};
}
