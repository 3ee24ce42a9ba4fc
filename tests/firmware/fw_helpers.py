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
