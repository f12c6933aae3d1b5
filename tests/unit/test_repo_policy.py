"""A repository's `.quorum.toml`: parsed without raising, and allowed to tighten the server's policy only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import repo_policy
from config.sections import MergeSettings

FULL = """
instructions = "Prefer small functions."
min_approvals = 3
auto_merge = false
merge_method = "rebase"
required_checks = ["ci/test", "lint"]
protected_paths = ["deploy/**"]
max_changed_lines = 200
ignore_authors = ["renovate[bot]"]
ignore_labels = ["wip"]
review_drafts = false

[paths]
exclude = ["docs/**"]

[[paths.instructions]]
glob = "src/db/**"
text = "Every query must be parameterised."
"""

SECRET = "ghp_TopSecretValue1234567890"


def test_a_full_file_parses_to_its_values():
    load = repo_policy.parse(FULL)

    policy = load.policy
    assert load.ok and load.present
    assert policy.min_approvals == 3 and policy.auto_merge is False and policy.merge_method == "rebase"
    assert policy.required_checks == ["ci/test", "lint"] and policy.protected_paths == ["deploy/**"]
    assert policy.paths.exclude == ["docs/**"]
    assert (policy.paths.instructions[0].glob, policy.paths.instructions[0].text) == (
        "src/db/**",
        "Every query must be parameterised.",
    )


def test_no_file_means_the_defaults_without_problems():
    load = repo_policy.parse(None)

    assert load.ok and not load.present
    assert load.policy == repo_policy.RepoPolicy()


def test_an_empty_file_is_present_and_means_the_defaults():
    load = repo_policy.parse("")

    assert load.ok and load.present and load.policy == repo_policy.RepoPolicy()


def test_invalid_toml_names_the_line_and_falls_back_to_no_merging():
    load = repo_policy.parse('min_approvals = 2\nauto_merge = "yes\n')

    assert not load.ok
    assert "line 2" in load.problems[0] and "not valid TOML" in load.problems[0]
    assert load.policy == repo_policy.FALLBACK and load.policy.auto_merge is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("min_approvals = 0", "min_approvals: Input should be greater than or equal to 1"),
        ("min_approvals = 11", "min_approvals: Input should be less than or equal to 10"),
        ('merge_method = "octopus"', "merge_method: Input should be"),
        ("max_changed_lines = 0", "max_changed_lines: Input should be greater than or equal to 1"),
        ('colour = "blue"', "colour: unknown key"),
        ('[paths]\nexclude = [""]', "paths.exclude[0]: String should have at least 1 character"),
        ('[[paths.instructions]]\nglob = "a/**"', "paths.instructions[0].text: Field required"),
        ('instructions = "' + "x" * 4001 + '"', "instructions: String should have at most 4000 characters"),
        ("protected_paths = 5", "protected_paths: Input should be a valid list"),
    ],
)
def test_invalid_fields_are_named(text, fragment):
    load = repo_policy.parse(text)

    assert not load.ok and load.policy == repo_policy.FALLBACK
    assert any(fragment in problem for problem in load.problems), load.problems


def test_every_bad_field_is_reported_not_only_the_first():
    load = repo_policy.parse('min_approvals = 0\nauto_merge = "maybe"\ncolour = 1')

    assert len(load.problems) == 3


@pytest.mark.parametrize(
    "text",
    [
        f'merge_method = "{SECRET}"',
        f'auto_merge = "{SECRET}"',
        f'min_approvals = "{SECRET}"',
        f'required_checks = "{SECRET}"',
        f'[paths]\nexclude = "{SECRET}"',
        f'instructions = "{SECRET * 200}"',
        f'token = "{SECRET}"',
        f'token = "{SECRET}',
        f'x = "{SECRET}"\nx = 1',
    ],
)
def test_problems_never_repeat_a_value(text):
    load = repo_policy.parse(text)

    assert load.problems
    assert all(SECRET not in problem and "TopSecret" not in problem for problem in load.problems)


def test_a_huge_file_is_refused_before_parsing():
    load = repo_policy.parse("# " + "x" * repo_policy.MAX_FILE_CHARS)

    assert load.problems == (".quorum.toml is larger than 64 KiB",)


SERVER_ON = MergeSettings(enabled=True, required_checks=["build"], max_changed_lines=500, review_drafts=True)
SERVER_OFF = MergeSettings(enabled=False, review_drafts=False)


@pytest.mark.parametrize(
    ("server", "repo_value", "expected"),
    [
        (SERVER_ON, None, True),
        (SERVER_ON, True, True),
        (SERVER_ON, False, False),
        (SERVER_OFF, None, False),
        (SERVER_OFF, True, False),
        (SERVER_OFF, False, False),
    ],
)
def test_auto_merge_may_be_turned_off_never_on(server, repo_value, expected):
    policy = repo_policy.effective(server, 2, repo_policy.RepoPolicy(auto_merge=repo_value))

    assert policy.merge_enabled is expected


@pytest.mark.parametrize(
    ("server", "repo_value", "expected"),
    [
        (SERVER_ON, None, True),
        (SERVER_ON, False, False),
        (SERVER_OFF, True, False),
        (SERVER_OFF, None, False),
    ],
)
def test_drafts_are_reviewed_only_when_both_allow(server, repo_value, expected):
    policy = repo_policy.effective(server, 2, repo_policy.RepoPolicy(review_drafts=repo_value))

    assert policy.review_drafts is expected


@pytest.mark.parametrize(
    ("server_min", "repo_min", "max_rounds", "expected"),
    [
        (2, None, None, 2),
        (2, 1, None, 2),  # lowering is ignored
        (2, 4, None, 4),
        (2, 4, 3, 3),  # never more than the rounds that are run
        (3, 5, 3, 3),
    ],
)
def test_min_approvals_may_be_raised_never_lowered(server_min, repo_min, max_rounds, expected):
    repo = repo_policy.RepoPolicy(min_approvals=repo_min)

    policy = repo_policy.effective(SERVER_ON, server_min, repo, max_rounds=max_rounds)

    assert policy.min_approvals == expected


@pytest.mark.parametrize(("repo_value", "expected"), [(None, 500), (200, 200), (5000, 500)])
def test_max_changed_lines_may_only_be_lowered(repo_value, expected):
    policy = repo_policy.effective(SERVER_ON, 2, repo_policy.RepoPolicy(max_changed_lines=repo_value))

    assert policy.max_changed_lines == expected


def test_lists_are_unions_and_steering_fields_come_from_the_file():
    policy = repo_policy.effective(SERVER_ON, 2, repo_policy.parse(FULL).policy)

    assert policy.required_checks == ("build", "ci/test", "lint")
    assert policy.protected_paths[-1] == "deploy/**"
    assert set(SERVER_ON.protected_paths) <= set(policy.protected_paths)
    assert policy.ignore_labels == ("quorum:skip", "wip") and policy.ignore_authors == ("renovate[bot]",)
    assert policy.merge_method == "rebase" and policy.exclude == ("docs/**",)
    assert policy.path_instructions == (("src/db/**", "Every query must be parameterised."),)
    assert policy.instructions == "Prefer small functions."


def test_ignored_requests_are_noted():
    repo = repo_policy.RepoPolicy(
        auto_merge=True, min_approvals=1, max_changed_lines=9999, review_drafts=True
    )

    notes = repo_policy.effective(SERVER_OFF, 2, repo).notes

    assert len(notes) == 4
    assert any("auto_merge" in n for n in notes) and any("review_drafts" in n for n in notes)


def test_a_repository_adds_to_ignore_lists_ignoring_case():
    repo = repo_policy.RepoPolicy(ignore_authors=["Dependabot"], ignore_labels=["QUORUM:SKIP", "Draft"])
    policy = repo_policy.effective(SERVER_ON, 2, repo)

    assert policy.ignore_labels == ("quorum:skip", "Draft")
    assert policy.ignores("dependabot", []) and policy.ignores("alice", ["draft"])
    assert not policy.ignores("alice", ["bug"])


@given(
    enabled=st.booleans(),
    server_min=st.integers(1, 5),
    repo_min=st.none() | st.integers(1, 10),
    auto_merge=st.none() | st.booleans(),
    repo_lines=st.none() | st.integers(1, 5000),
    repo_protected=st.lists(st.sampled_from(["a/**", "b", "**/*.sql"]), max_size=3),
)
def test_the_effective_policy_is_never_looser_than_the_server(
    enabled, server_min, repo_min, auto_merge, repo_lines, repo_protected
):
    server = MergeSettings(enabled=enabled, max_changed_lines=1000)
    repo = repo_policy.RepoPolicy(
        min_approvals=repo_min,
        auto_merge=auto_merge,
        max_changed_lines=repo_lines,
        protected_paths=repo_protected,
    )

    policy = repo_policy.effective(server, server_min, repo)

    assert policy.min_approvals >= server_min
    assert policy.merge_enabled <= server.enabled
    assert policy.max_changed_lines <= server.max_changed_lines
    assert set(server.protected_paths) <= set(policy.protected_paths)
