# probe.app: the handheld reader: button -> meter session -> store -> LED pattern (device).
# The session is a sans-I/O Machine run in short steps (the meterproto.driver.run loop, cut
# into slices), so the USB command server is polled between steps and the LED keeps going.
# No flash I/O while a session runs (PLATFORM.md 4: flash writes stop interrupts and the
# 32-byte UART FIFO overflows): the exchange stays in RAM and is committed afterwards.
# Memory (PLATFORM.md 6: ~190 KB heap, and a .py import needs RAM for the compiler too):
# protocol modules are imported only for a read, the USB server only once the host speaks,
# and both are dropped again when the heap runs short (see _free_memory).
import gc
import sys

from meterproto.errors import LocalProtocolError
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
# Settings that must be whole numbers (>= low) or text; anything else falls back to the default
# so a bad value from the host cannot stop the loop (e.g. "interval_s": "60").
_INT_SETTINGS = (("max_baud", 300), ("interval_s", 0), ("slice_ms", 1), ("client", 0),
                 ("server", 0))
_TEXT_SETTINGS = ("mode", "address", "password", "wakeup")
# Below this much free heap after a collect, drop modules that can be imported again.
LOW_MEMORY = 64 * 1024
# Modules a read or the USB server bring in that stay loaded only while memory allows.
# The USB command channel and the record format (meterproto.link.*) stay too: UsbWatch
# drops the channel itself when the host goes away.
_KEEP = ("meterproto", "meterproto.compat", "meterproto.errors", "meterproto.line",
         "meterproto.machine", "meterproto.driver", "meterproto.crc16")


def settings(config, profile=None):
    """One flat dict of what a read needs, from a probe.config.Config (meter profile +
    options), a plain dict (tests) or None (defaults)."""
    out = dict(DEFAULTS)
    if config is None:
        return out
    if hasattr(config, "profile"):
        opts = config.data.get("options")
        if isinstance(opts, dict):
            out.update(opts)
        p = config.profile(profile)
        if p is None and profile is not None:
            raise LocalProtocolError("no meter profile named %r" % profile)
        for k in (p or {}):
            if p[k] is not None and k in out:
                out[k] = p[k]
        return _clean(out)
    out.update(config)
    return _clean(out)


def _clean(out):
    for k, low in _INT_SETTINGS:
        v = out[k]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            out[k] = DEFAULTS[k]
    for k in _TEXT_SETTINGS:
        if out[k] is not None and not isinstance(out[k], str):
            out[k] = DEFAULTS[k]
    if not isinstance(out["keys"], dict):
        out["keys"] = None
    return out


def make_session(s):
    """The Machine for one read, from settings() (probe.session.make_session)."""
    from probe.session import make_session as make

    return make(s)


