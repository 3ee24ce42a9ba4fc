# irprobe.mqtt: one MQTT connection for the host (paho-mqtt, MQTT 3.1.1), QoS 1 publishes that
# return only after the broker's PUBACK (MQTT 3.1.1 clause 4.3.2), mqtt:// and mqtts:// with
# user/password and client certificates. Every failure is a plain-words MqttError.
import os
import ssl
import threading
import urllib.parse

PASSWORD_ENV = "IRPROBE_MQTT_PASSWORD"


class MqttError(Exception):
    """The broker cannot be reached or refused us (plain-words message)."""


def parse_url(url):
    """'mqtt[s]://[user[:password]@]host[:port]' -> dict(scheme, host, port, user, password).
    The password may instead come from the IRPROBE_MQTT_PASSWORD environment variable
    (so it does not show in the process list)."""
    u = urllib.parse.urlsplit(url or "")
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise MqttError(
            "%r is not a broker address: write mqtt://host[:port] or mqtts://host[:port]"
            % (url,)
        )
    try:
        port = u.port or (8883 if u.scheme == "mqtts" else 1883)
    except ValueError:
        raise MqttError("the port in %r is not a number from 1 to 65535" % (url,))
    password = urllib.parse.unquote(u.password) if u.password is not None else None
    if password is None and u.username:
        password = os.environ.get(PASSWORD_ENV)
    return {
        "scheme": u.scheme,
        "host": u.hostname,
        "port": port,
        "user": urllib.parse.unquote(u.username) if u.username else None,
        "password": password,
    }


def broker_key(url):
    """The name published messages are recorded under: scheme://host:port, no credentials."""
    b = parse_url(url)
    return "%s://%s:%d" % (b["scheme"], b["host"], b["port"])


# CONNACK return codes (MQTT 3.1.1 clause 3.2.2.3; paho reports them as their MQTT 5 numbers)
_REFUSED = {
    1: "refused the protocol version",
    2: "refused the client id",
    3: "is unavailable",
    4: "refused the user name or password",
    5: "refused us: not authorised (check the user name and password)",
}
_REFUSED.update({132: _REFUSED[1], 133: _REFUSED[2], 136: _REFUSED[3], 134: _REFUSED[4],
                 135: _REFUSED[5]})


class Connection:
    """A connected paho client. publish() blocks until PUBACK (or raises MqttError)."""

    def __init__(self, url, ca=None, cert=None, key=None, client_id=None, timeout=10.0):
        import paho.mqtt.client as paho

        b = parse_url(url)
        self.where = "%s://%s:%d" % (b["scheme"], b["host"], b["port"])
        self.timeout = timeout
        if (cert is None) != (key is None):
            raise MqttError("a client certificate needs both --cert and --key")
        if (ca or cert) and b["scheme"] != "mqtts":
            raise MqttError("--ca, --cert and --key need an mqtts:// broker address")
        for f in (ca, cert, key):
            if f and not os.path.isfile(f):
                raise MqttError("cannot read the file %s" % f)
        c = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id or "irprobe-%d" % os.getpid(),
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        if b["user"]:
            c.username_pw_set(b["user"], b["password"])
        if b["scheme"] == "mqtts":
            try:
                c.tls_set(ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
            except (ssl.SSLError, OSError, ValueError) as e:
                raise MqttError("cannot use the certificate files: %s" % e)
        self._connected = threading.Event()
        self._rc = None

        def on_connect(client, userdata, flags, reason_code, properties):
            self._rc = reason_code
            self._connected.set()

        def on_disconnect(client, userdata, flags, reason_code, properties):
            self._rc = self._rc if self._connected.is_set() else reason_code
            self._connected.set()

        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        self.client = c
        try:
            c.connect(b["host"], b["port"], keepalive=30)
        except ssl.SSLError as e:
            raise MqttError("TLS with %s failed: %s" % (self.where, _tls_why(e)))
        except (OSError, ValueError) as e:
            raise MqttError("cannot reach the broker %s: %s" % (self.where, _why(e)))
        c.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise MqttError("the broker %s did not answer within %g s" % (self.where, timeout))
        rc = self._rc
        if rc is None or getattr(rc, "is_failure", True) or not c.is_connected():
            self.close()
            code = getattr(rc, "value", rc)
            raise MqttError(
                "the broker %s %s" % (self.where, _REFUSED.get(code, "closed the connection"))
            )

    def publish(self, topic, payload, retain=False):
        """QoS 1; returns once the broker has acknowledged (PUBACK)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as e:
            raise MqttError("publishing to %s failed: %s" % (self.where, e))
        if not info.is_published():
            raise MqttError(
                "the broker %s did not acknowledge within %g s" % (self.where, self.timeout)
            )

    def close(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def _tls_why(e):
    reason = getattr(e, "reason", None) or str(e)
    if reason == "CERTIFICATE_VERIFY_FAILED":
        return "the broker's certificate is not trusted (give --ca with the CA that signed it)"
    if "CERTIFICATE" in reason or "ALERT" in reason:
        return "the broker refused our client certificate (%s)" % reason
    return reason


def _why(e):
    if isinstance(e, ConnectionRefusedError):
        return "nothing listens there (connection refused)"
    if isinstance(e, TimeoutError):
        return "no answer (timed out)"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
