# irprobe.db_pg: PostgreSQL under irprobe.db.Store, for a fleet (host only, psycopg 3).
# The Store keeps ONE set of SQL and migrations (written for SQLite); this connection speaks
# them to PostgreSQL: placeholders, INSERT OR IGNORE/REPLACE as ON CONFLICT, 64-bit integers,
# serial ids. Writes keep SQLite's rule of one writer at a time: BEGIN IMMEDIATE takes a
# transaction-level advisory lock, so many hosts syncing the same probe's records at once
# still store each record once (the Store checks, then inserts, under that lock).
import re
import urllib.parse

WRITE_LOCK = 0x69727072  # pg_advisory_xact_lock key of irprobe writers ("irpr")


def is_url(path):
    return isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))


def safe_name(url):
    """The URL without its password, for messages."""
    u = urllib.parse.urlsplit(url)
    host = u.hostname or ""
    if u.port:
        host += ":%d" % u.port
    user = (u.username + "@") if u.username else ""
    return "%s://%s%s%s" % (u.scheme, user, host, u.path)


class PgError(Exception):
    """A PostgreSQL failure in plain words (irprobe.db turns it into a StoreError)."""


def _error(e, where):
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return PgError("the PostgreSQL database %s failed: %s" % (where, msg))


_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.I)
_REPLACE_PROFILE = re.compile(r"^\s*INSERT OR REPLACE INTO profile_rows", re.I)
_MAX2 = re.compile(r"MAX\(acked_seq, %s\)")
_HAS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
_CONFLICTS_UNIQUE = re.compile(r",\s*UNIQUE \(device_id, seq, reading\)")


def translate(sql):
    """[SQLite statement] -> [PostgreSQL statements] (pure; see tests/host/test_db_pg.py)."""
    s = sql.strip()
    if s.upper().startswith("PRAGMA"):
        return []
    if s == "BEGIN IMMEDIATE":
        return ["BEGIN", "SELECT pg_advisory_xact_lock(%d)" % WRITE_LOCK]
    if s == _HAS_TABLE:
        return [
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = 'migrations'"
        ]
    s = s.replace("%", "%%").replace("?", "%s")
    extra = []
    if s.upper().startswith("CREATE TABLE"):
        s = re.sub(r"\bid INTEGER PRIMARY KEY\b", "id BIGSERIAL PRIMARY KEY", s)
        s = re.sub(r"\bINTEGER\b", "BIGINT", s)
        if _CONFLICTS_UNIQUE.search(s):
            # A reading can exceed a btree entry (~2.7 KB): make the key unique by its digest.
            s = _CONFLICTS_UNIQUE.sub("", s)
            extra.append(
                "CREATE UNIQUE INDEX conflicts_same ON conflicts (device_id, seq, md5(reading))"
            )
    elif _IGNORE.match(s):
        s = _IGNORE.sub("INSERT INTO", s) + " ON CONFLICT DO NOTHING"
    elif _REPLACE_PROFILE.match(s):
        s = _REPLACE_PROFILE.sub("INSERT INTO profile_rows", s) + (
            " ON CONFLICT (session, profile, row, obis) DO UPDATE SET"
            " time = EXCLUDED.time, value = EXCLUDED.value, unit = EXCLUDED.unit"
        )
    s = _MAX2.sub("GREATEST(acked_seq, %s)", s)
    if re.match(r"^INSERT INTO sessions\b", s):
        s += " RETURNING id"
    return [s] + extra


class _Cursor:
    def __init__(self, rows, lastrowid=None):
        self._rows = rows
        self.lastrowid = lastrowid

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)

    def __iter__(self):
        return iter(list(self._rows))


class Connection:
    """What irprobe.db.Store uses of a sqlite3 connection: execute(sql, params) -> cursor
    (fetchone, fetchall, iteration, lastrowid), executemany(sql, rows) and close().
    Errors are PgErrors."""

    def __init__(self, url, timeout=10):
        import psycopg

        self._psycopg = psycopg
        self.where = safe_name(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=timeout)
        except psycopg.Error as e:
            raise _error(e, self.where)

    def execute(self, sql, params=()):
        rows, lastrowid = [], None
        try:
            for i, stmt in enumerate(translate(sql)):
                cur = self.conn.execute(stmt, tuple(params or ()) if i == 0 else None)
                if cur.description is not None:
                    rows = [tuple(r) for r in cur.fetchall()]
                    if stmt.endswith("RETURNING id"):
                        lastrowid = rows[0][0]
        except self._psycopg.Error as e:
            if sql.strip() == "ROLLBACK":
                return _Cursor([])  # nothing to undo (the server already ended it)
            raise _error(e, self.where)
        return _Cursor(rows, lastrowid)

    def executemany(self, sql, rows):
        rows = [tuple(r) for r in rows]
        if not rows:
            return _Cursor([])
        stmts = translate(sql)
        if len(stmts) != 1:
            raise PgError("cannot run %r for many rows" % sql[:40])
        try:
            with self.conn.cursor() as cur:
                cur.executemany(stmts[0], rows)
        except self._psycopg.Error as e:
            raise _error(e, self.where)
        return _Cursor([])

    def close(self):
        self.conn.close()
