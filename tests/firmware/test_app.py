# The whole reader app on CPython: fake hardware (probe.hal_fake) wired to simulated meters
# through the simulated-time line; button -> read -> store -> LED pattern.
from irprobe.sim.profiles import get_profile, make_meter
from irprobe.sim.vline import Faults, VirtualLine
from meterproto.errors import Refused
from meterproto.machine import Machine
from meterproto.link.records import exchange_digest
from probe import app as appmod
from probe.settings import DEFAULTS
from probe.hal_fake import FakeHardware

GREEN = (0, 32, 0)
RED = (32, 0, 0)
AMBER = (32, 20, 0)
MAGENTA = (24, 0, 24)

# The patterns as docs/LED-PATTERNS.md tells users: (on_ms, colour) per flash.
DOC_PATTERNS = {
    "success": [(1500, GREEN)],
    "no-answer": [(200, RED)] * 3,
    "echo-only": [(80, AMBER), (600, AMBER)] * 2,
    "error": [(60, RED)] * 6,
    "storage-full": [(700, MAGENTA)] * 3,
    "storage-low": [(1500, MAGENTA), (150, MAGENTA), (150, MAGENTA)],
}


class StoreFull(Exception):
    """Same name as probe.store.StoreFull; the app recognises it by name."""


class MemStore:
    def __init__(self, room=100):
        self.room = room
        self.records = []

    def commit(self, reading, time_s, digest):
        if len(self.records) >= self.room:
            raise StoreFull("storage full: pull and acknowledge the stored readings")
        self.records.append((reading, time_s, digest))
        return len(self.records)


def _app(meter, faults=None, presses=((100, 250),), config=None, store=None, **kw):
    line = VirtualLine(meter, faults=faults)
    hw = FakeHardware(line, presses=presses, **kw)
    a = appmod.App(hw, config or {"max_baud": 9600}, store if store is not None else MemStore())
    return a, hw


def _tail(hw, name):
    want = DOC_PATTERNS[name]
    got = hw.led.flashes()[-len(want):]
    return got == want, got


def test_press_reads_stores_and_flashes_success():
    a, hw = _app(make_meter("iskra-mt174"), display=True)
    a.run(until_ms=8000)
    assert a.reads == 1
    assert a.last["outcome"] == "success", a.last
    reading, time_s, digest = a.store.records[0]
    expected = get_profile("iskra-mt174")["expected"]
    assert [(v["obis"], v["value"], v["unit"]) for v in reading["values"]] == \
        [(e["obis"], e["value"], e["unit"]) for e in expected]
    assert reading["meter"]["manufacturer"] == "ISk"
    assert len(digest) == 8 and digest == exchange_digest(_rx_bytes(hw))
    assert time_s >= 1700000000
    ok, got = _tail(hw, "success")
    assert ok, got
    # The line went up to 9600 Bd after the ACK, and the screen shows the result.
    assert [ln[1] for ln in hw.port.lines] == [300, 9600]
    assert hw.display.shown[0] == ["READING..."]
    assert hw.display.shown[-1][0] == "SUCCESS" and hw.display.shown[-1][-1] == "#1"


def _rx_bytes(hw):
    """The bytes the same session receives when run by meterproto.driver.run (the
    simulation is deterministic, so the app must have digested exactly these)."""
    from meterproto.driver import T_RX, run
    from meterproto.echo import EchoFilter
    from meterproto.iec.client import IecClient

    trace = []
    run(IecClient(max_baud=9600), VirtualLine(make_meter("iskra-mt174")), EchoFilter(), trace)
    return b"".join(t[2] for t in trace if t[1] == T_RX)


def test_unpowered_meter_gives_no_answer_pattern():
    a, hw = _app(make_meter("iskra-mt174"), faults=Faults(unpowered=True))
    a.run(until_ms=30000)
    assert a.reads == 1 and a.last["outcome"] == "no-answer", a.last
    assert a.store.records == []
    ok, got = _tail(hw, "no-answer")
    assert ok, got


def test_echo_without_meter_gives_echo_only_pattern():
    a, hw = _app(make_meter("iskra-mt174"), faults=Faults(unpowered=True, echo=True))
    a.run(until_ms=30000)
    assert a.last["outcome"] == "echo-only", a.last
    ok, got = _tail(hw, "echo-only")
    assert ok, got


def test_echo_with_a_live_meter_still_reads():
    a, hw = _app(make_meter("iskra-mt174"), faults=Faults(echo=True))
    a.run(until_ms=8000)
    assert a.last["outcome"] == "success", a.last
    assert len(a.store.records) == 1


