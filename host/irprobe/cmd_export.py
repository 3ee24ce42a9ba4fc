"""irprobe export: stored readings as CSV or JSON (values stay decimal text with units)."""

import csv
import json
import sys

FIELDS = ("meter", "device", "seq", "taken_at", "obis", "value", "unit", "time", "profile")


def add_arguments(p):
    p.add_argument(
        "--db", help="readings database: a file, or postgresql://user@host/db for a fleet "
        "(default: ~/.local/share/irprobe/readings.sqlite)"
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--meter", help="only this meter id")
    p.add_argument(
        "--since", help="only readings taken at or after this time (UTC), e.g. 2026-11-01"
    )
    p.add_argument("--out", help="write to this file instead of standard output")


def export_rows(store, meter=None, since=None):
    from irprobe.db import iso

    rows = store.rows(meter=meter, since=since)
    for r in rows:
        r["taken_at"] = iso(r["taken_at"])
    return rows


def write(rows, fmt, fh):
    if fmt == "json":
        json.dump(rows, fh, indent=1)
        fh.write("\n")
        return
    from irprobe.output import csv_cell

    w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_cell(r.get(k)) for k in FIELDS})


def run(args):
    from irprobe.cli import CommandError
    from irprobe.db import command_store, parse_time

    since = None
    if args.since:
        try:
            since = parse_time(args.since)
        except ValueError as e:
            raise CommandError(str(e))
    from irprobe.dbfile import existing

    with command_store(existing(args.db)) as store:
        rows = export_rows(store, args.meter, since)
        known = [m for m, _t, _v in store.latest()] if not rows else []
    if not rows:
        if args.meter and args.meter not in known:
            raise CommandError("no meter %r in the database (known: %s)"
                               % (args.meter, ", ".join(known) or "none yet"))
        raise CommandError("no readings %s%s" % (
            "of meter %r " % args.meter if args.meter else "",
            "since %s" % args.since if args.since else "in the database yet"))
    if args.out:
        try:
            with open(args.out, "w", newline="", encoding="utf-8") as fh:
                write(rows, args.format, fh)
        except OSError as e:
            raise CommandError("cannot write %s: %s" % (args.out, e.strerror or e))
        print("%d %s written to %s" % (len(rows), "value" if len(rows) == 1 else "values",
                                       args.out), file=sys.stderr)
    else:
        write(rows, args.format, sys.stdout)
    return 0
