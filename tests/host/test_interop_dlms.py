# Third-party DLMS peers against our simulator, and our client against a meter served by
# Gurux's own server classes (tests/host/interop_harness.py; see docs/INTEROP.md).
from decimal import Decimal

import pytest

from meterproto import cosem
from meterproto.driver import run
from meterproto.dlms_client import DlmsClient
from meterproto.line import FMT_8N1
from irprobe.sim.dlms_profiles import PROFILES, make_meter
from irprobe.sim.vline import VirtualLine

import interop_harness as h

pytest.importorskip("dlms_cosem")
pytest.importorskip("gurux_dlms")

PEER_PROFILES = ["dlms-direct", "dlms-password", "dlms-small", "dlms-large"]


def _ours(name):
    """Our reading of the profile, back to back in simulated time, over the same day."""
    p = PROFILES[name]
    client = DlmsClient(client_sap=p["client_sap"], server_upper=p["server_upper"],
                        server_lower=p["server_lower"], auth=p["auth"], password=p["password"],
                        profile_from=h.DAY[0], profile_to=h.DAY[1])
    r = run(client, VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1))
    values = {v.obis: (v.value, v.unit) for v in r.values}
    rows = [x for x in r.profiles if x["obis"] == h.LP][0]["rows"]
    return values, rows


def _text(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode()
    return str(v)


@pytest.mark.parametrize("name", PEER_PROFILES)
def test_dlms_cosem_client_gets_the_same_values_as_ours(name):
    p = PROFILES[name]
    ours, our_rows = _ours(name)
    with h.PtyMeter(make_meter(p)) as pm:
        got = h.read_with_dlms_cosem(pm.path, p["client_sap"], p["server_upper"], p["password"],
                                     p["server_lower"])
    assert len(got["objects"]) == len(p["objects"]) + 1
    for obis, (raw, scaler, unit) in got["values"].items():
        value, our_unit = ours[obis]
        if obis == cosem.CLOCK_OBIS:
            assert cosem.DateTime(raw).text == value
        elif unit is not None:
            # dlms-cosem hands back the raw integer and scaler: scale it exactly here
            assert Decimal(raw).scaleb(scaler) == Decimal(value), obis
            assert cosem.unit_text(unit) == our_unit, obis
        else:
            assert _text(raw) == value, obis
    assert len(got["values"]) == len(ours)
    assert [[cosem.DateTime(r[0]).text, str(r[1]), str(r[2])] for r in got["rows"]] == our_rows


@pytest.mark.parametrize("name", PEER_PROFILES)
def test_gurux_client_gets_the_same_values_as_ours(name):
    p = PROFILES[name]
    ours, our_rows = _ours(name)
    with h.PtyMeter(make_meter(p)) as pm:
        got = h.read_with_gurux(pm.path, p["client_sap"], p["server_upper"], p["password"],
                                p["server_lower"])
    assert len(got["objects"]) == len(p["objects"]) + 1
    for obis, (v, scaler, unit) in got["values"].items():
        value, our_unit = ours[obis]
        if obis == cosem.CLOCK_OBIS:
            assert v.value.strftime("%Y-%m-%d %H:%M:%S") == value
        elif unit is not None:
            # Gurux multiplies by the scaler in floating point (230.10000000000002):
            # equal to our exact text only to within float precision
            assert abs(Decimal(repr(v)) - Decimal(value)) <= abs(Decimal(value)) * Decimal("1e-12"), obis
            assert cosem.unit_text(unit) == our_unit, obis
        else:
            assert _text(v) == value, obis
    assert len(got["values"]) == len(ours)
    rows = [[r[0].value.strftime("%Y-%m-%d %H:%M:%S"), str(r[1]), str(r[2])] for r in got["rows"]]
    assert rows == our_rows


def test_our_client_reads_a_meter_served_by_gurux_server_classes():
    with h.PtyMeter(h.make_gurux_meter()) as pm:
        r, client = h.read_with_irprobe(pm.path)
        log = pm.machine.log
    assert r.meter_id == h.GURUX_METER["serial"]
    for ln, _raw, _scaler, _unit, text, unit in h.GURUX_METER["registers"]:
        v = r.get(h._ln(ln))
        assert (v.value, v.unit) == (text, unit), ln
    assert r.get(cosem.CLOCK_OBIS).value == h.GURUX_METER["clock"]
    rows = [x for x in r.profiles if x["obis"] == h.LP][0]["rows"]
    # default range: the day before the meter's clock, both ends included
    assert rows == h.gurux_rows()[:96]
    assert "c003" in log  # it accepted our GET-with-list


def test_our_client_releases_a_gurux_meter_with_rlrq():
    with h.PtyMeter(h.make_gurux_meter()) as pm:
        r, client = h.read_with_irprobe(pm.path, release="rlrq", profiles=False)
    assert r.get("1-0:1.8.0*255").value == "123456780"


def test_round_trips_and_bytes_per_peer_for_the_same_full_read():
    runs = h.peer_runs("dlms-large")
    for peer in h.PEERS:
        assert runs[peer]["round_trips"] > 0 and runs[peer]["bytes_rx"] > 3000, (peer, runs)
    best_peer = min(runs["dlms-cosem"]["round_trips"], runs["gurux"]["round_trips"])
    # our goal: at most half the round trips of the best peer on a meter that allows it
    assert runs["irprobe"]["round_trips"] * 2 <= best_peer, runs


def test_transcript_stats_counts_turns_and_bytes():
    t = [(0.0, h.C2M, b"\x7e\xa0"), (0.1, h.M2C, b"\x7e"), (0.2, h.M2C, b"\x7e\x7e"),
         (0.3, h.C2M, b"abc"), (0.4, h.M2C, b"de")]
    assert h.transcript_stats(t) == {"round_trips": 2, "bytes_tx": 5, "bytes_rx": 5}
