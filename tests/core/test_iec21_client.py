# The IEC 62056-21 client against a small scripted meter on the simulated-time virtual line.
# The meter here is deliberately minimal (the full simulator lives in irprobe.sim); it only
# follows the message sequence of clause 6.4 with knobs for the faults a test needs.
from meterproto.iec import msg as m
from meterproto.driver import run, T_TX, T_RX
from meterproto.errors import ChecksumError, LocalProtocolError, NoAnswer, Refused
from meterproto.iec.client import IecClient
from meterproto.line import FMT_7E1, FMT_8N1, wire_ms
from meterproto.machine import Machine
from irprobe.sim.vline import VirtualLine, Faults

READOUT = ("0.0.0(12345678)\r\n1.8.0(001234.567*kWh)\r\n2.8.0(000001.000*kWh)\r\n"
           "1.6.1(27.19*kW)(1702090945)\r\nF.F(00000000)\r\n!\r\n")
PROFILE_BLOCKS = ("P.01(2240228234500)(00000000)(15)(1)(1.5.0)(kW)\r\n(0.120)\r\n",
                  "(0.130)\r\n(0.140)\r\n")


class _Meter(Machine):
    """Scripted meter. Knobs: ident, react (ms), broken (bauds it cannot switch to: it stays
    at 300), bad_bcc (how many data messages go out with a wrong BCC), password, registers,
    mode_e, silent_after_p1, wake (NULs needed before it listens)."""

    def __init__(self, ident=b"/LGZ5ZMD120\r\n", react=200, broken=(), bad_bcc=0,
                 password=None, registers=None, readout=READOUT, wake=0, no_ident=False,
                 nak_wrong_password=False):
        Machine.__init__(self, 300, FMT_7E1)
        self.ident = ident
        self.react = react
        self.broken = broken
        self.bad_bcc = bad_bcc
        self.password = password
        self.registers = registers or {}
        self.readout = readout
        self.wake = wake
        self.no_ident = no_ident
        self.nak_wrong_password = nak_wrong_password  # NAK, not a break (some meters)
        self.f = m.Framer()
        self.got = []  # every message received, as raw bytes
        self.todo = []  # (at_ms, action) pairs, in time order
        self.last = None
        self.nuls = 0
        self.awake_at = None
        self.blocks = []
        self.switched = []

    def start(self, now_ms):
        self._deadline = None

    def _later(self, now, what):
        self.todo.append((now + self.react, what))
        self._deadline = self.todo[0][0]

    def receive(self, data, now_ms):
        if self.wake:
            self.nuls += data.count(b"\x00")
            if self.nuls < self.wake:
                return  # asleep: only a long NUL train wakes it
            if self.awake_at is None:
                self.awake_at = now_ms
        for x in self.f.feed(data):
            self.got.append(x.raw)
            self._on(x, now_ms)

    def _on(self, x, now):
        if x.kind == m.M_REQUEST:
            if self.no_ident:
                self._later(now, ("data", self.readout))
            else:
                self._later(now, ("ident", None))
        elif x.kind == m.M_OPTION:
            v, z, y = chr(x.body[0]), chr(x.body[1]), chr(x.body[2])
            baud = m.baud_for_char(z)[1]
            if baud in self.broken:
                return  # it never gets there: silence at the new rate
            fmt = FMT_8N1 if v == "2" else FMT_7E1
            self._set_line(baud, fmt)
            self.switched.append((baud, fmt))
            if v == "2":
                return
            if y == "1":
                self._later(now, ("send", m.command("P", "0", "(87654321)")))
            else:
                self._later(now, ("data", self.readout))
        elif x.kind == m.M_NAK:
            self._later(now, ("send", self.last))  # repeat the last message as it was meant
        elif x.kind == m.M_ACK:
            if self.blocks:
                self._later(now, ("block", None))
        elif x.kind == m.M_COMMAND:
            cd, data = m.split_command(x.body)
            if cd == "B0":
                self._set_line(300, FMT_7E1)
            elif cd == "P1":
                ok = data == "(" + (self.password or "") + ")"
                no = b"\x15" if self.nak_wrong_password else m.BREAK
                self._later(now, ("send", b"\x06" if ok else no))
            elif cd == "R1":
                addr = data[:data.find("(")]
                val = self.registers.get(addr)
                self._later(now, ("data", "(ERROR)" if val is None else "(" + val + ")"))
            elif cd == "W1":
                self._later(now, ("send", b"\x06"))
            elif cd == "R5":
                self.blocks = list(PROFILE_BLOCKS)
                self._later(now, ("block", None))

    def timeout(self, now_ms):
        while self.todo and self.todo[0][0] <= now_ms:
            what, arg = self.todo.pop(0)[1]
            if what == "ident":
                end = self._send(self.ident, now_ms)
                if m.parse_identification(self.ident).mode == "A":
                    self.todo.append((end, ("data", self.readout)))  # mode A: data follows
                else:
                    self.f.option_after_ack = True
            elif what == "data":
                self._out(m.data_message(arg), now_ms)
            elif what == "block":
                blk = self.blocks.pop(0)
                self._out(m.data_message(blk, m.EOT if self.blocks else m.ETX), now_ms)
            else:
                self._out(arg, now_ms)
        self._deadline = self.todo[0][0] if self.todo else None

    def _out(self, msg, now_ms):
        self.last = msg
        if self.bad_bcc and msg[0] == m.STX:
            self.bad_bcc -= 1
            msg = msg[:-1] + bytes((msg[-1] ^ 0x11,))  # damaged on the way
        self._send(msg, now_ms)


