# meterproto.dlms.cosem: the COSEM object model pieces a reader needs (IEC 62056-6-2 "Blue Book"):
# class ids, units, exact scaling, date-time, association object_list, capture objects and
# selective-access descriptors (core). Values stay exact decimal text, never float.
# Names for people (class, access mode) and kilo scaling are in cosem_text; the SN
# association object_list is in sn.
from meterproto import obis
from meterproto.dlms import axdr
from meterproto.compat import hexlify
from meterproto.errors import DecodeError, LocalProtocolError

DATA = 1
REGISTER = 3
EXTENDED_REGISTER = 4
DEMAND_REGISTER = 5
PROFILE_GENERIC = 7
CLOCK = 8
ASSOCIATION_SN = 12
ASSOCIATION_LN = 15

CLOCK_OBIS = "0-0:1.0.0*255"
ASSOCIATION_OBIS = "0-0:40.0.0*255"

# Unit enumeration (Blue Book, class 3 scaler_unit); 255 = a count, no unit.
UNITS = {
    1: "a", 2: "mo", 3: "wk", 4: "d", 5: "h", 6: "min", 7: "s", 8: "\u00b0", 9: "\u00b0C",
    10: "currency", 11: "m", 12: "m/s", 13: "m3", 14: "m3", 15: "m3/h", 16: "m3/h",
    17: "m3/d", 18: "m3/d", 19: "l", 20: "kg", 21: "N", 22: "Nm", 23: "Pa", 24: "bar",
    25: "J", 26: "J/h", 27: "W", 28: "VA", 29: "var", 30: "Wh", 31: "VAh", 32: "varh",
    33: "A", 34: "C", 35: "V", 36: "V/m", 37: "F", 38: "\u03a9", 39: "\u03a9m2/m", 40: "Wb",
    41: "T", 42: "A/m", 43: "H", 44: "Hz", 45: "1/(Wh)", 46: "1/(varh)", 47: "1/(VAh)",
    48: "V2h", 49: "A2h", 50: "kg/s", 51: "S", 52: "K", 53: "1/(V2h)", 54: "1/(A2h)",
    55: "1/m3", 56: "%", 57: "Ah", 60: "Wh/m3", 61: "J/m3", 62: "Mol %", 63: "g/m3",
    64: "Pa s", 65: "J/kg", 70: "dBm", 71: "dB\u00b5V", 72: "dB", 254: "other", 255: "",
}


def unit_text(unit):
    if unit is None:
        return None
    return UNITS.get(unit, "unit %d" % unit)


# ---- exact scaling ----

def shift_decimal(text, places):
    """Move the decimal point of a decimal text: ("58276", -3) -> "58.276", ("12", 2) -> "1200".
    Digits after the point are kept (they are the meter's resolution)."""
    neg = text[:1] == "-"
    if neg:
        text = text[1:]
    if "." in text:
        ip, fp = text.split(".", 1)
    else:
        ip, fp = text, ""
    digits = ip + fp
    point = len(ip) + places
    if point <= 0:
        digits = "0" * (1 - point) + digits
        point = 1
    elif point > len(digits):
        digits += "0" * (point - len(digits))
    ip, fp = digits[:point].lstrip("0") or "0", digits[point:]
    out = ip + ("." + fp if fp else "")
    if neg and out.strip("0.") != "":
        out = "-" + out
    return out


def apply_scaler(int_value, scaler):
    """Exact value x 10^scaler as decimal text: (58276, -3) -> "58.276", (12, 2) -> "1200"."""
    if not isinstance(int_value, int) or isinstance(int_value, bool):
        raise LocalProtocolError("only integers take a scaler, not %r" % (int_value,))
    return shift_decimal(str(int_value), scaler)


def parse_scaler_unit(value):
    """Decoded scaler_unit structure (or its encoded bytes) -> (scaler, unit)."""
    if isinstance(value, (bytes, bytearray)):
        value = axdr.decode_whole(value)
    if (not isinstance(value, tuple) or len(value) != 2 or not isinstance(value[0], int)
            or not isinstance(value[1], int)):
        raise DecodeError("scaler_unit is not a structure of scaler and unit")
    scaler = value[0]
    if scaler > 127:  # a meter that sends the scaler as unsigned
        scaler -= 256
    return scaler, value[1]


# ---- date and time (Blue Book 4.1.6.1) ----

