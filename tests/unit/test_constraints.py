"""The lock: every dependency pyproject.toml names is pinned in deploy/constraints.txt, inside its range,
so CI, the README's commands and the image install what was tested."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        named.extend(extra)
    return [Requirement(text) for text in named]


def test_every_dependency_is_pinned_inside_its_range() -> None:
    pins = _pins()

    outside = {
        str(req): str(pins.get(canonicalize_name(req.name), "unpinned"))
        for req in _requirements()
        if pins.get(canonicalize_name(req.name)) not in req.specifier
    }

    assert outside == {}, f"run `bash .ci/lock`: {outside}"


def test_pins_are_exact_and_unique() -> None:
    lines = [
        line
        for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    assert all("==" in line for line in lines)
    assert len({canonicalize_name(line.partition("==")[0]) for line in lines}) == len(lines)
