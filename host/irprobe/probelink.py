# irprobe.probelink: the host end of the probe's USB command channel over pyserial (host only).
# Frames, commands and retries are meterproto.link.channel.HostSide (docs/COMMAND-CHANNEL.md); this
# module adds the port: open, enter the channel (A: the running app answers HELLO; B: the raw
# REPL starts probe.repl_serve.serve()), blocking calls with timeouts, and plain-words failures.
# Everything the probe says is untrusted: frames are CRC-checked, lengths capped, every JSON
# answer bounded by irprobe.inbound.check_tree here, and device text cleaned before printing.
import os
import time

from meterproto.link import channel as H
from meterproto.errors import DecodeError
from meterproto.link.host import HostSide
from meterproto.link.records import MAX_PAYLOAD, OVERHEAD

from irprobe.inbound import Untrusted, check_tree

LinkError = H.LinkError
DeviceError = H.DeviceError


class UnusableAnswer(LinkError):
    """Whole, CRC-checked answers whose content cannot be used: irprobe answers, but badly."""

# The largest frame we accept from a probe: a PULL answer, which holds at least one whole record.
MAX_ANSWER = max(H.PULL_MAX, MAX_PAYLOAD + OVERHEAD)
# A call attempt gives up after this many times its timeout, or this many bytes, without an
# answer to it (noise, or answers to other requests), even if bytes keep coming.
ATTEMPT_FACTOR = 4
NOISE_BYTES = 8 * MAX_ANSWER
RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
SERVE = b"import probe.repl_serve\r\nprobe.repl_serve.serve()\r\n"
RAW_HELLO_S = 15.0  # first answer after the raw REPL started the server


def clean(text, limit=200):
    """Device text made safe to print in a message: irprobe.output.plain_text, bounded."""
    from irprobe.output import plain_text

    return plain_text(text, limit)


