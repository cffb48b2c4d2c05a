#!/usr/bin/env bash
# Run the project's cgroup-dependent integration tests on a pure cgroup v2
# kernel: in a throwaway guest under qemu's software emulation
# (scripts/cgroup2-vm.sh), against the project's private containerd, once
# with crun and once with runc. `make test-cgroup2` calls it after
# `make setup` (which builds the pinned containerd and the image archives).
#
# Usage: scripts/test-cgroup2.sh [RESULTS_DIR]
#   RESULTS_DIR  where the guest's logs and the test output are copied
#                (default: cgroup2-results/ in the repository)
#
# Environment:
#   CODEEXEC_CGROUP2_TIMEOUT     seconds before the guest is killed (default 3600)
#   CODEEXEC_TEST_TIME_SCALE     margins and waits of the tests, times this
#                                (default 40 here: emulation starts a process
#                                about fifty times slower than these machines)
#   CODEEXEC_CGROUP2_TESTS       override the runner tests' -test.run pattern
#
# What runs in the guest (cgroup2fs the only cgroup mount, every controller
# enabled): the pinned containerd with a fresh root, the python and cpp
# images imported from their archives, then, each with crun and with runc
# (CODEEXEC_OCI_RUNTIME): the runner's sandbox lifecycle with its leak
# checks, resource figures (CPU time, memory peak, OOM, pids), the kill of a
# cgroup (cgroup.kill), the cgroup attack classes (fork bombs, memory bombs,
# tmpfs memory, CPU), the judge's lanes with their per-test figures, and
# the exit statuses on a kernel older than 6.15 (containerd's, no pidfd's);
# and once, the service's recovery when containerd stops mid-run (its runs
# killed through their cgroups). The test binaries are built here with
# `go test -c`. The host changes nothing but its own cache and RESULTS_DIR;
# the guest and every process it ran end with it.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=scripts/containerd.sh
. "${SCRIPT_DIR}/containerd.sh"

# The runner tests that depend on cgroups. Each name is a top-level test of
# internal/runner.
RUNNER_TESTS=(
	TestRunPrograms TestLimits TestRunErrors TestLeakDetectorSeesALiveSandbox
	TestAttackForkBomb TestAttackConcurrentForkBombs TestAttackMemoryBomb TestAttackTmpfsMemory TestAttackCPU
	TestBatch TestBatchRunsSeeNothingOfEarlierRuns TestOCIRuntimeRunsTheSandboxes
	TestExitFromTheKernel
)
# Package sandbox's own: a pidfd's exit on a kernel older than 6.15.
SANDBOX_TESTS=(TestWatchExit)
# Package cgroups' own, on the guest's real hierarchy.
CGROUPS_TESTS=(TestReadCgroupStats TestKillCgroup TestPeakMeterOwn)
# The service's: containerd stopped under running requests.
CMD_TESTS=(TestContainerdRestartServiceRecovers)

results=${1:-${REPO_DIR}/cgroup2-results}
timeout=${CODEEXEC_CGROUP2_TIMEOUT:-3600}
scale=${CODEEXEC_TEST_TIME_SCALE:-40}
runner_tests=${CODEEXEC_CGROUP2_TESTS:-^($(
	IFS='|'
	echo "${RUNNER_TESTS[*]}"
))\$}
cmd_tests="^($(
	IFS='|'
	echo "${CMD_TESTS[*]}"
))\$"
sandbox_tests="^($(
	IFS='|'
	echo "${SANDBOX_TESTS[*]}"
))\$"
cgroups_tests="^($(
	IFS='|'
	echo "${CGROUPS_TESTS[*]}"
))\$"

require_root
ensure_go
[[ -f ${CODEEXEC_ENV_FILE} ]] || die "no ${CODEEXEC_ENV_FILE}: run \`make setup\` first"
# shellcheck disable=SC1090 # written by scripts/containerd.sh
. "${CODEEXEC_ENV_FILE}"
bin=${CODEEXEC_CONTAINERD_BIN:-}
[[ -x ${bin}/containerd && -x ${bin}/containerd-shim-runc-v2 && -x ${bin}/ctr ]] ||
	die "no pinned containerd in '${bin}': run \`make setup\` first"
for lang in python cpp; do
	[[ -s ${CODEEXEC_CACHE_DIR}/images/${lang}.tar ]] || die "no ${lang} image archive: run \`make setup\` first"
done

work="$(mktemp -d "${CODEEXEC_CACHE_DIR}/cgroup2-run.XXXXXX")"
trap 'rm -rf -- "${work}"' EXIT
mkdir -p "${work}/bin" "${work}/images" "${work}/results"
cp "${bin}/containerd" "${bin}/containerd-shim-runc-v2" "${bin}/ctr" "${work}/bin/"
cp "${CODEEXEC_CACHE_DIR}/images/python.tar" "${CODEEXEC_CACHE_DIR}/images/cpp.tar" "${work}/images/"
log "building the test binaries"
(cd "${REPO_DIR}" && go test -c -o "${work}/bin/runner.test" ./internal/runner &&
	go test -c -o "${work}/bin/cgroups.test" ./internal/runner/cgroups &&
	go test -c -o "${work}/bin/sandbox.test" ./internal/runner/sandbox &&
	go test -c -o "${work}/bin/codeexec.test" ./cmd/codeexec &&
	make --no-print-directory bin/codeexec-lane bin/codeexec-shim >/dev/null &&
	cp bin/codeexec-lane bin/codeexec-shim "${work}/bin/")

