"""What `quorum eval` prints: the JSON report as is, or a table and totals for a person."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.eval import compare, drift
from guardrails.pricing import micro_to_usd


def to_json(report: Mapping[str, Any], comparison: compare.Comparison | None) -> str:
    """The report as one JSON object; the comparison with a baseline, if any, under `baseline`."""
    out = dict(report)
    if comparison is not None:
        out["baseline"] = compare.to_json(comparison)
    return json.dumps(out, indent=2, ensure_ascii=False)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(value: float | None, hits: int, total: int) -> str:
    return f"{_num(value, 3)} ({hits}/{total})"


def _case_line(case: Mapping[str, Any]) -> str:
    injection = "-" if not case["injection"] else ("FAILED" if case["injection_approvals"] else "held")
    tokens = case["input_tokens"] + case["output_tokens"]
    return (
        f"{case['name'][:30]:<30} {case['expected']:<15} {case['verdict'] or '-':<15} "
        f"{_num(case['accuracy']):>5} {_num(case['precision']):>5} {_num(case['recall']):>6} "
        f"{_num(case['consistency']):>5} {injection:>6} {micro_to_usd(case['cost_micro']):>9.4f} "
        f"{tokens:>7} {case['latency_ms']['p50'] or 0:>7}"
    )


def _totals(t: Mapping[str, Any]) -> list[str]:
    inj = t["injection"]
    failed = ", ".join(inj["failed_cases"]) or "none"
    inconsistent = ", ".join(t["inconsistent_cases"]) or "none"
    lat = t["latency_ms"]
    escalations = ", ".join(f"{reason} {n}" for reason, n in t["escalations"].items()) or "none"
    return [
        "totals:",
        f"  verdict accuracy      {_ratio(t['accuracy'], t['correct'], t['runs'])}",
        f"  finding precision     {_ratio(t['precision'], t['matched'], t['reported'])}",
        f"  finding recall        {_ratio(t['recall'], t['matched'], t['expected_findings'])}",
        f"  injection resistance  {_num(inj['resistance'], 3)} ({inj['approvals']} approval(s) in "
        f"{inj['runs']} run(s) of {inj['cases']} injection case(s); failed: {failed})",
        f"  escalated runs        {sum(t['escalations'].values())} ({escalations})",
        f"  consistency           {_num(t['consistency'], 3)} (inconsistent: {inconsistent})",
        f"  cost                  {micro_to_usd(t['cost_micro']):.4f} USD "
        f"({micro_to_usd(t['cost_per_run_micro']):.6f} per run)",
        f"  tokens                {t['input_tokens']} in + {t['output_tokens']} out",
        f"  latency ms            p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}",
    ]


def _drift(item: drift.Drift) -> str:
    parts = []
    if item.before_verdict != item.after_verdict:
        parts.append(f"verdict {item.before_verdict} -> {item.after_verdict}")
    if item.before_findings != item.after_findings:
        before = ", ".join(f"{p}:{n}" for p, n in item.before_findings) or "none"
        after = ", ".join(f"{p}:{n}" for p, n in item.after_findings) or "none"
        parts.append(f"findings [{before}] -> [{after}]")
    return f"  {item.name}: " + "; ".join(parts)


def _comparison(c: compare.Comparison) -> list[str]:
    lines = [f"baseline {c.baseline}: " + ("REGRESSION" if c.regressed else "within tolerance")]
    lines += [f"  - {r}" for r in c.regressions]
    lines += [f"  note: {n}" for n in c.notes]
    if c.drift is not None:
        lines.append(f"drift: {len(c.drift)} case(s) changed since the baseline")
        lines += [_drift(d) for d in c.drift]
    return lines


def to_text(report: Mapping[str, Any], comparison: compare.Comparison | None) -> str:
    """A header, one line per case, the totals and the comparison with a baseline."""
    t = report["totals"]
    lines = [
        f"quorum eval: {t['cases']} case(s) x {report['repeat']} repeat(s) = {t['runs']} run(s)",
        f"model {report['model']} ({report['provider']}) · prompt {report['prompt_version']} · "
        f"settings {report['settings_digest']} · {report['date']}",
        f"cases {report['cases_dir']}",
        "",
        f"{'case':<30} {'expected':<15} {'verdict':<15} {'acc':>5} {'prec':>5} {'recall':>6} "
        f"{'cons':>5} {'inject':>6} {'cost USD':>9} {'tokens':>7} {'p50 ms':>7}",
        *(_case_line(c) for c in report["cases"]),
        "",
        *_totals(t),
    ]
    if comparison is not None:
        lines += ["", *_comparison(comparison)]
    return "\n".join(lines)
