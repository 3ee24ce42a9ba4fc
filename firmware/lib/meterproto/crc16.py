# meterproto.crc16: CRC-16/X.25, the HCS and FCS of HDLC frames (core, both runtimes).
# IEC 62056-46 HCS/FCS (the ISO/IEC 13239 FCS; PROTOCOL-FACTS B.2): reflected polynomial
# 0x8408, initial value 0xFFFF, final XOR 0xFFFF, sent low byte first. Check "123456789" = 0x906E.
import array

_POLY = 0x8408


def _make_table():
    # 256 16-bit entries = 512 bytes, built once at import; the per-byte loop then does
    # one shift, one XOR and one lookup on small ints.
    t = array.array("H", [0] * 256)
    for i in range(256):
        c = i
        for _ in range(8):
            if c & 1:
                c = (c >> 1) ^ _POLY
            else:
                c >>= 1
        t[i] = c
    return t


_TABLE = _make_table()


def crc16_x25_update(crc, data, start=0, end=None):
    """Continue a running (not yet inverted) register over data[start:end]."""
    if end is None:
        end = len(data)
    t = _TABLE
    for i in range(start, end):
        crc = (crc >> 8) ^ t[(crc ^ data[i]) & 0xFF]
    return crc


def crc16_x25(data, start=0, end=None):
    """CRC-16/X.25 of data[start:end] as an int (send it low byte first)."""
    return crc16_x25_update(0xFFFF, data, start, end) ^ 0xFFFF


def check_at(data, start, end):
    """True when the two bytes at data[end], data[end+1] are the CRC of data[start:end]."""
    c = crc16_x25(data, start, end)
    return data[end] == (c & 0xFF) and data[end + 1] == (c >> 8)
