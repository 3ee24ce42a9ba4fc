# meterproto.dlms.aes128: AES-128 encryption of single blocks (FIPS 197), only what GCM needs
# (core), for runtimes without an AES of their own. Its own module: where cryptolib is there
# (MicroPython on the RP2040), it is never loaded and costs no heap.
from meterproto.errors import LocalProtocolError


def _make_sbox():
    sbox = bytearray(256)
    p = q = 1
    while True:
        # p runs over all non-zero elements as powers of 3; q = p^-1 (times 3^-1 each step)
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q
        for s in (1, 2, 3, 4):
            x ^= ((q << s) | (q >> (8 - s))) & 0xFF
        sbox[p] = x ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    return bytes(sbox)


_SBOX = None


def _xtime(b):
    return ((b << 1) ^ 0x1B) & 0xFF if b & 0x80 else b << 1


class Aes128:
    """Pure-Python AES-128 encryption of single blocks (slow; fallback and tests only)."""

    def __init__(self, key16):
        global _SBOX
        if _SBOX is None:
            _SBOX = _make_sbox()
        if len(key16) != 16:
            raise LocalProtocolError("AES-128 needs a 16-byte key")
        s = _SBOX
        w = bytearray(key16)
        rcon = 1
        for i in range(16, 176, 4):
            t = w[i - 4:i]
            if i % 16 == 0:
                t = bytearray((s[t[1]] ^ rcon, s[t[2]], s[t[3]], s[t[0]]))
                rcon = _xtime(rcon)
            for k in range(4):
                w.append(w[i - 16 + k] ^ t[k])
        self.rk = bytes(w)

    def encrypt(self, block):
        s = _SBOX
        rk = self.rk
        st = bytearray(16)
        for i in range(16):
            st[i] = block[i] ^ rk[i]
        for rnd in range(1, 11):
            # SubBytes + ShiftRows: byte (row r, column c) comes from column c + r
            t = bytearray(16)
            for c in range(4):
                for r in range(4):
                    t[4 * c + r] = s[st[4 * ((c + r) & 3) + r]]
            if rnd < 10:  # MixColumns
                for c in range(0, 16, 4):
                    a0, a1, a2, a3 = t[c], t[c + 1], t[c + 2], t[c + 3]
                    x = a0 ^ a1 ^ a2 ^ a3
                    t[c] = a0 ^ x ^ _xtime(a0 ^ a1)
                    t[c + 1] = a1 ^ x ^ _xtime(a1 ^ a2)
                    t[c + 2] = a2 ^ x ^ _xtime(a2 ^ a3)
                    t[c + 3] = a3 ^ x ^ _xtime(a3 ^ a0)
            k = 16 * rnd
            for i in range(16):
                t[i] ^= rk[k + i]
            st = t
        return bytes(st)
