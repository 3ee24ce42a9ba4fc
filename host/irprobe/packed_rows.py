# irprobe.packed_rows: version 2 packed readings straight into database rows (host only).
# `irprobe sync` reads records with RowReader. A packed reading (meterproto.link.recpack, kind
# R) of a schema without load profiles becomes RecordRows without a reading dict: its cells
# are looked up in tables built once per schema. Every other record, and any reading with a
# doubt, goes the general way (recpack.Unpacker, then irprobe.inbound's check in the store),
# which also gives the plain-words refusal. docs/STORAGE.md, "Sync".
#
# Why this is the same check: a schema's frame is checked once, by check_reading on a reading
# of that schema whose cells are all "" (same shape, items and depth as every reading of it);
# a table holds a cell's text only if inbound.text() takes it for the field it fills (length,
# control characters) and it is valid UTF-8 text (no lone surrogate). The stored JSON text is
# the schema's template with the cells put in: json's own string encoder, keys in sorted
# order, so byte for byte what record_rows.DUMPS gives of the decoded reading.
import json
import operator
import os
import re

from meterproto.errors import DecodeError
from meterproto.link.cells import _text, base_of, get_cell, get_varint, put_cell, put_varint
from meterproto.link.records import HEAD, K_READING, check
from meterproto.link.recpack import Unpacker

from irprobe.inbound import MAX_ID, MAX_TEXT, Untrusted, check_reading, text
from irprobe.record_rows import DUMPS, RecordRows

_ENC = json.encoder.encode_basestring_ascii  # what DUMPS writes for a string (ensure_ascii)
_TIME_CAP = 64  # irprobe.inbound._value: a value's time
_TEXT = [0]  # the text layout: the template's cells are texts
_MAX_INT = 1 << 64  # layouts beyond this are left to the general way
# Longer number cells met, per cell (a register that did not move since the last reading,
# a time of day, a current): looked up, not decoded again; at most this many kept.
_SEEN = 1024


class RowReader:
    """recpack.Unpacker's feed(), returning RecordRows for the packed readings it can take
    whole, else what Unpacker.feed returns (None for a schema, a Record)."""

    def __init__(self):
        self.unpacker = Unpacker()
        self._tables = {}  # schema id -> (schema dict, _Schema or None)
        self.fast = 0  # readings taken the table way (bench, tests)

    @property
    def last(self):
        return self.unpacker.last

    def feed(self, raw):
        raw = bytes(raw)
        if len(raw) > HEAD + 18 and raw[3] == K_READING:
            got = self._rows(raw)
            if got is not None:
                self.fast += 1
                return got
        return self.unpacker.feed(raw)

    def _rows(self, raw):
        n = len(raw)
        if raw[:3] != b"IR\x02" or (raw[4] << 8 | raw[5]) + 8 != n or not check(raw, 0, n):
            return None  # the general way names what is wrong
        body = raw[HEAD:-2]
        seq = int.from_bytes(body[0:4], "big")
        try:
            ref, pos = get_varint(body, 16)
        except DecodeError:
            return None
        sid = seq - ref
        s = self.unpacker.schemas.get(sid)
        if s is None:
            return None
        got = self._tables.get(sid)
        if got is None or got[0] is not s:
            for old in [k for k in self._tables if k not in self.unpacker.schemas]:
                del self._tables[old]  # the Unpacker let that schema go: so do the tables
            got = (s, _prepare(s))
            self._tables[sid] = got
        if got[1] is None:
            return None
        return got[1].rows(seq, int.from_bytes(body[4:8], "big"), body[8:16].hex(), body, pos)


