"""The merge policy: merge only an approved, unmoved, green head; humans for protected, large or busy ones."""

from __future__ import annotations

import dataclasses
import fnmatch

import pytest

from bot import forge
from bot.domain import FileDiff, FileStatus
from config.sections import PROTECTED_PATHS
from guardrails import globs, review_coverage
from guardrails import merge_policy as mp
from guardrails.merge_policy import Blocker, ChangedPath, MergeAction

HEAD = "a" * 40
OLD = "b" * 40
GREEN = forge.ChecksReport(forge.ChecksState.GREEN)
PENDING = forge.ChecksReport(forge.ChecksState.PENDING, missing=("ci/test",))
FAILED = forge.ChecksReport(forge.ChecksState.FAILED, failed=("lint", "ci/test"))

GOOD = mp.MergeFacts(
    state="approved",
    approved_sha=HEAD,
    head_sha=HEAD,
    approvals=2,
    min_approvals=2,
    checks=GREEN,
    checks_sha=HEAD,
    merge_enabled=True,
    changed_paths=(ChangedPath("src/app.py"),),
    changed_lines=40,
    protected_paths=PROTECTED_PATHS,
    max_changed_lines=1000,
    contributors=3,
    contributors_threshold=10,
    human_approved=False,
    rejected_by=(),
    mergeable_state="clean",
    seen=review_coverage.Seen(HEAD, frozenset({"src/app.py"})),
)


def facts(**changes: object) -> mp.MergeFacts:
    """GOOD with `changes`; the rounds saw every changed path unless `seen` is given."""
    out = dataclasses.replace(GOOD, **changes)  # type: ignore[arg-type]
    if "seen" not in changes:
        names = frozenset(n for c in out.changed_paths for n in c.names)
        out = dataclasses.replace(out, seen=review_coverage.Seen(HEAD, names))
    return out


def test_merges_an_approved_green_unmoved_head():
    verdict = mp.decide(GOOD)

    assert verdict == mp.MergeVerdict(MergeAction.MERGE, (), ())


@pytest.mark.parametrize(
    ("changes", "action", "blockers"),
    [
        ({"state": "in_review"}, MergeAction.REFUSE, {Blocker.NOT_APPROVED}),
        ({"state": "escalated"}, MergeAction.REFUSE, {Blocker.NOT_APPROVED}),
        ({"approved_sha": OLD}, MergeAction.REFUSE, {Blocker.HEAD_MOVED}),
        ({"approved_sha": ""}, MergeAction.REFUSE, {Blocker.HEAD_MOVED}),
        ({"approvals": 1}, MergeAction.REFUSE, {Blocker.TOO_FEW_APPROVALS}),
        ({"approvals": 0, "min_approvals": 0}, MergeAction.REFUSE, {Blocker.TOO_FEW_APPROVALS}),
        ({"checks": FAILED}, MergeAction.REFUSE, {Blocker.CHECKS_FAILED}),
        ({"checks_sha": OLD}, MergeAction.REFUSE, {Blocker.CHECKS_ON_OTHER_SHA}),
        ({"merge_enabled": False}, MergeAction.REFUSE, {Blocker.MERGING_OFF}),
        ({"checks": PENDING}, MergeAction.WAIT, {Blocker.CHECKS_PENDING}),
        ({"changed_lines": 1001}, MergeAction.NEEDS_HUMAN, {Blocker.TOO_LARGE}),
        ({"contributors": 11}, MergeAction.NEEDS_HUMAN, {Blocker.MANY_CONTRIBUTORS}),
        (
            {"changed_paths": (ChangedPath(".github/workflows/ci.yml"),)},
            MergeAction.NEEDS_HUMAN,
            {Blocker.PROTECTED_PATHS},
        ),
        ({"tripwire": True}, MergeAction.NEEDS_HUMAN, {Blocker.TRIPWIRE}),
        ({"tripwire": True, "human_approved": True}, MergeAction.MERGE, set()),
        ({"changed_lines": 1000, "contributors": 10}, MergeAction.MERGE, set()),
        ({"rejected_by": ("maria",)}, MergeAction.REFUSE, {Blocker.CHANGES_REQUESTED}),
        (
            {"rejected_by": ("maria",), "human_approved": True},
            MergeAction.REFUSE,
            {Blocker.CHANGES_REQUESTED},
        ),
        ({"mergeable_state": "dirty"}, MergeAction.REFUSE, {Blocker.NOT_MERGEABLE}),
        ({"mergeable_state": "behind"}, MergeAction.REFUSE, {Blocker.NOT_MERGEABLE}),
        ({"mergeable_state": "draft"}, MergeAction.REFUSE, {Blocker.NOT_MERGEABLE}),
        ({"mergeable_state": "blocked"}, MergeAction.REFUSE, {Blocker.NOT_MERGEABLE}),
        ({"mergeable_state": "something_new"}, MergeAction.REFUSE, {Blocker.NOT_MERGEABLE}),
        ({"mergeable_state": "blocked", "checks": PENDING}, MergeAction.WAIT, {Blocker.CHECKS_PENDING}),
        ({"mergeable_state": "unknown"}, MergeAction.WAIT, {Blocker.MERGEABILITY_PENDING}),
        ({"mergeable_state": ""}, MergeAction.WAIT, {Blocker.MERGEABILITY_PENDING}),
        ({"mergeable_state": "unstable"}, MergeAction.MERGE, set()),
        ({"mergeable_state": "has_hooks"}, MergeAction.MERGE, set()),
        ({"changed_lines": 5000, "human_approved": True}, MergeAction.MERGE, set()),
        (
            {"checks": PENDING, "changed_lines": 5000},
            MergeAction.WAIT,
            {Blocker.CHECKS_PENDING, Blocker.TOO_LARGE},
        ),
        (
            {"checks": FAILED, "contributors": 50},
            MergeAction.REFUSE,
            {Blocker.CHECKS_FAILED, Blocker.MANY_CONTRIBUTORS},
        ),
    ],
)
def test_decision_table(changes, action, blockers):
    verdict = mp.decide(facts(**changes))

    assert verdict.action is action
    assert set(verdict.blockers) == blockers


