# meterproto.link.channel: the probe <-> host command channel over the USB serial (REPL CDC).
# Framing, CRC-16, sequence numbers and the command set, sans-I/O (core, both runtimes).
# Our own protocol (no standard); docs/COMMAND-CHANNEL.md has the full description.
#
# The two ends live in meterproto.link.host (HostSide, Response) and meterproto.link.device
# (DeviceSide, EscapeScanner), so the probe never loads the host end.
#
# WIRE. A frame is  SOF 0x7E | stuffed(body) | EOF 0x7F,  body = type(1) seq(2) len(2)
# payload(len) crc16(2), big endian; CRC-16/CCITT-FALSE (meterproto.crc16) over
# type..payload. Stuffing: every byte < 0x20 and 0x7D/0x7E/0x7F goes as 0x7D, b ^ 0x20. So no
# control byte ever appears raw: no 0x03 (Ctrl-C), no CR/LF, no Ctrl-A/B/D/E (raw REPL).
# A raw 0x03 seen between frames therefore means "the host wants out" (decoder.ctrl_c).
# Requests carry a host-chosen seq 1..65535; the response echoes it. Payloads are compact
# JSON objects, except a PULL response, which is stored records back to back (raw bytes,
# each with its own CRC: meterproto.link.records.split_records).
#
# ENTERING THE CHANNEL (the host tries A, then B):
#   A. App running, no interruption: the reader app calls CommandServer.poll() every loop;
#      the host just sends a HELLO frame ({"magic": "irprobe", "proto": 1}). No raw 0x03 in it.
#      No answer within about 1 s (no app running, or a busy read): use B.
#   B. MicroPython's raw REPL: host sends Ctrl-C Ctrl-C, Ctrl-A, then
#      SERVE_SOURCE + Ctrl-D, reads "OK", then sends HELLO (constants below).
#      serve() returns after BYE, a raw Ctrl-C, or 30 s without a frame (kbd_intr restored).
# In both the device calls micropython.kbd_intr(-1) while a session is open, restores it after.
#
# COMMANDS (request JSON -> response JSON):
#   HELLO   {"magic","proto"}           -> {"device_id","firmware","proto","clock","busy",
#                      "count","first_seq","last_seq","next_seq","acked","free_pct","full"}
#   STATUS  {}                          -> same as HELLO
#   CONFIG_GET {}                       -> config with secrets masked ("***", has_password)
#   CONFIG_SET {"set":{..},"meters":[profile..],"remove":[name..]} -> masked config
#   TAKE    {"profile":null}            -> {"outcome","seq","reading","message"} (the app
#           reads and stores; a failed read is an ERROR whose code is the outcome)
#   LIST    {"from_seq":n,"limit":n}    -> {"records":[[seq,time_s,size],..],"more":bool}
#   PULL    {"from_seq":n,"max_bytes":n,"schema":id,"w":1} -> raw records (as many whole
#           ones as fit, at least 1), each reading preceded by its schema unless the host
#           holds that one ("schema", optional); gap notices for seqs that will never come;
#           whitened when "w" is 1 (PULL_WHITE)
#   ACK     {"up_to_seq":n}             -> status dict (device deletes records <= n)
#   SET_CLOCK {"time_s":n}              -> {"clock":n}
#   BRIDGE  {"baud":300,"fmt":"7E1","idle_ms":0} -> {"escape":hex}; then raw bytes both
#           ways until the host sends ESCAPE (or idle_ms without traffic); the device then
#           sends a BRIDGE_END frame with the same seq: {"reason","to_meter","from_meter"}.
#   BYE     {}                          -> {} and the session closes.
# Errors: an ERROR frame {"error": code, "message": plain words, "retry": bool}. "busy": a
# meter read is running and the command would write flash; try again after it. A damaged
# request gets ERROR seq 0 "bad-crc"/"bad-frame" retry=true: the host resends the SAME frame.
# The device answers a repeated (seq, command, payload) from its cache without running the
# command again, so retries never take two readings or apply a change twice.
#
# API
#   encode_frame(ftype, seq, payload=b"") -> bytearray;  FrameDecoder(max_payload).feed(data)
#     -> list of Frame(.type .seq .payload) or DecodeError/ChecksumError instances
#   HostSide(max_payload=MAX_PAYLOAD) (meterproto.link.host): hello() status() config_get()
#     config_set(changes) take(profile=None, store=True) list(from_seq, limit)
#     pull(from_seq, max_bytes)
#     ack(up_to_seq) set_clock(time_s) bridge(baud, fmt, idle_ms) bye() -> frame bytes;
#     retry() -> the pending frame again; receive(data) -> Response or None, raises
#     RetryNeeded / DeviceError; end_bridge() -> ESCAPE (then receive() the BRIDGE_END);
#     call(frame, write, read, retries=3) -> Response (blocking, read() returns b"" on
#     timeout); raises DeviceError(.code .message) or LinkError (no usable answer)
#   Response(.cmd .seq .value) value: dict, or list of raw record bytes for PULL
#   DeviceSide(handler, max_payload=MAX_REQUEST) (meterproto.link.device): receive(data) -> list
#     of frames to write;
#     flags: session_open, closed, interrupted, bridge (args dict once a BRIDGE was
#     accepted; following bytes are in .leftover); bridge_end_frame(info) -> frame.
#     handler methods: hello status config_get config_set take list pull ack set_clock
#     bridge bye, each (args dict) -> dict (pull -> bytes); raise CommandError(code, msg)
#     (or any exception with a .code, e.g. StoreFull) for a clean ERROR frame.
#   EscapeScanner().feed(data) -> (bytes for the meter, found); .leftover after the escape
import json

