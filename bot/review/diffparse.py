"""Parse `git diff` output into files and hunks with exact old/new line maps."""

from __future__ import annotations

# The arguments after `git` whose output `parse` understands; the git adapter runs exactly these.
DIFF_ARGS: tuple[str, ...] = (
    "-c",
    "core.quotePath=false",
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--find-renames",
    "--find-copies",
    "--unified=3",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)
