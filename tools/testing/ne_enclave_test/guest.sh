#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Parent side of the real-boot test (tools/testing/ne_enclave_test), run
# in the test VM: launches real enclaves with the sample launcher and
# talks to them over vsock. TAP on stdout. Lines "enclave-test: STEP" are
# for the host hook, which checks the host processes.
#
#   guest.sh boot          heartbeat, data both ways, exits; close while
#                          booting; a corrupted image; the device unplugged
#                          while an enclave runs
#   guest.sh kill          an enclave runs until the host kills this VM
bytes=67108864
cid=16
nr=0
fails=0

tap() {	# tap 0|1 TEXT
	nr=$((nr + 1))
	if [ "$1" = 0 ]; then echo "ok $nr $2"; else echo "not ok $nr $2"; fails=$((fails + 1)); fi
}

# Wait until FILE has TEXT or process PID has ended; 0 when TEXT is there.
wait_text() {	# wait_text FILE TEXT PID SEC
	i=0
	while [ $i -lt $(($4 * 5)) ]; do
		grep -q "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.2
		i=$((i + 1))
	done
	grep -q "$2" "$1"
}

# Run the sample (128 MiB) to its end; its output must have TEXT.
expect_sample() {	# expect_sample TEXT NAME SAMPLE-ARG...
	text=$1 name=$2
	shift 2
	ne_ioctl_sample --memory 128 "$@" > /tmp/sample.out 2>&1
	grep -q "$text" /tmp/sample.out
	tap $? "$name"
	sed 's/^/# /' /tmp/sample.out
}

uptime_cs() { cut -d' ' -f1 /proc/uptime | tr -d .; }

setup() {
	modprobe virtio_pci
	modprobe vmw_vsock_virtio_transport
	insmod /opt/ne/nitro_enclaves.ko || exit 1
	echo 2,3 > /sys/module/nitro_enclaves/parameters/ne_cpus
}

run_boot() {
	echo "1..13"
	ne_vsock_pipe --timeout 600 listen 5001 recv > /tmp/recv.out 2>&1 &
	recv=$!
	t0=$(uptime_cs)
	ne_ioctl_sample --memory 256 --cid $cid --time 900 --debug \
		--attach-console app.eif > /tmp/app.out 2>&1 &
	sample=$!
	wait_text /tmp/app.out "enclave booted" $sample 300
	tap $? "the sample gets the heartbeat of a really booted enclave's init"
	echo "# NE_START_ENCLAVE to heartbeat: $(( ($(uptime_cs) - t0) * 10 )) ms (sample start included)"

	ne_vsock_pipe --retry 60 --timeout 600 connect $cid 5002 send $bytes \
		> /tmp/send.out 2>&1
	tap $? "$bytes bytes parent -> enclave, to a listener in the enclave"
	sed 's/^/# /' /tmp/send.out
	wait $recv
	tap $? "$bytes bytes enclave -> parent, to a listener in the parent"
	sed 's/^/# /' /tmp/recv.out

	wait_text /tmp/app.out "Enclave exited (POLLHUP" $sample 300
	tap $? "the application's exit ends the enclave: POLLHUP"
	wait $sample
	grep -q "Linux version" /tmp/app.out &&
		grep -q "enclave app: send exit 0, recv exit 0" /tmp/app.out
	tap $? "--attach-console: the console (CID 0 port 10000 + CID) from the kernel's first line to the application's last"
	sed 's/^/# /' /tmp/app.out

	expect_sample "Enclave exited (POLLHUP" \
		"an enclave that powers off: POLLHUP" --time 900 poweroff.eif
	expect_sample "Enclave exited (POLLHUP" \
		"an enclave whose kernel panics: POLLHUP" --time 900 panic.eif

	echo "enclave-test: close-while-booting"
	ne_ioctl_sample --memory 128 --no-heartbeat --time 1 app.eif \
		> /tmp/close.out 2>&1
	tap $? "the enclave fd closed while the enclave boots"
	sed 's/^/# /' /tmp/close.out
	echo "enclave-test: closed"

	expect_sample "crashed before its heartbeat" \
		"a command line too long for the VM: no VM, a crash" \
		--time 1 longcmd.eif
	expect_sample "crashed before its heartbeat" \
		"a kernel the VM cannot load: the VM exits, a crash" \
		--time 1 badkernel.eif

	cp app.eif /tmp/bad.eif
	printf '\001' | dd of=/tmp/bad.eif bs=1 seek=541 conv=notrunc 2>/dev/null
	expect_sample "crashed before its heartbeat" \
		"a corrupted image is reported as a crash" --time 1 /tmp/bad.eif

	# Last: the host unplugs the NE device while an enclave runs.
	ne_ioctl_sample --memory 128 --no-heartbeat --time 900 app.eif \
		> /tmp/unplug.out 2>&1 &
	sample=$!
	wait_text /tmp/unplug.out "Enclave started" $sample 120
	tap $? "an enclave started, to be unplugged"
	echo "enclave-test: unplug"
	wait_text /tmp/unplug.out "Enclave exited (POLLHUP" $sample 120
	tap $? "unplugging the NE device ends the enclave: POLLHUP"
	kill $sample 2>/dev/null
	wait $sample
	sed 's/^/# /' /tmp/unplug.out
}

run_kill() {
	echo "1..1"
	ne_ioctl_sample --memory 128 --no-heartbeat --time 900 app.eif \
		> /tmp/kill.out 2>&1 &
	wait_text /tmp/kill.out "Enclave started" $! 120
	tap $? "an enclave started"
	echo "enclave-test: running"
	# The host kills this VM now.
	sleep 600
}

setup
case $1 in
boot) run_boot ;;
kill) run_kill ;;
*) echo "usage: guest.sh boot|kill" >&2; exit 2 ;;
esac
[ $fails = 0 ]
