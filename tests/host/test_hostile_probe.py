# Hostile and broken input against the real CLI (issue 14): a fake probe on a pty speaking the
# USB command channel (hostile_probe.py), crafted captures, a full or busy database. Each case
# ends in stored data or a one-line error; nothing is displayed raw; nothing unstored is acked.
import csv
import io
import os
import sqlite3
import time

import pytest
from hostile_probe import HostileProbe, frame, reading
from irprobe import cli
from irprobe import db as dbmod
from irprobe.db import Store
from meterproto.link import channel as H
from meterproto.link.records import encode_record

# What must never reach a terminal or a cell: ESC, CSI/OSC (C1), BEL, bidi override.
RAW = ("\x1b", "\x07", "\x9b", "\x9d", "\u202e")


def run(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def sync(probe, db, capsys, timeout="1.0"):
    return run(["sync", "--port", probe.port, "--db", db, "--timeout", timeout], capsys)


def no_raw(text):
    for ch in RAW:
        assert ch not in text, repr(ch)


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "r.sqlite")


# -- 1, 7: meter text is data, never markup or terminal control -------------------------------
def test_1_decode_markup_in_a_value_is_shown_as_text(capsys):
    rc, out, _ = run(
        ["decode", "--hex", "02312e382e3028303030315b2f785d2a6b5768290d0a210d0a0334"], capsys
    )
    assert rc == 0 and "0001[/x]" in out


def _iec_block(value):
    body = b"1.8.0(" + value + b"*kWh)\r\n!\r\n\x03"
    bcc = 0
    for b in body:
        bcc ^= b
    return b"\x02" + body + bytes((bcc,))


@pytest.mark.parametrize(
    "value,shown",
    [
        (b"1[link=http://evil]click[/link]", "1[link=http://evil]click[/link]"),
        (b"2\x1b]8;;http://evil\x07x", "2\ufffd]8;;http://evil\ufffdx"),
        (b"3\x1b[2J", "3\ufffd[2J"),
    ],
)
def test_1_decode_links_and_escapes_not_interpreted(capsys, value, shown):
    rc, out, _ = run(["decode", "--hex", _iec_block(value).hex()], capsys)
    assert rc == 0 and shown in out
    no_raw(out)


EVIL_ID = "M[link=http://evil]x[/link]\u202e\u009b31m"


