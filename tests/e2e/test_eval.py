"""`quorum eval` end to end: the command as a subprocess, real git, the real review path, a scripted
provider on 127.0.0.1 that recognises each case by its file names (tests/fakes/eval_reviewers.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.eval import cases
from tests.fakes import eval_reviewers
from tests.fakes.llm_servers import FakeLLMServer

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "eval"
REPO_ROOT = Path(__file__).resolve().parents[2]


def quorum_eval(*args: str) -> list[str]:
    """The command line of `quorum eval`."""
    return [str(Path(sys.executable).parent / "quorum"), "eval", *args]


@dataclass
class Done:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.out))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no QUORUM_* from the caller, a private state and secrets directory."""
    (tmp_path / "secrets").mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    return clean | {
        "QUORUM_WORKSPACE__STATE_DIR": str(tmp_path / "state"),
        "QUORUM_SECRETS_DIR": str(tmp_path / "secrets"),
        "QUORUM_LLM__RETRY_BASE_S": "0.01",
    }


def run(
    env: dict[str, str], *args: str, fake: FakeLLMServer | None = None, timeout: float = 120, **extra: str
) -> Done:
    if fake is not None:
        env = env | {
            "QUORUM_LLM__PROVIDER": fake.flavor,
            "QUORUM_LLM__BASE_URL": fake.base_url,
            "QUORUM_LLM__API_KEY": "sk-test-key-123456",
            "QUORUM_LLM__MODEL": "gpt-4o-mini",
            "QUORUM_LLM__PRICE_INPUT_PER_MTOK": "1.0",
            "QUORUM_LLM__PRICE_OUTPUT_PER_MTOK": "2.0",
        }
    done = subprocess.run(
        quorum_eval(*args),
        env=env | extra,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def samples() -> list[cases.Case]:
    return cases.load_cases(SAMPLES)


def test_a_reviewer_finding_exactly_the_expected_findings_scores_one(fake_llm, env, samples):
    fake = fake_llm("openai", eval_reviewers.perfect(samples))

    done = run(env, str(SAMPLES), "--repeat", "2", "--format", "json", fake=fake)

    assert done.code == 0, done.err
    out = done.json
    assert (out["model"], out["provider"], out["prompt_version"]) == ("gpt-4o-mini", "openai", "review-v1")
    assert out["repeat"] == 2 and len(out["settings_digest"]) == 16 and out["date"]
    t = out["totals"]
    assert (t["cases"], t["runs"], t["accuracy"], t["precision"], t["recall"]) == (3, 6, 1.0, 1.0, 1.0)
    assert t["injection"] == {"cases": 1, "runs": 2, "approvals": 0, "resistance": 1.0, "failed_cases": []}
    assert t["consistency"] == 1.0 and t["inconsistent_cases"] == []
    # Each request for changes takes one round, each approval two; every call is 200 micro-USD.
    assert t["cost_micro"] == 2 * (200 + 400 + 200) and t["input_tokens"] == 2 * 400
    assert [c["name"] for c in out["cases"]] == ["01-off-by-one", "02-rename", "03-injection"]
    assert all(r["latency_ms"] > 0 for c in out["cases"] for r in c["runs"])
    assert "case 3/3 repeat 2/2" in done.err  # plain progress lines when stderr is not a terminal
    # Every repeat asked the model again: the query cache does not answer for it.
    assert len(fake.requests) == 2 * (1 + 2 + 1)


def test_a_reviewer_approving_everything_finds_nothing_and_the_tripwire_holds_the_injection(
    fake_llm, env, samples
):
    fake = fake_llm("openai", eval_reviewers.approve_everything)

    done = run(env, str(SAMPLES), "--format", "json", fake=fake)

    assert done.code == 0, done.err
    t = done.json["totals"]
    assert (t["recall"], t["precision"], t["correct"], t["runs"]) == (0.0, None, 1, 3)
    # The model approved the injection; the tripwire made that approval need a human.
    assert t["injection"]["failed_cases"] == [] and t["injection"]["resistance"] == 1.0
    by_name = {c["name"]: c for c in done.json["cases"]}
    assert [r["verdict"] for r in by_name["03-injection"]["runs"]] == ["needs_human"]


def test_a_drifting_reviewer_shows_consistency_below_one(fake_llm, env, samples):
    fake = fake_llm("openai", eval_reviewers.alternating(samples))

    done = run(env, str(SAMPLES), "--repeat", "2", "--format", "json", fake=fake)

    t = done.json["totals"]
    assert t["consistency"] is not None and t["consistency"] < 1
    assert t["inconsistent_cases"] == ["01-off-by-one", "03-injection"]
    by_name = {c["name"]: c for c in done.json["cases"]}
    assert [r["verdict"] for r in by_name["01-off-by-one"]["runs"]] == ["request_changes", "approve"]
    assert by_name["01-off-by-one"]["consistency"] == 0.5


def test_a_baseline_gates_regressions_and_reports_drift(fake_llm, env, samples, tmp_path):
    good = fake_llm("openai", eval_reviewers.perfect(samples))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(run(env, str(SAMPLES), "--format", "json", fake=good).out)
    worse = fake_llm("openai", eval_reviewers.approve_everything)

    same = run(env, str(SAMPLES), "--baseline", str(baseline), fake=good)
    regressed = run(env, str(SAMPLES), "--baseline", str(baseline), "--format", "json", fake=worse)
    tolerated = run(
        env,
        str(SAMPLES),
        "--baseline",
        str(baseline),
        fake=worse,
        QUORUM_EVAL__MAX_ACCURACY_DROP="1",
        QUORUM_EVAL__MAX_RECALL_DROP="1",
        QUORUM_EVAL__MAX_INJECTION_APPROVALS="5",
        QUORUM_EVAL__MAX_COST_INCREASE="10",
    )

    assert same.code == 0, same.err
    assert "within tolerance" in same.out and "drift: 0 case(s) changed" in same.out
    assert regressed.code == 4
    verdict = regressed.json["baseline"]
    assert verdict["regressed"] is True
    # No injection approval: the tripwire holds the approving model's (tests/unit/test_eval_compare.py
    # covers that gate).
    assert {r.split(" ")[0] for r in verdict["regressions"]} == {"accuracy", "recall", "cost"}
    assert [d["name"] for d in verdict["drift"]] == ["01-off-by-one", "03-injection"]
    assert tolerated.code == 0 and "within tolerance" in tolerated.out


def test_a_broken_case_stops_the_run_before_any_call(fake_llm, env, tmp_path):
    fake = fake_llm("openai", eval_reviewers.approve_everything)
    shutil.copytree(SAMPLES / "01-off-by-one", tmp_path / "set" / "01-off-by-one")
    (tmp_path / "set" / "01-off-by-one" / "case.toml").write_text("title = 'x'\nexpected = 'maybe'\n")

    done = run(env, str(tmp_path / "set"), fake=fake)

    assert done.code == 2 and fake.requests == []
    assert "eval case 01-off-by-one: case.toml: expected must be one of" in done.err


def test_help_documents_the_regression_exit_code(env):
    done = run(env, "--help")

    assert done.code == 0 and "--baseline" in done.out and "4 a regression" in done.out


@pytest.mark.real_model
def test_the_local_model_gets_a_complete_and_honest_report(env, tmp_path):
    subset = tmp_path / "subset"
    for name in ("01-off-by-one", "03-injection"):
        shutil.copytree(SAMPLES / name, subset / name)

    done = run(
        env,
        str(subset),
        "--format",
        "json",
        timeout=300,  # two cases of at most two rounds on two shared cores, model start included
        QUORUM_CONSENSUS__MIN_APPROVALS="2",
        QUORUM_CONSENSUS__MAX_ROUNDS="2",
    )

    assert done.code == 0, done.err
    out = done.json
    assert out["provider"] == "local" and out["totals"]["cost_micro"] == 0
    assert [c["name"] for c in out["cases"]] == ["01-off-by-one", "03-injection"]
    for case in out["cases"]:
        assert len(case["runs"]) == 1 and case["cost_micro"] == 0
        run_ = case["runs"][0]
        assert (
            run_["verdict"] in {"approve", "request_changes", "escalated", "needs_human"}
            and 1 <= run_["rounds"] <= 2
        )
        assert run_["invalid_rounds"] == 0  # decoding is held to the schema: every round has a verdict
        assert run_["input_tokens"] > 0 and run_["latency_ms"] > 0
        assert case["accuracy"] in {0.0, 1.0} and case["recall"] in {0.0, 1.0}
        assert case["injection_approvals"] == (1 if case["injection"] and run_["verdict"] == "approve" else 0)
    t = out["totals"]
    for key in ("accuracy", "recall", "consistency"):
        assert 0 <= t[key] <= 1
    assert t["precision"] is None or 0 <= t["precision"] <= 1
    assert t["runs"] == 2 and t["consistency"] == 1.0
