# probe.store on simulated flash: a power cut at every flash operation of a commit and of an
# ack, and at every byte of an append, loses no committed record, returns no corrupt one,
# never reuses a seq; torn tails are trimmed at boot; acks only cover what pulls sent.
import pytest

import probe.store as store_mod
from irprobe.sim.simflash import PowerCut, SimFlash
from meterproto.link.records import record_info
from meterproto.link.recpack import Unpacker
from probe.fsys import Fsys
from probe.store import Store, StoreFull


def reading(n, values=1):
    return {"meter": {"id": "M1"}, "protocol": "iec62056-21", "mode": "C",
            "baud": 9600, "values": [{"obis": "1-0:1.8.%d*255" % k, "value": "%06d.%03d"
                                      % (n, n % 1000), "unit": "kWh"} for k in range(values)]}


def unpack_all(data, up=None):
    """Items of a pull answer as the host decodes them: (seq, time_s, digest, reading) and
    ("gap", first, last, reason)."""
    up = up or Unpacker()
    out = []
    i = 0
    while i < len(data):
        n = record_info(data, i)[0]
        r = up.feed(data[i:i + n])
        i += n
        if r is not None and r.gap_to is not None:
            out.append(("gap", r.seq, r.gap_to, 1))
        elif r is not None:
            out.append((r.seq, r.time_s, r.digest, r.reading))
    return out


def pull_all(st, cursor=1, max_bytes=4096):
    up = Unpacker()
    items = []
    while True:
        got = unpack_all(st.pull(cursor, max_bytes), up)
        if not got:
            return items
        items += got
        cursor = (got[-1][2] if got[-1][0] == "gap" else got[-1][0]) + 1


def readings(st):
    """seq -> reading dict of everything the store gives a host."""
    return {r[0]: r[3] for r in pull_all(st) if r[0] != "gap"}


def fresh(n_records=3, blocks=352):
    fs = SimFlash(blocks)
    st = Store(fs)
    st.recover()
    committed = {}
    for i in range(n_records):
        committed[st.commit(reading(i), 1700000000 + i, b"d%d" % i)] = reading(i)
    return fs, st, committed


def reboot(fs):
    fs2 = fs.remount()
    st = Store(fs2)
    rep = st.recover()
    return fs2, st, rep


def check_after_cut(st, fs, must_have, may_have, highest_seen, stats):
    """Every record in must_have is there, equal; nothing returned is corrupt or unknown."""
    got = readings(st)
    for seq, r in must_have.items():
        if got.get(seq) != r:
            stats["lost"] += 1
    for seq, r in got.items():
        if must_have.get(seq, may_have.get(seq)) != r:
            stats["corrupt"] += 1  # a record nobody wrote, or changed
    for path in fs.files:
        assert not path.endswith(".tmp"), path
    new = st.commit(reading(999), 1800000000)
    if new <= highest_seen:
        stats["reused"] += 1
    stats["checked"] += len(got)


def run_cuts(scenario, n_records=3, tear=None):
    """Cut at op 1, 2, ... of the scenario until it runs through without a cut."""
    stats = {"cuts": 0, "checked": 0, "lost": 0, "corrupt": 0, "reused": 0, "trimmed": 0}
    n = 1
    while True:
        fs, st, committed = fresh(n_records)
        fs.tear = tear
        fs.arm(n)
        done = {}
        try:
            scenario(st, committed, done)
        except PowerCut:
            pass
        else:
            return stats, n - 1
        stats["cuts"] += 1
        fs2, st2, rep = reboot(fs)
        stats["trimmed"] += rep["trimmed"]
        check_after_cut(st2, fs2, done["must"](), done["may"](), done["highest"](), stats)
        n += 1
        assert n < 500


def commit_scenario(st, committed, done):
    pending = {}
    done["must"] = lambda: committed
    done["may"] = lambda: pending
    done["highest"] = lambda: max(committed)
    for i in range(3):  # the third one starts a new segment (SEG_MAX is small here)
        seq = st.status()["next_seq"]
        pending[seq] = reading(100 + i)
        assert st.commit(reading(100 + i), 1750000000 + i, b"s%d" % i) == seq
        committed[seq] = pending.pop(seq)


