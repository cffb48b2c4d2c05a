# codeexec: run untrusted Python and C++ in containerd sandboxes.
#
# The containerd socket: `scripts/setup.sh` (run by setup, run and test) finds
# or starts containerd and writes the effective socket as the line
# CODEEXEC_CONTAINERD_SOCKET=<path> to $(ENV_FILE), with
# CODEEXEC_CONTAINERD_BIN=<dir>, where the pinned containerd's commands are. The recipes that need it
# source that file, so the service and the tests get CODEEXEC_CONTAINERD_SOCKET
# in their environment. Set CODEEXEC_CONTAINERD_SOCKET yourself to insist on a
# particular containerd (setup then fails if none answers there).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Go may live in /usr/local/go/bin without being on a non-login shell's PATH.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := /usr/local/go/bin:$(PATH)
endif

GO ?= go
CC ?= cc
BIN := bin/codeexec
# The lane agent, the init of a judge lane's sandbox: C, static, next to the
# service binary, where the service looks for it (--lane-agent).
LANE := bin/codeexec-lane
# The shim wrapper, named to containerd as the runtime (--shim-wrapper): Go,
# static, next to the service binary.
SHIM := bin/codeexec-shim
ENV_FILE ?= /run/codeexec/env
export CODEEXEC_ENV_FILE := $(ENV_FILE)
TEST_NAMESPACE ?= codeexec-test
# -p 1: integration tests of different packages share the test namespace, and
# their leak checks (cgroups, uid 10001 processes) would see each other.
GO_TEST_FLAGS ?= -count=1 -timeout 20m -p 1
# Extra flags for scripts/images.sh and scripts/setup.sh, e.g. IMAGES_FLAGS=--force.
IMAGES_FLAGS ?=
# How many `make test` runs test-stress does in a row under load.
STRESS_RUNS ?= 1
# Extra flags for `codeexec bench`, e.g. BENCH_FLAGS='--runs 200 --programs python-hello'.
BENCH_FLAGS ?=

# Loads the effective socket into the recipe's shell (exported), with the
# pinned containerd's commands first on PATH (the restart tests run it).
load_env = set -a && . $(ENV_FILE) && set +a && export PATH="$${CODEEXEC_CONTAINERD_BIN:+$$CODEEXEC_CONTAINERD_BIN:}$$PATH"

# A real NATS server (the module go.mod pins) for the fleet's chaos test.
NATS_SERVER := bin/nats-server

.PHONY: help build $(SHIM) $(NATS_SERVER) setup images run test test-stress test-slow test-cgroup2 test-chaos bench clean stop-containerd

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z0-9-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: $(LANE) $(SHIM) ## Build bin/codeexec, bin/codeexec-lane and bin/codeexec-shim
	$(GO) build -o $(BIN) ./cmd/codeexec

# Static (no cgo): containerd runs it, in whatever root it runs in. The
# flags match internal/shimwrap/shimwraptest's, which builds it for tests
# run without make.
$(SHIM):
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/codeexec-shim

# The flags match internal/laneagent/agenttest's, which builds it for tests
# run without make.
$(LANE): sandbox/lane/lane.c
	mkdir -p bin
	$(CC) -O2 -static -Wall -Wextra -o $@ $<

# The namespaces setup imports the images into: both for the tests, only the
# service's for `make run` (a first start imports each image once).
SETUP_NAMESPACES ?= codeexec $(TEST_NAMESPACE)
run: SETUP_NAMESPACES = codeexec
# make run: Python's image first, then the service starts while the other
# images build in the background; it serves each language once its image
# is imported (--image-watch).
run: IMAGES_FLAGS += --background-after python
# When this make started: the set-up's progress lines count from here.
ifndef CODEEXEC_SETUP_START
CODEEXEC_SETUP_START := $(shell date +%s)
endif
export CODEEXEC_SETUP_START

setup: ## Install packages, find/start containerd, build+import images (namespaces codeexec, codeexec-test; codeexec only for make run)
	scripts/setup.sh $(foreach ns,$(SETUP_NAMESPACES),--namespace $(ns)) $(IMAGES_FLAGS) >/dev/null

images: ## Build and import the sandbox images only (LANGUAGES=python,cpp for some; IMAGES_FLAGS=--force to rebuild)
	scripts/images.sh --namespace codeexec --namespace $(TEST_NAMESPACE) $(IMAGES_FLAGS)

