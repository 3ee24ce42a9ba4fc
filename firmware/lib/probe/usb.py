# probe.usb: the device end of the USB command channel (meterproto.link.channel) on the REPL
# serial, for the running reader app (poll) and for the raw-REPL path (serve). Device side;
# runs on CPython with any byte streams (tests). Protocol: docs/COMMAND-CHANNEL.md.
#
# API
#   CommandServer(stream_in, stream_out, store, config, app=None, device_id=None,
#                 idle_ms=30000)
#     stream_in.read() -> bytes available now (b"" or None when nothing; never blocks)
#     stream_out.write(bytes)
#     store: probe.store.Store; config: probe.config.Config (either may be None)
#     app hooks (all optional; a missing one answers "unsupported"):
#       app.take_reading() -> {"outcome","seq","reading","message"} (reads, stores, returns)
#       app.bridge(data=b"", baud=None, fmt=None, listen_ms=0) -> bytes from the meter
#       app.run_doctor(request) -> the doctor's result dict (meterproto.doctor.ladder, issue 4)
#       app.busy -> True while a meter session runs (then no flash writes: "busy", retry)
#       app.hw.clock.time_s() / app.set_clock(time_s)
#       app.make_room() -> frees heap (drops modules it can load again) when a PULL
#         answer finds no room
#   poll(now_ms) -> True while a host session is open. Non-blocking; call it every loop.
#   serve(idle_ms=None) -> None. Blocking loop for the raw-REPL path; returns after BYE,
#     a raw Ctrl-C (then raises KeyboardInterrupt) or idle_ms without a frame.
#   stdio_streams() -> (stream_in, stream_out) on sys.stdin/sys.stdout (select.poll).
#   The raw-REPL entry is probe.repl_serve.serve(): it uses the last CommandServer created
#     (`current`), else one for the stopped reader app (probe.main.running).
# While a session is open, Ctrl-C is off (micropython.kbd_intr(-1)); it is restored on exit.
import sys

from meterproto.link import channel as H
from meterproto.link.device import DeviceSide, EscapeScanner
from meterproto.compat import hexlify, sleep_ms, ticks_diff, ticks_ms
from meterproto.errors import LocalProtocolError
from meterproto.line import FMT_NAMES
from probe import heapmark

current = None  # the last server built: the raw-REPL serve() reuses the app's objects
# Largest PULL answer this device builds: the answer, its frame and the stuffed copy each need
# one piece of heap, and after hours of use the RP2040's heap is fragmented. So the answer is
# at most 1/16 of the free heap (MicroPython's gc.mem_free) and never over PULL_DEVICE_MAX;
# larger answers mean fewer round trips and less framing per reading. At least one whole
# record is always sent; the host continues from the last seq + 1.
PULL_DEVICE_MAX = 16384


def _kbd_intr(char):
    try:
        import micropython

        micropython.kbd_intr(char)
    except (ImportError, AttributeError):
        pass  # CPython, CircuitPython: nothing to switch


def _need_int(args, name, default, low, high):
    v = args.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool) or not (low <= v <= high):
        raise H.CommandError(H.E_BAD_REQUEST, "%s must be a whole number from %d to %d"
                             % (name, low, high))
    return v


