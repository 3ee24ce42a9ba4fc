"""irprobe simulate: run a simulated meter on a pty (or 127.0.0.1 TCP) for real serial programs.

The first line printed is {"port": "/dev/pts/N"} (flushed): open that port with any reader.
"""
import sys

from irprobe.cli import CommandError


def add_arguments(p):
    p.add_argument("--profile", metavar="NAME", help="which simulated meter (see --list)")
    p.add_argument("--list", action="store_true", help="list the simulated meters")
    p.add_argument("--json", action="store_true", help="with --list: machine-readable, with "
                   "each meter's protocol and expected values")
    p.add_argument("--pty", action="store_true", help="serve the meter on a new pty (default)")
    p.add_argument("--tcp", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT instead "
                   "(pyserial URL socket://127.0.0.1:PORT; no line-format emulation)")
    p.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                   help="run the meter's clock X times faster (the reader needs the same "
                   "--time-scale)")
    p.add_argument("--reaction-ms", type=int, metavar="MS",
                   help="override the meter's reaction time (20-1500 ms)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help="a fault: unpowered, echo, crosstalk, asleep, address-only, "
                   "adapter-8n1, misaligned, push-9600, or a line setting echo_bit7, "
                   "client_8n1, stop_after=N, byte_error_ppm=N, drop_ppm=N (repeatable)")
    p.add_argument("--probe", action="store_true", help="simulate an irprobe probe instead "
                   "of a meter")


def run(args):
    if args.probe:
        return _probe(args)
    from irprobe.sim import profiles

    if args.list:
        return _list(profiles, args.json)
    if not args.profile:
        raise CommandError("say which meter with --profile NAME (irprobe simulate --list "
                           "shows them)")
    try:
        prof = profiles.get_profile(args.profile)
    except KeyError as e:
        raise CommandError(e.args[0])
    if args.reaction_ms is not None:
        if not 20 <= args.reaction_ms <= 1500:
            raise CommandError("--reaction-ms must be 20-1500 (IEC 62056-21 tr)")
        prof = dict(prof)
        prof["reaction_ms"] = args.reaction_ms
    if args.time_scale <= 0:
        raise CommandError("--time-scale must be above 0")
    faults, meter = _faults_and_meter(args.fault, prof, profiles)
    from irprobe.sim.pty_server import PtyServer

    try:
        server = PtyServer(meter, time_scale=args.time_scale, faults=faults, tcp_port=args.tcp)
    except OSError as e:
        raise CommandError("cannot open a %s: %s" % ("TCP port" if args.tcp is not None
                                                     else "pty", e))
    from irprobe.output import print_json

    print_json({"port": server.port})
    try:
        server.serve(args.timeout)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _faults_and_meter(specs, prof, profiles):
    """Line faults for the pty server and the meter machine. A name from the doctor's list
    (irprobe.sim.faults: crosstalk, asleep, address-only, ...) may also change the meter;
    a vline-style name (echo, stop_after=300, ...) is a line fault only."""
    from irprobe.sim.pty_server import parse_fault

    try:
        from irprobe.sim import faults as named
    except ImportError:
        named = None
    line = {}
    meter_fault = None
    for spec in specs:
        if named is not None and spec in named.FAULTS:
            line.update(named.pty_faults(spec))
            if not named.changes_meter(spec):
                continue  # a line fault only (crosstalk, echo, ...): combines with any other
            if meter_fault is not None:
                raise CommandError("only one meter fault at a time (%s and %s)"
                                   % (meter_fault, spec))
            meter_fault = spec
            continue
        try:
            name, value = parse_fault(spec)
        except ValueError as e:
            if named is not None:
                e = ValueError("%s; or one of: %s" % (e, ", ".join(named.fault_names())))
            raise CommandError(str(e))
        line[name] = value
    try:
        if meter_fault is not None and prof.get("protocol") != "dlms":
            return line, named.make_faulty_meter(meter_fault, prof)[0]
        return line, profiles.make_meter(prof)
    except KeyError as e:
        raise CommandError(e.args[0])


