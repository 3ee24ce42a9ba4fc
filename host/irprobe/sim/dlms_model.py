# irprobe.sim.dlms_model: the COSEM object model a simulated DLMS meter serves (host sim,
# core subset). IEC 62056-6-2 interface classes 1 (data), 3 (register), 4 (extended register),
# 7 (profile generic), 8 (clock), 15 (association LN); values built from a profile's data.
from irprobe.sim import axdr_encode as enc
from meterproto.obis import to_bytes

# Data-Access-Result codes (IEC 62056-5-3, data-access-result).
DAR_READ_WRITE_DENIED = 3
DAR_OBJECT_UNDEFINED = 4
DAR_CLASS_INCONSISTENT = 9
DAR_OBJECT_UNAVAILABLE = 11
DAR_OTHER = 250

ASSOCIATION_LN = "0-0:40.0.0*255"
CLOCK = "0-0:1.0.0*255"

# Readable attributes per class (attribute 1, logical_name, is always readable).
_ATTRS = {1: (1, 2), 3: (1, 2, 3), 4: (1, 2, 3, 4, 5), 7: (1, 2, 3, 4, 7, 8), 8: (1, 2, 3, 4),
          15: (1, 2)}
_VERSION = {1: 0, 3: 0, 4: 0, 7: 1, 8: 0, 15: 1}


# -- calendar: civil date <-> day number (proleptic Gregorian, days since 1970-01-01) ------

def days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse_time(text):
    """'YYYY-MM-DD HH:MM[:SS]' -> seconds since 1970 (local meter time, no zone)."""
    date, _, clock = text.partition(" ")
    y, m, d = [int(x) for x in date.split("-")]
    parts = [int(x) for x in clock.split(":")] if clock else [0, 0]
    if len(parts) < 3:
        parts.append(0)
    return days_from_civil(y, m, d) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def date_time_bytes(secs, deviation=-0x8000, status=0):
    """Seconds since 1970 -> the 12-byte COSEM date-time (IEC 62056-6-2 4.1.6.1)."""
    days, rest = divmod(secs, 86400)
    y, m, d = civil_from_days(days)
    dow = (days + 3) % 7 + 1  # 1970-01-01 was a Thursday; 1 = Monday
    dev = deviation & 0xFFFF
    return bytes((y >> 8, y & 0xFF, m, d, dow, rest // 3600, (rest // 60) % 60, rest % 60, 0,
                  dev >> 8, dev & 0xFF, status))


def date_time_secs(raw):
    """12-byte date-time -> seconds since 1970, or None when the date is not specified."""
    if len(raw) != 12:
        return None
    y = (raw[0] << 8) | raw[1]
    if y == 0xFFFF or raw[2] > 12 or raw[3] > 31 or raw[2] == 0 or raw[3] == 0:
        return None
    hh = raw[5] if raw[5] < 24 else 0
    mm = raw[6] if raw[6] < 60 else 0
    ss = raw[7] if raw[7] < 60 else 0
    return days_from_civil(y, raw[2], raw[3]) * 86400 + hh * 3600 + mm * 60 + ss


# -- values ---------------------------------------------------------------------------

_ENC = {"u8": enc.enc_uint8, "u16": enc.enc_uint16, "u32": enc.enc_uint32,
        "u64": enc.enc_uint64, "i8": enc.enc_int8, "i16": enc.enc_int16,
        "i32": enc.enc_int32, "i64": enc.enc_int64, "enum": enc.enc_enum,
        "bool": enc.enc_bool, "visible": enc.enc_visible}


def enc_value(typed):
    """("u32", 5) / ("octets", "hex or text") / ("visible", "text") -> A-XDR bytes."""
    kind, v = typed
    if kind == "octets":
        return enc.enc_octets(v.encode() if isinstance(v, str) else v)
    return _ENC[kind](v)


def _capture_def(class_id, obis, attr):
    return enc.enc_struct([enc.enc_uint16(class_id), enc.enc_octets(to_bytes(obis)),
                            enc.enc_int8(attr), enc.enc_uint16(0)])


def profile_rows(lp):
    """The rows of a load profile description: [(secs, [column values...]), ...].

    Deterministic, so a test can say what the meter holds: one row per capture period from
    "first"; energy rises by 100..190 Wh per period; the status is 8 every 17th row.
    """
    rows = []
    t = parse_time(lp["first"])
    energy = lp["energy0"]
    for i in range(lp["entries"]):
        energy += 100 + (i * 37) % 91
        rows.append((t, [8 if i % 17 == 16 else 0, energy]))
        t += lp["period"]
    return rows


