# irprobe.db: the host's reading store (SQLite; host only, CPython).
# Idempotent by (device id, sequence number): a record the probe sends twice (a cut cable, a
# second sync) lands once. Everything from the device is untrusted text: every query is
# parameterised, lengths are capped, values stay decimal text exactly as the meter sent them.
# Every write is one BEGIN IMMEDIATE transaction (schema creation and upgrades too), so several
# processes may open and write the same file; SQLite failures become plain-words StoreErrors,
# and add_records returns only after COMMIT, so nobody acks what was not stored.
import contextlib
import functools
import itertools
import json
import os
import sqlite3
import time

from irprobe.db_pg import PgError
from irprobe.inbound import MAX_ID, MAX_TEXT, Untrusted, text
from irprobe.record_rows import RecordRows, rows_of

SCHEMA_VERSION = 4

_INSERT_VALUE = 'INSERT INTO "values" VALUES (?, ?, ?, ?, ?, ?, ?)'
_SESSION_COLUMNS = "device_id, seq, meter, taken_at, protocol, mode, baud, digest, reading"
_INSERT_SESSION = "INSERT INTO sessions (id, %s) VALUES (?%s)" % (_SESSION_COLUMNS, ", ?" * 9)
_INSERT_SESSION_SERIAL = "INSERT INTO sessions (%s) VALUES (?%s)" % (_SESSION_COLUMNS, ", ?" * 8)
_INSERT_PROFILE = "INSERT OR REPLACE INTO profile_rows VALUES (?, ?, ?, ?, ?, ?, ?)"
_IN_CHUNK = 500  # seqs per IN (...) lookup: below SQLite's oldest limit of 999 parameters


class _Batch:
    """What one add_records transaction has learnt: seqs held, meters' keys; the rows it
    writes at its end, each table in one statement (sessions first: the others refer to
    them). next_id: the next session id, on SQLite (None: the database gives it)."""

    def __init__(self):
        self.known = {}
        self.meters = {}
        self.next_id = None
        self.sessions = []
        self.values = []
        self.profiles = []


def _checked(rec):
    """RecordRows of one record: as it is when it came checked (irprobe.record_rows,
    irprobe.packed_rows), else (seq, taken_at, reading[, digest]) through the one check.
    Raises BadRecord."""
    if type(rec) is RecordRows:
        return rec
    try:
        return rows_of(*rec)
    except Untrusted as e:
        raise BadRecord(str(e))

BUSY_S = 15.0  # how long a write waits for another process's transaction before giving up

