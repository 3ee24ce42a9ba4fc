# PULL answers whitened (XOR 0x60): the host gets the records back exactly, and typical
# compact records cost far fewer stuffed bytes on the wire (both runtimes).
from meterproto.link import channel as H
from meterproto.link.records import split_records
from meterproto.link.recpack import Packer


def _records(n):
    pk = Packer()
    out = bytearray()
    for i in range(n):
        r = {"meter": {"id": "41234567"}, "protocol": "iec62056-21", "mode": "C", "baud": 9600,
             "values": [{"obis": "1-0:1.8.%d*255" % k, "value": "%06d.%03d" % (1000 + i * k, i),
                         "unit": "kWh"} for k in range(10)]}
        for rec in pk.pack(1 + i, 1700000000 + 900 * i, r, b"\x01\x02\x03\x04\x05\x06\x07\x08"):
            out += rec
    return bytes(out)


def test_whitened_answers_come_back_exactly_and_plain_ones_too():
    data = _records(20)
    w = H.whiten(bytearray(data))
    assert bytes(w) != data and w[0] == 0x29
    assert bytes(H.pull_records(bytes(w))) == data
    assert bytes(H.pull_records(data)) == data  # an older probe's plain answer
    assert len(split_records(H.pull_records(bytes(w)))) == 21  # a schema and 20 readings


def test_whitening_cuts_the_stuffed_bytes():
    data = _records(50)
    plain = H.encode_frame(H.CMD_PULL | H.RESPONSE, 7, data)
    white = H.encode_frame(H.CMD_PULL | H.RESPONSE, 7, H.whiten(bytearray(data)))
    assert len(white) * 100 < len(data) * 112  # under 12 % on the wire over the payload
    assert len(white) < len(plain)
    frames = H.FrameDecoder(1 << 16).feed(bytes(white))
    assert bytes(H.pull_records(frames[0].payload)) == data
