"""Pytest fixtures for the fake GitHub: `fake_github` (one per test) and `module_fake_github` (one per test
module, for tests that only add repositories of their own).

Use with `pytest_plugins = [..., "tests.fakes.github_fixtures"]` in the root conftest, or import the fixture
into a test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import github_server


@pytest.fixture
def fake_github(tmp_path: Path) -> Iterator[github_server.FakeGitHub]:
    """A started fake GitHub with no repositories; personal token `gh.token` acts as `gh.login`."""
    with github_server.FakeGitHub(tmp_path / "fake-github") as gh:
        yield gh


@pytest.fixture(scope="module")
def module_fake_github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[github_server.FakeGitHub]:
    """One fake GitHub shared by a test module (give each test its own repository name)."""
    with github_server.FakeGitHub(tmp_path_factory.mktemp("fake-github")) as gh:
        yield gh
