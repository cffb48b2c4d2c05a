#!/usr/bin/env bash
# Run the whole test suite (`make test`) on a machine made about three times
# slower for everything that is tested: the test binaries, containerd, the
# shims and the sandboxes. Never by priorities: no process gets a real-time
# class or a nice value, and the shell that runs this keeps working.
#
# Usage: scripts/test-slow.sh
#
# The slow-down is a CPU hog of normal priority in a cgroup of its own with
# SLOW_WEIGHT (default 4) times the default CPU weight (cgroup v1
# cpu.shares 1024 x 4, or v2 cpu.weight 100 x 4): stress-ng, one worker
# per core, with its own --timeout (SLOW_TIMEOUT seconds, default 5400), so
# it ends by itself even if this script is killed. Every other process keeps
# its fair share, which the hog's weight makes about a third of what it had.
# The script ends the hog and removes its cgroup on exit, failure and
# interrupt (a trap), and removes a previous run's leftovers at its start.
#
# Before and after the load starts, and at the end, a calibration program
# is timed: a fixed CPU loop in the shell (the test process's side) and a
# fixed Python loop in a sandbox (`codeexec run`, the sandboxes' side); the
# factors are printed and docs/testing.md shows measured ones. The script
# fails if the load did not make the shell's loop at least 2 times slower.
# The tests' margins are not scaled (CODEEXEC_TEST_TIME_SCALE stays unset):
# the point is that they hold on a slower machine that does not know it is
# slow. The go test timeout per package is raised to 60 min.
# SLOW_CALIBRATE_ONLY=1 stops after the calibration under the load.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=scripts/common.sh
. "${SCRIPT_DIR}/common.sh"

factor=${SLOW_WEIGHT:-4}
limit=${SLOW_TIMEOUT:-5400}
[[ ${factor} =~ ^[1-9][0-9]?$ ]] || die "SLOW_WEIGHT must be a whole number from 1 to 99, got '${factor}'"
[[ ${limit} =~ ^[1-9][0-9]*$ ]] || die "SLOW_TIMEOUT must be a positive number of seconds, got '${limit}'"
require_root
ensure_commands stress-ng:stress-ng nproc:coreutils
namespace=${TEST_NAMESPACE:-codeexec-test}
name=codeexec-slow-hog

# The hog's cgroup: the cpu controller's, v1 (hybrid hosts like these) or v2.
if [[ -f /sys/fs/cgroup/cpu/cpu.shares ]]; then
	cg=/sys/fs/cgroup/cpu/${name} weight_file=cpu.shares weight=$((1024 * factor))
elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	cg=/sys/fs/cgroup/${name} weight_file=cpu.weight weight=$((100 * factor))
	grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
else
	die "no cgroup cpu controller found (neither v1 cpu.shares nor v2 cpu in cgroup.controllers)"
fi

# hog_procs prints the processes in the hog's cgroup (cgroup files have no
# size, so `test -s` cannot tell).
hog_procs() { cat "${cg}/cgroup.procs" 2>/dev/null || true; }

# remove_hog kills whatever runs in the hog's cgroup and removes it.
remove_hog() {
	[[ -d ${cg} ]] || return 0
	local i pid sig=TERM
	# SIGTERM first, so stress-ng reaps its workers; SIGKILL after 2 s.
	for i in $(seq 1 50); do
		[[ -n $(hog_procs) ]] || break
		[[ ${i} -le 20 ]] || sig=KILL
		for pid in $(hog_procs); do kill "-${sig}" "${pid}" 2>/dev/null || true; done
		sleep 0.1
	done
	wait 2>/dev/null || true
	rmdir "${cg}" 2>/dev/null || log "warning: cannot remove ${cg}: $(hog_procs | wc -l) processes still in it"
}

# calibrate_host prints the median wall time, in milliseconds, of five runs
# of a fixed shell loop.
calibrate_host() {
	local i start end
	local -a ms=()
	for i in 1 2 3 4 5; do
		start=$(date +%s%N)
		bash -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'
		end=$(date +%s%N)
		ms+=($(((end - start) / 1000000)))
	done
	printf '%s\n' "${ms[@]}" | sort -n | sed -n 3p
}

# calibrate_sandbox prints the median run time, in milliseconds, of three
# sandboxed runs of a fixed Python loop, as `codeexec run` reports it.
calibrate_sandbox() {
	local i
	local -a ms=()
	for i in 1 2 3; do
		ms+=("$("${REPO_DIR}/bin/codeexec" run --language python --namespace "${namespace}" --run-timeout 10s \
			--state-dir "${CODEEXEC_LIB_DIR}/cli" "${calib}" 2>&1 </dev/null | sed -n 's/^codeexec: success (exit code 0, \([0-9]*\) ms)$/\1/p')")
	done
	printf '%s\n' "${ms[@]}" | sort -n | sed -n 2p
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

remove_hog
calib="$(mktemp --suffix=.py)"
stop() {
	remove_hog
	rm -f "${calib}"
}
trap stop EXIT
trap 'exit 130' INT TERM
printf 'n = 0\nfor i in range(2000000):\n    n += i\nprint(n)\n' >"${calib}"

log "set-up and build, before the load"
make --no-print-directory -C "${REPO_DIR}" setup build >/dev/null
set -a && . "${CODEEXEC_ENV_FILE:-${CODEEXEC_RUN_DIR}/env}" && set +a

host_before=$(calibrate_host)
sandbox_before=$(calibrate_sandbox)
[[ -n ${sandbox_before} ]] || die "the calibration program did not run in a sandbox (codeexec run)"
log "calibration without the load: shell loop ${host_before} ms, sandboxed python loop ${sandbox_before} ms (medians)"

cores="$(nproc)"
mkdir "${cg}"
echo "${weight}" >"${cg}/${weight_file}"
log "load: stress-ng --cpu ${cores} --timeout ${limit}s at normal priority in ${cg} (${weight_file} ${weight})"
(
	# Into the cgroup first, then exec: nothing of the hog runs outside it.
	echo "${BASHPID}" >"${cg}/cgroup.procs"
	exec stress-ng --cpu "${cores}" --timeout "${limit}s" --quiet
) &
sleep 1
[[ -n $(hog_procs) ]] || die "stress-ng did not start"

host_after=$(calibrate_host)
sandbox_after=$(calibrate_sandbox)
log "calibration under the load: shell loop ${host_after} ms ($(ratio "${host_after}" "${host_before}")x), sandboxed python loop ${sandbox_after} ms ($(ratio "${sandbox_after}" "${sandbox_before}")x)"
awk -v a="${host_after}" -v b="${host_before}" 'BEGIN { exit !(a >= 2 * b) }' ||
	die "the load made the shell loop only $(ratio "${host_after}" "${host_before}") times slower, want at least 2"

if [[ ${SLOW_CALIBRATE_ONLY:-0} == 1 ]]; then
	log "SLOW_CALIBRATE_ONLY=1: no make test"
	exit 0
fi

start=${SECONDS}
log "make test under the load"
if make --no-print-directory -C "${REPO_DIR}" test GO_TEST_FLAGS='-count=1 -timeout 60m -p 1'; then
	result=pass
else
	result=FAIL
fi
host_end=$(calibrate_host)
sandbox_end=$(calibrate_sandbox)
log "make test under the load: ${result} in $((SECONDS - start))s; calibration at the end: shell loop $(ratio "${host_end}" "${host_before}")x, sandboxed python loop $(ratio "${sandbox_end}" "${sandbox_before}")x"
[[ ${result} == pass ]]