def _is_store_full(exc):
    # By name: probe.store is optional, and tests may use a stand-in store.
    return type(exc).__name__ == "StoreFull"


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
        self.doctor = None  # a probe.doctor_run.DoctorRun while the doctor runs
        self.last_doctor = None  # result dict of the last doctor run
        self._held_since = None  # when the press that started the current read went down
        self.store_error = None  # (outcome, message) when main() found no usable storage
        self.faults = 0  # exceptions the loop has survived
        self._faults_in_a_row = 0
        now = hw.clock.ticks_ms()
        self.led.play("ready", now)
        try:
            self.s = settings(config)
        except Exception:  # a profile the reader cannot use: reads report it, boot goes on
            self.s = dict(DEFAULTS)
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
        self._doctor_tick(now)
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
                if self.begin_read() and pressed:
                    self._held_since = now  # held LONG_PRESS_MS: the doctor (_doctor_tick)
            else:
                clock.sleep_ms(5)
        self.led.tick(clock.ticks_ms())

    def run(self, until_ms=None):
        """Loop for ever (device) or until the clock reaches until_ms (tests).

        A fault in one turn is logged, shown (error pattern) and survived; Ctrl-C is a
        KeyboardInterrupt, not an Exception, so it still ends the loop.
        """
        clock = self.hw.clock
        while until_ms is None or clock.diff(clock.ticks_ms(), until_ms) < 0:
            try:
                self.tick()
                self._faults_in_a_row = 0
            except Exception as e:
                try:
                    self._fault(e)
                except Exception:  # a fault while reporting one (e.g. no memory for the note)
                    gc.collect()

    def _fault(self, e):
        self.faults += 1
        self._faults_in_a_row += 1
        self.stepper = None  # a read that was running is over (the next one resets the line)
        self._in_server = False
        try:
            if isinstance(e, MemoryError):
                self._free_memory(True)
            self.led.play(ERROR, self.hw.clock.ticks_ms())  # shown even if the note fails
            self.last = {"outcome": ERROR, "seq": None, "reading": None,
                         "message": "internal error: %s" % _describe(e)}
            log("the reader hit an error and carries on: %s" % _describe(e), e,
                self._faults_in_a_row <= 3)
        finally:
            # The same fault over and over: slow down, so USB and Ctrl-C stay responsive.
            wait = 100 * self._faults_in_a_row
            self.hw.clock.sleep_ms(wait if wait < 2000 else 2000)

    def _free_memory(self, force=False):
        """Drop modules that can be imported again (the protocol modules of the last read,
        an idle USB server) when free heap is below LOW_MEMORY, or always with force (after
        a MemoryError)."""
        gc.collect()
        free = _mem_free()
        if free is None or (not force and free >= LOW_MEMORY):
            return  # CPython (nothing to gain), or plenty of room
        if self.stepper is None:
            _drop_modules(["probe.session"] + [
                n for n in sys.modules if n.startswith("meterproto.") and n not in _KEEP
                and not n.startswith("meterproto.link")])
        if not self.host_session and not self._in_server and hasattr(self.server, "drop"):
            self.server.drop()
        gc.collect()

    def make_room(self):
        """Free what can be freed (the USB server calls it before a big answer)."""
        self._free_memory(True)

    def shutdown(self):
        """Leave the hardware quiet: LED off, carrier off (main() on its way out)."""
        try:
            self.led.stop()
        except Exception:
            pass
        carrier = getattr(self.hw, "carrier", None)
        if carrier is not None:
            try:
                carrier.stop()
            except Exception:
                pass

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
        machine = echo = None
        self.last = None  # the previous reading's objects are not needed any more
        self._free_memory()  # room for the protocol modules and, for a .py, their compiler
        for attempt in (1, 2):
            try:
                self.s = settings(self.config, profile)  # re-read: the host may have changed it
                machine = self.session_factory(self.s)
                if self.s["echo_filter"]:
                    from meterproto.echo import EchoFilter

                    echo = EchoFilter()
                break
            except MemoryError:
                machine = echo = None
                if attempt == 2:
                    self._report(ERROR, None, None, "cannot start a read: not enough memory")
                    return False
                self._free_memory(True)
            except Exception as e:  # a missing module, a bad setting in the meter profile
                self._report(ERROR, None, None, "cannot start a read: %s" % e)
                return False
        gc.collect()  # between sessions, never mid-frame
        self.echo = echo
        self.led.play("busy", now)
        self._show(["READING..."])
        try:
            from probe.session import Stepper

            self.stepper = Stepper(machine, self.hw.port, echo)  # sends the first request
        except MemoryError:
            self.stepper = self.echo = machine = None
            self._free_memory(True)
            self._report(ERROR, None, None, "the read stopped: not enough memory")
            return False
        return True

    def _finish(self):
        if self.doctor is not None:
            return self._doctor_finished()
        st = self.stepper
        self.stepper = None
        self.reads += 1
        from probe.session import as_dict, classify

        outcome = classify(st, self.echo)
        m = st.machine
        reading = as_dict(m.result) if m.error is None else None
        seq = None
        message = str(m.error) if m.error is not None else "ok"
        digest = st.digest()
        st = m = self.echo = None  # the session's objects go before the commit needs memory
        gc.collect()
        if outcome == SUCCESS and self.store is None and self.store_error is not None:
            outcome, why = self.store_error
            message = "reading not stored: %s" % why
        elif outcome == SUCCESS and self.store is not None:
            # The session is over: flash writes are safe again.
            try:
                try:
                    seq = self.store.commit(reading, self.hw.clock.time_s(), digest)
                except MemoryError:  # nothing was written: make room and try once more
                    self._free_memory(True)
                    seq = self.store.commit(reading, self.hw.clock.time_s(), digest)
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
        self._free_memory()  # after the commit: the freed code leaves holes, and a commit
        # needs a few KB in one piece (JSON text, record bytes)

    def _report(self, outcome, reading, seq, message):
        self.last = {"outcome": outcome, "seq": seq, "reading": reading, "message": message}
        self.led.play(outcome, self.hw.clock.ticks_ms())
        if self.hw.display is not None:
            from probe import display as displaymod

            self._show(displaymod.summary(outcome, reading, seq))

    def _show(self, lines):
        if self.hw.display is not None:
            try:
                self.hw.display.show(lines)
            except OSError:
                self.hw.display = None  # unplugged: carry on without it

    # -- the doctor (probe.doctor_run, meterproto.doctor) ---------------------------------
    def _doctor_tick(self, now):
        """Long press: the press that started a read still held after LONG_PRESS_MS runs the
        doctor (a read still running is broken off and not stored)."""
        if self.doctor is not None and self.stepper is None:
            self.doctor = None  # a fault ended the ladder (see _fault)
        if self._held_since is None or self.hw.button is None:
            return
        from probe.doctor_run import LONG_PRESS_MS, SETTLE_MS

        self.hw.button.poll(now)  # keeps the debounced state current; presses are ignored
        if not self.hw.button.pressed:
            self._held_since = None
        elif self.doctor is None and now - self._held_since >= LONG_PRESS_MS:
            self._held_since = None
            self.stepper = None
            # The meter may still be answering the read: the ladder waits for quiet first.
            self.begin_doctor(None, SETTLE_MS)

    def begin_doctor(self, request=None, settle_ms=0):
        """Start the doctor (carrier off, then on, when the board has one); False if a read
        runs or the options are bad (then self.last says why)."""
        if self.stepper is not None:
            return False
        try:
            from probe import doctor_run

            self.s = settings(self.config)
            kw = doctor_run.options(self.s, request)
            kw["settle_ms"] = settle_ms
            self.doctor = doctor_run.DoctorRun(kw, getattr(self.hw, "carrier", None))
        except Exception as e:
            self._report(ERROR, None, None, "cannot start the doctor: %s" % e)
            return False
        self.led.play("busy", self.hw.clock.ticks_ms())
        self._show(["DOCTOR..."])
        self._doctor_ladder()
        return True

    def _doctor_ladder(self):
        from probe.session import Stepper

        gc.collect()
        # No echo filter: the doctor wants to see our own light come back.
        self.stepper = Stepper(self.doctor.next_machine(), self.hw.port, None)

    def _doctor_finished(self):
        st = self.stepper
        self.stepper = None
        d = self.doctor
        if not d.finished(st.machine):
            st = None
            self._doctor_ladder()
            return
        self.doctor = None
        res = self.last_doctor = d.result
        outcome = d.led()
        self.last = {"outcome": outcome, "seq": None, "reading": None, "message": res["text"],
                     "doctor": res}
        self.led.play(outcome, self.hw.clock.ticks_ms())
        self._show(["DOCTOR", res["verdict"].upper(), res["text"][:40]])
        st = d = None
        self._free_memory()

    def run_doctor(self, request=None):
        """The doctor for the host (USB DOCTOR command): runs to the end here and returns
        {"verdict", "text", "steps"[, "carrier": {"off": .., "on": ..}]}."""
        if self.stepper is not None:
            raise LocalProtocolError("a read is running: try again when it has finished")
        if not self.begin_doctor(request):
            raise LocalProtocolError(self.last["message"])
        clock = self.hw.clock
        while self.doctor is not None and self.stepper is not None:
            if self._step():
                self._finish()
            self.led.tick(clock.ticks_ms())
        if self.doctor is not None:
            self.doctor = None
            raise LocalProtocolError("the doctor was interrupted")
        return self.last_doctor

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


