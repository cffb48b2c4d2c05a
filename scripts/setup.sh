#!/usr/bin/env bash
# Prepare this machine to run and test codeexec: Debian packages, containerd
# and the sandbox images. Idempotent: a second run with everything in place
# takes a few seconds.
#
# Usage: scripts/setup.sh [--namespace NS]... [--force] [--rebuild-base]
#   Options go to scripts/images.sh. Default namespaces: codeexec (the
#   service's) and codeexec-test (the tests').
#
# Effective containerd socket (see scripts/containerd.sh for how it is chosen):
#   - written to ${CODEEXEC_ENV_FILE:-/run/codeexec/env} as the single line
#     CODEEXEC_CONTAINERD_SOCKET=<path>, which the Makefile sources before it
#     runs the service or the tests;
#   - also printed as the only line on stdout, so a caller can do
#     eval "$(scripts/setup.sh)". Everything else goes to stderr.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# Keep stdout for the final line: every tool below writes to stderr.
exec 3>&1 1>&2

# shellcheck source=scripts/common.sh
. "${SCRIPT_DIR}/common.sh"

args=("$@")
has_namespace=0
for a in "${args[@]}"; do
	case "${a}" in
	--namespace | --namespace=* | -n) has_namespace=1 ;;
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	esac
done
if [[ ${has_namespace} -eq 0 ]]; then
	args+=(--namespace codeexec --namespace codeexec-test)
fi

start=${SECONDS}
require_root
# A first start downloads containerd's and the service's Go modules while
# the Debian packages install (scripts/containerd.sh).
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	PATH="${PATH}:/usr/local/go/bin"
fi
# shellcheck source=scripts/containerd.sh
(exec 3>&-; . "${SCRIPT_DIR}/containerd.sh" && prefetch_modules) &
log "checking packages"
ensure_base_packages
ensure_build_packages
# images.sh finds or starts containerd (scripts/containerd.sh), records the
# socket in the env file, then builds and imports what is missing.
"${SCRIPT_DIR}/images.sh" "${args[@]}"

# shellcheck source=/dev/null
. "${CODEEXEC_ENV_FILE:-${CODEEXEC_RUN_DIR}/env}"
log "done in $((SECONDS - start))s; containerd socket: ${CODEEXEC_CONTAINERD_SOCKET}"
printf 'CODEEXEC_CONTAINERD_SOCKET=%s\n' "${CODEEXEC_CONTAINERD_SOCKET}" >&3
