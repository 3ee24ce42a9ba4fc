# Mode E on the rp2 port ran out of C stack ('maximum recursion depth exceeded') when the
# session imported and started the DLMS client from inside its handling of the IEC client's
# end (timeout/receive -> _after -> _iec_done -> _start_dlms -> import of the DLMS modules).
# The handover now waits for the next timeout(), due at once, started from there directly.
from meterproto.session.auto import AutoSession
from core_checks import nesting_seen
from meterproto.driver import run
from meterproto.dlms.client import DlmsClient
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine


def _watch(meter, mode):
    return nesting_seen(AutoSession, "_after", DlmsClient, "start",
                        lambda: run(AutoSession(mode=mode),
                                    VirtualLine(profiles.make_meter(meter))))


def test_mode_e_starts_dlms_outside_the_iec_stages_end():
    r, seen = _watch("lgz-zmd", "e")
    assert r.protocol == "dlms" and r.mode == "E"
    assert r.values  # the read went on to the end after the handover
    assert seen == [0]


def test_direct_hdlc_still_starts_dlms_at_once():
    r, seen = _watch("dlms-lp96", "hdlc")
    assert r.protocol == "dlms" and r.mode == "HDLC"
    assert seen == [0]
