# meterproto.bcc: the IEC 62056-21 block check character (clause 6.3.3), core.
# XOR of every byte after the opening SOH/STX up to and including ETX (or EOT);
# computed on 7-bit values since parity is a line property, not data.


def bcc(data, start=0, end=None):
    """XOR of data[start:end], 7-bit."""
    if end is None:
        end = len(data)
    x = 0
    for i in range(start, end):
        x ^= data[i]
    return x & 0x7F
