# meterproto.dlms.dar: data-access-result codes (IEC 62056-5-3 clause 9.5) and the
# exception-response (clause 9.3.7) in plain words (core). A client loads it only when the
# meter refuses something (get.GetResponse.check, get.parse_get_response).
from meterproto.errors import DecodeError, Refused

EXCEPTION_RESPONSE = 0xD8


class AccessRefused(Refused):
    """The meter answered a GET/READ with a data-access-result error; .dar is the code."""

    code = "access-refused"

    def __init__(self, message, dar):
        super().__init__(message)
        self.dar = dar


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


# xDLMS APDU tags (IEC 62056-5-3 clause 8), to name what a meter sent where it should not
_TAGS = ((0x0C, "a READ response (short names)"), (0x0E, "a confirmed service error"),
         (0x61, "an association response (AARE)"), (0x63, "a release response (RLRE)"),
         (0xC4, "a GET response"), (0xC5, "a SET response"), (0xC7, "an ACTION response"),
         (0xCC, "a ciphered GET response (glo)"), (0xD8, "an exception response"),
         (0xDB, "a general-glo-ciphering APDU"), (0xE6, "an LLC header (E6 E7 00)"))


def apdu_text(b):
    """What an APDU is, for an error message: its kind, a GET result's meaning, its bytes."""
    b = bytes(b)
    name = "an unknown APDU"
    for tag, text in _TAGS:
        if b[:1] == bytes((tag,)):
            name = text
    if b[:2] == b"\xc4\x01" and len(b) == 5 and b[3] == 1:
        name += " of %s" % dar_text(b[4])
    head = " ".join("%02X" % x for x in b[:10])
    return "%s (%s%s)" % (name, head, " ..." if len(b) > 10 else "")