run: setup build ## Set up, build, then serve on :3000 (a first start serves Python first, each other language once its image is built)
	@s=$$(($$(date +%s) - $(CODEEXEC_SETUP_START))); printf 'make run: [%d:%02d] starting the service\n' $$((s / 60)) $$((s % 60)) >&2
	$(load_env) && exec ./$(BIN) serve

test: setup $(LANE) $(SHIM) ## Set up, then go vet and go test (integration tests required), then check that nothing is left behind
	$(load_env) && \
	export CODEEXEC_TEST_NAMESPACE=$(TEST_NAMESPACE) CODEEXEC_REQUIRE_INTEGRATION=1 CODEEXEC_LANE_AGENT=$(CURDIR)/$(LANE) CODEEXEC_SHIM_WRAPPER=$(CURDIR)/$(SHIM) && \
	export CODEEXEC_PISTON_CLIENT=$$(scripts/clients.sh) && \
	$(GO) vet ./... && \
	status=0 && \
	{ $(GO) test $(GO_TEST_FLAGS) ./... && \
	  echo "make test: the attack suite again with runc (the first pass used the runtime the service chose)" >&2 && \
	  CODEEXEC_OCI_RUNTIME=runc $(GO) test $(GO_TEST_FLAGS) -run 'TestAttack|TestBatch|TestOCIRuntime' ./internal/runner; } || status=$$? && \
	echo "make test: nothing may be left in namespace $(TEST_NAMESPACE), passing or failing (codeexec leftovers)" >&2 && \
	{ $(GO) run ./cmd/codeexec leftovers --namespace $(TEST_NAMESPACE) || status=1; } && \
	exit $$status

test-chaos: setup $(LANE) $(SHIM) $(NATS_SERVER) ## A 3-server NATS cluster, 3 service instances (namespaces codeexec-chaos-1..3), 500 submissions, a service and a NATS server killed mid-way (docs/fleet.md; ~5 min)
	$(load_env) && \
	export CODEEXEC_TEST_NAMESPACE=$(TEST_NAMESPACE) CODEEXEC_REQUIRE_INTEGRATION=1 CODEEXEC_LANE_AGENT=$(CURDIR)/$(LANE) CODEEXEC_SHIM_WRAPPER=$(CURDIR)/$(SHIM) \
	  CODEEXEC_CHAOS=1 CODEEXEC_NATS_SERVER=$(CURDIR)/$(NATS_SERVER) && \
	status=0 && \
	scripts/images.sh --languages python,cpp --namespace codeexec-chaos-1 --namespace codeexec-chaos-2 --namespace codeexec-chaos-3 >/dev/null && \
	{ $(GO) test -count=1 -timeout 40m -v -run 'TestChaosFleetLosesNothing' ./cmd/codeexec || status=$$?; } && \
	for ns in codeexec-chaos-1 codeexec-chaos-2 codeexec-chaos-3; do \
	  $(GO) run ./cmd/codeexec leftovers --namespace $$ns || status=1; \
	done && \
	exit $$status

$(NATS_SERVER):
	mkdir -p bin
	$(GO) build -o $@ github.com/nats-io/nats-server/v2

test-stress: ## Run `make test` under a load that keeps every core busy (STRESS_RUNS=3 for three runs)
	scripts/test-stress.sh $(STRESS_RUNS)

test-slow: ## Run `make test` on a machine made about 3x slower: a normal-priority CPU hog in a cgroup of 4x weight, with its own timeout (docs/testing.md)
	scripts/test-slow.sh

test-cgroup2: setup ## Run the cgroup-dependent integration tests in a pure cgroup v2 guest under qemu (slow; results in cgroup2-results/)
	$(load_env) && scripts/test-cgroup2.sh

bench: setup build ## Set up (with the baseline stack, containerd 1.6 + runc), build, then measure side by side into bench-results/ (docs/benchmark.md)
	scripts/images.sh --baseline --namespace codeexec $(IMAGES_FLAGS)
	$(load_env) && export CODEEXEC_BASELINE_SOCKET=$$(scripts/containerd.sh baseline 2>/dev/null | sed -n 's/^CODEEXEC_CONTAINERD_SOCKET=//p') && \
	./$(BIN) bench --out bench-results $(BENCH_FLAGS)

clean: ## Remove build output
	rm -rf bin

stop-containerd: ## Stop the private containerds (the service's and the benchmark's baseline), if this project started them
	scripts/containerd.sh stop
