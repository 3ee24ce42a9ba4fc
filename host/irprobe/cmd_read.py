"""irprobe read: read a meter through any serial IR head (IEC 62056-21, DLMS/COSEM).

The host runs the very sans-I/O core the probe runs (meterproto), on a pyserial port.
"""
from irprobe.cli import CommandError

BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)
# What a read uses when neither the command line nor the --meter settings say.
DEFAULTS = {"mode": "auto", "address": "", "max_baud": 19200, "client": 16, "server": "1"}


def add_arguments(p):
    p.add_argument("--port", required=True, help="serial port of the IR head (e.g. "
                   "/dev/ttyUSB0, COM3, a simulator's /dev/pts/N or socket://host:port)")
    p.add_argument("--meter", metavar="NAME", help="read with the settings saved as NAME "
                   "(`irprobe config --meter NAME ...` without --port); options given here win")
    p.add_argument("--mode", choices=("auto", "iec", "e", "hdlc"),
                   help="auto: IEC sign-on, mode E if offered, direct HDLC if silent; iec: "
                   "IEC 62056-21 only; e: mode E (DLMS after the sign-on); hdlc: direct HDLC")
    p.add_argument("--password", help="meter password (IEC programming mode P1, DLMS LLS)")
    p.add_argument("--address", help="device address (serial) for the sign-on")
    p.add_argument("--max-baud", type=int, choices=BAUDS,
                   help="highest rate to switch to (default 19200)")
    p.add_argument("--wakeup", choices=("standard", "fast"),
                   help="battery meter wake-up train before the sign-on")
    p.add_argument("--load-profile", nargs="?", const=";", metavar="START;END",
                   help="IEC: also read the P.01 load profile (programming mode), all of it "
                   "or between two meter time stamps")
    p.add_argument("--push", action="store_true", help="mode D: only listen, the meter sends "
                   "on its own (with --push-baud, default 2400)")
    p.add_argument("--push-baud", type=int, default=2400, choices=BAUDS + (115200,),
                   help="rate of a pushing meter (mode D 2400; P1 ports 9600 or 115200)")
    p.add_argument("--retries", type=int, default=2, help="IEC sign-on retries (default 2)")
    p.add_argument("--no-echo-filter", action="store_true",
                   help="keep bytes that repeat what we sent (normally removed as echo)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                   help="run our clock X times faster, to match `irprobe simulate "
                   "--time-scale X` (simulators only)")
    p.add_argument("--json", action="store_true", help="print the reading as JSON")
    g = p.add_argument_group("DLMS addresses and security (suite 0: AES-GCM-128)")
    g.add_argument("--client", type=int, metavar="SAP",
                   help="DLMS client address (16 public; 1 management, usual with HLS)")
    g.add_argument("--server", metavar="UPPER[/LOWER]",
                   help="HDLC server address, e.g. 1 or 1/17 (default 1); auto: try the "
                   "usual ones (and 4-byte ones from --address) and say which answered")
    g.add_argument("--server-size", type=int, choices=(1, 2, 4),
                   help="bytes of the server address (default: the fewest that hold it)")
    g.add_argument("--auth", choices=("lowest", "low", "hls-gmac"),
                   help="DLMS authentication (default: low with --password, lowest "
                   "otherwise; with keys, hls-gmac, and the other one if the meter refuses "
                   "it, with a note saying so)")
    g.add_argument("--ek", metavar="HEX", help="global encryption key, 32 hex digits: "
                   "turns on the ciphered context")
    g.add_argument("--ak", metavar="HEX", help="authentication key, 32 hex digits")
    g.add_argument("--system-title", metavar="HEX", help="our system title, 16 hex digits "
                   "(default 495250524F424531, 'IRPROBE1')")
    g.add_argument("--security", choices=("auth-enc", "auth", "enc", "none"),
                   default="auth-enc", help="protection of ciphered APDUs (security control "
                   "0x30/0x10/0x20); none: HLS without the ciphered context")
    g.add_argument("--dedicated-key", metavar="HEX", help="dedicated key (32 hex digits) "
                   "for ded- ciphering, sent in the ciphered InitiateRequest")
    g.add_argument("--invocation-counter", type=int, default=1, metavar="N",
                   help="our first invocation counter (the meter refuses counters it has "
                   "seen: continue above the last one used)")


def make_session(args):
    """The session Machine for the options (IecClient for iec, AutoSession otherwise)."""
    from meterproto.errors import LocalProtocolError

    try:
        if args.push:
            from meterproto.iec.client import IecClient

            return IecClient(push=True, push_baud=args.push_baud)
        if args.mode == "iec":
            from meterproto.iec.client import IecClient

            lp = None
            if args.load_profile is not None:
                a, _, b = args.load_profile.partition(";")
                lp = (a.strip(), b.strip())
            return IecClient(address=args.address, max_baud=args.max_baud, wakeup=args.wakeup,
                             password=args.password, load_profile=lp, retries=args.retries)
        if args.load_profile is not None:
            raise CommandError("--load-profile works with --mode iec (IEC programming mode)")
        try:
            from meterproto.session.auto import AutoSession
        except ImportError:
            raise CommandError("DLMS/HDLC reading is not available yet in this build: use "
                               "--mode iec")
        return AutoSession(mode=args.mode, address=args.address, password=args.password,
                           max_baud=args.max_baud, wakeup=args.wakeup, **_dlms_options(args))
    except LocalProtocolError as e:
        raise CommandError(str(e))


_SECURITY = {"auth-enc": 0x30, "auth": 0x10, "enc": 0x20, "none": 0}


def _hex(args, name, n):
    text = getattr(args, name.replace("-", "_"))
    if text is None:
        return None
    from meterproto.compat import unhexlify

    try:
        b = unhexlify(text)
    except ValueError:
        b = b""
    if len(b) != n:
        raise CommandError("--%s takes %d hex digits" % (name, 2 * n))
    return b


def host_dlms_options():
    """What the host proposes that the probe cannot: it has no heap limit, so it takes the
    largest APDU (client-max-receive-pdu-size 0xFFFF, IEC 62056-5-3 9.4.2) and the largest
    HDLC frames and window (2030 bytes, 7 frames: the meter grants at most its own, IEC 62056-46 SNRM/UA).
    Fewer blocks and polls: fewer round trips."""
    return {"max_pdu": 0xFFFF, "max_info": 2030, "window": 7}


def _dlms_options(args):
    """DLMS addresses and security options -> AutoSession/DlmsClient keywords."""
    if args.server == "auto":
        server = ("auto", None)
    else:
        upper, _, lower = args.server.partition("/")
        try:
            server = (int(upper), int(lower) if lower else None)
        except ValueError:
            raise CommandError("--server is UPPER or UPPER/LOWER (e.g. 1 or 1/17), or auto")
        if not 0 <= server[0] <= 0x3FFF or not 0 <= (server[1] or 0) <= 0x3FFF:
            raise CommandError("--server addresses are 0..16383")
    ek, ak = _hex(args, "ek", 16), _hex(args, "ak", 16)
    if (ek is None) != (ak is None):
        raise CommandError("ciphering needs both keys: --ek and --ak")
    opts = {"client_sap": args.client, "server_upper": server[0], "server_lower": server[1],
            "auth": args.auth, "ek": ek, "ak": ak,
            "system_title": _hex(args, "system-title", 8)}
    opts.update(host_dlms_options())
    if args.server_size is not None:
        if server[0] == "auto":
            raise CommandError("--server-size goes with a given --server, not auto")
        opts["server_addr_size"] = args.server_size
    if ek is not None:
        opts["security"] = _SECURITY[args.security]
        opts["invocation_counter"] = args.invocation_counter
        opts["dedicated_key"] = _hex(args, "dedicated-key", 16)
    return opts


def drive_on_port(machine, name, echo=None, time_scale=1.0, progress=None, silence_hint=True):
    """Run machine on the serial port called name and return its result; a port that will
    not open, a line failure or a protocol error becomes a CommandError in plain words.
    progress: an irprobe.progress.Display that shows the session's phase."""
    from meterproto.driver import run as drive
    from meterproto.errors import ProtocolError

    try:
        from irprobe.serialport import PortError, SerialPort
    except ImportError:
        raise CommandError("serial support is not installed (pyserial)")
    try:
        port = SerialPort(name, time_scale=time_scale)
    except PortError as e:
        raise CommandError(str(e))
    counted = _Counted(port)
    line = counted
    if progress is not None:
        from irprobe.progress import WatchedPort

        line = WatchedPort(counted, machine, progress)
    try:
        return drive(machine, line, echo=echo)
    except ProtocolError as e:
        if not silence_hint:
            raise CommandError(str(e))
        # After an IEC-only sign-on the last step's words are plain ("no identification
        # within 1.5 s"); after auto's HDLC attempt they would blame the addresses.
        err = CommandError(_why(e, name, counted, echo, type(machine).__name__ == "IecClient"))
        err.protocol_error = e
        raise err
    except PortError as e:
        raise CommandError(str(e))
    finally:
        port.close()


class _Counted:
    """A driver port that counts the bytes that came back (to tell silence from trouble)."""

    def __init__(self, port):
        self._port = port
        self.received = 0

    def __getattr__(self, name):
        return getattr(self._port, name)

    def read(self, deadline_ms):
        data = self._port.read(deadline_ms)
        if data:
            self.received += len(data)
        return data


def _why(e, name, counted, echo, say_step):
    """The error in plain words; a line on which nothing (or only our echo) came back is
    said as such, whatever the last protocol step made of it."""
    if counted.received == 0:
        if say_step:  # the IEC step already says what to check
            return ("nothing answered on %s: %s (`irprobe doctor --port %s` finds out why)"
                    % (name, e, name))
        return ("nothing answered on %s: not one byte came back. Is the head on the meter's "
                "optical port and the meter powered? `irprobe doctor --port %s` finds out why"
                % (name, name))
    if echo is not None and getattr(echo, "echo_bytes", 0) >= counted.received:
        return ("only our own echo came back on %s (%d bytes): the meter said nothing. "
                "`irprobe doctor --port %s` finds out why" % (name, counted.received, name))
    return str(e)


def with_meter_settings(args):
    """Fill what the command line left open from `--meter NAME` (the host's saved
    settings, irprobe.meters), then from DEFAULTS."""
    if args.meter:
        from irprobe import meters
        from irprobe.cmd_config import server_text

        p = meters.profile(args.meter)
        keys = p.get("keys") or {}
        saved = {"mode": p.get("mode"), "address": p.get("address"),
                 "max_baud": p.get("max_baud"), "password": p.get("password"),
                 "client": p.get("client"), "server": server_text(p.get("server")),
                 "auth": p.get("auth"), "wakeup": p.get("wakeup"), "ek": keys.get("ek"),
                 "ak": keys.get("ak"), "system_title": keys.get("system_title")}
        for k, v in saved.items():
            if getattr(args, k) is None and v is not None:
                setattr(args, k, v)
    for k, v in DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def _other_auth(args, err):
    """With keys and no --auth: the mechanism to try when the meter refused ours, or None.
    (A meter that wants ciphering alone refuses HLS-GMAC as "mechanism not recognised"; one
    that wants HLS refuses lowest as "authentication required", IEC 62056-5-3 ACSE.)"""
    from meterproto.errors import Refused

    if args.auth_given or not args.ek or not isinstance(err, Refused):
        return None
    text = str(err)
    if "association" not in text:
        return None
    if args.auth == "hls-gmac" and "not recognised" in text:
        return "lowest"
    if args.auth == "lowest" and "authentication required" in text:
        return "hls-gmac"
    return None


def run(args):
    if args.time_scale <= 0:
        raise CommandError("--time-scale must be above 0")
    with_meter_settings(args)
    args.auth_given = args.auth is not None
    if args.auth is None and args.ek:
        args.auth = "hls-gmac" if args.ak else "lowest"
    from irprobe.progress import Display, wanted

    note = None
    with Display(wanted(args.json), "reading %s" % args.port) as shown:
        try:
            reading = _read(args, shown)
        except CommandError as e:
            alt = _other_auth(args, getattr(e, "protocol_error", None))
            if alt is None:
                raise
            note = ("the meter refused authentication %s; read with %s instead (give --auth "
                    "%s to skip the first try)" % (args.auth, alt, alt))
            args.auth = alt
            args.invocation_counter += 1  # the meter may have seen the first one
            reading = _read(args, shown)
    d = reading.to_dict()
    if note:
        d["notes"] = [note] + list(d.get("notes") or ())
    from irprobe import output

    if args.json:
        output.print_json(d)
    else:
        output.print_reading(d)
    return 0


def _read(args, shown):
    session = make_session(args)
    echo = None
    if not args.no_echo_filter:
        from meterproto.echo import EchoFilter

        echo = EchoFilter()
    return drive_on_port(session, args.port, echo=echo, time_scale=args.time_scale,
                         progress=shown)
