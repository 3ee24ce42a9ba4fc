# firmware/main.py and the reader app on the MicroPython unix port, with the hardware faked
# (tests/firmware/fake_modules: machine, rp2, neopixel; vtime = a simulated clock). The meter
# UART talks to a simulated meter (irprobe.sim) that runs in this CPython process
# (fake_modules/meter_host.py), and the USB command channel is the device's real stdin/stdout.
import importlib.util
import os
import subprocess
import sys
import time

import pytest

from irprobe.sim.profiles import get_profile
from meterproto.link import channel as H
from meterproto.link.host import HostSide
from meterproto.link.records import split_records

from fw_helpers import decoded, readings_on_flash

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")

pytestmark = pytest.mark.skipif(not os.path.exists(MPY), reason="micropython unix port missing")


def _meter_host():
    # By file path, not via sys.path: other tests must never import the fake `machine`.
    spec = importlib.util.spec_from_file_location(
        "meter_host", os.path.join(HERE, "fake_modules", "meter_host.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Runs main.py the way the board does (board root = `board` folder), after the preamble of
# meter_host (fake hardware on sys.path, simulated clock, meter link).
_MAIN = """
import kbdspy
kbdspy.install()
machine.BUTTON_PRESSES[:] = %(presses)r
machine.PIN_FAULT_AT[0] = %(pin_fault)r
machine.TX_ROOM[0] = %(tx_room)r
import probe.fsys
probe.fsys.ROOT = %(board)r
import main
print("KBD", kbdspy.CALLS)
print("INIT-KW", [sorted(c[1]) for c in machine.LOG if c[0] == "init"][:1])
print("RTC", machine.RTC.set_to[0])
print("MAIN-RETURNED")
%(after)s
"""


def _run_main(tmp_path, presses=(), usb=(), stop_ms=20000, files=None, pin_fault=None,
              tx_room=None, after=""):
    board = tmp_path / "board"
    board.mkdir()
    for name, text in (files or {}).items():
        (board / name).write_text(text)
    body = _MAIN % {"presses": list(presses), "board": str(board), "pin_fault": pin_fault,
                    "tx_room": tx_room, "after": after}
    r = _meter_host().run_device(body, tmp_path, usb_input=usb, stop_ms=stop_ms)
    assert r.rc == 0, r.text()
    assert "MAIN-RETURNED" in r.text(), r.text()
    return r, board


def _records_on_flash(board):
    return readings_on_flash(board / "data")


def _frames(stdout):
    return [f for f in H.FrameDecoder(1 << 20).feed(stdout) if hasattr(f, "type")]


def _expected_values():
    return [e["value"] for e in get_profile("iskra-mt174")["expected"]]


def test_button_and_host_take_store_records_that_the_host_pulls(tmp_path):
    host = HostSide()
    usb = [(12000, host.hello()), (12050, host.take()), (12100, host.pull(0, 16384)),
           (12150, host.pull(2, 16384)), (12170, host.set_clock(1764000000)),
           (12200, host.bye())]
    # tx_room: the UART takes 3 bytes per write() call (rp2, timeout=0, TX buffer full).
    r, board = _run_main(tmp_path, presses=[(500, 650)], usb=usb, tx_room=3)
    text = r.text()
    assert "no /board.json" in text  # the built-in Pico layout
    # Every baud switch passes the buffer sizes again: up to 1.24, init() without them
    # shrinks the ring buffers back to 256 bytes.
    assert "'rxbuf'" in text.split("INIT-KW")[1].splitlines()[0]
    recs = _records_on_flash(board)
    assert [r.seq for r in recs] == [1, 2], text
    for rec in recs:  # what the flash holds is a whole, checked record of the meter's values
        assert [v["value"] for v in rec.reading["values"]] == _expected_values()
    frames = _frames(r.stdout)
    answers = {f.type & 0x7F: f for f in frames}
    assert set(answers) >= {H.CMD_HELLO, H.CMD_TAKE, H.CMD_PULL, H.CMD_BYE}, text
    take = H.decode_json(answers[H.CMD_TAKE].payload)
    assert take["outcome"] == "success" and take["seq"] == 2
    pulls = [[r.seq for r in decoded(split_records(H.pull_records(f.payload)))]
             for f in frames if f.type == H.CMD_PULL | 0x80]
    # from 0: record 1 (and 2 when the free heap lets the answer hold both); from 2: 2
    assert pulls[0] in ([1], [1, 2]) and pulls[1] == [2], pulls
    # Ctrl-C handling: off for the binary session, on again during the meter read (so
    # mpremote is never locked out) and after BYE, and restored when main() ends.
    kbd = eval(text.split("KBD ")[1].splitlines()[0])
    assert kbd == [-1, 3, -1, 3, 3], kbd
    assert "stopped (Ctrl-C)" in text
    # SET_CLOCK (Unix seconds) lands in the RTC as (y, mo, d, weekday, h, mi, s, 0).
    t = time.gmtime(1764000000)
    rtc = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, 0)
    assert text.split("RTC ")[1].splitlines()[0] == repr(rtc)


def test_after_ctrl_c_the_raw_repl_server_still_takes_readings(tmp_path):
    # Path B of docs/COMMAND-CHANNEL.md: the host stopped main.py with Ctrl-C before it ever
    # spoke to it, then runs SERVE_SOURCE in the raw REPL and asks for a reading. After BYE
    # the reader app runs on (probe.repl_serve): a button press at 30 s reads and stores
    # again, and only the next Ctrl-C (at 40 s) ends it.
    host = HostSide()
    usb = [(21000, host.hello()), (21050, host.take()), (21100, host.bye())]
    source = H.SERVE_SOURCE.decode().replace("serve()", "serve(5000)")
    r, board = _run_main(tmp_path, presses=[(30000, 30150)], usb=usb,
                         after="import time\ntime.STOP_MS[0] = 40000\n" + source
                         + "print('SERVE-RETURNED')\n")
    text = r.text()
    assert "SERVE-RETURNED" in text, text
    answers = {f.type & 0x7F: f for f in _frames(r.stdout)}
    take = H.decode_json(answers[H.CMD_TAKE].payload)
    assert take["outcome"] == "success" and take["seq"] == 1, text
    assert text.count("stopped (Ctrl-C)") == 2, text
    assert len(_records_on_flash(board)) == 2, text


def test_bad_board_and_config_files_fall_back_to_defaults_and_still_read(tmp_path):
    r, board = _run_main(tmp_path, presses=[(500, 650)], files={
        "board.json": '{"id": "x", "uart": {"id": 0, "tx": 1, "rx": 0}',  # cut short
        "config.json": '{"version": 1, "meters": [{"mode": "iec"}]}',  # profile without name
    })
    text = r.text()
    assert "/board.json cannot be used" in text and "built-in Raspberry Pi Pico" in text
    assert "config.json is damaged" in text
    assert (board / "config.json.bad").exists() and not (board / "config.json").exists()
    log = (board / "irprobe.log").read_text()
    assert "board.json" in log and "config.json is damaged" in log
    assert len(_records_on_flash(board)) == 1, text


def test_a_fault_in_the_loop_is_logged_and_the_probe_carries_on(tmp_path):
    r, board = _run_main(tmp_path, presses=[(3000, 3150)], pin_fault=50)
    text = r.text()
    assert "carries on: OSError" in text and "simulated pin fault" in text
    assert "carries on" in (board / "irprobe.log").read_text()
    assert len(_records_on_flash(board)) == 1, text  # the press after the fault still reads


def test_storage_that_does_not_work_is_reported_not_fatal(tmp_path):
    r, board = _run_main(tmp_path, presses=[(500, 650)], files={"data": "not a folder"})
    text = r.text()
    assert "the storage does not work" in text and "readings will not be stored" in text
    assert "MAIN-RETURNED" in text  # the reader ran, read, and stopped on Ctrl-C as usual


def _run(script, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(script)
    r = subprocess.run([MPY, "-X", "heapsize=2m", str(path)], capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


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


class _Link:
    session_open = False


class _Server:
    def __init__(self):
        self.link = _Link()
        self._bridge = None
        self.polls = 0

    def poll(self, now_ms):
        self.polls += 1
        return self.link.session_open


def test_usb_server_is_built_only_once_the_host_speaks_and_dropped_after(monkeypatch):
    from probe import usb_watch
    from probe.usb_watch import UsbWatch

    dropped = []  # the real drop forgets modules: not in this test process
    monkeypatch.setattr(usb_watch, "drop_modules", dropped.extend)

    built = []
    waiting = [False]
    w = UsbWatch(lambda: built.append(_Server()) or built[-1])
    w._input_waiting = lambda: waiting[0]
    assert w.poll(0) is False and built == []  # nothing on the serial: no server code loaded
    waiting[0] = True
    assert w.poll(1) is False and len(built) == 1
    built_server = built[0]
    built_server.link.session_open = True
    assert w.poll(2) is True and built_server.polls == 2
    w.drop()
    assert w.server is built_server  # never in the middle of a host session
    built_server.link.session_open = False
    w.drop()
    assert w.server is None and "probe.usb" in dropped


def test_a_port_without_select_runs_the_reader_without_usb():
    from probe.usb_watch import UsbWatch

    def no_select():
        raise ImportError("no module named 'select'")

    w = UsbWatch(lambda: None)
    w._input_waiting = no_select
    assert w.poll(0) is False and w.off
    assert w.poll(1) is False
