"""irprobe export: stored readings as CSV or JSON (values stay decimal text with units)."""

import csv
import json
import sys

FIELDS = ("meter", "device", "seq", "taken_at", "obis", "value", "unit", "time", "profile")


def add_arguments(p):
    p.add_argument(
        "--db", help="readings database (default: ~/.local/share/irprobe/readings.sqlite)"
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
    from irprobe.db import open_store, parse_time

    since = None
    if args.since:
        try:
            since = parse_time(args.since)
        except ValueError as e:
            raise CommandError(str(e))
    store = open_store(args.db)
    try:
        rows = export_rows(store, args.meter, since)
    finally:
        store.close()
    if args.out:
        try:
            with open(args.out, "w", newline="", encoding="utf-8") as fh:
                write(rows, args.format, fh)
        except OSError as e:
            raise CommandError("cannot write %s: %s" % (args.out, e.strerror or e))
        print("%d values written to %s" % (len(rows), args.out), file=sys.stderr)
    else:
        write(rows, args.format, sys.stdout)
    return 0
