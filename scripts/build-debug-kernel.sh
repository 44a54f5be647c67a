#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make debug-kernel: build a debug kernel for the test VM from Debian's
# linux-source-6.1 (x86_64 defconfig + kvm_guest.config +
# scripts/debug-kernel.config: KASAN, lockdep, kmemleak, KUnit, ...), then
# the driver and its KUnit module against it.
#
#   scripts/build-debug-kernel.sh            build (or reuse) kernel + module
#   scripts/build-debug-kernel.sh kernel     only the kernel
#   scripts/build-debug-kernel.sh module     only the module (kernel must exist)
#   scripts/build-debug-kernel.sh env        print NE_DK_* for a built kernel
#
# The kernel is cached outside the clone in $NE_CACHE/debug-kernel-<hash>,
# <hash> being the sha256 of the linux-source version, the fragment and the
# kernel-building part of this script (between the "hashed" markers); a
# hit prints "debug-kernel: using cached build". ~15-30 min on 2 busy
# cores (nice 19), ~1.2 GB. $NE_BUILD/debug-kernel gets links:
#   vmlinux, bzImage   the kernel (ne-vm --kernel takes the bzImage: the
#                      KASAN vmlinux does not boot from its PVH entry)
#   modules            its lib/modules/<release> (ne-vm --modules)
#   kdir               the O= build dir (make -C kdir M=... builds modules)
#   release            a file holding the kernel release
# and the modules built against it: module/nitro_enclaves.ko and
# module/nitro_enclaves_kunit.ko (CONFIG_NITRO_ENCLAVES_KUNIT_TEST=m).
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

TARBALL=/usr/src/linux-source-6.1.tar.xz
FRAGMENT=$NE_ROOT/scripts/debug-kernel.config
OUT=$NE_BUILD/debug-kernel
JOBS=${NE_DK_JOBS:-2}

log() { echo "debug-kernel: $*"; }
die() { echo "debug-kernel: $*" >&2; exit 1; }

cache_dir() {
	local ver hash
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
		die "linux-source-6.1 is not installed (run: make deps)"
	hash=$( { echo "$ver"; cat "$FRAGMENT"
		  sed -n '/^# >>> hashed/,/^# <<< hashed/p' "${BASH_SOURCE[0]}"; } |
		sha256sum | cut -c1-16)
	echo "$NE_CACHE/debug-kernel-$hash"
}

DIR=$(cache_dir)
SRC=$DIR/src
OBJ=$DIR/obj
MODS=$DIR/mods

# >>> hashed: what decides the kernel binary
kmake() {
	nice -n 19 make -C "$SRC" O="$OBJ" ARCH=x86_64 "$@"
}

# Every y/n/string the fragment asks for must have survived olddefconfig.
check_config() {
	local line sym want got bad=0
	while read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]]; then
			sym=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set$ ]]; then
			sym=${BASH_REMATCH[1]} want=n
		else
			continue
		fi
		got=$(sed -n "s/^$sym=//p" "$OBJ/.config")
		[[ -n $got ]] || got=n
		if [[ $got != "$want" ]]; then
			log "config: $sym=$got, fragment wants $want"
			bad=1
		fi
	done < "$FRAGMENT"
	return $bad
}

build_kernel() {
	local release
	if [[ -f $DIR/.done ]]; then
		log "using cached build $DIR"
		return 0
	fi
	mkdir -p "$DIR"
	exec 9> "$DIR.lock"
	flock 9
	[[ -f $DIR/.done ]] && { log "using cached build $DIR"; return 0; }
	if [[ ! -f $SRC/.extracted ]]; then
		log "extracting $TARBALL into $SRC"
		rm -rf "$SRC"
		mkdir -p "$SRC"
		nice -n 19 tar -xf "$TARBALL" -C "$SRC" --strip-components=1
		touch "$SRC/.extracted"
	fi
	mkdir -p "$OBJ"
	log "configuring: defconfig + kvm_guest.config + $(basename "$FRAGMENT")"
	kmake -s defconfig
	(cd "$SRC" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m -O "$OBJ" \
		"$OBJ/.config" kernel/configs/kvm_guest.config "$FRAGMENT" > "$OBJ/merge_config.log")
	kmake -s olddefconfig
	check_config || die "the fragment does not apply (see above)"
	log "building (make -j$JOBS bzImage modules modules_prepare, nice 19)"
	local start=$SECONDS
	kmake -j"$JOBS" bzImage modules
	kmake -j"$JOBS" modules_prepare
	release=$(kmake -s kernelrelease)
	rm -rf "$MODS"
	kmake -s INSTALL_MOD_PATH="$MODS" INSTALL_MOD_STRIP=1 modules_install
	rm -f "$MODS/lib/modules/$release"/{build,source}
	echo "$release" > "$DIR/release"
	log "built $release in $(( (SECONDS - start) / 60 )) min"
	touch "$DIR/.done"
}
# <<< hashed

