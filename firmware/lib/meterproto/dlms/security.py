# meterproto.dlms.security: DLMS security suite 0 (AES-GCM-128, IEC 62056-5-3 clause 9.2, Green
# Book "security"): ciphered APDUs (glo-/ded-, general-glo-ciphering) and HLS mechanism 5
# (GMAC). Core; the AES backend is chosen once: cryptography, cryptolib, or aes_gcm.
from meterproto.dlms import axdr
from meterproto.dlms import aes_gcm as _pure
from meterproto.errors import ChecksumError, DecodeError, LocalProtocolError

TAG_LEN = 12  # suite 0 authentication tag length (Green Book: 12 bytes)

SC_AUTH = 0x10  # security control byte: authentication only
SC_ENC = 0x20  # encryption only
SC_AUTH_ENC = 0x30  # both

# plain xDLMS tag -> glo- (global key) and ded- (dedicated key) ciphered tags (clause 9.5)
GLO = {0x01: 0x21, 0x08: 0x28, 0x05: 0x25, 0x06: 0x26, 0x0C: 0x2C, 0x0D: 0x2D, 0x0E: 0x2E,
       0xC0: 0xC8, 0xC1: 0xC9, 0xC2: 0xCA, 0xC3: 0xCB, 0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF,
       0xD8: 0xD9}
DED = {0x01: 0x41, 0x08: 0x48, 0x05: 0x45, 0x06: 0x46, 0x0C: 0x4C, 0x0D: 0x4D, 0x0E: 0x4E,
       0xC0: 0xD0, 0xC1: 0xD1, 0xC2: 0xD2, 0xC3: 0xD3, 0xC4: 0xD4, 0xC5: 0xD5, 0xC7: 0xD7}
GENERAL_GLO = 0xDB
GENERAL_DED = 0xDC
_CIPHERED_TAGS = set(GLO.values()) | set(DED.values())

_cg_cipher = None
_cryptolib = None
try:
    from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
    from cryptography.hazmat.primitives.ciphers import algorithms as _alg
    from cryptography.hazmat.primitives.ciphers import modes as _modes
    from cryptography.exceptions import InvalidTag as _InvalidTag
    _cg_cipher = _Cipher
except ImportError:
    try:
        import cryptolib as _cryptolib
    except ImportError:
        pass

BACKENDS = (("pure",) + (("cryptography",) if _cg_cipher else ())
            + (("cryptolib",) if _cryptolib else ()))
BACKEND = "cryptography" if _cg_cipher else ("cryptolib" if _cryptolib else "pure")


def _block_fn(key16, backend):
    if backend == "cryptolib":
        return _cryptolib.aes(bytes(key16), 1).encrypt  # mode 1 = ECB
    if backend == "cryptography":
        enc = _Cipher(_alg.AES(bytes(key16)), _modes.ECB()).encryptor()
        return enc.update
    from meterproto.dlms.aes128 import Aes128  # no AES library here: the slow one

    return Aes128(key16).encrypt


def _check_key(key16):
    if len(key16) != 16:
        raise LocalProtocolError("security suite 0 keys have 16 bytes (32 hex digits), got %d"
                                 % len(key16))


def gcm_encrypt(key16, iv12, aad, plaintext, backend=None, taglen=TAG_LEN):
    """AES-GCM -> ciphertext || tag (12 bytes unless taglen says otherwise)."""
    _check_key(key16)
    backend = backend or BACKEND
    if backend == "cryptography":
        e = _Cipher(_alg.AES(bytes(key16)), _modes.GCM(bytes(iv12))).encryptor()
        e.authenticate_additional_data(bytes(aad))
        ct = e.update(bytes(plaintext)) + e.finalize()
        return ct + e.tag[:taglen]
    return _pure.gcm_encrypt(_block_fn(key16, backend), iv12, aad, plaintext, taglen)


