"""`quorum doctor`'s checks of the settings alone: what must be set, priced and sized before anything runs."""

from __future__ import annotations

from bot.bootstrap import review as review_root
from bot.entrypoints.doctor.checks import Check
from bot.review import chunking, prompts
from config.settings import Settings

MIN_DIFF_TOKENS = 1024  # a chunk smaller than this sees too little of a change to judge it


def configuration(settings: Settings, *, poll: bool) -> list[Check]:
    """What must be set before anything can run."""
    gh, rows = settings.github, [Check("configuration", "ok", "settings loaded and valid")]
    if poll:
        rows.append(Check("webhook secret", "skip", "poll mode: no webhook is received"))
    elif gh.webhook_secret is None:
        hint = "set the github__webhook_secret secret (the App's webhook secret), or run with --poll"
        rows.append(
            Check("webhook secret", "fail", "no webhook secret: every delivery would be refused", hint)
        )
    else:
        rows.append(Check("webhook secret", "ok", "set"))
    if gh.app_id is not None and gh.private_key is not None:
        rows.append(Check("github credentials", "ok", f"GitHub App {gh.app_id}"))
    elif gh.app_id is not None:
        hint = "put the App's private key (PEM) in the github__private_key secret"
        rows.append(Check("github credentials", "fail", f"GitHub App {gh.app_id} has no private key", hint))
    elif gh.token is not None:
        rows.append(Check("github credentials", "ok", "token"))
    else:
        hint = "set QUORUM_GITHUB__APP_ID and the github__private_key secret, or the github__token secret"
        rows.append(Check("github credentials", "fail", "neither a GitHub App nor a token", hint))
    if (problem := gh.write_limits_problem()) is not None:
        hint = "keep github.com's pace, or point github.base_url at your GitHub Enterprise Server"
        rows.append(Check("github write pace", "fail", problem, hint))
    caps = ("per_pr_usd", "per_round_usd", "per_repo_daily_usd", "daily_usd")
    zero = [name for name in caps if not getattr(settings.budget, name)]
    if zero:
        hint = "raise " + ", ".join(f"QUORUM_BUDGET__{n.upper()}" for n in zero) + " above 0"
        rows.append(Check("budgets", "fail", f"zero caps stop every review: {', '.join(zero)}", hint))
    else:
        b = settings.budget
        rows.append(
            Check(
                "budgets",
                "ok",
                f"${b.per_round_usd:.2f}/round, ${b.per_pr_usd:.2f}/PR, ${b.daily_usd:.2f}/day",
            )
        )
    return [*rows, prices(settings), context_window(settings)]


def prices(settings: Settings) -> Check:
    """Every model a review may call has a price: an unpriced call cannot be bounded, so it is refused."""
    llm = settings.llm
    models = [llm.effective_model(), *(r.model for r in settings.review.reviewers if r.model)]
    unpriced = [
        m for m in dict.fromkeys([*models, *llm.fallback_models]) if review_root.price_for(llm, m) is None
    ]
    unpriced += [f"{f.provider}/{f.model}" for f in llm.fallback if review_root.fallback_price(f) is None]
    if unpriced:
        hint = (
            "set QUORUM_LLM__PRICE_INPUT_PER_MTOK and QUORUM_LLM__PRICE_OUTPUT_PER_MTOK (USD per million "
            "tokens), or the prices of the fallback entry"
        )
        detail = f"no known price for {', '.join(unpriced)}: every review with it escalates (budget_exceeded)"
        return Check("prices", "fail", detail, hint)
    return Check("prices", "ok", f"known for {len(set(models))} model(s) and the fallbacks")


def context_window(settings: Settings) -> Check:
    """The context window holds the prompt, the answer and a useful part of the diff."""
    llm, version = settings.llm, settings.review.prompt_version
    prompt_set = prompts.load(version)
    prompt = chunking.estimate_tokens(prompt_set.system.template + prompt_set.user.template)
    window = review_root.context_tokens(settings)
    left = window - llm.max_output_tokens - prompt
    detail = (
        f"{window} tokens: prompt {version} ~{prompt}, answer {llm.max_output_tokens}, "
        f"{left} left for the diff"
    )
    if left < MIN_DIFF_TOKENS:
        hint = (
            "raise QUORUM_LLM__CONTEXT_TOKENS to the model's window, or lower QUORUM_LLM__MAX_OUTPUT_TOKENS"
        )
        return Check("context window", "fail", detail + f" (under {MIN_DIFF_TOKENS})", hint)
    return Check("context window", "ok", detail)
