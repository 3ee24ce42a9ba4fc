# meterproto.hostlink: the probe <-> host command channel over the USB serial (REPL CDC).
# Framing, CRC-16, sequence numbers, command set and both ends, sans-I/O (core, both runtimes).
# Our own protocol (no standard); docs/COMMAND-CHANNEL.md has the full description.
#
# WIRE. A frame is  SOF 0x7E | stuffed(body) | EOF 0x7F,  body = type(1) seq(2) len(2)
# payload(len) crc16(2), big endian; CRC-16/CCITT-FALSE (meterproto.crc16) over
# type..payload. Stuffing: every byte < 0x20 and 0x7D/0x7E/0x7F goes as 0x7D, b ^ 0x20. So no
# control byte ever appears raw: no 0x03 (Ctrl-C), no CR/LF, no Ctrl-A/B/D/E (raw REPL).
# A raw 0x03 seen between frames therefore means "the host wants out" (decoder.ctrl_c).
# Requests carry a host-chosen seq 1..65535; the response echoes it. Payloads are compact
# JSON objects, except a PULL response, which is stored records back to back (raw bytes,
# each with its own CRC: meterproto.records.split_records).
#
# ENTERING THE CHANNEL (the host tries A, then B):
#   A. App running, no interruption: the reader app calls CommandServer.poll() every loop;
#      the host just sends a HELLO frame ({"magic": "irprobe", "proto": 1}). No raw 0x03 in it.
#      No answer within about 1 s (no app running, or a busy read): use B.
#   B. Raw REPL (PLATFORM.md 3): host sends Ctrl-C Ctrl-C, Ctrl-A, then
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
#   PULL    {"from_seq":n,"max_bytes":n} -> raw records (as many whole ones as fit, at least 1)
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
#   encode_frame(ftype, seq, payload=b"") -> bytes;  FrameDecoder(max_payload).feed(data)
#     -> list of Frame(.type .seq .payload) or DecodeError/ChecksumError instances
#   HostSide(max_payload=MAX_PAYLOAD): hello() status() config_get() config_set(changes)
#     take(profile=None, store=True) list(from_seq, limit) pull(from_seq, max_bytes)
#     ack(up_to_seq) set_clock(time_s) bridge(baud, fmt, idle_ms) bye() -> frame bytes;
#     retry() -> the pending frame again; receive(data) -> Response or None, raises
#     RetryNeeded / DeviceError; end_bridge() -> ESCAPE (then receive() the BRIDGE_END);
#     call(frame, write, read, retries=3) -> Response (blocking, read() returns b"" on
#     timeout); raises DeviceError(.code .message) or LinkError (no usable answer)
#   Response(.cmd .seq .value) value: dict, or list of raw record bytes for PULL
#   DeviceSide(handler, max_payload=MAX_REQUEST).receive(data) -> list of frames to write;
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
from meterproto.records import dumps, split_records

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
RESPONSE = const(0x80)  # response type = command | RESPONSE
T_BRIDGE_END = const(0x8F)
T_ERROR = const(0xFF)

