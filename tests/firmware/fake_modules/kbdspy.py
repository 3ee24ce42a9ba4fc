# Records micropython.kbd_intr() calls (tests on the unix port): install() puts a stand-in
# for the micropython module in sys.modules that passes everything else to the real one.
import sys

import micropython as _real

CALLS = []


class _Spy:
    def __getattr__(self, name):
        return getattr(_real, name)

    def kbd_intr(self, char):
        CALLS.append(char)
        _real.kbd_intr(char)


def install():
    sys.modules["micropython"] = _Spy()
