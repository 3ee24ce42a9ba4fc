# probe.store_layout: names and small files of the record store (device): segment names,
# the ack watermark file, what RAM keeps of a segment. Shared by probe.store, store_boot and
# store_sync (docs/STORAGE.md).
from meterproto.link.records import crc16

FILES_PER_DIR = 64  # version 1 layout: folder = seq // 64
_ACK_MAGIC = b"ACKW"


def ack_bytes(seq):
    body = _ACK_MAGIC + seq.to_bytes(4, "big")
    c = crc16(body)
    return body + bytes((c >> 8, c & 0xFF))


def ack_value(data):
    if len(data) != 10 or data[:4] != _ACK_MAGIC:
        return None
    if crc16(data, 0xFFFF, 0, 8) != ((data[8] << 8) | data[9]):
        return None
    return int.from_bytes(data[4:8], "big")


def seq_name(name, ext):
    """"00000064.seg" -> 64 when name ends in .ext; None for names that are not ours."""
    if len(name) != 12 or name[8] != "." or name[9:] != ext or not name[:8].isdigit():
        return None
    return int(name[:8])


class Seg:
    """What RAM holds of one segment: name, seqs and where its readings are."""

    def __init__(self, name):
        self.name = name
        self.first = None
        self.last = None
        self.size = 0  # bytes of good records (the file is trimmed to this at boot)
        self.count = 0
        self.gaps = []  # seqs between first and last that are not here (damaged, burnt)
