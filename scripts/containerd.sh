#!/usr/bin/env bash
# Find or start the containerd that codeexec uses.
#
# Run it:    scripts/containerd.sh [ensure|baseline|stop|status]
# Source it: . scripts/containerd.sh; containerd_ensure
#
# The socket is ${CODEEXEC_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}.
# ensure:
#   - if a containerd answers on that socket, use it;
#   - else, when CODEEXEC_CONTAINERD_SOCKET was not set (or names the private
#     socket below), use or start a PRIVATE containerd: the containerd 2.x
#     that go.mod pins (its commands are go.mod tools, so go.sum checks
#     their source), built once into ${CODEEXEC_CACHE_DIR}/containerd-VERSION,
#     run as a plain background daemon (no systemd) with its own socket,
#     root, state and a generated config that disables the CRI plugins (so
#     no CNI is needed). A private daemon of another version (an older
#     checkout's) is stopped and replaced;
#   - else fail: an explicitly chosen socket that does not answer is an error.
#   Either way the pinned containerd is built (the restart tests and the
#   benchmark run it), and crun is made to work (ensure_crun).
#   The effective socket is exported as CODEEXEC_CONTAINERD_SOCKET and written,
#   as the shell-sourceable line CODEEXEC_CONTAINERD_SOCKET=<path>, to
#   ${CODEEXEC_ENV_FILE:-/run/codeexec/env}, with the line
#   CODEEXEC_CONTAINERD_BIN=<dir> naming the pinned containerd's commands.
#   When run (not sourced), ensure also prints the socket line on stdout;
#   all progress goes to stderr.
# baseline: find or start the benchmark's baseline stack, Debian's
#         containerd 1.6 with runc, as a second private daemon, and print
#         its socket line (the env file is left alone).
# stop:   stop the private containerds if this project started them (pid files).
#         Running containers' shims stay up, as with any containerd restart.
# status: say which containerd answers; exit 1 if none.

# shellcheck source=scripts/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"

CODEEXEC_DEFAULT_SOCKET=/run/containerd/containerd.sock
CODEEXEC_ENV_FILE="${CODEEXEC_ENV_FILE:-${CODEEXEC_RUN_DIR}/env}"
PRIVATE_DIR="${CODEEXEC_RUN_DIR}/containerd"
PRIVATE_SOCKET="${PRIVATE_DIR}/containerd.sock"
PRIVATE_STATE="${PRIVATE_DIR}/state"
PRIVATE_ROOT="${CODEEXEC_LIB_DIR}/containerd"
PRIVATE_CONFIG="${PRIVATE_DIR}/config.toml"
PRIVATE_PIDFILE="${PRIVATE_DIR}/containerd.pid"
PRIVATE_LOG="${PRIVATE_STATE}/containerd.log"
PRIVATE_START_TIMEOUT="${CODEEXEC_CONTAINERD_START_TIMEOUT:-20}"
# Read-only bind mounts of the OCI runtimes, first on the private
# containerd's PATH (ensure_readonly_runtimes).
RUNTIME_BIN="${CODEEXEC_RUN_DIR}/runtime-bin"
CODEEXEC_REPO_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
CONTAINERD_MODULE=github.com/containerd/containerd/v2
# Build tags that drop what this project's containerd never loads: the
# snapshotters needing C libraries (as containerd's own static builds do),
# the Kubernetes CRI plugins (the config disables them; they are half of
# the build, Kubernetes' client libraries included) and the OpenTelemetry
# exporters. On 2 cores that cuts the first start's build by about a
# third.
CONTAINERD_BUILD_TAGS="no_btrfs no_devmapper no_zfs no_cri no_tracing"

# containerd_answers SOCKET: true when a containerd serves its API there.
containerd_answers() {
	[[ -S $1 ]] && timeout 5 ctr --address "$1" version >/dev/null 2>&1
}

# server_version SOCKET: the version the containerd on SOCKET reports.
server_version() {
	timeout 5 ctr --address "$1" version 2>/dev/null |
		awk '/^Server:/ { s = 1 } s && $1 == "Version:" { print $2; exit }'
}

# pinned_version: the containerd version go.mod pins.
pinned_version() {
	(cd "${CODEEXEC_REPO_DIR}" && go list -m -f '{{.Version}}' "${CONTAINERD_MODULE}")
}

