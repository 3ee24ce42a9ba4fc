# probe.app: the handheld reader: button -> meter session -> store -> LED pattern (device).
# The session is a sans-I/O Machine run in short steps (the meterproto.driver.run loop, cut
# into slices), so the USB command server is polled between steps and the LED keeps going.
# No flash I/O while a session runs (PLATFORM.md 4: flash writes stop interrupts and the
# 32-byte UART FIFO overflows): the exchange stays in RAM and is committed afterwards.
import gc

from meterproto.driver import T_LINE, T_RX, T_TX
from meterproto.errors import LocalProtocolError, NoAnswer
from meterproto.machine import A_SEND, A_SET_LINE
from probe import display as displaymod
from probe.led import Player

# Outcomes; each has an LED pattern of the same name (probe.led, docs/LED-PATTERNS.md).
SUCCESS = "success"
NO_ANSWER = "no-answer"
ECHO_ONLY = "echo-only"
ERROR = "error"
STORAGE_FULL = "storage-full"

DEFAULTS = {
    "mode": "iec",          # iec / iec-c (readout), auto, iec-e / e (mode E), hdlc, dlms
    "address": "",          # IEC device address, "" = any meter
    "max_baud": 9600,
    "password": None,
    "wakeup": None,         # battery meters: "standard" (IEC 62056-21 6.4.7)
    "client": None,         # DLMS client SAP
    "server": None,         # DLMS server address: upper, or upper << 16 | lower
    "keys": None,           # {"ek": hex, "ak": hex, "system_title": hex}
    "interval_s": 0,        # > 0: read again every interval_s seconds (logging mode)
    "echo_filter": True,
    "slice_ms": 20,         # longest the app stays in one session step
}
_AUTO_MODES = {"auto": "auto", "dlms": "auto", "iec-e": "e", "e": "e", "hdlc": "hdlc"}


def settings(config, profile=None):
    """One flat dict of what a read needs, from a probe.config.Config (meter profile +
    options), a plain dict (tests) or None (defaults)."""
    out = dict(DEFAULTS)
    if config is None:
        return out
    if hasattr(config, "profile"):
        out.update(config.data.get("options") or {})
        p = config.profile(profile)
        if p is None and profile is not None:
            raise LocalProtocolError("no meter profile named %r" % profile)
        for k in (p or {}):
            if p[k] is not None and k in out:
                out[k] = p[k]
        return out
    out.update(config)
    return out


def _hex(text):
    if not text:
        return None
    from meterproto.compat import unhexlify

    return unhexlify(text)


def make_session(s):
    """The Machine for one read, from settings(). Imported lazily: a missing protocol module
    only disables that mode."""
    mode = s["mode"]
    if mode in ("iec", "iec-c"):
        from meterproto.iec21_client import IecClient

        return IecClient(address=s["address"] or "", max_baud=s["max_baud"],
                         wakeup=s["wakeup"], password=s["password"])
    if mode in _AUTO_MODES:
        from meterproto.auto_session import AutoSession

        kw = {}
        if s["client"] is not None:
            kw["client_sap"] = s["client"]
        server = s["server"]
        if server is not None:
            if server > 0x3FFF:
                kw["server_upper"] = server >> 16
                kw["server_lower"] = server & 0xFFFF
            else:
                kw["server_upper"] = server
        keys = s["keys"] or {}
        for k in ("ek", "ak", "system_title"):
            if keys.get(k):
                kw[k] = _hex(keys[k])
        return AutoSession(mode=_AUTO_MODES[mode], address=s["address"] or "",
                           max_baud=s["max_baud"], password=s["password"],
                           wakeup=s["wakeup"], **kw)
    raise LocalProtocolError("unknown meter mode %r (use iec, auto, iec-e or hdlc)" % (mode,))


class Stepper:
    """meterproto.driver.run cut into steps: step(budget_ms) never waits longer than that.

    Keeps the received bytes (for the record digest) and counts what was sent.
    """

    def __init__(self, machine, port, echo=None, trace=None):
        self.machine = machine
        self.port = port
        self.echo = echo
        self.trace = trace
        self.raw = bytearray()  # everything received, echo included, as it came
        self.meter_bytes = 0  # received bytes that were not our echo
        self.sent = 0
        self.t0 = port.now_ms()
        machine.start(0)
        self._actions()

    def _actions(self):
        m = self.machine
        port = self.port
        act = m.next_action()
        while act is not None:
            if act[0] == A_SEND:
                port.write(act[1])
                self.sent += len(act[1])
                if self.echo is not None:
                    self.echo.sent(act[1])
                self._log(T_TX, act[1])
            elif act[0] == A_SET_LINE:
                port.drain()  # IEC 62056-21 6.4.2: switch only once the ACK has left
                port.set_line(act[1], act[2])
                if self.echo is not None:
                    self.echo.line_changed()
                self._log(T_LINE, (act[1], act[2]))
            act = m.next_action()

    def _log(self, kind, payload):
        if self.trace is not None:
            self.trace.append((self.port.now_ms() - self.t0, kind, payload))

    def step(self, budget_ms):
        """Advance the session by at most budget_ms; True once it has ended."""
        m = self.machine
        if m.done:
            return True
        deadline = m.deadline_ms()
        if deadline is None:
            m._fail(LocalProtocolError("session waits with no deadline: it would hang"))
            return True
        now = self.port.now_ms() - self.t0
        until = now + budget_ms
        if deadline < until:
            until = deadline
        data = self.port.read(until + self.t0)
        now = self.port.now_ms() - self.t0
        if data:
            self.raw.extend(data)
            self._log(T_RX, data)
            if self.echo is not None:
                data = self.echo.filter(data)
            if data:
                self.meter_bytes += len(data)
                m.receive(data, now)
                self._actions()
                return m.done
        if now >= deadline:
            m.timeout(now)
            self._actions()
        return m.done


