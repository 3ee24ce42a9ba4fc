# probe.settings: what one read needs, in one flat dict: the defaults, the active meter profile
# and the options of /config.json (probe.config), each value checked so a bad one from the
# host falls back to its default instead of stopping the reader (device side).
from meterproto.errors import LocalProtocolError

DEFAULTS = {
    "mode": "iec",          # probe.config.MODES: auto, iec (readout), e (mode E), hdlc
    "address": "",          # IEC device address, "" = any meter
    "max_baud": 9600,
    "password": None,
    "wakeup": None,         # battery meters: "standard" (IEC 62056-21 6.4.7)
    "client": None,         # DLMS client SAP
    "server": None,         # DLMS server address: upper, or upper << 16 | lower
    "auth": None,           # DLMS authentication (probe.config.AUTHS); None: by the secrets
    "keys": None,           # {"ek": hex, "ak": hex, "system_title": hex}
    "interval_s": 0,        # > 0: read again every interval_s seconds (logging mode)
    "echo_filter": True,
    "slice_ms": 20,         # longest the app stays in one session step
}
# Settings that must be whole numbers (>= low) or text; anything else falls back to the default
# so a bad value from the host cannot stop the loop (e.g. "interval_s": "60").
_INT_SETTINGS = (("max_baud", 300), ("interval_s", 0), ("slice_ms", 1), ("client", 0),
                 ("server", 0))
_TEXT_SETTINGS = ("mode", "address", "password", "wakeup", "auth")


def settings(config, profile=None):
    """One flat dict of what a read needs, from a probe.config.Config (meter profile +
    options), a plain dict (tests) or None (defaults)."""
    out = dict(DEFAULTS)
    if config is None:
        return out
    if hasattr(config, "profile"):
        opts = config.data.get("options")
        if isinstance(opts, dict):
            out.update(opts)
        p = config.profile(profile)
        if p is None and profile is not None:
            raise LocalProtocolError("no meter profile named %r" % profile)
        for k in (p or {}):
            if p[k] is not None and k in out:
                out[k] = p[k]
        return _clean(out)
    out.update(config)
    return _clean(out)


def _clean(out):
    for k, low in _INT_SETTINGS:
        v = out[k]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            out[k] = DEFAULTS[k]
    for k in _TEXT_SETTINGS:
        if out[k] is not None and not isinstance(out[k], str):
            out[k] = DEFAULTS[k]
    if not isinstance(out["keys"], dict):
        out["keys"] = None
    return out
