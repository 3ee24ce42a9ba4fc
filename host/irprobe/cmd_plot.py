"""irprobe plot: registers and load-profile columns as a picture a person reads at a glance.

A counting register (energy, OBIS D = 8) is drawn as what was used in each interval (bars,
e.g. kWh per 15 min), a per-period energy (D = 29) as bars, a momentary value (power,
voltage) as a line. Labels are plain names with units ("Active energy import (1.8.0)"), the
time axis is in the user's time zone. Several meters or registers go into one figure.
"""
import datetime
import os

FORMATS = ("png", "svg", "pdf")
_SCALE = {"Wh": ("kWh", 1000), "varh": ("kvarh", 1000), "VAh": ("kVAh", 1000)}


def add_arguments(p):
    p.add_argument("--db", help="readings database: a file, or postgresql://user@host/db for "
                   "a fleet (default: ~/.local/share/irprobe/readings.sqlite)")
    p.add_argument("--meter", required=True, action="append", metavar="ID",
                   help="meter id (see `irprobe show`); repeat for several meters in one "
                   "figure")
    p.add_argument("--obis", required=True, action="append", metavar="CODE",
                   help="register or load-profile column, e.g. 1-0:1.8.0*255 or 1.8.0; "
                   "repeat for several")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="picture to write: .png, .svg or .pdf (by the name's ending)")
    p.add_argument("--tz", metavar="ZONE", help="time zone of the time axis, e.g. "
                   "Europe/Vienna or UTC (default: this computer's). Meter profile times "
                   "carry no zone and are taken as the meter's local time, in this zone")


def _zone(name):
    from irprobe.cli import CommandError

    if not name:
        local = datetime.datetime.now().astimezone().tzinfo
        return local, datetime.datetime.now(local).tzname() or "local time"
    if name.upper() == "UTC":
        return datetime.timezone.utc, "UTC"
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(name), name
    except (ImportError, ValueError, OSError, KeyError):
        raise CommandError("unknown time zone %r: use a name like Europe/Vienna or UTC" % name)


def _when(t, tz):
    """Session times are unix seconds; profile times are the meter's clock text, no zone."""
    if isinstance(t, int) and not isinstance(t, bool):
        return datetime.datetime.fromtimestamp(t, tz)
    if isinstance(t, str):
        s = t.strip().replace(" ", "T")
        try:  # ISO 8601, also with an offset from UTC (a DLMS date-time with deviation)
            d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
            return d.astimezone(tz) if d.tzinfo else d.replace(tzinfo=tz)
        except ValueError:
            pass
        zulu = s.endswith("Z")
        s = s.rstrip("Z")
        for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%y%m%d%H%M%S",
                    "%y%m%d%H%M"):
            try:
                d = datetime.datetime.strptime(s, fmt)
            except ValueError:
                continue
            if zulu:
                return d.replace(tzinfo=datetime.timezone.utc).astimezone(tz)
            return d.replace(tzinfo=tz)
    return None


def series_points(points, tz):
    """[(time, value_text, unit)] -> (sorted distinct [(datetime, Decimal)], unit). The same
    profile row stored by several reads counts once."""
    from decimal import Decimal, InvalidOperation

    by_time = {}
    units = []
    for t, v, u in points:
        try:
            y = Decimal(v)
        except (InvalidOperation, TypeError, ValueError):
            continue  # "(ERROR)" or an empty value: nothing to draw
        if not y.is_finite() or abs(y) > Decimal("1e300"):
            continue  # NaN, or beyond what a float (and so the plot) can hold
        x = _when(t, tz)
        if x is None:
            continue
        by_time[x] = y
        if u and u not in units:
            units.append(u)
    return sorted(by_time.items()), (units[0] if len(units) == 1 else ", ".join(units))


