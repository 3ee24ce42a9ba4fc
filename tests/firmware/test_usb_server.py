# probe.usb.CommandServer with hostlink.HostSide back to back, on a simulated flash: the
# whole sync (pull, ack), config secrets, take, bridge, Ctrl-C and idle handling.
import sys
import types

import pytest

from irprobe.sim.simflash import SimFlash
from meterproto.link import channel as H
from meterproto.link.host import HostSide
from meterproto.link.recpack import Unpacker
from probe.config import Config
from probe.store import Store

from fw_helpers import Pipe
from probe import usb


class Clock:
    def __init__(self):
        self.t = 1700000000

    def time_s(self):
        return self.t


class FakeApp:
    def __init__(self, store):
        self.store = store
        self.busy = False
        self.hw = types.SimpleNamespace(clock=Clock())
        self.outcome = "success"
        self.to_meter = bytearray()
        self.meter_replies = []
        self.lines = []

    def take_reading(self):
        if self.outcome != "success":
            return {"outcome": self.outcome, "seq": None, "reading": None,
                    "message": "the meter did not answer"}
        value = {"obis": "1-0:1.8.0*255", "value": "000042.000", "unit": "kWh"}
        reading = {"protocol": "iec62056-21", "values": [value]}
        seq = self.store.commit(reading, self.hw.clock.time_s())
        return {"outcome": "success", "seq": seq, "reading": reading, "message": "ok"}

    def bridge(self, data=b"", baud=None, fmt=None, listen_ms=0):
        if baud is not None:
            self.lines.append((baud, fmt))
        self.to_meter += data
        return self.meter_replies.pop(0) if self.meter_replies else b""


@pytest.fixture
def kbd(monkeypatch):
    calls = []
    mod = types.ModuleType("micropython")
    mod.kbd_intr = calls.append
    monkeypatch.setitem(sys.modules, "micropython", mod)
    return calls


class Rig:
    def __init__(self, n_records=0):
        self.fs = SimFlash(blocks=600)
        self.store = Store(self.fs)
        self.store.recover()
        for i in range(n_records):
            reading = {"protocol": "dlms", "values": [], "i": i, "pad": "x" * (i * 40)}
            self.store.commit(reading, 1000 + i)
        self.config = Config(self.fs).load()
        self.app = FakeApp(self.store)
        self.inp = Pipe()
        self.out = Pipe()
        self.srv = usb.CommandServer(self.inp, self.out, self.store, self.config, self.app,
                                     device_id="E661TEST")
        self.hs = HostSide()
        self.now = 0

    def step(self, data=b""):
        self.inp.write(data)
        self.now += 10
        self.srv.poll(self.now)
        return self.out.read()

    def call(self, frame):
        return self.hs.call(frame, self.inp.write, self._read)

    def _read(self):
        self.now += 10
        self.srv.poll(self.now)
        return self.out.read()


def test_hello_status_and_kbd_intr_switching(kbd):
    rig = Rig(3)
    assert rig.step(b"garbage from a terminal\r\n") == b""  # no session, no answer, no crash
    r = rig.call(rig.hs.hello())
    v = r.value
    assert v["device_id"] == "E661TEST" and v["proto"] == 1 and v["count"] == 3
    assert v["first_seq"] == 1 and v["last_seq"] == 3 and v["full"] is False
    assert v["clock"] == 1700000000 and v["firmware"]
    assert kbd == [-1]
    rig.call(rig.hs.bye())
    assert kbd == [-1, 3]
    with pytest.raises(H.DeviceError) as ei:  # session closed: hello again first
        rig.call(rig.hs.status())
    assert ei.value.code == H.E_NO_SESSION


