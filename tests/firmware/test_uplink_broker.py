# The Pico W logger's uplink (probe.uplink + micropython-lib umqtt.simple from its pinned release)
# on the MicroPython unix port, against a real MQTT broker started by this test (the radio cannot
# be emulated here; the host's network stands in for Wi-Fi). The store is the outbox: a reading
# is deleted only after PUBACK; readings taken while the broker is down go out in order after.
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")


pytestmark = pytest.mark.skipif(not os.path.exists(MPY), reason="micropython unix port missing")

# The device side: a real probe.store on a folder, the real uplink; commands on stdin.
_DEVICE = r"""
import sys, json, time
sys.path[:0] = [%(lib)r, %(fwlib)r]
from probe.fsys import Fsys
from probe.store import Store
from probe import uplink
uplink.RETRY_MS = 0
uplink.TIMEOUT_S = 3  # the machine is shared: a slow CONNACK is not a dead broker
store = Store(Fsys(%(root)r))
store.recover()
up = uplink.Uplink(store, %(options)r, "E6614103E7", "0.1.0", cert_dir=%(certs)r)
n = 0
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = line.split()
    if cmd[0] == "take":
        for i in range(int(cmd[1])):
            n += 1
            reading = {"meter": {"id": "73910422", "ident": "/ISK5MT174-0001"},
                       "protocol": "iec62056-21",
                       "values": [{"obis": "1.8.0", "value": "%%010.3f" %% (1000 + n),
                                   "unit": "kWh"},
                                  {"obis": "32.7.0", "value": "230.%%d" %% n, "unit": "V"}]}
            store.commit(reading, 1764003811 + 60 * n)
    elif cmd[0] == "pump":
        sent = up.pump(time.ticks_ms())
        while sent:
            sent = up.pump(time.ticks_ms())
    st = store.status()
    print(json.dumps({"published": up.published, "count": st["count"], "acked": st["acked"],
                      "failures": up.failures, "error": up.last_error}))
"""


class Device:
    def __init__(self, tmp_path, broker, tls=False):
        from irprobe import mpylib

        try:
            mpylib.materialise(["umqtt.simple"], str(tmp_path / "mpylib"))
        except mpylib.LibError as e:
            pytest.skip("the pinned umqtt.simple release cannot be had here: %s" % e)
        from servers import PASSWORD, USER

        (tmp_path / "flash").mkdir()
        opts = {"mqtt_host": "127.0.0.1", "mqtt_port": broker.port, "mqtt_user": USER,
                "mqtt_password": PASSWORD}
        if tls:
            opts.update(mqtt_host="localhost", mqtt_port=broker.tls_port, mqtt_tls=True)
        script = _DEVICE % {"lib": str(tmp_path / "mpylib"), "certs": str(tmp_path / "certs"),
                            "fwlib": os.path.join(ROOT, "firmware", "lib"),
                            "root": str(tmp_path / "flash"), "options": opts}
        self.p = subprocess.Popen([MPY, "-c", script], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def do(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        assert out, self.p.stderr.read()
        return json.loads(out)

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def _seqs(listener):
    return [json.loads(p)["seq"] for _, p, _ in listener.messages("irprobe/73910422/state")]


def test_broker_killed_mid_publish_nothing_lost_or_doubled(tmp_path):
    from servers import Broker, Listener

    broker = Broker(str(tmp_path / "broker")).start()
    dev = None
    lis = Listener(broker)
    try:
        dev = Device(tmp_path, broker)
        st = dev.do("take 3")
        assert st["count"] == 3 and st["published"] == 0
        st = dev.do("pump")
        assert st == {"published": 3, "count": 0, "acked": 3, "failures": 0, "error": None}
        assert lis.wait_for(lambda: len(_seqs(lis)) == 3)
        first = lis.messages("irprobe/73910422/state")
        assert json.loads(first[0][1])["1.8.0"] == "001001.000"  # the stored text, exactly
        cfgs = lis.messages("homeassistant/")
        assert len(cfgs) == 3  # the probe + 2 registers, announced once on this connection
        energy = [json.loads(p) for t, p, _ in cfgs if "1_8_0" in t][0]
        assert energy["state_class"] == "total_increasing" and energy["unit_of_measurement"] == "kWh"
        assert energy["device"]["via_device"] == "irprobe_probe_e6614103e7"

        # The broker stops answering: the PUBLISH of reading 4 is on its way, no PUBACK comes.
        broker.freeze()
        dev.do("take 2")
        st = dev.do("pump")
        assert st["count"] == 2 and st["acked"] == 3 and st["failures"] == 1  # kept, not deleted
        broker.kill()  # it dies with reading 4 in flight
        dev.do("take 1")  # read while the broker is down
        st = dev.do("pump")
        assert st["count"] == 3 and st["failures"] == 2  # refused: still kept
        lis.close()

        broker.start()  # back, same address; it remembers nothing
        lis = Listener(broker)
        st = dev.do("pump")
        assert st["count"] == 0 and st["acked"] == 6 and st["published"] == 6
        assert lis.wait_for(lambda: len(_seqs(lis)) == 3)
        assert _seqs(lis) == [4, 5, 6]  # in order, each once
        values = [json.loads(p)["32.7.0"] for _, p, _ in lis.messages("irprobe/73910422/state")]
        assert values == ["230.4", "230.5", "230.6"]
        last = b'{"time": "2025-11-24T17:09:31+00:00"}'  # reading 6: the probe's last reading
        assert lis.wait_for(lambda: [m[1] for m in lis.messages("irprobe/probe/")] == [last])
        # After the reconnect the discovery configs were sent again (retained) for the new broker.
        late = Listener(broker, "homeassistant/#")
        try:
            # (a late subscriber may be handed a retained message more than once by amqtt)
            assert late.wait_for(lambda: len(set(t for t, _, _ in late.messages())) == 3)
            assert all(retained for _, _, retained in late.messages())
        finally:
            late.close()
        # Nothing more goes out: the outbox is empty.
        st = dev.do("pump")
        assert st["published"] == 6 and st["count"] == 0
    finally:
        lis.close()
        if dev:
            dev.close()
        broker.stop()


def _der(path, key=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = open(path, "rb").read()
    if key:
        k = serialization.load_pem_private_key(data, None)
        return k.private_bytes(serialization.Encoding.DER,
                               serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())
    return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)


def test_mqtts_with_client_certificate(tmp_path, mqtt_broker):
    """mqtts from the probe: the broker verified against the CA on the probe's flash, and the
    probe's own certificate presented; without the CA it does not connect at all."""
    from servers import Listener

    certs = tmp_path / "certs"
    certs.mkdir()
    lis = Listener(mqtt_broker, "irprobe/73910422/#")
    dev = Device(tmp_path, mqtt_broker, tls=True)
    try:
        dev.do("take 2")
        st = dev.do("pump")  # no CA on the flash: refuses to talk unverified, keeps both
        assert st["count"] == 2 and st["failures"] == 1 and "ca.der" in st["error"]
        (certs / "ca.der").write_bytes(_der(mqtt_broker.pki["ca_pem"]))
        (certs / "cert.der").write_bytes(_der(mqtt_broker.pki["client_pem"]))
        (certs / "key.der").write_bytes(_der(mqtt_broker.pki["client_key"], key=True))
        st = dev.do("pump")
        assert st["count"] == 0 and st["published"] == 2, st
        assert lis.wait_for(lambda: len(lis.messages()) == 2)
        assert [json.loads(p)["seq"] for _, p, _ in lis.messages()] == [1, 2]
    finally:
        dev.close()
        lis.close()
