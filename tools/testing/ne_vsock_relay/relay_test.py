#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the ne-vsock relay test (see relay_test.sh, which calls this).

Two microvm QEMUs share a SOCK_SEQPACKET socketpair: the parent's
ne-vsock-device relays CID 16 to one end (test-relay-cid, test-relay-fd),
the enclave's relays everything to the other (relay-fd). Each guest runs a
fixed script of ne_vsock_pipe steps and prints "STEP <name> rc=<n>"; the
connecting side retries until the listener is up, so the two scripts need
no other synchronisation. At the end the parent holds a connection open,
this script kills the enclave QEMU, and the parent must see a reset.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

PARENT_CID = 3
ENCLAVE_CID = 16
MODULES = ["drivers/virtio/virtio_ring", "drivers/virtio/virtio",
           "drivers/virtio/virtio_mmio", "net/vmw_vsock/vsock",
           "net/vmw_vsock/vmw_vsock_virtio_transport_common",
           "net/vmw_vsock/vmw_vsock_virtio_transport"]
PIPE = "/bin/ne_vsock_pipe --timeout 600"


def init_script(steps):
    mods = " ".join(os.path.basename(m) for m in MODULES)
    return f"""#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
for m in {mods}; do /bin/busybox insmod /lib/$m.ko || echo "INSMOD $m failed"; done
[ -e /dev/vsock ] && echo "VSOCK up" || echo "VSOCK missing"
{steps}
echo "DONE"
/bin/busybox poweroff -f
"""


def parent_steps(size, runs, conns):
    cid = ENCLAVE_CID
    lines = []
    for i in range(runs):
        lines.append(f"{PIPE} --retry 120 connect {cid} 5001 send {size}; "
                     f"echo STEP p2e-{i} rc=$?")
    for i in range(runs):
        lines.append(f"{PIPE} listen 5002 recv; echo STEP e2p-{i} rc=$?")
    lines.append(f"{PIPE} --retry 120 --conns {conns} connect {cid} 5003 "
                 f"send {size // conns}; echo STEP par-p2e rc=$?")
    lines.append(f"{PIPE} --conns {conns} listen 5004 recv; "
                 f"echo STEP par-e2p rc=$?")
    # A device reset under a held connection: the relay resets it in the
    # enclave (else the enclave's echo waits for ever, and no later step runs)
    drv = "/sys/bus/virtio/drivers/vmw_vsock_virtio_transport"
    bb = "/bin/busybox"
    lines.append(f"{PIPE} --retry 120 connect {cid} 5006 hold >/hold 2>&1 & "
                 f"p=$!; n=0; while ! {bb} grep -q up /hold && "
                 f"[ $n -lt 600 ]; do {bb} sleep 0.1; n=$((n + 1)); done; "
                 f"echo virtio0 > {drv}/unbind; wait $p; "
                 f"while read -r l; do echo \"reset $l\"; done </hold; "
                 f"echo virtio0 > {drv}/bind; echo STEP reset done")
    lines.append(f"{PIPE} --retry 120 --expect-reset connect {cid} 5005 "
                 f"hold; echo STEP kill rc=$?")
    return "\n".join(lines)


def enclave_steps(size, runs, conns):
    cid = PARENT_CID
    lines = []
    for i in range(runs):
        lines.append(f"{PIPE} listen 5001 recv; echo STEP p2e-{i} rc=$?")
    for i in range(runs):
        lines.append(f"{PIPE} --retry 120 connect {cid} 5002 send {size}; "
                     f"echo STEP e2p-{i} rc=$?")
    lines.append(f"{PIPE} --conns {conns} listen 5003 recv; "
                 f"echo STEP par-p2e rc=$?")
    lines.append(f"{PIPE} --retry 120 --conns {conns} connect {cid} 5004 "
                 f"send {size // conns}; echo STEP par-e2p rc=$?")
    lines.append(f"{PIPE} listen 5006 echo; echo STEP reset rc=$?")
    lines.append(f"{PIPE} listen 5005 echo; echo STEP echo rc=$?")
    return "\n".join(lines)


def vsock_hdr(src, dst, length, op=3, src_port=1, dst_port=2):
    """A virtio-vsock header (stream; RST unless op says otherwise)."""
    return struct.pack("<QQIIIHHIII", src, dst, src_port, dst_port, length,
                       1, op, 0, 0, 0)


