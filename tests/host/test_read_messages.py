# `irprobe read` on a line where nothing answers says so and points to the doctor, instead of
# the last protocol step's guess (DLMS addresses after auto's HDLC attempt); a line that only
# returns our own light says that.
import os
import pty
import subprocess
import sys
import threading


def _read(port, *args):
    return subprocess.run([sys.executable, "-m", "irprobe", "read", "--port", port,
                           "--time-scale", "20"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_silent_port_says_nothing_answered():
    master, slave = pty.openpty()
    try:
        name = os.ttyname(slave)
        r = _read(name)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == ("irprobe read: nothing answered on %s: not one byte came back. Is "
                            "the head on the meter's optical port and the meter powered? "
                            "`irprobe doctor --port %s` finds out why\n" % (name, name))
        r = _read(name, "--mode", "iec", "--retries", "0")
        assert "nothing answered on %s: no identification" % name in r.stderr
    finally:
        os.close(master)
        os.close(slave)


def test_echo_only_port_says_so():
    master, slave = pty.openpty()
    stop = threading.Event()

    def mirror():  # a head whose receiver sees its own LED, and no meter
        import select

        while not stop.is_set():
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    os.write(master, os.read(master, 256))
                except OSError:
                    return

    t = threading.Thread(target=mirror, daemon=True)
    t.start()
    try:
        name = os.ttyname(slave)
        r = _read(name, "--mode", "hdlc")
        assert r.returncode == 2
        assert ("only our own echo came back on %s" % name) in r.stderr, r.stderr
        assert "irprobe doctor --port %s" % name in r.stderr
    finally:
        stop.set()
        t.join(2)
        os.close(master)
        os.close(slave)
