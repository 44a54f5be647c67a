#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of "ne_removal --qmp", run by ne-vm --host-hook.

Follows the console (NE_VM_CONSOLE) and, for each guest request line
  ne-removal: device_del
  ne-removal: device_add addr=SLOT
removes the NE device (id ne0) over QMP (NE_QMP_SOCK), or plugs it back in
with the same id, bus and slot. Runs until ne-vm stops it.
"""
import json
import os
import socket
import sys
import time


def qmp(path, name, **args):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    f = sock.makefile("rw")

    def reply():
        while True:
            msg = json.loads(f.readline())
            if "event" not in msg:
                return msg

    reply()
    for cmd, a in (("qmp_capabilities", {}), (name, args)):
        f.write(json.dumps({"execute": cmd, "arguments": a}) + "\n")
        f.flush()
        r = reply()
    sock.close()
    print("ne-removal-qmp: %s %s -> %s" % (name, args, r), flush=True)
    return r


def main():
    sock_path = os.environ["NE_QMP_SOCK"]
    console = os.environ["NE_VM_CONSOLE"]
    while not os.path.exists(sock_path):
        time.sleep(0.1)
    partial = ""
    with open(console, "r", errors="replace") as f:
        while True:
            line = f.readline()
            if not line:
                time.sleep(0.05)
                continue
            # The guest may still be writing the line: wait for its end.
            partial += line
            if not partial.endswith("\n"):
                continue
            line, partial = partial, ""
            if "ne-removal: " not in line:
                continue
            req = line.split("ne-removal: ", 1)[1].strip()
            if req == "device_del":
                qmp(sock_path, "device_del", id="ne0")
            elif req.startswith("device_add addr="):
                qmp(sock_path, "device_add", driver="nitro-enclaves-pci",
                    id="ne0", bus="pci.0", addr=req.split("=", 1)[1],
                    **{"test-hooks": "on"})


if __name__ == "__main__":
    sys.exit(main())
