#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Drop this driver into a kernel source tree, as a patch to that tree would:
#
#   scripts/drop-in.sh [--dry-run] TREE
#
#   1. drivers/virt/nitro_enclaves/: our *.c, *.h, Kconfig, Makefile and
#      .kunitconfig; a *.c or *.h there that we do not have (Linux's own
#      copy of the driver has ne_misc_dev_test.c) is removed;
#   2. include/uapi/linux/nitro_enclaves.h, include/linux/nitro_enclaves.h;
#   3. the hooks: 'source "drivers/virt/nitro_enclaves/Kconfig"' in
#      drivers/virt/Kconfig (before its closing endif) and
#      'obj-$(CONFIG_NITRO_ENCLAVES) += nitro_enclaves/' in
#      drivers/virt/Makefile, each added only if missing (Linux has both
#      since 5.10);
#   4. Documentation: virt/ne_*.rst and ABI/testing/sysfs-class-misc-
#      nitro_enclaves; the ne_*.rst pages not yet in the toctree of
#      Documentation/virt/index.rst are added after ne_overview;
#   5. MAINTAINERS: the F: lines of our files, added to the "NITRO ENCLAVES
#      (NE)" section where missing (no section: one is appended, without
#      M: lines, and a warning says to add them).
#
# Only files whose contents differ are written, so an unchanged file keeps
# its mtime and an incremental kernel build rebuilds only what changed.
# Running it twice changes nothing the second time. A part whose place does
# not exist in TREE (e.g. a scratch TREE holding only drivers/virt/Kconfig
# and Makefile) is skipped with a message; drivers/virt/{Kconfig,Makefile}
# must exist.
#
# --dry-run: change nothing; print what would change.
# Prints one line per change ("drop-in: <what>"). Exit: 0 done (or, with
# --dry-run, nothing to do), 1 an error, 2 bad usage, 3 (--dry-run only)
# changes would be made.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRY=0
CHANGED=0

usage() {
	echo "usage: scripts/drop-in.sh [--dry-run] TREE" >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--dry-run) DRY=1; shift ;;
	-h|--help) sed -n '3,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "drop-in: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[[ $# -eq 1 ]] || usage
TREE=$(cd "$1" 2> /dev/null && pwd) || { echo "drop-in: $1: no such directory" >&2; exit 1; }
for f in drivers/virt/Kconfig drivers/virt/Makefile; do
	[[ -f $TREE/$f ]] || { echo "drop-in: $TREE/$f is missing: not a kernel tree" >&2; exit 1; }
done

note() { echo "drop-in: $*"; CHANGED=1; }
skip() { echo "drop-in: skipped: $*"; }

# put SRC DST: copy SRC over DST if their contents differ.
put() {
	cmp -s "$1" "$2" && return 0
	note "${2#"$TREE"/} (from ${1#"$ROOT"/})"
	[[ $DRY = 1 ]] || install -m 0644 -D "$1" "$2"
}

# write FILE: replace FILE with stdin if that differs.
write() {
	local tmp
	tmp=$(mktemp)
	cat > "$tmp"
	if cmp -s "$tmp" "$1"; then
		rm -f "$tmp"
		return 0
	fi
	note "${1#"$TREE"/}: $2"
	if [[ $DRY = 1 ]]; then
		diff -u "$1" "$tmp" | sed -n '3,$p' | sed 's/^/drop-in:   /' || true
		rm -f "$tmp"
	else
		cat "$tmp" > "$1"
		rm -f "$tmp"
	fi
}

