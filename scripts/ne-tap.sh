# SPDX-License-Identifier: GPL-2.0
# TAP results for the check scripts (check-dkms.sh, check-packages.sh,
# check-ux.sh). Source it; then "tap RC DESCRIPTION [FILE]" prints
# "ok N ..." when RC is 0, else "not ok N ..." followed by FILE as "#"
# lines (if given), and counts the failures in FAILED.
N=0
FAILED=0

tap() {	# rc description [file to show on failure]
	N=$((N + 1))
	if [[ $1 -eq 0 ]]; then
		echo "ok $N $2"
		return
	fi
	echo "not ok $N $2"
	FAILED=$((FAILED + 1))
	if [[ -n ${3:-} && -f $3 ]]; then
		sed 's/^/# /' "$3"
	fi
}
