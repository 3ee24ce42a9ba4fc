# meterproto.dlms.cipher: the ciphered context of a DLMS association, security suite 0
# (application context 3, IEC 62056-5-3 9.2.7.2, Green Book): glo-/ded- APDUs with invocation
# counters, for the whole session. Core, the client's side (the meter's shares _Cipher,
# irprobe.sim.hls_server). The HLS-GMAC pass 3/4 is meterproto.dlms.hls (associating only).
from meterproto.dlms import security
from meterproto.errors import ChecksumError, DecodeError, LocalProtocolError, Refused

_GLO_TAGS = set(security.GLO.values())
_DED_TAGS = set(security.DED.values())
KEY_WORDS = "wrong authentication or encryption key?"
DEFAULT_SYSTEM_TITLE = b"IRPROBE1"


def is_ciphered(apdu):
    t = apdu[0] if apdu else 0
    return t in _GLO_TAGS or t in _DED_TAGS or t in (security.GENERAL_GLO, security.GENERAL_DED)


def _hex(b):
    return "".join("%02X" % x for x in b)


def _key16(key, what):
    if key is None or len(key) != 16:
        raise LocalProtocolError("ciphering needs the 16-byte %s (32 hex digits)" % what)
    return bytes(key)


class _Cipher:
    """What both sides share: our title and counter, the peer's title and last counter."""

    def __init__(self, system_title, ek, ak, invocation_counter, sc=security.SC_AUTH_ENC):
        if not system_title or len(system_title) != 8:
            raise LocalProtocolError("ciphering needs an 8-byte system title (16 hex digits)")
        if sc not in (security.SC_AUTH, security.SC_ENC, security.SC_AUTH_ENC):
            raise LocalProtocolError("security control is 0x10 (authentication), 0x20 "
                                     "(encryption) or 0x30 (both), not 0x%02X" % sc)
        if not 0 <= invocation_counter <= 0xFFFFFFFF:
            raise LocalProtocolError("the invocation counter is a 32-bit number")
        self.system_title = bytes(system_title)
        self.ek = _key16(ek, "global encryption key (EK)")
        self.ak = _key16(ak, "authentication key (AK)")
        self.sc = sc
        self.ic = invocation_counter  # the next counter we send (incremented per APDU)
        self.peer_title = None
        self.peer_ic = None  # the last counter the peer sent
        self.dedicated_key = None

    def _cipher(self, tag, key, plain, form="glo"):
        ic = self.ic
        if ic > 0xFFFFFFFF:  # the IV must never repeat under one key (SP 800-38D 8.3)
            raise LocalProtocolError("the invocation counter is used up: new keys are needed")
        self.ic = ic + 1
        if form == "general":
            return security.cipher_general_glo(self.sc, self.system_title, ic, key, self.ak, plain)
        return security.cipher_apdu(tag, self.sc, self.system_title, ic, key, self.ak, plain)

    def wrap(self, plain, form="glo"):
        """Plain xDLMS APDU -> its glo-, ded- or general-glo-ciphering form."""
        tag = plain[0]
        if form == "ded" and self.dedicated_key and tag in security.DED:
            return self._cipher(security.DED[tag], self.dedicated_key, plain)
        if form == "general":
            return self._cipher(None, self.ek, plain, "general")
        if tag not in security.GLO:
            raise LocalProtocolError("APDU 0x%02X has no ciphered form" % tag)
        return self._cipher(security.GLO[tag], self.ek, plain)

    def unwrap(self, apdu, title=None):
        """Ciphered APDU from the peer -> (plain APDU, form, security control).

        ChecksumError when it does not authenticate, Refused when its counter is not above
        the last one (a replayed or repeated APDU; IEC 62056-5-3 9.2.7.2.3)."""
        tag = apdu[0]
        ded = tag in _DED_TAGS or tag == security.GENERAL_DED
        if ded and not self.dedicated_key:
            raise DecodeError("a dedicated-key APDU (0x%02X) but no dedicated key was agreed"
                              % tag)
        key = self.dedicated_key if ded else self.ek
        try:
            d = security.decipher_apdu(apdu, title or self.peer_title, key, self.ak)
        except ChecksumError:
            raise ChecksumError(self._bad_key_words())
        if self.peer_title is not None and d.system_title != self.peer_title:
            # general-glo-ciphering names its sender: it must be the associated peer
            raise Refused("a ciphered message from system title %s, not from %s" % (
                _hex(d.system_title), _hex(self.peer_title)))
        if self.peer_ic is not None and d.invocation_counter <= self.peer_ic:
            raise Refused("%s invocation counter did not increase (%d after %d): a replayed or "
                          "repeated message, refused" % (self._peer_words(),
                                                          d.invocation_counter, self.peer_ic))
        self.peer_ic = d.invocation_counter
        form = "general" if tag in (security.GENERAL_GLO, security.GENERAL_DED) else (
            "ded" if ded else "glo")
        return d.apdu, form, d.sc


