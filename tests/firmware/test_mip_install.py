# README's firmware install line, run through mpremote's own `mip install` code (argument
# parsing and installer) against a fake board filesystem: the files must land where the board
# boots them (main.py at the root, the packages in /lib, which is on the rp2 port's sys.path).
import hashlib
import os
import re
import shlex

from mpremote import main as mp_main
from mpremote import mip as mp_mip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")


def _norm(path, cwd="/"):
    # MicroPython's VFS hands a path to littlefs, which skips repeated slashes; a relative
    # path is taken from the current directory (the root right after boot).
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    parts = [p for p in path.split("/") if p and p != "."]
    return "/" + "/".join(parts)


class FakeBoard:
    """The part of mpremote's Transport that mip uses, on a dict filesystem."""

    def __init__(self):
        self.files = {}
        self.dirs = {"/"}

    def exec(self, code):
        pass

    def eval(self, expr):
        assert expr == "sys.path", expr
        return ["", ".frozen", "/lib"]  # rp2 port, MicroPython 1.24+

    def fs_exists(self, path):
        p = _norm(path)
        return p in self.dirs or p in self.files

    def fs_mkdir(self, path):
        p = _norm(path)
        assert p.rsplit("/", 1)[0] or "/" in self.dirs, "parent of %s missing" % p
        self.dirs.add(p)

    def fs_writefile(self, dest, data, chunk_size=256, progress_callback=None):
        p = _norm(dest)
        assert (p.rsplit("/", 1)[0] or "/") in self.dirs, "no directory for %s" % p
        self.files[p] = bytes(data)

    def fs_hashfile(self, path, algo, chunk_size=256):
        p = _norm(path)
        if p not in self.files:
            raise FileNotFoundError(p)
        return hashlib.new(algo, self.files[p]).digest()


class FakeState:
    def __init__(self, board):
        self.transport = board

    def did_action(self):
        pass

    def ensure_raw_repl(self):
        pass


def readme_mip_line():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    lines = re.findall(r"`(mpremote mip install [^`]*)`", text)
    assert len(lines) == 1, lines
    return lines[0]


def install(cmdline, capsys=None):
    words = shlex.split(cmdline)
    assert words[:3] == ["mpremote", "mip", "install"], words
    args = mp_main.argparse_mip().parse_args(words[2:])
    board = FakeBoard()
    cwd = os.getcwd()
    os.chdir(ROOT)  # README commands run from the repository root
    try:
        mp_mip.do_mip(FakeState(board), args)
    finally:
        os.chdir(cwd)
    return board


def boot_tree():
    """What the board runs: every firmware file at its own path from the root."""
    out = {}
    for base, dirs, files in os.walk(FIRMWARE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith((".pyc", ".mpy")) or f.startswith(".") or f == "package.json":
                continue
            rel = os.path.relpath(os.path.join(base, f), FIRMWARE).replace(os.sep, "/")
            with open(os.path.join(base, f), "rb") as fh:
                out["/" + rel] = fh.read()
    return out


def test_readme_install_line_puts_every_file_where_the_board_boots_it(capsys):
    board = install(readme_mip_line())
    want = boot_tree()
    assert board.files == want
    assert "/main.py" in board.files
    assert "/lib/meterproto/driver.py" in board.files and "/lib/probe/app.py" in board.files
    # the packages are importable from /lib, which is on the board's sys.path
    assert "/lib/lib" not in board.dirs and "/lib/main.py" not in board.files


def test_without_target_mip_would_bury_main_py_in_lib(capsys):
    # The reason README names --target: mpremote's default is the first */lib on sys.path.
    board = install("mpremote mip install firmware/package.json")
    assert "/lib/main.py" in board.files and "/main.py" not in board.files
