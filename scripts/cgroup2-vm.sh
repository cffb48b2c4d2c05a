#!/usr/bin/env bash
# Boot a throwaway Linux guest with a pure cgroup v2 hierarchy under qemu's
# software emulation (TCG) and run a command in it, as root.
#
# Usage:
#   scripts/cgroup2-vm.sh build                  build (or reuse) the cached guest
#   scripts/cgroup2-vm.sh run DIR [TIMEOUT_S]    boot it and run DIR/guest.sh
#
# run: DIR (a host directory holding guest.sh) is shared into the guest at
# /work, read-write (9p over virtio, security_model=passthrough, so owners
# and modes are real). The guest's init runs `bash /work/guest.sh` as root
# with cwd /work and stdin /dev/null, writes its exit status to
# DIR/exit-status, syncs, unmounts /work and powers off at once.
#   Console: the guest's serial console (kernel messages and everything
#   guest.sh prints, stdout and stderr) goes to DIR/console.log, not to the
#   host's stdout. CGROUP2_VM_ECHO=1 also streams it to this script's stderr
#   as it comes; otherwise, on a failure, its last lines are printed there.
#   Exit status: guest.sh's; 124 if TIMEOUT_S (default 1800) expired (qemu
#   is then killed); 125 with an error if the guest never wrote a status or
#   its init failed before guest.sh (e.g. a cgroup v1 mount was found).
#   qemu is killed whenever this script exits (trap, plus a parent-death
#   signal, so even a SIGKILLed script leaves no qemu behind).
#   DIR must not contain a comma (qemu option syntax).
#
# The guest (the "recipe" is this file; its sha256 names the cache):
#   kernel    Debian bookworm's linux-image-*-amd64, the version that
#             linux-image-amd64 depends on, `apt-get download`ed and
#             `dpkg-deb -x`ed (never installed on the host). virtio, 9p,
#             ext4 and overlay are modules in it.
#   initrd    busybox-static + virtio_pci, virtio_blk, ext4 and their
#             dependencies (from the tree's modules.dep), insmod'ed in
#             order; mounts /dev/vda and switch_roots to /sbin/guest-init.
#   root      debootstrap --variant=minbase bookworm with bash, coreutils,
#             util-linux, procps, iproute2, kmod, runc, crun (plus
#             CGROUP2_VM_EXTRA_PACKAGES, comma- or space-separated, which
#             is part of the cache key) and the kernel's modules (hardware
#             drivers pruned), as a sparse 3 GiB raw ext4 image (mkfs.ext4
#             -d). Each run boots a fresh qcow2 overlay of it (in a temp
#             dir under cgroup2-vm/runs/, removed on exit, or by the next
#             run if this one was SIGKILLed), so runs never change the cache.
#   /sbin/guest-init (written below) mounts proc, sysfs, devtmpfs, devpts,
#             tmpfs on /run, /tmp and /dev/shm, cgroup2 alone at
#             /sys/fs/cgroup, makes / rshared (as systemd does), enables
#             every controller of cgroup.controllers in the root's
#             cgroup.subtree_control, loads overlay (containerd's
#             snapshotter), 9p and virtio_rng, brings lo up, sets the
#             hostname cgroup2-vm, mounts the share at /work, prints
#             "guest: cgroup2-only: <controllers>", refuses to go on if
#             /proc/mounts has any cgroup (v1) mount, then runs guest.sh.
#   qemu      -accel tcg,thread=multi -cpu max -smp 2 -m 4096 -machine q35,
#             kernel command line with systemd.unified_cgroup_hierarchy=1
#             cgroup_no_v1=all console=ttyS0 panic=-1 mitigations=off
#             (CGROUP2_VM_APPEND adds to it, e.g. quiet).
# The mirror for debootstrap is the one the host's apt uses for bookworm
# (read from `apt-cache policy` at run time).
#
# Cache: ${CODEEXEC_CACHE_DIR:-/var/cache/codeexec}/cgroup2-vm/<hash>/ with
# vmlinuz (8 MiB), initrd.img (1.7 MiB), root.img (3 GiB sparse, 236 MiB
# used), kernel-version. It is built in a temp dir beside it and renamed into
# place, under an flock (cgroup2-vm/.lock); building a new <hash> removes
# the others (except ones a running guest holds). Temp dirs are removed on
# exit, even on failure. Nothing on the host changes but apt installs of
# missing tools (qemu-system-x86, qemu-utils, busybox-static, e2fsprogs,
# debootstrap): no sysctl, no module, no mount left behind.
#
# Facts checked on these machines (Debian 12 host, 2 cores, 24 GiB):
#   - KVM must not be used: /dev/kvm here is PVM and a stock Debian kernel
#     fails under it. TCG with thread=multi works.
#   - Debian's 6.1 kernel has virtio_pci, virtio_blk, ext4, 9p and overlay
#     as (uncompressed) modules; kernel 6.1 has memory.peak.
#   - Timings (measured here, on a machine also busy with other work):
#     build from nothing about 1 min (debootstrap about half of it, with
#     the host's tools already installed); cached build 0.04 s; boot to
#     guest.sh 7.5-9 s of guest uptime (kernel 4 s of it); a small
#     guest.sh run 12-18 s in all; qemu's peak RSS about 0.6 GiB (of
#     -m 4096). Software emulation runs guest code several times slower
#     than the host: budget test timeouts for that.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_PATH="${SCRIPT_DIR}/$(basename -- "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/common.sh
. "${SCRIPT_DIR}/common.sh"

