# irprobe.inbound: the one gate for structured data from a probe, meter or capture (host only).
# Whatever JSON a device sends is checked here before the database, `take` or `sync` use it:
# nesting depth, number of items, string length, valid text (no lone surrogates), integers
# that fit SQLite (64 bits) and no NaN/Infinity. Failures are plain-words ValueErrors.

import re

MAX_DEPTH = 32  # a reading nests about 8 deep (reading/profiles/rows/values/cell)
MAX_ITEMS = 200000  # strings, numbers, lists and objects in one message
MAX_STRING = 32768  # one record payload is at most 32 KB (meterproto.link.records)
INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1


class Untrusted(ValueError):
    """Device data that cannot be taken as it is (plain-words message)."""


def check_tree(obj, what="the message", max_depth=MAX_DEPTH, max_items=MAX_ITEMS):
    """Raise Untrusted unless obj is plain JSON data within the bounds above. Iterative, so
    no input can exhaust the stack. Returns obj.
    Containers are walked; leaves are checked as they are met, and all strings at once at the
    end (their lengths, then one UTF-8 encode of them joined: a lone surrogate fails it
    wherever it stands, since Python never pairs surrogates across strings)."""
    texts = []
    items = 1
    if items > max_items:
        raise Untrusted("%s holds more than %d items" % (what, max_items))
    stack = [(obj, 1)]
    while stack:
        o, depth = stack.pop()
        if isinstance(o, dict):
            kids = o.values()
            if depth >= max_depth:
                raise Untrusted("%s is nested more than %d levels deep" % (what, max_depth))
            items += 2 * len(o)
        elif isinstance(o, list):
            kids = None
            if depth >= max_depth:
                raise Untrusted("%s is nested more than %d levels deep" % (what, max_depth))
            items += len(o)
        else:
            _leaf(o, what, texts)
            continue
        if items > max_items:
            raise Untrusted("%s holds more than %d items" % (what, max_items))
        depth += 1
        if kids is not None:
            texts.extend(o)  # its keys: join() below refuses any that is not text
        for v in (o if kids is None else kids):
            tv = type(v)
            if tv is str:
                texts.append(v)
            elif v is None or tv is bool:
                pass
            elif tv is int:
                if not INT_MIN <= v <= INT_MAX:
                    _leaf(v, what, texts)
            else:
                stack.append((v, depth))
    if texts:
        try:
            joined = "".join(texts)
        except TypeError:  # only keys enter texts unchecked
            raise Untrusted("%s has a key that is not text" % what)
        if max(map(len, texts)) > MAX_STRING:
            for s in texts:
                _leaf(s, what, [])
        try:
            joined.encode("utf-8")  # fails on a lone surrogate, and only on one
        except UnicodeEncodeError:
            raise Untrusted("%s %s" % (what, "holds a lone UTF-16 surrogate (not valid text)"))
    return obj


def _leaf(o, what, texts):
    """Check one value that is neither a list nor an object (the precise path)."""
    if o is None or o is True or o is False:
        return
    if isinstance(o, str):
        if len(o) > MAX_STRING:
            raise Untrusted("%s holds a text of %d characters (at most %d)"
                            % (what, len(o), MAX_STRING))
        texts.append(o)
        return
    if isinstance(o, int):
        if not INT_MIN <= o <= INT_MAX:
            raise Untrusted("%s holds a number too large to keep (%d digits)"
                            % (what, len(str(abs(o)))))
        return
    if isinstance(o, float):
        if o != o or o in (float("inf"), float("-inf")):
            raise Untrusted("%s holds a number that is not finite" % what)
        return
    raise Untrusted("%s holds a %s, which JSON data never does" % (what, type(o).__name__))


# -- the reading shape ----------------------------------------------------------------------
# One reading shape for every protocol (the JSON reading format, docs/ARCHITECTURE.md). The
# two profile shapes the readers produce are brought to one here:
#   IEC 62056-21 (meterproto iec21_data): {"obis", "period_min", "columns": [{"obis","unit"}],
#       "rows": [{"time", "status", "values": [text, ...]}]}
#   DLMS (dlms_client): {"obis", "capture_objects": [{"class_id","obis","attr",..}],
#       "rows": [[text, ...]]}, whose row time is the clock column (class 8, IEC 62056-6-2 4.2.1)
# -> {"obis", "period_min", "columns": [{"obis","unit"}], "rows": [{"time", "values"}]}.
MAX_ID = 64
MAX_TEXT = 256
MAX_VALUES = 4096
MAX_ROWS = 100000
MAX_BAUD = 10000000
CLOCK_CLASS = 8
_C0 = re.compile("[\x00-\x1f\x7f]")


def text(v, what, cap=MAX_TEXT, required=False, controls_ok=False):
    """Device text for storage and display: str (or an int, as its digits), at most cap
    characters, no C0 control or DEL (they never occur in meter data, IEC 62056-21 6.3.14)
    unless controls_ok (display only: irprobe.output replaces them)."""
    if v is None:
        if required:
            raise Untrusted("%s is missing" % what)
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise Untrusted("%s is not text" % what)
    v = str(v)
    if len(v) > cap:
        raise Untrusted("%s is %d characters long (at most %d allowed)" % (what, len(v), cap))
    if controls_ok or v.isprintable() or not _C0.search(v):
        return v
    raise Untrusted("%s contains control characters" % what)


