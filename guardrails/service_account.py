"""Service-account key files (Google Cloud): recognised by their type, their secrets masked together.

A key file holds a private key (caught alone too), its key id (40 hex digits, which look like a git
object name) and the account's identity. With `"type": "service_account"` anywhere in the text, every
one of those fields loses its value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TYPE = re.compile(r"""["']type["']\s*:\s*["']service_account["']""")
_FIELD = re.compile(
    r"""(?P<head>["'](?:private_key_id|private_key|client_email|client_id|client_x509_cert_url)["']"""
    r"""\s*:\s*(?P<q>["']))(?P<val>(?:[^"'\\]|\\.)*)(?P=q)"""
)


def mask(lines: Sequence[str], mark: str) -> tuple[list[str], int]:
    """The lines with a key file's secret fields replaced by `mark`, and how many were."""
    out = list(lines)
    if not any("service_account" in line and _TYPE.search(line) for line in out):
        return out, 0
    count = 0
    for index, line in enumerate(out):
        if "client_" in line or "private_key" in line:
            out[index], found = _FIELD.subn(lambda m: m["head"] + mark + m["q"], line)
            count += found
    return out, count
