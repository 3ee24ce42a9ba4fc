# Every simulated first-contact fault (irprobe.sim.faults) against the real simulator
# profiles, over the virtual line in simulated time: the doctor must name the cause.
from meterproto.doctor.ladder import Doctor, VERDICTS
from meterproto.driver import run
from irprobe.sim.faults import FAULTS, make_faulty_meter, line_faults, apply_profile
from irprobe.sim.profiles import make_meter, get_profile
from irprobe.sim.vline import VirtualLine

# fault -> (profile, expected verdict, words the text must contain for a newcomer)
TABLE = {
    "unpowered": ("iskra-mt174", "silent", ("powered", "--address")),
    "crosstalk": ("iskra-mt174", "echo-only", ("own echo", "powered")),
    "crosstalk-bit7": ("iskra-mt174", "echo-only", ("own echo",)),
    "echo": ("iskra-mt174", "ok", ("9600 baud", "own light")),
    "adapter-8n1": ("iskra-mt174", "wrong-framing", ("7 data bits", "even parity")),
    "push-9600": ("iskra-mt174", "wrong-framing", ("by itself at 9600", "push meter")),
    "asleep": ("iskra-mt174", "needs-wakeup", ("wake-up", "--wakeup standard")),
    "misaligned": ("lgz-zmd", "bit-errors", ("damaged", "re-seat the head")),
    "address-only": ("lgz-zmd", "needs-address", ("--address 41234567",)),
}


def _diagnose(fault, profile, **kw):
    meter, p = make_faulty_meter(fault, profile)
    if fault == "address-only":
        kw.setdefault("address", p["address"])
    return run(Doctor(**kw), VirtualLine(meter, faults=line_faults(fault)))


def test_every_fault_has_a_row_and_a_known_verdict():
    for name in FAULTS:
        assert name in TABLE, name
        assert TABLE[name][1] in VERDICTS


def test_each_fault_is_named_by_the_doctor():
    for name in TABLE:
        profile, want, words = TABLE[name]
        r = _diagnose(name, profile)
        assert r["verdict"] == want, (name, r["verdict"], r["text"])
        for w in words:
            assert w in r["text"], (name, w, r["text"])
        assert len(r["steps"]) >= 1


def test_healthy_meters_are_ok_with_a_readout():
    for profile in ("iskra-mt174", "elster-as1440", "mode-b", "prog-lp"):
        r = run(Doctor(), VirtualLine(make_meter(profile)))
        assert r["verdict"] == "ok", (profile, r["text"])
        last = r["steps"][-1]
        assert last["step"] == "readout check" and "every block check correct" in last["detail"]


def test_mode_a_meter_still_talking_does_not_spoil_the_readout_check():
    # Mode A sends its data right after the identification at 300 baud (6.4.2): the doctor
    # must wait for the line to fall quiet before its readout check signs on again.
    r = run(Doctor(), VirtualLine(make_meter("mode-a")))
    assert r["verdict"] == "ok", r["text"]
    assert "300 baud only (IEC mode A)" in r["text"]


def test_address_only_meter_without_an_address_is_silent_with_a_hint():
    r = _diagnose("address-only", "lgz-zmd", address=None, readout_check=False)
    assert r["verdict"] == "silent", r["text"]
    assert "--address" in r["text"]


def test_battery_profile_needs_wakeup_without_any_fault():
    r = run(Doctor(readout_check=False), VirtualLine(make_meter("battery")))
    assert r["verdict"] == "needs-wakeup", r["text"]


def test_mode_d_pusher_at_its_standard_rate():
    r = run(Doctor(readout_check=False), VirtualLine(make_meter("mode-d")))
    assert r["verdict"] == "wrong-framing" and "by itself at 2400" in r["text"], r["text"]


def test_apply_profile_copies_and_never_touches_the_original():
    orig = get_profile("iskra-mt174")
    p = apply_profile("push-9600", orig)
    assert p["mode"] == "D" and p["push_baud"] == 9600
    assert orig["mode"] == "C" and "push_baud" not in orig
    p = apply_profile("address-only", orig)
    assert p["address"] and not orig.get("address")


def test_unknown_fault_names_the_known_ones():
    try:
        line_faults("no-such-fault")
    except KeyError as e:
        assert "unpowered" in str(e)
    else:
        assert False, "unknown fault accepted"


def _dlms_doctor(name, faults=None):
    from irprobe.sim import dlms_profiles as dp

    trace = []
    r = run(Doctor(), VirtualLine(dp.make_meter(dp.PROFILES[name]), faults=faults), trace=trace)
    return r, trace


def test_direct_hdlc_meters_are_found_and_left_disconnected():
    from meterproto.hdlc.frame import decode_frame, K_DISC

    for name, where in (("dlms-direct", "UA from server 1)"), ("dlms-large", "server 1/16")):
        for faults in (None, line_faults("echo")):
            r, trace = _dlms_doctor(name, faults)
            assert r["verdict"] == "ok" and "--mode hdlc" in r["text"], (name, r["text"])
            assert where in r["text"], (name, r["text"])
            last_tx = [t[2] for t in trace if t[1] == ">"][-1]
            assert decode_frame(last_tx).kind == K_DISC  # the meter is left as found


def test_mode_e_meter_without_text_readout_is_ok_in_mode_e():
    r, _ = _dlms_doctor("dlms-mode-e")
    assert r["verdict"] == "ok" and "--mode e" in r["text"], r["text"]
    names = [s["step"] for s in r["steps"]]
    assert names == ["sign-on 300 7E1", "readout check", "mode E check", "SNRM after mode E"]
    assert "1/17" in r["steps"][-1]["detail"]


def test_line_only_faults_do_not_change_the_meter():
    from irprobe.sim.faults import changes_meter

    assert not changes_meter("crosstalk") and not changes_meter("misaligned")
    assert changes_meter("asleep") and changes_meter("address-only")
    assert changes_meter("push-9600")


def test_settle_waits_for_a_meter_still_sending_and_resets_the_line():
    # As when the probe app breaks off a read for the doctor: the port is still at 9600
    # and the meter is half-way through a 300 baud mode A readout.
    meter = make_meter("mode-a")
    line = VirtualLine(meter)
    from meterproto.iec.msg import sign_on

    line.write(sign_on())
    line.read(3000)  # the meter is answering now
    line.set_line(9600, 0)
    trace = []
    r = run(Doctor(readout_check=False, settle_ms=1600), line, trace=trace)
    assert r["verdict"] == "ok", r["text"]
    assert trace[0][1] == "=" and trace[0][2][0] == 300
    first_tx = [t for t in trace if t[1] == ">"][0]
    assert first_tx[0] > 5000  # signed on only once the readout had ended


def test_doctor_finds_a_four_byte_address_made_from_the_serial():
    from meterproto.hdlc.frame import decode_frame, K_DISC
    from meterproto.hdlc.discover import candidates
    from irprobe.sim import dlms_profiles as dp

    p = dict(dp.PROFILES["dlms-direct"], server_lower=1000 + 1)  # serial 70000001
    trace = []
    r = run(Doctor(address="70000001"), VirtualLine(dp.make_meter(p)), trace=trace)
    assert r["verdict"] == "ok" and "--server 1/1001" in r["text"], r["text"]
    hd = r["steps"][-1]
    assert "1/1001" in hd["detail"], hd
    snrms = [t[2] for t in trace if t[1] == ">" and t[2][:1] == b"\x7e"
             and decode_frame(t[2]).kind != K_DISC]
    # every usual address was tried in turn before the serial-derived one answered
    assert len(snrms) >= len(candidates("70000001"))
