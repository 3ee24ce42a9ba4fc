# Selective access by entry (IEC 62056-6-2 4.3.6 entry_descriptor): the DLMS client asks
# for rows first..last of a load profile, and gets exactly those from the simulated meter.
from meterproto.dlms.client import DlmsClient
from meterproto.driver import run
from meterproto.line import FMT_8N1
from irprobe.sim.dlms_profiles import PROFILES, expected_rows, make_meter
from irprobe.sim.vline import VirtualLine


def _rows(**opts):
    p = PROFILES["dlms-direct"]
    meter = make_meter(p)
    r = run(DlmsClient(**opts), VirtualLine(meter, baud=9600, fmt=FMT_8N1))
    return [x for x in r.profiles if x["obis"] == "1-0:99.1.0*255"][0]["rows"], expected_rows(p)


def test_rows_by_entry():
    got, want = _rows(profile_entries=(3, 7))
    assert got == want[2:7] and len(got) == 5


def test_entries_to_the_end():
    got, want = _rows(profile_entries=(20, 0))
    assert got == want[19:]


def test_capture_time_is_read_where_it_costs_no_round_trip():
    from meterproto.dlms.client import DlmsClient as C
    for name, free in (("dlms-direct", True), ("dlms-small", False)):
        p = PROFILES[name]
        for opt in ("auto", True):
            c = C(capture_times=opt)
            r = run(c, VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1))
            v = r.get("1-0:1.6.0*255")
            assert v.value == "7421"
            if free or opt is True:
                assert v.time == "2026-11-20 18:45:00", (name, opt)
            else:  # one GET per attribute on this meter: left out, and said so
                assert v.time is None
                assert [n for n in r.notes if "capture time of 1-0:1.6.0*255" in n], r.notes
