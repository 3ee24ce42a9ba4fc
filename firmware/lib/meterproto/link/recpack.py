# meterproto.link.recpack: readings <-> version 2 record bodies (core, both runtimes).
# Our own format (no standard; docs/STORAGE.md; framing in meterproto.link.records). A
# reading is split into its frame (who the meter is, how it was read, the register list:
# written once per schema, as JSON) and its cells (per reading: scaled integers in the
# meter's own decimal layout, delta to the schema's first reading; load-profile cells delta
# to the row above). A value whose text the layout cannot give back exactly is stored as
# text, so decoding always gives the meter's own text back.
#
# Bodies:  S schema:  id (4) | JSON {"f": frame, "c": cell layouts, "p": profile columns,
#                     "n": notes, "i": meter id layout, "k": key}
#          R reading: seq (4) | time_s (4) | digest (8) | seq - schema id (varint) | cells
#          J reading that does not fit a schema: seq | time_s | digest | JSON reading
#          G gap (pulls only): first seq (4) | last seq (4) | reason (1)
# A cell is one varint t: t = 1 no value (null); t odd: text of (t >> 1) - 1 UTF-8 bytes
# follows; t even: the number zigzag(t >> 1) plus the base (the schema's value, or the cell
# above in a profile); in a text cell t = 0 is the base text again. Layouts: [0, base text]
# text; [1, width, decimals, base] decimal text, width > 0 when the meter pads with zeros;
# [2, 0, 0, base] "YYYY-MM-DD hh:mm:ss" as seconds from 2000.
#
# API
#   Packer() .pack(seq, time_s, reading, digest) -> list of records (a schema first when the
#       reading's frame is new); .plan(...) the same unbuilt: [(kind, head, obj, body
#       length)] for records.write_record (the store writes them in pieces); .reset()
#       forgets the schema (a new segment starts);
#       .adopt(schema record) takes a schema read back from flash as the current one
#       (.adopt_parts(id, parsed body) from probe.store_schema, which skips the frame);
#       .seen: key of the last reading's frame (keep it to carry on after a reload)
#   Unpacker() .feed(raw) -> Record (meterproto.link.records; a gap notice has .gap_to) or
#       None for a schema; either version; raises DecodeError (unknown schema, bad body,
#       damaged: ChecksumError) in plain words
import json

from meterproto.errors import ChecksumError, DecodeError
from meterproto.link.cells import base_of as _base
from meterproto.link.cells import get_cell as _get_cell
from meterproto.link.cells import get_varint as _get
from meterproto.link.cells import layout as _layout
from meterproto.link.cells import put_cell as _put_cell
from meterproto.link.cells import put_varint as _put
from meterproto.link.jsonpieces import pieces as _pieces
from meterproto.link.jsonpieces import size as _jsize
from meterproto.link.records import (HEAD, K_GAP, K_JSON, K_READING, K_SCHEMA, MAX_BODY,
                                     Record, check, checked_reading, decode_record,
                                     json_reading, record_info, write_record)