# pinned_built: true when PINNED_BIN holds all three commands (the build
# moves them into place together).
pinned_built() {
	[[ -x ${PINNED_BIN}/containerd && -x ${PINNED_BIN}/containerd-shim-runc-v2 && -x ${PINNED_BIN}/ctr ]]
}

# ensure_pinned_containerd: build the pinned containerd, its runc shim and
# ctr once, and put them first on PATH (the daemon finds its shim there).
# Sets PINNED_BIN and PINNED_VERSION.
ensure_pinned_containerd() {
	ensure_go
	PINNED_VERSION="$(pinned_version)" || die "cannot read the pinned containerd version from go.mod"
	PINNED_BIN="${CODEEXEC_CACHE_DIR}/containerd-${PINNED_VERSION}/bin"
	if ! pinned_built; then
		mkdir -p "${CODEEXEC_CACHE_DIR}"
		exec 9>"${CODEEXEC_CACHE_DIR}/containerd-build.lock"
		flock 9
		# Another set-up may have built it while this one waited.
		if ! pinned_built; then
			local tmp start=${SECONDS}
			tmp="$(mktemp -d "${CODEEXEC_CACHE_DIR}/containerd-build.XXXXXX")"
			log "building containerd ${PINNED_VERSION} (go.mod's tools) into ${PINNED_BIN}: about 2 min on 2 cores, once"
			# The service (./cmd/codeexec) is built in the same go build
			# and thrown away: the packages both use (gRPC, protobuf,
			# containerd's API and client) are compiled once, and the Go
			# build cache then holds all of the service's packages, so a
			# first start's make build only links it. (Naming its
			# packages instead does nothing: with -o DIR, go build skips
			# every package that is not a command. Build tags are not part
			# of a package's cache key; the files they select are.)
			# -s -w: no symbol table or DWARF (a panic's stack trace keeps
			# its names), a third less of each link's work.
			if ! (cd "${CODEEXEC_REPO_DIR}" && CGO_ENABLED=1 go build -tags "${CONTAINERD_BUILD_TAGS}" -ldflags "-s -w -X ${CONTAINERD_MODULE}/version.Version=${PINNED_VERSION}" -o "${tmp}/" \
				"${CONTAINERD_MODULE}/cmd/containerd" \
				"${CONTAINERD_MODULE}/cmd/containerd-shim-runc-v2" \
				"${CONTAINERD_MODULE}/cmd/ctr" \
				./cmd/codeexec) >&2; then
				rm -rf "${tmp}"
				die "building containerd ${PINNED_VERSION} (with the service, to share the compile) failed"
			fi
			rm -f "${tmp}/codeexec"
			rm -rf "${PINNED_BIN}"
			mkdir -p "$(dirname -- "${PINNED_BIN}")"
			mv "${tmp}" "${PINNED_BIN}"
			log "built containerd ${PINNED_VERSION} in $((SECONDS - start))s"
		fi
		exec 9>&-
	fi
	case ":${PATH}:" in
	*":${PINNED_BIN}:"*) ;;
	*) PATH="${PINNED_BIN}:${PATH}" ;;
	esac
	export PATH
}

# prefetch_modules: when the pinned containerd is not built yet (a first
# start), download the Go modules its build and the service's need (about
# 150; 15 s here), without building anything. setup.sh runs it in the
# background while the Debian packages install, so the build that follows
# finds them in the module cache. Does nothing without Go on PATH.
prefetch_modules() {
	local built
	for built in "${CODEEXEC_CACHE_DIR}"/containerd-*/bin/containerd; do
		[[ -x ${built} ]] && return 0
	done
	command -v go >/dev/null 2>&1 || return 0
	(cd "${CODEEXEC_REPO_DIR}" && go list -deps -tags "${CONTAINERD_BUILD_TAGS}" \
		"${CONTAINERD_MODULE}/cmd/containerd" \
		"${CONTAINERD_MODULE}/cmd/containerd-shim-runc-v2" \
		"${CONTAINERD_MODULE}/cmd/ctr" \
		./cmd/codeexec) >/dev/null 2>&1 || true
}

# The pid of the private containerd if it is alive, else nothing (and the
# stale pid file is removed).
private_pid() {
	local pid
	[[ -f ${PRIVATE_PIDFILE} ]] || return 0
	pid="$(<"${PRIVATE_PIDFILE}")"
	if [[ ${pid} =~ ^[0-9]+$ ]] && [[ -r /proc/${pid}/cmdline ]] &&
		tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF -- "${PRIVATE_CONFIG}"; then
		printf '%s\n' "${pid}"
	else
		rm -f "${PRIVATE_PIDFILE}"
	fi
}