from meterproto.compat import const
from meterproto.crc16 import crc16_ccitt_false as crc16
from meterproto.errors import ChecksumError, DecodeError, LocalProtocolError, RemoteProtocolError
from meterproto.link.records import dumps

PROTO_VERSION = 1
MAGIC = "irprobe"

SOF = const(0x7E)
EOF = const(0x7F)
ESC = const(0x7D)
CTRL_C = const(0x03)

MAX_PAYLOAD = 65535  # the length field is 2 bytes
MAX_REQUEST = 4096  # the device refuses longer requests (RAM)
PULL_DEFAULT = 4096
PULL_MAX = 16384
# A PULL answer asked for with "w": 1 comes XOR 0x60 ("whitened"): stored records are mostly
# small numbers, which the stuffing would double (38 % of bytes); XOR 0x60 moves them out of
# the stuffed range (5 % left; docs/STORAGE.md). Its first byte is then 0x29 ("I" ^ 0x60),
# where a plain answer starts with "I": the host tells the two apart (old probes send plain).
PULL_WHITE = const(0x60)

CMD_HELLO = const(0x01)
CMD_STATUS = const(0x02)
CMD_CONFIG_GET = const(0x03)
CMD_CONFIG_SET = const(0x04)
CMD_TAKE = const(0x05)
CMD_LIST = const(0x06)
CMD_PULL = const(0x07)
CMD_ACK = const(0x08)
CMD_SET_CLOCK = const(0x09)
CMD_BRIDGE = const(0x0A)
CMD_BYE = const(0x0B)
CMD_DOCTOR = const(0x0C)  # run the first-contact diagnosis (meterproto.doctor.ladder) on the probe
RESPONSE = const(0x80)  # response type = command | RESPONSE
T_BRIDGE_END = const(0x8F)
T_ERROR = const(0xFF)

# command -> handler method name (also the command's name in messages)
COMMANDS = {
    CMD_HELLO: "hello", CMD_STATUS: "status", CMD_CONFIG_GET: "config_get",
    CMD_CONFIG_SET: "config_set", CMD_TAKE: "take", CMD_LIST: "list", CMD_PULL: "pull",
    CMD_ACK: "ack", CMD_SET_CLOCK: "set_clock", CMD_BRIDGE: "bridge", CMD_BYE: "bye",
    CMD_DOCTOR: "doctor",
}

