# Runs the core test modules on the MicroPython unix port (and works on CPython too).
# Each module's plain `def test_*()` functions are called with no arguments; pytest
# collects the very same functions on CPython. Usage: micropython tests/mp_runner.py [files]
import sys

ROOT = __file__.rsplit("/", 2)[0] if "/" in __file__ else ".."
if ROOT == "tests":
    ROOT = "."
for p in (ROOT + "/tests/core", ROOT + "/host", ROOT + "/firmware/lib"):
    sys.path.insert(0, p)

import os  # noqa: E402


def _modules(args):
    if args:
        return [a.rsplit("/", 1)[-1][:-3] for a in args]
    names = [n[:-3] for n in os.listdir(ROOT + "/tests/core") if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return names


def main(args):
    passed = failed = 0
    for name in _modules(args):
        try:
            mod = __import__(name)
        except Exception as e:  # an import error fails the whole module, loudly
            failed += 1
            print("FAIL import", name, repr(e))
            sys.print_exception(e) if hasattr(sys, "print_exception") else None
            continue
        tests = [k for k in dir(mod) if k.startswith("test_")]
        tests.sort()
        for t in tests:
            fn = getattr(mod, t)
            if not callable(fn):
                continue
            try:
                fn()
                passed += 1
            except Exception as e:
                failed += 1
                print("FAIL", name + "." + t, repr(e))
                if hasattr(sys, "print_exception"):
                    sys.print_exception(e)
    print("micropython: %d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
