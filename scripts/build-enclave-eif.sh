#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build an Enclave Image File laid out as nitro-cli build-enclave lays it
# out, to boot for real (tools/enclave/README.rst):
#
#   kernel     Debian's stock vmlinuz ($NE_KERNEL_DIR/boot), or --kernel
#   cmdline    nitro-cli's x86_64 command line (see CMDLINE below)
#   ramdisk 1  bootstrap: /init (tools/enclave), /dev, and for the stock
#              kernel the virtio and vsock modules with /modules.list
#   ramdisk 2  application: /rootfs, /cmd, /env
#
#   scripts/build-enclave-eif.sh --cmd 'CMD ARG...' [options]
#
#   --cmd 'CMD ARG...'  the command, split at blanks: one /cmd line per
#                       word (no quoting; for arguments with blanks, give
#                       --cmd-file)
#   --cmd-file FILE     /cmd as is: one argument per line
#   --env K=V           one /env line (repeatable); without any, the
#                       command gets PATH=/sbin:/usr/sbin:/bin:/usr/bin
#   --rootfs DIR|TAR    the root filesystem: a directory, or a tarball as
#                       `docker export` writes it (tar, tar.gz, ...).
#                       Default: static busybox (/bin/busybox) with its
#                       applets linked in /bin
#   --add SRC:DEST      add file SRC as /rootfs/DEST (repeatable), e.g. a
#                       static test program
#   --kernel FILE       another kernel; with --no-modules for a kernel
#                       whose virtio-mmio and vsock are built in
#   --no-modules        no modules and no /modules.list
#   --cmdline-append ARGS  append ARGS to the command line (a test image's
#                       panic=1, say; PCR0 and PCR1 change with it)
#   --init FILE         another /init (default: tools/enclave's init, built
#                       into $NE_BUILD/enclave/init)
#   -o OUT              copy the image to OUT
#
# The image is reproducible (files dated 0, owned by 0:0, archives sorted,
# SOURCE_DATE_EPOCH=0) and cached in $NE_CACHE/enclave-eif/<hash>.eif,
# hash = sha256 of the kernel, the command line, both ramdisks (which are
# a function of every other input), the EIF tool and this script. Prints
# the image's path (OUT, or the cached file) on stdout.
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

# nitro-cli's x86_64 command line, unchanged. Its "nomodules" does not
# stop our module loading: the kernel's switch is "nomodule" (singular;
# core_param nomodule -> modules_disabled in kernel/module/main.c), and
# 6.1 does not know "nomodules": it logs it as an unknown parameter and
# passes it to init as an argument, which init ignores. So finit_module
# works and the line stays as the real one (PCR0/PCR1 cover it).
CMDLINE="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
# What a stock kernel (virtio and vsock as modules) needs for vsock over
# virtio-mmio, in load order (each after the ones it depends on).
MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio
	drivers/virtio/virtio_mmio net/vmw_vsock/vsock
	net/vmw_vsock/vmw_vsock_virtio_transport_common
	net/vmw_vsock/vmw_vsock_virtio_transport"

EIF_TOOL=$NE_BUILD/eif/eif
INIT=$NE_BUILD/enclave/init
OUT_DIR=$NE_CACHE/enclave-eif
BUSYBOX=${NE_ENCLAVE_BUSYBOX:-/bin/busybox}