class UsbWatch:
    """The USB command server (probe.usb), built only once the host sends something on the
    REPL serial: until then its code (and meterproto.link.channel) stays out of the heap."""

    def __init__(self, build):
        self.build = build  # () -> probe.usb.CommandServer
        self.server = None
        self._poll = None
        self.off = False  # no select/stdin on this port: no USB channel (the reader goes on)

    def poll(self, now_ms):
        if self.server is None:
            if self.off:
                return False
            try:
                if not self._input_waiting():
                    return False
                gc.collect()
                self.server = self.build()
            except ImportError as e:
                self.off = True
                log("no USB command channel on this port (%s)" % _describe(e), None, False)
                return False
        return self.server.poll(now_ms)

    def _input_waiting(self):
        if self._poll is None:
            import select

            self._poll = select.poll()
            self._poll.register(sys.stdin, select.POLLIN)
        return bool(self._poll.poll(0))

    def drop(self):
        """Forget the server between host sessions so its modules can be freed."""
        srv = self.server
        if srv is None:
            return
        if srv.link.session_open or srv._bridge is not None:
            return  # the host is in the middle of something: keep its session
        self.server = None
        usb = sys.modules.get("probe.usb")
        if usb is not None and usb.current is srv:
            usb.current = None
        _drop_modules(("probe.usb", "meterproto.link.device", "meterproto.link.channel"))