link_outputs() {
	local release
	release=$(cat "$DIR/release")
	mkdir -p "$OUT"
	ln -sfn "$OBJ/vmlinux" "$OUT/vmlinux"
	ln -sfn "$OBJ/arch/x86/boot/bzImage" "$OUT/bzImage"
	ln -sfn "$MODS/lib/modules/$release" "$OUT/modules"
	ln -sfn "$OBJ" "$OUT/kdir"
	echo "$release" > "$OUT/release"
}

# The driver and its KUnit suite, out of tree (scripts/build-module.sh).
build_module() {
	local mdir=$OUT/module/src/drivers/virt/nitro_enclaves
	[[ -f $DIR/.done ]] || die "no debug kernel yet (run: make debug-kernel)"
	link_outputs
	"$NE_ROOT/scripts/build-module.sh" "$OBJ" "$OUT/module" \
		CONFIG_NITRO_ENCLAVES_KUNIT_TEST=m
	if [[ -f $mdir/nitro_enclaves_kunit.ko ]]; then
		cp "$mdir/nitro_enclaves_kunit.ko" "$OUT/module/"
	else
		rm -f "$OUT/module/nitro_enclaves_kunit.ko"
		log "no nitro_enclaves_kunit.ko (KUnit suites not built)"
	fi
}

case ${1:-all} in
all)	build_kernel; link_outputs; build_module ;;
kernel)	build_kernel; link_outputs ;;
module)	build_module ;;
env)
	[[ -f $DIR/.done ]] || die "no debug kernel yet (run: make debug-kernel)"
	echo "NE_DK_DIR=$DIR"
	echo "NE_DK_RELEASE=$(cat "$DIR/release")"
	# The bzImage: this KASAN vmlinux resets before its first console
	# line when QEMU starts it at its PVH entry.
	echo "NE_DK_KERNEL=$OBJ/arch/x86/boot/bzImage"
	echo "NE_DK_MODULES=$MODS/lib/modules/$(cat "$DIR/release")"
	echo "NE_DK_KDIR=$OBJ"
	echo "NE_DK_MODULE=$OUT/module/nitro_enclaves.ko"
	echo "NE_DK_KUNIT=$OUT/module/nitro_enclaves_kunit.ko"
	# How ne-vm must boot it. no5lvl: booted from its bzImage, the guest
	# would take TCG's la57 and a 56-bit user address space, which the
	# address tests do not expect. acpi=noirq: under KASAN and lockdep
	# the AML interpreter runs the i440FX _PRT method into ACPI's 30 s
	# loop timeout on every boot (AE_AML_LOOP_TIMEOUT); PCI INTx routing
	# comes from the BIOS's $PIR table instead. ACPI PCI hotplug, which
	# QMP device_del needs, is untouched (pci=noacpi would remove it).
	echo "NE_DK_APPEND='no5lvl acpi=noirq'"
	# KASAN and lockdep make the tests ~3x slower.
	echo "NE_DK_TIMEOUT_SCALE=3"
	# linux-source-6.1 (6.1.192) calls hugetlb_split() from
	# __vma_adjust() before it takes the file's i_mmap lock, so
	# lockdep's i_mmap_assert_write_locked() warns whenever a hugetlb
	# mapping is split (munmap or mprotect of part of it): a bug of that
	# stable kernel, not of the driver, which ne-vm lists as "not
	# counted" (NE_VM_KNOWN_KMSG).
	echo "NE_DK_KNOWN_KMSG='at include/linux/fs.h:509 hugetlb_split'"
	;;
*)	die "usage: $0 [all|kernel|module|env]" ;;
esac
