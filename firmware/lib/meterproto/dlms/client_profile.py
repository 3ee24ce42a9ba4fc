# meterproto.dlms.client_profile: the load-profile half of the DLMS client (core, both
# runtimes): which rows to ask for (IEC 62056-6-2 4.3.6 profile generic, by range or by entry
# with selective/parameterized access, IEC 62056-5-3 9.3) and the rows as they arrive, kept as
# A-XDR bytes and turned into scaled texts at the end. A mixin of dlms.client.DlmsClient: it
# works on the client's state and asks through its _get().
from meterproto.compat import const
from meterproto.dlms import axdr
from meterproto.errors import LocalProtocolError

CLOCK = "0-0:1.0.0*255"
_SELECTIVE_ACCESS = const(0x0004)  # conformance bit 21 (LN)
_PARAMETERIZED_ACCESS = const(0x0020)  # conformance bit 18 (SN)
_MAX_RESERVE = const(1024)  # rows reserved at most (8 KB on a 64-bit port)


class ProfileReader:
    def _reserve(self, n):
        """Room for n rows in one piece, taken before the rows' small texts fill the heap: a
        list grown row by row needs ever larger contiguous blocks from a fragmented heap.
        (On MicroPython, deleting a list's items keeps its room.)"""
        rows = [None] * (n if n < _MAX_RESERVE else _MAX_RESERVE)
        del rows[:]
        self._profile["rows"] = rows

    def _start_profile(self, obis, now_ms):
        from meterproto.dlms import cosem

        caps = self._vals.get((obis, 3))
        cols = cosem.parse_capture_objects(caps) if isinstance(caps, bytes) else []
        self._profile = {"obis": obis, "capture_objects": cols, "rows": []}
        self._listed = False
        # per column, worked out once: the register scaler (class 3/4 value) and whether it
        # is the clock (class 8), whose text is the row's time stamp
        self._cols = []  # a loop, not a comprehension: one C stack frame less on the rp2
        for c in cols:
            self._cols.append((self._column_scaler(c), c["class_id"] == 8))
        lo, hi = self._range(obis)
        # selective access (LN, bit 21) or parameterized access (SN, bit 18)
        selective = self.conformance & (
            _PARAMETERIZED_ACCESS if self.sn is not None else _SELECTIVE_ACCESS)
        if selective and self.profile_entries and obis not in self.checkpoint:
            first, last = self.profile_entries
            self._get([(7, obis, 2, 2, cosem.entry_descriptor(first, last))], now_ms)
        elif lo is not None and selective:
            params = cosem.range_descriptor(_dt_raw(lo), _dt_raw(hi))
            self._get([(7, obis, 2, 1, params)], now_ms)
        else:
            self._get([(7, obis, 2)], now_ms)

    def _column_scaler(self, col):
        if col["class_id"] in (3, 4) and col["attr"] == 2:
            su = self._scaler_unit(col["obis"])
            if su is not None:
                return su[0]
        return None

    def _range(self, obis):
        """(from, to) date-time texts for the range descriptor, or (None, None) for all."""
        lo = self.checkpoint.get(obis) or self.profile_from
        hi = self.profile_to
        clock = self.reading.get(CLOCK)
        if hi is None:
            hi = clock.value if clock is not None and clock.value[:1].isdigit() else "9999-12-31 23:59:59"
        if lo is None:
            if clock is None or not clock.value[:1].isdigit():
                return None, None
            lo = _day_before(hi)
        return lo, hi

    def _add_row(self, row, buf, start, end):
        """One decoded profile entry (a structure of captured values). Until its transfer
        ends it is kept as its A-XDR bytes buf[start:end], a third of the room of its texts
        and one piece instead of six; only its time stamp is worked out now (checkpoint)."""
        from meterproto.dlms import cosem

        p = self._profile
        cells = row[1] if row[0] == axdr.STRUCTURE else (row,)
        stamp = None
        for j in range(len(cells)):
            if j < len(self._cols) and self._cols[j][1]:  # the first clock column
                stamp = cosem.value_text(cells[j])
                break
        done = self.checkpoint.get(p["obis"])
        if stamp is not None and done is not None and stamp <= done:
            return  # stored by an earlier, interrupted session
        p["rows"].append(buf[start:end])
        if stamp is not None:
            self.checkpoint[p["obis"]] = stamp
        self._list_profile()

    def _row_texts(self):
        """The kept rows of the profile in flight -> rows of texts (the reading format), in
        place, so each row's bytes can go as its texts take the room."""
        from meterproto.dlms import cosem

        p = self._profile
        if p is None:
            return
        rows = p["rows"]
        cols = self._cols
        for i in range(len(rows)):
            raw = rows[i]
            if not isinstance(raw, bytes):
                continue
            row = axdr.decode_typed(raw)[0]
            row = row[1] if row[0] == axdr.STRUCTURE else (row,)
            cells = []
            for j in range(len(row)):
                tv = row[j]
                scaler = cols[j][0] if j < len(cols) else None
                v = tv[1]
                if scaler is not None and isinstance(v, int) and not isinstance(v, bool):
                    cells.append(cosem.apply_scaler(v, scaler))
                else:
                    cells.append(cosem.value_text(tv))
            rows[i] = cells

    def _list_profile(self):
        if not self._listed:
            self._listed = True
            if self.reading.profiles is None:
                self.reading.profiles = []
            self.reading.profiles.append(self._profile)

    def _profile_done(self):
        self._row_texts()
        self._list_profile()
        self._profile = None
        self._cols = None


def _dt_raw(text):
    """"YYYY-MM-DD HH:MM:SS" -> 12 date-time bytes, deviation and weekday unspecified (B.13:
    some meters refuse a specified deviation in a range; hundredths 0, not 0xFF)."""
    from meterproto.dlms import cosem

    try:
        y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
        hh, mm, ss = int(text[11:13]), int(text[14:16]), int(text[17:19] or 0)
    except ValueError:
        raise LocalProtocolError("a profile time is YYYY-MM-DD HH:MM:SS, not %r" % (text,))
    return cosem.encode_datetime(y, mo, d, hh, mm, ss, 0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _day_before(text):
    """The same time one calendar day earlier (text form)."""
    y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    d -= 1
    if d == 0:
        mo -= 1
        if mo == 0:
            mo = 12
            y -= 1
        d = _MONTH_DAYS[mo - 1]
        if mo == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0):
            d = 29
    return "%04d-%02d-%02d%s" % (y, mo, d, text[10:])
