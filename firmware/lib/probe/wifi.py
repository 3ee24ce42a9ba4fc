# probe.wifi: keep the Pico W's Wi-Fi station up for the logger (probe.uplink), without ever
# blocking the main loop: connect() is started, then isconnected() is polled (device).
# The password comes from the write-only option wifi_password (probe.config.SECRET_OPTIONS).

RETRY_MS = 20000  # start a new association attempt this long after the last one


class Wifi:
    def __init__(self, ssid, password, network=None):
        if network is None:
            import network
        self.ssid = ssid
        self.password = password
        self.wlan = network.WLAN(network.STA_IF)
        self._tried_at = None

    def up(self, now_ms):
        """True when associated with an address; otherwise (re)starts joining, returns False."""
        w = self.wlan
        if w.isconnected():
            return True
        if self._tried_at is None or now_ms - self._tried_at >= RETRY_MS:
            self._tried_at = now_ms
            w.active(True)
            try:
                w.connect(self.ssid, self.password)
            except OSError:
                pass  # the radio is busy with the previous attempt: try again later
        return False


def make(options):
    """A Wifi for the options, or None where no SSID is set (the unix port, a USB-only probe)."""
    ssid = (options or {}).get("wifi_ssid")
    if not ssid:
        return None
    return Wifi(ssid, (options or {}).get("wifi_password") or None)
