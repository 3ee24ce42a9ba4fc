# sync against the simulated probe on a pty (the firmware's own app, store and command server):
# twice gives the same rows; a cable cut at every frame, then a resumed sync, loses nothing and
# duplicates nothing; hostile devices get clear refusals.
import os
import pty
import threading
import tty

import pytest
import serial
from irprobe import cli
from irprobe.cmd_sync import STORE_RECORDS, sync
from irprobe.db import Store
from irprobe.probelink import LinkError, ProbeLink
from irprobe.sim.probe_sim import ProbeSim
from meterproto.link import channel as H
from meterproto.link.records import encode_record


@pytest.fixture
def sim(tmp_path):
    with ProbeSim("iskra-mt174", root=str(tmp_path / "probe")) as s:
        yield s


def test_sync_twice_same_rows(sim, tmp_path, capsys):
    sim.prefill(7)
    db = str(tmp_path / "r.sqlite")
    assert cli.main(["take", "--port", sim.port, "--json"]) == 0  # one real meter read
    capsys.readouterr()
    assert cli.main(["sync", "--port", sim.port, "--db", db]) == 0
    out = capsys.readouterr().out
    assert "8 records pulled, 8 new" in out
    first = Store(db).counts()
    assert cli.main(["sync", "--port", sim.port, "--db", db]) == 0
    assert "0 records pulled" in capsys.readouterr().out
    assert Store(db).counts() == first
    assert first["sessions"] == 8 and first["meters"] == 2
    assert sim.store.status()["count"] == 0  # acked, so the probe deleted them
    # The probe's clock was set from the host.
    import time

    assert abs(sim.hw.clock.time_s() - time.time()) < 5


class CutSerial:
    """A pyserial port whose cable is pulled at the n-th frame event (a host frame written,
    or a device frame's last byte read): the frame in flight is lost."""

    def __init__(self, ser, cut_at):
        self.ser = ser
        self.cut_at = cut_at
        self.events = 0
        self.cut = False

    def _event(self):
        self.events += 1
        if self.events == self.cut_at:
            self.cut = True
            raise serial.SerialException("cable pulled")

    def write(self, data):
        if self.cut:
            raise serial.SerialException("cable pulled")
        self._event()
        return self.ser.write(data)

    def read(self, n=1):
        if self.cut:
            raise serial.SerialException("cable pulled")
        data = self.ser.read(n)
        for i, b in enumerate(data):
            if b == H.EOF:
                self._event()
        return data

    def __getattr__(self, k):
        return getattr(self.ser, k)


def _cut_link(port, cut_at):
    ser = CutSerial(serial.serial_for_url(port, baudrate=115200, timeout=0.02), cut_at)
    link = ProbeLink(ser, timeout=0.5, name=port)
    link._drain()
    link.info = link.hello()
    return link, ser


# Pull answers this small hold one or two of the prefilled readings (schema first, once):
# a sync of 6 readings takes 4 pulls, so cuts fall in every phase of every batch. Stored and
# acked after each answer (store_every=1), or all together at the end (the default).
SMALL = 90


@pytest.mark.parametrize("store_every", [1, STORE_RECORDS])
def test_cut_at_every_frame_then_resume(sim, tmp_path, store_every):
    store = Store(str(tmp_path / "r.sqlite"))
    per_round = 6
    # A clean run to count the frame events of one whole sync.
    sim.prefill(per_round)
    link, ser = _cut_link(sim.port, cut_at=10**9)
    sync(link, store, max_bytes=SMALL, store_every=store_every)
    total_events = ser.events
    link.close()
    acks = 4 if store_every == 1 else 1
    assert total_events >= 2 + 2 + 4 * 2 + acks * 2 + 2  # hello, clock, pulls, acks, last pull
    expected = per_round
    report = []
    for cut in range(1, total_events + 1):
        sim.prefill(per_round)
        expected += per_round
        try:
            link, ser = _cut_link(sim.port, cut)
        except LinkError:
            link = None  # cut during HELLO itself
        if link is not None:
            with pytest.raises(LinkError):
                sync(link, store, max_bytes=SMALL, store_every=store_every)
            link.close()
        before = store.counts()["sessions"]
        # Resume over a fresh, healthy connection.
        with ProbeLink.open(sim.port, timeout=1.0) as good:
            st = sync(good, store, max_bytes=SMALL, store_every=store_every)
        seqs = store.known_seqs(sim.server.device_id)
        report.append((cut, before, st["added"], st["duplicates"], len(seqs)))
        assert seqs == list(range(1, expected + 1)), (cut, seqs[-5:])
        assert sim.store.status()["count"] == 0
    print("cut at frame event / rows before resume / added / duplicates skipped / total rows")
    for r in report:
        print("  %2d %4d %3d %3d %4d" % r)
    c = store.counts()
    per_record = min(8, len(sim.profile["expected"]))  # values in each prefilled reading
    assert c["sessions"] == expected and c["values"] == expected * per_record
    # Some cuts must have fallen between commit and ack: the resume saw duplicates.
    assert any(r[3] > 0 for r in report)


