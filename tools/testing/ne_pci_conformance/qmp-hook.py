#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of "ne_pci_conformance --qmp", run by ne-vm --host-hook.

Waits for the guest's "ne-qmp: ready uid=N" console line, then checks and
drives the NE device's QOM properties over QMP (NE_QMP_SOCK): counters of
the running slot, invalid values rejected, raise-events, fail-cmd/fail-rc,
delay-ms and finally exit-slot N, which the guest waits for.
Exit status 0 when every host-side check passed.
"""
import json
import os
import re
import socket
import sys
import time

DEV = "/machine/peripheral/ne0"
failures = 0


def log(msg):
    print("qmp-hook: " + msg, flush=True)


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rw")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            msg = json.loads(self.file.readline())
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        self.file.write(json.dumps({"execute": name, "arguments": args}))
        self.file.flush()
        return self._read()

    def get(self, prop):
        r = self.cmd("qom-get", path=DEV, property=prop)
        if "error" in r:
            raise RuntimeError("qom-get %s: %s" % (prop, r["error"]["desc"]))
        return r["return"]

    def set(self, prop, value):
        r = self.cmd("qom-set", path=DEV, property=prop, value=value)
        return r.get("error", {}).get("desc")


def expect(what, got, want):
    global failures
    if got != want:
        failures += 1
        log("FAIL %s: got %r, expected %r" % (what, got, want))
    else:
        log("ok %s = %r" % (what, got))


def wait_ready(console, timeout=240):
    deadline = time.time() + timeout
    pat = re.compile(r"ne-qmp: ready uid=(\d+)")
    while time.time() < deadline:
        try:
            with open(console, errors="replace") as f:
                m = pat.search(f.read())
            if m:
                return int(m.group(1))
        except OSError:
            pass
        time.sleep(0.2)
    return None


def main():
    uid = wait_ready(os.environ["NE_VM_CONSOLE"])
    if uid is None:
        log("FAIL the guest never said it was ready")
        return 1
    q = Qmp(os.environ["NE_QMP_SOCK"])

    expect("live-slots", q.get("live-slots"), 1)
    expect("vcpus", q.get("vcpus"), 1)
    expect("mem-ranges", q.get("mem-ranges"), 1)
    expect("mem-bytes", q.get("mem-bytes"), 2 << 20)
    events = q.get("event-count")

    expect("reply-mode 9 rejected", q.set("reply-mode", 9) is not None, True)
    expect("reply-mode", q.get("reply-mode"), 0)
    expect("exit-slot of an unknown slot rejected",
           q.set("exit-slot", uid + 1000) is not None, True)
    expect("delay-ms set", q.set("delay-ms", 250), None)
    expect("delay-ms", q.get("delay-ms"), 250)
    q.set("delay-ms", 100)

    expect("raise-events 2", q.set("raise-events", 2), None)
    expect("event-count after raise-events", q.get("event-count"), events + 2)

    expect("fail-rc set", q.set("fail-rc", -5), None)
    expect("fail-cmd set", q.set("fail-cmd", 8), None)
    expect("fail-cmd", q.get("fail-cmd"), 8)
    expect("fail-rc", q.get("fail-rc"), -5)

    expect("exit-slot", q.set("exit-slot", uid), None)
    expect("event-count after exit-slot", q.get("event-count"), events + 3)
    expect("exit-slot again (not running) rejected",
           q.set("exit-slot", uid) is not None, True)
    log("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
