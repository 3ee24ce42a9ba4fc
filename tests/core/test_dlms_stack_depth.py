# The rp2 port has an 8 KB C stack and the probe's app already holds a dozen Python frames
# when a session step runs: mode E failed with 'maximum recursion depth exceeded' planning
# the profile read from inside the handling of the previous answer
# (_pump -> _event -> _apdu -> _get_response -> _next -> _start_profile -> ... -> axdr).
# The next request is now planned from _pump, after the answer's handling has returned.
from meterproto.dlms.client import DlmsClient
from core_checks import nesting_seen
from meterproto.driver import run
from meterproto.session.auto import AutoSession
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine


def _watch(meter, mode):
    return nesting_seen(DlmsClient, "_get_response", DlmsClient, "_next",
                        lambda: run(AutoSession(mode=mode),
                                    VirtualLine(profiles.make_meter(meter))))


def test_the_next_request_is_planned_outside_the_answers_handling():
    r, seen = _watch("dlms-lp96", "hdlc")
    assert sum(len(p["rows"]) for p in r.profiles) == 96
    assert len(seen) >= 3  # registers (GET-with-list), then the profile
    assert set(seen) == {0}


def test_mode_e_too():
    r, seen = _watch("lgz-zmd", "e")
    assert r.mode == "E" and r.values
    assert seen and set(seen) == {0}
