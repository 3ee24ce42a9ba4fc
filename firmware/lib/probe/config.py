# probe.config: the probe's persistent settings and meter profiles, as JSON written
# atomically (tmp file, close = littlefs sync, rename), device side (runs on CPython too).
# Secrets (meter passwords, DLMS keys, the Wi-Fi and MQTT passwords among the options) are
# write-only: nothing ever sends them back out.
#
# File /config.json: {"version": 1, "device_name": str, "active": profile name or null,
#   "options": {name: scalar}, "meters": [profile, ...]}
# profile: {"name", "mode", "max_baud", "address", "password", "client", "server", "keys"}
#   mode: text the reader understands ("iec", "auto", "dlms", ...); keys: {name: hex}
#
# API
#   Config(fs, path="/config.json").load() -> Config   (missing file: defaults; a damaged one
#       is renamed to .bad and defaults are used, so the probe still starts)
#   apply(changes) -> masked dict; saves.  changes = {"set": {"device_name"|"active"|"options"},
#       "meters": [profile, ...] (merged by name), "remove": [name, ...]}
#       A secret given as "***" keeps the stored value; "" or null clears it.
#   masked() -> dict for the host: passwords "***" plus has_password, keys {name: "***"}
#   profile(name=None) -> full profile dict WITH secrets (for the reader only), or None
#   save();  data (the dict)
#   config.mode, config.max_baud, config.interval_s, ...: attribute access reads the active
#       profile first, then options (what probe.app's cfg() asks); AttributeError otherwise
#   load(fs=None, path="/config.json") -> Config   (module level; fs defaults to probe.fsys)
import json

MASK = "***"
MAX_METERS = 16
_PROFILE_FIELDS = ("name", "mode", "max_baud", "address", "password", "client", "server", "keys")
_SET_FIELDS = ("device_name", "active", "options")
# Options that are secrets (the Pico W logger, probe.uplink): shown as "***", "***" keeps them.
SECRET_OPTIONS = ("wifi_password", "mqtt_password")


class ConfigError(ValueError):
    """A setting the probe cannot accept; the message says which and why."""

    code = "bad-request"


def _defaults():
    return {"version": 1, "device_name": "", "active": None, "options": {}, "meters": []}


def _text(value, what, longest, empty_ok=True):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > longest or (not value and not empty_ok):
        raise ConfigError("%s must be text of at most %d characters" % (what, longest))
    return value


def _int(value, what, low, high):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (low <= value <= high):
        raise ConfigError("%s must be a whole number from %d to %d" % (what, low, high))
    return value


def _hex_key(value, what):
    s = _text(value, what, 128)
    for ch in s:
        if ch not in "0123456789abcdefABCDEF":
            raise ConfigError("%s must be hex digits" % what)
    if len(s) % 2:
        raise ConfigError("%s has an odd number of hex digits" % what)
    return s


