# pytest on CPython: make the core (firmware/lib), the host package and the test helpers
# importable exactly as the board and the MicroPython runner see them.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(ROOT, "tests", "core"), os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib")):
    if p not in sys.path:
        sys.path.insert(0, p)
