#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: launch a real enclave end to end on the emulated NE device.
#
#  1. build the demo application image with scripts/build-enclave-eif.sh,
#     as nitro-cli lays one out (Debian's kernel, the project's init, an
#     application that exchanges 1 MiB each way with the parent over
#     vsock, then exits), and print its PCRs as `eif describe` computes
#     them on the host;
#  2. boot the test VM (QEMU TCG) with the NE device in enclave-vm mode
#     (a valid image boots in a sibling microvm) and the emulated vsock
#     device (guest CID 3);
#  3. in the guest: load the vsock transport and the driver, set up the
#     CPU pool, show the free hugepages;
#  4. launch the image with the sample launcher in debug mode with
#     --attach-console: the enclave's kernel boots (its console, CID 0
#     port 10000 + CID, shown with "sample: "), its init sends the 0xb7
#     heartbeat, the application in the enclave and one in the parent
#     exchange data, the application exits and the enclave with it
#     (POLLHUP); the device's PCRs are read over QMP (QOM properties of
#     the NE device) and compared with the host's;
#  5. the sample closes the enclave: hugepages, CPU pool and the device's
#     slot/vCPU/memory counters are back to where they were.
#
# (make demo builds the prerequisites first: QEMU, module, sample.)
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

T0=$(date +%s)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ne-demo.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
SAMPLE=$NE_BUILD/samples/ne_ioctl_sample

step() { echo; echo "=== demo: $*"; }

step "step 1: the demo application image (Debian kernel $KVER, the project's init, busybox, an application), built with tools/eif"
make -s -C "$NE_ROOT/tools/testing/ne_vsock_pipe" O="$NE_BUILD"
cat > "$TMP/app.sh" <<'EOF'
#!/bin/sh
# The enclave's application: 1 MiB each way with the parent (CID 3).
echo "enclave app: hello from the enclave; 1 MiB each way with the parent"
ne_vsock_pipe --timeout 120 listen 5002 recv &
ne_vsock_pipe --retry 60 --timeout 120 connect 3 5001 send 1048576
sent=$?
wait $!
echo "enclave app: send exit $sent, recv exit $?; the application ends, and the enclave with it"
EOF
EIF=$NE_BUILD/demo-app.eif
"$NE_ROOT/scripts/build-enclave-eif.sh" --cmd "/bin/sh /app.sh" \
	--env PATH=/bin --add "$TMP/app.sh:app.sh" \
	--add "$NE_BUILD/ne_vsock_pipe:bin/ne_vsock_pipe" -o "$EIF" > /dev/null
"$NE_BUILD/eif/eif" describe "$EIF" > "$TMP/describe"
ls -lL "$EIF"
sed -n -e 's/^/host: eif describe: /' -e '/: \(num_sections\|CRC\|PCR[0-2]\|status\):/p' \
	"$TMP/describe"

# Host side, run by ne-vm while QEMU runs: once the guest says the enclave
# booted, read the PCRs the device computed (QOM properties); once the
# enclave is closed, read the device's resource counters. Its lines go to
# stdout, among the guest's, and whole to the file in argv[1].
cat > "$TMP/hook.py" <<'EOF'
import json, os, socket, sys, time

DEV = "/machine/peripheral/ne0"

def wait_for(text, timeout=100):
    end = time.time() + timeout
    while time.time() < end:
        with open(os.environ["NE_VM_CONSOLE"], errors="replace") as f:
            if text in f.read():
                return True
        time.sleep(0.2)
    return False

s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["NE_QMP_SOCK"])
f = s.makefile("rw")

def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
    f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            return m

def get(prop):
    return cmd("qom-get", path=DEV, property=prop).get("return")

log = open(sys.argv[1], "a")

def say(line):
    print(line, flush=True)
    log.write(line + "\n")
    log.flush()

f.readline()
cmd("qmp_capabilities")
if not wait_for("enclave booted", 300):
    say("host: qmp: the enclave never booted")
    sys.exit(1)
say("host: qmp: image-status %s, boot-state %s" % (get("image-status"), get("boot-state")))
for n in range(3):
    say("host: qmp: device PCR%d: %s" % (n, get("pcr%d" % n)))
say("host: qmp: while running: live-slots %s vcpus %s mem-bytes %s" %
    (get("live-slots"), get("vcpus"), get("mem-bytes")))
if wait_for("demo: step 5"):
    say("host: qmp: after close: live-slots %s vcpus %s mem-bytes %s" %
        (get("live-slots"), get("vcpus"), get("mem-bytes")))
