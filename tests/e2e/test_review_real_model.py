"""`quorum review` with the real bundled model: llama.cpp's server and SmolLM2, through the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real_model


def test_review_with_the_local_model_reports_tokens_time_and_a_decision(feature_repo: Path, tmp_path: Path):
    (tmp_path / "secrets").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    env |= {
        "QUORUM_WORKSPACE__STATE_DIR": str(tmp_path / "state"),
        "QUORUM_SECRETS_DIR": str(tmp_path / "secrets"),
        "QUORUM_CONSENSUS__MIN_APPROVALS": "2",
        "QUORUM_CONSENSUS__MAX_ROUNDS": "2",
    }
    quorum = str(Path(sys.executable).parent / "quorum")

    done = subprocess.run(
        [quorum, "review", str(feature_repo), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode in (0, 3), done.stderr
    out = json.loads(done.stdout)
    assert out["provider"] == "local" and out["cost_usd"] == 0
    assert out["decision"] in {"approved", "changes_requested", "escalated"}
    assert (done.returncode == 3) is (out["decision"] == "escalated")
    rounds = out["rounds"]
    # Rounds go on only while they approve, and two approvals end the review.
    assert rounds and len(rounds) <= 2
    assert all(r["verdict"] == "approve" for r in rounds[:-1])
    for r in rounds:
        assert r["input_tokens"] > 0 and r["output_tokens"] > 0 and r["duration_ms"] > 0
        # Decoding is held to the review schema, so every round of the small model is a valid verdict,
        # reached in one call per part: `agent.enabled = "auto"` gives it no tool loop.
        assert r["verdict"] in {"approve", "request_changes", "comment"} and r["error"] is None, r
        assert r["steps"] == []
        assert r["input_tokens"] < 8000  # one call for a three-file change, not a growing conversation
    if out["decision"] == "approved":
        assert [r["verdict"] for r in rounds] == ["approve", "approve"]
    for comment in out["comments"]:  # whatever the model wrote, only lines inside the diff are inline
        assert comment["path"] in {"calc.py", "settings.py", "NOTES.md"}
    assert "ghp_" not in done.stdout  # the committed token never reached the model, so it cannot echo it
