"""The composition root of `quorum provision`: the Elasticsearch and Kibana clients from `[elasticsearch]`,
and the provisioning steps run over them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

import httpx

from bot import version
from bot.adapters.elastic import metrics as elastic_metrics
from bot.adapters.elastic import provision as elastic_provision
from config.settings import Settings

TIMEOUT_S = 30.0  # an index template or a saved-objects import may take a while on a busy cluster


class Step(Protocol):
    """One thing provisioning did (or, in a dry run, would do)."""

    @property
    def target(self) -> str:
        """`elasticsearch` or `kibana`."""
        ...

    @property
    def what(self) -> str: ...

    @property
    def result(self) -> str:
        """created, updated, unchanged, rolled over, imported N objects, would ..."""
        ...


async def provision(settings: Settings, *, dry_run: bool, kibana_wait_s: float) -> AsyncGenerator[Step]:
    """Set up Elasticsearch, then import Kibana's objects when `kibana_url` is set; each step as it is done.

    `elasticsearch.hosts` must not be empty. Raises `ProvisionError` naming the step that failed.
    """
    es = settings.elasticsearch
    assets = elastic_provision.load_assets(es.environment, es.retention_days)
    client = elastic_metrics.connect(es, request_timeout_s=TIMEOUT_S)
    try:
        for step in await elastic_provision.provision_elasticsearch(client, assets, dry_run=dry_run):
            yield step
    finally:
        await client.close()
    if es.kibana_url is None:
        return
    data = elastic_provision.KIBANA_OBJECTS.read_bytes()
    headers = {**version.HEADERS, "kbn-xsrf": "true"}
    if es.api_key is not None:
        headers["Authorization"] = "ApiKey " + es.api_key.get_secret_value()
    async with httpx.AsyncClient(base_url=es.kibana_url, headers=headers, timeout=TIMEOUT_S) as http:
        if not dry_run:
            await elastic_provision.wait_for_kibana(http, wait_s=kibana_wait_s)
        yield await elastic_provision.import_kibana(http, data, dry_run=dry_run)
