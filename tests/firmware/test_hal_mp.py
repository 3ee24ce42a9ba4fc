# probe.hal_mp against a fake machine module: UART arguments, the drain-then-init baud
# switch (never deinit), explicit timeout_char, inversion, and readinto-based reads.
import os
import sys

from meterproto.line import FMT_7E1, FMT_8N1
from meterproto.machine import Machine
from meterproto.driver import run
from probe import hal_mp, board
from fw_helpers import load_fake as _load_fake


fake_machine = _load_fake("machine")
fake_neopixel = _load_fake("neopixel")


def _port(**kw):
    del fake_machine.LOG[:]
    return hal_mp.UartPort(fake_machine, 0, 0, 1, **kw)


def test_opens_7e1_300_with_big_rx_buffer():
    p = _port()
    kw = p.uart.kw
    assert (kw["baudrate"], kw["bits"], kw["parity"], kw["stop"]) == (300, 7, 0, 1)
    assert 2048 <= kw["rxbuf"] <= 4096 and kw["invert"] == 0
    assert kw["timeout_char"] >= 13000 // 300 + 1


def test_inversion_flags():
    p = _port(invert_tx=True, invert_rx=True)
    assert p.uart.kw["invert"] == fake_machine.UART.INV_TX | fake_machine.UART.INV_RX
    p = _port(invert_rx=True)
    assert p.uart.kw["invert"] == fake_machine.UART.INV_RX


def test_line_formats():
    assert hal_mp.line_args(FMT_7E1) == (7, 0)
    assert hal_mp.line_args(FMT_8N1) == (8, None)
    try:
        hal_mp.line_args(9)
    except ValueError as e:
        assert "unknown line format" in str(e)
    else:
        raise AssertionError("bad format accepted")


class _SwitchAfterAck(Machine):
    """Sends an ACK at 300 Bd, then asks for 9600 8N1, then sends one more byte."""

    def start(self, now):
        self._send(b"\x06050\r\n", now)
        self._set_line(9600, FMT_8N1)
        self._send(b"X", now)
        self._finish("ok")

    def receive(self, data, now):
        pass

    def timeout(self, now):
        pass


def test_baud_switch_drains_then_inits_never_deinit():
    p = _port()
    assert run(_SwitchAfterAck(), p) == "ok"
    calls = [c[0] for c in fake_machine.LOG if c[0] in ("write", "flush", "init")]
    assert calls == ["write", "flush", "init", "write"]
    init = [c[1] for c in fake_machine.LOG if c[0] == "init"][0]
    assert (init["baudrate"], init["bits"], init["parity"]) == (9600, 8, None)
    # timeout_char is always passed: init() would otherwise keep the 300 Bd value (44 ms).
    assert init["timeout_char"] == 13000 // 9600 + 2
    assert p.baud == 9600 and p.fmt == FMT_8N1


def test_read_uses_the_preallocated_buffer_and_respects_deadline():
    p = _port()
    p.uart.rx.extend(b"/ABC5\r\n")
    assert p.read(p.now_ms() + 1000) == b"/ABC5\r\n"
    start = p.now_ms()
    assert p.read(start + 15) == b""
    assert p.now_ms() >= start + 15


def test_hardware_from_each_board_file(monkeypatch):
    import glob
    import json

    monkeypatch.setitem(sys.modules, "neopixel", fake_neopixel)  # hal_mp imports it by name

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for path in glob.glob(os.path.join(root, "boards", "*.json")):
        with open(path) as f:
            spec = board.check(json.load(f))
        hw = hal_mp.Hardware(spec, fake_machine)
        assert hw.port.uart.id == spec["uart"]["id"]
        assert hw.button is not None and hw.carrier is None
        hw.led.set((0, 32, 0))
        hw.led.set(None)
    # XIAO: the NeoPixel power pin is switched on.
    assert ("pin-value", (11, 1)) in fake_machine.LOG


def test_baud_switch_takes_a_smaller_ring_buffer_when_the_heap_has_no_piece():
    p = _port()
    real = p.uart.init
    tried = []

    def init(**kw):  # the rp2 port allocates rxbuf + 1 bytes in one piece
        tried.append(kw["rxbuf"])
        if kw["rxbuf"] > 512:
            raise MemoryError("memory allocation failed, allocating %d bytes" % (kw["rxbuf"] + 1))
        real(**kw)

    p.uart.init = init
    p.set_line(9600, FMT_8N1)
    assert tried == [2048, 1024, 512] and p.baud == 9600 and p.fmt == FMT_8N1
    tried[:] = []
    p.uart.init = lambda **kw: (tried.append(kw["rxbuf"]), _raise())
    try:
        p.set_line(300, FMT_7E1)
    except MemoryError:
        pass
    else:
        raise AssertionError("no UART, yet set_line went on")
    assert tried[-1] == 256 and p.baud == 9600  # the line settings did not change


def _raise():
    raise MemoryError("memory allocation failed")