_MIGRATIONS = {
    1: [
        """CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            firmware TEXT,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            last_sync INTEGER)""",
        """CREATE TABLE meters (
            id INTEGER PRIMARY KEY,
            meter_id TEXT NOT NULL UNIQUE,
            manufacturer TEXT,
            ident TEXT)""",
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            meter INTEGER REFERENCES meters(id),
            taken_at INTEGER,
            protocol TEXT,
            mode TEXT,
            baud INTEGER,
            digest TEXT,
            reading TEXT NOT NULL,
            UNIQUE (device_id, seq))""",
        """CREATE TABLE "values" (
            session INTEGER NOT NULL REFERENCES sessions(id),
            pos INTEGER NOT NULL,
            obis TEXT,
            value TEXT,
            unit TEXT,
            address TEXT,
            time TEXT,
            PRIMARY KEY (session, pos))""",
        """CREATE TABLE profile_rows (
            session INTEGER NOT NULL REFERENCES sessions(id),
            profile TEXT NOT NULL,
            row INTEGER NOT NULL,
            time TEXT,
            obis TEXT NOT NULL,
            value TEXT,
            unit TEXT,
            PRIMARY KEY (session, profile, row, obis))""",
        'CREATE INDEX values_obis ON "values"(obis)',
        "CREATE INDEX sessions_meter ON sessions(meter, taken_at)",
    ],
    # A record that came again under a number we hold, with the same time and digest but other
    # content (changed between pull and ack): kept here, never silently dropped.
    2: [
        """CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            taken_at INTEGER,
            digest TEXT,
            reading TEXT NOT NULL,
            seen_at INTEGER NOT NULL,
            UNIQUE (device_id, seq, reading))""",
    ],
    # What went to which MQTT broker (irprobe.publisher): a reading is published once per broker,
    # a discovery config again only when it changed.
    3: [
        """CREATE TABLE published (
            broker TEXT NOT NULL,
            session INTEGER NOT NULL REFERENCES sessions(id),
            published_at INTEGER NOT NULL,
            PRIMARY KEY (broker, session))""",
        """CREATE TABLE published_configs (
            broker TEXT NOT NULL,
            topic TEXT NOT NULL,
            digest TEXT NOT NULL,
            published_at INTEGER NOT NULL,
            PRIMARY KEY (broker, topic))""",
    ],
    # Values by OBIS code across all meters: only history()'s unit lookup used it, which the
    # meter's own sessions serve (sessions_meter), and it cost a fifth of a sync's insert time
    # (docs/STORAGE.md, "Sync").
    4: ['DROP INDEX IF EXISTS values_obis'],
}


class StoreError(Exception):
    """The database cannot do what was asked (plain-words message); nothing was changed."""


class BadRecord(StoreError, ValueError):
    """A record from the device that cannot be stored as it is (plain-words message)."""


class SeqConflict(BadRecord):
    """The probe sent a different record under a number we already hold: its storage was
    erased and numbering started again (see Store.new_epoch)."""


# SQLite primary result codes (sqlite3.h) that have a plain-words meaning for a user.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT = 5, 6, 8, 10, 11
_FULL, _CANTOPEN, _NOTADB = 13, 14, 26


def plain_error(e, path):
    """A sqlite3.Error as a StoreError that says what happened and what to do."""
    if isinstance(e, PgError):
        return StoreError(str(e))  # already plain words, without the password
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    msg = str(e)
    if code in (_BUSY, _LOCKED) or "locked" in msg:
        text = ("the readings database %s is busy (another program is writing to it): "
                "try again when it has finished" % path)
    elif code == _FULL or "full" in msg:
        text = ("the disk holding the readings database %s is full: free some space and "
                "try again" % path)
    elif code == _READONLY or "readonly" in msg:
        text = "the readings database %s cannot be written (read-only)" % path
    elif code in (_CORRUPT, _NOTADB) or "not a database" in msg or "malformed" in msg:
        text = "%s is not a readings database (%s)" % (path, msg)
    elif code == _CANTOPEN or "unable to open" in msg:
        text = (
            "cannot open the readings database %s: check the folder exists and is writable"
            % path
        )
    elif code == _IOERR or "I/O" in msg:
        text = "the disk failed while using the readings database %s (%s)" % (path, msg)
    else:
        text = "the readings database %s failed: %s" % (path, msg)
    return StoreError(text)


def _plain(method):
    """Store methods raise StoreError, never a raw sqlite3 error."""

    @functools.wraps(method)
    def wrapper(self, *args, **kw):
        try:
            return method(self, *args, **kw)
        except (sqlite3.Error, PgError) as e:
            raise plain_error(e, self.path)

    return wrapper


def is_pg_url(path):
    return isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))


def default_path():
    """~/.local/share/irprobe/readings.sqlite, honouring XDG_DATA_HOME."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "irprobe", "readings.sqlite")


def _text(v, what, cap=MAX_TEXT, required=False):
    try:
        return text(v, what, cap, required)
    except Untrusted as e:
        raise BadRecord(str(e))


