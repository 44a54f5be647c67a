#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the project needs on a Debian 12 host (run as root), then
# unpack the guest kernel and the kernel-source bits the tests build against.
# Idempotent: a second run only checks and returns.
#
#   scripts/deps.sh            (also: make deps)
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
	build-essential bc flex bison libelf-dev libssl-dev dwarves kmod cpio
	busybox-static sparse pciutils socat dpkg-dev meson ninja-build
	pkg-config libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev
	python3-venv seabios qemu-system-data xz-utils
	linux-headers-amd64 linux-source-6.1
	dkms gcc-aarch64-linux-gnu libc6-dev-arm64-cross zstd
	debhelper dh-dkms lintian rsync
	clang openssl libcbor-dev libjson-c-dev
)
SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
SRC_DIR=$NE_CACHE/linux-source-6.1
SRC_FILES=(
	scripts
	tools/testing/selftests/kselftest.h
	tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/lib.mk
)

log() { echo "deps: $*"; }

need_root() {
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: missing packages/files and not root; run as root: $0" >&2
		exit 1
	fi
}

# Print the packages among "$@" that are not installed.
missing_packages() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ $status == installed ]] || echo "$p"
	done
}

APT_UPDATED=
apt_update_once() {
	[[ -n $APT_UPDATED ]] && return 0
	log "apt-get update"
	apt-get update -q || log "apt-get update reported errors; trying the install anyway"
	APT_UPDATED=1
}

install_packages() {
	local missing
	mapfile -t missing < <(missing_packages "$@")
	[[ ${#missing[@]} -eq 0 ]] && return 0
	need_root
	apt_update_once
	log "installing: ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The ABI comes from linux-headers-amd64, so (re)compute it once that is in.
refresh_kver() {
	if [[ -z $KABI ]]; then
		KABI=$(ne_kabi)
		[[ -n $KABI ]] || { echo "deps: cannot tell the kernel ABI from linux-headers-amd64" >&2; exit 1; }
		KVER=$KABI-amd64
		KDIR=/usr/src/linux-headers-$KVER
		NE_KERNEL_DIR=$NE_CACHE/kernel/$KVER
		export KABI KVER KDIR NE_KERNEL_DIR
	fi
}

# The guest kernel: linux-image-$KVER-unsigned unpacked (never installed).
unpack_guest_kernel() {
	local pkg=linux-image-$KVER-unsigned debs=$NE_CACHE/debs deb
	if [[ -f $NE_KERNEL_DIR/boot/vmlinuz-$KVER && -d $NE_KERNEL_DIR/lib/modules/$KVER ]]; then
		return 0
	fi
	need_root
	mkdir -p "$debs"
	deb=$(ls "$debs"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
	if [[ -z $deb ]]; then
		log "downloading $pkg"
		if ! (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg"); then
			apt_update_once
			(cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
		fi
		deb=$(ls "$debs"/"${pkg}"_*.deb | head -n1)
	fi
	log "unpacking $(basename "$deb") into $NE_KERNEL_DIR"
	rm -rf "$NE_KERNEL_DIR.tmp"
	mkdir -p "$NE_KERNEL_DIR.tmp"
	dpkg -x "$deb" "$NE_KERNEL_DIR.tmp"
	rm -rf "$NE_KERNEL_DIR"
	mv "$NE_KERNEL_DIR.tmp" "$NE_KERNEL_DIR"
}

# QEMU boots an uncompressed ELF vmlinux directly (PVH entry), which skips
# the xz decompression that takes ~10 s under TCG. Debian's bzImage holds
# one xz stream: find its magic and decompress from there.
extract_vmlinux() {
	local z=$NE_KERNEL_DIR/boot/vmlinuz-$KVER out=$NE_KERNEL_DIR/boot/vmlinux-$KVER off
	[[ -f $out ]] && return 0
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$z" | head -n1 | cut -d: -f1)
	if [[ -z $off ]]; then
		log "no xz stream in $z; the VM will boot the bzImage"
		return 0
	fi
	log "extracting $(basename "$out") (PVH boot)"
	# (xz stops reading at the end of the stream: tail may get SIGPIPE)
	xz -dc --single-stream < <(tail -c +$((off + 1)) "$z" || true) > "$out.tmp"
	if [[ $(head -c 4 "$out.tmp" | od -An -c | tr -d ' ') != '177ELF' ]]; then
		rm -f "$out.tmp"
		log "extracted image is not ELF; the VM will boot the bzImage"
		return 0
	fi
	mv "$out.tmp" "$out"
}

# Just the parts of Debian's kernel source that the tests build with.
extract_kernel_source() {
	local f missing=()
	for f in "${SRC_FILES[@]}"; do
		[[ -e $SRC_DIR/$f ]] || missing+=("linux-source-6.1/$f")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	log "extracting ${missing[*]#linux-source-6.1/} from $SRC_TARBALL"
	mkdir -p "$SRC_DIR"
	tar -xJf "$SRC_TARBALL" -C "$SRC_DIR" --strip-components=1 "${missing[@]}"
}

main() {
	install_packages "${PACKAGES[@]}"
	refresh_kver
	install_packages "linux-headers-$KVER"
	unpack_guest_kernel
	extract_vmlinux
	extract_kernel_source
	log "ok (kernel $KVER, cache $NE_CACHE)"
}

main "$@"
