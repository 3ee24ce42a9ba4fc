# devices: RP2040 boards from a fake list_ports, and the hello of a simulated probe on a pty.
import json

from irprobe import cmd_devices
from irprobe.cli import build_parser
from irprobe.sim.probe_sim import ProbeSim


class Port:
    def __init__(self, device, vid, pid, serial_number=None, description=""):
        self.device, self.vid, self.pid = device, vid, pid
        self.serial_number, self.description = serial_number, description


def _args(*extra):
    return build_parser().parse_args(["devices"] + list(extra))


def test_lists_only_rp2040_boards_with_hello(tmp_path, capsys):
    with ProbeSim("iskra-mt174", root=str(tmp_path / "p")) as sim:
        ports = [
            Port(sim.port, 0x2E8A, 0x0005, "E6614C311B5C3C2D", "Board in FS mode"),
            Port("/dev/ttyACM7", 0x239A, 0x80F4, "DF60BCA0", "CircuitPython CDC"),
            Port("/dev/ttyUSB0", 0x0403, 0x6001, "FT123", "FT232R IR head"),
            Port("/dev/ttyS0", None, None),
        ]
        assert cmd_devices.run(_args("--json", "--timeout", "0.3"), comports=ports) == 0
    boards = json.loads(capsys.readouterr().out)
    assert [b["port"] for b in boards] == sorted([sim.port, "/dev/ttyACM7"])
    by = {b["port"]: b for b in boards}
    assert by[sim.port]["kind"] == "MicroPython"
    assert by[sim.port]["serial"] == "E6614C311B5C3C2D"
    from meterproto import __version__

    st = sim.store.status()
    got = by[sim.port]["irprobe"]
    room = got.pop("storage")  # the simulated probe stores on the host's disk: it moves a bit
    assert got == {"version": __version__, "device": sim.server.device_id}
    assert room["count"] == st["count"] and room["capacity"] == st["count"] + room["slots_left"]
    assert abs(room["slots_left"] - st["slots_left"]) < st["slots_left"] // 100
    assert by["/dev/ttyACM7"]["kind"].startswith("Adafruit")
    assert by["/dev/ttyACM7"]["irprobe"] is None  # nothing answers there


def test_table_and_empty(capsys):
    seen = []

    def hello(port, timeout):
        seen.append(port)
        return {"version": "0.1.0", "device": "E661\x1b[2J"}  # hostile text is escaped

    assert (
        cmd_devices.run(
            _args(), comports=[Port("/dev/ttyACM0", 0x2E8A, 0x0005, "S1")], hello=hello
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "/dev/ttyACM0" in out and "v0.1.0" in out and "\x1b[2J" not in out
    assert seen == ["/dev/ttyACM0"]
    assert cmd_devices.run(_args(), comports=[]) == 0
    assert "no RP2040 board found" in capsys.readouterr().out
    assert (
        cmd_devices.run(_args("--no-hello", "--json"), comports=[Port("/dev/x", 0x2E8A, 0x000A)])
        == 0
    )
    assert json.loads(capsys.readouterr().out)[0]["kind"] == "RP2040 (pid 000A)"
