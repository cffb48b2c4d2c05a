#!/usr/bin/env bash
# Installs the other code runners' real client libraries that the tests
# drive against the service (docs/compat.md), and prints the folder they
# are in. Today: Piston's Node.js client, piston-client on npm, with
# Node.js and npm from Debian when the machine has none; and the browser
# that loads the playground (TestPlaygroundInABrowser), Debian's Chromium,
# headless. curl runs the README's examples (TestReadmeExamples).
#
#   scripts/clients.sh          install what is missing; print the folder
#
# The folder is ${CODEEXEC_CACHE_DIR}/clients/<version>: installed once,
# then reused. The version is pinned here, and npm checks the package's
# integrity against the registry's.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
exec 3>&1 1>&2
# shellcheck source=scripts/common.sh
. "${SCRIPT_DIR}/common.sh"

PISTON_CLIENT=piston-client@1.0.2

ensure_commands node:nodejs npm:npm chromium:chromium curl:curl
dir="${CODEEXEC_CACHE_DIR}/clients/${PISTON_CLIENT}"
if [[ ! -f ${dir}/node_modules/piston-client/package.json ]]; then
	log "npm install ${PISTON_CLIENT}"
	rm -rf "${dir}.tmp"
	mkdir -p "${dir}.tmp"
	(cd "${dir}.tmp" && npm install --silent --no-audit --no-fund --ignore-scripts "${PISTON_CLIENT}" >/dev/null) ||
		die "npm install ${PISTON_CLIENT} failed"
	rm -rf "${dir}"
	mv "${dir}.tmp" "${dir}"
fi
printf '%s\n' "${dir}" >&3
