#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build qemu-system-x86_64 (or, with the argument aarch64,
# qemu-system-aarch64) with the NE PCI device model (tools/qemu).
#
#   scripts/build-qemu.sh [x86_64|aarch64]
#
# 1. Debian's QEMU source is fetched once with `apt-get source qemu`
#    through a private sources list under $NE_CACHE/apt (the system's
#    /etc/apt is never touched) and unpacked in $NE_CACHE/src.
# 2. The files under tools/qemu, and the EIF library of tools/eif (see
#    SHARED_FILES), are laid over a persistent build tree for that source
#    version ($NE_CACHE/qemu-work/<version>), so an edit of the model alone
#    rebuilds in seconds.
# 3. The binary is kept in $NE_CACHE/qemu-<hash>, hash = sha256 of the
#    source version, the target list, every file under tools/qemu, the
#    SHARED_FILES and this script. When that directory exists nothing is
#    rebuilt. Another target than x86_64 has its own source and build tree
#    (qemu-work/<version>/<target>/{qemu,build}) and lock, so it never
#    holds up an x86_64 build.
#
# $NE_BUILD/qemu-system-<target> always ends up as a link to the binary.
#
# Environment: NE_QEMU_JOBS (default 2), NE_QEMU_FORCE=1 rebuilds even when
# a cached binary exists.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=ne-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

JOBS=${NE_QEMU_JOBS:-2}
TARGET=${1:-x86_64}
case $TARGET in
x86_64|aarch64) ;;
*) echo "qemu: error: unknown target '$TARGET' (x86_64 or aarch64)" >&2; exit 1 ;;
esac
BIN=qemu-system-$TARGET
APT_DIR=$NE_CACHE/apt
SRC_DIR=$NE_CACHE/src
WORK_DIR=$NE_CACHE/qemu-work
QEMU_DIR=$NE_ROOT/tools/qemu

# Files from elsewhere in the project laid into the QEMU tree, as
# "<path in the project> <path in the QEMU tree>": the EIF library that the
# device model shares with the eif tool (one parser for both).
SHARED_FILES=(
	"tools/eif/eif_format.c hw/misc/eif_format.c"
	"tools/eif/eif_format.h hw/misc/eif_format.h"
)

# The device only needs PCI, MSI-X and a serial console; the VM needs no
# network, display, audio or host devices.
CONFIGURE_FLAGS=(
	--target-list="$TARGET"-softmmu
	--without-default-features
	--disable-docs
	--disable-tools
	--disable-werror
	--disable-install-blobs
	--meson=meson
)

log() { echo "qemu: $*"; }
die() { echo "qemu: error: $*" >&2; exit 1; }

apt_private() {
	local opts=(
		-o "Dir::Etc::SourceList=$APT_DIR/sources.list"
		-o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d"
		-o "Dir::State::Lists=$APT_DIR/lists"
		-o "Dir::Cache=$APT_DIR/cache"
	)
	# As root, apt downloads as _apt, which cannot write our directories.
	if [ "$(id -u)" = 0 ]; then
		opts+=(-o APT::Sandbox::User=root)
	fi
	apt-get "${opts[@]}" "$@"
}

newest_source() {
	find "$SRC_DIR" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' \
		2>/dev/null | sort -V | tail -n1
}

# Print the directory of the unpacked QEMU source, fetching it if needed.
fetch_source() {
	local dir

	dir=$(newest_source)
	if [ -n "$dir" ] && [ -f "$dir/.ne-unpacked" ]; then
		echo "$dir"
		return
	fi

	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" \
		"$APT_DIR/sources.list.d" "$SRC_DIR"
	cat >"$APT_DIR/sources.list" <<-EOF
	deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
	deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
	deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
	EOF
	log "fetching Debian's QEMU source into $SRC_DIR" >&2
	# A mirror that fails (say, security) need not stop us: the source
	# fetch below says whether what we got is enough.
	apt_private -q update >&2 || log "apt-get update reported errors" >&2
	# A half-unpacked tree from an interrupted run is thrown away.
	rm -rf "$SRC_DIR"/qemu-*/
	(cd "$SRC_DIR" && apt_private -q source qemu) >&2
	dir=$(newest_source)
	[ -n "$dir" ] || die "apt-get source qemu left no qemu-* directory"
	touch "$dir/.ne-unpacked"
	echo "$dir"
}

# Files of tools/qemu laid over the QEMU tree (all but docs and patches).
overlay_files() {
	(cd "$QEMU_DIR" && find . -type f ! -name '*.patch' ! -name '*.rst' \
		-printf '%P\n' | LC_ALL=C sort)
}

# Their paths in the QEMU tree.
shared_dests() {
	local f

	for f in "${SHARED_FILES[@]}"; do
		echo "${f#* }"
	done | LC_ALL=C sort
}

patch_files() {
	(cd "$QEMU_DIR" && find . -maxdepth 1 -type f -name '*.patch' \
		-printf '%P\n' | LC_ALL=C sort)
}

compute_hash() {
	local version=$1 f

	{
		echo "source $version"
		echo "configure ${CONFIGURE_FLAGS[*]}"
		(cd "$NE_ROOT" && find tools/qemu -type f -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum)
		for f in "${SHARED_FILES[@]}"; do
			(cd "$NE_ROOT" && sha256sum "${f%% *}")
			echo "-> ${f#* }"
		done
		(cd "$NE_ROOT" && sha256sum scripts/build-qemu.sh)
	} | sha256sum | cut -c1-16
}