def test_full_store_gives_storage_full_pattern():
    a, hw = _app(make_meter("iskra-mt174"), store=MemStore(room=0))
    a.run(until_ms=8000)
    assert a.last["outcome"] == "storage-full", a.last
    assert "storage full" in a.last["message"]
    ok, got = _tail(hw, "storage-full")
    assert ok, got


class _Refuser(Machine):
    """A session that the meter refuses straight away."""

    def start(self, now):
        self._send(b"/?!\r\n", now)
        self._deadline = now + 100

    def receive(self, data, now):
        pass

    def timeout(self, now):
        self._fail(Refused("the meter refused the request"))


def test_protocol_error_gives_error_pattern():
    line = VirtualLine(make_meter("iskra-mt174"))
    hw = FakeHardware(line, presses=((100, 250),))
    a = appmod.App(hw, {}, MemStore(), session_factory=lambda cfg: _Refuser())
    a.run(until_ms=3000)
    assert a.last["outcome"] == "error" and "refused" in a.last["message"]
    ok, got = _tail(hw, "error")
    assert ok, got


def test_bad_mode_is_an_error_in_plain_words():
    a, hw = _app(make_meter("iskra-mt174"), config={"mode": "zigbee"})
    a.run(until_ms=3000)
    assert a.last["outcome"] == "error"
    assert "unknown meter mode 'zigbee'" in a.last["message"]


def test_bouncing_button_gives_one_read_per_press():
    a, hw = _app(make_meter("iskra-mt174"), presses=((100, 300), (5000, 5200)), bounce=True)
    a.run(until_ms=12000)
    assert a.reads == 2 and len(a.store.records) == 2


def test_press_during_a_read_is_ignored():
    a, hw = _app(make_meter("iskra-mt174"), presses=((100, 200), (600, 700)))
    a.run(until_ms=8000)
    assert a.reads == 1


def test_interval_logging_reads_on_its_own():
    a, hw = _app(make_meter("iskra-mt174"), presses=(), config={"interval_s": 10})
    a.run(until_ms=35000)
    assert a.reads == 4  # at 0, 10, 20 and 30 s
    assert len(a.store.records) == 4


class _Server:
    """Stands in for probe.usb.CommandServer: records when it was polled."""

    def __init__(self, app):
        self.app = app
        self.polls = []

    def poll(self, now):
        self.polls.append((now, self.app.busy))


def test_usb_is_polled_between_session_steps():
    a, hw = _app(make_meter("mode-a"))  # 300 Bd only: a long session (~14 s)
    srv = _Server(a)
    a.server = srv
    a.run(until_ms=20000)
    assert a.last["outcome"] == "success"
    busy = [t for t, b in srv.polls if b]
    assert busy and busy[-1] - busy[0] > 10000
    gaps = [busy[i + 1] - busy[i] for i in range(len(busy) - 1)]
    assert max(gaps) <= DEFAULTS["slice_ms"] + 5, max(gaps)


def test_take_reading_hook_reads_and_stores():
    a, hw = _app(make_meter("iskra-mt174"), presses=())
    res = a.take_reading()
    assert res["outcome"] == "success" and res["seq"] == 1
    assert res["reading"]["values"][0]["obis"] == get_profile("iskra-mt174")["expected"][0]["obis"]
    assert not a.busy


def test_a_read_runs_without_the_answer_and_sync_code_loaded():
    # The USB answers' JSON pieces and the sync code are let go when a read starts: the
    # protocol modules set the heap's low point (issue 12), and they come back after it.
    import sys

    import meterproto.link.jsonpieces  # noqa: F401  (as after a USB answer)
    import probe.store_sync  # noqa: F401  (as after a sync)

    a, hw = _app(make_meter("iskra-mt174"), presses=())
    assert a.begin_read()
    assert "meterproto.link.jsonpieces" not in sys.modules
    assert "probe.store_sync" not in sys.modules
    while not a._step():
        pass
    a._finish()
    assert a.last["outcome"] == "success"


def test_bridge_hook_passes_bytes_both_ways():
    a, hw = _app(make_meter("iskra-mt174"), presses=())
    got = a.bridge(b"/?!\r\n", baud=300, fmt=0, listen_ms=800)
    assert got.startswith(b"/ISk5MT174-0001")