def _run(client, meter, faults=None):
    line = VirtualLine(meter, faults=faults)
    trace = []
    r = run(client, line, trace=trace)
    return r, line, trace


def test_mode_c_readout_at_9600_is_within_5_percent_of_wire_time():
    meter = _Meter(ident=b"/LGZ5ZMD120\r\n", react=200)
    c = IecClient(max_baud=19200)
    r, line, trace = _run(c, meter)
    assert r.mode == "C" and r.baud == 9600 and r.meter_id == "12345678"
    assert r.manufacturer == "LGZ" and r.ident == "LGZ5ZMD120"
    assert r.get("1.8.0").value == "001234.567" and r.get("1-0:1.8.0*255").unit == "kWh"
    assert r.get("1.6.1").time == "1702090945"
    assert meter.got[1] == b"\x06050\r\n" and meter.switched == [(9600, FMT_7E1)]
    # Bound: every byte's wire time, the meter's two reactions and our minimum reaction.
    frame = m.data_message(READOUT)
    bound = (wire_ms(5 + len(meter.ident) + 6, 300) + wire_ms(len(frame), 9600)
             + 200 + 200 + 200)
    t = line.now_ms()
    assert bound <= t + 2 and t <= bound * 105 // 100, (t, bound)
    assert c.retries_used == 0 and not c.notes


def test_fast_reaction_flag_and_configured_reaction_and_stay_300():
    meter = _Meter(ident=b"/ISk5MT174-0001\r\n")
    c = IecClient()
    r, line, trace = _run(c, meter)
    # The option select leaves 20 ms after the identification's last byte (lower-case k).
    t_ident = wire_ms(5 + len(meter.ident), 300) + 200
    tx = [e for e in trace if e[1] == T_TX]
    assert tx[1][2] == b"\x06050\r\n" and abs(tx[1][0] - (t_ident + 20)) <= 3, tx[1]
    c = IecClient(reaction_ms=300, stay_300=True)
    r, line, trace = _run(c, _Meter(ident=b"/ISk5MT174-0001\r\n"))
    tx = [e for e in trace if e[1] == T_TX]
    assert tx[1][2] == b"\x06000\r\n" and abs(tx[1][0] - (t_ident + 300)) <= 3
    assert r.baud == 300 and r.meter_id == "12345678"


def test_max_baud_cap_and_step_down_after_a_failed_switch():
    meter = _Meter(ident=b"/LGZ6ZMD\r\n", broken=(9600,))
    c = IecClient(max_baud=9600, retries=2)
    r, line, trace = _run(c, meter)
    assert r.baud == 4800 and c.retries_used == 1
    assert meter.got.count(b"/?!\r\n") == 2
    assert b"\x06050\r\n" in meter.got and b"\x06040\r\n" in meter.got
    assert "retrying at 4800 baud" in c.notes[0] and r.notes == c.notes


