# meterproto.iec.data: the IEC 62056-21 data block (clause 6.4 data set syntax), core.
# Data sets `address(value*unit)(...)` to Reading values, IEC short addresses to OBIS
# (IEC 62056-61), P.01 load profile blocks, and DSMR/P1 telegrams with their CRC-16/ARC.
from meterproto.crc16 import crc16_arc  # also used as meterproto.iec.data.crc16_arc
from meterproto.errors import DecodeError
from meterproto.iec.msg import text7
from meterproto.obis import format_obis
from meterproto.reading import ID_OBIS, Reading, Value

# Guards against absurd input only; real meters exceed the standard's limits (16-character
# address, 32-character value, 78-character line), so those are NOT enforced.
FIELD_MAX = 4096
GROUPS_MAX = 2048
SETS_MAX = 20000

# Letters that stand for OBIS value-group numbers in IEC addresses (IEC 62056-61 7.3.1):
# C = service entries, F = error messages, L = lists, P = profiles.
_LETTERS = {"C": 96, "F": 97, "L": 98, "P": 99}


class DataSet:
    """One `address(...)(...)` data set: groups is a list of (value, unit-or-None)."""

    def __init__(self, address, groups):
        self.address = address
        self.groups = groups

    def value(self):
        return self.groups[0][0] if self.groups else None

    def unit(self):
        return self.groups[0][1] if self.groups else None

    def __repr__(self):
        return "DataSet(%r, %r)" % (self.address, self.groups)


def _split_unit(inner):
    # `*` is not allowed inside a value, so the first one starts the unit (clause 6.4).
    i = inner.find("*")
    if i < 0:
        return (inner.strip(), None)
    unit = inner[i + 1:].strip()
    return (inner[:i].strip(), unit or None)


def parse_block(block):
    """Data block (bytes or str, between STX and ETX) -> list of DataSet.

    Tolerates: several data sets on one line, `!` glued to the last data set, NUL bytes,
    missing units, unbalanced parentheses (a group then ends at the line's end), text lines
    without a data set (skipped). Stops at the `!` that ends a readout.
    """
    s = text7(block)
    n = len(s)
    sets = []
    i = 0
    while i < n:
        ch = s[i]
        if ch == " " or ch == "\r" or ch == "\n" or ch == "\t":
            i += 1
            continue
        if ch == "!":
            break
        j = i
        while j < n and s[j] not in "(\r\n!":
            j += 1
        if j - i > FIELD_MAX:
            raise DecodeError("an address of %d characters: the data is not IEC 62056-21 text"
                              % (j - i))
        address = s[i:j].strip()
        if j >= n or s[j] != "(":
            i = j if j > i else j + 1  # a line with no data set (a header or noise): skip it
            continue
        groups = []
        while j < n and s[j] == "(":
            k = j + 1
            while k < n and s[k] not in "()\r\n":
                k += 1
            if k - j > FIELD_MAX:
                raise DecodeError("a value of %d characters: the data is not IEC 62056-21 "
                                  "text" % (k - j))
            groups.append(_split_unit(s[j + 1:k]))
            if len(groups) > GROUPS_MAX:
                raise DecodeError("more than %d values in one data set" % GROUPS_MAX)
            if k < n and s[k] == ")":
                k += 1
            j = k
        sets.append(DataSet(address, groups))
        if len(sets) > SETS_MAX:
            raise DecodeError("more than %d data sets in one block" % SETS_MAX)
        i = j
    return sets


# Characters a data set address can hold (IEC 62056-21 6.4 data set, IEC 62056-61 reduced
# ID codes): value-group digits, the letters that stand for groups (C, F, L, P; some meters
# use other capitals), the separators `-` `:` `.` `*` and L+G's `&`.
_ADDR_SEPS = "-:.*&"


def address_fault(address):
    """Why `address` cannot be a data set address, or None when it can: a character outside
    digits, capitals and -:.*&, or an empty group (`15.8.`, `1..8`). A bit error or a lost
    character that the BCC (an XOR) does not see often shows up here."""
    empty = True  # the group being read has no character yet
    for ch in address:
        if ch in _ADDR_SEPS:
            if empty:
                return "has an empty group"
            empty = True
        elif "0" <= ch <= "9" or "A" <= ch <= "Z":
            empty = False
        else:
            return "holds %r, which no address can" % ch
    if empty and address:
        return "has an empty group"
    return None


def block_fault(block):
    """Why a data block that passed its checks still cannot be what the meter sent, or None.
    Clause 6.4: the block is printable text; control characters other than CR LF (and
    the tab and NUL padding seen in captures) cannot occur, nor a malformed address."""
    if isinstance(block, str):
        block = block.encode()
    for b in block:
        b &= 0x7F
        if (b < 0x20 and b != 0 and b != 9 and b != 10 and b != 13) or b == 0x7F:
            return "a control character (0x%02X) inside the data" % b
    try:
        sets = parse_block(block)
    except DecodeError:
        return None  # the caller's own parse reports it
    for ds in sets:
        if ds.address:
            why = address_fault(ds.address)
            if why is not None:
                return "the address %r %s" % (ds.address, why)
    return None


