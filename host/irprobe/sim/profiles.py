# irprobe.sim.profiles: simulated meters as data (host simulator, core subset).
# Each profile says how the meter talks (IEC 62056-21 mode, max baud, reaction time, wake-up,
# password) and what it holds; "expected" lists the values a correct reader must return.
# DLMS meters come from the optional module irprobe.sim.dlms_profiles, merged in lazily.
from irprobe.sim.iec_meter import IecMeter
from irprobe.sim.iec_text import load_profile_rows

# Letters that stand for OBIS value groups in IEC addresses (IEC 62056-61): C = 96 service,
# F = 97 error, L = 98 lists, P = 99 profiles.
_LETTERS = {"C": 96, "F": 97, "L": 98, "P": 99}


def _num(t):
    if t in _LETTERS:
        return _LETTERS[t]
    if not t or not t.isdigit():
        return None
    v = int(t)
    return v if v <= 255 else None


def canon(address):
    """The canonical OBIS a reader should report for an IEC address, or the address itself
    when it has no OBIS form. Missing A is 1 (electricity) except for the abstract service
    and error groups C = 96/97 (A = 0); missing B is 0, missing E is 0, missing F is 255;
    `*NN` is the billing period (F); a trailing `&NN` counter is not part of the OBIS code."""
    a = address
    if "&" in a:
        a = a[:a.find("&")]
    f = 255
    if "*" in a:
        f = _num(a[a.find("*") + 1:])
        a = a[:a.find("*")]
    ga = gb = None
    if ":" in a:
        ab = a[:a.find(":")].split("-")
        a = a[a.find(":") + 1:]
        if len(ab) == 2:
            ga, gb = _num(ab[0]), _num(ab[1])
        if ga is None or gb is None:
            return address
    parts = [_num(x) for x in a.split(".")]
    if f is None or None in parts or not 2 <= len(parts) <= 3:
        return address
    while len(parts) < 3:
        parts.append(0)
    if ga is None:
        ga = 0 if parts[0] in (96, 97) else 1
        gb = 0
    return "%d-%d:%d.%d.%d*%d" % (ga, gb, parts[0], parts[1], parts[2], f)


def S(address, value, unit=None, *extra):
    """One data set."""
    return {"address": address, "value": value, "unit": unit, "extra": list(extra)}


