# Fake rp2 module for tests: a small asm_pio that runs the decorated body the way MicroPython's
# rp2.asm_pio does (its own globals for jmp/set/label/pin/pins) and yields the instruction
# words, plus a StateMachine that only records how it was set up.


class PIO:
    OUT_LOW = 0
    OUT_HIGH = 1
    IN_LOW = 0
    IN_HIGH = 1


class _Emit:
    def __init__(self):
        self.labels = {}
        self.words = []
        self.pass_ = 0

    def label(self, name):
        self.labels[name] = len(self.words)

    def _emit(self, w):
        self.words.append(w)
        return self

    def __getitem__(self, delay):
        if delay < 0 or delay > 31:
            raise ValueError("delay out of range")
        self.words[-1] |= delay << 8
        return self

    def jmp(self, cond, target=None):
        addr = self.labels.get(target, 0) if self.pass_ else 0
        return self._emit(0x0000 | (cond << 5) | addr)

    def set(self, dest, value):
        return self._emit(0xE000 | (dest << 5) | value)


def asm_pio(**kw):
    def dec(f):
        emit = _Emit()
        g = f.__globals__
        saved = dict(g)
        g.clear()
        g.update({"label": emit.label, "jmp": emit.jmp, "set": emit.set, "pin": 6, "pins": 0})
        try:
            for p in (0, 1):
                emit.pass_ = p
                emit.words = []
                f()
        finally:
            g.clear()
            g.update(saved)
        return {"words": emit.words, "kw": kw}

    return dec


class StateMachine:
    made = []

    def __init__(self, sm_id, prog, freq=None, set_base=None, jmp_pin=None, **kw):
        self.sm_id = sm_id
        self.prog = prog
        self.freq = freq
        self.set_base = set_base
        self.jmp_pin = jmp_pin
        self.running = 0
        self.execed = []
        StateMachine.made.append(self)

    def active(self, v=None):
        if v is not None:
            self.running = v
        return self.running

    def exec(self, text):
        self.execed.append(text)
