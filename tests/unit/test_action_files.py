"""action.yml and the example workflow: what GitHub's schemas cannot say (CI validates the schemas)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
WORKFLOW: dict[Any, Any] = yaml.safe_load((ROOT / "deploy" / "github-workflow.yml").read_text())
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _runs(steps: list[dict[str, Any]]) -> list[str]:
    return [step["run"] for step in steps if "run" in step]


def test_no_expression_is_pasted_into_a_script() -> None:
    scripts = _runs(ACTION["runs"]["steps"]) + _runs(WORKFLOW["jobs"]["quorum"]["steps"])

    assert scripts and all("${{" not in script for script in scripts)


def test_third_party_actions_are_pinned_to_a_commit() -> None:
    uses = [s["uses"] for s in ACTION["runs"]["steps"] if "uses" in s]
    uses += [
        s["uses"] for s in WORKFLOW["jobs"]["quorum"]["steps"] if "uses" in s and "quorum" not in s["uses"]
    ]

    assert uses and all(_PINNED.match(u) for u in uses)


def test_the_workflow_never_runs_on_pull_request_target_and_asks_only_what_quorum_uses() -> None:
    triggers = WORKFLOW[True]  # YAML 1.1 reads the key `on` as true

    assert "pull_request_target" not in triggers
    assert set(triggers) == {"pull_request", "pull_request_review", "issue_comment", "check_suite", "status"}
    assert WORKFLOW["permissions"] == {
        "contents": "write", "pull-requests": "write", "issues": "write", "statuses": "write",
        "checks": "read",
    }  # fmt: skip
    assert "pull_request.number" in WORKFLOW["concurrency"]["group"]


def test_every_input_reaches_the_command_and_the_outputs_come_from_it() -> None:
    review = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "quorum")

    passed = " ".join(str(v) for v in review["env"].values())
    assert all(f"inputs.{name}" in passed for name in ACTION["inputs"] if name != "python-version")
    assert {k: v["value"] for k, v in ACTION["outputs"].items()} == {
        "decision": "${{ steps.quorum.outputs.decision }}",
        "cost": "${{ steps.quorum.outputs.cost }}",
    }
    install = next(s for s in ACTION["runs"]["steps"] if s.get("name") == "Install Quorum")
    assert '-c "$ACTION_PATH/deploy/constraints.txt" "$ACTION_PATH"' in install["run"]
