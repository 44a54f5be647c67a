#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch and unpack the other kernels of the test matrix (never installed):
#
#   scripts/ne-kernels.sh fetch bpo     Debian bookworm-backports' amd64
#                                       kernel (6.12): image + headers
#   scripts/ne-kernels.sh fetch arm64   Debian 12's arm64 kernel of the same
#                                       ABI as the host's: image + headers,
#                                       and busybox-static for arm64
#   scripts/ne-kernels.sh env FLAVOUR   print the shell variables below
#
# The packages are found through a private sources list under
# $NE_CACHE/apt-kernels (bookworm, -updates, -security, -backports; amd64
# and arm64; its lists are refreshed once a day, or with
# NE_KERNELS_REFRESH=1); the system's /etc/apt is never touched. The debs go to
# $NE_CACHE/debs and are unpacked with dpkg -x:
#
#   $NE_CACHE/kernel/<kver>    the image and its modules
#   $NE_CACHE/headers/<kver>   linux-headers-<kver> + -common + linux-kbuild
#                              (the host's amd64 build tools), with the
#                              headers' Makefile pointed at the unpacked
#                              -common tree
#
# "fetch" writes $NE_CACHE/kernels/<flavour>.env, which "env" prints:
#   NE_K_KVER     kernel release, e.g. 6.12.95+deb12-amd64
#   NE_K_KDIR     headers to build the module against (M=...)
#   NE_K_IMAGE    the kernel image to boot
#   NE_K_MODULES  its lib/modules/<kver>
#   NE_K_ARCH     x86_64 or arm64
#   NE_K_BUSYBOX  (arm64) a static arm64 busybox
# The bpo kernel is keyed by what bookworm-backports' linux-headers-amd64
# metapackage depends on; the arm64 one by the host's $KABI.
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

APT_DIR=$NE_CACHE/apt-kernels
DEBS=$NE_CACHE/debs
ENV_DIR=$NE_CACHE/kernels
MIRROR=http://deb.debian.org/debian
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { echo "kernels: $*" >&2; }
die() { echo "kernels: error: $*" >&2; exit 1; }

apt_private() {	# apt-get|apt-cache ARGS...
	local cmd=$1
	shift
	"$cmd" -o "Dir::Etc::SourceList=$APT_DIR/sources.list" \
		-o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d" \
		-o "Dir::State::Lists=$APT_DIR/lists" \
		-o "Dir::Cache=$APT_DIR/cache" \
		-o "APT::Architectures=amd64,arm64" \
		-o APT::Sandbox::User=root "$@"
}

# Lists younger than a day are reused (NE_KERNELS_REFRESH=1 updates anyway).
APT_UPDATED=
apt_update() {
	[[ -n $APT_UPDATED ]] && return 0
	if [[ ${NE_KERNELS_REFRESH:-0} != 1 && -f $APT_DIR/updated &&
	      -n $(find "$APT_DIR/updated" -mmin -1440) ]]; then
		APT_UPDATED=1
		return 0
	fi
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" \
		"$APT_DIR/sources.list.d"
	cat > "$APT_DIR/sources.list" <<-EOF
	deb [signed-by=$KEYRING] $MIRROR bookworm main
	deb [signed-by=$KEYRING] $MIRROR bookworm-updates main
	deb [signed-by=$KEYRING] http://deb.debian.org/debian-security bookworm-security main
	deb [signed-by=$KEYRING] $MIRROR bookworm-backports main
	EOF
	log "apt-get update (private lists in $APT_DIR)"
	if apt_private apt-get -q update >&2; then
		touch "$APT_DIR/updated"
	else
		log "apt-get update reported errors; going on"
	fi
	APT_UPDATED=1
}

# The newest version of PKG (with :arch) in the private lists.
candidate() {
	apt_private apt-cache madison "$1" | awk '{print $3}' | sort -V | tail -n1
}