def _all_digits(t):
    # Plain ASCII digits only (str.isdigit would also take other Unicode digits).
    for ch in t:
        if not ("0" <= ch <= "9"):
            return False
    return True


def _group(t):
    if not t:
        return None
    if t in _LETTERS:
        return _LETTERS[t]
    if not _all_digits(t):
        return None
    v = int(t)
    return v if v <= 255 else None


def address_to_obis(address):
    """IEC address -> canonical OBIS text, or None when it has no OBIS form.

    `1.8.0` -> 1-0:1.8.0*255; `1.8` -> 1-0:1.8.0*255; `F.F` -> 0-0:97.97.0*255;
    `C.1.0` -> 0-0:96.1.0*255; `1.8.1*01` -> 1-0:1.8.1*1 (billing period in F);
    `1.6.1&02` -> 1-0:1.6.1*255 (the `&NN` reset counter stays in the address only);
    `1-1:0.5.1.2` -> 1-1:0.5.1*2. Missing A is 1 (electricity, the medium of IEC text
    meters) except for C = 96 and 97 (service and error entries), which are abstract (A = 0).
    """
    a = address.strip()
    amp = a.find("&")
    if amp >= 0:
        a = a[:amp]
    f = None
    star = a.find("*")
    if star >= 0:
        f = _group(a[star + 1:])
        if f is None:
            return None
        a = a[:star]
    ga = gb = None
    colon = a.find(":")
    if colon >= 0:
        ab = a[:colon].split("-")
        if len(ab) != 2:
            return None
        ga = _group(ab[0])
        gb = _group(ab[1])
        if ga is None or gb is None:
            return None
        a = a[colon + 1:]
    parts = a.split(".")
    if ga is None and len(parts) == 6:  # fully dotted A.B.C.D.E.F
        g = [_group(p) for p in parts]
        if None in g:
            return None
        return format_obis(g[0], g[1], g[2], g[3], g[4], g[5])
    if len(parts) == 4 and f is None:  # C.D.E.F with a dotted billing group
        f = _group(parts[3])
        if f is None:
            return None
        parts = parts[:3]
    if len(parts) < 2 or len(parts) > 3:
        return None
    g = [_group(p) for p in parts]
    if None in g:
        return None
    while len(g) < 3:
        g.append(0)
    if ga is None:
        ga = 0 if g[0] in (96, 97) else 1
        gb = 0
    return format_obis(ga, gb, g[0], g[1], g[2], 255 if f is None else f)


def _looks_like_time(t):
    digits = 0
    for ch in t:
        if "0" <= ch <= "9":
            digits += 1
        elif ch not in "-: SW":
            return False
    return digits >= 10


def group_text(g):
    return g[0] if g[1] is None else g[0] + "*" + g[1]


def to_value(ds):
    """DataSet -> meterproto.reading.Value (None for a data set without an address)."""
    if not ds.address or not ds.groups:
        return None
    ob = address_to_obis(ds.address)
    extra = None
    time = None
    if len(ds.groups) > 1:
        extra = [group_text(g) for g in ds.groups[1:]]
        g1 = ds.groups[1]
        if g1[1] is None and _looks_like_time(g1[0]):
            time = g1[0]  # e.g. 1.6.1(27.19*kW)(1702090945): a maximum and when it happened
    return Value(ob or ds.address, ds.groups[0][0], ds.groups[0][1], ds.address, extra, time)


def to_values(sets):
    out = []
    for ds in sets:
        v = to_value(ds)
        if v is not None:
            out.append(v)
    return out


def error_reply(sets):
    """The meter's error text when a block is only `(ERROR)` / `(ERxx)`, else None."""
    if len(sets) == 1 and not sets[0].address and sets[0].groups:
        t = sets[0].groups[0][0]
        if t.startswith("ER"):
            return t
    return None


_ID_ADDRESSES = ("0.0.0", "C.1.0", "96.1.0", "0.0", "C.1")


def meter_id(values):
    """The meter's serial/address from its values (0.0.0, C.1.0, 96.1.0), or None."""
    for want in _ID_ADDRESSES:
        for v in values:
            if v.address == want and v.value:
                return v.value
    for want in ID_OBIS:  # the same order as a DLMS reading's (meterproto.reading)
        for v in values:
            if v.obis == want and v.value:
                return v.value
    return None


def build_reading(sets, ident=None, mode=None, baud=None):
    """Data sets -> Reading; meter_id from 0.0.0/C.1.0/96.1.0, else the ident's text.

    ident is a meterproto.iec.msg.Identification or None.
    """
    r = Reading("iec62056-21", mode=mode, baud=baud)
    if ident is not None:
        r.manufacturer = ident.manufacturer
        r.ident = ident.ident()
    for v in to_values(sets):
        r.add(v)
    r.meter_id = meter_id(r.values)
    if r.meter_id is None and ident is not None:
        r.meter_id = ident.text
    return r


