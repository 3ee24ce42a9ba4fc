# Shared helpers for the core tests (plain Python, so they run on MicroPython too).


def raises(exc, fn, *args):
    """Call fn(*args); return the exc it raised, or fail the test when it raised none."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r%r" % (exc.__name__, fn, args))
