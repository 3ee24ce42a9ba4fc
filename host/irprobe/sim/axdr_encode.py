# irprobe.sim.axdr_encode: the A-XDR encoders (IEC 62056-5-3 clause 8) the meter simulator
# needs beyond the client's few in meterproto.dlms.axdr: every simple type, encode_typed()
# (the inverse of axdr.decode_typed) and compact-array. Simulator and tests only (not on
# the probe).
from meterproto.dlms.axdr import (_INTS, _RAW, ARRAY, BCD, BIT_STRING, BOOLEAN, COMPACT_ARRAY,
                                  DATE_TIME, DONT_CARE, ENUM, INT16, INT32, INT64, NULL,
                                  OCTET_STRING, STRUCTURE, UINT8, UINT64, UTF8_STRING,
                                  VISIBLE_STRING, _read_typedesc, enc_array, enc_int, enc_length,
                                  enc_octets, enc_struct, tag_name)
# The client's encoders, so this module offers the whole set (tests, simulator).
from meterproto.dlms.axdr import enc_int8, enc_uint16, enc_uint32  # noqa: F401
from meterproto.errors import LocalProtocolError


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
        return encode_compact(v)
    raise LocalProtocolError("cannot encode %s from %r" % (tag_name(tag), v))


def encode_compact(v):
    """(typedesc_bytes, [typed items]) as decode_typed() gives them -> encoded compact-array."""
    desc, items = v
    d, _ = _read_typedesc(desc, 0, 0)
    body = b"".join(_encode_packed(d, x) for x in items)
    return bytes((COMPACT_ARRAY,)) + bytes(desc) + enc_length(len(body)) + body


def _encode_packed(desc, tv):
    if isinstance(desc, tuple):
        subs = [desc[2]] * desc[1] if desc[0] == ARRAY else desc[1]
        return b"".join(_encode_packed(s, x) for s, x in zip(subs, tv[1]))
    return encode_typed(tv)[1:]
