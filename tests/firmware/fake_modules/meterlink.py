# Device end of a simulated meter line, for firmware runs on the MicroPython unix port (tests
# only). The fake machine.UART forwards to a Link; the simulated meter runs in the test's
# CPython process (meter_host.py), so the device heap holds only device code. One text line
# per call, "op time_ns args", answered by one line; the clock is vtime's.
import binascii

import vtime


class Link:
    def __init__(self, req_path, resp_path):
        self.req = open(req_path, "wb")
        self.resp = open(resp_path, "rb")
        self._beat = -1000
        vtime.ON_SLEEP[0] = self._heartbeat

    def _rpc(self, op, arg=""):
        self.req.write(("%s %d %s\n" % (op, vtime.now_ns(), arg)).encode())
        line = self.resp.readline()
        if not line:
            raise OSError("the simulated meter went away")
        return line.strip().decode()

    def write(self, data):
        self._rpc("W", binascii.hexlify(bytes(data)).decode())

    def drain(self):
        vtime.advance_to_ns(int(self._rpc("D")))

    def set_line(self, baud, bits, parity):
        self._rpc("L", "%d %d %s" % (baud, bits, "N" if parity is None else parity))

    def poll(self):
        got = self._rpc("P")
        return binascii.unhexlify(got) if got else b""

    def _heartbeat(self, now_ms):
        # Lets the host side see the clock while the app idles (timed USB input).
        if now_ms - self._beat >= 20:
            self._beat = now_ms
            self._rpc("T")

