"""Architecture rules: layers without back-edges or cycles, a pure core, small modules in small folders.

The layers and why they are drawn this way: ARCHITECTURE.md, "Layers".
"""

from __future__ import annotations

import ast
import importlib
import statistics
from collections import defaultdict
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


# Each layer, lowest first, as the module prefixes it holds; a module may import its own layer and those
# listed for it, nothing else. Entry points and eval only parse input and call a composition root.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("bot.errors", "bot.version", "bot.domain", "bot.forge", "bot.events", "bot.ports",
             "bot.retry_policy", "config", "guardrails", "statemachine"),
    "review": ("bot.review", "bot.pipeline"),
    "services": ("bot.telemetry", "bot.operator_alerts", "bot.health"),
    "adapters": ("bot.adapters",),
    "jobs": ("bot.daemon", "bot.action"),
    "root": ("bot.bootstrap",),
    "apps": ("bot.eval", "bot.entrypoints"),
}  # fmt: skip
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "review": {"core"},
    "services": {"core", "review"},
    # Adapters implement ports: they never reach into the review, the jobs or the entry points.
    "adapters": {"core", "services"},
    # The jobs drive ports; which adapter stands behind a port is the root's business.
    "jobs": {"core", "review", "services"},
    # Only the composition roots build adapters; entry points get what they need from a root.
    "root": {"core", "review", "services", "adapters", "jobs"},
    "apps": {"core", "review", "services", "jobs", "root"},
}
MAX_MODULES_PER_FOLDER = 15
MAX_MEDIAN_LINES = 120


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    best = max(
        ((prefix, layer) for layer, prefixes in LAYERS.items() for prefix in prefixes
         if module == prefix or module.startswith(prefix + ".")),
        key=lambda pair: len(pair[0]), default=None,
    )  # fmt: skip
    return best[1] if best else None


def own_imports(path: Path) -> set[str]:
    """Every module of ours `path` imports (`from bot import x` counts as `bot.x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES and layer_of(m) is not None}


PRODUCT = [p for p in python_files(*(ROOT / p for p in PACKAGES)) if "golden" not in p.parts]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_belongs_to_a_layer(path):
    assert (path.name == "__init__.py" and module_name(path) in PACKAGES) or layer_of(module_name(path))


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_up_a_layer_or_sideways(path):
    own = layer_of(module_name(path))
    if own is None:
        return  # a top-level package's empty __init__
    allowed = MAY_IMPORT[own] | {own}
    wrong = sorted(f"{m} ({layer_of(m)})" for m in own_imports(path) if layer_of(m) not in allowed)

    assert not wrong, f"{module_name(path)} ({own}) may import only {sorted(allowed)}; imports {wrong}"


def package_of(module: str) -> str:
    """The unit cycles are checked between: a subpackage of bot, or a top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" else parts[0]


def test_packages_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PRODUCT:
        mine = package_of(module_name(path))
        graph[mine] |= {package_of(m) for m in own_imports(path)} - {mine}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join((*trail, node))
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, (*trail, node))
        state[node] = "done"
        order.append(node)

    for node in sorted(graph):
        visit(node, ())
    assert len(order) == len(set(graph) | {n for targets in graph.values() for n in targets})


@pytest.mark.parametrize(
    "folder",
    sorted({p.parent for p in PRODUCT}),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_folder_holds_more_than_fifteen_modules(folder):
    modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]

    assert len(modules) <= MAX_MODULES_PER_FOLDER, f"{folder}: {len(modules)} modules"


def test_modules_are_small_on_the_whole():
    sizes = [len(p.read_text("utf-8").splitlines()) for p in PRODUCT if p.name != "__init__.py"]

    assert statistics.median(sizes) <= MAX_MEDIAN_LINES, f"median module: {statistics.median(sizes)} lines"


def test_modules_import_each_other_without_a_cycle():
    """No loop of imports between two modules either, type-only imports included: each module can be
    read after what it imports."""
    known = {module_name(p): p for p in PRODUCT}
    graph = {
        mine: {m for m in (_module_of(name, known) for name in own_imports(path)) if m and m != mine}
        for mine, path in known.items()
    }
    state: dict[str, str] = {}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join((*trail, node))
        state[node] = "open"
        for nxt in sorted(graph[node]):
            visit(nxt, (*trail, node))
        state[node] = "done"

    for node in sorted(graph):
        visit(node, ())


def _module_of(name: str, known: dict[str, Path]) -> str | None:
    """The module an imported name lives in: the longest known module its dotted name starts with."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None
