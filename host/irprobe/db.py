# irprobe.db: the host's reading store (SQLite; host only, CPython).
# Idempotent by (device id, sequence number): a record the probe sends twice (a cut cable, a
# second sync) lands once. Everything from the device is untrusted text: every query is
# parameterised, lengths are capped, values stay decimal text exactly as the meter sent them.
import json
import os
import sqlite3
import time

SCHEMA_VERSION = 1

# Caps on device-supplied text: a hostile or broken probe cannot bloat the database.
MAX_ID = 64
MAX_TEXT = 256
MAX_VALUES = 4096

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
}


class BadRecord(ValueError):
    """A record from the device that cannot be stored as it is (plain-words message)."""


class SeqConflict(BadRecord):
    """The probe sent a different record under a number we already hold: its storage was
    erased and numbering started again (see Store.new_epoch)."""


def default_path():
    """~/.local/share/irprobe/readings.sqlite, honouring XDG_DATA_HOME."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "irprobe", "readings.sqlite")


def _text(v, what, cap=MAX_TEXT, required=False):
    if v is None:
        if required:
            raise BadRecord("%s is missing" % what)
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise BadRecord("%s is not text" % what)
    v = str(v)
    if len(v) > cap:
        raise BadRecord("%s is %d characters long (at most %d allowed)" % (what, len(v), cap))
    for ch in v:
        if ord(ch) < 32 or ord(ch) == 127:
            raise BadRecord("%s contains control characters" % what)
    return v


class Store:
    """One SQLite file. Use as a context manager or call close()."""

    def __init__(self, path=None):
        self.path = path or default_path()
        if self.path != ":memory:":
            d = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(d, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise BadRecord("%s is not a readings database (%s)" % (self.path, e))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    # -- schema ---------------------------------------------------------------------
    def _migrate(self):
        c = self.conn
        c.execute(
            "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied INTEGER)"
        )
        row = c.execute("SELECT MAX(version) FROM migrations").fetchone()
        have = row[0] or 0
        if have > SCHEMA_VERSION:
            raise BadRecord(
                "database schema %d is newer than this irprobe (%d): upgrade irprobe"
                % (have, SCHEMA_VERSION)
            )
        for v in range(have + 1, SCHEMA_VERSION + 1):
            with c:
                for stmt in _MIGRATIONS[v]:
                    c.execute(stmt)
                c.execute("INSERT INTO migrations VALUES (?, ?)", (v, int(time.time())))

    def schema_version(self):
        return self.conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0]

    # -- writing --------------------------------------------------------------------
    def add_records(self, device_id, records):
        """Store records [(seq, taken_at_unix_s, reading_dict[, digest])] in one transaction.

        Returns (added, already_had). A record whose (device_id, seq) is known is skipped.
        Raises BadRecord (nothing stored) if any record is malformed.
        """
        device_id = _text(device_id, "device id", MAX_ID, True)
        added = dup = 0
        c = self.conn
        with c:
            c.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (device_id,))
            for rec in records:
                if self._add_one(device_id, *rec):
                    added += 1
                else:
                    dup += 1
        return added, dup

    def _add_one(self, device_id, seq, taken_at, reading, digest=None):
        c = self.conn
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 1 << 32:
            raise BadRecord("record sequence number %r is out of range" % (seq,))
        if taken_at is not None and (
            isinstance(taken_at, bool)
            or not isinstance(taken_at, int)
            or not 0 <= taken_at < 1 << 40
        ):
            raise BadRecord("record %d has an impossible time %r" % (seq, taken_at))
        if not isinstance(reading, dict):
            raise BadRecord("record %d holds no reading" % seq)
        digest_hex = bytes(digest).hex() if digest else None
        old = c.execute(
            "SELECT taken_at, digest FROM sessions WHERE device_id = ? AND seq = ?",
            (device_id, seq),
        ).fetchone()
        if old:
            if old != (taken_at, digest_hex):
                raise SeqConflict(
                    "record %d differs from the record %d stored earlier from this probe"
                    % (seq, seq)
                )
            return False  # the same record again (a resumed or repeated sync)
        meter = reading.get("meter") or {}
        if not isinstance(meter, dict):
            raise BadRecord("record %d: meter is not an object" % seq)
        meter_id = _text(meter.get("id"), "meter id", MAX_ID) or "unknown"
        manufacturer = _text(meter.get("manufacturer"), "manufacturer", MAX_ID)
        ident = _text(meter.get("ident"), "meter ident")
        values = reading.get("values") or []
        if not isinstance(values, list) or len(values) > MAX_VALUES:
            raise BadRecord("record %d: values are not a list of at most %d" % (seq, MAX_VALUES))
        baud = reading.get("baud")
        if baud is not None and (isinstance(baud, bool) or not isinstance(baud, int)):
            raise BadRecord("record %d: baud is not a number" % seq)
        c.execute(
            "INSERT OR IGNORE INTO meters (meter_id, manufacturer, ident) VALUES (?, ?, ?)",
            (meter_id, manufacturer, ident),
        )
        if manufacturer or ident:
            c.execute(
                "UPDATE meters SET manufacturer = COALESCE(?, manufacturer), "
                "ident = COALESCE(?, ident) WHERE meter_id = ?",
                (manufacturer, ident, meter_id),
            )
        mpk = c.execute("SELECT id FROM meters WHERE meter_id = ?", (meter_id,)).fetchone()[0]
        cur = c.execute(
            "INSERT INTO sessions (device_id, seq, meter, taken_at, protocol, mode, baud, digest,"
            " reading) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                device_id,
                seq,
                mpk,
                taken_at,
                _text(reading.get("protocol"), "protocol", 32),
                _text(reading.get("mode"), "mode", 8),
                baud,
                digest_hex,
                json.dumps(reading, sort_keys=True),
            ),
        )
        sid = cur.lastrowid
        for pos, v in enumerate(values):
            if not isinstance(v, dict):
                raise BadRecord("record %d: value %d is not an object" % (seq, pos))
            c.execute(
                'INSERT INTO "values" VALUES (?, ?, ?, ?, ?, ?, ?)',
                (
                    sid,
                    pos,
                    _text(v.get("obis"), "OBIS code", 64),
                    _text(v.get("value"), "value"),
                    _text(v.get("unit"), "unit", 32),
                    _text(v.get("address"), "address", 64),
                    _text(v.get("time"), "time", 64),
                ),
            )
        self._add_profiles(sid, seq, reading.get("profiles"))
        return True

    def _add_profiles(self, sid, seq, profiles):
        """Load profiles in both reader shapes (meterproto.iec.data / meterproto.dlms.client):
        IEC: {"obis", "columns": [{"obis","unit"}], "rows": [{"time", "values": [...]}]}
        DLMS: {"obis", "capture_objects": [{"class_id","obis",..}], "rows": [[cell, ...]]}
        (the DLMS row time is its clock column, class 8)."""
        if not profiles:
            return
        if not isinstance(profiles, list):
            raise BadRecord("record %d: profiles are not a list" % seq)
        for p in profiles:
            if not isinstance(p, dict):
                raise BadRecord("record %d: a profile is not an object" % seq)
            pname = _text(p.get("obis") or p.get("address"), "profile OBIS code", 64, True)
            cols = p.get("columns")
            if cols is None:
                cols = p.get("capture_objects")
            rows = p.get("rows") or []
            if (
                not isinstance(cols, list)
                or not isinstance(rows, list)
                or len(rows) > 100000
                or not all(isinstance(c, dict) for c in cols)
            ):
                raise BadRecord("record %d: profile %s is malformed" % (seq, pname))
            clock = None
            for j, c in enumerate(cols):
                if c.get("class_id") == 8:
                    clock = j
                    break
            for r, row in enumerate(rows):
                if isinstance(row, dict):
                    t, vals = row.get("time"), row.get("values")
                else:
                    vals = row
                    t = (
                        row[clock]
                        if isinstance(row, list) and clock is not None and clock < len(row)
                        else None
                    )
                if not isinstance(vals, list) or len(vals) != len(cols):
                    raise BadRecord(
                        "record %d: profile %s row %d does not match its columns" % (seq, pname, r)
                    )
                t = _text(t, "profile time", 64)
                for j, (col, val) in enumerate(zip(cols, vals)):
                    if j == clock:
                        continue
                    self.conn.execute(
                        "INSERT OR REPLACE INTO profile_rows VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            sid,
                            pname,
                            r,
                            t,
                            _text(
                                col.get("obis") or col.get("address"), "column OBIS code", 64, True
                            ),
                            _text(val, "profile value"),
                            _text(col.get("unit"), "unit", 32),
                        ),
                    )

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

    def new_epoch(self, device_id):
        """Start a fresh key for a probe whose numbering restarted; returns it."""
        key = self.current_key(device_id)
        n = int(key.rsplit("~", 1)[1]) + 1 if key != device_id else 2
        new = "%s~%d" % (device_id, n)
        if len(new) > MAX_ID:
            raise BadRecord("device id too long to keep apart a restarted numbering")
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (new,))
        return new

    def note_sync(self, device_id, acked_seq, firmware=None):
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (device_id,))
            self.conn.execute(
                "UPDATE devices SET acked_seq = MAX(acked_seq, ?), last_sync = ?,"
                " firmware = COALESCE(?, firmware) WHERE device_id = ?",
                (acked_seq, int(time.time()), firmware, device_id),
            )

    # -- reading --------------------------------------------------------------------
    def counts(self):
        out = {}
        for t in ("meters", "sessions", "values", "profile_rows"):
            out[t] = self.conn.execute('SELECT COUNT(*) FROM "%s"' % t).fetchone()[0]
        return out

    def known_seqs(self, device_id):
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT seq FROM sessions WHERE device_id = ? ORDER BY seq", (device_id,)
            )
        ]

    def meters(self):
        return [r[0] for r in self.conn.execute("SELECT meter_id FROM meters ORDER BY meter_id")]

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
    except (BadRecord, sqlite3.Error, OSError) as e:
        raise CommandError(str(e))
