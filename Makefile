# sidefx — developer tasks. `make help` lists them.
SHELL := /usr/bin/env bash
CARGO ?= cargo

.PHONY: help test test-deps screenshots fmt lint conformance bench-driftq

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

test: test-deps ## build every binary, then run every test of the workspace
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

test-deps: ## check that the browser tests' Chromium and chromedriver are installed (scripts/install-test-deps installs them)
	@scripts/install-test-deps --check

# The dashboard's browser tests write a screenshot of each main page (1280x900) into
# SCREENSHOTS_OUT; this copies them next to the README, which shows them.
SCREENSHOTS_OUT := $(CURDIR)/target/screenshots
screenshots: test-deps ## run the dashboard's browser tests and copy their screenshots into docs/screenshots/
	$(CARGO) build --workspace --bins
	rm -rf "$(SCREENSHOTS_OUT)"
	SIDEFX_SCREENSHOTS_DIR="$(SCREENSHOTS_OUT)" $(CARGO) test -p sidefx-dashboard-tests
	mkdir -p docs/screenshots
	cp "$(SCREENSHOTS_OUT)"/*.png docs/screenshots/
	@ls docs/screenshots

fmt: ## format the code
	$(CARGO) fmt --all

lint: ## formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
# sidefx-core for a project that wants only the store (no clap, utoipa, reqwest, exporter)
	$(CARGO) clippy -p sidefx-core --no-default-features --all-targets -- -D warnings
# sidefx-testkit without its stack (what driftq-local's tests use)
	$(CARGO) clippy -p sidefx-testkit --no-default-features --all-targets -- -D warnings

bench-driftq: ## driftq-local produce→consume→ack throughput
	$(CARGO) bench -p driftq-local --bench throughput

# ---------------------------------------------------------------------------------------------
# The stack and the demos (the original starter's targets). Both modes work:
#   make up MODE=local     driftq-local + sidefx-api + sidefx-worker as local processes
#   make up MODE=docker    docker compose (real DriftQ image)
# Default: $SIDEFX_MODE if set (the dev container sets local), else docker when
# `docker compose version` works, else local.
# The side effect: EFFECT=ticket (default: a ticket file) or EFFECT=provider (a charge at the
# payments provider simulator, which then runs as one more service):  make up EFFECT=provider
# Host ports: make up API_PORT=8001 DRIFTQ_PORT=8081 [PROVIDER_PORT=8091]; unset, sidefx takes
# SIDEFX_API_PORT / SIDEFX_DRIFTQ_PORT / SIDEFX_PROVIDER_PORT (e.g. from .env), else 8000/8080/8090.
MODE ?= $(or $(SIDEFX_MODE),$(shell docker compose version >/dev/null 2>&1 && echo docker || echo local))
EFFECT ?= ticket
API_PORT ?=
DRIFTQ_PORT ?=
PROVIDER_PORT ?=
PORT_FLAGS := $(if $(API_PORT),--api-port $(API_PORT)) $(if $(DRIFTQ_PORT),--driftq-port $(DRIFTQ_PORT)) $(if $(PROVIDER_PORT),--provider-port $(PROVIDER_PORT))
SIDEFX := $(CARGO) run -q -p sidefx-cli --
# Where `make demo` keeps its own throwaway stack (free ports, so it never meets `make up`'s).
DEMO_DIR ?= .sidefx/make-demo

ifeq ($(filter $(EFFECT),ticket provider),)
$(error EFFECT must be ticket or provider, not "$(EFFECT)")
endif

# Not -q: the first build takes minutes, and cargo's progress shows it is not stuck.
ifeq ($(MODE),local)
BUILD := $(CARGO) build --workspace --bins
else ifeq ($(MODE),docker)
BUILD := $(CARGO) build -p sidefx-cli
else
$(error MODE must be local or docker, not "$(MODE)")
endif

.PHONY: bins mode up down wipe logs api-logs worker-logs driftq-logs run fail chaos-kill-worker status demo

bins: ## build every binary (sidefx, driftq-local, sidefx-api, sidefx-worker, sidefx-provider)
	@[ -x target/debug/sidefx ] || echo "make: first build: a few minutes (later ones take seconds)"
	$(CARGO) build --workspace --bins

mode:
	@echo "make: MODE=$(MODE) (override with MODE=local or MODE=docker)"
	@[ -x target/debug/sidefx ] || echo "make: first build: a few minutes (later ones take seconds)"
	@$(BUILD)

up: mode ## start the stack in the background and wait until it is healthy (ports: API_PORT=, DRIFTQ_PORT=, PROVIDER_PORT=)
	$(SIDEFX) up --$(MODE) --detached --effect $(EFFECT) $(PORT_FLAGS)

down: mode ## stop the stack
	$(SIDEFX) down --$(MODE)

wipe: mode ## stop the stack and delete the DriftQ WAL, the SQLite store and the tickets (asks first; YES=1 skips the question)
	$(SIDEFX) down --$(MODE) --wipe $(if $(YES),--yes,)

status: mode ## show the stack's processes and health
	$(SIDEFX) status

logs: mode ## follow the logs of every service
	$(SIDEFX) logs --$(MODE) -f

api-logs: mode ## follow the API's logs
	$(SIDEFX) logs --$(MODE) -f api

worker-logs: mode ## follow the worker's logs
	$(SIDEFX) logs --$(MODE) -f worker

driftq-logs: mode ## follow DriftQ's logs
	$(SIDEFX) logs --$(MODE) -f driftq

run: mode ## retry demo: one failure before the side effect, then success (no duplicate)
	$(SIDEFX) demo run

fail: mode ## crash demo: the worker crashes after the side effect, before the ack (no duplicate)
	$(SIDEFX) demo crash

chaos-kill-worker: mode ## SIGKILL the worker by hand (it is restarted)
	$(SIDEFX) chaos kill-worker --$(MODE)

demo: bins ## build, then for each effect (ticket, then provider) start a throwaway local stack, run both demos, check the proof, stop it
	@set -u; failed=""; \
	for effect in ticket provider; do \
	  dir="$(DEMO_DIR)/$$effect"; sidefx="$(SIDEFX) --data-dir $$dir"; \
	  echo "make demo: $$effect mode"; \
	  trap '$$sidefx down >/dev/null 2>&1' EXIT; \
	  $$sidefx down --wipe --yes >/dev/null; \
	  $$sidefx up --local --detached --effect $$effect --api-port 0 --driftq-port 0 --provider-port 0 \
	    && $$sidefx demo run && $$sidefx demo crash; \
	  status=$$?; \
	  $$sidefx down >/dev/null || echo "make demo: could not stop the stack in $$dir" >&2; \
	  if [ $$status -ne 0 ]; then failed="$$failed $$effect"; \
	    echo "make demo: $$effect mode FAILED (exit $$status); logs are in $$dir" >&2; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "make demo: FAILED in:$$failed" >&2; exit 1; fi; \
	echo "make demo: the exactly-once proof held in both demos, in ticket and in provider mode"
