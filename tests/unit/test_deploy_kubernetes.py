"""The Kubernetes manifests: valid against the API schemas (strict), wired to each other and to Quorum's
settings, non-root with a read-only root filesystem, and no secret embedded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from config.settings import load_settings

KUBE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    return data


def resources() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in kustomization()["resources"]:
        docs.extend(d for d in yaml.safe_load_all((KUBE / name).read_text()) if d)
    return docs


def one(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in resources() if d["kind"] == kind and d["metadata"]["name"] == name)


def env_file() -> dict[str, str]:
    pairs = (line.partition("=") for line in (KUBE / "quorum.env").read_text().splitlines() if line)
    return {name: value for name, _, value in pairs}


@pytest.mark.parametrize("doc", resources(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_resource_validates_strictly(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_no_secret_is_embedded_and_the_pods_mount_the_named_one() -> None:
    pod = one("Deployment", "quorum")["spec"]["template"]["spec"]

    assert not [d for d in resources() if d["kind"] == "Secret"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert volumes["secrets"]["secret"]["secretName"] == "quorum-secrets"
    assert mounts["secrets"] == "/run/secrets"


def test_the_pods_run_non_root_read_only_with_probes_on_the_served_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("QUORUM_")]:
        monkeypatch.delenv(name)
    for name, value in env_file().items():
        monkeypatch.setenv(name, value)
    settings = load_settings(secrets_dirs=[])
    deployment = one("Deployment", "quorum")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]

    assert settings.server.host == "0.0.0.0"  # reachable through the Service, unlike the default
    assert container["ports"][0]["containerPort"] == settings.server.port
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"/tmp", "/var/lib/quorum"} <= {m["mountPath"] for m in container["volumeMounts"]}
    assert pod["terminationGracePeriodSeconds"] > settings.server.shutdown_grace_s
    assert deployment["spec"]["replicas"] >= 2
    assert settings.redis.url.startswith("redis://redis:")  # the Service of redis.yaml


def test_the_service_and_budget_select_the_quorum_pods_and_redis_keeps_an_append_only_file() -> None:
    labels = one("Deployment", "quorum")["spec"]["template"]["metadata"]["labels"]
    redis = one("StatefulSet", "redis")["spec"]

    assert one("Service", "quorum")["spec"]["selector"].items() <= labels.items()
    assert one("PodDisruptionBudget", "quorum")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "--appendonly" in redis["template"]["spec"]["containers"][0]["args"]
    assert redis["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
