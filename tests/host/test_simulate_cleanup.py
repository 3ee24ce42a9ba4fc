# `irprobe simulate --probe` keeps the meter's password and keys in its folder: the folder is
# private while it runs and gone after SIGTERM, SIGHUP or Ctrl-C (issue 14, case 9).
import json
import os
import signal
import stat
import subprocess
import sys

import pytest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_simulated_probe_folder_private_and_removed(tmp_path, sig):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen(
        [sys.executable, "-m", "irprobe", "simulate", "--probe", "--profile", "iskra-mt174"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        first = json.loads(p.stdout.readline())
        assert first["port"].startswith("/dev/")
        (folder,) = [d for d in os.listdir(tmp_path) if d.startswith("irprobe-sim-")]
        mode = stat.S_IMODE(os.stat(tmp_path / folder).st_mode)
        assert mode == 0o700, oct(mode)
        assert os.path.exists(tmp_path / folder / "config.json") or os.listdir(tmp_path / folder)
        p.send_signal(sig)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert b"Traceback" not in err
    assert os.listdir(tmp_path) == []
