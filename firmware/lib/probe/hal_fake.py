# probe.hal_fake: a hardware layer without hardware, for tests and the simulator (device
# layer stand-in; plain Python that runs on CPython and the MicroPython unix port).
# The meter port sits on a simulated-time line (irprobe.sim.vline.VirtualLine, passed in),
# and the clock IS that line's clock, so sleeping lets the simulated meter go on talking.


class FakeClock:
    """Simulated milliseconds. With a line attached, time is the line's time."""

    def __init__(self, start_ms=0, time_s0=1700000000):
        self.ms = start_ms
        self.time_s0 = time_s0
        self.port = None  # a FakePort whose line must follow the clock

    def ticks_ms(self):
        if self.port is not None:
            return self.port.now_ms()
        return self.ms

    def diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        if self.port is not None:
            self.port.idle_until(self.port.now_ms() + ms)
        else:
            self.ms += ms

    def time_s(self):
        return self.time_s0 + self.ticks_ms() // 1000

    def set_time_s(self, t):
        self.time_s0 = t - self.ticks_ms() // 1000


class FakePort:
    """The driver port (meterproto.driver) on a VirtualLine; records line changes."""

    def __init__(self, line):
        self.line = line
        self._pending = bytearray()  # bytes that arrived while the app slept
        self.lines = []  # (ms, baud, fmt) for every set_line
        self.written = bytearray()

    def now_ms(self):
        return self.line.now_ms()

    def write(self, data):
        self.written.extend(data)
        self.line.write(data)

    def drain(self):
        self.line.drain()

    def set_line(self, baud, fmt):
        self.lines.append((self.now_ms(), baud, fmt))
        self.line.set_line(baud, fmt)

    def read(self, deadline_ms):
        if self._pending:
            out = bytes(self._pending)
            self._pending = bytearray()
            return out
        return self.line.read(deadline_ms)

    def idle_until(self, t_ms):
        # Time passes on the line while nobody reads: keep what arrives, like a ring buffer.
        while self.line.now_ms() < t_ms:
            got = self.line.read(t_ms)
            if got:
                self._pending.extend(got)


class FakeLed:
    """Records every change as (ms, colour or None)."""

    def __init__(self, clock):
        self.clock = clock
        self.changes = []

    def set(self, colour):
        self.changes.append((self.clock.ticks_ms(), colour))

    def flashes(self):
        """(on_ms, colour) for each completed flash, in order."""
        out = []
        on_at = None
        colour = None
        for t, c in self.changes:
            if c is not None and on_at is None:
                on_at = t
                colour = c
            elif c is None and on_at is not None:
                out.append((t - on_at, colour))
                on_at = None
        return out


class FakeButton:
    """A button pressed at scripted times: presses = [(down_ms, up_ms), ...]. With bounce,
    each edge chatters for a few ms first, as a real contact does."""

    def __init__(self, clock, presses=(), bounce=False):
        self.clock = clock
        self.presses = list(presses)
        self.bounce = bounce

    def value(self):
        """Pin level with a pull-up: 0 while pressed."""
        t = self.clock.ticks_ms()
        for down, up in self.presses:
            if self.bounce:
                for edge in (down, up):
                    if edge <= t < edge + 6:
                        return (t - edge) % 2  # chatter for 6 ms after each edge
            if down <= t < up:
                return 0
        return 1

    def press_at(self, down_ms, hold_ms=120):
        self.presses.append((down_ms, down_ms + hold_ms))


class FakeScreen:
    def __init__(self):
        self.shown = []

    def show(self, lines):
        self.shown.append(list(lines))


class FakeHardware:
    """The same attributes as probe.hal_mp.Hardware: port, clock, led, button, display."""

    def __init__(self, line, presses=(), display=False, bounce=False, board=None):
        from probe.button import Debounced

        self.board = board
        self.port = FakePort(line)
        self.clock = FakeClock()
        self.clock.port = self.port
        self.led = FakeLed(self.clock)
        self.button_pin = FakeButton(self.clock, presses, bounce)
        self.button = Debounced(self.button_pin.value, True)
        self.display = FakeScreen() if display else None
        self.carrier = None