# Files of the QEMU tree that the patches change.
patched_paths() {
	local f

	for f in $(patch_files); do
		sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$QEMU_DIR/$f"
	done | LC_ALL=C sort -u
}

# Copy $1 over $2 unless they are equal, so that ninja sees real changes only.
sync_file() {
	if ! cmp -s "$1" "$2"; then
		log "updating ${2#"$3"/}"
		mkdir -p "$(dirname "$2")"
		cp "$1" "$2"
	fi
}

# Bring the persistent work tree up to date with tools/qemu. The patches are
# applied to pristine copies of the files they touch, and only files whose
# content differs are written; files no longer touched are restored.
prepare_tree() {
	local src=$1 tree=$2 tmp f list

	if [ ! -f "$tree/.ne-copied" ]; then
		log "copying $src to $tree"
		rm -rf "$tree"
		mkdir -p "$(dirname "$tree")"
		cp -a "$src" "$tree"
		rm -f "$tree/.ne-unpacked"
		touch "$tree/.ne-copied"
	fi

	tmp=$(mktemp -d)
	for f in $(patched_paths); do
		[ -f "$src/$f" ] || die "patches touch $f, which $src lacks"
		mkdir -p "$(dirname "$tmp/$f")"
		cp "$src/$f" "$tmp/$f"
	done
	for f in $(patch_files); do
		patch -d "$tmp" -p1 -s -N <"$QEMU_DIR/$f" ||
			die "$f does not apply to $(basename "$src")"
	done
	for f in $(patched_paths); do
		sync_file "$tmp/$f" "$tree/$f" "$tree"
	done
	rm -rf "$tmp"

	for f in $(overlay_files); do
		sync_file "$QEMU_DIR/$f" "$tree/$f" "$tree"
	done
	for f in "${SHARED_FILES[@]}"; do
		sync_file "$NE_ROOT/${f%% *}" "$tree/${f#* }" "$tree"
	done

	# What an earlier run changed and this one does not: back to pristine.
	list=$( (patched_paths; overlay_files; shared_dests) | LC_ALL=C sort -u)
	if [ -f "$tree/.ne-files" ]; then
		for f in $(LC_ALL=C comm -23 "$tree/.ne-files" <(echo "$list")); do
			if [ -f "$src/$f" ]; then
				sync_file "$src/$f" "$tree/$f" "$tree"
			else
				log "removing $f"
				rm -f "$tree/$f"
			fi
		done
	fi
	echo "$list" >"$tree/.ne-files"
}

# Keep the binaries of the last few inputs, drop older ones.
prune_cache() {
	local keep=$1 d

	find "$NE_CACHE" -mindepth 1 -maxdepth 1 -type d \
		-regextype posix-extended -regex '.*/qemu-[0-9a-f]{16}' \
		-printf '%T@ %p\n' | sort -rn | tail -n +"$((keep + 1))" |
		cut -d' ' -f2- | while read -r d; do
			rm -rf "$d"
		done
}

main() {
	local src version hash out tree bld start

	mkdir -p "$NE_CACHE" "$NE_BUILD"
	# One fetch or build at a time per cache. Another target builds in
	# its own tree under its own lock, once the source is there, so a long
	# aarch64 build never holds up an x86_64 one.
	exec 9>"$NE_CACHE/.build-qemu.lock"
	flock 9

	src=$(fetch_source)
	if [ "$TARGET" != x86_64 ]; then
		exec 9>"$NE_CACHE/.build-qemu-$TARGET.lock"
		flock 9
	fi
	version=$(cd "$src" && dpkg-parsechangelog -S Version)
	hash=$(compute_hash "$version")
	out=$NE_CACHE/qemu-$hash

	if [ -x "$out/$BIN" ] && [ "${NE_QEMU_FORCE:-0}" != 1 ]; then
		log "using cached build $hash"
		ln -sfn "$out/$BIN" "$NE_BUILD/$BIN"
		return
	fi

	start=$(date +%s)
	# configure refuses colons (the epoch) in paths.
	tree=$WORK_DIR/${version//:/_}/qemu
	bld=$WORK_DIR/${version//:/_}/build
	if [ "$TARGET" != x86_64 ]; then
		tree=$WORK_DIR/${version//:/_}/$TARGET/qemu
		bld=$WORK_DIR/${version//:/_}/$TARGET/build
	fi
	prepare_tree "$src" "$tree"

	if [ ! -f "$bld/build.ninja" ]; then
		log "configuring ($version)"
		rm -rf "$bld"
		mkdir -p "$bld"
		(cd "$bld" && "$tree/configure" "${CONFIGURE_FLAGS[@]}") ||
			die "configure failed"
	fi
	log "building with ninja -j$JOBS"
	ninja -C "$bld" -j"$JOBS" "$BIN" || die "build failed"

	mkdir -p "$out.tmp"
	cp "$bld/$BIN" "$out.tmp/"
	echo "$version" >"$out.tmp/VERSION"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	ln -sfn "$out/$BIN" "$NE_BUILD/$BIN"
	log "built $hash in $(( $(date +%s) - start )) s: $out/$BIN"
	prune_cache 4
}

main "$@"
