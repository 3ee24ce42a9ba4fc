# The reader app with the real store, config and USB command server (probe.store,
# probe.config, probe.usb): press -> stored -> pulled by the host -> acknowledged -> deleted;
# host TAKE and BRIDGE through the app's hooks; no flash work while a read runs.
import pytest

from irprobe.sim.profiles import get_profile, make_meter
from irprobe.sim.vline import VirtualLine
from meterproto import hostlink as H
from meterproto.records import decode_record
from probe.app import App
from probe.config import Config
from probe.fsys import Fsys
from probe.hal_fake import FakeHardware
from probe.store import Store
from probe.usb import CommandServer


class Pipe:
    def __init__(self):
        self.buf = bytearray()

    def read(self):
        out = bytes(self.buf)
        self.buf = bytearray()
        return out

    def write(self, data):
        self.buf.extend(data)


def _setup(tmp_path, presses=((100, 250),), meter="iskra-mt174"):
    fs = Fsys(str(tmp_path))
    store = Store(fs)
    store.recover()
    config = Config(fs).load()
    config.apply({"meters": [{"name": "kitchen", "mode": "iec-c", "max_baud": 4800}],
                  "set": {"active": "kitchen"}})
    hw = FakeHardware(VirtualLine(make_meter(meter)), presses=presses)
    app = App(hw, config, store)
    to_dev, from_dev = Pipe(), Pipe()
    app.server = CommandServer(to_dev, from_dev, store, config, app=app, device_id="test")
    return app, hw, store, H.HostSide(), to_dev, from_dev


def _call(app, host, to_dev, from_dev, frame, ticks=2000):
    to_dev.write(frame)
    for _ in range(ticks):
        app.tick()
        data = from_dev.read()
        if data:
            r = host.receive(data)
            if r is not None:
                return r
    raise AssertionError("no answer from the probe")


def test_press_store_pull_ack_delete(tmp_path):
    app, hw, store, host, to_dev, from_dev = _setup(tmp_path)
    app.run(until_ms=8000)
    assert app.last["outcome"] == "success" and app.last["seq"] == 1
    # The active profile's max_baud (4800) came from the config.
    assert [ln[1] for ln in hw.port.lines] == [300, 4800]
    hello = _call(app, host, to_dev, from_dev, host.hello())
    assert hello.value["count"] == 1 and hello.value["last_seq"] == 1
    pulled = _call(app, host, to_dev, from_dev, host.pull(0, 4096))
    assert len(pulled.value) == 1
    rec = decode_record(pulled.value[0])
    assert rec.seq == 1
    expected = get_profile("iskra-mt174")["expected"]
    assert [v["value"] for v in rec.reading["values"]] == [e["value"] for e in expected]
    acked = _call(app, host, to_dev, from_dev, host.ack(1))
    assert acked.value["count"] == 0
    assert list(store.records()) == []


def test_host_take_reads_through_the_app(tmp_path):
    app, hw, store, host, to_dev, from_dev = _setup(tmp_path, presses=())
    _call(app, host, to_dev, from_dev, host.hello())
    r = _call(app, host, to_dev, from_dev, host.take(store=True))
    assert r.value["outcome"] == "success" and r.value["seq"] == 1
    assert store.status()["count"] == 1


def test_ack_while_reading_is_refused_as_busy(tmp_path):
    app, hw, store, host, to_dev, from_dev = _setup(tmp_path)
    _call(app, host, to_dev, from_dev, host.hello())
    while not app.busy:
        app.tick()
    with pytest.raises(H.DeviceError) as e:
        _call(app, host, to_dev, from_dev, host.ack(1), ticks=5)
    assert e.value.code == "busy"
    app.run(until_ms=8000)
    assert app.last["outcome"] == "success"


def test_bridge_mode_passes_meter_bytes_to_the_host(tmp_path):
    app, hw, store, host, to_dev, from_dev = _setup(tmp_path, presses=())
    _call(app, host, to_dev, from_dev, host.hello())
    r = _call(app, host, to_dev, from_dev, host.bridge(300, "7E1", idle_ms=3000))
    assert "escape" in r.value
    to_dev.write(b"/?!\r\n")
    got = bytearray()
    for _ in range(400):
        app.tick()
        got += from_dev.read()
        if got.endswith(b"\r\n"):
            break
    assert bytes(got) == b"/ISk5MT174-0001\r\n"
    assert app.host_session  # button reads are off while the host owns the line
