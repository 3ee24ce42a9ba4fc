# meterproto.compat: every MicroPython/CPython difference lives here (core, both runtimes).
# Probe with getattr, not import names, so a renamed module cannot silently kill a path.
import time

try:
    from micropython import const  # noqa: F401  (MicroPython: folded at compile time)
except ImportError:  # CPython

    def const(x):
        return x


MICROPYTHON = hasattr(time, "ticks_ms")

# Ticks wrap at 2**29 like MicroPython's small-int ticks, so arithmetic never makes long ints.
_TICKS_PERIOD = const(1 << 29)
_TICKS_MAX = const((1 << 29) - 1)
_TICKS_HALF = const(1 << 28)

if MICROPYTHON:
    ticks_ms = getattr(time, "ticks_ms")
    ticks_add = getattr(time, "ticks_add")
    ticks_diff = getattr(time, "ticks_diff")
    sleep_ms = getattr(time, "sleep_ms")
else:
    _mono = getattr(time, "monotonic_ns")

    def ticks_ms():
        return (_mono() // 1000000) & _TICKS_MAX

    def ticks_add(ticks, delta):
        return (ticks + delta) & _TICKS_MAX

    def ticks_diff(end, start):
        # Signed difference in (-2**28, 2**28], correct across one wrap.
        d = (end - start) & _TICKS_MAX
        if d >= _TICKS_HALF:
            d -= _TICKS_PERIOD
        return d

    def sleep_ms(ms):
        time.sleep(ms / 1000)


def bit_length(n):
    """int.bit_length(), missing on MicroPython."""
    n = -n if n < 0 else n
    b = 0
    while n:
        n >>= 1
        b += 1
    return b


def removeprefix(s, prefix):
    """str.removeprefix(), missing on MicroPython."""
    if prefix and s[: len(prefix)] == prefix:
        return s[len(prefix):]
    return s


_HEX = "0123456789ABCDEF"


def hexlify(data, sep=" "):
    """Upper-case hex with a separator; binascii.hexlify(sep=) differs between runtimes."""
    out = []
    for b in data:
        out.append(_HEX[b >> 4] + _HEX[b & 15])
    return sep.join(out)


def unhexlify(text):
    """Hex text to bytes; spaces, colons and newlines are ignored. ValueError on bad digits."""
    digits = []
    for ch in text:
        if ch in " \t\r\n:-":
            continue
        digits.append(ch)
    if len(digits) % 2:
        raise ValueError("odd number of hex digits")
    out = bytearray(len(digits) // 2)
    for i in range(0, len(digits), 2):
        out[i // 2] = int(digits[i] + digits[i + 1], 16)
    return bytes(out)


def random_bytes(n):
    """n bytes from the platform's entropy source (os.urandom on both runtimes; the RP2040's
    comes from its ring oscillator). Challenges must never fall back to a clock."""
    import os

    urandom = getattr(os, "urandom", None)
    if urandom is None:
        raise OSError("no entropy source on this platform (os.urandom missing)")
    return urandom(n)


def forget(names):
    """Drop modules from sys.modules and from their package, so their code (held in RAM by
    MicroPython 1.24) is freed at the next collect; a later import loads them again. Through
    the package's dict: no AttributeError to allocate when memory is short."""
    import sys

    mods = sys.modules
    for name in names:
        if name not in mods:
            continue
        del mods[name]
        dot = name.rfind(".")
        parent = mods.get(name[:dot]) if dot > 0 else None
        table = parent.__dict__ if parent is not None else None
        if table is not None and name[dot + 1:] in table:
            del table[name[dot + 1:]]