def _energy(style, kwh, n_tariffs, history, stamp):
    """Typical register lines: totals, tariffs, export, reactive, demand, billing history.
    style "short" gives `1.8.0`, "full" gives `1-0:1.8.0*255` (AS1440, eHZ)."""
    def ad(c, d, e, f=None):
        if style == "full":
            return "1-0:%d.%d.%d*%d" % (c, d, e, 255 if f is None else f)
        return "%d.%d.%d" % (c, d, e) + ("" if f is None else "*%02d" % f)

    lines = [[S(ad(1, 8, 0), "%06d.%03d" % (kwh // 1000, kwh % 1000), "kWh")]]
    for t in range(1, n_tariffs + 1):
        part = kwh * (n_tariffs + 1 - t) // (n_tariffs * (n_tariffs + 1) // 2)
        lines.append([S(ad(1, 8, t), "%06d.%03d" % (part // 1000, part % 1000), "kWh")])
    exp = kwh // 37
    lines.append([S(ad(2, 8, 0), "%06d.%03d" % (exp // 1000, exp % 1000), "kWh")])
    lines.append([S(ad(3, 8, 0), "%06d.%03d" % (kwh // 9000, kwh // 9 % 1000), "kvarh")])
    lines.append([S(ad(4, 8, 0), "%06d.%03d" % (kwh // 21000, kwh // 21 % 1000), "kvarh")])
    lines.append([S(ad(1, 6, 0), "%02d.%03d" % (kwh % 7 + 3, kwh % 1000), "kW", stamp)])
    for k in range(1, history + 1):
        old = kwh - k * 401234
        lines.append([S(ad(1, 8, 0, k), "%06d.%03d" % (old // 1000, old % 1000), "kWh")])
    return lines


def _instant(style):
    def ad(c, d):
        return "1-0:%d.%d.0*255" % (c, d) if style == "full" else "%d.%d" % (c, d)
    return [[S(ad(32, 7), "231", "V")], [S(ad(52, 7), "229", "V")], [S(ad(72, 7), "233", "V")],
            [S(ad(31, 7), "1.25", "A")], [S(ad(51, 7), "0.98", "A")],
            [S(ad(71, 7), "2.01", "A")], [S(ad(14, 7), "50.0", "Hz")]]


def _ident_lines(serial, stamp_time, stamp_date, style="short"):
    if style == "full":
        return [[S("0-0:96.1.0*255", serial)], [S("0-0:97.97.0*255", "00000000")],
                [S("1-0:0.9.1*255", stamp_time)], [S("1-0:0.9.2*255", stamp_date)]]
    return [[S("F.F", "00000000")], [S("0.0.0", serial)], [S("C.1.0", "9" + serial[1:])],
            [S("0.9.1", stamp_time)], [S("0.9.2", stamp_date)], [S("0.1.0", "13")]]


def _profile(name, **kw):
    p = {"name": name, "protocol": "iec62056-21", "mode": "C", "reaction_ms": 200,
         "wakeup": None, "password": None, "address": "", "enhanced": [], "mode_e": False}
    p.update(kw)
    return p


_LP = {  # P.01 load profile of the programming-mode meter: 6 hours of 15-minute demand
    "start": "02611240000", "period": 15, "status": "00",
    "channels": [("1.5.0", "kW"), ("2.5.0", "kW")],
    "rows": [["%02d.%03d" % (1 + i % 5, (i * 137) % 1000), "00.%03d" % ((i * 53) % 200)]
             for i in range(24)],
}

_PROFILES = [
    _profile("lgz-zmd", title="Landis+Gyr ZMD (mode C, offers mode E)",
             manufacturer="LGZ", baud_char="5", enhanced=["2"], mode_e=True,
             mode_e_dlms="dlms-direct",  # its HDLC side serves that DLMS object model
             ident_text="ZMD3104407.B32", max_baud=9600, address="41234567",
             data=_ident_lines("41234567", "134501", "261125")
             + _energy("short", 12345678, 2, 3, "2611191730") + _instant("short")
             + [[S("C.7.0", "0011")], [S("C.2.1", "2609010000")],
                [S("1.6.1", "04.512", "kW", "2611191730")],
                [S("1.6.2", "02.100", "kW", "2611050815")]]),
    _profile("iskra-mt174", title="Iskra MT174 (mode C, 20 ms reaction)",
             manufacturer="ISk", baud_char="5", ident_text="MT174-0001", max_baud=9600,
             reaction_ms=20,
             data=_ident_lines("71234567", "091500", "261125")
             + [[S("1.8.1", "0004321.9", "kWh"), S("1.8.2", "0001234.5", "kWh")]]
             + _energy("short", 5556400, 0, 6, "2611120800") + _instant("short")
             + [[S("15.8.0", "0005599.1", "kWh")], [S("C.8.0", "00012345")]]),
    _profile("elster-as1440", title="Elster AS1440 (mode C, full OBIS addresses)",
             manufacturer="ELS", baud_char="6", enhanced=["@"], ident_text="AS1440-V3.10",
             max_baud=19200,
             data=_ident_lines("31234567", "101010", "261125", "full")
             + _energy("full", 98765432, 4, 3, "2611220930") + _instant("full")
             + [[S("1-0:1.8.0*101", "0095123.001", "kWh")],
                [S("0-0:96.7.21*255", "0007")]]),
    _profile("mode-a", title="Old single-rate meter (mode A, 300 baud only)",
             manufacturer="HAG", baud_char="J", ident_text="EHZ-A300", max_baud=300,
             mode="A", data=_ident_lines("11223344", "120000", "261125")
             + _energy("short", 2345000, 2, 4, "2611010700")
             + [[S("32.7", "230", "V")], [S("31.7", "3.4", "A")], [S("14.7", "50.0", "Hz")]]),
    _profile("mode-b", title="Two-rate meter (mode B, 2400 baud)",
             manufacturer="AEG", baud_char="C", ident_text="ZMB-2400", max_baud=2400,
             mode="B", data=_ident_lines("55667788", "064500", "261125")
             + _energy("short", 7654321, 2, 3, "2611150600") + _instant("short")),
    _profile("mode-d", title="Push meter (mode D, 2400 baud, no request)",
             manufacturer="EMH", baud_char="3", ident_text="eHZ-PUSH", max_baud=2400,
             mode="D", push_baud=2400, push_first_ms=300, push_gap_ms=1000,
             data=_ident_lines("99887766", "000000", "261125", "full")
             + _energy("full", 4242420, 2, 0, "2611230000") + _instant("full")
             + [[S("1-0:16.7.0*255", "000412", "W")], [S("1-0:96.5.0*255", "001C0104")]]),
    _profile("battery", title="Battery heat meter (wake-up train needed)",
             manufacturer="LUG", baud_char="2", ident_text="ULTRAHEAT T550", max_baud=1200,
             wakeup="standard",
             data=[[S("6.8", "0029.055", "MWh"), S("6.26", "01589.28", "m3"),
                    S("9.21", "66153690")],
                   [S("6.26*01", "01563.92", "m3"), S("6.8*01", "0028.597", "MWh")],
                   [S("F", "0"), S("9.20", "66153690"), S("6.35", "60", "m")],
                   [S("6.6", "0017.6", "kW"), S("6.6*01", "0017.6", "kW"),
                    S("6.33", "001.625", "m3ph")],
                   [S("6.31", "0030808", "h"), S("6.32", "0000000", "h"), S("9.22", "R")],
                   [S("9.7", "20000"), S("6.32*01", "0000000", "h")],
                   [S("6.33*01", "001.625", "m3ph"), S("9.31", "0028333", "h")],
                   [S("0.0.0", "66153690")], [S("F.F", "00")],
                   [S("0.9.1", "101500")], [S("0.9.2", "261125")]]
             + [[S("6.8*%02d" % k, "%04d.%03d" % (28 - k, (597 * k) % 1000), "MWh"),
                 S("6.26*%02d" % k, "0%04d.%02d" % (1563 - 26 * k, (92 * k) % 100), "m3")]
                for k in range(2, 11)]),
    _profile("prog-lp", title="Meter with P1 password and a P.01 load profile",
             manufacturer="ISK", baud_char="5", ident_text="MT831-LP", max_baud=9600,
             password="12345678", p0_operand="61234567", address="61234567",
             load_profile=_LP, block_lines=4, writable=["0.9.1", "0.9.2"],
             data=_ident_lines("61234567", "080000", "261125")
             + _energy("short", 33445566, 2, 2, "2611200915") + _instant("short")),
    _profile("slow", title="Slow meter (reaction time 1450 ms)",
             manufacturer="GAV", baud_char="4", ident_text="SLOW-1450", max_baud=4800,
             reaction_ms=1450, data=_ident_lines("22334455", "235959", "261124")
             + _energy("short", 876543, 2, 4, "2611240000") + _instant("short")),
]

for _p in _PROFILES:
    _p["expected"] = [{"obis": canon(ds["address"]), "value": ds["value"],
                       "unit": ds["unit"]} for line in _p["data"] for ds in line]
    if _p.get("load_profile"):
        _p["expected_profile"] = [{"time": t, "values": list(v)}
                                  for t, v in load_profile_rows(_p["load_profile"])]

PROFILES = {}
for _p in _PROFILES:
    PROFILES[_p["name"]] = _p

_dlms = None


def _dlms_module():
    """irprobe.sim.dlms_profiles if it is installed (another part of the simulator)."""
    global _dlms
    if _dlms is None:
        try:
            import irprobe.sim.dlms_profiles as m
            _dlms = m
        except ImportError:
            _dlms = False
    return _dlms or None


def all_profiles():
    """name -> profile for every simulated meter, IEC first then DLMS."""
    out = {}
    for k in PROFILES:
        out[k] = PROFILES[k]
    m = _dlms_module()
    if m is not None:
        for k in m.PROFILES:
            if k not in out:
                out[k] = m.PROFILES[k]
    return out


def list_profiles():
    """Names of every simulated meter, IEC first, each group sorted."""
    names = [p["name"] for p in _PROFILES]
    m = _dlms_module()
    if m is not None:
        extra = [k for k in m.PROFILES if k not in PROFILES]
        extra.sort()
        names += extra
    return names


def get_profile(name):
    """The profile dict for a name; KeyError with the known names otherwise."""
    p = all_profiles().get(name)
    if p is None:
        raise KeyError("no simulated meter %r; known: %s" % (name, ", ".join(list_profiles())))
    return p


def make_meter(profile_or_name):
    """A fresh meter Machine for a profile (dict) or profile name."""
    p = profile_or_name
    if isinstance(p, str):
        p = get_profile(p)
    if p.get("protocol") == "dlms":
        m = _dlms_module()
        if m is None:
            raise KeyError("DLMS meters are not available in this build")
        return m.make_meter(p)
    factory = None
    if p.get("mode_e") and p.get("mode_e_dlms"):
        m = _dlms_module()
        if m is not None and p["mode_e_dlms"] in m.PROFILES:
            dp = m.mode_e_side(p["mode_e_dlms"], _value_of(p, "C.1.0"), _value_of(p, "0.0.0"),
                               p["manufacturer"].upper() + _value_of(p, "C.1.0"))

            def factory():
                return m.make_meter(dp, one_session=True)
    return IecMeter(p, factory)


def _value_of(profile, address):
    for line in profile.get("data") or ():
        for ds in line:
            if ds["address"] == address:
                return ds["value"]
    return None


def client_options(profile):
    """IecClient keyword options a reader needs for this simulated meter (demo and tests):
    listen for a pusher, wake a battery meter, and log in where there is a password."""
    p = profile
    opts = {}
    if p.get("mode") == "D":
        opts["push"] = True
        opts["push_baud"] = p.get("push_baud", 2400)
    if p.get("wakeup"):
        opts["wakeup"] = p["wakeup"]
    return opts