def _shape_problem(data):
    """What makes parsed JSON unusable as settings (plain words), or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("meters"), list):
        return "no list of meters"
    for p in data["meters"]:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            return "a meter profile without a name"
        if not isinstance(p.get("keys") or {}, dict):
            return "keys of meter %r are not a JSON object" % p["name"]
    if not isinstance(data.get("options") or {}, dict):
        return "options are not a JSON object"
    if data.get("active") is not None and not isinstance(data["active"], str):
        return "the active profile is not a name"
    return None


class Config:
    def __init__(self, fs, path="/config.json"):
        self.fs = fs
        self.path = path
        self.data = _defaults()
        self.note = None  # set by load() when the file was damaged and set aside

    def load(self):
        fs = self.fs
        if fs.exists(self.path + ".tmp"):
            fs.remove(self.path + ".tmp")  # a save cut short; the old file is intact
        if not fs.exists(self.path):
            self.data = _defaults()
            return self
        f = fs.open(self.path, "rb")
        try:
            text = f.read()
        finally:
            f.close()
        try:
            data = json.loads(bytes(text).decode())
            why = _shape_problem(data)
            if why is not None:
                raise ValueError(why)
        except (ValueError, UnicodeError) as e:
            try:
                fs.rename(self.path, self.path + ".bad")  # keep it for the user, start clean
                kept = "kept as %s.bad" % self.path
            except OSError:
                kept = "left in place"
            self.note = ("%s is damaged (%s): %s, using the default settings"
                         % (self.path, e, kept))
            data = _defaults()
        d = _defaults()
        d.update(data)
        if not isinstance(d["options"], dict):
            d["options"] = {}  # null in the file
        for p in d["meters"]:
            if not isinstance(p.get("keys"), dict):
                p["keys"] = {}
        self.data = d
        return self

    def save(self):
        tmp = self.path + ".tmp"
        f = self.fs.open(tmp, "wb")
        try:
            f.write(json.dumps(self.data, separators=(",", ":")).encode())
        finally:
            f.close()
        self.fs.rename(tmp, self.path)

    def __getattr__(self, name):
        # Only called for names that are not real attributes: the reader's settings.
        if name.startswith("_") or name in ("data", "fs", "path", "note"):
            raise AttributeError(name)
        p = self.profile()
        if p is not None and name in p and name != "name":
            return p[name]
        opts = self.data.get("options") or {}
        if name in opts:
            return opts[name]
        raise AttributeError(name)

    def profile(self, name=None):
        """The full profile (secrets included) for the reader; the active one by default."""
        if name is None:
            name = self.data.get("active")
        for p in self.data["meters"]:
            if name is None or p["name"] == name:
                return dict(p)
        return None

    def masked(self):
        out = {}
        for k in self.data:
            if k != "meters":
                out[k] = self.data[k]
        opts = dict(self.data["options"])
        for k in SECRET_OPTIONS:
            if opts.get(k):
                opts[k] = MASK
        out["options"] = opts
        meters = []
        for p in self.data["meters"]:
            q = {}
            for k in p:
                if k == "password":
                    q["password"] = MASK if p[k] else None
                elif k == "keys":
                    q["keys"] = dict((name, MASK) for name in p[k])
                else:
                    q[k] = p[k]
            q["has_password"] = bool(p.get("password"))
            meters.append(q)
        out["meters"] = meters
        return out

    def apply(self, changes):
        """Validate everything first, then change and save (all or nothing)."""
        if not isinstance(changes, dict):
            raise ConfigError("config changes must be a JSON object")
        for k in changes:
            if k not in ("set", "meters", "remove"):
                raise ConfigError("unknown config section %r (use set, meters, remove)" % k)
        data = json.loads(json.dumps(self.data))  # a deep copy to change
        for name in changes.get("remove") or ():
            data["meters"] = [p for p in data["meters"] if p["name"] != name]
            if data["active"] == name:
                data["active"] = None
        for new in changes.get("meters") or ():
            self._merge(data, new)
        for k, v in (changes.get("set") or {}).items():
            if k not in _SET_FIELDS:
                raise ConfigError("unknown setting %r (known: %s)" % (k, ", ".join(_SET_FIELDS)))
            if k == "options":
                if not isinstance(v, dict):
                    raise ConfigError("options must be a JSON object")
                for ok, ov in v.items():
                    if ov is not None and not isinstance(ov, (str, int, bool)):
                        raise ConfigError("option %r must be text, a number or true/false" % ok)
                    if ok in SECRET_OPTIONS:
                        if ov == MASK:  # what the host saw: keep the stored secret
                            continue
                        ov = _text(ov, ok, 64) or None
                    data["options"][ok] = ov
            elif k == "device_name":
                data[k] = _text(v, "device name", 32)
            else:
                data[k] = v
        names = [p["name"] for p in data["meters"]]
        if data["active"] is not None and data["active"] not in names:
            raise ConfigError("active profile %r does not exist" % data["active"])
        self.data = data
        self.save()
        return self.masked()

    def _merge(self, data, new):
        if not isinstance(new, dict):
            raise ConfigError("a meter profile must be a JSON object")
        for k in new:
            if k not in _PROFILE_FIELDS:
                raise ConfigError("unknown profile field %r (known: %s)"
                                  % (k, ", ".join(_PROFILE_FIELDS)))
        name = _text(new.get("name"), "profile name", 32, False)
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
                   "password": None, "client": None, "server": None, "keys": {}}
            data["meters"].append(old)
        for k in new:
            v = new[k]
            if k == "mode":
                old[k] = _text(v, "mode", 16, False)
            elif k == "max_baud":
                old[k] = _int(v, "max_baud", 300, 115200)
            elif k == "address":
                old[k] = _text(v, "meter address", 32)
            elif k == "client":
                old[k] = _int(v, "client address", 0, 0x7F)
            elif k == "server":
                old[k] = _int(v, "server address", 0, 0x3FFF3FFF)
            elif k == "password":
                if v != MASK:  # "***" is what the host saw: keep the stored secret
                    old[k] = _text(v, "password", 64) or None
            elif k == "keys":
                if not isinstance(v, dict):
                    raise ConfigError("keys must be a JSON object of name: hex")
                keys = dict(old.get("keys") or {})
                for kn, kv in v.items():
                    _text(kn, "key name", 16, False)
                    if kv == MASK:
                        continue
                    if kv is None or kv == "":
                        keys.pop(kn, None)
                    else:
                        keys[kn] = _hex_key(kv, "key " + kn)
                old["keys"] = keys


def load(fs=None, path="/config.json"):
    """The probe's config from flash (defaults when there is none yet)."""
    if fs is None:
        from probe.fsys import Fsys

        fs = Fsys()
    return Config(fs, path).load()
