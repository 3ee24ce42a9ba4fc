"""Store.add_records looks up held seqs and meters once per batch: a seq repeated inside one
batch, or one held from an earlier batch, is still a duplicate or a conflict, and a bad record
anywhere in a batch stores none of it."""

import pytest

from irprobe.db import BadRecord, SeqConflict, Store


def reading(kwh="001234.567", meter="12345678", manufacturer=None):
    return {"meter": {"id": meter, "manufacturer": manufacturer}, "protocol": "iec62056-21",
            "values": [{"obis": "1-0:1.8.0*255", "value": kwh, "unit": "kWh"}]}


def test_repeats_inside_one_batch(tmp_path):
    with Store(str(tmp_path / "r.sqlite")) as s:
        got = s.add_records("P1", [
            (1, 100, reading(), b"d1"),
            (1, 100, reading(), b"d1"),  # the same again: a duplicate
            (2, 200, reading("1"), b"d2"),
            (2, 200, reading("2"), b"d2"),  # same time and digest, other content: a conflict
        ])
        assert got == (2, 1, 1)
        assert s.counts()["sessions"] == 2 and s.counts()["values"] == 2
        assert [c[1] for c in s.conflicts("P1")] == [2]
        with pytest.raises(SeqConflict):
            s.add_records("P1", [(3, 300, reading(), b"d3"), (3, 301, reading(), b"d3")])
        assert s.known_seqs("P1") == [1, 2]


def test_held_from_earlier_batches_and_many_seqs(tmp_path):
    with Store(str(tmp_path / "r.sqlite")) as s:
        first = [(n, n, reading(str(n)), None) for n in range(1, 1201)]  # > one IN (...) chunk
        assert s.add_records("P1", first) == (1200, 0, 0)
        assert s.add_records("P1", first + [(1201, 5, reading(), None)]) == (1, 1200, 0)
        with pytest.raises(SeqConflict):
            s.add_records("P1", [(700, 1, reading(), None)])


def test_bad_record_stores_nothing_of_its_batch(tmp_path):
    with Store(str(tmp_path / "r.sqlite")) as s:
        with pytest.raises(BadRecord, match="control"):
            s.add_records("P1", [(1, 1, reading(), None), (2, 2, reading("1\x00"), None)])
        assert s.counts()["sessions"] == 0 and s.counts()["meters"] == 0


def test_meter_details_kept_once_per_batch(tmp_path):
    with Store(str(tmp_path / "r.sqlite")) as s:
        s.add_records("P1", [(1, 1, reading(), None),
                             (2, 2, reading(manufacturer="LGZ"), None),
                             (3, 3, reading(meter="other"), None)])
        assert s.meters() == ["12345678", "other"]
        assert s.conn.execute(
            "SELECT manufacturer FROM meters WHERE meter_id = '12345678'").fetchone() == ("LGZ",)
