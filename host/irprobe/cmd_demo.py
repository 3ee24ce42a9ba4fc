"""irprobe demo: read built-in simulated meters end to end over the simulated-time virtual line.

The same client the probe runs (meterproto) talks to each simulated meter (irprobe.sim) byte
by byte at the real baud rates; only the clock is simulated, so it takes well under a second.
"""
import time

from irprobe.cli import CommandError

DEFAULT = ("iskra-mt174", "elster-as1440", "dlms-direct")


def add_arguments(p):
    p.add_argument("--meters", metavar="NAMES", help="comma-separated simulated meters, or "
                   "'all' (default: %s; see irprobe simulate --list)" % ",".join(DEFAULT))
    p.add_argument("--json", action="store_true", help="print the readings as a JSON list")
    p.add_argument("--story", metavar="DIR", nargs="?", const="demo-out",
                   help="then the whole probe story: a simulated probe reads meters, "
                   "irprobe sync pulls, show prints, plot writes a PNG into DIR "
                   "(default demo-out)")


def _session(profile):
    from irprobe.sim import profiles

    if profile.get("protocol") == "dlms":
        from meterproto.session.auto import AutoSession
        from irprobe.sim.reader_options import session_options

        return AutoSession(mode="auto", **session_options(profile))
    from meterproto.iec.client import IecClient

    return IecClient(**profiles.client_options(profile))


def read_one(name):
    """(reading dict, simulated ms, real ms) for one simulated meter."""
    from meterproto.driver import run as drive
    from meterproto.errors import ProtocolError
    from irprobe.sim import profiles
    from irprobe.sim.vline import VirtualLine

    prof = profiles.get_profile(name)
    line = VirtualLine(profiles.make_meter(prof))
    t = time.monotonic()
    try:
        reading = drive(_session(prof), line)
    except ProtocolError as e:
        raise CommandError("reading the simulated meter %s failed: %s" % (name, e))
    return reading.to_dict(), line.now_ms(), int((time.monotonic() - t) * 1000)


def run(args):
    from irprobe import output
    from irprobe.sim import profiles

    known = profiles.list_profiles()
    if args.meters and args.meters.strip() == "all":
        names = list(known)
    elif args.meters:
        names = [n.strip() for n in args.meters.split(",") if n.strip()]
    else:
        names = [n for n in DEFAULT if n in known]
    for n in names:
        if n not in known:
            raise CommandError("no simulated meter %r; known: %s" % (n, ", ".join(known)))
    results = []
    for n in names:
        d, sim_ms, real_ms = read_one(n)
        results.append((n, d, sim_ms, real_ms))
    if args.json:
        output.print_json([d for _, d, _, _ in results])
        return 0
    from rich.console import Console

    con = Console(highlight=False)
    for n, d, sim_ms, real_ms in results:
        title = "%s  (%s)" % (n, profiles.get_profile(n).get("title") or d["protocol"])
        output.print_reading(d, title=title)
        con.print("read in %.1f s of line time (simulated), %d ms of real time\n"
                  % (sim_ms / 1000.0, real_ms), markup=False)
    if args.story:
        from irprobe.demo_story import run_story

        con.rule("the handheld probe: take, sync, show, plot")
        r = run_story(args.story)
        con.print("database %s, CSV %s, plot %s" % (r["db"], r["csv"], r["png"]), markup=False)
    return 0
