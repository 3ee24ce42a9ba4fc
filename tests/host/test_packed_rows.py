# irprobe.packed_rows: packed readings decoded straight into database rows must give what the
# general way gives (recpack.Unpacker, then irprobe.inbound's check in record_rows.rows_of):
# the same values, units, stored text, and the same refusal of anything hostile. Proven on the
# bench's own readings, on generated ones, on crafted hostile records, and end to end through
# `irprobe sync` with version 1 records of older firmware beside packed ones.
import json
import os

import pytest
from hostile_probe import HostileProbe
from hypothesis import HealthCheck, given, settings, strategies as st
from irprobe import cli
from irprobe.db import BadRecord, Store
from irprobe.inbound import Untrusted
from irprobe.packed_rows import RowReader
from irprobe.record_rows import RecordRows, rows_of
from meterproto.errors import DecodeError
from meterproto.link.records import HEAD, K_SCHEMA, encode_record, frame_record
from meterproto.link.recpack import Packer, Unpacker

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "bench")


def _pack(readings, first_seq=1, t0=1764090000):
    p = Packer()
    out = []
    for i, r in enumerate(readings):
        out += p.pack(first_seq + i, t0 + 900 * i, r, bytes((i % 256,)) * 8)
    return out


def _outcome(rows):
    """What the store would keep of a RecordRows: everything it writes."""
    return (rows.seq, rows.taken_at, rows.digest, rows.text, rows.meter, rows.protocol,
            rows.mode, rows.baud, tuple(tuple(c) for c in rows.columns), rows.profiles)


def general(raws):
    """[outcome or refusal text] the general way: Unpacker, then the one check."""
    u = Unpacker()
    out = []
    for raw in raws:
        try:
            rec = u.feed(raw)
            if rec is not None:
                out.append(_outcome(rows_of(rec.seq, rec.time_s, rec.reading, rec.digest)))
        except (DecodeError, Untrusted) as e:
            out.append("refused: %s" % e)
    return out


def by_tables(raws):
    """The same through RowReader (as `irprobe sync` reads); (outcomes, readings it took
    the table way)."""
    rr = RowReader()
    out = []
    for raw in raws:
        try:
            rec = rr.feed(raw)
            if rec is None:
                continue
            if rec.__class__ is not RecordRows:
                rec = rows_of(rec.seq, rec.time_s, rec.reading, rec.digest)
            out.append(_outcome(rec))
        except (DecodeError, Untrusted) as e:
            out.append("refused: %s" % e)
    return out, rr.fast


def _bench_readings(n):
    import itertools
    import random
    import sys

    sys.path.insert(0, BENCH)
    import storage_bench as sb

    rng = random.Random(7)
    return [r for r, _ in itertools.islice(sb.iec_series(sb._read("elster-as1440"), rng), n)]


def test_bench_readings_same_rows_values_exact_units_kept():
    readings = _bench_readings(400)
    raws = _pack(readings)
    got, fast = by_tables(raws)
    assert got == general(raws)
    n_packed = sum(1 for r in raws if r[3] == ord("R"))
    assert n_packed > 350 and fast == n_packed  # the tables took every packed reading
    for reading, g in zip(readings, got):
        obis, value, unit = g[8][0], g[8][1], g[8][2]
        want = [(v["obis"], v["value"], v["unit"]) for v in reading["values"]]
        assert list(zip(obis, value, unit)) == want  # the meter's text, its units
        assert json.loads(g[3]) == reading  # the stored text is the reading


def test_notes_meter_id_extra_time_nulls_and_text_cells():
    base = {"meter": {"id": "0042", "manufacturer": "ABC", "ident": "/ABC5"},
            "protocol": "iec62056-21", "mode": "C", "baud": 9600,
            "values": [{"obis": "1-0:1.8.0*255", "value": "000123.400", "unit": "kWh"},
                       {"obis": "1-0:1.6.0*255", "value": "06.432", "unit": "kW",
                        "extra": ["2611220930"], "time": "2611220930"},
                       {"obis": "0-0:1.0.0*255", "value": "2026-11-25 10:00:00", "unit": None},
                       {"obis": "0-0:96.1.0*255", "value": "Zähler Nord", "unit": None,
                        "address": "C.1"}]}
    readings = []
    for i in range(12):
        r = json.loads(json.dumps(base))
        r["meter"]["id"] = "%04d" % (42 + i % 3)
        v = r["values"]
        v[0]["value"] = "%010.3f" % (123.4 + 1700.25 * i)  # 1, 2 and 3-byte deltas
        v[1]["time"] = v[1]["extra"][0] = "26112209%02d" % (i * 5)
        v[2]["value"] = "2026-11-25 %02d:00:00" % (10 + i)
        v[3]["value"] = ["Zähler Nord", "Zähler Süd", None, "x" * 70][i % 4]
        if i % 3 == 1:
            r["notes"] = []
        elif i % 3 == 2:
            r["notes"] = ["a note", "another"]
        if i == 7:
            v[0]["value"] = "-000001.500"  # a negative number
        readings.append(r)
    raws = _pack(readings)
    got, fast = by_tables(raws)
    assert got == general(raws) and fast >= 6
    assert not [g for g in got if isinstance(g, str)]
    assert [json.loads(g[3]) for g in got] == readings


