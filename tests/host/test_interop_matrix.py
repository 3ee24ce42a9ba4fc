# The interop matrix: our DLMS client against a meter served entirely by gurux-dlms's server
# classes (its HDLC link, xDLMS server and object model: tests/host/gurux_meter.py), over a
# pty in real time. One dimension at a time against a base meter (logical names, lowest
# security, 128-byte frames, window 1), so every value of every dimension is covered without
# the cross product. Combinations that fail today are marked xfail(strict=True): when one
# starts to pass the suite says so, and the mark goes.
import pytest

import gurux_meter as g
import interop_harness as h

pytest.importorskip("gurux_dlms")

LP = "1-0:99.1.0*255"


def _read(meter, **options):
    with h.PtyMeter(meter) as pm:
        try:
            r, client = h.read_with_irprobe(pm.path, **options)
        finally:
            transcript = b"".join(d for _t, d2, d in pm.transcript if d2 == h.M2C)
    return r, client, transcript


def _check(r, rows=None):
    """Values, units and profile rows equal what the Gurux server holds."""
    assert r.meter_id == g.SPEC["serial"]
    for ln, _raw, _scaler, _unit, text, unit in g.SPEC["registers"]:
        v = r.get(h._ln(ln))
        assert v is not None, ln
        assert (v.value, v.unit) == (text, unit), ln
    assert r.get("0-0:1.0.0*255").value == g.SPEC["clock"]
    got = [p for p in r.profiles or [] if p["obis"] == LP]
    assert got, r.notes
    assert got[0]["rows"] == (g.rows() if rows is None else rows)


def _known(reason, *flags):
    return pytest.param(*flags, marks=pytest.mark.xfail(strict=True, reason=reason))


# -- block transfer at every client-max-receive-pdu-size we may propose ---------------------
# (Gurux refuses an AARQ below 64 bytes: initiate error pdu-size-too-short)
@pytest.mark.parametrize("pdu", [64, 96, 128, 256, 512, 1024, 0xFFFF])
def test_block_transfer_at_every_pdu_size(pdu):
    meter = g.GuruxHdlcMeter()
    r, client, _ = _read(meter, max_pdu=pdu)
    _check(r)
    assert not meter.errors
    if pdu == 64:
        # Gurux labels a GET-with-list answer in blocks C4 03 and cannot send its second
        # block: read as a block, then one attribute per request
        assert any("labelled 1 data block(s) GET-with-list" in n for n in r.notes), r.notes
        assert any("one attribute per request" in n for n in r.notes), r.notes


# -- HDLC segmentation: the meter's info field 32-1024 bytes and window 1-7 -------------------
@pytest.mark.parametrize("info,window,pdu", [
    (32, 1, 256), (64, 2, 256), (128, 3, 256), (256, 4, 256), (512, 5, 256), (1024, 6, 256),
    (1024, 7, 256), (32, 7, 256), (1024, 1, 0xFFFF), (256, 2, 0xFFFF)])
def test_hdlc_info_field_and_window(info, window, pdu):
    meter = g.GuruxHdlcMeter(max_info=info, window=window)
    # with a small PDU too, so block transfer and segmentation happen together
    r, client, wire = _read(meter, max_pdu=pdu)
    _check(r)
    if (info, pdu) in ((256, 256), (1024, 0xFFFF)):
        # Gurux loses the carry into a length's high bits (A8 06 for a 262-byte frame)
        assert any("short of its carry" in n for n in r.notes), r.notes
    assert not meter.errors
    # every frame the meter sent fits the information field it was set up with
    # (frame length = info + 12 bytes of format, addresses, control, HCS, FCS at most)
    assert max(_frame_lengths(wire)) <= info + 12


def _frame_lengths(wire):
    out = []
    i = 0
    while i + 3 <= len(wire):
        if wire[i] == 0x7E and wire[i + 1] & 0xF0 == 0xA0:
            n = (wire[i + 1] & 0x07) << 8 | wire[i + 2]
            out.append(n)
            i += n + 1
        else:
            i += 1
    return out


