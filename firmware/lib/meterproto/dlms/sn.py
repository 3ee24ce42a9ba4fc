# meterproto.dlms.sn: SN referencing READ request/response (IEC 62056-5-3 clause 9.4) for
# older meters that only offer short names (core). Results use the same data-access-result
# codes as GET (dar.DAR_NAMES / dar_error). Also the SN association's object_list and
# the short name of an attribute (class 12).
from meterproto import obis
from meterproto.dlms import axdr
from meterproto.dlms.cosem import _array, _entry, _int
from meterproto.errors import DecodeError

READ_REQUEST = 0x05
READ_RESPONSE = 0x0C


def build_read_request(items):
    """items: short names (int), or (short_name, selector, params_bytes) tuples for
    parameterized access."""
    out = bytearray((READ_REQUEST,))
    out += axdr.enc_length(len(items))
    for it in items:
        if isinstance(it, int):
            out += b"\x02" + it.to_bytes(2, "big")  # variable-name
        else:
            sn, selector, params = it
            out += b"\x04" + sn.to_bytes(2, "big") + bytes((selector,)) + bytes(params)
    return bytes(out)


def _items(apdu, tag, what, item_min):
    # -> (bytes, item count, position of the first item); the count is checked against the
    # bytes left so an absurd count fails at once instead of allocating.
    b = bytes(apdu)
    if not b or b[0] != tag:
        raise DecodeError("not a READ %s" % what)
    n, p = axdr.decode_length(b, 1)
    if n * item_min > len(b) - p:
        raise DecodeError("READ %s claims %d items" % (what, n))
    return b, n, p


def _at_end(b, p, what):
    if p != len(b):
        raise DecodeError("%d unexpected byte(s) after the READ %s" % (len(b) - p, what))


def parse_read_request(apdu):
    """-> list of (short_name, selector or None, params bytes)."""
    b, n, p = _items(apdu, READ_REQUEST, "request", 3)
    out = []
    for _ in range(n):
        if p + 3 > len(b):
            raise DecodeError("READ request ends inside an item")
        kind, sn = b[p], (b[p + 1] << 8) | b[p + 2]
        if kind == 2:
            out.append((sn, None, b""))
            p += 3
        elif kind == 4:
            if p + 4 > len(b):
                raise DecodeError("READ request ends inside a parameterized access")
            _, q = axdr.decode(b, p + 4)
            out.append((sn, b[p + 3], b[p + 4:q]))
            p = q
        else:
            raise DecodeError("unsupported READ variable access 0x%02X" % kind)
    _at_end(b, p, "request")
    return out


def build_read_response(results):
    """results: encoded Data bytes or int DAR per item."""
    out = bytearray((READ_RESPONSE,))
    out += axdr.enc_length(len(results))
    for r in results:
        out += bytes((1, r)) if isinstance(r, int) else b"\x00" + bytes(r)
    return bytes(out)


def parse_read_response(apdu):
    """-> list of encoded Data bytes, int DAR, or ("block", last, block_no, raw) items."""
    b, n, p = _items(apdu, READ_RESPONSE, "response", 2)
    out = []
    for _ in range(n):
        if p + 2 > len(b):
            raise DecodeError("READ response ends inside an item")
        c = b[p]
        if c == 0:
            _, q = axdr.decode(b, p + 1)
            out.append(b[p + 1:q])
            p = q
        elif c == 1:
            out.append(b[p + 1])
            p += 2
        elif c == 2:  # data-block-result: last-block, block-number (2), raw-data
            if p + 5 > len(b):
                raise DecodeError("READ response ends inside a data block")
            m, q = axdr.decode_length(b, p + 4)
            if q + m > len(b):
                raise DecodeError("READ response data block is cut short")
            out.append(("block", b[p + 1] != 0, (b[p + 2] << 8) | b[p + 3], b[q:q + m]))
            p = q + m
        else:
            raise DecodeError("unknown READ result choice %d" % c)
    _at_end(b, p, "response")
    return out


# ---- the SN association object_list (class 12 attribute 2) ----

def parse_object_list_sn(value):
    """SN association object_list -> list of {"base_name", "class_id", "version", "obis"}."""
    value = _array(value, "object_list")
    out = []
    for n, e in enumerate(value):
        if not _entry(e, 3):
            raise DecodeError("SN object_list entry %d is not {base_name, class_id, version,"
                              " logical_name}" % (n + 1))
        base = _int(e[0], "base_name")
        out.append({"base_name": base & 0xFFFF, "class_id": _int(e[1], "class_id"),
                    "version": _int(e[2], "version"), "obis": obis.from_bytes(e[3])})
    return out


def sn_attribute(base_name, attr):
    """Short name of attribute attr (1-based) of an object at base_name (8 per attribute)."""
    return (base_name + 8 * (attr - 1)) & 0xFFFF
