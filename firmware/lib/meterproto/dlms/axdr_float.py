# meterproto.dlms.axdr_float: exact decimal text of A-XDR float32/float64 values (IEC 62056-5-3
# clause 8, IEEE 754 bits), with no float arithmetic, so a reading keeps every digit (core).
# The decoder (axdr) loads it only when a meter sends a float.
from meterproto.errors import DecodeError


def _uint(buf, pos, n):
    v = 0
    for i in range(n):
        v = (v << 8) | buf[pos + i]
    return v


def float_text(raw):
    """IEEE 754 binary32/binary64 bytes (big-endian) -> exact decimal text, e.g. "0.5".

    The text is the exact value of the binary number (0.1f -> "0.100000001490116119384765625"),
    so nothing is lost; "NaN", "Infinity", "-Infinity" for the special values.
    """
    n = len(raw)
    if n == 4:
        ebits, mbits = 8, 23
    elif n == 8:
        ebits, mbits = 11, 52
    else:
        raise DecodeError("a float has 4 or 8 bytes, got %d" % n)
    bits = _uint(raw, 0, n)
    sign = "-" if bits >> (8 * n - 1) else ""
    emax = (1 << ebits) - 1
    exp = (bits >> mbits) & emax
    man = bits & ((1 << mbits) - 1)
    if exp == emax:
        if man:
            return "NaN"
        return sign + "Infinity"
    if exp == 0:
        e2 = 1 - (emax >> 1) - mbits  # subnormal
    else:
        man |= 1 << mbits
        e2 = exp - (emax >> 1) - mbits
    if man == 0:
        return sign + "0"
    if e2 >= 0:
        return sign + str(man << e2)
    # man / 2**k == man * 5**k / 10**k: exact, and an integer numerator.
    k = -e2
    num = str(man * 5 ** k)
    if len(num) <= k:
        num = "0" * (k - len(num) + 1) + num
    ip, fp = num[:-k], num[-k:]
    fp = fp.rstrip("0")
    return sign + ip + ("." + fp if fp else "")
