"""irprobe config: show or change the probe's meter profiles and options.

Secrets (meter passwords, DLMS keys) are write-only: the probe never sends them back, and
this command never prints them.
"""

import json


def add_arguments(p):
    p.add_argument("--port", required=True, help="the probe's serial port")
    p.add_argument("--json", action="store_true", help="print the (masked) config as JSON")
    p.add_argument("--meter", metavar="NAME", help="the meter profile to create or change")
    p.add_argument("--mode", help="how to read it: iec, auto, iec-e, hdlc, dlms")
    p.add_argument("--max-baud", type=int, help="baud cap (300-115200)")
    p.add_argument("--address", help="IEC device address (empty: any meter)")
    p.add_argument("--client", type=int, help="DLMS client SAP")
    p.add_argument("--server", type=int, help="DLMS server address")
    p.add_argument("--password", help="meter password (stored write-only); '' clears it")
    p.add_argument("--password-prompt", action="store_true", help="ask for the password")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="NAME=HEX",
        help="DLMS key (ek, ak, system_title), write-only; NAME= clears it",
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
        help="board option, e.g. interval_s=900, echo_filter=false",
    )


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
    from irprobe.cli import CommandError

    ch = {}
    prof = {}
    for k in ("mode", "max_baud", "address", "client", "server", "password"):
        v = getattr(args, k)
        if v is not None:
            prof[k] = v
    if args.password_prompt:
        import getpass

        prof["password"] = getpass.getpass("meter password: ")
    keys = {}
    for spec in args.key:
        name, eq, hexv = spec.partition("=")
        if not eq or not name:
            raise CommandError("--key wants NAME=HEX, e.g. ek=000102...")
        keys[name] = hexv or None
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
        opts[k.strip()] = _value(v)
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


def print_config(cfg):
    from rich.console import Console
    from rich.table import Table

    from irprobe.output import safe_text

    con = Console()
    con.print(
        "probe %s, active profile: %s"
        % (
            safe_text(cfg.get("device_name") or "(no name)", 200),
            safe_text(cfg.get("active") or "(none)", 200),
        )
    )
    t = Table(title="meter profiles")
    for c in ("name", "mode", "max baud", "address", "client", "server", "password", "keys"):
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
                    "" if m.get("server") is None else m.get("server"),
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
    from irprobe.probelink import DeviceError, LinkError, open_link

    ch = changes_from(args)
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
