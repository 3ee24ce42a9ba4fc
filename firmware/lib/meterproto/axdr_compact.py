# meterproto.axdr_compact: A-XDR compact-array (IEC 62056-5-3 clause 8, "compact-array"):
# a type description once, then the packed values without tags. Core; imported by axdr
# only when a meter sends one (profile buffers of some meters).
from meterproto.axdr import (ARRAY, COMPACT_ARRAY, DONT_CARE, MAX_DEPTH, NULL, STRUCTURE,
                             TAG_NAMES, _body, _need, _uint, decode_length, enc_length,
                             encode_typed)
from meterproto.errors import DecodeError


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


def decode_compact(buf, pos, typed, depth):
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
