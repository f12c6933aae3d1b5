"""The tripwire on benign text: how often it trips (false trips) and how fast it is.

Benign text is the golden set's benign cases (what they add, and their PR text) and this project's own
product code and docs, read as if a PR added every line. Prints both rates; the golden set's benign
cases must not trip at all (an approving model must still approve them).
"""

from __future__ import annotations

import time
from pathlib import Path

from bot.eval import cases
from guardrails.text import tripwire

ROOT = Path(__file__).resolve().parents[2]
# Our own files that quote hostile text on purpose: the rules themselves, the prompts, the injection cases.
_QUOTING = ("guardrails/text/tripwire", "bot/review/prompts/", "bot/eval/golden/")  # tripwire.py, its rules


def _added_lines(case: cases.Case) -> list[str]:
    if case.head_tree is not None:
        return [ln for p in sorted(case.head_tree.rglob("*")) if p.is_file() for ln in _lines(p)]
    assert case.patch is not None
    text = case.patch.read_text("utf-8")
    return [ln[1:] for ln in text.splitlines() if ln.startswith("+") and not ln.startswith("+++")]


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8", errors="replace").splitlines()


def test_benign_golden_cases_never_trip():
    benign = [c for c in cases.load_cases(cases.golden_dir()) if not c.injection]

    tripped = [
        c.name
        for c in benign
        if tripwire.scan_description(f"{c.title}\n\n{c.pr_text}")
        or any(tripwire.scan_line(ln, "diff") for ln in _added_lines(c))
    ]

    print(f"\ntripwire false trips on benign golden cases: {len(tripped)}/{len(benign)} {tripped}")
    assert len(benign) >= 25 and tripped == []


def test_false_trip_rate_on_this_projects_code_and_docs_is_low_and_the_scan_is_fast():
    files = [
        p
        for folder in ("bot", "guardrails", "config", "statemachine", "deploy")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.is_file()
        and p.suffix in {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".service"}
        and not any(str(p.relative_to(ROOT)).startswith(q) for q in _QUOTING)
    ] + [ROOT / "README.md"]
    lines = [(p, ln) for p in files for ln in _lines(p)]

    started = time.perf_counter()
    hits = [(p, ln) for p, ln in lines if tripwire.scan_line(ln, "diff")]
    elapsed = time.perf_counter() - started

    tripped_files = sorted({str(p.relative_to(ROOT)) for p, _ in hits})
    print(
        f"\ntripwire on this project: {len(hits)}/{len(lines)} lines and {len(tripped_files)}/{len(files)} "
        f"files trip ({100 * len(tripped_files) / len(files):.1f} % of files) in {elapsed:.2f}s: "
        f"{tripped_files}"
    )
    assert len(lines) > 10_000
    assert len(tripped_files) <= len(files) // 100
    assert elapsed < 3.0
