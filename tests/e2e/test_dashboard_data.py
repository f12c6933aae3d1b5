"""A real `quorum serve` run feeds every dashboard panel it can: the documents that reach (fake)
Elasticsearch carry the fields the panels query, and no field they carry is left unmapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import serve_harness as h
from tests.e2e.test_serve import Gate
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub
from tests.support import dashboards

pytestmark = pytest.mark.redis

# Panels a review that reaches consensus and merges must feed (failure panels need a failing run).
FED_BY_A_MERGE = {
    "quorum-cost-per-pr", "quorum-cost-per-repo", "quorum-total-cost", "quorum-token-efficiency",
    "quorum-latency-per-model", "quorum-failure-rate", "quorum-budget-utilisation",
    "quorum-rounds-to-consensus", "quorum-average-rounds", "quorum-queue-wait",
}  # fmt: skip


async def test_a_merged_review_feeds_the_panels_with_mapped_fields(
    fake_github: FakeGitHub,
    fake_llm: FakeLLMFactory,
    fake_es,
    redis_url: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", Gate())
    async with h.serving(
        fake_github, llm, redis_url, tmp_path, QUORUM_ELASTICSEARCH__HOSTS=f'["{fake_es.url}"]',
        QUORUM_ELASTICSEARCH__FLUSH_INTERVAL_S="0.2",
    ) as daemon:  # fmt: skip
        number, head = daemon.open_buggy_pull()
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
        await h.wait_for(lambda: fake_github.merged(h.REPO, number), what="the merge")
        await h.wait_for(
            lambda: any(d["event"]["action"] == "merge" for d in fake_es.documents()),
            what="the merge document",
        )
    docs = fake_es.documents()

    fed = {p.id for p in dashboards.panels() if any(p.matches(d) for d in docs)}
    missing = {
        p.id: sorted(
            f for f in p.fields if any(dashboards.value_at(d, f) is None for d in docs if p.matches(d))
        )
        for p in dashboards.panels()
    }
    unmapped = {path for d in docs for path in dashboards.leaf_paths(d)} - dashboards.mapped_fields()

    assert FED_BY_A_MERGE - fed == set()
    assert {panel: fields for panel, fields in missing.items() if fields} == {}
    assert unmapped == set()
    actions = {d["event"]["action"] for d in docs}
    assert {"publish", "merge", "budget.state", "queue.claimed"} <= actions
