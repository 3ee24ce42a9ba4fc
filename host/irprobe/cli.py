"""irprobe: the host command line (argparse, a command table like mpremote's).

Each command lives in its own module `irprobe.cmd_<name>` exposing
`add_arguments(parser)` and `run(args) -> int` (exit code). Heavy imports (serial,
matplotlib, rich) stay inside run() so `irprobe --help` is instant.
"""
import argparse
import importlib
import sys

# name: (module, one-line help). Order is the order of `irprobe --help`.
COMMANDS = {
    "read": ("cmd_read", "read a meter through a serial IR head (IEC 62056-21 / DLMS)"),
    "decode": ("cmd_decode", "decode and explain captured meter bytes (checksums, echo, mistakes)"),
    "doctor": ("cmd_doctor", "find out why a meter is silent, in plain words"),
    "simulate": ("cmd_simulate", "run a simulated meter (or probe) on a pty"),
    "demo": ("cmd_demo", "read the built-in simulated meters end to end"),
    "devices": ("cmd_devices", "list connected RP2040 boards and whether irprobe answers"),
    "install": ("cmd_install", "install the firmware onto a MicroPython board"),
    "config": ("cmd_config", "show or change the probe's meter profiles and options"),
    "take": ("cmd_take", "make the probe read its meter now"),
    "sync": ("cmd_sync", "pull the probe's stored readings into the local database"),
    "publish": ("cmd_publish", "send stored readings to MQTT / Home Assistant"),
    "show": ("cmd_show", "print the latest readings per meter from the database"),
    "export": ("cmd_export", "export readings as CSV or JSON"),
    "plot": ("cmd_plot", "plot registers and load profiles (PNG or SVG)"),
    "bridge": ("cmd_bridge", "expose the probe's meter link as a local pty"),
}


class CommandError(Exception):
    """A clear message for the user; printed without a traceback, exit code 2."""


def _load(name):
    modname, _ = COMMANDS[name]
    try:
        return importlib.import_module("irprobe." + modname)
    except ModuleNotFoundError as e:
        if e.name == "irprobe." + modname:
            return None
        raise


def build_parser():
    from irprobe import __version__

    p = argparse.ArgumentParser(prog="irprobe", description="Optical meter probe companion.")
    p.add_argument("--version", action="version", version="irprobe " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_mod, help_text) in COMMANDS.items():
        mod = _load(name)
        if mod is None:
            continue
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return args._run(args) or 0
    except CommandError as e:
        from irprobe.output import plain_text  # the message may quote device text

        print("irprobe %s: %s" % (args.command, plain_text(str(e))), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