def test_every_reason_is_reported_not_only_the_first():
    everything_wrong = facts(
        state="changes_requested",
        approved_sha=OLD,
        approvals=0,
        checks=FAILED,
        merge_enabled=False,
        changed_paths=(ChangedPath("pyproject.toml"),),
        changed_lines=9999,
        contributors=99,
        rejected_by=("maria", "omar"),
        mergeable_state="dirty",
        tripwire=True,
        seen=None,
    )

    verdict = mp.decide(everything_wrong)

    assert verdict.action is MergeAction.REFUSE
    waits = {Blocker.CHECKS_PENDING, Blocker.CHECKS_ON_OTHER_SHA, Blocker.MERGEABILITY_PENDING}
    assert set(verdict.blockers) == set(Blocker) - waits
    assert "@maria, @omar" in next(r.text for r in verdict.reasons if r.blocker is Blocker.CHANGES_REQUESTED)
    assert len(verdict.needs_human_because) == 5
    assert "lint, ci/test" in next(r.text for r in verdict.reasons if r.blocker is Blocker.CHECKS_FAILED)


def test_a_human_approval_lifts_only_the_human_conditions_but_they_stay_on_record():
    verdict = mp.decide(facts(changed_lines=5000, contributors=50, human_approved=True, approvals=1))

    assert verdict.action is MergeAction.REFUSE
    assert verdict.blockers == (Blocker.TOO_FEW_APPROVALS,)
    assert len(verdict.needs_human_because) == 2


def test_needs_human_names_the_protected_paths_touched():
    paths = (ChangedPath("src/a.py"), ChangedPath("db/migrations/0003.sql"), ChangedPath("web/package.json"))

    verdict = mp.decide(facts(changed_paths=paths))

    assert verdict.action is MergeAction.NEEDS_HUMAN
    (because,) = verdict.needs_human_because
    assert "`db/migrations/0003.sql`" in because and "`web/package.json`" in because
    assert "src/a.py" not in because


def test_many_protected_paths_are_named_up_to_a_limit():
    paths = tuple(ChangedPath(f"m{i}/migrations/x.sql") for i in range(14))

    (because,) = mp.decide(facts(changed_paths=paths)).needs_human_because

    assert "and 4 more" in because and because.count("`") == 20


def test_a_rename_out_of_a_protected_path_is_protected():
    renamed = ChangedPath("ci/old-workflow.yml", previous=".github/workflows/deploy.yml")

    assert mp.protected_touched([renamed], PROTECTED_PATHS) == (".github/workflows/deploy.yml",)


def test_changed_paths_keep_the_old_path_of_a_rename():
    diffs = [
        FileDiff("a.py", "b.py", FileStatus.RENAMED),
        FileDiff(None, "new.py", FileStatus.ADDED),
        FileDiff("gone.py", None, FileStatus.DELETED),
        FileDiff("same.py", "same.py", FileStatus.MODIFIED),
    ]

    assert mp.changed_paths(diffs) == (
        ChangedPath("b.py", "a.py"),
        ChangedPath("new.py"),
        ChangedPath("gone.py"),
        ChangedPath("same.py"),
    )


