"""`quorum action` end to end: workflow runs (the real entry point in a child process, the Actions
environment, a real checkout as the workspace) against the fake GitHub on real git and a scripted LLM.
Everything is asserted from outside: what the fake GitHub holds, what the model was asked, the files the
runner reads (summary, outputs) and the exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrails import lease
from tests.e2e import action_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub


class Script:
    """The fake model's verdicts, in order of the chat calls (the last one repeats)."""

    def __init__(self, *verdicts: str) -> None:
        self.verdicts = list(verdicts)
        self.calls = 0
        self.usage = (100, 50)  # input and output tokens each answer reports

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        verdict = self.verdicts[min(self.calls, len(self.verdicts) - 1)]
        self.calls += 1
        findings = []
        if verdict == "request_changes":
            body = "Dividing by n-1 is the sample variance's denominator, not the mean's."
            findings = [{"path": "calc.py", "line": 2, "side": "RIGHT", "severity": "major", "body": body}]
        return llm_servers.Reply(h.review_json(verdict, findings), *self.usage)


@pytest.fixture
def world(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, tmp_path: Path
) -> Iterator[tuple[h.Workflow, Script]]:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    fake_github.add_actions_token(h.ACTIONS_TOKEN)
    script = Script("approve")
    llm = fake_llm("openai", script)
    workflow = h.Workflow(fake_github, llm, tmp_path, h.settings_env(llm))
    yield workflow, script


def _quorum_reviews(gh: FakeGitHub, number: int) -> list:  # type: ignore[type-arg]
    return [r for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body) is not None]


def _open(gh: FakeGitHub, **kwargs: object) -> tuple[int, str]:
    """A PR pushed a minute ago (GitHub's clock): a `/quorum merge` written now is ordered after it."""
    sha = gh.push_branch(h.REPO, "feature", {"calc.py": h.BUGGY_CALC}, "divide by n-1", at=time.time() - 60)
    return gh.open_pull(h.REPO, "feature", title="Use the sample size", **kwargs), sha  # type: ignore[arg-type]


