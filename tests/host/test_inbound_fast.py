"""irprobe.inbound's bulk checks (check_tree, the common value shape) refuse exactly what the
one-by-one checks refuse: every hostile text, wherever it stands in a reading."""

import pytest

from irprobe.inbound import MAX_STRING, Untrusted, check_reading, check_tree, text


def _reading(**value):
    v = {"obis": "1-0:1.8.0*255", "value": "001234.5", "unit": "kWh"}
    v.update(value)
    plain = {"obis": "0-0:96.1.0*255", "value": "31234567", "unit": None}
    return {"meter": {"id": "M1"}, "protocol": "iec62056-21", "values": [plain, v, plain]}


def test_common_shape_is_kept_as_sent():
    r = check_reading(_reading(extra=["2611220930"], time="2611220930"))
    assert r["values"][1] == {"obis": "1-0:1.8.0*255", "value": "001234.5", "unit": "kWh",
                              "address": None, "time": "2611220930", "extra": ["2611220930"]}
    assert r["values"][0]["extra"] is None


@pytest.mark.parametrize("bad", ["1\x00", "a\x1bb", "\x7f", "x\ny"])
@pytest.mark.parametrize("field", ["obis", "value", "unit", "address", "time", "extra"])
def test_control_characters_refused_in_every_field(field, bad):
    with pytest.raises(Untrusted, match="control characters"):
        check_reading(_reading(**{field: [bad] if field == "extra" else bad}))
    # the display path lets them through for irprobe.output to replace
    check_reading(_reading(**{field: [bad] if field == "extra" else bad}), for_display=True)


@pytest.mark.parametrize("field", ["obis", "value", "unit", "address", "time"])
def test_over_long_and_non_text_refused(field):
    with pytest.raises(Untrusted, match="characters long"):
        check_reading(_reading(**{field: "9" * 300}))
    with pytest.raises(Untrusted, match="not text"):
        check_reading(_reading(**{field: 1.5}))
    with pytest.raises(Untrusted, match="not text"):
        check_reading(_reading(**{field: False}))


def test_falsy_extra_still_checked():
    with pytest.raises(Untrusted, match="not text"):
        check_reading(_reading(extra=False))
    assert check_reading(_reading(extra=[]))["values"][1]["extra"] is None
    assert check_reading(_reading(extra=7))["values"][1]["extra"] == ["7"]


def test_non_control_unprintables_are_decided_by_the_precise_check():
    # U+200E (a bidi mark) is not printable but not C0: text() keeps it, so must the fast path
    r = check_reading(_reading(unit="kWh\u200e"))
    assert r["values"][1]["unit"] == text("kWh\u200e", "unit")


@pytest.mark.parametrize("where", ["key", "value", "deep", "extra"])
def test_lone_surrogate_anywhere_refused(where):
    r = _reading()
    if where == "key":
        r["values"][1]["x\ud800"] = 1
    elif where == "value":
        r["notes"] = ["ok", "\udc00"]
    elif where == "deep":
        r["profiles"] = [{"obis": "1-0:99.1.0*255", "columns": [], "rows": [], "q": [["\ud83d"]]}]
    else:
        r["values"][1]["extra"] = ["\ud800", "\udc00"]  # two halves never pair across strings
    with pytest.raises(Untrusted, match="surrogate"):
        check_tree(r)
    with pytest.raises(Untrusted, match="surrogate"):
        check_reading(r)


def test_tree_bounds():
    with pytest.raises(Untrusted, match="key that is not text"):
        check_tree({"a": {1: "x"}})
    with pytest.raises(Untrusted, match="characters"):
        check_tree({"a": ["y" * (MAX_STRING + 1)]})
    with pytest.raises(Untrusted, match="too large"):
        check_tree([[1 << 64]])
    with pytest.raises(Untrusted, match="not finite"):
        check_tree({"v": [float("nan")]})
    with pytest.raises(Untrusted, match="bytes"):
        check_tree({"v": b"x"})
    with pytest.raises(Untrusted, match="nested"):
        deep = []
        for _ in range(40):
            deep = [deep]
        check_tree(deep)
    with pytest.raises(Untrusted, match="more than 10 items"):
        check_tree({"a": list(range(10))}, max_items=10)
    check_tree({"a": list(range(9))}, max_items=12)  # the object, its key, the list, 9 numbers
    assert check_tree("plain") == "plain"
