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


class _ScriptPort:
    """A port that delivers (at_ms, bytes) chunks; reading past the last one just waits."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.now = 0
        self.written = b""

    def now_ms(self):
        return self.now

    def write(self, data):
        self.written += data

    def drain(self):
        pass

    def set_line(self, baud, fmt):
        pass

    def read(self, deadline_ms):
        if self.chunks and self.chunks[0][0] <= deadline_ms:
            at, data = self.chunks.pop(0)
            if at > self.now:
                self.now = at
            return data
        if deadline_ms > self.now:
            self.now = deadline_ms
        return b""


class _Short(Machine):
    """Sends b"ACK1", then takes whatever comes within 1000 ms as the answer."""

    def __init__(self):
        Machine.__init__(self)
        self.got = []

    def start(self, now_ms):
        self._send(b"ACK1", now_ms)
        self._deadline = 1000

    def receive(self, data, now_ms):
        self.got.append((bytes(data), now_ms))
        self._finish(b"".join(d for d, _ in self.got))

    def timeout(self, now_ms):
        self._fail(NoAnswer("nothing"))


def test_bytes_held_as_echo_go_to_the_machine_at_the_deadline():
    # The meter's answer "AC" starts like our own "ACK1": the echo filter holds it, and
    # nothing follows. At the deadline it is meter data, for run() and for step() alike.
    from meterproto.driver import Driver
    from meterproto.echo import EchoFilter

    m = _Short()
    assert run(m, _ScriptPort([(100, b"AC")]), echo=EchoFilter()) == b"AC"
    assert m.got == [(b"AC", 1000)]
    m = _Short()
    d = Driver(m, _ScriptPort([(100, b"AC")]), echo=EchoFilter())
    steps = 0
    while not d.step(20):  # the probe's way: slices of at most 20 ms
        steps += 1
    assert m.result == b"AC" and m.got == [(b"AC", 1000)] and steps >= 40
    assert d.rx_bytes == 2 and d.meter_bytes == 2 and d.sent == 4
    # Without a filter nothing is held: the bytes arrive at once.
    m = _Short()
    assert run(m, _ScriptPort([(100, b"AC")])) == b"AC" and m.got == [(b"AC", 100)]
    # A whole echo is dropped and counted, and then the machine times out.
    m = _Short()
    echo = EchoFilter()
    d = Driver(m, _ScriptPort([(10, b"ACK1")]), echo=echo)
    while not d.step(50):
        pass
    assert isinstance(m.error, NoAnswer) and echo.echo_bytes == 4 and d.meter_bytes == 0


def test_a_machine_without_a_deadline_fails_instead_of_hanging():
    from meterproto.driver import Driver
    from meterproto.errors import LocalProtocolError

    m = _Short()
    d = Driver(m, _ScriptPort([]))
    m._deadline = None
    assert d.step(20) and isinstance(m.error, LocalProtocolError) and "hang" in str(m.error)
