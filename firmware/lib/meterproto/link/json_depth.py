# meterproto.link.json_depth: how deep JSON text nests, without parsing it (core, both
# runtimes). records.loads asks before json.loads: CPython's parser recurses, MicroPython's
# spends heap per level. Loaded only for messages with many brackets.


def deeper_than(data, limit):
    """True when the JSON text nests [ and { deeper than limit (text in strings skipped)."""
    depth = 0
    in_str = esc = False
    for b in data:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:  # backslash
                esc = True
            elif b == 0x22:  # quote
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b == 0x5B or b == 0x7B:
            depth += 1
            if depth > limit:
                return True
        elif b == 0x5D or b == 0x7D:
            depth -= 1
    return False
