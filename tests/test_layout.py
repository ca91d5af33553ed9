"""The layout a newcomer can walk: thin scripts, one job per module, imports flowing forward.

These hold the limits docs/ARCHITECTURE.md states, so they cannot drift silently.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wallet_monitor"
SCRIPTS = ["data_generator.py", "feature_engineering.py", "train_model.py", "detect_anomalies.py",
           "alert_api.py"]
MODULES = sorted(PACKAGE.rglob("*.py"))
OWN = ("wallet_monitor", "data_generator", "feature_engineering", "train_model",
       "detect_anomalies", "alert_api")
# Which parts of the package each stage may import (SPEC: the chain flows forward only).
INFRA = {"cli", "io", "paths", "schema"}
ALLOWED = {
    "synth": INFRA | {"synth"},
    "features": INFRA | {"features"},
    "model": INFRA | {"features", "model"},
    "api": INFRA | {"api"},
}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _stage(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_thin(script):
    assert len((ROOT / script).read_text().splitlines()) <= 300


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    assert len(path.read_text().splitlines()) <= 700
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(_tree(path))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and n.end_lineno - n.lineno + 1 > 120]
    assert not long


@pytest.mark.parametrize("path", [*MODULES, *(ROOT / s for s in SCRIPTS)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_projects_own_modules_are_imported_at_the_top(path):
    inner = []
    for fn in ast.walk(_tree(path)):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            inner += [m for node in ast.walk(fn) for m in _imported(node)
                      if m.split(".")[0] in OWN]
    assert not inner
    assert "sys.path" not in path.read_text()


@pytest.mark.parametrize("path", [p for p in MODULES if _stage(p) in ALLOWED],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_forward_only(path):
    used = {m.split(".")[1] for node in ast.walk(_tree(path)) for m in _imported(node)
            if m.startswith("wallet_monitor.")}
    assert used <= ALLOWED[_stage(path)], f"{_stage(path)} imports {used - ALLOWED[_stage(path)]}"


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
