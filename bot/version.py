"""Quorum's version, from the installed distribution's metadata (one source: pyproject.toml)."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "quorum-review"


def _installed() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


VERSION = _installed()
# Sent with every outgoing request, so a GitHub, LLM or Elasticsearch operator can tell who calls them.
USER_AGENT = f"quorum/{VERSION}"
HEADERS = {"User-Agent": USER_AGENT}
