# probe.hal_cp (CircuitPython UART port) against a fake busio, and probe.display.
import time

from meterproto.line import FMT_7E1, FMT_8N1
from probe import display, hal_cp


class _FakeBusio:
    class UART:
        class Parity:
            EVEN = "even"
            ODD = "odd"

        made = []

        def __init__(self, tx, rx, baudrate, bits, parity, stop, timeout, receiver_buffer_size):
            self.args = (baudrate, bits, parity)
            self.rx = bytearray()
            self.dead = False
            _FakeBusio.UART.made.append(self)

        @property
        def in_waiting(self):
            return len(self.rx)

        def readinto(self, buf):
            n = len(buf)
            buf[0:n] = self.rx[0:n]
            self.rx[0:n] = b""
            return n

        def write(self, data):
            return len(data)

        def deinit(self):
            self.dead = True


def test_cp_port_formats_and_baud_switch():
    _FakeBusio.UART.made = []
    p = hal_cp.UartPort(_FakeBusio, "GP0", "GP1")
    assert p.uart.args == (300, 7, "even")
    p.set_line(9600, FMT_7E1)  # same format: the baudrate property, no new UART
    assert len(_FakeBusio.UART.made) == 1 and p.uart.baudrate == 9600
    p.set_line(9600, FMT_8N1)  # bits/parity change: re-created
    assert len(_FakeBusio.UART.made) == 2 and _FakeBusio.UART.made[0].dead
    assert p.uart.args == (9600, 8, None)


def test_cp_drain_waits_for_bytes_in_flight():
    p = hal_cp.UartPort(_FakeBusio, "GP0", "GP1")
    p.set_line(19200, FMT_7E1)
    p.write(b"x" * 48)  # 48 chars x 10 bits at 19200 Bd = 25 ms on the wire
    t0 = time.monotonic()
    p.drain()
    assert time.monotonic() - t0 >= 0.020
    p.uart.rx.extend(b"abc")
    assert p.read(p.now_ms() + 100) == b"abc"


class _Oled:
    width = 128
    height = 32

    def __init__(self):
        self.rows = []

    def fill(self, c):
        self.rows = []

    def text(self, s, x, y, c):
        self.rows.append((y, s))

    def show(self):
        pass


def test_screen_clips_to_the_panel():
    o = _Oled()
    scr = display.Screen(o)
    scr.show(["SUCCESS", "12345678901234567890", "c", "d", "e"])
    assert o.rows == [(0, "SUCCESS"), (8, "1234567890123456"), (16, "c"), (24, "d")]


def test_summary_lines():
    reading = {"meter": {"id": "71234567"},
               "values": [{"obis": "1-0:1.8.0*255", "value": "0004321.9", "unit": "kWh"}]}
    assert display.summary("no-answer") == ["NO ANSWER"]
    assert display.summary("success", reading, 7) == ["SUCCESS", "71234567", "0004321.9 kWh", "#7"]


def test_no_display_without_driver_or_entry():
    assert display.make({"display": None}, None) is None
    try:
        import ssd1306  # noqa: F401
    except ImportError:
        spec = {"display": {"i2c": 0, "sda": 4, "scl": 5}}
        assert display.make(spec, None) is None
