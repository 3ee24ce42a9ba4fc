"""irprobe publish: send the stored readings to an MQTT broker, with Home Assistant discovery.

Every reading goes out once per broker (QoS 1, recorded after the broker's PUBACK); the
discovery configs are retained, so Home Assistant finds one device per meter, linked to the probe.
"""

DB_HELP = (
    "readings database: a file, or postgresql://user@host/db for a fleet "
    "(default: ~/.local/share/irprobe/readings.sqlite)"
)


def add_broker_arguments(p, flag="--broker", required=True):
    p.add_argument(
        flag,
        dest="broker",
        required=required,
        metavar="URL",
        help="mqtt://[user@]host[:port] or mqtts://...; the password in the URL or in "
        "the IRPROBE_MQTT_PASSWORD environment variable",
    )
    p.add_argument("--ca", help="CA certificate file that signed the broker's certificate (mqtts)")
    p.add_argument("--cert", help="client certificate file (mqtts)")
    p.add_argument("--key", help="client certificate's private key file (mqtts)")
    p.add_argument(
        "--discovery-prefix", default="homeassistant", help="Home Assistant discovery prefix"
    )


def add_arguments(p):
    p.add_argument("--db", help=DB_HELP)
    add_broker_arguments(p)


def publish_to_broker(store, args):
    """Connect as args say, publish what the broker has not acknowledged, return the figures."""
    from irprobe.cli import CommandError
    from irprobe.db import StoreError
    from irprobe.mqtt import Connection, MqttError, broker_key
    from irprobe.publisher import publish

    prefix = args.discovery_prefix or ""
    if not prefix or any(ch in prefix for ch in "+#\0") or prefix.strip("/") != prefix:
        raise CommandError(
            "--discovery-prefix %r cannot be an MQTT topic prefix: use letters, digits, _ and /"
            " inside (Home Assistant's default is homeassistant)" % prefix
        )
    try:
        key = broker_key(args.broker)
        conn = Connection(args.broker, ca=args.ca, cert=args.cert, key=args.key)
        try:
            return publish(store, conn, key, prefix)
        finally:
            conn.close()
    except (MqttError, StoreError) as e:
        raise CommandError("%s (what was acknowledged is recorded; run again to resume)" % e)


def report(stats):
    print(
        "published %d readings and %d discovery configs; %d readings were already published"
        % (stats["readings"], stats["configs"], stats["already"])
    )


def run(args):
    from irprobe.db import open_store

    store = open_store(args.db)
    try:
        stats = publish_to_broker(store, args)
    finally:
        store.close()
    report(stats)
    return 0