def test_silent_meter_gives_plain_words_and_never_hangs():
    c = IecClient(retries=1)
    try:
        _run(c, _Meter(), Faults(unpowered=True))
    except NoAnswer as e:
        assert "no identification within 1.5 s after the sign-on at 300 baud 7E1" in e.args[0]
        assert c.retries_used == 1
    else:
        raise AssertionError("expected NoAnswer")


def test_bad_bcc_is_naked_and_repeated_then_checksum_error():
    meter = _Meter(bad_bcc=2)
    r, line, trace = _run(IecClient(), meter)
    assert meter.got.count(b"\x15") == 2 and r.get("1.8.0").value == "001234.567"
    meter = _Meter(bad_bcc=10)
    try:
        _run(IecClient(retries=0), meter)  # with retries left it signs on again (see below)
    except ChecksumError as e:
        assert "BCC" in e.args[0] and meter.got.count(b"\x15") == 3
    else:
        raise AssertionError("expected ChecksumError")


def test_mode_e_offer_hands_over_and_falls_back_to_c():
    meter = _Meter(ident=b"/LGZ5\\2ZMD120\r\n")
    c = IecClient(mode_e=True)
    r, line, trace = _run(c, meter)
    assert r.mode == "E" and c.handover == (9600, FMT_8N1) and r.baud == 9600
    assert meter.got[1] == b"\x06252\r\n" and meter.switched == [(9600, FMT_8N1)]
    assert line.client.fmt == FMT_8N1 and line.client.baud == 9600
    c = IecClient(mode_e=True)
    r, line, trace = _run(c, _Meter(ident=b"/LGZ5ZMD120\r\n"))
    assert r.mode == "C" and c.handover is None and "mode E" in c.notes[0]


def test_mode_a_and_b_and_missing_identification():
    r, line, trace = _run(IecClient(), _Meter(ident=b"/KAM 685-382-QR-10\r\n"))
    assert r.mode == "A" and r.baud == 300 and r.get("1.8.0") is not None

    class _ModeB(_Meter):
        def timeout(self, now_ms):
            if self.todo and self.todo[0][1][0] == "ident":
                _Meter.timeout(self, now_ms)
                self._set_line(4800, FMT_7E1)  # mode B: switch after the ident, no ACK
                self._later(self.tx_end_ms(), ("data", self.readout))
                return
            _Meter.timeout(self, now_ms)

    r, line, trace = _run(IecClient(), _ModeB(ident=b"/ABCDMETER\r\n"))
    assert r.mode == "B" and r.baud == 4800 and r.get("2.8.0").value == "000001.000"
    c = IecClient()
    r, line, trace = _run(c, _Meter(no_ident=True))
    assert r.meter_id == "12345678" and "without an identification" in c.notes[0]


def test_programming_mode_password_reads_writes_and_break():
    meter = _Meter(password="00000000", registers={"1.8.0": "000123.4*kWh",
                                                   "0.9.1": "123000"})
    c = IecClient(password="00000000", commands=[("R1", "1.8.0()"), ("R1", "9.9.9()"),
                                                 ("W1", "0.9.1(120000)"), ("R1", "0.9.1()")])
    r, line, trace = _run(c, meter)
    assert meter.got[1] == b"\x06051\r\n"
    assert m.command("P", "1", "(00000000)") in meter.got
    assert meter.got[-1] == m.BREAK and c.operand == "(87654321)"
    assert r.get("1.8.0").value == "000123.4" and r.get("1.8.0").unit == "kWh"
    assert r.get("0.9.1").value == "123000" and r.get("9.9.9") is None
    assert "9.9.9(): the meter answered (ERROR)" in " ".join(c.notes)
    assert r.meter_id == "ZMD120"
    # Every message of ours answers the meter's last character after tr = 200 ms (LGZ).
    last_rx = None
    for t, kind, data in trace:
        if kind == T_RX:
            last_rx = t
        elif kind == T_TX and last_rx is not None:
            assert 200 <= t - last_rx <= 201, (t - last_rx, data)


def test_wrong_password_is_refused_in_plain_words():
    meter = _Meter(password="secret")
    try:
        _run(IecClient(password="guess", commands=[("R1", "1.8.0()")]), meter)
    except Refused as e:
        assert "wrong password" in e.args[0]
    else:
        raise AssertionError("expected Refused")


