# meterproto.dlms.cosem_text: COSEM for people (IEC 62056-6-2): interface class and access-mode
# names, and readings scaled to kilo units for display (core). A reading client does not
# load it; explain/output code does when it names things.
from meterproto.dlms.cosem import UNITS, apply_scaler, shift_decimal, unit_text


CLASS_NAMES = {
    1: "data", 3: "register", 4: "extended register", 5: "demand register",
    6: "register activation", 7: "profile generic", 8: "clock", 9: "script table",
    10: "schedule", 11: "special days table", 12: "association SN", 15: "association LN",
    17: "SAP assignment", 18: "image transfer", 19: "IEC local port setup",
    20: "activity calendar", 21: "register monitor", 22: "single action schedule",
    23: "IEC HDLC setup", 26: "utility tables", 27: "modem configuration", 28: "auto answer",
    29: "auto connect", 40: "push setup", 41: "TCP-UDP setup", 42: "IPv4 setup",
    45: "GPRS modem setup", 61: "register table", 62: "compact data", 63: "status mapping",
    64: "security setup", 70: "disconnect control", 71: "limiter", 72: "M-Bus client",
}


def class_name(class_id):
    return CLASS_NAMES.get(class_id, "class %d" % class_id)


ACCESS_MODES = {0: "no-access", 1: "read", 2: "write", 3: "read-write",
                4: "authenticated-read", 5: "authenticated-write", 6: "authenticated-read-write"}


METHOD_ACCESS_MODES = {0: "no-access", 1: "access", 2: "authenticated-access"}


# Units a user reads in kilo (kWh, not 58276 Wh); others stay as the meter gives them.
_KILO = (27, 28, 29, 30, 31, 32)


def scaled_reading(int_value, scaler, unit, kilo=True):
    """-> (value text, unit text); energy and power in kWh/kW/kvarh... when kilo is set."""
    text = apply_scaler(int_value, scaler)
    if kilo and unit in _KILO:
        return shift_decimal(text, -3), "k" + UNITS[unit]
    return text, unit_text(unit)