E_BAD_CRC = "bad-crc"
E_BAD_FRAME = "bad-frame"
E_TOO_LONG = "too-long"
E_UNKNOWN = "unknown-command"
E_BAD_REQUEST = "bad-request"
E_NO_SESSION = "no-session"
E_UNSUPPORTED = "unsupported"
E_FAILED = "failed"

# Path B for the host: write ENTER_RAW_REPL, wait for RAW_REPL_PROMPT, write SERVE_SOURCE
# then b"\x04" (Ctrl-D: run it), expect b"OK", then frames. After BYE the raw REPL prints
# b"\x04\x04>"; send b"\x02" (Ctrl-B) for the friendly REPL or b"\x04" to soft-reset.
ENTER_RAW_REPL = b"\r\x03\x03\x01"
RAW_REPL_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
SERVE_SOURCE = b"import probe.repl_serve\nprobe.repl_serve.serve()\n"

# Host bytes that end bridge mode. Long and odd so meter traffic never contains it.
ESCAPE = b"\x1b\x1b\x1bIRPROBE-BRIDGE-END\x1b\x1b\x1b"


class LinkError(RemoteProtocolError):
    """The USB command channel failed."""

    code = "link"


class RetryNeeded(LinkError):
    """The frame was damaged on the way: send the same request again."""

    code = "retry"


class DeviceError(LinkError):
    """The probe answered with an error."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class CommandError(LinkError):
    """Raised by a device handler: becomes an ERROR frame with this code and message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class FrameTooLong(DecodeError):
    """A frame longer than the receiver accepts (absurd length field, or no end)."""

    code = E_TOO_LONG


class Frame:
    def __init__(self, ftype, seq, payload):
        self.type = ftype
        self.seq = seq
        self.payload = payload

    def __repr__(self):
        return "Frame(0x%02X, %d, %d bytes)" % (self.type, self.seq, len(self.payload))


def _stuff(out, data):
    """Append data to out, stuffed."""
    start = 0
    for i in range(len(data)):
        b = data[i]
        if b < 0x20 or ESC <= b <= EOF:
            out += data[start:i]
            out.append(ESC)
            out.append(b ^ 0x20)
            start = i + 1
    out += data[start:]