def test_power_cut_at_every_op_of_a_session_commit(monkeypatch=None):
    saved = store_mod.SEG_MAX
    store_mod.SEG_MAX = 320  # a schema and 5 small readings: the 6th one rolls over
    try:
        stats, ops = run_cuts(commit_scenario)
    finally:
        store_mod.SEG_MAX = saved
    print("commit: %d ops, %d cut points, %d records checked, lost %d, corrupt %d, reused seq %d"
          % (ops, stats["cuts"], stats["checked"], stats["lost"], stats["corrupt"],
             stats["reused"]))
    # (write, flush) x 3, + creating the second segment, + its schema record written on
    # its own (records are written one by one, in pieces: probe.store._commit)
    assert ops == 3 * 2 + 2
    assert stats["cuts"] == ops
    assert stats["lost"] == 0 and stats["corrupt"] == 0 and stats["reused"] == 0


def test_power_cut_at_every_byte_of_an_append_is_trimmed_at_boot():
    """A file system that lands a prefix of an append (no copy-on-write): every length."""
    fs, st, _ = fresh(3)
    size = len(fs.files["/data/00000001.seg"])
    st.commit(reading(100), 1)
    rec_len = len(fs.files["/data/00000001.seg"]) - size
    total = {"cuts": 0, "trimmed": 0}
    for k in range(0, rec_len):
        stats = {"cuts": 0, "checked": 0, "lost": 0, "corrupt": 0, "reused": 0, "trimmed": 0}
        fs, st, committed = fresh(3)
        fs.tear = k
        fs.arm(2)  # the flush of the append
        with pytest.raises(PowerCut):
            st.commit(reading(100), 1750000000)
        assert len(fs.files["/data/00000001.seg"]) == size + k
        fs2, st2, rep = reboot(fs)
        assert rep["trimmed"] == (1 if k else 0)
        assert len(fs2.files["/data/00000001.seg"]) == size  # back to the last whole record
        check_after_cut(st2, fs2, committed, {}, 3, stats)
        assert stats["lost"] == 0 and stats["corrupt"] == 0 and stats["reused"] == 0, (k, stats)
        total["cuts"] += 1
        total["trimmed"] += rep["trimmed"]
    print("append: %d cut points, %d torn tails trimmed" % (total["cuts"], total["trimmed"]))
    assert total["cuts"] == rec_len > 20


def test_power_cut_at_every_op_of_an_ack():
    def scenario(st, committed, done):
        before = dict(committed)
        state = {"acked": False}
        done["must"] = lambda: {s: r for s, r in before.items()
                                if s > (3 if state["acked"] else 2)}
        done["may"] = lambda: {s: r for s, r in before.items() if s <= 3}
        done["highest"] = lambda: max(before)
        pull_all(st)
        st.ack(2)
        state["acked"] = True
        st.ack(3)

    stats, ops = run_cuts(scenario, n_records=8)
    print("ack: %d ops, %d cut points, %d records checked, lost %d, corrupt %d, reused seq %d"
          % (ops, stats["cuts"], stats["checked"], stats["lost"], stats["corrupt"],
             stats["reused"]))
    assert stats["cuts"] == ops and ops >= 6  # 2 x (create, write, flush, rename)
    assert stats["lost"] == 0 and stats["corrupt"] == 0 and stats["reused"] == 0


def test_acked_segments_go_and_never_come_back_after_a_cut_mid_ack():
    saved = store_mod.SEG_MAX
    store_mod.SEG_MAX = 320  # seqs 1..5 in one segment, 6..8 in the next
    try:
        for n in range(1, 12):
            fs, st, committed = fresh(8)
            assert len([p for p in fs.files if p.endswith(".seg")]) >= 2
            pull_all(st)
            fs.arm(n)
            try:
                st.ack(6)
            except PowerCut:
                pass
            fs2, st2, _ = reboot(fs)
            seqs = sorted(readings(st2))
            assert seqs in ([7, 8], list(range(1, 9))), (n, seqs)
            if seqs != [7, 8]:
                pull_all(st2)
                st2.ack(6)  # the host retries the ack
            assert sorted(readings(st2)) == [7, 8]
            assert "/data/00000001.seg" not in fs2.files  # a whole acked segment is gone
    finally:
        store_mod.SEG_MAX = saved


def test_ack_never_passes_what_pulls_sent():
    fs, st, committed = fresh(10)
    assert st.ack(10) == 0 and st.status()["acked"] == 0  # nothing pulled yet
    got = unpack_all(st.pull(1, 1))  # at least one item, here exactly one reading
    assert [r[0] for r in got] == [1]
    assert st.ack(1000) == 1 and st.status()["acked"] == 1  # a hostile ack of 1000
    assert unpack_all(st.pull(5, 10000)) and st.ack(1000) == 0  # 2..4 were never sent
    pull_all(st, 2)
    assert st.ack(0xFFFFFFFF) == 9 and st.status()["acked"] == 10
    fs2, st2, _ = reboot(fs)
    assert st2.ack(10) == 0 and st2.status()["acked"] == 10  # a new boot, a new count