def _summary(p):
    from irprobe.sim.reader_options import read_args, server

    keys = ("name", "protocol", "title", "mode", "opening", "max_baud", "baud", "reaction_ms",
            "wakeup", "password", "address", "client_sap", "auth", "ek", "ak",
            "system_title", "expected", "expected_profile")
    out = {}
    for k in keys:
        if k in p:
            out[k] = p[k]
    if p.get("protocol") == "dlms":
        out["server"] = server(p)
    if "ident_text" in p:
        ident = p["manufacturer"] + p["baud_char"]
        for w in p.get("enhanced") or ():
            ident += "\\" + w
        out["ident"] = ident + p["ident_text"]
    elif "ident" in p:
        out["ident"] = p["ident"].lstrip("/")
    out["read_args"] = read_args(p)
    return out


def _list(profiles, as_json):
    items = [_summary(profiles.get_profile(n)) for n in profiles.list_profiles()]
    if as_json:
        from irprobe.output import print_json

        print_json(items)
        return 0
    # One block per meter, nothing cut: the address, password and keys are what a reader
    # needs (simulator secrets, not real ones).
    out = sys.stdout
    out.write("simulated meters (start one: irprobe simulate --profile NAME --pty)\n")
    for it in items:
        out.write("\n%s  %s\n" % (it["name"], it.get("title") or ""))
        if it.get("protocol") == "dlms":
            how = "DLMS/COSEM over HDLC, %s, %s baud" % (
                "after the IEC sign-on (mode E)" if it.get("opening") == "e" else "direct",
                it.get("baud") or 9600)
            who = "client %s, server %s, auth %s" % (it.get("client_sap", 16), it["server"],
                                                    it.get("auth") or "lowest")
        else:
            how = "IEC 62056-21 mode %s, up to %s baud, reaction %s ms" % (
                it.get("mode"), it.get("max_baud"), it.get("reaction_ms"))
            who = "address %s" % (it.get("address") or "(any)")
            if it.get("wakeup"):
                who += ", wake-up %s" % it["wakeup"]
        out.write("    %s\n    ident %s\n    %s\n" % (how, it.get("ident") or "?", who))
        secrets = []
        if it.get("password"):
            secrets.append("password %s" % it["password"])
        for k in ("ek", "ak", "system_title"):
            if it.get(k):
                secrets.append("%s %s" % (k if k != "system_title" else "system title", it[k]))
        if secrets:
            out.write("    %s\n" % ", ".join(secrets))
        out.write("    read: irprobe read --port PORT %s\n" % " ".join(it["read_args"]))
    return 0


class _Stopped(BaseException):
    """SIGTERM, SIGHUP, SIGINT: not a KeyboardInterrupt, which ProbeSim.run() takes for a
    raw Ctrl-C byte from the host (probe.usb)."""


def _stop(signum, frame):
    raise _Stopped()  # unwinds to _probe's finally, which removes the probe's folder


def _probe(args):
    """`irprobe simulate --probe --profile METER --pty`: prints {"port": ...} first.
    The probe's folder holds its records and config.json (the meter's password and keys):
    private (0700) and removed however the command ends (SIGTERM, SIGHUP, Ctrl-C)."""
    import json
    import signal

    try:
        from irprobe.sim.probe_sim import ProbeSim
    except ImportError:
        raise CommandError("simulated probe not available in this build")

    if getattr(args, "tcp", None) is not None:
        raise CommandError("the simulated probe serves a pty only (no --tcp)")
    name = getattr(args, "profile", None) or "iskra-mt174"
    sim = None
    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        try:
            sim = ProbeSim(name, prefill=getattr(args, "prefill", 0) or 0)
        except KeyError as e:
            raise CommandError(e.args[0])
        print(json.dumps({"port": sim.port, "device_id": sim.server.device_id}))
        sys.stdout.flush()
        sim.run(getattr(args, "timeout", None))
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        if sim is not None:
            sim.close()
        for s, h in old.items():
            signal.signal(s, h)
    return 0