class CommandServer:
    def __init__(self, stream_in, stream_out, store, config, app=None, device_id=None,
                 idle_ms=30000):
        global current
        self.inp = stream_in
        self.out = stream_out
        self.store = store
        self.config = config
        self.app = app
        self.device_id = device_id or _unique_id()
        self.idle_ms = idle_ms
        self.link = DeviceSide(self)
        self._kbd_off = False
        self._last_ms = 0
        self._clock_offset = 0
        self._bridge = None  # dict while in bridge mode
        self._ended = False  # a session ended (serve() returns)
        self._pieces = 0  # answer pieces written (heap samples every 8th)
        current = self

    # -- the loop -------------------------------------------------------------------------
    def poll(self, now_ms):
        data = self.inp.read()
        if self._bridge is not None:
            self._pump_bridge(data or b"", now_ms)
            return True
        if data:
            self._feed(data, now_ms)
        if self.link.interrupted:
            self.link.decoder.ctrl_c = False
            self._end_session()
            raise KeyboardInterrupt  # the host's Ctrl-C keeps its meaning
        if self.link.closed:
            self.link.closed = False
            self._end_session()
        elif self.link.session_open and ticks_diff(now_ms, self._last_ms) > self.idle_ms:
            self._end_session()  # the host went away: give Ctrl-C back
        return self.link.session_open or self._bridge is not None

    def _feed(self, data, now_ms):
        self._last_ms = now_ms
        self._pieces = 0
        self.link.receive(data, self._write)  # answers go out in pieces as they are made
        if self.link.session_open and not self._kbd_off:
            _kbd_intr(-1)  # binary mode: a 0x03 must not raise KeyboardInterrupt
            self._kbd_off = True
        if self.link.bridge is not None and self._bridge is None:
            self._start_bridge(now_ms)

    def _write(self, piece):
        """One piece of an answer to the host. The first piece of each answer is written once
        the command has run and its answer is ready to go: the heap's peak of every host
        command, so the low-water mark is sampled there (and every 8th piece after)."""
        if self._pieces % 8 == 0:
            heapmark.sample()
        self._pieces += 1
        self.out.write(piece)

    def _end_session(self):
        self._ended = True
        self.link.session_open = False
        if self._kbd_off:
            _kbd_intr(3)
            self._kbd_off = False

    def serve(self, idle_ms=None):
        """Blocking loop (raw-REPL path). Ctrl-C is off from the start: binary mode."""
        saved = self.idle_ms
        if idle_ms is not None:
            self.idle_ms = idle_ms
        _kbd_intr(-1)
        self._kbd_off = True
        self._last_ms = ticks_ms()
        self._ended = False
        self._bridge = None  # the app may have been interrupted anywhere: start clean
        self.link = DeviceSide(self)
        try:
            while not self._ended:
                now = ticks_ms()
                self.poll(now)  # raises KeyboardInterrupt on a raw Ctrl-C
                if self._bridge is None and ticks_diff(now, self._last_ms) > self.idle_ms:
                    return  # nobody said hello, or the host went away
                sleep_ms(1)
        finally:
            self.idle_ms = saved
            self._end_session()

    # -- bridge ---------------------------------------------------------------------------
    def _start_bridge(self, now_ms):
        self._bridge = {"scan": EscapeScanner(), "last": now_ms, "to": 0, "from": 0,
                        "idle": self.link.bridge.get("idle_ms", 0) or 0}
        left = self.link.leftover
        self.link.leftover = b""
        if left:
            self._pump_bridge(left, now_ms)

    def _pump_bridge(self, data, now_ms):
        b = self._bridge
        if data:
            to_meter, found = b["scan"].feed(data)
            if to_meter:
                b["last"] = now_ms
            got = self.app.bridge(to_meter, None, None, 0)
            b["to"] += len(to_meter)
            if found:
                rest = b["scan"].leftover
                self._stop_bridge("escape", got, now_ms)
                if rest:
                    self._feed(rest, now_ms)
                return
        else:
            got = self.app.bridge(b"", None, None, 0)
        if got:
            b["last"] = now_ms
            b["from"] += len(got)
            self.out.write(got)
        if b["idle"] and ticks_diff(now_ms, b["last"]) > b["idle"]:
            held = b["scan"].flush()  # not the escape after all: it belongs to the meter
            got = self.app.bridge(held, None, None, 0) if held else b""
            self._stop_bridge("idle", got, now_ms)

    def _stop_bridge(self, reason, got, now_ms):
        b = self._bridge
        if got:
            b["from"] += len(got)
            self.out.write(got)
        self._bridge = None
        self._last_ms = now_ms
        self.out.write(self.link.bridge_end_frame(
            {"reason": reason, "to_meter": b["to"], "from_meter": b["from"]}))

    # -- command handlers (called by hostlink.DeviceSide) ---------------------------------
    def _busy(self, what):
        if self.app is not None and getattr(self.app, "busy", False):
            raise H.CommandError("busy", "a meter read is running; %s after it ends" % what)

    def _now_s(self):
        clock = getattr(getattr(self.app, "hw", None), "clock", None)
        if clock is not None and hasattr(clock, "time_s"):
            return clock.time_s() + self._clock_offset
        import time

        return int(time.time()) + self._clock_offset

    def hello(self, args):
        heapmark.mark_reset()  # a host session starts: its heap low-water mark starts too
        return self.status(args)

    def status(self, args):
        from meterproto import __version__

        d = {"device_id": self.device_id, "firmware": __version__, "proto": H.PROTO_VERSION,
             "clock": self._now_s(), "busy": bool(getattr(self.app, "busy", False))}
        if self.store is not None:
            d.update(self.store.status())
        else:
            d.update({"count": 0, "first_seq": None, "last_seq": None, "acked": 0,
                      "free_pct": None, "full": True})
        heap = heapmark.report()
        if heap is not None:
            d["heap"] = heap
        return d

    def config_get(self, args):
        if self.config is None:
            raise H.CommandError(H.E_UNSUPPORTED, "this probe has no settings store")
        return self.config.masked()

    def config_set(self, args):
        if self.config is None:
            raise H.CommandError(H.E_UNSUPPORTED, "this probe has no settings store")
        self._busy("change settings")
        return self.config.apply(args)

    def take(self, args):
        fn = getattr(self.app, "take_reading", None)
        if fn is None:
            raise H.CommandError(H.E_UNSUPPORTED, "no reader app is running (start main.py)")
        if args.get("profile") is not None:
            raise H.CommandError(H.E_UNSUPPORTED, "reading another profile by name is not "
                                 "supported; set it active with config first")
        # A read takes seconds; the host sends nothing meanwhile, so Ctrl-C may work again:
        # mpremote (Ctrl-C, raw REPL) must never wait for a meter read to end.
        if self._kbd_off:
            _kbd_intr(3)
        heapmark.mark_reset()  # the answer carries this read's low-water mark
        try:
            res = fn()
        finally:
            if self._kbd_off:
                _kbd_intr(-1)
        if hasattr(res, "to_dict"):
            res = {"outcome": "success", "seq": None, "reading": res.to_dict(), "message": "ok"}
        if not isinstance(res, dict):
            raise H.CommandError(H.E_FAILED, "the reader returned nothing")
        if res.get("outcome", "success") != "success":
            raise H.CommandError(res.get("outcome"), res.get("message") or "the read failed")
        if self.store is not None:
            st = self.store.status()  # how full, in readings (docs/STORAGE.md)
            res["storage"] = {"count": st["count"], "slots_left": st.get("slots_left"),
                              "capacity": st.get("capacity")}
        heap = heapmark.report()
        if heap is not None:
            res = dict(res)
            res["heap"] = heap
        return res

    def list(self, args):
        self._need_store()
        first = _need_int(args, "from_seq", 0, 0, 0xFFFFFFFF)
        limit = _need_int(args, "limit", 50, 1, 500)
        rows = self.store.listing(first, limit + 1)
        return {"records": rows[:limit], "more": len(rows) > limit}

    def pull(self, args):
        self._need_store()
        first = _need_int(args, "from_seq", 0, 0, 0xFFFFFFFF)
        max_bytes = _need_int(args, "max_bytes", H.PULL_DEFAULT, 1, 1 << 30)
        have = args.get("schema")  # the schema the host already holds (probe.store.pull)
        if not isinstance(have, int) or isinstance(have, bool):
            have = None
        cap = _pull_cap()
        if max_bytes > cap:
            max_bytes = cap  # fewer records per answer; the host asks again
        out = None
        for cap in (max_bytes, 1024, 1):  # 1: one record, whatever its size
            try:
                out = self.store.pull(first, min(cap, max_bytes), have)
                break
            except MemoryError:  # a fragmented heap: free what the app can, ask for less
                if cap == 1:
                    raise
                make_room = getattr(self.app, "make_room", None)
                if make_room is not None:
                    make_room()
        if args.get("w") == 1:
            out = H.whiten(out)  # the host undoes it: far fewer bytes stuffed on the wire
        return out

    def ack(self, args):
        self._need_store()
        up_to = _need_int(args, "up_to_seq", None, 0, 0xFFFFFFFF)
        self._busy("acknowledge")
        self.store.ack(up_to)
        return self.status(args)

    def set_clock(self, args):
        t = _need_int(args, "time_s", None, 0, 0xFFFFFFFF)
        fn = getattr(self.app, "set_clock", None)
        if fn is not None:
            fn(t)
            self._clock_offset = 0
        else:
            self._clock_offset = 0
            self._clock_offset = t - self._now_s()  # no RTC hook: keep an offset
        return {"clock": self._now_s()}

    def bridge(self, args):
        if getattr(self.app, "bridge", None) is None:
            raise H.CommandError(H.E_UNSUPPORTED, "no meter port: the reader app is not running")
        self._busy("start the bridge")
        baud = _need_int(args, "baud", 300, 50, 921600)
        name = args.get("fmt", "7E1")
        if name not in FMT_NAMES:
            raise H.CommandError(H.E_BAD_REQUEST, "fmt must be one of %s" % ", ".join(FMT_NAMES))
        self.app.bridge(b"", baud, FMT_NAMES.index(name), 0)
        return {"escape": hexlify(H.ESCAPE, "")}

    def doctor(self, args):
        fn = getattr(self.app, "run_doctor", None)
        if fn is None:
            raise H.CommandError(H.E_UNSUPPORTED, "no reader app is running (start main.py)")
        self._busy("run the doctor")
        req = {}
        for k in ("address", "loopback", "try_hdlc", "readout_check", "wakeup"):
            if k in args:
                req[k] = args[k]
        try:
            return fn(req)
        except LocalProtocolError as e:
            raise H.CommandError(H.E_BAD_REQUEST, str(e))

    def bye(self, args):
        return {}

    def _need_store(self):
        if self.store is None:
            raise H.CommandError(H.E_UNSUPPORTED, "this probe has no record store")


def _pull_cap():
    import gc

    free = getattr(gc, "mem_free", None)  # MicroPython only
    if free is None:
        return PULL_DEVICE_MAX
    return max(1024, min(PULL_DEVICE_MAX, free() // 16))


def _unique_id():
    try:
        import machine

        return hexlify(machine.unique_id(), "")
    except (ImportError, AttributeError):
        return "unknown"


class _StdinReader:
    """Non-blocking reads from the REPL serial (select.poll; at most 256 bytes per call)."""

    def __init__(self):
        import select

        self._in = getattr(sys.stdin, "buffer", sys.stdin)
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def read(self):
        out = bytearray()
        while len(out) < 256 and self._poll.poll(0):
            b = self._in.read(1)
            if not b:
                break
            out += b if isinstance(b, bytes) else b.encode()
        return bytes(out)


class _StdoutWriter:
    def __init__(self):
        self._out = getattr(sys.stdout, "buffer", sys.stdout)

    def write(self, data):
        self._out.write(data)
        if hasattr(self._out, "flush"):
            self._out.flush()


def stdio_streams():
    return _StdinReader(), _StdoutWriter()