def test_full_sync_pull_in_pieces_then_ack(kbd):
    rig = Rig(12)
    rig.call(rig.hs.hello())
    listed = rig.call(rig.hs.list(0, 5)).value
    assert [row[0] for row in listed["records"]] == [1, 2, 3, 4, 5] and listed["more"]
    assert listed["records"][0][1] == 1000
    got = []
    cursor = 0
    pulls = 0
    up = Unpacker()  # keeps the schema across pulls, as sync does
    while True:
        recs = rig.call(rig.hs.pull(cursor, 300, up.last)).value
        pulls += 1
        if not recs:
            break
        assert sum(len(r) for r in recs) <= 300 or len(recs) <= 2  # whole records only
        got += [r for r in (up.feed(raw) for raw in recs) if r is not None]
        cursor = got[-1].seq + 1
    assert [r.seq for r in got] == list(range(1, 13)) and pulls > 3
    assert got[4].raw == rig.store.read(5)
    st = rig.call(rig.hs.ack(got[-1].seq)).value
    assert st["count"] == 0 and st["acked"] == 12
    assert rig.call(rig.hs.pull(0)).value == []
    # the records are gone from flash; an ack again is harmless
    assert not [p for p in rig.fs.files if p.endswith(".seg")]
    assert rig.call(rig.hs.ack(12)).value["acked"] == 12


def test_pull_asks_for_less_when_the_heap_has_no_room(kbd):
    # A fragmented heap (MemoryError for a large answer): the probe frees what it can and
    # sends a smaller answer instead of failing the sync.
    rig = Rig(12)
    real = rig.store.pull
    asked = []

    def pull(first, max_bytes, have=None):
        asked.append(max_bytes)
        if max_bytes > 1024:
            raise MemoryError("memory allocation failed")
        return real(first, max_bytes, have)

    rig.store.pull = pull
    rig.app.room = 0
    rig.app.make_room = lambda: setattr(rig.app, "room", rig.app.room + 1)
    rig.call(rig.hs.hello())
    recs = rig.call(rig.hs.pull(0, 8000)).value
    assert asked[:2] == [8000, 1024] and rig.app.room == 1
    assert 0 < sum(len(r) for r in recs) <= 1024 or len(recs) == 1