VM_CACHE="${CODEEXEC_CACHE_DIR}/cgroup2-vm"
ROOT_PACKAGES="bash,coreutils,util-linux,procps,iproute2,kmod,runc,crun"
EXTRA_PACKAGES="$(printf '%s' "${CGROUP2_VM_EXTRA_PACKAGES:-}" | tr -s ' ,' ',' | sed 's/^,//; s/,$//')"
ROOT_SIZE=3G
DEFAULT_TIMEOUT=1800
# Modules the initrd loads (with their dependencies) to mount the root.
INITRD_MODULES=(virtio_pci virtio_blk crc32c_generic ext4)
# Module directories of hardware a q35 guest does not have: pruned from
# the root to keep the image small and mkfs fast.
PRUNE_MODULE_DIRS=(sound drivers/gpu drivers/media drivers/infiniband drivers/usb
	drivers/iio drivers/staging drivers/hwmon drivers/comedi drivers/isdn
	drivers/bluetooth drivers/mmc drivers/mtd drivers/video drivers/hid
	drivers/input drivers/platform drivers/target drivers/scsi
	drivers/net/wireless drivers/net/ethernet drivers/net/can drivers/net/usb)

usage() {
	sed -n '2,/^# The guest/{/^# The guest/d; s/^# \{0,1\}//p}' "${SCRIPT_PATH}" >&2
	exit 2
}

# ---------------------------------------------------------------- cleanup

TMP_DIRS=()
QEMU_PIDFILE=""
RUN_PID=""

# unmount_under DIR: lazily unmount whatever is mounted at or below DIR
# (debootstrap mounts proc and sys in its target; a failed run may leave them).
unmount_under() {
	local m
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "${m}" 2>/dev/null || true; done
}

kill_qemu() {
	local pid=""
	if [[ -n ${RUN_PID} ]] && kill -0 "${RUN_PID}" 2>/dev/null; then
		kill -TERM "${RUN_PID}" 2>/dev/null || true
	fi
	if [[ -n ${QEMU_PIDFILE} && -s ${QEMU_PIDFILE} ]]; then
		pid="$(<"${QEMU_PIDFILE}")"
	fi
	if [[ -n ${pid} ]] && grep -qs qemu "/proc/${pid}/cmdline"; then
		kill -TERM "${pid}" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			grep -qs qemu "/proc/${pid}/cmdline" || break
			sleep 0.5
		done
		kill -KILL "${pid}" 2>/dev/null || true
	fi
	if [[ -n ${RUN_PID} ]]; then
		wait "${RUN_PID}" 2>/dev/null || true
		RUN_PID=""
	fi
}

