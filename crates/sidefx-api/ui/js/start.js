// "Start a run": the body of POST /runs field by field, an optional Idempotency-Key, and
// "Send again", which re-posts the same body with the same key to show the replay: the API
// answers the first run (same run_id) with the header Idempotent-Replayed: true.

import { ApiError, call } from "./api.js";
import { errorBox, h, randomHex, replace } from "./dom.js";

/** The crash points a run can ask for (`fail_mode`); honoured only with SIDEFX_CHAOS. */
const FAIL_MODES = [
  ["none", "none"],
  ["crash_after_effect_before_ack", "crash after the effect, before the ack"],
  ["crash_after_claim_before_effect", "crash after the claim, before the effect"],
  ["crash_after_effect_before_mark_done", "crash after the effect, before mark-done"],
  ["crash_after_mark_done_before_ack", "crash after mark-done, before the ack"],
];

export function mountStart(container) {
  const fields = {
    business_key: h("input", { id: "business-key", name: "business_key", required: true, value: `order-${randomHex()}` }),
    amount: h("input", { id: "amount", name: "amount", type: "number", step: "0.01", min: "0", value: "49.99" }),
    fail_mode: h("select", { id: "fail-mode", name: "fail_mode" },
      FAIL_MODES.map(([value, text]) => h("option", { value }, text))),
    fail_before_effect_n: h("input", { id: "fail-before", name: "fail_before_effect_n", type: "number", min: "0", max: "100", value: "0" }),
    max_attempts: h("input", { id: "max-attempts", name: "max_attempts", type: "number", min: "1", max: "20", value: "5" }),
  };
  const key = h("input", { id: "idempotency-key", name: "idempotency_key", placeholder: "optional, e.g. checkout-42" });
  const result = h("div", { id: "start-result", "aria-live": "polite" });
  const again = h("button", { type: "button", id: "send-again", class: "secondary", disabled: true }, "Send again");
  let last = null;

  const submit = async (event) => {
    event.preventDefault();
    last = { body: bodyOf(fields), key: key.value.trim() };
    again.disabled = false;
    await send(last, result, null);
  };
  again.addEventListener("click", () => send(last, result, result.dataset.runId || null));

  const form = h("form", { class: "card stack", id: "start-form", onsubmit: submit },
    h("div", { class: "grid" },
      labelled("Business key", fields.business_key),
      labelled("Amount", fields.amount),
      labelled("Fail mode (needs SIDEFX_CHAOS)", fields.fail_mode),
      labelled("Failures before the effect", fields.fail_before_effect_n),
      labelled("Max attempts", fields.max_attempts),
      labelled("Idempotency-Key", key)),
    h("div", { class: "row" },
      h("button", { type: "submit", id: "start" }, "Start the run"),
      again,
      h("button", { type: "button", class: "secondary", onclick: () => { fields.business_key.value = `order-${randomHex()}`; } }, "New key")));
  replace(container, h("h1", {}, "Start a run"), form, result);
}

function labelled(text, input) {
  return h("label", {}, text, input);
}

/** The JSON body; numbers left empty are left out, so the API applies its defaults. */
function bodyOf(fields) {
  const body = { business_key: fields.business_key.value.trim(), fail_mode: fields.fail_mode.value };
  for (const name of ["amount", "fail_before_effect_n", "max_attempts"]) {
    const raw = fields[name].value.trim();
    if (raw !== "") body[name] = Number(raw);
  }
  return body;
}

/** Posts `request`; `previousRun` is the run the first send got, to compare a replay with. */
async function send(request, result, previousRun) {
  const headers = request.key ? { "Idempotency-Key": request.key } : {};
  try {
    const answer = await call("POST", "/runs", { body: request.body, headers });
    const runId = answer.data.run_id;
    const replayed = answer.headers.get("Idempotent-Replayed") === "true";
    result.dataset.runId = previousRun || runId;
    replace(result, outcome(runId, replayed, previousRun, request));
  } catch (err) {
    replace(result, err instanceof ApiError ? errorBox(err) : errorBox({ message: String(err) }));
  }
}

function outcome(runId, replayed, previousRun, request) {
  const link = h("a", { href: `#/run/${encodeURIComponent(runId)}`, id: "run-link" }, runId);
  const lines = [h("p", {}, replayed ? "Replayed: " : "Started run ", link)];
  lines.push(h("p", { id: "replayed" }, "Idempotent-Replayed: ", h("code", {}, replayed ? "true" : "(not sent)")));
  if (previousRun) {
    const same = previousRun === runId;
    lines.push(h("p", { id: "same-run", class: same ? "notice" : "form-error" },
      same ? "Same run_id as the first send: no second run." : `A new run: ${request.key ? "" : "no Idempotency-Key was sent, so "}the API created another run.`));
  }
  return h("div", { class: "card" }, lines);
}
