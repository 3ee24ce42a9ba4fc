"""irprobe.output: printing readings for people (rich tables) and programs (JSON).

Every command that prints a reading prints Reading.to_dict() with --json, or a table.
"""
import json
import sys

# C0 and C1 controls, DEL, and the bidi/format characters that reorder or hide text
# (U+061C, U+200E/F, U+202A-E, U+2066-9): none of them may reach a terminal or a cell.
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x061C, 0x200E, 0x200F}


def safe_text(value):
    """Meter or probe text made safe to display: controls and bidi overrides become
    U+FFFD, rich markup is escaped. Every display of untrusted text goes through here."""
    from rich.markup import escape

    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    out = []
    for ch in s:
        c = ord(ch)
        if c < 0x20 or 0x7F <= c < 0xA0 or c in _BIDI or 0xD800 <= c < 0xE000:
            out.append("\ufffd")
        else:
            out.append(ch)
    return escape("".join(out))


def print_json(obj, stream=None):
    stream = stream or sys.stdout
    stream.write(json.dumps(obj) + "\n")
    stream.flush()


def _console(stream=None):
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


def reading_table(d, title=None):
    """A rich Table of one reading dict (the JSON reading format)."""
    from rich.table import Table

    m = d.get("meter") or {}
    head = title or "meter %s" % (m.get("id") or "?")
    sub = "%s  mode %s  %s baud  %s" % (d.get("protocol") or "?", d.get("mode") or "?",
                                        d.get("baud") or "?", m.get("ident") or "")
    t = Table(title=head, caption=sub.strip() if d.get("protocol") else None,
              title_justify="left", caption_justify="left")
    t.add_column("OBIS", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("unit", no_wrap=True)
    t.add_column("also", overflow="fold")
    for v in d.get("values") or ():
        also = []
        if v.get("address") and v.get("address") != v.get("obis"):
            also.append("as " + v["address"])
        for x in v.get("extra") or ():
            also.append(x)
        t.add_row(v.get("obis") or "", v.get("value") or "", v.get("unit") or "",
                  ", ".join(also))
    return t


def print_reading(d, stream=None, title=None):
    """A reading dict as a table, then its load profiles (first rows) and notes."""
    con = _console(stream)
    con.print(reading_table(d, title))
    for p in d.get("profiles") or ():
        rows = p.get("rows") or []
        cols = p.get("columns") or p.get("capture_objects") or ()
        names = [c.get("obis") or c.get("address") or "" for c in cols]
        every = (", every %s min" % p["period_min"]) if p.get("period_min") else ""
        con.print("load profile %s: %d rows%s, columns %s"
                  % (p.get("obis") or p.get("address") or "", len(rows), every,
                     ", ".join(names)), markup=False)
    for n in d.get("notes") or ():
        con.print("note: " + n, markup=False)
