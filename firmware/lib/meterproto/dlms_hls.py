# meterproto.dlms_hls: the HLS-GMAC step of a DLMS association (mechanism 5, security suite 0;
# IEC 62056-5-3 9.2.7.4 "pass 3 and 4", Green Book): after the AARE both sides prove they
# hold the keys with reply_to_HLS_authentication (class 15 method 1). Core, both directions.
from meterproto import apdu_acse as acse
from meterproto import axdr, security
from meterproto.errors import DecodeError, LocalProtocolError, Refused

ACTION_REQUEST = 0xC3
ACTION_RESPONSE = 0xC7
_METHOD = b"\x00\x0f\x00\x00\x28\x00\x00\xff\x01"  # class 15, 0-0:40.0.0*255, method 1
_SC = 0x10  # security control: authentication only, suite 0


def _challenge(n=16):
    """A fresh client/server challenge: os.urandom on both runtimes (the RP2040 port has it,
    fed by its ring oscillator); pass challenge= to the constructors for a fixed one."""
    try:
        import os
        return os.urandom(n)
    except (ImportError, AttributeError, NotImplementedError):
        from meterproto.compat import ticks_ms
        t = ticks_ms()  # weak, but HLS still proves the keys; only replay protection suffers
        return bytes(((t >> (3 * (i % 9))) & 0xFF) ^ (0x5A + 7 * i) & 0xFF for i in range(n))


def build_hls_action(invoke_byte, answer):
    """ACTION-request-normal for reply_to_HLS_authentication with the 17-byte answer."""
    return (bytes((ACTION_REQUEST, 1, invoke_byte)) + _METHOD + b"\x01"
            + axdr.enc_octets(answer))


def parse_hls_action(apdu):
    """-> (invoke byte, answer bytes); DecodeError if it is not that request."""
    b = bytes(apdu)
    if len(b) < 14 or b[0] != ACTION_REQUEST or b[1] != 1 or b[3:12] != _METHOD or b[12] != 1:
        raise DecodeError("not a reply_to_HLS_authentication request")
    v = axdr.decode_whole(b[13:])
    if not isinstance(v, bytes):
        raise DecodeError("the HLS answer is not an octet string")
    return b[2], v


def build_hls_response(invoke_byte, answer=None, result=0):
    if answer is None:
        return bytes((ACTION_RESPONSE, 1, invoke_byte, result, 0))
    return bytes((ACTION_RESPONSE, 1, invoke_byte, result, 1, 0)) + axdr.enc_octets(answer)


def parse_hls_response(apdu):
    """-> (result, answer bytes or None)."""
    b = bytes(apdu)
    if len(b) < 5 or b[0] != ACTION_RESPONSE or b[1] != 1:
        raise DecodeError("expected an ACTION response to the HLS reply")
    if b[4] == 0 or len(b) < 7:
        return b[3], None
    if b[5] != 0:
        return b[3], None
    v = axdr.decode_whole(b[6:])
    return b[3], v if isinstance(v, bytes) else None


class HlsClient:
    """Client side: builds the AARQ, answers the meter's challenge, checks the meter's answer."""

    def __init__(self, system_title, ek, ak, challenge=None):
        if not system_title or len(system_title) != 8:
            raise LocalProtocolError("HLS-GMAC needs our 8-byte system title")
        if not ek or not ak or len(ek) != 16 or len(ak) != 16:
            raise LocalProtocolError("HLS-GMAC needs the 16-byte encryption and authentication keys")
        self.system_title = bytes(system_title)
        self.ek = bytes(ek)
        self.ak = bytes(ak)
        self.ctos = challenge or _challenge()
        self.server_title = None
        self.ic = 1

    def aarq(self, conformance=0x001E1D, max_pdu=0xFFFF):
        return acse.build_aarq(5, conformance=conformance, max_pdu=max_pdu,
                               system_title=self.system_title, challenge=self.ctos)

    def reply_to_challenge(self, aare):
        if not aare.challenge or not aare.server_system_title:
            raise Refused("the meter accepted HLS but sent no challenge or system title")
        self.server_title = aare.server_system_title
        answer = security.hls_gmac(_SC, self.ic, self.system_title, self.ak, self.ek,
                                   aare.challenge)
        return build_hls_action(0xC1, answer)

    def check_server(self, apdu):
        result, answer = parse_hls_response(apdu)
        if result != 0:
            raise Refused("the meter refused our HLS-GMAC answer (result %d): wrong "
                          "authentication or encryption key, or wrong client address" % result)
        if answer is None:
            raise Refused("the meter accepted HLS but did not prove it holds the keys")
        security.hls_gmac_check(answer, self.server_title, self.ak, self.ek, self.ctos)


class HlsServer:
    """Meter side: the AARE with our challenge, then the check of the client's answer."""

    def __init__(self, system_title, ek, ak, challenge=None):
        self.system_title = bytes(system_title)
        self.ek = bytes(ek)
        self.ak = bytes(ak)
        self.stoc = challenge or _challenge()
        self.client_title = None
        self.ctos = None
        self.ic = 1

    def aare(self, aarq, conformance, max_pdu):
        self.client_title = aarq.system_title
        self.ctos = aarq.secret
        # result accepted, diagnostic 14 "authentication required": pass 3/4 follow.
        return acse.build_aare(0, 14, conformance, max_pdu, mechanism=5,
                               system_title=self.system_title, challenge=self.stoc)

    def answer(self, apdu):
        """-> (True, response) when the client proved the keys, (False, response) if not."""
        iid, answer = parse_hls_action(apdu)
        try:
            security.hls_gmac_check(answer, self.client_title, self.ak, self.ek, self.stoc)
        except (DecodeError, ValueError):
            return False, build_hls_response(iid, None, 3)  # read-write-denied
        mine = security.hls_gmac(_SC, self.ic, self.system_title, self.ak, self.ek, self.ctos)
        return True, build_hls_response(iid, mine, 0)
