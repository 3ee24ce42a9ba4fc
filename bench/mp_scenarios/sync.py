# bench/mp_scenarios/sync.py: the device end of a USB sync on the MicroPython unix port.
#   micropython sync.py setup DIR N   -> a store under DIR holding N records (not measured)
#   micropython sync.py sync DIR [MAX] -> HELLO, then PULL (MAX bytes, default PULL_MAX) and
#                                        ACK per batch until the store is empty, as irprobe sync
# The host end here only decodes each response frame to learn the last seq, as the host would.
# Prints "import <bytes>" and "OK <records> <bytes pulled>".
import gc
import sys

from meterproto import hostlink as H  # noqa: E402
from meterproto.records import split_records  # noqa: E402
from probe.fsys import Fsys  # noqa: E402
from probe.store import Store  # noqa: E402
from probe.usb import CommandServer  # noqa: E402

gc.collect()
print("import", gc.mem_alloc())

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
    """The host end: decodes each response frame, keeps only what a sync needs."""

    def __init__(self):
        self.dec = H.FrameDecoder(H.MAX_PAYLOAD)
        self.last = None

    def write(self, data):
        for fr in self.dec.feed(data):
            if isinstance(fr, Exception):
                raise fr
            self.last = fr


max_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else H.PULL_MAX
st = Store(Fsys(base))
st.recover()
inp = Pipe()
out = Sink()
srv = CommandServer(inp, out, st, None, device_id="bench")
host = H.HostSide()


def call(frame):
    inp.pending = frame
    out.last = None
    srv.poll(0)
    if out.last is None or out.last.type == H.T_ERROR:
        print("FAIL", out.last and out.last.payload)
        sys.exit(1)
    return out.last


call(host.hello())
cursor = 1
got = 0
nbytes = 0
while True:
    fr = call(host.pull(cursor, max_bytes))
    if not fr.payload:
        break
    raws = split_records(fr.payload)
    last = int.from_bytes(raws[-1][5:9], "big")
    got += len(raws)
    nbytes += len(fr.payload)
    raws = None
    fr = None
    call(host.ack(last))
    cursor = last + 1
    if st.status()["count"] == 0:
        break
print("OK", got, nbytes)
