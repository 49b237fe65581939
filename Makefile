# channel-sync task runner. `make run` and `make test` are the two commands that matter.
SHELL := /bin/bash
CARGO ?= cargo
VENV_SAM := .venv-sam/bin
export CHANNEL_SYNC_ADDR ?= 127.0.0.1:3000
export CHANNEL_SYNC_DATA ?= .channel-sync

.PHONY: run test tools lint fmt clippy cfn-lint bench build deploy clean demo lambda-local fuzz


## Run the whole system on one machine, on the embedded store.
run:
	$(CARGO) run -p local --bin channel-sync -- serve

## Install what the tests need (moto, cfn-lint, chromium), lint, then run every test.
test: tools lint
	$(CARGO) test --workspace --all-targets

## Python tools in their own venvs, and the headless browser (idempotent, fast when present).
tools:
	bash scripts/install-tools.sh

lint: fmt cfn-lint clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cfn-lint: tools
	$(VENV_SAM)/cfn-lint infra/template.yaml

## Criterion benchmarks (numbers go in the issue notes, never into test assertions).
bench:
	$(CARGO) bench -p shared --features embedded
	$(CARGO) bench -p local --bench end_to_end

## Lambda artifacts (release, arm64) through SAM and cargo-lambda.
build: tools
	$(VENV_SAM)/sam build

deploy: build
	$(VENV_SAM)/sam deploy

clean:
	rm -rf target .aws-sam

## Crash and chaos, longer runs (not in `make test`, which runs one round of each):
## CHAOS_ROUNDS rounds of SIGKILL mid-burst against a release `serve` (every webhook channel),
## then the Live push under a seeded 429/500/timeout fake for CHAOS_ROUNDS seeds.
CHAOS_ROUNDS ?= 10
CHAOS_ORDERS ?= 20
.PHONY: chaos
chaos:
	$(CARGO) build --release -p local --bin channel-sync
	CHAOS_BIN=$${CARGO_TARGET_DIR:-target}/release/channel-sync $(CARGO) run --release -p local --example chaos -- $(CHAOS_ROUNDS) $(CHAOS_ORDERS) 8
	CHAOS_SEEDS=$(CHAOS_ROUNDS) $(CARGO) test -p shared --features embedded --lib live_push_chaos_many_seeds -- --ignored --nocapture

## The whole product with no store: serve plus simulated Shopify, WooCommerce, Magento, TikTok
## Shop, Etsy, eBay and Veeqo stores on loopback; orders, tracking and stock flow until Ctrl-C
## (issue 18).
demo:
	$(CARGO) run -p local --bin channel-sync -- demo

## Every Lambda function locally: moto with the template's table, queues and secrets, then
## `cargo lambda watch` with each function's variables (see the README, "Invoking the functions
## locally").
lambda-local:
	bash scripts/lambda-local.sh

## Issue 22's simulation at full size: 2,000 connections on moto through the real scheduler
## and jobs handlers (`make test` runs the same test with 100).
.PHONY: scale-sim
scale-sim: tools
	SCALE_CONNECTIONS=2000 $(CARGO) test -p tests --test scale -- --nocapture

## Load (issue 17): release `serve` on a fresh data dir with a fake Shopify, 3,000 signed
## orders of 1, 12 and 50 lines from 32 clients, then a run with a kill -9 mid-burst and a
## restart. Prints accepted/s, p50/p99, end-to-end orders/s, lost and duplicated (exits 1 on
## any loss or duplicate). Not part of `make test`: its figures go in docs/performance.md.
LOAD_ORDERS ?= 3000
LOAD_CLIENTS ?= 32
.PHONY: load
load:
	$(CARGO) build --release -p local --bin channel-sync --example load
	for lines in 1 12 50; do \
	  LOAD_SERVE=target/release/channel-sync LOAD_LINES=$$lines \
	    target/release/examples/load $(LOAD_ORDERS) $(LOAD_CLIENTS) || exit 1; \
	done
	LOAD_SERVE=target/release/channel-sync LOAD_LINES=12 LOAD_KILL=1 \
	  target/release/examples/load $(LOAD_ORDERS) $(LOAD_CLIENTS)

## Fuzzing (issue 15): generated and mutated inputs to every webhook verifier and interpreter,
## every channel response parser and the WMS message parser; no panic, no hang, bounded
## memory. FUZZ_INPUTS per target (default a million each), FUZZ_TARGETS a comma-separated
## filter on target names ("veeqo inventory,etsy"), FUZZ_SEED replays. Veeqo's client-side
## pacing (5 requests/s) is lifted for the run. `make test` runs a small fixed-seed slice of it.
FUZZ_INPUTS ?= 1000000
FUZZ_TARGETS ?=
FUZZ_SEED ?= 15
fuzz:
	CHANNEL_SYNC_FUZZ_INPUTS=$(FUZZ_INPUTS) CHANNEL_SYNC_FUZZ_TARGETS="$(FUZZ_TARGETS)" \
	CHANNEL_SYNC_FUZZ_SEED=$(FUZZ_SEED) VEEQO_RATE_LIMIT=1000/10000 \
	$(CARGO) test -p shared --features embedded --lib channels::contract::fuzz -- --nocapture

## Lambda sizes and init times (issue 17): each function's arm64 release binary and zip
## (cargo-lambda: `pip install cargo-lambda`, `rustup target add aarch64-unknown-linux-gnu`),
## then each function's init time (exec → first runtime-API `next`, median of 7) from the
## host release binaries on a local moto stack. Slow (two release builds); not in `make test`.
FUNCTIONS := webhooks order-import api oauth scheduler jobs tracking-export inventory-push
.PHONY: lambda-size init-time
lambda-size:
	cargo lambda build --release --arm64 $(addprefix -p ,$(FUNCTIONS))
	zips=$$(mktemp -d) && cd $${CARGO_TARGET_DIR:-target}/lambda && for f in $(FUNCTIONS); do \
	  zip -q -j -9 $$zips/$$f.zip $$f/bootstrap; \
	  printf '%-16s %9d bytes  zip %9d bytes\n' $$f $$(stat -c %s $$f/bootstrap) $$(stat -c %s $$zips/$$f.zip); \
	  done; rm -rf $$zips
init-time: tools
	$(CARGO) build --release $(addprefix -p ,$(FUNCTIONS))
	bash scripts/init-time.sh
