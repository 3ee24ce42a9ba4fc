# meterproto.dlms.acse: association APDUs AARQ/AARE/RLRQ/RLRE (BER, IEC 62056-5-3 clause 9
# and the ACSE of ISO 8650) with the xDLMS InitiateRequest/Response inside (core).
# The client's side here: build AARQ/RLRQ, parse AARE. The meter's side (parse AARQ/RLRQ/RLRE,
# build AARE/RLRE) is in irprobe.sim.acse_server.
from meterproto.dlms import axdr
from meterproto.dlms.initiate import Initiate, build_initiate_request, parse_initiate
from meterproto.errors import DecodeError, LocalProtocolError, Refused

# Object identifiers 2.16.756.5.8.x.y (joint-iso-ccitt country CH, dlms-ua), BER encoded.
_CONTEXT_PREFIX = b"\x60\x85\x74\x05\x08\x01"  # application-context-name, last byte 1..4
_MECH_PREFIX = b"\x60\x85\x74\x05\x08\x02"  # authentication mechanism name, last byte 0..7

CONTEXT_LN = 1
CONTEXT_SN = 2
CONTEXT_LN_CIPHERED = 3
CONTEXT_SN_CIPHERED = 4

# ---- BER primitives (single-byte tags are all ACSE needs) ----

def _tlv(tag, content):
    # BER definite lengths are the same bytes as A-XDR lengths (short form, or 0x8n + n bytes).
    return bytes((tag,)) + axdr.enc_length(len(content)) + content


