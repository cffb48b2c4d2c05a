#!/usr/bin/env bash
# Build the sandbox images and import them into containerd.
#
# Usage: scripts/images.sh [--namespace NS]... [--languages L1,L2] [--jobs N]
#                          [--background-after L] [--baseline] [--force] [--rebuild-base]
#
#   --namespace NS   containerd namespace to import into (repeatable;
#                    default: codeexec)
#   --languages L,.. build and import only these images (sandbox/<L>;
#                    LANGUAGES=... in the environment does the same);
#                    the service serves the languages whose image is there
#   --jobs N         images built at once (default: the number of cores, at
#                    least 2: a build waits on the Debian mirror and the
#                    disk as much as on a core)
#   --background-after L
#                    build and import L first, then return and go on with
#                    the others in the background (make run: the service
#                    starts serving L, and serves each other language as
#                    its image arrives)
#   --baseline       import into the benchmark's baseline containerd
#                    (scripts/containerd.sh baseline) instead
#   --force          rebuild every image and re-import it
#   --rebuild-base   also redo the local Debian base (debootstrap); implies
#                    --force
#
# Progress: a line per step, with the time since the set-up started
# (CODEEXEC_SETUP_START, seconds since the epoch; else since this script
# started) and an estimate of what is left, from how long each step took
# the last time here (<cache>/images/<lang>.seconds) or, the first time,
# from scripts/image-times (measured on a 2-core machine), scaled by how
# fast this machine has been so far.
#
# The images end up in each namespace as localhost/codeexec/python:latest and
# localhost/codeexec/cpp:latest, unpacked for containerd's default snapshotter
# (overlayfs). containerd is found or started by scripts/containerd.sh.
#
# No registry is needed. Unless buildah already has the base that the
# Dockerfiles name (docker.io/library/debian:bookworm-slim), it is made here:
#   1. debootstrap --variant=minbase bookworm, slimmed, tarred to
#      ${CODEEXEC_CACHE_DIR:-/var/cache/codeexec}/base-bookworm.tar (kept);
#   2. FROM scratch + ADD of that tar, tagged as the base;
# then, per language:
#   3. buildah bud sandbox/<lang> -> localhost/codeexec/<lang>:latest;
#   4. buildah push to the OCI archive <cache>/images/<lang>.tar and
#      ctr images import into each namespace.
# Re-runs are cheap: an image is rebuilt only when the sha256 of its
# sandbox/<lang>/ directory (stored beside the archive) changed or the
# archive is missing; it is re-imported only when the namespace lacks it,
# has another digest than the archive, or has it not unpacked.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=scripts/containerd.sh
. "${SCRIPT_DIR}/containerd.sh"

BASE_IMAGE=docker.io/library/debian:bookworm-slim
BASE_TAR="${CODEEXEC_CACHE_DIR}/base-bookworm-v${BASE_VERSION}.tar"
BASE_STAMP="${CODEEXEC_CACHE_DIR}/base-image.version"
ARCHIVE_DIR="${CODEEXEC_CACHE_DIR}/images"
# Every sandbox/<lang>/Dockerfile is an image, localhost/codeexec/<lang>:latest:
# adding a language needs no change here.
# sandbox/base is the image they all start FROM, not a language.
SANDBOX_BASE=localhost/codeexec/base:latest
SANDBOX_BASE_STAMP="${CODEEXEC_CACHE_DIR}/sandbox-base.hash"
LANGS=()
for dockerfile in "${REPO_DIR}"/sandbox/*/Dockerfile; do
	dir="${dockerfile%/Dockerfile}"
	[[ ${dir##*/} == base ]] && continue
	LANGS+=("${dir##*/}")
done

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
}

namespaces=()
only="${LANGUAGES:-}"
jobs=$(($(nproc) < 2 ? 2 : $(nproc)))
background_after=""
baseline=0
force=0
rebuild_base=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--namespace | -n)
		[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
		namespaces+=("$2")
		shift 2
		;;
	--namespace=*)
		namespaces+=("${1#*=}")
		shift
		;;
	--baseline) baseline=1 && shift ;;
	--languages)
		[[ $# -ge 2 ]] || die "$1 needs a value"
		only="$2"
		shift 2
		;;
	--languages=*)
		only="${1#*=}"
		shift
		;;
	--jobs)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]?$ ]] || die "$1 needs a number from 1 to 99"
		jobs=$2
		shift 2
		;;
	--background-after)
		[[ $# -ge 2 && -n $2 ]] || die "$1 needs a language"
		background_after=$2
		shift 2
		;;
	--force) force=1 && shift ;;
	--rebuild-base) rebuild_base=1 && force=1 && shift ;;
	-h | --help) usage && exit 0 ;;
	*) usage && die "unknown argument: $1" ;;
	esac