die() { echo "enclave-eif: error: $*" >&2; exit 1; }
usage() { sed -n '/^#   scripts/,/^#   -o OUT/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

kernel=$NE_KERNEL_DIR/boot/vmlinuz-$KVER
modules=1 rootfs='' cmd='' cmd_file='' out='' envs=() adds=()
while (($#)); do
	case $1 in
	--cmd) (($# >= 2)) || usage; cmd=$2; shift ;;
	--cmd-file) (($# >= 2)) || usage; cmd_file=$2; shift ;;
	--env) (($# >= 2)) || usage; envs+=("$2"); shift ;;
	--rootfs) (($# >= 2)) || usage; rootfs=$2; shift ;;
	--add) (($# >= 2)) || usage; adds+=("$2"); shift ;;
	--kernel) (($# >= 2)) || usage; kernel=$2; shift ;;
	--no-modules) modules= ;;
	--cmdline-append) (($# >= 2)) || usage; CMDLINE+=" $2"; shift ;;
	--init) (($# >= 2)) || usage; INIT=$2; shift ;;
	-o) (($# >= 2)) || usage; out=$2; shift ;;
	-h|--help) usage ;;
	*) echo "enclave-eif: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

[[ -n $cmd || -n $cmd_file ]] || die "no command: give --cmd or --cmd-file"
[[ -z $cmd || -z $cmd_file ]] || die "give --cmd or --cmd-file, not both"
[[ -z $cmd_file || -f $cmd_file ]] || die "no such file: $cmd_file"
[[ -f $kernel ]] || die "no kernel $kernel (scripts/ne-vm fetches it)"
[[ -n $rootfs || -x $BUSYBOX ]] ||
	die "no static busybox $BUSYBOX (package busybox-static)"
[[ -z $rootfs || -e $rootfs ]] || die "no such rootfs: $rootfs"
for e in "${envs[@]}"; do
	[[ $e == [A-Za-z_]*=* && $e != *$'\n'* ]] ||
		die "--env wants NAME=VALUE on one line, not: $e"
done
for a in "${adds[@]}"; do
	[[ $a == ?*:?* && -f ${a%%:*} ]] ||
		die "--add wants SRC:DEST with SRC a file, not: $a"
done

make -s -C "$NE_ROOT/tools/eif" O="$NE_BUILD/eif" >&2 || die "tools/eif did not build"
make -s -C "$NE_ROOT/tools/enclave" O="$NE_BUILD/enclave" >&2 ||
	die "tools/enclave (init) did not build"
[[ -x $INIT ]] || die "no executable init $INIT"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A reproducible newc archive of directory $1 into $2.
mkcpio() {
	find "$1" -exec touch -h -d @0 {} +
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc \
		--quiet --reproducible -R 0:0) > "$2"
}

# Ramdisk 1: bootstrap.
boot=$tmp/boot
mkdir -p "$boot/dev"
install -m 755 "$INIT" "$boot/init"
if [[ -n $modules ]]; then
	moddir=$NE_KERNEL_DIR/lib/modules/$KVER/kernel
	echo "# loaded in this order by /init" > "$boot/modules.list"
	for m in $MODULES; do
		[[ -f $moddir/$m.ko ]] || die "no module $moddir/$m.ko"
		install -m 644 "$moddir/$m.ko" "$boot/${m##*/}.ko"
		echo "${m##*/}.ko" >> "$boot/modules.list"
	done
fi
mkcpio "$boot" "$tmp/bootstrap.cpio"

# Ramdisk 2: application.
app=$tmp/app
root=$app/rootfs
mkdir -p "$root"
if [[ -z $rootfs ]]; then
	mkdir -p "$root/bin"
	install -m 755 "$BUSYBOX" "$root/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[[ $a == busybox ]] || ln -s busybox "$root/bin/$a"
	done
elif [[ -d $rootfs ]]; then
	cp -a "$rootfs/." "$root/"
else
	tar -xf "$rootfs" -C "$root" --numeric-owner ||
		die "cannot unpack $rootfs"
fi
for a in "${adds[@]}"; do
	dest=$root/${a#*:}
	mkdir -p "$(dirname "$dest")"
	install -m "$(stat -c %a "${a%%:*}")" "${a%%:*}" "$dest"
done
# The mount points init uses, as nitro-cli creates them.
mkdir -p "$root"/{dev,run,sys,var,proc,tmp}
if [[ -n $cmd_file ]]; then
	cp "$cmd_file" "$app/cmd"
else
	read -ra words <<< "$cmd"
	((${#words[@]})) || die "--cmd is empty"
	printf '%s\n' "${words[@]}" > "$app/cmd"
fi
: > "$app/env"
((${#envs[@]} == 0)) || printf '%s\n' "${envs[@]}" > "$app/env"
chmod 644 "$app/cmd" "$app/env"
mkcpio "$app" "$tmp/app.cpio"

hash=$( {
	sha256sum "$kernel" "$tmp/bootstrap.cpio" "$tmp/app.cpio" \
		"$EIF_TOOL" "${BASH_SOURCE[0]}" | cut -d' ' -f1
	echo "$CMDLINE"
} | sha256sum | cut -c1-16)
eif=$OUT_DIR/$hash.eif

if [[ ! -f $eif ]]; then
	mkdir -p "$OUT_DIR"
	SOURCE_DATE_EPOCH=0 "$EIF_TOOL" build --kernel "$kernel" \
		--cmdline "$CMDLINE" --ramdisk "$tmp/bootstrap.cpio" \
		--ramdisk "$tmp/app.cpio" --name ne-enclave --version 1.0 \
		--img-kernel "$(basename "$kernel")" \
		-o "$tmp/image.eif" >&2 || die "eif build failed"
	mv "$tmp/image.eif" "$eif.tmp.$$"
	mv "$eif.tmp.$$" "$eif"
fi
"$EIF_TOOL" describe "$eif" > /dev/null ||
	die "eif describe says $eif is invalid"
if [[ -n $out ]]; then
	cp "$eif" "$out"
	echo "$out"
else
	echo "$eif"
fi
