# irprobe.inbound: the one gate for structured data from a probe, meter or capture (host only).
# Whatever JSON a device sends is checked here before the database, `take` or `sync` use it:
# nesting depth, number of items, string length, valid text (no lone surrogates), integers
# that fit SQLite (64 bits) and no NaN/Infinity. Failures are plain-words ValueErrors.

MAX_DEPTH = 32  # a reading nests about 8 deep (reading/profiles/rows/values/cell)
MAX_ITEMS = 200000  # strings, numbers, lists and objects in one message
MAX_STRING = 32768  # one record payload is at most 32 KB (meterproto.records.MAX_PAYLOAD)
INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1


class Untrusted(ValueError):
    """Device data that cannot be taken as it is (plain-words message)."""


def _bad_text(s):
    for ch in s:
        c = ord(ch)
        if 0xD800 <= c < 0xE000:
            return "holds a lone UTF-16 surrogate (not valid text)"
    return None


def check_tree(obj, what="the message", max_depth=MAX_DEPTH, max_items=MAX_ITEMS):
    """Raise Untrusted unless obj is plain JSON data within the bounds above. Iterative, so
    no input can exhaust the stack. Returns obj."""
    stack = [(obj, 1)]
    items = 0
    while stack:
        o, depth = stack.pop()
        items += 1
        if items > max_items:
            raise Untrusted("%s holds more than %d items" % (what, max_items))
        if o is None or o is True or o is False:
            continue
        if isinstance(o, str):
            if len(o) > MAX_STRING:
                raise Untrusted("%s holds a text of %d characters (at most %d)"
                                % (what, len(o), MAX_STRING))
            why = _bad_text(o)
            if why:
                raise Untrusted("%s %s" % (what, why))
            continue
        if isinstance(o, int):
            if not INT_MIN <= o <= INT_MAX:
                raise Untrusted("%s holds a number too large to keep (%d digits)"
                                % (what, len(str(abs(o)))))
            continue
        if isinstance(o, float):
            if o != o or o in (float("inf"), float("-inf")):
                raise Untrusted("%s holds a number that is not finite" % what)
            continue
        if depth >= max_depth and isinstance(o, (list, dict)):
            raise Untrusted("%s is nested more than %d levels deep" % (what, max_depth))
        if isinstance(o, list):
            for x in o:
                stack.append((x, depth + 1))
        elif isinstance(o, dict):
            for k, v in o.items():
                if not isinstance(k, str):
                    raise Untrusted("%s has a key that is not text" % what)
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        else:
            raise Untrusted("%s holds a %s, which JSON data never does" % (what, type(o).__name__))
    return obj
