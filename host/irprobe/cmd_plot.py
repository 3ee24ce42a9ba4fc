"""irprobe plot: one register's history, or one load-profile column, as a PNG."""

import datetime


def add_arguments(p):
    p.add_argument(
        "--db", help="readings database (default: ~/.local/share/irprobe/readings.sqlite)"
    )
    p.add_argument("--meter", required=True, help="meter id (see `irprobe show`)")
    p.add_argument("--obis", required=True, help="OBIS code, e.g. 1-0:1.8.0*255 or 1.8.0")
    p.add_argument("--out", required=True, help="PNG file to write")


def _when(t):
    """Session times are unix seconds; profile times are the meter's text (ISO-like)."""
    if isinstance(t, int):
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    if isinstance(t, str):
        s = t.strip().rstrip("Z").replace(" ", "T")
        for fmt in (
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d",
            "%y%m%d%H%M%S",
            "%y%m%d%H%M",
        ):
            try:
                return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                pass
    return None


def plot(points, kind, meter, obis, out):
    """points: [(time, value_text, unit)]. Returns the number of points plotted."""
    from decimal import Decimal, InvalidOperation

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from irprobe.output import plain_text

    xs, ys, units = [], [], set()
    for t, v, u in points:
        try:
            y = Decimal(v)
        except (InvalidOperation, TypeError):
            continue  # "(ERROR)" or an empty value: nothing to draw
        if not y.is_finite() or abs(y) > Decimal("1e300"):
            continue  # NaN, or beyond what a float (and so the plot) can hold
        x = _when(t)
        if x is None:
            continue
        xs.append(x)
        ys.append(float(y))  # float only for drawing; the database keeps the exact text
        if u:
            units.add(u)
    if not xs:
        return 0
    unit = ", ".join(sorted(units)) or "no unit"
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    if kind == "profile":
        ax.step(xs, ys, where="post", marker=".")
    else:
        ax.plot(xs, ys, marker="o")
    # Meter text: plain_text, and parse_math off so a "$" in it is not read as mathtext.
    ax.set_title(
        plain_text(
            "meter %s  %s (%s)"
            % (meter, obis, "load profile" if kind == "profile" else "register history")
        ),
        parse_math=False,
    )
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(plain_text("%s [%s]" % (obis, unit)), parse_math=False)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)  # meter readings, not 1e7
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return len(xs)


def run(args):
    from irprobe.cli import CommandError
    from irprobe.db import open_store

    store = open_store(args.db)
    try:
        points, kind = store.history(args.meter, args.obis)
    finally:
        store.close()
    if not points:
        raise CommandError(
            "no values for meter %r and %s in the database" % (args.meter, args.obis)
        )
    try:
        n = plot(points, kind, args.meter, args.obis, args.out)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (args.out, e.strerror or e))
    if not n:
        raise CommandError("the stored values of %s are not numbers; nothing to plot" % args.obis)
    print("%d points plotted to %s" % (n, args.out))
    return 0
