# irprobe.sim.get_server: the meter's side of xDLMS GET (IEC 62056-5-3 clause 9.3):
# parse GET requests, build GET responses and exception-responses. Simulator and tests
# only (not on the probe); the client's side is meterproto.dlms.get.
from meterproto import obis
from meterproto.dlms import axdr
from meterproto.dlms.dar import EXCEPTION_RESPONSE
from meterproto.dlms.get import GET_REQUEST, GET_RESPONSE, _iid
from meterproto.errors import DecodeError


class AttrRef:
    """Cosem-Attribute-Descriptor plus optional selective access."""

    def __init__(self, class_id, obis6, attr, selector=None, params=b""):
        self.class_id = class_id
        self.obis = obis6  # 6 bytes
        self.attr = attr
        self.selector = selector
        self.params = params  # encoded Data of the access parameters

    @property
    def obis_text(self):
        return obis.from_bytes(self.obis)

    def __repr__(self):
        return "AttrRef(%d, %s, %d, %r)" % (self.class_id, self.obis_text, self.attr,
                                            self.selector)


class GetRequest:
    def __init__(self, kind, invoke_byte):
        self.kind = kind  # "normal", "next" or "list"
        self.invoke_byte = invoke_byte
        self.items = []  # AttrRef list (one for "normal")
        self.block_no = None

    @property
    def invoke_id(self):
        return self.invoke_byte & 0x0F

    @property
    def high_priority(self):
        return bool(self.invoke_byte & 0x80)

    @property
    def descriptor(self):
        return self.items[0] if self.items else None


def _read_descriptor(b, p):
    if p + 10 > len(b):
        raise DecodeError("GET request ends inside an attribute descriptor")
    cid = (b[p] << 8) | b[p + 1]
    attr = b[p + 8]
    if attr > 127:
        attr -= 256  # attribute-id is a signed integer
    sel = b[p + 9]
    p += 10
    if sel == 0:
        return AttrRef(cid, b[p - 8:p - 2], attr), p
    if sel != 1 or p >= len(b):
        raise DecodeError("bad access selection in a GET request")
    selector = b[p]
    _, q = axdr.decode(b, p + 1)  # bounds of the parameters
    return AttrRef(cid, b[p - 8:p - 2], attr, selector, b[p + 1:q]), q


def parse_get_request(apdu):
    b = bytes(apdu)
    if len(b) < 3 or b[0] != GET_REQUEST:
        raise DecodeError("not a GET request")
    kind = {1: "normal", 2: "next", 3: "list"}.get(b[1])
    if kind is None:
        raise DecodeError("unknown GET request type %d" % b[1])
    r = GetRequest(kind, b[2])
    p = 3
    if kind == "normal":
        d, p = _read_descriptor(b, p)
        r.items.append(d)
    elif kind == "next":
        if len(b) < 7:
            raise DecodeError("GET-request-next is too short")
        r.block_no = int.from_bytes(b[3:7], "big")
        p = 7
    else:
        n, p = axdr.decode_length(b, p)
        if n * 10 > len(b) - p:
            raise DecodeError("GET-request-with-list claims %d items" % n)
        for _ in range(n):
            d, p = _read_descriptor(b, p)
            r.items.append(d)
    if p != len(b):
        raise DecodeError("%d unexpected byte(s) after the GET request" % (len(b) - p))
    return r


def build_get_response_normal(invoke_id, data_bytes, high_priority=True):
    return bytes((GET_RESPONSE, 1, _iid(invoke_id, high_priority), 0)) + bytes(data_bytes)


def build_get_response_error(invoke_id, dar, high_priority=True):
    return bytes((GET_RESPONSE, 1, _iid(invoke_id, high_priority), 1, dar))


def build_get_response_block(invoke_id, last, block_no, raw, high_priority=True):
    """raw: bytes of this block (of the whole encoded Data), or an int DAR for an error."""
    head = (bytes((GET_RESPONSE, 2, _iid(invoke_id, high_priority), 1 if last else 0))
            + block_no.to_bytes(4, "big"))
    if isinstance(raw, int):
        return head + bytes((1, raw))
    return head + b"\x00" + axdr.enc_length(len(raw)) + bytes(raw)


def build_get_response_list(invoke_id, results, high_priority=True):
    """results: encoded Data bytes (success) or int DAR, per requested item."""
    out = bytearray((GET_RESPONSE, 3, _iid(invoke_id, high_priority)))
    out += axdr.enc_length(len(results))
    for r in results:
        out += bytes((1, r)) if isinstance(r, int) else b"\x00" + bytes(r)
    return bytes(out)


def build_exception(state_error, service_error, invocation_counter=None):
    out = bytes((EXCEPTION_RESPONSE, state_error, service_error))
    if invocation_counter is not None:
        out += invocation_counter.to_bytes(4, "big")
    return out
