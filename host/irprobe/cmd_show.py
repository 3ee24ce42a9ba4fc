"""irprobe show: the latest stored reading of every meter, as a table."""


def add_arguments(p):
    p.add_argument(
        "--db", help="readings database: a file, or postgresql://user@host/db for a fleet "
        "(default: ~/.local/share/irprobe/readings.sqlite)"
    )


def run(args):
    from rich.console import Console
    from rich.table import Table

    from irprobe.cli import CommandError
    from irprobe.db import command_store, iso
    from irprobe.dbfile import existing
    from irprobe.output import safe_text

    with command_store(existing(args.db)) as store:
        latest = store.latest()
        conflicts = store.conflicts()
    if not latest:
        raise CommandError("no readings stored yet: run `irprobe sync` first")
    con = Console()
    for meter_id, taken_at, values in latest:
        # Meter ids and values come from the device: safe_text, so they cannot inject markup.
        t = Table(
            title="meter %s, read %s"
            % (safe_text(meter_id), iso(taken_at) or "at an unknown time")
        )
        t.add_column("OBIS")
        t.add_column("value", justify="right")
        t.add_column("unit")
        for v in values:
            t.add_row(safe_text(v["obis"]), safe_text(v["value"]), safe_text(v["unit"]))
        con.print(t)
    if conflicts:
        con.print(
            "note: %d records came again from a probe under a number already stored, with "
            "other content; they are kept apart (table conflicts), the first copy is shown"
            % len(conflicts),
            markup=False,
        )
    return 0
