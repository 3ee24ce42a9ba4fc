# Finding the HDLC server address a meter answers to (meterproto.hdlc.discover) on simulated
# meters over the virtual line: the usual addresses in turn, serial-derived 4-byte ones,
# DISC after the answer, and a bounded time when nothing answers.
from meterproto.driver import run
from meterproto.errors import NoAnswer
from meterproto.hdlc.discover import BUDGET_MS, Discover, candidates
from meterproto.line import FMT_8N1
from irprobe.sim.dlms_profiles import PROFILES, make_meter
from irprobe.sim.vline import Faults, VirtualLine


def _line(profile, faults=None):
    meter = make_meter(profile)
    return meter, VirtualLine(meter, baud=9600, fmt=FMT_8N1, faults=faults)


def test_candidates_cover_sizes_and_the_serial():
    c = candidates("70001234")
    assert c[0] == (1, None, 1)
    assert (1, 17, 2) in c and (1, 16, 2) in c and (1, 17, 4) in c and (1, 0x3FFF, 4) in c
    assert (1, 1234 + 16, 4) in c and (1, 1000 + 1234, 4) in c
    assert len(c) == len(set(c))
    assert candidates(None) == candidates("")


def test_finds_the_lower_address_and_leaves_the_meter_disconnected():
    meter, line = _line(PROFILES["dlms-large"])  # answers to 1/16 only
    r = run(Discover(), line)
    assert (r["server_upper"], r["server_lower"], r["server"]) == (1, 16, "1/16")
    assert r["answer"] == "UA" and r["tried"] == 3  # 1, 1/17, then 1/16
    assert meter.log[-1] == "HDLC disconnected"


def test_finds_a_serial_derived_four_byte_address():
    p = dict(PROFILES["dlms-direct"], server_lower=1000 + 1)  # serial 70000001
    meter, line = _line(p)
    r = run(Discover(serial="70000001"), line)
    assert r["server"] == "1/1001" and r["size"] == 4
    assert r["tried"] == len(candidates("70000001"))


def test_a_silent_meter_ends_within_the_budget_naming_what_was_tried():
    meter, line = _line(PROFILES["dlms-direct"], Faults(unpowered=True))
    try:
        run(Discover(serial="70000001"), line)
    except NoAnswer as e:
        text = str(e)
    else:
        raise AssertionError("a silent meter was found")
    assert "1/17 (2-byte)" in text and "1/1001 (4-byte)" in text, text
    assert line.now_ms() <= BUDGET_MS + 1000


def test_a_read_with_server_auto_finds_the_address_first():
    from meterproto.session.auto import AutoSession
    for name, server in (("dlms-large", "1/16"), ("dlms-mode-e", "1/17")):
        p = PROFILES[name]
        meter = make_meter(p)
        line = VirtualLine(meter)
        mode = "e" if p["opening"] == "e" else "hdlc"
        s = AutoSession(mode=mode, server_upper="auto")
        r = run(s, line)
        assert r.meter_id == p["expected"]["meter_id"], name
        assert s.found["server"] == server, (name, s.found)
        notes = [n for n in r.notes if "answered" in n]
        assert notes and "--server %s" % server in notes[0], r.notes
