#!/usr/bin/env bash
# Import the sandbox images baked into the service image into containerd.
#
# Usage: codeexec-import-images
#
# The service image's init step (the DaemonSet's init container; on a plain
# host, an ExecStartPre of the systemd unit if you install it there). For
# each OCI archive <lang>.tar in CODEEXEC_IMAGES_DIR it makes sure that the
# containerd namespace CODEEXEC_NAMESPACE holds localhost/codeexec/<lang>:latest
# with the archive's digest, unpacked for CODEEXEC_SNAPSHOTTER; it imports
# the archive only when that is not already so, and checks the result.
#
# Settings, with the names and defaults of `codeexec serve`:
#   CODEEXEC_CONTAINERD_SOCKET  /run/containerd/containerd.sock
#   CODEEXEC_NAMESPACE          codeexec (never k8s.io or moby: refused)
#   CODEEXEC_SNAPSHOTTER        overlayfs
#   CODEEXEC_IMAGES_DIR         /opt/codeexec/images
#   CODEEXEC_IMPORT_WAIT        60 (seconds to wait for containerd to answer)
#
# It needs root's access to the socket and no capability at all: ctr streams
# the archive to containerd, which stores and unpacks it.

set -euo pipefail

SOCK="${CODEEXEC_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}"
NS="${CODEEXEC_NAMESPACE:-codeexec}"
SNAPSHOTTER="${CODEEXEC_SNAPSHOTTER:-overlayfs}"
IMAGES_DIR="${CODEEXEC_IMAGES_DIR:-/opt/codeexec/images}"
WAIT="${CODEEXEC_IMPORT_WAIT:-60}"

log() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# The kubelet's (k8s.io) and Docker's (moby) namespaces are not ours: the
# service refuses them too.
case "${NS}" in
"" | k8s.io | moby) die "namespace '${NS}': use a namespace of codeexec's own (default codeexec)" ;;
esac

ctr_() {
	ctr --address "${SOCK}" --namespace "${NS}" "$@"
}

# The manifest digest an OCI archive holds (its index.json's one manifest).
archive_digest() {
	tar -xOf "$1" index.json | grep -o '"digest":"sha256:[0-9a-f]*"' | head -n 1 | cut -d'"' -f4
}

# "DIGEST UNPACKED" of REF, or nothing when the namespace lacks it.
image_state() {
	# Columns: REF TYPE DIGEST STATUS... SIZE UNPACKED (STATUS has spaces).
	ctr_ images check --snapshotter "${SNAPSHOTTER}" "name==$1" 2>/dev/null |
		awk -v ref="$1" '$1 == ref { print $3, $NF }'
}

shopt -s nullglob
archives=("${IMAGES_DIR}"/*.tar)
[[ ${#archives[@]} -gt 0 ]] || die "no image archives (*.tar) in ${IMAGES_DIR}"

# containerd may still be starting (a node that just booted).
deadline=$((SECONDS + WAIT))
until ctr --address "${SOCK}" version >/dev/null 2>&1; do
	if ((SECONDS >= deadline)); then
		die "containerd does not answer at ${SOCK} after ${WAIT}s"
	fi
	sleep 1
done

for archive in "${archives[@]}"; do
	lang="$(basename -- "${archive}" .tar)"
	ref="localhost/codeexec/${lang}:latest"
	want="$(archive_digest "${archive}")"
	[[ -n ${want} ]] || die "no manifest digest in ${archive}"
	if [[ "$(image_state "${ref}")" == "${want} true" ]]; then
		log "${NS}: ${ref} is up to date (${want})"
		continue
	fi
	log "${NS}: importing ${ref} from ${archive}"
	ctr_ images import --snapshotter "${SNAPSHOTTER}" \
		--base-name "localhost/codeexec/${lang}" "${archive}" >/dev/null
	state="$(image_state "${ref}")"
	if [[ ${state} != "${want} true" ]]; then
		die "${NS}: ${ref} after import is '${state:-missing}', want '${want} true' (digest, unpacked)"
	fi
	log "${NS}: ${ref} imported (${want})"
done