# command -> handler method name (also the command's name in messages)
COMMANDS = {
    CMD_HELLO: "hello", CMD_STATUS: "status", CMD_CONFIG_GET: "config_get",
    CMD_CONFIG_SET: "config_set", CMD_TAKE: "take", CMD_LIST: "list", CMD_PULL: "pull",
    CMD_ACK: "ack", CMD_SET_CLOCK: "set_clock", CMD_BRIDGE: "bridge", CMD_BYE: "bye",
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
SERVE_SOURCE = b"import probe.usb\nprobe.usb.serve()\n"

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


class Response:
    def __init__(self, cmd, seq, value, payload):
        self.cmd = cmd
        self.seq = seq
        self.value = value
        self.payload = payload


def _stuff(body):
    out = bytearray()
    start = 0
    for i in range(len(body)):
        b = body[i]
        if b < 0x20 or ESC <= b <= EOF:
            out += body[start:i]
            out.append(ESC)
            out.append(b ^ 0x20)
            start = i + 1
    out += body[start:]
    return out


def encode_frame(ftype, seq, payload=b""):
    """One wire frame: SOF, stuffed body with CRC, EOF."""
    if len(payload) > MAX_PAYLOAD:
        raise LocalProtocolError("frame payload too long (%d bytes)" % len(payload))
    body = bytearray(5 + len(payload) + 2)
    body[0] = ftype
    body[1] = (seq >> 8) & 0xFF
    body[2] = seq & 0xFF
    body[3] = len(payload) >> 8
    body[4] = len(payload) & 0xFF
    body[5:5 + len(payload)] = payload
    c = crc16(body, 0xFFFF, 0, 5 + len(payload))
    body[-2] = c >> 8
    body[-1] = c & 0xFF
    return bytes(bytearray((SOF,)) + _stuff(body) + bytearray((EOF,)))


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
    if not isinstance(obj, dict):
        raise DecodeError("message is not a JSON object")
    return obj


_IDLE = const(0)
_IN = const(1)
_IN_ESC = const(2)
_SKIP = const(3)  # after a too-long frame: drop bytes until the next SOF


class FrameDecoder:
    """Streaming frame decoder: feed any chunking; returns Frames and errors in order."""

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
        limit = self.max_payload + 7
        i = start
        end = len(data)
        while i < end:
            b = data[i]
            i += 1
            st = self._state
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
                n = len(self._buf)
                absurd = n == 5 and ((self._buf[3] << 8) | self._buf[4]) > self.max_payload
                if absurd or n > limit:
                    self._state = _SKIP
                    self._buf = bytearray()
                    out.append(FrameTooLong("frame too long (more than %d payload bytes)"
                                            % self.max_payload))
        self.pos = i
        return out

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
        return Frame(body[0], (body[1] << 8) | body[2], bytes(body[5:5 + n]))


def error_frame(seq, code, message, retry=False):
    info = {"error": code, "message": message, "retry": retry}
    return encode_frame(T_ERROR, seq, encode_json(info))


# -- host end -----------------------------------------------------------------------------

class HostSide:
    """Builds requests, matches responses by seq; no I/O (the caller writes and reads)."""

    def __init__(self, max_payload=MAX_PAYLOAD, first_seq=1):
        self.decoder = FrameDecoder(max_payload)
        self._seq = (first_seq - 1) & 0xFFFF
        self.pending = None  # (seq, expected response type, frame bytes)
        self.bridge_seq = 0

    def request(self, cmd, args=None):
        self._seq = (self._seq % 0xFFFF) + 1  # 1..65535; 0 is the device's "unknown seq"
        frame = encode_frame(cmd, self._seq, encode_json(args or {}))
        self.pending = (self._seq, cmd | RESPONSE, frame)
        self.decoder.reset()
        return frame

    def hello(self):
        return self.request(CMD_HELLO, {"magic": MAGIC, "proto": PROTO_VERSION})

    def status(self):
        return self.request(CMD_STATUS)

    def config_get(self):
        return self.request(CMD_CONFIG_GET)

    def config_set(self, changes):
        return self.request(CMD_CONFIG_SET, changes)

    def take(self, profile=None, store=True):
        # store: informational; the reader app stores every good reading it takes
        return self.request(CMD_TAKE, {"profile": profile, "store": bool(store)})

    def list(self, from_seq=0, limit=50):
        return self.request(CMD_LIST, {"from_seq": from_seq, "limit": limit})

    def pull(self, from_seq=0, max_bytes=PULL_DEFAULT):
        return self.request(CMD_PULL, {"from_seq": from_seq, "max_bytes": max_bytes})

    def ack(self, up_to_seq):
        return self.request(CMD_ACK, {"up_to_seq": up_to_seq})

    def set_clock(self, time_s):
        return self.request(CMD_SET_CLOCK, {"time_s": time_s})

    def bridge(self, baud=300, fmt="7E1", idle_ms=0):
        return self.request(CMD_BRIDGE, {"baud": baud, "fmt": fmt, "idle_ms": idle_ms})

    def bye(self):
        return self.request(CMD_BYE)

    def retry(self):
        if self.pending is None:
            raise LocalProtocolError("no request to send again")
        self.decoder.reset()
        return self.pending[2]

    def end_bridge(self):
        """Bytes that end bridge mode; then receive() returns the BRIDGE_END response."""
        if not self.bridge_seq:
            raise LocalProtocolError("not in bridge mode")
        self.pending = (self.bridge_seq, T_BRIDGE_END, b"")
        self.bridge_seq = 0
        self.decoder.reset()
        return ESCAPE

    def receive(self, data):
        """Response for the pending request, or None while incomplete."""
        for item in self.decoder.feed(data):
            if self.pending is None:
                continue
            if not isinstance(item, Frame):
                if self.pending[1] == T_BRIDGE_END:
                    continue  # meter bytes in flight before the BRIDGE_END frame
                raise RetryNeeded("answer damaged (%s); ask again" % item)
            seq, want, _ = self.pending
            if item.type == T_ERROR:
                info = _safe_json(item.payload)
                if item.seq == 0 and info.get("retry"):
                    raise RetryNeeded("the probe got a damaged request (%s); send it again"
                                      % info.get("message"))
                if item.seq == seq or item.seq == 0:
                    self.pending = None
                    raise DeviceError(info.get("error", E_FAILED),
                                      info.get("message", "unknown error"))
                continue
            if item.seq != seq or item.type != want:
                continue  # late duplicate of an older answer
            self.pending = None
            cmd = want & 0x7F if want != T_BRIDGE_END else CMD_BRIDGE
            if want == CMD_BRIDGE | RESPONSE:
                self.bridge_seq = seq  # raw bytes from now on, until end_bridge()
            if cmd == CMD_PULL:
                value = split_records(item.payload)
            else:
                value = decode_json(item.payload)
            return Response(cmd, seq, value, item.payload)
        return None

    def call(self, frame, write, read, retries=3):
        """Blocking exchange: write the frame, read until the answer; retry damaged or lost
        frames (read() returning b"" means a timeout). Raises DeviceError or LinkError."""
        tries = 0
        write(frame)
        while True:
            chunk = read()
            try:
                if not chunk:
                    raise RetryNeeded("no answer from the probe")
                resp = self.receive(chunk)
            except RetryNeeded as e:
                tries += 1
                if tries > retries:
                    raise LinkError("no usable answer from the probe after %d tries (%s)"
                                    % (tries, e))
                write(self.retry())
                continue
            if resp is not None:
                return resp


def _safe_json(payload):
    try:
        return decode_json(payload)
    except DecodeError:
        return {}


# -- device end ---------------------------------------------------------------------------

class DeviceSide:
    """Decodes requests, calls the handler, returns response frames; dedupes retries."""

    def __init__(self, handler, max_payload=MAX_REQUEST):
        self.handler = handler
        self.decoder = FrameDecoder(max_payload)
        self.session_open = False
        self.closed = False  # BYE received
        self.bridge = None  # args of an accepted BRIDGE request
        self.bridge_seq = 0
        self.leftover = b""
        self._last = None  # (seq, type, payload, response frame)

    @property
    def interrupted(self):
        return self.decoder.ctrl_c

    def receive(self, data):
        out = []
        pos = 0
        while pos < len(data) and self.bridge is None:
            for item in self.decoder.feed(data, pos, True):
                resp = self._handle(item)
                if resp is not None:
                    out.append(resp)
            pos = self.decoder.pos
        if self.bridge is not None:
            self.leftover = bytes(data[pos:])
        return out

    def _handle(self, item):
        if not isinstance(item, Frame):
            if not self.session_open:
                return None  # terminal typing ("~...DEL") before HELLO: stay silent
            if isinstance(item, FrameTooLong):
                code = E_TOO_LONG
            elif isinstance(item, ChecksumError):
                code = E_BAD_CRC
            else:
                code = E_BAD_FRAME
            return error_frame(0, code, str(item), code != E_TOO_LONG)
        last = self._last
        if (last is not None and item.type != CMD_HELLO and last[0] == item.seq
                and last[1] == item.type and last[2] == item.payload):
            return last[3]  # a retry: the first answer got lost, do not run it again
        resp = self._run(item)
        self._last = (item.seq, item.type, item.payload, resp)
        return resp

    def _run(self, item):
        name = COMMANDS.get(item.type)
        if name is None:
            return error_frame(item.seq, E_UNKNOWN, "unknown command 0x%02X" % item.type)
        if item.type == CMD_HELLO:
            try:
                args = decode_json(item.payload)
            except DecodeError as e:
                return error_frame(item.seq, E_BAD_REQUEST, str(e))
            if args.get("magic") != MAGIC:
                return error_frame(item.seq, E_BAD_REQUEST, "hello without the irprobe magic")
            self.session_open = True
            self.closed = False
        elif not self.session_open:
            return error_frame(item.seq, E_NO_SESSION, "say hello first")
        try:
            args = decode_json(item.payload)
            fn = getattr(self.handler, name, None)
            if fn is None:
                raise CommandError(E_UNSUPPORTED, "this probe does not support %s" % name)
            result = fn(args)
        except Exception as e:  # every failure becomes an answer; the channel stays up
            code = getattr(e, "code", None)
            if isinstance(e, (DecodeError, KeyError, TypeError, ValueError)):
                code = E_BAD_REQUEST  # the request's arguments were wrong
            elif not isinstance(code, str):
                code = E_FAILED
            msg = getattr(e, "message", None) or str(e) or type(e).__name__
            return error_frame(item.seq, code, "%s: %s" % (name, msg))
        if item.type == CMD_PULL:
            payload = bytes(result)
        else:
            payload = encode_json(result if result is not None else {})
        if item.type == CMD_BRIDGE:
            self.bridge = args
            self.bridge_seq = item.seq
            self._last = None
        if item.type == CMD_BYE:
            self.session_open = False
            self.closed = True
        return encode_frame(item.type | RESPONSE, item.seq, payload)

    def bridge_end_frame(self, info):
        """The frame that tells the host bridge mode is over; back to frames."""
        self.bridge = None
        self.decoder.reset()
        return encode_frame(T_BRIDGE_END, self.bridge_seq, encode_json(info))


class EscapeScanner:
    """Finds ESCAPE in host->meter bridge bytes split anywhere; holds back partial matches."""

    def __init__(self, escape=ESCAPE):
        self.escape = escape
        self._held = b""
        self.leftover = b""

    def feed(self, data):
        buf = self._held + bytes(data)
        i = buf.find(self.escape)
        if i >= 0:
            self._held = b""
            self.leftover = buf[i + len(self.escape):]
            return buf[:i], True
        keep = 0
        for k in range(min(len(self.escape) - 1, len(buf)), 0, -1):
            if buf[len(buf) - k:] == self.escape[:k]:
                keep = k
                break
        self._held = buf[len(buf) - keep:] if keep else b""
        return buf[:len(buf) - keep], False

    def flush(self):
        """Held bytes that turned out not to be the escape (call when the bridge idles out)."""
        held = self._held
        self._held = b""
        return held
