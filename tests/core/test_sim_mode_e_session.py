# A mode E meter (irprobe.sim lgz-zmd) leaves HDLC like a real one: on DISC, or after its
# HDLC inactivity timeout (IEC 62056-46), it listens for an IEC 62056-21 sign-on again.
from meterproto.session.auto import AutoSession
from meterproto.driver import run
from meterproto.errors import NoAnswer
from meterproto.iec.client import IecClient
from meterproto.hdlc import frame as hf
from meterproto.line import FMT_7E1, FMT_8N1
from irprobe.sim import profiles
from irprobe.sim.dlms_meter import INACTIVITY_MS
from irprobe.sim.vline import VirtualLine


def _iec_read(line):
    return run(IecClient(), line)


def test_an_iec_read_follows_a_mode_e_read_on_the_same_meter():
    meter = profiles.make_meter("lgz-zmd")
    line = VirtualLine(meter)
    r = run(AutoSession(mode="e"), line)
    assert r.protocol == "dlms" and r.mode == "E"
    r2 = _iec_read(line)  # no pause: the DISC has ended mode E
    assert r2.protocol == "iec62056-21"
    assert meter.sessions == 2


def _stuck_in_hdlc(line):
    """Sign on, switch to mode E and connect HDLC, then walk away without DISC."""
    line.set_line(300, FMT_7E1)
    line.write(b"/?!\r\n")
    got = b""
    while b"\r\n" not in got:
        chunk = line.read(line.now_ms() + 3000)
        assert chunk, "no identification"
        got += chunk
    line.write(b"\x06" + b"252\r\n")
    line.drain()
    line.set_line(9600, FMT_8N1)
    line.read(line.now_ms() + 300)
    line.write(hf.encode_frame(hf.server_address(1), hf.client_address(16), hf.ctl_u(hf.K_SNRM)))
    ua = b""
    while len(ua) < 2 or ua[-1] != 0x7E:
        chunk = line.read(line.now_ms() + 1000)
        assert chunk, "no UA"
        ua += chunk
    assert hf.decode_frame(ua).kind == hf.K_UA


def test_a_meter_left_in_hdlc_answers_iec_again_after_its_inactivity_timeout():
    meter = profiles.make_meter("lgz-zmd")
    line = VirtualLine(meter)
    _stuck_in_hdlc(line)
    try:
        _iec_read(line)
    except NoAnswer:
        pass
    else:
        raise AssertionError("a meter still in HDLC answered an IEC sign-on")
    line.read(line.now_ms() + INACTIVITY_MS)  # the meter's inactivity timeout runs out
    r = _iec_read(line)
    assert r.protocol == "iec62056-21" and r.meter_id == "41234567"


def test_read_mode_auto_finds_a_meter_still_in_hdlc_and_closes_it():
    meter = profiles.make_meter("lgz-zmd")
    line = VirtualLine(meter)
    _stuck_in_hdlc(line)  # an earlier reader walked away without DISC
    r = run(AutoSession(mode="auto"), line)
    # silent to the sign-on, it answers HDLC at 9600: read there, and DISC at the end
    assert r.protocol == "dlms" and r.meter_id == "41234567"
    assert [n for n in r.notes if "so direct HDLC" in n], r.notes
    r2 = _iec_read(line)  # back in IEC mode at once
    assert r2.protocol == "iec62056-21" and r2.meter_id == r.meter_id


def test_a_session_whose_meter_falls_silent_still_ends_with_disc():
    from meterproto.dlms.client import DlmsClient
    from irprobe.sim.dlms_profiles import PROFILES, make_meter
    from irprobe.sim.vline import Faults

    line = VirtualLine(make_meter(PROFILES["dlms-direct"]), baud=9600, fmt=FMT_8N1,
                       faults=Faults(stop_after=400))  # silent after 400 bytes
    trace = []
    try:
        run(DlmsClient(), line, trace=trace)
    except NoAnswer:
        pass
    else:
        raise AssertionError("a silent meter gave a reading")
    last = [t[2] for t in trace if t[1] == ">"][-1]
    assert hf.decode_frame(last).kind == hf.K_DISC
