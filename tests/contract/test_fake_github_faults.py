"""The fake GitHub's withdrawals and whole-service faults, as strict as GitHub: a review's body is edited
only by its author and never emptied, a COMMENT review cannot be dismissed, a comment is deleted by its
author only; an outage answers 503 to everything, and a held write takes effect only when released."""

from __future__ import annotations

import asyncio
import threading

import httpx

from tests.fakes.github_server import FakeGitHub

REPO = "acme/faults"


def _pull(gh: FakeGitHub) -> tuple[int, httpx.Client]:
    gh.create_repo(REPO, {"a.py": "a = 1\n"})
    gh.push_branch(REPO, "feature", {"a.py": "a = 2\n"})
    return gh.open_pull(REPO, "feature"), httpx.Client(headers={"Authorization": f"token {gh.token}"})


def test_review_edits_dismissals_and_comment_deletion_follow_githubs_rules(fake_github: FakeGitHub) -> None:
    gh = fake_github
    number, http = _pull(gh)
    base = f"{gh.api_url}/repos/{REPO}"
    comment_review = http.post(
        f"{base}/pulls/{number}/reviews", json={"event": "COMMENT", "body": "hm"}
    ).json()
    human = gh.add_review(REPO, number, "bob", "APPROVE", body="lgtm")
    mine = http.post(f"{base}/issues/{number}/comments", json={"body": "note"}).json()
    theirs = gh.add_comment(REPO, number, "bob", "question")

    no_dismiss = http.put(
        f"{base}/pulls/{number}/reviews/{comment_review['id']}/dismissals", json={"message": "x"}
    )
    empty = http.put(f"{base}/pulls/{number}/reviews/{comment_review['id']}", json={"body": ""})
    edited = http.put(f"{base}/pulls/{number}/reviews/{comment_review['id']}", json={"body": "withdrawn"})
    not_mine = http.put(f"{base}/pulls/{number}/reviews/{human}", json={"body": "withdrawn"})
    deleted = http.delete(f"{base}/issues/comments/{mine['id']}")
    again = http.delete(f"{base}/issues/comments/{mine['id']}")
    refused = http.delete(f"{base}/issues/comments/{theirs}")
    http.close()

    assert [r.status_code for r in (no_dismiss, empty, edited, not_mine)] == [422, 422, 200, 403]
    assert [r.status_code for r in (deleted, again, refused)] == [204, 404, 403]
    assert [(r.state, r.body) for r in gh.reviews(REPO, number)] == [
        ("COMMENTED", "withdrawn"),
        ("APPROVED", "lgtm"),
    ]
    assert [c.body for c in gh.comments(REPO, number)] == ["question"]


async def test_an_outage_answers_503_and_a_held_write_lands_only_when_released(
    fake_github: FakeGitHub,
) -> None:
    gh = fake_github
    number, http = _pull(gh)
    http.close()
    url = f"{gh.api_url}/repos/{REPO}/issues/{number}/comments"
    headers = {"Authorization": f"token {gh.token}"}
    gh.set_unavailable()
    async with httpx.AsyncClient(headers=headers) as client:
        down = await client.get(url)
        gh.set_unavailable(False)
        hold = gh.hold_next("POST", rf"/issues/{number}/comments$")
        sending = asyncio.create_task(client.post(url, json={"body": "late"}, timeout=30))
        assert await asyncio.to_thread(hold.arrived.wait, 10)
        before = gh.comments(REPO, number)
        threading.Timer(0.2, hold.release).start()
        landed = await sending

    assert down.status_code == 503 and gh.comments(REPO, number)[0].body == "late"
    assert before == [] and landed.status_code == 201
