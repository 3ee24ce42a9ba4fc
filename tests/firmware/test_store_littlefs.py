# probe.store on the real littlefs (littlefs-python) at the Pico's geometry: the power goes at
# every program and erase of the flash during commits, a segment roll-over and an ack (and
# once more with that program half done); after power-up nothing committed is lost, nothing
# returned is wrong, no seq is reused, and the acked readings never come back.
import pytest

import probe.store as store_mod
from lfs_flash import LfsFsys
from probe.store import Store
from test_store_powercut import pull_all, reading, readings


def _fresh(n):
    fs = LfsFsys()
    st = Store(fs)
    st.recover()
    committed = {}
    for i in range(n):
        committed[st.commit(reading(i, 5), 1700000000 + i, b"d%d" % i)] = reading(i, 5)
    return fs, st, committed


def _scenario(st, state):
    for i in range(3):  # the second one starts a new segment
        seq = st.status()["next_seq"]
        state["pending"] = (seq, reading(100 + i, 5))
        st.commit(reading(100 + i, 5), 1750000000 + i)
        state["committed"][seq] = reading(100 + i, 5)
        state["pending"] = None
    pull_all(st)
    state["acking"] = True
    st.ack(4)
    state["acked"] = 4


def _cut_everywhere(tear):
    saved = store_mod.SEG_MAX
    store_mod.SEG_MAX = 700  # a schema and 4 readings of 5 values per segment
    stats = {"cuts": 0, "checked": 0, "lost": 0, "corrupt": 0, "reused": 0, "came_back": 0}
    n = 1
    try:
        while True:
            fs, st, committed = _fresh(3)
            state = {"committed": committed, "pending": None, "acking": False, "acked": 0}
            fs.flash.writes = 0
            fs.flash.cut_at = n
            fs.flash.tear = tear
            try:
                _scenario(st, state)
            except OSError:
                assert fs.flash.dead  # only the power cut may fail a flash operation
            if not fs.flash.dead:
                return stats, n - 1
            stats["cuts"] += 1
            fs2 = LfsFsys(buffer=fs.flash.buffer)  # power back on: mount what the flash holds
            st2 = Store(fs2)
            st2.recover()
            got = readings(st2)
            done = state["committed"]
            floor = st2.status()["acked"]
            assert floor in (0, 4) and (floor == 0 or state["acking"])
            for seq, r in done.items():
                if seq > floor and got.get(seq) != r:
                    stats["lost"] += 1
            for seq, r in got.items():
                if seq <= floor:
                    stats["came_back"] += 1
                p = state["pending"]
                if done.get(seq, p[1] if p and p[0] == seq else None) != r:
                    stats["corrupt"] += 1
            if st2.commit(reading(999, 5), 1) <= max(done):
                stats["reused"] += 1
            stats["checked"] += len(got)
            n += 1
            assert n < 400
    finally:
        store_mod.SEG_MAX = saved


@pytest.mark.parametrize("tear", [0, 100])
def test_power_cut_at_every_flash_program_and_erase(tear):
    stats, writes = _cut_everywhere(tear)
    print("littlefs (tear %d bytes): %d flash writes, %d cut points, %d records checked, "
          "lost %d, corrupt %d, reused seq %d, acked came back %d"
          % (tear, writes, stats["cuts"], stats["checked"], stats["lost"], stats["corrupt"],
             stats["reused"], stats["came_back"]))
    assert stats["cuts"] == writes > 10
    assert stats["lost"] == stats["corrupt"] == stats["reused"] == stats["came_back"] == 0
