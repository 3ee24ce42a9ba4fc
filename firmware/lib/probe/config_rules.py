# probe.config_rules: the rules every probe setting meets and how a change to /config.json is
# checked and applied (device side, runs on CPython too). Loaded only when the host changes
# the settings, not at boot (probe.config stays small); the host's `irprobe config` and
# `irprobe read --meter` check with these same rules.
import json

MASK = "***"  # as probe.config.MASK: what the host saw instead of a secret
SECRET_OPTIONS = ("wifi_password", "mqtt_password")  # as probe.config.SECRET_OPTIONS
MAX_METERS = 16
PROFILE_FIELDS = ("name", "mode", "max_baud", "address", "password", "client", "server",
                  "auth", "wakeup", "keys")
SET_FIELDS = ("device_name", "active", "options")
# One vocabulary for every reader (probe, `irprobe read`, `irprobe config`): auto = IEC
# sign-on, mode E if offered, direct HDLC if silent; iec = IEC 62056-21 readout; e = mode E;
# hdlc = direct HDLC at 9600 8N1. Older spellings are still read and stored as these.
MODES = ("auto", "iec", "e", "hdlc")
MODE_ALIASES = {"iec-c": "iec", "iec-e": "e", "dlms": "auto"}
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)  # IEC 62056-21 baud characters 0-6
AUTHS = ("lowest", "low", "hls-gmac")
WAKEUPS = ("standard", "fast")
KEY_DIGITS = {"ek": 32, "ak": 32, "system_title": 16}
# Board options: name -> (kind, low, high). Profile fields may be options too (the default
# for every profile). Other parts of the probe add theirs here.
OPTIONS = {"interval_s": ("int", 0, 31 * 86400), "echo_filter": ("bool", 0, 0),
           "slice_ms": ("int", 1, 1000),
           # the Pico W logger (probe.uplink)
           "wifi_ssid": ("text", 0, 32), "wifi_password": ("text", 0, 64),
           "mqtt_host": ("text", 0, 253), "mqtt_port": ("int", 1, 65535),
           "mqtt_tls": ("bool", 0, 0), "mqtt_user": ("text", 0, 64),
           "mqtt_password": ("text", 0, 64), "mqtt_prefix": ("text", 0, 64)}


class ConfigError(ValueError):
    """A setting the probe cannot accept; the message says which and why."""

    code = "bad-request"


def text(value, what, longest, empty_ok=True):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > longest or (not value and not empty_ok):
        raise ConfigError("%s must be text of at most %d characters" % (what, longest))
    return value


def whole(value, what, low, high):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (low <= value <= high):
        raise ConfigError("%s must be a whole number from %d to %d" % (what, low, high))
    return value


def _hex_key(value, what):
    s = text(value, what, 128)
    for ch in s:
        if ch not in "0123456789abcdefABCDEF":
            raise ConfigError("%s must be hex digits" % what)
    if len(s) % 2:
        raise ConfigError("%s has an odd number of hex digits" % what)
    return s


def _choice(value, what, allowed):
    if value is None:
        return None
    if value not in allowed:
        raise ConfigError("%s must be one of %s (got %r)" % (what, ", ".join(
            str(a) for a in allowed), value))
    return value


def _address(value):
    s = text(value, "meter address", 32)
    for ch in s or "":
        if not (ch.isalpha() or ch.isdigit() or ch == " ") or ord(ch) > 0x7E:
            # IEC 62056-21 6.3.1: the sign-on address holds digits, letters and spaces
            raise ConfigError("meter address may hold digits, letters and spaces only "
                              "(got %r)" % value)
    return s or None


def check_setting(name, value):
    """A profile field or board option checked and normalised (the probe's rules), or
    ConfigError naming what is wrong. None clears a setting."""
    if name == "mode":
        if value is None:
            return None
        value = MODE_ALIASES.get(value, value)
        return _choice(value, "mode", MODES)
    if name == "max_baud":
        return _choice(whole(value, "max_baud", 300, 19200), "max_baud", BAUDS)
    if name == "address":
        return _address(value)
    if name == "client":
        return whole(value, "client address", 1, 0x7F)
    if name == "server":
        return whole(value, "server address", 0, 0x3FFF3FFF)
    if name == "auth":
        return _choice(value, "auth", AUTHS)
    if name == "wakeup":
        return _choice(value, "wakeup", WAKEUPS)
    if name == "password":
        return text(value, "password", 64) or None
    if name in KEY_DIGITS:
        s = _hex_key(value, "key " + name)
        if s is not None and len(s) != KEY_DIGITS[name]:
            raise ConfigError("key %s must be %d hex digits" % (name, KEY_DIGITS[name]))
        return s
    rule = OPTIONS.get(name)
    if rule is None:
        raise ConfigError("unknown option %r (known: %s)" % (name, ", ".join(
            sorted(list(OPTIONS) + ["mode", "max_baud", "address", "client", "server",
                                    "auth", "wakeup"]))))
    if value is None:
        return None
    kind, low, high = rule
    if kind == "int":
        return whole(value, name, low, high)
    if kind == "bool":
        if value is not True and value is not False:
            raise ConfigError("%s must be true or false" % name)
        return value
    return text(value, name, high)


