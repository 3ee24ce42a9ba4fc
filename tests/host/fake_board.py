# A simulated MicroPython board on a pty for install tests (host only).
# The MicroPython unix port speaks the raw REPL (and raw-paste) on a pty itself; this relay adds
# what a real board has and the unix port lacks: a filesystem rooted in a folder (VfsPosix at
# "/"), a soft reset that restarts the interpreter (the unix port exits instead), and, for the
# refusal tests, a board that claims another MicroPython version or says nothing at all.
import os
import pty
import select
import subprocess
import sys
import threading
import time
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")

_PRELUDE = """
import os, sys
os.mount(os.VfsPosix(%(root)r), '/')
os.chdir('/')
sys.path.insert(0, '/lib')
%(fake)s
"""

# Replace `sys` for code run on the board, so it reports another version (MicroPython resolves
# `import sys` through sys.modules first).
_FAKE_SYS = """
class _Impl:
    name = %(name)r
    version = %(version)r
    _mpy = %(mpy)d
class _Sys:
    implementation = _Impl()
    def __getattr__(self, k):
        return getattr(sys, k)
sys.modules['sys'] = _Sys()
"""


class FakeBoard:
    """mode: "micropython" (real unix port), "silent" (no answer), "garbage" (noise)."""

    def __init__(self, root, mode="micropython", implementation=None, run_main=False):
        self.root = str(root)
        self.mode = mode
        self.implementation = implementation  # (name, version tuple, _mpy int) to pretend
        self.run_main = run_main
        self.resets = 0
        self._stop = False
        self._raw = False
        self._child = None
        self._cm = None
        self.mfd, self._sfd = pty.openpty()
        tty.setraw(self._sfd)  # keep the slave open so the pty survives client reconnects
        self.port = os.ttyname(self._sfd)
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.mode == "micropython":
            self._spawn()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop = True
        self._thread.join(5)
        self._kill()
        for fd in (self.mfd, self._sfd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _kill(self):
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            os.close(self._cm)
            self._child = None

    def _spawn(self):
        fake = ""
        if self.implementation:
            name, version, mpy = self.implementation
            fake = _FAKE_SYS % {"name": name, "version": tuple(version), "mpy": mpy}
        code = _PRELUDE % {"root": self.root, "fake": fake}
        if self.run_main and not self._raw and os.path.exists(os.path.join(self.root, "main.py")):
            code += "\nexec(open('/main.py').read())\n"
        cm, cs = pty.openpty()
        tty.setraw(cs)
        self._child = subprocess.Popen(
            [MICROPYTHON, "-X", "heapsize=8m", "-i", "-c", code],
            stdin=cs,
            stdout=cs,
            stderr=cs,
            close_fds=True,
        )
        os.close(cs)
        self._cm = cm
        # Swallow the unix banner up to the first prompt; a real board after a soft reset
        # in raw mode shows only the raw REPL banner.
        buf = b""
        end = time.monotonic() + 10
        while not buf.endswith(b">>> ") and time.monotonic() < end:
            r, _, _ = select.select([cm], [], [], 0.1)
            if r:
                try:
                    buf += os.read(cm, 4096)
                except OSError:
                    break
        if self._raw:
            os.write(cm, b"\x01")

    def _soft_reset(self):
        self.resets += 1
        self._kill()
        os.write(self.mfd, b"MPY: soft reboot\r\n")
        self._spawn()
        if self._raw:
            # the new interpreter echoes "\r\nraw REPL; CTRL-B to exit\r\n>" on its own
            return
        os.write(self.mfd, b">>> ")

    def _loop(self):
        while not self._stop:
            fds = [self.mfd] + ([self._cm] if self._child is not None else [])
            r, _, _ = select.select(fds, [], [], 0.05)
            if self.mfd in r:
                try:
                    data = os.read(self.mfd, 4096)
                except OSError:
                    data = b""
                if data:
                    self._from_host(data)
            if self._child is not None and self._cm in r:
                try:
                    out = os.read(self._cm, 4096)
                except OSError:
                    out = b""
                if out:
                    os.write(self.mfd, out)
                elif self._child.poll() is not None:
                    # The unix port exits where a board soft-resets.
                    self._soft_reset()

    def _from_host(self, data):
        if self.mode == "silent":
            return
        if self.mode == "garbage":
            os.write(self.mfd, b"\xff\x00garbage\r\n" * 2)
            return
        for b in data:
            if b == 1:
                self._raw = True
            elif b == 2:
                self._raw = False
        os.write(self._cm, data)


def main():
    import argparse
    import json

    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--mode", default="micropython")
    a = p.parse_args()
    with FakeBoard(a.root, a.mode) as b:
        print(json.dumps({"port": b.port}), flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    sys.exit(main())