@pytest.mark.parametrize(
    ("glob", "path", "expected"),
    [
        ("**/migrations/**", "migrations/0001.sql", True),
        ("**/migrations/**", "app/db/migrations/0001.sql", True),
        ("**/migrations/**", "app/migrations.py", False),
        (".github/workflows/**", ".github/workflows/ci.yml", True),
        (".github/workflows/**", ".github/workflows/sub/ci.yml", True),
        (".github/workflows/*", ".github/workflows/sub/ci.yml", True),  # `*` matched the directory `sub`
        (".github/workflows", ".github/workflows/ci.yml", True),  # a directory covers its contents
        (".github/workflows/**", "x/.github/workflows/ci.yml", False),  # a glob with / is anchored
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/pkg/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/pkg/deep/a.py", True),
        ("CODEOWNERS", "CODEOWNERS", True),
        ("setup.py", "pkg/setup.py", True),  # no slash: any depth
        ("setup.py", "pkg/setup.pyc", False),
        ("**/requirements*.txt", "requirements-dev.txt", True),
        ("**/requirements*.txt", "deps/requirements.txt", True),
        ("**/*.lock", "Cargo.lock", True),
        ("**/*.lock", "a/b/yarn.lock", True),
        ("**/build.gradle*", "app/build.gradle.kts", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("a.b", "aXb", False),  # dots are literal
        ("/pyproject.toml", "pyproject.toml", True),
    ],
)
def test_glob_table(glob, path, expected):
    assert globs.matches_any(path, [glob]) is expected


def test_fnmatch_alone_would_get_these_wrong():
    # `*` crosses directories in fnmatch, and `**/x` needs a directory: the two errors the matcher avoids.
    assert fnmatch.fnmatch("src/pkg/a.py", "src/*.py") and not globs.matches_any("src/pkg/a.py", ["src/*.py"])
    assert not fnmatch.fnmatch("migrations/1.sql", "**/migrations/**")
    assert globs.matches_any("migrations/1.sql", ["**/migrations/**"])


def review(author, state, sha=HEAD, *, own=False):
    return forge.PostedReview(1, author, state, sha, "", author_is_self=own)


@pytest.mark.parametrize(
    ("reviews", "commands", "expected"),
    [
        ([review("alice", "APPROVED")], (), "alice"),
        ([review("Alice", "APPROVED")], (), "Alice"),  # logins ignore case
        ([review("mallory", "APPROVED")], (), None),  # no write access
        ([review("alice", "APPROVED", OLD)], (), None),  # an older head
        ([review("quorum", "APPROVED", own=True)], (), None),
        ([review("alice", "APPROVED"), review("alice", "CHANGES_REQUESTED")], (), None),
        ([review("alice", "APPROVED"), review("alice", "DISMISSED")], (), None),
        ([review("alice", "APPROVED"), review("alice", "COMMENTED")], (), "alice"),
        ([review("alice", "CHANGES_REQUESTED"), review("alice", "APPROVED")], (), "alice"),
        # the latest stance counts, whatever commit it was given on
        ([review("alice", "APPROVED"), review("alice", "CHANGES_REQUESTED", OLD)], (), None),
        ([review("alice", "APPROVED", OLD), review("alice", "COMMENTED")], (), None),
        ([], ("mallory", "bob"), "bob"),
        ([], ("mallory",), None),
    ],
)
def test_human_approval_table(reviews, commands, expected):
    assert mp.human_approval(reviews, HEAD, {"alice", "bob"}, merge_command_by=commands) == expected


@pytest.mark.parametrize(
    ("outcome", "attempt", "step"),
    [
        (forge.MergeOutcome.MERGED, 1, mp.RetryStep(mp.MergeNext.DONE, 0.0, "merged")),
        (
            forge.MergeOutcome.BASE_MODIFIED,
            1,
            mp.RetryStep(mp.MergeNext.RETRY, 4.0, "the base branch was modified"),
        ),
        (
            forge.MergeOutcome.BASE_MODIFIED,
            2,
            mp.RetryStep(mp.MergeNext.RETRY, 8.0, "the base branch was modified"),
        ),
    ],
)
def test_retry_plan_exact_steps(outcome, attempt, step):
    assert mp.retry_plan(outcome, attempt) == step


@pytest.mark.parametrize(
    ("outcome", "attempt", "next_step"),
    [
        (forge.MergeOutcome.BASE_MODIFIED, 3, mp.MergeNext.ESCALATE),
        (forge.MergeOutcome.BASE_MODIFIED, 0, mp.MergeNext.ESCALATE),
        (forge.MergeOutcome.STALE_HEAD, 1, mp.MergeNext.BACK_TO_REVIEW),
        (forge.MergeOutcome.STALE_HEAD, 2, mp.MergeNext.BACK_TO_REVIEW),
        (forge.MergeOutcome.REFUSED, 1, mp.MergeNext.ESCALATE),
    ],
)
def test_retry_plan_table(outcome, attempt, next_step):
    step = mp.retry_plan(outcome, attempt)

    assert step.next is next_step and step.delay_s == 0.0 and step.why


@pytest.mark.parametrize(
    ("reviews", "expected"),
    [
        ([review("alice", "CHANGES_REQUESTED")], ("alice",)),
        ([review("alice", "CHANGES_REQUESTED", OLD)], ("alice",)),  # a push does not lift it
        ([review("alice", "CHANGES_REQUESTED"), review("alice", "COMMENTED")], ("alice",)),
        ([review("alice", "CHANGES_REQUESTED"), review("alice", "APPROVED")], ()),
        ([review("alice", "CHANGES_REQUESTED"), review("alice", "DISMISSED")], ()),
        ([review("alice", "CHANGES_REQUESTED"), review("bob", "APPROVED")], ("alice",)),  # only they lift it
        ([review("mallory", "CHANGES_REQUESTED")], ()),  # no write access
        ([review("quorum", "CHANGES_REQUESTED", own=True)], ()),
        ([review("Bob", "CHANGES_REQUESTED"), review("alice", "CHANGES_REQUESTED")], ("Bob", "alice")),
    ],
)
def test_human_rejections_table(reviews, expected):
    assert mp.human_rejections(reviews, {"alice", "bob"}) == expected


T0 = 1_800_000_000.0


def push(sha, at, by="mallory"):
    return forge.HeadPush(sha, at, by)


@pytest.mark.parametrize(
    ("comment_at", "pushes", "approves"),
    [
        (T0 + 60, [push(HEAD, T0)], True),
        (T0 + 60, [push(HEAD, T0), push(OLD, T0 - 60)], True),
        (T0 - 10, [push(HEAD, T0)], False),  # written before the head was pushed (a late delivery)
        (T0, [push(HEAD, T0)], False),  # the same second: the order is unknown
        (T0 + 1, [push(HEAD, T0)], False),  # within the margin
        (T0 + 2, [push(HEAD, T0)], True),
        (T0 + 10, [push(HEAD, T0 + 30), push(OLD, T0), push(HEAD, T0 - 30)], False),  # HEAD again after
        (T0 + 60, [push(OLD, T0)], False),  # the log's newest update is not the PR's head
        (T0 + 60, [], False),
        (T0 + 60, None, False),  # the log could not be read
        (0.0, [push(HEAD, T0)], False),  # no comment time
    ],
)
def test_command_approval_orders_the_comment_after_the_heads_push_or_refuses(comment_at, pushes, approves):
    why = mp.command_approval(comment_at, HEAD, pushes, by="maria", author="mallory")

    assert (why == "") is approves
    if not approves:
        assert why


def test_a_refused_command_says_when_the_head_was_pushed():
    why = mp.command_approval(T0 - 10, HEAD, [push(HEAD, T0)], by="maria", author="mallory")

    assert HEAD[:12] in why and "2027-01-15T08:00:00Z" in why


@pytest.mark.parametrize(
    ("by", "author", "pusher", "refused_because"),
    [
        ("Mallory", "mallory", "mallory", "opened this pull request"),  # the author approving their own
        ("maria", "mallory", "Maria", "pushed the head"),  # a writer who pushed to someone's PR
        ("maria", "mallory", "", "who pushed the head"),  # unknown pusher: fails closed
        ("maria", "mallory", "mallory", ""),  # someone else: approves
    ],
)
def test_the_author_and_the_last_pusher_cannot_approve_with_a_command(by, author, pusher, refused_because):
    why = mp.command_approval(T0 + 60, HEAD, [push(HEAD, T0, pusher)], by=by, author=author)

    assert (why == "") is (refused_because == "")
    assert refused_because in why


def _unreviewed(verdict: mp.MergeVerdict) -> str:
    return next(r.text for r in verdict.reasons if r.blocker is Blocker.UNREVIEWED)


def test_a_path_the_rounds_skipped_needs_a_human_and_is_named_with_why():
    paths = (ChangedPath("src/app.py"), ChangedPath("vendor/lib.js"), ChangedPath("deploy.sh"))
    seen = review_coverage.Seen(
        HEAD, frozenset({"src/app.py"}), (("vendor/lib.js", "vendored"), ("deploy.sh", "nul_in_text"))
    )

    verdict = mp.decide(facts(changed_paths=paths, seen=seen))

    assert verdict.action is MergeAction.NEEDS_HUMAN
    assert verdict.blockers == (Blocker.UNREVIEWED,)
    text = _unreviewed(verdict)
    assert "`vendor/lib.js` (vendored)" in text and "`deploy.sh` (nul in text)" in text
    assert "src/app.py" not in text and text.endswith("a maintainer must approve this head")


@pytest.mark.parametrize(
    "seen",
    [None, review_coverage.Seen(OLD, frozenset({"src/app.py"})), review_coverage.Seen(HEAD, frozenset())],
    ids=["unknown", "another-head", "nothing-shown"],
)
def test_what_was_seen_counts_only_for_this_head(seen):
    verdict = mp.decide(facts(seen=seen))

    assert verdict.action is MergeAction.NEEDS_HUMAN
    assert "`src/app.py`" in _unreviewed(verdict)


def test_both_names_of_a_rename_must_have_been_seen():
    renamed = (ChangedPath("docs/x.yml.disabled", previous="notes/x.yml"),)

    seen = review_coverage.Seen(HEAD, frozenset({"docs/x.yml.disabled"}))

    verdict = mp.decide(facts(changed_paths=renamed, seen=seen))

    assert "`notes/x.yml`" in _unreviewed(verdict)


def test_a_human_approval_of_the_head_lifts_the_unreviewed_blocker_but_keeps_it_on_record():
    verdict = mp.decide(facts(seen=None, human_approved=True))

    assert verdict.action is MergeAction.MERGE
    assert any("not reviewed" in why for why in verdict.needs_human_because)


@pytest.mark.parametrize(
    ("link", "target", "protected"),
    [
        ("docs/ci.yml", "../.github/workflows/ci.yml", True),
        ("ci", ".github", True),  # a link to a directory holding protected paths
        ("tools", "app", True),  # app/db/migrate/ may lie below: the link exposes it under another name
        ("docs/a.md", "../README.md", True),  # a file or a directory: the link alone cannot tell
        ("docs/b.md", "/etc/passwd", True),  # leaves the repository
        ("c.md", "../../outside", True),
        ("docs/root", "..", True),  # the repository root holds every protected path
    ],
)
def test_every_changed_symlink_needs_a_human(link, target, protected):
    seen = review_coverage.Seen(HEAD, frozenset({link}), links=((link, target),))

    verdict = mp.decide(facts(changed_paths=(ChangedPath(link),), seen=seen))

    assert (Blocker.PROTECTED_PATHS in verdict.blockers) is protected


@pytest.mark.parametrize(
    "changed",
    [
        ChangedPath("docs/x.yml.disabled", previous=".github/workflows/x.yml"),
        ChangedPath("docs/CODEOWNERS.old", previous="CODEOWNERS"),
        ChangedPath("notes/q.toml", previous=".quorum.toml"),
        ChangedPath(".github/dependabot.yml"),
        ChangedPath(".gitmodules"),
        ChangedPath("app/migrations/0002_add.py"),
        ChangedPath("db/migrate/20260101_add.rb"),
        ChangedPath("alembic/versions/abc_add.py"),
        ChangedPath("src/Api/Migrations/2026_Add.cs"),
        ChangedPath("src/main/resources/db/migration/V2__add.sql"),
        ChangedPath("docker/Dockerfile.prod"),
        ChangedPath("npm-shrinkwrap.json"),
        ChangedPath("tests/conftest.py"),
        ChangedPath(".pre-commit-config.yaml"),
        ChangedPath("Makefile"),
    ],
)
def test_the_default_protected_paths_cover_what_changes_ci_or_production(changed):
    verdict = mp.decide(facts(changed_paths=(changed,)))

    assert Blocker.PROTECTED_PATHS in verdict.blockers


def test_seen_survives_its_json_and_garbage_reads_as_unknown():
    seen = review_coverage.Seen(HEAD, frozenset({"a", "b"}), (("c", "binary"),), (("l", "t"),), ("sub",))

    assert review_coverage.Seen.from_json(seen.to_json()) == seen
    assert review_coverage.Seen.from_json("{not json") is None
    assert review_coverage.Seen.from_json('{"head": "x"}') is None


def test_a_path_the_review_skipped_counts_even_when_the_code_host_did_not_list_it():
    seen = review_coverage.Seen(HEAD, frozenset({"src/app.py"}), (("f3001.py", "too_many_files"),))

    verdict = mp.decide(facts(seen=seen))

    assert "`f3001.py` (too many files)" in _unreviewed(verdict)
