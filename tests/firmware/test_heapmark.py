# probe.heapmark: the heap low-water mark (collect only when a sample could lower it), its
# report in STATUS and TAKE answers, and the DLMS PDU size that follows the free heap.
import types

import pytest

from meterproto.link import channel as H
from meterproto.link.host import HostSide
from probe import heapmark, usb

from fw_helpers import Pipe


class FakeGc:
    """gc with a heap whose free bytes the test sets; collect() frees the garbage."""

    def __init__(self):
        self.live = 100000
        self.garbage = 0
        self.total = 200000
        self.collects = 0

    def mem_free(self):
        return self.total - self.live - self.garbage

    def mem_alloc(self):
        return self.live + self.garbage

    def collect(self):
        self.collects += 1
        self.garbage = 0


@pytest.fixture
def fake_gc(monkeypatch):
    g = FakeGc()
    monkeypatch.setattr(heapmark, "gc", g)
    monkeypatch.setattr(heapmark, "_free", g.mem_free)
    monkeypatch.setattr(heapmark, "_alloc", g.mem_alloc)
    monkeypatch.setattr(heapmark, "_low", [None, None])
    monkeypatch.setattr(heapmark, "_at", [None, None])
    return g


def test_the_mark_is_live_heap_and_collects_only_when_it_could_drop(fake_gc):
    g = fake_gc
    assert heapmark.mark_reset() == 100000 and g.collects == 1
    g.garbage = 30000  # garbage alone never lowers the mark: it is collected first
    heapmark.sample()
    assert heapmark.low() == 100000 and g.collects == 2
    g.live = 150000  # a real peak lowers it
    heapmark.sample()
    assert heapmark.low() == 50000
    g.live = 90000
    before = g.collects
    heapmark.sample()  # well above the mark: no collect at all
    assert g.collects == before and heapmark.low() == 50000
    heapmark.mark_reset()  # a new session starts its own mark; the boot mark stays
    r = heapmark.report()
    assert r["low"] == 110000 and r["low_boot"] == 50000 and r["total"] == 200000


def test_the_mark_names_the_phase_that_set_it(fake_gc):
    # The host sees where a read's heap bottoms out (issue 12): the phase named when the
    # low was set, a name or a function asked only then.
    g = fake_gc
    asked = []
    heapmark.at("start")
    heapmark.mark_reset()
    assert heapmark.report()["low_at"] == "start"
    heapmark.at(lambda: asked.append(1) or "DlmsClient 5")
    g.live = 150000
    heapmark.sample()
    g.live = 120000
    heapmark.sample()  # above the mark: the phase is not asked again
    heapmark.at("commit")
    g.live = 130000
    heapmark.sample()
    assert heapmark.low() == 50000 and heapmark.report()["low_at"] == "DlmsClient 5"
    assert asked == [1]
    heapmark.mark_reset()  # a new session: its own phase
    assert heapmark.report()["low_at"] == "commit"


def test_pdu_follows_the_free_heap(fake_gc):
    assert heapmark.max_pdu(200000) == heapmark.PDU_MAX
    assert heapmark.max_pdu(64 * 1024) == heapmark.PDU_MIN
    mid = heapmark.max_pdu(64 * 1024 + 8 * 700)
    assert heapmark.PDU_MIN < mid < heapmark.PDU_MAX and mid % 64 == 0
    fake_gc.live = 200000 - 70000
    assert heapmark.max_pdu() == 512  # (70000 - 64 KB) / 8 = 558, down to a multiple of 64


def test_pdu_counts_the_code_the_read_will_load(fake_gc):
    # 150 KB free before the read: the plain DLMS code leaves room for the largest PDU,
    # the ciphering's on top of it for the smallest (measured on the emulated Pico: a
    # ciphered 1 KB APDU is held several times over)
    free = 150 * 1024
    assert heapmark.max_pdu(free, heapmark.CODE_DLMS) == heapmark.PDU_MAX
    assert heapmark.max_pdu(free, heapmark.CODE_DLMS + heapmark.CODE_CIPHER) < 512
    assert heapmark.max_pdu(free, 0) >= heapmark.max_pdu(free, heapmark.CODE_DLMS)


def test_status_and_take_answers_carry_the_marks(fake_gc, monkeypatch):
    monkeypatch.setattr(usb, "_kbd_intr", lambda c: None)

    class App:
        busy = False
        hw = types.SimpleNamespace(clock=types.SimpleNamespace(time_s=lambda: 1700000000))

        def take_reading(self):
            fake_gc.live = 180000  # the read's peak, seen by a sample inside it
            heapmark.sample()
            fake_gc.live = 120000
            return {"outcome": "success", "seq": 1, "reading": {"values": []}, "message": "ok"}

    inp, out = Pipe(), Pipe()
    srv = usb.CommandServer(inp, out, None, None, App(), device_id="X")
    hs = HostSide(1 << 16)
    inp.write(hs.hello())
    srv.poll(0)
    st = hs.receive(out.read()).value
    assert st["heap"]["free"] == 100000 and st["heap"]["low"] == 100000
    inp.write(hs.take())
    srv.poll(1)
    res = hs.receive(out.read()).value
    assert res["heap"]["low"] == 20000 and res["heap"]["free"] == 80000


def test_host_prints_only_sane_figures():
    from irprobe.cmd_take import heap_figures

    assert heap_figures({"heap": {"low": 70000, "low_boot": 65000, "free": 90000,
                                  "total": 190000}}) == {
        "free_min": 70000, "free_min_boot": 65000, "free": 90000, "total": 190000}
    assert heap_figures({"heap": {"low": 70000, "low_at": "DlmsClient 5"}}) == {
        "free_min": 70000, "free_min_at": "DlmsClient 5"}
    assert heap_figures({"heap": {"low": 70000, "low_at": "x\x1b[2J" + "y" * 50}}) == {
        "free_min": 70000}  # no control characters or long texts reach the terminal
    assert heap_figures({"heap": {"low": "lots", "free": -1}}) is None
    assert heap_figures({}) is None and heap_figures(None) is None
