"""irprobe take: the probe reads its meter now and stores the reading; prints it."""


def add_arguments(p):
    p.add_argument("--port", required=True, help="the probe's serial port")
    p.add_argument(
        "--json", action="store_true", help="print the reading as JSON (as `irprobe read`)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the meter read"
    )


def checked_reading(d):
    """The device's reading after the one check (irprobe.inbound.check_reading), rebuilt
    through Reading so only known fields get out, as `irprobe read` prints them.
    Raises CommandError saying what was wrong."""
    from meterproto.reading import Reading

    from irprobe.cli import CommandError
    from irprobe.inbound import Untrusted, check_reading

    if d is None:
        raise CommandError("the probe answered without a reading")
    try:
        check_reading(d, "the probe's reading", for_display=True)
    except Untrusted as e:
        raise CommandError("the probe's answer cannot be shown: %s" % e)
    return Reading.from_dict(d).to_dict()


def heap_figures(res):
    """The probe's heap low-water marks from a TAKE answer (probe.heapmark), checked:
    {"free_min": bytes free at the lowest point of this read, "free_min_boot": since boot,
    "free": now, "total": heap size, "free_min_at": the phase that set free_min}; None when the probe does not report them."""
    heap = res.get("heap") if isinstance(res, dict) else None
    if not isinstance(heap, dict):
        return None
    out = {}
    for key, name in (("low", "free_min"), ("low_boot", "free_min_boot"), ("free", "free"),
                      ("total", "total")):
        v = heap.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 32:
            out[name] = v
    at = heap.get("low_at")  # the phase of the read that set free_min (probe.heapmark)
    if out and isinstance(at, str) and 0 < len(at) <= 40 and at.isprintable():
        out["free_min_at"] = at
    return out or None


def storage_info(d):
    """{"count", "slots_left", "capacity"} from the probe, whole numbers only; None if absent."""
    if not isinstance(d, dict):
        return None
    out = {}
    for k in ("count", "slots_left", "capacity"):
        v = d.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFFFFFF:
            return None
        out[k] = v
    return out


def room_text(room):
    """ "; 120 readings stored, room for 15,480 more (1 % full)" or ""."""
    if room is None:
        return ""
    pct = 100 * room["count"] // room["capacity"] if room["capacity"] else 100
    return "; %d readings stored, room for %s more (%d %% full)" % (
        room["count"], format(room["slots_left"], ","), pct)


def run(args):
    import sys

    from irprobe import output
    from irprobe.cli import CommandError
    from irprobe.probelink import DeviceError, LinkError, clean, open_link

    from irprobe.progress import Display, wanted

    if not args.timeout > 0:
        raise CommandError("--timeout is the seconds the probe may take to read its meter "
                           "and must be above 0 (got %s)" % args.timeout)
    with open_link(args.port) as link, Display(wanted(args.json), "take") as shown:
        shown.update("the probe is reading its meter")
        try:
            res = link.take(store=True, timeout=args.timeout)
        except DeviceError as e:
            raise CommandError("the probe could not read its meter (%s): %s" % (e.code, e.message))
        except LinkError as e:
            raise CommandError(str(e))
    reading = checked_reading(res.get("reading") if isinstance(res, dict) else None)
    seq = res.get("seq")
    heap = heap_figures(res)
    room = storage_info(res.get("storage"))
    if args.json:
        if room is not None:
            reading = dict(reading, probe_storage=room)  # fullness in readings
        if heap is not None:
            reading["probe"] = {"heap": heap}
        output.print_json(reading)  # JSON escapes control characters itself
    else:
        output.print_reading(reading)  # escapes meter text itself
    if heap is not None and "free_min" in heap:
        print("probe heap: %d bytes free at the lowest point of this read" % heap["free_min"],
              file=sys.stderr)
    if isinstance(seq, int) and not isinstance(seq, bool):
        print("stored on the probe as record %d%s" % (seq, room_text(room)), file=sys.stderr)
    else:
        print(
            "not stored on the probe: %s" % clean(res.get("message") or "no reason given"),
            file=sys.stderr,
        )
    return 0
