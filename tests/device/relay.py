# tests/device/relay: joins the emulated probe's UART pty to a simulated meter served over TCP
# (`irprobe simulate --tcp PORT`). A pty cannot carry the line format, so the meter is served
# without line emulation and this relay only moves bytes; switch meters with connect().
# Writes keep what the other side could not take yet (a pty or socket buffer can be full while
# the slow emulator drains it): no byte is ever dropped.
import os
import select
import socket
import threading
import time


class Relay:
    def __init__(self, pty_path):
        self.fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        import tty

        tty.setraw(self.fd)
        self.sock = None
        self.lock = threading.Lock()
        self.stop = False
        self.to_meter = 0
        self.from_meter = 0
        self.last = time.monotonic()  # when a byte last moved (either way)
        self._to_pty = b""
        self._to_sock = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def connect(self, tcp_port):
        """Plug the probe into the meter on 127.0.0.1:tcp_port (None: unplug)."""
        with self.lock:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            self._to_pty = b""
            self._to_sock = b""
            if tcp_port is not None:
                self.sock = socket.create_connection(("127.0.0.1", tcp_port), timeout=10)
                self.sock.setblocking(False)

    def _run(self):
        while not self.stop:
            with self.lock:
                self._step()

    def _step(self):
        s = self.sock
        rd = [self.fd] + ([s] if s is not None else [])
        wr = ([self.fd] if self._to_pty else []) + ([s] if s is not None and self._to_sock else [])
        try:
            ready, writable, _ = select.select(rd, wr, [], 0.05)
        except (OSError, ValueError):
            return
        try:
            if self.fd in ready:
                data = os.read(self.fd, 4096)
                if data and s is not None:
                    self._to_sock += data
                    self.to_meter += len(data)
            if s is not None and s in ready:
                data = s.recv(4096)
                if data:
                    self._to_pty += data
                    self.from_meter += len(data)
            if self._to_pty:
                n = os.write(self.fd, self._to_pty)
                self._to_pty = self._to_pty[n:]
                self.last = time.monotonic()
            if self._to_sock and s is not None:
                n = s.send(self._to_sock)
                self._to_sock = self._to_sock[n:]
                self.last = time.monotonic()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass

    def close(self):
        self.stop = True
        self.thread.join(1)
        self.connect(None)
        os.close(self.fd)
