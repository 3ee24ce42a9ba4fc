"""irprobe.output: printing readings for people (rich tables) and programs (JSON).

Every command that prints a reading prints Reading.to_dict() with --json, or a table.
"""
import json
import sys

# What never reaches a terminal or a spreadsheet cell: C0 and C1 controls and DEL (Cc), format
# characters (Cf: bidi overrides U+202A-E/U+2066-9, zero-width, BOM), line and paragraph
# separators (Zl, Zp) and lone surrogates (Cs). Each becomes U+FFFD, so the reader sees that
# something was there.
_HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")
# A CSV cell starting with one of these is read as a formula by spreadsheet tools (OWASP "CSV
# injection"); such a cell gets a leading apostrophe, unless it is a plain number.
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def plain_text(value, limit=None):
    """Meter or probe text with every hidden or terminal-controlling character replaced by
    U+FFFD, cut to limit characters. For places that print without rich markup."""
    import unicodedata

    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "..."
    if s.isascii() and s.isprintable():
        return s  # the common case: nothing to replace
    out = []
    for ch in s:
        if ch != " " and unicodedata.category(ch) in _HIDDEN:
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def safe_text(value, limit=None):
    """Meter or probe text made safe to display in rich (tables, titles, console.print with
    markup): plain_text, then rich markup escaped. Every display of untrusted text goes
    through here or plain_text."""
    from rich.markup import escape

    return escape(plain_text(value, limit))


def _is_number(s):
    t = s[1:] if s[:1] in "+-" else s
    if not t or t.count(".") > 1:
        return False
    return t.replace(".", "", 1).isdigit() and t.isascii()


def csv_cell(value):
    """One CSV cell: plain_text, and a leading apostrophe where a spreadsheet would otherwise
    run the cell as a formula (=, +, -, @ first); decimal numbers like -0.5 stay as they are."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = plain_text(value)
    if s.startswith(_FORMULA) and not _is_number(s):
        return "'" + s
    return s


def print_json(obj, stream=None):
    stream = stream or sys.stdout
    stream.write(json.dumps(obj) + "\n")
    stream.flush()


def _console(stream=None):
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


def reading_table(d, title=None):
    """A rich Table of one reading dict (the JSON reading format); every text from the meter
    goes through safe_text (a title given by the caller is ours and is used as it is)."""
    from rich.table import Table

    m = d.get("meter") or {}
    head = title or "meter %s" % safe_text(m.get("id") or "?")
    sub = "%s  mode %s  %s baud  %s" % tuple(
        safe_text(x) for x in (d.get("protocol") or "?", d.get("mode") or "?",
                               d.get("baud") or "?", m.get("ident") or ""))
    t = Table(title=head, caption=sub.strip() if d.get("protocol") else None,
              title_justify="left", caption_justify="left")
    t.add_column("OBIS", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("unit", no_wrap=True)
    t.add_column("also", overflow="fold")
    for v in d.get("values") or ():
        if not isinstance(v, dict):
            continue
        also = []
        if v.get("address") and v.get("address") != v.get("obis"):
            also.append("as %s" % plain_text(v["address"]))
        extra = v.get("extra") or ()
        for x in extra if isinstance(extra, list) else (extra,):
            also.append(plain_text(x))
        t.add_row(safe_text(v.get("obis")), safe_text(v.get("value")), safe_text(v.get("unit")),
                  safe_text(", ".join(also)))
    return t


def print_reading(d, stream=None, title=None):
    """A reading dict as a table, then its load profiles (in the one profile shape of
    irprobe.inbound, whichever protocol read them) and notes."""
    from irprobe.inbound import Untrusted, check_reading

    con = _console(stream)
    con.print(reading_table(d, title))
    try:
        profiles = check_reading(d, for_display=True)["profiles"]
    except Untrusted as e:
        profiles = ()
        con.print("load profiles not shown: %s" % plain_text(e), markup=False)
    for p in profiles:
        every = (", every %d min" % p["period_min"]) if p["period_min"] else ""
        con.print("load profile %s: %d rows%s, columns %s"
                  % (plain_text(p["obis"]), len(p["rows"]), every,
                     ", ".join(plain_text(c["obis"]) for c in p["columns"])), markup=False)
    for n in d.get("notes") or ():
        con.print("note: " + plain_text(n), markup=False)
