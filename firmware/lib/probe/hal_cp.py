# probe.hal_cp: CircuitPython hardware layer, best effort (device side; docs/ARCHITECTURE.md,
# "CircuitPython").
# busio.UART has no invert (do polarity in the driver circuit), no flush/txdone (sleep for
# the bytes in flight) and changes bits/parity only by re-creating the UART.
import time

from meterproto.line import FMT_7E1, FMT_8N1, FMT_8E1, wire_ms

RXBUF = 4096


def _ms():
    # supervisor.ticks_ms wraps at 2**29; monotonic_ns never wraps (CircuitPython has both).
    return time.monotonic_ns() // 1000000


class UartPort:
    def __init__(self, busio, tx, rx, rxbuf=RXBUF):
        self.busio = busio
        self.tx = tx
        self.rx = rx
        self.rxbuf = rxbuf
        self.baud = 300
        self.fmt = FMT_7E1
        self._buf = bytearray(rxbuf)
        self._mv = memoryview(self._buf)
        self._tx_end = 0  # ms when the last written byte has left the line
        self.uart = self._make(300, FMT_7E1)

    def _make(self, baud, fmt):
        P = self.busio.UART.Parity
        bits, parity = {FMT_7E1: (7, P.EVEN), FMT_8N1: (8, None), FMT_8E1: (8, P.EVEN)}[fmt]
        return self.busio.UART(self.tx, self.rx, baudrate=baud, bits=bits, parity=parity,
                               stop=1, timeout=0, receiver_buffer_size=self.rxbuf)

    def now_ms(self):
        return _ms()

    def write(self, data):
        # write() returns once the bytes are in the 32-byte FIFO, not on the wire: keep
        # our own estimate of when the last stop bit goes out.
        now = _ms()
        start = self._tx_end if self._tx_end > now else now
        self._tx_end = start + wire_ms(len(data), self.baud, self.fmt)
        self.uart.write(data)

    def drain(self):
        wait = self._tx_end - _ms()
        if wait > 0:
            time.sleep((wait + 1) / 1000)

    def set_line(self, baud, fmt):
        if fmt == self.fmt:
            self.uart.baudrate = baud  # keeps the FIFOs, no reset
        else:
            self.uart.deinit()  # bits/parity are fixed at construction in busio
            self.uart = self._make(baud, fmt)
        self.baud = baud
        self.fmt = fmt

    def read(self, deadline_ms):
        while True:
            n = self.uart.in_waiting
            if n:
                if n > len(self._buf):
                    n = len(self._buf)
                got = self.uart.readinto(self._mv[0:n]) or 0
                return bytes(self._mv[0:got])
            if _ms() >= deadline_ms:
                return b""
            time.sleep(0.002)


class Clock:
    def ticks_ms(self):
        return _ms()

    def diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        time.sleep(ms / 1000)

    def time_s(self):
        return int(time.time())

    def set_time_s(self, t):
        import rtc

        rtc.RTC().datetime = time.localtime(t)


class Hardware:
    """Board pins are CircuitPython pin names from `board` (e.g. board.GP0)."""

    def __init__(self, board_spec):
        import board as cpboard
        import busio
        import digitalio
        from probe import led as ledmod
        from probe import button as buttonmod

        def pin(n):
            return getattr(cpboard, "GP%d" % n) if isinstance(n, int) else getattr(cpboard, n)

        self.board = board_spec
        u = board_spec["uart"]
        self.port = UartPort(busio, pin(u["tx"]), pin(u["rx"]))
        self.clock = Clock()
        spec = board_spec["led"]
        if spec["kind"] == "neopixel":
            import neopixel

            if spec.get("power") is not None:
                pw = digitalio.DigitalInOut(pin(spec["power"]))
                pw.switch_to_output(value=True)
                self._power = pw
            self.led = ledmod.PixelLed(neopixel.NeoPixel(pin(spec["pin"]), 1, auto_write=False),
                                       "GRB")
        elif spec["kind"] == "pin" and spec["pin"] != "LED":
            io = digitalio.DigitalInOut(pin(spec["pin"]))
            io.switch_to_output()
            self.led = ledmod.PinLed(_CpPin(io), spec.get("active_high", True))
        else:
            self.led = ledmod.NoLed()
        self.button = None
        b = board_spec.get("button")
        if b is not None:
            io = digitalio.DigitalInOut(pin(b["pin"]))
            io.switch_to_input(pull=digitalio.Pull.UP)
            self.button = buttonmod.Debounced(lambda: io.value, b.get("active_low", True))
        self.display = None
        self.carrier = None


class _CpPin:
    """machine.Pin-like value() on a digitalio pin."""

    def __init__(self, io):
        self.io = io

    def value(self, v=None):
        if v is None:
            return self.io.value
        self.io.value = bool(v)
