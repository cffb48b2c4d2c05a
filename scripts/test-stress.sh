#!/usr/bin/env bash
# Run the whole test suite (`make test`) while a background load keeps every
# core busy, to find tests that depend on an idle or a fast machine.
#
# Usage: scripts/test-stress.sh [RUNS]
#   RUNS   how many `make test` runs in a row under the load (default 1)
#
# The load is stress-ng (installed from Debian when missing) with one CPU
# worker per core at normal priority, for as long as the runs last (at most
# STRESS_TIMEOUT seconds, default an hour a run); it is
# stopped on exit, also on failure or interrupt. Each run's result and
# duration is printed as it ends; the script fails if any run failed.
# Extra make arguments come from STRESS_MAKE_FLAGS.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=scripts/common.sh
. "${SCRIPT_DIR}/common.sh"

runs=${1:-1}
[[ ${runs} =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '${runs}'"
require_root
ensure_commands stress-ng:stress-ng nproc:coreutils

cores="$(nproc)"
log "load: stress-ng --cpu ${cores} (one busy worker per core, normal priority)"
# Its own time limit (an hour a run by default), so that it ends even if
# this script is killed before its trap runs.
stress-ng --cpu "${cores}" --timeout "${STRESS_TIMEOUT:-$((runs * 3600))}s" --quiet &
load_pid=$!
stop_load() {
	kill -TERM "${load_pid}" 2>/dev/null || true
	wait "${load_pid}" 2>/dev/null || true
}
trap stop_load EXIT

failed=0
for i in $(seq 1 "${runs}"); do
	start=${SECONDS}
	log "run ${i}/${runs}: make test (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	# shellcheck disable=SC2086 # STRESS_MAKE_FLAGS is a list of words
	if make --no-print-directory -C "${REPO_DIR}" test ${STRESS_MAKE_FLAGS:-}; then
		result=pass
	else
		result=FAIL
		failed=$((failed + 1))
	fi
	log "run ${i}/${runs}: ${result} in $((SECONDS - start))s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
done
[[ ${failed} -eq 0 ]] || die "${failed} of ${runs} runs under load failed"
log "all ${runs} runs under load passed"
