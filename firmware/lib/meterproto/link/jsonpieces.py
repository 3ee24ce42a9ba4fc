# meterproto.link.jsonpieces: compact JSON text in small pieces (core, both runtimes). The
# pieces join to exactly records.dumps(obj), but no piece is larger than one leaf (a row of a
# load profile, one register): a day of profile never needs its whole text in one piece of
# heap (the probe's commit and its TAKE answer stream it; docs/STORAGE.md). Iterative, with an
# explicit stack: the nesting depth comes from the data, and the rp2 port's C stack is small.
#
# API
#   pieces(obj, depth=DEPTH) -> iterator of str; "".join(...) == records.dumps(obj)
#   size(obj) -> UTF-8 length of records.dumps(obj), without building it
import json

DEPTH = 5  # containers nested deeper than this go as one piece (a profile row is level 4)


def dumps(obj):
    """Compact JSON text (no spaces), as meterproto.link.records.dumps."""
    return json.dumps(obj, separators=(",", ":"))


def pieces(obj, depth=DEPTH):
    if not _open(obj) or depth <= 0:
        yield dumps(obj)
        return
    # Each stack entry: [container, its keys (a dict) or None, next index]
    stack = [[obj, _keys(obj), 0]]
    yield "{" if stack[0][1] is not None else "["
    while stack:
        top = stack[-1]
        c, keys, i = top
        n = len(keys) if keys is not None else len(c)
        if i >= n:
            stack.pop()
            yield "}" if keys is not None else "]"
            continue
        top[2] = i + 1
        sep = "," if i else ""
        if keys is not None:
            k = keys[i]
            v = c[k]
            sep += dumps(k) + ":"
        else:
            v = c[i]
        if _open(v) and len(stack) < depth:
            ks = _keys(v)
            stack.append([v, ks, 0])
            yield sep + ("{" if ks is not None else "[")
        else:
            yield sep + dumps(v)


def size(obj):
    n = 0
    for p in pieces(obj):
        n += len(p.encode())
    return n


def _open(v):
    """A container the pieces may go into: a list, or a dict whose keys are all text (other
    keys are converted by the JSON encoder itself: such a dict goes whole)."""
    if isinstance(v, list):
        return True
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                return False
        return True
    return False


def _keys(v):
    return list(v) if isinstance(v, dict) else None
