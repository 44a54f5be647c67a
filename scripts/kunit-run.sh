#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the driver's KUnit suites the way a kernel developer would: the
# driver dropped into Debian's linux-source-6.1 tree, then
#
#   tools/testing/kunit/kunit.py run --arch=x86_64 \
#	--kunitconfig=drivers/virt/nitro_enclaves
#
# which configures a small x86_64 kernel from the .kunitconfig, builds it
# and boots it in QEMU (TCG), where the suites run at boot.
#
#   scripts/kunit-run.sh [KUNIT_PY_ARG]...  e.g. 'nitro_enclaves_mem*'
#
# The tree is unpacked from /usr/src/linux-source-6.1.tar.xz once per
# linux-source version into $NE_CACHE/kunit/src-<version>; each run copies
# in the driver files that changed (and only those, so make rebuilds only
# them). The build directory, $NE_CACHE/kunit/build-<hash>, is kept
# between runs: <hash> is the sha256 of the linux-source version, the
# compiler, the .kunitconfig and the part of this script between the
# "hashed" markers, so a driver edit costs an incremental build. ~1.5 GB
# for the tree, ~0.2 GB for a build.
#
# QEMU: $NE_QEMU, else the project's build (build/qemu-system-x86_64),
# else qemu-system-x86_64 on $PATH. KUnit's x86_64 QEMU config boots with
# qboot.rom, looked up in QEMU's data directories and /usr/share/qemu.
#
#   scripts/kunit-run.sh parse KTAP_FILE...
#
# parses KTAP written elsewhere (e.g. a kernel log that a module's suites
# wrote, after a "KTAP version 1" header) with kunit.py parse, one KTAP
# document per file, and prints them as one TAP stream.
#
# Prints TAP made from kunit.py's parsed result (its --json output), one
# line per test case ("ok N <suite>.<case>"); a parameterised case passes
# when all its rows pass, and a failure names the failing rows. kunit.py's
# own report follows as "#" lines. Exit: 0 all passed, 1 a failure (build,
# boot, parse or test), 4 a prerequisite is missing (then
# "1..0 # SKIP <what>").
set -uo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

TARBALL=/usr/src/linux-source-6.1.tar.xz
DRIVER=$NE_ROOT/drivers/virt/nitro_enclaves
JOBS=${NE_KUNIT_JOBS:-2}
WORK=$NE_CACHE/kunit

skip() { echo "1..0 # SKIP $*"; exit 4; }
fail() { echo "1..1"; echo "not ok 1 kunit: $*"; exit 1; }
log() { echo "# kunit-run: $*"; }

find_qemu() {
	local q
	for q in "${NE_QEMU:-}" "$NE_BUILD/qemu-system-x86_64" \
		 "$(command -v qemu-system-x86_64 2>/dev/null)"; do
		[[ -n $q && -x $q ]] && { readlink -f "$q"; return 0; }
	done
	return 1
}

# json_tap JSON...: TAP from kunit.py --json results, numbered across files.
json_tap() {
	python3 - "$@" <<-'EOF'
	import json
	import sys

	def status(case):
	    """PASS, SKIP or the failing rows of a case (or of its parameters)."""
	    rows = case.get("test_cases")
	    if rows is None:
	        return case["status"] if case["status"] in ("PASS", "SKIP") else "FAIL", []
	    bad = [r["name"] for r in rows if r["status"] not in ("PASS", "SKIP")]
	    if bad or not rows:
	        return "FAIL", bad
	    if all(r["status"] == "SKIP" for r in rows):
	        return "SKIP", []
	    return "PASS", []

	results = []
	for path in sys.argv[1:]:
	    with open(path) as f:
	        top = json.load(f)
	    for suite in top["sub_groups"]:
	        for case in suite["test_cases"] + suite["sub_groups"]:
	            name = case["name"] or "(no result line)"
	            results.append((suite["name"] + "." + name,) + status(case))
	if not results:
	    print("1..1")
	    print("not ok 1 kunit: kunit.py found no test results")
	    sys.exit(1)
	print(f"1..{len(results)}")
	for n, (name, st, bad) in enumerate(results, 1):
	    if st == "PASS":
	        print(f"ok {n} {name}")
	    elif st == "SKIP":
	        print(f"ok {n} {name} # SKIP")
	    else:
	        rows = f": {', '.join(bad)}" if bad else ""
	        print(f"not ok {n} {name} # FAIL{rows}")
	sys.exit(0 if all(r[1] != "FAIL" for r in results) else 1)
	EOF
}

# Prerequisites of both modes: absent means skip (4), not fail.
check_source() {
	[[ -f $TARBALL ]] ||
		skip "$TARBALL is missing (make deps installs linux-source-6.1)"
	srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
		skip "linux-source-6.1 is not installed (make deps)"
	command -v python3 > /dev/null || skip "no python3"
}

# unpack_tree: $src, the kernel tree, unpacked once per linux-source
# version.
unpack_tree() {
	src=$WORK/src-$srcver
	[[ -f $src/.extracted ]] && return 0
	mkdir -p "$WORK"
	exec 9> "$WORK/.unpack.lock"
	flock 9
	[[ -f $src/.extracted ]] && return 0
	log "unpacking $TARBALL into $src"
	rm -rf "$src"
	mkdir -p "$src"
	nice -n 19 tar -xf "$TARBALL" -C "$src" --strip-components=1 ||
		fail "cannot unpack $TARBALL"
	touch "$src/.extracted"
}

# put SRC DST: copy only a changed file, so that an unchanged one keeps
# its mtime and make does not rebuild it.
put() {
	cmp -s "$1" "$2" || cp "$1" "$2"
}

