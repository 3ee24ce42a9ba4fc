# probe.app: the handheld reader's main loop: button -> meter session -> store -> LED (device).
# Each turn serves the host (USB command server), watches for the doctor's long press, then
# runs one slice of the meter session (the meterproto.driver loop in steps) or waits for a
# press; the LED plays all the while. The jobs live beside it: probe.settings,
# probe.read_job (one read, its commit), probe.doctor_job, probe.bridge, probe.usb_watch,
# probe.flashlog; probe.boot builds the App and probe.main runs it.
# Memory (about 190 KB of heap, and a .py import needs RAM for the compiler too): protocol
# modules are imported only for a read, the USB server only once the host speaks, and both
# are dropped again when the heap runs short (see _free_memory).
import gc
import sys

from meterproto.compat import forget
from meterproto.errors import LocalProtocolError
from probe.flashlog import describe, log
from probe.led import ERROR, Player
from probe.settings import DEFAULTS, settings

# Below this much free heap after a collect, drop modules that can be imported again.
LOW_MEMORY = 64 * 1024
# The app's own modules for occasional jobs, loaded again on their next use.
_DROP = ("probe.session", "probe.read_job", "probe.doctor_job", "probe.doctor_run",
         "probe.bridge")
# What publishing loads (probe.uplink), let go once the outbox is empty.
_UPLINK_MODULES = ("umqtt.simple", "umqtt", "meterproto.hass", "meterproto.link.recpack",
                   "probe.store_sync")
# Protocol modules that stay loaded when memory runs short; the USB channel and the record
# format (meterproto.link.*) stay too: UsbWatch drops the channel when the host goes away.
_KEEP = ("meterproto", "meterproto.compat", "meterproto.errors", "meterproto.line",
         "meterproto.machine", "meterproto.driver", "meterproto.crc16")


