"""irprobe show: the latest stored reading of every meter, as a table."""


def add_arguments(p):
    p.add_argument(
        "--db", help="readings database (default: ~/.local/share/irprobe/readings.sqlite)"
    )


def run(args):
    from rich.console import Console
    from rich.table import Table

    from irprobe.db import iso, open_store
    from irprobe.output import safe_text

    store = open_store(args.db)
    try:
        latest = store.latest()
    finally:
        store.close()
    con = Console()
    if not latest:
        con.print("no readings stored yet: run `irprobe sync` first")
        return 0
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
    return 0
