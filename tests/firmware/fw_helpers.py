# Shared test helpers for tests/firmware: an in-memory byte pipe standing in for the USB
# serial streams, and loading a fake hardware module by file path.
import importlib.util
import os


class Pipe:
    """One direction of the USB serial: write() appends, read() takes everything so far."""

    def __init__(self):
        self.buf = bytearray()

    def write(self, data):
        self.buf.extend(data)

    def read(self):
        out = bytes(self.buf)
        self.buf = bytearray()
        return out


def load_fake(name):
    """A module from tests/firmware/fake_modules, by file path, not via sys.path: other tests
    must never import a fake `machine` or `rp2` by accident."""
    path = os.path.join(os.path.dirname(__file__), "fake_modules", name + ".py")
    spec = importlib.util.spec_from_file_location("fake_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def decoded(raws):
    """The readings among raw records (a pull answer or a segment file's records, in order;
    either version) as meterproto.link.records.Record objects; schemas are used, gap
    notices left out."""
    from meterproto.link.recpack import Unpacker

    up = Unpacker()
    out = []
    for raw in raws:
        rec = up.feed(raw)
        if rec is not None and rec.gap_to is None:
            out.append(rec)
    return out


def readings_on_flash(data_dir):
    """Every reading record stored under a probe's /data folder (segments, then any
    version 1 files), decoded: [Record]."""
    from meterproto.link.records import split_records

    raws = []
    for folder, _, names in sorted(os.walk(str(data_dir))):
        for n in sorted(names):
            if n.endswith(".seg") or n.endswith(".rec"):
                with open(os.path.join(folder, n), "rb") as f:
                    raws += split_records(f.read())
    return decoded(raws)
