# firmware/package.json (the mip manifest) must list exactly the files under firmware/,
# each installed at its own path, so `mpremote mip install firmware/package.json` never
# misses a module. After adding a file, regenerate it with:
#   python tests/firmware/test_package_json.py --write
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")
MANIFEST = os.path.join(FIRMWARE, "package.json")


def firmware_files():
    out = []
    for base, dirs, files in os.walk(FIRMWARE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in files:
            if f.endswith((".pyc", ".mpy")) or f.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(base, f), FIRMWARE).replace(os.sep, "/")
            if rel != "package.json":
                out.append(rel)
    return sorted(out)


def manifest():
    return {"urls": [[f, f] for f in firmware_files()], "version": "0.1.0"}


def test_package_json_lists_exactly_the_firmware_files():
    with open(MANIFEST) as f:
        pkg = json.load(f)
    assert set(pkg) <= {"urls", "version", "deps"}
    listed = [u[1] for u in pkg["urls"]]
    assert sorted(listed) == firmware_files(), (
        "firmware/package.json is stale; run: python tests/firmware/test_package_json.py --write")
    for dest, src in pkg["urls"]:
        assert dest == src  # the board filesystem mirrors firmware/
        assert os.path.isfile(os.path.join(FIRMWARE, src))
    assert "main.py" in listed and "lib/meterproto/driver.py" in listed
    assert pkg["version"].count(".") == 2


if __name__ == "__main__" and "--write" in sys.argv:
    rows = ",\n".join("    " + json.dumps(u) for u in manifest()["urls"])
    with open(MANIFEST, "w") as f:
        f.write('{\n  "urls": [\n%s\n  ],\n  "version": "0.1.0"\n}\n' % rows)
    print("wrote", MANIFEST, len(manifest()["urls"]), "files")