class _Schema:
    """One schema's tables: per cell (table, layout, base, cap, longer numbers seen) in body
    order; the constant
    columns and the JSON templates (notes absent, notes empty)."""

    def __init__(self, ident, cells, consts, pick_value, pick_time, templates):
        self.ident = ident
        self.cells = cells
        self.meter_rest, self.protocol, self.mode, self.baud, self.obis, self.unit, \
            self.address, self.times, self.meter_id = consts
        self.pick_value = pick_value
        self.pick_time = pick_time
        self.templates = templates

    def rows(self, seq, taken_at, digest, body, pos):
        """RecordRows, or None when this reading is not for the tables (the general way)."""
        texts = []
        encs = []
        if self.ident is not None:
            pos = _cells(body, pos, self.ident, texts, encs)
            if pos < 0:
                return None
            meter_id = texts.pop()
        else:
            meter_id = self.meter_id
        if pos >= len(body) or body[pos] > 1:
            return None  # notes beyond the schema's own: the general way
        tmpl = self.templates[body[pos]]
        pos = _cells(body, pos + 1, self.cells, texts, encs)
        if pos != len(body):
            return None
        parts, order = tmpl
        buf = list(parts)
        buf[1::2] = order(encs)
        if self.times is None:
            times = self.pick_time(texts)
        else:
            times = self.pick_time(texts + self.times)
        return RecordRows(seq, taken_at, digest, "".join(buf),
                          (meter_id,) + self.meter_rest, self.protocol, self.mode, self.baud,
                          (self.obis, self.pick_value(texts), self.unit, self.address, times),
                          [])


def _cells(body, pos, cells, texts, encs):
    """Decode cells from body[pos]; -1 when one is not for the tables."""
    try:
        for tab, lay, base, cap, seen in cells:
            t = body[pos]
            e = tab[t]
            if e is not None:  # one byte: most cells
                pos += 1
                texts.append(e[0])
                encs.append(e[1])
                continue
            if t >= 0x80 and lay[0]:
                # A number of two or more bytes (meterproto.link.cells.get_cell): its text is
                # made by the layout of digits, "-", ".", " " and ":" only, so its length is
                # all there is to check and its JSON is itself in quotes.
                b = body[pos + 1]
                if b < 0x80:
                    t, p = (t & 0x7F) | (b << 7), pos + 2
                else:
                    c = body[pos + 2]
                    if c < 0x80:
                        t, p = (t & 0x7F) | ((b & 0x7F) << 7) | (c << 14), pos + 3
                    else:
                        t, p = get_varint(body, pos)
                e = seen.get(t)
                if e is None and not t & 1:
                    z = t >> 1
                    x = _text(base + ((z >> 1) if not z & 1 else -((z + 1) >> 1)), lay)
                    if len(x) <= cap:
                        e = (x, '"%s"' % x)
                        if len(seen) >= _SEEN:
                            seen.clear()
                        seen[t] = e
                if e is not None:
                    pos = p
                    texts.append(e[0])
                    encs.append(e[1])
                    continue
            x, _, pos = get_cell(body, pos, lay, base)  # text, or refused: checked here
            e = _entry(x, cap)
            if e is None:
                return -1
            texts.append(e[0])
            encs.append(e[1])
    except (IndexError, DecodeError):
        return -1
    return pos


def _entry(x, cap):
    """(text, its JSON) when the store takes x in a field of at most cap characters."""
    if x is None:
        return None, "null"
    try:
        text(x, "cell", cap)
        x.encode("utf-8")  # a lone surrogate (from a schema's base text) fails here
    except (Untrusted, UnicodeError):
        return None
    return x, _ENC(x)


def _layout_ok(lay):
    if type(lay) is not list or not lay:
        return False
    if lay[0] == 0 and type(lay[0]) is int:
        return len(lay) == 1 or (len(lay) == 2 and type(lay[1]) is str)
    return (lay[0] in (1, 2) and type(lay[0]) is int and len(lay) == 4
            and all(type(x) is int for x in lay[1:]) and 0 <= lay[1] <= 64
            and 0 <= lay[2] <= 64 and -_MAX_INT < lay[3] < _MAX_INT)


def _table(lay, base, cap):
    """The 256 one-byte cells: (text, JSON) or None (longer, or refused: decoded each time)."""
    tab = [None] * 256
    for t in (0, 1, 3) if lay[0] == 0 else [1, 3] + list(range(0, 128, 2)):
        try:
            x, _, pos = get_cell(bytes((t,)), 0, lay, base)
        except DecodeError:
            continue
        if pos == 1:
            tab[t] = _entry(x, cap)
    return tab