def gcm_decrypt(key16, iv12, aad, data, backend=None, taglen=TAG_LEN):
    """ciphertext || tag -> plaintext; ChecksumError("authentication tag mismatch: wrong key?")."""
    _check_key(key16)
    backend = backend or BACKEND
    if backend == "cryptography":
        if len(data) < taglen:
            raise ChecksumError("ciphered data shorter than its authentication tag")
        n = len(data) - taglen
        mode = _modes.GCM(bytes(iv12), bytes(data[n:]), taglen)
        d = _Cipher(_alg.AES(bytes(key16)), mode).decryptor()
        d.authenticate_additional_data(bytes(aad))
        try:
            return d.update(bytes(data[:n])) + d.finalize()
        except _InvalidTag:
            raise ChecksumError("authentication tag mismatch: wrong key?")
    return _pure.gcm_decrypt(_block_fn(key16, backend), iv12, aad, data, taglen)


def _gcm(encrypt, key16, iv12, aad, data, backend):
    """gcm_encrypt/gcm_decrypt, one call level less with the pure GHASH: ciphering runs at
    the deepest point of a session, and the rp2 port's C stack is 8 KB."""
    backend = backend or BACKEND
    if backend == "cryptography":
        return (gcm_encrypt if encrypt else gcm_decrypt)(key16, iv12, aad, data, backend)
    _check_key(key16)
    f = _pure.gcm_encrypt if encrypt else _pure.gcm_decrypt
    return f(_block_fn(key16, backend), iv12, aad, data, TAG_LEN)


def _iv(system_title, ic):
    if len(system_title) != 8:
        raise LocalProtocolError("a system title has 8 bytes, got %d" % len(system_title))
    if not 0 <= ic <= 0xFFFFFFFF:
        raise LocalProtocolError("invocation counter out of range")
    return bytes(system_title) + ic.to_bytes(4, "big")


def _protect(sc, iv, ek, ak, plain, backend):
    """Security header SC || IC is added by the caller; this is the protected body."""
    if sc & 0x0F:
        raise LocalProtocolError("only security suite 0 (AES-GCM-128) is supported, not %d"
                                 % (sc & 0x0F))
    mode = sc & 0x30
    if mode == SC_AUTH_ENC:
        return _gcm(True, ek, iv, bytes((sc,)) + bytes(ak), plain, backend)
    if mode == SC_AUTH:  # plain text stays readable; the tag covers it as additional data
        aad = bytes((sc,)) + bytes(ak) + bytes(plain)
        return bytes(plain) + gcm_encrypt(ek, iv, aad, b"", backend)
    if mode == SC_ENC:  # encryption without a tag: GCM's counter mode part only
        return gcm_encrypt(ek, iv, b"", plain, backend)[:len(plain)]
    raise LocalProtocolError("security control 0x%02X protects nothing" % sc)


def _unprotect(sc, iv, ek, ak, body, backend):
    if sc & 0x0F:
        raise DecodeError("the meter uses security suite %d; only suite 0 is supported"
                          % (sc & 0x0F))
    mode = sc & 0x30
    if mode == SC_AUTH_ENC:
        return _gcm(False, ek, iv, bytes((sc,)) + bytes(ak), body, backend)
    if mode == SC_AUTH:
        if len(body) < TAG_LEN:
            raise ChecksumError("authenticated data shorter than its tag")
        plain = body[:len(body) - TAG_LEN]
        aad = bytes((sc,)) + bytes(ak) + bytes(plain)
        gcm_decrypt(ek, iv, aad, body[len(body) - TAG_LEN:], backend)
        return plain
    if mode == SC_ENC:
        # counter mode is its own inverse: encrypting the cipher text gives the plain text
        return gcm_encrypt(ek, iv, b"", body, backend)[:len(body)]
    raise DecodeError("security control byte 0x%02X protects nothing" % sc)


