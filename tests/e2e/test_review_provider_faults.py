"""`quorum review` when the provider misbehaves: over-billed usage escalates and is named in the report;
an open breaker or a dead provider falls over to another provider of the fallback list."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import review_json
from tests.fakes.llm_servers import RecordedRequest, Reply


def over_billing(request: RecordedRequest) -> Reply:
    """Answers a valid approval but reports 100x the output cap it was given."""
    cap = request.body.get("max_tokens") or request.body["options"]["num_predict"]
    return Reply(review_json("approve"), output_tokens=100 * int(cap))


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
def test_over_billed_usage_escalates_names_the_call_and_stops_calling(flavor, fake_llm, quorum, feature_repo):
    fake = fake_llm(flavor, over_billing)

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake)

    out = run.json
    assert (out["decision"], out["reason"], run.code) == ("escalated", "usage_over_reservation", 3)
    [first] = out["rounds"]
    assert first["verdict"] == "none"
    assert first["error"].startswith("usage_over_reservation: call call-")
    assert "output 102400 tokens > max_tokens 1024" in first["error"]
    # No second call: not a repair, not another round.
    assert len(fake.chat_bodies()) == 1
    if flavor != "ollama":  # ollama runs on the operator's hardware: free, but still cut off
        # Settled as billed: 100 input tokens at 1 USD/Mtok + 102400 output tokens at 2 USD/Mtok.
        assert out["cost_usd"] == pytest.approx((100 + 2 * 102_400) / 1e6)


def test_a_failing_provider_falls_over_to_another_provider_of_the_fallback_list(
    fake_llm, quorum, feature_repo
):
    down = fake_llm("openai", lambda _: Reply(status=503, error_message="overloaded"))
    other = fake_llm("anthropic", lambda _: Reply(review_json("approve")))
    fallback = [
        {"provider": "anthropic", "model": "claude-sonnet-4-20250514", "base_url": other.base_url,
         "api_key": "sk-ant-test", "price_input_per_mtok": 3.0, "price_output_per_mtok": 15.0}
    ]  # fmt: skip

    run = quorum(
        "review", str(feature_repo), "--format", "json", fake=down,
        QUORUM_LLM__FALLBACK=json.dumps(fallback), QUORUM_LLM__MAX_RETRIES="0",
        QUORUM_LLM__BREAKER_FAILURES="1",
    )  # fmt: skip

    out = run.json
    assert (out["decision"], out["reason"]) == ("approved", "consensus"), run.err
    # Round 1 tried the primary once, which opened its breaker; round 2 went straight to the fallback.
    assert len(down.chat_bodies()) == 1
    assert [b["model"] for b in other.chat_bodies()] == ["claude-sonnet-4-20250514"] * 2
    assert "sk-ant-test" not in run.out + run.err


@pytest.mark.parametrize(("status", "requests"), [(503, 4), (400, 1)])
def test_a_transient_failure_is_retried_and_a_4xx_is_not(fake_llm, quorum, feature_repo, status, requests):
    fake = fake_llm("openai", lambda _: Reply(review_json("approve")))
    fake.push(Reply(status=status, error_message="scripted"), Reply(status=status, error_message="scripted"))

    run = quorum("review", str(feature_repo), "--format", "json", fake=fake, QUORUM_LLM__FALLBACK="[]")

    out = run.json
    assert len(fake.chat_bodies()) == requests
    if status == 503:  # two 503s then answers: approved; the refused attempts cost nothing
        assert (out["decision"], out["reason"], run.code) == ("approved", "consensus", 0), run.err
        assert out["cost_usd"] == pytest.approx(2 * 0.0002)
    else:  # the request was refused as sent: no second try, and the PR goes to a human
        assert (out["decision"], out["reason"], run.code) == ("escalated", "provider_error", 3)
        assert out["cost_usd"] == 0
