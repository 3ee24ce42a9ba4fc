# probe.led: status LED patterns as data, played without blocking (device side).
# One table serves a plain LED (on/off) and a NeoPixel (colour). docs/LED-PATTERNS.md
# describes them for users; keep the two in step.
from meterproto.compat import ticks_add, ticks_diff  # ticks wrap: never compare raw values

# How a read (or the doctor) ended; each outcome is also the name of its LED pattern.
SUCCESS = "success"
NO_ANSWER = "no-answer"
ECHO_ONLY = "echo-only"
ERROR = "error"
STORAGE_FULL = "storage-full"

# name -> (colour for a NeoPixel, (on_ms, off_ms, on_ms, off_ms, ...))
# Colours are dim (about 1/8 brightness): enough indoors, and easy on a small battery.
PATTERNS = {
    "ready": ((0, 0, 24), (60, 120, 60, 0)),                 # two blips at boot
    "busy": ((0, 0, 32), (100, 400)),                        # repeats while reading
    "success": ((0, 32, 0), (1500, 0)),                      # one long flash
    "no-answer": ((32, 0, 0), (200, 200, 200, 200, 200, 0)),  # three even blinks
    "echo-only": ((32, 20, 0), (80, 150, 600, 150, 80, 150, 600, 0)),  # short-long x2
    "error": ((32, 0, 0), (60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 0)),  # six fast
    "storage-full": ((24, 0, 24), (700, 300, 700, 300, 700, 0)),  # three long
    # stored, but fewer than 5 % of the slots are left (probe.store.status()["low"])
    "storage-low": ((24, 0, 24), (1500, 300, 150, 150, 150, 0)),  # long, two short
}
REPEATING = ("busy",)


class NoLed:
    """A board without a status LED."""

    def set(self, colour):
        pass


class PinLed:
    """A plain LED on a GPIO (or Pin("LED") on a Pico W)."""

    def __init__(self, pin, active_high=True):
        self.pin = pin
        self.active_high = active_high
        self.set(None)

    def set(self, colour):
        on = colour is not None
        self.pin.value(1 if on == self.active_high else 0)


class PixelLed:
    """One WS2812 (neopixel.NeoPixel object with one pixel)."""

    def __init__(self, np, order="GRB"):
        self.np = np
        self.swap = order == "RGB"  # the driver writes GRB; a RGB part needs R and G swapped
        self.set(None)

    def set(self, colour):
        if colour is None:
            colour = (0, 0, 0)
        if self.swap:
            colour = (colour[1], colour[0], colour[2])
        self.np[0] = colour
        self.np.write()


class Player:
    """Plays one pattern at a time on a driver with set(colour_or_None); call tick(now_ms)."""

    def __init__(self, driver):
        self.driver = driver
        self.name = None
        self._steps = ()
        self._colour = None
        self._i = 0
        self._next = 0
        self._lit = False

    def play(self, name, now_ms):
        colour, steps = PATTERNS[name]
        self._show(False)  # end the previous pattern's flash, so a new colour shows as new
        self.name = name
        self._colour = colour
        self._steps = steps
        self._i = 0
        self._apply(now_ms)

    def stop(self):
        self.name = None
        self._steps = ()
        self._show(False)

    def busy(self):
        """True while a pattern is still playing."""
        return self.name is not None

    def _show(self, lit):
        if lit != self._lit:
            self._lit = lit
            self.driver.set(self._colour if lit else None)

    def _apply(self, now_ms):
        # Even steps are "on", odd steps "off"; zero-length steps are skipped.
        while self._i < len(self._steps) and self._steps[self._i] == 0:
            self._i += 1
        if self._i >= len(self._steps):
            if self.name in REPEATING:
                self._i = 0
                self._apply(now_ms)
                return
            self.stop()
            return
        self._show(self._i % 2 == 0)
        self._next = ticks_add(now_ms, self._steps[self._i])

    def tick(self, now_ms):
        while self.name is not None and ticks_diff(now_ms, self._next) >= 0:
            start = self._next
            self._i += 1
            self._apply(start)
