# SPDX-License-Identifier: GPL-2.0
"""QMP client and check reporting shared by the host hooks (qmp-hook.py)
that ne-vm --host-hook runs next to a test VM.

A hook imports it by path, from any cwd:

    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.realpath(__file__)), ".."))
    import ne_qmp
"""
import json
import socket


class Qmp:
    """A QMP session on the UNIX socket PATH, qom-get/qom-set on DEV."""

    def __init__(self, path, dev):
        self.dev = dev
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
        r = self.cmd("qom-get", path=self.dev, property=prop)
        if "error" in r:
            raise RuntimeError("qom-get %s: %s" % (prop, r["error"]["desc"]))
        return r["return"]

    def set(self, prop, value):
        """None when QEMU took the value, else its error message."""
        r = self.cmd("qom-set", path=self.dev, property=prop, value=value)
        return r.get("error", {}).get("desc")


class Checks:
    """Host-side checks, each logged as "PREFIX: ok ..." or "PREFIX: FAIL"."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.failures = 0

    def log(self, msg):
        print(self.prefix + ": " + msg, flush=True)

    def expect(self, what, got, want):
        if got != want:
            self.failures += 1
            self.log("FAIL %s: got %r, expected %r" % (what, got, want))
        else:
            self.log("ok %s = %r" % (what, got))

    def fail(self, msg):
        """A failure that ends the hook: log it, exit status 1."""
        self.log("FAIL " + msg)
        return 1

    def done(self):
        """Log the count of failures; the hook's exit status."""
        self.log("%d failure(s)" % self.failures)
        return 1 if self.failures else 0
