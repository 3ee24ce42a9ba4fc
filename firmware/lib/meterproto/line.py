# meterproto.line: serial line settings as data (core, both runtimes).
# IEC 62056-21 clause 6.1: 7 data bits, even parity, 1 stop bit at the sign-on; mode E and
# direct HDLC (IEC 62056-46) use 8N1. A character is 10 bits on the wire in both formats.
from meterproto.compat import const

FMT_7E1 = const(0)
FMT_8N1 = const(1)
FMT_8E1 = const(2)
FMT_NAMES = ("7E1", "8N1", "8E1")
_FMT_BITS = (10, 10, 11)

# The baud rates the standard defines (table A.3), 300 first: every IEC session starts there.
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)


def bits_per_char(fmt):
    """Bits one character occupies on the wire: start + data + parity + stop."""
    return _FMT_BITS[fmt]


def wire_ms(nbytes, baud, fmt=FMT_7E1):
    """Milliseconds `nbytes` characters occupy on the line, rounded up."""
    bits = nbytes * _FMT_BITS[fmt] * 1000
    return (bits + baud - 1) // baud


def fmt_name(fmt):
    return FMT_NAMES[fmt]


def parse_fmt(text):
    """'7E1' / '8N1' / '8E1' (any case) to a format constant; ValueError otherwise."""
    t = text.upper()
    for i in range(len(FMT_NAMES)):
        if FMT_NAMES[i] == t:
            return i
    raise ValueError("unknown line format %r (use 7E1 or 8N1)" % text)


def even_parity_bit(b):
    """Even-parity bit over the low 7 bits (what a 7E1 sender puts in bit 7's place)."""
    b &= 0x7F
    p = 0
    while b:
        p ^= b & 1
        b >>= 1
    return p
