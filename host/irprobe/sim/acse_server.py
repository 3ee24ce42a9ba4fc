# irprobe.sim.acse_server: the meter's side of association (IEC 62056-5-3 clause 9, ACSE of
# ISO 8650): parse AARQ/RLRQ, build AARE/RLRE with the xDLMS InitiateResponse or initiate
# error (clause 9.5). Simulator and tests only (not on the probe); the client's side is
# meterproto.dlms.acse.
from meterproto.dlms.acse import (_CONTEXT_PREFIX, _MECH_PREFIX, CONTEXT_LN, CONTEXT_LN_CIPHERED,
                                  CONTEXT_SN, CONTEXT_SN_CIPHERED, _fields, _octets_in,
                                  _oid_last, _tlv)
from meterproto.dlms.initiate import parse_initiate
from meterproto.errors import DecodeError


def build_initiate_response(conformance=0x001E1D, max_pdu=0x04C8, vaa=0x0007, version=6):
    return (bytes((0x08, 0, version)) + b"\x5f\x1f\x04\x00" + conformance.to_bytes(3, "big")
            + max_pdu.to_bytes(2, "big") + vaa.to_bytes(2, "big"))


def build_initiate_error(error):
    # confirmedServiceError [14], initiateError [1], ServiceError initiate [6], the enum.
    return bytes((0x0E, 0x01, 0x06, error))


class Aarq:
    """Server view of an AARQ."""

    def __init__(self):
        self.context = None
        self.mechanism = 0
        self.secret = None  # password (mechanism 1) or client-to-server challenge
        self.system_title = None
        self.initiate = None  # Initiate; kind "ciphered" when it must be deciphered first
        self.user_info = b""

    @property
    def ciphered(self):
        return self.context in (CONTEXT_LN_CIPHERED, CONTEXT_SN_CIPHERED)

    @property
    def sn(self):
        return self.context in (CONTEXT_SN, CONTEXT_SN_CIPHERED)

    @property
    def conformance(self):
        return self.initiate.conformance if self.initiate else None

    @property
    def max_pdu(self):
        return self.initiate.max_pdu if self.initiate else None


def parse_aarq(apdu):
    f = _fields(apdu, 0x60, "AARQ")
    q = Aarq()
    if 0xA1 not in f:
        raise DecodeError("AARQ without application context name")
    q.context = _oid_last(f[0xA1], _CONTEXT_PREFIX, "application context")
    if 0xA6 in f:
        q.system_title = _octets_in(f[0xA6], 0x04, "calling AP title")
    if 0x8B in f:
        q.mechanism = _oid_last(f[0x8B], _MECH_PREFIX, "authentication mechanism")
    if 0xAC in f:
        q.secret = _octets_in(f[0xAC], 0x80, "authentication value")
    if 0xBE in f:
        q.user_info = _octets_in(f[0xBE], 0x04, "user information")
        q.initiate = parse_initiate(q.user_info)
    return q


def build_aare(result=0, diagnostic=0, conformance=0x001E1D, max_pdu=0x04C8, context=CONTEXT_LN,
               mechanism=0, system_title=None, challenge=None, vaa=0x0007, user_info=None,
               initiate_error=None, provider=False):
    """AARE (tag 0x61). result 0/1/2, diagnostic from USER_DIAGNOSTICS (PROVIDER_ if provider)."""
    out = bytearray(_tlv(0xA1, _tlv(0x06, _CONTEXT_PREFIX + bytes((context,)))))
    out += _tlv(0xA2, _tlv(0x02, bytes((result,))))
    out += _tlv(0xA3, _tlv(0xA2 if provider else 0xA1, _tlv(0x02, bytes((diagnostic,)))))
    if system_title:
        out += _tlv(0xA4, _tlv(0x04, bytes(system_title)))
    if mechanism >= 2:
        out += b"\x88\x02\x07\x80"  # responder-acse-requirements: authentication
        out += _tlv(0x89, _MECH_PREFIX + bytes((mechanism,)))
        if challenge:
            out += _tlv(0xAA, _tlv(0x80, bytes(challenge)))
    if user_info is None:
        if initiate_error is not None:
            user_info = build_initiate_error(initiate_error)
        elif result == 0:
            user_info = build_initiate_response(conformance, max_pdu, vaa)
    if user_info is not None:
        out += _tlv(0xBE, _tlv(0x04, bytes(user_info)))
    return _tlv(0x61, bytes(out))


def build_rlre(reason=0, user_info=None):
    out = _tlv(0x80, bytes((reason,)))
    if user_info is not None:
        out += _tlv(0xBE, _tlv(0x04, bytes(user_info)))
    return _tlv(0x63, out)


class Release:
    def __init__(self, reason, user_info):
        self.reason = reason  # 0 normal, 1 urgent / not-finished, 30 user-defined
        self.user_info = user_info
        self.initiate = parse_initiate(user_info) if user_info else None


def _parse_release(apdu, tag, what):
    f = _fields(apdu, tag, what)
    reason = None
    if 0x80 in f:
        if len(f[0x80]) != 1:
            raise DecodeError("bad %s reason" % what)
        reason = f[0x80][0]
    ui = _octets_in(f[0xBE], 0x04, "user information") if 0xBE in f else b""
    return Release(reason, ui)


def parse_rlre(apdu):
    return _parse_release(apdu, 0x63, "RLRE")


def parse_rlrq(apdu):
    return _parse_release(apdu, 0x62, "RLRQ")
