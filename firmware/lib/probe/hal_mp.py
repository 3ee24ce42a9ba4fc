# probe.hal_mp: MicroPython rp2 hardware layer: the meter UART as a driver port, plus the
# board's LED, button, display and optional carrier (device side; docs/WIRING.md).
# Port contract (meterproto.driver): now_ms, write, drain, set_line, read(deadline_ms).
import time

from meterproto.compat import sleep_ms, ticks_diff, ticks_ms
from meterproto.line import FMT_7E1, FMT_8N1, FMT_8E1, wire_ms
from probe.heapmark import sample as heap_sample

RXBUF = 2048  # UART ring buffer (heap): ~1 s at 19200 Bd, ~2 s at 9600 Bd without a read
TXBUF = 512
CHUNK = 256  # most bytes taken from the ring buffer per read(): the driver loops anyway
_MAX_IDLE_MS = 5  # sleep slice while waiting for bytes (the ring buffer fills meanwhile)


def line_args(fmt):
    """machine.UART bits/parity for a line format. parity: None, 0 = even, 1 = odd."""
    if fmt == FMT_7E1:
        return 7, 0
    if fmt == FMT_8N1:
        return 8, None
    if fmt == FMT_8E1:
        return 8, 0
    raise ValueError("unknown line format %r" % fmt)


def char_gap_ms(baud):
    """timeout_char to pass explicitly: init() only ever raises it (to 13000/baud + 1)."""
    return 13000 // baud + 2


class UartPort:
    """The meter line on a hardware UART. Parity errors are not reported by the rp2 port,
    so the protocol's BCC/FCS is the only check (the rp2 UART drops parity errors silently)."""

    def __init__(self, machine, uart_id, tx, rx, invert_tx=False, invert_rx=False,
                 rxbuf=RXBUF, txbuf=TXBUF):
        UART = machine.UART
        inv = (UART.INV_TX if invert_tx else 0) | (UART.INV_RX if invert_rx else 0)
        self.baud = 300
        self.fmt = FMT_7E1
        self._rxbuf = rxbuf
        self._txbuf = txbuf
        bits, parity = line_args(FMT_7E1)
        self.uart = UART(uart_id, baudrate=300, bits=bits, parity=parity, stop=1,
                         tx=machine.Pin(tx), rx=machine.Pin(rx), invert=inv, rxbuf=rxbuf,
                         txbuf=txbuf, timeout=0, timeout_char=char_gap_ms(300))
        self._buf = bytearray(CHUNK)
        self._mv = memoryview(self._buf)
        self._last = ticks_ms()
        self._ms = 0
        self._fed = True  # the last read() returned bytes: sample the heap on the next one

    def now_ms(self):
        # An unbounded count built from tick differences: no wrap inside a session.
        t = ticks_ms()
        self._ms += ticks_diff(t, self._last)
        self._last = t
        return self._ms

    def write(self, data):
        # timeout=0 also applies to write(): with the TX ring buffer full it returns a short
        # count (or None) instead of waiting, so feed it until everything is queued.
        mv = memoryview(data)
        done = 0
        while done < len(mv):
            done += self.uart.write(mv[done:]) or 0
            if done < len(mv):
                sleep_ms(1 + 10000 // self.baud)  # room for about one character

    def drain(self):
        # flush() returns when the ring buffer, the FIFO and the shifter are empty (>= 1.24).
        if hasattr(self.uart, "flush"):
            self.uart.flush()
        else:  # older firmware: txdone() polling
            while not self.uart.txdone():
                sleep_ms(1)

    def set_line(self, baud, fmt):
        # init() resets the UART block and drops its FIFOs, so only after drain(); never
        # deinit(), which would make init() impossible afterwards. Up to 1.24, init() also
        # reset the ring buffers to 256 bytes unless sizes were given (micropython#16884).
        bits, parity = line_args(fmt)
        self.uart.init(baudrate=baud, bits=bits, parity=parity, stop=1, timeout=0,
                       timeout_char=char_gap_ms(baud), rxbuf=self._rxbuf, txbuf=self._txbuf)
        self.baud = baud
        self.fmt = fmt

    def read(self, deadline_ms):
        if self._fed:
            # The session has digested what the last read returned: its heap peaks now
            # (probe.heapmark), not while it waits for more.
            self._fed = False
            heap_sample()
        while True:
            n = self.uart.any()
            if n:
                if n > len(self._buf):
                    n = len(self._buf)
                got = self.uart.readinto(self._mv[0:n]) or 0
                self._fed = True
                return bytes(self._mv[0:got])
            now = self.now_ms()
            if now >= deadline_ms:
                return b""
            wait = deadline_ms - now
            sleep_ms(wait if wait < _MAX_IDLE_MS else _MAX_IDLE_MS)

    def wire_ms(self, nbytes):
        return wire_ms(nbytes, self.baud, self.fmt)


# Seconds from 1970-01-01 to the port's epoch: MicroPython ports count from 1970 or from
# 2000 (docs: time module, "Time Epoch"; gmtime(0)[0] tells which). Records and the host use
# Unix seconds.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


class Clock:
    """Ticks and sleep for the app; time_s() is the RTC for record time stamps (Unix s)."""

    def ticks_ms(self):
        return ticks_ms()

    def diff(self, a, b):
        return ticks_diff(a, b)

    def sleep_ms(self, ms):
        sleep_ms(ms)

    def time_s(self):
        return int(time.time()) + _EPOCH_OFFSET

    def set_time_s(self, t):
        import machine

        tm = time.gmtime(t - _EPOCH_OFFSET)
        # RTC.datetime: (year, month, day, weekday 0 = Monday, hour, minute, second, subsec)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))


class Hardware:
    """Everything the reader app needs, built from a board dict (probe.board)."""

    def __init__(self, board, machine=None):
        if machine is None:
            import machine
        from probe import button as buttonmod
        from probe import led as ledmod

        self.board = board
        u = board["uart"]
        self.port = UartPort(machine, u["id"], u["tx"], u["rx"], u.get("invert_tx", False),
                             u.get("invert_rx", False))
        self.clock = Clock()
        spec = board["led"]
        if spec["kind"] == "neopixel":
            import neopixel

            if spec.get("power") is not None:
                machine.Pin(spec["power"], machine.Pin.OUT).value(1)
            drv = ledmod.PixelLed(neopixel.NeoPixel(machine.Pin(spec["pin"]), 1),
                                  spec.get("order", "GRB"))
        elif spec["kind"] == "pin":
            drv = ledmod.PinLed(machine.Pin(spec["pin"], machine.Pin.OUT),
                                spec.get("active_high", True))
        else:
            drv = ledmod.NoLed()
        self.led = drv
        self.button = None
        b = board.get("button")
        if b is not None:
            pin = machine.Pin(b["pin"], machine.Pin.IN, machine.Pin.PULL_UP)
            self.button = buttonmod.Debounced(pin.value, b.get("active_low", True))
        self.display = None
        if board.get("display"):
            from probe import display as displaymod

            self.display = displaymod.make(board, machine)
        self.carrier = None
        c = board.get("carrier") or {}
        if c.get("enabled"):
            from probe.carrier import Carrier

            self.carrier = Carrier(c["pin"], u["tx"], machine=machine)
            self.carrier.start()