class Store:
    """One SQLite file, or a PostgreSQL database shared by a fleet (path postgresql://...,
    irprobe.db_pg: same schema, migrations and SQL). Use as a context manager or close()."""

    def __init__(self, path=None):
        self.path = path or default_path()
        if is_pg_url(self.path):  # a fleet's shared database (irprobe.db_pg)
            from irprobe.db_pg import Connection, safe_name

            self.conn = None
            self.path = safe_name(self.path)  # messages never show the password
            try:
                self.conn = Connection(path)
                self._migrate()
            except PgError as e:
                self.close()
                raise StoreError(str(e))
            except BaseException:
                self.close()
                raise
            return
        if self.path != ":memory:":
            d = os.path.dirname(os.path.abspath(self.path))
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as e:
                raise StoreError("cannot create the folder %s: %s" % (d, e.strerror or e))
        self.conn = None
        try:
            # isolation_level None: no implicit transactions; every write is an explicit
            # BEGIN IMMEDIATE ... COMMIT (self._tx), so what is atomic is written down here.
            self.conn = sqlite3.connect(self.path, timeout=BUSY_S, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as e:
            self.close()
            raise plain_error(e, self.path)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    @contextlib.contextmanager
    def _tx(self):
        """One write transaction: the write lock is taken at BEGIN (a concurrent writer waits
        up to BUSY_S there, never half-way), and the block either commits whole or not at all."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
            c.execute("COMMIT")
        except BaseException:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (disk full, I/O error)
            raise

    # -- schema ---------------------------------------------------------------------
    def _version(self):
        c = self.conn
        if not c.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
        ).fetchone():
            return 0
        return c.execute("SELECT MAX(version) FROM migrations").fetchone()[0] or 0

    def _check_version(self, have):
        if have > SCHEMA_VERSION:
            raise StoreError(
                "database schema %d is newer than this irprobe (%d): upgrade irprobe"
                % (have, SCHEMA_VERSION)
            )

    def _migrate(self):
        """Create or upgrade the schema in ONE transaction: several processes opening a new
        file at once see either no schema or all of it; a failure (full disk) leaves the file
        as it was, so the next open simply tries again."""
        have = self._version()  # fast path: no write lock when the schema is current
        self._check_version(have)
        if have == SCHEMA_VERSION:
            return
        if self.path != ":memory:":
            try:  # readers no longer block a writer (sync while `show` runs); best effort
                self.conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass
        with self._tx() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS migrations"
                " (version INTEGER PRIMARY KEY, applied INTEGER)"
            )
            have = self._version()  # again, under the lock: another process may have done it
            self._check_version(have)
            for v in range(have + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[v]:
                    c.execute(stmt)
                c.execute("INSERT INTO migrations VALUES (?, ?)", (v, int(time.time())))

    @_plain
    def schema_version(self):
        return self.conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0]

    # -- writing --------------------------------------------------------------------
    @_plain
    def add_records(self, device_id, records):
        """Store records [(seq, taken_at_unix_s, reading_dict[, digest])] (or RecordRows,
        checked already: irprobe.record_rows) in one transaction.

        Returns (added, already_had, conflicts) once committed. A record whose (device_id,
        seq) is known is skipped when it is the same; one with the same time and digest but
        other content is kept in the conflicts table (counted in conflicts). Raises BadRecord
        (nothing stored) if any record is malformed, StoreError if the database fails.
        """
        device_id = _text(device_id, "device id", MAX_ID, True)
        added = dup = conflicts = 0
        records = [_checked(rec) for rec in records]  # all refused before any write
        batch = _Batch()
        with self._tx():
            self.conn.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (device_id,))
            batch.known = self._held(device_id, [rec.seq for rec in records])
            if isinstance(self.conn, sqlite3.Connection):
                # The write lock is held since BEGIN IMMEDIATE: no other writer takes an id
                # before COMMIT, so the ids SQLite would give (largest + 1) can be given here.
                batch.next_id = 1 + (self.conn.execute(
                    "SELECT MAX(id) FROM sessions").fetchone()[0] or 0)
            for rec in records:
                got = self._add_one(device_id, batch, rec)
                if got == "added":
                    added += 1
                elif got == "conflict":
                    conflicts += 1
                else:
                    dup += 1
            if batch.sessions:
                self.conn.executemany(_INSERT_SESSION, batch.sessions)
            if batch.values:
                self.conn.executemany(_INSERT_VALUE, batch.values)
            if batch.profiles:
                self.conn.executemany(_INSERT_PROFILE, batch.profiles)
        return added, dup, conflicts

    def _held(self, device_id, seqs):
        """{seq: (taken_at, digest, reading text)} of those seqs already stored."""
        out = {}
        seqs = sorted(set(seqs))
        for i in range(0, len(seqs), _IN_CHUNK):
            part = seqs[i : i + _IN_CHUNK]
            for seq, t, d, r in self.conn.execute(
                "SELECT seq, taken_at, digest, reading FROM sessions WHERE device_id = ? AND"
                " seq IN (%s)" % ",".join("?" * len(part)),
                [device_id] + part,
            ):
                out[seq] = (t, d, r)
        return out

    def _add_one(self, device_id, batch, rec):
        c = self.conn
        seq, taken_at, digest_hex, text_ = rec.seq, rec.taken_at, rec.digest, rec.text
        old = batch.known.get(seq)
        if old:
            if old[:2] != (taken_at, digest_hex):
                raise SeqConflict(
                    "record %d differs from the record %d stored earlier from this probe"
                    % (seq, seq)
                )
            if old[2] == text_:
                return "same"  # the same record again (a resumed or repeated sync)
            c.execute(
                "INSERT OR IGNORE INTO conflicts (device_id, seq, taken_at, digest, reading,"
                " seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                (device_id, seq, taken_at, digest_hex, text_, int(time.time())),
            )
            return "conflict"
        meter_id, manufacturer, ident = rec.meter
        meter_id = meter_id or "unknown"
        mkey = (meter_id, manufacturer, ident)
        mpk = batch.meters.get(mkey)
        if mpk is None:  # once per meter and batch: the same meter's readings follow
            c.execute(
                "INSERT OR IGNORE INTO meters (meter_id, manufacturer, ident) VALUES (?, ?, ?)",
                mkey,
            )
            if manufacturer or ident:
                c.execute(
                    "UPDATE meters SET manufacturer = COALESCE(?, manufacturer), "
                    "ident = COALESCE(?, ident) WHERE meter_id = ?",
                    (manufacturer, ident, meter_id),
                )
            mpk = c.execute("SELECT id FROM meters WHERE meter_id = ?", (meter_id,)).fetchone()[0]
            batch.meters[mkey] = mpk
        row = (device_id, seq, mpk, taken_at, rec.protocol, rec.mode, rec.baud, digest_hex,
               text_)
        if batch.next_id is None:  # PostgreSQL: its serial gives the id
            sid = c.execute(_INSERT_SESSION_SERIAL, row).lastrowid
        else:
            sid = batch.next_id
            batch.next_id += 1
            batch.sessions.append((sid,) + row)
        batch.known[seq] = (taken_at, digest_hex, text_)
        n = len(rec.columns[0])
        batch.values.extend(zip(itertools.repeat(sid, n), range(n), *rec.columns))
        for p in rec.profiles:  # one shape (irprobe.inbound): the clock is the row time
            batch.profiles.extend(
                (sid, p["obis"], n, row["time"], col["obis"], val, col["unit"])
                for n, row in enumerate(p["rows"])
                for col, val in zip(p["columns"], row["values"])
            )
        return "added"

    @_plain
    def current_key(self, device_id):
        """The key this probe's records are stored under now: its id, or "id~N" after its
        storage was erased N-1 times (numbering restarted; old records are kept apart)."""
        best, key = 1, device_id
        prefix = device_id + "~"
        for (k,) in self.conn.execute(
            "SELECT device_id FROM devices WHERE substr(device_id, 1, ?) = ?",
            (len(prefix), prefix),
        ):
            tail = k[len(prefix) :]
            if tail.isdigit() and int(tail) > best:
                best, key = int(tail), k
        return key

    @_plain
    def new_epoch(self, device_id):
        """Start a fresh key for a probe whose numbering restarted; returns it."""
        key = self.current_key(device_id)
        n = int(key.rsplit("~", 1)[1]) + 1 if key != device_id else 2
        new = "%s~%d" % (device_id, n)
        if len(new) > MAX_ID:
            raise BadRecord("device id too long to keep apart a restarted numbering")
        with self._tx():
            self.conn.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (new,))
        return new

    @_plain
    def note_sync(self, device_id, acked_seq, firmware=None):
        with self._tx():
            self.conn.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (device_id,))
            self.conn.execute(
                "UPDATE devices SET acked_seq = MAX(acked_seq, ?), last_sync = ?,"
                " firmware = COALESCE(?, firmware) WHERE device_id = ?",
                (acked_seq, int(time.time()), firmware, device_id),
            )

    # -- reading --------------------------------------------------------------------
    @_plain
    def counts(self):
        out = {}
        for t in ("meters", "sessions", "values", "profile_rows"):
            out[t] = self.conn.execute('SELECT COUNT(*) FROM "%s"' % t).fetchone()[0]
        return out

    @_plain
    def conflicts(self, device_id=None):
        """Records that came again under a number already held, with other content:
        [(device_id, seq, taken_at, reading dict)], oldest first."""
        q = "SELECT device_id, seq, taken_at, reading FROM conflicts"
        args = ()
        if device_id is not None:
            q += " WHERE device_id = ?"
            args = (device_id,)
        rows = self.conn.execute(q + " ORDER BY id", args)
        return [(d, s, t, json.loads(r)) for d, s, t, r in rows]

    @_plain
    def known_seqs(self, device_id):
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT seq FROM sessions WHERE device_id = ? ORDER BY seq", (device_id,)
            )
        ]

    @_plain
    def meters(self):
        return [r[0] for r in self.conn.execute("SELECT meter_id FROM meters ORDER BY meter_id")]

    @_plain
    def rows(self, meter=None, since=None):
        """Every stored value as a dict, oldest first (registers, then profile rows)."""
        q = (
            "SELECT m.meter_id, s.device_id, s.seq, s.taken_at, v.obis, v.value, v.unit, v.time "
            'FROM "values" v JOIN sessions s ON v.session = s.id JOIN meters m ON s.meter = m.id'
        )
        q2 = (
            "SELECT m.meter_id, s.device_id, s.seq, s.taken_at, p.obis, p.value, p.unit, p.time,"
            " p.profile FROM profile_rows p JOIN sessions s ON p.session = s.id"
            " JOIN meters m ON s.meter = m.id"
        )
        where, params = [], []
        if meter is not None:
            where.append("m.meter_id = ?")
            params.append(meter)
        if since is not None:
            where.append("s.taken_at >= ?")
            params.append(since)
        if where:
            q += " WHERE " + " AND ".join(where)
            q2 += " WHERE " + " AND ".join(where)
        q += " ORDER BY s.taken_at, s.device_id, s.seq, v.pos"
        q2 += " ORDER BY s.taken_at, s.device_id, s.seq, p.profile, p.row, p.obis"
        out = []
        keys = ("meter", "device", "seq", "taken_at", "obis", "value", "unit", "time")
        for r in self.conn.execute(q, params):
            d = dict(zip(keys, r))
            d["profile"] = None
            out.append(d)
        for r in self.conn.execute(q2, params):
            d = dict(zip(keys, r[:8]))
            d["profile"] = r[8]
            out.append(d)
        return out

    @_plain
    def latest(self):
        """Per meter: its newest session's values. [(meter_id, taken_at, [value dicts])]."""
        out = []
        for mpk, meter_id in self.conn.execute(
            "SELECT id, meter_id FROM meters ORDER BY meter_id"
        ):
            s = self.conn.execute(
                "SELECT id, taken_at FROM sessions WHERE meter = ? "
                "ORDER BY taken_at DESC, id DESC LIMIT 1",
                (mpk,),
            ).fetchone()
            if not s:
                continue
            vals = [
                dict(zip(("obis", "value", "unit"), r))
                for r in self.conn.execute(
                    'SELECT obis, value, unit FROM "values" WHERE session = ? ORDER BY pos',
                    (s[0],),
                )
            ]
            out.append((meter_id, s[1], vals))
        return out

    @_plain
    def profile_series(self):
        """[(meter_id, column obis, rows)] of every stored load-profile column."""
        return [
            tuple(r)
            for r in self.conn.execute(
                "SELECT m.meter_id, p.obis, COUNT(*) FROM profile_rows p"
                " JOIN sessions s ON p.session = s.id JOIN meters m ON s.meter = m.id"
                " GROUP BY m.meter_id, p.obis ORDER BY m.meter_id, p.obis"
            )
        ]

    @_plain
    def history(self, meter, obis):
        """[(time_text_or_unix, value_text, unit)] for one register or profile column."""
        out = []
        for t, v, u in self.conn.execute(
            "SELECT p.time, p.value, p.unit FROM profile_rows p"
            " JOIN sessions s ON p.session = s.id JOIN meters m ON s.meter = m.id"
            " WHERE m.meter_id = ? AND p.obis = ?"
            " ORDER BY p.time",
            (meter, obis),
        ):
            out.append((t, v, u))
        if out:
            if not any(u for _, _, u in out):
                # DLMS capture objects carry no unit: take the register's own, if stored.
                r = self.conn.execute(
                    'SELECT v.unit FROM "values" v JOIN sessions s ON v.session = s.id'
                    " JOIN meters m ON s.meter = m.id"
                    " WHERE m.meter_id = ? AND v.obis = ? AND v.unit IS NOT NULL"
                    " ORDER BY s.id DESC LIMIT 1",
                    (meter, obis),
                ).fetchone()
                if r:
                    out = [(t, v, r[0]) for t, v, _ in out]
            return out, "profile"
        for t, v, u in self.conn.execute(
            'SELECT s.taken_at, v.value, v.unit FROM "values" v'
            " JOIN sessions s ON v.session = s.id JOIN meters m ON s.meter = m.id"
            " WHERE m.meter_id = ? AND (v.obis = ? OR v.address = ?)"
            " ORDER BY s.taken_at, s.id",
            (meter, obis, obis),
        ):
            out.append((t, v, u))
        return out, "register"


def iso(ts):
    """Unix seconds -> '2026-11-25T17:03:31Z' (UTC); None stays None."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_time(text):
    """'2026-11-25', '2026-11-25T17:03', '...:31Z' (UTC) or unix seconds -> unix seconds."""
    import calendar

    t = text.strip()
    if t.isdigit():
        return int(t)
    t = t.rstrip("Z").replace(" ", "T")
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(t, fmt))
        except ValueError:
            pass
    raise ValueError("cannot read the time %r: use 2026-11-25 or 2026-11-25T17:03:00Z" % text)


def open_store(path):
    """Open a store for a command; turns database trouble into a CommandError."""
    from irprobe.cli import CommandError

    try:
        return Store(path)
    except StoreError as e:
        raise CommandError(str(e))


@contextlib.contextmanager
def command_store(path):
    """`with command_store(args.db) as store:` for a command: opened, closed, and any
    StoreError inside the block (busy, full disk) becomes a CommandError (one plain line)."""
    from irprobe.cli import CommandError

    store = open_store(path)
    try:
        yield store
    except StoreError as e:
        raise CommandError(str(e))
    finally:
        store.close()
