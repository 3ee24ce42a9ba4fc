# probe.carrier: optional ~38 kHz carrier on the IR LED, gated by the UART TX line (device).
# IEC 62056-21 optical ports are baseband (light on = SPACE = 0), so this is OFF by default;
# it only serves 38 kHz (TSOP-style) heads at <= 2400 Bd. See docs/CARRIER.md.
# The PIO program is kept as data so the host can assemble, simulate and check it.
# MicroPython only (rp2.StateMachine); CircuitPython boards run without it (probe.hal_cp).

# One carrier period is P = 24 state-machine cycles: the LED is on for 12 and off for 12
# (11 in the `set` delay + the 1-cycle `jmp` that polls TX). While TX is high (MARK, idle)
# the `jmp pin` loops on itself every cycle and the LED stays dark.
PROGRAM = (
    # (label, op, argument, delay)
    ("top", "jmp_pin", "top", 0),   # TX high -> stay dark, poll again
    (None, "set_pins", 1, 11),      # TX low (SPACE) -> LED on for 12 cycles
    (None, "set_pins", 0, 10),      # LED off for 11 cycles, + the jmp above = 12
)
PERIOD_CYCLES = 24
TARGET_HZ = 38000
_DELAY_MAX = 31  # 5 delay bits when no side-set is used (RP2040 datasheet 3.4.1)

# Instruction encoding (RP2040 datasheet 3.4): bits 15-13 opcode, 12-8 delay/side-set.
_OP_JMP = 0x0000
_OP_SET = 0xE000
_JMP_COND_PIN = 6  # condition field value for `jmp pin`
_SET_DEST_PINS = 0


def _labels(program):
    out = {}
    for i in range(len(program)):
        if program[i][0] is not None:
            out[program[i][0]] = i
    return out


def assemble(program=PROGRAM):
    """The 16-bit PIO instruction words of `program` (a tuple of instruction tuples)."""
    labels = _labels(program)
    words = []
    for label, op, arg, delay in program:
        if delay < 0 or delay > _DELAY_MAX:
            raise ValueError("PIO delay %d is outside 0-31" % delay)
        if op == "jmp_pin":
            w = _OP_JMP | (_JMP_COND_PIN << 5) | labels[arg]
        elif op == "set_pins":
            if arg < 0 or arg > 31:
                raise ValueError("set value %d is outside 0-31" % arg)
            w = _OP_SET | (_SET_DEST_PINS << 5) | arg
        else:
            raise ValueError("unknown PIO op %r" % op)
        words.append(w | (delay << 8))
    return words


def divider_for(sys_hz, target_hz=TARGET_HZ):
    """The integer clock divider that puts the carrier nearest to target_hz.

    An integer divider avoids the fractional divider's cycle-to-cycle jitter.
    """
    d = (sys_hz + PERIOD_CYCLES * target_hz // 2) // (PERIOD_CYCLES * target_hz)
    if d < 1 or d > 65535:
        raise ValueError("no PIO divider gives %d Hz at %d Hz system clock" % (target_hz, sys_hz))
    return d


def carrier_hz_x1000(sys_hz, div):
    """Carrier frequency in milli-hertz (integer, no floats on the device)."""
    return sys_hz * 1000 // (div * PERIOD_CYCLES)


def sm_freq_for(sys_hz, div):
    """The `freq=` to give rp2.StateMachine so its 16.8 divider comes out exactly `div`.

    MicroPython computes divider = floor(sys_hz * 256 / freq) / 256; sys_hz // div is
    never above sys_hz / div, and the excess is far below 1/256 of a step.
    """
    return sys_hz // div


def _build_asm(rp2):
    # rp2.asm_pio runs the body with its own globals (jmp, set, label, pin, pins), so the
    # program data comes in through a default argument.
    @rp2.asm_pio(set_init=rp2.PIO.OUT_LOW)
    def ir_carrier(program=PROGRAM):
        for item in program:
            if item[0] is not None:
                label(item[0])  # noqa: F821 (PIO assembler global)
            if item[1] == "jmp_pin":
                jmp(pin, item[2])[item[3]]  # noqa: F821
            else:
                set(pins, item[2])[item[3]]  # noqa: F821

    return ir_carrier


class Carrier:
    """Start/stop the gated carrier on a state machine (MicroPython rp2)."""

    def __init__(self, led_pin, tx_pin, sm_id=0, target_hz=TARGET_HZ, rp2=None, machine=None):
        if rp2 is None:
            import rp2
        if machine is None:
            import machine
        sys_hz = machine.freq()
        self.div = divider_for(sys_hz, target_hz)
        self.hz_x1000 = carrier_hz_x1000(sys_hz, self.div)
        # jmp_pin only samples the pad; on RP2040 it does not take the pin from the UART.
        self.sm = rp2.StateMachine(sm_id, _build_asm(rp2), freq=sm_freq_for(sys_hz, self.div),
                                   set_base=machine.Pin(led_pin), jmp_pin=machine.Pin(tx_pin))

    def start(self):
        self.sm.active(1)

    def stop(self):
        self.sm.active(0)
        self.sm.exec("set(pins, 0)")  # leave the LED dark
