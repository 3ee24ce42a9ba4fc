# A fake probe on a pty that speaks the USB command channel (docs/COMMAND-CHANNEL.md) as told:
# well-behaved by default (HELLO, PULL within max_bytes, ACK deleting up to n, SET_CLOCK, BYE),
# and each behaviour replaceable, so a test can play a broken or hostile probe (host tests).
import os
import pty
import select
import threading
import tty

from meterproto.link import channel as H
from meterproto.link.records import encode_record


def frame(req, payload):
    """The answer frame to request frame req: payload is bytes, or a dict sent as JSON."""
    if isinstance(payload, dict):
        payload = H.encode_json(payload)
    return H.encode_frame(req.type | H.RESPONSE, req.seq, payload)


def reading(meter="M1", value="001234.567", **more):
    d = {
        "meter": {"id": meter, "manufacturer": "EMH", "ident": "/EMH5"},
        "protocol": "iec62056-21",
        "mode": "C",
        "baud": 9600,
        "values": [{"obis": "1-0:1.8.0*255", "value": value, "unit": "kWh"}],
    }
    d.update(more)
    return d


class HostileProbe:
    """records: {seq: raw record bytes}. Set .hello (dict or raw payload bytes), or override
    on_<command>(req, args) -> bytes to write (None: say nothing). .acks, .pulls count."""

    def __init__(self, records=None, device_id="HOSTILE-1", hello=None):
        self.records = dict(records or {})
        self.acked = 0
        self.hello = hello
        self.device_id = device_id
        self.acks = []
        self.pulls = 0
        self.requests = []
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._stop = False
        self._t = threading.Thread(target=self._loop, daemon=True)

    @classmethod
    def with_readings(cls, readings, first_seq=1, time_s=1764090000, **kw):
        recs = {}
        for i, r in enumerate(readings):
            seq = first_seq + i
            recs[seq] = encode_record(seq, time_s + 900 * i, r, b"\x01" * 8)
        return cls(recs, **kw)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._t.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def write(self, data):
        view = memoryview(data)
        while view and not self._stop:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                select.select([], [self.master], [], 0.05)
                continue
            except OSError:
                return
            view = view[n:]

    def _loop(self):
        dec = H.FrameDecoder()
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.02)
            if not r:
                self.idle()
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for f in dec.feed(data):
                if not isinstance(f, H.Frame):
                    continue
                name = H.COMMANDS.get(f.type, "unknown")
                self.requests.append(name)
                try:
                    args = H.decode_json(f.payload)
                except Exception:
                    args = {}
                out = getattr(self, "on_" + name, self.on_unknown)(f, args)
                if out:
                    self.write(out)

    # -- behaviours (override in a subclass or assign on the instance) --------------------
    def idle(self):
        """Called when the host is silent for 20 ms."""

    def status(self):
        seqs = sorted(self.records)
        return {
            "device_id": self.device_id,
            "firmware": "0.1",
            "proto": 1,
            "clock": 0,
            "busy": False,
            "count": len(seqs),
            "first_seq": seqs[0] if seqs else None,
            "last_seq": seqs[-1] if seqs else None,
            "next_seq": (seqs[-1] if seqs else self.acked) + 1,
            "acked": self.acked,
            "free_pct": 90,
            "full": False,
        }

    def on_hello(self, req, args):
        if self.hello is not None:
            return frame(req, self.hello)
        return frame(req, self.status())

    def on_status(self, req, args):
        return frame(req, self.status())

    def on_set_clock(self, req, args):
        return frame(req, {"clock": args.get("time_s")})

    def on_pull(self, req, args):
        self.pulls += 1
        out = b""
        for seq in sorted(self.records):
            if seq < args.get("from_seq", 0):
                continue
            raw = self.records[seq]
            if out and len(out) + len(raw) > min(args.get("max_bytes", 4096), 4096):
                break
            out += raw
        return frame(req, out)

    def on_ack(self, req, args):
        n = args.get("up_to_seq")
        self.acks.append(n)
        for seq in [s for s in self.records if s <= n]:
            del self.records[seq]
        self.acked = max(self.acked, n)
        return frame(req, self.status())

    def on_bye(self, req, args):
        return frame(req, {})

    def on_unknown(self, req, args):
        return H.error_frame(req.seq, H.E_UNKNOWN, "unknown command")
