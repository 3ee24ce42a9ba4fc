# probe.led patterns and drivers, probe.button debouncing.
from probe.button import Debounced
from probe.led import PATTERNS, Player, PinLed, PixelLed


class _Rec:
    def __init__(self):
        self.log = []

    def set(self, colour):
        self.log.append(colour)


class _Pin:
    def __init__(self):
        self.v = None

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


def test_every_pattern_ends_dark_and_alternates_on_off():
    for name, (colour, steps) in PATTERNS.items():
        assert len(colour) == 3 and max(colour) <= 64, name  # dim, valid RGB
        assert len(steps) % 2 == 0, name


def test_outcome_patterns_are_told_apart_by_count_and_length():
    shapes = set()
    for name in ("success", "no-answer", "echo-only", "error", "storage-full"):
        steps = PATTERNS[name][1]
        shapes.add(tuple(steps[0::2]))  # on-times: what a user sees on a one-colour LED
    assert len(shapes) == 5


def test_player_plays_once_then_goes_dark():
    rec = _Rec()
    p = Player(rec)
    p.play("no-answer", 0)
    for t in range(0, 3000, 10):
        p.tick(t)
    on = [c for c in rec.log if c is not None]
    assert len(on) == 3 and rec.log[-1] is None and not p.busy()


def test_busy_repeats_until_another_pattern():
    rec = _Rec()
    p = Player(rec)
    p.play("busy", 0)
    for t in range(0, 5000, 10):
        p.tick(t)
    assert sum(1 for c in rec.log if c is not None) == 10  # 500 ms period
    assert p.busy()
    p.play("success", 5000)
    assert rec.log[-1] == PATTERNS["success"][0]
    p.tick(6600)
    assert rec.log[-1] is None and not p.busy()


def test_pin_led_polarity():
    pin = _Pin()
    led = PinLed(pin, active_high=False)
    assert pin.v == 1  # off
    led.set((1, 2, 3))
    assert pin.v == 0


def test_pixel_colour_order():
    class NP(list):
        writes = 0

        def write(self):
            NP.writes += 1

    np = NP([None])
    PixelLed(np, "RGB").set((10, 20, 30))
    assert np[0] == (20, 10, 30)
    PixelLed(np, "GRB").set((10, 20, 30))
    assert np[0] == (10, 20, 30) and NP.writes == 4


def _levels(script):
    """script: list of (from_ms, level) -> callable level(t)."""
    def level_at(t):
        v = 1
        for start, lv in script:
            if t >= start:
                v = lv
        return v
    return level_at


def _presses(script, until=1000):
    t = [0]
    lv = _levels(script)
    b = Debounced(lambda: lv(t[0]), active_low=True, settle_ms=30)
    out = []
    for ms in range(until):
        t[0] = ms
        if b.poll(ms):
            out.append(ms)
    return out


def test_bounce_gives_one_press():
    script = [(100, 0), (102, 1), (104, 0), (105, 1), (107, 0), (400, 1), (402, 0), (403, 1)]
    assert _presses(script) == [137]


def test_glitch_shorter_than_settle_time_is_ignored():
    assert _presses([(100, 0), (120, 1)]) == []


def test_two_real_presses():
    assert _presses([(100, 0), (300, 1), (500, 0), (700, 1)]) == [130, 530]