def test_seq_never_reused_after_everything_is_acked():
    fs, st, committed = fresh(4)
    pull_all(st)
    st.ack(4)
    assert st.status()["count"] == 0 and not [p for p in fs.files if p.endswith(".seg")]
    fs2, st2, _ = reboot(fs)
    assert st2.commit(reading(5), 1) == 5
    pull_all(st2)
    st2.ack(5)
    fs3, st3, _ = reboot(fs2)
    assert st3.status()["acked"] == 5 and st3.commit(reading(6), 1) == 6


def test_damaged_record_is_a_gap_the_host_is_told_of_and_only_then_acked_past():
    fs, st, committed = fresh(5)
    path = "/data/00000001.seg"
    data = fs.files[path]
    # find the third reading record and flip a bit in its value bytes
    i, seen = 0, 0
    while True:
        n, kind, seq = record_info(data, i)
        if seq == 3:
            break
        i += n
    fs.corrupt(path, i + n - 4)
    fs2, st2, rep = reboot(fs)
    assert rep["quarantined"] == 1 and rep["trimmed"] == 0
    items = pull_all(st2)
    assert [r[0] for r in items] == [1, 2, "gap", 4, 5]
    assert items[2][1:3] == (3, 3)
    assert readings(st2) == {s: r for s, r in committed.items() if s != 3}
    with pytest.raises(KeyError):
        st2.read(3)
    # a fresh boot: the host pulls only 1..2 and then acks far beyond: the gap stays
    fs3, st3, _ = reboot(fs2)
    unpack_all(st3.pull(1, 1))
    unpack_all(st3.pull(2, 1))
    assert st3.ack(5) == 2 and st3.status()["acked"] == 2
    items = unpack_all(st3.pull(3, 10000))
    assert items[0][0] == "gap"  # now the host has been told of 3
    assert st3.ack(5) == 2 and st3.status()["acked"] == 5
    assert st3.commit(reading(9), 1) == 6  # the damaged seq is not reused either


def test_damage_found_while_pulling_writes_nothing_and_is_a_gap():
    fs, st, committed = fresh(3)
    fs.corrupt("/data/00000001.seg", len(fs.files["/data/00000001.seg"]) - 3)  # seq 3's CRC
    ops = fs.ops
    items = pull_all(st)
    assert [r[0] for r in items] == [1, 2, "gap"] and items[2][1:3] == (3, 3)
    assert fs.ops == ops
    fs2, st2, rep = reboot(fs)
    assert rep["trimmed"] == 1  # a whole but damaged last record: cut off...
    assert st2.commit(reading(7), 1) == 4  # ...and its seq never handed out again


def test_store_full_refuses_with_a_clear_message_and_ack_makes_room():
    fs = SimFlash(blocks=40)
    st = Store(fs, min_free_pct=10)
    seqs = []
    with pytest.raises(StoreFull) as ei:
        for i in range(5000):
            seqs.append(st.commit(reading(i, values=20), i))
    assert "storage is full" in str(ei.value) and "sync" in str(ei.value)
    s = st.status()
    assert s["full"] and s["slots_left"] == 0 and s["count"] == len(seqs) > 100 and s["low"]
    assert s["capacity"] == s["count"]
    with pytest.raises(StoreFull):
        st.check_room()
    pull_all(st)
    st.ack(seqs[-1])
    s = st.status()
    assert not s["full"] and s["slots_left"] > 100 and s["count"] == 0
    st.check_room()
    assert st.commit(reading(1), 1) == seqs[-1] + 1


def test_status_counts_readings_and_slots():
    fs, st, _ = fresh(10)
    s = st.status()
    assert s["count"] == 10 and s["first_seq"] == 1 and s["last_seq"] == 10
    assert s["capacity"] == s["count"] + s["slots_left"] and s["slots_left"] > 1000
    assert not s["low"]
    pull_all(st)
    st.ack(4)
    s = st.status()
    assert s["count"] == 6 and s["first_seq"] == 5 and s["capacity"] == 6 + s["slots_left"]


