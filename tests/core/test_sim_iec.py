# The simulated IEC 62056-21 meters (irprobe.sim) read back to back by the real client
# (meterproto.iec.client) over the simulated-time virtual line, on both runtimes.
from meterproto.driver import run
from meterproto.errors import ChecksumError, NoAnswer, ProtocolError, Refused
from meterproto.iec.client import IecClient
from meterproto.line import FMT_7E1
from meterproto.machine import Machine
from irprobe.sim import profiles
from irprobe.sim.iec_meter import IecMeter
from irprobe.sim.iec_text import frame, STX
from irprobe.sim.vline import Faults, VirtualLine


def _iec_names():
    return [n for n in profiles.list_profiles()
            if profiles.get_profile(n)["protocol"] == "iec62056-21"]


def _values(reading):
    return [{"obis": v.obis, "value": v.value, "unit": v.unit} for v in reading.values]


def _read(profile, faults=None, **opts):
    o = profiles.client_options(profile)
    o.update(opts)
    line = VirtualLine(profiles.make_meter(profile), faults=faults)
    return run(IecClient(**o), line), line


def _copy(name, **changes):
    p = dict(profiles.get_profile(name))
    p.update(changes)
    return p


def test_profiles_are_complete_and_realistic():
    names = _iec_names()
    for want in ("lgz-zmd", "iskra-mt174", "elster-as1440", "mode-a", "mode-b", "mode-d",
                 "battery", "prog-lp", "slow"):
        assert want in names, want
    for n in names:
        p = profiles.get_profile(n)
        for key in ("mode", "max_baud", "reaction_ms", "wakeup", "password", "expected"):
            assert key in p, (n, key)
        assert 20 <= len(p["data"]) <= 60, (n, len(p["data"]))  # data lines
        assert len(p["expected"]) >= len(p["data"])
        assert [e for e in p["expected"] if e["unit"] is None], n  # a value without unit
    assert profiles.get_profile("slow")["reaction_ms"] >= 1400
    assert profiles.get_profile("battery")["wakeup"] == "standard"
    assert profiles.get_profile("iskra-mt174")["manufacturer"] == "ISk"
    try:
        profiles.get_profile("no-such-meter")
    except KeyError as e:
        assert "lgz-zmd" in str(e)
    else:
        raise AssertionError("unknown profile accepted")


def test_canonical_obis_of_iec_addresses():
    c = profiles.canon
    assert c("1.8.0") == "1-0:1.8.0*255"
    assert c("32.7") == "1-0:32.7.0*255"
    assert c("F.F") == "0-0:97.97.0*255"
    assert c("C.1.0") == "0-0:96.1.0*255"
    assert c("1.8.0*03") == "1-0:1.8.0*3"
    assert c("1-0:1.8.0*255") == "1-0:1.8.0*255"
    assert c("1.6.1&02") == "1-0:1.6.1*255"
    assert c("F") == "F"


def test_every_iec_profile_reads_back_its_expected_values():
    for name in _iec_names():
        p = profiles.get_profile(name)
        r, line = _read(p)
        assert _values(r) == p["expected"], name
        assert r.protocol == "iec62056-21"
        assert r.mode == p["mode"], (name, r.mode)
        assert r.baud == p["max_baud"] if p["mode"] != "A" else r.baud == 300, (name, r.baud)
        ident = p["manufacturer"] + p["baud_char"]
        assert r.ident.startswith(ident) and r.ident.endswith(p["ident_text"]), r.ident
        assert r.meter_id is not None
        # exact wire time: the readout alone takes at least its size at the final rate
        assert line.now_ms() < 60000, (name, line.now_ms())


def test_client_lower_max_baud_is_honoured_by_the_meter():
    p = profiles.get_profile("lgz-zmd")
    r, _ = _read(p, max_baud=2400)
    assert r.baud == 2400 and _values(r) == p["expected"]


def test_fast_meter_reacts_in_20_ms_and_slow_meter_in_1450_ms():
    for name, low, high in (("iskra-mt174", 15, 60), ("slow", 1400, 1500)):
        meter = profiles.make_meter(name)
        line = VirtualLine(meter)
        trace = []
        run(IecClient(), line, trace=trace)
        sent_end = None
        for t, kind, data in trace:
            if kind == ">" and sent_end is None:
                sent_end = t + 167  # /?!CR LF: 5 characters at 300 baud
            elif kind == "<":
                # the first byte arrives one character time (33 ms) after it starts
                assert low <= t - 33 - sent_end <= high, (name, t - 33 - sent_end)
                break


def test_battery_meter_needs_its_wake_up():
    p = profiles.get_profile("battery")
    try:
        _read(p, wakeup=None, retries=0)
    except NoAnswer:
        pass
    else:
        raise AssertionError("battery meter answered without a wake-up")
    r, _ = _read(p)
    assert _values(r) == p["expected"]


def test_device_address_selects_the_meter():
    p = profiles.get_profile("lgz-zmd")
    r, _ = _read(p, address=p["address"])
    assert r.meter_id == p["address"]
    try:
        _read(p, address="99999999", retries=0)
    except NoAnswer:
        pass
    else:
        raise AssertionError("a meter answered another meter's address")


def test_programming_mode_password_load_profile_and_registers():
    p = profiles.get_profile("prog-lp")
    r, line = _read(p, password=p["password"], load_profile=("", ""),
                    commands=[("R1", "1.8.0()"), ("W1", "0.9.1(101500)"), ("R1", "0.9.1()")])
    rows = r.profiles[0]["rows"]
    assert [{"time": x["time"], "values": x["values"]} for x in rows] == p["expected_profile"]
    assert r.profiles[0]["columns"][0]["obis"] == "1-0:1.5.0*255"
    got = dict([(v.obis, v.value) for v in r.values])
    want = dict([(e["obis"], e["value"]) for e in p["expected"]])
    assert got["1-0:1.8.0*255"] == want["1-0:1.8.0*255"]
    assert got["1-0:0.9.1*255"] == "101500"  # the W1 write took effect
    line.read(line.now_ms() + 100)  # let the break reach the meter
    assert "command B0" in [e[1] for e in line.meter.log]


