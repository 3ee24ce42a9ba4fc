# probe.board: the board's pin map as data (device side; plain Python, runs on the host too).
# Files are boards/<id>.json in the repo; on the device one of them is copied to /board.json.
# check() enforces the RP2040 pin-mux rules so a typo fails at boot with a clear message.
import json

# RP2040 datasheet, GPIO function table: UART0 owns GP0-3, 12-19, 28-29; UART1 GP4-11, 20-27.
# Within a UART, TX sits on pins = 0 (mod 4) and RX on pins = 1 (mod 4).
_UART0 = (0, 1, 2, 3, 12, 13, 14, 15, 16, 17, 18, 19, 28, 29)
LED_KINDS = ("pin", "neopixel", "none")

# Used when no board file is present: a bare Pico with the probe on UART0 GP0/GP1.
DEFAULT = {
    "id": "pico",
    "name": "Raspberry Pi Pico (built-in default)",
    "uart": {"id": 0, "tx": 0, "rx": 1, "invert_tx": False, "invert_rx": False},
    "led": {"kind": "pin", "pin": 25, "active_high": True},
    "button": {"pin": 15, "active_low": True},
    "display": None,
    "carrier": {"pin": 2, "enabled": False, "freq_hz": 38000},
}


class BoardError(ValueError):
    pass


def uart_of(pin):
    """Which UART (0 or 1) a GPIO belongs to."""
    return 0 if pin in _UART0 else 1


def _gpio(value, what):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 29:
        raise BoardError("%s must be a GPIO number 0-29, not %r" % (what, value))
    return value


def check(board):
    """Raise BoardError (plain words) if the board dict breaks the schema or the pin rules."""
    if not isinstance(board, dict):
        raise BoardError("a board file must hold a JSON object")
    for key in ("id", "name", "uart", "led", "button", "carrier"):
        if key not in board:
            raise BoardError("board file has no %r entry" % key)
    u = board["uart"]
    if u.get("id") not in (0, 1):
        raise BoardError("uart id must be 0 or 1")
    tx = _gpio(u.get("tx"), "uart tx")
    rx = _gpio(u.get("rx"), "uart rx")
    if tx % 4 != 0:
        raise BoardError("GP%d cannot be a UART TX pin (TX pins are 0, 4, 8, ...)" % tx)
    if rx % 4 != 1:
        raise BoardError("GP%d cannot be a UART RX pin (RX pins are 1, 5, 9, ...)" % rx)
    if uart_of(tx) != u["id"] or uart_of(rx) != u["id"]:
        raise BoardError("GP%d/GP%d do not belong to UART%d" % (tx, rx, u["id"]))
    for k in ("invert_tx", "invert_rx"):
        if not isinstance(u.get(k, False), bool):
            raise BoardError("uart %s must be true or false" % k)
    used = {tx: "uart tx", rx: "uart rx"}

    def claim(pin, what):
        if pin in used:
            raise BoardError("GP%d is used twice (%s and %s)" % (pin, used[pin], what))
        used[pin] = what

    led = board["led"]
    kind = led.get("kind")
    if kind not in LED_KINDS:
        raise BoardError("led kind must be one of %s" % ", ".join(LED_KINDS))
    if kind == "pin" and led.get("pin") != "LED":
        claim(_gpio(led.get("pin"), "led pin"), "led")
    if kind == "neopixel":
        claim(_gpio(led.get("pin"), "neopixel pin"), "neopixel")
        if led.get("power") is not None:
            claim(_gpio(led["power"], "neopixel power pin"), "neopixel power")
    btn = board["button"]
    if btn is not None:
        claim(_gpio(btn.get("pin"), "button pin"), "button")
    disp = board.get("display")
    if disp is not None:
        sda = _gpio(disp.get("sda"), "display sda")
        scl = _gpio(disp.get("scl"), "display scl")
        # I2Cn: SDA on even pins, SCL on the odd pin next to it, n = (pin // 2) % 2.
        if sda % 2 != 0 or scl % 2 != 1:
            raise BoardError("display needs SDA on an even pin and SCL on an odd pin")
        if (sda // 2) % 2 != disp.get("i2c") or (scl // 2) % 2 != disp.get("i2c"):
            raise BoardError("GP%d/GP%d do not belong to I2C%r" % (sda, scl, disp.get("i2c")))
        claim(sda, "display sda")
        claim(scl, "display scl")
    car = board["carrier"]
    claim(_gpio(car.get("pin"), "carrier pin"), "carrier")
    if not isinstance(car.get("enabled", False), bool):
        raise BoardError("carrier enabled must be true or false")
    return board


def parse(text):
    try:
        board = json.loads(text)
    except ValueError:
        raise BoardError("board file is not valid JSON")
    return check(board)


def load(path="/board.json"):
    """The board from `path`, or the built-in Pico default when the file does not exist."""
    try:
        f = open(path)
    except OSError:
        return DEFAULT
    try:
        return parse(f.read())
    finally:
        f.close()
