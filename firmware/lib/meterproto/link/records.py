# meterproto.link.records: the stored-reading record format, one record per meter session (core).
# Same bytes on the probe's flash, in a USB pull and in the host's import: the host checks
# each record's own CRC, so a record is trusted end to end. No standard: our own format.
#
# Layout (big endian), version 1:
#   MAGIC "IR" (2) | version (1) | payload length (2) | seq (4) | time_s (4) |
#   digest (8) | payload (JSON, utf-8) | CRC-16 (2) over everything before it
# payload = the JSON reading format (ARCHITECTURE.md), compact, values as decimal text.
# digest  = first 8 bytes of SHA-256 of the raw meter exchange (proves which bytes were read).
# CRC-16 is CRC-16/CCITT-FALSE (meterproto.crc16: poly 0x1021, init 0xFFFF, check 0x29B1).
#
# API
#   encode_record(seq, time_s, reading, digest=b"") -> bytes   reading: Reading or dict
#   decode_record(data) -> Record (.seq .time_s .digest .reading(dict) .raw .version)
#       raises DecodeError (bad structure/length) or ChecksumError (CRC mismatch)
#   check_record(data) -> (seq, time_s)  CRC and structure only, no JSON parse (cheap)
#   split_records(data) -> list of raw record bytes (a USB pull carries them back to back)
#   exchange_digest(raw_bytes) -> 8-byte digest;  crc16(data, crc=0xFFFF) -> int
import json

# crc16 stays importable from here: the store and the USB channel use records.crc16.
from meterproto.crc16 import crc16_ccitt_false as crc16
from meterproto.errors import ChecksumError, DecodeError

MAGIC = b"IR"
VERSION = 1
HEADER_LEN = 21  # 2 + 1 + 2 + 4 + 4 + 8
DIGEST_LEN = 8
OVERHEAD = HEADER_LEN + 2
MAX_PAYLOAD = 32768  # so one whole record always fits one USB frame (hostlink)


def dumps(obj):
    """Compact JSON text (no spaces), on both runtimes."""
    return json.dumps(obj, separators=(",", ":"))


def exchange_digest(raw):
    """First 8 bytes of SHA-256 of the raw meter exchange (hashlib exists on both runtimes)."""
    import hashlib

    return hashlib.sha256(bytes(raw)).digest()[:DIGEST_LEN]


class Record:
    """One decoded record. reading is the JSON reading dict."""

    def __init__(self, seq, time_s, digest, reading, raw, version=VERSION):
        self.seq = seq
        self.time_s = time_s
        self.digest = digest
        self.reading = reading
        self.raw = raw
        self.version = version

    def __repr__(self):
        return "Record(seq=%d, time_s=%d, %d bytes)" % (self.seq, self.time_s, len(self.raw))


def encode_record(seq, time_s, reading, digest=b""):
    """Bytes of one record. reading: a meterproto.reading.Reading or its dict."""
    if hasattr(reading, "to_dict"):
        reading = reading.to_dict()
    if not isinstance(reading, dict):
        raise DecodeError("a record holds a reading dict, not %s" % type(reading).__name__)
    if not (0 <= seq <= 0xFFFFFFFF) or not (0 <= time_s <= 0xFFFFFFFF):
        raise DecodeError("record seq and time must fit in 32 bits")
    payload = dumps(reading).encode()
    if len(payload) > MAX_PAYLOAD:
        raise DecodeError("reading too large to store (%d bytes, at most %d)"
                          % (len(payload), MAX_PAYLOAD))
    d = bytes(digest)[:DIGEST_LEN]
    d = d + bytes(DIGEST_LEN - len(d))
    out = bytearray(HEADER_LEN + len(payload) + 2)
    out[0:2] = MAGIC
    out[2] = VERSION
    out[3:5] = len(payload).to_bytes(2, "big")
    out[5:9] = seq.to_bytes(4, "big")
    out[9:13] = time_s.to_bytes(4, "big")
    out[13:21] = d
    out[21:21 + len(payload)] = payload
    c = crc16(out, 0xFFFF, 0, HEADER_LEN + len(payload))
    out[-2] = c >> 8
    out[-1] = c & 0xFF
    return bytes(out)


def record_length(data, start=0):
    """Total length of the record starting at data[start], from its header."""
    if len(data) - start < HEADER_LEN:
        raise DecodeError("record too short (%d bytes, header needs %d)"
                          % (len(data) - start, HEADER_LEN))
    if data[start:start + 2] != MAGIC:
        raise DecodeError("not a record (bad magic bytes)")
    if data[start + 2] != VERSION:
        raise DecodeError("record format version %d is not supported" % data[start + 2])
    return OVERHEAD + ((data[start + 3] << 8) | data[start + 4])


def check_record(data):
    """(seq, time_s) after checking structure and CRC; no JSON parse."""
    n = record_length(data)
    if len(data) != n:
        raise DecodeError("record length is %d bytes, header says %d" % (len(data), n))
    c = crc16(data, 0xFFFF, 0, n - 2)
    if c != ((data[n - 2] << 8) | data[n - 1]):
        raise ChecksumError("record checksum does not match: the stored bytes are damaged")
    return int.from_bytes(data[5:9], "big"), int.from_bytes(data[9:13], "big")


def decode_record(data):
    """Record from bytes; DecodeError or ChecksumError when the bytes cannot be trusted."""
    data = bytes(data)
    seq, time_s = check_record(data)
    try:
        reading = json.loads(data[HEADER_LEN:-2].decode())
    except (ValueError, UnicodeError):  # MicroPython raises ValueError for bad JSON too
        raise DecodeError("record payload is not valid JSON")
    except RuntimeError:  # CPython's RecursionError: nesting deeper than its parser goes
        raise DecodeError("record payload is nested too deeply to read")
    if not isinstance(reading, dict):
        raise DecodeError("record payload is not a reading")
    return Record(seq, time_s, data[13:21], reading, data, data[2])


def split_records(data):
    """Raw records laid back to back (a pull payload) -> list of bytes, each CRC-checked."""
    out = []
    i = 0
    data = bytes(data)
    while i < len(data):
        n = record_length(data, i)
        if i + n > len(data):
            raise DecodeError("last record is cut short (%d of %d bytes)" % (len(data) - i, n))
        raw = data[i:i + n]
        check_record(raw)
        out.append(raw)
        i += n
    return out
