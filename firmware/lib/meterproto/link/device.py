# meterproto.link.device: the probe end of the probe <-> host command channel (core, both
# runtimes; the probe's USB server runs it). Our own protocol, framed by meterproto.link.channel:
# decodes requests, calls the handler, answers retries from a cache, scans for the bridge escape.
from meterproto.errors import ChecksumError, DecodeError
from meterproto.link.channel import (CMD_BRIDGE, CMD_BYE, CMD_HELLO, CMD_PULL, COMMANDS,
                                 E_BAD_CRC, E_BAD_FRAME, E_BAD_REQUEST, E_FAILED, E_NO_SESSION,
                                 E_TOO_LONG, E_UNKNOWN, E_UNSUPPORTED, ESCAPE, MAGIC, MAX_PAYLOAD,
                                 MAX_REQUEST, RESPONSE, T_BRIDGE_END, CommandError, Frame,
                                 FrameDecoder, FrameTooLong, decode_json, encode_frame,
                                 encode_json, error_frame)


class DeviceSide:
    """Decodes requests, calls the handler, answers; dedupes retries. An answer is kept as
    (type, seq, payload bytes, JSON object or None, payload length) and framed as it is written
    (meterproto.link.frameout): a large answer never sits in RAM as a whole frame."""

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

    def receive(self, data, write=None):
        """Handle the requests in data. With write(bytes) the answers are written through it
        in pieces (the probe) and None is returned; without, a list of whole frames."""
        out = [] if write is None else None
        pos = 0
        while pos < len(data) and self.bridge is None:
            for item in self.decoder.feed(data, pos, True):
                resp = self._handle(item)
                if resp is None:
                    continue
                if isinstance(resp, tuple):
                    # imported here: the probe lets it go during a meter read
                    from meterproto.link.frameout import frame_bytes, write_frame

                    if write is None:
                        resp = frame_bytes(resp[0], resp[1], resp[2], resp[3], resp[4])
                    else:
                        write_frame(write, resp[0], resp[1], resp[2], resp[3], resp[4])
                        continue
                if write is None:
                    out.append(resp)
                else:
                    write(resp)
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
            if item.type == CMD_PULL:
                resp = (item.type | RESPONSE, item.seq, result, None, len(result))
            else:  # counted here: a value JSON cannot carry fails before anything is sent
                # (imported here, not at the top: the probe lets it go during a meter read)
                from meterproto.link.jsonpieces import size as json_size

                if result is None:
                    result = {}
                resp = (item.type | RESPONSE, item.seq, b"", result, json_size(result))
            if resp[4] > MAX_PAYLOAD:
                raise CommandError(E_FAILED, "the answer is too long for one frame (%d bytes)"
                                   % resp[4])
        except Exception as e:  # every failure becomes an answer; the channel stays up
            code = getattr(e, "code", None)
            if isinstance(e, (DecodeError, KeyError, TypeError, ValueError)):
                code = E_BAD_REQUEST  # the request's arguments were wrong
            elif not isinstance(code, str):
                code = E_FAILED
            msg = getattr(e, "message", None) or str(e) or type(e).__name__
            return error_frame(item.seq, code, "%s: %s" % (name, msg))
        if item.type == CMD_BRIDGE:
            self.bridge = args
            self.bridge_seq = item.seq
            self._last = None
        if item.type == CMD_BYE:
            self.session_open = False
            self.closed = True
        return resp

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
