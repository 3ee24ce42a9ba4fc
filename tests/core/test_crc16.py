# The three CRC-16 variants of meterproto.crc16 against their catalogue check values, and
# split runs (start/end, continued register) against the whole-buffer result.
from meterproto.crc16 import crc16_arc, crc16_ccitt_false, crc16_x25, crc16_x25_update

CHECK = b"123456789"


def test_check_values():
    assert crc16_x25(CHECK) == 0x906E
    assert crc16_ccitt_false(CHECK) == 0x29B1
    assert crc16_arc(CHECK) == 0xBB3D


def test_empty_input_gives_the_initial_value():
    assert crc16_x25(b"") == 0x0000  # 0xFFFF init, 0xFFFF final XOR
    assert crc16_ccitt_false(b"") == 0xFFFF
    assert crc16_arc(b"") == 0x0000


def test_start_end_select_a_slice():
    data = b"xx" + CHECK + b"yy"
    assert crc16_x25(data, 2, 11) == 0x906E
    assert crc16_ccitt_false(data, 0xFFFF, 2, 11) == 0x29B1
    assert crc16_arc(data, 0, 2, 11) == 0xBB3D
    assert crc16_ccitt_false(bytearray(CHECK)) == 0x29B1  # any buffer type


def test_running_value_continues_across_chunks():
    for cut in range(len(CHECK) + 1):
        head, tail = CHECK[:cut], CHECK[cut:]
        assert crc16_ccitt_false(tail, crc16_ccitt_false(head)) == 0x29B1
        assert crc16_arc(tail, crc16_arc(head)) == 0xBB3D
        assert crc16_x25_update(crc16_x25_update(0xFFFF, head), tail) ^ 0xFFFF == 0x906E


def test_a_single_flipped_bit_changes_every_variant():
    bad = bytearray(CHECK)
    bad[4] ^= 0x01
    assert crc16_x25(bad) != 0x906E
    assert crc16_ccitt_false(bad) != 0x29B1
    assert crc16_arc(bad) != 0xBB3D


def _bitwise(data, poly, init, reflected, xorout):
    # Slow reference: one bit at a time, straight from the CRC definition.
    crc = init
    for b in data:
        if reflected:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        else:
            crc ^= b << 8
            for _ in range(8):
                crc = ((crc << 1) ^ poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc ^ xorout


def test_tables_agree_with_the_bitwise_definition_and_allocate_nothing():
    data = bytes(range(256)) + bytes((0x7E, 0x00, 0xFF)) * 20
    want = (_bitwise(data, 0x8408, 0xFFFF, True, 0xFFFF), _bitwise(data, 0x1021, 0xFFFF, False, 0),
            _bitwise(data, 0xA001, 0, True, 0))
    crc16_ccitt_false(b""), crc16_arc(b"")  # the lazy tables are built on first use
    try:
        import micropython
        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):  # CPython: no heap lock, the values still count
        lock = unlock = lambda: None
    lock()  # on MicroPython any allocation in the per-byte loop raises MemoryError here
    try:
        x25 = crc16_x25(data)  # separate names: building a tuple here would allocate
        false = crc16_ccitt_false(data)
        arc = crc16_arc(data)
    finally:
        unlock()
    assert (x25, false, arc) == want, ((x25, false, arc), want)
