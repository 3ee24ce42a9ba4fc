"""irprobe.sim.reader_options: what a reader must be told to read each simulated meter.

One place for `simulate --list` (shown as `irprobe read` options), `demo --meters` and the
tests: the meter's address, authentication, password and keys (simulator secrets).
"""
# Our own system title for ciphered reads (any 8 bytes; 'IRPROBE1').
SYSTEM_TITLE = "495250524F424531"


def read_args(p):
    """`irprobe read` options (a list of words) for a simulated meter profile dict."""
    if p.get("protocol") != "dlms":
        if p.get("mode") == "D":
            return ["--push", "--push-baud", str(p.get("push_baud", 2400))]
        args = ["--mode", "iec"]
        if p.get("wakeup"):
            args += ["--wakeup", p["wakeup"]]
        return args
    args = ["--mode", "e" if p.get("opening") == "e" else "hdlc"]
    if p.get("client_sap", 16) != 16:
        args += ["--client", str(p["client_sap"])]
    if p.get("server_lower") is not None or p.get("server_upper", 1) != 1:
        args += ["--server", server(p)]
    if p.get("auth") and p["auth"] != "lowest" or p.get("ek"):
        args += ["--auth", p.get("auth") or "lowest"]
    if p.get("password"):
        args += ["--password", p["password"]]
    if p.get("ek"):
        args += ["--ek", p["ek"], "--ak", p["ak"]]
    return args


def server(p):
    upper = p.get("server_upper", 1)
    lower = p.get("server_lower")
    return str(upper) if lower is None else "%d/%d" % (upper, lower)


def session_options(p):
    """AutoSession keywords for a simulated DLMS meter (the same choices as read_args)."""
    from meterproto.compat import unhexlify

    kw = {"client_sap": p.get("client_sap", 16), "server_upper": p.get("server_upper", 1),
          "server_lower": p.get("server_lower"), "auth": p.get("auth") or "lowest",
          "password": p.get("password")}
    if p.get("ek"):
        kw.update(ek=unhexlify(p["ek"]), ak=unhexlify(p["ak"]),
                  system_title=unhexlify(SYSTEM_TITLE))
    return kw
