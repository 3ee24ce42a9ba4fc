"""irprobe decode: name every message in captured meter bytes, check every checksum and
point out the classic mistakes. irprobe.capture reads the file, irprobe.explain is the one
decoder; this module only picks the input and prints.
"""
import sys

from irprobe.cli import CommandError

FORMAT_HELP = """\
capture formats (any mix, one line each; # starts a comment):
  > /?!                        we sent, as text: CR LF is added, write lines as you see them
  < /LGZ5\\2ZMD3104407.B32      the meter sent
  < <STX>1.8.0(1.5*kWh)<ETX>   control bytes as <STX> <ETX> <ACK> <NAK> <SOH> <EOT> <CR> <LF>
                               or \\x03; a line with ETX or EOT gets no CR LF (a BCC follows)
  TX: 7E A0 07 03 21 93 0F 01  hex, also 7EA007..., 7E:A0:..., 0x7E,0xA0,...
  RX: 7E A0 07 21 03 73 01 40  directions: > < >> << -> <- TX RX sent received
  12:00:01.234 RX: 7E A0 ...   a time stamp first ([...], 2026-11-25 12:00:01, 1.234)
  00000000  7e a0 07 21 ...    hexdump -C and xxd lines: received bytes
  a line with no direction is received; a file that is not text is the received bytes
exit status: 0 decoded, 1 a checksum is wrong, 2 not a capture (with the byte offset)"""


def add_arguments(p):
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = FORMAT_HELP
    p.add_argument("file", nargs="?", help="capture file ('-' for standard input)")
    p.add_argument("--hex", help="bytes as hex instead of a file (taken as received)")
    p.add_argument("--sent", metavar="HEX", help="with --hex: the bytes sent just before "
                   "them (so echo and unanswered requests are recognised)")
    p.add_argument("--json", action="store_true", help="machine-readable result")


# Received raw bytes are a capture only if recognised messages and frames cover this share.
_COVERED = 0.6


def parse_capture(data):
    """Capture bytes -> [(direction, bytes)]; CommandError when it is not a capture."""
    from irprobe.capture import NotACapture, parse

    try:
        return parse(data)
    except NotACapture as e:
        raise CommandError(str(e))


def decode(chunks):
    """(direction, bytes) chunks -> {"frames", "findings", "values", "bcc_errors",
    "protocols"}: explain's frames, plus the values the data blocks carry."""
    from irprobe.explain import explain

    result = explain(chunks)
    values = []
    protocols = []
    bad = 0
    for f in result["frames"]:
        values.extend(f.get("values") or ())
        if f["protocol"] in ("iec62056-21", "hdlc") and f["protocol"] not in protocols:
            if f["kind"] not in ("garbage", "truncated", "nul", "damaged"):
                protocols.append(f["protocol"])
        if f["check"] == "bad":
            bad += 1
    result["values"] = values
    result["bcc_errors"] = bad
    result["protocols"] = protocols
    return result


def not_a_capture(chunks, result):
    """Why raw received bytes are no capture (with the offset), or None."""
    total = sum(len(b) for _, b in chunks)
    good = [f for f in result["frames"] if _recognised(f)]
    covered = sum(f.get("len", 0) for f in good)
    if good and covered >= _COVERED * total:
        return None
    # where it gave up: the first byte after the run of recognised messages at the start
    data = b"".join(b for _, b in chunks)
    offset = 0
    for f in result["frames"]:
        raw = bytes.fromhex(f["hex"]) if f.get("hex") else b""
        if f in good and raw and data.find(raw, offset) == offset:
            offset += f["len"]
        else:
            break
    return ("not a capture: %s (gave up at byte %d)"
            % ("no IEC 62056-21 message and no HDLC frame in %d bytes" % total if not good else
               "only %d of %d bytes are IEC 62056-21 messages or HDLC frames"
               % (covered, total), offset))


def _recognised(f):
    """A frame that shows the bytes are meter traffic: intact, and a text line only if it
    is text (7-bit printable, as 7E1 read as 8N1 gives it)."""
    if f["kind"] in ("garbage", "truncated", "nul", "damaged") or f["check"] == "bad":
        return False
    if f["protocol"] == "echo":
        return False
    if f["kind"] in ("line", "identification", "data", "command"):
        raw = bytes(b & 0x7F for b in bytes.fromhex(f.get("hex") or ""))
        if f["kind"] in ("data", "command"):
            raw = raw[1:-2]  # STX/SOH ... ETX/EOT BCC: the text between
        text = raw.replace(b"\r\n", b"").rstrip(b"\x02")
        return bool(text) and all(0x20 <= b < 0x7F for b in text)
    return True


def _read_input(args):
    from irprobe.capture import hex_bytes

    if args.hex is not None:
        if args.file:
            raise CommandError("give a file or --hex, not both")
        got = hex_bytes(args.hex)
        if got is None:
            raise CommandError("--hex wants hex digits like '02 31 2E 38 03 ..'")
        chunks = [("<", got)]
        if args.sent:
            sent = hex_bytes(args.sent)
            if sent is None:
                raise CommandError("--sent wants hex digits like '7E A0 07 ..'")
            chunks.insert(0, (">", sent))
        return chunks, False
    if args.sent:
        raise CommandError("--sent goes with --hex (a capture file marks sent lines with >)")
    if not args.file:
        raise CommandError("give a capture FILE or --hex HEX (see irprobe decode --help)")
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                data = f.read()
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (args.file, e.strerror or e))
    if not data.strip():
        raise CommandError("nothing to decode: %s is empty" % args.file)
    chunks = parse_capture(data)
    raw = len(chunks) == 1 and chunks[0][1] == data
    return chunks, raw


def run(args):
    chunks, raw = _read_input(args)
    if not any(len(b) for _, b in chunks):
        raise CommandError("nothing to decode: the input is empty")
    result = decode(chunks)
    if raw:  # a file of bytes as they came: only if most of it decodes
        why = not_a_capture(chunks, result)
        if why is not None:
            raise CommandError(why)
    if args.json:
        from irprobe.output import print_json

        print_json(result)
    else:
        _print(result)
    return 1 if result["bcc_errors"] else 0


def _print(result):
    from rich.console import Console

    from irprobe.output import plain_text, reading_table

    con = Console(file=sys.stdout, highlight=False)
    arrows = {">": "sent     >", "<": "received <"}
    for f in result["frames"]:
        con.print("%s %s" % (arrows.get(f["dir"], "?"), plain_text(f["text"])), markup=False)
    if result["values"]:
        con.print(reading_table({"values": result["values"]}, title="values"))
    for fd in result["findings"]:
        con.print("! %s: %s" % (plain_text(fd["code"]), plain_text(fd["text"])), markup=False)
    if result["bcc_errors"]:
        con.print("%d message(s) with a wrong checksum: the bytes were damaged on the way "
                  "(hold the head steady, shade it)" % result["bcc_errors"], markup=False)