# containerd_config ROOT STATE SOCKET: the private containerd's config.toml,
# on stdout. scripts/test-cgroup2.sh gives its guest's containerd the same.
containerd_config() {
	cat <<EOF
# Generated by scripts/containerd.sh: codeexec's private containerd.
# Version 2 of the format, which containerd 1.6 and every 2.x read.
version = 2
root = "$1"
state = "$2"
# No Kubernetes CRI (containerd 2.x splits it in three): it would want CNI,
# and codeexec does not use it.
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox"]

[grpc]
  address = "$3"

[plugins."io.containerd.internal.v1.opt"]
  path = "$1/opt"
EOF
}

write_private_config() {
	local tmp
	mkdir -p "${PRIVATE_DIR}" "${PRIVATE_STATE}" "${PRIVATE_ROOT}"
	tmp="$(mktemp "${PRIVATE_CONFIG}.XXXXXX")"
	containerd_config "${PRIVATE_ROOT}" "${PRIVATE_STATE}" "${PRIVATE_SOCKET}" >"${tmp}"
	mv -f "${tmp}" "${PRIVATE_CONFIG}"
}

# private_log_tail: the end of the private daemon's log, for error messages.
private_log_tail() {
	if [[ -f ${PRIVATE_LOG} ]]; then
		printf -- '--- last lines of %s ---\n' "${PRIVATE_LOG}" >&2
		tail -n 20 "${PRIVATE_LOG}" >&2
	fi
}

# wait_private PID: wait until the private socket answers.
wait_private() {
	local pid=$1 deadline=$((SECONDS + PRIVATE_START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if containerd_answers "${PRIVATE_SOCKET}"; then
			return 0
		fi
		if [[ -n ${pid} ]] && ! kill -0 "${pid}" 2>/dev/null; then
			private_log_tail
			die "private containerd (pid ${pid}) exited during start-up"
		fi
		sleep 0.2
	done
	private_log_tail
	die "private containerd did not answer on ${PRIVATE_SOCKET} within ${PRIVATE_START_TIMEOUT}s"
}

# ensure_readonly_runtimes: give crun a binary it cannot write to. crun,
# like runc, defends against CVE-2019-5736 (a container overwriting the
# runtime's binary through /proc/<pid>/exe) by copying its own binary into
# a sealed memfd and executing that copy, on every call, unless the binary
# it runs from already cannot be written: a sealed memfd, or a file on a
# read-only mount (crun's cloned_binary.c, from runc's). The copy costs a
# second exec, with the dynamic loader's work for ten shared libraries, on
# each of the three or four calls per sandbox. A read-only bind mount of
# the same file keeps the defence (the mount refuses writes: EROFS) and
# drops the copy. The mount is renewed when the package replaces the file.
ensure_readonly_runtimes() {
	local src dst="${RUNTIME_BIN}/crun"
	src="$(command -v crun 2>/dev/null)" || return 0
	if mountpoint -q "${dst}" 2>/dev/null; then
		[[ $(stat -Lc %d:%i "${src}") == "$(stat -c %d:%i "${dst}")" ]] && return 0
		umount "${dst}" || return 0
	fi
	if mkdir -p "${RUNTIME_BIN}" && touch "${dst}" &&
		mount --bind "${src}" "${dst}" && mount -o remount,bind,ro "${dst}"; then
		log "host change for crun: a read-only bind mount of ${src} at ${dst}, first on the private containerd's PATH, so that crun does not copy its binary into memory on every call"
	else
		log "warning: no read-only bind mount of ${src} at ${dst}; crun copies its binary on every call"
	fi
}

start_private() {
	local pid
	pid="$(private_pid)"
	if [[ -n ${pid} ]]; then
		# Ours, alive, not answering yet: it is probably still starting.
		log "waiting for private containerd (pid ${pid})"
		wait_private "${pid}"
		return 0
	fi
	require_root
	[[ -n ${PRIVATE_BIN:-} ]] || ensure_pinned_containerd
	# The pinned daemon's crun, not the baseline's runc (PRIVATE_PATH).
	[[ -n ${PRIVATE_PATH:-} ]] || ensure_readonly_runtimes
	write_private_config
	# Nothing of ours serves the socket: a leftover file would block listen().
	rm -f "${PRIVATE_SOCKET}" "${PRIVATE_SOCKET}.ttrpc"
	log "starting private containerd on ${PRIVATE_SOCKET} (log: ${PRIVATE_LOG})"
	# setsid: own session, so it survives the caller (make, a CI step) and
	# its hang-ups. The inner shell records its own pid, then becomes
	# containerd (exec keeps the pid). It keeps none of the caller's other
	# descriptors: setup.sh's saved stdout (3) would hold the caller's pipe
	# open for the daemon's life, and a reader of it would never see EOF.
	# images.sh's lock (8) would be held for the daemon's life.
	# shellcheck disable=SC2016 # expanded by the inner shell
	nohup env PATH="${PRIVATE_PATH:-${RUNTIME_BIN}:${PATH}}" setsid bash -c 'echo "$$" >"$1" && exec "$3" --config "$2"' \
		codeexec-containerd "${PRIVATE_PIDFILE}" "${PRIVATE_CONFIG}" "${PRIVATE_BIN:-${PINNED_BIN}/containerd}" \
		</dev/null >>"${PRIVATE_LOG}" 2>&1 3>&- 8>&- 9>&- &
	# Wait (briefly) for the pid file, then for the socket.
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s ${PRIVATE_PIDFILE} ]] && break
		sleep 0.1
	done
	[[ -s ${PRIVATE_PIDFILE} ]] || die "private containerd did not start (no pid file ${PRIVATE_PIDFILE})"
	wait_private "$(<"${PRIVATE_PIDFILE}")"
	log "private containerd is up (pid $(<"${PRIVATE_PIDFILE}"))"
}

