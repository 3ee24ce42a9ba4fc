# meterproto.dlms.axdr: A-XDR encoding of COSEM Data (IEC 61334-6, used by IEC 62056-5-3 xDLMS):
# tags, lengths, the decoder (compact-array included) and the few encoders a client's requests
# need (core). Decoders never trust a length: every read is bounds checked and anything
# malformed raises DecodeError with a plain-words message. Float text is in axdr_float
# (loaded when a float arrives); the meter simulator's encoders are in irprobe.sim.axdr_encode.
from meterproto.compat import const
from meterproto.errors import DecodeError, LocalProtocolError

# Data tags (IEC 62056-5-3 clause 8, "Data" CHOICE).
NULL = const(0x00)
ARRAY = const(0x01)
STRUCTURE = const(0x02)
BOOLEAN = const(0x03)
BIT_STRING = const(0x04)
INT32 = const(0x05)  # double-long
UINT32 = const(0x06)  # double-long-unsigned
OCTET_STRING = const(0x09)
VISIBLE_STRING = const(0x0A)
UTF8_STRING = const(0x0C)
BCD = const(0x0D)
INT8 = const(0x0F)  # integer
INT16 = const(0x10)  # long
UINT8 = const(0x11)  # unsigned
UINT16 = const(0x12)  # long-unsigned
COMPACT_ARRAY = const(0x13)
INT64 = const(0x14)  # long64
UINT64 = const(0x15)  # long64-unsigned
ENUM = const(0x16)
FLOAT32 = const(0x17)
FLOAT64 = const(0x18)
DATE_TIME = const(0x19)
DATE = const(0x1A)
TIME = const(0x1B)
DONT_CARE = const(0xFF)

TAG_NAMES = {
    0x00: "null-data", 0x01: "array", 0x02: "structure", 0x03: "boolean", 0x04: "bit-string",
    0x05: "double-long", 0x06: "double-long-unsigned", 0x09: "octet-string",
    0x0A: "visible-string", 0x0C: "utf8-string", 0x0D: "bcd", 0x0F: "integer", 0x10: "long",
    0x11: "unsigned", 0x12: "long-unsigned", 0x13: "compact-array", 0x14: "long64",
    0x15: "long64-unsigned", 0x16: "enum", 0x17: "float32", 0x18: "float64",
    0x19: "date-time", 0x1A: "date", 0x1B: "time", 0xFF: "dont-care",
}

# Fixed-size types: tag -> (bytes, signed). Floats and date/time are fixed-size raw bytes.
_INTS = {
    0x05: (4, True), 0x06: (4, False), 0x0D: (1, False), 0x0F: (1, True), 0x10: (2, True),
    0x11: (1, False), 0x12: (2, False), 0x14: (8, True), 0x15: (8, False), 0x16: (1, False),
}
_RAW = {0x17: 4, 0x18: 8, 0x19: 12, 0x1A: 5, 0x1B: 4}

# Deepest nesting accepted; the object_list needs 6, the RP2040 stack is small.
MAX_DEPTH = const(20)


def tag_name(tag):
    return TAG_NAMES.get(tag, "unknown type 0x%02X" % tag)


# ---- lengths (A-XDR / BER definite form: < 0x80, or 0x81..0x84 + n bytes) ----