# 1. The driver.
drv=drivers/virt/nitro_enclaves
if [[ $DRY = 0 ]]; then mkdir -p "$TREE/$drv"; fi
# The sources: git's list when there is one, else the files that are not
# build products (*.mod.c).
ours() {
	git -C "$ROOT" ls-files --cached --others --exclude-standard "$drv" 2> /dev/null | sed 's|.*/||' && return 0
	(cd "$ROOT/$drv" && ls -A -- *.[ch] Kconfig Makefile .kunitconfig 2> /dev/null) |
		grep -v '\.mod\.c$'
}
mapfile -t files < <(ours | grep -E '\.[ch]$|^Kconfig$|^Makefile$|^\.kunitconfig$')
[[ ${#files[@]} -gt 0 ]] || { echo "drop-in: no driver sources in $ROOT/$drv" >&2; exit 1; }
for f in "${files[@]}"; do
	put "$ROOT/$drv/$f" "$TREE/$drv/$f"
done
for f in "$TREE/$drv"/*.[ch]; do
	[[ -f $f && $f != *.mod.c ]] || continue
	printf '%s\n' "${files[@]}" | grep -qxF "${f##*/}" && continue
	note "$drv/${f##*/}: removed (not part of this driver)"
	[[ $DRY = 1 ]] || rm -f "$f"
done

# 2. Headers.
for f in include/uapi/linux/nitro_enclaves.h include/linux/nitro_enclaves.h; do
	[[ -f $ROOT/$f ]] || continue
	if [[ -d $TREE/${f%/*} ]]; then put "$ROOT/$f" "$TREE/$f"
	else skip "$f (no $TREE/${f%/*})"; fi
done

# 3. The Kconfig and Makefile hooks of drivers/virt.
kc=$TREE/drivers/virt/Kconfig
hook='source "drivers/virt/nitro_enclaves/Kconfig"'
if ! grep -qF "$hook" "$kc"; then
	# Before the last "endif" (the VIRT_DRIVERS menu), else at the end.
	awk -v hook="$hook" '
		{ line[NR] = $0 } /^endif/ { last = NR }
		END {
			for (i = 1; i <= NR; i++) {
				if (i == last) print hook "\n"
				print line[i]
			}
			if (!last) print "\n" hook
		}' "$kc" | write "$kc" "sources nitro_enclaves/Kconfig"
fi
mk=$TREE/drivers/virt/Makefile
# shellcheck disable=SC2016 # a make variable, not a shell one
if ! grep -q '^obj-$(CONFIG_NITRO_ENCLAVES)[[:space:]]*+=[[:space:]]*nitro_enclaves/' "$mk"; then
	{ cat "$mk"; printf 'obj-$(CONFIG_NITRO_ENCLAVES)\t+= nitro_enclaves/\n'; } |
		write "$mk" "builds nitro_enclaves/"
fi

# 4. Documentation.
docs=()
for f in "$ROOT"/Documentation/virt/ne_*.rst; do docs+=("${f##*/}"); done
if [[ -d $TREE/Documentation/virt ]]; then
	for f in "${docs[@]}"; do
		put "$ROOT/Documentation/virt/$f" "$TREE/Documentation/virt/$f"
	done
	idx=$TREE/Documentation/virt/index.rst
	if [[ -f $idx ]] && grep -q '^ *ne_overview$' "$idx"; then
		missing=()
		for f in "${docs[@]}"; do
			grep -q "^ *${f%.rst}\$" "$idx" || missing+=("${f%.rst}")
		done
		if [[ ${#missing[@]} -gt 0 ]]; then
			awk -v add="${missing[*]}" '
				{ print }
				/^ *ne_overview$/ {
					match($0, /^ */)
					n = split(add, a, " ")
					for (i = 1; i <= n; i++)
						print substr($0, 1, RLENGTH) a[i]
				}' "$idx" | write "$idx" "toctree: ${missing[*]}"
		fi
	else
		skip "Documentation/virt/index.rst has no ne_overview entry: add ${docs[*]%.rst} to a toctree by hand"
	fi
else
	skip "Documentation/virt (no $TREE/Documentation/virt)"
fi
abi=Documentation/ABI/testing/sysfs-class-misc-nitro_enclaves
if [[ -d $TREE/${abi%/*} ]]; then put "$ROOT/$abi" "$TREE/$abi"
else skip "$abi (no $TREE/${abi%/*})"; fi

# 5. MAINTAINERS.
mnt=$TREE/MAINTAINERS
want=(
	"F:	$abi"
	"F:	Documentation/virt/ne_*.rst"
	"F:	drivers/virt/nitro_enclaves/"
	"F:	include/linux/nitro_enclaves.h"
	"F:	include/uapi/linux/nitro_enclaves.h"
	"F:	samples/nitro_enclaves/"
	"F:	tools/testing/selftests/drivers/virt/nitro_enclaves/"
)
if [[ -f $mnt ]]; then
	if grep -q '^NITRO ENCLAVES (NE)$' "$mnt"; then
		# The section's F: lines plus ours, sorted, where its F: lines were.
		flines=$( { awk '/^NITRO ENCLAVES \(NE\)$/ { s = 1 } s && /^$/ { exit }
				 s && /^F:\t/' "$mnt"; printf '%s\n' "${want[@]}"; } |
			LC_ALL=C sort -u)
		FLINES=$flines awk '
			/^NITRO ENCLAVES \(NE\)$/ { s = 1 }
			s && /^F:\t/ { next }
			s && /^$/ { print ENVIRON["FLINES"]; s = 0 }
			{ print }
			END { if (s) print ENVIRON["FLINES"] }' "$mnt" |
			write "$mnt" "NITRO ENCLAVES (NE): F: lines"
	else
		{
			cat "$mnt"
			printf '\nNITRO ENCLAVES (NE)\nL:\tlinux-kernel@vger.kernel.org\nS:\tMaintained\n'
			printf '%s\n' "${want[@]}"
		} | write "$mnt" "NITRO ENCLAVES (NE) section appended"
		echo "drop-in: warning: the new MAINTAINERS section has no M: line; add the maintainers" >&2
	fi
else
	skip "MAINTAINERS (no $mnt)"
fi

if [[ $CHANGED = 0 ]]; then
	echo "drop-in: $TREE is up to date"
elif [[ $DRY = 1 ]]; then
	exit 3
fi
exit 0