# Messages a relay must drop, sent into the socket before the guests boot:
# (end to send from, message, the reason the receiving QEMU traces).
BAD_MESSAGES = [
    ("enclave", bytes(20), "shorter than a header"),
    ("enclave", vsock_hdr(ENCLAVE_CID, PARENT_CID, 65537, 5) + bytes(65537),
     "too big"),
    ("enclave", vsock_hdr(ENCLAVE_CID, PARENT_CID, 10, 5) + bytes(5),
     "len is not the payload size"),
    ("enclave", vsock_hdr(ENCLAVE_CID, 4, 0), "not for this guest"),
    ("enclave", vsock_hdr(17, PARENT_CID, 0),
     "from a CID the far side may not use"),
    ("parent", vsock_hdr(ENCLAVE_CID, ENCLAVE_CID, 0),
     "from a CID the far side may not use"),
    ("parent", vsock_hdr(PARENT_CID, 5, 0), "not for this guest"),
]


# Good messages (RSTs to the guest's port 2, which nobody binds) sent to
# the parent while it boots: more than the 128 queued packets at which a
# relay stops reading. A SOCK_SEQPACKET socketpair queues about
# net.unix.max_dgram_qlen (10) messages, so they go from a thread.
EARLY_RSTS = 300


def send_early_rsts(sock):
    for port in range(EARLY_RSTS):
        sock.send(vsock_hdr(ENCLAVE_CID, PARENT_CID, 0, src_port=20000 + port))


def make_initrd(args, name, steps):
    root = os.path.join(args.tmp, name)
    for d in ("bin", "dev", "lib", "proc", "sys"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(args.busybox, os.path.join(root, "bin/busybox"))
    shutil.copy(args.pipe, os.path.join(root, "bin/ne_vsock_pipe"))
    for m in MODULES:
        shutil.copy(os.path.join(args.moddir, m + ".ko"),
                    os.path.join(root, "lib", os.path.basename(m) + ".ko"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write(init_script(steps))
    os.chmod(os.path.join(root, "init"), 0o755)
    out = os.path.join(args.tmp, name + ".cpio")
    files = subprocess.run(["find", "."], cwd=root, check=True,
                           capture_output=True).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root,
                       input=files, stdout=f, check=True)
    return out


def host_tsc_khz():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]) * 1000)
    except (OSError, ValueError):
        pass
    return 2000000


class VM:
    """One microvm QEMU; its console lines are kept and can be waited for."""

    def __init__(self, args, name, initrd, device, fd):
        self.name = name
        self.lines = []
        self.stamps = []        # (host time, line), for host-side rates
        self.cond = threading.Condition()
        # On a busy host under TCG the kernel's TSC calibration fails and
        # the boot stalls before /init: tsc_early_khz skips the
        # calibration (TCG's TSC runs at the host's rate); ioapic2=off lets
        # the PIT tick reach the guest (tools/enclave/boot_test.sh)
        cmd = [args.qemu, "-M", "microvm,acpi=on,ioapic2=off", "-accel", "tcg",
               "-cpu", "max", "-smp", "2", "-m", "512M", "-nodefaults",
               "-no-reboot", "-display", "none", "-serial", "stdio",
               "-L", "/usr/share/qemu", "-kernel", args.kernel,
               "-initrd", initrd, "-append",
               "reboot=k panic=30 pci=off console=ttyS0 quiet "
               f"tsc_early_khz={host_tsc_khz()}",
               "-device", device, "-trace", "ne_vsock_relay_dead",
               "-trace", "ne_vsock_relay_bad_msg",
               "-trace", "ne_vsock_relay_read_*", "-d", "guest_errors"]
        for pattern in args.trace:
            cmd += ["-trace", pattern]
        self.log = open(os.path.join(args.tmp, name + ".log"), "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     pass_fds=(fd,))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.log.write(line + "\n")
            self.log.flush()
            if os.environ.get("RELAY_TEST_VERBOSE"):
                print(f"# {self.name}: {line}", flush=True)
            with self.cond:
                self.lines.append(line)
                self.stamps.append((time.monotonic(), line))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)     # EOF
            self.cond.notify_all()

    def wait_for(self, pattern, timeout, after=None):
        """The first line matching pattern (after the first line matching
        after, if given), or None (timeout or exit)."""
        rx = re.compile(pattern)
        rx_after = re.compile(after) if after else None
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                seen = rx_after is None
                for line in self.lines:
                    if line is None:
                        continue
                    if seen and rx.search(line):
                        return line
                    if not seen and rx_after.search(line):
                        seen = True
                if self.lines and self.lines[-1] is None:
                    return None
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def text(self):
        with self.cond:
            return [x for x in self.lines if x is not None]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.thread.join(5)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, diag=None):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}", flush=True)
        if not ok:
            self.failed += 1
            for line in diag or []:
                print(f"#   {line}")


