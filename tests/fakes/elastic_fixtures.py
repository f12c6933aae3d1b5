"""Pytest fixtures for the fake Elasticsearch and Kibana: `fake_es` and `fake_kibana`, stopped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import elastic_server


@pytest.fixture
def fake_es() -> Iterator[elastic_server.FakeElasticsearch]:
    """A fake Elasticsearch on 127.0.0.1 without authentication."""
    with elastic_server.FakeElasticsearch() as server:
        yield server


@pytest.fixture
def fake_kibana() -> Iterator[elastic_server.FakeKibana]:
    """A fake Kibana on 127.0.0.1 requiring the API key `kibana-test-key`."""
    with elastic_server.FakeKibana(api_key="kibana-test-key") as server:
        yield server