def test_low_when_fewer_than_5_percent_of_the_slots_are_left():
    fs = SimFlash(blocks=60)
    st = Store(fs, min_free_pct=0)
    lows = []
    with pytest.raises(StoreFull):
        for i in range(5000):
            st.commit(reading(i, values=20), i)
            s = st.status()
            lows.append((s["slots_left"] * 100 < 5 * s["capacity"], s["low"]))
    assert all(a == b for a, b in lows)
    assert lows[0] == (False, False) and lows[-1] == (True, True)
    assert sum(1 for _, b in lows if b) < len(lows) // 10


def test_interrupted_watermark_rename_is_finished_at_boot():
    fs, st, committed = fresh(3)
    from probe.store import _ack_bytes
    f = fs.open("/data/acked.tmp", "wb")
    f.write(_ack_bytes(2))
    f.close()
    fs2, st2, _ = reboot(fs)
    assert st2.acked == 2 and sorted(readings(st2)) == [3]
    fs2.open("/data/acked.tmp", "wb")
    fs3, st3, rep = reboot(fs2)
    assert st3.acked == 2 and rep["removed_tmp"] == 1 and "/data/acked.tmp" not in fs3.files


def test_version_1_records_still_sync_after_the_upgrade():
    from meterproto.link.records import encode_record

    fs = SimFlash()
    fs.mkdir("/data")
    fs.mkdir("/data/00000")
    for seq in (1, 2, 3):
        f = fs.open("/data/00000/%08d.rec" % seq, "wb")
        f.write(encode_record(seq, 1600000000 + seq, reading(seq), b"old%d" % seq))
        f.close()
    fs.corrupt("/data/00000/00000002.rec", 30)
    st = Store(fs)
    rep = st.recover()
    assert rep["quarantined"] == 1
    assert st.commit(reading(4), 1700000000) == 4
    items = pull_all(st)
    assert [r[0] for r in items] == [1, "gap", 3, 4]
    assert items[0][3] == reading(1) and items[0][2] == b"old1\0\0\0\0"
    assert items[3][3] == reading(4)
    assert st.ack(4) == 3
    assert not [p for p in fs.files if p.startswith("/data/0")]
    assert "/data/00000" not in fs.dirs


def test_store_on_a_real_filesystem(tmp_path):
    (tmp_path / "data").mkdir()
    st = Store(Fsys(str(tmp_path)))
    st.recover()
    assert (st.commit(reading(1), 10, b"12345678"), st.commit(reading(2), 11)) == (1, 2)
    assert readings(st) == {1: reading(1), 2: reading(2)}
    seg = tmp_path / "data" / "00000001.seg"
    with open(seg, "ab") as f:
        f.write(b"IR\x02R\x00\x40half")  # a torn append
    (tmp_path / "data" / "00000001.tmp").write_bytes(b"half a copy")
    st2 = Store(Fsys(str(tmp_path)))
    rep = st2.recover()
    assert rep["removed_tmp"] == 1 and rep["trimmed"] == 1 and sorted(readings(st2)) == [1, 2]
    pull_all(st2)
    st2.ack(1)
    assert Store(Fsys(str(tmp_path))).status()["acked"] == 1
    assert 0 < st2.status()["free_pct"] <= 100


def test_config_save_survives_a_power_cut_at_every_op():
    from probe.config import Config

    n = 1
    outcomes = set()
    while True:
        fs = SimFlash()
        Config(fs).load().apply({"meters": [{"name": "a", "password": "pw1"}]})
        fs.arm(n)
        try:
            Config(fs).load().apply({"meters": [{"name": "b", "max_baud": 19200}]})
        except PowerCut:
            pass
        else:
            break
        cfg = Config(fs.remount()).load()
        names = [p["name"] for p in cfg.data["meters"]]
        assert names in (["a"], ["a", "b"]), (n, names)  # old or new, never lost or mixed
        assert cfg.profile("a")["password"] == "pw1"
        outcomes.add(tuple(names))
        n += 1
    assert n > 3 and ("a",) in outcomes


def test_flash_running_out_mid_write_is_store_full_and_leaves_no_tail():
    fs = SimFlash(blocks=12)
    st = Store(fs, min_free_pct=0)
    st.check_room = lambda nbytes=0: None  # estimate wrong: the write itself hits the end
    with pytest.raises(StoreFull):
        for i in range(5000):
            st.commit(reading(i, values=30), i)
    n = st.status()["count"]
    fs2, st2, rep = reboot(fs)
    assert rep["trimmed"] == 0 and rep["quarantined"] == 0
    assert st2.status()["count"] == n > 0 and sorted(readings(st2)) == list(range(1, n + 1))