cleanup() {
	local d
	kill_qemu
	for d in "${TMP_DIRS[@]}"; do
		unmount_under "${d}"
		rm -rf --one-file-system -- "${d}" || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- build

recipe_hash() {
	{
		sha256sum <"${SCRIPT_PATH}"
		printf 'extra=%s\n' "${EXTRA_PACKAGES}"
	} | sha256sum | cut -c1-16
}

# The bookworm main mirror the host's apt uses (empty: debootstrap's default).
host_mirror() {
	apt-cache policy 2>/dev/null |
		awk '$3 == "bookworm/main" && $4 == "amd64" && $2 ~ /^(https?|file):/ { print $2; exit }'
}

ensure_tools() {
	ensure_commands \
		qemu-system-x86_64:qemu-system-x86 \
		qemu-img:qemu-utils \
		/bin/busybox:busybox-static \
		mkfs.ext4:e2fsprogs \
		debootstrap:debootstrap \
		/usr/share/keyrings/debian-archive-keyring.gpg:debian-archive-keyring \
		dpkg-deb:dpkg \
		flock:util-linux \
		setpriv:util-linux \
		timeout:coreutils \
		gzip:gzip
}

# fetch_kernel TMP: extract the bookworm kernel package into TMP/kernel.
fetch_kernel() {
	local tmp="$1" pkg
	if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
		apt-get update -qq >&2
	fi
	pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
	[[ -n ${pkg} ]] || die "cannot tell which kernel linux-image-amd64 depends on"
	mkdir -p "${tmp}/deb"
	chmod 0777 "${tmp}/deb" # apt's _apt user downloads into it
	log "downloading ${pkg}"
	(cd "${tmp}/deb" && apt-get download -qq "${pkg}" >&2) || die "apt-get download ${pkg} failed"
	dpkg-deb -x "${tmp}"/deb/"${pkg}"_*.deb "${tmp}/kernel"
	rm -rf "${tmp}/deb"
}

# module_closure MODDIR NAME...: the .ko paths (relative to MODDIR) to
# insmod, in load order, for NAMEs and their dependencies. Built-in modules
# are skipped.
module_closure() {
	local moddir="$1"
	shift
	awk -v want="$*" '
		function norm(p,   n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { gsub(/-/, "_", w[i]); order[i] = w[i] } }
		{
			path = $1; sub(/:$/, "", path)
			line[norm(path)] = $0
		}
		function emit(p) { if (!(p in done)) { done[p] = 1; print p } }
		END {
			for (i = 1; i <= n; i++) {
				name = order[i]
				if (!(name in line)) continue
				k = split(line[name], f, " ")
				sub(/:$/, "", f[1])
				# modules.dep lists dependencies so that loading them last
				# to first works (as modprobe does).
				for (j = k; j >= 2; j--) emit(f[j])
				emit(f[1])
			}
		}' "${moddir}/modules.dep"
}

# The root's init. Runs as PID 1 after switch_root.
write_guest_init() {
	cat >"$1" <<'GUEST_INIT'
#!/bin/bash
# PID 1 of the cgroup2-vm guest (written by scripts/cgroup2-vm.sh).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb

say() { echo "guest: $*"; }
off() {
	sync
	umount /work 2>/dev/null
	sync
	echo o >/proc/sysrq-trigger
	sleep 10
	exit 1 # panic=-1 and qemu's -no-reboot end the VM too
}
# fail MSG: report a setup failure (status 125 when /work is there).
fail() {
	say "error: $*"
	if mountpoint -q /work; then
		echo 125 >/work/exit-status.tmp && mv -f /work/exit-status.tmp /work/exit-status
	fi
	off
}

mountpoint -q /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
mountpoint -q /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mountpoint -q /dev || mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue 2>/dev/null
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
mount --make-rshared /
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+${c}" >/sys/fs/cgroup/cgroup.subtree_control || say "warning: cannot enable the ${c} controller"
done
for m in overlay 9p 9pnet_virtio virtio_rng; do
	modprobe "${m}" || say "warning: modprobe ${m} failed"
done
ip link set lo up
hostname cgroup2-vm
mkdir -p /work
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap,access=client work /work ||
	fail "cannot mount the 9p share at /work"

say "cgroup2-only: $(cat /sys/fs/cgroup/cgroup.controllers)"
say "subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if grep -q '^[^ ]* [^ ]* cgroup ' /proc/mounts; then
	grep '^[^ ]* [^ ]* cgroup ' /proc/mounts
	fail "a cgroup v1 hierarchy is mounted"
fi
[[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || fail "/sys/fs/cgroup is not cgroup2fs"
[[ -f /work/guest.sh ]] || fail "/work/guest.sh is missing"

say "kernel $(uname -r), running /work/guest.sh at uptime $(cut -d' ' -f1 /proc/uptime) s"
cd /work || fail "cannot cd /work"
bash /work/guest.sh </dev/null
status=$?
say "guest.sh exited with ${status} at uptime $(cut -d' ' -f1 /proc/uptime) s"
cd /
echo "${status}" >/work/exit-status.tmp && mv -f /work/exit-status.tmp /work/exit-status
off
GUEST_INIT
	chmod 0755 "$1"
}

# The initrd's init (busybox sh).
write_initrd_init() {
	cat >"$1" <<'INITRD_INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
rescue() {
	echo "initrd: error: $*"
	echo o >/proc/sysrq-trigger
	sleep 10
	exit 1
}
while read -r ko; do
	insmod "/lib/modules/${ko}" || rescue "insmod ${ko} failed"
done </modules.load
i=0
while [ ! -b /dev/vda ]; do
	i=$((i + 1))
	[ "${i}" -le 100 ] || rescue "no /dev/vda after 10 s"
	sleep 0.1
done
mkdir -p /newroot
mount -t ext4 -o rw /dev/vda /newroot || rescue "cannot mount /dev/vda"
for m in dev proc sys; do
	mount -o move "/${m}" "/newroot/${m}" || rescue "cannot move /${m}"
done
exec switch_root /newroot /sbin/guest-init
INITRD_INIT
	chmod 0755 "$1"
}

# make_root TMP KVER: debootstrap the root tree into TMP/root and add the
# kernel's modules and the guest init.
make_root() {
	local tmp="$1" kver="$2" root="$1/root" mirror d
	local -a args=(--variant=minbase --include="${ROOT_PACKAGES}${EXTRA_PACKAGES:+,${EXTRA_PACKAGES}}" bookworm "${root}")
	mirror="$(host_mirror)"
	[[ -n ${mirror} ]] && args+=("${mirror}")
	log "debootstrap ${args[*]} (log: ${tmp}/debootstrap.log)"
	if ! debootstrap "${args[@]}" >"${tmp}/debootstrap.log" 2>&1; then
		tail -n 20 "${tmp}/debootstrap.log" >&2
		[[ -f ${root}/debootstrap/debootstrap.log ]] && tail -n 20 "${root}/debootstrap/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	unmount_under "${root}"
	rm -rf "${root:?}"/var/cache/apt/archives/*.deb "${root:?}"/var/lib/apt/lists/* \
		"${root:?}"/var/cache/apt/*.bin "${root:?}"/usr/share/man/* "${root:?}"/usr/share/doc/* \
		"${root:?}"/usr/share/locale/*
	# The kernel's modules, without drivers for hardware the guest lacks.
	mkdir -p "${root}/lib/modules"
	cp -a "${tmp}/kernel/lib/modules/${kver}" "${root}/lib/modules/"
	for d in "${PRUNE_MODULE_DIRS[@]}"; do
		rm -rf "${root:?}/lib/modules/${kver}/kernel/${d}"
	done
	chroot "${root}" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin depmod -a "${kver}"
	write_guest_init "${root}/sbin/guest-init"
	printf 'cgroup2-vm\n' >"${root}/etc/hostname"
	printf '127.0.0.1\tlocalhost cgroup2-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"${root}/etc/hosts"
	: >"${root}/etc/resolv.conf"
	: >"${root}/etc/fstab"
	mkdir -p "${root}/work"
}

# make_initrd TMP KVER: TMP/out/initrd.img from busybox and the modules
# that mount the root (taken from the root tree, which has modules.dep).
make_initrd() {
	local tmp="$1" kver="$2" ird="$1/initrd" moddir="$1/root/lib/modules/$2" ko
	mkdir -p "${ird}"/{bin,dev,proc,sys,newroot,lib/modules}
	cp /bin/busybox "${ird}/bin/busybox"
	mknod -m 0600 "${ird}/dev/console" c 5 1
	module_closure "${moddir}" "${INITRD_MODULES[@]}" >"${ird}/modules.load"
	[[ -s ${ird}/modules.load ]] || die "no initrd modules found in ${moddir}/modules.dep"
	while read -r ko; do
		mkdir -p "${ird}/lib/modules/$(dirname -- "${ko}")"
		cp "${moddir}/${ko}" "${ird}/lib/modules/${ko}"
	done <"${ird}/modules.load"
	write_initrd_init "${ird}/init"
	(cd "${ird}" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) | gzip -6 >"${tmp}/out/initrd.img"
	log "initrd modules: $(sed 's|.*/||; s|\.ko$||' "${ird}/modules.load" | tr '\n' ' ')"
}

build_guest() {
	local hash="$1" dest="${VM_CACHE}/$1" tmp kver old ofd
	for old in "${VM_CACHE}"/.build.*; do
		[[ -e ${old} ]] || continue
		log "removing an interrupted build: ${old}"
		unmount_under "${old}"
		rm -rf --one-file-system -- "${old}"
	done
	tmp="$(mktemp -d "${VM_CACHE}/.build.XXXXXX")"
	TMP_DIRS+=("${tmp}")
	chmod 0755 "${tmp}" # apt's _apt user downloads the kernel into it
	mkdir -p "${tmp}/out"
	log "building the guest ${hash} in ${tmp}"
	fetch_kernel "${tmp}"
	kver="$(basename -- "$(find "${tmp}/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")"
	[[ -n ${kver} && -f ${tmp}/kernel/boot/vmlinuz-${kver} ]] || die "no kernel in the package"
	cp "${tmp}/kernel/boot/vmlinuz-${kver}" "${tmp}/out/vmlinuz"
	printf '%s\n' "${kver}" >"${tmp}/out/kernel-version"
	make_root "${tmp}" "${kver}"
	make_initrd "${tmp}" "${kver}"
	log "mkfs.ext4 -d (${ROOT_SIZE}, sparse)"
	mkfs.ext4 -q -F -L root -d "${tmp}/root" -E lazy_itable_init=1,lazy_journal_init=1 \
		"${tmp}/out/root.img" "${ROOT_SIZE}" >/dev/null
	: >"${tmp}/out/inuse.lock"
	mv -T "${tmp}/out" "${dest}"
	log "built ${dest}: kernel ${kver}, root.img $(du -h "${dest}/root.img" | cut -f1) used of ${ROOT_SIZE}"
	# Older recipes, unless a running guest holds them.
	for old in "${VM_CACHE}"/*; do
		[[ -d ${old} && ${old} != "${dest}" && ${old##*/} =~ ^[0-9a-f]{16}$ ]] || continue
		if [[ -f ${old}/inuse.lock ]]; then
			exec {ofd}<"${old}/inuse.lock"
			if ! flock -n -x "${ofd}"; then
				exec {ofd}<&-
				log "keeping ${old}: a guest is running from it"
				continue
			fi
			exec {ofd}<&-
		fi
		rm -rf --one-file-system -- "${old}"
		log "removed the old guest ${old}"
	done
}

