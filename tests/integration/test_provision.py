"""`quorum provision` against the fake Elasticsearch and Kibana, and the shipped Kibana objects."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from bot.adapters.elastic import metrics as elastic_metrics
from bot.adapters.elastic import provision as elastic_provision
from bot.entrypoints import provision_cmd
from config import settings as config_settings
from tests.fakes.elastic_server import FakeElasticsearch, FakeKibana

ROOT = Path(__file__).resolve().parents[2]
NDJSON = ROOT / "bot" / "assets" / "kibana" / "quorum.ndjson"
KEY = "kibana-test-key"


def settings_for(es_url: str, kibana_url: str | None = None, **es: Any) -> config_settings.Settings:
    section = {"hosts": [es_url], "kibana_url": kibana_url, "api_key": KEY, "retention_days": 45} | es
    return config_settings.load_settings(None, secrets_dirs=[], elasticsearch=section)


def provision(settings: config_settings.Settings, *, dry_run: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = provision_cmd.run(settings, argparse.Namespace(dry_run=dry_run, kibana_wait=5), out, err)
    return code, out.getvalue(), err.getvalue()


def writes(server: FakeElasticsearch) -> list[tuple[str, str]]:
    return [(m, p) for m, p in server.requests if m in ("PUT", "POST")]


def test_creates_retention_templates_and_streams(fake_es: FakeElasticsearch):
    code, out, err = provision(settings_for(fake_es.url, environment="prod"))

    assert (code, err) == (0, "")
    policy = fake_es.ilm_policies["quorum-metrics"]["policy"]
    assert policy["phases"]["delete"]["min_age"] == "45d"
    assert policy["phases"]["hot"]["actions"]["rollover"]["max_age"] == "30d"
    settings_template = fake_es.component_templates["quorum-metrics-settings"]["template"]
    assert settings_template["settings"]["index"]["lifecycle"]["name"] == "quorum-metrics"
    mappings = fake_es.component_templates["quorum-metrics-mappings"]["template"]["mappings"]
    assert mappings["properties"]["event"]["properties"]["duration"] == {"type": "long"}
    template = fake_es.index_templates["quorum-metrics"]
    assert template["index_patterns"] == ["metrics-quorum.*-*"] and template["priority"] > 500
    assert template["data_stream"] == {}
    assert sorted(fake_es.streams) == ["metrics-quorum.llm-prod", "metrics-quorum.review-prod"]
    assert out.count("created") == 6
    assert "kibana_url is not set" in out


def test_a_second_run_changes_nothing(fake_es: FakeElasticsearch):
    settings = settings_for(fake_es.url)
    provision(settings)
    before = len(writes(fake_es))

    code, out, _ = provision(settings)

    assert code == 0
    assert len(writes(fake_es)) == before
    assert out.count("unchanged") == 4 and out.count("exists") == 2


async def test_a_changed_template_updates_and_rolls_streams_over(fake_es: FakeElasticsearch, tmp_path: Path):
    client = elastic_metrics.connect(settings_for(fake_es.url).elasticsearch)
    try:
        await elastic_provision.provision_elasticsearch(client, elastic_provision.load_assets("prod", 90))
        assets = shutil.copytree(ROOT / "bot" / "assets", tmp_path / "assets")
        path = assets / "elasticsearch" / "component-template-mappings.json"
        body = json.loads(path.read_text())
        body["template"]["mappings"]["properties"]["quorum"]["properties"]["extra"] = {"type": "keyword"}
        path.write_text(json.dumps(body))

        steps = await elastic_provision.provision_elasticsearch(
            client, elastic_provision.load_assets("prod", 30, assets)
        )
    finally:
        await client.close()

    results = {s.what: s.result for s in steps}
    assert results["ILM policy quorum-metrics"] == "updated"
    assert results["component template quorum-metrics-mappings"] == "updated"
    assert results["component template quorum-metrics-settings"] == "unchanged"
    assert results["data stream metrics-quorum.llm-prod"] == "rolled over"
    assert sorted(fake_es.rollovers) == ["metrics-quorum.llm-prod", "metrics-quorum.review-prod"]


def test_dry_run_writes_nothing(fake_es: FakeElasticsearch, fake_kibana: FakeKibana):
    code, out, _ = provision(settings_for(fake_es.url, fake_kibana.url), dry_run=True)

    assert code == 0
    assert writes(fake_es) == [] and fake_kibana.imports == []
    assert out.count("would be created") == 6 and "would import 16 objects" in out


def test_imports_kibana_objects_with_xsrf_header_and_overwrite(fake_es: FakeElasticsearch):
    with FakeKibana(api_key=KEY, unavailable_for=2) as kibana:
        code, out, err = provision(settings_for(fake_es.url, kibana.url))

        assert (code, err) == (0, "")
        assert kibana.imports[0]["query"] == {"overwrite": "true"}
        assert kibana.imports[0]["xsrf"] == "true"
        assert len(kibana.objects) == len(elastic_provision.parse_saved_objects(NDJSON.read_bytes()))
        assert "imported 16 objects" in out


def test_kibana_refusing_the_key_fails_without_printing_it(fake_es: FakeElasticsearch):
    with FakeKibana(api_key="another-key") as kibana:
        code, out, err = provision(settings_for(fake_es.url, kibana.url))

    assert code == 1
    assert "Kibana refused the import (401)" in err
    assert KEY not in out + err


def test_unreachable_elasticsearch_is_a_clear_failure():
    code, out, err = provision(settings_for("http://127.0.0.1:1"))

    assert code == 1
    assert "Elasticsearch is unreachable" in err and "elasticsearch.hosts" in err
    assert KEY not in out + err


def test_refusing_elasticsearch_names_the_privileges_and_hides_the_key():
    with FakeElasticsearch(api_key="the-right-key") as server:
        code, out, err = provision(settings_for(server.url))

    assert code == 1
    assert "Elasticsearch refused ILM policy quorum-metrics (401 security_exception)" in err
    assert "manage_index_templates" in err
    assert KEY not in out + err


def test_nothing_to_provision_without_hosts():
    settings = config_settings.load_settings(None, secrets_dirs=[])

    code, _, err = provision(settings)

    assert code == 78 and "elasticsearch.hosts is empty" in err


def test_runs_as_a_module(fake_es: FakeElasticsearch, tmp_path: Path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "QUORUM_ELASTICSEARCH__HOSTS": json.dumps([fake_es.url]),
    }

    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.provision_cmd", "provision", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "ILM policy quorum-metrics" in done.stdout


# -- the shipped saved objects ----------------------------------------------------------------------


def saved_objects() -> list[dict[str, Any]]:
    lines = [line for line in NDJSON.read_text("utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_ndjson_is_one_json_object_per_line_with_fixed_unique_ids():
    objects = saved_objects()

    assert all(isinstance(o, dict) for o in objects)
    assert len({(o["type"], o["id"]) for o in objects}) == len(objects)
    assert all(o.get("managed") is True and o["attributes"].get("title") for o in objects)
    assert {o["type"] for o in objects} == {"index-pattern", "lens", "dashboard"}


def test_every_reference_resolves_and_every_dashboard_reaches_a_data_view():
    objects = {(o["type"], o["id"]): o for o in saved_objects()}
    views = {i for t, i in objects if t == "index-pattern"}
    assert objects[("index-pattern", "quorum-metrics")]["attributes"]["title"] == "metrics-quorum.*"

    for obj in objects.values():
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in objects, (obj["id"], ref)
    dashboards = [o for o in objects.values() if o["type"] == "dashboard"]
    assert len(dashboards) >= 2
    for dashboard in dashboards:
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        names = {r["name"]: r for r in dashboard["references"]}
        for panel in panels:
            ref = names[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            lens = objects[(ref["type"], ref["id"])]
            assert {r["id"] for r in lens["references"] if r["type"] == "index-pattern"} <= views
            assert lens["references"], lens["id"]


def test_lens_panels_use_only_mapped_fields():
    mapping = json.loads((ROOT / "bot/assets/elasticsearch/component-template-mappings.json").read_text())

    def has(path: str) -> bool:
        node: dict[str, Any] = mapping["template"]["mappings"]
        for part in path.split("."):
            props = node.get("properties", {})
            if part not in props:
                return False
            node = props[part]
        return True

    for obj in saved_objects():
        if obj["type"] != "lens":
            continue
        for layer in obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values():
            for column in layer["columns"].values():
                field = column["sourceField"]
                assert field == "___records___" or has(field), (obj["id"], field)


def test_dashboards_cover_what_operators_asked_for():
    titles = " | ".join(o["attributes"]["title"].lower() for o in saved_objects() if o["type"] == "lens")

    for topic in ("per pull request", "per repository", "token efficiency", "latency percentiles"):
        assert topic in titles
    for topic in ("failure rate", "budget utilisation", "rounds to consensus", "escalations"):
        assert topic in titles


async def test_fake_kibana_refuses_an_import_without_the_xsrf_header():
    with FakeKibana() as kibana:
        async with httpx.AsyncClient(base_url=kibana.url) as http:
            response = await http.post("/api/saved_objects/_import", files={"file": ("a.ndjson", b"{}")})

    assert response.status_code == 400 and "kbn-xsrf" in response.json()["message"]
