# The demo story end to end on the simulator: take from three meters, sync twice, show,
# export, plot. Checks what it made, and that the CSV holds the meters' exact decimal text.
import csv
import io

from irprobe.demo_story import run_story
from irprobe.sim.profiles import get_profile


def test_story(tmp_path):
    log = io.StringIO()
    made = run_story(str(tmp_path / "demo"), stream=log)
    text = log.getvalue()
    assert "$ irprobe take" in text and "$ irprobe sync" in text and "$ irprobe plot" in text
    assert made["counts"]["sessions"] == 3 and made["counts"]["meters"] == 3
    assert made["counts"]["profile_rows"] > 0
    png = open(made["png"], "rb").read()
    assert png[:4] == b"\x89PNG" and len(png) > 10000
    rows = list(csv.DictReader(open(made["csv"], newline="")))
    exp = get_profile("iskra-mt174")["expected"]
    got = {(r["obis"], r["value"], r["unit"] or None) for r in rows if r["meter"] == "71234567"}
    assert {(e["obis"], e["value"], e["unit"]) for e in exp} <= got
