"""Provisioning of Elasticsearch (ILM policy, templates, data streams) and Kibana (saved objects).

Every step is idempotent: what is stored carries a hash of our definition in `_meta.hash`, so a second run
finds it unchanged and writes nothing. A changed index template rolls existing data streams over, since a
template only reaches new backing indices. Errors name the step and a fix, never a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

import httpx
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError, TransportError

from bot import errors, telemetry

# Package data, so a wheel install provisions as well as a checkout: bot/assets/{elasticsearch,kibana}.
ASSETS: Traversable = resources.files("bot").joinpath("assets")
POLICY = "quorum-metrics"
INDEX_TEMPLATE = "quorum-metrics"
COMPONENTS = {"quorum-metrics-settings": "settings", "quorum-metrics-mappings": "mappings"}
_ROLLOVER_MAX_DAYS = 30
_PRIVILEGES_HINT = (
    "the API key needs the cluster privileges manage_index_templates and manage_ilm, "
    "and manage on metrics-quorum.*"
)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """One thing provisioning did (or, in a dry run, would do)."""

    target: str  # "elasticsearch" | "kibana"
    what: str  # e.g. "index template quorum-metrics"
    result: str  # created | updated | unchanged | exists | rolled over | imported N objects | would …


@dataclass(frozen=True, slots=True)
class Assets:
    """What `bot/assets/elasticsearch` defines, with the settings applied."""

    policy: dict[str, Any]
    components: dict[str, dict[str, Any]]
    index_template: dict[str, Any]
    streams: tuple[str, ...]


def _stamped(body: dict[str, Any], meta_holder: dict[str, Any]) -> dict[str, Any]:
    """Put the hash of `body` (without `_meta`) into `meta_holder["_meta"]["hash"]`."""
    content = {k: v for k, v in body.items() if k != "_meta"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    meta_holder["_meta"] = {**meta_holder.get("_meta", {}), "hash": digest}
    return body


def load_assets(environment: str, retention_days: int, assets: Traversable = ASSETS) -> Assets:
    """Read the definitions and apply the retention and environment from the settings."""
    folder = assets.joinpath("elasticsearch")

    def read(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(folder.joinpath(name).read_text("utf-8"))
        return loaded

    policy = read("ilm-policy.json")["policy"]
    phases = policy["phases"]
    phases["delete"]["min_age"] = f"{retention_days}d"
    rollover = phases["hot"]["actions"]["rollover"]
    rollover["max_age"] = f"{min(retention_days, _ROLLOVER_MAX_DAYS)}d"
    components = {name: read(f"component-template-{part}.json") for name, part in COMPONENTS.items()}
    template = read("index-template.json")
    streams = tuple(sorted({telemetry.stream_name(kind, environment) for kind in telemetry.DATASETS}))
    return Assets(
        _stamped(policy, policy),
        {name: _stamped(body, body) for name, body in components.items()},
        _stamped(template, template),
        streams,
    )


async def _es(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one Elasticsearch call, turning its failures into a `ProvisionError` that says what to fix."""
    try:
        return await call()
    except NotFoundError:
        raise
    except ApiError as exc:
        status, kind = exc.meta.status, _error_type(exc.body)
        hint = f": {_PRIVILEGES_HINT}" if status in (401, 403) else ""
        raise errors.ProvisionError(f"Elasticsearch refused {what} ({status} {kind}){hint}") from exc
    except TransportError as exc:
        raise errors.ProvisionError(
            f"Elasticsearch is unreachable ({type(exc).__name__}) during {what}: "
            "check elasticsearch.hosts and that the server runs",
            retryable=True,
        ) from exc


