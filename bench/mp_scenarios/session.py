# bench/mp_scenarios/session.py: one meter session on the MicroPython unix port, replayed
# from a recorded transcript (bench/heap.py writes it), so only the device-side code (driver
# and client) is on the heap. Usage: micropython session.py iec|dlms TRANSCRIPT
# Prints "import <bytes>" (gc.mem_alloc() after the imports) and "OK <values> <bytes_tx>".
import gc
import sys

kind = sys.argv[1]
path = sys.argv[2]

from meterproto.driver import run  # noqa: E402

if kind == "iec":
    from meterproto.iec.client import IecClient  # noqa: E402
else:
    from meterproto.dlms.client import DlmsClient  # noqa: E402
gc.collect()
print("import", gc.mem_alloc())


def _unhex(s):
    out = bytearray(len(s) // 2)
    for i in range(0, len(s) - 1, 2):
        out[i // 2] = int(s[i:i + 2], 16)
    return bytes(out)


class ReplayPort:
    """The driver's port contract, answering from the transcript: lines "R ms hex" (bytes
    that arrive at ms) and "T n" (the bytes we should have sent by then, checked at the end)."""

    def __init__(self, f):
        self.f = f
        self.now = 0
        self.tx = 0
        self.want_tx = 0
        self.next = None
        self._load()

    def _load(self):
        self.next = None
        while True:
            line = self.f.readline()
            if not line:
                return
            parts = line.split()
            if parts[0] == "T":
                self.want_tx = int(parts[1])
                continue
            self.next = (int(parts[1]), parts[2])
            return

    def now_ms(self):
        return self.now

    def write(self, data):
        self.tx += len(data)

    def drain(self):
        pass

    def set_line(self, baud, fmt):
        pass

    def read(self, deadline_ms):
        nxt = self.next
        if nxt is not None and nxt[0] <= deadline_ms:
            if nxt[0] > self.now:
                self.now = nxt[0]
            data = _unhex(nxt[1])
            self._load()
            return data
        if deadline_ms > self.now:
            self.now = deadline_ms
        return b""


f = open(path)
first = f.readline().split()  # "O key=value ...": the client options
opts = {}
for kv in first[1:]:
    k, v = kv.split("=")
    opts[k] = v.replace("_", " ")
port = ReplayPort(f)
if kind == "iec":
    client = IecClient(max_baud=int(opts.get("max_baud", "19200")))
else:
    client = DlmsClient(client_sap=int(opts["client_sap"]), server_upper=int(opts["server_upper"]),
                        profile_from=opts["profile_from"], profile_to=opts["profile_to"])
reading = run(client, port)
f.close()
rows = 0
for p in reading.profiles or ():
    rows += len(p["rows"])
if port.tx != port.want_tx:
    print("FAIL sent", port.tx, "bytes, the recorded session sent", port.want_tx)
    sys.exit(1)
print("OK", len(reading.values), rows, port.tx)
