# Security suite 0: AES-GCM on every backend this runtime has (cryptography on CPython,
# cryptolib on MicroPython, pure Python on both) against NIST and Green Book vectors,
# ciphered APDUs, HLS-GMAC, and damaged input giving only DecodeError/ChecksumError.
from irprobe.sim.rng import Rng
from meterproto.dlms import get as apdu_get
from meterproto.dlms import initiate as apdu_initiate
from irprobe.sim import get_server
from meterproto.dlms import security
from meterproto.dlms import aes_gcm as pure
from meterproto.dlms.aes128 import Aes128
from meterproto.compat import MICROPYTHON, unhexlify
from meterproto.errors import ChecksumError, DecodeError, LocalProtocolError
from core_checks import raises

EK = unhexlify("000102030405060708090A0B0C0D0E0F")
AK = unhexlify("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
ST_SERVER = unhexlify("4D4D4D0000BC614E")
ST_CLIENT = unhexlify("4D4D4D0000000001")

# NIST GCM test cases 1-4 (the GCM specification's AES-128 set), 16-byte tags.
K3 = unhexlify("feffe9928665731c6d6a8f9467308308")
IV3 = unhexlify("cafebabefacedbaddecaf888")
P3 = unhexlify("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
               "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
C3 = unhexlify("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
               "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985")
NIST = [
    (bytes(16), bytes(12), b"", b"", b"", unhexlify("58e2fccefa7e3061367f1d57a4e7455a")),
    (bytes(16), bytes(12), b"", bytes(16), unhexlify("0388dace60b6a392f328c2b971b2fe78"),
     unhexlify("ab6e47d42cec13bdf53a67b21257bddf")),
    (K3, IV3, b"", P3, C3, unhexlify("4d5c2af327cd64a62cf35abd2ba6fab4")),
    (K3, IV3, unhexlify("feedfacedeadbeeffeedfacedeadbeefabaddad2"), P3[:60], C3[:60],
     unhexlify("5bc94fbc3221a5db94fae95ae7121a47")),
]


def test_backend_choice_per_runtime():
    assert "pure" in security.BACKENDS
    if MICROPYTHON:
        assert security.BACKEND == "cryptolib"  # the unix port has it, like the RP2040 build
    else:
        assert security.BACKEND == "cryptography"
    assert len(security.BACKENDS) >= 2  # so the pure path is always compared with a library


def test_pure_aes_fips197_vector():
    a = Aes128(EK)
    assert a.encrypt(unhexlify("00112233445566778899aabbccddeeff")) == unhexlify("69c4e0d86a7b0430d8cdb78070b4c55a")


def test_nist_gcm_vectors_every_backend():
    for be in security.BACKENDS:
        for key, iv, aad, pt, ct, tag in NIST:
            out = security.gcm_encrypt(key, iv, aad, pt, be, 16)
            assert out == ct + tag, be
            assert security.gcm_decrypt(key, iv, aad, ct + tag, be, 16) == pt
            assert security.gcm_encrypt(key, iv, aad, pt, be) == ct + tag[:12]  # DLMS tag length
            assert security.gcm_decrypt(key, iv, aad, ct + tag[:12], be) == pt


def test_pure_gcm_matches_library_on_random_sizes():
    rng = Rng(5)
    for n in (0, 1, 15, 16, 17, 31, 33, 100, 257):
        key = bytes(rng.below(256) for _ in range(16))
        iv = bytes(rng.below(256) for _ in range(12))
        aad = bytes(rng.below(256) for _ in range(rng.below(40)))
        pt = bytes(rng.below(256) for _ in range(n))
        outs = [security.gcm_encrypt(key, iv, aad, pt, be) for be in security.BACKENDS]
        for o in outs[1:]:
            assert o == outs[0], n


def test_green_book_ciphered_initiate_request():
    plain = unhexlify("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0")
    want = unhexlify("21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE"
                     "6841DB204D39EE6FDB8E356855")
    for be in security.BACKENDS:
        assert security.cipher_apdu(0x21, 0x30, ST_SERVER, 0x01234567, EK, AK, plain, be) == want
        d = security.decipher_apdu(want, ST_SERVER, EK, AK, be)
        assert d.apdu == plain and d.sc == 0x30 and d.invocation_counter == 0x01234567 and d.tag == 0x21
    ini = apdu_initiate.parse_initiate(plain)
    assert ini.dedicated_key == unhexlify("00112233445566778899AABBCCDDEEFF") and ini.max_pdu == 0x04B0


def test_green_book_hls_gmac_both_passes():
    for be in security.BACKENDS:
        f_stoc = security.hls_gmac(0x10, 1, ST_CLIENT, AK, EK, b"P6wRJ21F", be)
        assert f_stoc == unhexlify("10000000011A52FE7DD3E72748973C1E28")
        f_ctos = security.hls_gmac(0x10, 0x01234567, ST_SERVER, AK, EK, b"K56iVagY", be)
        assert f_ctos == unhexlify("1001234567FE1466AFB3DBCD4F9389E2B7")
    assert security.hls_gmac_check(f_ctos, ST_SERVER, AK, EK, b"K56iVagY") == 0x01234567
    e = raises(ChecksumError, security.hls_gmac_check, f_ctos, ST_SERVER, AK, EK, b"K56iVagX")
    assert "wrong authentication or encryption key" in str(e)
    raises(DecodeError, security.hls_gmac_check, f_ctos[:-1], ST_SERVER, AK, EK, b"K56iVagY")


def test_glo_get_request_round_trip_all_security_controls():
    get = apdu_get.build_get_normal(1, 8, "0-0:1.0.0*255", 2)
    assert security.GLO[get[0]] == 0xC8 and security.GLO[0xC4] == 0xCC and security.DED[0xC0] == 0xD0
    for sc in (0x10, 0x20, 0x30):
        c = security.cipher_apdu(0xC8, sc, ST_CLIENT, 7, EK, AK, get)
        assert c[0] == 0xC8 and c[2] == sc and c[3:7] == b"\x00\x00\x00\x07"
        if sc == 0x10:
            assert c[7:7 + len(get)] == get  # authentication only: readable plain text
        else:
            assert get not in c
        for be in security.BACKENDS:
            d = security.decipher_apdu(c, ST_CLIENT, EK, AK, be)
            assert d.apdu == get and d.sc == sc and d.invocation_counter == 7
    g = security.cipher_general_glo(0x30, ST_SERVER, 9, EK, AK, get)
    assert g[:10] == b"\xdb\x08" + ST_SERVER
    d = security.decipher_apdu(g, None, EK, AK)
    assert d.apdu == get and d.system_title == ST_SERVER


def test_wrong_key_and_damage_are_checksum_errors():
    resp = get_server.build_get_response_normal(1, b"\x06\x00\x00\x13\x91")
    c = security.cipher_apdu(0xCC, 0x30, ST_SERVER, 100, EK, AK, resp)
    for be in security.BACKENDS:
        e = raises(ChecksumError, security.decipher_apdu, c, ST_SERVER, AK, AK, be)
        assert str(e) == "authentication tag mismatch: wrong key?"
        bad = bytearray(c)
        bad[9] ^= 1
        raises(ChecksumError, security.decipher_apdu, bytes(bad), ST_SERVER, EK, AK, be)
        raises(ChecksumError, security.decipher_apdu, c, ST_CLIENT, EK, AK, be)  # other system title
    raises(DecodeError, security.decipher_apdu, c[:-1], ST_SERVER, EK, AK)
    raises(DecodeError, security.decipher_apdu, b"\xc0\x01", ST_SERVER, EK, AK)
    raises(DecodeError, security.decipher_apdu, b"\xcc\x05\x31\x00\x00\x00\x01", ST_SERVER, EK, AK)  # suite 1
    raises(LocalProtocolError, security.cipher_apdu, 0xC8, 0x30, ST_CLIENT, 1, EK[:15], AK, resp)
    raises(LocalProtocolError, security.cipher_apdu, 0xC8, 0x30, ST_CLIENT[:7], 1, EK, AK, resp)
    raises(LocalProtocolError, security.cipher_apdu, 0xC8, 0x00, ST_CLIENT, 1, EK, AK, resp)


def test_mutated_ciphered_apdus_only_defined_errors():
    rng = Rng(31)
    seed = security.cipher_apdu(0xCC, 0x30, ST_SERVER, 3, EK, AK, b"\xc4\x01\xc1\x00\x11\x05")
    seed2 = security.cipher_general_glo(0x10, ST_SERVER, 4, EK, AK, b"\x0f\x01")
    for i in range(200):
        buf = bytearray(seed if i & 1 else seed2)
        for _ in range(1 + rng.below(2)):
            buf[rng.below(len(buf))] = rng.below(256)
        if rng.below(3) == 0:
            buf = buf[:rng.below(len(buf) + 1)]
        try:
            security.decipher_apdu(bytes(buf), ST_SERVER, EK, AK, "pure" if i % 3 == 0 else None)
        except DecodeError:  # ChecksumError is a DecodeError
            pass
