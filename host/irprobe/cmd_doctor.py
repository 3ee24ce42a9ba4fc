"""irprobe doctor: find out why a meter is silent, in plain words.

Runs meterproto.doctor.Doctor (the same ladder the probe runs on a long button press)
through a serial IR head, or asks a probe to run it on its own UART (--probe).
"""
import json

from irprobe.cli import CommandError


def add_arguments(p):
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial IR head (e.g. /dev/ttyUSB0)")
    where.add_argument("--probe", metavar="PORT", help="an irprobe probe on USB: it runs the ladder itself")
    p.add_argument("--address", help="the meter's device address (serial on its nameplate)")
    p.add_argument("--loopback", action="store_true",
                   help="the head is OFF the meter: test for optical crosstalk only")
    p.add_argument("--no-hdlc", action="store_true", help="skip the direct HDLC (SNRM) step")
    p.add_argument("--no-readout", action="store_true", help="skip the readout check")
    p.add_argument("--json", action="store_true", help="machine-readable result")


def run(args):
    if args.probe:
        result = _on_probe(args)
    else:
        result = _on_port(args)
    if args.json:
        print(json.dumps(result))
    else:
        _print(result)
    return 0 if result["verdict"] == "ok" else 1


def _on_port(args):
    from meterproto.doctor import Doctor
    from meterproto.driver import run as drive
    from meterproto.errors import ProtocolError

    try:
        from irprobe.serialport import SerialPort
    except ImportError:
        raise CommandError("serial support is not installed (pyserial)")
    try:
        port = SerialPort(args.port)
    except OSError as e:
        raise CommandError("cannot open %s: %s" % (args.port, getattr(e, "strerror", e) or e))
    doc = Doctor(address=args.address, loopback=args.loopback, try_hdlc=not args.no_hdlc,
                 readout_check=not args.no_readout)
    try:
        return drive(doc, port)
    except ProtocolError as e:
        raise CommandError(str(e))
    finally:
        port.close()


def _on_probe(args):
    try:
        from irprobe.probelink import open_probe
    except ImportError:
        raise CommandError("the probe link is not available in this build")
    with open_probe(args.probe) as probe:
        return probe.doctor(address=args.address, loopback=args.loopback)


def _print(result):
    try:
        from rich.console import Console

        c = Console()
        for s in result["steps"]:
            c.print("  [dim]%-28s[/dim] %-16s %s" % (s["step"], s["finding"], s.get("detail", "")))
        style = "bold green" if result["verdict"] == "ok" else "bold red"
        c.print("[%s]%s[/%s]: %s" % (style, result["verdict"], style, result["text"]))
    except ImportError:
        for s in result["steps"]:
            print("  %-28s %-16s %s" % (s["step"], s["finding"], s.get("detail", "")))
        print("%s: %s" % (result["verdict"], result["text"]))
