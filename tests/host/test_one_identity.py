# One meter, one identity whatever the protocol: lgz-zmd read over IEC 62056-21 (mode C) and
# over DLMS (mode E) names the same meter, and both readings land under it in the store.
from irprobe.db import Store
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine
from meterproto.driver import run
from meterproto.iec.client import IecClient
from meterproto.session.auto import AutoSession


def test_iec_and_dlms_readings_of_one_meter_land_together():
    line = VirtualLine(profiles.make_meter("lgz-zmd"))
    dlms = run(AutoSession(mode="e"), line)
    iec = run(IecClient(), line)
    assert dlms.protocol == "dlms" and iec.protocol == "iec62056-21"
    # the device ID (IEC 0.0.0, DLMS 1-0:0.0.0) comes first, then the serial number
    # (IEC C.1.0, DLMS 0-0:96.1.0): both protocols give the same
    assert dlms.meter_id == iec.meter_id == "41234567"
    assert dlms.get("0-0:96.1.0*255").value == "91234567"
    assert [v.value for v in iec.values if v.address == "C.1.0"] == ["91234567"]
    s = Store(":memory:")
    s.add_records("probe", [(1, 1764090000, iec.to_dict()), (2, 1764090060, dlms.to_dict())])
    assert s.meters() == ["41234567"]
    seqs = set(row["seq"] for row in s.rows(meter="41234567"))
    assert seqs == {1, 2}  # the IEC and the DLMS session, both under the one meter
