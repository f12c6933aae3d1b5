"""`quorum review` end to end: a real repository, real git, the real CLI, a wire-level fake provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import SECRET, git, review_json
from tests.fakes.llm_servers import RecordedRequest, Reply

BUG = {
    "path": "calc.py",
    "line": 6,
    "side": "RIGHT",
    "severity": "major",
    "body": "Dividing by len(values) - 1 is wrong for a mean and fails on one value.",
}


def approve_always(_: RecordedRequest) -> Reply:
    nit = {"path": "calc.py", "line": 10, "side": "RIGHT", "severity": "nit", "body": "Consider values[-1]."}
    return Reply(review_json("approve", [nit]))


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
def test_an_always_approving_model_needs_exactly_min_approvals_rounds(flavor, fake_llm, quorum, feature_repo):
    fake = fake_llm(flavor, approve_always)

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake)

    assert run.code == 0, run.err
    out = run.json
    assert (out["decision"], out["reason"]) == ("approved", "consensus")
    assert [r["verdict"] for r in out["rounds"]] == ["approve", "approve"]
    assert out["head"] == git(feature_repo, "rev-parse", "HEAD")
    assert out["base"] == git(feature_repo, "rev-parse", "main")
    assert out["comments"] == [
        {"path": "calc.py", "line": 10, "side": "RIGHT", "severity": "nit", "body": "Consider values[-1]."}
    ]
    # 100 input tokens at 1 USD/Mtok + 50 output tokens at 2 USD/Mtok = 200 micro-USD per call.
    assert all(r["cost_usd"] == pytest.approx(0.0002) and r["input_tokens"] == 100 for r in out["rounds"])
    assert out["cost_usd"] == pytest.approx(0.0004)
    skipped = {s["path"]: s["reason"] for s in out["coverage"]["skipped"]}
    assert skipped == {"package-lock.json": "lock_file", "logo.png": "binary"}
    assert out["coverage"]["files_total"] == 5 and out["coverage"]["files_reviewed"] == 3
    assert sorted(out["coverage"]["unreviewed"]) == ["logo.png", "package-lock.json"]
    assert set(out["coverage"]["shown"]) == {"calc.py", "settings.py", "NOTES.md"}


def test_min_approvals_is_configurable(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)

    run = quorum(
        "review", str(feature_repo), "--format", "json", fake=fake, QUORUM_CONSENSUS__MIN_APPROVALS="3"
    )

    assert run.code == 0
    assert len(run.json["rounds"]) == 3 and len(fake.requests) == 3


def test_a_request_for_changes_ends_the_review_with_the_anchored_finding(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", lambda _: Reply(review_json("request_changes", [BUG], "Off-by-one in mean().")))

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake)

    assert run.code == 0
    out = run.json
    assert (out["decision"], out["reason"]) == ("changes_requested", "changes_requested")
    assert len(out["rounds"]) == 1
    assert out["comments"][0] | {"body": ""} == BUG | {"body": ""}


def test_findings_outside_the_diff_move_to_the_summary(fake_llm, quorum, feature_repo):
    outside = [
        {"path": "calc.py", "line": 2, "side": "RIGHT", "severity": "minor", "body": "unchanged line"},
        {"path": "nowhere.py", "line": 1, "side": "RIGHT", "severity": "minor", "body": "invented file"},
        {"path": "calc.py", "line": 6, "side": "LEFT", "severity": "minor", "body": "the old line"},
    ]
    fake = fake_llm("openai", lambda _: Reply(review_json("comment", outside)))

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake, QUORUM_CONSENSUS__MAX_ROUNDS="2")

    out = run.json
    assert out["comments"] == [
        {"path": "calc.py", "line": 6, "side": "LEFT", "severity": "minor", "body": "the old line"}
    ]
    assert "unchanged line" in out["summary"] and "invented file" in out["summary"]
    assert (out["decision"], out["reason"], run.code) == ("escalated", "max_rounds", 3)


@pytest.mark.parametrize(
    "garbage",
    [
        Reply("I think this looks great, approve!"),
        Reply(raw_body=b'{"choices": [{"message": {"content": "{\\"verdict\\": \\"appr'),
        Reply('{"verdict": "approve", "summary": "fine"}'),  # schema: no confidence, no findings
        Reply('{"verdict": "merge it", "summary": "x", "confidence": 2, "findings": []}'),
    ],
)
def test_garbage_output_never_yields_approval(garbage, fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", lambda _: garbage)

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake, QUORUM_LLM__MAX_RETRIES="0")

    out = run.json
    assert out["decision"] == "escalated" and run.code == 3
    assert all(r["verdict"] == "none" for r in out["rounds"])


def test_one_repair_attempt_turns_invalid_json_into_a_verdict(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)
    fake.push(Reply("not json at all"))

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake)

    assert run.json["decision"] == "approved"
    repair = fake.requests[1].body["messages"]
    assert repair[-2]["role"] == "assistant" and "could not be used" in repair[-1]["content"]


def test_a_slow_model_ends_in_timeout(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", lambda _: Reply(review_json(), delay_s=3.0))

    run = quorum(
        "review", str(feature_repo), "--format", "json", fake=fake, QUORUM_TIMEOUTS__LLM_CALL_S="0.5"
    )

    out = run.json
    assert (out["decision"], out["reason"], run.code) == ("escalated", "timeout", 3)
    assert out["rounds"][0]["verdict"] == "none"


def test_a_tiny_budget_ends_in_budget_exceeded_without_overspending(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", lambda _: Reply(review_json("approve")))
    plan = quorum("review", str(feature_repo), "--dry-run", "--format", "json", fake=fake).json
    upper = plan["chunks"][0]["call_upper_usd"]  # what each call reserves before it starts
    # Room for one upper bound plus 300 micro-USD: rounds 1 and 2 settle at 200 each, round 3 cannot reserve.
    cap = upper + 0.0003

    run = quorum(
        "review",
        str(feature_repo),
        "--format",
        "json",
        fake=fake,
        QUORUM_BUDGET__PER_PR_USD=str(cap),
        QUORUM_CONSENSUS__MIN_APPROVALS="3",
    )

    out = run.json
    assert (out["decision"], out["reason"], run.code) == ("escalated", "budget_exceeded", 3)
    assert [r["verdict"] for r in out["rounds"]] == ["approve", "approve", "none"]
    assert out["cost_usd"] == pytest.approx(0.0004) and out["cost_usd"] <= cap
    assert len(fake.requests) == 2 and "'pr'" in out["detail"]


def test_a_budget_smaller_than_one_call_makes_no_call(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)

    run = quorum(
        "review", str(feature_repo), "--format", "json", fake=fake, QUORUM_BUDGET__PER_ROUND_USD="0.000001"
    )

    assert (run.json["reason"], run.json["cost_usd"], fake.requests) == ("budget_exceeded", 0, [])


def test_an_unpriced_model_is_refused_before_any_call(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)

    run = quorum(
        "review",
        str(feature_repo),
        "--format",
        "json",
        fake=fake,
        QUORUM_LLM__MODEL="some-unknown-model",
        QUORUM_LLM__PRICE_INPUT_PER_MTOK="",
        QUORUM_LLM__PRICE_OUTPUT_PER_MTOK="",
    )

    assert run.json["reason"] == "budget_exceeded" and fake.requests == []
    assert "cannot be bounded" in run.json["detail"]


def test_rate_limits_are_retried_after_the_servers_delay(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)
    fake.push(Reply(status=429, headers={"Retry-After": "0.2"}), Reply(status=503))

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake)

    assert run.json["decision"] == "approved"
    assert len(fake.requests) == 4  # two failed attempts, then two rounds


def test_secrets_never_reach_the_provider(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)
    leaky = "AWS key for testing: AKIAIOSFODNN7EXAMPLE and our key sk-test-key-123456"

    run = quorum("review", str(feature_repo), "--format", "json", "--description", leaky, fake=fake)

    bodies = json.dumps([r.body for r in fake.requests])
    assert (
        SECRET not in bodies and "sk-test-key-123456" not in bodies and "AKIAIOSFODNN7EXAMPLE" not in bodies
    )
    assert "AWS key for testing" in bodies  # the description itself did reach the reviewer
    assert "[REDACTED:" in bodies
    assert run.json["coverage"]["redactions"] >= 1


def test_consecutive_rounds_use_different_reviewers(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)

    quorum("review", str(feature_repo), "--format", "json", fake=fake)

    systems = [r.body["messages"][0]["content"] for r in fake.requests]
    assert "correctness" in systems[0] and "security" in systems[1]
    assert all(r.body["temperature"] == 0 for r in fake.requests)
    assert fake.requests[0].body["response_format"]["type"] == "json_schema"


def test_the_worktree_is_removed_after_the_review(fake_llm, quorum, feature_repo, tmp_path):
    fake = fake_llm("openai", approve_always)

    quorum("review", str(feature_repo), "--format", "json", fake=fake)

    worktrees = tmp_path / "state" / "worktrees"
    assert not worktrees.exists() or list(worktrees.iterdir()) == []


def test_dry_run_calls_no_model_and_bounds_the_cost(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)

    run = quorum("review", str(feature_repo), "--dry-run", "--format", "json", fake=fake)

    assert run.code == 0 and fake.requests == []
    plan = run.json
    assert plan["dry_run"] is True and len(plan["chunks"]) == 1
    assert set(plan["chunks"][0]["files"]) == {"calc.py", "settings.py", "NOTES.md"}
    assert plan["round_upper_usd"] > 0 and plan["review_upper_usd"] == pytest.approx(
        plan["round_upper_usd"] * 5
    )
    text = quorum("review", str(feature_repo), "--dry-run", fake=fake).out
    assert "no LLM was called" in text and "upper bound per round" in text


def test_text_and_markdown_formats(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", lambda _: Reply(review_json("request_changes", [BUG], "Off-by-one.")))

    text = quorum("review", str(feature_repo), fake=fake).out
    markdown = quorum("review", str(feature_repo), "--format", "markdown", fake=fake).out

    assert "decision: changes_requested" in text and "calc.py:6" in text
    assert "not reviewed (a maintainer must approve this head before any merge):" in text
    assert "  logo.png: binary" in text and "- `package-lock.json`: lock_file" in markdown
    assert "Not reviewed (a maintainer must approve this head before any merge):" in markdown
    assert (
        markdown.startswith("## Quorum review: **changes_requested**")
        and "| `calc.py` | R6 | major |" in markdown
    )


def test_head_and_base_options_pick_the_commits(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)
    first = git(feature_repo, "rev-parse", "HEAD")
    (feature_repo / "calc.py").write_text("print('changed again')\n")
    git(feature_repo, "commit", "-qam", "second")

    run = quorum(
        "review", str(feature_repo), "--head", first, "--base", "main", "--format", "json", fake=fake
    )

    assert run.json["head"] == first


def test_usage_errors_exit_2(quorum, feature_repo, tmp_path):
    missing = quorum("review", str(tmp_path / "nope"))
    not_git = quorum("review", str(tmp_path))
    bad_ref = quorum("review", str(feature_repo), "--head", "no-such-branch")

    assert missing.code == 2 and "not a directory" in missing.err
    assert not_git.code == 2 and not_git.err.startswith("quorum: ")
    assert bad_ref.code == 2 and "no-such-branch" in bad_ref.err


def test_configuration_errors_exit_2_without_echoing_secrets(quorum, feature_repo):
    run = quorum(
        "review",
        str(feature_repo),
        QUORUM_LLM__PROVIDER="bogus",
        QUORUM_LLM__API_KEY="s3cr3t-value",
        QUORUM_BUDGET__PER_PR_USD="-1",
    )

    assert run.code == 2
    assert "QUORUM_LLM__PROVIDER" in run.err and "QUORUM_BUDGET__PER_PR_USD" in run.err
    assert "s3cr3t-value" not in run.err + run.out


def test_an_unreachable_provider_says_what_to_set(quorum, feature_repo):
    run = quorum(
        "review",
        str(feature_repo),
        "--format",
        "json",
        QUORUM_LLM__PROVIDER="ollama",
        QUORUM_LLM__BASE_URL="http://127.0.0.1:9",
        QUORUM_LLM__MODEL="m",
        QUORUM_LLM__MAX_RETRIES="0",
    )

    assert run.code == 3
    assert run.json["reason"] == "provider_error" and "127.0.0.1:9" in run.json["detail"]


def test_config_prints_effective_settings_with_secrets_masked(quorum):
    run = quorum("config", QUORUM_LLM__API_KEY="sk-very-secret-value", QUORUM_BUDGET__PER_PR_USD="3.5")

    assert run.code == 0
    assert "sk-very-secret-value" not in run.out and "per_pr_usd = 3.5" in run.out


def test_empty_change_is_escalated_as_nothing_to_review(fake_llm, quorum, feature_repo):
    fake = fake_llm("openai", approve_always)

    run = quorum(
        "review", str(feature_repo), "--head", "main", "--base", "main", "--format", "json", fake=fake
    )

    assert (run.json["reason"], run.code, fake.requests) == ("nothing_to_review", 3, [])


def test_console_script_is_installed(tmp_path: Path):
    import subprocess
    import sys

    done = subprocess.run(
        [str(Path(sys.executable).parent / "quorum"), "review", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0 and "--dry-run" in done.stdout


def test_a_blocker_off_the_diff_is_listed_open_in_every_format(fake_llm, quorum, feature_repo):
    ghost = {"path": "calc.py", "line": 2, "side": "RIGHT", "severity": "critical", "body": "add() is unsafe"}
    fake = fake_llm("openai", lambda _: Reply(review_json("approve", [ghost])))

    runs = {
        f: quorum("review", str(feature_repo), "--format", f, fake=fake) for f in ("json", "markdown", "text")
    }

    out = runs["json"].json
    assert (out["decision"], out["reason"]) == ("changes_requested", "changes_requested")
    assert [r["verdict"] for r in out["rounds"]] == ["comment"]  # an approval with a blocker is a comment
    assert out["open_blockers"] == [
        {"path": "calc.py", "line": 2, "side": "RIGHT", "severity": "critical", "body": "add() is unsafe",
         "raised_on": out["head"], "placed": False}
    ]  # fmt: skip
    assert "Open blockers" in runs["markdown"].out and "| `calc.py` | R2 | critical |" in runs["markdown"].out
    assert "open blockers:" in runs["text"].out and "calc.py:2 [RIGHT critical]" in runs["text"].out