write_env_file() {
	local tmp
	mkdir -p "$(dirname -- "${CODEEXEC_ENV_FILE}")"
	tmp="$(mktemp "${CODEEXEC_ENV_FILE}.XXXXXX")"
	printf 'CODEEXEC_CONTAINERD_SOCKET=%q\nCODEEXEC_CONTAINERD_BIN=%q\n' "$1" "${PINNED_BIN}" >"${tmp}"
	# The tests check that crun runs from there (TestOCIRuntimeRunsTheSandboxes).
	if [[ $1 == "${PRIVATE_SOCKET}" ]] && mountpoint -q "${RUNTIME_BIN}/crun" 2>/dev/null; then
		printf 'CODEEXEC_RUNTIME_BIN=%q\n' "${RUNTIME_BIN}" >>"${tmp}"
	fi
	chmod 0644 "${tmp}"
	mv -f "${tmp}" "${CODEEXEC_ENV_FILE}"
}

# containerd_ensure: find or start containerd; export and record the socket.
containerd_ensure() {
	local want="${CODEEXEC_CONTAINERD_SOCKET:-}" sock
	ensure_base_packages
	ensure_pinned_containerd
	ensure_crun
	# A private containerd of another version (an older checkout's 1.6) is
	# replaced by the pinned one.
	local running
	if [[ -n $(private_pid) ]] && containerd_answers "${PRIVATE_SOCKET}" &&
		running="$(server_version "${PRIVATE_SOCKET}")" && [[ ${running#v} != "${PINNED_VERSION#v}"* ]]; then
		log "the private containerd is $(server_version "${PRIVATE_SOCKET}"), not the pinned ${PINNED_VERSION}: replacing it"
		containerd_stop_private
	fi
	# A running private containerd keeps its read-only crun current (a
	# package upgrade replaces the file); one started before the read-only
	# runtimes existed (an older checkout's) runs crun from PATH as it was:
	# restart it with them.
	local pid
	pid="$(private_pid)"
	if [[ -n ${pid} ]] && command -v crun >/dev/null; then
		ensure_readonly_runtimes
		if mountpoint -q "${RUNTIME_BIN}/crun" 2>/dev/null &&
			! tr '\0' '\n' <"/proc/${pid}/environ" | grep -q "^PATH=${RUNTIME_BIN}:"; then
			log "the private containerd runs without ${RUNTIME_BIN} first on its PATH: restarting it"
			containerd_stop_private
		fi
	fi
	if [[ -n ${want} ]]; then
		if containerd_answers "${want}"; then
			sock="${want}"
		elif [[ ${want} == "${PRIVATE_SOCKET}" ]]; then
			start_private
			sock="${PRIVATE_SOCKET}"
		else
			die "CODEEXEC_CONTAINERD_SOCKET=${want} is set, but no containerd answers there (start it, or unset the variable to use a private containerd)"
		fi
	elif containerd_answers "${CODEEXEC_DEFAULT_SOCKET}"; then
		sock="${CODEEXEC_DEFAULT_SOCKET}"
	elif containerd_answers "${PRIVATE_SOCKET}"; then
		sock="${PRIVATE_SOCKET}"
	else
		log "no containerd answers on ${CODEEXEC_DEFAULT_SOCKET}"
		start_private
		sock="${PRIVATE_SOCKET}"
	fi
	log "containerd: ${sock}"
	export CODEEXEC_CONTAINERD_SOCKET="${sock}"
	write_env_file "${sock}"
}

# use_baseline: point the PRIVATE_* settings at the benchmark's baseline
# stack, a second private daemon: Debian's containerd (1.6) with its own
# shim and runc, as the service ran before it moved to the pinned 2.x. Its
# PATH leaves out the pinned commands, so it finds its own shim.
use_baseline() {
	PRIVATE_DIR="${CODEEXEC_RUN_DIR}/containerd-baseline"
	PRIVATE_SOCKET="${PRIVATE_DIR}/containerd.sock"
	PRIVATE_STATE="${PRIVATE_DIR}/state"
	PRIVATE_ROOT="${CODEEXEC_LIB_DIR}/containerd-baseline"
	PRIVATE_CONFIG="${PRIVATE_DIR}/config.toml"
	PRIVATE_PIDFILE="${PRIVATE_DIR}/containerd.pid"
	PRIVATE_LOG="${PRIVATE_STATE}/containerd.log"
	PRIVATE_BIN=/usr/bin/containerd
	PRIVATE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

# containerd_baseline: find or start the baseline daemon (use_baseline) and
# export its socket as CODEEXEC_CONTAINERD_SOCKET, without recording it in
# the env file: the service and the tests keep the pinned containerd.
containerd_baseline() {
	ensure_base_packages
	use_baseline
	if ! containerd_answers "${PRIVATE_SOCKET}"; then
		start_private
	fi
	log "baseline containerd: ${PRIVATE_SOCKET} ($(server_version "${PRIVATE_SOCKET}"))"
	export CODEEXEC_CONTAINERD_SOCKET="${PRIVATE_SOCKET}"
}

containerd_stop_private() {
	local pid i
	pid="$(private_pid)"
	if [[ -z ${pid} ]]; then
		log "no private containerd is running (no live pid in ${PRIVATE_PIDFILE})"
		return 0
	fi
	log "stopping private containerd (pid ${pid})"
	kill -TERM "${pid}" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "${pid}" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "${pid}" 2>/dev/null; then
		log "still running after 10s, sending SIGKILL"
		kill -KILL "${pid}" 2>/dev/null || true
	fi
	rm -f "${PRIVATE_PIDFILE}"
	# The recorded socket is gone with it.
	if [[ -f ${CODEEXEC_ENV_FILE} ]] && grep -qF -- "${PRIVATE_SOCKET}" "${CODEEXEC_ENV_FILE}"; then
		rm -f "${CODEEXEC_ENV_FILE}"
	fi
}

containerd_status() {
	local s
	for s in ${CODEEXEC_CONTAINERD_SOCKET:+"${CODEEXEC_CONTAINERD_SOCKET}"} \
		"${CODEEXEC_DEFAULT_SOCKET}" "${PRIVATE_SOCKET}"; do
		if containerd_answers "${s}"; then
			log "containerd answers on ${s}"
			return 0
		fi
	done
	log "no containerd answers"
	return 1
}

containerd_main() {
	set -euo pipefail
	case "${1:-ensure}" in
	ensure)
		containerd_ensure
		printf 'CODEEXEC_CONTAINERD_SOCKET=%s\n' "${CODEEXEC_CONTAINERD_SOCKET}"
		;;
	baseline)
		containerd_baseline
		printf 'CODEEXEC_CONTAINERD_SOCKET=%s\n' "${CODEEXEC_CONTAINERD_SOCKET}"
		;;
	stop)
		containerd_stop_private
		use_baseline
		containerd_stop_private
		;;
	status) containerd_status ;;
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
		;;
	*) die "unknown command: $1 (want ensure, stop or status)" ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	containerd_main "$@"
fi
