"""irprobe.meters: named meter settings on the host, so a password or key is typed once.

`irprobe config --meter home --mode e --password ...` without --port keeps them in the
user's config directory (meters.json, private to the user); `irprobe read --meter home`
reads with them. The file and its rules are the probe's own (probe.config): one vocabulary,
one validation for both.
"""
import os

FILE = "meters.json"


def config_dir():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".config")
    return os.path.join(base, "irprobe")


def load():
    """The host's meter settings (probe.config.Config); empty when there is no file yet."""
    from probe.config import Config
    from probe.fsys import Fsys

    from irprobe.cli import CommandError

    d = config_dir()
    try:
        cfg = Config(Fsys(d), "/" + FILE).load()
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (os.path.join(d, FILE), e.strerror or e))
    return cfg


def apply(changes):
    """Check and store changes (probe.config rules); returns the masked settings."""
    from probe.config_rules import ConfigError

    from irprobe.cli import CommandError

    d = config_dir()
    cfg = load()
    known = [m["name"] for m in cfg.data["meters"]]
    for m in changes.get("meters") or ():
        if m.get("name") not in known:
            # a new profile starts from what `irprobe read` does by itself, not from the
            # probe's defaults (IEC readout at 9600)
            m.setdefault("mode", "auto")
            m.setdefault("max_baud", 19200)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        old = os.umask(0o077)  # passwords and keys: readable by the user only
        try:
            out = cfg.apply(changes)
        finally:
            os.umask(old)
        os.chmod(os.path.join(d, FILE), 0o600)
    except ConfigError as e:
        raise CommandError(str(e))
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (os.path.join(d, FILE), e.strerror or e))
    return out


def profile(name):
    """The named settings with their secrets, for a read; CommandError if unknown."""
    from irprobe.cli import CommandError

    cfg = load()
    p = cfg.profile(name) if name else None
    if p is None:
        names = [m["name"] for m in cfg.data["meters"]]
        raise CommandError("no meter named %r in %s (%s)" % (
            name, os.path.join(config_dir(), FILE),
            "known: " + ", ".join(names) if names else
            "save one with `irprobe config --meter %s --mode ...` without --port" % name))
    return p
