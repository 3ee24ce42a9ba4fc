# The doctor on the probe (issue 4): a long button press breaks off the read and runs the
# ladder; the host's DOCTOR command runs it through the USB channel; with a carrier the
# ladder runs with it off and on. The LED tells read OK / echo only / no answer apart.
from irprobe.sim.faults import line_faults, make_faulty_meter
from irprobe.sim.profiles import make_meter
from irprobe.sim.vline import Faults, VirtualLine
from meterproto.link import channel as H
from meterproto.link.host import HostSide
from probe import app as appmod
from probe import doctor_run
from probe.hal_fake import FakeHardware
from probe.usb import CommandServer

from fw_helpers import Pipe
GREEN = (0, 32, 0)
RED = (32, 0, 0)
AMBER = (32, 20, 0)
LED = {"success": [(1500, GREEN)], "no-answer": [(200, RED)] * 3,
       "echo-only": [(80, AMBER), (600, AMBER)] * 2, "error": [(60, RED)] * 6}


class _Store:
    def __init__(self):
        self.records = []

    def commit(self, reading, time_s, digest):
        self.records.append(reading)
        return len(self.records)


class _Carrier:
    def __init__(self):
        self.on = True  # hal_mp starts an enabled carrier at boot
        self.log = []

    def start(self):
        self.on = True
        self.log.append("on")

    def stop(self):
        self.on = False
        self.log.append("off")


def _tail(hw, name):
    want = LED[name]
    return hw.led.flashes()[-len(want):] == want


def _hold_app(meter, faults=None, hold_ms=2600, carrier=None):
    hw = FakeHardware(VirtualLine(meter, faults=faults), presses=((100, 100 + hold_ms),),
                      display=True)
    hw.carrier = carrier
    a = appmod.App(hw, {"max_baud": 9600}, _Store())
    return a, hw


def test_long_press_runs_the_doctor_instead_of_the_read():
    a, hw = _hold_app(make_meter("slow"))  # its read takes longer than the press
    a.run(until_ms=40000)
    assert a.reads == 0 and a.store.records == []  # the read was broken off, not stored
    assert a.last_doctor is not None and a.last_doctor["verdict"] == "ok", a.last_doctor
    assert a.last["outcome"] == "success" and a.last["doctor"] is a.last_doctor
    assert _tail(hw, "success"), hw.led.flashes()[-3:]
    assert hw.display.shown[-1][:2] == ["DOCTOR", "OK"]
    assert a.last_doctor["steps"][-1]["step"] == "readout check"


def test_long_press_after_a_quick_read_keeps_the_reading():
    a, hw = _hold_app(make_meter("iskra-mt174"))  # read done in 1.9 s, button held 2.6 s
    a.run(until_ms=25000)
    assert a.reads == 1 and len(a.store.records) == 1
    assert a.last_doctor["verdict"] == "ok"


def test_short_press_still_reads():
    a, hw = _hold_app(make_meter("iskra-mt174"), hold_ms=150)
    a.run(until_ms=8000)
    assert a.reads == 1 and a.last["outcome"] == "success" and a.last_doctor is None


def test_led_tells_echo_only_from_no_answer():
    for faults, verdict, led in ((Faults(unpowered=True, echo=True), "echo-only", "echo-only"),
                                 (Faults(unpowered=True), "silent", "no-answer")):
        a, hw = _hold_app(make_meter("iskra-mt174"), faults)
        a.run(until_ms=60000)
        assert a.last_doctor["verdict"] == verdict, a.last_doctor
        assert a.last["outcome"] == led and _tail(hw, led), (verdict, hw.led.flashes()[-4:])


def test_other_causes_flash_error_and_say_why():
    meter, _p = make_faulty_meter("adapter-8n1", "iskra-mt174")
    a, hw = _hold_app(meter, line_faults("adapter-8n1"))
    a.run(until_ms=25000)
    assert a.last_doctor["verdict"] == "wrong-framing"
    assert a.last["outcome"] == "error" and "7 data bits" in a.last["message"]
    assert _tail(hw, "error")


def test_carrier_off_and_on_are_both_reported():
    c = _Carrier()
    a, hw = _hold_app(make_meter("iskra-mt174"), carrier=c)
    a.run(until_ms=40000)
    d = a.last_doctor
    assert set(d["carrier"]) == {"off", "on"}
    assert d["carrier"]["off"]["verdict"] == "ok" and d["carrier"]["on"]["verdict"] == "ok"
    assert c.log == ["off", "on", "on"] and c.on  # back as it was


def test_combine_prefers_the_working_carrier_state():
    ok = {"verdict": "ok", "text": "talks.", "steps": []}
    silent = {"verdict": "silent", "text": "nothing.", "steps": []}
    r = doctor_run.combine([(False, silent), (True, ok)])
    assert r["verdict"] == "ok" and "carrier on" in r["text"] and r["carrier"]["off"] is silent
    r = doctor_run.combine([(None, silent)])
    assert r is silent


def test_host_doctor_command_runs_the_ladder_on_the_probe():
    hw = FakeHardware(VirtualLine(make_meter("iskra-mt174"), faults=Faults(unpowered=True,
                                                                           echo=True)))
    a = appmod.App(hw, {"max_baud": 9600}, _Store())
    to_dev, from_dev = Pipe(), Pipe()
    a.server = CommandServer(to_dev, from_dev, None, None, app=a, device_id="t")
    host = HostSide()

    def call(frame):
        to_dev.write(frame)
        for _ in range(5000):
            a.tick()
            data = from_dev.read()
            if data:
                r = host.receive(data)
                if r is not None:
                    return r.value
        raise AssertionError("no answer")

    call(host.hello())
    v = call(host.doctor({"try_hdlc": False, "wakeup": None}))
    assert v["verdict"] == "echo-only" and [s["step"] for s in v["steps"]] == [
        "sign-on 300 7E1"]
    try:
        call(host.doctor({"address": "bad!"}))
    except H.DeviceError as e:
        assert "address" in e.message
    else:
        raise AssertionError("a bad address was accepted")
