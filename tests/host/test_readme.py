# README's "Using it on the simulator" block, run line by line as written (in a scratch
# home and folder): simulators started with `&` print their port first, and /dev/pts/N, M,
# P in later lines stand for those ports, in order.
import json
import os
import re
import select
import shlex
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IRPROBE = os.path.join(ROOT, ".venv", "bin", "irprobe")


def readme_simulator_lines():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    part = text[text.index("## Using it on the simulator"):]
    block = re.search(r"```sh\n(.*?)```", part, re.S).group(1)
    return [ln for ln in block.splitlines() if ln.strip()]


def _split(line):
    """(command words, comment, background?)"""
    words = shlex.split(line, comments=False)
    comment = ""
    if "#" in words:
        i = words.index("#")
        comment = " ".join(words[i + 1:])
        words = words[:i]
    bg = words[-1] == "&"
    if bg:
        words = words[:-1]
    assert words[0] == ".venv/bin/irprobe", line
    return [IRPROBE] + words[1:], comment, bg


def test_readme_simulator_commands_run_as_written(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), COLUMNS="120")
    for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env.pop(k, None)
    ports = {}
    background = []
    try:
        for line in readme_simulator_lines():
            words, comment, bg = _split(line)
            if bg:
                p = subprocess.Popen(words, cwd=str(tmp_path), env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                background.append(p)
                r, _, _ = select.select([p.stdout], [], [], 20)
                assert r, line
                ports["NMP"[len(ports)]] = json.loads(p.stdout.readline())["port"]
                continue
            words = [re.sub(r"/dev/pts/([NMP])$", lambda m: ports[m.group(1)], w)
                     for w in words]
            t = time.monotonic()
            r = subprocess.run(words, cwd=str(tmp_path), env=env, capture_output=True,
                               text=True, timeout=120)
            out = r.stdout + r.stderr
            assert "Traceback" not in out, (line, out)
            quoted = re.search(r'"([^"]+?)(\.\.\.)?"', comment)
            if words[1] == "doctor":
                assert r.returncode == 1, (line, out)  # a diagnosis, not a success
            else:
                assert r.returncode == 0, (line, out)
            if quoted:
                assert quoted.group(1) in out, (line, out)
            print("%5.1f s  %s" % (time.monotonic() - t, line[:60]))
    finally:
        for p in background:
            p.terminate()
            p.wait(10)
            p.stdout.close()
    assert (tmp_path / "readings.csv").read_text().startswith("meter,")
    assert (tmp_path / "lp.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / ".config" / "irprobe" / "meters.json").exists()
    assert (tmp_path / ".local" / "share" / "irprobe" / "readings.sqlite").exists()
