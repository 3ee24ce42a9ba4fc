# The Pico W logger end to end on the MicroPython unix port: main.py with the hardware faked
# (tests/firmware/fake_modules) reads a simulated meter every interval_s of simulated time and
# publishes each reading to a real MQTT broker through micropython-lib's umqtt.simple (its
# pinned release); every reading arrives once, in order, exact, and the flash is left empty.
import importlib.util
import json
import os
import sys

import pytest

from irprobe.sim.profiles import get_profile

HERE = os.path.dirname(os.path.abspath(__file__))
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")

pytestmark = pytest.mark.skipif(not os.path.exists(MPY), reason="micropython unix port missing")

_BODY = """
sys.path.append(%(mpylib)r)
import probe.fsys
probe.fsys.ROOT = %(board)r
import probe.uplink
probe.uplink.TIMEOUT_S = 3
import main
import probe.main
up = probe.main.running.uplink
a = probe.main.running
print("UPLINK", up.published, up.failures, up.last_error, a.reads, a.faults, a.last and a.last.get("outcome"), a.last and a.last.get("message"))
print("MAIN-RETURNED")
"""


def _meter_host():
    spec = importlib.util.spec_from_file_location(
        "meter_host", os.path.join(HERE, "fake_modules", "meter_host.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_interval_reads_go_to_the_broker_once_each_in_order(tmp_path, mqtt_broker):
    from irprobe import mpylib
    from servers import PASSWORD, USER, Listener

    try:
        mpylib.materialise(["umqtt.simple"], str(tmp_path / "mpylib"))
    except mpylib.LibError as e:
        pytest.skip("the pinned umqtt.simple release cannot be had here: %s" % e)
    board = tmp_path / "board"
    board.mkdir()
    (board / "config.json").write_text(json.dumps({
        "version": 1, "meters": [], "options": {
            "interval_s": 20, "mqtt_host": "127.0.0.1", "mqtt_port": mqtt_broker.port,
            "mqtt_user": USER, "mqtt_password": PASSWORD, "mqtt_prefix": "logger"}}))
    lis = Listener(mqtt_broker, "irprobe/#")
    try:
        r = _meter_host().run_device(
            _BODY % {"mpylib": str(tmp_path / "mpylib"), "board": str(board)}, tmp_path,
            stop_ms=70000, timeout=120, heap="256k")  # the cap of test_heap_budget.py
        text = r.text()
        assert "MAIN-RETURNED" in text, text

        def states():
            return [json.loads(p) for t, p, _ in lis.messages()
                    if t.endswith("/state") and not t.startswith("irprobe/probe/")]

        lis.wait_for(lambda: len(states()) >= 3)
        seqs = [s["seq"] for s in states()]
        assert len(seqs) >= 3 and seqs == list(range(1, len(seqs) + 1)), (seqs, text)
        expected = dict((e["obis"], e["value"]) for e in get_profile("iskra-mt174")["expected"]
                        if e.get("obis"))
        for s in states():  # the meter's decimal text, exactly as it sent it
            shared = [k for k in expected if k in s]
            assert shared and all(s[k] == expected[k] for k in shared), s
        # Nothing lost: what was not acknowledged yet is still on the flash, after the rest.
        left = sorted(int(n[:8]) for _, _, names in os.walk(str(board / "data"))
                      for n in names if n.endswith(".rec"))
        assert left == list(range(len(seqs) + 1, len(seqs) + 1 + len(left))), (left, seqs)
        assert len(left) <= 1
    finally:
        lis.close()