# -- schema -----------------------------------------------------------------------------------
def _split(d):
    """(frame, cells per value, rows per profile, notes) of a reading dict; None when some
    part has a shape the packed form does not keep (then the reading is stored as JSON)."""
    values = d.get("values")
    profiles = d.get("profiles")
    notes = d.get("notes")
    if not isinstance(values, list) or (notes is not None and not (
            isinstance(notes, list) and all(isinstance(x, str) for x in notes))):
        return None
    frame = {}
    for k in d:
        if k not in ("values", "profiles", "notes"):
            frame[k] = d[k]
    m = d.get("meter")
    ident = None
    if isinstance(m, dict) and isinstance(m.get("id"), str):
        ident = m["id"]  # a cell, so meters of one type share a schema
        frame["meter"] = {}
        for k in m:
            if k != "id":
                frame["meter"][k] = m[k]
    fv = []
    cells = []
    for v in values:
        if not isinstance(v, dict) or "value" not in v:
            return None
        extra = v.get("extra", None)
        if ("extra" in v and not _texts(extra)) or not _texts([v["value"], v.get("time")]):
            return None
        c = [v["value"]] + (extra or [])
        if "time" in v:
            c.append(v["time"])
        e = {}
        for k in v:
            if k not in ("value", "extra", "time"):
                e[k] = v[k]
        fv.append(e)
        cells.append(((len(extra) if "extra" in v else -1), 1 if "time" in v else 0, c))
    frame["values"] = fv
    rows = []
    if profiles is None and "profiles" in d:
        frame["profiles"] = None
    if profiles is not None:
        if not isinstance(profiles, list):
            return None
        fp = []
        for p in profiles:
            if not isinstance(p, dict) or not isinstance(p.get("rows"), list):
                return None
            r = p["rows"]
            for row in r:
                if not isinstance(row, list) or len(row) != len(r[0]) or not _texts(row):
                    return None
            e = {}
            for k in p:
                if k != "rows":
                    e[k] = p[k]
            fp.append(e)
            rows.append(r)
        frame["profiles"] = fp
    return frame, cells, rows, notes, ident


def _hex(b):
    return "".join("%02x" % x for x in b)


def _texts(items):
    if not isinstance(items, list):
        return False
    for x in items:
        if x is not None and not isinstance(x, str):
            return False
    return True


def _key(frame, shapes, ncols):
    """A digest of the schema's content. The schema record keeps it ("k"), so adopt() never
    recomputes it from JSON read back (whose dict order may differ on MicroPython). Hashed
    piece by piece: a DLMS frame (association view, capture objects) is never whole text."""
    import hashlib

    h = hashlib.sha256()
    for p in _pieces([frame, shapes, ncols]):
        h.update(p.encode())
    return h.digest()[:16]