def _mem_free():
    fn = getattr(gc, "mem_free", None)  # MicroPython only
    return fn() if fn is not None else None


def _drop_modules(names):
    """Forget modules (and the parent package's reference), so their code can be freed; a
    later import loads them again."""
    for name in names:
        if name not in sys.modules:
            continue
        del sys.modules[name]
        dot = name.rfind(".")
        parent = sys.modules.get(name[:dot]) if dot > 0 else None
        # Through the package's dict: no AttributeError to allocate when memory is short.
        names = parent.__dict__ if parent is not None else None
        if names is not None and name[dot + 1:] in names:
            del names[name[dot + 1:]]


def _describe(e):
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


def _print_exception(e):
    pe = getattr(sys, "print_exception", None)  # MicroPython
    if pe is not None:
        pe(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


# Prefix of every device path: "" on the board; tests point it at a temporary folder.
ROOT = ""
running = None  # the App main() built (kept after it stops, for the raw-REPL serve())
LOG_PATH = "/irprobe.log"  # notes for the user (boot fallbacks, faults); kept small
LOG_MAX = 4096
_log_writes = [0]


def log(message, exc=None, to_flash=True):
    """A note for the user: printed on the REPL serial and appended to /irprobe.log (rotated
    to .old past LOG_MAX; at most 20 flash writes per boot, so a fault loop cannot wear it)."""
    print("irprobe: " + message)
    if exc is not None:
        _print_exception(exc)
    if not to_flash or _log_writes[0] >= 20:
        return
    _log_writes[0] += 1
    import os

    path = ROOT + LOG_PATH
    try:
        try:
            if os.stat(path)[6] > LOG_MAX:
                os.rename(path, path + ".old")
        except OSError:
            pass  # no log yet
        f = open(path, "a")
        try:
            f.write(message + "\n")
        finally:
            f.close()
    except OSError:
        pass  # flash full or read-only: the printed note has to do


def _kbd_intr(char):
    try:
        import micropython

        micropython.kbd_intr(char)
    except (ImportError, AttributeError):
        pass


def main():
    """Start the reader on the device: board file -> hardware -> config, store, USB -> loop.

    Ctrl-C (mpremote sends it first) ends the loop cleanly and gives the REPL back, with
    Ctrl-C handling restored; any other fault is survived inside App.run().
    """
    global running
    app = None
    try:
        from probe.boot import boot

        app = boot()
        del boot
        running = app  # after Ctrl-C, probe.usb.serve() (raw REPL) still reaches the reader
        _drop_modules(("probe.boot",))  # only needed once: free its code
        gc.collect()
        app.run()
    except KeyboardInterrupt:
        print("irprobe: stopped (Ctrl-C); the REPL is free")
    finally:
        _kbd_intr(3)  # a host session may have switched it off
        if app is not None:
            app.shutdown()


def server_builder(app, store, config):
    """() -> the app's USB command server (for UsbWatch; defined here, not in probe.boot, so
    the closure does not keep probe.boot alive)."""
    return lambda: _make_server(app, store, config)


def _make_server(app, store, config):
    from probe import usb

    inp, out = usb.stdio_streams()
    return usb.CommandServer(inp, out, store, config, app=app)
