"""Pytest fixtures for the fake LLM servers: `fake_llm("openai")` gives a started `FakeLLMServer`.

Use with `pytest_plugins = ["tests.fakes.fixtures"]` in the root conftest, or import `fake_llm` into a
test module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes import llm_servers

FakeLLMFactory = Callable[..., llm_servers.FakeLLMServer]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMFactory]:
    """A factory `fake_llm(flavor, script=None, *, require_key=False)`; its servers stop at teardown."""
    with contextlib.ExitStack() as stack:

        def start(flavor: llm_servers.Flavor, *args: Any, **kwargs: Any) -> llm_servers.FakeLLMServer:
            return stack.enter_context(llm_servers.FakeLLMServer(flavor, *args, **kwargs))

        yield start
