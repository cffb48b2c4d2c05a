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

# ensure_go: put Go on PATH (it may live in /usr/local/go/bin without being
# on a non-login shell's PATH), or install Debian's.
ensure_go() {
	if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
		PATH="${PATH}:/usr/local/go/bin"
		export PATH
	fi
	ensure_commands go:golang-go gcc:gcc
}

# The packages every script here may need. Debian's containerd (1.6) is the
# benchmark's baseline stack; the service's private containerd is the one
# go.mod pins (scripts/containerd.sh).
ensure_base_packages() {
	ensure_commands \
		containerd:containerd \
		ctr:containerd \
		runc:runc \
		crun:crun \
		mountpoint:util-linux \
		flock:util-linux \
		unshare:util-linux \
		timeout:coreutils \
		sha256sum:coreutils \
		tar:tar
}

ensure_build_packages() {
	# gcc and libc6-dev build the lane agent (sandbox/lane/lane.c), static.
	ensure_commands \
		gcc:gcc \
		/usr/include/stdio.h:libc6-dev \
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

# Bump IMAGE_FORMAT whenever build_image (scripts/images.sh) changes how an
# image is made from its directory: every language image is then rebuilt.
# 2: squashed into one layer.
IMAGE_FORMAT=2

# sandbox_hash LANG: what an image of sandbox/LANG is built from, its
# directory, the sandbox base's directory and the base image's version. scripts/images.sh stores it beside
# each archive, and rebuilds when it differs.
sandbox_hash() {
	printf '%s-%s-base%s-image%s\n' "$(dir_hash "${REPO_DIR}/sandbox/$1")" "$(dir_hash "${REPO_DIR}/sandbox/base")" \
		"${BASE_VERSION}" "${IMAGE_FORMAT}"
}

# ensure_crun: make crun usable on a hybrid cgroup host. crun refuses a
# host whose cgroup v2 hierarchy holds controllers while v1 hierarchies
# exist ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"). Some VMs leave a controller (hugetlb) on the v2 mount; this
# binds each such controller to a v1 hierarchy of its own, as systemd's
# hybrid layout does, and says so. Nothing changes on a pure v1 or pure v2
# host. If it cannot, the service's probe falls back to runc.
ensure_crun() {
	local unified=/sys/fs/cgroup/unified c
	[[ -r ${unified}/cgroup.controllers ]] || return 0
	for c in $(<"${unified}/cgroup.controllers"); do
		if mountpoint -q "/sys/fs/cgroup/${c}"; then
			continue
		fi
		if mkdir -p "/sys/fs/cgroup/${c}" && mount -t cgroup -o "${c}" cgroup "/sys/fs/cgroup/${c}"; then
			log "host change for crun: moved the ${c} cgroup controller from the v2 hierarchy to a v1 one at /sys/fs/cgroup/${c} (as systemd's hybrid layout does)"
		else
			log "warning: could not move the ${c} cgroup controller to a v1 hierarchy; crun will refuse this host and the service will use runc"
		fi
	done
}
