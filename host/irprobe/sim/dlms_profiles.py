# irprobe.sim.dlms_profiles: simulated DLMS/COSEM meters as data (host sim, core subset).
# Each profile says how the meter opens (direct HDLC at 9600 8N1, IEC 62056-21 mode E), its
# HDLC addresses and limits (IEC 62056-46), its association (IEC 62056-53) and its objects,
# plus the reading a correct client must get ("expected"), written out by hand.


def _registers():
    # obis, class, A-XDR value, scaler, unit enum (IEC 62056-6-2 table 4)
    return [
        {"obis": "1-0:1.8.0*255", "class": 3, "value": ("u32", 12345678), "scaler": 0, "unit": 30},
        {"obis": "1-0:2.8.0*255", "class": 3, "value": ("u32", 4321), "scaler": 1, "unit": 30},
        {"obis": "1-0:3.8.0*255", "class": 3, "value": ("u64", 987654321), "scaler": -3, "unit": 32},
        {"obis": "1-0:1.7.0*255", "class": 3, "value": ("i32", -1500), "scaler": 0, "unit": 27},
        {"obis": "1-0:32.7.0*255", "class": 3, "value": ("u16", 2301), "scaler": -1, "unit": 35},
        {"obis": "1-0:31.7.0*255", "class": 3, "value": ("u16", 523), "scaler": -2, "unit": 33},
        {"obis": "1-0:14.7.0*255", "class": 3, "value": ("u16", 4998), "scaler": -2, "unit": 44},
        {"obis": "1-0:1.6.0*255", "class": 4, "value": ("u32", 7421), "scaler": 0, "unit": 27,
         "capture_time": "2026-11-20 18:45:00"},
    ]


_EXPECTED_REGISTERS = [
    {"obis": "1-0:1.8.0*255", "value": "12345678", "unit": "Wh"},
    {"obis": "1-0:2.8.0*255", "value": "43210", "unit": "Wh"},
    {"obis": "1-0:3.8.0*255", "value": "987654.321", "unit": "varh"},
    {"obis": "1-0:1.7.0*255", "value": "-1500", "unit": "W"},
    {"obis": "1-0:32.7.0*255", "value": "230.1", "unit": "V"},
    {"obis": "1-0:31.7.0*255", "value": "5.23", "unit": "A"},
    {"obis": "1-0:14.7.0*255", "value": "49.98", "unit": "Hz"},
    {"obis": "1-0:1.6.0*255", "value": "7421", "unit": "W"},
]


def _objects(serial, entries, period, first):
    objs = [
        {"obis": "0-0:42.0.0*255", "class": 1, "value": ("octets", "SIM" + serial + "DEV")},
        {"obis": "0-0:96.1.0*255", "class": 1, "value": ("visible", serial)},
        {"obis": "0-0:1.0.0*255", "class": 8, "time": "2026-11-25 00:05:00"},
        {"obis": "0-0:96.10.1*255", "class": 1, "value": ("u8", 0)},
    ]
    objs.extend(_registers())
    objs.append({"obis": "1-0:99.1.0*255", "class": 7, "period": period, "entries": entries,
                 "first": first, "energy0": 12300000, "kinds": ("u8", "u32"),
                 "columns": [["0-0:1.0.0*255", 8, 2], ["0-0:96.10.1*255", 1, 2],
                             ["1-0:1.8.0*255", 3, 2]]})
    return objs


def _profile(name, serial, opening="hdlc", entries=24, period=3600,
             first="2026-11-24 01:00:00", **kw):
    p = {
        "name": name,
        "protocol": "dlms",
        "opening": opening,           # "hdlc": direct HDLC at 9600 8N1; "e": IEC mode E
        "ident": "/SIM5\\2DLMS-" + serial,  # mode E identification (Z = 5: 9600 baud)
        "baud": 9600,
        "client_sap": 16,
        "server_upper": 1,
        "server_lower": None,         # None: 1-byte server address
        "auth": "lowest",             # "lowest" | "low" | "hls-gmac"
        "password": None,
        # security suite 0: "ciphered" True = only the ciphered context (3) is accepted;
        # "system_title", "ek", "ak" (hex) and the meter's first "invocation_counter".
        "ciphered": False,
        "max_info_tx": 128,
        "max_info_rx": 128,
        "window_tx": 1,
        "window_rx": 1,
        "max_pdu": 1024,
        "conformance": 0x001E1D,      # block transfer, multiple references, get, selective
        "deviation": -60,
        "objects": _objects(serial, entries, period, first),
        "expected": {
            "meter_id": serial,
            "values": [{"obis": "0-0:42.0.0*255", "value": "SIM" + serial + "DEV", "unit": None},
                       {"obis": "0-0:96.1.0*255", "value": serial, "unit": None},
                       {"obis": "0-0:1.0.0*255", "value": "2026-11-25 00:05:00", "unit": None},
                       {"obis": "0-0:96.10.1*255", "value": "0", "unit": None}]
            + _EXPECTED_REGISTERS,
            "profile_rows": entries,
        },
    }
    p.update(kw)
    return p