class DateTime:
    """A COSEM date-time (12 bytes); unspecified fields are None."""

    def __init__(self, raw):
        raw = bytes(raw)
        if len(raw) != 12:
            raise DecodeError("a date-time has 12 bytes, got %d" % len(raw))
        self.raw = raw
        y = (raw[0] << 8) | raw[1]
        self.year = None if y == 0xFFFF else y
        self.month = None if raw[2] == 0xFF else raw[2]  # 0xFD/0xFE: DST end/begin (schedules)
        self.day = None if raw[3] == 0xFF else raw[3]  # 0xFD/0xFE: 2nd last/last day of month
        self.weekday = None if raw[4] == 0xFF else raw[4]
        self.hour = None if raw[5] == 0xFF else raw[5]
        self.minute = None if raw[6] == 0xFF else raw[6]
        self.second = None if raw[7] == 0xFF else raw[7]
        self.hundredths = None if raw[8] == 0xFF else raw[8]
        d = (raw[9] << 8) | raw[10]
        # deviation: minutes UTC minus local time (CET winter = -60), 0x8000 unspecified
        self.deviation = None if d == 0x8000 else (d - 0x10000 if d & 0x8000 else d)
        self.status = None if raw[11] == 0xFF else raw[11]

    @property
    def dst(self):
        return bool(self.status is not None and self.status & 0x80)

    @property
    def text(self):
        """"2022-01-01 00:00:00"; unspecified fields are stars, hundredths only when set."""
        def f(v, w):
            return "*" * w if v is None else "%0*d" % (w, v)
        t = "%s-%s-%s %s:%s:%s" % (f(self.year, 4), f(self.month, 2), f(self.day, 2),
                                   f(self.hour, 2), f(self.minute, 2), f(self.second, 2))
        if self.hundredths:
            t += ".%02d" % self.hundredths
        return t

    @property
    def iso(self):
        """ISO 8601 with the UTC offset when the meter gave a deviation."""
        t = self.text.replace(" ", "T")
        if self.deviation is not None:
            off = -self.deviation
            sign = "+" if off >= 0 else "-"
            off = abs(off)
            t += "%s%02d:%02d" % (sign, off // 60, off % 60)
        return t

    def to_dict(self):
        return {"time": self.text, "deviation": self.deviation, "status": self.status,
                "dst": self.dst}

    def __repr__(self):
        return "DateTime(%r, deviation=%r, status=%r)" % (self.text, self.deviation, self.status)


def decode_datetime(raw):
    """12 bytes (octet-string contents or 0x19 value) -> DateTime."""
    return DateTime(raw)


def encode_datetime(year=None, month=None, day=None, hour=None, minute=None, second=None,
                    hundredths=None, deviation=None, status=None, dow=None):
    """-> the 12 raw bytes; None means "not specified" (0xFF, 0xFFFF, deviation 0x8000).
    Wrap with axdr.enc_octets() (the usual form) or axdr.enc_datetime()."""
    def b(v):
        return 0xFF if v is None else v
    y = 0xFFFF if year is None else year
    dv = 0x8000 if deviation is None else deviation & 0xFFFF
    for v in (month, day, dow, hour, minute, second, hundredths, status):
        if v is not None and not 0 <= v <= 255:
            raise LocalProtocolError("date-time field %r out of range" % v)
    return bytes((y >> 8, y & 0xFF, b(month), b(day), b(dow), b(hour), b(minute), b(second),
                  b(hundredths), dv >> 8, dv & 0xFF, b(status)))


# ---- association object_list (class 15 attribute 2, class 12 attribute 2) ----

def _array(value, what):
    """Encoded bytes or an already decoded value -> the list an array attribute holds."""
    if isinstance(value, (bytes, bytearray)):
        value = axdr.decode_whole(value)
    if not isinstance(value, list):
        raise DecodeError("%s is not an array" % what)
    return value


def _int(v, what):
    if isinstance(v, bool):
        return 1 if v else 0  # method access_mode is a boolean in version 0 associations
    if not isinstance(v, int):
        raise DecodeError("%s is not a number" % what)
    return v


def _entry(e, name_at):
    # a structure of 4 with the 6-byte logical name at position name_at
    return (isinstance(e, tuple) and len(e) == 4 and isinstance(e[name_at], bytes)
            and len(e[name_at]) == 6)


def parse_object_list(value):
    """object_list (encoded bytes or decoded list) -> list of
    {"obis", "class_id", "version", "attributes": [{"id", "access", "selectors"}],
     "methods": [{"id", "access"}]}."""
    value = _array(value, "object_list")
    out = []
    for n, e in enumerate(value):
        if not _entry(e, 2):
            raise DecodeError("object_list entry %d is not {class_id, version, logical_name,"
                              " access_rights}" % (n + 1))
        obj = {"obis": obis.from_bytes(e[2]), "class_id": _int(e[0], "class_id"),
               "version": _int(e[1], "version"), "attributes": [], "methods": []}
        rights = e[3]
        if (not isinstance(rights, tuple) or len(rights) < 1 or not isinstance(rights[0], list)
                or (len(rights) > 1 and not isinstance(rights[1], (list, type(None))))):
            raise DecodeError("object_list entry %d has no valid access rights" % (n + 1))
        for a in rights[0]:
            if not isinstance(a, tuple) or len(a) < 2:
                raise DecodeError("bad attribute access in object_list entry %d" % (n + 1))
            sel = a[2] if len(a) > 2 and isinstance(a[2], list) else None
            obj["attributes"].append({"id": _int(a[0], "attribute id"),
                                      "access": _int(a[1], "access mode"), "selectors": sel})
        for m in (rights[1] if len(rights) > 1 and rights[1] else []):
            if not isinstance(m, tuple) or len(m) < 2:
                raise DecodeError("bad method access in object_list entry %d" % (n + 1))
            obj["methods"].append({"id": _int(m[0], "method id"),
                                   "access": _int(m[1], "access mode")})
        out.append(obj)
    return out


def readable(obj, attr):
    """True when the object_list entry says attribute attr may be read by this client."""
    for a in obj["attributes"]:
        if a["id"] == attr:
            return a["access"] in (1, 3, 4, 6)
    return False


# ---- profile generic (class 7) ----

def parse_capture_objects(value):
    """capture_objects (attribute 3) -> list of {"class_id", "obis", "attr", "data_index"}."""
    value = _array(value, "capture_objects")
    out = []
    for n, e in enumerate(value):
        if not _entry(e, 1):
            raise DecodeError("capture object %d is not {class_id, logical_name, attribute,"
                              " data_index}" % (n + 1))
        out.append({"class_id": _int(e[0], "class_id"), "obis": obis.from_bytes(e[1]),
                    "attr": _int(e[2], "attribute index"), "data_index": _int(e[3], "data index")})
    return out


def capture_object(class_id, obis_text, attr, data_index=0):
    """Encoded capture object definition {class_id, logical_name, attribute, data_index}."""
    return axdr.enc_struct([axdr.enc_uint16(class_id), axdr.enc_octets(obis.to_bytes(obis_text)),
                            axdr.enc_int8(attr), axdr.enc_uint16(data_index)])


def _dt_bytes(v):
    if isinstance(v, DateTime):
        return v.raw
    if isinstance(v, (bytes, bytearray)) and len(v) == 12:
        return bytes(v)
    raise LocalProtocolError("a range limit must be a DateTime or 12 date-time bytes")


def range_descriptor(from_time, to_time, restricting=None, selected=()):
    """Selective access selector 1 parameters (encoded Data).

    from_time/to_time: 12 date-time bytes (encode_datetime) or DateTime; restricting: encoded
    capture object (default the clock {8, 0-0:1.0.0*255, 2, 0}); selected: encoded capture
    objects of the columns wanted (empty = all)."""
    if restricting is None:
        restricting = capture_object(CLOCK, CLOCK_OBIS, 2, 0)
    return axdr.enc_struct([restricting, axdr.enc_octets(_dt_bytes(from_time)),
                            axdr.enc_octets(_dt_bytes(to_time)), axdr.enc_array(list(selected))])


def entry_descriptor(from_entry=1, to_entry=0, from_column=1, to_column=0):
    """Selective access selector 2 parameters: entries 1-based, 0 = up to the last."""
    return axdr.enc_struct([axdr.enc_uint32(from_entry), axdr.enc_uint32(to_entry),
                            axdr.enc_uint16(from_column), axdr.enc_uint16(to_column)])


# ---- values to text ----

def _printable(b):
    for c in b:
        if c < 0x20 or c > 0x7E:
            return False
    return len(b) > 0


def looks_like_datetime(b):
    """Meters send date-times as plain 12-byte octet-strings; tell them from other bytes."""
    if len(b) != 12:
        return False
    return ((1 <= b[2] <= 12 or b[2] >= 0xFD) and (1 <= b[3] <= 31 or b[3] >= 0xFD)
            and (b[5] <= 23 or b[5] == 0xFF) and (b[6] <= 59 or b[6] == 0xFF)
            and (b[7] <= 59 or b[7] == 0xFF) and (b[8] <= 99 or b[8] == 0xFF))


def value_text(tv):
    """A decode_typed() value -> short text for display and JSON (exact, no floats)."""
    tag, v = tv
    if v is None:
        return ""
    if tag in (axdr.ARRAY, axdr.STRUCTURE):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    if tag == axdr.COMPACT_ARRAY:
        return "[" + ", ".join(value_text(x) for x in v[1]) + "]"
    if tag == axdr.DATE_TIME or (tag == axdr.OCTET_STRING and looks_like_datetime(v)):
        return DateTime(v).text
    if tag == axdr.BOOLEAN:
        return "true" if v else "false"
    if tag == axdr.BIT_STRING:
        n, data = v
        return "".join("1" if data[i >> 3] & (0x80 >> (i & 7)) else "0" for i in range(n))
    if isinstance(v, (bytes, bytearray)):
        if _printable(v):
            return bytes(v).decode()
        return hexlify(v, "")
    return str(v)
