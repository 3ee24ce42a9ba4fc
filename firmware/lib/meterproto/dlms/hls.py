# meterproto.dlms.hls: HLS-GMAC, the authentication step of a DLMS association, security suite
# 0 (IEC 62056-5-3 9.2.7.4, Green Book): pass 3/4 (mechanism 5, reply_to_HLS_authentication,
# class 15 method 1). Core, the client's side; the meter's is irprobe.sim.hls_server. Needed
# while associating only (dlms.client lets it go); the ciphered context is dlms.cipher.
from meterproto.dlms import axdr, security
from meterproto.compat import random_bytes
from meterproto.errors import DecodeError, LocalProtocolError, Refused

ACTION_REQUEST = 0xC3
ACTION_RESPONSE = 0xC7
_METHOD = b"\x00\x0f\x00\x00\x28\x00\x00\xff\x01"  # class 15, 0-0:40.0.0*255, method 1
_SC = 0x10  # security control: authentication only, suite 0


def _challenge(n=16):
    """A fresh challenge from the platform's entropy source (os.urandom on both runtimes; the
    RP2040 feeds it from its ring oscillator). Never a clock: a guessable challenge would let
    a recorded answer be replayed. Pass challenge= to the constructors for a fixed one."""
    return random_bytes(n)


def build_hls_action(invoke_byte, answer):
    """ACTION-request-normal for reply_to_HLS_authentication with the 17-byte answer."""
    return (bytes((ACTION_REQUEST, 1, invoke_byte)) + _METHOD + b"\x01"
            + axdr.enc_octets(answer))


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
            raise LocalProtocolError("HLS-GMAC needs the 16-byte encryption and authentication"
                                     " keys")
        self.system_title = bytes(system_title)
        self.ek = bytes(ek)
        self.ak = bytes(ak)
        self.ctos = challenge or _challenge()
        self.server_title = None
        self.ic = 1

    def aarq(self, conformance=0x001E1D, max_pdu=0xFFFF, user_info=None):
        """user_info: the glo-initiate-request of a ciphered association (ClientCipher)."""
        from meterproto.dlms import acse  # associating only: let go after (dlms.client)
        return acse.build_aarq(5, conformance=conformance, max_pdu=max_pdu,
                               system_title=self.system_title, challenge=self.ctos,
                               ciphered=user_info is not None, user_info=user_info)

    def reply_to_challenge(self, aare, ic=None):
        """ic: in a ciphered association the counter the ciphered ACTION will carry."""
        if not aare.challenge or not aare.server_system_title:
            raise Refused("the meter accepted HLS but sent no challenge or system title")
        self.server_title = aare.server_system_title
        answer = security.hls_gmac(_SC, self.ic if ic is None else ic, self.system_title,
                                   self.ak, self.ek, aare.challenge)
        return build_hls_action(0xC1, answer)

    def check_server(self, apdu):
        result, answer = parse_hls_response(apdu)
        if result != 0:
            raise Refused("the meter refused our HLS-GMAC answer (result %d): wrong "
                          "authentication or encryption key, or wrong client address" % result)
        if answer is None:
            raise Refused("the meter accepted HLS but did not prove it holds the keys")
        security.hls_gmac_check(answer, self.server_title, self.ak, self.ek, self.ctos)
