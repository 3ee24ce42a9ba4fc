# Real servers for the tests, started and stopped by the tests themselves: an MQTT broker (amqtt,
# pinned in requirements/lock.txt, run as its own process so a test can freeze or kill it) with
# a password file and a TLS listener that verifies client certificates against a test CA, and a
# PostgreSQL server (pgserver, a pinned wheel that ships the server binaries).
import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)
USER, PASSWORD = "irprobe", "s3cret-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki(d):
    """A test CA, the broker's certificate (127.0.0.1/localhost), a client certificate it
    signed, and a rogue client certificate signed by another CA. Returns {name: path}."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(cn, key, issuer_name, issuer_key, ca=False, san=None):
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    out = {}

    def write(fname, obj):
        path = os.path.join(d, fname)
        if hasattr(obj, "private_bytes"):
            data = obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        else:
            data = obj.public_bytes(serialization.Encoding.PEM)
        with open(path, "wb") as f:
            f.write(data)
        out[fname.replace(".", "_")] = path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("irprobe test CA", ca_key, name("irprobe test CA"), ca_key, ca=True)
    write("ca.pem", ca)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    write("server.pem", cert("localhost", srv_key, ca.subject, ca_key, san=san))
    write("server.key", srv_key)
    cl_key = ec.generate_private_key(ec.SECP256R1())
    write("client.pem", cert("irprobe client", cl_key, ca.subject, ca_key))
    write("client.key", cl_key)
    rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    write("rogue.pem", cert("rogue", rogue_key, name("rogue CA"), rogue_ca_key))
    write("rogue.key", rogue_key)
    return out


class Broker:
    """amqtt in its own process: .port (plain, password), .tls_port (TLS, client certs)."""

    def __init__(self, workdir, pki=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.pki = pki or make_pki(workdir)
        self.port = free_port()
        self.tls_port = free_port()
        from argon2 import PasswordHasher

        with open(os.path.join(workdir, "passwd"), "w") as f:
            f.write("%s:%s\n" % (USER, PasswordHasher().hash(PASSWORD)))
        self.config = os.path.join(workdir, "broker.yaml")
        with open(self.config, "w") as f:
            f.write(
                "listeners:\n"
                "  default:\n    type: tcp\n    bind: 127.0.0.1:%d\n"
                "  tls:\n    type: tcp\n    bind: 127.0.0.1:%d\n    ssl: true\n"
                "    cafile: %s\n    certfile: %s\n    keyfile: %s\n"
                "plugins:\n"
                "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
                "    allow_anonymous: false\n"
                "  amqtt.plugins.authentication.FileAuthPlugin:\n"
                "    password_file: %s\n"
                % (
                    self.port,
                    self.tls_port,
                    self.pki["ca_pem"],
                    self.pki["server_pem"],
                    self.pki["server_key"],
                    os.path.join(workdir, "passwd"),
                )
            )
        self.proc = None

    @property
    def url(self):
        return "mqtt://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, self.port)

    @property
    def tls_url(self):
        return "mqtts://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, self.tls_port)

    def start(self, timeout=20.0):
        log = open(os.path.join(self.dir, "broker.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "amqtt"), "-c", self.config],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        end = time.monotonic() + timeout
        for port in (self.port, self.tls_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("the test broker exited: see %s/broker.log" % self.dir)
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > end:
                        self.stop()
                        raise RuntimeError("the test broker did not open port %d" % port)
                    time.sleep(0.1)
        return self

    def freeze(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def kill(self):
        """SIGKILL: the broker dies with whatever it held in flight."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        # amqtt takes seconds to stop on SIGTERM; its state is of no use after a test.
        self.kill()
        self.proc = None


class Listener:
    """A paho subscriber to '#' that records (topic, payload bytes, retain) in arrival order."""

    def __init__(self, broker, topic="#"):
        import threading

        import paho.mqtt.client as paho

        self.got = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        c = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="test-listener-%d" % free_port()
        )
        c.username_pw_set(USER, PASSWORD)

        def on_connect(client, userdata, flags, rc, props):
            client.subscribe(topic, 1)

        def on_subscribe(client, userdata, mid, rcs, props):
            self._ready.set()

        def on_message(client, userdata, msg):
            with self._lock:
                self.got.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("the test listener could not subscribe")
        self.client = c

    def messages(self, prefix=""):
        with self._lock:
            return [m for m in self.got if m[0].startswith(prefix)]

    def wait_for(self, pred, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.05)
        return pred()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def start_postgres():
    """A PostgreSQL server of our own (pgserver wheel). Returns (server, uri, folder).

    Its folder is a fresh one of its own: run as root, pgserver hands the folder to a
    `pgserver` system user and opens up its parents, which pytest's private temp folders
    must not get. Test processes start their servers one at a time (a lock file), since
    the first start may create that user."""
    import fcntl
    import tempfile

    import pgserver

    folder = tempfile.mkdtemp(prefix="irprobe-test-pg-")
    with open(os.path.join(tempfile.gettempdir(), "irprobe-test-pg.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        srv = pgserver.get_server(folder, cleanup_mode="stop")
    import psycopg

    with psycopg.connect(srv.get_uri(), autocommit=True) as c:
        # A throw-away server: no flushing to disk (CREATE DATABASE and the shutdown
        # checkpoint would otherwise wait for the disk, seconds on a busy machine).
        c.execute("ALTER SYSTEM SET fsync = off")
        c.execute("ALTER SYSTEM SET synchronous_commit = off")
        c.execute("SELECT pg_reload_conf()")
    return srv, srv.get_uri(), folder


def stop_postgres(srv, folder):
    """Immediate shutdown (SIGQUIT to the postmaster): the data is thrown away anyway."""
    import shutil

    pid = srv.get_pid()
    if pid:
        try:
            os.kill(pid, signal.SIGQUIT)
        except OSError:
            pass
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.05)
    srv.cleanup()
    shutil.rmtree(folder, ignore_errors=True)
