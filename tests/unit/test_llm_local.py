"""The local provider's pure parts: which model file it serves and what environment the child sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import errors
from bot.adapters.llm import local as llm_local


def test_serves_the_model_shipped_with_the_local_extra() -> None:
    path = llm_local.find_model()

    assert path.name == llm_local.BUNDLED_MODEL
    assert path.stat().st_size > 1_000_000


def test_an_explicit_model_path_wins(tmp_path: Path) -> None:
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF")

    assert llm_local.find_model(model) == model


def test_a_missing_model_file_says_how_to_install_or_switch(tmp_path: Path) -> None:
    with pytest.raises(errors.ProviderUnavailable) as caught:
        llm_local.find_model(tmp_path / "missing.gguf")

    assert "missing.gguf" in caught.value.message
    assert "pip install 'quorum-review[local]'" in caught.value.message
    assert "QUORUM_LLM__BASE_URL" in caught.value.message
    assert not caught.value.retryable


def test_the_child_sees_no_variable_it_would_take_for_a_setting() -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": "/src",
        "OMP_NUM_THREADS": "1",
        "PORT": "8080",
        "HOST": "0.0.0.0",
        "API_KEY": "secret",
        "MODEL": "/elsewhere.gguf",
        "CONFIG_FILE": "/etc/x.json",
        "QUORUM_LLM__API_KEY": "secret",
    }

    child = llm_local.child_environment(parent)

    assert child == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": "/src",
        "OMP_NUM_THREADS": "1",
    }