PROFILES = {
    "dlms-direct": _profile("dlms-direct", "70000001"),
    "dlms-mode-e": _profile("dlms-mode-e", "70000002", opening="e", server_lower=17),
    "dlms-password": _profile("dlms-password", "70000003", client_sap=17, auth="low",
                              password="SECRET12"),
    "dlms-lp96": _profile("dlms-lp96", "70000005", entries=96, period=900,
                          first="2026-11-24 00:15:00"),
    # A modest meter: window 1, 128-byte info fields, 256-byte PDUs (so block transfer), and
    # no multiple references (so one GET per attribute).
    "dlms-small": _profile("dlms-small", "70000006", max_pdu=256, conformance=0x001C1D),
    # Large windows and information fields, and one day of 15-minute values: the bench meter.
    "dlms-large": _profile("dlms-large", "70000007", max_info_tx=1024, max_info_rx=1024,
                           window_tx=7, window_rx=7, max_pdu=4096, server_lower=0x10,
                           entries=96, period=900, first="2026-11-24 00:15:00"),
}

# Security suite 0 (IEC 62056-5-3 9.2.7) with the Green Book example keys. Like real meters
# (the IDIS management client), the HLS-GMAC meter wants the ciphered context too: AARQ with
# a glo-initiate-request, then glo-/ded-/general-glo-ciphered requests and answers.
_GREEN_BOOK_KEYS = {"ek": "000102030405060708090A0B0C0D0E0F",
                    "ak": "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"}
PROFILES["dlms-hls"] = _profile(
    "dlms-hls", "70000004", client_sap=1, auth="hls-gmac", ciphered=True,
    system_title="53494D3030303034", invocation_counter=0x1000, **_GREEN_BOOK_KEYS)
# Ciphering without authentication mechanism (lowest): the keys alone protect the reading.
# general-protection (bit 1) is offered: the meter also takes general-glo-ciphering.
PROFILES["dlms-ciphered"] = _profile(
    "dlms-ciphered", "70000008", client_sap=1, ciphered=True, conformance=0x401E1D,
    system_title="53494D3030303038", invocation_counter=0x2A, **_GREEN_BOOK_KEYS)


def mode_e_side(base, serial, device_id, logical_name):
    """The DLMS side of a mode E meter whose IEC side is simulated elsewhere: the same object
    model as `base`, carrying the meter's own identity (IEC C.1.0 = 0-0:96.1.0*255, IEC 0.0.0
    = 1-0:0.0.0*255, and its logical device name 0-0:42.0.0*255), so that an IEC and a DLMS
    reading of the meter name the same meter."""
    p = dict(PROFILES[base])
    objs = []
    for o in p["objects"]:
        o = dict(o)
        if o["obis"] == "0-0:96.1.0*255":
            o["value"] = ("visible", serial)
        elif o["obis"] == "0-0:42.0.0*255":
            o["value"] = ("octets", logical_name)
        objs.append(o)
    objs.insert(0, {"obis": "1-0:0.0.0*255", "class": 1, "value": ("visible", device_id)})
    p["objects"] = objs
    p["expected"] = dict(p["expected"], meter_id=device_id)
    return p


def expected_rows(profile):
    """The load profile rows a client must get, as text: ["YYYY-MM-DD HH:MM:SS", status, Wh]."""
    from irprobe.sim.dlms_model import profile_rows, civil_from_days
    lp = [o for o in profile["objects"] if o["class"] == 7][0]
    out = []
    for t, vals in profile_rows(lp):
        days, rest = divmod(t, 86400)
        y, m, d = civil_from_days(days)
        stamp = "%04d-%02d-%02d %02d:%02d:%02d" % (y, m, d, rest // 3600, (rest // 60) % 60, rest % 60)
        out.append([stamp] + [str(v) for v in vals])
    return out


def make_meter(profile, **kw):
    """A meter-side Machine for the profile (a name or the profile dict)."""
    from irprobe.sim.dlms_meter import DlmsMeter
    if isinstance(profile, str):
        profile = PROFILES[profile]
    return DlmsMeter(profile, **kw)
