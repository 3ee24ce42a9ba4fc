# The import graph of the product code, read statically from the source (ast): no cycles and
# layers import only downward (docs/ARCHITECTURE.md, "Layers"). Imports inside functions count
# too: a lazy import saves RAM, it does not make an upward dependency right.
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = (os.path.join(ROOT, "firmware", "lib"), os.path.join(ROOT, "host"))

# Lowest first. A module may import its own package and any package of a lower layer;
# packages that share a layer (iec and hdlc; link, doctor and session) do not import
# each other.
LAYERS = (
    ("meterproto",),  # the shared basics: machine, driver, line, errors, crc16, obis, ...
    ("meterproto.iec", "meterproto.hdlc"),
    ("meterproto.dlms",),
    ("meterproto.link", "meterproto.doctor", "meterproto.session"),
    ("probe",),
    ("irprobe.sim",),
    ("irprobe",),
)
# Code the probe runs must never load the host's end of the USB channel (RAM).
FORBIDDEN = (("meterproto", "meterproto.link.host"), ("probe", "meterproto.link.host"))


def _modules():
    """-> {dotted module name: source path} for every product module."""
    out = {}
    for src in SOURCES:
        for base, dirs, files in os.walk(src):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")]
            for f in files:
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(base, f), src)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                if rel and rel[0] in ("meterproto", "probe", "irprobe"):
                    out[".".join(rel)] = os.path.join(base, f)
    return out


def _imports(path, modules):
    """Product modules that the file imports (any depth: top level or inside functions)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from pkg import mod` names a module; `from mod import name` names mod.
            names = [node.module + "." + a.name for a in node.names] + [node.module]
        else:
            continue
        for n in names:
            if n in modules:
                found.add(n)
    return found


def _package(mod):
    """The package a module belongs to for layering: the longest LAYERS entry it is in."""
    best = None
    for layer in LAYERS:
        for pkg in layer:
            if (mod == pkg or mod.startswith(pkg + ".")) and (best is None or len(pkg) > len(best)):
                best = pkg
    return best


def _rank(pkg):
    for i, layer in enumerate(LAYERS):
        if pkg in layer:
            return i
    raise AssertionError("no layer for %s" % pkg)


def _graph():
    modules = _modules()
    return {m: _imports(p, modules) - {m} for m, p in modules.items()}


def test_every_product_module_has_a_layer():
    for m in _modules():
        assert _package(m) is not None, m


def test_layers_import_only_downward():
    bad = []
    for mod, deps in sorted(_graph().items()):
        pm = _package(mod)
        for dep in sorted(deps):
            pd = _package(dep)
            if dep == pm or mod.startswith(dep + ".") and dep == pm:
                continue  # a package's own __init__
            if pd == pm:
                continue
            if _rank(pd) >= _rank(pm):
                bad.append("%s imports %s (%s is not below %s)" % (mod, dep, pd, pm))
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = _graph()
    cycles = []
    state = {}  # 1 on the stack, 2 done
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


def test_probe_code_never_loads_the_host_end():
    bad = []
    for mod, deps in _graph().items():
        for owner, dep in FORBIDDEN:
            if (mod == owner or mod.startswith(owner + ".")) and dep in deps and mod != dep:
                bad.append("%s imports %s" % (mod, dep))
    # meterproto.link.host itself is the host's; what matters is the probe side.
    bad = [b for b in bad if not b.startswith("meterproto.link.host ")]
    assert not bad, bad


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path):
    # The walk above must find what it is for: a two-module cycle and an upward import.
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from meterproto.dlms import client\n")
    mods = {"meterproto.dlms.client": "", "meterproto.iec.msg": ""}
    assert _imports(str(a), mods) == {"meterproto.dlms.client"}
    assert _rank(_package("meterproto.dlms.client")) > _rank(_package("meterproto.iec.msg"))
    assert _package("meterproto.link.records") == "meterproto.link"
    assert _package("meterproto.obis") == "meterproto"
