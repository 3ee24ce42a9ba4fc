# probe.fsys: the small filesystem adapter the store and config use (device; works on CPython).
# Real `os` on MicroPython (littlefs v2), CircuitPython (FAT) and CPython; the simulated flash
# (irprobe.sim.simflash.SimFlash) has the same methods. Durability = file close
# (docs/ARCHITECTURE.md, "Probe internals").
#
# API (paths are absolute, "/" separated):
#   Fsys(base="")      base is prepended to every path (a temp dir in host tests)
#   open(path, mode)   "rb", "wb" or "ab"; file has read(n), write(b), seek(pos, whence),
#                      tell(), flush(), close(), with-support
#   listdir(path) -> [names]   mkdir(path)   rmdir(path)   remove(path)
#   rename(src, dst)   replaces dst (atomic on littlefs; on FAT remove + rename)
#   exists(path) -> bool   is_dir(path) -> bool
#   statvfs(path) -> (bsize, frsize, blocks, bfree, ...)
import os

_S_IFDIR = 0x4000
# Prefix of every device path (board file, settings, records, log): "" on the board; tests
# point it at a temporary folder before the app boots.
ROOT = ""


class Fsys:
    def __init__(self, base=""):
        self.base = base.rstrip("/")

    def _p(self, path):
        return self.base + path

    def open(self, path, mode):
        return open(self._p(path), mode)

    def listdir(self, path):
        return os.listdir(self._p(path))

    def mkdir(self, path):
        os.mkdir(self._p(path))

    def rmdir(self, path):
        os.rmdir(self._p(path))

    def remove(self, path):
        os.remove(self._p(path))

    def rename(self, src, dst):
        try:
            os.rename(self._p(src), self._p(dst))
        except OSError:
            # FAT (CircuitPython) refuses to rename onto an existing file; littlefs and
            # POSIX replace it atomically and never get here.
            if not self.exists(dst) or not self.exists(src):
                raise
            os.remove(self._p(dst))
            os.rename(self._p(src), self._p(dst))

    def exists(self, path):
        try:
            os.stat(self._p(path))
            return True
        except OSError:
            return False

    def is_dir(self, path):
        try:
            return bool(os.stat(self._p(path))[0] & _S_IFDIR)
        except OSError:
            return False

    def statvfs(self, path):
        return os.statvfs(self._p(path))
