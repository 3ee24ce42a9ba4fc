# irprobe.record_rows: one record from a probe, checked once and laid out as the rows the
# database stores (host only). Two makers: rows_of() takes any reading dict through the one
# check of irprobe.inbound; irprobe.packed_rows builds the same rows straight from version 2
# packed readings (docs/STORAGE.md, "Sync"). irprobe.db stores either without checking again.
import json

from irprobe.inbound import Untrusted, check_reading

# The stored text of a reading: the reading as the probe sent it, keys sorted (json.dumps).
DUMPS = json.JSONEncoder(sort_keys=True).encode


class RecordRows:
    """seq, taken_at (unix s or None), digest (hex or None), text (the stored JSON), meter
    (id, manufacturer, ident), protocol, mode, baud; columns: five equal-length sequences
    (obis, value, unit, address, time) of the values table; profiles as irprobe.inbound
    gives them."""

    __slots__ = ("seq", "taken_at", "digest", "text", "meter", "protocol", "mode", "baud",
                 "columns", "profiles")
    gap_to = None  # a reading, not a gap notice (meterproto.link.records.Record)

    def __init__(self, seq, taken_at, digest, text, meter, protocol, mode, baud, columns,
                 profiles):
        self.seq = seq
        self.taken_at = taken_at
        self.digest = digest
        self.text = text
        self.meter = meter
        self.protocol = protocol
        self.mode = mode
        self.baud = baud
        self.columns = columns
        self.profiles = profiles

    def values(self):
        """The value rows as dicts (tests, and whoever wants them one by one)."""
        keys = ("obis", "value", "unit", "address", "time")
        return [dict(zip(keys, row)) for row in zip(*self.columns)]


def rows_of(seq, taken_at, reading, digest=None):
    """RecordRows of one record (seq, unix time, reading dict, digest bytes); raises
    Untrusted in plain words when any part cannot be stored as it is."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 1 << 32:
        raise Untrusted("record sequence number %r is out of range" % (seq,))
    if taken_at is not None and (
        isinstance(taken_at, bool)
        or not isinstance(taken_at, int)
        or not 0 <= taken_at < 1 << 40
    ):
        raise Untrusted("record %d has an impossible time %r" % (seq, taken_at))
    if not isinstance(reading, dict):
        raise Untrusted("record %d holds no reading" % seq)
    r = check_reading(reading, "record %d" % seq)  # the one check (irprobe.inbound)
    m = r["meter"]
    vs = r["values"]
    columns = tuple([v[k] for v in vs] for k in ("obis", "value", "unit", "address", "time"))
    return RecordRows(seq, taken_at, bytes(digest).hex() if digest else None,
                      DUMPS(reading),  # stored as the probe sent it
                      (m["id"], m["manufacturer"], m["ident"]), r["protocol"], r["mode"],
                      r["baud"], columns, r["profiles"])
