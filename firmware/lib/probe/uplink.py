# probe.uplink: the Pico W as an always-on logger; the store is the outbox (device).
# Every stored reading goes to the MQTT broker as ONE QoS 1 message (MQTT 3.1.1 clause 4.3.2)
# through micropython-lib's umqtt.simple (installed by `irprobe install --board pico_w`), oldest
# first, and is deleted (store.ack) only after the broker's PUBACK: readings taken while the
# network or the broker is down wait in flash and go out in order when it returns. Home Assistant
# discovery (meterproto.hass) is sent retained after each (re)connect for the meters it carries.
#
# Options (probe.config, `irprobe config --option`): mqtt_host, mqtt_port, mqtt_tls,
#   mqtt_user, mqtt_password (write-only), mqtt_prefix, wifi_ssid, wifi_password (write-only).
# mqtts (mqtt_tls=true): the broker's CA in CERT_DIR/ca.der (required: the broker is always
#   verified), a client certificate in CERT_DIR/cert.der + key.der if the broker wants one.
# API
#   Uplink(store, options, device_id, firmware=None, wifi=None, cert_dir=CERT_DIR)
#       .enabled: mqtt_host is set
#   pump(now_ms) -> readings published this call; never raises for a network fault: it drops
#       the connection and tries again RETRY_MS later. Blocks at most about TIMEOUT_S per step.
import json

from meterproto.link import records as R

RETRY_MS = 30000  # wait after a failure before connecting again
TIMEOUT_S = 5  # longest wait for the broker's CONNACK / PUBACK
PULL_BYTES = 2048  # one store pull per pump (a reading or two): the loop gets the CPU back
CERT_DIR = "/mqtt"


def device_id():
    """The board's unique id as hex (the same id the USB channel reports, probe.usb)."""
    try:
        import machine
        from meterproto.compat import hexlify

        return hexlify(machine.unique_id(), "")
    except (ImportError, AttributeError):
        return "unknown"


class _TimedSockets:
    """umqtt.simple makes its own socket: this hands it one with a timeout, so a broker
    that stops answering cannot hang the probe."""

    def __init__(self, mod, timeout):
        self._mod = mod
        self.timeout = timeout
        self.last = None  # the plain socket under a TLS one (SSLSocket has no settimeout)

    def socket(self, *args):
        s = self._mod.socket(*args)
        s.settimeout(self.timeout)
        self.last = s
        return s

    def getaddrinfo(self, *args):
        return self._mod.getaddrinfo(*args)


