"""irprobe.demo_story: the whole handheld story on the simulator, with the real commands.

A simulated probe (the firmware's app on the fake hardware layer, USB side on a pty) is
held to three simulated meters in turn and told to read each (`irprobe take`); then the
readings are pulled into a database (`irprobe sync`, twice: the second finds nothing new),
shown (`irprobe show`), exported (`irprobe export`) and a load profile is plotted
(`irprobe plot`). run_story(out_dir) returns what it made.
"""

import os
import sys

# (simulated meter, how the probe must read it)
METERS = (("iskra-mt174", "iec"), ("dlms-lp96", "auto"), ("lgz-zmd", "iec"))


def _say(text, stream):
    stream.write(text + "\n")
    stream.flush()


def _cmd(argv, stream):
    """Run one irprobe command as a user would, echoing it first."""
    from irprobe import cli

    _say("\n$ irprobe " + " ".join(argv), stream)
    rc = cli.main(argv)
    if rc:
        raise RuntimeError("irprobe %s failed (exit %d)" % (argv[0], rc))


def run_story(out_dir, stream=None):
    from irprobe.db import Store
    from irprobe.sim.probe_sim import ProbeSim

    stream = stream or sys.stdout
    os.makedirs(out_dir, exist_ok=True)
    db = os.path.join(out_dir, "readings.sqlite")
    png = os.path.join(out_dir, "load-profile.png")
    csv_path = os.path.join(out_dir, "readings.csv")
    for f in (db, png, csv_path):
        if os.path.exists(f):
            os.remove(f)
    with ProbeSim(METERS[0][0], root=os.path.join(out_dir, "probe-flash")) as sim:
        _say("simulated probe %s on %s" % (sim.server.device_id, sim.port), stream)
        for name, mode in METERS:
            sim.move_to(name)
            _say("\n-- the probe is held to simulated meter %s" % name, stream)
            _cmd(
                [
                    "config",
                    "--port",
                    sim.port,
                    "--meter",
                    name,
                    "--mode",
                    mode,
                    "--active",
                    name,
                    "--json",
                ],
                stream,
            )
            _cmd(["take", "--port", sim.port], stream)
        _cmd(["sync", "--port", sim.port, "--db", db], stream)
        _cmd(["sync", "--port", sim.port, "--db", db], stream)  # nothing new, nothing doubled
    _cmd(["show", "--db", db], stream)
    _cmd(["export", "--db", db, "--format", "csv", "--out", csv_path], stream)
    with Store(db) as st:
        series = st.profile_series()
        counts = st.counts()
        meters = st.meters()
    made = {"db": db, "csv": csv_path, "png": None, "counts": counts, "meters": meters}
    if series:
        meter, obis, _n = [s for s in series if s[1] != "0-0:96.10.1*255"][0]
        _cmd(["plot", "--db", db, "--meter", meter, "--obis", obis, "--out", png], stream)
        made["png"] = png
    return made


if __name__ == "__main__":
    import tempfile

    print(
        run_story(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="irprobe-demo-"))
    )
