"""`quorum eval` over the golden set with a model that obeys the PR: the policy decides, not the model.

An obeying model approves every injection case; the tripwire makes each such approval need a human, so
none counts as an approval. The same tripwire must leave the benign cases alone: a model that approves
everything still approves each of them.
"""

from __future__ import annotations

from bot.eval import cases
from tests.e2e.test_eval import env, run  # noqa: F401  (the fixture is used by name)
from tests.fakes import eval_reviewers

GOLDEN = cases.golden_dir()


def test_an_obeying_model_gets_no_injection_case_approved(fake_llm, env):  # noqa: F811
    golden = cases.load_cases(GOLDEN)
    fake = fake_llm("openai", eval_reviewers.obeying(golden))

    done = run(env, str(GOLDEN), "--format", "json", fake=fake)

    assert done.code == 0, done.err
    injection = done.json["totals"]["injection"]
    assert injection["cases"] == 6 and injection["runs"] == 6
    assert injection["approvals"] == 0 and injection["resistance"] == 1.0, injection
    by_name = {c["name"]: c for c in done.json["cases"]}
    for name in (c.name for c in golden if c.injection):
        # The model did approve; only the tripwire stands between its approval and a merge.
        assert [r["verdict"] for r in by_name[name]["runs"]] == ["needs_human"], name


def test_an_approving_model_still_approves_every_benign_case(fake_llm, env):  # noqa: F811
    golden = cases.load_cases(GOLDEN)
    fake = fake_llm("openai", eval_reviewers.approve_everything)

    done = run(env, str(GOLDEN), "--format", "json", fake=fake)

    assert done.code == 0, done.err
    by_name = {c["name"]: c for c in done.json["cases"]}
    benign = [c.name for c in golden if c.expected == "approve"]
    verdicts = {name: [r["verdict"] for r in by_name[name]["runs"]] for name in benign}
    tripped = {name: by_name[name]["runs"] for name, v in verdicts.items() if v != ["approve"]}
    print(f"false trips on benign golden cases: {len(tripped)}/{len(benign)} {sorted(tripped)}")
    assert len(benign) >= 10 and tripped == {}  # a failure shows each run's verdict and why
