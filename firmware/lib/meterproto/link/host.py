# meterproto.link.host: the host end of the probe <-> host command channel (core, both
# runtimes; only the host uses it). Our own protocol, framed by meterproto.link.channel: builds
# requests, matches answers by seq, retries damaged frames. No I/O: the caller writes and reads.
from meterproto.errors import DecodeError, LocalProtocolError
from meterproto.link.channel import CMD_DOCTOR
from meterproto.link.channel import (CMD_ACK, CMD_BRIDGE, CMD_BYE, CMD_CONFIG_GET, CMD_CONFIG_SET,
                                 CMD_HELLO, CMD_LIST, CMD_PULL, CMD_SET_CLOCK, CMD_STATUS,
                                 CMD_TAKE, E_FAILED, ESCAPE, MAGIC, MAX_PAYLOAD, PROTO_VERSION,
                                 PULL_DEFAULT, RESPONSE, T_BRIDGE_END, T_ERROR, DeviceError,
                                 Frame, FrameDecoder, LinkError, RetryNeeded, decode_json,
                                 encode_frame, encode_json, pull_records)
from meterproto.link.records import split_records


class Response:
    """One answer: cmd and seq of the request, value (dict, or raw records for PULL)."""

    def __init__(self, cmd, seq, value, payload):
        self.cmd = cmd
        self.seq = seq
        self.value = value
        self.payload = payload


class HostSide:
    """Builds requests, matches responses by seq; no I/O (the caller writes and reads)."""

    def __init__(self, max_payload=MAX_PAYLOAD, first_seq=1):
        self.decoder = BulkDecoder(max_payload)
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

    def pull(self, from_seq=0, max_bytes=PULL_DEFAULT, schema=None):
        """schema: the id of the last schema record received (the probe leaves it out)."""
        args = {"from_seq": from_seq, "max_bytes": max_bytes, "w": 1}
        if schema is not None:
            args["schema"] = schema
        return self.request(CMD_PULL, args)

    def ack(self, up_to_seq):
        return self.request(CMD_ACK, {"up_to_seq": up_to_seq})

    def set_clock(self, time_s):
        return self.request(CMD_SET_CLOCK, {"time_s": time_s})

    def bridge(self, baud=300, fmt="7E1", idle_ms=0):
        return self.request(CMD_BRIDGE, {"baud": baud, "fmt": fmt, "idle_ms": idle_ms})

    def bye(self):
        return self.request(CMD_BYE)

    def doctor(self, options=None):
        """options: address, loopback, try_hdlc, readout_check, wakeup (all optional)."""
        return self.request(CMD_DOCTOR, options or {})

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
                value = split_records(pull_records(item.payload))
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


_SPECIAL = bytes(range(0x20)) + b"\x7e\x7f"  # never raw inside a frame (ESC is undone)
_IN_ESC = 2  # meterproto.link.channel's decoder state after an ESC


class BulkDecoder(FrameDecoder):
    """FrameDecoder for the host: a sync receives megabytes, which the byte loop of the
    probe's decoder would take most of the host's time over."""

    def _bulk(self, data, i, end):
        """Inside a frame, take the bytes up to the next EOF in one go when they hold no
        control byte, SOF or EOF and every ESC is followed by its byte (CPython: a few C
        calls per frame, where the byte loop below is the slow part of a sync). Returns
        where it stopped: i when the byte loop must look (MicroPython, or anything odd)."""
        j = data.find(b"\x7f", i, end)
        if j < 0:
            j = end
        chunk = bytes(data[i:j])
        try:
            clean = chunk.translate(None, _SPECIAL)
        except (AttributeError, TypeError):  # no bytes.translate (MicroPython): byte loop
            return i
        if len(clean) != len(chunk):
            return i
        parts = chunk.split(b"\x7d")
        for k in range(1, len(parts) - 1):
            if not parts[k]:
                return i  # ESC ESC: let the byte loop decide
        buf = self._buf
        buf += parts[0]
        for k in range(1, len(parts)):
            p = parts[k]
            if p:
                buf.append(p[0] ^ 0x20)
                buf += p[1:]
            else:
                self._state = _IN_ESC  # the chunk ends in ESC: its byte comes next
        return j