def step_rc(vm, step):
    line = vm.wait_for(rf"^STEP {re.escape(step)} rc=", 0)
    return int(line.split("rc=")[1]) if line else None


def rates(vm):
    """MiB/s of the sender's runs (connection 0 lines), by the guest's
    clock and by the host's: from the end of the sender's step before
    (its STEP line, or VSOCK up) to the report, connect included."""
    guest, host = [], []
    with vm.cond:
        stamps = list(vm.stamps)
    t_prev = None
    for t, line in stamps:
        if line.startswith(("STEP", "VSOCK up")):
            t_prev = t
        m = re.match(r"send: conn 0: (\d+) bytes .* ([\d.]+) MiB/s, "
                     r"peer agrees", line)
        if m:
            guest.append(float(m.group(2)))
            host.append(int(m.group(1)) / (1 << 20) / max(t - t_prev, 1e-3))
    return guest, host


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--moddir", required=True)
    ap.add_argument("--busybox", required=True)
    ap.add_argument("--pipe", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--size", type=int, default=64 << 20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--timeout", type=int, default=1200)
    ap.add_argument("--trace", action="append", default=[],
                    help="more QEMU trace events (-trace PATTERN)")
    args = ap.parse_args()

    p_rd = make_initrd(args, "parent",
                       parent_steps(args.size, args.runs, args.conns))
    e_rd = make_initrd(args, "enclave",
                       enclave_steps(args.size, args.runs, args.conns))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.set_inheritable(True)
    b.set_inheritable(True)

    # What each side's far end sends before its QEMU starts: the parent
    # QEMU reads b's messages, the enclave QEMU a's
    for side, msg, _ in BAD_MESSAGES:
        (b if side == "enclave" else a).send(msg)

    print("1..13", flush=True)
    tap = Tap()
    parent = VM(args, "parent", p_rd,
                f"ne-vsock-device,guest-cid={PARENT_CID},"
                f"test-relay-cid={ENCLAVE_CID},test-relay-fd={a.fileno()}",
                a.fileno())
    enclave = VM(args, "enclave", e_rd,
                 f"ne-vsock-device,guest-cid={ENCLAVE_CID},"
                 f"relay-fd={b.fileno()}", b.fileno())
    early = threading.Thread(target=send_early_rsts, args=(b,), daemon=True)
    early.start()
    # Each QEMU holds its own end now: a hang-up must be seen when one dies
    a.close()
    t0 = time.monotonic()
    try:
        ok = all(vm.wait_for(r"^VSOCK up", 120) for vm in (parent, enclave))
        tap.check(ok, "both guests boot and bind the ne-vsock device "
                  "(virtio-mmio)", [f"{vm.name}: {x}" for vm in
                                    (parent, enclave) for x in vm.text()[-5:]])
        if not ok:
            print("Bail out! a guest did not come up", flush=True)
            return 1
        early.join(60)
        if early.is_alive():
            print("Bail out! the parent QEMU stopped reading its socket",
                  flush=True)
            return 1
        b.close()

        # The parent's last step: it holds a connection to the enclave
        up = parent.wait_for(r"^hold: conn 0: up|^STEP kill rc=",
                             args.timeout, after=r"^STEP reset done")
        elapsed = time.monotonic() - t0
        runs = range(args.runs)
        p2e = all(step_rc(parent, f"p2e-{i}") == 0 and
                  step_rc(enclave, f"p2e-{i}") == 0 for i in runs)
        e2p = all(step_rc(parent, f"e2p-{i}") == 0 and
                  step_rc(enclave, f"e2p-{i}") == 0 for i in runs)
        mib = args.size >> 20
        diag = [f"{vm.name}: {x}" for vm in (parent, enclave)
                for x in vm.text() if x.startswith(("STEP", "send", "recv",
                                                    "connect", "listen"))]
        tap.check(p2e, f"{mib} MiB parent -> enclave arrive intact "
                  f"({args.runs} runs)", diag)
        tap.check(e2p, f"{mib} MiB enclave -> parent arrive intact "
                  f"({args.runs} runs)", diag)
        tap.check(p2e, "a listener in the enclave accepts the parent's "
                  "connections")
        tap.check(e2p, "a listener in the parent accepts the enclave's "
                  "connections")
        half = (len([x for x in parent.text() + enclave.text()
                     if x.endswith("peer agrees")]) ==
                2 * args.runs + 2 * args.conns)
        tap.check(half, "half-close: every receiver's report comes back "
                  "after the sender's SHUT_WR", diag)
        par = all(step_rc(vm, s) == 0 for vm in (parent, enclave)
                  for s in ("par-p2e", "par-e2p"))
        tap.check(par, f"{args.conns} parallel connections each way", diag)

        line = enclave.wait_for(r"^STEP reset rc=", 0)
        tap.check(line == "STEP reset rc=0" and
                  enclave.wait_for(r"^echo: conn 0: 1 bytes echoed", 0),
                  "a device reset in the parent resets its connection in "
                  "the enclave", [x for x in enclave.text() + parent.text()
                                  if x.startswith(("echo", "hold", "STEP"))])

        # Kill the enclave QEMU under a held connection
        if up and up.startswith("hold"):
            enclave.proc.send_signal(signal.SIGKILL)
            t_kill = time.monotonic()
            line = parent.wait_for(r"^STEP kill rc=", 60)
            reset_s = time.monotonic() - t_kill
            reset = (line == "STEP kill rc=0" and
                     parent.wait_for(r"^hold: conn 0: reset", 0) is not None
                     and parent.wait_for(r"ne_vsock_relay_dead.*hang-up",
                                         0) is not None)
        else:
            reset, reset_s = False, 0
        tap.check(reset, "a killed enclave QEMU resets the parent's "
                  f"connection ({reset_s:.1f} s)",
                  [x for x in parent.text()
                   if x.startswith(("hold", "STEP")) or "relay" in x])

        done = parent.wait_for(r"^DONE", 60) is not None
        try:
            parent.proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
        tap.check(done and parent.proc.returncode == 0,
                  "the parent QEMU survives the enclave's death and exits "
                  f"cleanly (status {parent.proc.returncode})",
                  parent.text()[-10:])
        bad = [x for vm in (parent, enclave) for x in vm.text()
               if re.search(r"BUG:|WARNING:|Oops|INSMOD", x)]
        tap.check(not bad, "no kernel BUG/WARNING/Oops, modules loaded", bad)
        dropped = {vm.name: [x for x in vm.text() if "relay_bad_msg" in x]
                   for vm in (parent, enclave)}
        logged = {vm.name: [x for x in vm.text() if "relay message of" in x]
                  for vm in (parent, enclave)}
        want = {side: [why for s, _, why in BAD_MESSAGES if s == side]
                for side in ("parent", "enclave")}
        # The parent QEMU drops what came from the enclave's end and so on
        ok = all(len(dropped[vm]) == len(want[other]) and
                 len(logged[vm]) == len(want[other]) and
                 all(why in line for why, line in zip(want[other],
                                                      dropped[vm]))
                 for vm, other in (("parent", "enclave"),
                                   ("enclave", "parent")))
        paused = parent.wait_for(r"ne_vsock_relay_read_paused", 0)
        resumed = parent.wait_for(r"ne_vsock_relay_read_resumed", 0)
        tap.check(paused is not None and resumed is not None,
                  f"the parent QEMU stops reading while {EARLY_RSTS} early "
                  "packets wait for the guest, and reads on later",
                  [x for x in parent.text() if "relay_read" in x])
        tap.check(ok, "each QEMU drops exactly the malformed and spoofed "
                  "messages injected into its socket (traced, guest error "
                  "logged), and no other",
                  dropped["parent"] + dropped["enclave"] +
                  logged["parent"] + logged["enclave"])

        for name, vm in (("parent -> enclave", parent),
                         ("enclave -> parent", enclave)):
            for clock, r in zip(("guest", "host"), rates(vm)):
                r = r[:args.runs]
                if not r:
                    continue
                print(f"# throughput {name}: median "
                      f"{statistics.median(r):.2f} MiB/s of {args.runs} x "
                      f"{mib} MiB, {clock} clock "
                      f"({', '.join(f'{x:.2f}' for x in r)})")
        print(f"# data steps took {elapsed:.0f} s; consoles in {args.tmp}"
              " (kept if RELAY_TEST_KEEP=1)")
    finally:
        parent.stop()
        enclave.stop()
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
