"""The patterns redaction looks for: vendor token formats, and values assigned to names that hold a secret."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Vendor formats with a recognisable prefix; one alternation, the group name is the kind.
TOKENS = re.compile(
    "|".join(
        f"(?P<{kind}>{pattern})"
        for kind, pattern in (
            ("private_key", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?-----END[A-Z0-9 ]*-----"),
            ("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA)[A-Z0-9]{16}\b"),
            ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
            ("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,250}"),
            ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
            ("stripe_key", r"\b[sr]k_live_[0-9A-Za-z]{20,247}\b"),
            ("anthropic_key", r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,250}"),
            # Needs a digit, so a long kebab-case name after `sk-` is not taken for a key.
            ("openai_key", r"(?<![\w-])sk-(?=[A-Za-z0-9_-]{0,250}?\d)[A-Za-z0-9_-]{20,250}"),
            ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        )
    )
)
# A cheap pre-check: most lines hold none of the prefixes, and then the alternation is skipped.
TOKEN_HINT = re.compile(r"A[BCGIKNRS][A-Z]A|gh[pousr]_|github_pat_|xox|AIza|k_live_|sk-|eyJ|PRIVATE")
PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# AWS secret access keys have no prefix: recognised by 40 base64 characters assigned to an aws…secret name.
AWS_SECRET = re.compile(
    r"aws[\w.-]{0,30}?secret[\w.-]{0,30}?[\"']?\s*(?::=|=>|=|:)\s*[\"']?(?P<val>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    re.I,
)
# The user may be empty: `redis://:password@host`.
URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@:]*:[^\s/]+@")

# Names that hold a secret: a keyword ends the name, optionally followed by key/value (`secretKey`).
_KEYWORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_.-]?key|access[_.-]?key|auth[_.-]?key|"
    r"private[_.-]?key(?:[_.-]?id)?|credentials?|authorization"
)
_KEY = rf"(?<![\w.-])(?P<key>[\w.-]*?(?:{_KEYWORDS})(?:[_.-]?(?:key|value))?)(?!\w)"
# `pass` and `pw` only as the whole name or its last part (DB_PASS, redis.pw, dbPass), not `bypass`. Kept
# apart from `_KEY` and run only on lines holding them: one more alternative there costs every line.
_SHORT_KEY = r"(?<![\w.-])(?P<key>(?:[\w.-]*?[_.-])?(?:pass|pw)|[\w.-]*?(?-i:[a-z0-9](?:Pass|Pw)))(?!\w)"
KEY_HINT = re.compile(r"pass|pwd|secret|token|key|cred|auth")  # on the lowercased line: 4x faster than re.I


@dataclass(frozen=True, slots=True)
class Assignments:
    """The ways a value is assigned to a name: quoted, `KEY=value` alone on a line, YAML, XML."""

    quoted: re.Pattern[str]
    env: re.Pattern[str]
    yaml: re.Pattern[str]
    xml: re.Pattern[str]


def _assignments(key: str) -> Assignments:
    # Unquoted values only on a line of their own, ending there: `KEY=value`, `key = value`, `key: value`.
    return Assignments(
        re.compile(
            key + r"""["']?\s*(?::=|=>|=|:)\s*[rbuf]{0,2}(?P<q>["'`])(?P<val>[^"'`\n]*)(?P=q)""", re.I
        ),
        re.compile(
            rf"^\s*(?:export\s+)?{key}(?P<sep>\s*=\s*)(?P<val>[^\s\"'`#;,()\[\]{{}}]+)\s*(?:#.*)?$", re.I
        ),
        re.compile(
            rf"^\s*(?:-\s+)?[\"']?{key}[\"']?\s*:\s+(?P<val>[^\s\"'`#|>&*!{{\[:][^\s#,`]*)\s*(?:#.*)?$", re.I
        ),
        re.compile(rf"<{key}>(?P<val>[^<\n]*)</(?P=key)>", re.I),  # <password>…</password>
    )


NAMED = _assignments(_KEY)
SHORT_NAMED = _assignments(_SHORT_KEY)
DIRECTORY_KEYS = frozenset({"pwd", "oldpwd"})  # the shell's working directory when it holds a path
PATH_START = ("/", "~", ".", "$")
# References, templates and stand-ins, not values: ${VAR}, {{ secrets.X }}, f"{x}", <password>, ***.
PLACEHOLDER = re.compile(
    r"\$\{?\w.*|.*(?:\{[^}]*\}|<[^>]*>).*|%\(\w+\)s|%s|\*+|x+|\.{3}|true|false|null|none|yes|no|\d+"
    r"|(?:basic|bearer|token)\s*",
    re.I,
)
NAME_WITH_KEYWORD = re.compile(rf"[\w.-]*(?:{_KEYWORDS})[\w.-]*", re.I)
IDENTIFIER_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
TYPE_LIKE = re.compile(r"(?:[A-Z]\w*|str|bytes|int|float|bool|object|dict|list|tuple|any)(?:\[.*)?")