# -- P.01 load profile (R5 answers, programming mode, clause 6.4.5.3) ------------------------
_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_minutes(stamp, minutes):
    """Add minutes to a meter stamp `[s]YYMMDDhhmm[ss]`, keeping its form; None if unknown."""
    if not _all_digits(stamp):
        return None
    n = len(stamp)
    if n not in (10, 11, 12, 13):
        return None
    head = stamp[0] if n in (11, 13) else ""
    t = stamp[len(head):]
    yy, mo, dd = int(t[0:2]), int(t[2:4]), int(t[4:6])
    hh, mi = int(t[6:8]), int(t[8:10])
    tail = t[10:]
    if not (1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60):
        return None
    total = hh * 60 + mi + minutes
    days, rest = total // 1440, total % 1440
    dd += days
    while True:
        md = _MDAYS[mo - 1] + (1 if mo == 2 and yy % 4 == 0 else 0)
        if dd <= md:
            break
        dd -= md
        mo += 1
        if mo > 12:
            mo = 1
            yy = (yy + 1) % 100
    return "%s%02d%02d%02d%02d%02d%s" % (head, yy, mo, dd, rest // 60, rest % 60, tail)


def parse_profile(sets):
    """Data sets of a P.01 answer -> list of profile dicts (one per header).

    Header: `P.01(stamp)(status)(period)(n)(addr1)(unit1)...(addrN)(unitN)`, then one line of
    N bare values per interval; a new header follows every gap, clock change or status change.
    Each dict: {"address", "obis", "period_min", "columns": [{"address","obis","unit"}],
    "rows": [{"time", "status", "values": [...]}]}.
    """
    out = []
    cur = None
    for ds in sets:
        if ds.address.startswith("P."):
            g = ds.groups
            if len(g) < 4:
                raise DecodeError("load profile header %s has %d fields, needs at least 4"
                                  % (ds.address, len(g)))
            try:
                period = int(g[2][0])
                count = int(g[3][0])
            except ValueError:
                raise DecodeError("load profile header %s: period %r or count %r is not a "
                                  "number" % (ds.address, g[2][0], g[3][0]))
            if not (0 < period <= 44640 and 0 <= count <= GROUPS_MAX):
                raise DecodeError("load profile header %s: period %d min or %d columns is "
                                  "not believable" % (ds.address, period, count))
            cols = []
            for k in range(count):
                ai = 4 + 2 * k
                addr = g[ai][0] if ai < len(g) else ""
                unit = g[ai + 1][0] if ai + 1 < len(g) else None
                cols.append({"address": addr, "obis": address_to_obis(addr) or addr,
                             "unit": unit or None})
            cur = {"address": ds.address, "obis": address_to_obis(ds.address) or ds.address,
                   "period_min": period, "columns": cols, "rows": [], "_t": g[0][0],
                   "_st": g[1][0]}
            out.append(cur)
        elif not ds.address and cur is not None:
            t = cur["_t"]
            cur["rows"].append({"time": t, "status": cur["_st"],
                                "values": [v[0] for v in ds.groups]})
            nxt = add_minutes(t, cur["period_min"]) if t else None
            cur["_t"] = nxt if nxt is not None else ""
    for p in out:
        p.pop("_t")
        p.pop("_st")
    return out


# -- DSMR / P1 push telegrams (mode D descendants, DSMR P1 companion standard) ------------

def _is_hex(t):
    for ch in t:
        if not ("0" <= ch <= "9" or "A" <= ch <= "F" or "a" <= ch <= "f"):
            return False
    return True


def parse_p1(telegram):
    """`/ident CR LF CR LF data ! [CCCC] CR LF` -> (ident text, data sets, crc_ok).

    crc_ok is True/False when the telegram carries 4 hex digits after `!` (DSMR 4+), None
    for the bare `!` of DSMR 2.2/3 and similar meters.
    """
    if isinstance(telegram, str):
        telegram = telegram.encode()
    start = telegram.find(b"/")
    if start < 0:
        raise DecodeError("a P1 telegram starts with '/', none found")
    bang = telegram.find(b"!", start)
    if bang < 0:
        raise DecodeError("a P1 telegram ends with '!', none found")
    eol = telegram.find(b"\n", start)
    if eol < 0 or eol > bang:
        eol = bang
    ident = text7(telegram[start + 1:eol]).strip()
    sets = parse_block(telegram[eol:bang + 1])
    crc_ok = None
    tail = text7(telegram[bang + 1:bang + 5])
    if len(tail) == 4 and _is_hex(tail):
        crc_ok = crc16_arc(telegram[start:bang + 1]) == int(tail, 16)
    return ident, sets, crc_ok