def _plain_values(values, what, t):
    """The values as _value gives them. The common shape (an object of plain short texts,
    "extra" a list of them) is taken as it is when str.isprintable holds over all of them
    at once (False for any C0 control or DEL); anything else, or any doubt, goes through
    the precise checks of _value."""
    out = []
    strs = []
    for pos, v in enumerate(values):
        if type(v) is dict:
            o, val, u, a, tm, ex = v.get("obis"), v.get("value"), v.get("unit"), \
                v.get("address"), v.get("time"), v.get("extra")
            if (
                (o is None or (type(o) is str and len(o) <= 64))
                and (val is None or (type(val) is str and len(val) <= MAX_TEXT))
                and (u is None or (type(u) is str and len(u) <= 32))
                and (a is None or (type(a) is str and len(a) <= 64))
                and (tm is None or (type(tm) is str and len(tm) <= 64))
                and (ex is None or (type(ex) is list and all(
                    type(x) is str and len(x) <= MAX_TEXT for x in ex)))
            ):
                strs += (o or "", val or "", u or "", a or "", tm or "")
                if ex:
                    strs += ex
                out.append({"obis": o, "value": val, "unit": u, "address": a, "time": tm,
                            "extra": list(ex) if ex else None})
                continue
        out.append(_value(v, pos, what, t))
    if "".join(strs).isprintable():
        return out
    return [_value(v, pos, what, t) for pos, v in enumerate(values)]


def _profile(p, what, text=text):
    if not isinstance(p, dict):
        raise Untrusted("%s: a profile is not an object" % what)
    name = text(p.get("obis") or p.get("address"), "profile OBIS code", 64, True)
    cols = p.get("columns")
    if cols is None:
        cols = p.get("capture_objects")
    rows = p.get("rows") or []
    if (
        not isinstance(cols, list)
        or not isinstance(rows, list)
        or len(rows) > MAX_ROWS
        or not all(isinstance(c, dict) for c in cols)
    ):
        raise Untrusted("%s: profile %s is malformed" % (what, name))
    clock = None
    for j, c in enumerate(cols):
        if c.get("class_id") == CLOCK_CLASS:
            clock = j
            break
    period = p.get("period_min")
    if period is not None and (isinstance(period, bool) or not isinstance(period, int)
                               or not 0 < period <= 1440):
        raise Untrusted("%s: profile %s has an impossible period" % (what, name))
    columns = [
        {"obis": text(c.get("obis") or c.get("address"), "column OBIS code", 64, True),
         "unit": text(c.get("unit"), "unit", 32)}
        for j, c in enumerate(cols) if j != clock
    ]
    out_rows = []
    for r, row in enumerate(rows):
        if isinstance(row, dict):
            t, vals = row.get("time"), row.get("values")
        else:
            vals = row
            t = row[clock] if isinstance(row, list) and clock is not None and clock < len(row) \
                else None
        if not isinstance(vals, list) or len(vals) != len(cols):
            raise Untrusted("%s: profile %s row %d does not match its columns" % (what, name, r))
        out_rows.append({
            "time": text(t, "profile time", 64),
            "values": [text(v, "profile value") for j, v in enumerate(vals) if j != clock],
        })
    return {"obis": name, "period_min": period, "columns": columns, "rows": out_rows}


def _value(v, pos, what, t):
    if not isinstance(v, dict):
        raise Untrusted("%s: value %d is not an object" % (what, pos))
    extra = v.get("extra")
    if extra is not None and not isinstance(extra, list):
        extra = [extra]
    return {
        "obis": t(v.get("obis"), "OBIS code", 64),
        "value": t(v.get("value"), "value"),
        "unit": t(v.get("unit"), "unit", 32),
        "address": t(v.get("address"), "address", 64),
        "time": t(v.get("time"), "time", 64),
        "extra": [t(x, "value") for x in extra] if extra else None,
    }


def check_reading(d, what="the reading", for_display=False):
    """The one check of a reading from a probe, a meter or a file (used by the database,
    `take` and `sync`): bounded data (check_tree) in the one reading shape. Returns a new
    dict with only the known fields and the one profile shape; raises Untrusted.
    for_display: control characters are let through (the display replaces them); storage
    refuses them."""

    def t(v, what, cap=MAX_TEXT, required=False):
        return text(v, what, cap, required, for_display)

    if not isinstance(d, dict):
        raise Untrusted("%s holds no reading" % what)
    check_tree(d, what)
    meter = d.get("meter") or {}
    if not isinstance(meter, dict):
        raise Untrusted("%s: meter is not an object" % what)
    values = d.get("values") or []
    if not isinstance(values, list) or len(values) > MAX_VALUES:
        raise Untrusted("%s: values are not a list of at most %d" % (what, MAX_VALUES))
    baud = d.get("baud")
    if baud is not None and (
        isinstance(baud, bool) or not isinstance(baud, int) or not 0 < baud <= MAX_BAUD
    ):
        raise Untrusted("%s: baud is not a number from 1 to %d" % (what, MAX_BAUD))
    if for_display:
        out_values = [_value(v, pos, what, t) for pos, v in enumerate(values)]
    else:
        out_values = _plain_values(values, what, t)
    profiles = d.get("profiles")
    if profiles and not isinstance(profiles, list):
        raise Untrusted("%s: profiles are not a list" % what)
    notes = d.get("notes") or []
    if not isinstance(notes, list):
        raise Untrusted("%s: notes are not a list" % what)
    return {
        "meter": {
            "id": t(meter.get("id"), "meter id", MAX_ID),
            "manufacturer": t(meter.get("manufacturer"), "manufacturer", MAX_ID),
            "ident": t(meter.get("ident"), "meter ident"),
        },
        "protocol": t(d.get("protocol"), "protocol", 32),
        "mode": t(d.get("mode"), "mode", 8),
        "baud": baud,
        "values": out_values,
        "profiles": [_profile(p, what, t) for p in profiles or ()],
        "notes": [t(n, "note", 1024) for n in notes],
    }