def test_load_profiles_and_version_1_records_go_the_general_way():
    dlms = {"meter": {"id": "D1"}, "protocol": "dlms", "values": [
        {"obis": "1-0:1.8.0*255", "value": "1234", "unit": "Wh"}],
        "profiles": [{"obis": "1-0:99.1.0*255", "capture_objects": [
            {"class_id": 8, "obis": "0-0:1.0.0*255", "attr": 2},
            {"class_id": 3, "obis": "1-0:1.8.0*255", "attr": 2}],
            "rows": [["2026-11-25 00:15:00", "10"], ["2026-11-25 00:30:00", "12"]]}]}
    raws = _pack([dlms, dlms, dlms]) + [encode_record(9, 1764090000, dlms, b"v1v1v1v1")]
    got, fast = by_tables(raws)
    assert got == general(raws) and fast == 0
    assert len(got) == 4 and got[3][0] == 9 and json.loads(got[3][3]) == dlms


# -- generated readings -----------------------------------------------------------------------
DECIMAL = st.builds(lambda n, w, f: ("%0*d" % (w + f, abs(n)))[:w] + "." + (
    "%0*d" % (w + f, abs(n)))[w:] if f else "%0*d" % (w, n),
    st.integers(-10**9, 10**12), st.integers(1, 8), st.integers(0, 4))
CELL = st.one_of(DECIMAL, st.none(), st.text(max_size=12),
                 st.sampled_from(["2026-11-25 10:00:00", "", "001010", "\x1b[31m"]))


@settings(max_examples=120, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=2, max_size=6),
       st.sampled_from([None, [], ["n"]]))
def test_generated_readings_same_outcome_both_ways(cells, notes):
    readings = []
    for row in cells:
        r = {"meter": {"id": "M1"}, "protocol": "iec62056-21",
             "values": [{"obis": "1-0:%d.8.0*255" % j, "value": x, "unit": "kWh"}
                        for j, x in enumerate(row)]}
        if notes is not None:
            r["notes"] = notes
        readings.append(r)
    raws = _pack(readings)
    got, _ = by_tables(raws)
    assert got == general(raws)


# -- hostile records: refused the same way --------------------------------------------------
def _reading(value="000123.400", unit="kWh", meter="M1", time=None):
    v = {"obis": "1-0:1.8.0*255", "value": value, "unit": unit}
    if time is not None:
        v["time"] = time
    return {"meter": {"id": meter}, "protocol": "iec62056-21", "values": [v]}


def _schema_edit(raws, edit):
    """raws with their schema record's JSON changed by edit(dict), framed again (good CRC)."""
    out = []
    for raw in raws:
        if raw[3] == K_SCHEMA:
            s = json.loads(raw[HEAD + 4:-2].decode())
            edit(s)
            raw = frame_record(K_SCHEMA, raw[HEAD:HEAD + 4] + json.dumps(s).encode())
        out.append(raw)
    return out


def _lay(k, v):
    """An edit of the first value's first cell layout: item k set to v."""
    return lambda s: s["c"][0][2].__setitem__(k, v)