def test_hostile_record_content_is_data(sim, tmp_path):
    evil = "x'); DROP TABLE sessions;--"
    sim.prefill(
        1,
        {
            "meter": {"id": evil},
            "protocol": "iec62056-21",
            "values": [{"obis": "1-0:1.8.0*255", "value": "1.0", "unit": "kWh"}],
        },
    )
    sim.prefill(
        1, {"meter": {"id": "../../../etc/passwd"}, "protocol": "iec62056-21", "values": []}
    )
    db = str(tmp_path / "r.sqlite")
    with ProbeLink.open(sim.port) as link:
        sync(link, Store(db))
    assert sorted(Store(db).meters()) == sorted([evil, "../../../etc/passwd"])
    out = tmp_path / "p.png"
    assert (
        cli.main(
            ["plot", "--db", db, "--meter", evil, "--obis", "1-0:1.8.0*255", "--out", str(out)]
        )
        == 0
    )
    assert out.exists() and not os.path.exists("/etc/passwd.png")


def test_control_chars_in_record_refused_and_not_acked(sim, tmp_path, capsys):
    sim.prefill(1, {"meter": {"id": "M\x1b[31mRED"}, "protocol": "iec62056-21", "values": []})
    db = str(tmp_path / "r.sqlite")
    assert cli.main(["sync", "--port", sim.port, "--db", db]) == 2
    err = capsys.readouterr().err
    assert "record from the probe refused: meter id contains control characters" in err
    assert "\x1b" not in err
    assert sim.store.status()["count"] == 1  # not acknowledged, still on the probe


class EvilProbe:
    """A device on a pty that answers HELLO properly, then misbehaves as told."""

    def __init__(self, answer):
        self.answer = answer
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        import select

        dec = H.FrameDecoder()
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            for f in dec.feed(os.read(self.master, 4096)):
                if not isinstance(f, H.Frame):
                    continue
                if f.type == H.CMD_HELLO:
                    os.write(
                        self.master,
                        H.encode_frame(
                            H.CMD_HELLO | H.RESPONSE,
                            f.seq,
                            H.encode_json(
                                {"device_id": "EVIL", "acked": 0, "count": 3, "clock": 0}
                            ),
                        ),
                    )
                else:
                    os.write(self.master, self.answer(f))

    def close(self):
        self.stop = True
        self.t.join()
        os.close(self.master)
        os.close(self.slave)


def _absurd_length(f):
    return b"\x7e" + bytes([f.type | 0x80, f.seq >> 8, f.seq & 0xFF, 0xFF, 0xFF]) + b"A" * 100


def _bad_crc(f):
    fr = bytearray(H.encode_frame(f.type | 0x80, f.seq, b"{}"))
    fr[-2] ^= 0x01
    return bytes(fr)


def _damaged_record(f):
    if f.type == H.CMD_PULL:
        raw = bytearray(encode_record(1, 0, {"values": []}))
        raw[10] ^= 0xFF
        return H.encode_frame(f.type | 0x80, f.seq, bytes(raw))
    return H.encode_frame(f.type | 0x80, f.seq, b'{"clock": 1}')


def _out_of_order(f):
    if f.type == H.CMD_PULL:
        return H.encode_frame(f.type | 0x80, f.seq, encode_record(0, 0, {"values": []}))
    return H.encode_frame(f.type | 0x80, f.seq, b'{"clock": 1}')


def _huge_device_id(f):
    return H.encode_frame(f.type | 0x80, f.seq, b"{}")


