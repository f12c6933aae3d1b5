"""Every field a Kibana panel queries is mapped by the index template and present in documents we build."""

from __future__ import annotations

import dataclasses

from bot.domain import Step
from tests.support import dashboards
from tests.unit.test_telemetry import all_docs


def test_every_panel_field_is_mapped() -> None:
    mapped = dashboards.mapped_fields()

    unmapped = {p.id: sorted(p.queried() - mapped) for p in dashboards.panels() if p.queried() - mapped}

    assert len(dashboards.panels()) >= 13
    assert unmapped == {}


def test_every_panel_has_documents_with_its_fields_among_those_the_builders_make() -> None:
    docs = [{**doc, "data_stream": {"dataset": doc["event"]["dataset"]}} for doc in all_docs()]

    empty = []
    for panel in dashboards.panels():
        feeding = [d for d in docs if panel.matches(d)]
        if not feeding or any(dashboards.value_at(d, f) is None for d in feeding for f in panel.fields):
            empty.append(panel.id)

    assert empty == []


def test_agent_step_publish_and_merge_fields_are_mapped() -> None:
    mapped = dashboards.mapped_fields()
    step = {f"quorum.agent_step.{f.name}" for f in dataclasses.fields(Step)}
    publish = {f"quorum.publish.{name}" for name in (
        "review_event", "round", "published_comments", "dropped_comments", "downgraded", "idempotency_key"
    )}  # fmt: skip
    merge = {"quorum.merge.outcome", "quorum.merge.attempt"}

    assert (step | publish | merge) - mapped == set()
