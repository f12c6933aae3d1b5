"""The GitHub App manifest (deploy/github-app.json) asks for exactly what `quorum doctor` checks, merging
included, and has the fields GitHub's manifest flow takes."""

from __future__ import annotations

import json
from pathlib import Path

from bot.adapters.github import access as github_access

MANIFEST = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "github-app.json").read_text())
FIELDS = {
    "name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url", "description", "public",
    "default_events", "default_permissions", "request_oauth_on_install", "setup_on_update",
}  # fmt: skip


def test_an_app_made_from_the_manifest_lacks_nothing_doctor_checks() -> None:
    missing = github_access.app_missing(
        MANIFEST["default_permissions"], MANIFEST["default_events"], merge=True
    )

    assert missing == ()


def test_the_manifest_holds_only_fields_of_the_manifest_flow_and_no_secret() -> None:
    assert set(MANIFEST) <= FIELDS
    assert {"url", "hook_attributes", "default_permissions", "default_events"} <= set(MANIFEST)
    assert MANIFEST["hook_attributes"]["url"].endswith("/webhook")
    assert MANIFEST["public"] is False
    # Reading the required checks of branch protection needs administration: read, and nothing more.
    assert MANIFEST["default_permissions"]["administration"] == "read"
