# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared by enclave_test.sh and hook.sh (sourced; host side).

# A process is gone when it no longer exists or is a zombie.
gone_within() {	# gone_within SEC PID...
	local i p left
	for ((i = 0; i < $1 * 10; i++)); do
		left=
		for p in "${@:2}"; do
			[[ -r /proc/$p/stat ]] || continue
			[[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) == Z ]] && continue
			left=1
		done
		[[ -z $left ]] && return 0
		sleep 0.1
	done
	return 1
}