# -- referencing and authentication -----------------------------------------------------------
@pytest.mark.parametrize("ln,auth", [(True, "lowest"), (True, "low"), (False, "lowest"),
                                     (False, "low")])
def test_referencing_and_authentication(ln, auth):
    meter = g.GuruxHdlcMeter(ln=ln)
    opts = {"auth": auth, "password": g.SPEC["password"] if auth == "low" else None}
    # the host's PDU (see the SN block transfer case below for a small one)
    r, client, _ = _read(meter, max_pdu=0xFFFF, **opts)
    _check(r)
    assert not meter.errors
    # short names are chosen from the meter's AARE, not configured
    assert (client.sn is not None) == (not ln)
    if not ln:
        assert any("offers short names" in n for n in r.notes), r.notes
        assert client.sn.bases["1-0:1.8.0*255"] >= 0xA0  # base names from 0xFA00's list


@pytest.mark.parametrize("pdu", [
    _known("Gurux (SN) sends a READ answer longer than the PDU as one data block marked "
           "last, with only its first bytes", 512), 0xFFFF])
def test_short_names_with_block_transfer(pdu):
    r, client, _ = _read(g.GuruxHdlcMeter(ln=False), max_pdu=pdu)
    _check(r)


@pytest.mark.parametrize("ln", [True, False])
def test_a_wrong_password_is_refused_in_plain_words(ln):
    from meterproto.errors import Refused
    with pytest.raises(Refused) as e:
        _read(g.GuruxHdlcMeter(ln=ln), auth="low", password="wrong")
    assert "authentication failure" in str(e.value)


# -- selective access -------------------------------------------------------------------------
def test_selective_access_by_range():
    meter = g.GuruxHdlcMeter()
    # from 10:00 to 12:00: both ends included, five rows of the 48
    r, client, _ = _read(meter, profile_from="2026-11-24 10:00:00",
                         profile_to="2026-11-24 12:00:00")
    want = [row for row in g.rows() if "2026-11-24 10:00:00" <= row[0] <= "2026-11-24 12:00:00"]
    assert len(want) == 5
    _check(r, want)


ENTRY = ("Gurux takes to_entry as a count (rows 3-9) and, for all columns (to_selected_value "
         "0), sends empty one-element structures: 01 07 02 01 02 01 ...")


@pytest.mark.parametrize("ln", [_known(ENTRY, True), _known(ENTRY, False)])
def test_selective_access_by_entry(ln):
    # the client's entry access against our simulator: tests/core/test_dlms_entries.py
    meter = g.GuruxHdlcMeter(ln=ln)
    r, client, _ = _read(meter, profile_entries=(3, 7), max_pdu=0xFFFF)
    _check(r, g.rows()[2:7])


# -- quirks of the stack as shipped -------------------------------------------------------------
def _stock_long_get(monkeypatch):
    """Without patch G3 (GXDLMSLongTransaction.setData) gurux-dlms 1.0.203 answers the first
    GET-next with the LLC header twice, the block, then a hardware-fault GET response."""
    from gurux_dlms.GXDLMSLongTransaction import GXDLMSLongTransaction
    from meterproto.errors import ProtocolError
    g._patch()
    monkeypatch.delattr(GXDLMSLongTransaction, "setData")
    meter = g.GuruxHdlcMeter()
    with h.PtyMeter(meter) as pm:
        with pytest.raises(ProtocolError) as e:
            h.read_with_irprobe(pm.path, max_pdu=64)
        wire = b"".join(d for _t, d2, d in pm.transcript if d2 == h.M2C)
    return wire, e.value


def test_stock_gurux_repeats_the_llc_header_on_the_second_block(monkeypatch):
    wire, _err = _stock_long_get(monkeypatch)
    assert b"\xe6\xe7\x00\xe6\xe7\x00\xc4\x02" in wire
    assert b"\xc4\x01" in wire.split(b"\xe6\xe7\x00\xe6\xe7\x00")[1]


def test_the_error_names_what_stock_gurux_sent(monkeypatch):
    _wire, err = _stock_long_get(monkeypatch)
    # the repeated LLC header is passed over; the error names the meter's own complaint
    assert "hardware-fault" in str(err), err
