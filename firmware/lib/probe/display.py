# probe.display: optional SSD1306 OLED showing the last reading (device side).
# The driver (micropython-lib "ssd1306") is optional: without it, or without a display on
# the bus, make() returns None and the app simply skips the screen.


def make(board, machine):
    """An SSD1306 driver for the board's display entry, or None."""
    spec = board.get("display")
    if not spec:
        return None
    try:
        import ssd1306
    except ImportError:
        return None
    try:
        i2c = machine.I2C(spec["i2c"], sda=machine.Pin(spec["sda"]), scl=machine.Pin(spec["scl"]))
        if spec.get("addr", 60) not in i2c.scan():
            return None
        return Screen(ssd1306.SSD1306_I2C(spec["width"], spec["height"], i2c,
                                          addr=spec.get("addr", 60)))
    except (OSError, ValueError):
        return None


class Screen:
    """Lines of text on a framebuf-based display (8x8 font: 16 characters a line)."""

    def __init__(self, oled, width=None, height=None):
        self.oled = oled
        self.cols = (width or getattr(oled, "width", 128)) // 8
        self.rows = (height or getattr(oled, "height", 64)) // 8

    def show(self, lines):
        self.oled.fill(0)
        for i in range(min(len(lines), self.rows)):
            self.oled.text(lines[i][: self.cols], 0, i * 8, 1)
        self.oled.show()


def summary(outcome, reading=None, seq=None):
    """The lines to show for a read: outcome, meter id and the first values."""
    lines = [outcome.upper().replace("-", " ")]
    if reading is not None:
        if reading.get("meter", {}).get("id"):
            lines.append(str(reading["meter"]["id"]))
        for v in reading.get("values", ())[:4]:
            text = "%s %s" % (v.get("value"), v.get("unit") or "")
            lines.append(text.strip())
    if seq is not None:
        lines.append("#%d" % seq)
    return lines
