# meterproto.obis: OBIS codes (IEC 62056-61) between their 6-byte and text forms (core).
# Canonical text is "A-B:C.D.E*F" (e.g. "1-0:1.8.0*255"), the form every output uses.
from meterproto.errors import DecodeError


def format_obis(a, b, c, d, e, f):
    return "%d-%d:%d.%d.%d*%d" % (a, b, c, d, e, f)


def from_bytes(six):
    """6 bytes (COSEM logical name) -> canonical text."""
    if len(six) != 6:
        raise DecodeError("an OBIS code has 6 bytes, got %d" % len(six))
    return format_obis(six[0], six[1], six[2], six[3], six[4], six[5])


def parse(text):
    """Canonical or dotted text ("1-0:1.8.0*255", "1.0.1.8.0.255") -> tuple of 6 ints.

    Only full codes: IEC 62056-21 short addresses ("1.8.0", "F.F") are normalised by
    meterproto.iec.data, which knows their letter groups.
    """
    t = text.strip()
    parts = []
    num = ""
    for ch in t:
        if "0" <= ch <= "9":
            num += ch
        elif ch in "-:.*&":
            if not num:
                raise DecodeError("not an OBIS code: %r" % text)
            parts.append(int(num))
            num = ""
        else:
            raise DecodeError("not an OBIS code: %r" % text)
    if num:
        parts.append(int(num))
    if len(parts) != 6:
        raise DecodeError("an OBIS code has 6 groups A-B:C.D.E*F, got %r" % text)
    for p in parts:
        if p > 255:
            raise DecodeError("OBIS group above 255 in %r" % text)
    return tuple(parts)


def to_bytes(text):
    return bytes(parse(text))


def normalise(text):
    """Any full form -> canonical text."""
    p = parse(text)
    return format_obis(p[0], p[1], p[2], p[3], p[4], p[5])
