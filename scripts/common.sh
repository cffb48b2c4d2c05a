# shellcheck shell=bash
# Shared helpers for the scripts in this directory. Source it; do not run it.
#
# Everything here writes progress to stderr only: setup.sh keeps stdout for
# its one machine-readable line.

# Root's tools (debootstrap, runc) live in sbin, which a non-login shell may
# not have on PATH.
case ":${PATH}:" in
*:/usr/sbin:*) ;;
*) PATH="/usr/local/sbin:/usr/sbin:/sbin:${PATH}" ;;
esac
export PATH

# Where the project keeps state outside the repository.
CODEEXEC_RUN_DIR="${CODEEXEC_RUN_DIR:-/run/codeexec}"
CODEEXEC_CACHE_DIR="${CODEEXEC_CACHE_DIR:-/var/cache/codeexec}"
CODEEXEC_LIB_DIR="${CODEEXEC_LIB_DIR:-/var/lib/codeexec}"

log() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

require_root() {
	if [[ ${EUID} -ne 0 ]]; then
		die "must run as root (containerd, buildah and debootstrap need it)"
	fi
}

# ensure_commands CMD:PKG... installs, from Debian, the package of every
# command that is not on PATH (a CMD starting with / is a file that must
# exist). apt-get update runs only when something is
# missing. Package installs go to stderr.
ensure_commands() {
	local pair cmd pkg
	local -a missing=()
	for pair in "$@"; do
		cmd="${pair%%:*}"
		pkg="${pair#*:}"
		if [[ ${cmd} == /* ]]; then
			[[ -e ${cmd} ]] || missing+=("${pkg}")
		elif ! command -v "${cmd}" >/dev/null 2>&1; then
			missing+=("${pkg}")
		fi
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		return 0
	fi
	# Unique, stable order.
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	log "installing from Debian: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	hash -r
}

# The packages every script here may need.
ensure_base_packages() {
	ensure_commands \
		containerd:containerd \
		ctr:containerd \
		runc:runc \
		flock:util-linux \
		timeout:coreutils \
		sha256sum:coreutils \
		tar:tar
}

ensure_build_packages() {
	ensure_commands \
		buildah:buildah \
		debootstrap:debootstrap \
		wget:wget \
		/usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring
}

# Bump BASE_VERSION whenever make_base_tar (scripts/images.sh) changes what it
# produces: the cached tar, the base image and the language images are then
# rebuilt.
BASE_VERSION=2

# dir_hash DIR: sha256 of DIR's contents (names, modes, data), independent of
# mtimes, owners and the order the file system lists entries in.
dir_hash() {
	tar -C "$(dirname -- "$1")" --sort=name --mtime=@0 --owner=0 --group=0 \
		--numeric-owner --mode=go-w -cf - "$(basename -- "$1")" |
		sha256sum | cut -d' ' -f1
}

# sandbox_hash LANG: what an image of sandbox/LANG is built from, the
# directory and the base image's version. scripts/images.sh stores it beside
# each archive, and rebuilds when it differs.
sandbox_hash() {
	printf '%s-base%s\n' "$(dir_hash "${REPO_DIR}/sandbox/$1")" "${BASE_VERSION}"
}
