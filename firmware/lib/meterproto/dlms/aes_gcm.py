# meterproto.dlms.aes_gcm: AES-GCM (NIST SP 800-38D) in pure Python on top of any AES block
# function (core). MicroPython uses cryptolib's AES-ECB for the block cipher and this
# GHASH/CTR on top; runtimes without one use meterproto.dlms.aes128.
from meterproto.errors import ChecksumError, LocalProtocolError

_R = 0xE1 << 120  # GHASH reduction polynomial x^128 + x^7 + x^2 + x + 1, bit-reflected


def _mul_x(v):
    # One step of SP 800-38D algorithm 1: V * x in GCM's reflected bit order.
    return (v >> 1) ^ _R if v & 1 else v >> 1


def _reduce4_table():
    # (Z * x^4) == (Z >> 4) ^ RED[Z & 15]: what the 4 bits shifted out fold back into.
    out = []
    for j in range(16):
        v = j
        for _ in range(4):
            v = _mul_x(v)
        out.append(v)
    return out


_RED4 = _reduce4_table()


class Ghash:
    """GHASH keyed by H with Shoup's 4-bit table: 32 lookups per block, not 128 bit steps."""

    def __init__(self, h16):
        h = int.from_bytes(h16, "big")
        hx = [h]
        for _ in range(3):
            hx.append(_mul_x(hx[-1]))
        # table[n] = n * H, where bit 3 of n is the coefficient of x^0 (GCM bit order)
        t = [0] * 16
        for n in range(16):
            v = 0
            for k in range(4):
                if n & (8 >> k):
                    v ^= hx[k]
            t[n] = v
        self.table = t
        self.y = 0

    def update(self, data):
        """Absorb data zero-padded to whole 16-byte blocks (_mul_h written out: this runs at
        the deepest point of a ciphered session, where a call costs the rp2 C stack)."""
        n = len(data)
        t = self.table
        red = _RED4
        for i in range(0, n, 16):
            block = data[i:i + 16]
            if len(block) < 16:
                block = bytes(block) + bytes(16 - len(block))
            x = self.y ^ int.from_bytes(block, "big")
            z = 0
            for _ in range(32):
                z = (z >> 4) ^ red[z & 15] ^ t[x & 15]
                x >>= 4
            self.y = z

    def digest(self):
        return self.y.to_bytes(16, "big")


def _xor(a, b):
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")


def _ctr(encrypt_block, iv12, counter, data):
    out = bytearray()
    for i in range(0, len(data), 16):
        ks = encrypt_block(bytes(iv12) + counter.to_bytes(4, "big"))
        out += _xor(data[i:i + 16], ks)
        counter = (counter + 1) & 0xFFFFFFFF
    return bytes(out)


def _tag(encrypt_block, iv12, aad, ct, taglen):
    g = Ghash(encrypt_block(bytes(16)))
    g.update(aad)
    g.update(ct)
    g.update((len(aad) * 8).to_bytes(8, "big") + (len(ct) * 8).to_bytes(8, "big"))
    # J0 = IV || 0^31 || 1 for a 96-bit IV (SP 800-38D 7.1 step 2)
    return _xor(g.digest(), encrypt_block(bytes(iv12) + b"\x00\x00\x00\x01"))[:taglen]


def gcm_encrypt(encrypt_block, iv12, aad, plaintext, taglen=12):
    """-> ciphertext || tag (taglen bytes). encrypt_block: 16 bytes -> 16 bytes under the key."""
    if len(iv12) != 12:
        raise LocalProtocolError("the GCM IV must have 12 bytes (system title + counter)")
    ct = _ctr(encrypt_block, iv12, 2, plaintext)
    return ct + _tag(encrypt_block, iv12, aad, ct, taglen)


def gcm_decrypt(encrypt_block, iv12, aad, data, taglen=12):
    """data = ciphertext || tag -> plaintext; ChecksumError when the tag does not match."""
    if len(iv12) != 12:
        raise LocalProtocolError("the GCM IV must have 12 bytes (system title + counter)")
    if len(data) < taglen:
        raise ChecksumError("ciphered data shorter than its authentication tag")
    ct = data[:len(data) - taglen]
    expect = _tag(encrypt_block, iv12, aad, ct, taglen)
    diff = 0
    for a, b in zip(expect, data[len(data) - taglen:]):
        diff |= a ^ b  # compare every byte: no early exit that would leak timing
    if diff:
        raise ChecksumError("authentication tag mismatch: wrong key?")
    return _ctr(encrypt_block, iv12, 2, ct)
