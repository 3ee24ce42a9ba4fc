# irprobe.mpylib: micropython-lib modules the firmware uses (umqtt.simple on the Pico W), taken
# from their pinned release on the package index pip uses, never copied into this repository.
# Pins: requirements/micropython.txt (version + SHA-256 of the release file). The release is
# cached (XDG cache), its hash checked on every use, and only the module's own file extracted.
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request


class LibError(Exception):
    """A pinned MicroPython library cannot be had (plain-words message)."""


def pins_file():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(here)), "requirements", "micropython.txt")


def pins():
    """{module: (package, version, filename, sha256)} from requirements/micropython.txt."""
    out = {}
    with open(pins_file()) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            module, spec, filename, sha = line
            package, version = spec.split("==")
            out[module] = (package, version, filename, sha.lower())
    return out


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "irprobe", "micropython-lib")


def index_url():
    """The simple index pip uses: PIP_INDEX_URL, pip's configured index-url, or pip's default."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        r = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=60,
        )
        url = r.stdout.strip() if r.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's own default index

        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def _get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read(), r.headers.get("Content-Type", "")


def _file_url(package, filename):
    """The release file's address from the index page (PEP 691 JSON, else PEP 503 HTML)."""
    page = urllib.parse.urljoin(index_url(), re.sub(r"[-_.]+", "-", package).lower() + "/")
    body, ctype = _get(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in ctype:
        for f in json.loads(body)["files"]:
            if f["filename"] == filename:
                return urllib.parse.urljoin(page, f["url"])
    else:
        for href in re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace")):
            if urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1] == filename:
                return urllib.parse.urljoin(page, href.replace("&amp;", "&"))
    raise LibError("the package index has no %s" % filename)


def release(module):
    """The verified bytes of the pinned release file of `module` (fetched once, then cached)."""
    table = pins()
    if module not in table:
        raise LibError("no pinned release for the MicroPython module %s" % module)
    package, version, filename, sha = table[module]
    path = os.path.join(cache_dir(), filename)
    data = None
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != sha:
            data = None  # a damaged cache: fetch again
    if data is None:
        try:
            data, _ = _get(_file_url(package, filename))
        except (OSError, ValueError, KeyError) as e:
            raise LibError(
                "cannot fetch %s %s (needed for %s): %s" % (package, version, module, e)
            )
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            raise LibError(
                "%s does not match its pinned SHA-256 (got %s): refusing to install it"
                % (filename, got)
            )
        os.makedirs(cache_dir(), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return data


def module_source(module):
    """The module's own source file from its pinned release, as bytes ('umqtt.simple' ->
    umqtt/simple.py inside the archive)."""
    want = module.replace(".", "/") + ".py"
    with tarfile.open(fileobj=io.BytesIO(release(module)), mode="r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.split("/", 1)[-1] == want:
                return tar.extractfile(m).read()
    raise LibError("the pinned release of %s holds no %s" % (module, want))


def materialise(modules, out):
    """Write each module's source under out (lib layout: out/umqtt/simple.py).
    Returns [(local path, path under lib/)]."""
    files = []
    for module in modules:
        rel = module.replace(".", "/") + ".py"
        dst = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(module_source(module))
        files.append((dst, rel))
    return files


if __name__ == "__main__":  # make venv: fetch every pinned release into the cache once
    for name in sorted(pins()):
        try:
            release(name)
            print("micropython-lib %s: pinned release cached" % name)
        except LibError as e:
            print("micropython-lib %s: %s" % (name, e), file=sys.stderr)
