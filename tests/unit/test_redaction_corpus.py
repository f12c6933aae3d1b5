"""The redaction corpus (tests/samples/redaction/): every secret shape caught, every look-alike left alone.

Prints both rates; the catch rate must be 100 % and the false-positive rate 0 % on the corpus. Secret
values are generated from placeholders when the test runs, so no file stores a real-looking credential.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrails.text.redaction import Redactor

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "redaction"
_ALPHABETS = {
    "alnum": string.ascii_letters + string.digits,
    "upper32": string.ascii_uppercase + "234567",
    "hex": "0123456789abcdef",
    "digits": string.digits,
    "b64": string.ascii_letters + string.digits + "+/",
    "awssecret": string.ascii_letters + string.digits + "+/",
}
_PLACEHOLDER = re.compile(r"<(\w+):(\d+)>")
_MARKED = re.compile(r"«(.*?)»")


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    secrets: tuple[str, ...]  # what must not survive (empty for a look-alike)


def load(name: str) -> list[Case]:
    """The cases of one corpus file, placeholders expanded (seeded: the same text every run)."""
    rng = random.Random(name)
    cases: list[Case] = []
    title, lines = "", []
    for line in [*(SAMPLES / name).read_text("utf-8").splitlines(), "--- end"]:
        if line.startswith("#"):
            continue
        if line.startswith("--- "):
            if title:
                cases.append(_case(title, "\n".join(lines), rng))
            title, lines = line[4:], []
        else:
            lines.append(line)
    return cases


def _case(title: str, raw: str, rng: random.Random) -> Case:
    secrets: list[str] = []

    def expand(match: re.Match[str]) -> str:
        value = "".join(rng.choice(_ALPHABETS[match[1]]) for _ in range(int(match[2])))
        secrets.append(value)
        return value

    text = _PLACEHOLDER.sub(expand, raw)
    secrets += _MARKED.findall(text)
    return Case(title, _MARKED.sub(r"\1", text), tuple(secrets))


SECRETS = load("secrets.txt")
LOOKALIKES = load("lookalikes.txt")


def _caught(case: Case) -> bool:
    redacted, count = Redactor().redact(case.text)
    return count >= 1 and not any(secret in redacted for secret in case.secrets)


def _untouched(case: Case) -> bool:
    return Redactor().redact(case.text) == (case.text, 0)


def test_the_corpus_is_large_enough_and_every_secret_case_names_its_secret():
    assert len(SECRETS) >= 40 and len(LOOKALIKES) >= 40
    assert all(case.secrets for case in SECRETS)
    assert not any(case.secrets for case in LOOKALIKES)


def test_catch_rate_is_total_and_false_positives_are_reported():
    missed = [case.name for case in SECRETS if not _caught(case)]
    flagged = [case.name for case in LOOKALIKES if not _untouched(case)]

    caught = len(SECRETS) - len(missed)
    print(
        f"\nredaction corpus: caught {caught}/{len(SECRETS)} secret shapes "
        f"({100 * caught / len(SECRETS):.1f} %); false positives {len(flagged)}/{len(LOOKALIKES)} "
        f"look-alikes ({100 * len(flagged) / len(LOOKALIKES):.1f} %)"
    )
    assert missed == [], f"missed: {missed}"
    assert flagged == [], f"false positives: {flagged}"


@pytest.mark.parametrize("case", SECRETS, ids=[c.name for c in SECRETS])
def test_each_secret_shape_is_caught(case):
    redacted, count = Redactor().redact(case.text)

    assert count >= 1
    assert [s for s in case.secrets if s in redacted] == [], redacted


@pytest.mark.parametrize("case", LOOKALIKES, ids=[c.name for c in LOOKALIKES])
def test_each_lookalike_is_left_alone(case):
    assert Redactor().redact(case.text) == (case.text, 0)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("keys/ghp_" + "a1B2c3D4" * 4 + "e5F6.txt", "keys/[REDACTED:github_token].txt"),
        ("deploy/password=Hunter2Secret9.env", "deploy/password=[REDACTED:assigned_secret].env"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "[REDACTED:aws_access_key]"),
        ("dist/main.3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c.js", None),  # hashed names are not secrets
        ("src/components/UserProfileSettings/index.tsx", None),
    ],
)
def test_file_names_are_redacted_part_by_part(path, expected):
    redacted, count = Redactor().redact_path(path)

    assert redacted == (expected or path)
    assert count == (0 if expected is None else 1)


_TOKEN_BODY = st.text(alphabet=string.ascii_letters + string.digits, min_size=36, max_size=36)


@given(
    body=_TOKEN_BODY, cut=st.integers(1, 39), glue=st.sampled_from([" ", " + ", "+", " +\n    ", "\n    "])
)
def test_a_token_split_anywhere_over_two_literals_never_survives(body, cut, glue):
    token = "ghp_" + body
    text = f'TOKEN = ("{token[:cut]}"{glue}"{token[cut:]}")'

    redacted, count = Redactor().redact(text)

    assert count >= 1
    assert token[:cut] not in redacted or len(token[:cut]) < 4
    assert token[cut:] not in redacted or len(token[cut:]) < 4
