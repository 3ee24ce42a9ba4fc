# The reader app with the real store, config and USB command server (probe.store,
# probe.config, probe.usb): press -> stored -> pulled by the host -> acknowledged -> deleted;
# host TAKE and BRIDGE through the app's hooks; no flash work while a read runs.
import pytest

from irprobe.sim.profiles import get_profile, make_meter
from irprobe.sim.vline import VirtualLine
from meterproto.link import channel as H
from meterproto.link.host import HostSide
from fw_helpers import decoded
from probe.app import App
from probe.config import Config
from probe.fsys import Fsys
from probe.hal_fake import FakeHardware
from probe.store import Store
from probe.usb import CommandServer

from fw_helpers import Pipe


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
    return app, hw, store, HostSide(), to_dev, from_dev


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
    assert len(pulled.value) == 2
    (rec,) = decoded(pulled.value)  # its schema, then the reading
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
    app, hw, store, host, to_dev, from_dev = _setup(tmp_path, presses=((0, 1000),))
    _call(app, host, to_dev, from_dev, host.hello())
    assert app.host_session
    app.run(until_ms=500)
    assert not app.busy  # the button is off while the host holds the channel
    assert app.begin_read()  # as a host TAKE would
    assert app.busy
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


class _WatchedFs(Fsys):
    """Fails the test if anything writes to flash while a meter session runs."""

    app = None
    writes = 0

    def _guard(self, what):
        if self.app is not None and self.app.busy:
            raise AssertionError("flash %s during a meter session" % what)
        _WatchedFs.writes += 1

    def open(self, path, mode):
        if "w" in mode or "a" in mode:
            self._guard("write of " + path)
        return Fsys.open(self, path, mode)

    def rename(self, src, dst):
        self._guard("rename")
        return Fsys.rename(self, src, dst)

    def remove(self, path):
        self._guard("remove")
        return Fsys.remove(self, path)

    def mkdir(self, path):
        self._guard("mkdir")
        return Fsys.mkdir(self, path)


def test_no_flash_writes_while_a_session_runs(tmp_path):
    fs = _WatchedFs(str(tmp_path))
    store = Store(fs)
    store.recover()
    config = Config(fs).load()
    hw = FakeHardware(VirtualLine(make_meter("iskra-mt174")), presses=((100, 250),))
    app = App(hw, config, store)
    to_dev, from_dev = Pipe(), Pipe()
    app.server = CommandServer(to_dev, from_dev, store, config, app=app, device_id="t")
    host = HostSide()
    _WatchedFs.app = app
    before = _WatchedFs.writes
    app.run(until_ms=300)
    assert app.busy
    # The host tries to change the config and to acknowledge while the read runs.
    _call(app, host, to_dev, from_dev, host.hello(), ticks=20)
    refused = 0
    for make in (lambda: host.config_set({"set": {"device_name": "x"}}), lambda: host.ack(0)):
        with pytest.raises(H.DeviceError) as e:
            _call(app, host, to_dev, from_dev, make(), ticks=20)
        assert e.value.code == "busy"
        refused += 1
    assert refused == 2 and app.busy
    app.run(until_ms=8000)
    assert app.last["outcome"] == "success"
    assert _WatchedFs.writes > before  # the commit did happen, after the session
    _WatchedFs.app = None


def test_settings_from_config_profile_and_options(tmp_path):
    from probe.read_job import make_session
    from probe.settings import settings

    config = Config(Fsys(str(tmp_path))).load()
    config.apply({"meters": [{"name": "a", "mode": "iec-c", "max_baud": 2400,
                              "address": "61234567", "password": "12345678"},
                             {"name": "b", "mode": "hdlc", "client": 48,
                              "keys": {"ek": "000102030405060708090A0B0C0D0E0F"}}],
                  "set": {"active": "a", "options": {"interval_s": 900}}})
    s = settings(config)
    assert (s["mode"], s["max_baud"], s["address"], s["interval_s"]) == \
        ("iec", 2400, "61234567", 900)  # "iec-c" is stored in the one vocabulary
    m = make_session(s)
    assert type(m).__name__ == "IecClient" and m.password == "12345678" and m.max_baud == 2400
    m = make_session(settings(config, "b"))
    # direct HDLC: the DLMS client itself, no meterproto.session.auto around it (heap)
    assert type(m).__name__ == "DlmsClient" and m.set_line_first and m.baud == 9600
    assert m.client_sap == 48 and m.ek == bytes(range(16))
    from probe.session import phase

    assert phase(m) == "DlmsClient 0"  # what probe.heapmark names as the read's phase
    with pytest.raises(Exception) as e:
        settings(config, "nope")
    assert "no meter profile named 'nope'" in str(e.value)


def test_profile_auth_reads_a_meter_that_wants_the_keys_alone(tmp_path):
    # A profile names its DLMS authentication (probe.config AUTHS): with keys and "lowest",
    # the probe reads the meter that refuses HLS-GMAC (the simulator's dlms-ciphered).
    from meterproto.driver import run
    from probe.read_job import make_session
    from probe.settings import settings

    p = get_profile("dlms-ciphered")
    config = Config(Fsys(str(tmp_path))).load()
    config.apply({"meters": [{"name": "c", "mode": "hdlc", "client": p["client_sap"],
                              "auth": "lowest", "keys": {"ek": p["ek"], "ak": p["ak"]}}],
                  "set": {"active": "c"}})
    m = make_session(settings(config))
    assert m.mechanism == 0  # "lowest", as the profile says
    reading = run(m, VirtualLine(make_meter(p)))
    got = {v.obis: v.value for v in reading.values}
    for e in p["expected"]["values"]:
        assert got.get(e["obis"]) == e["value"]
    with pytest.raises(Exception) as e:
        config.apply({"meters": [{"name": "c", "auth": "hls"}]})
    assert "auth must be one of lowest, low, hls-gmac" in str(e.value)
