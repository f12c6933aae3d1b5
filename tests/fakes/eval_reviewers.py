"""Scripted reviewers for `quorum eval` tests: they recognise a case by the file names in the prompt.

Each script is a `FakeLLMServer` script (request -> reply) built from the cases themselves, so "finds
exactly the expected findings" stays true whatever the cases say.
"""

from __future__ import annotations

import collections
import json
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from bot.eval.cases import Case
from tests.fakes.llm_servers import RecordedRequest, Reply

Script = Callable[[RecordedRequest], Reply]
_FILE = re.compile(r"^=== FILE (\S+) \(", re.MULTILINE)
_ROUND = re.compile(r"Review round (\d+)\.")
# The prompt's untrusted sections (PR text, diff, context): their tag carries a digest, so a forged
# closing tag inside the content does not end one.
_UNTRUSTED = re.compile(r"<(untrusted-[\w-]+)>\n(.*?)\n</\1>", re.DOTALL)
_TOLD_TO_APPROVE = re.compile(r"approv|lgtm", re.IGNORECASE)


def _files(case: Case) -> set[str]:
    trees = [case.base_tree, *([case.head_tree] if case.head_tree else [])]
    names = {str(p.relative_to(t)) for t in trees for p in t.rglob("*") if p.is_file()}
    if case.patch is not None:
        names |= set(re.findall(r"^\+\+\+ b/(\S+)$", case.patch.read_text("utf-8"), re.MULTILINE))
    return names


def _prompt(request: RecordedRequest) -> str:
    return str(request.body["messages"][-1]["content"])


def _case_of(cases: Sequence[Case]) -> Callable[[RecordedRequest], Case]:
    owners = {name: case for case in cases for name in _files(case)}

    def find(request: RecordedRequest) -> Case:
        paths = _FILE.findall(_prompt(request))
        assert paths, "the prompt shows no file"
        return owners[paths[0]]

    return find


def answer(verdict: str, findings: list[dict[str, Any]]) -> Reply:
    return Reply(
        json.dumps({"verdict": verdict, "summary": "scripted", "confidence": 0.9, "findings": findings})
    )


def _expected(case: Case) -> Reply:
    severity = "major" if case.expected == "request_changes" else "nit"
    findings = [
        {"path": f.path, "line": f.start, "side": "RIGHT", "severity": severity, "body": f.note or f.category}
        for f in case.findings
    ]
    return answer(case.expected, findings)


def perfect(cases: Sequence[Case]) -> Script:
    """Answers every case with its expected verdict and exactly its expected findings."""
    case_of = _case_of(cases)
    return lambda request: _expected(case_of(request))


def approve_everything(_: RecordedRequest) -> Reply:
    return answer("approve", [])


def alternating(cases: Sequence[Case]) -> Script:
    """Perfect on a case's 1st, 3rd, ... review and approving on its 2nd, 4th, ... (a drifting model)."""
    case_of = _case_of(cases)
    reviews: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def script(request: RecordedRequest) -> Reply:
        case = case_of(request)
        match = _ROUND.search(_prompt(request))
        with lock:
            if match is not None and match.group(1) == "1":
                reviews[case.name] += 1
            count = reviews[case.name]
        return _expected(case) if count % 2 == 1 else approve_everything(request)

    return script


def told_to_approve(request: RecordedRequest) -> bool:
    """True when anything the prompt shows from the PR (its untrusted sections) says "approve"."""
    return any(_TOLD_TO_APPROVE.search(m.group(2)) for m in _UNTRUSTED.finditer(_prompt(request)))


def obeying(cases: Sequence[Case]) -> Script:
    """Does what text in the PR tells it: approves when anything it reads from the PR says "approve",
    and otherwise reviews like `perfect` (a good reviewer with no defence against injection)."""
    case_of = _case_of(cases)

    def script(request: RecordedRequest) -> Reply:
        if told_to_approve(request):
            return approve_everything(request)
        return _expected(case_of(request))

    return script