def check_key(name, value):
    """A DLMS key (ek, ak, system_title) checked; None or "" clears it."""
    if name not in KEY_DIGITS:
        raise ConfigError("unknown key %r (known: %s)" % (name, ", ".join(sorted(KEY_DIGITS))))
    if value is None or value == "":
        return None
    return check_setting(name, value)


def apply_changes(cfg, changes):
    """Validate everything first, then change and save (all or nothing)."""
    if not isinstance(changes, dict):
        raise ConfigError("config changes must be a JSON object")
    for k in changes:
        if k not in ("set", "meters", "remove"):
            raise ConfigError("unknown config section %r (use set, meters, remove)" % k)
    data = json.loads(json.dumps(cfg.data))  # a deep copy to change
    for name in changes.get("remove") or ():
        if name not in [p["name"] for p in data["meters"]]:
            raise ConfigError("no meter profile named %r to remove (known: %s)" % (
                name, ", ".join(p["name"] for p in data["meters"]) or "none"))
        data["meters"] = [p for p in data["meters"] if p["name"] != name]
        if data["active"] == name:
            data["active"] = None
    for new in changes.get("meters") or ():
        _merge(data, new)
    for k, v in (changes.get("set") or {}).items():
        if k not in SET_FIELDS:
            raise ConfigError("unknown setting %r (known: %s)" % (k, ", ".join(SET_FIELDS)))
        if k == "options":
            if not isinstance(v, dict):
                raise ConfigError("options must be a JSON object")
            for ok, ov in v.items():
                if ov is not None and not isinstance(ov, (str, int, bool)):
                    raise ConfigError("option %r must be text, a number or true/false" % ok)
                if ok == "keys" or ok == "name":
                    raise ConfigError("%s belongs to a meter profile, not the options" % ok)
                if ok in SECRET_OPTIONS and ov == MASK:
                    continue  # "***" is what the host saw: keep the stored secret
                if ok in SECRET_OPTIONS and ov == "":
                    ov = None  # "" clears a secret, as for a meter password
                ov = check_setting(ok, ov)
                if ov is None:
                    data["options"].pop(ok, None)
                else:
                    data["options"][ok] = ov
        elif k == "device_name":
            data[k] = text(v, "device name", 32)
        else:
            data[k] = v
    names = [p["name"] for p in data["meters"]]
    if data["active"] is not None and data["active"] not in names:
        raise ConfigError("active profile %r does not exist" % data["active"])
    cfg.data = data
    cfg.save()
    return cfg.masked()


def _merge(data, new):
    if not isinstance(new, dict):
        raise ConfigError("a meter profile must be a JSON object")
    for k in new:
        if k not in PROFILE_FIELDS:
            raise ConfigError("unknown profile field %r (known: %s)"
                              % (k, ", ".join(PROFILE_FIELDS)))
    name = text(new.get("name"), "profile name", 32, False)
    if name is None:
        raise ConfigError("a meter profile needs a name")
    old = None
    for p in data["meters"]:
        if p["name"] == name:
            old = p
    if old is None:
        if len(data["meters"]) >= MAX_METERS:
            raise ConfigError("at most %d meter profiles" % MAX_METERS)
        old = {"name": name, "mode": "iec", "max_baud": 9600, "address": None,
               "password": None, "client": None, "server": None, "auth": None,
               "wakeup": None, "keys": {}}
        data["meters"].append(old)
    for k in new:
        v = new[k]
        if k in ("mode", "max_baud", "address", "client", "server", "auth", "wakeup"):
            old[k] = check_setting(k, v)
        elif k == "password":
            if v != MASK:  # "***" is what the host saw: keep the stored secret
                old[k] = text(v, "password", 64) or None
        elif k == "keys":
            if not isinstance(v, dict):
                raise ConfigError("keys must be a JSON object of name: hex")
            keys = dict(old.get("keys") or {})
            for kn, kv in v.items():
                text(kn, "key name", 16, False)
                if kv == MASK:
                    continue
                kv = check_key(kn, kv)
                if kv is None:
                    keys.pop(kn, None)
                else:
                    keys[kn] = kv
            old["keys"] = keys
