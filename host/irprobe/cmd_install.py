"""irprobe install: put the firmware on a MicroPython board (or flash MicroPython first)."""

import os
import sys
import time


def add_arguments(p):
    p.add_argument("--board", help="board file name from boards/ (pico, pico_w, xiao_rp2040, ...)")
    p.add_argument("--port", help="the board's serial port (default: the only RP2040 board found)")
    p.add_argument(
        "--carrier", action="store_true", help="enable the 38 kHz carrier LED (non-IEC heads only)"
    )
    p.add_argument(
        "--source", action="store_true", help="copy .py source instead of compiled .mpy"
    )
    p.add_argument(
        "--uf2",
        metavar="FILE",
        help="first flash this MicroPython UF2 onto a board in BOOTSEL mode",
    )
    p.add_argument("--drive", help="the RPI-RP2 drive (default: found among mounted drives)")
    p.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the board after flashing"
    )
    p.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the board's REPL"
    )


def _only_board():
    from irprobe.cli import CommandError
    from irprobe.cmd_devices import find_boards

    boards = find_boards()
    if len(boards) == 1:
        return boards[0]["port"]
    if not boards:
        raise CommandError("no RP2040 board found; plug it in, or give --port")
    raise CommandError(
        "several boards found (%s): choose one with --port" % ", ".join(b["port"] for b in boards)
    )


def flash_uf2(args, log):
    """Flash the UF2; return the serial port the board comes back on."""
    from irprobe import uf2
    from irprobe.cli import CommandError
    from irprobe.cmd_devices import find_boards

    drive = args.drive
    if drive is None:
        drives = uf2.find_drives()
        if not drives:
            raise CommandError(
                "no RPI-RP2 drive found: hold BOOTSEL while plugging the board in "
                "(or give --drive PATH)"
            )
        if len(drives) > 1:
            raise CommandError(
                "several RPI-RP2 drives found (%s): choose one with --drive" % ", ".join(drives)
            )
        drive = drives[0]
    before = {b["port"] for b in find_boards()}
    try:
        info = uf2.flash(args.uf2, drive)
    except uf2.UF2Error as e:
        raise CommandError(str(e))
    log(
        "flashed %s (%d blocks, %d bytes at 0x%08X) onto %s"
        % (os.path.basename(args.uf2), info["blocks"], info["payload"], info["start"], drive)
    )
    end = time.monotonic() + args.wait
    while time.monotonic() < end:
        if args.port:
            if os.path.exists(args.port):
                return args.port
        else:
            new = [b["port"] for b in find_boards() if b["port"] not in before]
            if new:
                return new[0]
        time.sleep(0.2)
    raise CommandError(
        "the board's serial port did not appear within %.0f s after flashing: "
        "unplug and replug it, then run install without --uf2" % args.wait
    )


def run(args):
    from irprobe import installer
    from irprobe.cli import CommandError

    def log(msg):
        print(msg, file=sys.stderr)

    if not args.board:
        raise CommandError("say which board this is with --board (see the boards/ folder)")
    try:
        installer.board_file(args.board, args.carrier)  # fail early, before flashing anything
    except installer.InstallError as e:
        raise CommandError(str(e))
    port = args.port
    if args.uf2:
        port = flash_uf2(args, log)
    elif not port:
        port = _only_board()

    def hello(p):
        """The running app's hello; else the command server through the raw REPL."""
        from irprobe.cmd_devices import hello_info
        from irprobe.probelink import LinkError, ProbeLink, clean

        deadline = time.monotonic() + max(args.timeout, 2.0)
        while time.monotonic() < deadline:
            h = hello_info(p, 5.0)  # a slow board builds its USB server first
            if h:
                h["app"] = True
                return h
            time.sleep(0.3)
        try:
            with ProbeLink.open(p, timeout=2.0, raw_repl=True) as link:
                return {
                    "version": clean(link.info.get("firmware"), 32),
                    "device": clean(link.info.get("device_id"), 64),
                    "app": False,
                }
        except (LinkError, OSError):
            return None

    try:
        res = installer.install(
            port, args.board, args.carrier, args.source, log=log, hello=hello, timeout=args.timeout
        )
    except installer.InstallError as e:
        raise CommandError(str(e))
    fw = res["firmware"]
    if not fw:
        raise CommandError(
            "installed and verified, but the firmware did not answer after the "
            "restart: run `irprobe devices`, or look at the board's REPL "
            "(mpremote connect %s repl)" % port
        )
    if not fw["app"]:
        raise CommandError(
            "installed and verified; the firmware's command server answers "
            "(firmware v%s, device %s), but the reader app did not start on its "
            "own: look at the board's REPL for the error (mpremote connect %s "
            "repl) and check --board" % (fw["version"], fw["device"], port)
        )
    print(
        "irprobe firmware v%s answers on %s (device %s)"
        % (res["firmware"]["version"], port, res["firmware"]["device"])
    )
    return 0
