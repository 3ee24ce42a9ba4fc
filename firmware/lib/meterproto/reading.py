# meterproto.reading: one meter reading as data, shared by IEC, DLMS, storage and host (core).
# Values stay as the meter's decimal text plus unit, never float (RP2040 floats are single
# precision). to_dict() is the JSON reading format every command prints.


# The meter's identity, the same whatever the protocol (IEC 62056-21 text addresses map to
# OBIS without A and B, IEC 62056-6-1): its device ID (0.0.0), else its serial number
# (C.1.0 = 0-0:96.1.0), else the COSEM logical device name (0-0:42.0.0). The first present.
ID_OBIS = ("1-0:0.0.0*255", "0-0:0.0.0*255", "0-0:96.1.0*255", "0-0:96.1.1*255",
           "0-0:42.0.0*255")


class Value:
    """One value: canonical OBIS (or the meter's own address when it has no OBIS form)."""

    def __init__(self, obis, value, unit=None, address=None, extra=None, time=None):
        self.obis = obis
        self.value = value  # decimal text exactly as the meter sent it (or scaled exactly)
        self.unit = unit
        self.address = address  # the address as written by the meter, e.g. "1.8.0"
        self.extra = extra  # further (...) groups of the same data set, as text
        self.time = time  # capture time text where the meter gave one

    def to_dict(self):
        d = {"obis": self.obis, "value": self.value, "unit": self.unit}
        if self.address is not None and self.address != self.obis:
            d["address"] = self.address
        if self.extra:
            d["extra"] = list(self.extra)
        if self.time is not None:
            d["time"] = self.time
        return d

    def __repr__(self):
        return "Value(%r, %r, %r)" % (self.obis, self.value, self.unit)


class Reading:
    """A whole reading: who the meter is, how it was read, and its values."""

    def __init__(self, protocol, meter_id=None, manufacturer=None, ident=None, mode=None,
                 baud=None):
        self.protocol = protocol  # "iec62056-21" or "dlms"
        self.meter_id = meter_id
        self.manufacturer = manufacturer
        self.ident = ident
        self.mode = mode
        self.baud = baud
        self.values = []
        self.objects = None  # DLMS association view, list of dicts
        self.profiles = None  # load profiles, list of dicts
        self.notes = []  # plain-words remarks (echo seen, baud stepped down, ...)

    def add(self, value):
        self.values.append(value)

    def get(self, obis):
        for v in self.values:
            if v.obis == obis or v.address == obis:
                return v
        return None

    def to_dict(self):
        d = {
            "meter": {"id": self.meter_id, "manufacturer": self.manufacturer, "ident": self.ident},
            "protocol": self.protocol,
            "mode": self.mode,
            "baud": self.baud,
            "values": [v.to_dict() for v in self.values],
        }
        if self.objects is not None:
            d["objects"] = self.objects
        if self.profiles is not None:
            d["profiles"] = self.profiles
        if self.notes:
            d["notes"] = list(self.notes)
        return d

    @classmethod
    def from_dict(cls, d):
        m = d.get("meter") or {}
        r = cls(d.get("protocol"), m.get("id"), m.get("manufacturer"), m.get("ident"),
                d.get("mode"), d.get("baud"))
        for v in d.get("values") or ():
            r.add(Value(v.get("obis"), v.get("value"), v.get("unit"), v.get("address"),
                        v.get("extra"), v.get("time")))
        r.objects = d.get("objects")
        r.profiles = d.get("profiles")
        r.notes = list(d.get("notes") or ())
        return r