def _read_tlv(buf, pos, end):
    """-> (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise DecodeError("association APDU ends inside a field header")
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n >= 0x80:
        k = n & 0x7F
        if k == 0 or k > 2 or pos + k > end:
            raise DecodeError("bad BER length in field 0x%02X" % tag)
        n = 0
        for i in range(k):
            n = (n << 8) | buf[pos + i]
        pos += k
    if pos + n > end:
        raise DecodeError("field 0x%02X claims %d bytes, only %d left" % (tag, n, end - pos))
    return tag, pos, pos + n


def _fields(buf, outer_tag, what):
    """Top-level APDU -> dict tag -> content bytes."""
    buf = bytes(buf)
    if not buf or buf[0] != outer_tag:
        first = ("0x%02X" % buf[0]) if buf else "missing"
        raise DecodeError("not an %s (first byte %s)" % (what, first))
    tag, start, end = _read_tlv(buf, 0, len(buf))
    if end != len(buf):
        raise DecodeError("%s length does not match its %d bytes" % (what, len(buf)))
    out = {}
    pos = start
    while pos < end:
        tag, s, e = _read_tlv(buf, pos, end)
        out[tag] = buf[s:e]
        pos = e
    return out


def _oid_last(content, prefix, what):
    # Context/mechanism names arrive either bare (89/8B) or wrapped in an OID TLV (A1).
    if content[:1] == b"\x06":
        t, s, e = _read_tlv(content, 0, len(content))
        content = content[s:e]
    if len(content) != len(prefix) + 1 or content[:len(prefix)] != prefix:
        raise DecodeError("unknown %s name" % what)
    return content[-1]


def _small_int(content, what):
    # A2/A3 results: "02 01 vv" INTEGER (A3 adds one more [1]/[2] wrapper, handled by caller).
    t, s, e = _read_tlv(content, 0, len(content))
    if t != 0x02 or e - s < 1 or e - s > 2:
        raise DecodeError("bad %s" % what)
    v = 0
    for b in content[s:e]:
        v = (v << 8) | b
    return v


def _octets_in(content, inner, what):
    t, s, e = _read_tlv(content, 0, len(content))
    if t != inner:
        raise DecodeError("bad %s" % what)
    return content[s:e]


# ---- AARQ ----

def build_aarq(mechanism=0, password=None, conformance=0x001E1D, max_pdu=0xFFFF, ciphered=False,
               system_title=None, challenge=None, dedicated_key=None, sn=False, user_info=None):
    """AARQ (tag 0x60). mechanism 0 lowest, 1 low (password bytes), 2..7 high (challenge).

    ciphered=True selects the ciphered application context; then user_info must be the
    glo-initiateRequest made with security.cipher_apdu(0x21, ...) from build_initiate_request().
    """
    context = (CONTEXT_SN if sn else CONTEXT_LN) + (2 if ciphered else 0)
    out = bytearray(_tlv(0xA1, _tlv(0x06, _CONTEXT_PREFIX + bytes((context,)))))
    if ciphered or mechanism >= 2:
        if not system_title or len(system_title) != 8:
            raise LocalProtocolError("ciphering and high-level authentication need an 8-byte"
                                     " client system title")
        out += _tlv(0xA6, _tlv(0x04, bytes(system_title)))
    if mechanism:
        if not 0 < mechanism <= 7:  # acse_text.MECHANISMS
            raise LocalProtocolError("unknown authentication mechanism %r" % mechanism)
        secret = password if mechanism == 1 else challenge
        if not secret:
            need = "password" if mechanism == 1 else "challenge"
            raise LocalProtocolError("mechanism %d needs a %s" % (mechanism, need))
        if isinstance(secret, str):
            secret = secret.encode()
        out += b"\x8a\x02\x07\x80"  # sender-acse-requirements: authentication
        out += _tlv(0x8B, _MECH_PREFIX + bytes((mechanism,)))
        out += _tlv(0xAC, _tlv(0x80, bytes(secret)))
    if user_info is None:
        if ciphered:
            raise LocalProtocolError("a ciphered AARQ needs the ciphered initiate request"
                                     " as user_info")
        user_info = build_initiate_request(conformance, max_pdu, dedicated_key)
    out += _tlv(0xBE, _tlv(0x04, bytes(user_info)))
    return _tlv(0x60, bytes(out))


# ---- AARE ----


class Aare:
    """Client view of an AARE. check() raises Refused with plain words when rejected."""

    def __init__(self):
        self.context = None
        self.result = None
        self.diagnostic = None
        self.provider = False  # diagnostic from the ACSE service provider, not the user
        self.server_system_title = None
        self.mechanism = 0
        self.challenge = None  # server-to-client challenge (HLS)
        self.initiate = None
        self.user_info = b""

    @property
    def accepted(self):
        return self.result == 0

    @property
    def conformance(self):
        return self.initiate.conformance if self.initiate else None

    @property
    def max_pdu(self):
        return self.initiate.max_pdu if self.initiate else None

    @property
    def diagnostic_text(self):
        from meterproto.dlms.acse_text import (INITIATE_ERRORS, PROVIDER_DIAGNOSTICS,
                                               USER_DIAGNOSTICS)

        table = PROVIDER_DIAGNOSTICS if self.provider else USER_DIAGNOSTICS
        text = table.get(self.diagnostic, "diagnostic %s" % self.diagnostic)
        if self.initiate is not None and self.initiate.kind == "error":
            text += "; xDLMS initiate refused: %s (%d)" % (
                INITIATE_ERRORS.get(self.initiate.error, "unknown"), self.initiate.error)
        return text

    def check(self):
        if not self.accepted or (self.initiate is not None and self.initiate.kind == "error"):
            from meterproto.dlms.acse_text import ASSOCIATION_RESULTS

            raise Refused("meter refused the association: %s, %s (%s)" % (
                ASSOCIATION_RESULTS.get(self.result, "result %s" % self.result),
                self.diagnostic_text, self.diagnostic))
        return self


def parse_aare(apdu):
    f = _fields(apdu, 0x61, "AARE")
    r = Aare()
    if 0xA2 not in f or 0xA3 not in f:
        raise DecodeError("AARE without association result or diagnostic")
    if 0xA1 in f:
        r.context = _oid_last(f[0xA1], _CONTEXT_PREFIX, "application context")
    r.result = _small_int(f[0xA2], "association result")
    t, s, e = _read_tlv(f[0xA3], 0, len(f[0xA3]))
    if t not in (0xA1, 0xA2):
        raise DecodeError("bad result source diagnostic")
    r.provider = t == 0xA2
    r.diagnostic = _small_int(f[0xA3][s:e], "result source diagnostic")
    if 0xA4 in f:
        r.server_system_title = _octets_in(f[0xA4], 0x04, "responding AP title")
    if 0x89 in f:
        r.mechanism = _oid_last(f[0x89], _MECH_PREFIX, "authentication mechanism")
    if 0xAA in f:
        r.challenge = _octets_in(f[0xAA], 0x80, "responding authentication value")
    if 0xBE in f:
        r.user_info = _octets_in(f[0xBE], 0x04, "user information")
        r.initiate = parse_initiate(r.user_info)
    return r


# ---- release ----

def build_rlrq(reason=0, user_info=None):
    out = _tlv(0x80, bytes((reason,)))
    if user_info is not None:
        out += _tlv(0xBE, _tlv(0x04, bytes(user_info)))
    return _tlv(0x62, out)
