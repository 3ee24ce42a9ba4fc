# meterproto.link.cells: one value of a stored reading as a varint cell (core, both runtimes).
# Our own format (docs/STORAGE.md; used by meterproto.link.recpack). A layout says how the
# meter wrote a value: [1, width, decimals, base] decimal text (width > 0 when the meter pads
# with zeros), [2, 0, 0, base] "YYYY-MM-DD hh:mm:ss" (seconds from 2000), [0, base text] text.
# A cell is one varint t: 1 null; odd: (t >> 1) - 1 bytes of UTF-8 text follow; even: the
# number zigzag(t >> 1) plus a base; in a text cell 0 is the base text again. Encoding checks
# that the layout gives the text back exactly, else stores the text: never a changed value.
#
# API
#   layout(first text) -> layout;  base_of(layout) -> its base (number, text or None)
#   put_cell(out, text, layout, base) -> the new base (a profile's next row predicts from it)
#   get_cell(data, pos, layout, base) -> (text, new base, pos); DecodeError when malformed
#   put_varint(out, n);  get_varint(data, pos) -> (n, pos)
from meterproto.errors import DecodeError

_DAY = 86400


def put_varint(out, n):
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def get_varint(data, pos):
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


def layout(text):
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


def base_of(lay):
    return lay[3] if lay[0] else (lay[1] if len(lay) > 1 else None)


def put_cell(out, text, lay, base):
    if text is None:
        out.append(1)
        return base
    if lay[0] == 0:
        if text == base:
            out.append(0)  # the same text as the base: one byte
            return base
        b = text.encode()
        put_varint(out, ((len(b) + 1) << 1) | 1)
        out.extend(b)
        return text  # the next row's base
    n = _to_int(text, lay)
    if n is None:
        b = text.encode()
        put_varint(out, ((len(b) + 1) << 1) | 1)
        out.extend(b)
        return base
    d = n - base
    put_varint(out, (d << 2) if d >= 0 else (((-d << 1) - 1) << 1))
    return n


def get_cell(data, pos, lay, base):
    t = data[pos] if pos < len(data) else 0x80
    if t < 0x80:
        pos += 1  # one byte: most cells
    else:
        t, pos = get_varint(data, pos)
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
