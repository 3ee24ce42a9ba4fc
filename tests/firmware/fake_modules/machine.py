# Fake machine module for tests (CPython and the MicroPython unix port): records what the
# firmware asks of the hardware. LOG collects (what, args) tuples in call order.
LOG = []
BUTTON_READS_LEFT = [None]  # set to an int: the n-th button read raises KeyboardInterrupt
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
            return self._v
        self._v = v
        LOG.append(("pin-value", (self.id, v)))


class UART:
    INV_TX = 1
    INV_RX = 2

    def __init__(self, id, **kw):
        self.id = id
        self.kw = dict(kw)
        self.rx = bytearray()
        self.tx = bytearray()
        self.in_flight = 0  # bytes written but not yet "on the wire"
        LOG.append(("uart", (id, dict(kw))))

    def init(self, **kw):
        if self.in_flight:
            raise AssertionError("UART re-initialised with %d bytes unsent" % self.in_flight)
        self.kw.update(kw)
        LOG.append(("init", dict(kw)))

    def deinit(self):
        raise AssertionError("deinit() called: init() would be impossible afterwards")

    def write(self, data):
        self.tx.extend(data)
        self.in_flight += len(data)
        LOG.append(("write", bytes(data)))
        return len(data)

    def flush(self):
        self.in_flight = 0
        LOG.append(("flush", None))

    def txdone(self):
        return self.in_flight == 0

    def any(self):
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