class ProbeLink:
    """An open command channel. Use ProbeLink.open(port) as a context manager."""

    def __init__(self, ser, timeout=2.0, name="?"):
        self.ser = ser
        self.name = name
        self.timeout = timeout
        # A fresh seq per connection, so a late answer from an earlier one never matches.
        self.host = HostSide(
            MAX_ANSWER, first_seq=1 + (int.from_bytes(os.urandom(2), "big") % 60000)
        )
        self.info = None
        self.via_raw_repl = False  # path B: the app was interrupted; it resumes after BYE
        self.said_bye = False
        self.bytes_out = 0
        self.bytes_in = 0
        self.frames = 0
        self._heard = 0  # bytes received during the current call

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, port, timeout=2.0, raw_repl=True):
        """Open PORT and say hello. raw_repl: fall back to starting the server through the
        raw REPL when no running app answers (interrupts main.py on a real board)."""
        import serial

        try:
            ser = serial.serial_for_url(port, baudrate=115200, timeout=0.05, write_timeout=5)
        except (serial.SerialException, OSError, ValueError) as e:
            from irprobe.serialport import why

            raise LinkError("cannot open %s: %s" % (port, clean(why(e))))
        link = cls(ser, timeout, port)
        try:
            link._drain()
            try:
                link.info = link.hello()
            except (DeviceError, UnusableAnswer):
                raise  # irprobe answered: the raw REPL would not help
            except LinkError:
                if not raw_repl:
                    raise
                link._enter_raw_repl()
                # The server may first have to start the reader app (probe.repl_serve):
                # seconds on a slow board.
                link.info = link.hello(timeout=max(timeout, RAW_HELLO_S))
        except BaseException:
            link.close()
            raise
        return link

    def _drain(self):
        """Throw away whatever an earlier connection left in the buffers."""
        try:
            self.ser.reset_input_buffer()
        except Exception:
            pass
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            if not self.ser.read(4096):
                break

    def _enter_raw_repl(self):
        w = self._write
        w(b"\r\x03\x03")
        time.sleep(0.05)
        self._drain()
        w(b"\r\x01")
        if not self._read_until(RAW_REPL_BANNER, self.timeout):
            raise LinkError(
                "the board on %s answers neither irprobe nor MicroPython's raw REPL: "
                "is the firmware installed (irprobe install)?" % self.name
            )
        w(SERVE + b"\x04")
        self.via_raw_repl = True
        if not self._read_until(b"OK", self.timeout):
            raise LinkError("the board on %s did not start the command server" % self.name)

    def _read_until(self, ending, timeout):
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(buf) < 65536:
            buf += self.ser.read(256)
            if ending in buf:  # all of buf came after our request; the board may say more
                return True
        return False

    # -- byte level -------------------------------------------------------------------
    def _write(self, data):
        try:
            self.ser.write(data)
            self.ser.flush()
        except Exception as e:  # SerialException, OSError: cable pulled
            raise LinkError("lost the probe on %s while sending (%s)" % (self.name, clean(e)))
        self.bytes_out += len(data)

    def _reader(self, timeout):
        """read() for HostSide.call: b"" after `timeout` of silence, and also once an attempt
        has lasted ATTEMPT_FACTOR x timeout or brought NOISE_BYTES without an answer, so noise
        or answers to other requests cannot keep a call alive for ever."""
        end = [0.0, 0.0, 0]  # silence deadline, attempt deadline, bytes in this attempt

        def restart():
            now = time.monotonic()
            end[0] = now + timeout
            end[1] = now + max(ATTEMPT_FACTOR * timeout, timeout + 2.0)
            end[2] = 0

        restart()

        def read():
            while time.monotonic() < min(end[0], end[1]) and end[2] < NOISE_BYTES:
                try:
                    got = self.ser.read(max(1, min(4096, self.ser.in_waiting or 1)))
                except Exception as e:
                    raise LinkError(
                        "lost the probe on %s while receiving (%s)" % (self.name, clean(e))
                    )
                if got:
                    self.bytes_in += len(got)
                    self._heard += len(got)
                    end[0] = time.monotonic() + timeout  # the silence deadline restarts
                    end[2] += len(got)
                    return got
            restart()  # the retry gets its own wait
            return b""

        return read

    def call(self, frame, timeout=None, retries=3):
        """Send one request and return its Response value. LinkError / DeviceError."""
        t = self.timeout if timeout is None else timeout
        tries = 0
        pending = self.host.pending  # kept: HostSide forgets it once an answer frame arrives
        self._heard = 0
        while True:
            try:
                resp = self.host.call(frame, self._write, self._reader(t), retries)
                self.frames += 1
                if isinstance(resp.value, dict):  # PULL records are checked by the store
                    try:
                        check_tree(resp.value, "the probe's answer")
                    except Untrusted as e:
                        raise UnusableAnswer(str(e))  # its cache would answer the same again
                return resp.value
            except DeviceError as e:
                raise DeviceError(clean(e.code, 40), clean(e.message))
            except LinkError as e:
                if self._heard and "no answer from the probe" in str(e):
                    raise LinkError(
                        "the device on %s keeps sending data that is not an answer (noise, "
                        "or answers to other requests; %d bytes): check the cable and that "
                        "no other program uses the port" % (self.name, self._heard)
                    )
                raise
            except DecodeError as e:
                # A frame whose CRC held but whose content is broken (a damaged record inside
                # a PULL answer, bad JSON): ask again, the probe answers from its cache.
                tries += 1
                if tries > retries:
                    raise UnusableAnswer(
                        "the probe keeps sending unusable answers (%s)" % clean(e)
                    )
                self.host.pending = pending
                frame = self.host.retry()

    # -- commands -----------------------------------------------------------------------
    def hello(self, retries=1, timeout=None):
        v = self.call(self.host.hello(), timeout=timeout, retries=retries)
        if not isinstance(v.get("device_id"), str) or not v["device_id"]:
            raise LinkError("the probe on %s did not say who it is" % self.name)
        return v

    def status(self):
        return self.call(self.host.status())

    def config_get(self):
        return self.call(self.host.config_get())

    def config_set(self, changes):
        return self.call(self.host.config_set(changes))

    def take(self, store=True, timeout=120.0):
        return self.call(self.host.take(None, store), timeout=timeout, retries=1)

    def list(self, from_seq=0, limit=50):
        return self.call(self.host.list(from_seq, limit))

    def pull(self, from_seq, max_bytes=H.PULL_DEFAULT, schema=None):
        """Raw records from from_seq on; schema: the id of the last schema received."""
        return self.call(self.host.pull(from_seq, max_bytes, schema))

    def ack(self, up_to_seq):
        return self.call(self.host.ack(up_to_seq))

    def set_clock(self, time_s):
        return self.call(self.host.set_clock(time_s))

    def bridge(self, baud=300, fmt="7E1", idle_ms=0):
        return self.call(self.host.bridge(baud, fmt, idle_ms))

    def end_bridge(self, timeout=None):
        """Send the escape and wait for BRIDGE_END; returns (meter bytes before it, info)."""
        self._write(self.host.end_bridge())
        read = self._reader(self.timeout if timeout is None else timeout)
        before = bytearray()
        framing = False  # once a SOF went to the decoder, everything after goes there too
        while True:
            chunk = read()
            if not chunk:
                raise LinkError("the probe did not leave bridge mode")
            if not framing:
                i = chunk.find(bytes((H.SOF,)))
                if i < 0:
                    before += chunk  # meter bytes still in flight
                    continue
                before += chunk[:i]
                chunk = chunk[i:]
                framing = True
            resp = self.host.receive(chunk)
            if resp is not None:
                return bytes(before), resp.value

    def bye(self, timeout=None):
        self.said_bye = True
        try:
            return self.call(self.host.bye(), timeout=timeout, retries=0)
        except LinkError:
            return None

    def close(self):
        try:
            if self.via_raw_repl:
                self.via_raw_repl = False
                if not self.said_bye:
                    self.bye(timeout=1.0)  # an error on our side: end the server at once
                # The server has ended (its BYE answer came last). A probe with a reader app
                # goes back to it by itself (probe.repl_serve) and ignores these bytes; one
                # without leaves the raw REPL (Ctrl-B) and soft-resets (Ctrl-D), so main.py
                # starts it.
                self.ser.write(b"\r\x02\x04")
                self.ser.flush()
        except Exception:
            pass
        try:
            self.ser.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.bye()
        self.close()


def open_link(port, timeout=2.0):
    """ProbeLink.open for a command: turns LinkError into CommandError."""
    from irprobe.cli import CommandError

    try:
        return ProbeLink.open(port, timeout)
    except LinkError as e:
        raise CommandError(str(e))
