# meterproto.recpack: the compact stored-reading format, version 2 (core, both runtimes).
# Our own format (no standard). A reading is split into its frame (who the meter is, how it
# was read, the register list: written once per schema, as JSON) and its values (per reading,
# as scaled integers with the schema's decimal layout, delta to the schema's first reading;
# load-profile cells delta to the row above). Only a value whose text the layout cannot give
# back exactly is stored as text, so decoding always gives the meter's own text back.
#
# Record (big endian): "IR" | 2 | kind (1) | body length (2) | body | CRC-16 (2) over the rest
#   (CRC-16/CCITT-FALSE, meterproto.crc16); the first 3 bytes tell it from version 1 records.
#   kind S  schema:  id (4) | JSON {"f": frame, "c": cell layouts, "p": profile columns}
#   kind R  reading: seq (4) | time_s (4) | digest (8) | seq - schema id (varint) | cells
#   kind J  reading that does not fit a schema: seq | time_s | digest | JSON reading
#   kind G  gap (only in a USB pull): first seq (4) | last seq (4) | reason (1): those seqs
#           are damaged on the probe and will never be sent
# A cell is one varint t: t = 1 no value (null); t odd: text of (t >> 1) - 1 UTF-8 bytes
# follows; t even: the number zigzag(t >> 1) plus the base (the schema's value, or the cell
# above in a profile); in a text cell t = 0 is the base text again. Layouts: [0, base text]
# text; [1, width, decimals, base] decimal text, width > 0 when the meter pads with zeros;
# [2, 0, 0, base] "YYYY-MM-DD hh:mm:ss" as seconds from 2000.
#
# API
#   Packer() .pack(seq, time_s, reading, digest) -> list of records (a schema first when the
#       reading's frame is new); .reset() forgets the schema (a new segment starts)
#   Unpacker() .feed(raw) -> (seq, time_s, digest, reading dict) or None for a schema;
#       raises DecodeError (unknown schema, bad body) or ChecksumError
#   frame_record(kind, body) -> bytes;  record_info(data, i) -> (length, kind, seq) of the
#       record at data[i] (v1 or v2; kind "V" for v1), DecodeError when it is not one;
#   check(data, i, n) -> True when the record's CRC holds;  gap_record(first, last, reason)
#   record_time(raw) -> time_s of a reading record
import json

from meterproto.crc16 import crc16_ccitt_false as crc16
from meterproto.errors import ChecksumError, DecodeError

VERSION = 2
HEAD = 6  # "IR" version kind length(2)
OVERHEAD = HEAD + 2
MAX_BODY = 32768  # one record always fits one USB frame (meterproto.hostlink)
K_SCHEMA = 0x53
K_READING = 0x52
K_JSON = 0x4A
K_GAP = 0x47
_V1_HEAD = 21
_DAY = 86400


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def frame_record(kind, body):
    n = len(body)
    if n > MAX_BODY:
        raise DecodeError("reading too large to store (%d bytes, at most %d)" % (n, MAX_BODY))
    out = bytearray(OVERHEAD + n)
    out[0:6] = bytes((0x49, 0x52, VERSION, kind, n >> 8, n & 0xFF))
    out[6:6 + n] = body
    c = crc16(out, 0xFFFF, 0, HEAD + n)
    out[-2] = c >> 8
    out[-1] = c & 0xFF
    return bytes(out)


def record_info(data, i=0):
    """(total length, kind, seq or None) of the record at data[i]; header only, no CRC."""
    if len(data) - i < HEAD or data[i] != 0x49 or data[i + 1] != 0x52:
        raise DecodeError("not a record (bad magic bytes)")
    v = data[i + 2]
    if v == 1:
        if len(data) - i < _V1_HEAD:
            raise DecodeError("record too short")
        n = _V1_HEAD + 2 + ((data[i + 3] << 8) | data[i + 4])
        return n, "V", int.from_bytes(data[i + 5:i + 9], "big")
    if v != VERSION:
        raise DecodeError("record format version %d is not supported" % v)
    kind = data[i + 3]
    n = OVERHEAD + ((data[i + 4] << 8) | data[i + 5])
    seq = None
    if kind != K_SCHEMA and len(data) - i >= HEAD + 4:
        seq = int.from_bytes(data[i + HEAD:i + HEAD + 4], "big")
    return n, kind, seq


def check(data, i, n):
    """True when the n-byte record at data[i] is whole and its CRC holds."""
    if i + n > len(data) or n < OVERHEAD:
        return False
    return crc16(data, 0xFFFF, i, i + n - 2) == ((data[i + n - 2] << 8) | data[i + n - 1])