# name: (records, what the refusal says; None: both ways store it the same)
HOSTILE = {
    "control in a text cell": (_pack([_reading(), _reading("12\x1b[2J")]), "control"),
    "control as the schema's base text": (
        _pack([_reading("\x1b]0;x\x07"), _reading("1")]), "control"),
    "text cell too long": (_pack([_reading(), _reading("9" * 300)]), "characters long"),
    "time too long": (_pack([_reading(time="1"), _reading(time="1" * 70)]), "characters long"),
    "meter id too long": (_pack([_reading(), _reading(meter="M" * 65)]), "characters long"),
    "meter id with a control": (_pack([_reading(), _reading(meter="M\x00")]), "control"),
    "unit with a control (frame)": (
        _pack([_reading(unit="k\x07Wh"), _reading(unit="k\x07Wh")]), "control"),
    "lone surrogate as base text": (
        _schema_edit(_pack([_reading("abc"), _reading("abc")]), _lay(1, "\ud800")),
        "surrogate"),
    "layout 1000 digits wide": (
        _schema_edit(_pack([_reading(), _reading("000124.400")]), _lay(1, 1000)),
        "characters long"),
    "layout width not a number": (
        _schema_edit(_pack([_reading(), _reading("000124.400")]), _lay(1, "x")),
        "does not match its schema"),
    "more extra cells than layouts": (
        _schema_edit(_pack([_reading(), _reading("000124.400")]),
                     lambda s: s["c"][0].__setitem__(0, 3)), None),
    "a time layout wider than a time": (
        _schema_edit(_pack([_reading(time="1"), _reading(time="5000"), _reading(time="2")]),
                     lambda s: s["c"][0].__setitem__(3, [1, 64, 10, 1])), "characters long"),
    "a time kept in the frame": (
        _schema_edit(_pack([_reading(), _reading("000124.400")]),
                     lambda s: s["f"]["values"][0].__setitem__("time", "2611220930")), None),
    "frame nested too deep": (
        _schema_edit(_pack([_reading(), _reading()]),
                     lambda s: s["f"].__setitem__("y", json.loads("[" * 40 + "]" * 40))),
        "nested"),
}


def _cut_body(raws, cut):
    """The last reading's body cut or padded by cut bytes (length and CRC made good)."""
    from meterproto.link.records import K_READING

    *head, last = raws
    body = last[HEAD:-2]
    body = body[:cut] if cut < 0 else body + b"\x00" * cut
    return head + [frame_record(K_READING, body)]


HOSTILE["a cell cut short"] = (
    _cut_body(_pack([_reading(), _reading("000124.400")]), -1), "cut short")
HOSTILE["bytes left over"] = (
    _cut_body(_pack([_reading(), _reading("000124.400")]), 1), "left over")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_records_refused_the_same_way(name):
    raws, says = HOSTILE[name]
    got, _ = by_tables(raws)
    want = general(raws)
    assert got == want
    refusals = [g for g in want if isinstance(g, str)]
    if says is None:
        assert not refusals
    else:
        assert refusals and all(says in r for r in refusals), want


def test_hostile_cell_through_the_store_stores_nothing(tmp_path):
    raws = _pack([_reading(), _reading("ok"), _reading("12\x1b[2J")])
    rr = RowReader()
    recs = [r for r in map(rr.feed, raws) if r is not None]
    batch = [r if r.__class__ is RecordRows else (r.seq, r.time_s, r.reading, r.digest)
             for r in recs]
    with Store(str(tmp_path / "r.sqlite")) as s:
        with pytest.raises(BadRecord, match="control characters"):
            s.add_records("P", batch)
        assert s.counts()["sessions"] == 0  # not even the good ones of that batch
        assert s.add_records("P", batch[:2]) == (2, 0, 0)
        assert [v["value"] for _, _, v in [(0, 0, x) for x in s.rows()]] == ["000123.400", "ok"]


# -- end to end: `irprobe sync` ----------------------------------------------------------------
def test_sync_hostile_packed_record_refused_in_one_line_nothing_lost(tmp_path, capsys):
    raws = _pack([_reading(), _reading("000124.400"), _reading("9\x1b[31m")])
    recs = {1: raws[0] + raws[1], 2: raws[2], 3: raws[3]}
    db = str(tmp_path / "r.sqlite")
    with HostileProbe(recs) as p:
        rc = cli.main(["sync", "--port", p.port, "--db", db, "--timeout", "1.0"])
        out, err = capsys.readouterr()
        assert 3 in p.records and all(a < 3 for a in p.acks)  # never acked
    assert rc == 2 and "record from the probe refused" in err and "control characters" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    assert Store(db).known_seqs("HOSTILE-1") == ([1, 2] if p.acks else [])