class Packer:
    """Readings -> version 2 records; keeps the current schema (RAM: its id and layouts)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.schema_id = None
        self.key = None
        self.lays = None  # per value: list of cell layouts
        self.cols = None  # per profile: list of column layouts
        self.notes = []  # the schema's notes: a reading's equal note is one byte
        self.ident = None  # layout of the meter id cell, None when the frame keeps no id
        self.seen = None  # key of the last reading packed (a schema or not)

    def adopt(self, raw):
        """Take the schema record raw (read back from a segment) as the current one."""
        self.adopt_parts(*_schema_body(raw))

    def adopt_parts(self, sid, s):
        """The same from its id and parsed body (its frame "f" is not needed)."""
        self.schema_id, self.lays, self.cols = sid, [c[2:] for c in s["c"]], s["p"]
        self.notes = s.get("n") or []
        self.ident = s.get("i")
        try:
            self.key = bytes.fromhex(s.get("k") or "")
        except ValueError:
            self.key = b""  # then the next reading writes a new schema: nothing lost
        self.seen = self.key

    def pack(self, seq, time_s, reading, digest=b""):
        """The records of one reading, built (tests, the bench; the store uses plan())."""
        out = []
        for kind, head, obj, n in self.plan(seq, time_s, reading, digest):
            b = bytearray()
            write_record(b.extend, kind, head, obj, n)
            out.append(bytes(b))
        return out

    def plan(self, seq, time_s, reading, digest=b""):
        """The records of one reading, not yet built: [(kind, head, obj, body length)], the
        body being head and the compact JSON of obj (None: head alone), for
        records.write_record, which writes each in small pieces."""
        reading = checked_reading(seq, time_s, reading)
        d = bytes(digest)[:8]
        head = seq.to_bytes(4, "big") + time_s.to_bytes(4, "big") + d + bytes(8 - len(d))
        parts = _split(reading)
        if parts is None:
            return [_as_json(head, reading)]
        frame, cells, rows, notes, ident = parts
        shapes = [[c[0], c[1]] for c in cells]
        key = _key([frame, ident is not None], shapes, [len(r[0]) if r else 0 for r in rows])
        out = []
        if key != self.key:
            if key != self.seen and self.key is not None:
                # A frame seen once (a technician's round of meters) goes as JSON; a schema
                # pays off from the second reading of the same frame on.
                self.seen = key
                return [_as_json(head, reading)]
            lays = [[_layout(x) for x in c[2]] for c in cells]
            cols = [[_layout(x) for x in r[0]] if r else [] for r in rows]
            self.ident = _layout(ident) if ident is not None else None
            body = {"f": frame, "c": [shapes[i] + lays[i] for i in range(len(cells))],
                    "p": cols, "n": notes or [], "i": self.ident, "k": _hex(key)}
            n = 4 + _jsize(body)
            if n > MAX_BODY:
                return [_as_json(head, reading)]
            out.append((K_SCHEMA, seq.to_bytes(4, "big"), body, n))
            self.schema_id, self.key, self.lays, self.cols = seq, key, lays, cols
            self.notes = notes or []
        self.seen = key
        b = bytearray(head)
        _put(b, seq - self.schema_id)
        if ident is not None:
            lay = self.ident
            _put_cell(b, ident, lay, _base(lay))
        _put(b, len(notes) + 1 if notes is not None else 0)
        for i in range(len(notes or ())):
            if i < len(self.notes) and notes[i] == self.notes[i]:
                b.append(1)  # the schema's note, word for word
            else:
                _put_cell(b, notes[i], (0,), None)
        for i in range(len(cells)):
            lays = self.lays[i]
            c = cells[i][2]
            for j in range(len(c)):
                _put_cell(b, c[j], lays[j], _base(lays[j]))
        for p in range(len(rows)):
            lays = self.cols[p]
            _put(b, len(rows[p]))
            st = _start(lays)
            for row in rows[p]:
                for j in range(len(row)):
                    _step(st, j, lays[j], _put_cell(b, row[j], lays[j], _pred(st, j, lays[j])))
        out.append((K_READING, b, None, len(b)))
        return out


def _as_json(head, reading):
    """A reading that goes as JSON (kind J); too large a one fails in write_record, before
    anything is written."""
    return (K_JSON, head, reading, len(head) + _jsize(reading))


def _start(lays):
    """Per profile column: [last number, last step]; date-times predict the next row by the
    last step (a steady capture period costs one byte), numbers by the row above."""
    return [[_base(x), 0] for x in lays]


def _pred(st, j, lay):
    return st[j][0] + st[j][1] if lay[0] else st[j][0]


def _step(st, j, lay, n):
    if lay[0] == 2:
        st[j][1] = n - st[j][0]
    st[j][0] = n


def _schema_body(raw):
    try:
        s = json.loads(bytes(raw[HEAD + 4:-2]).decode())
        if isinstance(s, dict) and isinstance(s.get("f"), dict) and isinstance(s.get("c"), list) \
                and isinstance(s.get("p"), list):
            return int.from_bytes(raw[HEAD:HEAD + 4], "big"), s
    except (ValueError, UnicodeError):
        pass
    raise DecodeError("a stored schema record is not valid")


class Unpacker:
    """Records (v1 or v2, schemas first) -> readings. Keeps the last few schemas."""

    KEEP = 32

    def __init__(self):
        self.schemas = {}
        self.order = []
        self.last = None  # id of the last schema received (PULL "schema": the probe skips it)

    def feed(self, raw):
        """Record, a gap notice (Record with gap_to) or None for a schema (kept)."""
        raw = bytes(raw)
        n, kind, seq = record_info(raw, 0)
        if n != len(raw):
            raise DecodeError("record length is %d bytes, header says %d" % (len(raw), n))
        if kind == "V":
            return decode_record(raw)
        if not check(raw, 0, n):
            raise ChecksumError("record checksum does not match: the stored bytes are damaged")
        body = raw[HEAD:-2]
        if kind == K_SCHEMA:
            sid, s = _schema_body(raw)
            self._keep(sid, s)
            return None
        if kind == K_GAP:
            if len(body) != 9 or int.from_bytes(body[4:8], "big") < seq:
                raise DecodeError("a gap notice has the wrong size or order")
            return Record(seq, 0, bytes(8), None, raw, 2, int.from_bytes(body[4:8], "big"))
        if len(body) < 16:
            raise DecodeError("record body is cut short")
        t, dig = int.from_bytes(body[4:8], "big"), body[8:16]
        if kind == K_JSON:
            return Record(seq, t, dig, json_reading(body[16:]), raw, 2)
        if kind != K_READING:
            raise DecodeError("unknown record kind %d" % kind)
        return Record(seq, t, dig, self._unpack(seq, body), raw, 2)

    def _keep(self, sid, s):
        self.last = sid
        if sid not in self.schemas:
            self.order.append(sid)
            if len(self.order) > self.KEEP:
                self.schemas.pop(self.order.pop(0), None)
        # per value: its dict with "value" in place (copied per reading), cell layouts with
        # their bases, extra count, has time; checked once here, not per reading
        tv = []
        try:
            for i, e in enumerate(s["f"]["values"]):
                c = s["c"][i]
                t = {"obis": e["obis"]} if "obis" in e else {}
                t["value"] = None
                for k in e:
                    t[k] = e[k]
                tv.append((t, [(lay, _base(lay)) for lay in c[2:]], c[0], c[1]))
        except (IndexError, KeyError, TypeError, AttributeError):
            raise DecodeError("a schema record does not describe its values")
        s["tv"] = tv
        self.schemas[sid] = s

    def _unpack(self, seq, body):
        ref, pos = _get(body, 16)
        s = self.schemas.get(seq - ref)
        if s is None:
            raise DecodeError("record %d refers to a schema that was not sent" % seq)
        try:
            return self._fill(s, body, pos)
        except (IndexError, KeyError, TypeError, AttributeError):
            raise DecodeError("record %d does not match its schema" % seq)

    def _fill(self, s, body, pos):
        # A new dict per reading and per value; the frame's deeper parts (DLMS object list,
        # capture objects) are shared between the readings of one schema: read-only.
        d = dict(s["f"])
        lay = s.get("i")
        if lay is not None:
            d["meter"] = dict(d["meter"])
            d["meter"]["id"], _, pos = _get_cell(body, pos, lay, _base(lay))
        nn, pos = _get(body, pos)
        if nn:
            notes = []
            known = s.get("n") or []
            for i in range(nn - 1):
                t, _, pos = _get_cell(body, pos, (0,), None)
                notes.append(known[i] if t is None else t)
            d["notes"] = notes
        vals = []
        for t, cells, n_extra, has_time in s["tv"]:
            got = []
            for lay, base in cells:
                x, _, pos = _get_cell(body, pos, lay, base)
                got.append(x)
            v = dict(t)
            v["value"] = got[0]
            if n_extra >= 0:
                v["extra"] = got[1:1 + n_extra]
            if has_time:
                v["time"] = got[-1]
            vals.append(v)
        d["values"] = vals
        if d.get("profiles") is not None:
            d["profiles"] = [dict(e) for e in d["profiles"]]
        for p, e in enumerate(d.get("profiles") or ()):
            lays = s["p"][p]
            nrows, pos = _get(body, pos)
            if nrows > len(body):
                raise DecodeError("record body is cut short")
            st = _start(lays)
            rows = []
            for _ in range(nrows):
                row = []
                for j in range(len(lays)):
                    t, n, pos = _get_cell(body, pos, lays[j], _pred(st, j, lays[j]))
                    _step(st, j, lays[j], n)
                    row.append(t)
                rows.append(row)
            e["rows"] = rows
        if pos != len(body):
            raise DecodeError("record body has %d bytes left over" % (len(body) - pos))
        return d