def record_time(raw):
    """time_s of a reading record (either version)."""
    i = 9 if raw[2] == 1 else HEAD + 4
    return int.from_bytes(raw[i:i + 4], "big")


def gap_record(first, last, reason=1):
    return frame_record(K_GAP, first.to_bytes(4, "big") + last.to_bytes(4, "big") +
                        bytes((reason,)))


# -- varints and cells ----------------------------------------------------------------------
def _put(out, n):
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _get(data, pos):
    n = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 70:
            raise DecodeError("record body is cut short")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, pos
        shift += 7


def _days(y, m, d):
    """Days from 2000-01-01 (proleptic Gregorian; civil-from-days arithmetic)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 730425


def _civil(z):
    z += 730425
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def _to_int(text, lay):
    """The number for text under layout lay, or None when it cannot give text back exactly."""
    if not isinstance(text, str) or lay[0] == 0 or len(text) > 24:
        return None
    try:
        if lay[0] == 2:
            if len(text) != 19 or text[4] != "-" or text[13] != ":":
                return None
            n = (_days(int(text[0:4]), int(text[5:7]), int(text[8:10])) * _DAY +
                 int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19]))
        else:
            digits = text[1:] if text[:1] == "-" else text
            if not digits or not digits.replace(".", "").isdigit():
                return None
            n = int(text.replace(".", ""))
    except ValueError:
        return None
    return n if _text(n, lay) == text else None


def _text(n, lay):
    if lay[0] == 2:
        days = n // _DAY
        s = n - days * _DAY
        y, m, d = _civil(days)
        return "%04d-%02d-%02d %02d:%02d:%02d" % (y, m, d, s // 3600, s // 60 % 60, s % 60)
    f = lay[2]
    s = "%0*d" % ((lay[1] or 1) + f, -n if n < 0 else n)  # int part >= width, >= 1 digit
    if f:
        s = s[:len(s) - f] + "." + s[len(s) - f:]
    return "-" + s if n < 0 else s


def _layout(text):
    """The layout a first value suggests: decimal, date-time or text."""
    if not isinstance(text, str):
        return [0]
    lay = [2, 0, 0, 0]
    short = [0, text] if len(text) <= 64 else [0]  # text: the first one is the base
    n = _to_int(text, lay)
    if n is None:
        body = text[1:] if text[:1] == "-" else text
        ip, _, fp = body.partition(".")
        lay = [1, len(ip) if len(ip) > 1 and ip[0] == "0" else 0, len(fp), 0]
        n = _to_int(text, lay)
        if n is None:
            return short
    lay[3] = n
    return lay


def _base(lay):
    return lay[3] if lay[0] else (lay[1] if len(lay) > 1 else None)


def _put_cell(out, text, lay, base):
    if text is None:
        out.append(1)
        return base
    if lay[0] == 0:
        if text == base:
            out.append(0)  # the same text as the base: one byte
            return base
        b = text.encode()
        _put(out, ((len(b) + 1) << 1) | 1)
        out.extend(b)
        return text  # the next row's base
    n = _to_int(text, lay)
    if n is None:
        b = text.encode()
        _put(out, ((len(b) + 1) << 1) | 1)
        out.extend(b)
        return base
    d = n - base
    _put(out, (d << 2) if d >= 0 else (((-d << 1) - 1) << 1))
    return n


def _get_cell(data, pos, lay, base):
    t = data[pos] if pos < len(data) else 0x80
    if t < 0x80:
        pos += 1  # one byte: most cells
    else:
        t, pos = _get(data, pos)
    if t == 1:
        return None, base, pos
    if t & 1:
        n = (t >> 1) - 1
        if n < 0 or pos + n > len(data):
            raise DecodeError("record body is cut short")
        try:
            text = bytes(data[pos:pos + n]).decode()
        except UnicodeError:
            raise DecodeError("record text is not valid UTF-8")
        return text, text if lay[0] == 0 else base, pos + n
    if lay[0] == 0:
        if t or base is None:
            raise DecodeError("a number where the schema keeps text")
        return base, base, pos
    z = t >> 1
    n = base + ((z >> 1) if not z & 1 else -((z + 1) >> 1))
    return _text(n, lay), n, pos


# -- schema -----------------------------------------------------------------------------------
def _split(d):
    """(frame, cells per value, rows per profile, notes) of a reading dict; None when some
    part has a shape the packed form does not keep (then the reading is stored as JSON)."""
    values = d.get("values")
    profiles = d.get("profiles")
    notes = d.get("notes")
    if not isinstance(values, list) or (notes is not None and not _texts(notes)):
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
    recomputes it from JSON read back (whose dict order may differ on MicroPython)."""
    import hashlib

    return hashlib.sha256(_dumps([frame, shapes, ncols]).encode()).digest()[:16]


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
        sid, s = _schema_body(raw)
        self.schema_id, self.lays, self.cols = sid, [c[2:] for c in s["c"]], s["p"]
        self.notes = s.get("n") or []
        self.ident = s.get("i")
        try:
            self.key = bytes.fromhex(s.get("k") or "")
        except ValueError:
            self.key = b""  # then the next reading writes a new schema: nothing lost
        self.seen = self.key

    def pack(self, seq, time_s, reading, digest=b""):
        if hasattr(reading, "to_dict"):
            reading = reading.to_dict()
        if not isinstance(reading, dict):
            raise DecodeError("a record holds a reading dict, not %s" % type(reading).__name__)
        if not (0 <= seq <= 0xFFFFFFFF) or not (0 <= time_s <= 0xFFFFFFFF):
            raise DecodeError("record seq and time must fit in 32 bits")
        d = bytes(digest)[:8]
        head = seq.to_bytes(4, "big") + time_s.to_bytes(4, "big") + d + bytes(8 - len(d))
        parts = _split(reading)
        if parts is None:
            return [frame_record(K_JSON, head + _dumps(reading).encode())]
        frame, cells, rows, notes, ident = parts
        shapes = [[c[0], c[1]] for c in cells]
        key = _key([frame, ident is not None], shapes, [len(r[0]) if r else 0 for r in rows])
        out = []
        if key != self.key:
            if key != self.seen and self.key is not None:
                # A frame seen once (a technician's round of meters) goes as JSON; a schema
                # pays off from the second reading of the same frame on.
                self.seen = key
                return [frame_record(K_JSON, head + _dumps(reading).encode())]
            lays = [[_layout(x) for x in c[2]] for c in cells]
            cols = [[_layout(x) for x in r[0]] if r else [] for r in rows]
            self.ident = _layout(ident) if ident is not None else None
            body = _dumps({"f": frame, "c": [shapes[i] + lays[i] for i in range(len(cells))],
                           "p": cols, "n": notes or [], "i": self.ident,
                           "k": _hex(key)}).encode()
            if len(body) + 4 > MAX_BODY:
                return [frame_record(K_JSON, head + _dumps(reading).encode())]
            out.append(frame_record(K_SCHEMA, seq.to_bytes(4, "big") + body))
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
        out.append(frame_record(K_READING, bytes(b)))
        return out


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

    def feed(self, raw):
        """(seq, time_s, digest, reading dict), ("gap", first, last, reason) or None."""
        n, kind, seq = record_info(raw, 0)
        if n != len(raw):
            raise DecodeError("record length is %d bytes, header says %d" % (len(raw), n))
        if not check(raw, 0, n):
            raise ChecksumError("record checksum does not match: the stored bytes are damaged")
        if kind == "V":
            return _v1(raw)
        body = raw[HEAD:-2]
        if kind == K_SCHEMA:
            sid, s = _schema_body(raw)
            self._keep(sid, s)
            return None
        if kind == K_GAP:
            if len(body) != 9:
                raise DecodeError("a gap record has the wrong size")
            return ("gap", seq, int.from_bytes(body[4:8], "big"), body[8])
        if len(body) < 16:
            raise DecodeError("record body is cut short")
        head = (seq, int.from_bytes(body[4:8], "big"), bytes(body[8:16]))
        if kind == K_JSON:
            return head + (_json_reading(body[16:]),)
        if kind != K_READING:
            raise DecodeError("unknown record kind %d" % kind)
        return head + (self._unpack(seq, body),)

    def _keep(self, sid, s):
        if sid not in self.schemas:
            self.order.append(sid)
            if len(self.order) > self.KEEP:
                self.schemas.pop(self.order.pop(0), None)
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
        for i, e in enumerate(d["values"]):
            c = s["c"][i]
            got = []
            for lay in c[2:]:
                t, _, pos = _get_cell(body, pos, lay, _base(lay))
                got.append(t)
            v = {"obis": e["obis"]} if "obis" in e else {}
            v["value"] = got[0]
            for k in e:
                v[k] = e[k]
            if c[0] >= 0:
                v["extra"] = got[1:1 + c[0]]
            if c[1]:
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


def _json_reading(b):
    try:
        r = json.loads(bytes(b).decode())
    except (ValueError, UnicodeError):  # MicroPython raises ValueError for bad JSON too
        raise DecodeError("record payload is not valid JSON")
    if not isinstance(r, dict):
        raise DecodeError("record payload is not a reading")
    return r


def _v1(raw):
    return (int.from_bytes(raw[5:9], "big"), int.from_bytes(raw[9:13], "big"),
            bytes(raw[13:21]), _json_reading(raw[_V1_HEAD:-2]))
