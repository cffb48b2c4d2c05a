#!/usr/bin/env bash
# Build the codeexec service image (the Dockerfile at the repository root)
# with buildah.
#
# Usage: scripts/build-service-image.sh [--tag REF] [--output FILE] [--context-only DIR]
#
#   --tag REF           the image's name (default localhost/codeexec/service:latest)
#   --output FILE       also write the image to the OCI archive FILE, for nodes
#                       that no registry serves (docs/deploy.md)
#   --context-only DIR  assemble the build context in DIR (which must not
#                       exist) and stop before building: to inspect it, or to
#                       build it with another tool (docker build DIR)
#
# The build context is made here, not taken from the repository as it is:
#   Dockerfile         the repository's
#   src/               the repository without .git, bin/ and bench-results/,
#                      plus vendor/ (go mod vendor), so the Go build in the
#                      image downloads nothing
#   images/<lang>.tar  the sandbox images as OCI archives, from the cache of
#                      scripts/images.sh (${CODEEXEC_CACHE_DIR}/images); an
#                      archive that is missing or older than its
#                      sandbox/<lang>/ directory stops the build: run
#                      scripts/images.sh (or make images) first
#
# Building needs the base images docker.io/library/golang:1.26-bookworm and
# docker.io/library/debian:bookworm-slim, from a registry or already in
# buildah's storage, and Debian's package mirror (for ctr). VERSION=... sets
# the version the binary reports (default: git describe, else "dev").

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=scripts/common.sh
. "${SCRIPT_DIR}/common.sh"

ARCHIVE_DIR="${CODEEXEC_CACHE_DIR}/images"
LANGS=(python cpp)

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
}

tag=localhost/codeexec/service:latest
output=""
context_only=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--tag)
		[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
		tag=$2 && shift 2
		;;
	--output)
		[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
		output=$2 && shift 2
		;;
	--context-only)
		[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
		context_only=$2 && shift 2
		;;
	-h | --help) usage && exit 0 ;;
	*) usage && die "unknown argument: $1" ;;
	esac
done

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	PATH="/usr/local/go/bin:${PATH}"
fi
command -v go >/dev/null 2>&1 || die "go is needed (for go mod vendor); install Go 1.26"
if [[ -z ${context_only} ]]; then
	require_root
	ensure_build_packages
fi

for lang in "${LANGS[@]}"; do
	archive="${ARCHIVE_DIR}/${lang}.tar"
	[[ -s ${archive} ]] || die "no ${archive}: run scripts/images.sh first"
	if [[ ! -f ${archive}.sha256 || $(<"${archive}.sha256") != "$(sandbox_hash "${lang}")" ]]; then
		die "${archive} is older than sandbox/${lang}/: run scripts/images.sh first"
	fi
done

if [[ -n ${context_only} ]]; then
	[[ ! -e ${context_only} ]] || die "${context_only} exists; name a new directory"
	mkdir -p "${context_only}"
	ctx="$(cd -- "${context_only}" && pwd)"
else
	mkdir -p "${CODEEXEC_CACHE_DIR}"
	ctx="$(mktemp -d "${CODEEXEC_CACHE_DIR}/service-context.XXXXXX")"
	trap 'rm -rf --one-file-system -- "${ctx}"' EXIT
fi

log "assembling the build context in ${ctx}"
mkdir -p "${ctx}/src" "${ctx}/images"
cp "${REPO_DIR}/Dockerfile" "${ctx}/Dockerfile"
tar -C "${REPO_DIR}" \
	--exclude=./.git --exclude=./bin --exclude=./bench-results --exclude=./vendor \
	-cf - . | tar -C "${ctx}/src" -xf -
(cd "${ctx}/src" && go mod vendor) || die "go mod vendor failed"
for lang in "${LANGS[@]}"; do
	# A hard link when the cache and the context share a file system.
	ln "${ARCHIVE_DIR}/${lang}.tar" "${ctx}/images/${lang}.tar" 2>/dev/null ||
		cp "${ARCHIVE_DIR}/${lang}.tar" "${ctx}/images/${lang}.tar"
done
log "context: $(du -sh "${ctx}" | cut -f1) ($(printf '%s.tar ' "${LANGS[@]}")+ source)"

if [[ -n ${context_only} ]]; then
	log "context ready; build it with:"
	log "  buildah bud --isolation chroot --network host -t ${tag} ${ctx}"
	log "  docker build -t ${tag} ${ctx}"
	exit 0
fi

version="${VERSION:-$(git -C "${REPO_DIR}" describe --always --dirty 2>/dev/null || echo dev)}"
log "building ${tag} (version ${version})"
buildah bud --isolation chroot --network host \
	--build-arg "VERSION=${version}" \
	-t "${tag}" "${ctx}"
if [[ -n ${output} ]]; then
	rm -f "${output}"
	buildah push --quiet "${tag}" "oci-archive:${output}:${tag}" >/dev/null
	log "wrote ${output} ($(du -h "${output}" | cut -f1))"
fi
log "built ${tag}"
