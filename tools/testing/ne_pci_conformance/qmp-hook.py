#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of "ne_pci_conformance --qmp", run by ne-vm --host-hook.

Waits for the guest's "ne-qmp: ready uid=N" console line, then checks and
drives the NE device's QOM properties over QMP (NE_QMP_SOCK): counters of
the running slot, invalid values rejected, raise-events, fail-cmd/fail-rc,
delay-ms, tb-err-uid-zero and a late reply aimed by reply-cmd at
ENCLAVE_GET_SLOT (both left set for the guest to check), and finally
exit-slot N, which the guest waits for.
Exit status 0 when every host-side check passed.
"""
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                ".."))
import ne_qmp  # noqa: E402

DEV = "/machine/peripheral/ne0"
CHECKS = ne_qmp.Checks("qmp-hook")
expect = CHECKS.expect


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
        return CHECKS.fail("the guest never said it was ready")
    q = ne_qmp.Qmp(os.environ["NE_QMP_SOCK"], DEV)

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

    expect("err-uid-zero (property)", q.get("err-uid-zero"), False)
    expect("tb-err-uid-zero", q.get("tb-err-uid-zero"), 0)
    expect("tb-err-uid-zero 2 rejected",
           q.set("tb-err-uid-zero", 2) is not None, True)
    expect("tb-err-uid-zero set", q.set("tb-err-uid-zero", 1), None)
    expect("tb-err-uid-zero", q.get("tb-err-uid-zero"), 1)
    expect("reply-cmd", q.get("reply-cmd"), 0)
    expect("reply-cmd 12 rejected", q.set("reply-cmd", 12) is not None, True)
    expect("reply-cmd", q.get("reply-cmd"), 0)
    # A late reply to ENCLAVE_GET_SLOT (2): the guest's SLOT_INFO polls pass.
    q.set("delay-ms", 300)
    expect("reply-cmd set", q.set("reply-cmd", 2), None)
    expect("reply-mode set", q.set("reply-mode", 2), None)
    expect("reply-cmd", q.get("reply-cmd"), 2)

    expect("exit-slot", q.set("exit-slot", uid), None)
    expect("event-count after exit-slot", q.get("event-count"), events + 3)
    expect("exit-slot again (not running) rejected",
           q.set("exit-slot", uid) is not None, True)
    return CHECKS.done()


if __name__ == "__main__":
    sys.exit(main())