EOF
chmod +x "$TMP/hook.py"
printf '#!/bin/sh\nexec python3 %s %s\n' "$TMP/hook.py" "$TMP/qmp.log" > "$TMP/hook"
chmod +x "$TMP/hook"

step "step 2: booting the test VM (NE device enclave-vm=on, ne-vsock-pci guest CID 3)"
# The guest script: steps 3 to 5.
# shellcheck disable=SC2016 # expanded in the guest
GUEST='
set -e
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
state() {
	echo "demo:   free 2M hugepages $(cat $hp), online CPUs $(cat /sys/devices/system/cpu/online), NE CPU pool \"$(cat /sys/module/nitro_enclaves/parameters/ne_cpus)\""
}
echo "=== demo: step 3: vsock transport, driver, CPU pool"
modprobe virtio_pci
modprobe vmw_vsock_virtio_transport
insmod /opt/ne/nitro_enclaves.ko
echo 2,3 > /sys/module/nitro_enclaves/parameters/ne_cpus
lspci -nn -d 1d0f:e4c1 | sed "s/^/demo:   /"
before="$(state)"
echo "$before"
echo "=== demo: step 4: ne_ioctl_sample --memory 256 --cid 16 --debug --attach-console demo-app.eif"
ne_vsock_pipe --timeout 300 listen 5001 recv 2>&1 | sed "s/^/parent app: /" &
ne_ioctl_sample --memory 256 --cid 16 --debug --attach-console --time 600 \
	/opt/ne/demo-app.eif 2>&1 | sed "s/^/sample: /" &
ne_vsock_pipe --retry 200 --timeout 300 connect 16 5002 send 1048576 2>&1 |
	sed "s/^/parent app: /"
wait
echo "=== demo: step 5: after close: everything given back"
after="$(state)"
echo "$after"
sleep 2
if [ "$before" = "$after" ]; then echo "demo: hugepages and CPU pool back to the baseline"; else echo "demo: FAIL: resources not back"; exit 1; fi
rmmod nitro_enclaves
'
# ne-vsock-pci: unless the runner adds it by itself.
VSOCK=()
grep -q ne-vsock-pci "$NE_ROOT/scripts/ne-vm" || VSOCK=(--qemu-arg -device --qemu-arg ne-vsock-pci)
"$NE_ROOT/scripts/ne-vm" run --timeout 600 \
	--ne-opts enclave-vm=on "${VSOCK[@]}" \
	--add "$EIF" --add "$SAMPLE" --add "$NE_BUILD/ne_vsock_pipe" \
	--host-hook "$TMP/hook" \
	-- sh -c "$GUEST" | tee "$TMP/log"

step "result"
ok=1
for n in 0 1 2; do
	want=$(sed -n "s/^PCR$n: //p" "$TMP/describe")
	got=$(sed -n "s/^host: qmp: device PCR$n: //p" "$TMP/qmp.log")
	if [[ -n $got && $got == "$want" ]]; then
		echo "demo: PCR$n device == eif describe: $want"
	else
		echo "demo: FAIL: PCR$n device '$got' != eif describe '$want'"
		ok=0
	fi
done
grep -q "enclave booted" "$TMP/log" || { echo "demo: FAIL: no heartbeat"; ok=0; }
grep -q "sample: .*Linux version" "$TMP/log" ||
	{ echo "demo: FAIL: no kernel console from the enclave"; ok=0; }
grep -q "sample: enclave app: send exit 0, recv exit 0" "$TMP/log" ||
	{ echo "demo: FAIL: the enclave application's exchange failed"; ok=0; }
[[ $(grep -c "parent app: .*1048576 bytes checksum" "$TMP/log") -ge 2 ]] ||
	{ echo "demo: FAIL: the parent application's exchange failed"; ok=0; }
grep -q "Enclave exited (POLLHUP" "$TMP/log" ||
	{ echo "demo: FAIL: the enclave did not end with its application"; ok=0; }
grep -q "hugepages and CPU pool back" "$TMP/log" || ok=0
grep -q "after close: live-slots 0 vcpus 0 mem-bytes 0" "$TMP/qmp.log" ||
	{ echo "demo: FAIL: the device still holds resources"; ok=0; }
echo "demo: took $(( $(date +%s) - T0 )) s"
if [[ $ok != 1 ]]; then
	echo "demo: FAILED"
	exit 1
fi
echo "demo: OK"
