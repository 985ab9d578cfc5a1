"""The architecture's walls that import-linter does not state: module size, no cycles between
modules, and a serving path that never loads the training stack. (The contracts between packages
are in pyproject.toml and run by `make lint`.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp

SERVICE = Path(__file__).resolve().parent.parent / "service"
MAX_LINES = 450
TRAINING_ONLY = ("sklearn.svm", "sklearn.calibration", "tqdm", "matplotlib")


def test_no_module_is_longer_than_a_newcomer_reads() -> None:
    """Every module of service/ stays under MAX_LINES lines: one concept each."""
    long = {
        str(p.relative_to(SERVICE)): n
        for p in SERVICE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules() -> None:
    """No two modules of service/ import each other, even through others or inside functions."""
    assert _cycles(grimp.build_graph("service")) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    """The check above can fail: two modules that import each other are reported."""
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loopy import b\n")
    (pkg / "b.py").write_text("def f():\n    from loopy import a\n")
    (pkg / "c.py").write_text("from loopy import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert _cycles(grimp.build_graph("loopy")) == [["loopy.a", "loopy.b"]]
    finally:
        sys.path.remove(str(tmp_path))


def test_serving_does_not_load_the_training_stack() -> None:
    """Importing the app (what `duyet serve` does) loads no SVM, calibration, tqdm or matplotlib."""
    code = "import json, sys, service.http.app; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded = json.loads(out.stdout)
    assert [m for m in loaded if m.startswith(TRAINING_ONLY)] == []
    assert "service.learning" not in loaded