def test_load_profile_with_partial_blocks():
    meter = _Meter()
    c = IecClient(load_profile=("2240228234500", "2240229001500"))
    r, line, trace = _run(c, meter)
    want = m.command("R", "5", "P.01(2240228234500;2240229001500)")
    assert want in meter.got and meter.got.count(b"\x06") == 1
    p = r.profiles[0]
    assert [row["values"] for row in p["rows"]] == [["0.120"], ["0.130"], ["0.140"]]
    assert p["rows"][2]["time"] == "2240229001500"


def test_wakeup_train_then_pause_then_sign_on():
    meter = _Meter(wake=60)
    c = IecClient(wakeup="standard")
    r, line, trace = _run(c, meter)
    tx = [e for e in trace if e[1] == T_TX]
    assert tx[0][2] == bytes(66) and tx[1][2] == b"/?!\r\n"
    assert tx[1][0] == wire_ms(66, 300) + 1600, tx[1][0]
    assert r.get("1.8.0") is not None
    try:
        _run(IecClient(retries=0), _Meter(wake=60))
    except NoAnswer:
        pass
    else:
        raise AssertionError("a sleeping meter answered without a wake-up")
    r, line, trace = _run(IecClient(wakeup=(40, 1500)), _Meter(wake=30))
    assert [e for e in trace if e[1] == T_TX][0][2] == bytes(40)


def test_bad_options_are_refused_before_the_session():
    for kw in ({"max_baud": 115200}, {"address": "a!"}, {"wakeup": "loud"},
               {"wakeup": (0, 10)}, {"reaction_ms": 5000}, {"commands": [("R", "x")]},
               {"load_profile": ("only one",)}):
        try:
            IecClient(**kw)
        except LocalProtocolError:
            pass
        else:
            raise AssertionError("accepted %r" % (kw,))


def test_sign_on_with_address():
    meter = _Meter()
    r, line, trace = _run(IecClient(address="12345678"), meter)
    assert meter.got[0] == b"/?12345678!\r\n"


class _Pusher(Machine):
    """Mode D / P1 meter: pushes the given telegrams every `every` ms, starting at 300 ms."""

    def __init__(self, telegrams, baud, fmt, every=1000):
        Machine.__init__(self, baud, fmt)
        self.telegrams = list(telegrams)
        self.every = every

    def start(self, now_ms):
        self._deadline = now_ms + 300

    def receive(self, data, now_ms):
        pass

    def timeout(self, now_ms):
        if self.telegrams:
            self._send(self.telegrams.pop(0), now_ms)
            self._deadline = now_ms + self.every
        else:
            self._deadline = None


def _p1(body, crc=True):
    from meterproto.iec.data import crc16_arc
    raw = ("/XMX5LGBBFFB231314239\r\n\r\n" + body + "!").encode()
    if crc:
        raw += ("%04X" % crc16_arc(raw)).encode()
    return raw + b"\r\n"


P1_BODY = "0-0:96.1.1(4530303331)\r\n1-0:1.8.1(000123.456*kWh)\r\n1-0:1.7.0(00.191*kW)\r\n"


def test_mode_d_p1_push_with_crc_and_a_damaged_first_telegram():
    good = _p1(P1_BODY)
    bad = bytearray(good)
    bad[30] ^= 0x01
    meter = _Pusher([b"1-0:1.8.1(0" + b"\r\n", bytes(bad), good], 115200, FMT_8N1)
    c = IecClient(push=True, push_baud=115200, push_fmt=FMT_8N1)
    r, line, trace = _run(c, meter)
    assert r.mode == "D" and r.baud == 115200 and r.manufacturer == "XMX"
    assert r.get("1-0:1.8.1*255").value == "000123.456" and r.meter_id == "4530303331"
    assert "CRC did not match" in c.notes[0]
    assert line.now_ms() < 300 + 2 * 1000 + 20  # the third telegram ended the session


def test_mode_d_iec_block_and_silence():
    tele = b"/LGZ4ZMD\r\n" + m.data_message(READOUT)
    meter = _Pusher([tele], 2400, FMT_7E1)
    r, line, trace = _run(IecClient(push=True), meter)
    assert r.mode == "D" and r.baud == 2400 and r.meter_id == "12345678"
    c = IecClient(push=True, listen_ms=3000)
    try:
        _run(c, _Pusher([], 2400, FMT_7E1))
    except NoAnswer as e:
        assert "no telegram within 3 s at 2400 baud 7E1" in e.args[0]
    else:
        raise AssertionError("expected NoAnswer")


