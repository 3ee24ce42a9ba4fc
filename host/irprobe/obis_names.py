"""irprobe.obis_names: plain names for the OBIS codes people plot (IEC 62056-6-1 7.5).

C (the quantity) and D (how it is processed) give the name; D says whether a register counts
up (a cumulative energy, D = 8 "time integral 1"), holds the energy of one period (D = 29
"time integral 5"), or is a momentary value (power, voltage, current, frequency).
"""

QUANTITY = {
    1: "Active energy import", 2: "Active energy export",
    3: "Reactive energy import", 4: "Reactive energy export",
    5: "Reactive energy QI", 6: "Reactive energy QII", 7: "Reactive energy QIII",
    8: "Reactive energy QIV", 9: "Apparent energy import", 10: "Apparent energy export",
    15: "Active energy (absolute)", 16: "Active energy (net)",
    21: "Active energy import L1", 41: "Active energy import L2", 61: "Active energy import L3",
    31: "Current L1", 51: "Current L2", 71: "Current L3", 91: "Current neutral",
    32: "Voltage L1", 52: "Voltage L2", 72: "Voltage L3", 12: "Voltage", 11: "Current",
    13: "Power factor", 33: "Power factor L1", 53: "Power factor L2", 73: "Power factor L3",
    14: "Frequency",
}
POWER_NAMES = {1: "Active power import", 2: "Active power export",
               3: "Reactive power import", 4: "Reactive power export",
               9: "Apparent power import", 10: "Apparent power export",
               21: "Active power import L1", 41: "Active power import L2",
               61: "Active power import L3", 16: "Active power (net)"}
# D values that make an energy quantity (C 1-10, 15, 16, 21..80) a power or demand.
_DEMAND = {4: "current average", 5: "last average", 6: "maximum demand",
           2: "cumulative maximum demand"}
_ENERGY_C = set(range(1, 11)) | {15, 16, 21, 22, 23, 24, 41, 42, 43, 44, 61, 62, 63, 64}

CUMULATIVE = "cumulative"  # counts up: plot what was used in each interval
PER_PERIOD = "per-period"  # already the energy of one interval: plot it as bars
MOMENTARY = "momentary"    # a level (power, voltage): plot it as a line


def split(obis):
    """'1-0:1.8.0*255' or '1.8.0' or 'C.D.E' -> (c, d, e) ints, or None."""
    s = obis.strip()
    if ":" in s:
        s = s.split(":", 1)[1]
    s = s.split("*", 1)[0].split("&", 1)[0]
    parts = s.split(".")
    if len(parts) < 2:
        return None
    try:
        c, d = int(parts[0]), int(parts[1])
        e = int(parts[2]) if len(parts) > 2 and parts[2] else 0
    except ValueError:
        return None
    return c, d, e


def short(obis):
    """'1-0:1.8.0*255' -> '1.8.0' (what people read on the meter's display)."""
    cde = split(obis)
    if cde is None:
        return obis
    return "%d.%d.%d" % cde


def kind(obis):
    cde = split(obis)
    if cde is None:
        return MOMENTARY
    c, d, _ = cde
    if c in _ENERGY_C and d in (8, 9, 10):
        return CUMULATIVE
    if c in _ENERGY_C and d in (29, 30):
        return PER_PERIOD
    return MOMENTARY


def name(obis):
    """'Active energy import (1.8.0)', 'Voltage L1 (32.7.0)'; the code alone when unknown."""
    cde = split(obis)
    if cde is None:
        return obis
    c, d, e = cde
    label = None
    if c in _ENERGY_C and d in (7, 4, 5, 6, 2) and c in POWER_NAMES:
        label = POWER_NAMES[c]
        if d in _DEMAND:
            label += ", " + _DEMAND[d]
    elif c in QUANTITY:
        label = QUANTITY[c]
        if c in _ENERGY_C and d == 29:
            label += " per period"
    if label is None:
        return short(obis)
    if c in _ENERGY_C and e:
        label += ", tariff %d" % e
    return "%s (%s)" % (label, short(obis))
