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


_XOR = {}


def xor_bytes(data, k):
    """data with every byte XOR k: one C call on CPython, a loop on MicroPython (no
    bytes.translate there; a bytearray is changed in place and returned)."""
    if hasattr(bytes, "maketrans"):
        t = _XOR.get(k)
        if t is None:
            t = _XOR[k] = bytes.maketrans(bytes(range(256)), bytes(i ^ k for i in range(256)))
        return bytes(data).translate(t)
    b = data if isinstance(data, bytearray) else bytearray(data)  # in place: heap
    for i in range(len(b)):
        b[i] ^= k
    return b


def without(data, chars):
    """data with the bytes in chars removed (CPython, one C call); None on MicroPython, where
    the caller takes its byte-by-byte path."""
    if hasattr(bytes, "maketrans"):
        return data.translate(None, chars)
    return None


_STUFF = []


def stuffed(data):
    """CPython: data with every byte < 0x20 or 0x7D..0x7F sent as 0x7D, byte ^ 0x20 (the
    command channel's stuffing, meterproto.link.channel) in one regex pass; None on
    MicroPython, where the channel loops over the bytes."""
    if not hasattr(bytes, "maketrans"):
        return None
    if not _STUFF:
        import re

        _STUFF.append(re.compile(b"[\x00-\x1f\x7d-\x7f]"))
    return _STUFF[0].sub(_escaped, bytes(data))


def _escaped(m):
    return bytes((0x7D, m.group()[0] ^ 0x20))
