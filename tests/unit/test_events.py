"""Webhook signatures, payload → domain event over every sample, `/quorum` commands, malformed payloads."""

from __future__ import annotations

import ast
import hashlib
import hmac
import sys
from pathlib import Path

import pytest

from bot import events
from bot.errors import InputError
from tests.support import webhooks
from tests.support.webhooks import DELETE, event_of, load_sample

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
NEW_HEAD = "34c5c7793cb3b279e22454cb6750c80560547b3a"
REPO = "octo-org/hello-world"

EXPECTED: dict[str, events.Event | None] = {
    "pull_request.opened": events.PullRequestChanged(
        REPO, 42, HEAD, "opened", "mona", False, "mona", False, "main"
    ),
    "pull_request.synchronize": events.PullRequestChanged(
        REPO, 42, NEW_HEAD, "synchronize", "mona", False, "mona", False, "main"
    ),
    "pull_request.reopened": events.PullRequestChanged(
        REPO, 42, HEAD, "reopened", "hubot-maintainer", False, "mona", False, "main"
    ),
    "pull_request.ready_for_review": events.PullRequestChanged(
        REPO, 42, HEAD, "ready_for_review", "mona", False, "mona", False, "main"
    ),
    "pull_request.edited-base": events.PullRequestChanged(
        REPO, 42, HEAD, "edited", "hubot-maintainer", False, "mona", False, "release-2.x"
    ),
    "pull_request.edited-title": None,
    "pull_request.closed-merged": events.PullRequestClosed(REPO, 42, True, "hubot-maintainer"),
    "pull_request.closed-unmerged": events.PullRequestClosed(REPO, 42, False, "hubot-maintainer"),
    "issue_comment.created-command": events.CommandIssued(
        REPO,
        42,
        "hubot-maintainer",
        events.Command(events.Verb.MERGE, (), "/quorum merge"),
        1514062234,
        1772452800.0,  # 2026-03-02T12:00:00Z, the comment's time on GitHub's clock
    ),
    "issue_comment.created-issue": None,
    "issue_comment.created-bot": None,
    "pull_request_review.submitted-approved": events.Reviewed(REPO, 42, "hubot-maintainer", "approved", HEAD),
    "check_suite.completed": events.ChecksChanged(REPO, HEAD, (42,), "ci-runner"),
    "check_run.completed": events.ChecksChanged(REPO, HEAD, (42,), "ci-runner"),
    "status": events.ChecksChanged(REPO, HEAD, (), "ci/legacy"),
    "installation.created": events.InstallationChanged(
        "created", ("octo-org/hello-world", "octo-org/docs"), (), 2311213
    ),
    "installation_repositories.added": events.InstallationChanged("added", ("octo-org/cli",), (), 2311213),
    "ping": events.Ping("Design for failure.", 109948940),
}


def test_every_sample_has_an_expectation():
    assert set(webhooks.sample_names()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_parses_to_its_event(name):
    payload = load_sample(name)

    event = events.parse_event(event_of(name), payload)

    assert event == EXPECTED[name]


# -- signatures ---------------------------------------------------------------------------------------

# GitHub's documented test vector (docs: Validating webhook deliveries).
DOC_SECRET = b"It's a Secret to Everybody"
DOC_BODY = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_signature_matches_githubs_test_vector():
    assert events.verify_signature(DOC_SECRET, DOC_BODY, DOC_SIGNATURE)
    assert webhooks.sign(DOC_SECRET, DOC_BODY) == DOC_SIGNATURE


def test_signature_in_upper_case_hex_is_accepted():
    assert events.verify_signature(DOC_SECRET, DOC_BODY, DOC_SIGNATURE.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # no prefix
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",  # one digit short
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",  # wrong digest
        "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # not hex
        "sha1=" + hmac.new(DOC_SECRET, DOC_BODY, hashlib.sha1).hexdigest(),  # legacy algorithm
        "sha512=" + hmac.new(DOC_SECRET, DOC_BODY, hashlib.sha512).hexdigest(),
    ],
    ids=["missing", "empty", "no-digest", "no-prefix", "short", "wrong", "not-hex", "sha1", "sha512"],
)
def test_bad_or_missing_signatures_are_refused(header):
    assert not events.verify_signature(DOC_SECRET, DOC_BODY, header)


def test_signature_over_another_body_or_secret_is_refused():
    assert not events.verify_signature(DOC_SECRET, DOC_BODY + b" ", DOC_SIGNATURE)
    assert not events.verify_signature(b"another secret", DOC_BODY, DOC_SIGNATURE)


