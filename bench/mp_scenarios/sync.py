# bench/mp_scenarios/sync.py: the device end of a USB sync on the MicroPython unix port.
#   micropython sync.py setup DIR N   -> a store under DIR holding N records (not measured)
#   micropython sync.py sync DIR [MAX] -> HELLO, then PULL (MAX bytes, default PULL_MAX) and
#                                        ACK per batch until the store is empty, as irprobe sync
# The host end keeps nothing: it checks each response's type byte and counts the records in a
# PULL response by their header (whitened: "IR" 2 "R" XOR 0x60 = ")2b2"), so the heap is the
# device's.
# Prints "import <bytes>" and "OK <records> <bytes pulled>".
import gc
import sys

from meterproto.link import channel as H  # noqa: E402
from probe.fsys import Fsys  # noqa: E402
from probe.store import Store  # noqa: E402
from probe.usb import CommandServer  # noqa: E402

gc.collect()
print("import", gc.mem_alloc())
from meterproto.link.host import HostSide  # noqa: E402  (the host's end: not measured)

cmd = sys.argv[1]
base = sys.argv[2]


def reading(n):
    # The size of a real mode C readout: 30 registers with units.
    vals = []
    for i in range(30):
        vals.append({"obis": "1-0:%d.8.%d*255" % (1 + i // 5, i % 5),
                     "value": "%06d.%03d" % (n + i, (n * 7 + i) % 1000), "unit": "kWh"})
    return {"meter": {"id": "4123%04d" % (n % 10000), "manufacturer": "LGZ",
                      "ident": "/LGZ5ZMD3104407.B32"}, "protocol": "iec62056-21", "mode": "C",
            "baud": 9600, "values": vals}


if cmd == "setup":
    st = Store(Fsys(base))
    st.recover()
    for i in range(int(sys.argv[3])):
        st.commit(reading(i), 1764000000 + 900 * i, b"12345678")
    print("OK", st.status()["count"], 0)
    sys.exit(0)


class Pipe:
    """The USB serial seen from the device: read() gives the host's pending request."""

    def __init__(self):
        self.pending = b""

    def read(self):
        d = self.pending
        self.pending = b""
        return d


class Sink:
    """The host end: response type and record count of each frame, nothing kept."""

    def __init__(self):
        self.type = None
        self.records = 0
        self.nbytes = 0

    def write(self, data):
        # SOF, then the type byte (0x81.. and 0xFF are never stuffed)
        self.type = data[1]
        self.records = data.count(_REC) + data.count(_JSON)
        self.nbytes = len(data)


_REC = b")2b2"  # "IR", version 2, kind R, whitened (meterproto.link.channel.PULL_WHITE)
_JSON = b")2b*"  # the same for a reading kept as JSON (kind J)


max_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else H.PULL_MAX
st = Store(Fsys(base))
st.recover()
inp = Pipe()
out = Sink()
srv = CommandServer(inp, out, st, None, device_id="bench")
host = HostSide()


def call(frame, want):
    inp.pending = frame
    out.type = None
    srv.poll(0)
    if out.type != want | H.RESPONSE:
        print("FAIL answer type", out.type)
        sys.exit(1)


call(host.hello(), H.CMD_HELLO)
cursor = 1
got = 0
nbytes = 0
while True:
    call(host.pull(cursor, max_bytes), H.CMD_PULL)
    if not out.records:
        break
    got += out.records
    nbytes += out.nbytes
    last = cursor + out.records - 1  # this store's seqs are contiguous
    call(host.ack(last), H.CMD_ACK)
    cursor = last + 1
    if st.status()["count"] == 0:
        break
print("OK", got, nbytes)
