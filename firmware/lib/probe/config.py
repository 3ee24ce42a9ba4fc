# probe.config: the probe's persistent settings and meter profiles, as JSON written
# atomically (tmp file, close = littlefs sync, rename), device side (runs on CPython too).
# Secrets (meter passwords, DLMS keys, the Wi-Fi and MQTT passwords among the options) are
# write-only: nothing ever sends them back out.
#
# File /config.json: {"version": 1, "device_name": str, "active": profile name or null,
#   "options": {name: scalar}, "meters": [profile, ...]}
# profile: {"name", "mode", "max_baud", "address", "password", "client", "server", "auth",
#   "wakeup", "keys"}; mode: one of MODES; keys: {"ek"|"ak"|"system_title": hex}
# The host (`irprobe config`, `irprobe read --meter`) checks settings with these same rules
# (probe.config_rules.check_setting), so a wrong value is refused when it is written.
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
#       profile first, then options; AttributeError otherwise
#   load(fs=None, path="/config.json") -> Config   (module level; fs defaults to probe.fsys)
import json

MASK = "***"
# Options that are secrets (the Pico W logger, probe.uplink): shown as "***", "***" keeps them.
SECRET_OPTIONS = ("wifi_password", "mqtt_password")


def _defaults():
    return {"version": 1, "device_name": "", "active": None, "options": {}, "meters": []}


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
        opts = dict(self.data.get("options") or {})
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
        """Validate everything first, then change and save (all or nothing); the rules and
        the merge live in probe.config_rules, loaded only now and let go after: its code
        would be heap the next read needs (issue 12)."""
        from probe.config_rules import apply_changes

        try:
            return apply_changes(self, changes)
        finally:
            from meterproto import compat

            if compat.MICROPYTHON:  # CPython: the host shares the module's ConfigError
                compat.forget(("probe.config_rules",))


def load(fs=None, path="/config.json"):
    """The probe's config from flash (defaults when there is none yet)."""
    if fs is None:
        from probe.fsys import Fsys

        fs = Fsys()
    return Config(fs, path).load()
