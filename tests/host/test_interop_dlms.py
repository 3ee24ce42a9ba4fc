# Third-party DLMS peers against our simulator, and our client against a meter served by
# Gurux's own server classes (tests/host/interop_harness.py; see docs/INTEROP.md).
from decimal import Decimal

import pytest

from meterproto.dlms import cosem
from meterproto.driver import run
from meterproto.dlms.client import DlmsClient
from meterproto.line import FMT_8N1
from irprobe.sim.dlms_profiles import PROFILES, make_meter
from irprobe.sim.vline import VirtualLine

import interop_harness as h

pytest.importorskip("dlms_cosem")
pytest.importorskip("gurux_dlms")

PEER_PROFILES = ["dlms-direct", "dlms-password", "dlms-small", "dlms-large"]


def _keys(p):
    if not p.get("ek"):
        return {}
    return {"ek": bytes.fromhex(p["ek"]), "ak": bytes.fromhex(p["ak"]),
            "system_title": b"IRPROBE1"}


def _ours(name):
    """Our reading of the profile, back to back in simulated time, over the same day."""
    p = PROFILES[name]
    client = DlmsClient(client_sap=p["client_sap"], server_upper=p["server_upper"],
                        server_lower=p["server_lower"], auth=p["auth"], password=p["password"],
                        profile_from=h.DAY[0], profile_to=h.DAY[1], **_keys(p))
    r = run(client, VirtualLine(make_meter(p), baud=9600, fmt=FMT_8N1))
    values = {v.obis: (v.value, v.unit) for v in r.values}
    rows = [x for x in r.profiles if x["obis"] == h.LP][0]["rows"]
    return values, rows


def _text(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode()
    return str(v)


CIPHERED_PROFILES = ["dlms-ciphered", "dlms-hls"]


@pytest.mark.parametrize("name", PEER_PROFILES + CIPHERED_PROFILES)
def test_dlms_cosem_client_gets_the_same_values_as_ours(name):
    p = PROFILES[name]
    ours, our_rows = _ours(name)
    keys = _keys(p)
    if keys:
        keys["system_title"] = b"DLMSCOSM"
        keys["hls"] = p["auth"] == "hls-gmac"
    meter = make_meter(p)
    with h.PtyMeter(meter) as pm:
        got = h.read_with_dlms_cosem(pm.path, p["client_sap"], p["server_upper"], p["password"],
                                     p["server_lower"], keys=keys)
    if keys:  # it really spoke the ciphered context (general-glo-ciphering, auth+enc)
        assert meter.ciphered_requests > 20 and meter.cipher.peer_ic >= meter.ciphered_requests
        # dlms-cosem sends general-glo-ciphering (0xDB) whatever the conformance says
        assert list(meter.ciphered_forms) == ["general"], meter.ciphered_forms
        assert [x for x in meter.log if "ciphered" in x or x == "HLS-GMAC passed"], meter.log
        assert b"70000" not in b"".join(d for _t, _d, d in pm.transcript)
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


@pytest.mark.parametrize("name", PEER_PROFILES + CIPHERED_PROFILES)
def test_gurux_client_gets_the_same_values_as_ours(name):
    p = PROFILES[name]
    ours, our_rows = _ours(name)
    keys = _keys(p)
    if keys:
        keys["system_title"] = b"GURUXCLI"
        keys["hls"] = p["auth"] == "hls-gmac"
    meter = make_meter(p)
    with h.PtyMeter(meter) as pm:
        got = h.read_with_gurux(pm.path, p["client_sap"], p["server_upper"], p["password"],
                                p["server_lower"], keys=keys)
    if keys:  # glo-get-requests with authentication and encryption (GET-with-list: few)
        assert meter.ciphered_requests >= 5 and meter.cipher.peer_ic >= meter.ciphered_requests
        # Gurux follows the conformance: general-glo-ciphering (0xDB) where the meter grants
        # general-protection (dlms-ciphered), glo- service APDUs (0xC0 -> 0xC8) otherwise
        form = "general" if p["conformance"] & 0x400000 else "glo"
        assert list(meter.ciphered_forms) == [form], meter.ciphered_forms
        assert b"70000" not in b"".join(d for _t, _d, d in pm.transcript)
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
        # the harness emulates selective access by fetching gurux's whole profile buffer in
        # one normal answer, which gurux gives only when our receive PDU size allows it
        r, client = h.read_with_irprobe(pm.path, max_pdu=0xFFFF)
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


def test_irprobe_read_cli_reads_the_ciphered_meter(monkeypatch, capsys):
    """`irprobe read --mode hdlc --auth hls-gmac --ek --ak --system-title --client 1` on the
    HLS + ciphering simulator (the virtual line stands in for the serial port)."""
    import json
    import irprobe.serialport
    from irprobe import cli

    p = PROFILES["dlms-hls"]
    meter = make_meter(p)

    class Port(VirtualLine):
        def __init__(self, name, time_scale=1.0):
            VirtualLine.__init__(self, meter, baud=9600, fmt=FMT_8N1)

        def close(self):
            pass

    monkeypatch.setattr(irprobe.serialport, "SerialPort", Port)
    args = ["read", "--port", "sim", "--mode", "hdlc", "--client", "1", "--auth", "hls-gmac",
            "--ek", p["ek"], "--ak", p["ak"], "--system-title", "4350524F42453031",
            "--invocation-counter", "7", "--json"]
    assert cli.main(args) == 0
    d = json.loads(capsys.readouterr().out)
    got = {v["obis"]: (v["value"], v["unit"]) for v in d["values"]}
    for e in p["expected"]["values"]:
        assert got[e["obis"]] == (e["value"], e["unit"]), e
    assert "HLS-GMAC passed" in meter.log and meter.cipher.peer_ic > 7
    # a wrong key ends in plain words, not a traceback
    meter = make_meter(p)
    bad = list(args)
    bad[bad.index("--ak") + 1] = "00" * 16
    assert cli.main(bad) != 0
    err = capsys.readouterr().err
    assert "wrong authentication or encryption key" in err, err
    assert cli.main(args[:-1] + ["--ek", "0102"]) != 0
    assert "--ek takes 32 hex digits" in capsys.readouterr().err
