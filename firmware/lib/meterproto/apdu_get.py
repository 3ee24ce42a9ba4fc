# meterproto.apdu_get: xDLMS data services (IEC 62056-5-3 clause 9.3): GET (LN referencing,
# normal/next/with-list), data-access-result errors and exception-response (core).
# Both directions: client requests + response parsing, and the meter simulator's side.
from meterproto import axdr, obis
from meterproto.errors import DecodeError, LocalProtocolError, Refused

GET_REQUEST = 0xC0
GET_RESPONSE = 0xC4
EXCEPTION_RESPONSE = 0xD8
CONFIRMED_SERVICE_ERROR = 0x0E

# Data-Access-Result (clause 9.5) with what it usually means for the user.
DAR_NAMES = {
    0: "success", 1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied",
    4: "object-undefined", 9: "object-class-inconsistent", 11: "object-unavailable",
    12: "type-unmatched", 13: "scope-of-access-violated", 14: "data-block-unavailable",
    15: "long-get-aborted", 16: "no-long-get-in-progress", 17: "long-set-aborted",
    18: "no-long-set-in-progress", 19: "data-block-number-invalid", 250: "other-reason",
}
DAR_ADVICE = {
    1: "the meter reports a hardware fault",
    2: "the meter is busy, try again later",
    3: "this client/password may not read it",
    4: "the meter does not have this object",
    9: "the object has another interface class on this meter",
    11: "the object exists but is not available now",
    12: "the meter expected another data type",
    13: "the selective access range or entries are not accepted",
    14: "the meter cannot deliver this block",
    15: "the meter aborted the block transfer",
    16: "the meter has no block transfer in progress",
    19: "the block number was not the one the meter expected",
    250: "no reason given",
}

EXCEPTION_STATE = {1: "service-not-allowed", 2: "service-unknown"}
EXCEPTION_SERVICE = {0: "operation-not-possible", 1: "service-not-supported", 2: "other-reason",
                     3: "pdu-too-long", 4: "deciphering-error", 5: "invocation-counter-error"}


class AccessRefused(Refused):
    """The meter answered a GET/READ with a data-access-result error; .dar is the code."""

    code = "access-refused"

    def __init__(self, message, dar):
        super().__init__(message)
        self.dar = dar


def dar_text(dar):
    return "%s (%d)" % (DAR_NAMES.get(dar, "unknown result"), dar)


def dar_error(dar, obis_text=None, attr=None):
    """AccessRefused with plain words, e.g. for (3, "1-0:1.8.0*255", 2):
    meter refused 1-0:1.8.0*255 attribute 2: read-write-denied (3) — this client/password
    may not read it"""
    what = obis_text or "the request"
    if attr is not None:
        what += " attribute %d" % attr
    msg = "meter refused %s: %s" % (what, dar_text(dar))
    if dar in DAR_ADVICE:
        msg += " \u2014 " + DAR_ADVICE[dar]
    return AccessRefused(msg, dar)


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


# ---- server side: parse requests ----

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


# ---- server side: build responses ----

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


# ---- client side: parse responses ----

class GetResponse:
    def __init__(self, kind, invoke_byte, raw_apdu):
        self.kind = kind  # "normal", "block" or "list"
        self.invoke_byte = invoke_byte
        self.data = None  # encoded Data (normal)
        self.error = None  # DAR int when the meter refused (normal, block)
        self.last = True
        self.block_no = None
        self.raw = None  # this block's raw bytes (block)
        self.items = []  # bytes (Data) or int (DAR) per item (list)
        self.apdu = raw_apdu

    @property
    def invoke_id(self):
        return self.invoke_byte & 0x0F

    def check(self, obis_text=None, attr=None):
        """Raise AccessRefused when the meter refused; returns self otherwise."""
        if self.error is not None:
            raise dar_error(self.error, obis_text, attr)
        return self


def parse_get_response(apdu):
    b = bytes(apdu)
    if len(b) < 4 or b[0] != GET_RESPONSE:
        if b[:1] == bytes((EXCEPTION_RESPONSE,)):
            raise parse_exception(b).error()
        raise DecodeError("not a GET response")
    kind = {1: "normal", 2: "block", 3: "list"}.get(b[1])
    if kind is None:
        raise DecodeError("unknown GET response type %d" % b[1])
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
                raise DecodeError("block says %d raw bytes, %d present" % (n, len(b) - p))
            r.raw = b[p:]
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
            raise DecodeError("%d unexpected byte(s) after the GET response" % (len(b) - p))
    return r


def _dar(b, p, what):
    if len(b) != p + 1:
        raise DecodeError("%s: bad data-access-result" % what)
    return b[p]


# ---- exception-response and confirmed-service-error ----

class ExceptionResponse:
    def __init__(self, state_error, service_error, invocation_counter=None):
        self.state_error = state_error
        self.service_error = service_error
        self.invocation_counter = invocation_counter

    @property
    def text(self):
        t = "meter answered with an exception: %s, %s" % (
            EXCEPTION_STATE.get(self.state_error, "state %d" % self.state_error),
            EXCEPTION_SERVICE.get(self.service_error, "service error %d" % self.service_error))
        if self.invocation_counter is not None:
            t += " (meter expects invocation counter %d or higher)" % self.invocation_counter
        if self.service_error == 1:
            t += " \u2014 the meter does not support this request"
        return t

    def error(self):
        return Refused(self.text)


def build_exception(state_error, service_error, invocation_counter=None):
    out = bytes((EXCEPTION_RESPONSE, state_error, service_error))
    if invocation_counter is not None:
        out += invocation_counter.to_bytes(4, "big")
    return out


def parse_exception(apdu):
    b = bytes(apdu)
    if len(b) < 3 or b[0] != EXCEPTION_RESPONSE:
        raise DecodeError("not an exception response")
    ic = None
    if b[2] == 5 and len(b) == 7:
        ic = int.from_bytes(b[3:7], "big")
    elif len(b) != 3:
        raise DecodeError("bad exception response length %d" % len(b))
    return ExceptionResponse(b[1], b[2], ic)
