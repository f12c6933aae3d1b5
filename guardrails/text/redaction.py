"""Secret redaction: mask credentials in text before it reaches a model, a log, a metric or a notification.

Each finding becomes `[REDACTED:<kind>]`. Detection is line by line (`secret_patterns`); a PEM
private key block spanning lines is masked whole, a service-account key file (`"type": "service_account"`)
loses its key, key id and identity together, and adjacent string literals (`"ghp_" "…"`, `"…" +` on the
next line) are scanned joined. Configured secrets never survive, whatever they are. File names are
redacted too (`redact_path`), without the entropy guess: content-addressed names are random by design.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from guardrails import service_account
from guardrails.text import entropy, string_literals
from guardrails.text import secret_patterns as patterns

_MIN_KNOWN_SECRET = 6


def marker(kind: str) -> str:
    """The text that replaces a secret of `kind`."""
    return f"[REDACTED:{kind}]"


_MARK_PREFIX = "[REDACTED:"
_PEM_MARK = marker("private_key")
_KNOWN_MARK = marker("known_secret")
_ASSIGNED_MARK = marker("assigned_secret")

_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_SERVICE_ACCOUNT_MARK = marker("service_account")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,6}")
_KIND = re.compile(r"\[REDACTED:(\w+)\]")


def _plausible_value(value: str, *, literal: bool) -> bool:
    """Whether an assigned value could be a secret rather than a placeholder, a reference, prose or a name."""
    value = value.strip()
    if len(value) < 4 or value.startswith(_MARK_PREFIX) or patterns.PLACEHOLDER.fullmatch(value):
        return False
    if value.count(" ") >= 2 or patterns.IDENTIFIER_PATH.fullmatch(value):
        return False  # "place your token here", settings.SECRET_KEY
    if patterns.NAME_WITH_KEYWORD.fullmatch(value) and not any(c.isdigit() for c in value):
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
    return match["key"].lower() in patterns.DIRECTORY_KEYS and match["val"].strip().startswith(
        patterns.PATH_START
    )


def _quoted(match: re.Match[str]) -> str | None:
    if _ignored(match) or not _plausible_value(match["val"], literal=True):
        return None
    return _value_masked(match)


def _assigned(line: str, forms: patterns.Assignments) -> tuple[str, int]:
    """The line with values assigned to secret names masked, in every form."""
    line, count = _replace(line, forms.quoted, _quoted)
    line, more = _unquoted(line, forms)
    count += more
    if "</" in line:
        line, more = _replace(line, forms.xml, _quoted)
        count += more
    return line, count


def _unquoted(line: str, forms: patterns.Assignments) -> tuple[str, int]:
    for pattern in (forms.env, forms.yaml):
        match = pattern.match(line)
        if match is None or _ignored(match):
            continue
        yaml = pattern is forms.yaml
        # `api_key: SecretStr` is likelier a Python annotation than a YAML secret.
        if yaml and patterns.TYPE_LIKE.fullmatch(match["val"]):
            continue
        # `KEY=value` (env files) and YAML scalars are literal; `key = value` may be code naming a variable.
        if _plausible_value(match["val"], literal=yaml or match["sep"] == "="):
            return _value_masked(match), 1
    return line, 0


def _random_token(match: re.Match[str]) -> str | None:
    return marker("high_entropy") if entropy.looks_random(match.group(0)) else None


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
            end = patterns.PEM_END.search(line)
            return (_PEM_MARK, "", True, 0) if end is None else (_PEM_MARK, line[end.end() :], False, 0)
        begins = list(patterns.PEM_BEGIN.finditer(line))
        if not begins or patterns.PEM_END.search(line, begins[-1].end()):
            return (
                "",
                line,
                False,
                0,
            )  # no block, or one that ends on this line (patterns.TOKENS masks it)
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
        if patterns.TOKEN_HINT.search(line):
            line, n = _replace(line, patterns.TOKENS, lambda m: marker(m.lastgroup or "secret"))
            total += n
        if "://" in line:
            line, n = patterns.URL_USERINFO.subn(r"\g<scheme>" + marker("url_credentials") + "@", line)
            total += n
        lowered = line.lower()
        if "aws" in lowered:
            line, n = _replace(
                line, patterns.AWS_SECRET, lambda m: _value_masked(m, marker("aws_secret_key"))
            )
            total += n
        if patterns.KEY_HINT.search(lowered):
            line, n = _assigned(line, patterns.NAMED)
            total += n
        if "pass" in lowered or "pw" in lowered:
            line, n = _assigned(line, patterns.SHORT_NAMED)
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
