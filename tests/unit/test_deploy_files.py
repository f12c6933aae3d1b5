"""The deployment files: the systemd unit (and systemd-analyze where installed), compose, the Dockerfile and
the example environment file. Images cannot be built here, so those are checked statically."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "quorum.service"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectHostname": "yes",
    "ProtectClock": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "UMask": "0077",
    "DynamicUser": "yes",
}


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as section -> key -> every value (keys may repeat); comments and blanks skipped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    logical = ""
    for raw in path.read_text().splitlines():
        line = logical + raw.strip()
        if line.endswith("\\"):
            logical = line[:-1] + " "
            continue
        logical = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: a setting outside any section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def secret_settings() -> set[str]:
    """Every secret setting as `<table>__<key>` (the credential and secret-file names)."""
    names = set()
    for table, field in Settings.model_fields.items():
        section = field.annotation
        for key, inner in getattr(section, "model_fields", {}).items():
            if "SecretStr" in str(inner.annotation):
                names.add(f"{table}__{key}")
    return names


def test_the_unit_is_a_notify_service_with_watchdog_credentials_and_state() -> None:
    unit = read_unit(UNIT)
    service = unit["Service"]

    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["ExecStart"] == ["/usr/bin/quorum serve"]
    assert int(service["WatchdogSec"][0]) > 0
    assert service["StateDirectory"] == ["quorum"]
    assert service["Restart"] == ["on-failure"] and service["RestartPreventExitStatus"] == ["78"]
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(unit["Unit"])
    credentials = dict(value.split(":", 1) for value in service["LoadCredential"])
    assert {"github__webhook_secret", "github__private_key"} <= set(credentials)
    assert set(credentials) <= secret_settings()
    assert all(path == f"/etc/quorum/credentials/{name}" for name, path in credentials.items())
    # Only non-secrets in the environment.
    environment = " ".join(service.get("Environment", []))
    assert not any(name.upper() in environment for name in secret_settings())


def test_the_unit_has_the_hardening_list() -> None:
    service = read_unit(UNIT)["Service"]

    missing = {k: v for k, v in HARDENING.items() if v not in service.get(k, [])}

    assert missing == {}
    assert "IPAddressDeny" not in service  # would cut off Redis, GitHub and the LLM


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        # No systemd here: the static checks are what can be asserted.
        test_the_unit_has_the_hardening_list()
        return
    # verify also checks that ExecStart= exists; quorum is not installed at /usr/bin here.
    copy = tmp_path / "quorum.service"
    copy.write_text(UNIT.read_text().replace("ExecStart=/usr/bin/quorum", f"ExecStart={sys.executable}"))

    result = subprocess.run(
        [tool, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    # verify exits 0 even for unknown or unparsable keys ("..., ignoring"): none may be reported.
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_systemd_analyze_security_exposure_is_at_most_2() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        test_the_unit_has_the_hardening_list()
        return

    # The threshold is in tenths: 20 = an exposure of 2.0.
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--threshold=20", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    match = re.search(r"Overall exposure level for quorum\.service: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert float(match[1]) <= 2.0 and result.returncode == 0


def load_compose() -> dict[str, Any] | None:
    """compose.yaml parsed, or None after text checks when PyYAML is not installed."""
    text = (DEPLOY / "compose.yaml").read_text()
    try:
        import yaml
    except ImportError:
        for needle in (
            "--appendonly", "--appendfsync", "everysec", "discovery.type: single-node",
            "xpack.security.enabled", "condition: service_healthy", "secrets:", "github__webhook_secret",
        ):  # fmt: skip
            assert needle in text, needle
        assert not re.search(r'^\s+- "(?!127\.0\.0\.1:)\d', text, re.M)  # ports on loopback only
        return None
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_compose_runs_redis_with_aof_and_elastic_single_node() -> None:
    data = load_compose()
    if data is None:
        return
    services = data["services"]

    redis = services["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])
    es = services["elasticsearch"]["environment"]
    assert es["discovery.type"] == "single-node" and "xpack.security.enabled" in es
    es_tag = services["elasticsearch"]["image"].rsplit(":", 1)[1]
    assert services["kibana"]["image"].rsplit(":", 1)[1] == es_tag and es_tag.startswith("9.")
    assert services["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def test_compose_quorum_gets_secrets_as_files_and_waits_for_redis() -> None:
    data = load_compose()
    if data is None:
        return
    quorum = data["services"]["quorum"]

    assert quorum["depends_on"]["redis"]["condition"] == "service_healthy"
    # `environment` wins over `env_file`: the published port reaches Quorum whatever the env file says.
    assert quorum["environment"]["QUORUM_SERVER__HOST"] == "0.0.0.0"
    assert set(quorum["secrets"]) <= secret_settings()
    assert {"github__webhook_secret", "github__private_key"} <= set(quorum["secrets"])
    assert all(data["secrets"][name]["file"] == f"./secrets/{name}" for name in quorum["secrets"])
    assert not set(quorum["environment"]) & {f"QUORUM_{n.upper()}" for n in secret_settings()}
    every_port = [p for s in data["services"].values() for p in s.get("ports", [])]
    assert every_port and all(p.startswith("127.0.0.1:") for p in every_port)
    assert all("healthcheck" in data["services"][name] for name in ("redis", "elasticsearch", "kibana"))


def dockerfile_instructions(text: str) -> list[str]:
    """One string per instruction: continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.strip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        instructions.append(current)
        current = ""
    return instructions


def test_dockerfile_is_multi_stage_non_root_with_git_and_a_health_check() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = dockerfile_instructions(text)

    froms = [line for line in instructions if line.startswith("FROM ")]
    assert len(froms) >= 2 and " AS builder" in froms[0]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "COPY --from=builder" in text
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"apt-get install[^\n]*\bgit\b", text)
    health = next(line for line in instructions if line.startswith("HEALTHCHECK"))
    assert 'CMD ["python"' in health and "urllib.request" in health and "/livez" in health
    assert "curl" not in health
    assert 'ENTRYPOINT ["quorum"]' in instructions and 'CMD ["serve"]' in instructions
    assert "STATE_DIRECTORY=/var/lib/quorum" in text and 'VOLUME ["/var/lib/quorum"]' in text
    # Nothing secret baked in: no secret setting, no token-like ENV or ARG.
    assert not any(n.upper() in text.upper() for n in secret_settings())
    assert not re.search(r"^(ENV|ARG)\s+\S*(TOKEN|SECRET|PASSWORD|API_KEY)", text, re.M | re.I)


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "quorum.env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return values


def test_the_env_example_holds_only_valid_non_secret_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values = env_example()
    for name in [n for n in os.environ if n.startswith("QUORUM_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    settings = load_settings(secrets_dirs=[])

    assert all(name.startswith("QUORUM_") for name in values)
    assert not set(values) & {f"QUORUM_{n.upper()}" for n in secret_settings()}
    assert settings.github.repositories == ["acme/app", "acme/lib"]
    assert settings.llm.provider == "openai" and settings.log_format == "json"
    assert len(values) >= 25
    # An env file shared by systemd and compose must not pin the bind address (compose's would lose it).
    assert "QUORUM_SERVER__HOST" not in values


def test_the_docker_build_context_holds_every_copied_source_and_nothing_else() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line.strip() and not line.startswith("#")]
    kept = {line[1:].rstrip("/") for line in rules if line.startswith("!")}
    copies = [
        line.split()[1:-1]
        for line in dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
        if line.startswith("COPY ") and "--from=" not in line
    ]

    assert rules[0] == "*"  # everything out first, then only what the image is built from
    assert {source for sources in copies for source in sources} == kept
