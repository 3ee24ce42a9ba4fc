# meterproto.dlms.get: xDLMS data services (IEC 62056-5-3 clause 9.3): GET (LN referencing,
# normal/next/with-list), the client's side: requests and response parsing (core).
# Data-access-result and exception-response texts are in dar, loaded only when the meter
# refuses something; the meter's side is in irprobe.sim.get_server.
from meterproto import obis
from meterproto.dlms import axdr
from meterproto.errors import DecodeError, LocalProtocolError

GET_REQUEST = 0xC0
GET_RESPONSE = 0xC4
CONFIRMED_SERVICE_ERROR = 0x0E

def _iid(invoke_id, high_priority):
    if not 0 <= invoke_id <= 15:
        raise LocalProtocolError("invoke id must be 0..15, got %r" % invoke_id)
    # bit 7 priority, bit 6 service-class confirmed (clause 9.6 Invoke-Id-And-Priority)
    return (0x80 if high_priority else 0) | 0x40 | invoke_id


def _six(o):
    b = obis.to_bytes(o) if isinstance(o, str) else bytes(o)
    if len(b) != 6:
        raise LocalProtocolError("a logical name has 6 bytes")
    return b


def _descriptor(class_id, obis6, attr, access_selector=None, access_params=b""):
    out = class_id.to_bytes(2, "big") + _six(obis6) + bytes((attr & 0xFF,))
    if access_selector is None:
        return out + b"\x00"
    return out + bytes((1, access_selector)) + bytes(access_params)


# ---- client requests ----

def build_get_normal(invoke_id, class_id, obis6, attr, access_selector=None, access_params=b"",
                     high_priority=True):
    """GET-request-normal; access_params is the encoded Data (see cosem.range_descriptor)."""
    return (bytes((GET_REQUEST, 1, _iid(invoke_id, high_priority)))
            + _descriptor(class_id, obis6, attr, access_selector, access_params))


def build_get_next(invoke_id, block_no, high_priority=True):
    """GET-request-next: acknowledges block_no, asks for the one after it."""
    return bytes((GET_REQUEST, 2, _iid(invoke_id, high_priority))) + block_no.to_bytes(4, "big")


def build_get_with_list(invoke_id, items, high_priority=True):
    """items: (class_id, obis, attr) or (class_id, obis, attr, selector, params) tuples."""
    out = bytearray((GET_REQUEST, 3, _iid(invoke_id, high_priority)))
    out += axdr.enc_length(len(items))
    for it in items:
        out += _descriptor(*it)
    return bytes(out)


# ---- client side: parse responses ----

class GetResponse:
    def __init__(self, kind, invoke_byte, raw_apdu):
        self.kind = kind  # "normal", "block" or "list"
        self.invoke_byte = invoke_byte
        self.data = None  # encoded Data (normal)
        self.error = None  # DAR int when the meter refused (normal, block)
        self.last = True
        self.block_no = None
        self.raw_pos = None  # where this block's raw bytes start in apdu (block)
        self.items = []  # bytes (Data) or int (DAR) per item (list)
        self.apdu = raw_apdu
        self.relabelled = False  # a data block labelled with-list (see parse_get_response)

    @property
    def invoke_id(self):
        return self.invoke_byte & 0x0F

    @property
    def raw(self):
        """This block's raw bytes (a copy; a client may decode apdu from raw_pos instead)."""
        return None if self.raw_pos is None else self.apdu[self.raw_pos:]

    def check(self, obis_text=None, attr=None):
        """Raise AccessRefused when the meter refused; returns self otherwise."""
        if self.error is not None:
            from meterproto.dlms.dar import dar_error
            raise dar_error(self.error, obis_text, attr)
        return self


def parse_get_response(apdu):
    b = bytes(apdu)
    if len(b) < 4 or b[0] != GET_RESPONSE:
        from meterproto.dlms.dar import apdu_text, parse_exception
        if b[:1] == b"\xd8":  # exception-response (clause 9.3.7)
            raise parse_exception(b).error()
        raise DecodeError("expected a GET response, the meter sent " + apdu_text(b))
    kind = {1: "normal", 2: "block", 3: "list"}.get(b[1])
    if kind is None:
        from meterproto.dlms.dar import apdu_text
        raise DecodeError("unknown GET response type %d: %s" % (b[1], apdu_text(b)))
    if kind == "list" and b[3] == 0 and len(b) > 4:
        # A with-list of no results cannot be followed by anything. gurux-dlms 1.0.203 sends
        # GET-with-list answers in blocks as C4 03 iid last-block block-number length raw
        # (with-list type, no raw-data choice): read it as the data block it is, when the
        # length says exactly the rest.
        raw = _relabelled_block(b)
        if raw is not None:
            r = GetResponse("block", b[2], b)
            r.relabelled = True
            r.last = b[3] != 0
            r.block_no = int.from_bytes(b[4:8], "big")
            r.raw_pos = raw
            return r
    r = GetResponse(kind, b[2], b)
    if kind == "normal":
        if b[3] == 0:
            axdr.decode_whole(b[4:])
            r.data = b[4:]
        else:
            r.error = _dar(b, 4, "GET response")
    elif kind == "block":
        if len(b) < 9:
            raise DecodeError("GET response block header is too short")
        r.last = b[3] != 0
        r.block_no = int.from_bytes(b[4:8], "big")
        if b[8] == 0:
            n, p = axdr.decode_length(b, 9)
            if p + n != len(b):
                raise _extra(b, p + n, "data block %d" % r.block_no)
            r.raw_pos = p
        else:
            r.error = _dar(b, 9, "GET response block")
    else:
        n, p = axdr.decode_length(b, 3)
        if n * 2 > len(b) - p:
            raise DecodeError("GET-response-with-list claims %d items" % n)
        for _ in range(n):
            if p >= len(b):
                raise DecodeError("GET-response-with-list ends early")
            if b[p] == 0:
                _, q = axdr.decode(b, p + 1)
                r.items.append(b[p + 1:q])
                p = q
            else:
                if p + 2 > len(b):
                    raise DecodeError("GET-response-with-list ends inside a result")
                r.items.append(b[p + 1])
                p += 2
        if p != len(b):
            raise _extra(b, p, "GET response")
    return r


def _relabelled_block(b):
    """Where the raw data starts if b[3:] is last-block, block-number (4), [raw-data choice 0],
    length and exactly the rest; else None."""
    if len(b) < 9 or b[3] > 1:
        return None
    for start in (9, 8) if b[8] == 0 else (8,):
        try:
            n, p = axdr.decode_length(b, start)
        except DecodeError:
            continue
        if p + n == len(b):
            return p
    return None


def _extra(b, end, what):
    """The meter's answer goes on after a complete one: say what the rest is."""
    if end > len(b):
        return DecodeError("the meter's %s is cut short (%d bytes missing)" % (what, end - len(b)))
    from meterproto.dlms.dar import apdu_text
    return DecodeError("the meter's %s is followed by %d more byte(s): %s"
                       % (what, len(b) - end, apdu_text(b[end:])))


def _dar(b, p, what):
    if len(b) != p + 1:
        raise DecodeError("%s: bad data-access-result" % what)
    return b[p]
