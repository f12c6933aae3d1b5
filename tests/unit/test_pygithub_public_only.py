"""Quorum uses only PyGithub's documented public surface, so the range pyproject allows is honest.

PyGithub's public API is the `github` package's exported names; its `Requester`, its exceptions' module and
everything behind a leading underscore may change in any release. Quorum sends REST requests itself (httpx)
and asks PyGithub only for the App's JWT (`github.Auth.AppAuth`).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "guardrails", "statemachine", "config")
ALLOWED = {("github", "Auth")}  # (module, name): `from github import Auth`
PRIVATE_NAMES = {"Requester", "requester", "requestJson", "requestJsonAndCheck", "GithubRetry"}


def _is_github(module: str) -> bool:
    return module == "github" or module.startswith("github.")


def pygithub_uses(tree: ast.AST) -> list[str]:
    """Each import from PyGithub outside `ALLOWED`, and each use of a name of its requester machinery."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _is_github(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_github(node.module or ""):
            found += [
                f"from {node.module} import {a.name}"
                for a in node.names
                if (node.module, a.name) not in ALLOWED
            ]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES:
            found.append(f".{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.Call) and (module := _imported_by_name(node)) is not None:
            found.append(f"dynamic import of {module}")
    return found


def _imported_by_name(call: ast.Call) -> str | None:
    """The PyGithub module `import_module("github...")` or `__import__("github...")` loads, if any."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and _is_github(first.value):
        return first.value
    return None


def test_the_scan_catches_a_private_pygithub_name() -> None:
    caught = pygithub_uses(
        ast.parse(
            "import github.Requester\n"
            "from github.Requester import Requester\n"
            "from github import Auth, Github\n"
            "g.requester.requestJsonAndCheck('GET', '/x')\n"
            "importlib.import_module('github.Consts')\n"
        )
    )

    assert sorted(caught) == [
        ".requestJsonAndCheck (line 4)",
        ".requester (line 4)",
        "dynamic import of github.Consts",
        "from github import Github",
        "from github.Requester import Requester",
        "import github.Requester",
    ]


def test_quorum_imports_nothing_but_pygithubs_auth() -> None:
    offending = {
        str(path.relative_to(ROOT)): uses
        for package in SOURCES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (uses := pygithub_uses(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    }

    assert offending == {}
    texts = (path.read_text(encoding="utf-8") for path in (ROOT / "bot").rglob("*.py"))
    assert any("from github import Auth" in text for text in texts)  # what the PyGithub range is chosen for
