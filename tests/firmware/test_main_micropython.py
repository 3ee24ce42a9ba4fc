# firmware/main.py and the reader app on the MicroPython unix port, with the hardware
# modules faked (tests/firmware/fake_modules: machine, rp2, neopixel).
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")

pytestmark = pytest.mark.skipif(not os.path.exists(MPY), reason="micropython unix port missing")


def _run(script, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(script)
    r = subprocess.run([MPY, "-X", "heapsize=2m", str(path)], capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_main_py_boots_and_loops_with_faked_hardware(tmp_path):
    out = _run("""
import sys
sys.path.insert(0, %r)
sys.path.insert(1, %r)
sys.path.insert(2, %r)
import machine
machine.BUTTON_READS_LEFT[0] = 60   # the 61st button read stops the loop
import probe.app
probe.app.ROOT = %r
try:
    import main
except KeyboardInterrupt:
    print("STOPPED-BY-TEST")
uarts = [c[1] for c in machine.LOG if c[0] == "uart"]
print("UART", uarts[0][0], uarts[0][1]["baudrate"], uarts[0][1]["bits"], uarts[0][1]["parity"])
""" % (os.path.join(HERE, "fake_modules"), os.path.join(ROOT, "firmware", "lib"),
       os.path.join(ROOT, "firmware"), str(tmp_path)), tmp_path)
    assert "STOPPED-BY-TEST" in out, out
    assert "UART 0 300 7 0" in out, out


def test_app_reads_a_simulated_meter_on_micropython(tmp_path):
    out = _run("""
import sys
sys.path.insert(0, %r)
sys.path.insert(1, %r)
from irprobe.sim.profiles import make_meter
from irprobe.sim.vline import VirtualLine, Faults
from probe.hal_fake import FakeHardware
from probe.app import App

class Mem:
    def __init__(self):
        self.records = []
    def commit(self, reading, time_s, digest):
        self.records.append(reading)
        return len(self.records)

for faults in (None, Faults(unpowered=True)):
    hw = FakeHardware(VirtualLine(make_meter("iskra-mt174"), faults=faults), presses=((100, 250),))
    a = App(hw, {"max_baud": 9600}, Mem())
    a.run(until_ms=25000)
    print("RESULT", a.last["outcome"], a.last["seq"], len(a.store.records),
          hw.led.flashes()[-1][0])
""" % (os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware", "lib")), tmp_path)
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT")]
    assert lines == ["RESULT success 1 1 1500", "RESULT no-answer None 0 200"], out
