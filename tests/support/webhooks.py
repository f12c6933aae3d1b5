"""Webhook deliveries for tests: sample payloads from tests/samples/webhooks, signatures, headers.

payload = load_sample("pull_request.synchronize", pull_request__head__sha="ab" * 20)
body = encode(payload)
headers = delivery_headers(event_of("pull_request.synchronize"), "d-1", body, b"secret")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "webhooks"
DELETE = object()  # an override value that removes the key


def sample_names() -> list[str]:
    """Every sample's name (`<event>.<action>[-variant]`, or `<event>` for events without an action)."""
    return sorted(p.name.removesuffix(".json") for p in SAMPLES.glob("*.json"))


def event_of(name: str) -> str:
    """The `X-GitHub-Event` of a sample name: `pull_request.closed-merged` → `pull_request`."""
    return name.split(".", 1)[0]


def load_sample(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of the sample `name`, with `overrides` applied; a key path uses `__` between levels
    (`pull_request__head__sha="..."`, `action="edited"`); a value of `DELETE` removes the key."""
    payload: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))
    for path, value in overrides.items():
        *parents, leaf = path.split("__")
        target: Any = payload
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return payload


def encode(payload: Any) -> bytes:
    """The body GitHub would send for `payload` (compact JSON, UTF-8)."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value of `body` under `secret`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def delivery_headers(event: str, delivery_id: str | None, body: bytes, secret: bytes) -> dict[str, str]:
    """The headers of one signed delivery (a fresh GUID when `delivery_id` is None)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/7c3a1f2",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "109948940",
        "X-Hub-Signature-256": sign(secret, body),
    }
