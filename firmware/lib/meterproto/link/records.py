# meterproto.link.records: the stored-reading record framing, versions 1 and 2 (core).
# Same bytes on the probe's flash, in a USB pull and in the host's import: the host checks
# each record's own CRC, so a record is trusted end to end. No standard: our own format.
#
# Version 1 (older firmware, one record per file; still read, and still pulled after an
# upgrade): MAGIC "IR" (2) | 1 | payload length (2) | seq (4) | time_s (4) | digest (8) |
#   payload (JSON reading, utf-8) | CRC-16 (2) over everything before it
# Version 2 (docs/STORAGE.md; bodies: meterproto.link.recpack):
#   "IR" | 2 | kind (1) | body length (2) | body | CRC-16 (2) over everything before it
#   kinds S schema, R packed reading, J JSON reading, G gap notice (pulls only)
# digest  = first 8 bytes of SHA-256 of the raw meter exchange (proves which bytes were read).
# CRC-16 is CRC-16/CCITT-FALSE (meterproto.crc16: poly 0x1021, init 0xFFFF, check 0x29B1).
#
# API
#   encode_record(seq, time_s, reading, digest=b"") -> version 1 bytes (tests, old data)
#   decode_record(data) -> Record (.seq .time_s .digest .reading(dict) .raw .version) of a
#       version 1 record; DecodeError (bad structure/length) or ChecksumError (CRC mismatch)
#   check_record(data) -> (seq, time_s)  version 1: CRC and structure only, no JSON parse
#   record_info(data, i=0) -> (length, kind, seq or None) of the record at data[i], either
#       version (kind "V" for version 1), header only;  check(data, i, n) -> CRC holds
#   frame_record(kind, body) -> version 2 bytes;  gap_record(first, last, reason=1)
#   write_record(write, kind, head, obj=None, n=None): the version 2 record of body head +
#       the compact JSON of obj, written in pieces of about PIECE bytes (never whole)
#   record_time(raw) -> time_s of a reading record (either version)
#   json_reading(payload bytes) -> reading dict (DecodeError when it is not one)
#   split_records(data) -> list of raw records (a USB pull carries them back to back)
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


# version 2
VERSION2 = 2
HEAD = 6  # "IR" version kind length(2)
OVERHEAD2 = HEAD + 2
MAX_BODY = 32768
K_SCHEMA = 0x53
K_READING = 0x52
K_JSON = 0x4A
K_GAP = 0x47


class Record:
    """One decoded record. reading is the JSON reading dict. A gap notice (version 2, in a
    pull) has reading None and gap_to: the seqs seq..gap_to will never come."""

    def __init__(self, seq, time_s, digest, reading, raw, version=VERSION, gap_to=None):
        self.seq = seq
        self.time_s = time_s
        self.digest = digest
        self.reading = reading
        self.raw = raw
        self.version = version
        self.gap_to = gap_to

    def __repr__(self):
        return "Record(seq=%d, time_s=%d, %d bytes)" % (self.seq, self.time_s, len(self.raw))


def checked_reading(seq, time_s, reading):
    """The reading as a dict, seq and time checked to fit a record (both formats)."""
    if hasattr(reading, "to_dict"):
        reading = reading.to_dict()
    if not isinstance(reading, dict):
        raise DecodeError("a record holds a reading dict, not %s" % type(reading).__name__)
    if not (0 <= seq <= 0xFFFFFFFF) or not (0 <= time_s <= 0xFFFFFFFF):
        raise DecodeError("record seq and time must fit in 32 bits")
    return reading


def encode_record(seq, time_s, reading, digest=b""):
    """Bytes of one record. reading: a meterproto.reading.Reading or its dict."""
    reading = checked_reading(seq, time_s, reading)
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
    return record_info(data, start)[0]


def record_info(data, i=0):
    """(total length, kind, seq or None) of the record at data[i]; header only, no CRC."""
    if len(data) - i < HEAD:
        raise DecodeError("record too short (%d bytes)" % (len(data) - i))
    if data[i] != 0x49 or data[i + 1] != 0x52:
        raise DecodeError("not a record (bad magic bytes)")
    v = data[i + 2]
    if v == VERSION:
        if len(data) - i < HEADER_LEN:
            raise DecodeError("record too short (%d bytes, header needs %d)"
                              % (len(data) - i, HEADER_LEN))
        n = OVERHEAD + ((data[i + 3] << 8) | data[i + 4])
        return n, "V", int.from_bytes(data[i + 5:i + 9], "big")
    if v != VERSION2:
        raise DecodeError("record format version %d is not supported" % v)
    kind = data[i + 3]
    seq = None
    if kind != K_SCHEMA and len(data) - i >= HEAD + 4:
        seq = int.from_bytes(data[i + HEAD:i + HEAD + 4], "big")
    return OVERHEAD2 + ((data[i + 4] << 8) | data[i + 5]), kind, seq


