# tests/device/relay: joins the emulated probe's UART pty to a simulated meter served over TCP
# (`irprobe simulate --tcp PORT`). A pty cannot carry the line format, so the meter is served
# without line emulation and this relay only moves bytes; switch meters with connect().
import os
import select
import socket
import threading


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
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def connect(self, tcp_port):
        """Plug the probe into the meter on 127.0.0.1:tcp_port (None: unplug)."""
        with self.lock:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            if tcp_port is not None:
                self.sock = socket.create_connection(("127.0.0.1", tcp_port), timeout=10)
                self.sock.setblocking(False)

    def _run(self):
        while not self.stop:
            with self.lock:
                s = self.sock
            fds = [self.fd] + ([s] if s is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.1)
            except (OSError, ValueError):
                continue
            for r in ready:
                try:
                    if r is self.fd:
                        data = os.read(self.fd, 4096)
                        if data and s is not None:
                            s.sendall(data)
                            self.to_meter += len(data)
                    else:
                        data = s.recv(4096)
                        if data:
                            os.write(self.fd, data)
                            self.from_meter += len(data)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(1)
        self.connect(None)
        os.close(self.fd)
