# The driver contract and the simulated-time virtual line, on both runtimes.
from meterproto.driver import run, T_TX, T_RX
from meterproto.errors import NoAnswer
from meterproto.line import FMT_7E1, FMT_8N1, wire_ms
from meterproto.machine import Machine
from irprobe.sim.vline import VirtualLine, Faults


class _Parrot(Machine):
    """Meter stand-in: answers each CR LF-terminated line with it reversed after 200 ms."""

    def __init__(self):
        Machine.__init__(self)
        self.buf = b""
        self.pending = None

    def start(self, now_ms):
        self._deadline = None

    def receive(self, data, now_ms):
        self.buf += data
        if self.buf.endswith(b"\r\n"):
            self.pending = bytes(reversed(self.buf[:-2])) + b"\r\n"
            self.buf = b""
            self._deadline = now_ms + 200

    def timeout(self, now_ms):
        self._send(self.pending, now_ms)
        self._deadline = None


class _Ask(Machine):
    """Client stand-in: sends a line, waits for one line back, or fails after 1500 ms."""

    def __init__(self, text):
        Machine.__init__(self)
        self.text = text
        self.buf = b""

    def start(self, now_ms):
        end = self._send(self.text, now_ms)
        self._deadline = end + 1500

    def receive(self, data, now_ms):
        self.buf += data
        if self.buf.endswith(b"\n"):  # LF: 0x0A has even parity, so it survives 7E1 vs 8N1
            self._finish((self.buf, now_ms))

    def timeout(self, now_ms):
        self._fail(NoAnswer("no answer within 1500 ms"))


def test_round_trip_in_simulated_time_is_exact_wire_time():
    line = VirtualLine(_Parrot(), baud=300, fmt=FMT_7E1)
    trace = []
    answer, t = run(_Ask(b"/?!\r\n"), line, trace=trace)
    assert answer == b"!?/\r\n"
    # 5 chars out, 200 ms reaction, 5 chars back: 10 x 10 bits at 300 baud + 200 ms.
    # Machines see whole milliseconds, so allow the 1 ms of flooring.
    assert abs(t - ((10 * 10 * 1000) // 300 + 200)) <= 1, t
    assert trace[0][1] == T_TX and trace[-1][1] == T_RX


def test_silent_meter_times_out_without_hanging():
    line = VirtualLine(_Parrot(), faults=Faults(unpowered=True))
    try:
        run(_Ask(b"/?!\r\n"), line)
    except NoAnswer:
        assert line.now_ms() == wire_ms(5, 300) + 1500
    else:
        raise AssertionError("expected NoAnswer")


def test_7e1_read_as_8n1_shows_parity_in_bit_7():
    line = VirtualLine(_Parrot(), baud=300, fmt=FMT_8N1, meter_fmt=FMT_7E1)
    answer, _ = run(_Ask(b"/?!\r\n"), line)
    # '!' 0x21 has even parity bit 0; '?' 0x3F has 6 ones -> 0; '/' 0x2F has 5 ones -> 1.
    assert answer == bytes((0x21, 0x3F, 0xAF, 0x8D, 0x0A)), answer


def test_echo_fault_returns_our_own_bytes_first():
    line = VirtualLine(_Parrot(), faults=Faults(echo=True))
    answer, _ = run(_Ask(b"AB\r\n"), line)
    assert answer == b"AB\r\n"


class _SwitchThenSend(Machine):
    """Meter side: on any byte, switch to 9600 and answer in the same batch of actions."""

    def start(self, now_ms):
        self._deadline = None

    def receive(self, data, now_ms):
        self._set_line(9600, FMT_7E1)
        self._send(b"OK\r\n", now_ms)


def test_meter_send_after_set_line_goes_out_at_the_new_baud():
    line = VirtualLine(_SwitchThenSend(), baud=300)

    class _Hello(_Ask):
        def start(self, now_ms):
            end = self._send(b"x", now_ms)
            self._set_line(9600, FMT_7E1)
            self._deadline = end + 1500

    answer, _ = run(_Hello(b""), line)
    assert answer == b"OK\r\n"
    assert line.log[-1][4] == 9600
