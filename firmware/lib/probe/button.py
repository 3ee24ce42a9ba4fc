# probe.button: a debounced push button read by polling (device side, no IRQ needed).
# A press counts once the contact has been closed and steady for settle_ms; it fires once
# and re-arms only after a steady release, so contact bounce never gives two readings.
from meterproto.compat import ticks_diff  # ticks wrap (2**30 ms on rp2): never subtract raw


class Debounced:
    def __init__(self, read_level, active_low=True, settle_ms=30):
        self.read_level = read_level  # callable -> 0/1 (e.g. Pin.value)
        self.active_low = active_low
        self.settle_ms = settle_ms
        self._raw = False
        self._since = 0
        self.pressed = False  # debounced state

    def poll(self, now_ms):
        """True exactly once per debounced press."""
        raw = bool(self.read_level()) != self.active_low
        if raw != self._raw:
            self._raw = raw
            self._since = now_ms
            return False
        if raw != self.pressed and ticks_diff(now_ms, self._since) >= self.settle_ms:
            self.pressed = raw
            return raw
        return False
