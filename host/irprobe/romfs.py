# irprobe.romfs: where the board's MicroPython (1.25 and later) has a ROMFS partition, the
# installer deploys the compiled library as a ROMFS image (mpremote romfs deploy), so the
# bytecode runs in place from flash instead of being copied into the heap at import; the board
# mounts it at /rom and imports from /rom/lib before /lib. Without one: .mpy files (host only).
import ast
import os
import shutil
import subprocess
import sys

# Asked on the board: (number of ROMFS partitions, bytes in the first); (0, 0) without ROMFS.
QUERY = """try:
    import vfs
    _n = vfs.rom_ioctl(1)
    print(repr((_n, len(vfs.rom_ioctl(2, 0)) if _n > 0 else 0)))
except Exception:
    print(repr((0, 0)))
"""
MARGIN = 4096  # the image's own directory entries and alignment


def partition(t):
    """(partitions, bytes) of the board's ROMFS through an mpremote transport in raw REPL."""
    text = t.exec(QUERY).decode(errors="replace").strip()
    try:
        n, size = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError):
        return 0, 0
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (n, size)):
        return 0, 0
    return n, size


def library(files):
    """The compiled library modules of [(local, device_path)] (what goes into the image)."""
    return [(src, dev) for src, dev in files
            if isinstance(src, str) and dev.startswith("/lib/") and dev.endswith(".mpy")]


def choose(files, part):
    """"romfs" when the board has a partition that holds the library, else "files"."""
    lib = library(files)
    need = sum(os.path.getsize(src) for src, _ in lib) + MARGIN
    n, size = part
    return "romfs" if lib and n > 0 and size >= need else "files"


def stage(files, folder):
    """Lay the library out as the image's tree (lib/...) in folder; -> folder."""
    for src, dev in library(files):
        dst = os.path.join(folder, dev.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
    return folder


def deploy(port, folder, timeout=300):
    """mpremote romfs deploy (the pinned mpremote); -> None, or the error text."""
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
    cmd = [exe if os.path.exists(exe) else "mpremote", "connect", port, "romfs", "--no-mpy",
           "deploy", folder]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode != 0:
        return (r.stderr or r.stdout).strip()[-300:] or "mpremote failed"
    return None
