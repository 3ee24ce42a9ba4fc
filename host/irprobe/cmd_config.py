"""irprobe config: show or change the probe's meter profiles and options.

Secrets (meter passwords, DLMS keys) are write-only: the probe never sends them back, and
this command never prints them.
"""

import json


def add_arguments(p):
    from probe.config_rules import AUTHS, BAUDS, MODES, WAKEUPS

    p.add_argument("--port", help="the probe's serial port; without it, the meter settings "
                   "kept on this computer for `irprobe read --meter NAME`")
    p.add_argument("--json", action="store_true", help="print the (masked) config as JSON")
    p.add_argument("--meter", metavar="NAME", help="the meter profile to create or change")
    p.add_argument("--mode", choices=MODES, help="how to read it (as `irprobe read --mode`): "
                   "auto, iec, e (mode E) or hdlc")
    p.add_argument("--max-baud", type=int, choices=BAUDS, metavar="BAUD",
                   help="highest IEC rate: %s" % ", ".join(str(b) for b in BAUDS))
    p.add_argument("--address", help="IEC device address: digits, letters, spaces ('' = any "
                   "meter)")
    p.add_argument("--client", type=int, help="DLMS client SAP (16 public, 1 management)")
    p.add_argument("--server", metavar="UPPER[/LOWER]", help="DLMS server address, e.g. 1 "
                   "or 1/17 (as `irprobe read --server`)")
    p.add_argument("--auth", choices=AUTHS, help="DLMS authentication")
    p.add_argument("--wakeup", choices=WAKEUPS, help="battery meter wake-up before the sign-on")
    p.add_argument("--password", help="meter password (stored write-only); '' clears it")
    p.add_argument("--password-prompt", action="store_true", help="ask for the password")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="NAME=HEX",
        help="DLMS key: ek=32 hex digits, ak=32, system_title=16; write-only; NAME= clears it",
    )
    p.add_argument("--active", metavar="NAME", help="the profile the button and `take` read")
    p.add_argument(
        "--remove", action="append", default=[], metavar="NAME", help="delete a profile"
    )
    p.add_argument("--device-name", help="a name for this probe")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="board option, e.g. interval_s=900 (seconds between reads, 0 = only on the "
        "button), echo_filter=false",
    )


def server_value(text):
    """'1' or '1/17' -> the stored server address (upper, or upper << 16 | lower)."""
    from irprobe.cli import CommandError

    upper, _, lower = text.partition("/")
    try:
        u = int(upper)
        low = int(lower) if lower else None
    except ValueError:
        raise CommandError("--server is UPPER or UPPER/LOWER, e.g. 1 or 1/17")
    if not 0 <= u <= 0x3FFF or (low is not None and not 0 <= low <= 0x3FFF):
        raise CommandError("--server addresses are 0 to 16383")
    return u if low is None else (u << 16) | low


def server_text(value):
    """The stored server address -> '1' or '1/17'."""
    if not isinstance(value, int) or isinstance(value, bool):
        return value
    return str(value) if value <= 0x3FFF else "%d/%d" % (value >> 16, value & 0xFFFF)


def _value(text):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if t.lower() in ("null", "none"):
        return None
    try:
        return int(t)
    except ValueError:
        return t


def changes_from(args):
    """The config change the options ask for, each setting checked with the probe's own
    rules (probe.config.check_setting): a wrong value is refused here, before anything is
    written."""
    from probe.config_rules import ConfigError, check_key, check_setting

    from irprobe.cli import CommandError

    try:
        return _changes(args, check_setting, check_key)
    except ConfigError as e:
        raise CommandError(str(e))


