# The progress display's phases come from the session Machine between I/O steps: a DLMS read
# over mode E shows sign-on, the baud change, the association, the association view and the
# profile rows n/N; nothing is shown when not on a terminal or with --json.
import io

from meterproto.session.auto import AutoSession
from meterproto.driver import run as drive
from meterproto.iec.client import IecClient

from irprobe import progress
from irprobe.sim import profiles
from irprobe.sim.vline import VirtualLine


class Recorder:
    def __init__(self):
        self.seen = []

    def update(self, phase, done=None, total=None):
        if not self.seen or self.seen[-1] != (phase, done, total):
            self.seen.append((phase, done, total))


def _phases(machine, name):
    rec = Recorder()
    line = VirtualLine(profiles.make_meter(profiles.get_profile(name)))
    port = progress.WatchedPort(line, machine, rec)
    port._tick = lambda force=False: rec.update(*progress.session_phase(machine))
    reading = drive(machine, port)
    return reading, rec.seen


def test_mode_e_dlms_read_shows_every_phase_and_rows_n_of_n():
    name = next(n for n in profiles.list_profiles()
                if profiles.get_profile(n).get("opening") == "e"
                and profiles.get_profile(n).get("auth", "lowest") == "lowest")
    p = profiles.get_profile(name)
    m = AutoSession(mode="auto", server_upper=p.get("server_upper", 1),
                    server_lower=p.get("server_lower"))
    reading, seen = _phases(m, name)
    texts = [s[0] for s in seen]
    assert texts[0] == "sign-on"
    assert any(t.startswith("baud change to ") for t in texts)
    for want in ("association", "association view", "registers"):
        assert want in texts, (want, texts)
    rows = [s for s in seen if s[0].startswith("profile ")]
    n = sum(len(pr["rows"]) for pr in reading.to_dict()["profiles"])
    assert n > 0 and rows[-1][2] == n and 0 < rows[-1][1] <= n
    assert all(r[2] == n for r in rows if r[2] is not None)
    done = [r[1] for r in rows]
    assert done == sorted(done)  # the count only goes up


def test_iec_read_shows_sign_on_and_readout():
    p = profiles.get_profile("iskra-mt174")
    reading, seen = _phases(IecClient(**profiles.client_options(p)), "iskra-mt174")
    texts = [s[0] for s in seen]
    assert "sign-on" in texts and any(t.startswith("readout") for t in texts)


def test_quiet_when_not_a_terminal_or_json():
    assert not progress.wanted(False, io.StringIO())
    assert not progress.wanted(True, io.StringIO())

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress.wanted(False, Tty()) and not progress.wanted(True, Tty())
    with progress.Display(False, "x") as d:
        d.update("sign-on")  # disabled: no rich objects, no output
        assert d._bar is None


def test_doctor_shows_its_ladder_steps():
    from meterproto.doctor.ladder import Doctor

    result, seen = _phases(Doctor(), "iskra-mt174")
    steps = [s[0] for s in seen if s[0].startswith("doctor: ")]
    assert len(set(steps)) >= 2, seen
    assert result["verdict"] == "ok"