def cipher_apdu(tag, sc, system_title, invocation_counter, ek, ak, apdu, backend=None):
    """Plain xDLMS APDU -> tag || length || SC || IC || protected body (glo-/ded- form).

    tag: the ciphered tag, e.g. 0xC8 glo-get-request (GLO[plain[0]] / DED[plain[0]]);
    system_title: the sender's; ek: global (glo-) or dedicated (ded-) key; ak: authentication key.
    """
    iv = _iv(system_title, invocation_counter)
    body = bytes((sc,)) + iv[8:] + _protect(sc, iv, ek, ak, apdu, backend)
    return bytes((tag,)) + axdr.enc_length(len(body)) + body


def cipher_general_glo(sc, system_title, invocation_counter, ek, ak, apdu, backend=None):
    """general-glo-ciphering (0xDB): carries the sender's system title itself."""
    iv = _iv(system_title, invocation_counter)
    body = bytes((sc,)) + iv[8:] + _protect(sc, iv, ek, ak, apdu, backend)
    return bytes((GENERAL_GLO, 8)) + bytes(system_title) + axdr.enc_length(len(body)) + body


class Deciphered:
    def __init__(self, tag, sc, ic, system_title, apdu):
        self.tag = tag  # the ciphered tag it came in
        self.sc = sc
        self.invocation_counter = ic
        self.system_title = system_title
        self.apdu = apdu  # the plain xDLMS APDU


def decipher_apdu(data, system_title, ek, ak, backend=None):
    """Ciphered APDU -> Deciphered (its .apdu is the plain APDU).

    system_title is the sender's (the meter's, from the AARE, for responses); general
    ciphering APDUs (0xDB/0xDC) bring their own and system_title may be None.
    DecodeError for bad structure, ChecksumError for a wrong key / damaged data.
    """
    b = bytes(data)
    if not b:
        raise DecodeError("empty ciphered APDU")
    tag = b[0]
    p = 1
    if tag in (GENERAL_GLO, GENERAL_DED):
        n, p = axdr.decode_length(b, 1)
        if n != 8 or p + 8 > len(b):
            raise DecodeError("general ciphering without an 8-byte system title")
        system_title = b[p:p + 8]
        p += 8
    elif tag not in _CIPHERED_TAGS:
        raise DecodeError("not a ciphered APDU (tag 0x%02X)" % tag)
    if system_title is None:
        raise LocalProtocolError("deciphering needs the sender's system title")
    n, p = axdr.decode_length(b, p)
    if p + n != len(b) or n < 5:
        raise DecodeError("ciphered APDU length %d does not match its %d bytes" % (n, len(b) - p))
    sc = b[p]
    ic = int.from_bytes(b[p + 1:p + 5], "big")
    iv = _iv(system_title, ic)
    plain = _unprotect(sc, iv, ek, ak, b[p + 5:], backend)
    return Deciphered(tag, sc, ic, bytes(system_title), plain)


def hls_gmac(sc, ic, system_title, ak, ek, challenge, backend=None):
    """HLS mechanism 5 answer f(challenge) = SC || IC || GMAC(SC || AK || challenge) (17 bytes).

    The client sends f(StoC) with its own system title in reply_to_HLS_authentication; the
    meter answers f(CtoS) computed with the meter's system title.
    """
    iv = _iv(system_title, ic)
    tag = gcm_encrypt(ek, iv, bytes((sc,)) + bytes(ak) + bytes(challenge), b"", backend)
    return bytes((sc,)) + iv[8:] + tag


def hls_gmac_check(answer, system_title, ak, ek, challenge, backend=None):
    """Verify the peer's f(challenge); ChecksumError in plain words when it does not match."""
    a = bytes(answer)
    if len(a) != 5 + TAG_LEN:
        raise DecodeError("HLS-GMAC answer must have 17 bytes, got %d" % len(a))
    ic = int.from_bytes(a[1:5], "big")
    if hls_gmac(a[0], ic, system_title, ak, ek, challenge, backend) != a:
        raise ChecksumError("the meter's HLS answer does not match: wrong authentication or"
                            " encryption key?")
    return ic
