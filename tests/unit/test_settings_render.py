"""Settings rendering for `quorum config`, and the example file that documents every setting."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from config import render, sections, settings
from tests.support import settings_env

EXAMPLE = Path(sections.__file__).parent / "quorum.example.toml"
CANARY = "sk-canary-7f3a9c"
write = settings_env.write
load = settings_env.load


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings_env.isolate(monkeypatch, tmp_path / "home")


def test_render_masks_set_secrets_and_comments_unset_ones(tmp_path: Path) -> None:
    write(tmp_path / "llm__api_key", CANARY)
    s = settings.load_settings(
        secrets_dirs=[tmp_path], redis={"url": f"redis://:{CANARY}@cache.internal:6379/0"}
    )

    text = render.render(s)

    assert CANARY not in text
    data = tomllib.loads(text)
    assert data["llm"]["api_key"] == "********"
    assert data["redis"]["url"] == "redis://:********@cache.internal:6379/0"
    assert "token" not in data["github"]
    assert "# token: not set" in text


def test_render_round_trips_through_load(tmp_path: Path) -> None:
    original = load(
        log_level="WARNING",
        llm={
            "provider": "openai",
            "model": 'quo"ted\\model',
            "fallback_models": ["a", "b"],
            "temperature": 0.3,
        },
        review={"exclude": ["docs/**"], "reviewers": [{"persona": "perf", "model": "m1"}, {"persona": "ux"}]},
        workspace={"state_dir": tmp_path / "state"},
        github={"repositories": ["octo/cat"], "app_id": 7},
        elasticsearch={"hosts": ["http://127.0.0.1:9200"], "environment": "prod_eu"},
        server={"port": 9000},
    )
    path = write(tmp_path / "rendered.toml", render.render(original))

    assert load(path) == original


def test_example_file_loads_and_equals_the_defaults() -> None:
    assert load(EXAMPLE) == load()


def _fields(model: type[BaseModel], table: str) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _fields(annotation, name)
        else:
            names.add(f"{table}.{name}" if table else name)
    return names | {
        f"review.reviewers.{name}" for name in sections.Reviewer.model_fields if table == "review"
    }


def test_example_file_documents_every_setting() -> None:
    documented: set[str] = set()
    table = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header = re.fullmatch(r"\[{1,2}([\w.]+)\]{1,2}", line)
        key = re.match(r"#? ?(\w+) = ", line)
        if header:
            table = header.group(1)
        elif key:
            documented.add(f"{table}.{key.group(1)}" if table else key.group(1))

    assert documented == _fields(settings.Settings, "") - {"review.reviewers"}
