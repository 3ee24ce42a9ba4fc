"""irprobe bridge: the probe in transparent mode, exposed as a local pty.

Any host tool (`irprobe read`, a third-party reader) opens the pty as if it were an IR head.
When the tool changes its baud rate or character format on the pty (IEC 62056-21 mode C
switches after the ACK), the bridge leaves transparent mode, tells the probe the new line
setting, and enters it again; the tool's bytes stay in order.
"""

import json
import os
import select
import sys
import time

# IEC 62056-21 6.3.3 option select message: ACK V Z Y CR LF; Z picks the new rate (mode C).
IEC_BAUD = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}


def iec_switch(data):
    """The baud an option select message in data asks for (mode C), else None. Bit 7 is
    dropped first: a tool doing 7E1 in software sends the parity there."""
    t = bytes(b & 0x7F for b in data)
    i = t.rfind(b"\x06")
    if i < 0 or len(t) < i + 6 or t[i + 4 : i + 6] != b"\r\n":
        return None
    v, z = chr(t[i + 1]), chr(t[i + 2])
    if v not in "0123456789" or z not in IEC_BAUD:
        return None
    return IEC_BAUD[z]


def add_arguments(p):
    p.add_argument("--port", required=True, help="the probe's serial port")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")


class Bridge:
    """Relay between a new local pty and a ProbeLink in bridge mode."""

    def __init__(self, link):
        import termios
        import tty

        from meterproto.line import FMT_NAMES

        self.link = link
        self.fmt_names = FMT_NAMES
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        attrs = termios.tcgetattr(self.slave)
        attrs[4] = attrs[5] = termios.B300
        try:
            attrs[2] = (attrs[2] & ~termios.CSIZE) | termios.CS7 | termios.PARENB
            termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        except termios.error:
            pass
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)
        self.line = self._line()  # what the probe's meter line is set to
        self.tool_line = self.line  # what the tool last set on the pty
        self.to_meter = 0
        self.from_meter = 0
        self.switches = 0
        self._stop = False

    def _line(self):
        from irprobe.sim.pty_server import _termios_line

        got = _termios_line(self.slave) or (300, None)
        baud, fmt = got
        return (baud or 300, fmt if fmt is not None else 0)

    def _fmt_name(self, fmt):
        return self.fmt_names[fmt] if 0 <= fmt < len(self.fmt_names) else "7E1"

    def start(self):
        self.link.bridge(self.line[0], self._fmt_name(self.line[1]))
        return self

    def _from_tool(self):
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def _send(self, data):
        if data:
            self.link._write(data)
            self.to_meter += len(data)

    def _to_tool(self, data):
        if data:
            self.from_meter += len(data)
            try:
                os.write(self.master, data)
            except OSError:
                pass  # the tool is not reading: light into the void

    def _switch(self, line):
        """Leave transparent mode, set the probe's meter line, enter it again. The probe
        drains what it was sending first (probe.bridge.exchange), so the switch lands after it."""
        before, _info = self.link.end_bridge()
        self._to_tool(before)
        self.line = line
        self.link.bridge(line[0], self._fmt_name(line[1]))
        self.switches += 1

    def step(self, wait=0.005):
        r, _, _ = select.select([self.master, self.link.ser.fileno()], [], [], wait)
        if self.master in r:
            data = self._from_tool()
            self._send(data)
            # The meter switches right after the ACK (IEC 62056-21 6.4.2); waiting for the
            # tool's own termios change would be too late, so switch the probe now.
            baud = iec_switch(data) if data else None
            if baud is not None and baud != self.line[0]:
                self._switch((baud, self.line[1]))
        if self.link.ser.fileno() in r or self.link.ser.in_waiting:
            self._to_tool(self.link.ser.read(self.link.ser.in_waiting or 1))
        line = self._line()
        if line != self.tool_line:  # the tool changed its rate or format itself
            self.tool_line = line
            self._send(self._from_tool())  # bytes written before the switch go first
            if line != self.line:
                self._switch(line)

    def run(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while not self._stop and (end is None or time.monotonic() < end):
            self.step()

    def stop(self):
        self._stop = True

    def close(self):
        """Leave bridge mode (the probe goes back to frames) and close the pty."""
        try:
            before, info = self.link.end_bridge()
            self._to_tool(before)
        finally:
            for fd in (self.master, self.slave):
                try:
                    os.close(fd)
                except OSError:
                    pass


def run(args):
    from irprobe.cli import CommandError
    from irprobe.probelink import DeviceError, LinkError, open_link

    with open_link(args.port) as link:
        try:
            br = Bridge(link).start()
        except DeviceError as e:
            raise CommandError("the probe refused bridge mode: %s" % e.message)
        print(json.dumps({"port": br.port}))
        sys.stdout.flush()
        print("bridge open: point any reader at %s; Ctrl-C ends it" % br.port, file=sys.stderr)
        try:
            br.run(args.timeout)
        except KeyboardInterrupt:
            pass
        except LinkError as e:
            raise CommandError("bridge lost the probe: %s" % e)
        finally:
            try:
                br.close()
            except LinkError:
                pass
        print(
            "bridge closed: %d bytes to the meter, %d from it, %d line changes"
            % (br.to_meter, br.from_meter, br.switches),
            file=sys.stderr,
        )
    return 0