def test_an_empty_secret_verifies_nothing():
    assert not events.verify_signature(b"", DOC_BODY, webhooks.sign(b"", DOC_BODY))


# -- commands -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "verb", "args"),
    [
        ("/quorum review", events.Verb.REVIEW, ()),
        ("/quorum pause", events.Verb.PAUSE, ()),
        ("/quorum resume", events.Verb.RESUME, ()),
        ("/quorum merge", events.Verb.MERGE, ()),
        ("/quorum status", events.Verb.STATUS, ()),
        (
            "/quorum escalate needs a security review",
            events.Verb.ESCALATE,
            ("needs", "a", "security", "review"),
        ),
        ("/Quorum MERGE", events.Verb.MERGE, ()),
        ("  /quorum   merge  ", events.Verb.MERGE, ()),
        ("Thanks for the fix!\r\n\r\n/quorum merge\r\nCheers", events.Verb.MERGE, ()),
        ("/quorum review\n/quorum merge", events.Verb.REVIEW, ()),
    ],
)
def test_command_lines_are_recognised(body, verb, args):
    command = events.parse_command(body)

    assert command is not None
    assert (command.verb, command.args) == (verb, args)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Looks good",
        "please do not /quorum merge yet",  # not at the start of a line
        "`/quorum merge`",  # inline code
        "> /quorum merge\n\nWhy was this merged?",  # a quoted reply
        "```\n/quorum merge\n```",  # a fenced code block
        "~~~text\n/quorum merge\n~~~",
        "    /quorum merge",  # an indented code block
        "/quorummerge",
        "/quorum-merge",
    ],
)
def test_text_that_is_not_a_command_is_ignored(body):
    assert events.parse_command(body) is None


def test_a_command_after_a_closed_code_block_counts():
    command = events.parse_command("```\n/quorum pause\n```\n/quorum status")

    assert command is not None and command.verb is events.Verb.STATUS


@pytest.mark.parametrize(
    ("body", "raw"), [("/quorum deploy now", "/quorum deploy now"), ("/quorum", "/quorum")]
)
def test_unknown_or_missing_verbs_become_unknown_commands(body, raw):
    command = events.parse_command(body)

    assert command is not None
    assert command.verb == "unknown"
    assert command.raw == raw


def test_raw_text_of_a_command_is_capped():
    command = events.parse_command("/quorum " + "x" * 5000)

    assert command is not None and len(command.raw) <= 200


def test_a_comment_without_a_command_gives_no_event():
    payload = load_sample("issue_comment.created-command", comment__body="Nice work")

    assert events.parse_event("issue_comment", payload) is None


def test_an_unknown_verb_in_a_pr_comment_is_still_an_event():
    payload = load_sample("issue_comment.created-command", comment__body="/quorum ship-it")

    event = events.parse_event("issue_comment", payload)

    assert isinstance(event, events.CommandIssued)
    assert event.command.verb is events.Verb.UNKNOWN


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_or_deleted_comments_are_ignored(action):
    payload = load_sample("issue_comment.created-command", action=action)

    assert events.parse_event("issue_comment", payload) is None


def test_a_comment_by_a_user_whose_login_says_bot_is_ignored():
    payload = load_sample(
        "issue_comment.created-command", comment__user__login="deploy[bot]", comment__user__type="User"
    )

    assert events.parse_event("issue_comment", payload) is None


# -- other actions and variants -----------------------------------------------------------------------


def test_converted_to_draft_is_a_change_with_draft_set():
    payload = load_sample("pull_request.opened", action="converted_to_draft", pull_request__draft=True)

    event = events.parse_event("pull_request", payload)

    assert isinstance(event, events.PullRequestChanged)
    assert (event.action, event.draft) == ("converted_to_draft", True)


def test_a_bot_authored_pr_says_so():
    payload = load_sample("pull_request.opened", pull_request__user__type="Bot")

    event = events.parse_event("pull_request", payload)

    assert isinstance(event, events.PullRequestChanged) and event.author_is_bot


def test_a_deleted_fork_does_not_break_parsing():
    payload = load_sample("pull_request.synchronize", pull_request__head__repo=None)

    assert isinstance(events.parse_event("pull_request", payload), events.PullRequestChanged)


def test_a_dismissed_review_is_reported_with_its_state():
    payload = load_sample(
        "pull_request_review.submitted-approved", action="dismissed", review__state="dismissed"
    )

    event = events.parse_event("pull_request_review", payload)

    assert isinstance(event, events.Reviewed) and event.state == "dismissed"


