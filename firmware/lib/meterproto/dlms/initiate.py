# meterproto.dlms.initiate: xDLMS InitiateRequest / InitiateResponse / initiate error
# (IEC 62056-5-3 clause 9.5, A-XDR), carried in the user-information of AARQ/AARE (core).
# The client's side; the meter's (InitiateResponse, initiate error) is in
# irprobe.sim.acse_server, the names of conformance bits and initiate errors in acse_text.
from meterproto.errors import DecodeError


def build_initiate_request(conformance=0x001E1D, max_pdu=0xFFFF, dedicated_key=None, version=6):
    out = bytearray(b"\x01")
    if dedicated_key:
        out += bytes((1, len(dedicated_key))) + bytes(dedicated_key)
    else:
        out.append(0)
    out += bytes((0, 0, version))  # response-allowed default (true), no quality of service
    out += b"\x5f\x1f\x04\x00" + conformance.to_bytes(3, "big") + max_pdu.to_bytes(2, "big")
    return bytes(out)


class Initiate:
    """Decoded InitiateRequest/Response/error: conformance, max_pdu, version, vaa, error."""

    def __init__(self):
        self.kind = None  # "request", "response", "error" or "ciphered"
        self.conformance = None
        self.max_pdu = None
        self.version = None
        self.vaa = None
        self.dedicated_key = None
        self.error = None
        self.raw = b""


def _conformance_tail(b, p):
    if b[p:p + 4] != b"\x5f\x1f\x04\x00" or len(b) < p + 9:
        raise DecodeError("bad conformance block in the initiate message")
    return (b[p + 4] << 16) | (b[p + 5] << 8) | b[p + 6], (b[p + 7] << 8) | b[p + 8], p + 9


def parse_initiate(b):
    b = bytes(b)
    ini = Initiate()
    ini.raw = b
    if not b:
        raise DecodeError("empty xDLMS initiate message")
    tag = b[0]
    try:
        if tag == 0x01:
            ini.kind = "request"
            p = 1
            if b[p]:
                n = b[p + 1]
                ini.dedicated_key = b[p + 2:p + 2 + n]
                if len(ini.dedicated_key) != n:
                    raise DecodeError("initiate request ends inside the dedicated key")
                p += 2 + n
            else:
                p += 1
            # response-allowed and quality-of-service are optional: 00 = absent/default
            for _ in range(2):
                if b[p]:
                    p += 2
                else:
                    p += 1
            ini.version = b[p]
            ini.conformance, ini.max_pdu, p = _conformance_tail(b, p + 1)
        elif tag == 0x08:
            ini.kind = "response"
            p = 2 if b[1] == 0 else 3  # optional negotiated quality of service
            ini.version = b[p]
            ini.conformance, ini.max_pdu, p = _conformance_tail(b, p + 1)
            if len(b) < p + 2:
                raise DecodeError("initiate response ends before the VAA name")
            ini.vaa = (b[p] << 8) | b[p + 1]
            p += 2
        elif tag == 0x0E:
            ini.kind = "error"
            p = 4
            if len(b) < 4:
                raise DecodeError("confirmed service error is too short")
            ini.error = b[3]
        elif tag in (0x21, 0x28, 0x41, 0x48):
            ini.kind = "ciphered"  # glo-/ded-initiate: the caller deciphers .raw
            return ini
        else:
            raise DecodeError("unknown xDLMS initiate message 0x%02X" % tag)
    except IndexError:
        raise DecodeError("xDLMS initiate message is too short")
    if p != len(b):
        raise DecodeError("%d unexpected byte(s) after the initiate message" % (len(b) - p))
    return ini
