"""irprobe.capture: a capture file as people save them -> [(direction, bytes)].

Recognised (any mix, line by line; blank lines and lines starting with # are skipped):
  - a direction, then the bytes:  `> 7E A0 07 ...`, `< /ISk5MT174-0001`, `TX: 06 30 35 30`,
    `RX: ...`, `->`/`<-`, `>>`/`<<`, `sent`/`received`; a time stamp may come first
    (`12:00:01.234`, `2026-11-25 12:00:01`, `[12:00:01]`) or right after the direction;
  - the bytes as hex (`7E A0 07`, `7EA007`, `7E:A0:07`, `0x7E,0xA0`), as a hex dump line
    (`hexdump -C`, `xxd`, with offsets and the text column), or as text where control
    bytes are written <STX>, <ETX>, <ACK>, <CR>, <LF>, ... or \\xHH. A text line is one line
    of the protocol: CR LF is added unless the line already ends in one, or holds ETX/EOT
    (a block whose check character follows), so `< /LGZ5\\2ZMD` is written as it is read;
  - lines with no direction are received bytes (a readout copied from a terminal);
  - a file that is not text is taken as received bytes as they are.
Anything else is NotACapture, with the byte offset where reading gave up.
"""
import re

NAMES = {"NUL": 0, "SOH": 1, "STX": 2, "ETX": 3, "EOT": 4, "ACK": 6, "NAK": 0x15,
         "CR": 13, "LF": 10, "BCC": None}
_HEX = set("0123456789abcdefABCDEF")

# time stamps a serial monitor puts first: dates, clock times, seconds since start
_STAMP = re.compile(r"(\d{4}[-/.]\d\d[-/.]\d\d[T ]?)?(\d\d?:\d\d(:\d\d)?([.,]\d+)?)Z?\s+|"
                    r"\d+[.,]\d+\s+")
_BRACKET = re.compile(r"[\[(][^\])]*[\])]\s*")
_DIRS = (("received", "<"), ("sent", ">"), ("recv", "<"), ("send", ">"), ("rx", "<"),
         ("tx", ">"), ("<<", "<"), (">>", ">"), ("<-", "<"), ("->", ">"), ("<", "<"),
         (">", ">"))
_DUMP = re.compile(r"([0-9a-fA-F]{4,8}):?\s+")


class NotACapture(ValueError):
    def __init__(self, offset, why):
        ValueError.__init__(self, "not a capture: %s (gave up at byte %d)" % (why, offset))
        self.offset = offset


def hex_bytes(text):
    """b'...' for hex in the usual spellings, or None."""
    t = text.strip()
    if not t:
        return None
    t = re.sub(r"0[xX]([0-9a-fA-F]{1,2})", r"\1", t)
    parts = [p for p in re.split(r"[\s:,;-]+", t) if p]
    if not parts:
        return None
    if len(parts) > 1 and all(len(p) in (1, 2) and set(p) <= _HEX for p in parts):
        return bytes(int(p, 16) for p in parts)
    joined = "".join(parts)
    if len(joined) % 2 or not set(joined) <= _HEX:
        return None
    if len(parts) == 1 and len(joined) < 4 and len(t) != 2:
        return None
    return bytes.fromhex(joined)


def _dump_line(s):
    """Bytes of a `hexdump -C` / `xxd` line (offset, hex groups, text column), or None."""
    m = _DUMP.match(s)
    if not m:
        return None
    rest = s[m.end():]
    if "|" in rest:
        rest = rest.split("|", 1)[0]
    else:
        cut = re.search(r"\s{2,}\S", rest.rstrip())
        if cut:  # xxd: the text column starts after two spaces
            rest = rest[:cut.start()]
    groups = rest.split()
    if not groups or not all(set(g) <= _HEX and len(g) % 2 == 0 for g in groups):
        return None
    return bytes.fromhex("".join(groups))


def text_bytes(text):
    """Text with <NAME> and \\xHH escapes -> bytes (a lone backslash is data: `\\2`)."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "<":
            j = text.find(">", i)
            name = text[i + 1:j].upper() if j > i else ""
            if name in NAMES and NAMES[name] is not None:
                out.append(NAMES[name])
                i = j + 1
                continue
        if ch == "\\" and text[i + 1:i + 2] == "x" and hex_bytes(text[i + 2:i + 4] + " 00"):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        out.extend(ch.encode("latin-1", "replace"))
        i += 1
    return bytes(out)


def _line_bytes(body):
    b = hex_bytes(body)
    if b is not None:
        return b
    b = text_bytes(body.strip())
    if b and not b.endswith(b"\r\n") and b"\x03" not in b and b"\x04" not in b \
            and b[-1:] not in (b"\x06", b"\x15"):
        b += b"\r\n"
    return b


def _direction(s):
    m = re.match(r"<([A-Za-z]{2,3})>", s)
    if m and m.group(1).upper() in NAMES:
        return None, s  # <STX>... is text with a control byte, not a direction
    low = s.lower()
    for word, d in _DIRS:
        if low.startswith(word):
            rest = s[len(word):]
            if word.isalpha():
                if rest[:1] not in (":", " ", "\t", ">", "]", ")"):
                    continue
            rest = rest.lstrip(":]) \t")
            if rest[:1] == ">" and word.isalpha():
                rest = rest[1:]
            return d, rest
    return None, s


def _strip_stamps(s):
    for _ in range(2):
        m = _BRACKET.match(s) or _STAMP.match(s)
        if not m:
            break
        s = s[m.end():]
    return s


def _iec_text(b):
    """A line with no direction that reads as IEC 62056-21 text."""
    t = b.rstrip(b"\r\n")
    if not t:
        return False
    if t[:1] in (b"/", b"\x02", b"\x01", b"\x06", b"\x15", b"!"):
        return True
    return b"(" in t and t.rstrip(b"\x03").endswith(b")") or t.endswith(b")!")


def parse(data):
    """Capture bytes -> [(direction, bytes)]; NotACapture when the input is none."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or _binary(text):
        return [("<", bytes(data))]
    chunks = []
    offset = 0
    for raw in text.splitlines(True):
        here = offset
        offset += len(raw.encode("utf-8"))
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        b = _dump_line(s)
        if b is not None:
            chunks.append(("<", b))
            continue
        body = _strip_stamps(s)
        d, body = _direction(body)
        body = _strip_stamps(body)
        if d is not None:
            chunks.append((d, _line_bytes(body)))
            continue
        b = hex_bytes(body)
        if b is not None:
            chunks.append(("<", b))
            continue
        b = _line_bytes(body)
        if _iec_text(b):
            chunks.append(("<", b))
            continue
        raise NotACapture(here, "line %r is no sent/received line, no hex and no IEC "
                          "62056-21 text" % s[:40])
    if not chunks:
        raise NotACapture(0, "nothing but blank lines and comments")
    return chunks


def _binary(text):
    """Control characters other than tab, CR and LF: raw bytes saved from the line."""
    for ch in text[:65536]:
        if ord(ch) < 0x20 and ch not in "\t\r\n":
            return True
    return False