class Uplink:
    def __init__(self, store, options, device_id, firmware=None, wifi=None, cert_dir=CERT_DIR):
        o = options or {}
        self.store = store
        self.host = o.get("mqtt_host") or None
        self.tls = o.get("mqtt_tls") is True
        self.port = o.get("mqtt_port") or (8883 if self.tls else 1883)
        self.user = o.get("mqtt_user") or None
        self.password = o.get("mqtt_password") or None
        prefix = o.get("mqtt_prefix")
        if not isinstance(prefix, str) or not prefix or "+" in prefix or "#" in prefix:
            prefix = "homeassistant"  # meterproto.hass.DISCOVERY_PREFIX; no wildcards
        self.prefix = prefix
        self.device_id = device_id
        self.firmware = firmware
        self.wifi = wifi  # probe.wifi.Wifi on a Pico W; None where the host has the network
        self.cert_dir = cert_dir
        self.client = None
        self._raw = None
        self._announced = {}
        self._reader = None
        self._retry_at = None
        self.published = 0
        self.failures = 0
        self.last_error = None

    @property
    def enabled(self):
        return bool(self.host)

    def pending(self):
        """Readings (or lost seqs) past the watermark: cheap, asked on every idle turn."""
        st = self.store
        return st._next - 1 > st.acked

    def due(self, now_ms):
        """Something to send and no back-off running (cheap: asked on every idle turn)."""
        if not self.enabled or not self.pending():
            return False
        return self._retry_at is None or now_ms - self._retry_at >= 0

    def pump(self, now_ms):
        if not self.due(now_ms):
            return 0
        from meterproto import hass  # only while publishing (dropped again with release())

        sent = 0
        last = None
        try:
            if self.wifi is not None and not self.wifi.up(now_ms):
                return 0
            if self.client is None:
                self._connect()
            if self._reader is None:
                from meterproto.link.recpack import Unpacker

                self._reader = Unpacker()  # keeps the schemas the store hands out
            # The store's own pull (probe.store_sync): what it hands out here is what ack()
            # may then let go, exactly as for a host's sync.
            data = self.store.pull(self.store.acked + 1, PULL_BYTES, self._reader.last)
            for raw in R.split_records(data):
                rec = self._reader.feed(raw)
                if rec is None:
                    continue  # a schema: the readings after it need it
                if rec.gap_to is not None:
                    self.store.ack(rec.gap_to)  # lost for good on the flash: nothing to send
                    continue
                self._announce(rec.reading)
                meter = (rec.reading.get("meter") or {}).get("id") or "unknown"
                state = hass.state(rec.reading, rec.seq, rec.time_s or None)
                self._publish(hass.state_topic(meter), json.dumps(state), False)
                self.store.ack(rec.seq)  # only now: the broker holds it (PUBACK)
                sent += 1
                self.published += 1
                last = rec.time_s
            self._retry_at = None
            if last:  # the probe's "Last reading" sensor (meterproto.hass.configs)
                self._publish(hass.probe_state_topic(self.device_id),
                              json.dumps({"time": hass.iso_utc(last)}), False)
        except Exception as e:  # umqtt raises OSError, MQTTException, or asserts on garbage
            self._drop(e, now_ms)
        return sent

    def _connect(self):
        import umqtt.simple as mq

        if not isinstance(mq.socket, _TimedSockets):
            mq.socket = _TimedSockets(mq.socket, TIMEOUT_S)
        params = self._tls_params() if self.tls else {}
        c = mq.MQTTClient(
            self.device_id, self.host, self.port, self.user, self.password,
            keepalive=0, ssl=self.tls, ssl_params=params,
        )
        c.connect()
        self.client = c
        self._raw = mq.socket.last

    def _read(self, name):
        try:
            with open(self.cert_dir + "/" + name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def _tls_params(self):
        import ssl
        import sys

        # umqtt.simple 1.3.4 imports `ussl`; MicroPython >= 1.23 names it `ssl`.
        if "ussl" not in sys.modules:
            sys.modules["ussl"] = ssl
        ca = self._read("ca.der")
        if ca is None:
            raise OSError("mqtts needs the broker's CA in %s/ca.der" % self.cert_dir)
        p = {"cadata": ca, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": self.host}
        cert, key = self._read("cert.der"), self._read("key.der")
        if cert is not None and key is not None:
            p["cert"], p["key"] = cert, key
        return p

    def _publish(self, topic, payload, retain):
        self._raw.settimeout(TIMEOUT_S)  # umqtt.simple leaves it blocking after a read
        self.client.publish(topic, payload, retain, 1)

    def _announce(self, reading):
        from meterproto import hass

        mid = (reading.get("meter") or {}).get("id") or "unknown"
        n = len(reading.get("values") or ())
        if self._announced.get(mid) == n:
            return
        for topic, cfg in hass.configs(reading, self.device_id, self.firmware, self.prefix):
            self._publish(topic, json.dumps(cfg), True)
        self._announced[mid] = n

    def _drop(self, e, now_ms):
        self.failures += 1
        self.last_error = repr(e)
        self._announced = {}  # the broker may have lost its retained configs: send again
        c, self.client = self.client, None
        if c is not None:
            try:
                c.sock.close()
            except Exception:
                pass
        self._retry_at = now_ms + RETRY_MS

    def release(self):
        """The outbox is empty: hang up and let go of what publishing holds (the reader's
        schema, the client), so the next meter read has the heap (about 190 KB)."""
        self.close()
        self._reader = None
        self._raw = None

    def close(self):
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:
                pass
            self.client = None
