# A short, seeded fuzz run of every core parser inside `make test` (bench/fuzz.py runs 10^6
# inputs per parser): hypothesis drives random bytes and edits of valid vectors; only a
# result or a meterproto.errors.ProtocolError may come out.
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "core"))
import test_fuzz_mp as F  # noqa: E402
from meterproto.errors import ProtocolError  # noqa: E402

NAMES = [t[0] for t in F.TARGETS]
SHORT = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


def _target(name):
    return [t for t in F.TARGETS if t[0] == name][0]


def _edited(vectors):
    """A valid vector with a few hypothesis-chosen edits: (position, new byte) or a cut."""
    edit = st.tuples(st.integers(0, 4096), st.integers(0, 255), st.sampled_from("sid"))

    def apply(args):
        v, edits = args
        b = bytearray(v)
        for pos, val, kind in edits:
            i = pos % (len(b) + 1)
            if kind == "s" and b:
                b[i % len(b)] = val
            elif kind == "i":
                b[i:i] = bytes((val,))
            elif b:
                b[i:i + 1 + val % 8] = b""
        return bytes(b)

    return st.tuples(st.sampled_from(vectors), st.lists(edit, min_size=1, max_size=4)).map(apply)


def _no_undefined_errors(fn, data):
    try:
        fn(data)
    except ProtocolError:
        pass


@pytest.mark.parametrize("name", NAMES)
def test_parser_survives_random_and_edited_inputs(name):
    _, fn, corpus = _target(name)
    vectors = corpus()

    @SHORT
    @given(st.one_of(st.binary(max_size=300), _edited(vectors)))
    def run(data):
        _no_undefined_errors(fn, data)

    run()


def test_seeded_mutation_run_of_every_parser():
    for name, fn, corpus in F.TARGETS:
        assert F.fuzz(name, fn, corpus(), 1000, seed=7) == 1000


def test_the_harness_catches_an_undefined_error():
    def broken(data):
        if len(data) > 3:
            raise IndexError("parser bug")

    with pytest.raises(AssertionError, match="parser bug"):
        F.fuzz("broken", broken, [b"abcdef"], 50)