def classify(stepper, echo):
    """Outcome name for a finished session (store errors are handled by the caller)."""
    m = stepper.machine
    if m.error is None:
        return SUCCESS
    if isinstance(m.error, NoAnswer) and stepper.meter_bytes == 0:
        if echo is not None and echo.echo_bytes > 0:
            return ECHO_ONLY  # our own light came back, the meter said nothing
        if not stepper.raw:
            return NO_ANSWER
    return ERROR


def _is_store_full(exc):
    # By name: probe.store is optional, and tests may use a stand-in store.
    return type(exc).__name__ == "StoreFull"


def _as_dict(result):
    if result is None or isinstance(result, dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    reading = getattr(result, "reading", None)  # e.g. an AutoSession result object
    if reading is not None:
        return _as_dict(reading)
    return None


class App:
    """The reader. hw: port, clock, led (driver), button, display (see probe.hal_*).

    store: probe.store.Store or None; server: probe.usb.CommandServer or None (it calls
    take_reading() and bridge()); session_factory(settings dict) -> Machine (tests inject
    one). config: probe.config.Config, a dict of settings, or None (see settings()).
    """

    def __init__(self, hw, config=None, store=None, server=None, session_factory=None):
        self.hw = hw
        self.config = config
        self.store = store
        self.server = server
        self.session_factory = session_factory or make_session
        self.led = Player(hw.led)
        self.stepper = None
        self.echo = None
        self.last = None  # dict describing the last read (outcome, seq, reading, message)
        self.reads = 0
        self._next_interval = None
        self._in_server = False
        self.host_session = False  # the host holds the channel (sync, bridge): no button reads
        now = hw.clock.ticks_ms()
        self.led.play("ready", now)
        self.s = settings(config)
        if self.s["interval_s"] > 0:
            self._next_interval = now

    @property
    def busy(self):
        """True while a meter session runs: the USB side must not touch flash meanwhile."""
        return self.stepper is not None

    # -- the main loop -----------------------------------------------------------------
    def tick(self):
        """One turn of the main loop: never blocks for more than about slice_ms."""
        clock = self.hw.clock
        now = clock.ticks_ms()
        self._poll_server(now)
        if self.stepper is not None:
            if self._step():
                self._finish()
        else:
            pressed = self.hw.button is not None and self.hw.button.poll(now)
            due = self._next_interval is not None and clock.diff(now, self._next_interval) >= 0
            if self.host_session:
                pressed = due = False  # e.g. in bridge mode the host owns the meter line
            if pressed or due:
                if due:
                    self._next_interval = now + self.s["interval_s"] * 1000
                self.begin_read()
            else:
                clock.sleep_ms(5)
        self.led.tick(clock.ticks_ms())

    def run(self, until_ms=None):
        """Loop for ever (device) or until the clock reaches until_ms (tests)."""
        clock = self.hw.clock
        while until_ms is None or clock.diff(clock.ticks_ms(), until_ms) < 0:
            self.tick()

    def _step(self):
        """One session step; a bug in a protocol module ends the read, not the app."""
        try:
            return self.stepper.step(self.s["slice_ms"])
        except Exception as e:
            m = self.stepper.machine
            m.done = True
            m.error = e
            return True

    def _poll_server(self, now):
        if self.server is not None and not self._in_server:
            self._in_server = True
            try:
                self.host_session = bool(self.server.poll(now))
            finally:
                self._in_server = False

    # -- one read ----------------------------------------------------------------------
    def begin_read(self, profile=None):
        """Start a meter session (the active meter profile, or the one named); False if one
        is already running or it cannot start (then self.last says why)."""
        if self.stepper is not None:
            return False
        now = self.hw.clock.ticks_ms()
        if self.store is not None and hasattr(self.store, "check_room"):
            try:
                self.store.check_room()  # a statvfs, no write: full -> say so, skip the read
            except Exception as e:
                if _is_store_full(e):
                    self._report(STORAGE_FULL, None, None, str(e))
                else:
                    self._report(ERROR, None, None, "storage does not work: %s" % e)
                return False
        try:
            self.s = settings(self.config, profile)  # re-read: the host may have changed it
            machine = self.session_factory(self.s)
        except Exception as e:  # a missing module, a bad setting in the meter profile
            self._report(ERROR, None, None, "cannot start a read: %s" % e)
            return False
        gc.collect()  # between sessions, never mid-frame
        self.echo = None
        if self.s["echo_filter"]:
            from meterproto.echo import EchoFilter

            self.echo = EchoFilter()
        self.led.play("busy", now)
        self._show(["READING..."])
        self.stepper = Stepper(machine, self.hw.port, self.echo)
        return True

    def _finish(self):
        st = self.stepper
        self.stepper = None
        self.reads += 1
        outcome = classify(st, self.echo)
        m = st.machine
        reading = _as_dict(m.result) if m.error is None else None
        seq = None
        message = str(m.error) if m.error is not None else "ok"
        if outcome == SUCCESS and self.store is not None:
            # The session is over: flash writes are safe again.
            from meterproto.records import exchange_digest

            try:
                seq = self.store.commit(reading, self.hw.clock.time_s(), exchange_digest(st.raw))
            except Exception as e:  # StoreFull, or an OSError from the file system
                if _is_store_full(e):
                    outcome = STORAGE_FULL
                else:
                    outcome = ERROR
                message = "reading not stored: %s" % e
        self._report(outcome, reading, seq, message)
        # Logging mode follows the settings this read used (the host may have changed them).
        if self.s["interval_s"] <= 0:
            self._next_interval = None
        elif self._next_interval is None:
            self._next_interval = self.hw.clock.ticks_ms() + self.s["interval_s"] * 1000
        st.raw = None
        gc.collect()

    def _report(self, outcome, reading, seq, message):
        self.last = {"outcome": outcome, "seq": seq, "reading": reading, "message": message}
        self.led.play(outcome, self.hw.clock.ticks_ms())
        self._show(displaymod.summary(outcome, reading, seq))

    def _show(self, lines):
        if self.hw.display is not None:
            try:
                self.hw.display.show(lines)
            except OSError:
                self.hw.display = None  # unplugged: carry on without it

    # -- hooks for the USB command server (probe.usb) ---------------------------------
    def take_reading(self):
        """Read the meter now (a host command) and return self.last when done.

        Runs to the end here: the host waits for the answer anyway. The LED keeps going.
        """
        if self.stepper is not None:
            return {"outcome": ERROR, "seq": None, "reading": None,
                    "message": "a read is already running"}
        if not self.begin_read():
            return self.last
        clock = self.hw.clock
        while not self._step():
            self.led.tick(clock.ticks_ms())
        self._finish()
        return self.last

    def set_clock(self, time_s):
        """Set the real-time clock (record time stamps) from the host."""
        self.hw.clock.set_time_s(time_s)

    def bridge(self, data=b"", baud=None, fmt=None, listen_ms=0):
        """Transparent mode for a host-driven session: switch the line if asked (after TX
        has drained), send data, then return what the meter sent within listen_ms."""
        if self.stepper is not None:
            raise LocalProtocolError("a read is running: try again when it has finished")
        port = self.hw.port
        if baud is not None:
            port.drain()
            port.set_line(baud, fmt if fmt is not None else 0)
        if data:
            port.write(data)
        out = bytearray()
        end = port.now_ms() + listen_ms
        while True:
            got = port.read(end)
            if not got:
                break
            out.extend(got)
        return bytes(out)


def _optional(build):
    """Run build(); None when the part it needs is not installed (ImportError)."""
    try:
        return build()
    except ImportError:
        return None


# Prefix of every device path: "" on the board; tests point it at a temporary folder.
ROOT = ""


def main():
    """Start the reader on the device: board file -> hardware -> config, store, USB -> loop."""
    from probe import board as boardmod

    spec = boardmod.load(ROOT + "/board.json")
    try:
        import machine
    except ImportError:  # CircuitPython has no `machine`
        machine = None
    if machine is not None:
        from probe.hal_mp import Hardware

        hw = Hardware(spec, machine)
    else:
        from probe.hal_cp import Hardware

        hw = Hardware(spec)
    config = _optional(_load_config)
    store = _optional(_make_store)
    app = App(hw, config, store)
    app.server = _optional(lambda: _make_server(app, store, config))
    app.run()


def _load_config():
    from probe.config import Config
    from probe.fsys import Fsys

    return Config(Fsys(ROOT)).load()


def _make_store():
    from probe.fsys import Fsys
    from probe.store import Store

    store = Store(Fsys(ROOT))
    store.recover()  # drop a commit cut short by a power loss (probe.store)
    return store


def _make_server(app, store, config):
    from probe import usb

    inp, out = usb.stdio_streams()
    return usb.CommandServer(inp, out, store, config, app=app)
