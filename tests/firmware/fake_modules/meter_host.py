# Host (CPython) end of firmware runs on the MicroPython unix port, for tests: starts
# `micropython` on a script with the fake hardware (machine, vtime, meterlink) and serves
# its meter UART from a simulated meter (irprobe.sim) over two pipes, in simulated time.
# USB input (the REPL serial) is fed to the device's stdin at given simulated times.
#
#   run_device(body, workdir, meter="iskra-mt174", heap="2m", usb_input=(), stop_ms=60000,
#              lib=None, timeout=60) -> Result(.rc .stdout(bytes) .stderr(str) .meter_bytes)
#   body: MicroPython source run after the preamble (sys.path, virtual clock, meter link);
#   lib: the folder the firmware packages are imported from (default firmware/lib; a folder
#   of .mpy files for compiled runs); usb_input: [(at_ms, bytes)].
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")
LIB = os.path.join(ROOT, "firmware", "lib")
FIRMWARE = os.path.join(ROOT, "firmware")

_PREAMBLE = """
import sys
sys.path[0:0] = [%(fake)r, %(lib)r, %(firmware)r]
import vtime
vtime.install(%(stop_ms)r)
import machine
import meterlink
machine.LINK[0] = meterlink.Link("/dev/fd/%(req)d", "/dev/fd/%(resp)d")
"""


class Result:
    def __init__(self, rc, stdout, stderr, meter_bytes):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.meter_bytes = meter_bytes

    def text(self):
        return self.stdout.decode("utf-8", "replace") + self.stderr


class _MeterServer:
    """Answers meterlink.Link calls from a VirtualLine; the device's clock leads."""

    def __init__(self, meter):
        sys.path.insert(0, os.path.join(ROOT, "host"))
        from irprobe.sim.profiles import make_meter
        from irprobe.sim.vline import VirtualLine

        self.line = VirtualLine(make_meter(meter))
        self.pending = bytearray()

    def _sync(self, t_ms):
        line = self.line
        while line.now_ms() < t_ms:
            got = line.read(t_ms)
            if got:
                self.pending.extend(got)

    def handle(self, text):
        from meterproto.line import FMT_7E1, FMT_8E1, FMT_8N1

        parts = text.split()
        op, t_ns = parts[0], int(parts[1])
        self._sync(t_ns // 1000000)
        if op == "W":
            self.line.write(bytes.fromhex(parts[2]) if len(parts) > 2 else b"")
            return ""
        if op == "D":
            self.line.drain()
            return str(max(self.line.now, t_ns))
        if op == "L":
            baud, bits, parity = int(parts[2]), int(parts[3]), parts[4]
            fmt = FMT_7E1 if bits == 7 else (FMT_8N1 if parity == "N" else FMT_8E1)
            self.line.set_line(baud, fmt)
            return ""
        if op == "P":
            out = bytes(self.pending).hex()
            self.pending = bytearray()
            return out
        return ""  # "T": a heartbeat, only the clock matters


def run_device(body, workdir, meter="iskra-mt174", heap="2m", usb_input=(), stop_ms=60000,
               lib=None, timeout=60):
    server = _MeterServer(meter)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    script = os.path.join(str(workdir), "device_script.py")
    with open(script, "w") as f:
        f.write(_PREAMBLE % {"fake": HERE, "lib": lib or LIB, "firmware": FIRMWARE,
                             "stop_ms": stop_ms, "req": req_w, "resp": resp_r})
        f.write(body)
    out_path = os.path.join(str(workdir), "device_stdout.bin")
    err_path = os.path.join(str(workdir), "device_stderr.txt")
    schedule = sorted(usb_input)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([MPY, "-X", "heapsize=" + heap, script], stdin=subprocess.PIPE,
                                stdout=out, stderr=err, cwd=str(workdir),
                                pass_fds=(req_w, resp_r))
        os.close(req_w)
        os.close(resp_r)
        req = os.fdopen(req_r, "rb")
        resp = os.fdopen(resp_w, "wb", buffering=0)
        give_up = time.monotonic() + timeout
        try:
            for raw in req:
                if time.monotonic() > give_up:
                    proc.kill()  # a device that never stops: the test fails on rc
                    break
                text = raw.decode()
                answer = server.handle(text)
                t_ms = int(text.split()[1]) // 1000000
                while schedule and schedule[0][0] <= t_ms:
                    try:
                        proc.stdin.write(schedule.pop(0)[1])
                        proc.stdin.flush()
                    except BrokenPipeError:
                        schedule = []
                try:
                    resp.write((answer + "\n").encode())
                except BrokenPipeError:
                    break
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            req.close()
            try:
                resp.close()
            except BrokenPipeError:
                pass
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
    with open(out_path, "rb") as f:
        stdout = f.read()
    with open(err_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    return Result(proc.returncode, stdout, stderr, server.line.bytes_to_client)
