# Shared helpers for the core tests (plain Python, so they run on MicroPython too).


def raises(exc, fn, *args):
    """Call fn(*args); return the exc it raised, or fail the test when it raised none."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r%r" % (exc.__name__, fn, args))


def nesting_seen(outer, outer_name, inner, inner_name, fn):
    """Run fn() with outer.outer_name and inner.inner_name wrapped; return (fn's result, for
    each call of the inner method, how many calls of the outer one were running then)."""
    inside = [0]
    seen = []
    o, i = getattr(outer, outer_name), getattr(inner, inner_name)

    def wrapped_outer(self, *args):
        inside[0] += 1
        try:
            return o(self, *args)
        finally:
            inside[0] -= 1

    def wrapped_inner(self, *args):
        seen.append(inside[0])
        return i(self, *args)

    setattr(outer, outer_name, wrapped_outer)
    setattr(inner, inner_name, wrapped_inner)
    try:
        r = fn()
    finally:
        setattr(outer, outer_name, o)
        setattr(inner, inner_name, i)
    return r, seen