def test_real_store_keeps_a_record_that_decodes(tmp_path):
    from fw_helpers import readings_on_flash
    from probe.fsys import Fsys
    from probe.store import Store

    store = Store(Fsys(str(tmp_path)))
    store.recover()  # as probe.boot does at boot
    a, hw = _app(make_meter("lgz-zmd"), store=store)
    a.run(until_ms=8000)
    assert a.last["outcome"] == "success" and a.last["seq"] == 1
    (rec,) = readings_on_flash(tmp_path / "data")
    assert rec.reading["meter"]["manufacturer"] == "LGZ"
    assert rec.reading["values"] == a.last["reading"]["values"]
    assert store.status()["count"] == 1


def test_real_store_full_skips_the_read(tmp_path):
    from probe.fsys import Fsys
    from probe.store import Store

    store = Store(Fsys(str(tmp_path)), min_free_pct=101)  # can never have enough room
    store.recover()
    a, hw = _app(make_meter("lgz-zmd"), store=store)
    a.run(until_ms=4000)
    assert a.last["outcome"] == "storage-full", a.last
    assert "sync with the host" in a.last["message"]
    assert hw.port.written == b""  # no meter session was started
    ok, got = _tail(hw, "storage-full")
    assert ok, got


def test_real_store_almost_full_says_so_after_a_stored_read():
    from irprobe.sim.simflash import SimFlash
    from probe.store import Store

    fs = SimFlash(blocks=30)
    store = Store(fs, min_free_pct=0)
    store.recover()
    n = 0
    while not store.status()["low"]:  # readings of ~300 bytes until under 5 % of slots left
        n += 1
        store.commit({"protocol": "x", "values": [], "pad": "%03d" % n * 100}, 1)
    assert n > 100
    st = store.status()
    assert st["low"] and not st["full"], st
    a, hw = _app(make_meter("iskra-mt174"), store=store)
    a.run(until_ms=8000)
    assert a.last["outcome"] == "success" and a.last["seq"] is not None, a.last
    ok, got = _tail(hw, "storage-low")
    assert ok, got


class _Buggy(Machine):
    """A session with a bug: it crashes on the first byte it receives."""

    def start(self, now):
        self._send(b"/?!\r\n", now)
        self._deadline = now + 3000

    def receive(self, data, now):
        raise IndexError("bug in a protocol module")

    def timeout(self, now):
        self._fail(Refused("unreachable"))


def test_a_crashing_session_ends_the_read_not_the_app():
    line = VirtualLine(make_meter("iskra-mt174"))
    hw = FakeHardware(line, presses=((100, 250), (6000, 6200)))
    a = appmod.App(hw, {}, MemStore(), session_factory=lambda s: _Buggy())
    a.run(until_ms=9000)
    assert a.reads == 2 and a.last["outcome"] == "error"
    assert "bug in a protocol module" in a.last["message"]


def test_bad_setting_in_profile_is_reported_not_raised():
    a, hw = _app(make_meter("iskra-mt174"), config={"max_baud": 12345})
    a.run(until_ms=2000)
    assert a.last["outcome"] == "error" and "cannot start a read" in a.last["message"]


def _dlms_app_with_fault(exc, nth=3):
    """The app reading dlms-lp96 (direct HDLC) where our code raises exc at the nth profile
    row: a stand-in for running out of memory, or the host's Ctrl-C."""
    from meterproto.dlms.client import DlmsClient

    meter = make_meter("dlms-lp96")
    a, hw = _app(meter, presses=(), config={"mode": "hdlc"})
    orig = DlmsClient._add_row
    n = [0]

    def add_row(self, *args):
        n[0] += 1
        if n[0] == nth:
            raise exc
        return orig(self, *args)

    return a, hw, meter, (DlmsClient, orig, add_row)


def test_out_of_memory_mid_read_ends_it_with_disc():
    a, hw, meter, (cls, orig, bad) = _dlms_app_with_fault(MemoryError("memory allocation failed"))
    cls._add_row = bad
    try:
        res = a.take_reading()
    finally:
        cls._add_row = orig
    assert res["outcome"] == "error" and "memory" in res["message"]
    while hw.port.read(hw.port.now_ms() + 300):  # the meter takes the last bytes
        pass
    assert meter.log[-1] == "HDLC disconnected", meter.log  # not left in HDLC
    assert not a.busy


def test_ctrl_c_during_a_take_ends_the_read_with_disc():
    a, hw, meter, (cls, orig, bad) = _dlms_app_with_fault(KeyboardInterrupt())
    cls._add_row = bad
    try:
        a.take_reading()
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the Ctrl-C was swallowed")
    finally:
        cls._add_row = orig
    while hw.port.read(hw.port.now_ms() + 300):
        pass
    assert meter.log[-1] == "HDLC disconnected", meter.log
    assert not a.busy  # the next take can start
