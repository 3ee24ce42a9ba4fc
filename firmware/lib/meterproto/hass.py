# meterproto.hass: Home Assistant MQTT discovery and state payloads for a reading (core, shared
# by the host's `irprobe publish` and the Pico W logger). Register kinds come from the OBIS code
# (IEC 62056-6-1 clause 7: C = quantity, D = processing; D 8 = time integral 1, a meter reading)
# and the meter's unit. Values stay the meter's decimal text: never a float round trip.

DISCOVERY_PREFIX = "homeassistant"
BASE = "irprobe"

# unit as the meter writes it (lower case) -> (unit Home Assistant expects, device_class)
_UNITS = {
    "wh": ("Wh", "energy"),
    "kwh": ("kWh", "energy"),
    "mwh": ("MWh", "energy"),
    "varh": ("varh", "reactive_energy"),
    "kvarh": ("kvarh", "reactive_energy"),
    "w": ("W", "power"),
    "kw": ("kW", "power"),
    "mw": ("MW", "power"),
    "var": ("var", "reactive_power"),
    "kvar": ("kvar", "reactive_power"),
    "va": ("VA", "apparent_power"),
    "kva": ("kVA", "apparent_power"),
    "v": ("V", "voltage"),
    "kv": ("kV", "voltage"),
    "a": ("A", "current"),
    "ma": ("mA", "current"),
    "hz": ("Hz", "frequency"),
    "c": ("°C", "temperature"),
    "°c": ("°C", "temperature"),
}
_COUNTERS = ("energy", "reactive_energy")
# Friendly names by OBIS C.D (IEC 62056-6-1 clause 7.5: C = quantity, D 7 = instantaneous,
# D 8 = running total); the sensor is named by its OBIS code where none is listed.
_NAMES = {
    (1, 8): "Energy import", (2, 8): "Energy export",
    (3, 8): "Reactive energy Q+", (4, 8): "Reactive energy Q-",
    (1, 7): "Power import", (2, 7): "Power export", (3, 7): "Reactive power Q+",
    (4, 7): "Reactive power Q-", (9, 7): "Apparent power", (14, 7): "Frequency",
    (32, 7): "Voltage L1", (52, 7): "Voltage L2", (72, 7): "Voltage L3",
    (31, 7): "Current L1", (51, 7): "Current L2", (71, 7): "Current L3",
    (13, 7): "Power factor",
}
_OBIS_PUNCT = ".:*-&_"  # with letters and digits: all an OBIS/IEC register code needs


def slug(text):
    """A topic/id-safe name: lower-case letters, digits and '_' only."""
    out = []
    for ch in str(text).lower():
        out.append(ch if ("a" <= ch <= "z" or "0" <= ch <= "9") else "_")
    return "".join(out)[:48] or "_"


def obis_parts(obis):
    """'1-0:1.8.0*255' or '1.8.0' -> (C, D, E) as ints, or None if it is no OBIS code."""
    text = obis
    if ":" in text:
        text = text.split(":", 1)[1]
    if "*" in text:
        text = text.split("*", 1)[0]
    if "&" in text:
        text = text.split("&", 1)[0]
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def register_kind(obis, unit):
    """(unit, device_class, state_class) for Home Assistant; None fields where none applies."""
    known = _UNITS.get((unit or "").strip().lower())
    if known is None:
        return (unit or None), None, None
    ha_unit, dclass = known
    if dclass in _COUNTERS:
        cde = obis_parts(obis)
        # D 8 is the meter's running register: it only ever goes up (wraps are meter resets).
        sclass = "total_increasing" if (cde is None or cde[1] == 8) else "total"
        return ha_unit, dclass, sclass
    return ha_unit, dclass, "measurement"


def name_of(obis):
    """'Energy import 1.8.0', 'Energy import tariff 1 1.8.1', or the OBIS code itself."""
    cde = obis_parts(obis)
    label = _NAMES.get((cde[0], cde[1])) if cde else None
    if label is None:
        return obis
    if cde[1] == 8 and cde[2]:
        label += " tariff %d" % cde[2]
    return "%s (%s)" % (label, obis)