def test_a_pull_request_run_reviews_the_head_and_a_rerun_posts_nothing_twice(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    number, head = _open(gh)
    payload = h.pr_payload("opened", number, head)

    first = workflow.run("pull_request", payload)
    again = workflow.run("pull_request", payload, GITHUB_RUN_ATTEMPT="2")

    assert first.code == 0, first.stderr
    reviews = _quorum_reviews(gh, number)
    assert len(reviews) == 1 and reviews[0].user == "github-actions[bot]" and reviews[0].commit_id == head
    # GitHub does not let a workflow's token approve by default: the approval is posted as a comment.
    assert reviews[0].state == "COMMENTED" and "**Decision:** approved (consensus)" in reviews[0].body
    statuses = [s for s in gh.statuses(h.REPO, head) if s.context == "quorum"]
    # Set once, by the merge gate (success: no human needed); the re-run added none.
    assert [s.state for s in statuses] == ["success"]
    assert first.outputs == {"decision": "approved", "cost": first.outputs["cost"]}
    assert float(first.outputs["cost"]) > 0
    assert "| 1 | gpt-4o-mini | approve |" in first.summary and "**Coverage:** 1 of 1 files" in first.summary
    assert first.stdout.startswith("::group::Quorum: pull_request on acme/widgets")
    assert script.calls == 2
    assert again.code == 0, again.stderr
    assert len(_quorum_reviews(gh, number)) == 1 and gh.comments(h.REPO, number) == []
    assert [s.state for s in gh.statuses(h.REPO, head) if s.context == "quorum"] == ["success"]
    assert script.calls == 2
    assert again.outputs["decision"] == "approved" and "Decided by an earlier run" in again.summary
    assert not gh.merged(h.REPO, number)


def test_a_synchronize_reviews_the_new_head_only_and_retires_the_old_block(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    script.verdicts = ["request_changes", "approve"]
    number, first_head = _open(gh)
    first = workflow.run("pull_request", h.pr_payload("opened", number, first_head))
    new_head = gh.push_branch(h.REPO, "feature", {"calc.py": h.FIXED_CALC}, "guard the empty case")
    asked_before = len(workflow.llm.chat_bodies())

    second = workflow.run("pull_request", h.pr_payload("synchronize", number, new_head))

    assert (first.code, second.code) == (0, 0), second.stderr
    assert first.outputs["decision"] == "changes_requested"
    reviews = _quorum_reviews(gh, number)
    assert [(r.commit_id, r.state) for r in reviews] == [
        (first_head, "DISMISSED"), (new_head, "COMMENTED")
    ]  # fmt: skip
    assert "::error file=calc.py,line=2,title=Quorum (major)::Dividing by n-1" in first.stdout
    asked_now = workflow.llm.chat_bodies()[asked_before:]
    assert len(asked_now) == 2 and all("if not values" in str(body) for body in asked_now)
    assert second.outputs["decision"] == "approved"


def test_an_approval_in_one_run_is_merged_by_a_later_checks_run_at_the_approved_sha(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    workflow.env.update(QUORUM_MERGE__ENABLED="true", QUORUM_MERGE__REQUIRED_CHECKS='["ci"]')
    number, head = _open(gh)
    gh.set_check(h.REPO, head, "ci", status="in_progress", conclusion=None)

    approved = workflow.run("pull_request", h.pr_payload("opened", number, head))
    gh.set_check(h.REPO, head, "ci", conclusion="success")
    merged = workflow.run("check_suite", h.check_suite_payload(head, number))

    assert approved.code == 0 and approved.outputs["decision"] == "approved"
    assert "Not merged yet: the merge gate waits" in approved.summary
    assert merged.code == 0, merged.stderr
    assert gh.merged(h.REPO, number) and gh.pull(h.REPO, number).merge_sha_sent == head
    assert script.calls == 2  # the second run continued from the PR's record: no new review
    assert merged.outputs == {"decision": "merged", "cost": "0.0000"}
    after = workflow.run("check_suite", h.check_suite_payload(head, number), GITHUB_RUN_ATTEMPT="2")
    assert after.outputs["decision"] == "merged" and len(_quorum_reviews(gh, number)) == 1


def test_a_fork_pull_request_is_never_merged_and_the_run_says_why(world) -> None:  # type: ignore[no-untyped-def]
    workflow, _ = world
    gh = workflow.gh
    workflow.env.update(QUORUM_MERGE__ENABLED="true", QUORUM_CONSENSUS__MIN_APPROVALS="1")
    read_only = "ghs_" + "fork0run0token0000000000000"
    gh.add_actions_token(read_only, read_only=True)
    number, head = _open(gh, fork_owner="eve")

    run = workflow.run(
        "pull_request", h.pr_payload("opened", number, head, head_repo="eve/widgets"), token=read_only
    )

    assert run.code == 0, run.stderr
    assert not gh.merged(h.REPO, number) and "Not merged: merging is off" in run.summary
    assert gh.reviews(h.REPO, number) == [] and gh.comments(h.REPO, number) == []
    assert "comes from a fork" in run.summary and "never merges it" in run.summary
    assert "The token was refused: the review" in run.summary
    assert "::notice title=Quorum::This pull request comes from a fork" in run.stdout


def test_a_fork_pull_request_with_a_writable_token_gets_a_comment_review_and_no_merge(world) -> None:  # type: ignore[no-untyped-def]
    workflow, _ = world
    gh = workflow.gh
    gh.state.actions_can_approve = True  # even where the repository lets workflows approve
    workflow.env.update(QUORUM_MERGE__ENABLED="true", QUORUM_CONSENSUS__MIN_APPROVALS="1")
    number, head = _open(gh, fork_owner="eve")

    run = workflow.run("pull_request", h.pr_payload("opened", number, head, head_repo="eve/widgets"))

    assert run.code == 0, run.stderr
    reviews = _quorum_reviews(gh, number)
    assert [r.state for r in reviews] == ["COMMENTED"] and "comes from a fork" in reviews[0].body
    assert not gh.merged(h.REPO, number)


def test_a_command_from_a_user_without_write_access_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    workflow.env.update(QUORUM_MERGE__ENABLED="true", QUORUM_CONSENSUS__MIN_APPROVALS="1")
    gh.set_permission(h.REPO, "mallory", "read")
    gh.set_permission(h.REPO, "maria", "write")
    gh.set_contributors(h.REPO, 50)  # past the threshold: only a writer's word lets it merge
    number, head = _open(gh)
    approved = workflow.run("pull_request", h.pr_payload("opened", number, head))
    comment = h.comment_payload(number, "mallory", "/quorum merge")

    refused = workflow.run("issue_comment", comment)
    repeated = workflow.run("issue_comment", comment, GITHUB_RUN_ATTEMPT="2")
    merged_before = gh.merged(h.REPO, number)
    allowed = workflow.run("issue_comment", h.comment_payload(number, "maria", "/quorum merge"))

    assert approved.outputs["decision"] == "approved"
    assert (refused.code, repeated.code, allowed.code) == (0, 0, 0), refused.stderr
    replies = [c.body for c in gh.comments(h.REPO, number) if "@mallory" in c.body]
    assert len(replies) == 1 and "write access" in replies[0]
    waits = [c.body for c in gh.comments(h.REPO, number) if "a human must approve" in c.body]
    assert len(waits) == 1  # said once, though three later runs found the PR waiting for a human
    assert not merged_before
    assert gh.merged(h.REPO, number) and gh.pull(h.REPO, number).merge_sha_sent == head
    assert allowed.outputs["decision"] == "merged" and script.calls == 1


def test_an_escalation_fails_the_step_only_when_asked(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    script.verdicts = ["comment"]
    workflow.env.update(QUORUM_CONSENSUS__MAX_ROUNDS="2")
    number, head = _open(gh)
    payload = h.pr_payload("opened", number, head)

    quiet = workflow.run("pull_request", payload)
    loud = workflow.run("pull_request", payload, args=("--fail-on-escalation",), GITHUB_RUN_ATTEMPT="2")

    assert (quiet.code, quiet.outputs["decision"]) == (0, "escalated"), quiet.stderr
    assert (loud.code, loud.outputs["decision"]) == (3, "escalated")


def test_a_status_run_never_starts_a_review_and_merges_a_decided_head_once_green(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    workflow.env.update(QUORUM_MERGE__ENABLED="true", QUORUM_MERGE__REQUIRED_CHECKS='["ci"]')
    number, head = _open(gh)
    gh.set_status(h.REPO, head, "ci", "pending")

    early = workflow.run("status", h.status_payload(head, "ci", "pending"))
    reviewed = workflow.run("pull_request", h.pr_payload("opened", number, head))
    gh.set_status(h.REPO, head, "ci", "success")
    green = workflow.run("status", h.status_payload(head, "ci", "success"))

    assert (early.code, reviewed.code, green.code) == (0, 0, 0), early.stderr
    assert "not reviewed yet" in early.summary and early.outputs["decision"] == "none"
    assert reviewed.outputs["decision"] == "approved" and len(_quorum_reviews(gh, number)) == 1
    assert gh.merged(h.REPO, number) and gh.pull(h.REPO, number).merge_sha_sent == head
    assert script.calls == 2


def test_a_blocker_stays_open_across_runs_until_a_push_changes_its_lines(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    workflow.env.update(QUORUM_MERGE__ENABLED="true")
    script.verdicts = ["request_changes", "approve"]
    number, blocked = _open(gh)
    workflow.run("pull_request", h.pr_payload("opened", number, blocked))
    untouched = gh.push_branch(h.REPO, "feature", {"NOTES.md": "mean() is fine as it is\n"}, "notes")

    amnesia = workflow.run("pull_request", h.pr_payload("synchronize", number, untouched))
    merged_then = gh.merged(h.REPO, number)
    fixed = gh.push_branch(h.REPO, "feature", {"calc.py": h.FIXED_CALC}, "guard the empty case")
    resolved = workflow.run("pull_request", h.pr_payload("synchronize", number, fixed))

    assert amnesia.code == 0, amnesia.stderr
    assert not merged_then and amnesia.outputs["decision"] == "changes_requested"
    assert resolved.outputs["decision"] == "merged", resolved.stderr
    assert gh.pull(h.REPO, number).merge_sha_sent == fixed


def test_a_re_run_of_a_command_event_does_not_act_on_the_command_again(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    gh.set_permission(h.REPO, "maria", "write")
    number, head = _open(gh)
    workflow.run("pull_request", h.pr_payload("opened", number, head))
    comment = h.comment_payload(number, "maria", "/quorum review")

    first = workflow.run("issue_comment", comment)
    calls_after_first = script.calls
    again = workflow.run("issue_comment", comment, GITHUB_RUN_ATTEMPT="2")

    assert (first.code, again.code) == (0, 0), again.stderr
    assert calls_after_first == 4  # the command reviewed the head again
    assert script.calls == 4  # the re-run knew the comment was handled
    assert len([c for c in gh.comments(h.REPO, number) if "@maria" in c.body]) == 1
    # The head already had Quorum's success: the new approval set it pending at once, and only the
    # merge gate set it to success again (no earlier success stands for a decision it did not see).
    assert [s.state for s in gh.statuses(h.REPO, head) if s.context == "quorum"] == [
        "success", "pending", "success"
    ]  # fmt: skip


@pytest.mark.redis
@pytest.mark.parametrize("coordination", ["redis", "memory"])
def test_with_redis_the_repository_s_daily_cap_holds_across_runs(
    world, redis_url: str, coordination: str
) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    script.usage = (1500, 500)  # 0.0025 USD an answer: one review (two rounds) spends 0.005
    workflow.env.update(QUORUM_BUDGET__PER_REPO_DAILY_USD="0.009")
    if coordination == "redis":
        workflow.env.update(QUORUM_REDIS__URL=redis_url, QUORUM_REDIS__KEY_PREFIX="action-test")
    number, head = _open(gh)
    first = workflow.run("pull_request", h.pr_payload("opened", number, head))
    newer = gh.push_branch(h.REPO, "feature", {"calc.py": h.FIXED_CALC}, "guard the empty case")

    second = workflow.run("pull_request", h.pr_payload("synchronize", number, newer))

    assert (first.code, first.outputs["decision"]) == (0, "approved"), first.stderr
    if coordination == "redis":  # the first run's spend counts: the next review does not fit today
        assert second.outputs["decision"] == "escalated" and "budget_exceeded" in second.summary
        assert script.calls == 2
    else:  # each run starts from nothing: documented, and why Redis is the way to hold daily caps
        assert second.outputs["decision"] == "approved" and script.calls == 4


def test_a_shallow_checkout_without_the_head_is_completed_from_its_origin(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    number, head = _open(gh)

    run = workflow.run("pull_request", h.pr_payload("opened", number, head), checkout_depth=1)

    assert run.code == 0, run.stderr
    assert run.outputs["decision"] == "approved" and script.calls == 2
    assert [r.commit_id for r in _quorum_reviews(gh, number)] == [head]
    # No clone: the review's mirror borrows the checkout's objects and holds none of its own.
    runner = workflow.tmp / "runner-0"
    (mirror,) = (runner / "temp" / "quorum" / "mirrors").glob("*.git")
    borrowed = (mirror / "objects" / "info" / "alternates").read_text().strip()
    assert borrowed == str((runner / "workspace" / ".git" / "objects").resolve())
    assert not [p for p in (mirror / "objects").rglob("*") if p.is_file() and p.parent.name != "info"]


def test_with_an_app_s_installation_token_its_own_login_is_how_quorum_knows_its_reviews(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    token = gh.issue_installation_token()  # as actions/create-github-app-token would hand the job
    number, head = _open(gh)
    payload = h.pr_payload("opened", number, head)

    first = workflow.run("pull_request", payload, token=token, INPUT_BOT_LOGIN=gh.bot_login)
    again = workflow.run("pull_request", payload, token=token, INPUT_BOT_LOGIN=gh.bot_login)

    assert (first.code, again.code) == (0, 0), first.stderr
    reviews = _quorum_reviews(gh, number)
    assert [(r.user, r.state) for r in reviews] == [(gh.bot_login, "APPROVED")]
    assert script.calls == 2 and again.outputs["decision"] == "approved"


def test_outside_a_workflow_run_the_command_names_what_is_missing(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "GITHUB_", "RUNNER_"))}

    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "action"], env=clean, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 2
    assert "runs inside a GitHub Actions job" in done.stderr and "GITHUB_EVENT_NAME: not set" in done.stderr


def test_a_maintainer_s_merge_command_holds_for_a_later_checks_run_on_the_same_head(world) -> None:  # type: ignore[no-untyped-def]
    workflow, script = world
    gh = workflow.gh
    workflow.env.update(QUORUM_MERGE__ENABLED="true", QUORUM_MERGE__REQUIRED_CHECKS='["ci"]')
    gh.set_permission(h.REPO, "maria", "write")
    gh.set_contributors(h.REPO, 50)  # past the threshold: a maintainer must approve the head
    number, head = _open(gh)
    gh.set_check(h.REPO, head, "ci", status="in_progress", conclusion=None)
    workflow.run("pull_request", h.pr_payload("opened", number, head))

    command = workflow.run("issue_comment", h.comment_payload(number, "maria", "/quorum merge"))
    merged_before = gh.merged(h.REPO, number)
    gh.set_check(h.REPO, head, "ci", conclusion="success")
    checks = workflow.run("check_suite", h.check_suite_payload(head, number))

    assert (command.code, checks.code) == (0, 0), checks.stderr
    assert not merged_before  # the checks were still running when the maintainer asked
    assert gh.merged(h.REPO, number) and gh.pull(h.REPO, number).merge_sha_sent == head
    assert script.calls == 2
