# meterproto.crc16: the three CRC-16 variants the probe speaks, table driven (core, both runtimes).
# X.25 = HDLC HCS/FCS (IEC 62056-46, ISO/IEC 13239); CCITT-FALSE = our record
# and USB-channel format (meterproto.link.records, .hostlink); ARC = DSMR/P1 telegrams (after `!`).
#
# Each table is 256 16-bit entries (512 bytes), built once; the per-byte loop then does one
# shift, one XOR and one lookup on small ints, with no allocation. Each table is built on
# first use, so a probe that never touches a variant (the boot imports this module for the
# record check) does not pay its RAM or the build time.
#   variant       poly (reflected)   init    xorout  check "123456789"
#   X.25          0x1021 (0x8408)    0xFFFF  0xFFFF  0x906E  (sent low byte first)
#   CCITT-FALSE   0x1021             0xFFFF  0       0x29B1  (our formats: high byte first)
#   ARC           0x8005 (0xA001)    0       0       0xBB3D
import array


def _reflected_table(poly):
    t = array.array("H", [0] * 256)
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c >> 1) ^ poly) if c & 1 else (c >> 1)
        t[i] = c
    return t


def _msb_first_table(poly):
    t = array.array("H", [0] * 256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ poly) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_X25 = None
_FALSE = None
_ARC = None


def _reflected_update(t, crc, data, start, end):
    if end is None:
        end = len(data)
    for i in range(start, end):
        crc = (crc >> 8) ^ t[(crc ^ data[i]) & 0xFF]
    return crc


def _x25_table():
    global _X25
    t = _X25
    if t is None:
        t = _X25 = _reflected_table(0x8408)
    return t


def crc16_x25_update(crc, data, start=0, end=None):
    """Continue a running (not yet inverted) X.25 register over data[start:end]."""
    return _reflected_update(_x25_table(), crc, data, start, end)


def crc16_x25(data, start=0, end=None):
    """CRC-16/X.25 of data[start:end] as an int (send it low byte first)."""
    return _reflected_update(_x25_table(), 0xFFFF, data, start, end) ^ 0xFFFF


try:  # CPython's C implementation of the same polynomial (absent on MicroPython)
    from binascii import crc_hqx as _crc_hqx
except ImportError:
    _crc_hqx = None


def ccitt_false_table():
    """The CCITT-FALSE table, for a loop that does more per byte (link.channel stuffs and
    sums each byte of a frame in one pass); None on CPython, whose crc_hqx is faster."""
    global _FALSE
    if _crc_hqx is not None:
        return None
    if _FALSE is None:
        _FALSE = _msb_first_table(0x1021)
    return _FALSE


def crc16_ccitt_false(data, crc=0xFFFF, start=0, end=None):
    """CRC-16/CCITT-FALSE of data[start:end]; pass crc to continue a running value."""
    global _FALSE
    if _crc_hqx is not None:
        # The host checks every synced record: ~60x faster than the table loop in Python.
        if start or end is not None:
            data = memoryview(data)[start:end]
        return _crc_hqx(data, crc)
    t = _FALSE
    if t is None:
        t = _FALSE = _msb_first_table(0x1021)
    if end is None:
        end = len(data)
    for i in range(start, end):
        crc = ((crc << 8) & 0xFF00) ^ t[((crc >> 8) ^ data[i]) & 0xFF]
    return crc


def crc16_arc(data, crc=0, start=0, end=None):
    """CRC-16/ARC of data[start:end]; pass crc to continue a running value."""
    global _ARC
    t = _ARC
    if t is None:
        t = _ARC = _reflected_table(0xA001)
    return _reflected_update(t, crc, data, start, end)
