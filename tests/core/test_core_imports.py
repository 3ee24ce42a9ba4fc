# Every core module imports on this runtime with no hardware module present, and the core
# never imports I/O, clocks or CPython-only modules (the sans-I/O rule; ARCHITECTURE.md).
import os
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
CORE = _HERE + "/../../firmware/lib/meterproto"
# compat.py is the one place allowed to touch `time` (ticks for the driver's callers).
FORBIDDEN = ("machine", "rp2", "serial", "asyncio", "socket", "select", "threading",
             "dataclasses", "enum", "typing", "abc", "attr", "subprocess")


def _is_dir(path):
    return os.stat(path)[0] & 0x4000 != 0  # S_IFDIR (MicroPython's os has no path module)


def _modules(sub=""):
    """Dotted module names under meterproto (packages included), e.g. "dlms.axdr"."""
    out = []
    for n in os.listdir(CORE + sub):
        if _is_dir(CORE + sub + "/" + n):
            if n != "__pycache__":
                out.extend(_modules(sub + "/" + n))
        elif n.endswith(".py") and n != "__init__.py":
            out.append((sub[1:] + "/" + n[:-3]).lstrip("/").replace("/", "."))
    out.sort()
    return out


def test_every_core_module_imports_without_hardware():
    # Other tests in the same process (host tests, firmware fakes) may have loaded serial or
    # a fake machine already; what counts is that importing the core adds neither.
    before = set(sys.modules)
    names = _modules()
    assert len(names) >= 20
    for n in names:
        __import__("meterproto." + n)
    added = [m for m in ("machine", "serial") if m in sys.modules and m not in before]
    assert not added, added


def test_core_imports_nothing_forbidden():
    bad = []
    for n in _modules():
        with open(CORE + "/" + n.replace(".", "/") + ".py") as f:
            for line in f:
                s = line.strip()
                if not (s.startswith("import ") or s.startswith("from ")):
                    continue
                mod = s.split()[1].split(".")[0]
                if mod in FORBIDDEN or (mod == "time" and n != "compat"):
                    bad.append("%s: %s" % (n, s))
    assert not bad, bad
