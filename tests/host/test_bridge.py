# bridge: the simulated probe in transparent mode behind a local pty; `irprobe read` talks to
# the simulated meter through it (300 Bd sign-on, switch to the agreed rate, readout).
import json
import threading

from irprobe import cli
from irprobe.cmd_bridge import Bridge
from irprobe.probelink import ProbeLink
from irprobe.sim.probe_sim import ProbeSim
from irprobe.sim.profiles import get_profile


def test_read_through_the_bridge(tmp_path, capsys):
    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as sim:
        link = ProbeLink.open(sim.port)
        br = Bridge(link).start()
        t = threading.Thread(target=br.run, daemon=True)
        t.start()
        try:
            rc = cli.main(
                ["read", "--port", br.port, "--mode", "iec", "--max-baud", "9600", "--json"]
            )
        finally:
            br.stop()
            t.join(5)
            br.close()
        out = capsys.readouterr().out
        assert rc == 0, out
        d = json.loads(out)
        exp = get_profile("iskra-mt174")["expected"]
        assert [(v["obis"], v["value"]) for v in d["values"]] == [
            (e["obis"], e["value"]) for e in exp
        ]
        assert br.switches >= 1  # 300 Bd -> 9600 Bd went through the probe
        assert [ln[1] for ln in sim.hw.port.lines][:2] == [300, 9600]
        # After the bridge the probe is back to frames: the same link still works.
        assert link.status()["device_id"] == sim.server.device_id
        link.close()


def test_bridge_command_prints_port_and_closes(tmp_path, capsys):
    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as sim:
        assert cli.main(["bridge", "--port", sim.port, "--timeout", "0.3"]) == 0
        cap = capsys.readouterr()
        assert json.loads(cap.out.splitlines()[0])["port"].startswith("/dev/")
        assert "bridge closed" in cap.err
        with ProbeLink.open(sim.port) as link:
            assert link.status()["count"] == 0


def test_bridge_refused_while_unsupported(tmp_path, capsys):
    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as sim:
        sim.app.bridge = None  # as a probe whose reader app is not running
        sim.server.app = None
        assert cli.main(["bridge", "--port", sim.port, "--timeout", "0.2"]) == 2
        assert "the probe refused bridge mode" in capsys.readouterr().err
