"""The import contract: packages import only downward, and no two modules import each other.

Layers, bottom to top (ARCHITECTURE.md "Imports only point down"):

    errors, io  <  config  <  workload, circuit  <  arch, nn  <  train  <  explore  <  report  <  cli

A module may import from its own layer or any layer below it, never above. Every ``import imcsim...`` counts,
including those inside functions (a lazy import is still a dependency). Modules in one layer (workload and circuit,
arch and nn) may import each other; the cycle check below keeps that from becoming a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "imcsim"

LAYERS = [("errors", "io", "io_lock"), ("config",), ("workload", "circuit"), ("arch", "nn"), ("train",), ("explore", "dse"),
          ("report",), ("cli", "__main__")]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The imcsim modules ``path`` imports (absolute and relative forms)."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "imcsim"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "imcsim":
                continue
            found.add(mod)
            for a in node.names:  # "from imcsim.arch import systolic" imports a module
                if (SRC.parent / (mod.replace(".", "/") + "/" + a.name + ".py")).is_file():
                    found.add(f"{mod}.{a.name}")
    return found


def _layer(module: str) -> str | None:
    """The layer of ``imcsim.<layer>...``; None for the package root (the public API re-exports every layer)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(SRC.rglob("*.py"))}


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if (p.is_dir() and (p / "__init__.py").exists())}
    packages |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages - set(RANK) == set()


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """``"a -> b"`` for every import of a module ``b`` in a higher layer than module ``a``."""
    upward = []
    for module, targets in graph.items():
        src = _layer(module)
        if src is None:
            continue
        for target in sorted(targets):
            dst = _layer(target)
            if dst is not None and RANK[dst] > RANK[src]:
                upward.append(f"{module} -> {target}")
    return upward


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import loop a depth-first walk of ``graph`` meets, as ``"a -> b -> a"``."""
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if seen.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)
    return cycles


def _is_package(module: str) -> bool:
    return (SRC.parent / module.replace(".", "/") / "__init__.py").is_file()


def test_imports_point_down():
    assert _upward(_graph()) == []


def test_no_import_cycles():
    # package __init__ files only re-export (lazily); the dependencies that matter are between modules
    graph = {m: {t for t in ts if not _is_package(t)} for m, ts in _graph().items() if not _is_package(m)}
    assert _cycles(graph) == []


def test_the_checks_can_fail(tmp_path):
    # a function-level import from config up into arch is an upward import ...
    probe = SRC / "config" / "probe.py"
    text = "def f():\n    from imcsim.arch.system import System\n    return System\n"
    tree_imports = {n.module for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom)}
    assert _upward({_module_name(probe): tree_imports}) == ["imcsim.config.probe -> imcsim.arch.system"]
    # ... and two train modules importing each other (the former deploy <-> trainer) are a cycle
    assert _cycles({"imcsim.train.a": {"imcsim.train.b"}, "imcsim.train.b": {"imcsim.train.a"}}) == [
        "imcsim.train.a -> imcsim.train.b -> imcsim.train.a"]


@pytest.mark.parametrize("old, new, name", [
    ("imcsim.io", "imcsim.io", "write_atomic"),
    ("imcsim.circuit.wires", "imcsim.config.wires", "WireConfig"),
    ("imcsim.circuit.amplifier", "imcsim.config.amplifier", "AmplifierConfig"),
    ("imcsim.circuit.neuron", "imcsim.config.neuron", "NeuronConfig"),
    ("imcsim.train.trainer", "imcsim.train.config", "TrainConfig"),
])
def test_moved_names_keep_their_public_paths(old, new, name):
    import importlib

    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)
