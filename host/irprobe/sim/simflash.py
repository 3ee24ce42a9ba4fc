# irprobe.sim.simflash: an in-memory flash filesystem with littlefs-like power-loss semantics,
# and power cuts injected at the N-th mutating operation (core subset, runs on MicroPython too).
# Same methods as probe.fsys.Fsys, so probe.store runs on it unchanged.
#
# Semantics modelled on littlefs v2 (docs/ARCHITECTURE.md, "Probe internals"): a file's
# content is what was last flushed/closed (copy-on-write; "wb" truncation also only lands at
# the first sync); creating a file entry, mkdir, rmdir, remove and rename are each atomic
# metadata commits.
#
# API
#   SimFlash(blocks=352, block_size=4096)   352 x 4 KiB = the Pico's 1408 KiB
#   .cut_at = N    the N-th mutating op (counted from now via arm(N)) raises PowerCut and does
#                  nothing; after that every call raises PowerCut (the board is off)
#   .arm(n)        cut at the n-th op from now;  .ops  mutating ops so far;  .trace  op names
#   .remount() -> SimFlash with the last durable state (power back on)
#   .corrupt(path, index, mask=1)  flip bits of a durable file (flash wear, for quarantine tests)
#   .tear = k      a cut at a flush keeps the old content plus the first k new bytes (a file
#                  system without copy-on-write; littlefs keeps the old content: tear None)
#   mutating ops: create (open "wb" of a new file), write, flush (flush or close), rename,
#   remove, mkdir, rmdir

ENOENT = 2
EEXIST = 17
ENOSPC = 28
ENOTDIR = 20
EISDIR = 21
ENOTEMPTY = 39


class PowerCut(Exception):
    """The power went away in the middle of a flash operation."""


def _parent(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


class _File:
    def __init__(self, fs, path, writing, start=b""):
        self.fs = fs
        self.path = path
        self.writing = writing
        self.buf = bytearray(start)
        self.pos = 0
        self.closed = False

    def seek(self, pos, whence=0):
        n = len(self.fs.files[self.path])
        self.pos = pos if whence == 0 else (self.pos + pos if whence == 1 else n + pos)
        return self.pos

    def tell(self):
        return self.pos

    def write(self, data):
        self.fs._op("write", self.path)
        self.buf += data
        return len(data)

    def read(self, n=-1):
        data = self.fs.files[self.path]
        if n is None or n < 0:
            n = len(data) - self.pos
        out = data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def flush(self):
        if self.writing:
            try:
                self.fs._op("flush", self.path)
            except PowerCut:
                old = self.fs.files.get(self.path, b"")
                if self.fs.tear is not None and self.buf[:len(old)] == old:
                    self.fs.files[self.path] = bytes(self.buf[:len(old) + self.fs.tear])
                raise
            self.fs._commit(self.path, bytes(self.buf))

    def close(self):
        if not self.closed:
            if self.writing:
                self.flush()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SimFlash:
    def __init__(self, blocks=352, block_size=4096):
        self.blocks = blocks
        self.block_size = block_size
        self.files = {}  # path -> durable bytes
        self.dirs = {"/": True}
        self.ops = 0
        self.cut_at = None
        self.dead = False
        self.trace = []
        self.tear = None

    # -- fault injection ------------------------------------------------------------------
    def arm(self, n):
        self.cut_at = self.ops + n

    def _op(self, name, path):
        if self.dead:
            raise PowerCut("power is off")
        self.ops += 1
        self.trace.append(name)
        if self.cut_at is not None and self.ops >= self.cut_at:
            self.dead = True
            raise PowerCut("power cut at op %d (%s %s)" % (self.ops, name, path))

    def remount(self):
        fs = SimFlash(self.blocks, self.block_size)
        fs.files = dict(self.files)
        fs.dirs = dict(self.dirs)
        return fs

    def corrupt(self, path, index, mask=1):
        data = bytearray(self.files[path])
        data[index] ^= mask
        self.files[path] = bytes(data)

    # -- space accounting (blocks a littlefs image would use, roughly) --------------------
    def _used(self, extra_path=None, extra_len=0):
        used = 2 * len(self.dirs)  # a metadata pair per directory
        for p in self.files:
            n = extra_len if p == extra_path else len(self.files[p])
            used += max(1, (n + self.block_size - 1) // self.block_size)
        if extra_path is not None and extra_path not in self.files:
            used += max(1, (extra_len + self.block_size - 1) // self.block_size)
        return used

    def _commit(self, path, data):
        if self._used(path, len(data)) > self.blocks:
            raise OSError(ENOSPC)
        self.files[path] = data

    # -- the Fsys interface -----------------------------------------------------------------
    def _need_dir(self, path):
        if path not in self.dirs:
            raise OSError(ENOENT)

    def open(self, path, mode):
        if self.dead:
            raise PowerCut("power is off")
        if "w" in mode or "a" in mode:
            if path in self.dirs:
                raise OSError(EISDIR)
            self._need_dir(_parent(path))
            if path not in self.files:
                self._op("create", path)
                self.files[path] = b""  # littlefs commits the new (empty) entry at open
            return _File(self, path, True, self.files[path] if "a" in mode else b"")
        if path not in self.files:
            raise OSError(ENOENT)
        return _File(self, path, False)

    def listdir(self, path):
        if self.dead:
            raise PowerCut("power is off")
        self._need_dir(path)
        pre = path.rstrip("/") + "/"
        out = []
        for p in list(self.files) + list(self.dirs):
            if p != "/" and p.startswith(pre) and "/" not in p[len(pre):]:
                out.append(p[len(pre):])
        out.sort()
        return out

    def mkdir(self, path):
        if path in self.dirs or path in self.files:
            raise OSError(EEXIST)
        self._need_dir(_parent(path))
        self._op("mkdir", path)
        self.dirs[path] = True

    def rmdir(self, path):
        self._need_dir(path)
        if self.listdir(path):
            raise OSError(ENOTEMPTY)
        self._op("rmdir", path)
        del self.dirs[path]

    def remove(self, path):
        if path not in self.files:
            raise OSError(ENOENT)
        self._op("remove", path)
        del self.files[path]

    def rename(self, src, dst):
        if src not in self.files:
            raise OSError(ENOENT)
        self._need_dir(_parent(dst))
        self._op("rename", src)
        self.files[dst] = self.files.pop(src)  # one atomic metadata commit, replaces dst

    def exists(self, path):
        return path in self.files or path in self.dirs

    def is_dir(self, path):
        return path in self.dirs

    def statvfs(self, path):
        free = self.blocks - self._used()
        if free < 0:
            free = 0
        return (self.block_size, self.block_size, self.blocks, free, free, 0, 0, 0, 0, 255)
