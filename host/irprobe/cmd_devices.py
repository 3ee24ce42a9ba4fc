"""irprobe devices: connected RP2040 boards, and whether the irprobe firmware answers."""

import json

# USB ids: Raspberry Pi's MicroPython CDC, and Adafruit's (CircuitPython and their boards).
RPI_VID, MICROPYTHON_PID = 0x2E8A, 0x0005
ADAFRUIT_VID = 0x239A


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--timeout", type=float, default=1.0, help="seconds to wait for each board's hello"
    )
    p.add_argument("--no-hello", action="store_true", help="only list, do not talk to the boards")


def kind(port):
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    if vid == RPI_VID and pid == MICROPYTHON_PID:
        return "MicroPython"
    if vid == RPI_VID:
        return "RP2040 (pid %04X)" % pid if pid is not None else "RP2040"
    if vid == ADAFRUIT_VID:
        return "Adafruit (CircuitPython?)"
    return None


def find_boards(comports=None):
    """[{port, kind, serial, description}] for every RP2040-looking USB serial port."""
    if comports is None:
        from serial.tools import list_ports

        comports = list_ports.comports()
    out = []
    for p in comports:
        k = kind(p)
        if k:
            out.append(
                {
                    "port": p.device,
                    "kind": k,
                    "serial": getattr(p, "serial_number", None),
                    "description": getattr(p, "description", None),
                }
            )
    return sorted(out, key=lambda d: d["port"])


def hello_info(port, timeout):
    """The running firmware's hello as {"version", "device"}, or None when it does not answer
    in time. Only the running app is asked: a board busy elsewhere is not interrupted."""
    from irprobe.cmd_take import storage_info
    from irprobe.probelink import LinkError, ProbeLink, clean

    try:
        with ProbeLink.open(port, timeout=timeout, raw_repl=False) as link:
            h = link.info
            info = {
                "version": clean(h.get("firmware"), 32),
                "device": clean(h.get("device_id"), 64),
            }
            room = storage_info(h)
            if room is not None:
                info["storage"] = room  # how full, in readings
            return info
    except (LinkError, OSError):
        return None


def run(args, comports=None, hello=None):
    boards = find_boards(comports)
    hello = hello or hello_info
    for b in boards:
        b["irprobe"] = None if args.no_hello else hello(b["port"], args.timeout)
    if args.json:
        print(json.dumps(boards, indent=1))
        return 0
    if not boards:
        print("no RP2040 board found (MicroPython boards show up as USB 2E8A:0005)")
        return 0
    from rich.console import Console
    from rich.table import Table

    from irprobe.cmd_take import room_text
    from irprobe.output import safe_text

    t = Table(title="RP2040 boards")
    for c in ("port", "board", "serial number", "irprobe firmware"):
        t.add_column(c)
    for b in boards:
        fw = b["irprobe"]
        fw_text = (
            ("v%s (device %s)%s" % (fw["version"], fw["device"],
                                    room_text(fw.get("storage"))))
            if fw
            else ("not checked" if args.no_hello else "no answer")
        )
        t.add_row(
            safe_text(b["port"], 200),
            safe_text(b["kind"]),
            safe_text(b["serial"] or "?", 200),
            safe_text(fw_text, 200),
        )
    Console().print(t)
    return 0