def manufacturer_of(meter):
    """The manufacturer text: the reading's own, else the FLAG code of the identification
    ('/ISK5MT174' -> 'ISK', IEC 62056-21 clause 6.3.2)."""
    m = meter.get("manufacturer")
    if m:
        return m
    ident = meter.get("ident") or ""
    if ident.startswith("/") and len(ident) >= 4:
        return ident[1:4]
    return None


def probe_ids(probe_id):
    return "%s_probe_%s" % (BASE, slug(probe_id))


def probe_state_topic(probe_id):
    return "%s/probe/%s/state" % (BASE, slug(probe_id))


def state_topic(meter_id):
    return "%s/%s/state" % (BASE, slug(meter_id))


def _code_ok(obis):
    # Nothing that could end the quoted key in the value template ('...') or a topic level.
    for ch in obis:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in _OBIS_PUNCT):
            return False
    return len(obis) <= 64


def _usable(v):
    obis = v.get("obis")
    return isinstance(obis, str) and bool(obis) and _code_ok(obis) and v.get("value") is not None


def configs(reading, probe_id, firmware=None, prefix=DISCOVERY_PREFIX):
    """[(topic, payload dict)] to publish retained: the probe's device (one timestamp sensor)
    and one sensor per register of the reading's meter, linked to the probe by via_device."""
    meter = reading.get("meter") or {}
    mid = meter.get("id") or "unknown"
    msl = slug(mid)
    pid = probe_ids(probe_id)
    probe_dev = {"identifiers": [pid], "name": "irprobe %s" % probe_id, "manufacturer": "irprobe"}
    if firmware:
        probe_dev["sw_version"] = firmware
    out = [
        (
            "%s/sensor/%s/last_reading/config" % (prefix, pid),
            {
                "name": "Last reading",
                "unique_id": pid + "_last_reading",
                "state_topic": probe_state_topic(probe_id),
                "value_template": "{{ value_json.time }}",
                "device_class": "timestamp",
                "device": probe_dev,
                "qos": 1,
            },
        )
    ]
    device = {
        "identifiers": ["%s_meter_%s" % (BASE, msl)],
        "name": "Meter %s" % mid,
        "serial_number": mid,
        "via_device": pid,
    }
    maker = manufacturer_of(meter)
    if maker:
        device["manufacturer"] = maker
    if meter.get("ident"):
        device["model"] = meter["ident"]
    seen = {}
    for v in reading.get("values") or []:
        if not _usable(v) or v["obis"] in seen:
            continue
        seen[v["obis"]] = 1
        unit, dclass, sclass = register_kind(v["obis"], v.get("unit"))
        oid = "%s_meter_%s_%s" % (BASE, msl, slug(v["obis"]))
        cfg = {
            "name": name_of(v["obis"]),
            "unique_id": oid,
            "state_topic": state_topic(mid),
            "value_template": "{{ value_json['%s'] }}" % v["obis"],
            "device": device,
            "qos": 1,
        }
        if unit:
            cfg["unit_of_measurement"] = unit
        if dclass:
            cfg["device_class"] = dclass
        if sclass:
            cfg["state_class"] = sclass
        out.append(("%s/sensor/%s/%s/config" % (prefix, oid, slug(v["obis"])), cfg))
    return out


def state(reading, seq=None, taken_at=None):
    """The state payload of one reading: {obis: decimal text, ..., "seq", "time"}; one message
    per reading, so one PUBACK settles it (the outbox deletes it whole or not at all)."""
    out = {}
    for v in reading.get("values") or []:
        if _usable(v):
            out[v["obis"]] = str(v["value"])
    if seq is not None:
        out["seq"] = seq
    if taken_at is not None:
        out["time"] = iso_utc(taken_at)
    return out


def iso_utc(ts):
    """Unix seconds -> '2026-11-25T17:03:31+00:00' without a clock or time module
    (days-to-civil, proleptic Gregorian calendar)."""
    days, rem = divmod(int(ts), 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return "%04d-%02d-%02dT%02d:%02d:%02d+00:00" % (y, m, d, hh, mm, ss)
