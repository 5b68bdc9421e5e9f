# controlhub-operator — entry points. `make help` lists them.
#
# Everything a fresh machine needs is installed by these targets: Rust crates (cargo), the
# Kubernetes test binaries (built from the Go module proxy, cached in ~/.cache/controlhub-operator),
# and the Python SDK used by the conformance tests (a virtualenv in .venv).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
DEV_DIR := target/dev

.PHONY: help tools venv build build-release image lint fmt crds test test-rust test-strict test-sdk test-full demo dev-up dev-down bench bench-operator bench-charts clean-dev

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

tools: ## Build (or find cached) etcd, kube-apiserver, kube-controller-manager, kubectl, helm
	@scripts/k8s-tools.sh >/dev/null

venv: ## Create .venv with the official StreamSets SDK for the conformance tests
	@bash scripts/python-venv.sh

build: ## Build the operator, the emulator and the dev tool
	$(CARGO) build --workspace --bins

build-release:
	$(CARGO) build --release --workspace --bins

# The image: a statically linked glibc build (rustls, no OpenSSL; RUSTFLAGS apply to the target
# only, not to build scripts, because --target is given) in an OCI image archive written by
# scripts/image.py — no Docker. Push it with
#   skopeo copy oci-archive:target/image/controlhub-operator.oci.tar docker://REGISTRY/controlhub-operator:TAG
IMAGE_TARGET := x86_64-unknown-linux-gnu
IMAGE_BINARY := target/$(IMAGE_TARGET)/release/controlhub-operator
IMAGE_ARCHIVE := target/image/controlhub-operator.oci.tar
IMAGE_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
IMAGE_SOURCE ?= $(shell git config --get remote.origin.url 2>/dev/null || echo https://example.invalid/controlhub-operator)

image: ## OCI image archive of the static operator binary (target/image/controlhub-operator.oci.tar)
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release --locked --target $(IMAGE_TARGET) -p controlhub-operator --bin controlhub-operator
	python3 scripts/image.py --binary $(IMAGE_BINARY) --version $(IMAGE_VERSION) --source $(IMAGE_SOURCE) \
		--revision "$$(git rev-parse HEAD 2>/dev/null || true)" --out $(IMAGE_ARCHIVE)

fmt: ## Format the Rust code
	$(CARGO) fmt --all

lint: ## rustfmt check and clippy (warnings are errors)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

crds: ## Regenerate crds/ and the chart's CRDs from the Rust types
	UPDATE_CRDS=1 $(CARGO) test --test crds_up_to_date

test: tools venv lint build test-rust test-sdk ## The whole test suite
	@echo "make test: all suites passed"

test-rust: build
	K8S_BIN_DIR="$$(scripts/k8s-tools.sh --dir)" $(CARGO) test --workspace --no-fail-fast

# The stories that must hold under every profile: service accounts, rotation, quota, drift,
# deletion, lifecycle, time, Secrets, and the strict selection itself.
STRICT_MODULES := service_accounts:: rotation:: quota:: drift:: deletion:: lifecycle:: time:: secrets:: strict::

test-strict: build ## e2e stories against the strict emulator profile
	E2E_EMULATOR_PROFILE=strict K8S_BIN_DIR="$$(scripts/k8s-tools.sh --dir)" $(CARGO) test --test e2e --no-fail-fast -- $(STRICT_MODULES)

test-full: tools build ## Fault, kill and restart suites at full size (E2E_SIZE=full; E2E_SEED=<seed> replays kills)
	E2E_SIZE=full K8S_BIN_DIR="$$(scripts/k8s-tools.sh --dir)" $(CARGO) test --test e2e -- faults:: kills:: restarts:: --nocapture
	E2E_SIZE=full K8S_BIN_DIR="$$(scripts/k8s-tools.sh --dir)" $(CARGO) test --test restarts -- --nocapture

test-sdk: build venv
	CONTROLHUB_EMULATOR_BIN="$(CURDIR)/target/debug/controlhub-emulator" .venv/bin/python -m pytest -q tests/sdk

demo: tools build ## Run the operator end to end on a local control plane and the emulator
	K8S_BIN_DIR="$$(scripts/k8s-tools.sh --dir)" target/debug/controlhub-dev demo

dev-up: tools build ## Start control plane + emulator + operator in the background (see target/dev/env)
	@scripts/dev.sh up

dev-down: ## Stop what dev-up started
	@scripts/dev.sh down

bench: tools build-release ## Benchmarks (programs that print figures)
	$(CARGO) bench --bench controlhub

bench-operator: tools venv ## Operator benchmark (BENCH_SCENARIOS, BENCH_CURVE, ...; see benches/operator/main.rs)
	$(CARGO) build --release -p controlhub-operator -p controlhub-emulator
	K8S_BIN_DIR="$$(scripts/k8s-tools.sh --dir)" $(CARGO) bench --bench operator

bench-charts: ## Draw docs/bench/*.svg from target/bench/*.json (BENCH_JSON_FILES to choose)
	python3 scripts/bench-charts.py --out docs/bench $(or $(BENCH_JSON_FILES),$(wildcard target/bench/*.json))
