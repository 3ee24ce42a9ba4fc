"""irprobe.serialport: a host serial port (any IR head, a pty, socket://) for
meterproto.driver.run, built on pyserial.

The driver port contract: now_ms, write, drain (return once the bytes have left the wire:
the OS buffer is flushed and the wire time of what we wrote has passed), set_line (300-19200
baud, 7E1 or 8N1), read(deadline_ms). time_scale > 1 runs the port's clock faster than real
time, to match a simulator started with the same --time-scale.

Ports that refuse 7 data bits with even parity (some USB adapters, and the ptys of some
kernels answer EINVAL) get 7E1 in software: the port runs 8N1, we put the even-parity bit in
bit 7 of what we send (the same 10 bits on the wire) and clear bit 7 of what we receive.
"""
import errno
import time

from meterproto.line import FMT_7E1, FMT_8E1, even_parity_bit, wire_ms


class PortError(OSError):
    """The port cannot be used; str() says why in plain words, strerror is the reason."""

    def __init__(self, message, reason=None):
        OSError.__init__(self, message)
        self.strerror = reason or message

    def __str__(self):
        return self.args[0]


def why(exc):
    """Why a port did not open, in plain words (shared by every command that opens one)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return "no such device"
    if code == errno.EACCES or "Permission denied" in text:
        return "permission denied (on Linux, add yourself to the dialout group)"
    if code == errno.EBUSY or "busy" in text.lower():
        return "the port is in use by another program"
    if code == errno.ENOTTY or "Inappropriate ioctl" in text:
        return "not a serial port"
    if "Connection refused" in text:
        return "connection refused (is the simulator running?)"
    return text


class SerialPort:
    def __init__(self, name, time_scale=1.0):
        import serial

        self._serial = serial
        self.name = name
        self.scale = float(time_scale) if time_scale else 1.0
        self.soft7 = False  # 7E1 emulated on an 8N1 port
        try:
            self.ser = serial.serial_for_url(name, baudrate=300, timeout=0, write_timeout=5,
                                             do_not_open=True)
            self.ser.open()
        except Exception as e:  # SerialException, OSError, termios.error, ValueError
            raise PortError("cannot open %s: %s" % (name, why(e)), why(e))
        try:
            self.ser.reset_input_buffer()
        except Exception:
            pass
        self._t0 = time.monotonic()
        self._tx_end = 0  # port ms at which our last stop bit leaves the line
        try:
            self.set_line(300, FMT_7E1)
        except PortError as e:
            self.close()
            raise PortError("cannot open %s: %s" % (name, e.strerror), e.strerror)

    def now_ms(self):
        return int((time.monotonic() - self._t0) * 1000 * self.scale)

    def _sleep_ms(self, ms):
        if ms > 0:
            time.sleep(ms / 1000.0 / self.scale)

    def write(self, data):
        now = self.now_ms()
        start = self._tx_end if self._tx_end > now else now
        self._tx_end = start + wire_ms(len(data), self.baud, self.fmt)
        if self.soft7:
            data = bytes([(b & 0x7F) | (even_parity_bit(b) << 7) for b in data])
        try:
            self.ser.write(data)
        except self._serial.SerialException as e:
            raise PortError("writing to %s failed: %s" % (self.name, why(e)))

    def drain(self):
        """Wait until TX has fully left the line (IEC 62056-21: switch only after the ACK)."""
        try:
            self.ser.flush()
        except (self._serial.SerialException, OSError):
            pass
        self._sleep_ms(self._tx_end - self.now_ms())

    def set_line(self, baud, fmt):
        s = self._serial
        want = {FMT_7E1: (s.SEVENBITS, s.PARITY_EVEN), FMT_8E1: (s.EIGHTBITS, s.PARITY_EVEN)}
        bits, parity = want.get(fmt, (s.EIGHTBITS, s.PARITY_NONE))
        soft7 = False
        try:
            self._apply(baud, bits, parity)
        except Exception as e:
            if fmt != FMT_7E1:
                raise PortError("cannot set %s to %d baud: %s" % (self.name, baud, why(e)),
                                why(e))
            try:  # the port refuses 7E1: emulate it on 8N1 (see the module comment)
                self._apply(baud, s.EIGHTBITS, s.PARITY_NONE)
            except Exception as e2:
                raise PortError("cannot set %s to %d baud: %s" % (self.name, baud, why(e2)),
                                why(e2))
            soft7 = True
        self.soft7 = soft7
        self.baud = baud
        self.fmt = fmt

    def _apply(self, baud, bits, parity):
        self.ser.apply_settings({"baudrate": baud, "bytesize": bits, "parity": parity,
                                 "stopbits": self._serial.STOPBITS_ONE})

    def read(self, deadline_ms):
        """Bytes received so far; waits until some arrive or the deadline passes (b"")."""
        ser = self.ser
        while True:
            try:
                n = ser.in_waiting
                if n:
                    return self._in(ser.read(n))
                left = deadline_ms - self.now_ms()
                if left <= 0:
                    return b""
                ser.timeout = min(left / 1000.0 / self.scale, 0.25)
                b = ser.read(1)
                ser.timeout = 0
            except Exception as e:  # SerialException, OSError, termios.error
                raise PortError("reading from %s failed: %s (was the head unplugged?)"
                                % (self.name, why(e)))
            if b:
                n = ser.in_waiting
                return self._in(b + (ser.read(n) if n else b""))

    def _in(self, data):
        if self.soft7:
            return bytes([b & 0x7F for b in data])
        return data

    def close(self):
        try:
            self.ser.close()
        except Exception:
            pass
