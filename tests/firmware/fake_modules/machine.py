# Fake machine module for tests (CPython and the MicroPython unix port): records what the
# firmware asks of the hardware. LOG collects (what, args) tuples in call order.
LOG = []
BUTTON_READS_LEFT = [None]  # set to an int: the n-th button read raises KeyboardInterrupt
BUTTON_PRESSES = []  # [(down_ms, up_ms)] on time.ticks_ms(): a pulled-up input reads 0 then
LINK = [None]  # a meterlink.Link: the UART then talks to a simulated meter
PIN_FAULT_AT = [None]  # set to an int: the n-th button read raises OSError (a loop fault)
TX_ROOM = [None]  # set to an int: write() takes at most that many bytes per call, like the
# rp2 UART with timeout=0 and a full TX ring buffer (a short count, None when it took none)
_FREQ = [125000000]


def freq(hz=None):
    if hz is not None:
        _FREQ[0] = hz
    return _FREQ[0]


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._v = 1 if pull == Pin.PULL_UP else 0
        LOG.append(("pin", (id, mode, pull)))

    def value(self, v=None):
        if v is None:
            if self.mode == Pin.IN and BUTTON_READS_LEFT[0] is not None:
                BUTTON_READS_LEFT[0] -= 1
                if BUTTON_READS_LEFT[0] < 0:
                    raise KeyboardInterrupt
            if self.mode == Pin.IN and PIN_FAULT_AT[0] is not None:
                PIN_FAULT_AT[0] -= 1
                if PIN_FAULT_AT[0] == 0:
                    raise OSError(5, "simulated pin fault")
            if self.mode == Pin.IN and self.pull == Pin.PULL_UP and BUTTON_PRESSES:
                import time

                t = time.ticks_ms()
                for down, up in BUTTON_PRESSES:
                    if down <= t < up:
                        return 0
            return self._v
        self._v = v
        LOG.append(("pin-value", (self.id, v)))


def unique_id():
    return b"\xe6\x61\x41\x03\xe7\x2b\x5a\x21"


class RTC:
    set_to = [None]

    def datetime(self, t=None):
        if t is not None:
            if len(t) != 8:
                raise ValueError("RTC.datetime takes an 8-tuple")
            RTC.set_to[0] = tuple(t)
        return RTC.set_to[0] or (2021, 1, 1, 4, 0, 0, 0, 0)


# The keywords ports/rp2/machine_uart.c accepts (anything else is a TypeError there too).
_UART_KW = ("baudrate", "bits", "parity", "stop", "tx", "rx", "cts", "rts", "txbuf", "rxbuf",
            "timeout", "timeout_char", "invert", "flow")


def _check_uart_kw(kw):
    for k in kw:
        if k not in _UART_KW:
            raise TypeError("unexpected keyword argument '%s'" % k)


class UART:
    INV_TX = 1
    INV_RX = 2

    def __init__(self, id, **kw):
        _check_uart_kw(kw)
        self.id = id
        self.kw = dict(kw)
        self.rx = bytearray()
        self.tx = bytearray()
        self.in_flight = 0  # bytes written but not yet "on the wire"
        self.link = LINK[0]
        LOG.append(("uart", (id, dict(kw))))
        self._line()

    def _line(self):
        if self.link is not None:
            kw = self.kw
            self.link.set_line(kw.get("baudrate", 9600), kw.get("bits", 8), kw.get("parity"))

    def init(self, **kw):
        if self.in_flight:
            raise AssertionError("UART re-initialised with %d bytes unsent" % self.in_flight)
        _check_uart_kw(kw)
        self.kw.update(kw)
        LOG.append(("init", dict(kw)))
        self._line()

    def deinit(self):
        raise AssertionError("deinit() called: init() would be impossible afterwards")

    def write(self, data):
        if TX_ROOM[0] is not None:
            data = bytes(data[:TX_ROOM[0]])
            if not data:
                return None
        self.tx.extend(data)
        self.in_flight += len(data)
        LOG.append(("write", bytes(data)))
        if self.link is not None:
            self.link.write(data)
        return len(data)

    def flush(self):
        self.in_flight = 0
        if self.link is not None:
            self.link.drain()  # the clock moves on until the last stop bit has left
        LOG.append(("flush", None))

    def txdone(self):
        return self.in_flight == 0

    def any(self):
        if self.link is not None:
            self.rx.extend(self.link.poll())
        return len(self.rx)

    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        buf[0:n] = self.rx[0:n]
        self.rx[0:n] = b""
        return n


class I2C:
    def __init__(self, id, sda=None, scl=None, freq=400000):
        self.id = id

    def scan(self):
        return []
