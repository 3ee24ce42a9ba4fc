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
    """One value at pos -> (value, newpos), depth levels below the top (compact arrays).

    Iterative: open arrays and structures wait on an explicit stack (at most MAX_DEPTH), so
    deep data costs a few list slots, not the C stack of a small board, whatever the chain
    of calls above this one."""
    stack = []  # [tag, items, elements still to come] per open array/structure
    end = len(buf)
    while True:
        if depth + len(stack) > MAX_DEPTH:
            raise DecodeError("data nested deeper than %d levels" % MAX_DEPTH)
        if pos >= end:
            raise DecodeError("data ends where a value was expected")
        tag = buf[pos]
        pos += 1
        if tag == ARRAY or tag == STRUCTURE:
            count, pos = decode_length(buf, pos)
            if count > end - pos:  # every element needs at least its tag byte
                raise DecodeError("%s claims %d elements, only %d bytes follow"
                                  % (tag_name(tag), count, end - pos))
            if count:
                stack.append([tag, [], count])
                continue
            v = [] if tag == ARRAY else ()
            if typed:
                v = (tag, v)
        else:
            v, pos = _body(buf, pos, tag, typed, depth + len(stack))
        while stack:  # v completes the innermost open value, and perhaps those around it
            top = stack[-1]
            top[1].append(v)
            top[2] -= 1
            if top[2]:
                break
            stack.pop()
            v = top[1] if top[0] == ARRAY else tuple(top[1])
            if typed:
                v = (top[0], v)
        else:
            return v, pos


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
        return _decode(buf, pos - 1, typed, depth)  # containers: the iterative decoder
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
    """-> (typedesc, newpos); typedesc is a tag, (ARRAY, n, desc) or (STRUCTURE, [descs]).
    Iterative like _decode: open arrays and structures wait on an explicit stack."""
    stack = []  # [ARRAY, n] or [STRUCTURE, descs, members still to come]
    while True:
        if depth + len(stack) > MAX_DEPTH:
            raise DecodeError("compact-array type nested too deep")
        _need(buf, pos, 1, "a compact-array type description")
        tag = buf[pos]
        pos += 1
        if tag == ARRAY:
            _need(buf, pos, 2, "a compact-array type description")
            stack.append([ARRAY, _uint(buf, pos, 2)])
            pos += 2
            continue
        if tag == STRUCTURE:
            count, pos = decode_length(buf, pos)
            if count > len(buf) - pos:
                raise DecodeError("compact-array structure type claims %d members" % count)
            if count:
                stack.append([STRUCTURE, [], count])
                continue
            d = (STRUCTURE, [])
        elif tag == COMPACT_ARRAY or tag not in TAG_NAMES:
            raise DecodeError("bad type 0x%02X in a compact-array description" % tag)
        else:
            d = tag
        while stack:  # d completes the innermost open description, perhaps more
            top = stack[-1]
            if top[0] == ARRAY:
                if top[1] and not _has_size(d):
                    # Elements of zero bytes would let 4 bytes of description ask for 2**32
                    # values.
                    raise DecodeError("compact-array of empty elements")
                stack.pop()
                d = (ARRAY, top[1], d)
                continue
            top[1].append(d)
            top[2] -= 1
            if top[2]:
                break
            stack.pop()
            d = (STRUCTURE, top[1])
        else:
            return d, pos


def _has_size(desc):
    """True when a value of this description takes at least one byte."""
    todo = [desc]
    while todo:
        d = todo.pop()
        if isinstance(d, int):
            if d != NULL and d != DONT_CARE:
                return True
        elif d[0] == ARRAY:
            if d[1]:
                todo.append(d[2])
        else:
            todo.extend(d[1])
    return False


def _members(d):
    return d[1] if d[0] == ARRAY else len(d[1])


def _member(d, i):
    return d[2] if d[0] == ARRAY else d[1][i]


def _decode_packed(buf, pos, desc, typed, depth):
    """One element of a compact-array (its values without tags), iteratively."""
    stack = []  # [description, items, members done] per open array/structure
    d = desc
    while True:
        if depth + len(stack) > MAX_DEPTH:
            raise DecodeError("compact-array nested too deep")
        if isinstance(d, int):  # a simple type: the value without its tag
            v, pos = _body(buf, pos, d, typed, depth + len(stack))
        elif _members(d):
            stack.append([d, [], 0])
            d = _member(d, 0)
            continue
        else:
            v = [] if d[0] == ARRAY else ()
            if typed:
                v = (d[0], v)
        while stack:
            top = stack[-1]
            top[1].append(v)
            top[2] += 1
            td = top[0]
            if top[2] < _members(td):
                d = _member(td, top[2])
                break
            stack.pop()
            v = top[1] if td[0] == ARRAY else tuple(top[1])
            if typed:
                v = (td[0], v)
        else:
            return v, pos


def _decode_compact(buf, pos, typed, depth):
    start = pos
    desc, pos = _read_typedesc(buf, pos, depth + 1)
    desc_bytes = bytes(buf[start:pos])
    n, pos = decode_length(buf, pos)
    _need(buf, pos, n, "compact-array contents")
    end = pos + n
    items = []
    # Decoded in place (no copy of the contents): an element that runs past the end is an
    # error found right after it.
    while pos < end:
        item, q = _decode_packed(buf, pos, desc, typed, depth + 1)
        if q == pos:
            raise DecodeError("compact-array element of zero size")
        if q > end:
            raise DecodeError("compact-array element runs past its contents")
        items.append(item)
        pos = q
    if typed:
        return (desc_bytes, items), end
    return items, end


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