# ensure_guest [shared]: build the guest unless cached; set GUEST_DIR.
# With "shared", also hold a shared lock on it (for the rest of the
# script) so no newer build removes it while it runs.
GUEST_DIR=""
GUEST_LOCK_FD=""
ensure_guest() {
	local hash lockfd
	hash="$(recipe_hash)"
	GUEST_DIR="${VM_CACHE}/${hash}"
	mkdir -p "${VM_CACHE}"
	exec {lockfd}>"${VM_CACHE}/.lock"
	if ! flock -n -x "${lockfd}"; then
		log "another cgroup2-vm.sh holds ${VM_CACHE}/.lock; waiting"
		flock -x "${lockfd}"
	fi
	if [[ ! -f ${GUEST_DIR}/root.img || ! -f ${GUEST_DIR}/vmlinuz || ! -f ${GUEST_DIR}/initrd.img ]]; then
		build_guest "${hash}"
	else
		log "using the cached guest ${GUEST_DIR}"
	fi
	if [[ ${1:-} == shared ]]; then
		exec {GUEST_LOCK_FD}<"${GUEST_DIR}/inuse.lock"
		flock -s "${GUEST_LOCK_FD}"
	fi
	exec {lockfd}>&-
}

# ---------------------------------------------------------------- run

# new_run_dir: make RUN_DIR, a temp dir for a run's qcow2 overlay under
# VM_CACHE/runs, after removing those of runs that died without cleaning
# up (SIGKILL): a live run holds an flock on its dir's lock file.
RUN_DIR=""
RUN_LOCK_FD=""
new_run_dir() {
	local d fd
	mkdir -p "${VM_CACHE}/runs"
	for d in "${VM_CACHE}"/runs/*; do
		[[ -f ${d}/lock ]] || continue
		exec {fd}<"${d}/lock"
		if flock -n -x "${fd}"; then
			rm -rf --one-file-system -- "${d}"
		fi
		exec {fd}<&-
	done
	RUN_DIR="$(mktemp -d "${VM_CACHE}/runs/run.XXXXXX")"
	TMP_DIRS+=("${RUN_DIR}")
	# Locked before it has its name, so no other run ever sees it unlocked.
	: >"${RUN_DIR}/lock.new"
	exec {RUN_LOCK_FD}<"${RUN_DIR}/lock.new"
	flock -x "${RUN_LOCK_FD}"
	mv "${RUN_DIR}/lock.new" "${RUN_DIR}/lock"
}

run_guest() {
	local dir="$1" timeout_s="$2" guest tmp rc=0 status start kver
	[[ -d ${dir} ]] || die "not a directory: ${dir}"
	dir="$(cd -- "${dir}" && pwd -P)"
	[[ ${dir} != *,* ]] || die "DIR must not contain a comma: ${dir}"
	[[ -f ${dir}/guest.sh ]] || die "no guest.sh in ${dir}"
	[[ ${timeout_s} =~ ^[0-9]+$ && ${timeout_s} -gt 0 ]] || die "bad TIMEOUT_SECONDS: ${timeout_s}"
	ensure_guest shared
	guest="${GUEST_DIR}"
	kver="$(<"${guest}/kernel-version")"

	new_run_dir
	tmp="${RUN_DIR}"
	QEMU_PIDFILE="${tmp}/qemu.pid"
	qemu-img create -q -f qcow2 -b "${guest}/root.img" -F raw "${tmp}/run.qcow2"
	rm -f "${dir}/exit-status" "${dir}/exit-status.tmp"
	: >"${dir}/console.log"
	if [[ ${CGROUP2_VM_ECHO:-0} == 1 ]]; then
		tail -n +1 -F --pid=$$ "${dir}/console.log" >&2 2>/dev/null &
	fi

	log "booting the guest (kernel ${kver}, timeout ${timeout_s} s, console: ${dir}/console.log)"
	start=${SECONDS}
	# setpriv: each dies with its parent, so a killed script leaves no qemu.
	setpriv --pdeathsig KILL -- \
		timeout --kill-after=15 "${timeout_s}" \
		setpriv --pdeathsig KILL -- \
		qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp 2 -m 4096 -machine q35 \
		-nodefaults -display none -no-reboot -no-user-config \
		-monitor none -serial "file:${dir}/console.log" \
		-pidfile "${QEMU_PIDFILE}" \
		-kernel "${guest}/vmlinuz" -initrd "${guest}/initrd.img" \
		-append "console=ttyS0 panic=-1 rw systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all mitigations=off ${CGROUP2_VM_APPEND:-}" \
		-drive "file=${tmp}/run.qcow2,format=qcow2,if=virtio,cache=unsafe,discard=unmap" \
		-virtfs "local,path=${dir},mount_tag=work,security_model=passthrough,id=work" \
		-device virtio-rng-pci \
		</dev/null >"${tmp}/qemu.out" 2>&1 &
	RUN_PID=$!
	wait "${RUN_PID}" || rc=$?
	RUN_PID=""
	if [[ -s ${tmp}/qemu.out ]]; then
		log "qemu said: $(tr '\n' ' ' <"${tmp}/qemu.out")"
	fi
	# timeout(1): 124 after TERM, 137 if qemu needed the KILL as well.
	if [[ ${rc} -eq 124 || (${rc} -eq 137 && $((SECONDS - start)) -ge ${timeout_s}) ]]; then
		kill_qemu
		log "timeout: the guest ran for ${timeout_s} s; qemu killed. Last console lines:"
		tail -n 20 "${dir}/console.log" >&2
		exit 124
	fi
	if [[ ! -f ${dir}/exit-status ]]; then
		log "qemu exited (${rc}) after $((SECONDS - start)) s. Last console lines:"
		tail -n 30 "${dir}/console.log" >&2
		printf '%s: error: the guest never wrote %s (see %s)\n' "${0##*/}" \
			"${dir}/exit-status" "${dir}/console.log" >&2
		exit 125
	fi
	status="$(<"${dir}/exit-status")"
	[[ ${status} =~ ^[0-9]+$ ]] || {
		printf '%s: error: bad exit status %q in %s\n' "${0##*/}" "${status}" "${dir}/exit-status" >&2
		exit 125
	}
	log "guest.sh exited with ${status}; the guest ran $((SECONDS - start)) s"
	if [[ ${status} -ne 0 && ${CGROUP2_VM_ECHO:-0} != 1 ]]; then
		log "last console lines:"
		tail -n 20 "${dir}/console.log" >&2
	fi
	exit "${status}"
}

main() {
	[[ $# -ge 1 ]] || usage
	case "$1" in
	build)
		[[ $# -eq 1 ]] || usage
		require_root
		ensure_tools
		ensure_guest
		;;
	run)
		[[ $# -eq 2 || $# -eq 3 ]] || usage
		require_root
		ensure_tools
		run_guest "$2" "${3:-${DEFAULT_TIMEOUT}}"
		;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
