"""irprobe doctor: find out why a meter is silent, in plain words.

Runs meterproto.doctor.ladder.Doctor (the same ladder the probe runs on a long button press)
through a serial IR head, or asks a probe to run it on its own UART (--probe), where it
runs with the IR carrier off and on when the board has one.
"""
import json

from irprobe.cli import CommandError


def add_arguments(p):
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial IR head (e.g. /dev/ttyUSB0, a simulator's "
                       "/dev/pts/N or socket://host:port)")
    where.add_argument("--probe", metavar="PORT",
                       help="an irprobe probe on USB: it runs the ladder itself")
    p.add_argument("--address", help="the meter's device address (serial on its nameplate)")
    p.add_argument("--loopback", action="store_true",
                   help="the head is OFF the meter: test for optical crosstalk only")
    p.add_argument("--wakeup", choices=("standard", "fast", "none"), default="standard",
                   help="wake-up train tried for battery meters (none: skip that step)")
    p.add_argument("--no-hdlc", action="store_true", help="skip the direct HDLC (SNRM) step")
    p.add_argument("--no-readout", action="store_true", help="skip the readout check")
    p.add_argument("--json", action="store_true", help="machine-readable result")


def _options(args):
    from meterproto.errors import LocalProtocolError
    from meterproto.iec.msg import sign_on

    if args.address:
        try:
            sign_on(args.address)
        except LocalProtocolError as e:
            raise CommandError(str(e))
    return {"address": args.address or None, "loopback": args.loopback,
            "try_hdlc": not args.no_hdlc, "readout_check": not args.no_readout,
            "wakeup": None if args.wakeup == "none" else args.wakeup}


def run(args):
    opts = _options(args)
    if args.probe:
        result = _on_probe(args, opts)
    else:
        result = _on_port(args, opts)
    if args.json:
        print(json.dumps(result))
    else:
        _print(result)
    return 0 if result["verdict"] == "ok" else 1


def _on_port(args, opts):
    from meterproto.doctor.ladder import Doctor
    from irprobe.cmd_read import drive_on_port

    from irprobe.progress import Display, wanted

    # No echo filter here: the doctor wants to see the echo (meterproto.doctor.ladder).
    with Display(wanted(args.json), "doctor") as shown:
        return drive_on_port(Doctor(**opts), args.port, progress=shown, silence_hint=False)


def _on_probe(args, opts):
    try:
        from irprobe.probelink import open_link
        from meterproto.link import channel as H
    except ImportError:
        raise CommandError("the probe link is not available in this build")
    cmd = getattr(H, "CMD_DOCTOR", None)
    if cmd is None:
        raise CommandError("this build's probe link has no doctor command")
    from irprobe.progress import Display, wanted

    link = open_link(args.probe)
    try:
        link.hello()
        req = {"address": opts["address"], "loopback": opts["loopback"],
               "try_hdlc": opts["try_hdlc"], "readout_check": opts["readout_check"],
               "wakeup": opts["wakeup"]}
        with Display(wanted(args.json), "doctor on the probe") as shown:
            shown.update("the probe runs the ladder")
            # Two ladders (carrier off and on) can take a minute at 300 baud.
            return link.call(link.host.request(cmd, req), timeout=150.0, retries=1)
    except H.DeviceError as e:
        raise CommandError("the probe could not run the doctor: %s" % e.message)
    except H.LinkError as e:
        raise CommandError(str(e))
    finally:
        link.bye()
        link.close()


def _print(result):
    """Findings may come from the probe (DOCTOR) and quote meter bytes: plain_text."""
    from rich.console import Console

    from irprobe.output import plain_text as p

    c = Console(highlight=False)
    for label, r in _parts(result):
        if label:
            c.print(p(label), style="bold", markup=False)
        for s in r.get("steps") or ():
            c.print("  %-28s %-16s %s" % (p(s.get("step")), p(s.get("finding")),
                                          p(s.get("detail"))),
                    markup=False)
        if label:
            c.print("  %s: %s" % (p(r.get("verdict")), p(r.get("text"))), markup=False)
    style = "bold green" if result["verdict"] == "ok" else "bold red"
    c.print(p(result.get("verdict")) + ": ", style=style, markup=False, end="")
    c.print(p(result.get("text")), markup=False)


def _parts(result):
    """(label, result) pairs: the carrier-off and carrier-on runs of a probe, or just one."""
    runs = result.get("carrier")
    if isinstance(runs, dict) and runs:
        return [("carrier %s" % k, runs[k]) for k in ("off", "on") if k in runs]
    return [("", result)]
