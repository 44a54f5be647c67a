#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# With NE_TEST_POOL set, a test program changes ne_cpus and must put the
# admin's pool (and the online CPUs) back however it ends: at a normal
# exit, on SIGTERM (the runner's timeout) and when killed with SIGKILL
# (its guardian process does it once the program's processes are gone).
# ne_ioctl is the program under test here. Skips (4) without NE_TEST_POOL,
# or when the configured pool already is NE_TEST_POOL.
DIR=$(cd "$(dirname "$0")" && pwd)
P=/sys/module/nitro_enclaves/parameters/ne_cpus
ONLINE=/sys/devices/system/cpu/online
N=0
FAILED=0

skip() { echo "1..0 # SKIP $*"; exit 4; }

[ -n "$NE_TEST_POOL" ] || skip "set NE_TEST_POOL=<cpulist> (this test changes ne_cpus)"
[ -e /dev/nitro_enclaves ] || skip "no /dev/nitro_enclaves (driver not loaded or no NE device)"
[ -x "$DIR/ne_ioctl" ] || skip "no ne_ioctl next to this script"
POOL0=$(cat $P)
ONLINE0=$(cat $ONLINE)
[ "$POOL0" != "$NE_TEST_POOL" ] ||
	skip "ne_cpus is already NE_TEST_POOL ($POOL0): configure another pool first"

result() {	# result 0|1 description
	N=$((N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $N $2"
	else
		echo "not ok $N $2"
		FAILED=$((FAILED + 1))
	fi
}

# wait_for FILE VALUE SECONDS: until FILE reads VALUE. Return: 0 or 1.
wait_for() {
	i=0
	while [ "$(cat "$1")" != "$2" ]; do
		[ $i -ge $(($3 * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# state_back WHAT: the pool and the online CPUs are the admin's again.
state_back() {
	pool=$(cat $P)
	online=$(cat $ONLINE)
	if [ "$pool" = "$POOL0" ] && [ "$online" = "$ONLINE0" ]; then
		return 0
	fi
	echo "# $1: ne_cpus \"$pool\" (was \"$POOL0\"), online \"$online\" (was \"$ONLINE0\")"
	return 1
}

# start_ioctl: ne_ioctl in the background, once it has set NE_TEST_POOL.
start_ioctl() {
	"$DIR/ne_ioctl" > /tmp/ne_pool_restore.log 2>&1 &
	PID=$!
	if ! wait_for $P "$NE_TEST_POOL" 30; then
		echo "# ne_ioctl did not set ne_cpus to $NE_TEST_POOL within 30 s"
		kill -9 $PID 2>/dev/null
		wait $PID
		return 1
	fi
	sleep 2		# inside some test, perhaps holding an enclave
	return 0
}

echo "TAP version 13"
echo "1..3"

# A normal exit: the pool is back the moment the program has exited.
NE_TEST_ONLY=cpu_pool.pool_cpus_offline_and_param_readable \
	"$DIR/ne_ioctl" > /tmp/ne_pool_restore.log 2>&1
rc=$?
[ $rc = 0 ] || { echo "# ne_ioctl exited $rc"; sed 's/^/#   /' /tmp/ne_pool_restore.log | tail -20; }
state_back "exit"
result $? "normal exit: pool and online CPUs put back at once"

# SIGTERM: the handler ends the running test and puts the state back
# before the program dies.
ok=1
if start_ioctl; then
	kill -TERM $PID
	wait $PID
	state_back "SIGTERM" && ok=0
fi
result $ok "SIGTERM: pool and online CPUs put back before the program dies"

# SIGKILL: the guardian puts the state back once every process is gone
# (the running test's process finishes its test first).
ok=1
if start_ioctl; then
	kill -KILL $PID
	wait $PID
	if wait_for $P "$POOL0" 120; then
		sleep 1
		state_back "SIGKILL" && ok=0
	else
		state_back "SIGKILL"
	fi
fi
result $ok "SIGKILL: the guardian puts pool and online CPUs back"

[ $FAILED = 0 ] || exit 1
exit 0