class ClientCipher(_Cipher):
    """Client side: ciphers the InitiateRequest and every xDLMS request, deciphers answers.

    security: 0x30 authenticated and encrypted (default), 0x10 or 0x20; dedicated_key: 16
    bytes sent in the ciphered InitiateRequest, then used for ded- requests."""

    def __init__(self, system_title, ek, ak, security=0x30, invocation_counter=1,
                 dedicated_key=None):
        _Cipher.__init__(self, system_title or DEFAULT_SYSTEM_TITLE, ek, ak,
                         invocation_counter, security)
        if dedicated_key is not None:
            self.dedicated_key = _key16(dedicated_key, "dedicated key")
        self.form = "ded" if dedicated_key is not None else "glo"

    def _peer_words(self):
        return "the meter's"

    def _bad_key_words(self):
        return "the meter's answer does not authenticate with this key: " + KEY_WORDS

    def initiate_request(self, conformance=0x001E1D, max_pdu=0xFFFF):
        """glo-initiate-request (0x21) for the AARQ's user-information."""
        from meterproto.dlms import acse  # associating only: let go after (dlms.client)
        plain = acse.build_initiate_request(conformance, max_pdu, self.dedicated_key)
        return self._cipher(0x21, self.ek, plain)

    def request(self, plain):
        return self.wrap(plain, self.form)

    def accept_aare(self, aare):
        """Take the meter's system title and decipher its glo-initiate-response in place."""
        from meterproto.dlms import acse  # associating only: let go after (dlms.client)
        if aare.accepted and aare.context != acse.CONTEXT_LN_CIPHERED:
            raise Refused("the meter accepted the association without ciphering (context %s):"
                          " read it without keys" % aare.context)
        title = aare.server_system_title
        if aare.accepted and (not title or len(title) != 8):
            raise Refused("the meter accepted a ciphered association but sent no system title")
        self.peer_title = title
        if aare.initiate is not None and aare.initiate.kind == "ciphered":
            if aare.user_info[0] != 0x28:
                raise DecodeError("the AARE carries 0x%02X, not a glo-initiate-response"
                                  % aare.user_info[0])
            plain = self.unwrap(aare.user_info)[0]
            aare.initiate = acse.parse_initiate(plain)
        return aare

    def response(self, apdu):
        """A ciphered answer -> the plain APDU; plain words for everything else."""
        if not is_ciphered(apdu):
            if apdu[:1] == b"\xd8":
                raise Refused(_exception_words(apdu))
            raise Refused("the meter answered unciphered (APDU 0x%02X) in a ciphered "
                          "association" % (apdu[0] if apdu else 0))
        return self.unwrap(apdu)[0]


def _exception_words(apdu):
    from meterproto.dlms.dar import parse_exception
    try:
        text = parse_exception(apdu).text
    except DecodeError:
        text = "the meter answered with a malformed exception"
    return text + " (unciphered: the meter could not take our ciphered request - " + KEY_WORDS \
        + " or an invocation counter it has already seen?)"