done
if [[ ${#namespaces[@]} -eq 0 ]]; then
	namespaces=(codeexec)
fi
if [[ -n ${only} ]]; then
	IFS=, read -r -a wanted <<<"${only}"
	for w in "${wanted[@]}"; do
		[[ -f ${REPO_DIR}/sandbox/${w}/Dockerfile && ${w} != base ]] ||
			die "--languages: no image sandbox/${w} (images: ${LANGS[*]})"
	done
	LANGS=("${wanted[@]}")
fi
if [[ -n ${background_after} ]] && ! printf '%s\n' "${LANGS[@]}" | grep -qxF -- "${background_after}"; then
	die "--background-after ${background_after}: not an image this run builds (${LANGS[*]})"
fi

require_root
ensure_base_packages
ensure_build_packages
mkdir -p "${CODEEXEC_CACHE_DIR}" "${ARCHIVE_DIR}" "${CODEEXEC_RUN_DIR}"
# One images.sh at a time (two `make` runs at once would race on the
# cache); a background one (--background-after) keeps it until it is done.
# fd 8: scripts/containerd.sh takes fd 9 for its build lock.
exec 8>"${CODEEXEC_RUN_DIR}/images.lock"
if ! flock -n 8; then
	log "another images.sh is running; waiting for it"
	flock 8
fi

# Temporary dirs to remove on exit. --one-file-system: debootstrap mounts
# /proc and /sys inside its target, and a failed run may leave them there.
TMP_DIRS=()
cleanup() {
	local d
	for d in "${TMP_DIRS[@]}"; do
		umount -R "${d}/rootfs/proc" "${d}/rootfs/sys" 2>/dev/null || true
		rm -rf --one-file-system -- "${d}" || true
	done
}
trap cleanup EXIT

buildah_image_id() {
	buildah images --noheading --no-trunc --format '{{.ID}}' "$1" 2>/dev/null | head -n 1 || true
}

# Step 1: the Debian base as a tar (kept in the cache across runs).
make_base_tar() {
	local tmp root
	tmp="$(mktemp -d "${CODEEXEC_CACHE_DIR}/debootstrap.XXXXXX")"
	TMP_DIRS+=("${tmp}")
	root="${tmp}/rootfs"
	log "debootstrap --variant=minbase bookworm (about 30 s; log: ${tmp}/debootstrap.log)"
	if ! debootstrap --variant=minbase bookworm "${root}" >"${tmp}/debootstrap.log" 2>&1; then
		tail -n 20 "${tmp}/debootstrap.log" >&2
		[[ -f ${root}/debootstrap/debootstrap.log ]] && tail -n 20 "${root}/debootstrap/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	# Like the official slim image: no package cache, lists, docs, man pages
	# or translations, now or in later installs.
	rm -rf "${root:?}"/var/cache/apt/archives/*.deb "${root:?}"/var/lib/apt/lists/* \
		"${root:?}"/var/cache/apt/*.bin "${root:?}"/var/log/apt/* "${root:?}"/var/log/dpkg.log \
		"${root:?}"/var/log/bootstrap.log \
		"${root:?}"/usr/share/man/* "${root:?}"/usr/share/info/* "${root:?}"/usr/share/groff/* \
		"${root:?}"/usr/share/lintian/* "${root:?}"/usr/share/linda/* "${root:?}"/usr/share/locale/*
	find "${root}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "${root}/usr/share/doc" -mindepth 1 -type d -empty -delete
	printf '%s\n' \
		'path-exclude /usr/share/doc/*' \
		'path-include /usr/share/doc/*/copyright' \
		'path-exclude /usr/share/man/*' \
		'path-exclude /usr/share/groff/*' \
		'path-exclude /usr/share/info/*' \
		'path-exclude /usr/share/lintian/*' \
		'path-exclude /usr/share/linda/*' \
		'path-exclude /usr/share/locale/*' \
		>"${root}/etc/dpkg/dpkg.cfg.d/codeexec-slim"
	# debootstrap copies the build host's name and resolver into the tree:
	# none of it belongs in a sandbox image. Sandboxes have no network; a
	# hosts file lets "localhost" resolve to loopback.
	printf 'sandbox\n' >"${root}/etc/hostname"
	: >"${root}/etc/resolv.conf"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"${root}/etc/hosts"
	# A container runtime provides /dev, /proc and /sys.
	tar -C "${root}" --numeric-owner --xattrs \
		--exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
		-cf "${BASE_TAR}.tmp" .
	mv -f "${BASE_TAR}.tmp" "${BASE_TAR}"
	log "base tar: ${BASE_TAR} ($(du -h "${BASE_TAR}" | cut -f1))"
}

# Step 2: the base image in buildah's storage, named as the Dockerfiles' FROM.
ensure_base_image() {
	local ctx
	if [[ ${rebuild_base} -eq 1 ]]; then
		rm -f "${BASE_TAR}"
		buildah rmi "${BASE_IMAGE}" >/dev/null 2>&1 || true
	elif [[ -n $(buildah_image_id "${BASE_IMAGE}") && -f ${BASE_STAMP} &&
		$(<"${BASE_STAMP}") == "${BASE_VERSION}" ]]; then
		return 0
	fi
	if [[ ! -s ${BASE_TAR} ]]; then
		make_base_tar
	fi
	ctx="$(mktemp -d "${CODEEXEC_CACHE_DIR}/basectx.XXXXXX")"
	TMP_DIRS+=("${ctx}")
	ln "${BASE_TAR}" "${ctx}/base.tar" 2>/dev/null || cp "${BASE_TAR}" "${ctx}/base.tar"
	printf 'FROM scratch\nADD base.tar /\n' >"${ctx}/Dockerfile"
	log "building ${BASE_IMAGE} from ${BASE_TAR}"
	if ! buildah bud --isolation chroot --network host \
		-t "${BASE_IMAGE}" "${ctx}" >"${ctx}/build.log" 2>&1; then
		tail -n 30 "${ctx}/build.log" >&2
		die "building ${BASE_IMAGE} failed"
	fi
	printf '%s\n' "${BASE_VERSION}" >"${BASE_STAMP}"
	rebuild_base=0
}

# The manifest digest an OCI archive holds (its index.json's one manifest).
archive_digest() {
	tar -xOf "$1" index.json | grep -o '"digest":"sha256:[0-9a-f]*"' | head -n 1 | cut -d'"' -f4
}

# Step 2b: the sandbox base (sandbox/base) that every language image starts
# FROM, in buildah's storage only; rebuilt when its directory changes.
ensure_sandbox_base() {
	local hash
	ensure_base_image
	hash="$(dir_hash "${REPO_DIR}/sandbox/base")-base${BASE_VERSION}"
	if [[ -n $(buildah_image_id "${SANDBOX_BASE}") && -f ${SANDBOX_BASE_STAMP} &&
		$(<"${SANDBOX_BASE_STAMP}") == "${hash}" ]]; then
		return 0
	fi
	log "building ${SANDBOX_BASE} from sandbox/base (log: ${ARCHIVE_DIR}/base.build.log)"
	if ! buildah bud --isolation chroot --network host --pull=never --layers=false \
		-t "${SANDBOX_BASE}" "${REPO_DIR}/sandbox/base" >"${ARCHIVE_DIR}/base.build.log" 2>&1; then
		tail -n 30 "${ARCHIVE_DIR}/base.build.log" >&2
		die "building ${SANDBOX_BASE} failed"
	fi
	printf '%s\n' "${hash}" >"${SANDBOX_BASE_STAMP}"
}

# build_context LANG DIR: fill DIR with what sandbox/LANG's Dockerfile is
# built from. That is the directory itself, plus the toolchains it names
# from a registry other than Debian's, fetched here on the host with the
# host's own registry configuration (the image build has none):
#   npm-packages   one NAME@VERSION per line: each `npm pack`ed into npm/,
#                  for the Dockerfile to unpack (npm's registry);
#   go-toolchain   one Go version (go1.27.3): the official toolchain, which
#                  the go command takes from the Go module proxy as the
#                  golang.org/toolchain module (GOTOOLCHAIN), copied to go/.
# The files pin exact versions, so the directory's hash still says what an
# image is built from.
build_context() {
	local lang=$1 dir=$2 src="${REPO_DIR}/sandbox/$1" pkg goroot version
	cp -a "${src}/." "${dir}/"
	if [[ -f ${src}/npm-packages ]]; then
		ensure_commands npm:npm
		mkdir "${dir}/npm"
		while read -r pkg; do
			[[ -z ${pkg} || ${pkg} == \#* ]] && continue
			log "${lang}: npm pack ${pkg}"
			(cd "${dir}/npm" && npm pack --silent "${pkg}" >/dev/null) ||
				die "${lang}: npm pack ${pkg} failed"
		done <"${src}/npm-packages"
	fi
	if [[ -f ${src}/go-toolchain ]]; then
		ensure_go
		version="$(tr -d '[:space:]' <"${src}/go-toolchain")"
		[[ ${version} =~ ^go[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || die "${lang}: go-toolchain holds '${version}', want a version like go1.27.3"
		log "${lang}: Go toolchain ${version} from the Go module proxy"
		goroot="$(cd "${dir}" && GOTOOLCHAIN="${version}" GOFLAGS='' go env GOROOT)" ||
			die "${lang}: fetching the Go toolchain ${version} failed"
		[[ $(head -n 1 "${goroot}/VERSION") == "${version}" ]] || die "${lang}: ${goroot} is not ${version}"
		cp -a "${goroot}" "${dir}/go"
		chmod -R u+w "${dir}/go"
	fi
}

# Steps 3 and 4a: build localhost/codeexec/LANG:latest into its OCI archive.
build_image() {
	local lang=$1 hash=$2 ref="localhost/codeexec/$1:latest"
	local archive="${ARCHIVE_DIR}/$1.tar" old_id new_id context
	ensure_sandbox_base
	old_id="$(buildah_image_id "${ref}")"
	context="$(mktemp -d "${ARCHIVE_DIR}/${lang}.context.XXXXXX")"
	TMP_DIRS+=("${context}")
	build_context "${lang}" "${context}"
	log "building ${ref} from sandbox/${lang} (log: ${archive%.tar}.build.log)"
	# --squash: one layer, base included, whose directory every sandbox of
	# the image can share as its read-only root (runner.sharedRoot).
	if ! buildah bud --isolation chroot --network host --pull=never --layers=false --squash \
		-t "${ref}" "${context}" >"${archive%.tar}.build.log" 2>&1; then
		tail -n 30 "${archive%.tar}.build.log" >&2
		die "building ${ref} failed"
	fi
	rm -rf "${context}"
	new_id="$(buildah_image_id "${ref}")"
	if [[ -n ${old_id} && ${old_id} != "${new_id}" ]]; then
		buildah rmi "${old_id}" >/dev/null 2>&1 || true
	fi
	rm -f "${archive}.tmp"
	buildah push --quiet "${ref}" "oci-archive:${archive}.tmp:${ref}" >/dev/null
	mv -f "${archive}.tmp" "${archive}"
	printf '%s\n' "${hash}" >"${archive}.sha256"
	log "${ref}: $(du -h "${archive}" | cut -f1) archive, digest $(archive_digest "${archive}")"
}

# "DIGEST UNPACKED" of REF in namespace NS, or nothing when it is absent.
image_state() {
	local ns=$1 ref=$2
	# Columns: REF TYPE DIGEST STATUS... SIZE UNPACKED (STATUS has spaces).
	ctr --address "${SOCK}" -n "${ns}" images check "name==${ref}" 2>/dev/null |
		awk -v ref="${ref}" '$1 == ref { print $3, $NF }'
}

# Step 4b: import the archive into NS unless it is there, same and unpacked.
import_image() {
	local lang=$1 ns=$2 ref="localhost/codeexec/$1:latest"
	local archive="${ARCHIVE_DIR}/$1.tar" want state
	want="$(archive_digest "${archive}")"
	[[ -n ${want} ]] || die "no manifest digest in ${archive}"
	state="$(image_state "${ns}" "${ref}")"
	if [[ ${force} -eq 0 && ${state} == "${want} true" ]]; then
		log "${ns}: ${ref} is up to date"
		return 0
	fi
	log "${ns}: importing ${ref}"
	ctr --address "${SOCK}" -n "${ns}" images import \
		--base-name "localhost/codeexec/${lang}" "${archive}" >/dev/null
	state="$(image_state "${ns}" "${ref}")"
	if [[ ${state} != "${want} true" ]]; then
		die "${ns}: ${ref} after import is '${state:-missing}', want '${want} true' (digest, unpacked)"
	fi
}

# Progress. Every step's line has the time since the set-up started and,
# for the images, an estimate of what is left.
SETUP_START="${CODEEXEC_SETUP_START:-$(date +%s)}"
PROGRESS_DIR=""
elapsed() {
	local s=$(($(date +%s) - SETUP_START))
	printf '%d:%02d' $((s / 60)) $((s % 60))
}
progress() {
	printf '%s: [%s] %s\n' "${0##*/}" "$(elapsed)" "$*" >&2
}
# expected_seconds LANG: how long building LANG's image took the last time
# here, else what scripts/image-times says, else a minute.
expected_seconds() {
	local f="${ARCHIVE_DIR}/$1.seconds" v
	if [[ -s ${f} ]] && v="$(<"${f}")" && [[ ${v} =~ ^[0-9]+$ ]]; then
		printf '%s\n' "${v}"
		return
	fi
	v="$(awk -v l="$1" '$1 == l { print $2; exit }' "${SCRIPT_DIR}/image-times" 2>/dev/null)"
	printf '%s\n' "${v:-60}"
}
# remaining: "about M:SS left", from the images not built yet (their
# expected times, over the jobs at once), scaled by how the finished ones
# compared with their own expectations.
remaining() {
	local lang done_expected=0 done_actual=0 left=0 f e a
	for lang in "${TO_BUILD[@]}"; do
		f="${PROGRESS_DIR}/${lang}"
		if [[ -s ${f} ]]; then
			read -r e a <"${f}"
			done_expected=$((done_expected + e)) done_actual=$((done_actual + a))
		else
			left=$((left + $(expected_seconds "${lang}")))
		fi
	done
	# Scaled once a minute of expected build time is done (one image, slowed
	# by the compiler beside it, says little), by a factor from 1/2 to 2.
	if ((done_expected >= 60)); then
		local scaled=$((left * done_actual / done_expected))
		((scaled > 2 * left)) && scaled=$((2 * left))
		((2 * scaled < left)) && scaled=$((left / 2))
		left=${scaled}
	fi
	left=$(((left + jobs - 1) / jobs))
	printf 'about %d:%02d left' $((left / 60)) $((left % 60))
}

# image_job LANG: build LANG's image if it is stale, then import it into
# each namespace; the unit of work the jobs run in parallel.
image_job() {
	local lang=$1 hash t0 expect n took=""
	hash="$(sandbox_hash "${lang}")"
	if needs_build "${lang}"; then
		expect="$(expected_seconds "${lang}")"
		n=1
		while [[ ${TO_BUILD[n - 1]} != "${lang}" ]]; do n=$((n + 1)); done
		progress "building ${lang} (${n}/${#TO_BUILD[@]}, about ${expect}s)"
		t0=${SECONDS}
		build_image "${lang}" "${hash}"
		took=$((SECONDS - t0))
		printf '%s\n' "${took}" >"${ARCHIVE_DIR}/${lang}.seconds"
		printf '%s %s\n' "${expect}" "${took}" >"${PROGRESS_DIR}/${lang}"
	else
		log "localhost/codeexec/${lang}:latest: archive is up to date"
	fi
	wait_containerd
	for ns in "${namespaces[@]}"; do
		import_image "${lang}" "${ns}"
	done
	if [[ -n ${took} ]]; then
		progress "${lang} is ready in ${namespaces[*]}, built in ${took}s; images: $(remaining)"
	fi
}

# wait_containerd: wait until the containerd job (below) is done, then take
# its socket and commands (the env file it wrote) into this shell.
wait_containerd() {
	[[ -n ${SOCK:-} ]] && return 0
	while [[ ! -e ${PROGRESS_DIR}/containerd.done ]]; do
		sleep 0.5
	done
	[[ $(<"${PROGRESS_DIR}/containerd.done") == ok ]] || die "containerd could not be found or started (above)"
	# shellcheck source=/dev/null
	. "${CODEEXEC_ENV_FILE}"
	PATH="${CODEEXEC_CONTAINERD_BIN:+${CODEEXEC_CONTAINERD_BIN}:}${PATH}"
	SOCK="${CODEEXEC_CONTAINERD_SOCKET}"
}

needs_build() {
	local archive="${ARCHIVE_DIR}/$1.tar"
	[[ ${force} -eq 1 || ! -s ${archive} || ! -f ${archive}.sha256 ||
		$(<"${archive}.sha256") != "$(sandbox_hash "$1")" ]]
}

# run_jobs LANG...: image_job for each, at most $jobs at once; fails if
# any failed (after all have ended). It waits for its own jobs only (the
# containerd job runs beside them).
run_jobs() {
	local lang failed=0 ended pid
	local -a pids=()
	for lang in "$@"; do
		while ((${#pids[@]} >= jobs)); do
			wait -n -p ended "${pids[@]}" || failed=1
			mapfile -t pids < <(for pid in "${pids[@]}"; do [[ ${pid} != "${ended}" ]] && echo "${pid}"; done)
		done
		# A subshell of its own: its die ends it alone, and its
		# temporary directories are removed when it ends.
		(
			TMP_DIRS=()
			trap cleanup EXIT
			image_job "${lang}"
		) &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "${pid}" || failed=1
	done
	return "${failed}"
}

for lang in "${LANGS[@]}"; do
	[[ -f ${REPO_DIR}/sandbox/${lang}/Dockerfile ]] || die "missing sandbox/${lang}/Dockerfile"
done
# The order: --background-after's language first, then the longest builds
# first (the jobs finish together), the others in name order.
mapfile -t LANGS < <(for lang in "${LANGS[@]}"; do
	first=1
	[[ ${lang} == "${background_after}" ]] && first=0
	printf '%s %s %s\n' "${first}" "$(expected_seconds "${lang}")" "${lang}"
done | sort -k1,1n -k2,2nr -k3,3 | cut -d' ' -f3)
TO_BUILD=()
for lang in "${LANGS[@]}"; do
	needs_build "${lang}" && TO_BUILD+=("${lang}")
done
PROGRESS_DIR="$(mktemp -d "${CODEEXEC_RUN_DIR}/images-progress.XXXXXX")"
TMP_DIRS+=("${PROGRESS_DIR}")

# containerd (on a first start: building the pinned one, about 2.5 min of
# CPU) in the background, while the Debian base and the images are built
# (as much the mirror and the disk as the CPU): an image needs it only to
# be imported (wait_containerd).
SOCK=""
if [[ ${baseline} -eq 1 ]]; then
	containerd_baseline
	SOCK="${CODEEXEC_CONTAINERD_SOCKET}"
elif [[ ${#TO_BUILD[@]} -gt 0 ]]; then
	progress "containerd, in the background while the images are built"
	(
		if (containerd_ensure); then
			progress "containerd is up"
			echo ok >"${PROGRESS_DIR}/containerd.done"
		else
			echo failed >"${PROGRESS_DIR}/containerd.done"
		fi
	) &
else
	containerd_ensure
	SOCK="${CODEEXEC_CONTAINERD_SOCKET}"
fi
if [[ ${#TO_BUILD[@]} -gt 0 ]]; then
	progress "${#TO_BUILD[@]} image(s) to build: ${TO_BUILD[*]}; ${jobs} at once; $(remaining)"
	ensure_sandbox_base
	progress "the sandbox base is ready"
fi

if [[ -n ${background_after} ]]; then
	# The first language in the foreground; the others in a background
	# process that keeps the lock (fd 8) until they are all in, writing
	# its progress where this script writes it.
	run_jobs "${background_after}" || die "${background_after}: the image could not be built or imported (above)"
	wait_containerd
	rest=("${LANGS[@]:1}")
	if [[ ${#rest[@]} -gt 0 ]]; then
		progress "${background_after} is ready; the others (${rest[*]}) go on in the background, ${jobs} at once: each is served once imported"
		(
			trap cleanup EXIT
			# Not the caller's stdout (setup.sh's fd 3, which a command
			# substitution reads to its end): only stderr, and the lock.
			exec 3>&- 9>&- </dev/null
			if run_jobs "${rest[@]}"; then
				progress "every image is ready in namespace(s): ${namespaces[*]}"
			else
				progress "error: some images could not be built or imported (above); run make setup again to retry them"
			fi
		) &
		disown
		# The background job removes the progress files.
		mapfile -t TMP_DIRS < <(printf '%s\n' "${TMP_DIRS[@]}" | grep -vxF -- "${PROGRESS_DIR}" || true)
	fi
	exit 0
fi
run_jobs "${LANGS[@]}" || die "some images could not be built or imported (above)"
wait_containerd
progress "images ready in namespace(s): ${namespaces[*]}"
