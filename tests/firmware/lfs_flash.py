# lfs_flash: the real littlefs (PyPI littlefs-python) at the Pico's geometry behind the
# probe.fsys interface, on a RAM flash that counts erases and can lose power at any program
# or erase. Test and bench helper (host only).
# Geometry of MicroPython's rp2 build (RPI_PICO: 1408 KiB filesystem): 4 KiB blocks, 352 of
# them, read 32, prog 256, cache 1024, lookahead 32; block_cycles 100 as MicroPython's
# extmod/vfs_lfs sets it.
from littlefs import LittleFS, LittleFSError, lfs
from littlefs.context import UserContext

GEOMETRY = {"block_size": 4096, "block_count": 352, "read_size": 32, "prog_size": 256,
            "cache_size": 1024, "lookahead_size": 32, "block_cycles": 100}
_IO = -5  # LFS_ERR_IO


class PowerCut(Exception):
    """The flash lost power: nothing after the cut reaches it."""


class CountingFlash(UserContext):
    """RAM flash: counts erases per block; cut_at = n: the n-th program/erase from now fails
    (tear bytes of that program still land) and so does everything after it."""

    def __init__(self, size, buffer=None):
        super().__init__(buffsize=None if buffer else size, buffer=buffer)
        self.erases = [0] * (len(self.buffer) // GEOMETRY["block_size"])
        self.writes = 0
        self.cut_at = None
        self.tear = 0
        self.dead = False

    def _gone(self):
        if self.dead:
            return True
        self.writes += 1
        if self.cut_at is not None and self.writes >= self.cut_at:
            self.dead = True
            return True
        return False

    def prog(self, cfg, block, off, data):
        if self._gone():
            if self.tear and not self.cut_done():
                start = block * cfg.block_size + off
                self.buffer[start:start + self.tear] = data[:self.tear]
            return _IO
        return super().prog(cfg, block, off, data)

    def cut_done(self):
        done = getattr(self, "_torn", False)
        self._torn = True
        return done

    def erase(self, cfg, block):
        if self._gone():
            return _IO
        self.erases[block] += 1
        return super().erase(cfg, block)


class _File:
    """littlefs file with the few methods probe.store uses; errors become OSError."""

    def __init__(self, fs, fh):
        self.fs = fs
        self.fh = fh

    def read(self, n=-1):
        if n is None or n < 0:
            n = _call(lfs.file_size, self.fs, self.fh) - _call(lfs.file_tell, self.fs, self.fh)
        return bytes(_call(lfs.file_read, self.fs, self.fh, n))

    def write(self, data):
        return _call(lfs.file_write, self.fs, self.fh, bytes(data))

    def seek(self, pos, whence=0):
        return _call(lfs.file_seek, self.fs, self.fh, pos, whence)

    def tell(self):
        return _call(lfs.file_tell, self.fs, self.fh)

    def flush(self):
        _call(lfs.file_sync, self.fs, self.fh)

    def close(self):
        _call(lfs.file_close, self.fs, self.fh)


_F = lfs.LFSFileFlag
# The flags MicroPython's VfsLfs2 open() passes (extmod/vfs_lfsx_file.c)
_MODES = {"rb": _F.rdonly, "wb": _F.wronly | _F.creat | _F.trunc,
          "ab": _F.wronly | _F.creat | _F.append}


def _call(fn, *args):
    try:
        return fn(*args)
    except LittleFSError as e:
        raise OSError(-e.code if e.code < 0 else e.code, str(e))


class LfsFsys:
    """probe.fsys.Fsys over littlefs-python. LfsFsys() formats a fresh image;
    LfsFsys(buffer=old.flash.buffer) mounts an existing one (power back on)."""

    def __init__(self, buffer=None):
        size = GEOMETRY["block_size"] * GEOMETRY["block_count"]
        self.flash = CountingFlash(size, bytearray(buffer) if buffer is not None else None)
        self.lfs = LittleFS(context=self.flash, mount=False, **GEOMETRY)
        if buffer is None:
            self.lfs.format()
        self.lfs.mount()

    def open(self, path, mode):
        return _File(self.lfs.fs, _call(lfs.file_open, self.lfs.fs, path, _MODES[mode]))

    def listdir(self, path):
        return sorted(_call(self.lfs.listdir, path))

    def mkdir(self, path):
        _call(self.lfs.mkdir, path)

    def rmdir(self, path):
        _call(self.lfs.rmdir, path)

    def remove(self, path):
        _call(self.lfs.remove, path)

    def rename(self, src, dst):
        _call(self.lfs.rename, src, dst)

    def exists(self, path):
        try:
            self.lfs.stat(path)
            return True
        except LittleFSError:
            return False

    def is_dir(self, path):
        try:
            return self.lfs.stat(path).type == 2
        except LittleFSError:
            return False

    def statvfs(self, path):
        bs, n = GEOMETRY["block_size"], GEOMETRY["block_count"]
        free = n - self.lfs.used_block_count
        return (bs, bs, n, free, free, 0, 0, 0, 0, 255)
