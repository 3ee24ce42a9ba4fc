# The rp2 port has an 8 KB C stack and the probe's app already holds a dozen Python frames
# when a session step runs: mode E failed with 'maximum recursion depth exceeded' planning
# the profile read from inside the handling of the previous answer
# (_pump -> _event -> _apdu -> _get_response -> _next -> _start_profile -> ... -> axdr).
# The next request is now planned from _pump, after the answer's handling has returned.
from meterproto.dlms.client import DlmsClient
from meterproto.driver import run
from meterproto.session.auto import AutoSession
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine


def _watch(meter, mode):
    inside = [0]
    seen = []
    handle, nxt = DlmsClient._get_response, DlmsClient._next

    def get_response(self, apdu, now_ms):
        inside[0] += 1
        try:
            handle(self, apdu, now_ms)
        finally:
            inside[0] -= 1

    def next_(self, now_ms):
        seen.append(inside[0])
        nxt(self, now_ms)

    DlmsClient._get_response, DlmsClient._next = get_response, next_
    try:
        r = run(AutoSession(mode=mode), VirtualLine(profiles.make_meter(meter)))
    finally:
        DlmsClient._get_response, DlmsClient._next = handle, nxt
    return r, seen


def test_the_next_request_is_planned_outside_the_answers_handling():
    r, seen = _watch("dlms-lp96", "hdlc")
    assert sum(len(p["rows"]) for p in r.profiles) == 96
    assert len(seen) >= 3  # registers (GET-with-list), then the profile
    assert set(seen) == {0}


def test_mode_e_too():
    r, seen = _watch("lgz-zmd", "e")
    assert r.mode == "E" and r.values
    assert seen and set(seen) == {0}