def _error_type(body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return str(body["error"].get("type", "error"))
    return "error"


def _hash_of(stored: Mapping[str, Any] | None) -> str | None:
    meta = (stored or {}).get("_meta") or {}
    return meta.get("hash") if isinstance(meta, Mapping) else None


def _verdict(stored: Mapping[str, Any] | None, desired_hash: str, dry_run: bool) -> str:
    if stored is not None and _hash_of(stored) == desired_hash:
        return "unchanged"
    verb = "created" if stored is None else "updated"
    return f"would be {verb}" if dry_run else verb


async def _upsert(
    what: str,
    read: Callable[[], Awaitable[Any]],
    stored_of: Callable[[Any], Mapping[str, Any] | None],
    write: Callable[[], Awaitable[Any]],
    desired_hash: str,
    dry_run: bool,
) -> Step:
    """Read what is stored, compare its `_meta` hash with ours, and write only when it differs."""
    try:
        stored = stored_of((await _es(what, read)).body)
    except NotFoundError:
        stored = None
    result = _verdict(stored, desired_hash, dry_run)
    if result in ("created", "updated"):
        await _es(what, write)
    return Step("elasticsearch", what, result)


async def _policy(client: AsyncElasticsearch, assets: Assets, dry_run: bool) -> Step:
    return await _upsert(
        f"ILM policy {POLICY}",
        lambda: client.ilm.get_lifecycle(name=POLICY),
        lambda body: body.get(POLICY, {}).get("policy"),
        lambda: client.ilm.put_lifecycle(name=POLICY, policy=assets.policy),
        assets.policy["_meta"]["hash"],
        dry_run,
    )


async def _component(client: AsyncElasticsearch, name: str, body: dict[str, Any], dry_run: bool) -> Step:
    return await _upsert(
        f"component template {name}",
        lambda: client.cluster.get_component_template(name=name),
        lambda reply: reply["component_templates"][0]["component_template"],
        lambda: client.cluster.put_component_template(
            name=name, template=body["template"], version=body.get("version"), meta=body["_meta"]
        ),
        body["_meta"]["hash"],
        dry_run,
    )


async def _index_template(client: AsyncElasticsearch, body: dict[str, Any], dry_run: bool) -> Step:
    return await _upsert(
        f"index template {INDEX_TEMPLATE}",
        lambda: client.indices.get_index_template(name=INDEX_TEMPLATE),
        lambda reply: reply["index_templates"][0]["index_template"],
        lambda: client.indices.put_index_template(
            name=INDEX_TEMPLATE,
            index_patterns=body["index_patterns"],
            data_stream=body["data_stream"],
            composed_of=body["composed_of"],
            priority=body["priority"],
            version=body.get("version"),
            meta=body["_meta"],
        ),
        body["_meta"]["hash"],
        dry_run,
    )


async def _stream(client: AsyncElasticsearch, name: str, roll_over: bool, dry_run: bool) -> Step:
    what = f"data stream {name}"
    try:
        await _es(what, lambda: client.indices.get_data_stream(name=name))
    except NotFoundError:
        if dry_run:
            return Step("elasticsearch", what, "would be created")
        await _es(what, lambda: client.indices.create_data_stream(name=name))
        return Step("elasticsearch", what, "created")
    if not roll_over:
        return Step("elasticsearch", what, "exists")
    if dry_run:
        return Step("elasticsearch", what, "would be rolled over")
    # A template reaches only new backing indices: roll over so the new mappings apply now.
    await _es(what, lambda: client.indices.rollover(alias=name))
    return Step("elasticsearch", what, "rolled over")


async def provision_elasticsearch(
    client: AsyncElasticsearch, assets: Assets, *, dry_run: bool = False
) -> list[Step]:
    """Create or update the ILM policy, the templates and the data streams, in dependency order."""
    steps = [await _policy(client, assets, dry_run)]
    for name, body in assets.components.items():
        steps.append(await _component(client, name, body, dry_run))
    template = await _index_template(client, assets.index_template, dry_run)
    steps.append(template)
    changed = any(s.result in ("updated", "would be updated") for s in steps)
    for stream in assets.streams:
        steps.append(await _stream(client, stream, changed, dry_run))
    return steps


KIBANA_OBJECTS: Traversable = ASSETS.joinpath("kibana", "quorum.ndjson")


def parse_saved_objects(data: bytes, source: str = "quorum.ndjson") -> list[dict[str, Any]]:
    """The saved objects of an ndjson export, one JSON object per line."""
    objects = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise errors.ProvisionError(f"{source}:{number}: not a JSON object") from exc
            if not isinstance(obj, dict):
                raise errors.ProvisionError(f"{source}:{number}: not a JSON object")
            objects.append(obj)
    return objects


async def wait_for_kibana(http: httpx.AsyncClient, *, wait_s: float, pause_s: float = 0.25) -> None:
    """Wait up to `wait_s` until Kibana's status page answers 200 (it answers 503 while starting)."""
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while True:
        try:
            response = await http.get("/api/status")
            if response.status_code == 200:
                return
            last = f"status {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        if time.monotonic() + pause_s > deadline:
            raise errors.ProvisionError(
                f"Kibana is not available ({last}): check elasticsearch.kibana_url", retryable=True
            )
        await asyncio.sleep(pause_s)
        pause_s = min(pause_s * 2, 2.0)


async def import_kibana(
    http: httpx.AsyncClient, data: bytes, *, name: str = "quorum.ndjson", dry_run: bool = False
) -> Step:
    """Import saved objects (ndjson `data`) with `overwrite=true`; `http` carries `kbn-xsrf` and the key."""
    objects = parse_saved_objects(data, name)
    what = f"saved objects {name}"
    if dry_run:
        return Step("kibana", what, f"would import {len(objects)} objects")
    files = {"file": (name, data, "application/ndjson")}
    try:
        response = await http.post("/api/saved_objects/_import", params={"overwrite": "true"}, files=files)
    except httpx.HTTPError as exc:
        raise errors.ProvisionError(f"Kibana is unreachable ({type(exc).__name__})", retryable=True) from exc
    if response.status_code in (401, 403):
        raise errors.ProvisionError(f"Kibana refused the import ({response.status_code}): check the API key")
    if response.status_code != 200:
        raise errors.ProvisionError(f"Kibana refused the import ({response.status_code})")
    body = response.json()
    if not body.get("success"):
        failed = ", ".join(
            f"{e.get('type')} {e.get('id')}: {e.get('error', {}).get('type')}" for e in body.get("errors", [])
        )
        raise errors.ProvisionError(f"Kibana did not import every object: {failed}")
    return Step("kibana", what, f"imported {body.get('successCount', 0)} objects")
