# meterproto.axdr_more: the A-XDR pieces (IEC 62056-5-3 clause 8 / 62056-6-2 4.1.5) a reading
# client rarely needs: exact text of float32/64 values and the encoders the meter simulator
# uses (core). Reached as axdr.<name> too, loaded on first use, so a client keeps its RAM.
from meterproto.axdr import (_INTS, _RAW, ARRAY, BCD, BIT_STRING, BOOLEAN, COMPACT_ARRAY, DATE_TIME,
                             DONT_CARE, ENUM, INT16, INT32, INT64, NULL, OCTET_STRING, STRUCTURE,
                             UINT8, UINT32, UINT64, UTF8_STRING, VISIBLE_STRING, _uint, enc_array,
                             enc_int, enc_length, enc_octets, enc_struct, tag_name)
from meterproto.errors import DecodeError, LocalProtocolError


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


def enc_null():
    return b"\x00"


def enc_dont_care():
    return b"\xff"


def enc_bool(v):
    return b"\x03\x01" if v else b"\x03\x00"


def enc_int16(v):
    return enc_int(INT16, v)


def enc_int32(v):
    return enc_int(INT32, v)


def enc_int64(v):
    return enc_int(INT64, v)


def enc_uint8(v):
    return enc_int(UINT8, v)


def enc_uint32(v):
    return enc_int(UINT32, v)


def enc_uint64(v):
    return enc_int(UINT64, v)


def enc_enum(v):
    return enc_int(ENUM, v)


def enc_bcd(v):
    return enc_int(BCD, v)


def enc_visible(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return b"\x0a" + enc_length(len(b)) + b


def enc_utf8(s):
    b = s.encode("utf-8")
    return b"\x0c" + enc_length(len(b)) + b


def enc_bitstring(nbits, data=None):
    """nbits + its ceil(nbits/8) bytes; or a text of "0"/"1" as the only argument."""
    if data is None:
        text = nbits
        nbits = len(text)
        out = bytearray((nbits + 7) // 8)
        for i in range(nbits):
            if text[i] == "1":
                out[i >> 3] |= 0x80 >> (i & 7)
        data = bytes(out)
    if len(data) != (nbits + 7) // 8:
        raise LocalProtocolError("a bit-string of %d bits needs %d bytes"
                                 % (nbits, (nbits + 7) // 8))
    return b"\x04" + enc_length(nbits) + bytes(data)


def enc_raw(tag, raw):
    """Fixed-size raw types: FLOAT32/FLOAT64 (IEEE bytes), DATE_TIME, DATE, TIME."""
    if _RAW.get(tag) != len(raw):
        raise LocalProtocolError("%s needs %s bytes" % (tag_name(tag), _RAW.get(tag)))
    return bytes((tag,)) + bytes(raw)


def enc_datetime(raw12):
    return enc_raw(DATE_TIME, raw12)


def encode_typed(tv):
    """Inverse of decode_typed() (floats are only re-encoded from raw IEEE bytes)."""
    tag, v = tv
    if tag in _INTS:
        return enc_int(tag, v)
    if tag == ARRAY:
        return enc_array([encode_typed(x) for x in v])
    if tag == STRUCTURE:
        return enc_struct([encode_typed(x) for x in v])
    if tag == NULL or tag == DONT_CARE:
        return bytes((tag,))
    if tag == BOOLEAN:
        return enc_bool(v)
    if tag == OCTET_STRING:
        return enc_octets(v)
    if tag == VISIBLE_STRING:
        return b"\x0a" + enc_length(len(v)) + bytes(ord(c) for c in v)
    if tag == UTF8_STRING:
        return enc_utf8(v)
    if tag == BIT_STRING:
        return enc_bitstring(v[0], v[1])
    if tag in _RAW and not isinstance(v, str):
        return enc_raw(tag, v)
    if tag == COMPACT_ARRAY:
        from meterproto.axdr_compact import encode_compact

        return encode_compact(v)
    raise LocalProtocolError("cannot encode %s from %r" % (tag_name(tag), v))