class App:
    """The reader. hw: port, clock, led (driver), button, display (see probe.hal_*).

    store: probe.store.Store or None; server: probe.usb.CommandServer or None (it calls
    take_reading() and bridge()); session_factory(settings dict) -> Machine (tests inject
    one). config: probe.config.Config, a dict of settings, or None (see probe.settings).
    """

    def __init__(self, hw, config=None, store=None, server=None, session_factory=None):
        self.hw = hw
        self.config = config
        self.store = store
        self.server = server
        self.session_factory = session_factory  # None: probe.read_job.make_session
        self.led = Player(hw.led)
        self.stepper = None  # the running session (probe.session.Stepper), read or doctor
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
        self.uplink = None  # probe.uplink.Uplink: the Pico W logger publishing the store
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

    def tick(self):
        """One turn of the main loop: never blocks for more than about slice_ms."""
        clock = self.hw.clock
        now = clock.ticks_ms()
        self._poll_server(now)  # the host first: its commands may read, bridge or sync
        self._doctor_tick(now)  # a read's press still held long enough becomes the doctor
        if self.stepper is not None:
            if self._step():  # one slice of the running session
                self._finish()
        elif not self._start_read_if_due(now) and not self._publish(now):
            clock.sleep_ms(5)  # nothing to do: let the CPU rest
        self.led.tick(clock.ticks_ms())

    def _start_read_if_due(self, now):
        """A button press or the logging interval starts a read (not while the host holds
        the channel: in bridge mode the host owns the meter line); False if none is due."""
        clock = self.hw.clock
        pressed = self.hw.button is not None and self.hw.button.poll(now)
        due = self._next_interval is not None and clock.diff(now, self._next_interval) >= 0
        if self.host_session or not (pressed or due):
            return False
        if due:
            self._next_interval = now + self.s["interval_s"] * 1000
        if self.begin_read() and pressed:
            self._held_since = now  # held LONG_PRESS_MS: the doctor (_doctor_tick)
        return True

    def _publish(self, now):
        """Between reads, the logger sends what the store holds (probe.uplink: deleted only
        after the broker's PUBACK); not while the host holds the channel (it may be syncing
        the same records). True if anything went out."""
        if self.uplink is None or self.host_session or not self.uplink.due(now):
            return False
        self._free_memory()  # a read just ended: its modules may go before the publishing
        sent = self.uplink.pump(now)
        if not self.uplink.pending():  # all out: the next read gets the heap back
            self.uplink.release()
            drop_modules(_UPLINK_MODULES)
            gc.collect()
        return sent > 0

    def _poll_server(self, now):
        if self.server is not None and not self._in_server:
            self._in_server = True
            try:
                self.host_session = bool(self.server.poll(now))
            finally:
                self._in_server = False

    def _step(self):
        """One session step; a bug in a protocol module ends the read, not the app."""
        try:
            return self.stepper.step(self.s["slice_ms"])
        except Exception as e:  # MemoryError too
            st = self.stepper
            if hasattr(st, "abort"):
                st.abort(e)  # the DISC (HDLC) or B0 (IEC programming) still goes out
            else:
                st.machine.done = True
                st.machine.error = e
            return True

    def _finish(self):
        """The session has ended: the doctor's ladder or a read."""
        if self.doctor is not None:
            from probe import doctor_job

            return doctor_job.finish(self)
        from probe import read_job

        return read_job.finish(self)

    def _doctor_tick(self, now):
        """While the press that started a read is held: the doctor (probe.doctor_job)."""
        if self.doctor is not None and self.stepper is None:
            self.doctor = None  # a fault ended the ladder (see _fault)
        if self._held_since is not None and self.hw.button is not None:
            from probe import doctor_job

            doctor_job.watch_press(self, now)

    # -- one read, the doctor: their lifecycles are probe.read_job and probe.doctor_job ----
    def begin_read(self, profile=None):
        """Start a meter session (the active profile, or the one named); False if one runs
        or it cannot start (then self.last says why)."""
        from probe import read_job

        return read_job.begin(self, profile)

    def begin_doctor(self, request=None, settle_ms=0):
        """Start the doctor; False if a read runs or the options are bad (self.last says)."""
        from probe import doctor_job

        return doctor_job.begin(self, request, settle_ms)

    def _report(self, outcome, reading, seq, message):
        self.last = {"outcome": outcome, "seq": seq, "reading": reading, "message": message}
        self.led.play(self._pattern(outcome, seq), self.hw.clock.ticks_ms())
        if self.hw.display is not None:
            from probe import display as displaymod

            self._show(displaymod.summary(outcome, reading, seq))

    def _pattern(self, outcome, seq):
        """The outcome's LED pattern; a stored reading with fewer than 5 % of the slots left
        shows "storage-low" instead of "success" (sync soon; probe.store status "low")."""
        if outcome != "success" or seq is None or not hasattr(self.store, "status"):
            return outcome
        try:
            return "storage-low" if self.store.status().get("low") else outcome
        except Exception:  # a statvfs that fails: the read itself went well
            return outcome

    def _show(self, lines):
        if self.hw.display is not None:
            try:
                self.hw.display.show(lines)
            except OSError:
                self.hw.display = None  # unplugged: carry on without it

    # -- faults and memory ---------------------------------------------------------------
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
                         "message": "internal error: %s" % describe(e)}
            log("the reader hit an error and carries on: %s" % describe(e), e,
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
        free = mem_free()
        if free is None or (not force and free >= LOW_MEMORY):
            return  # CPython (nothing to gain), or plenty of room
        if self.stepper is None:
            drop_modules(list(_DROP) + [
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

    # -- hooks for the USB command server (probe.usb) -------------------------------------
    def take_reading(self):
        """Read the meter now and return self.last when done (probe.read_job.take)."""
        from probe import read_job

        return read_job.take(self)

    def run_doctor(self, request=None):
        """The doctor to the end, for the host: its result dict (probe.doctor_job.run)."""
        from probe import doctor_job

        return doctor_job.run(self, request)

    def set_clock(self, time_s):
        """Set the real-time clock (record time stamps) from the host."""
        self.hw.clock.set_time_s(time_s)

    def bridge(self, data=b"", baud=None, fmt=None, listen_ms=0):
        """Transparent mode for a host-driven session (probe.bridge.exchange)."""
        if self.stepper is not None:
            raise LocalProtocolError("a read is running: try again when it has finished")
        from probe.bridge import exchange

        return exchange(self.hw.port, data, baud, fmt, listen_ms)


def mem_free():
    """Free heap in bytes (MicroPython), None on CPython."""
    fn = getattr(gc, "mem_free", None)
    return fn() if fn is not None else None


def drop_modules(names):
    """Forget modules, so their code can be freed (meterproto.compat.forget)."""
    forget(names)
