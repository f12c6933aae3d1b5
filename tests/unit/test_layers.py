"""Architecture rules: a pure core, small modules, and our package names resolving to this project."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {"redis", "httpx", "github", "git", "elasticsearch", "discord", "aiohttp"}
PURE = [
    ROOT / "guardrails",
    ROOT / "statemachine",
    ROOT / "config",
    ROOT / "bot" / "review",
    ROOT / "bot" / "domain.py",
    ROOT / "bot" / "errors.py",
    ROOT / "bot" / "ports.py",
    ROOT / "bot" / "pipeline.py",
]
PACKAGES = ["bot", "guardrails", "statemachine", "config"]


def python_files(*paths: Path) -> list[Path]:
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py")))


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", python_files(*PURE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_io_library(path):
    assert imported_roots(path) & IO_LIBRARIES == set()


@pytest.mark.parametrize("path", python_files(*PURE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_adapter_or_entrypoint(path):
    tree = ast.parse(path.read_text("utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert not {
        m for m in modules if m.startswith(("bot.adapters", "bot.entrypoints", "bot.bootstrap.review"))
    }


@pytest.mark.parametrize(
    "path", python_files(*(ROOT / p for p in PACKAGES)), ids=lambda p: str(p.relative_to(ROOT))
)
def test_modules_stay_small_and_documented(path):
    source = path.read_text("utf-8")

    assert len(source.splitlines()) <= 400
    if path.name != "__init__.py":
        assert ast.get_docstring(ast.parse(source)), f"{path} has no module docstring"


@pytest.mark.parametrize("name", PACKAGES)
def test_our_package_names_resolve_to_this_project(name):
    module = importlib.import_module(name)

    assert Path(module.__file__).resolve().parent == ROOT / name
