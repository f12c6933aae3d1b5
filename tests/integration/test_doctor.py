"""`quorum doctor` against real loopback services: redis-server, the fake GitHub, fake LLM servers, small
HTTP fakes for Elasticsearch, Kibana and Anthropic, and the fake Discord."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.entrypoints import cli_args
from bot.entrypoints.doctor import checks as doctor_checks
from bot.entrypoints.doctor import command as doctor_cmd
from config.settings import Settings, load_settings
from tests.fakes.discord_server import TOKEN, FakeDiscord
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub
from tests.support.redis_server import free_port

ES_KEY = "es-api-key-value-0123456789"
LLM_KEY = "sk-llm-key-abcdefghij0123456789"
WEBHOOK_SECRET = "whsec-configured-0123456789"
Route = tuple[int, dict[str, str], Any]


class Routes:
    """A threaded HTTP server answering GET paths from a table: path -> (status, headers, JSON body)."""

    def __init__(self, table: dict[str, Route]) -> None:
        self.table = table
        self.seen: list[dict[str, str]] = []
        routes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                routes.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, headers, body = routes.table.get(self.path, (404, {}, {"error": "no route"}))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ES_OK: Route = (200, {"X-Elastic-Product": "Elasticsearch"}, {"version": {"number": "9.1.3"}})
KIBANA_OK: Route = (200, {}, {"version": {"number": "9.1.3"}, "status": {"overall": {"level": "available"}}})


@pytest.fixture
def routes() -> Iterator[Callable[[dict[str, Route]], Routes]]:
    started: list[Routes] = []

    def start(table: dict[str, Route]) -> Routes:
        started.append(Routes(table))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github") as fake:
        yield fake


@pytest.fixture
def discord_fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake, fake.redirect():
        yield fake


# A model the built-in price table does not know needs its price configured, or every review escalates.
PRICED = {"price_input_per_mtok": 0.15, "price_output_per_mtok": 0.60}


def settings_for(tmp_path: Path, **sections: Any) -> Settings:
    base: dict[str, Any] = {"workspace": {"state_dir": tmp_path / "state"}}
    return load_settings(secrets_dirs=[], **(base | sections))


def doctor(settings: Settings, *flags: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    cli_args.add_doctor(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", "--timeout", "5", *flags])
    out = io.StringIO()
    code = doctor_cmd.run(settings, args, out=out)
    return code, out.getvalue()


def rows(text: str) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in json.loads(text)["checks"]}


def test_everything_configured_and_healthy_passes(
    tmp_path: Path,
    redis_url: str,
    github: FakeGitHub,
    fake_llm: FakeLLMFactory,
    routes: Callable[[dict[str, Route]], Routes],
    discord_fake: FakeDiscord,
) -> None:
    llm = fake_llm("openai", models=("fake-model", "other"))
    elastic = routes({"/": ES_OK, "/api/status": KIBANA_OK})
    github.create_repo("acme/app", {"app.py": "print('hi')\n"})
    settings = settings_for(
        tmp_path,
        redis={"url": redis_url},
        github={
            "base_url": github.api_url,
            "app_id": github.app_id,
            "private_key": github.app_private_key_pem,
            "webhook_secret": WEBHOOK_SECRET,
            "repositories": ["acme/app"],
            "clone_url_template": github.clone_url_template,
        },
        llm={"provider": "openai", "base_url": llm.base_url, "model": "fake-model", "api_key": LLM_KEY}
        | PRICED,
        elasticsearch={"hosts": [elastic.url], "api_key": ES_KEY, "kibana_url": elastic.url},
        discord={"webhook_url": discord_fake.webhook_url},
    )

    code, out = doctor(settings, "--format", "json")

    got = rows(out)
    assert code == 0 and json.loads(out)["ok"] is True
    statuses = {name: row["status"] for name, row in got.items()}
    # The fake App has no Administration permission: the protection of acme/app is unknown (optional row).
    assert statuses == {**dict.fromkeys(got, "ok"), "branch protection": "warn"}
    assert list(got) == [
        "configuration", "webhook secret", "github credentials", "budgets", "prices", "context window",
        "redis", "breakers", "github", "branch protection", "activity log",
        "llm", "elasticsearch", "kibana", "discord", "state directory", "git", "clone url",
    ]  # fmt: skip
    assert got["github"]["detail"] == "as quorum[bot]"
    assert re.match(r"Redis \d+\.\d+", got["redis"]["detail"]) and "PING" in got["redis"]["detail"]
    assert "Elasticsearch 9.1.3" in got["elasticsearch"]["detail"]
    assert "quorum-alerts" in got["discord"]["detail"]
    assert elastic.seen[0]["authorization"] == f"ApiKey {ES_KEY}"
    for secret in (TOKEN, ES_KEY, LLM_KEY, WEBHOOK_SECRET, "PRIVATE KEY", discord_fake.webhook_url):
        assert secret not in out
    assert not (tmp_path / "state").exists()  # no side effects: the service makes its own directory
    assert got["state directory"]["detail"].startswith(f"{tmp_path / 'state'} will be created in {tmp_path}")


def test_required_failures_exit_1_with_a_fix_each(
    tmp_path: Path, github: FakeGitHub, fake_llm: FakeLLMFactory
) -> None:
    llm = fake_llm("ollama", models=("qwen2.5-coder:7b",))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = settings_for(
        tmp_path,
        redis={"url": f"redis://127.0.0.1:{free_port()}/0", "socket_timeout_s": 1},
        github={"base_url": github.api_url, "token": "ghp_" + "W" * 36},
        llm={"provider": "ollama", "base_url": llm.base_url, "model": "llama3:8b"},
        budget={"per_round_usd": 0},
        workspace={"state_dir": blocker / "state"},
    )

    code, out = doctor(settings)

    assert code == 1
    lines = out.splitlines()
    for name, expected in [
        ("webhook secret", "no webhook secret"),
        ("budgets", "per_round_usd"),
        ("redis", "cannot reach Redis at 127.0.0.1"),
        ("github", "HTTP 401"),
        ("llm", "not served: llama3:8b (served: qwen2.5-coder:7b)"),
        ("state directory", "a-file/state"),
    ]:
        index = next(i for i, line in enumerate(lines) if line.startswith(name + "  "))
        assert "FAIL" in lines[index] and expected in lines[index], lines[index]
        assert lines[index + 1].strip().startswith("fix: ")
    assert "ghp_WWWW" not in out
    assert lines[-1] == "6 failed, 0 warnings"


def test_optional_failures_keep_exit_0_unless_strict(
    tmp_path: Path,
    redis_url: str,
    github: FakeGitHub,
    fake_llm: FakeLLMFactory,
    routes: Callable[[dict[str, Route]], Routes],
    discord_fake: FakeDiscord,
) -> None:
    llm = fake_llm("openai")
    # Answers like Elasticsearch but without the product header; Kibana still starting; webhook deleted.
    impostor = routes({"/": (200, {}, {"version": {"number": "9.1.0"}}), "/api/status": (503, {}, {})})
    discord_fake.deleted = True
    settings = settings_for(
        tmp_path,
        redis={"url": redis_url},
        github={"base_url": github.api_url, "token": github.token},
        llm={"provider": "openai", "base_url": llm.base_url, "model": "fake-model"} | PRICED,
        elasticsearch={"hosts": [impostor.url], "kibana_url": impostor.url},
        discord={"webhook_url": discord_fake.webhook_url},
    )

    code, out = doctor(settings, "--poll", "--format", "json")
    strict, _ = doctor(settings, "--poll", "--strict")

    got = rows(out)
    assert code == 0 and strict == 1
    assert got["webhook secret"]["status"] == "skip"
    assert got["github"]["status"] == "ok" and got["github"]["detail"].startswith("as quorum-bot")
    assert "is not Elasticsearch" in got["elasticsearch"]["detail"]
    assert got["kibana"]["detail"].startswith("HTTP 503")
    assert "no longer exists" in got["discord"]["detail"] and TOKEN not in out
    assert all(
        got[n]["status"] == "fail" and not got[n]["required"] for n in ("elasticsearch", "kibana", "discord")
    )


class NarrowApp(FakeGitHub):
    """An App registered with too little: checks read-only, no `status` events."""

    def app_json(self) -> dict[str, Any]:
        app = super().app_json()
        app["permissions"] = {**app["permissions"], "checks": "read"}
        app["events"] = [e for e in app["events"] if e != "status"]
        return app


def test_missing_app_permissions_and_events_are_named(tmp_path: Path, fake_llm: FakeLLMFactory) -> None:
    llm = fake_llm("openai")
    with NarrowApp(tmp_path / "github") as github:
        settings = settings_for(
            tmp_path,
            github={
                "base_url": github.api_url,
                "app_id": github.app_id,
                "private_key": github.app_private_key_pem,
            },
            llm={"provider": "openai", "base_url": llm.base_url, "model": "fake-model"} | PRICED,
        )

        code, out = doctor(settings, "--poll", "--format", "json")

    row = rows(out)["github"]
    assert code == 1 and row["status"] == "fail"
    assert "permission checks: read < write" in row["detail"] and "event status" in row["detail"]
    assert "Permissions & events" in row["hint"]


class AdminApp(FakeGitHub):
    """An App that may read branch protection (Administration: read)."""

    def app_json(self) -> dict[str, Any]:
        app = super().app_json()
        app["permissions"] = {**app["permissions"], "administration": "read"}
        return app


@pytest.mark.parametrize(("fake", "status"), [(FakeGitHub, "warn"), (AdminApp, "ok")])
def test_doctor_says_when_the_app_may_not_read_branch_protection(
    tmp_path: Path, fake_llm: FakeLLMFactory, fake: type[FakeGitHub], status: str
) -> None:
    llm = fake_llm("openai", models=("fake-model",))
    with fake(tmp_path / "github") as github:
        github.create_repo("acme/widgets")
        github.set_protection("acme/widgets", "main", ["ci/test"])
        settings = settings_for(
            tmp_path,
            github={
                "base_url": github.api_url,
                "app_id": github.app_id,
                "private_key": github.app_private_key_pem,
            },
            llm={"provider": "openai", "base_url": llm.base_url, "model": "fake-model"},
        )

        _code, out = doctor(settings, "--poll", "--format", "json")

    row = rows(out)["branch protection"]
    assert row["status"] == status and row["required"] is False  # other rows fail here: no Redis
    if status == "warn":
        assert "acme/widgets" in row["detail"] and "Administration: read" in row["hint"]
    assert rows(out)["activity log"]["status"] == "ok"


def test_anthropic_models_are_listed_with_the_key_and_version(
    tmp_path: Path, routes: Callable[[dict[str, Route]], Routes]
) -> None:
    listing = {"data": [{"id": "claude-test-1", "type": "model"}], "has_more": False}
    anthropic = routes({"/v1/models?limit=1000": (200, {}, listing)})
    settings = settings_for(
        tmp_path,
        llm={
            "provider": "anthropic",
            "base_url": anthropic.url,
            "model": "claude-test-1",
            "api_key": LLM_KEY,
        },
    )

    _, out = doctor(settings, "--format", "json")

    assert rows(out)["llm"]["status"] == "ok"
    assert anthropic.seen[0]["x-api-key"] == LLM_KEY and anthropic.seen[0]["anthropic-version"]


def test_a_local_model_file_that_is_missing_fails(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, llm={"provider": "local", "model_path": tmp_path / "absent.gguf"})

    _, out = doctor(settings, "--format", "json")

    row = rows(out)["llm"]
    assert row["status"] == "fail" and "absent.gguf" in row["detail"] and row["hint"]


def test_the_module_entry_point_reports_a_bad_configuration(tmp_path: Path) -> None:
    config = tmp_path / "quorum.toml"
    config.write_text("[budget]\nper_pr_usd = -1\n")

    result = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.doctor.command", "--config", str(config), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and "per_pr_usd" in report["checks"][0]["detail"]


def test_an_unpriced_model_and_a_context_too_small_for_the_prompt_fail(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        llm={
            "provider": "openai",
            "model": "acme-private-7b",
            "context_tokens": 2048,
            "max_output_tokens": 1024,
        },
    )

    code, out = doctor(settings, "--format", "json")

    got = rows(out)
    assert code == 1
    assert got["prices"]["status"] == "fail" and "acme-private-7b" in got["prices"]["detail"]
    assert "PRICE_INPUT_PER_MTOK" in got["prices"]["hint"]
    assert (
        got["context window"]["status"] == "fail" and "left for the diff" in got["context window"]["detail"]
    )


def test_a_configured_price_and_a_roomy_window_pass(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        llm={
            "provider": "openai", "model": "acme-private-7b", "context_tokens": 32768,
            "price_input_per_mtok": 0.5, "price_output_per_mtok": 1.5,
        },
    )  # fmt: skip

    _, out = doctor(settings, "--format", "json")

    got = rows(out)
    assert (got["prices"]["status"], got["context window"]["status"]) == ("ok", "ok")


async def test_a_clone_url_template_that_does_not_answer_fails(tmp_path: Path) -> None:
    template = str(tmp_path / "nowhere" / "{repo}.git")
    settings = settings_for(tmp_path, github={"repositories": ["acme/app"], "clone_url_template": template})

    row = await doctor_checks.clone_url(settings, 5.0)

    assert row.status == "fail" and "acme/app.git" in row.detail
    assert "CLONE_URL_TEMPLATE" in row.hint


def test_doctor_says_when_the_activity_log_cannot_be_read(tmp_path: Path, fake_llm: FakeLLMFactory) -> None:
    llm = fake_llm("openai", models=("fake-model",))
    with FakeGitHub(tmp_path / "github") as github:
        github.create_repo("acme/widgets")
        github.fail_next(
            "GET", r"/activity$", 403, body={"message": "Resource not accessible by integration"}
        )
        settings = settings_for(
            tmp_path,
            github={
                "base_url": github.api_url,
                "app_id": github.app_id,
                "private_key": github.app_private_key_pem,
            },
            llm={"provider": "openai", "base_url": llm.base_url, "model": "fake-model"},
        )

        _code, out = doctor(settings, "--poll", "--format", "json")

    row = rows(out)["activity log"]
    assert row["status"] == "warn" and "acme/widgets" in row["detail"] and "approves nothing" in row["detail"]


def test_a_write_pace_looser_than_github_com_allows_is_a_failed_row(tmp_path: Path) -> None:
    from bot.entrypoints.doctor import config as doctor_config

    loose = settings_for(tmp_path, github={"token": "ghp_" + "W" * 36, "writes_per_minute": 200})
    enterprise = settings_for(
        tmp_path, github={"base_url": "https://ghe.corp/api/v3", "token": "ghp_" + "W" * 36,
                          "writes_per_minute": 200},
    )  # fmt: skip

    rows = {row.name: row for row in doctor_config.configuration(loose, poll=True)}
    assert rows["github write pace"].status == "fail"
    assert "at most 80 content-creating requests a minute" in rows["github write pace"].detail
    assert "github write pace" not in {row.name for row in doctor_config.configuration(enterprise, poll=True)}
