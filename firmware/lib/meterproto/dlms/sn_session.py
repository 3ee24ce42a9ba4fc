# meterproto.dlms.sn_session: what the DLMS client needs to read a meter with short names
# (core). IEC 62056-5-3 9.4: READ with variable-name / parameterized access / block-number
# access; IEC 62056-6-2 4.4.2: the SN association (class 12, base name 0xFA00) lists every
# object's base name, and attribute n of an object is at base + 8 (n - 1).
# The client plans its reads by logical name as usual; this maps them to short names and
# hands READ answers back in the shape of GET answers (meterproto.dlms.get.GetResponse).
from meterproto.compat import const
from meterproto.dlms import axdr, get
from meterproto.dlms.sn import READ_RESPONSE, build_read_request, sn_attribute
from meterproto.errors import DecodeError

ASSOCIATION_SN = const(0xFA00)  # base name of the current SN association (6-2 4.4.2)
# proposed conformance with short names (5-3 8.4, bits 3 read, 4 write, 5 unconfirmed-write,
# 11 block transfer with read, 14 multiple references, 18 parameterized access)
CONFORMANCE = const(0x1C1220)


class ShortNames:
    """Base names learnt from the association view; READ requests and answers."""

    def __init__(self):
        self.bases = {}  # obis text -> base name

    def learn(self, entry):
        """One entry of meterproto.dlms.sn.parse_object_list_sn."""
        self.bases[entry["obis"]] = entry["base_name"]

    def name(self, class_id, obis, attr):
        if class_id in (12, 15) and obis == "0-0:40.0.0*255":
            return sn_attribute(ASSOCIATION_SN, attr)
        base = self.bases.get(obis)
        if base is None:
            raise DecodeError("the meter's object list gives no short name for %s" % obis)
        return sn_attribute(base, attr)

    def request(self, items):
        """items as for DlmsClient._get -> a READ request."""
        out = []
        for it in items:
            sn = self.name(it[0], it[1], it[2])
            if len(it) > 3 and it[3]:
                out.append((sn, it[3], it[4]))
            else:
                out.append(sn)
        return build_read_request(out)


def next_block(block_no):
    """READ request, block-number-access (variable access choice 5): the next block."""
    return b"\x05\x01\x05" + (block_no & 0xFFFF).to_bytes(2, "big")


def response(apdu, n_items):
    """A READ response -> a get.GetResponse: "normal" for one item, "list" for several,
    "block" for a data-block-result (its raw bytes from raw_pos on)."""
    b = bytes(apdu)
    if b[:1] != bytes((READ_RESPONSE,)):
        if b[:1] == b"\xd8":
            from meterproto.dlms.dar import parse_exception
            raise parse_exception(b).error()
        from meterproto.dlms.dar import apdu_text
        raise DecodeError("expected a READ response, the meter sent " + apdu_text(b))
    n, p = axdr.decode_length(b, 1)
    if p < len(b) and b[p] == 2 and n == 1:  # data-block-result: last, block number, raw
        r = get.GetResponse("block", 0xC1, b)
        if p + 5 > len(b):
            raise DecodeError("READ response ends inside a data block")
        r.last = b[p + 1] != 0
        r.block_no = (b[p + 2] << 8) | b[p + 3]
        m, q = axdr.decode_length(b, p + 4)
        if q + m != len(b):
            raise DecodeError("READ data block says %d raw bytes, %d present" % (m, len(b) - q))
        r.raw_pos = q
        return r
    from meterproto.dlms.sn import parse_read_response
    items = parse_read_response(b)
    if n_items == 1 and len(items) == 1:
        r = get.GetResponse("normal", 0xC1, b)
        if isinstance(items[0], int):
            r.error = items[0]
        else:
            r.data = items[0]
        return r
    r = get.GetResponse("list", 0xC1, b)
    r.items = items
    return r