def _period_text(seconds):
    if seconds % 86400 == 0:
        n = seconds // 86400
        return "day" if n == 1 else "%d days" % n
    if seconds % 3600 == 0:
        n = seconds // 3600
        return "hour" if n == 1 else "%d h" % n
    if seconds % 60 == 0:
        return "%d min" % (seconds // 60)
    return "%d s" % seconds


def shape(meter, obis, points, tz):
    """One series ready to draw: {"label", "style": bars|line|point, "x", "width_s", "y",
    "unit", "count"}; None when no point is a number."""
    from irprobe import obis_names

    pts, unit = series_points(points, tz)
    if not pts:
        return None
    kind = obis_names.kind(obis)
    new_unit, div = _SCALE.get(unit, (unit, 1))
    if kind != obis_names.MOMENTARY and div != 1:
        pts = [(x, y / div) for x, y in pts]
        unit = new_unit
    label = "%s: %s" % (_label(meter), _label(obis_names.name(obis)))
    s = {"label": label, "count": len(pts), "unit": _label(unit or "no unit"),
         "meter": _label(meter), "name": _label(obis_names.name(obis))}
    if len(pts) == 1:
        s.update(style="point", x=[pts[0][0]], y=[float(pts[0][1])], width_s=[0],
                 per="one reading")
        return s
    if kind == obis_names.CUMULATIVE:
        x, w, y = [], [], []
        for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
            if v1 < v0:
                continue  # the register went back: meter exchanged or reset, no consumption
            x.append(t1)
            w.append(int((t1 - t0).total_seconds()))
            y.append(float(v1 - v0))  # float only for drawing; the database keeps the text
        s.update(style="bars", x=x, y=y, width_s=w, per="used " + _per(w))
        return s
    if kind == obis_names.PER_PERIOD:
        gaps = [int((b[0] - a[0]).total_seconds()) for a, b in zip(pts, pts[1:])]
        w = [min(gaps)] * len(pts) if gaps else [900]
        s.update(style="bars", x=[p[0] for p in pts], y=[float(p[1]) for p in pts],
                 width_s=w, per=_per(w))
        return s
    s.update(style="line", x=[p[0] for p in pts], y=[float(p[1]) for p in pts],
             width_s=[0] * len(pts), per="")
    return s


def _per(widths):
    if widths and len(set(widths)) == 1:
        return "per " + _period_text(widths[0])
    return "between readings"


def _label(text):
    """Meter text for a figure: output.plain_text, and "$" kept literal (matplotlib would
    start mathtext with it)."""
    from irprobe.output import plain_text

    return plain_text(text, 200).replace("$", "\\$")


def _number_formatter(values):
    """Thousands separators and just enough decimals for the data's spread."""
    import math

    from matplotlib.ticker import FuncFormatter

    lo, hi = min(values), max(values)
    spread = (hi - lo) or abs(hi) or 1.0
    decimals = max(0, min(6, 1 - int(math.floor(math.log10(spread / 5.0)))))
    return FuncFormatter(lambda v, pos: "{:,.{}f}".format(v, decimals))


def plot(series, out, tz, tz_name):
    """Draw the series (from shape()) into out (format from its ending). Returns the number
    of distinct readings drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fmt = out.rsplit(".", 1)[-1].lower()
    groups = []  # one axis per (unit, per): only like quantities share a scale
    for s in series:
        key = (s["unit"], s["per"] if s["style"] == "bars" else s["style"])
        for g in groups:
            if g[0] == key:
                g[1].append(s)
                break
        else:
            groups.append((key, [s]))
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 3.2 + 2.4 * len(groups)),
                             dpi=100, sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    k = 0
    xs_all = []
    for (key, members), row in zip(groups, axes):
        ax = row[0]
        nb = sum(1 for s in members if s["style"] == "bars")
        bi = 0
        values = []
        for s in members:
            c = colours[k % len(colours)]
            k += 1
            values.extend(s["y"])
            xs_all.extend(s["x"])
            if s["style"] == "bars":
                # a bar covers its interval, ending at the reading that closes it; several
                # bar series share each interval side by side
                nums = mdates.date2num(s["x"])
                widths = [w / 86400.0 / nb for w in s["width_s"]]
                lefts = [n - w * nb + w * bi for n, w in zip(nums, widths)]
                ax.bar(lefts, s["y"], width=widths, align="edge", color=c, label=s["label"],
                       edgecolor="white", linewidth=0.3 if len(s["x"]) < 200 else 0)
                bi += 1
            elif s["style"] == "line":
                ax.plot(s["x"], s["y"], color=c, label=s["label"],
                        marker="o" if len(s["x"]) <= 50 else None, markersize=3)
            else:
                ax.plot(s["x"], s["y"], "o", color=c, label=s["label"])
                ax.annotate("{:,}".format(s["y"][0]) + " " + s["unit"], (s["x"][0], s["y"][0]),
                            textcoords="offset points", xytext=(8, 8))
        unit = key[0]
        if members[0]["style"] == "bars":
            ylabel = "%s %s" % (unit, members[0]["per"])
        elif members[0]["style"] == "point":
            ylabel = "%s (one reading)" % unit
        else:
            ylabel = unit
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(_number_formatter(values))
        if members[0]["style"] == "bars":
            ax.set_ylim(bottom=0)
        ax.grid(True, axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(loc="upper left", fontsize="small", frameon=False)
    if len(series) == 1:
        s = series[0]
        title = "meter %s: %s" % (s["meter"], s["name"])
        if s["style"] == "bars":
            title += ", %s %s" % (s["unit"], s["per"])
        axes[0][0].set_title(title, loc="left")
    else:
        meters = sorted(set(s["meter"] for s in series))
        names = sorted(set(s["name"] for s in series))
        if len(meters) == 1:
            title = "meter %s: %d registers" % (meters[0], len(names))
        elif len(names) == 1:
            title = "%s of %d meters" % (names[0], len(meters))
        else:
            title = "%d meters, %d registers" % (len(meters), len(names))
        axes[0][0].set_title(title, loc="left")
    ax = axes[-1][0]
    locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
    lo, hi = min(xs_all), max(xs_all)
    if lo == hi:  # one instant: show the hours around it, not years
        ax.set_xlim(lo - datetime.timedelta(hours=2), hi + datetime.timedelta(hours=2))
    ax.set_xlabel("time (%s)" % tz_name)
    fig.tight_layout()
    fig.savefig(out, format=fmt)
    plt.close(fig)
    return sum(s["count"] for s in series)


def _candidates(obis):
    """The code as typed, then its full form: '1.8.0' is stored as '1-0:1.8.0*255'."""
    out = [obis]
    if ":" not in obis and obis.count(".") == 2:
        out.append("1-0:%s*255" % obis)
    return out


def run(args):
    from irprobe.cli import CommandError
    from irprobe.db import command_store
    from irprobe.dbfile import existing

    ext = args.out.rsplit(".", 1)[-1].lower() if "." in os.path.basename(args.out) else ""
    if ext not in FORMATS:
        raise CommandError("--out must end in .png, .svg or .pdf (got %r)" % args.out)
    tz, tz_name = _zone(args.tz)
    with command_store(existing(args.db)) as store:
        series = []
        for meter in args.meter:
            for obis in args.obis:
                points = []
                for code in _candidates(obis):
                    points, _kind = store.history(meter, code)
                    if points:
                        break
                if not points:
                    raise CommandError("no values for meter %r and %s in the database (see "
                                       "`irprobe show`)" % (meter, obis))
                s = shape(meter, code, points, tz)
                if s is None:
                    raise CommandError("the stored values of %s for meter %r are not numbers; "
                                       "nothing to plot" % (obis, meter))
                series.append(s)
    try:
        n = plot(series, args.out, tz, tz_name)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (args.out, e.strerror or e))
    print("%d %s plotted to %s" % (n, "point" if n == 1 else "points", args.out))
    return 0