def test_sync_version_1_records_beside_packed_ones(tmp_path, capsys):
    """A probe upgraded in the field: version 1 files of the old firmware, then packed
    readings; `irprobe sync` stores both, values exact, units kept."""
    from irprobe.sim.probe_sim import ProbeSim

    root = tmp_path / "probe"
    old = root / "data" / "00000"
    old.mkdir(parents=True)
    v1 = [_reading("%010.3f" % (100 + i), meter="OLD") for i in range(3)]
    for i, r in enumerate(v1):
        (old / ("%08d.rec" % (i + 1))).write_bytes(encode_record(i + 1, 1700000000 + i, r))
    new = _bench_readings(40)
    with ProbeSim("iskra-mt174", root=str(root)) as sim:
        for i, r in enumerate(new):
            assert sim.store.commit(r, 1764090000 + 900 * i, b"") == 4 + i
        db = str(tmp_path / "r.sqlite")
        assert cli.main(["sync", "--port", sim.port, "--db", db]) == 0
        assert "43 records pulled, 43 new" in capsys.readouterr().out
        assert sim.store.status()["count"] == 0
    with Store(db) as s:
        got = {}
        for r in s.rows():
            got.setdefault(r["seq"], []).append((r["obis"], r["value"], r["unit"]))
    for seq, r in enumerate(v1 + new, 1):
        assert got[seq] == [(v["obis"], v["value"], v["unit"]) for v in r["values"]]


def test_tables_kept_only_for_the_schemas_the_unpacker_keeps():
    rr = RowReader()
    for k in range(Unpacker.KEEP + 8):  # a new schema each time (a new segment)
        for raw in _pack([_reading("%010.3f" % k)] * 2, first_seq=1 + 10 * k):
            rr.feed(raw)
    assert rr.fast == 2 * (Unpacker.KEEP + 8)
    assert set(rr._tables) <= set(rr.unpacker.schemas) and len(rr._tables) <= Unpacker.KEEP


_BASE = None


def _base_records():
    global _BASE
    if _BASE is None:
        r = _reading()
        r["meter"]["manufacturer"] = "ABC"
        r["values"].append({"obis": "1-0:0.9.1*255", "value": "101010", "unit": None,
                            "time": "2611220930", "extra": ["x"]})
        rs = []
        for i in range(4):
            x = json.loads(json.dumps(r))
            x["values"][0]["value"] = "%010.3f" % (123.4 + 1000 * i)
            x["values"][1]["value"] = "%06d" % (1010 + 1500 * i)  # "001010": a text cell
            rs.append(x)
        _BASE = _pack(rs)
    return _BASE


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_edit_of_a_packed_record_gives_the_same_outcome_both_ways(data):
    """A byte of a record's body changed, cut or added (length and CRC made good again, as
    a faulty probe would send it): both ways store the same rows or refuse alike."""
    raws = list(_base_records())
    k = data.draw(st.integers(0, len(raws) - 1))
    body = bytearray(raws[k][HEAD:-2])
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(body)))
        how = data.draw(st.sampled_from(["set", "cut", "add"]))
        if how == "set" and i < len(body):
            body[i] = data.draw(st.integers(0, 255))
        elif how == "cut" and i < len(body):
            del body[i]
        else:
            body[i:i] = bytes((data.draw(st.integers(0, 255)),))
    raws[k] = frame_record(raws[k][3], bytes(body))
    got, _ = by_tables(raws)
    assert got == general(raws)


def test_answers_before_an_unreadable_one_are_stored_and_acked(tmp_path):
    """Answers are stored together; when one cannot be read, those before it in the same
    store are still stored and acked (as when each answer was stored on its own)."""
    from irprobe.cmd_sync import sync
    from irprobe.probelink import LinkError, ProbeLink
    from meterproto.link.records import K_READING

    good = _pack([_reading(), _reading("000124.400"), _reading("000125.400")])
    orphan = frame_record(K_READING, (4).to_bytes(4, "big") + bytes(12) + b"\x02\x00\x00\x01")
    recs = {1: good[0] + good[1], 2: good[2], 3: good[3], 4: orphan}  # 4: its schema unknown
    with HostileProbe(recs) as p, Store(str(tmp_path / "r.sqlite")) as s:
        with ProbeLink.open(p.port, timeout=1.0) as link:
            with pytest.raises(LinkError, match="schema that was not sent"):
                sync(link, s, max_bytes=40)  # one record per answer
        assert p.pulls >= 4 and p.acks == [3]
        assert s.known_seqs("HOSTILE-1") == [1, 2, 3]