def test_a_large_take_answer_goes_out_in_pieces(kbd):
    # The TAKE answer (a day of load profile as JSON) is written in pieces as it is made:
    # the host gets the same reading, and no write is near the answer's size.
    rig = Rig()
    rows = [["2026-11-24 %02d:%02d:00" % (k // 4, k % 4 * 15), str(1000 + k)]
            for k in range(96)]
    reading = {"protocol": "dlms", "values": [], "profiles": [{"rows": rows}]}
    rig.app.take_reading = lambda: {"outcome": "success", "seq": 1, "reading": reading,
                                    "message": "ok"}
    writes = []
    real = rig.out.write

    def write(data):
        writes.append(len(data))
        return real(data)

    rig.srv.out.write = write
    rig.call(rig.hs.hello())
    del writes[:]
    v = rig.call(rig.hs.take()).value
    assert v["reading"] == reading
    assert sum(writes) > 3000 and max(writes) < 1024, (sum(writes), max(writes))


def test_config_secrets_are_never_echoed(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    frame = rig.hs.config_set({"meters": [{"name": "home", "mode": "dlms", "max_baud": 9600,
                                           "password": "s3cretPW", "client": 16, "server": 1,
                                           "keys": {"ak": "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"}}],
                               "set": {"active": "home", "options": {"interval_s": 900}}})
    rig.inp.write(frame)
    raw = rig._read()
    assert b"s3cretPW" not in raw and b"D0D1D2" not in raw
    v = rig.hs.receive(raw).value
    m = v["meters"][0]
    assert m["password"] == "***" and m["has_password"] and m["keys"] == {"ak": "***"}
    # round-tripping the masked profile keeps the secret; the reader sees the real one
    rig.call(rig.hs.config_set({"meters": [{"name": "home", "password": "***",
                                            "keys": {"ak": "***"}, "max_baud": 19200}]}))
    again = Config(rig.fs).load()
    assert again.profile("home")["password"] == "s3cretPW"
    assert again.profile()["keys"]["ak"] == "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
    assert again.max_baud == 19200 and again.mode == "auto" and again.interval_s == 900
    raw = rig.step(rig.hs.config_get())
    assert b"s3cretPW" not in raw and b"D0D1D2" not in raw
    # bad settings are refused in plain words and change nothing
    for bad in ({"meters": [{"name": "home", "max_baud": 5}]},
                {"meters": [{"name": "x", "colour": 1}]},
                {"meters": [{"name": "home", "keys": {"enc": "XYZ"}}]},
                {"set": {"active": "nope"}}, {"bogus": 1},
                {"meters": [{"name": "home", "mode": "bogus"}]},
                {"meters": [{"name": "home", "max_baud": 12345}]},
                {"meters": [{"name": "home", "address": "ab$c"}]},
                {"set": {"options": {"interval_s": -5}}},
                {"set": {"options": {"colour": "red"}}}, {"remove": ["nosuch"]}):
        with pytest.raises(H.DeviceError) as ei:
            rig.call(rig.hs.config_set(bad))
        assert ei.value.code == H.E_BAD_REQUEST and ei.value.message
    assert Config(rig.fs).load().profile("home")["max_baud"] == 19200
    # clearing a secret
    rig.call(rig.hs.config_set({"meters": [{"name": "home", "password": None}]}))
    assert rig.call(rig.hs.config_get()).value["meters"][0]["has_password"] is False


def test_take_reading_now_and_its_failures(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    v = rig.call(rig.hs.take()).value
    assert v["seq"] == 1 and v["reading"]["values"][0]["value"] == "000042.000"
    rig.app.outcome = "no-answer"
    with pytest.raises(H.DeviceError) as ei:
        rig.call(rig.hs.take())
    assert ei.value.code == "no-answer" and "did not answer" in ei.value.message
    # a retried TAKE whose answer was lost is not read twice
    rig.app.outcome = "success"
    f = rig.hs.take()
    rig.step(f)  # answer lost
    resp = rig.hs.receive(rig.step(rig.hs.retry()))
    assert resp.value["seq"] == 2 and rig.store.status()["count"] == 2


def test_busy_probe_refuses_flash_writes_but_serves_reads(kbd):
    rig = Rig(2)
    rig.call(rig.hs.hello())
    rig.app.busy = True
    with pytest.raises(H.DeviceError) as ei:
        rig.call(rig.hs.ack(2))
    assert ei.value.code == "busy" and "after it ends" in ei.value.message
    assert len(rig.call(rig.hs.pull(0)).value) == 3  # a schema and two readings
    assert rig.call(rig.hs.status()).value["busy"] is True
    rig.app.busy = False
    assert rig.call(rig.hs.ack(2)).value["count"] == 0


def test_bad_arguments_bad_crc_and_unknown_commands(kbd):
    rig = Rig(1)
    rig.call(rig.hs.hello())
    hs = rig.hs
    for make in (lambda: hs.ack(-1), lambda: hs.pull("x"), lambda: hs.list(0, 100000),
                 lambda: hs.set_clock(None)):
        with pytest.raises(H.DeviceError) as ei:
            rig.call(make())  # one request at a time: the newest one is the pending one
        assert ei.value.code == H.E_BAD_REQUEST
    f = bytearray(rig.hs.status())
    f[-3] ^= 0x01
    with pytest.raises(H.RetryNeeded):
        rig.hs.receive(rig.step(bytes(f)))
    assert rig.hs.receive(rig.step(rig.hs.retry())).value["count"] == 1
    rig.hs.request(0x33)
    with pytest.raises(H.DeviceError) as ei:
        rig.hs.receive(rig.step(H.encode_frame(0x33, rig.hs.pending[0], b"{}")))
    assert ei.value.code == H.E_UNKNOWN


def test_set_clock(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    assert rig.call(rig.hs.set_clock(1800000000)).value["clock"] == 1800000000
    assert rig.call(rig.hs.status()).value["clock"] == 1800000000
    rig.app.hw.clock.t += 5
    assert rig.call(rig.hs.status()).value["clock"] == 1800000005


def test_bridge_passes_bytes_and_ends_on_escape_split_across_polls(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    rig.inp.write(rig.hs.bridge(300, "7E1"))
    rig.inp.write(b"/?!\r\n")  # the first meter bytes ride in the same USB packet
    out = rig._read()
    assert rig.hs.receive(out).value["escape"].lower() == H.ESCAPE.hex()
    assert rig.app.lines == [(300, 0)] and bytes(rig.app.to_meter) == b"/?!\r\n"
    rig.app.meter_replies = [b"/LGZ5\\2ZMD\r\n", b"\x02F.F(00)\r\n!\r\n\x03\x03"]
    assert rig.step() == b"/LGZ5\\2ZMD\r\n"
    assert rig.step(b"\x06050\r\n\x03") == b"\x02F.F(00)\r\n!\r\n\x03\x03"  # 0x03 passes
    esc = rig.hs.end_bridge()
    assert rig.step(b"\x01B0\x03q" + esc[:7]) == b""
    assert bytes(rig.app.to_meter).endswith(b"\x01B0\x03q")
    end = rig.step(esc[7:])
    r = rig.hs.receive(end)
    assert r.value == {"reason": "escape", "to_meter": 5 + 6 + 6, "from_meter": 12 + 15}
    assert not bytes(rig.app.to_meter).endswith(b"\x1b")  # the escape never reached the meter
    assert rig.call(rig.hs.status()).value["count"] == 0  # back to frames


def test_bridge_idle_timeout(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    rig.call(rig.hs.bridge(9600, "8N1", idle_ms=100))
    rig.hs.end_bridge()  # expect the BRIDGE_END frame (no escape sent)
    out = b""
    for _ in range(20):
        out += rig.step()
    assert rig.hs.receive(out).value["reason"] == "idle"
    assert rig.app.lines == [(9600, 1)]


def test_raw_ctrl_c_ends_the_session_and_keeps_its_meaning(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    with pytest.raises(KeyboardInterrupt):
        rig.step(b"\r\x03")
    assert kbd == [-1, 3]
    assert not rig.srv.link.session_open


def test_idle_session_gives_ctrl_c_back(kbd):
    rig = Rig()
    rig.call(rig.hs.hello())
    rig.now += 31000
    rig.srv.poll(rig.now)
    assert kbd == [-1, 3] and not rig.srv.link.session_open


def test_serve_loop_for_the_raw_repl_path(kbd):
    rig = Rig(2)
    hs = rig.hs
    script = [hs.hello(), hs.pull(0, 4096), hs.bye()]

    class ScriptIn:
        def read(self):
            return script.pop(0) if script else b""

    srv = usb.CommandServer(ScriptIn(), rig.out, rig.store, rig.config, None, device_id="X")
    srv.serve(idle_ms=2000)
    frames = H.FrameDecoder().feed(rig.out.read())
    assert [f.type for f in frames] == [H.CMD_HELLO | 0x80, H.CMD_PULL | 0x80, H.CMD_BYE | 0x80]
    assert len(frames[1].payload) > 40
    assert kbd == [-1, 3]
    # with nobody talking, serve() gives up after idle_ms instead of locking the REPL
    srv2 = usb.CommandServer(ScriptIn(), rig.out, rig.store, rig.config, None)
    srv2.serve(idle_ms=30)
    assert kbd[-1] == 3
    # and the module-level serve() reuses the last server built
    assert usb.current is srv2


def test_no_app_means_unsupported_not_a_crash(kbd):
    rig = Rig()
    srv = usb.CommandServer(rig.inp, rig.out, rig.store, rig.config, None, device_id="X")
    rig.srv = srv
    rig.call(rig.hs.hello())
    for make in (rig.hs.take, rig.hs.bridge):
        with pytest.raises(H.DeviceError) as ei:
            rig.call(make())
        assert ei.value.code == H.E_UNSUPPORTED and "app" in ei.value.message


def test_raw_repl_source_runs_the_registered_server(kbd):
    rig = Rig(1)
    hs = rig.hs
    script = [b"noise the REPL left", hs.hello(), hs.bye()]

    class ScriptIn:
        def read(self):
            return script.pop(0) if script else b""

    usb.CommandServer(ScriptIn(), rig.out, rig.store, rig.config, None, device_id="RAW")
    assert b"\x03" not in H.SERVE_SOURCE and b"\x04" not in H.SERVE_SOURCE
    exec(H.SERVE_SOURCE.decode(), {})  # what the host sends after ENTER_RAW_REPL
    frames = H.FrameDecoder().feed(rig.out.read())
    assert [f.type for f in frames] == [H.CMD_HELLO | 0x80, H.CMD_BYE | 0x80]
    assert b'"device_id":"RAW"' in frames[0].payload and kbd == [-1, 3]