def _pick(idx):
    """A function: list -> tuple of its items at idx (operator.itemgetter, any length)."""
    if len(idx) == 1:
        i = idx[0]
        return lambda seq: (seq[i],)
    if not idx:
        return lambda seq: ()
    return operator.itemgetter(*idx)


def _prepare(s):
    """_Schema for schema s (as recpack.Unpacker keeps it), or None: the general way."""
    try:
        return _build(s)
    except (Untrusted, DecodeError, KeyError, IndexError, TypeError, AttributeError,
            ValueError):
        return None


def _build(s):
    f = s["f"]
    if f.get("profiles"):
        return None  # rows are delta-coded row by row: the general way
    ident = s.get("i")
    if ident is not None and not _layout_ok(ident):
        return None
    cells = []
    shapes = []
    for t, lays, n_extra, has_time in s["tv"]:
        if type(n_extra) is not int or has_time not in (0, 1) or type(has_time) is not int \
                or len(lays) != 1 + max(n_extra, 0) + has_time:
            return None
        caps = [MAX_TEXT] * (1 + max(n_extra, 0)) + [_TIME_CAP] * has_time
        for (lay, base), cap in zip(lays, caps):
            if not _layout_ok(lay):
                return None
            cells.append((_table(lay, base, cap), lay, base, cap, {}))
        shapes.append((len(lays), has_time))
    # the frame, checked once on a reading of this schema whose cells are all ""
    sample = check_reading(_synth(s, ident, 0, lambda i: ""), "a schema")
    m = sample["meter"]
    vs = sample["values"]
    value_idx, time_idx, times = [], [], []
    k = 0
    for j, (n, has_time) in enumerate(shapes):
        value_idx.append(k)
        if has_time:
            time_idx.append(k + n - 1)
        else:
            time_idx.append(len(cells) + len(times))  # past the texts: a constant
            times.append(vs[j]["time"])
        k += n
    nonce = os.urandom(8).hex()
    templates = [_template(s, ident, nn, nonce, len(cells)) for nn in (0, 1)]
    if None in templates:
        return None
    consts = ((m["manufacturer"], m["ident"]), sample["protocol"], sample["mode"],
              sample["baud"], tuple(v["obis"] for v in vs), tuple(v["unit"] for v in vs),
              tuple(v["address"] for v in vs), times or None, m["id"])
    lay_i = None
    if ident is not None:
        b = base_of(ident)
        lay_i = [(_table(ident, b, MAX_ID), ident, b, MAX_ID, {})]
    return _Schema(lay_i, cells, consts, _pick(value_idx), _pick(time_idx), templates)


def _synth(s, ident, nn, cell):
    """The reading recpack.Unpacker gives of schema s with text cell(i) in every cell, notes
    nn (0: none, 1: empty): the same code builds it, so the same shape."""
    s2 = dict(s)
    s2["i"] = _TEXT if ident is not None else None
    s2["tv"] = [(t, [(_TEXT, None)] * len(lays), n_extra, has_time)
                for t, lays, n_extra, has_time in s["tv"]]
    b = bytearray()
    i = 0
    if ident is not None:
        put_cell(b, cell("i"), _TEXT, None)
    put_varint(b, nn)
    for _, lays, _, _ in s["tv"]:
        for _ in lays:
            put_cell(b, cell(i), _TEXT, None)
            i += 1
    return Unpacker()._fill(s2, bytes(b), 0)


def _template(s, ident, nn, nonce, ncells):
    """(constant parts with a gap between each, function: cell JSONs in body order -> in
    text order) of the stored text; None when the marks cannot be found back exactly."""
    mark = "\x00%s.%%s\x00" % nonce
    found = re.compile(r'"\\u0000%s\.(i|\d+)\\u0000"' % nonce)
    parts = found.split(DUMPS(_synth(s, ident, nn, lambda i: mark % i)))
    # body order: the meter id cell first (RowReader decodes it before the values)
    off = 0 if ident is None else 1
    order = [0 if x == "i" else int(x) + off for x in parts[1::2]]
    if sorted(order) != list(range(ncells + off)):
        return None
    return _gaps(parts), _pick(order)


def _gaps(parts):
    out = list(parts)
    for k in range(1, len(out), 2):
        out[k] = None
    return out