class CosemModel:
    """The objects of one simulated meter, and GET answers as encoded Data or a DAR."""

    def __init__(self, profile):
        self.profile = profile
        self.dev = profile.get("deviation", -60)
        self.objects = {}  # obis -> description dict
        self.order = []
        for o in profile["objects"]:
            self.objects[o["obis"]] = o
            self.order.append(o["obis"])
        if ASSOCIATION_LN not in self.objects:
            self.objects[ASSOCIATION_LN] = {"obis": ASSOCIATION_LN, "class": 15}
            self.order.insert(0, ASSOCIATION_LN)
        self._rows = {}

    def rows(self, obis):
        if obis not in self._rows:
            self._rows[obis] = profile_rows(self.objects[obis])
        return self._rows[obis]

    # -- association view (class 15 attribute 2) --------------------------------------
    def object_list(self):
        items = []
        for obis in self.order:
            o = self.objects[obis]
            cid = o["class"]
            attrs = []
            for a in range(1, _max_attr(cid) + 1):
                mode = 1 if a in _ATTRS[cid] else 0
                sel = enc.enc_null()
                if cid == 7 and a == 2:
                    sel = enc.enc_array([enc.enc_int8(1), enc.enc_int8(2)])
                attrs.append(enc.enc_struct([enc.enc_int8(a), enc.enc_enum(mode), sel]))
            rights = enc.enc_struct([enc.enc_array(attrs), enc.enc_array([])])
            items.append(enc.enc_struct([enc.enc_uint16(cid), enc.enc_uint8(_VERSION[cid]),
                                          enc.enc_octets(to_bytes(obis)), rights]))
        return enc.enc_array(items)

    # -- GET -----------------------------------------------------------------------------
    def get(self, class_id, obis, attr, selector=None, params=None):
        """-> (True, encoded Data) or (False, data-access-result)."""
        o = self.objects.get(obis)
        if o is None:
            return False, DAR_OBJECT_UNDEFINED
        if o["class"] != class_id:
            return False, DAR_CLASS_INCONSISTENT
        if attr not in _ATTRS[class_id]:
            return False, DAR_READ_WRITE_DENIED if attr <= _max_attr(class_id) else DAR_OBJECT_UNDEFINED
        if attr == 1:
            return True, enc.enc_octets(to_bytes(obis))
        if selector is not None and not (class_id == 7 and attr == 2):
            return False, DAR_OTHER
        if class_id == 15:
            return True, self.object_list()
        if class_id == 1 or (class_id in (3, 4) and attr == 2):
            if o.get("value") is None:
                return False, DAR_OBJECT_UNAVAILABLE  # e.g. a sensor that is not fitted
            return True, enc_value(o["value"])
        if class_id in (3, 4) and attr == 3:
            return True, enc.enc_struct([enc.enc_int8(o["scaler"]), enc.enc_enum(o["unit"])])
        if class_id == 4:
            if attr == 4:
                return True, enc.enc_null()
            return True, enc.enc_octets(date_time_bytes(parse_time(o["capture_time"]), self.dev))
        if class_id == 8:
            if attr == 2:
                return True, enc.enc_octets(date_time_bytes(parse_time(o["time"]), self.dev))
            if attr == 3:
                return True, enc.enc_int16(self.dev)
            return True, enc.enc_uint8(0)
        return self._profile(o, attr, selector, params)

    def _profile(self, o, attr, selector, params):
        cols = o["columns"]
        if attr == 3:
            return True, enc.enc_array([_capture_def(c[1], c[0], c[2]) for c in cols])
        if attr == 4:
            return True, enc.enc_uint32(o["period"])
        if attr in (7, 8):
            return True, enc.enc_uint32(o["entries"])
        rows = self.rows(o["obis"])
        if selector == 1:  # range_descriptor: from and to both inclusive (one common reading)
            try:
                lo = date_time_secs(params[1])
                hi = date_time_secs(params[2])
            except (TypeError, IndexError):
                return False, DAR_OTHER
            if lo is None or hi is None:
                return False, DAR_OTHER
            rows = [r for r in rows if lo <= r[0] <= hi]
        elif selector == 2:  # entry_descriptor: 1-based, to_entry 0 = up to the last
            try:
                first, last = params[0], params[1]
            except (TypeError, IndexError):
                return False, DAR_OTHER
            if last == 0 or last > len(rows):
                last = len(rows)
            rows = rows[max(first, 1) - 1:last]
        elif selector is not None:
            return False, DAR_OTHER
        out = []
        for t, vals in rows:
            cells = [enc.enc_octets(date_time_bytes(t, self.dev))]
            kinds = o.get("kinds", ("u8", "u32"))
            for i in range(len(vals)):
                cells.append(enc_value((kinds[i], vals[i])))
            out.append(enc.enc_struct(cells))
        return True, enc.enc_array(out)


def _max_attr(class_id):
    return {1: 2, 3: 3, 4: 5, 7: 8, 8: 9, 15: 11}[class_id]