def test_a_bots_review_is_an_event_too_so_a_late_write_brings_the_pr_back():
    payload = load_sample("pull_request_review.submitted-approved", review__user__type="Bot")

    event = events.parse_event("pull_request_review", payload)

    assert isinstance(event, events.Reviewed) and event.number == 42


def test_a_check_run_on_a_fork_push_has_no_pr_numbers():
    payload = load_sample("check_run.completed", check_run__pull_requests=[])

    event = events.parse_event("check_run", payload)

    assert isinstance(event, events.ChecksChanged) and event.pr_numbers == ()


def test_a_deleted_installation_removes_its_repositories():
    payload = load_sample("installation.created", action="deleted")

    event = events.parse_event("installation", payload)

    assert isinstance(event, events.InstallationChanged)
    assert event.repos_added == () and event.repos_removed == ("octo-org/hello-world", "octo-org/docs")


@pytest.mark.parametrize(
    ("event_name", "name", "action"),
    [
        ("pull_request", "pull_request.opened", "labeled"),
        ("pull_request", "pull_request.opened", "assigned"),
        ("pull_request_review", "pull_request_review.submitted-approved", "edited"),
        ("check_run", "check_run.completed", "created"),
        ("check_suite", "check_suite.completed", "requested"),
        ("installation_repositories", "installation_repositories.added", "renamed"),
    ],
)
def test_actions_quorum_does_not_act_on_give_none(event_name, name, action):
    assert events.parse_event(event_name, load_sample(name, action=action)) is None


@pytest.mark.parametrize("event_name", ["push", "star", "workflow_run", "issues", "fork"])
def test_events_quorum_does_not_act_on_give_none(event_name):
    assert events.parse_event(event_name, {"action": "created"}) is None
    assert not events.handles(event_name)


# -- malformed payloads -------------------------------------------------------------------------------

SECRETISH = "ghp_do-not-echo-this-value"


@pytest.mark.parametrize(
    ("name", "override", "field"),
    [
        ("pull_request.opened", {"pull_request": DELETE}, "pull_request.pull_request"),
        ("pull_request.opened", {"pull_request__number": SECRETISH}, "pull_request.pull_request.number"),
        ("pull_request.opened", {"pull_request__number": True}, "pull_request.pull_request.number"),
        ("pull_request.opened", {"pull_request__head__sha": 7}, "pull_request.pull_request.head.sha"),
        ("pull_request.opened", {"pull_request__draft": SECRETISH}, "pull_request.pull_request.draft"),
        ("pull_request.opened", {"repository": SECRETISH}, "pull_request.repository"),
        ("pull_request.opened", {"action": 3}, "pull_request.action"),
        ("pull_request.closed-merged", {"sender": DELETE}, "pull_request.sender"),
        ("issue_comment.created-command", {"comment__id": SECRETISH}, "issue_comment.comment.id"),
        ("pull_request_review.submitted-approved", {"review__commit_id": None}, "review.commit_id"),
        ("check_run.completed", {"check_run__pull_requests": SECRETISH}, "check_run.pull_requests"),
        ("check_suite.completed", {"check_suite__head_sha": DELETE}, "check_suite.head_sha"),
        ("status", {"sha": DELETE}, "status.sha"),
        ("installation.created", {"repositories": [SECRETISH]}, "installation.repositories[0]"),
        ("ping", {"hook_id": SECRETISH}, "ping.hook_id"),
    ],
)
def test_malformed_payloads_raise_input_error_naming_the_field(name, override, field):
    payload = load_sample(name, **override)

    with pytest.raises(InputError) as raised:
        events.parse_event(event_of(name), payload)

    assert field in str(raised.value)
    assert SECRETISH not in str(raised.value)


def test_a_payload_that_is_not_an_object_is_malformed():
    with pytest.raises(InputError):
        events.parse_event("pull_request", ["not", "an", "object"])  # type: ignore[arg-type]


def test_summary_reads_action_repo_and_pr_leniently():
    assert events.summarize(load_sample("issue_comment.created-command")) == events.Summary(
        "created", REPO, 42
    )
    assert events.summarize({"action": 5, "repository": "x", "pull_request": {"number": "1"}}) == (
        events.Summary()
    )


def test_the_events_module_imports_only_the_standard_library_and_errors():
    tree = ast.parse(Path(events.__file__).read_text("utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names} == {"bot.errors"}


@pytest.mark.parametrize("created_at", [None, "yesterday", "2026-03-02T12:00:00", 42])
def test_a_command_without_a_readable_zoned_time_has_none(created_at):
    payload = load_sample("issue_comment.created-command", comment__created_at=created_at)

    event = events.parse_event("issue_comment", payload)

    assert isinstance(event, events.CommandIssued) and event.created_at == 0.0