def test_echo_of_our_own_light_is_ignored():
    meter = _Meter()
    r, line, trace = _run(IecClient(password="00000000", commands=[("R1", "1.8.0()")]),
                          _Meter(password="00000000", registers={"1.8.0": "7*kWh"}),
                          Faults(echo=True))
    assert r.get("1.8.0").value == "7"
    r, line, trace = _run(IecClient(), meter, Faults(echo=True))
    assert r.get("1.8.0").value == "001234.567"


def test_data_stopping_half_way_is_reported():
    class _Cut(_Meter):
        def _out(self, msg, now_ms):
            _Meter._out(self, msg[:len(msg) // 2] if msg[0] == m.STX else msg, now_ms)

    c = IecClient(retries=0)
    try:
        _run(c, _Cut())
    except NoAnswer as e:
        assert "stopped half-way" in e.args[0] and "9600" in e.args[0]
    else:
        raise AssertionError("expected NoAnswer")


def test_client_fed_directly_in_any_chunking():
    from irprobe.sim.rng import Rng
    rng = Rng(11)
    ident = b"/LGZ5ZMD120\r\n"
    frame = m.data_message(READOUT)
    for how in ("whole", "bytes", "random", "random"):
        c = IecClient()
        c.start(0)
        acts = []
        a = c.next_action()
        while a is not None:
            acts.append(a)
            a = c.next_action()
        assert acts[-1] == (1, b"/?!\r\n")
        t = 500
        for data in (ident, frame):
            i = 0
            while i < len(data):
                n = len(data) if how == "whole" else (1 if how == "bytes" else 1 + rng.below(9))
                c.receive(data[i:i + n], t)
                i += n
                t += 1
            if data is ident:
                # our reaction time before the ACK, +1 for the ms the floored clock hides
                assert c.deadline_ms() == t - 1 + 200 + 1
                c.timeout(c.deadline_ms())
                t = c.deadline_ms() - 1000
        assert c.done and c.error is None, (how, c.error)
        assert c.result.get("1.8.0").value == "001234.567"


def test_listener_fed_directly_in_any_chunking():
    from irprobe.sim.rng import Rng
    from meterproto.iec.push import IecListener
    rng = Rng(5)
    stream = b"\x00noise\r\n" + _p1(P1_BODY)
    for how in ("whole", "bytes", "random", "random"):
        li = IecListener(115200, FMT_8N1, listen_ms=5000)
        li.start(0)
        assert li.next_action() == (2, 115200, FMT_8N1) and li.deadline_ms() == 5000
        i = 0
        while i < len(stream):
            n = len(stream) if how == "whole" else (1 if how == "bytes" else 1 + rng.below(9))
            li.receive(stream[i:i + n], 10 + i)
            i += n
        assert li.done and li.error is None, (how, li.error)
        assert li.result.get("1-0:1.7.0*255").value == "00.191"
        assert li.result.ident == "XMX5LGBBFFB231314239"


def test_every_command_refused_and_ack_only_reads_are_explained():
    meter = _Meter(password="pw", registers={})
    try:
        _run(IecClient(password="pw", commands=[("R1", "1.8.0()"), ("R1", "2.8.0()")]), meter)
    except Refused as e:
        assert "refused every command" in e.args[0] and "2.8.0()" in e.args[0]
    else:
        raise AssertionError("expected Refused")

    class _Emh(_Meter):
        def _on(self, x, now):
            if x.kind == m.M_COMMAND and m.split_command(x.body)[0] == "R1":
                self._later(now, ("send", b"\x06"))
                return
            _Meter._on(self, x, now)

    trace = []
    try:
        run(IecClient(commands=[("R1", "1.8.0()"), ("B0", None)]), VirtualLine(_Emh()),
            trace=trace)
    except NoAnswer as e:
        assert "acknowledged R1 1.8.0() but sent no data" in e.args[0]
        assert trace[-1][1:] == (T_TX, m.BREAK)  # the session is still closed properly
    else:
        raise AssertionError("expected NoAnswer")
