#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: launch an enclave end to end on the emulated NE device.
#
#  1. build the demo EIF (scripts/build-demo-eif.sh, cached) and print its
#     PCRs as `eif describe` computes them on the host;
#  2. boot the test VM (QEMU TCG) with the NE device in eif-check mode and
#     the emulated vsock device (guest CID 3);
#  3. in the guest: load the vsock transport and the driver, set up the
#     CPU pool, show the free hugepages;
#  4. launch the EIF with the sample launcher: it listens on CID 3 port
#     9000, starts the enclave, receives the 0xb7 heartbeat and echoes it,
#     prints the CID; the device's PCRs are read over QMP (QOM properties
#     of the NE device) and compared with the host's;
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

step "step 1: the demo EIF (Debian kernel $KVER + busybox ramdisk), built with tools/eif"
EIF=$("$NE_ROOT/scripts/build-demo-eif.sh")
ls -lL "$EIF"
sed -n -e 's/^/host: eif describe: /' -e '/: \(num_sections\|CRC\|PCR[0-2]\|status\):/p' \
	"$NE_BUILD/demo.eif.describe"

# Host side, run by ne-vm while QEMU runs: once the guest says the enclave
# booted, read the PCRs the device computed (QOM properties); once the
# enclave is closed, read the device's resource counters.
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

f.readline()
cmd("qmp_capabilities")
if not wait_for("enclave booted"):
    print("host: qmp: the enclave never booted", flush=True)
    sys.exit(1)
print("host: qmp: image-status %s, boot-state %s" % (get("image-status"), get("boot-state")), flush=True)
for n in range(3):
    print("host: qmp: device PCR%d: %s" % (n, get("pcr%d" % n)), flush=True)
print("host: qmp: while running: live-slots %s vcpus %s mem-bytes %s" %
      (get("live-slots"), get("vcpus"), get("mem-bytes")), flush=True)
if wait_for("demo: step 5"):
    print("host: qmp: after close: live-slots %s vcpus %s mem-bytes %s" %
          (get("live-slots"), get("vcpus"), get("mem-bytes")), flush=True)
EOF
chmod +x "$TMP/hook.py"
printf '#!/bin/sh\nexec python3 %s\n' "$TMP/hook.py" > "$TMP/hook"
chmod +x "$TMP/hook"

step "step 2: booting the test VM (NE device eif-check=on, ne-vsock-pci guest CID 3)"
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
echo "=== demo: step 4: ne_ioctl_sample --memory 64 --debug /opt/ne/demo.eif"
ne_ioctl_sample --memory 64 --debug --time 3 /opt/ne/demo.eif 2>&1 | sed "s/^/sample: /"
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
"$NE_ROOT/scripts/ne-vm" run --timeout 100 \
	--ne-opts eif-check=on "${VSOCK[@]}" \
	--add "$EIF" --add "$SAMPLE" --host-hook "$TMP/hook" \
	-- sh -c "$GUEST" | tee "$TMP/log"

step "result"
ok=1
for n in 0 1 2; do
	want=$(sed -n "s/^PCR$n: //p" "$NE_BUILD/demo.eif.describe")
	got=$(sed -n "s/^host: qmp: device PCR$n: //p" "$TMP/log" | tr -d '\r')
	if [[ -n $got && $got == "$want" ]]; then
		echo "demo: PCR$n device == eif describe: $want"
	else
		echo "demo: FAIL: PCR$n device '$got' != eif describe '$want'"
		ok=0
	fi
done
grep -q "enclave booted" "$TMP/log" || { echo "demo: FAIL: no heartbeat"; ok=0; }
grep -q "hugepages and CPU pool back" "$TMP/log" || ok=0
grep -q "after close: live-slots 0 vcpus 0 mem-bytes 0" "$TMP/log" ||
	{ echo "demo: FAIL: the device still holds resources"; ok=0; }
echo "demo: took $(( $(date +%s) - T0 )) s"
if [[ $ok != 1 ]]; then
	echo "demo: FAILED"
	exit 1
fi
echo "demo: OK"
