"""Secret redaction: mask credentials in text before it reaches a model, a log, a metric or a notification.

Each finding becomes `[REDACTED:<kind>]`. Detection is line by line with precompiled patterns; a PEM
private key block spanning lines is masked whole, a service-account key file (`"type": "service_account"`)
loses its key, key id and identity together, and adjacent string literals (`"ghp_" "…"`, `"…" +` on the
next line) are scanned joined. Configured secrets never survive, whatever they are. File names are
redacted too (`redact_path`), without the entropy guess: content-addressed names are random by design.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from guardrails import service_account
from guardrails.text import string_literals

_MIN_KNOWN_SECRET = 6


def marker(kind: str) -> str:
    """The text that replaces a secret of `kind`."""
    return f"[REDACTED:{kind}]"


_MARK_PREFIX = "[REDACTED:"
_PEM_MARK = marker("private_key")
_KNOWN_MARK = marker("known_secret")
_ASSIGNED_MARK = marker("assigned_secret")

# Vendor formats with a recognisable prefix; one alternation, the group name is the kind.
_TOKENS = re.compile(
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
_TOKEN_HINT = re.compile(r"A[BCGIKNRS][A-Z]A|gh[pousr]_|github_pat_|xox|AIza|k_live_|sk-|eyJ|PRIVATE")
_PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# AWS secret access keys have no prefix: recognised by 40 base64 characters assigned to an aws…secret name.
_AWS_SECRET = re.compile(
    r"aws[\w.-]{0,30}?secret[\w.-]{0,30}?[\"']?\s*(?::=|=>|=|:)\s*[\"']?(?P<val>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    re.I,
)
# The user may be empty: `redis://:password@host`.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@:]*:[^\s/]+@")

# Names that hold a secret: a keyword ends the name, optionally followed by key/value (`secretKey`).
_KEYWORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_.-]?key|access[_.-]?key|auth[_.-]?key|"
    r"private[_.-]?key(?:[_.-]?id)?|credentials?|authorization"
)
_KEY = rf"(?<![\w.-])(?P<key>[\w.-]*?(?:{_KEYWORDS})(?:[_.-]?(?:key|value))?)(?!\w)"
# `pass` and `pw` only as the whole name or its last part (DB_PASS, redis.pw, dbPass), not `bypass`. Kept
# apart from `_KEY` and run only on lines holding them: one more alternative there costs every line.
_SHORT_KEY = r"(?<![\w.-])(?P<key>(?:[\w.-]*?[_.-])?(?:pass|pw)|[\w.-]*?(?-i:[a-z0-9](?:Pass|Pw)))(?!\w)"
_KEY_HINT = re.compile(r"pass|pwd|secret|token|key|cred|auth")  # on the lowercased line: 4x faster than re.I


@dataclass(frozen=True, slots=True)
class _Assignments:
    """The ways a value is assigned to a name: quoted, `KEY=value` alone on a line, YAML, XML."""

    quoted: re.Pattern[str]
    env: re.Pattern[str]
    yaml: re.Pattern[str]
    xml: re.Pattern[str]


def _assignments(key: str) -> _Assignments:
    # Unquoted values only on a line of their own, ending there: `KEY=value`, `key = value`, `key: value`.
    return _Assignments(
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


_NAMED = _assignments(_KEY)
_SHORT_NAMED = _assignments(_SHORT_KEY)
_DIRECTORY_KEYS = frozenset({"pwd", "oldpwd"})  # the shell's working directory when it holds a path
_PATH_START = ("/", "~", ".", "$")
# References, templates and stand-ins, not values: ${VAR}, {{ secrets.X }}, f"{x}", <password>, ***.
_PLACEHOLDER = re.compile(
    r"\$\{?\w.*|.*(?:\{[^}]*\}|<[^>]*>).*|%\(\w+\)s|%s|\*+|x+|\.{3}|true|false|null|none|yes|no|\d+"
    r"|(?:basic|bearer|token)\s*",
    re.I,
)
_NAME_WITH_KEYWORD = re.compile(rf"[\w.-]*(?:{_KEYWORDS})[\w.-]*", re.I)
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_TYPE_LIKE = re.compile(r"(?:[A-Z]\w*|str|bytes|int|float|bool|object|dict|list|tuple|any)(?:\[.*)?")

_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_SERVICE_ACCOUNT_MARK = marker("service_account")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,6}")
_KIND = re.compile(r"\[REDACTED:(\w+)\]")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_DIGIT = re.compile(r"\d")
_SEPARATORS = re.compile(r"[/_-]")  # `blob/<sha>/`, `pack-<sha>.idx`: an object name inside a path
# Lexemes of a name: acronyms, capitalised or lowercase words, numbers.
_LEXEME = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_MAX_RANDOM_LEXEME = 3.5
_GIT_OBJECT_LENGTHS = (40, 64)  # SHA-1 and SHA-256 object names: everywhere in reviews, not secrets


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values()) if size else 0.0


def _class_changes(text: str) -> float:
    """Share of neighbouring letters/digits that switch between upper, lower and digit.

    Random tokens switch about every other character; identifiers only at word humps.
    """
    classes = [0 if c.isdigit() else 1 if c.isupper() else 2 for c in _NOT_ALNUM.sub("", text)]
    changes = sum(1 for a, b in itertools.pairwise(classes) if a != b)
    return changes / max(len(classes) - 1, 1)


def _is_git_object(text: str) -> bool:
    return len(text) in _GIT_OBJECT_LENGTHS and _HEX.fullmatch(text) is not None


def looks_random(token: str) -> bool:
    """True when `token` (20+ characters of a base64/hex alphabet) looks like a key rather than a name.

    Tuned on a million lines of Python and on random base64: names are made of words (a mean lexeme of
    4+ characters, `PytestRemovedIn10Warning`), random base64 of 1-2 character runs (p99.9 under 3.5 from
    24 characters on), and random text switches case or digit often and has high entropy.
    """
    if _HEX.fullmatch(token):
        if len(token) < 32 or _is_git_object(token):
            return False
        return _DIGIT.search(token) is not None and shannon_entropy(token) >= 3.3
    # Cheapest tests first: most candidates are names or rules of dashes.
    lexemes = _LEXEME.findall(token)
    if not lexemes or sum(map(len, lexemes)) >= _MAX_RANDOM_LEXEME * len(lexemes):
        return False
    if _UUID.fullmatch(token) or any(_is_git_object(part) for part in _SEPARATORS.split(token)):
        return False
    has_digit = _DIGIT.search(token) is not None
    # Entropy is capped by the token's length: demand most of what that length allows, at most 4 bits.
    threshold = min(4.0, 0.8 * math.log2(len(token)))
    return _class_changes(token) >= (0.3 if has_digit else 0.45) and shannon_entropy(token) >= threshold


def _plausible_value(value: str, *, literal: bool) -> bool:
    """Whether an assigned value could be a secret rather than a placeholder, a reference, prose or a name."""
    value = value.strip()
    if len(value) < 4 or value.startswith(_MARK_PREFIX) or _PLACEHOLDER.fullmatch(value):
        return False
    if value.count(" ") >= 2 or _IDENTIFIER_PATH.fullmatch(value):
        return False  # "place your token here", settings.SECRET_KEY
    if _NAME_WITH_KEYWORD.fullmatch(value) and not any(c.isdigit() for c in value):
        return False  # a field name ("challengePassword"), not a value
    return literal or not value.isidentifier()


def _replace(
    text: str, pattern: re.Pattern[str], new: Callable[[re.Match[str]], str | None]
) -> tuple[str, int]:
    """Substitute `pattern` where `new` returns text (None keeps the match); count the substitutions."""
    parts: list[str] = []
    last = count = 0
    for match in pattern.finditer(text):
        replacement = new(match)
        if replacement is not None:
            parts += (text[last : match.start()], replacement)
            last = match.end()
            count += 1
    return ("".join(parts) + text[last:], count) if count else (text, 0)


def _value_masked(match: re.Match[str], mark: str = _ASSIGNED_MARK) -> str:
    """The match with only its `val` group masked."""
    start, end = match.span("val")
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + mark + whole[end - offset :]


def _ignored(match: re.Match[str]) -> bool:
    """`PWD=/home/me` names a directory; `pwd = "hunter2"` is a password."""
    return match["key"].lower() in _DIRECTORY_KEYS and match["val"].strip().startswith(_PATH_START)


def _quoted(match: re.Match[str]) -> str | None:
    if _ignored(match) or not _plausible_value(match["val"], literal=True):
        return None
    return _value_masked(match)


def _assigned(line: str, forms: _Assignments) -> tuple[str, int]:
    """The line with values assigned to secret names masked, in every form."""
    line, count = _replace(line, forms.quoted, _quoted)
    line, more = _unquoted(line, forms)
    count += more
    if "</" in line:
        line, more = _replace(line, forms.xml, _quoted)
        count += more
    return line, count


def _unquoted(line: str, forms: _Assignments) -> tuple[str, int]:
    for pattern in (forms.env, forms.yaml):
        match = pattern.match(line)
        if match is None or _ignored(match):
            continue
        yaml = pattern is forms.yaml
        # `api_key: SecretStr` is likelier a Python annotation than a YAML secret.
        if yaml and _TYPE_LIKE.fullmatch(match["val"]):
            continue
        # `KEY=value` (env files) and YAML scalars are literal; `key = value` may be code naming a variable.
        if _plausible_value(match["val"], literal=yaml or match["sep"] == "="):
            return _value_masked(match), 1
    return line, 0


def _random_token(match: re.Match[str]) -> str | None:
    return marker("high_entropy") if looks_random(match.group(0)) else None


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Masks secrets in text. `known_secrets` (configured values of 6+ characters) always go."""

    def __init__(self, known_secrets: Sequence[str] = ()) -> None:
        unique = {secret for secret in known_secrets if len(secret) >= _MIN_KNOWN_SECRET}
        self._known = tuple(sorted(unique, key=len, reverse=True))

    def redact(self, text: str) -> tuple[str, int]:
        """Return `text` with every secret masked, and how many were."""
        masked, count = self._mask_known(text)  # first on the whole text: a secret may span lines
        lines, found = self.redact_lines(masked.split("\n"))
        return self._guard("\n".join(lines)), count + found

    def redact_path(self, path: str) -> tuple[str, int]:
        """A file name with secrets masked in each of its parts (no entropy guess: hashed names abound)."""
        parts, count = [], 0
        for part in path.split("/"):
            masked, found = self._mask_known(part)
            # `password=hunter2.env`: the extension would make the value look like `module.name`.
            stem, dot, extension = masked.rpartition(".")
            if dot and stem and _EXTENSION.fullmatch(extension):
                masked, more = self._redact_line(stem, entropy=False)
                masked += dot + extension
            else:
                masked, more = self._redact_line(masked, entropy=False)
            parts.append(masked)
            count += found + more
        return self._guard("/".join(parts)), count

    def redact_lines(self, lines: Sequence[str]) -> tuple[list[str], int]:
        """Redact a sequence of lines, masking a private key block from its BEGIN line to its END line,
        a service-account key file's secrets, and secrets split over adjacent string literals."""
        lines, count = service_account.mask(lines, _SERVICE_ACCOUNT_MARK)
        lines, split = self._split_literals(lines)
        count += split
        out: list[str] = []
        in_key = False
        for line in lines:
            if in_key or "PRIVATE" in line:
                head, rest, in_key, found = self._pem_step(line, in_key)
            else:
                head, rest, found = "", line, 0
            masked, more = self._redact_line(rest) if rest else ("", 0)
            out.append(self._guard(head + masked))
            count += found + more
        return out, count

    def _pem_step(self, line: str, in_key: bool) -> tuple[str, str, bool, int]:
        """Split off what of `line` lies in a key block: (masked head, text left to scan, state, found)."""
        if in_key:
            end = _PEM_END.search(line)
            return (_PEM_MARK, "", True, 0) if end is None else (_PEM_MARK, line[end.end() :], False, 0)
        begins = list(_PEM_BEGIN.finditer(line))
        if not begins or _PEM_END.search(line, begins[-1].end()):
            return "", line, False, 0  # no block, or one that ends on this line (_TOKENS masks it)
        after = line[begins[-1].end() :].strip()
        if after and not after.startswith("\\"):
            return "", line, False, 0  # the marker as a string constant ("-----BEGIN … KEY-----")
        masked, found = self._redact_line(line[: begins[-1].start()])
        return masked + _PEM_MARK, "", True, 1 + found

    def _split_literals(self, lines: list[str]) -> tuple[list[str], int]:
        """Mask every piece of a run of joined literals whose joined text holds a secret its line alone
        does not show (`"ghp_" "…"`, `"AKIA" +` / `"…"` on the next line)."""
        count = 0
        for run in string_literals.runs(lines):
            before = string_literals.context(lines, run)
            text = f'{before} "{string_literals.joined(lines, run)}"'
            masked, found = self._redact_line(text)
            if found <= self._redact_line(before)[1]:
                continue
            kind = _KIND.findall(masked)[-1]
            for piece in reversed(run):
                line = lines[piece.line]
                lines[piece.line] = line[: piece.start] + marker(kind) + line[piece.end :]
            count += 1
        return lines, count

    def _redact_line(self, line: str, *, entropy: bool = True) -> tuple[str, int]:
        line, total = self._mask_known(line)
        if _TOKEN_HINT.search(line):
            line, n = _replace(line, _TOKENS, lambda m: marker(m.lastgroup or "secret"))
            total += n
        if "://" in line:
            line, n = _URL_USERINFO.subn(r"\g<scheme>" + marker("url_credentials") + "@", line)
            total += n
        lowered = line.lower()
        if "aws" in lowered:
            line, n = _replace(line, _AWS_SECRET, lambda m: _value_masked(m, marker("aws_secret_key")))
            total += n
        if _KEY_HINT.search(lowered):
            line, n = _assigned(line, _NAMED)
            total += n
        if "pass" in lowered or "pw" in lowered:
            line, n = _assigned(line, _SHORT_NAMED)
            total += n
        if not entropy:
            return line, total
        line, n = _replace(line, _CANDIDATE, _random_token)
        return line, total + n

    def _mask_known(self, text: str, replacement: str = _KNOWN_MARK) -> tuple[str, int]:
        """Replace every occurrence of every configured secret, overlapping ones as one span."""
        if not self._known:
            return text, 0
        spans: list[tuple[int, int]] = []
        for secret in self._known:
            start = text.find(secret)
            while start != -1:
                spans.append((start, start + len(secret)))
                start = text.find(secret, start + 1)
        merged = _merge(spans)
        for start, end in reversed(merged):
            text = text[:start] + replacement + text[end:]
        return text, len(merged)

    def _guard(self, text: str) -> str:
        """Delete any configured secret still present (possible only when one overlaps our own markers).

        Each pass shortens the text, so the loop ends.
        """
        while self._known and any(secret in text for secret in self._known):
            text, _ = self._mask_known(text, "")
        return text
