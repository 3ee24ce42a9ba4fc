# boot_circuitpython.py: CircuitPython only. Copy it to the CIRCUITPY drive as boot.py.
# MicroPython ignores this file (its filesystem, littlefs, is always writable by code).
#
# Why: on CircuitPython the CIRCUITPY filesystem is FAT, shared with the computer over USB,
# and code cannot write to it unless boot.py remounts it (storage.remount). The probe
# must write its records (/data) and settings (/config.json), so by default this file
# gives the filesystem to the code. The computer then sees the drive as read-only.
# To update the code, hold the probe's button while plugging in: the drive then stays
# writable by the computer for that start, and the probe cannot store readings.
#
# Caution: FAT is not power-loss safe the way littlefs is (docs/ARCHITECTURE.md, "Probe internals"). probe.store
# still never returns a damaged record (CRC check), but a power cut while writing can
# lose that record. MicroPython is the recommended runtime.
import json

import board
import digitalio
import storage


def _button_pin():
    # Same board file as the reader app; fall back to the board's own BUTTON, then GP15.
    try:
        with open("/board.json") as f:
            return "GP%d" % json.load(f)["button"]["pin"]
    except (OSError, ValueError, KeyError, TypeError):
        return "BUTTON" if hasattr(board, "BUTTON") else "GP15"


def _button_held():
    name = _button_pin()
    if not hasattr(board, name):
        return False
    btn = digitalio.DigitalInOut(getattr(board, name))
    btn.switch_to_input(pull=digitalio.Pull.UP)
    held = not btn.value  # the button pulls the pin to GND
    btn.deinit()
    return held


if not _button_held():
    storage.remount("/", readonly=False)  # code may write; the computer sees it read-only