def check(data, i, n):
    """True when the n-byte record at data[i] is whole and its CRC holds."""
    if i + n > len(data) or n < OVERHEAD2:
        return False
    return crc16(data, 0xFFFF, i, i + n - 2) == ((data[i + n - 2] << 8) | data[i + n - 1])


def frame_record(kind, body):
    """A version 2 record of kind around body."""
    n = len(body)
    if n > MAX_BODY:
        raise DecodeError("reading too large to store (%d bytes, at most %d)" % (n, MAX_BODY))
    out = bytearray(OVERHEAD2 + n)
    out[0:6] = bytes((0x49, 0x52, VERSION2, kind, n >> 8, n & 0xFF))
    out[6:6 + n] = body
    c = crc16(out, 0xFFFF, 0, HEAD + n)
    out[-2] = c >> 8
    out[-1] = c & 0xFF
    return bytes(out)


PIECE = 512  # about the bytes handed to write() at a time by write_record


def write_record(write, kind, head, obj=None, n=None):
    """Write the version 2 record whose body is head followed by the compact JSON text of
    obj (none when obj is None) through write(bytes), in pieces of about PIECE bytes: a
    reading with a day of load profile is stored without its text or record ever being
    whole in RAM. n: the body length when the caller has counted it. The same bytes as
    frame_record(kind, head + dumps(obj).encode())."""
    if obj is not None:
        from meterproto.link.jsonpieces import pieces, size

        if n is None:
            n = len(head) + size(obj)
    else:
        n = len(head)
    if n > MAX_BODY:
        raise DecodeError("reading too large to store (%d bytes, at most %d)" % (n, MAX_BODY))
    buf = bytearray((0x49, 0x52, VERSION2, kind, n >> 8, n & 0xFF))
    buf += head
    crc = 0xFFFF
    if obj is not None:
        for p in pieces(obj):
            buf += p.encode()
            if len(buf) >= PIECE:
                crc = crc16(buf, crc)
                write(buf)
                buf = bytearray()
    crc = crc16(buf, crc)
    buf.append(crc >> 8)
    buf.append(crc & 0xFF)
    write(buf)


def gap_record(first, last, reason=1):
    """Seqs first..last will never come (damaged on the probe, or burnt by a power cut)."""
    return frame_record(K_GAP, first.to_bytes(4, "big") + last.to_bytes(4, "big") +
                        bytes((reason,)))


def record_time(raw):
    """time_s of a reading record (either version)."""
    i = 9 if raw[2] == VERSION else HEAD + 4
    return int.from_bytes(raw[i:i + 4], "big")


def check_record(data):
    """(seq, time_s) of a version 1 record after checking structure and CRC; no JSON parse."""
    n, kind, seq = record_info(data)
    if kind != "V":
        raise DecodeError("not a version 1 record")
    if len(data) != n:
        raise DecodeError("record length is %d bytes, header says %d" % (len(data), n))
    if not check(data, 0, n):
        raise ChecksumError("record checksum does not match: the stored bytes are damaged")
    return seq, int.from_bytes(data[9:13], "big")


def decode_record(data):
    """Record from bytes; DecodeError or ChecksumError when the bytes cannot be trusted."""
    data = bytes(data)
    seq, time_s = check_record(data)
    return Record(seq, time_s, data[13:21], json_reading(data[HEADER_LEN:-2]), data, data[2])


def json_reading(b):
    """The reading dict of a JSON payload; DecodeError in plain words otherwise."""
    try:
        reading = json.loads(bytes(b).decode())
    except (ValueError, UnicodeError):  # MicroPython raises ValueError for bad JSON too
        raise DecodeError("record payload is not valid JSON")
    except RuntimeError:  # CPython's RecursionError: nesting deeper than its parser goes
        raise DecodeError("record payload is nested too deeply to read")
    if not isinstance(reading, dict):
        raise DecodeError("record payload is not a reading")
    return reading


def split_records(data):
    """Raw records laid back to back (a pull payload) -> list of bytes, each CRC-checked."""
    out = []
    i = 0
    data = bytes(data)
    while i < len(data):
        n = record_info(data, i)[0]
        if i + n > len(data):
            raise DecodeError("last record is cut short (%d of %d bytes)" % (len(data) - i, n))
        if not check(data, i, n):
            raise ChecksumError("record checksum does not match: the stored bytes are damaged")
        out.append(data[i:i + n])
        i += n
    return out
