# Property-based fuzz of what the host imports from a probe and what `decode` prints (issue 14),
# at a size for `make test`; bench/fuzz.py runs the same targets at 10^6 inputs (`make fuzz`).
# Properties: a reading from a probe is stored exactly or refused with BadRecord (never another
# exception, never altered); what is shown carries no markup span and no raw control.
import pytest
from fuzz_host import HOST_TARGETS, RAW, Recorder, _record
from hypothesis import HealthCheck, given, settings, strategies as st
from irprobe.db import BadRecord, Store
from irprobe.output import reading_table
from meterproto.errors import ProtocolError
from meterproto.link.records import decode_record, encode_record
from test_fuzz_short import _edited

SHORT = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Text as a hostile probe would send it: markup, controls (C0, C1), bidi, surrogates, astral.
_ALPHABET = st.one_of(
    st.sampled_from(list("[]/=+-@\\$*().:;'\"") + RAW + ["\x00", "\x7f", "\ud800", "\udfff",
                                                         "\U0001f600", "\u00e9"]),
    st.characters(),
)
HOSTILE_TEXT = st.text(_ALPHABET, max_size=40)
NUMBER = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=True, allow_infinity=True))
LEAF = st.one_of(st.none(), st.booleans(), NUMBER, HOSTILE_TEXT)
TREE = st.recursive(LEAF, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(HOSTILE_TEXT, kids, max_size=4)), max_leaves=20)

VALUE = st.fixed_dictionaries(
    {"obis": st.one_of(HOSTILE_TEXT, st.just("1-0:1.8.0*255")),
     "value": st.one_of(HOSTILE_TEXT, NUMBER),
     "unit": st.one_of(st.none(), HOSTILE_TEXT)},
    optional={"address": HOSTILE_TEXT, "extra": st.lists(HOSTILE_TEXT, max_size=3),
              "time": HOSTILE_TEXT, "junk": TREE})
READING = st.fixed_dictionaries(
    {"meter": st.one_of(st.fixed_dictionaries({"id": HOSTILE_TEXT}), TREE),
     "protocol": st.one_of(st.just("iec62056-21"), HOSTILE_TEXT),
     "values": st.one_of(st.lists(VALUE, max_size=5), TREE)},
    optional={"baud": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), TREE),
              "mode": HOSTILE_TEXT, "objects": TREE, "notes": st.lists(HOSTILE_TEXT, max_size=3),
              "profiles": TREE})


def _shown(values):
    rec = Recorder()
    rec.print(reading_table({"values": values, "meter": {"id": "m"}}))
    return rec.text()


@SHORT
@given(READING)
def test_any_reading_is_stored_exactly_or_refused_plainly(reading):
    s = Store(":memory:")
    try:
        raw = encode_record(1, 1764090000, reading, b"\x02" * 8)
    except (ProtocolError, ValueError):
        return  # too large to be a record, or not JSON (NaN goes through, as MicroPython's)
    rec = decode_record(raw)
    try:
        s.add_records("fuzz", [(rec.seq, rec.time_s, rec.reading, rec.digest)])
    except BadRecord as e:
        assert str(e) and "\n" not in str(e)
        assert s.counts()["sessions"] == 0
        return
    (_, _, values), = s.latest()
    want = [{"obis": v.get("obis"), "value": None if v.get("value") is None else str(v["value"]),
             "unit": v.get("unit")} for v in reading["values"] or []]
    assert values == want  # stored exactly as sent, nothing silently changed
    text = _shown(values)
    for ch in RAW:
        assert ch not in text


@SHORT
@given(st.integers(min_value=1, max_value=3000), st.sampled_from("[{"))
def test_deep_nesting_is_refused_not_a_crash(depth, opener):
    if opener == "[":
        body = "[" * depth + '"x"' + "]" * depth
    else:
        body = '{"a":' * depth + "1" + "}" * depth
    payload = ('{"meter":{"id":"m"},"values":[],"objects":%s}' % body).encode()
    s = Store(":memory:")
    try:
        rec = decode_record(_record(1, payload))
        s.add_records("fuzz", [(rec.seq, rec.time_s, rec.reading, rec.digest)])
    except (ProtocolError, BadRecord) as e:
        assert "nested" in str(e)
        return
    assert depth < 31  # stored: only a shallow tree gets through


@pytest.mark.parametrize("name", [t[0] for t in HOST_TARGETS])
def test_host_targets_survive_random_and_edited_inputs(name):
    _, fn, corpus = [t for t in HOST_TARGETS if t[0] == name][0]

    @settings(max_examples=300, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(st.binary(max_size=300), _edited(corpus())))
    def run(data):
        try:
            fn(data)
        except ProtocolError:
            pass

    run()