# Download PKG[:arch]=VERSION into $DEBS unless there; print the .deb path.
fetch_deb() {	# pkg[:arch] version
	local pkg=${1%%:*} arch=${1#*:} ver=$2 deb
	[[ $arch == "$1" ]] && arch=
	deb=$(ls "$DEBS/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1 || true)
	if [[ -z $deb ]]; then
		apt_update
		log "downloading $1 $ver"
		mkdir -p "$DEBS"
		(cd "$DEBS" && apt_private apt-get -q download "$1=$ver" >&2)
		deb=$(ls "$DEBS/${pkg}_${ver//:/%3a}_"*.deb | head -n1)
	fi
	echo "$deb"
}

# Unpack debs into DIR (via DIR.tmp, so an interrupted run leaves nothing).
unpack() {	# dir deb...
	local dir=$1 d
	shift
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	for d in "$@"; do
		log "unpacking $(basename "$d")"
		dpkg -x "$d" "$dir.tmp"
	done
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
}

write_env() {	# flavour var=value...
	local f=$ENV_DIR/$1.env
	shift
	mkdir -p "$ENV_DIR"
	printf '%s\n' "$@" > "$f.tmp"
	mv "$f.tmp" "$f"
}

# kver version image-pkg headers-pkg common-pkg kbuild-pkg kbuild-version
fetch_kernel() {
	local kver=$1 ver=$2 image=$3 headers=$4 common=$5 kbuild=$6 kbuild_ver=$7
	local kdir=$NE_CACHE/kernel/$kver hdir=$NE_CACHE/headers/$kver src
	if [[ ! -d $kdir/lib/modules/$kver ]]; then
		unpack "$kdir" "$(fetch_deb "$image" "$ver")"
	fi
	src=$hdir/usr/src/linux-headers-$kver
	if [[ ! -f $src/.ne-fixed ]]; then
		unpack "$hdir" "$(fetch_deb "$headers" "$ver")" \
			"$(fetch_deb "$common" "$ver")" \
			"$(fetch_deb "$kbuild" "$kbuild_ver")"
		# The Makefile includes /usr/src/linux-headers-*-common/Makefile:
		# point it into the unpacked tree. scripts/ and tools/ are
		# relative links into usr/lib/linux-kbuild-*, unpacked alongside.
		sed -i "s|^include /usr/src/|include $hdir/usr/src/|" "$src/Makefile"
		[[ -e $src/scripts/Makefile.build ]] ||
			die "$src/scripts does not resolve into the unpacked linux-kbuild"
		touch "$src/.ne-fixed"
	fi
}

# QEMU boots an uncompressed ELF vmlinux directly (PVH entry) like deps.sh
# does for the 6.1 guest: faster under TCG, and the same 4-level paging as
# that guest (the bzImage's decompressor would switch TCG's la57-capable
# CPU to 5-level paging). Debian's 6.12 bzImage holds a zstd stream.
# Prints the image to boot: the vmlinux, or the bzImage if that failed.
extract_vmlinux() {	# kver
	local z=$NE_CACHE/kernel/$1/boot/vmlinuz-$1 out=$NE_CACHE/kernel/$1/boot/vmlinux-$1 off
	if [[ ! -f $out ]]; then
		for off in $(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$z" | cut -d: -f1 | head -n 4); do
			# (zstd stops at the end of the frame: tail may get SIGPIPE)
			tail -c +$((off + 1)) "$z" | zstd -dcq 2> /dev/null > "$out.tmp" || true
			if [[ $(head -c 4 "$out.tmp" | od -An -c | tr -d ' ') == '177ELF' ]]; then
				log "extracted $(basename "$out") (PVH boot)"
				mv "$out.tmp" "$out"
				break
			fi
		done
		rm -f "$out.tmp"
	fi
	if [[ -f $out ]]; then echo "$out"; else echo "$z"; fi
}

fetch_bpo() {
	local ver kver abi kbuild
	apt_update
	ver=$(apt_private apt-cache madison linux-headers-amd64 | awk '$6 ~ /backports/ {print $3}' | sort -V | tail -n1)
	[[ -n $ver ]] || die "no linux-headers-amd64 in bookworm-backports"
	kver=$(apt_private apt-cache show "linux-headers-amd64=$ver" |
		sed -n 's/^Depends: //p' | grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1)
	kver=${kver#linux-headers-}
	abi=${kver%-amd64}
	kbuild=linux-kbuild-$abi
	# 6.1's kbuild package is linux-kbuild-6.1; 6.12's names the ABI.
	apt_private apt-cache show "$kbuild" > /dev/null 2>&1 ||
		kbuild=linux-kbuild-$(echo "$abi" | cut -d. -f1,2)
	log "bookworm-backports: linux-headers-amd64 $ver -> $kver"
	fetch_kernel "$kver" "$ver" "linux-image-$kver-unsigned" \
		"linux-headers-$kver" "linux-headers-$abi-common" "$kbuild" "$ver"
	write_env bpo "NE_K_KVER=$kver" \
		"NE_K_KDIR=$NE_CACHE/headers/$kver/usr/src/linux-headers-$kver" \
		"NE_K_IMAGE=$(extract_vmlinux "$kver")" \
		"NE_K_MODULES=$NE_CACHE/kernel/$kver/lib/modules/$kver" \
		"NE_K_ARCH=x86_64"
}

fetch_arm64() {
	local kver=$KABI-arm64 ver kbuild_ver bb bbdir=$NE_CACHE/arm64/busybox
	[[ -n $KABI ]] || die "no KABI (run make deps)"
	apt_update
	ver=$(candidate "linux-headers-$kver:arm64")
	[[ -n $ver ]] || die "no linux-headers-$kver:arm64"
	# The host's build tools (amd64) for the arm64 headers.
	kbuild_ver=$(candidate linux-kbuild-6.1:amd64)
	log "arm64: $kver $ver (linux-kbuild-6.1 $kbuild_ver)"
	fetch_kernel "$kver" "$ver" "linux-image-$kver-unsigned:arm64" \
		"linux-headers-$kver:arm64" "linux-headers-$KABI-common" \
		"linux-kbuild-6.1:amd64" "$kbuild_ver"
	if [[ ! -x $bbdir/bin/busybox ]]; then
		bb=$(fetch_deb busybox-static:arm64 "$(candidate busybox-static:arm64)")
		unpack "$bbdir" "$bb"
	fi
	write_env arm64 "NE_K_KVER=$kver" \
		"NE_K_KDIR=$NE_CACHE/headers/$kver/usr/src/linux-headers-$kver" \
		"NE_K_IMAGE=$NE_CACHE/kernel/$kver/boot/vmlinuz-$kver" \
		"NE_K_MODULES=$NE_CACHE/kernel/$kver/lib/modules/$kver" \
		"NE_K_ARCH=arm64" "NE_K_BUSYBOX=$bbdir/bin/busybox"
}

# The env file of FLAVOUR exists, names files that exist, and was written
# after the last lists refresh, which is less than a day old.
env_current() {	# flavour
	local f=$ENV_DIR/$1.env line
	[[ ${NE_KERNELS_REFRESH:-0} != 1 && -f $f && -f $APT_DIR/updated &&
	   $f -nt $APT_DIR/updated && -n $(find "$APT_DIR/updated" -mmin -1440) ]] || return 1
	while IFS= read -r line; do
		case $line in
		NE_K_KDIR=*|NE_K_IMAGE=*|NE_K_MODULES=*|NE_K_BUSYBOX=*)
			[[ -e ${line#*=} ]] || return 1 ;;
		esac
	done < "$f"
}

main() {
	local cmd=${1:-} flavour=${2:-}
	case $flavour in
	bpo|arm64) ;;
	*) echo "usage: $0 fetch|env bpo|arm64" >&2; exit 2 ;;
	esac
	case $cmd in
	fetch)
		mkdir -p "$NE_CACHE"
		exec 9> "$NE_CACHE/.ne-kernels.lock"
		flock 9
		# Fresh lists and everything unpacked: nothing to resolve.
		if ! env_current "$flavour"; then
			"fetch_$flavour"
		fi
		cat "$ENV_DIR/$flavour.env" ;;
	env)
		[[ -f $ENV_DIR/$flavour.env ]] ||
			die "no $flavour kernel yet (run: $0 fetch $flavour)"
		cat "$ENV_DIR/$flavour.env" ;;
	*) echo "usage: $0 fetch|env bpo|arm64" >&2; exit 2 ;;
	esac
}

main "$@"
