# meterproto.cosem_more: COSEM pieces (IEC 62056-6-2) a reading client rarely needs: class
# and access-mode names, kilo scaling for display, SN referencing (class 12) and the entry
# descriptor of selective access (core). Reached as cosem.<name> too, loaded on first use.
from meterproto import axdr, obis
from meterproto.cosem import UNITS, _array, _entry, _int, apply_scaler, shift_decimal, unit_text
from meterproto.errors import DecodeError


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


def parse_object_list_sn(value):
    """SN association object_list -> list of {"base_name", "class_id", "version", "obis"}."""
    value = _array(value, "object_list")
    out = []
    for n, e in enumerate(value):
        if not _entry(e, 3):
            raise DecodeError("SN object_list entry %d is not {base_name, class_id, version,"
                              " logical_name}" % (n + 1))
        base = _int(e[0], "base_name")
        out.append({"base_name": base & 0xFFFF, "class_id": _int(e[1], "class_id"),
                    "version": _int(e[2], "version"), "obis": obis.from_bytes(e[3])})
    return out


def sn_attribute(base_name, attr):
    """Short name of attribute attr (1-based) of an object at base_name (8 per attribute)."""
    return (base_name + 8 * (attr - 1)) & 0xFFFF


def entry_descriptor(from_entry=1, to_entry=0, from_column=1, to_column=0):
    """Selective access selector 2 parameters: entries 1-based, 0 = up to the last."""
    return axdr.enc_struct([axdr.enc_uint32(from_entry), axdr.enc_uint32(to_entry),
                            axdr.enc_uint16(from_column), axdr.enc_uint16(to_column)])