def enc_length(n):
    if n < 0:
        raise LocalProtocolError("negative length")
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    if n < 0x10000:
        return bytes((0x82, n >> 8, n & 0xFF))
    if n < 0x100000000:
        return bytes((0x84, n >> 24, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
    raise LocalProtocolError("length %d does not fit in 4 bytes" % n)


def decode_length(buf, pos):
    """-> (length, newpos). DecodeError for a missing or unsupported length."""
    if pos >= len(buf):
        raise DecodeError("data ends where a length was expected")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    n = first & 0x7F
    if n == 0 or n > 4:
        raise DecodeError("unsupported length form 0x%02X" % first)
    if pos + n > len(buf):
        raise DecodeError("data ends inside a length")
    v = 0
    for i in range(n):
        v = (v << 8) | buf[pos + i]
    return v, pos + n


# ---- integers ----

def _uint(buf, pos, n):
    v = 0
    for i in range(n):
        v = (v << 8) | buf[pos + i]
    return v


def _int_bytes(v, n, signed):
    lo = -(1 << (8 * n - 1)) if signed else 0
    hi = (1 << (8 * n - 1)) - 1 if signed else (1 << (8 * n)) - 1
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        kind = "signed" if signed else "unsigned"
        raise LocalProtocolError("%r does not fit in %d byte(s) %s" % (v, n, kind))
    if v < 0:
        v += 1 << (8 * n)
    out = bytearray(n)
    for i in range(n - 1, -1, -1):
        out[i] = v & 0xFF
        v >>= 8
    return bytes(out)


# ---- decoding ----

def _need(buf, pos, n, what):
    if n < 0 or pos + n > len(buf):
        raise DecodeError("data ends inside %s (needs %d more bytes, %d left)"
                          % (what, n, len(buf) - pos))


def _decode(buf, pos, typed, depth):
    if depth > MAX_DEPTH:
        raise DecodeError("data nested deeper than %d levels" % MAX_DEPTH)
    if pos >= len(buf):
        raise DecodeError("data ends where a value was expected")
    return _body(buf, pos + 1, buf[pos], typed, depth)


def _body(buf, pos, tag, typed, depth):
    """The value of type tag whose contents start at pos (the tag byte already read)."""
    if tag in _INTS:
        n, signed = _INTS[tag]
        _need(buf, pos, n, tag_name(tag))
        v = _uint(buf, pos, n)
        if signed and v >> (8 * n - 1):
            v -= 1 << (8 * n)
        pos += n
    elif tag == ARRAY or tag == STRUCTURE:
        count, pos = decode_length(buf, pos)
        if count > len(buf) - pos:  # every element needs at least its tag byte
            raise DecodeError("%s claims %d elements, only %d bytes follow"
                              % (tag_name(tag), count, len(buf) - pos))
        items = []
        for _ in range(count):
            item, pos = _decode(buf, pos, typed, depth + 1)
            items.append(item)
        v = items if tag == ARRAY else tuple(items)
    elif tag in (OCTET_STRING, VISIBLE_STRING, UTF8_STRING):
        n, pos = decode_length(buf, pos)
        _need(buf, pos, n, tag_name(tag))
        v = bytes(buf[pos:pos + n])
        pos += n
        if tag != OCTET_STRING:
            try:
                v = v.decode("utf-8") if tag == UTF8_STRING else _ascii(v)
            except UnicodeError:
                raise DecodeError("%s is not valid text" % tag_name(tag))
    elif tag == BOOLEAN:
        _need(buf, pos, 1, "a boolean")
        v = buf[pos] != 0
        pos += 1
    elif tag == BIT_STRING:
        nbits, pos = decode_length(buf, pos)
        n = (nbits + 7) // 8
        _need(buf, pos, n, "a bit-string")
        v = (nbits, bytes(buf[pos:pos + n]))
        pos += n
    elif tag in _RAW:
        n = _RAW[tag]
        _need(buf, pos, n, tag_name(tag))
        v = bytes(buf[pos:pos + n])
        pos += n
        if tag == FLOAT32 or tag == FLOAT64:
            from meterproto.dlms.axdr_float import float_text  # rare: loaded only when seen

            v = float_text(v)
    elif tag == NULL or tag == DONT_CARE:
        v = None
    elif tag == COMPACT_ARRAY:
        v, pos = _decode_compact(buf, pos, typed, depth)
    else:
        raise DecodeError("unknown data type 0x%02X at byte %d" % (tag, pos - 1))
    if typed:
        return (tag, v), pos
    return v, pos


def _ascii(b):
    for c in b:
        if c > 0x7E:
            # Meters put Latin-1 and control bytes into visible-strings; keep them readable.
            return "".join(chr(x) for x in b)
    return b.decode("ascii") if b else ""


def decode(buf, pos=0):
    """One Data value at pos -> (python value, newpos).

    null/dont-care -> None, array -> list, structure -> tuple, octet-string -> bytes,
    visible/utf8-string -> str, boolean -> bool, integers/enum/bcd -> int,
    bit-string -> (nbits, bytes), float32/64 -> exact decimal text,
    date-time/date/time -> raw bytes, compact-array -> list.
    """
    return _decode(buf, pos, False, 0)


def decode_typed(buf, pos=0):
    """Like decode() but every value is a (tag, value) pair, recursively, so an enum can be
    told from an unsigned. Compact arrays give (COMPACT_ARRAY, (typedesc_bytes, [items]))."""
    return _decode(buf, pos, True, 0)


def decode_whole(buf, typed=False):
    """Exactly one Data value filling buf; trailing bytes are an error."""
    v, pos = _decode(buf, 0, typed, 0)
    if pos != len(buf):
        raise DecodeError("%d unexpected byte(s) after the data" % (len(buf) - pos))
    return v


# ---- compact-array (clause 8): a type description once, then the values without tags ----

def _read_typedesc(buf, pos, depth):
    """-> (typedesc, newpos); typedesc is a tag, (ARRAY, n, desc) or (STRUCTURE, [descs])."""
    if depth > MAX_DEPTH:
        raise DecodeError("compact-array type nested too deep")
    _need(buf, pos, 1, "a compact-array type description")
    tag = buf[pos]
    pos += 1
    if tag == ARRAY:
        _need(buf, pos, 2, "a compact-array type description")
        n = _uint(buf, pos, 2)
        sub, pos = _read_typedesc(buf, pos + 2, depth + 1)
        if n and not _min_size(sub):
            # Elements of zero bytes would let 4 bytes of description ask for 2**32 values.
            raise DecodeError("compact-array of empty elements")
        return (ARRAY, n, sub), pos
    if tag == STRUCTURE:
        count, pos = decode_length(buf, pos)
        if count > len(buf) - pos:
            raise DecodeError("compact-array structure type claims %d members" % count)
        subs = []
        for _ in range(count):
            sub, pos = _read_typedesc(buf, pos, depth + 1)
            subs.append(sub)
        return (STRUCTURE, subs), pos
    if tag == COMPACT_ARRAY or tag not in TAG_NAMES:
        raise DecodeError("bad type 0x%02X in a compact-array description" % tag)
    return tag, pos


def _min_size(desc):
    if isinstance(desc, int):
        return 0 if desc in (NULL, DONT_CARE) else 1
    if desc[0] == ARRAY:
        return desc[1] * _min_size(desc[2])
    total = 0
    for sub in desc[1]:
        total += _min_size(sub)
    return total


def _decode_packed(buf, pos, desc, typed, depth):
    if depth > MAX_DEPTH:
        raise DecodeError("compact-array nested too deep")
    if isinstance(desc, int):  # a simple type: the value without its tag
        return _body(buf, pos, desc, typed, depth)
    subs = [desc[2]] * desc[1] if desc[0] == ARRAY else desc[1]
    items = []
    for sub in subs:
        item, pos = _decode_packed(buf, pos, sub, typed, depth + 1)
        items.append(item)
    if desc[0] == STRUCTURE:
        items = tuple(items)
    if typed:
        return (desc[0], items), pos
    return items, pos


def _decode_compact(buf, pos, typed, depth):
    start = pos
    desc, pos = _read_typedesc(buf, pos, depth + 1)
    desc_bytes = bytes(buf[start:pos])
    n, pos = decode_length(buf, pos)
    _need(buf, pos, n, "compact-array contents")
    contents = bytes(buf[pos:pos + n])
    items = []
    p = 0
    while p < n:
        item, q = _decode_packed(contents, p, desc, typed, depth + 1)
        if q == p:
            raise DecodeError("compact-array element of zero size")
        items.append(item)
        p = q
    if typed:
        return (desc_bytes, items), pos + n
    return items, pos + n


# ---- encoding (what a client's requests need) ----


def enc_int(tag, v):
    """An integer type (INT8..UINT64, ENUM, BCD): tag + big-endian bytes, size from _INTS."""
    n, signed = _INTS[tag]
    return bytes((tag,)) + _int_bytes(v, n, signed)


def enc_int8(v):
    return enc_int(INT8, v)


def enc_uint16(v):
    return enc_int(UINT16, v)


def enc_uint32(v):
    return enc_int(UINT32, v)


def enc_octets(b):
    b = bytes(b)
    return b"\x09" + enc_length(len(b)) + b


def enc_array(items):
    """items: already encoded elements."""
    return b"\x01" + enc_length(len(items)) + b"".join(items)


def enc_struct(items):
    return b"\x02" + enc_length(len(items)) + b"".join(items)
