# sidefx — developer tasks. `make help` lists them.
SHELL := /usr/bin/env bash
CARGO ?= cargo

.PHONY: help test fmt lint conformance bench-driftq

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

test: ## build every binary, then run every test of the workspace
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

fmt: ## format the code
	$(CARGO) fmt --all

lint: ## formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench-driftq: ## driftq-local produce→consume→ack throughput
	$(CARGO) bench -p driftq-local --bench throughput