# drop_in: the driver's sources, Kconfig, Makefile, .kunitconfig and
# headers replace Linux's copy in $src; files we do not have are removed.
drop_in() {
	local tdir=$src/drivers/virt/nitro_enclaves f
	grep -q 'nitro_enclaves/Kconfig' "$src/drivers/virt/Kconfig" ||
		fail "$src/drivers/virt/Kconfig does not source nitro_enclaves/Kconfig"
	grep -q 'nitro_enclaves/' "$src/drivers/virt/Makefile" ||
		fail "$src/drivers/virt/Makefile does not build nitro_enclaves/"
	for f in "$tdir"/*.[ch] "$tdir"/Kconfig "$tdir"/Makefile "$tdir"/.kunitconfig; do
		[[ -e $f && ! -e $DRIVER/${f##*/} ]] && rm -f "$f"
	done
	for f in "$DRIVER"/*.[ch] "$DRIVER"/Kconfig "$DRIVER"/Makefile "$DRIVER"/.kunitconfig; do
		case $f in *.mod.c) continue ;; esac
		put "$f" "$tdir/${f##*/}"
	done
	put "$NE_ROOT/include/uapi/linux/nitro_enclaves.h" \
		"$src/include/uapi/linux/nitro_enclaves.h"
	put "$NE_ROOT/include/linux/nitro_enclaves.h" \
		"$src/include/linux/nitro_enclaves.h"
}

# report RC LOG JSON...: TAP from the results, then kunit.py's report.
report() {
	local rc=$1 klog=$2
	shift 2
	if [[ $# -eq 0 ]]; then
		sed 's/^/# /' "$klog"
		fail "kunit.py gave no parsed result (exit $rc; see above)"
	fi
	json_tap "$@" || rc=1
	sed 's/^/# /' "$klog"
	[[ $rc -eq 0 ]] || exit 1
	exit 0
}

do_parse() {
	local f n=0 rc=0 jsons=()
	[[ $# -gt 0 ]] || { echo "usage: $0 parse KTAP_FILE..." >&2; exit 2; }
	check_source
	unpack_tree
	for f; do
		[[ -f $f ]] || fail "no such file: $f"
		n=$((n + 1))
		# kunit.py changes to the kernel tree: the path must be absolute.
		python3 "$src/tools/testing/kunit/kunit.py" parse \
			--json="$out/$n.json" "$(readlink -f "$f")" \
			>> "$out/kunit.log" 2>&1 || rc=1
		[[ -s $out/$n.json ]] && jsons+=("$out/$n.json")
	done
	[[ ${#jsons[@]} -eq $# ]] || rc=1
	report $rc "$out/kunit.log" "${jsons[@]}"
}

do_run() {
	local qemu qboot_dir='' d tool hash build rc start
	check_source
	for tool in make gcc flex bison bc; do
		command -v "$tool" > /dev/null || skip "no $tool"
	done
	qemu=$(find_qemu) ||
		skip "no qemu-system-x86_64 (make qemu, or apt-get install qemu-system-x86)"
	for d in "$(dirname "$qemu")/../share/qemu" /usr/share/qemu; do
		[[ -f $d/qboot.rom ]] && { qboot_dir=$(readlink -f "$d"); break; }
	done
	[[ -n $qboot_dir ]] ||
		skip "no qboot.rom for QEMU (apt-get install qemu-system-data)"
	[[ -f $DRIVER/.kunitconfig ]] || fail "no $DRIVER/.kunitconfig"
	unpack_tree
	# Runs share the tree: one at a time.
	exec 8> "$WORK/.run.lock"
	flock 8
	drop_in

	hash=$( { echo "$srcver"; gcc --version | head -n1
		  cat "$DRIVER/.kunitconfig"
		  sed -n '/^# >>> hashed/,/^# <<< hashed/p' "${BASH_SOURCE[0]}"; } |
		sha256sum | cut -c1-16)
	build=$WORK/build-$hash
	mkdir -p "$out/bin"
	ln -s "$qemu" "$out/bin/qemu-system-x86_64"
	log "build dir $build, QEMU $qemu"
	start=$SECONDS
	# Boot options, outside the hash. The CPU pool suite wants 2 cores of
	# 2 threads (CPUs 0-1, 2-3); TCG's max CPU shows them only with
	# Intel's vendor string (no topoext), as in scripts/ne-vm.
	kunit_py "$build" "$qboot_dir" \
		--qemu_args="-cpu max,vendor=GenuineIntel -smp 4,sockets=1,cores=2,threads=2" \
		--json="$out/result.json" "$@" > "$out/kunit.log" 2>&1
	rc=$?
	log "kunit.py run exited $rc after $((SECONDS - start)) s"
	if [[ -s $out/result.json ]]; then
		report $rc "$out/kunit.log" "$out/result.json"
	fi
	report $rc "$out/kunit.log"
}

# >>> hashed: how the kernel is configured, built and booted
# kunit_py BUILD_DIR QBOOT_DIR [ARG]...
kunit_py() {
	local build=$1 qboot_dir=$2
	shift 2
	PATH=$out/bin:$PATH nice -n 19 python3 "$src/tools/testing/kunit/kunit.py" run \
		--arch=x86_64 --kunitconfig="$src/drivers/virt/nitro_enclaves" \
		--build_dir="$build" --jobs="$JOBS" \
		--qemu_args="-accel tcg -L $qboot_dir" "$@"
}
# <<< hashed

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
case ${1:-} in
parse)	shift; do_parse "$@" ;;
*)	do_run "$@" ;;
esac
