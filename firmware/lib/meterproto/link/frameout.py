# meterproto.link.frameout: a channel frame written in pieces as it is made (core, both
# runtimes; the probe's USB answers). The same bytes as meterproto.link.channel.encode_frame
# (framing: docs/COMMAND-CHANNEL.md), but a TAKE answer with a day of load profile is never
# whole in RAM: its JSON is counted, then made, stuffed and summed 512 bytes at a time. Its
# own module, imported when an answer goes out: the probe lets it go during a meter read.
#
# API
#   write_frame(write, ftype, seq, payload=b"", obj=None, n=None)   see below
#   frame_bytes(ftype, seq, payload=b"", obj=None, n=None) -> the whole frame (tests, host)
from meterproto.crc16 import ccitt_false_table
from meterproto.crc16 import crc16_ccitt_false as crc16
from meterproto.errors import LocalProtocolError
from meterproto.link.channel import EOF, ESC, MAX_PAYLOAD, SOF, _stuff


def frame_bytes(ftype, seq, payload=b"", obj=None, n=None):
    """The frame write_frame() writes, as one bytearray."""
    out = bytearray()
    write_frame(out.extend, ftype, seq, payload, obj, n)
    return out


CHUNK = 512  # bytes stuffed before each write: the largest piece a streamed frame needs


class _Sink:
    """Stuffs body bytes into a small buffer, keeps the CRC, hands full buffers to write."""

    def __init__(self, write):
        self.write = write
        self.buf = bytearray((SOF,))
        self.crc = 0xFFFF

    def body(self, data):
        t = ccitt_false_table()
        if t is None:  # CPython: its C CRC, then the stuffing
            self.crc = crc16(data, self.crc)
            _stuff(self.buf, data)
        else:  # MicroPython: one pass per byte for both (the sync's hot loop on the probe)
            out = self.buf
            crc = self.crc
            start = 0
            for i in range(len(data)):
                b = data[i]
                crc = ((crc << 8) & 0xFF00) ^ t[(crc >> 8) ^ b]
                if b < 0x20 or ESC <= b <= EOF:
                    out += data[start:i]
                    out.append(ESC)
                    out.append(b ^ 0x20)
                    start = i + 1
            out += data[start:]
            self.crc = crc
        if len(self.buf) >= CHUNK:
            self.flush()

    def flush(self):
        if self.buf:
            self.write(self.buf)
            self.buf = bytearray()


def write_frame(write, ftype, seq, payload=b"", obj=None, n=None):
    """Write one frame through write(bytes) in pieces of about CHUNK bytes. The payload is
    bytes (a PULL answer: never copied), or with obj the compact JSON text of obj, made
    piece by piece (meterproto.link.jsonpieces) and never whole: a TAKE answer with a day of
    load profile needs no buffer of its size (counted in a first pass, then written; n:
    that count when the caller has it)."""
    if obj is not None:
        from meterproto.link.jsonpieces import pieces, size

        if n is None:
            n = size(obj)
    else:
        n = len(payload)
    if n > MAX_PAYLOAD:
        raise LocalProtocolError("frame payload too long (%d bytes)" % n)
    out = _Sink(write)
    out.body(bytes((ftype, (seq >> 8) & 0xFF, seq & 0xFF, n >> 8, n & 0xFF)))
    if obj is not None:
        for p in pieces(obj):
            out.body(p.encode())
    else:
        mv = memoryview(payload)
        for i in range(0, n, CHUNK):
            out.body(mv[i:i + CHUNK])
    c = out.crc
    _stuff(out.buf, bytes((c >> 8, c & 0xFF)))
    out.buf.append(EOF)
    out.flush()
