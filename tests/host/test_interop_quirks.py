# What real server stacks send and our client must read anyway, where the meaning is
# unambiguous; and the words it finds where it is not. The meter is gurux-dlms's own server
# (tests/host/gurux_meter.py) with its answers changed on the way out where a stack seen in
# the field does so.
import pytest

import gurux_meter as g
import interop_harness as h
from meterproto.errors import ProtocolError
from meterproto.hdlc import frame as hf

pytest.importorskip("gurux_dlms")

LLC = hf.LLC_RESPONSE


class RepeatedLlc(g.GuruxHdlcMeter):
    """Every APDU the meter sends opens with the LLC header twice (E6 E7 00 E6 E7 00)."""

    def _send(self, data, now_ms):
        out = bytearray()
        for f in hf.FrameReader().feed(bytes(data)):
            info = f.info
            if f.kind == hf.K_I and info[:3] == LLC:
                info = LLC + info
            out += hf.encode_frame(f.dst, f.src, f.control, info, f.segmented)
        return g.GuruxHdlcMeter._send(self, bytes(out) if out else data, now_ms)


def test_a_repeated_llc_header_is_passed_over():
    meter = RepeatedLlc()
    with h.PtyMeter(meter) as pm:
        r, client = h.read_with_irprobe(pm.path)
        wire = b"".join(d for _t, d2, d in pm.transcript if d2 == h.M2C)
    assert wire.count(LLC + LLC) >= 5  # it really was sent that way
    assert r.meter_id == g.SPEC["serial"]
    rows = [p for p in r.profiles if p["obis"] == "1-0:99.1.0*255"][0]["rows"]
    assert rows == g.rows()
    assert any("LLC header twice" in n for n in r.notes), r.notes


def test_an_answer_that_is_not_a_get_response_is_named():
    class Wrong(g.GuruxHdlcMeter):
        def _send(self, data, now_ms):
            out = bytearray()
            for f in hf.FrameReader().feed(bytes(data)):
                info = f.info
                if f.kind == hf.K_I and info[3:5] == b"\xc4\x01":
                    info = LLC + b"\xc5\x01" + info[5:]  # a SET response instead
                out += hf.encode_frame(f.dst, f.src, f.control, info, f.segmented)
            return g.GuruxHdlcMeter._send(self, bytes(out) if out else data, now_ms)

    with h.PtyMeter(Wrong()) as pm:
        with pytest.raises(ProtocolError) as e:
            h.read_with_irprobe(pm.path)
    text = str(e.value)
    assert "SET response" in text and "C5 01" in text, text
