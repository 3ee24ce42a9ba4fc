# irprobe.sim.hls_server: the meter's side of HLS-GMAC (IEC 62056-5-3 9.2.7, pass 3/4 of
# mechanism 5) and of the ciphered context (glo-/ded- APDUs). Simulator and tests only (not on
# the probe); the client's side is meterproto.dlms.hls.
from meterproto.dlms import axdr, security
from meterproto.dlms.acse import CONTEXT_LN
from meterproto.dlms.cipher import _Cipher
from meterproto.dlms.hls import _SC, ACTION_REQUEST, ACTION_RESPONSE, _METHOD, _challenge
from meterproto.dlms.initiate import parse_initiate
from meterproto.errors import DecodeError
from irprobe.sim.acse_server import build_aare


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

    def aare(self, aarq, conformance, max_pdu, context=CONTEXT_LN, user_info=None):
        self.client_title = aarq.system_title
        self.ctos = aarq.secret
        # result accepted, diagnostic 14 "authentication required": pass 3/4 follow.
        return build_aare(0, 14, conformance, max_pdu, mechanism=5, context=context,
                               system_title=self.system_title, challenge=self.stoc,
                               user_info=user_info)

    def answer(self, apdu, ic=None):
        """-> (True, response) when the client proved the keys, (False, response) if not."""
        iid, answer = parse_hls_action(apdu)
        try:
            security.hls_gmac_check(answer, self.client_title, self.ak, self.ek, self.stoc)
        except (DecodeError, ValueError):
            return False, build_hls_response(iid, None, 3)  # read-write-denied
        mine = security.hls_gmac(_SC, self.ic if ic is None else ic, self.system_title,
                                 self.ak, self.ek, self.ctos)
        return True, build_hls_response(iid, mine, 0)


class ServerCipher(_Cipher):
    """Meter side: deciphers the AARQ and requests, answers in the form each request came in.
    Our counter and the last client counter live as long as the meter (not per association)."""

    def _peer_words(self):
        return "the client's"

    def _bad_key_words(self):
        return "the client's request does not authenticate with the meter's keys"

    def open(self, aarq):
        """Ciphered AARQ -> the plain Initiate (dedicated key taken); raises on bad keys."""
        if not aarq.system_title or len(aarq.system_title) != 8:
            raise DecodeError("a ciphered AARQ must carry the client's 8-byte system title")
        if aarq.initiate is None or aarq.user_info[:1] != b"\x21":
            raise DecodeError("a ciphered AARQ must carry a glo-initiate-request")
        plain, form, sc = self.unwrap(aarq.user_info, aarq.system_title)
        ini = parse_initiate(plain)
        if ini.kind != "request":
            raise DecodeError("the glo-initiate-request holds no InitiateRequest")
        self.peer_title = bytes(aarq.system_title)
        self.dedicated_key = ini.dedicated_key or None
        self.sc = sc
        return ini

    def close(self):
        self.peer_title = None
        self.dedicated_key = None