def test_load_profile_range_is_filtered_by_the_meter():
    p = profiles.get_profile("prog-lp")
    r, _ = _read(p, password=p["password"], load_profile=("02611240100", "02611240200"))
    times = [x["time"] for x in r.profiles[0]["rows"]]
    assert times == ["02611240100", "02611240115", "02611240130", "02611240145",
                     "02611240200"], times


def test_wrong_password_is_refused_in_plain_words():
    p = profiles.get_profile("prog-lp")
    try:
        _read(p, password="00000000", load_profile=("", ""))
    except Refused as e:
        assert "password" in str(e), str(e)
    else:
        raise AssertionError("wrong password accepted")


def test_bad_bcc_is_answered_by_nak_and_repeated():
    p = _copy("iskra-mt174", corrupt_bcc=2)
    r, line = _read(p)
    assert _values(r) == p["expected"]
    assert [e for e in line.meter.log if e[1] == "NAK: readout repeated"]
    p = _copy("iskra-mt174", corrupt_bcc=99)
    try:
        _read(p, retries=0)
    except ChecksumError as e:
        assert "BCC" in str(e)
    else:
        raise AssertionError("a wrong BCC was accepted")


def test_truncated_readout_and_silence_end_with_a_clear_error():
    for faults in (Faults(stop_after=300), Faults(unpowered=True)):
        line = VirtualLine(profiles.make_meter("lgz-zmd"), faults=faults)
        try:
            run(IecClient(retries=1), line)
        except NoAnswer as e:
            assert "1.5 s" in str(e), str(e)
        else:
            raise AssertionError("no error")
        assert line.now_ms() < 20000


def test_noisy_line_gives_values_or_a_clear_error_never_a_hang():
    # A bit error is caught by the BCC (NAK, repeat) unless two errors cancel in the XOR,
    # which the standard's BCC cannot see; at this rate that does not happen for these seeds.
    p = profiles.get_profile("elster-as1440")
    naks = 0
    for seed in (1, 2, 3, 4, 5, 6):
        meter = profiles.make_meter(p)
        faults = Faults(byte_error_ppm=700, seed=seed)
        if seed > 4:  # noise bursts (garbage) on the meter->reader path as well
            faults = Faults(burst_every_ms=700, burst_len=5, seed=seed)
        line = VirtualLine(meter, faults=faults)
        try:
            r = run(IecClient(), line)
            assert _values(r) == p["expected"]
        except ProtocolError as e:
            assert str(e)
        naks += len([e for e in meter.log if e[1] == "NAK: readout repeated"])
        assert line.now_ms() < 60000
    assert naks >= 1


class _Raw(Machine):
    """A scripted HHU: sends bytes at a given rate, then collects what comes back."""

    def __init__(self, data, baud=300, listen=2500):
        Machine.__init__(self, baud, FMT_7E1)
        self.data = data
        self.listen = listen
        self.got = b""

    def start(self, now_ms):
        self._set_line(self.baud, FMT_7E1)
        self._deadline = self._send(self.data, now_ms) + self.listen

    def receive(self, data, now_ms):
        self.got += data

    def timeout(self, now_ms):
        self._finish(self.got)


def test_meter_ignores_garbage_and_the_wrong_rate_then_answers():
    p = profiles.get_profile("mode-a")
    meter = IecMeter(p)
    assert run(_Raw(b"/?!\r\n", baud=9600), VirtualLine(meter)) == b""
    got = run(_Raw(b"\x7f\x00garbage/?x!!\r\n/?!\r\n", listen=20000), VirtualLine(IecMeter(p)))
    assert got.startswith(b"/HAGJEHZ-A300\r\n\x02"), got[:40]
    assert got.endswith(frame(STX, got[got.find(b"\x02") + 1:-2])[-2:])


def test_mode_d_pushes_without_a_request():
    p = profiles.get_profile("mode-d")
    got = run(_Raw(b"", baud=2400, listen=6000), VirtualLine(profiles.make_meter(p)))
    assert got.count(b"/EMH3eHZ-PUSH\r\n") >= 1


def test_mode_e_request_without_hdlc_server_is_ignored():
    got = run(_Raw(b"/?!\r\n", listen=1200), VirtualLine(profiles.make_meter("lgz-zmd")))
    assert got == b"/LGZ5\\2ZMD3104407.B32\r\n"
    meter = profiles.make_meter(_copy("lgz-zmd", mode_e_dlms=None))
    line = VirtualLine(meter)
    got = run(_Raw(b"/?!\r\n", listen=1700), line)
    r = run(_Raw(b"\x06252\r\n", listen=2000), line)
    assert r == b"" and "mode E requested: not simulated, ignored" in [e[1] for e in meter.log]


def test_zmd_mode_e_hands_over_to_its_hdlc_side_and_returns_to_idle():
    from meterproto.session.auto import AutoSession
    meter = profiles.make_meter("lgz-zmd")
    line = VirtualLine(meter)
    r = run(AutoSession(mode="e"), line)
    assert r.mode == "E" and r.ident == "LGZ5\\2ZMD3104407.B32" and r.values
    line.read(line.now_ms() + 6000)  # silence: the meter leaves HDLC for 300 baud 7E1
    r = run(IecClient(), line)
    assert _values(r) == profiles.get_profile("lgz-zmd")["expected"]
