#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of ne_vsock_test, run by ne-vm --host-hook.

Plays the emulated peer through the ne-vsock device's test controls
(QOM properties of /machine/peripheral/vs0 over QMP, NE_QMP_SOCK), step by
step as the guest announces them on its console (NE_VM_CONSOLE):

  "listening 9000"       peer CID 5 connects, sends 0xB7, wants it back
  "listening 9001"       the same with 1 MiB (credit both ways)
  "no listener on 9002"  the connection is refused
  "listening 9003"       connected; the guest then resets the device: closed
  "waiting for verdict"  sends 1 (all host checks passed) or 0

Exit status 0 when every host-side check passed.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                ".."))
import ne_qmp  # noqa: E402

DEV = "/machine/peripheral/vs0"
CHECKS = ne_qmp.Checks("vsock-hook")
log = CHECKS.log
expect = CHECKS.expect


class Console:
    """Waits for guest lines, each after the previous one."""

    def __init__(self, path):
        self.path = path
        self.pos = 0

    def wait(self, text, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with open(self.path, errors="replace") as f:
                    f.seek(self.pos)
                    data = f.read()
            except OSError:
                data = ""
            i = data.find("ne-vsock-test: " + text)
            if i >= 0:
                self.pos += i + len(text)
                return True
            time.sleep(0.1)
        return False


def wait_state(q, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = q.get("test-state")
        if st in states:
            return st
        time.sleep(0.05)
    return q.get("test-state")


def peer(q, target, payload):
    expect("test-payload %s" % payload[:16], q.set("test-payload", payload),
           None)
    expect("test-connect %s" % target, q.set("test-connect", target), None)


def main():
    con = Console(os.environ["NE_VM_CONSOLE"])
    if not con.wait("listening 9000"):
        return CHECKS.fail("the guest never listened on port 9000")
    q = ne_qmp.Qmp(os.environ["NE_QMP_SOCK"], DEV)

    expect("test-state before", q.get("test-state"), "idle")
    expect("bad test-connect rejected",
           q.set("test-connect", "5-9000") is not None, True)
    expect("bad test-payload rejected",
           q.set("test-payload", "b") is not None, True)

    # Heartbeat: CID 5 -> guest port 9000, 0xB7 and its echo.
    t0 = time.time()
    peer(q, "5:9000", "b7")
    expect("heartbeat state", wait_state(q, ("done", "refused", "closed")),
           "done")
    expect("heartbeat received", q.get("test-received"), "b7")
    expect("heartbeat echo ok", q.get("test-echo-ok"), True)
    log("heartbeat round trip %.2f s" % (time.time() - t0))

    # 1 MiB each way.
    if not con.wait("listening 9001"):
        return CHECKS.fail("the guest never listened on port 9001")
    t0 = time.time()
    peer(q, "5:9001", "pattern:1048576")
    expect("bulk state", wait_state(q, ("done", "refused", "closed"), 120),
           "done")
    expect("bulk received-len", q.get("test-received-len"), 1 << 20)
    expect("bulk echo ok", q.get("test-echo-ok"), True)
    log("bulk 1 MiB each way in %.2f s" % (time.time() - t0))

    # Nobody listens on 9002.
    if not con.wait("no listener on 9002"):
        return CHECKS.fail("the guest never got to the refusal step")
    peer(q, "5:9002", "b7")
    expect("no listener", wait_state(q, ("done", "refused", "closed")),
           "refused")

    # Device reset while connected: the peer hears "closed".
    if not con.wait("listening 9003"):
        return CHECKS.fail("the guest never listened on port 9003")
    peer(q, "5:9003", "b7")
    # Only a connection that was up ends "closed" (not "refused").
    expect("reset: closed by the device reset",
           wait_state(q, ("done", "refused", "closed")), "closed")
    expect("reset: nothing came back", q.get("test-received-len"), 0)

    # Verdict, which also shows the device works after the reset.
    if not con.wait("waiting for verdict"):
        return CHECKS.fail("the guest never asked for the verdict")
    verdict = "01" if CHECKS.failures == 0 else "00"
    peer(q, "5:9100", verdict)
    # The guest checks the verdict and exits: QEMU may be gone by now.
    try:
        log("verdict %s: %s" % (verdict, wait_state(
            q, ("done", "refused", "closed"), 10)))
    except (OSError, ValueError, RuntimeError):
        log("verdict %s sent, QEMU has exited" % verdict)
    return CHECKS.done()


if __name__ == "__main__":
    sys.exit(main())