def test_7_show_and_csv_never_carry_controls_bidi_or_formulas(db, tmp_path, capsys):
    r = reading(meter=EVIL_ID, value="=HYPERLINK(\"http://evil\",\"5\")")
    r["values"].append({"obis": "1-0:2.8.0*255", "value": "-000.5", "unit": "\u009d0;x"})
    r["values"].append({"obis": "@SUM(A1)", "value": "+1+2", "unit": "kWh"})
    with HostileProbe.with_readings([r]) as p:
        rc, out, _ = sync(p, db, capsys)
        assert rc == 0 and p.acks == [1]
    rc, out, _ = run(["show", "--db", db], capsys)
    assert rc == 0 and "[link=http://evil]x[/link]" in out
    no_raw(out)
    csv_path = str(tmp_path / "o.csv")
    rc, _, _ = run(["export", "--db", db, "--out", csv_path], capsys)
    text = open(csv_path, encoding="utf-8").read()
    no_raw(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = {r["obis"]: r for r in rows}
    assert cells["1-0:1.8.0*255"]["value"] == "'=HYPERLINK(\"http://evil\",\"5\")"
    assert cells["1-0:2.8.0*255"]["value"] == "-000.5"  # a number stays a number
    assert cells["'@SUM(A1)"]["value"] == "'+1+2"
    assert all(not c.startswith(("=", "+", "@")) for r in rows for c in r.values())
    # the JSON export keeps the exact data for programs (escaped by JSON itself)
    rc, out, _ = run(["export", "--db", db, "--format", "json"], capsys)
    assert "\\u202e" in out and "=HYPERLINK" in out


def test_take_reading_with_markup_and_controls_is_shown_clean(capsys):
    r = reading(meter=EVIL_ID, value="[blink]1[/blink]\x1b[2J")
    r["notes"] = ["note \x1b]0;title\x07", "[red]x[/red]"]

    class P(HostileProbe):
        def on_take(self, req, args):
            return frame(req, {"outcome": "success", "seq": 1, "reading": r})

    with P() as p:
        rc, out, err = run(["take", "--port", p.port], capsys)
    assert rc == 0 and "[blink]1[/blink]" in out and "[red]x[/red]" in out
    no_raw(out + err)


def test_device_error_message_is_shown_clean(db, capsys):
    class P(HostileProbe):
        def on_pull(self, req, args):
            return H.error_frame(req.seq, "x\x1b[31m", "[bold]boom[/bold]\x1b]0;t\x07\u202e")

    with P(records={1: encode_record(1, 0, reading())}) as p:
        rc, _, err = sync(p, db, capsys)
    assert rc == 2 and "[bold]boom[/bold]" in err
    no_raw(err)


# -- 2: unexpected structures from the probe end in a plain refusal, nothing acked -----------
@pytest.mark.parametrize(
    "patch,msg",
    [
        ({"baud": 10**30}, "too large"),
        ({"baud": 12345678901}, "baud is not a number"),
        ({"objects": [10**30]}, "too large"),
        ({"mode": "\ud800"}, "lone UTF-16 surrogate"),
        ({"values": [{"obis": "1.8.0", "value": "\udc00"}]}, "lone UTF-16 surrogate"),
        ({"objects": [float("inf")]}, "not finite"),
        ({"values": [{"obis": "x" * 5000, "value": "1"}]}, "characters long"),
        ({"profiles": [{"obis": "1-0:99.1.0*255", "columns": [{"obis": "a"}],
                        "rows": [{"time": "t", "values": ["1", "2"]}]}]}, "does not match"),
    ],
)
def test_2_hostile_record_values_refused_nothing_acked(db, capsys, patch, msg):
    good = reading()
    bad = dict(reading(), **patch)
    with HostileProbe.with_readings([good, bad]) as p:
        rc, _, err = sync(p, db, capsys)
        assert all(a < 2 for a in p.acks) and 2 in p.records  # the bad one never acked
    assert rc == 2 and "record from the probe refused" in err and msg in err, err
    assert len(err.strip().splitlines()) == 1
    assert Store(db).known_seqs("HOSTILE-1") == p.acks[-1:]  # only what was acked


@pytest.mark.parametrize(
    "hello,msg",
    [
        ({"device_id": "EVIL\u202eLIVE", "acked": 0, "count": 0}, "unusable device id"),
        ({"device_id": "D", "acked": -1, "count": 0}, "makes no sense"),
        ({"device_id": "D", "acked": 0, "count": 10**30}, "too large"),
        ({"device_id": "D", "acked": 0, "count": True}, "makes no sense"),
        ({"device_id": "D", "acked": 0, "count": 0xFFFFFFFF}, "more than a probe's flash"),
        (b'{"device_id": "D", "acked": 0, "count": NaN}', "not finite"),
        ({"device_id": "D", "acked": 0, "count": 0, "firmware": "\udfff"}, "surrogate"),
    ],
)
def test_2_hostile_hello_refused(db, capsys, hello, msg):
    with HostileProbe(hello=hello) as p:
        rc, _, err = sync(p, db, capsys)
        assert p.acks == []
    assert rc == 2 and msg in err, err


DEEP = b"[" * 1000 + b"]" * 1000


def test_2_json_nested_1000_deep_in_hello_is_refused(db, capsys):
    hello = b'{"device_id":"D","acked":0,"count":1,"x":' + DEEP + b"}"
    with HostileProbe(hello=hello) as p:
        rc, _, err = sync(p, db, capsys, timeout="0.3")
    assert rc == 2 and "nested too deeply" in err, err


def test_2_json_nested_40_deep_in_hello_is_refused(db, capsys):
    hello = b'{"device_id":"D","acked":0,"count":1,"x":' + b"[" * 40 + b"]" * 40 + b"}"
    with HostileProbe(hello=hello) as p:
        rc, _, err = sync(p, db, capsys, timeout="0.3")
    assert rc == 2 and "nested more than 32 levels" in err, err


@pytest.mark.parametrize("depth", [1000, 40])
def test_2_json_nested_deep_in_a_record_is_refused_nothing_acked(db, capsys, depth):
    from fuzz_host import _record

    payload = b'{"meter":{"id":"m"},"values":[],"objects":' + b"[" * depth + b"]" * depth + b"}"
    good = encode_record(1, 0, reading())
    with HostileProbe({1: good, 2: _record(2, payload)}) as p:
        rc, _, err = sync(p, db, capsys)
        assert 2 in p.records and all(a < 2 for a in p.acks)
    assert rc == 2 and "nested" in err, err


@pytest.mark.parametrize("hello", [b"[1, 2]", b"{bad json", b"\xff\xfe{}", b'"text"'])
def test_2_unusable_hello_is_named_not_taken_for_a_missing_app(db, capsys, hello):
    with HostileProbe(hello=hello) as p:
        rc, _, err = sync(p, db, capsys, timeout="0.3")
    assert rc == 2 and "keeps sending unusable answers" in err, err
    assert "raw REPL" not in err


# -- 3: the database fails: a plain message, nothing acked ------------------------------------
def test_3_full_disk_during_sync_is_plain_and_nothing_acked(db, capsys, monkeypatch):
    Store(db).close()
    real = sqlite3.connect

    def full(*a, **kw):
        c = real(*a, **kw)
        pages = c.execute("PRAGMA page_count").fetchone()[0]
        c.execute("PRAGMA max_page_count = %d" % pages)
        return c

    monkeypatch.setattr(dbmod.sqlite3, "connect", full)
    big = [reading(meter="M%d" % i, value="%0200d" % i) for i in range(40)]
    with HostileProbe.with_readings(big) as p:
        rc, _, err = sync(p, db, capsys)
        assert p.acks == [] and len(p.records) == 40
    assert rc == 2 and "is full: free some space" in err and "nothing of this batch was ack" in err
    monkeypatch.undo()
    assert Store(db).counts()["sessions"] == 0


def test_3_database_held_by_another_process_is_plain(db, capsys, monkeypatch):
    Store(db).close()
    monkeypatch.setattr(dbmod, "BUSY_S", 0.3)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with HostileProbe.with_readings([reading()]) as p:
            rc, _, err = sync(p, db, capsys)
            assert p.acks == [] and 1 in p.records
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert rc == 2 and "busy (another program is writing to it)" in err


def test_3_unwritable_database_folder_is_plain(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    with HostileProbe.with_readings([reading()]) as p:
        rc, _, err = sync(p, str(target / "sub" / "r.sqlite"), capsys)
        assert p.acks == []
    assert rc == 2 and "cannot create the folder" in err
    # a command that only reads says there is no database there (it creates none)
    rc, _, err = run(["show", "--db", str(target / "sub" / "r.sqlite")], capsys)
    assert rc == 2 and "no database at" in err


# -- 5: sequence numbers and the end of a session come from us, not the probe ----------------
def test_5_gap_in_sequence_acks_only_the_consecutive_run(db, capsys):
    p = HostileProbe(
        {1: encode_record(1, 0, reading(value="1")), 1000: encode_record(1000, 9, reading())}
    )
    with p:
        rc, out, _ = sync(p, db, capsys)
        assert p.acks == [1]  # never 1000: records 2..999 were never seen
        assert 1000 in p.records
    assert rc == 0 and "skipped record 2 and went on at 1000" in out
    assert Store(db).known_seqs("HOSTILE-1") == [1, 1000]  # stored, nothing lost


def test_5_gap_at_the_start_acks_nothing(db, capsys):
    with HostileProbe({5: encode_record(5, 0, reading())}) as p:
        rc, out, _ = sync(p, db, capsys)
        assert p.acks == []
    assert rc == 0 and "skipped record 1" in out


class Endless(HostileProbe):
    """Says it holds 3 records, then answers every PULL with one more."""

    def on_pull(self, req, args):
        self.pulls += 1
        seq = args["from_seq"]
        return frame(req, encode_record(seq, 0, reading(value=str(seq))))

    def status(self):
        d = HostileProbe.status(self)
        d["count"] = 3
        return d


def test_5_probe_that_never_stops_is_bounded_by_its_own_count(db, capsys):
    from irprobe.cmd_sync import session_limits

    with Endless() as p:
        t = time.monotonic()
        rc, _, err = sync(p, db, capsys)
        took = time.monotonic() - t
        limit = session_limits(3)[0]
        assert p.pulls <= limit + 1
        assert p.acks and p.acks[-1] <= limit  # what was stored was acked, no more
    assert rc == 2 and "more than the 3 records it said it holds" in err
    assert took < 30
    assert len(Store(db).known_seqs("HOSTILE-1")) == p.acks[-1]


class Noisy(HostileProbe):
    """Answers HELLO, then only noise: bytes that are never a frame (no SOF), non-stop."""

    noise = bytes(range(0x20, 0x7D)) * 4

    def on_pull(self, req, args):
        self.noisy = True
        return self.noise

    def idle(self):
        if getattr(self, "noisy", False):
            self.write(self.noise)


class WrongSeq(HostileProbe):
    """Answers every PULL with frames for other requests, non-stop."""

    def on_pull(self, req, args):
        self.req = req
        return self._other()

    def _other(self):
        return H.encode_frame(H.CMD_PULL | H.RESPONSE, (self.req.seq + 7) & 0xFFFF, b"")

    def idle(self):
        if getattr(self, "req", None) is not None:
            self.write(self._other())


@pytest.mark.parametrize("cls", [Noisy, WrongSeq])
def test_5_noise_or_wrong_answers_give_up_with_a_clear_error(db, capsys, cls):
    with cls.with_readings([reading()]) as p:
        t = time.monotonic()
        rc, _, err = sync(p, db, capsys, timeout="0.2")
        took = time.monotonic() - t
        assert p.acks == []
    assert rc == 2 and "keeps sending data that is not an answer" in err, err
    assert took < 15


def test_5_probe_repeating_a_record_is_refused(db, capsys):
    class Again(HostileProbe):
        def on_pull(self, req, args):
            return frame(req, self.records[1] + self.records[1])

    with Again.with_readings([reading()]) as p:
        rc, _, err = sync(p, db, capsys)
        assert p.acks == []
    assert rc == 2 and "out of order" in err


def test_5_probe_gone_mid_sync_is_plain(db, capsys):
    class Gone(HostileProbe):
        def on_pull(self, req, args):
            os.close(self.master)
            self._stop = True

    with Gone.with_readings([reading()]) as p:
        rc, _, err = sync(p, db, capsys, timeout="0.3")
    assert rc == 2 and "already stored readings are safe" in err


# -- 6: a record that changed under the same number is kept, never dropped -------------------
def test_6_changed_record_is_kept_as_a_conflict(db, capsys):
    class NoDelete(HostileProbe):
        def on_ack(self, req, args):  # the ack "got lost": the probe keeps its records
            self.acks.append(args.get("up_to_seq"))
            return frame(req, self.status())

    with NoDelete.with_readings([reading(value="1.0")]) as p:
        assert sync(p, db, capsys)[0] == 0
        raw = p.records[1]
        p.records[1] = encode_record(1, 1764090000, reading(value="9.9"), b"\x01" * 8)
        assert raw[:21] == p.records[1][:5] + raw[5:21]  # same seq, time and digest
        rc, out, _ = sync(p, db, capsys)
    assert rc == 0 and "1 records came again" in out and "kept as a conflict" in out
    rc, out, _ = run(["show", "--db", db], capsys)
    assert rc == 0 and "note: 1 records came again" in out
    st = Store(db)
    (dev, seq, _, r), = st.conflicts()
    assert (dev, seq, r["values"][0]["value"]) == ("HOSTILE-1", 1, "9.9")
    assert st.latest()[0][2][0]["value"] == "1.0"


# -- more: records that are not readings, two syncs into one new database at once ------------
def test_record_that_is_not_a_reading_is_refused(db, capsys):
    from fuzz_host import _record

    with HostileProbe({1: _record(1, b"[1,2,3]")}) as p:
        rc, _, err = sync(p, db, capsys)
        assert p.acks == []
    assert rc == 2 and "cannot be read (record payload is not a reading)" in err


def test_two_syncs_into_one_new_database_at_once(tmp_path):
    import subprocess
    import sys

    db = str(tmp_path / "new.sqlite")
    probes = [HostileProbe.with_readings([reading(meter="A%d" % i) for i in range(30)],
                                         device_id="P%d" % k) for k in range(2)]
    for p in probes:
        p.__enter__()
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "irprobe", "sync", "--port", p.port,
                                   "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for p in probes]
        outs = [pr.communicate(timeout=60) for pr in procs]
        assert [pr.returncode for pr in procs] == [0, 0], outs
        assert [p.acks[-1] for p in probes] == [30, 30]
    finally:
        for p in probes:
            p.__exit__()
    st = Store(db)
    assert st.known_seqs("P0") == list(range(1, 31)) == st.known_seqs("P1")


@pytest.mark.parametrize("cmd", [["show"], ["export"], ["plot", "--meter", "M1", "--obis", "x"]])
def test_database_failing_after_open_is_plain_for_every_command(db, tmp_path, capsys,
                                                                 monkeypatch, cmd):
    Store(db).close()

    @dbmod._plain
    def locked(self, *a, **kw):
        raise sqlite3.OperationalError("database is locked")

    for name in ("latest", "rows", "history"):
        monkeypatch.setattr(Store, name, locked)
    argv = [cmd[0], "--db", db] + cmd[1:]
    if cmd[0] == "plot":
        argv += ["--out", str(tmp_path / "p.png")]
    rc, _, err = run(argv, capsys)
    assert rc == 2 and "busy (another program is writing to it)" in err


def test_5_session_time_is_bounded_too(db):
    """A probe slow enough to stay under every per-call limit still meets the session's."""
    from irprobe.cmd_sync import session_limits, sync as do_sync
    from irprobe.probelink import LinkError, ProbeLink

    ticks = iter(range(0, 10**6, 20))  # every look at the clock: 20 s later
    with HostileProbe.with_readings([reading(value=str(i)) for i in range(200)]) as p:
        link = ProbeLink.open(p.port, timeout=1.0, raw_repl=False)
        try:
            with pytest.raises(LinkError, match="took longer than %d s" % session_limits(200)[2]):
                do_sync(link, Store(db), max_bytes=700, clock=lambda: next(ticks))
        finally:
            link.close()
        stored = Store(db).known_seqs("HOSTILE-1")
        assert p.acks and p.acks[-1] == stored[-1]  # what was stored is acked, no more
