# probe.store and probe.config on the simulated flash, on both runtimes (the board runs
# MicroPython: the store must import and behave the same there).
from irprobe.sim.simflash import PowerCut, SimFlash
from probe.config import Config
from probe.store import Store, StoreFull
from core_checks import raises


def _reading(n):
    return {"protocol": "iec62056-21", "values": [{"obis": "1-0:1.8.0*255",
                                                   "value": "%06d.000" % n, "unit": "kWh"}]}


def test_commit_reboot_ack_on_both_runtimes():
    fs = SimFlash()
    st = Store(fs)
    assert st.recover() == {"removed_tmp": 0, "quarantined": 0, "deleted_acked": 0,
                            "trimmed": 0}
    assert [st.commit(_reading(i), 100 + i, b"d%d" % i) for i in range(3)] == [1, 2, 3]
    st2 = Store(fs.remount())
    st2.recover()
    assert [s for s, _ in st2.records()] == [1, 2, 3]
    assert st2.read(2) == st.read(2)
    assert st2.ack(2) == 0  # nothing was pulled since boot: nothing can be acked
    assert len(st2.pull(1, 100000)) > 0
    assert st2.ack(2) == 2
    s = st2.status()
    got = (s["count"], s["first_seq"], s["last_seq"], s["acked"], s["full"])
    assert got == (1, 3, 3, 2, False)


def test_power_cut_during_commit_on_both_runtimes():
    n = 1
    while True:
        fs = SimFlash()
        st = Store(fs)
        first = st.commit(_reading(1), 1)
        fs.arm(n)
        try:
            st.commit(_reading(2), 2)
        except PowerCut:
            pass
        else:
            break
        st2 = Store(fs.remount())
        st2.recover()
        seqs = [s for s, _ in st2.records()]
        assert seqs == [first], (n, seqs)  # the committed one survives, the cut one is gone
        n += 1
    assert n >= 2  # an append: write, flush (close)


def test_store_full_message_and_config_secrets():
    fs = SimFlash(blocks=20)
    st = Store(fs)
    try:
        for i in range(50):
            st.commit({"protocol": "dlms", "values": [], "pad": str(i % 10) * 6000}, i)
    except StoreFull as e:
        assert "storage is full" in str(e)
    else:
        raise AssertionError("the store never filled up")
    cfg = Config(fs).load()
    out = cfg.apply({"meters": [{"name": "m", "password": "hunter2"}]})
    assert out["meters"][0]["password"] == "***" and "hunter2" not in repr(out)
    assert Config(fs.remount()).load().profile("m")["password"] == "hunter2"


def test_a_day_of_load_profile_is_committed_in_small_pieces():
    # The probe writes a record as it makes it (records.write_record): no write, and so no
    # buffer, near the size of the reading (4.7 KB of JSON here: a frame seen once).
    from irprobe.sim import simflash

    sizes = []
    real = simflash._File.write

    def write(f, data):
        sizes.append(len(data))
        return real(f, data)

    rows = [["2026-11-24 %02d:%02d:00" % (k // 4, k % 4 * 15), str(12300100 + 37 * k)]
            for k in range(96)]
    day = {"protocol": "dlms", "meter": {"id": "70000005"},
           "values": [{"obis": "1-0:1.8.0*255", "value": "001234.567", "unit": "kWh"}],
           "objects": [{"obis": "0-0:%d.0.0*255" % i, "class_id": 3} for i in range(30)],
           "profiles": [{"obis": "1-0:99.1.0*255", "rows": rows}]}
    fs = SimFlash()
    st = Store(fs)
    st.commit(_reading(1), 1)
    simflash._File.write = write
    try:
        seq = st.commit(day, 2)
    finally:
        simflash._File.write = real
    assert sum(sizes) > 4000 and max(sizes) < 1024, (sum(sizes), max(sizes))
    from meterproto.link.recpack import Unpacker
    from meterproto.link.records import split_records

    up = Unpacker()
    got = [up.feed(r) for r in split_records(st.pull(1, 1 << 20))]
    assert got[-1].seq == seq and got[-1].reading == day


def test_schema_read_back_in_pieces_matches_the_whole():
    # probe.store_schema skips the frame and keeps the layouts: the same as parsing the
    # whole record, for texts with quotes, backslashes, braces and a member named like "f".
    from meterproto.link.recpack import Packer, _schema_body
    from meterproto.link.records import K_SCHEMA
    from meterproto.errors import DecodeError
    from probe.store_schema import read_schema

    odd = {"protocol": "iec62056-21", "meter": {"id": "1", "ident": '/A"B{[}]\\ \u00e9'},
           "values": [{"obis": "1.8.0", "value": "%06d.000" % n, "unit": 'k"W{h',
                       "f": '},"k":"x'} for n in range(30)], "notes": ['n"1']}
    for reading in (odd, _reading(5)):
        recs = Packer().pack(7, 7, reading)
        assert recs[0][3] == K_SCHEMA
        fs = SimFlash()
        f = fs.open("/s", "wb")
        f.write(b"xyz" + recs[0])
        f.close()
        f = fs.open("/s", "rb")
        sid, got = read_schema(f, 3)
        f.close()
        want_id, want = _schema_body(recs[0])
        assert sid == want_id == 7
        for k in ("c", "p", "n", "i", "k"):
            assert got[k] == want[k], k
        assert got["f"] == {}
        bad = bytearray(recs[0])
        bad[len(bad) // 2] ^= 1
        f = fs.open("/b", "wb")
        f.write(bytes(bad))
        f.close()
        f = fs.open("/b", "rb")
        assert raises(DecodeError, read_schema, f, 0)
        f.close()


def test_readings_of_one_meter_share_one_schema_read_back_from_flash():
    # Each commit reads the segment's schema back (probe.store_schema) instead of keeping
    # it in RAM: ten readings of one meter cost one schema record, not ten.
    from meterproto.link.records import K_SCHEMA, split_records

    fs = SimFlash()
    st = Store(fs)
    for n in range(10):
        st.commit(_reading(n), n)
    raw = fs.files["/data/%s" % st.segs[0].name]
    kinds = [r[3] for r in split_records(raw)]
    assert kinds.count(K_SCHEMA) == 1 and len(kinds) == 11, kinds


def test_pull_after_an_ack_carries_on_where_it_stopped():
    # An ack that keeps the segment keeps the pull's place: the next pull does not read
    # (and CRC-check) every acked record again from the segment's start.
    from irprobe.sim import simflash
    from meterproto.link.records import split_records, record_info

    fs = SimFlash()
    st = Store(fs)
    for n in range(400):
        st.commit(_reading(n), n)
    done = 0
    got = []
    while done < 300:
        b = st.pull(done + 1, 2000)
        done = max(s for s in (record_info(r)[2] for r in split_records(b)) if s is not None)
        st.ack(done)
        got.append(done)
    read = [0]
    real = simflash._File.read

    def counting(f, n=-1):
        out = real(f, n)
        read[0] += len(out)
        return out

    simflash._File.read = counting
    try:
        b = st.pull(done + 1, 2000)
    finally:
        simflash._File.read = real
    assert record_info(split_records(b)[-1])[2] > done
    assert st.segs[0].size > 8000 and read[0] < 5000, (st.segs[0].size, read[0])
