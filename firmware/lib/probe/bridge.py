# probe.bridge: transparent mode (device side): the host drives a meter session through the
# probe's optical head (irprobe bridge), byte for byte; loaded only when the host asks.


def exchange(port, data=b"", baud=None, fmt=None, listen_ms=0):
    """Switch the line if asked (after TX has drained), send data, then return what the
    meter sent within listen_ms."""
    if baud is not None:
        port.drain()
        port.set_line(baud, fmt if fmt is not None else 0)
    if data:
        port.write(data)
    out = bytearray()
    end = port.now_ms() + listen_ms
    while True:
        got = port.read(end)
        if not got:
            break
        out.extend(got)
    return bytes(out)
