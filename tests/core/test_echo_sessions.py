# Whole sessions over a line that echoes our own light (optical crosstalk),
# with the driver's EchoFilter on: the IEC client and the HDLC/DLMS client must read
# exactly what they read on a clean line, and the filter must have counted the echo.
from meterproto.driver import run
from meterproto.echo import EchoFilter, V_EXACT, V_PARITY7
from meterproto.iec.client import IecClient
from meterproto.line import FMT_8N1
from irprobe.sim.vline import VirtualLine, Faults
from irprobe.sim.profiles import make_meter, get_profile, client_options


def _triples(values):
    return [(v.obis, v.value, v.unit) for v in values]


def _expected(name):
    return [(e["obis"], e["value"], e["unit"]) for e in get_profile(name)["expected"]]


def _iec(name, faults, echo):
    p = get_profile(name)
    c = IecClient(max_baud=p.get("max_baud", 9600), **client_options(p))
    return run(c, VirtualLine(make_meter(p), faults=faults), echo=echo)


def test_iec_readout_with_exact_echo():
    for name in ("iskra-mt174", "mode-b", "battery", "prog-lp"):
        f = EchoFilter()
        r = _iec(name, Faults(echo=True), f)
        assert _triples(r.values) == _expected(name), name
        assert f.echo_bytes >= 5 and f.variants[V_EXACT] == f.echo_bytes, (name, f.echo_bytes)


def test_iec_readout_with_echo_seen_with_parity_in_bit7():
    f = EchoFilter()
    r = _iec("iskra-mt174", Faults(echo=True, echo_bit7=True), f)
    assert _triples(r.values) == _expected("iskra-mt174")
    assert f.variants[V_PARITY7] > 0


def test_echo_filter_off_counts_nothing():
    f = EchoFilter(enabled=False)
    try:
        _iec("iskra-mt174", Faults(echo=True), f)
    except Exception:
        pass  # without the filter the session may or may not cope; the count must stay 0
    assert f.echo_bytes == 0 and f.echo_frames == 0


def _dlms(name, faults, echo):
    from irprobe.sim import dlms_profiles as dp
    from meterproto.session.auto import AutoSession

    p = dp.PROFILES[name]
    s = AutoSession(mode="auto" if p["opening"] == "e" else "hdlc", client_sap=p["client_sap"],
                    server_upper=p["server_upper"], server_lower=p["server_lower"],
                    password=p["password"])
    if p["opening"] == "e":
        line = VirtualLine(dp.make_meter(p), faults=faults)
    else:
        line = VirtualLine(dp.make_meter(p), baud=9600, fmt=FMT_8N1, faults=faults)
    return run(s, line, echo=echo), p


def test_hdlc_direct_and_mode_e_sessions_with_echo():
    for name in ("dlms-direct", "dlms-mode-e"):
        clean, p = _dlms(name, None, EchoFilter())
        for bit7 in (False, True):
            f = EchoFilter()
            r, _ = _dlms(name, Faults(echo=True, echo_bit7=bit7), f)
            assert r.meter_id == p["expected"]["meter_id"], name
            assert _triples(r.values) == _triples(clean.values), (name, bit7)
            assert f.echo_frames >= 3, (name, f.echo_frames)  # SNRM, AARQ, GETs, DISC