@pytest.mark.parametrize(
    "answer,msg",
    [
        (_absurd_length, "no usable answer from the probe"),
        (_bad_crc, "no usable answer from the probe"),
        (_damaged_record, "unusable answers"),
        (_out_of_order, "out of order"),
    ],
)
def test_hostile_device_clear_errors(tmp_path, capsys, answer, msg):
    ev = EvilProbe(answer)
    try:
        db = str(tmp_path / "r.sqlite")
        rc = cli.main(["sync", "--port", ev.port, "--db", db, "--timeout", "0.3"])
    finally:
        ev.close()
    err = capsys.readouterr().err
    assert rc == 2 and msg in err, err
    assert "Traceback" not in err
    assert Store(db).counts()["sessions"] == 0


def test_probe_storage_erased_numbering_restarts(tmp_path, capsys):
    """A probe whose flash was wiped numbers from 1 again: its new records must not be taken
    for duplicates of the old ones (that would lose them)."""
    db = str(tmp_path / "r.sqlite")
    with ProbeSim("iskra-mt174", root=str(tmp_path / "p1")) as sim:
        sim.prefill(3)
        assert cli.main(["sync", "--port", sim.port, "--db", db]) == 0
    capsys.readouterr()
    # Same device id, fresh storage: seq 1.. again, other readings.
    with ProbeSim("iskra-mt174", root=str(tmp_path / "p2"), time_s=1800000000) as sim:
        sim.prefill(2)
        assert cli.main(["sync", "--port", sim.port, "--db", db]) == 0
        out = capsys.readouterr().out
        assert "2 new" in out and "kept apart as SIM-iskra-mt174~2" in out
        sim.prefill(1)  # and the next sync continues in the new numbering
        assert cli.main(["sync", "--port", sim.port, "--db", db]) == 0
        assert "1 new" in capsys.readouterr().out
    st = Store(db)
    assert st.known_seqs("SIM-iskra-mt174") == [1, 2, 3]
    assert st.known_seqs("SIM-iskra-mt174~2") == [1, 2, 3]
    assert st.counts()["sessions"] == 6


def test_a_record_damaged_on_the_probe_is_named_a_gap_and_acked_knowingly(sim, tmp_path):
    from meterproto.link.records import record_info

    sim.prefill(5)
    path = sim.store.fs.base + "/data/00000001.seg"
    data = bytearray(open(path, "rb").read())
    i = 0
    while True:  # find reading 3 and flip one bit of its cells
        n, kind, seq = record_info(data, i)
        if seq == 3:
            break
        i += n
    data[i + n - 3] ^= 0x04
    open(path, "wb").write(bytes(data))
    store = Store(str(tmp_path / "r.sqlite"))
    with ProbeLink.open(sim.port, timeout=1.0) as link:
        st = sync(link, store)
    assert store.known_seqs(sim.server.device_id) == [1, 2, 4, 5]
    assert st["lost"] == 1 and st["acked"] == 5 and st["gap"] is None
    assert sim.store.status()["count"] == 0 and sim.store.status()["acked"] == 5


def test_progress_after_each_answer_while_answers_are_stored_together(sim, tmp_path):
    sim.prefill(6)
    seen = []
    with ProbeLink.open(sim.port, timeout=1.0) as link:
        st = sync(link, Store(str(tmp_path / "r.sqlite")), lambda d, t: seen.append((d, t)),
                  max_bytes=SMALL)
    assert st["pulled"] == 6 and st["batches"] >= 4  # several answers, one store
    done = [d for d, _ in seen]
    assert done[0] == 0 and done == sorted(done) and done[-1] == 6 and len(done) >= 5
    assert all(t == 6 for _, t in seen)


def test_answers_of_a_slow_probe_are_stored_and_acked_every_few_seconds(sim, tmp_path):
    sim.prefill(6)
    t = [0.0]

    def clock():  # each look at the clock: one second later (a probe 20 ms per byte)
        t[0] += 1.0
        return t[0]

    with ProbeLink.open(sim.port, timeout=1.0) as link:
        acks = []
        real_ack = link.ack
        link.ack = lambda n: acks.append(n) or real_ack(n)
        st = sync(link, Store(str(tmp_path / "r.sqlite")), max_bytes=SMALL, clock=clock)
    assert st["pulled"] == 6 and st["batches"] >= 4
    assert len(acks) >= 2 and acks == sorted(acks) and acks[-1] == 6  # not one ack at the end
