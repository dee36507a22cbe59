// The dashboard's entry point: the health strip, and a router over the URL's hash, so the
// server serves one page and every view has a link of its own (#/runs, #/run/<id>, …).
//
// Plain JavaScript modules the browser loads as they are: no framework, no bundler, no build
// step, so the API embeds these files as written and a reader sees what runs.

import { startHealth } from "./health.js";
import { mountDeadLetters } from "./dead_letters.js";
import { mountRun } from "./run.js";
import { mountRuns } from "./runs.js";
import { mountStart } from "./start.js";

/** Each view: the hash pattern, the nav entry it lights up, and how to mount it. */
const ROUTES = [
  { pattern: /^#\/runs$/, page: "runs", mount: mountRuns },
  { pattern: /^#\/start$/, page: "start", mount: mountStart },
  { pattern: /^#\/run\/([^/]+)$/, page: "runs", mount: mountRun },
  { pattern: /^#\/dead-letters$/, page: "dead-letters", mount: mountDeadLetters },
];

let unmount = () => {};

/** Mounts the view of the current hash; the previous view stops its timers and streams. */
function route() {
  const hash = location.hash || "#/runs";
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(hash) })).find((x) => x.m);
  if (!match) {
    location.replace("#/runs");
    return;
  }
  unmount();
  for (const link of document.querySelectorAll(".nav a")) {
    link.classList.toggle("active", link.dataset.page === match.r.page);
  }
  const container = document.getElementById("page");
  container.replaceChildren();
  const params = match.m.slice(1).map(decodeURIComponent);
  unmount = match.r.mount(container, ...params) || (() => {});
}

startHealth(document.getElementById("health"));
window.addEventListener("hashchange", route);
route();
