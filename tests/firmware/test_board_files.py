# Every boards/*.json obeys the schema and the RP2040 pin-mux rules (probe.board.check).
import glob
import json
import os

import pytest

from probe import board

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, "boards", "*.json")))


def test_the_five_boards_are_there():
    names = [os.path.basename(f)[:-5] for f in FILES]
    for want in ("pico", "pico_w", "rp2040_zero", "feather_rp2040", "xiao_rp2040"):
        assert want in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.basename(p))
def test_board_file_valid(path):
    with open(path) as f:
        b = board.parse(f.read())
    assert b["id"] == os.path.basename(path)[:-5]
    u = b["uart"]
    # The rule written out once more, independently of board.check().
    uart0 = set(range(0, 4)) | set(range(12, 20)) | {28, 29}
    assert u["tx"] % 4 == 0 and u["rx"] % 4 == 1
    assert (u["tx"] in uart0) == (u["id"] == 0) and (u["rx"] in uart0) == (u["id"] == 0)
    assert b["carrier"]["enabled"] is False  # baseband is the default (docs/CARRIER.md)


def test_board_specifics():
    def load(name):
        with open(os.path.join(ROOT, "boards", name + ".json")) as f:
            return json.load(f)

    assert load("pico_w")["led"]["pin"] == "LED"
    assert load("rp2040_zero")["led"] == {"kind": "neopixel", "pin": 16, "order": "RGB"}
    assert load("feather_rp2040")["led"]["pin"] == 16
    x = load("xiao_rp2040")["led"]
    assert (x["pin"], x["power"]) == (12, 11)


def _base():
    return json.loads(json.dumps(board.DEFAULT))


@pytest.mark.parametrize("change, words", [
    (lambda b: b["uart"].update(tx=1), "cannot be a UART TX pin"),
    (lambda b: b["uart"].update(rx=2), "cannot be a UART RX pin"),
    (lambda b: b["uart"].update(tx=4, rx=5), "do not belong to UART0"),
    (lambda b: b["uart"].update(id=1, tx=12, rx=13), "do not belong to UART1"),
    (lambda b: b["uart"].update(tx=32), "GPIO number 0-29"),
    (lambda b: b["button"].update(pin=1), "used twice"),
    (lambda b: b["led"].update(kind="lamp"), "led kind"),
    (lambda b: b.pop("carrier"), "no 'carrier' entry"),
    (lambda b: b.update(display={"i2c": 1, "sda": 4, "scl": 5}), "do not belong to I2C1"),
    (lambda b: b.update(display={"i2c": 0, "sda": 5, "scl": 4}), "SDA on an even pin"),
])
def test_bad_boards_are_refused_in_plain_words(change, words):
    b = _base()
    change(b)
    with pytest.raises(board.BoardError) as e:
        board.check(b)
    assert words in str(e.value)


def test_load_falls_back_to_default_and_rejects_bad_json(tmp_path):
    assert board.load(str(tmp_path / "missing.json")) is board.DEFAULT
    p = tmp_path / "board.json"
    p.write_text("{not json")
    with pytest.raises(board.BoardError) as e:
        board.load(str(p))
    assert "not valid JSON" in str(e.value)
    p.write_text(open(FILES[0]).read())
    assert board.load(str(p))["uart"]["tx"] % 4 == 0