def encode_frame(ftype, seq, payload=b""):
    """One wire frame: SOF, stuffed body with CRC, EOF (a bytearray). The probe writes its
    answers in pieces instead (meterproto.link.frameout: the same bytes)."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise LocalProtocolError("frame payload too long (%d bytes)" % n)
    head = bytes((ftype, (seq >> 8) & 0xFF, seq & 0xFF, n >> 8, n & 0xFF))
    c = crc16(payload, crc16(head))
    out = bytearray((SOF,))
    _stuff(out, head)
    _stuff(out, payload)
    _stuff(out, bytes((c >> 8, c & 0xFF)))
    out.append(EOF)
    return out


def whiten(records):
    """A PULL answer for a host that asked for "w": 1 (a bytearray is changed in place)."""
    try:  # CPython: one C call
        return bytes(records).translate(bytes(i ^ PULL_WHITE for i in range(256)))
    except AttributeError:  # MicroPython has no bytes.translate: in place, no copy, and
        # 256 bytes at a time as one big int (XOR in C, not a loop in Python per byte)
        b = records if isinstance(records, bytearray) else bytearray(records)
        n = len(b)
        mask = int.from_bytes(bytes((PULL_WHITE,)) * 256, "big")
        for i in range(0, n, 256):
            k = 256 if i + 256 <= n else n - i
            m = mask if k == 256 else mask >> (8 * (256 - k))
            b[i:i + k] = (int.from_bytes(b[i:i + k], "big") ^ m).to_bytes(k, "big")
        return b


def pull_records(payload):
    """The records of a PULL answer, whitened or not (XOR is its own inverse)."""
    if payload[:1] == b"\x29":
        return whiten(payload)
    return payload


def encode_json(obj):
    return dumps(obj).encode()


def decode_json(payload):
    """JSON object from a payload; DecodeError in plain words otherwise."""
    if not payload:
        return {}
    try:
        obj = json.loads(bytes(payload).decode())
    except (ValueError, UnicodeError):
        raise DecodeError("message is not valid JSON")
    except RuntimeError:  # CPython's RecursionError: nesting deeper than its parser goes
        raise DecodeError("message is nested too deeply to read")
    if not isinstance(obj, dict):
        raise DecodeError("message is not a JSON object")
    return obj


_IDLE = const(0)
_IN = const(1)
_IN_ESC = const(2)
_SKIP = const(3)  # after a too-long frame: drop bytes until the next SOF


class FrameDecoder:
    """Streaming frame decoder: feed any chunking; returns Frames and errors in order."""

    _bulk = None  # the host's decoder takes whole runs of bytes at once (link.host)

    def __init__(self, max_payload=MAX_PAYLOAD):
        self.max_payload = max_payload
        self.ctrl_c = False  # a raw 0x03 was seen (host wants out; frames never hold one)
        self._state = _IDLE
        self._buf = bytearray()
        self.pos = 0

    def reset(self):
        self._state = _IDLE
        self._buf = bytearray()

    def feed(self, data, start=0, one=False):
        """Decode data[start:]. With one=True stop right after the first whole frame;
        self.pos then says where the unread bytes begin (DeviceSide uses it for bridge)."""
        out = []
        i = start
        end = len(data)
        while i < end:
            st = self._state
            if st == _IN:
                j = self._bulk(data, i, end) if self._bulk is not None else i
                if j > i:
                    i = j
                    self._too_long(out)
                    continue
            b = data[i]
            i += 1
            if b == SOF:
                if st == _IN or st == _IN_ESC:
                    out.append(DecodeError("frame cut short (a new frame began inside it)"))
                self._buf = bytearray()
                self._state = _IN
            elif b == CTRL_C:
                self.ctrl_c = True
                if st == _IN or st == _IN_ESC:
                    out.append(DecodeError("frame broken by a raw Ctrl-C byte"))
                self._state = _IDLE
            elif st == _IDLE or st == _SKIP:
                continue  # noise between frames (REPL text, prints) is ignored
            elif b == EOF:
                self._state = _IDLE
                item = self._finish()
                out.append(item)
                if one and isinstance(item, Frame):
                    break
            elif st == _IN_ESC:
                self._buf.append(b ^ 0x20)
                self._state = _IN
            elif b == ESC:
                self._state = _IN_ESC
            elif b < 0x20:
                self._state = _IDLE
                out.append(DecodeError("raw control byte 0x%02X inside a frame" % b))
            else:
                self._buf.append(b)
            if self._state == _IN or self._state == _IN_ESC:
                self._too_long(out)
        self.pos = i
        return out

    def _too_long(self, out):
        n = len(self._buf)
        absurd = n >= 5 and ((self._buf[3] << 8) | self._buf[4]) > self.max_payload
        if absurd or n > self.max_payload + 7:
            self._state = _SKIP
            self._buf = bytearray()
            out.append(FrameTooLong("frame too long (more than %d payload bytes)"
                                    % self.max_payload))
            return True
        return False

    def _finish(self):
        body = self._buf
        self._buf = bytearray()
        if len(body) < 7:
            return DecodeError("frame too short (%d bytes)" % len(body))
        n = (body[3] << 8) | body[4]
        if len(body) != n + 7:
            return DecodeError("frame length is %d bytes, its header says %d" % (len(body) - 7, n))
        if crc16(body, 0xFFFF, 0, n + 5) != ((body[n + 5] << 8) | body[n + 6]):
            return ChecksumError("frame checksum does not match: damaged on the way")
        # memoryview: the payload is copied once, not sliced and then copied again
        return Frame(body[0], (body[1] << 8) | body[2], bytes(memoryview(body)[5:5 + n]))


def error_frame(seq, code, message, retry=False):
    info = {"error": code, "message": message, "retry": retry}
    return encode_frame(T_ERROR, seq, encode_json(info))