containerd_config /var/lib/codeexec/containerd /run/codeexec/containerd/state \
	/run/codeexec/containerd/containerd.sock >"${work}/containerd.toml"

# The guest's script: /work is ${work}.
cat >"${work}/guest.sh" <<EOF
#!/bin/bash
set -uo pipefail
export PATH=/work/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export CODEEXEC_TEST_TIME_SCALE=${scale}
runner_tests='${runner_tests}'
cmd_tests='${cmd_tests}'
cgroups_tests='${cgroups_tests}'
sandbox_tests='${sandbox_tests}'
EOF
cat >>"${work}/guest.sh" <<'EOF'
say() { printf 'guest: %s\n' "$*"; }
say "kernel $(uname -r); cgroup mounts: $(grep -c ' cgroup ' /proc/mounts) v1, $(grep -c ' cgroup2 ' /proc/mounts) v2; controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
[[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || { say "/sys/fs/cgroup is not cgroup2"; exit 2; }
grep -q ' cgroup ' /proc/mounts && { say "a cgroup v1 hierarchy is mounted"; exit 2; }

# The test binaries expect the image archives where scripts/images.sh
# keeps them.
mkdir -p /var/cache/codeexec
ln -sfn /work/images /var/cache/codeexec/images

# The private containerd, configured as scripts/containerd.sh does.
mkdir -p /run/codeexec/containerd /var/lib/codeexec/containerd
sock=/run/codeexec/containerd/containerd.sock
containerd --config /work/containerd.toml >/work/results/containerd.log 2>&1 &
for _ in $(seq 600); do
	ctr --address "${sock}" version >/dev/null 2>&1 && break
	sleep 0.5
done
ctr --address "${sock}" version >/dev/null 2>&1 || { say "containerd did not answer"; exit 2; }
say "containerd up: $(ctr --address "${sock}" version | grep -m1 Version)"
for lang in python cpp; do
	start=${SECONDS}
	ctr --address "${sock}" -n codeexec-test images import --base-name "localhost/codeexec/${lang}" \
		"/work/images/${lang}.tar" >/dev/null || { say "import ${lang} failed"; exit 2; }
	say "imported ${lang} in $((SECONDS - start)) s"
done

export CODEEXEC_CONTAINERD_SOCKET="${sock}" CODEEXEC_TEST_NAMESPACE=codeexec-test CODEEXEC_REQUIRE_INTEGRATION=1 \
	CODEEXEC_LANE_AGENT=/work/bin/codeexec-lane CODEEXEC_SHIM_WRAPPER=/work/bin/codeexec-shim
failed=0
run() { # NAME COMMAND...: run a test binary, its output to /work/results/NAME.log
	local name=$1 start=${SECONDS}
	shift
	say "${name}: $*"
	if (cd /tmp && "$@") >"/work/results/${name}.log" 2>&1; then
		say "${name}: pass in $((SECONDS - start)) s"
	else
		say "${name}: FAIL in $((SECONDS - start)) s"
		failed=$((failed + 1))
	fi
	grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|ok|FAIL|PASS)' "/work/results/${name}.log" | grep -v '=== RUN' | sed 's/^/  /'
}
run cgroups cgroups.test -test.v -test.count=1 -test.timeout=10m -test.run "${cgroups_tests}"
run sandbox sandbox.test -test.v -test.count=1 -test.timeout=10m -test.run "${sandbox_tests}"
run runner-crun env CODEEXEC_OCI_RUNTIME=crun runner.test -test.v -test.count=1 -test.timeout=50m -test.run "${runner_tests}"
run runner-runc env CODEEXEC_OCI_RUNTIME=runc runner.test -test.v -test.count=1 -test.timeout=50m -test.run "${runner_tests}"
run service codeexec.test -test.v -test.count=1 -test.timeout=30m -test.run "${cmd_tests}"
say "${failed} test binaries failed"
[[ ${failed} -eq 0 ]]
EOF
chmod 0755 "${work}/guest.sh"

start=${SECONDS}
log "booting the cgroup v2 guest (qemu, software emulation; time scale ${scale}; timeout ${timeout} s)"
status=0
"${SCRIPT_DIR}/cgroup2-vm.sh" run "${work}" "${timeout}" || status=$?
rm -rf -- "${results}"
mkdir -p "${results}"
cp -a "${work}/results/." "${results}/"
[[ -f ${work}/console.log ]] && cp "${work}/console.log" "${results}/"
log "guest ended with status ${status} after $((SECONDS - start)) s; results in ${results}"
grep -h '^guest: ' "${results}/console.log" 2>/dev/null | sed 's/\r$//' >&2 || true
[[ ${status} -eq 0 ]] || die "tests on cgroup v2 failed (status ${status}); see ${results}"
log "tests on cgroup v2 passed"