def _changes(args, check, check_key):
    from probe.config import SECRET_OPTIONS

    from irprobe.cli import CommandError

    ch = {}
    prof = {}
    for k in ("mode", "max_baud", "address", "client", "auth", "wakeup", "password"):
        v = getattr(args, k)
        if v is not None:
            prof[k] = check(k, v) if v != "" else None
    if args.server is not None:
        prof["server"] = check("server", server_value(args.server))
    if args.password_prompt:
        import getpass

        prof["password"] = check("password", getpass.getpass("meter password: "))
    keys = {}
    for spec in args.key:
        name, eq, hexv = spec.partition("=")
        if not eq or not name:
            raise CommandError("--key wants NAME=HEX, e.g. ek=000102...")
        keys[name] = check_key(name, hexv)
    if keys:
        prof["keys"] = keys
    if prof:
        if not args.meter:
            raise CommandError("say which meter profile to change with --meter NAME")
    if args.meter:
        prof["name"] = args.meter
        ch["meters"] = [prof]
    s = {}
    if args.active is not None:
        s["active"] = args.active or None
    if args.device_name is not None:
        s["device_name"] = args.device_name
    opts = {}
    for spec in args.option:
        k, eq, v = spec.partition("=")
        if not eq or not k:
            raise CommandError("--option wants KEY=VALUE, e.g. interval_s=900")
        k = k.strip()
        # A password is text even when it is all digits (probe.config.SECRET_OPTIONS).
        opts[k] = check(k, v if k in SECRET_OPTIONS else _value(v))
    if opts:
        s["options"] = opts
    if s:
        ch["set"] = s
    if args.remove:
        ch["remove"] = list(args.remove)
    return ch


def _scrub(cfg):
    """Belt and braces: never print a secret, whatever the probe sent."""
    out = json.loads(json.dumps(cfg))
    for m in out.get("meters") or ():
        if isinstance(m, dict):
            if m.get("password"):
                m["password"] = "***"
            if isinstance(m.get("keys"), dict):
                m["keys"] = dict((k, "***") for k in m["keys"])
    return out


def print_config(cfg, where=None):
    from rich.console import Console
    from rich.table import Table

    from irprobe.output import safe_text

    con = Console()
    if where:
        con.print("meter settings on %s" % where)
    else:
        con.print(
            "probe %s, active profile: %s"
            % (
                safe_text(cfg.get("device_name") or "(no name)", 200),
                safe_text(cfg.get("active") or "(none)", 200),
            )
        )
    t = Table(title="meter profiles")
    for c in ("name", "mode", "max baud", "address", "client", "server", "auth", "password",
              "keys"):
        t.add_column(c)
    for m in cfg.get("meters") or ():
        if not isinstance(m, dict):
            continue
        t.add_row(
            *[
                safe_text(x, 200)
                for x in (
                    m.get("name"),
                    m.get("mode"),
                    m.get("max_baud"),
                    m.get("address") or "",
                    "" if m.get("client") is None else m.get("client"),
                    "" if m.get("server") is None else server_text(m.get("server")),
                    m.get("auth") or "",
                    "set" if m.get("has_password") or m.get("password") else "-",
                    ", ".join(sorted(m.get("keys") or {})) or "-",
                )
            ]
        )
    con.print(t)
    opts = cfg.get("options") or {}
    if opts:
        con.print(
            "options: "
            + safe_text(", ".join("%s=%s" % kv for kv in sorted(opts.items())), 400)
        )


def run(args):
    from irprobe.cli import CommandError

    ch = changes_from(args)
    if args.port is None:
        from irprobe import meters

        if ch.get("set", {}).get("options") or ch.get("set", {}).get("device_name"):
            raise CommandError("--option and --device-name are the probe's: give --port")
        cfg = meters.apply(ch) if ch else meters.load().masked()
        cfg = _scrub(cfg)
        if args.json:
            print(json.dumps(cfg, indent=1, sort_keys=True))
        else:
            print_config(cfg, "this computer (for irprobe read --meter NAME)")
        return 0
    from irprobe.probelink import DeviceError, LinkError, open_link

    with open_link(args.port) as link:
        try:
            cfg = link.config_set(ch) if ch else link.config_get()
        except DeviceError as e:
            raise CommandError("the probe refused the change: %s" % e.message)
        except LinkError as e:
            raise CommandError(str(e))
    cfg = _scrub(cfg)
    if args.json:
        print(json.dumps(cfg, indent=1, sort_keys=True))
    else:
        print_config(cfg)
    return 0
