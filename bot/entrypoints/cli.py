"""The `quorum` command line: parses the arguments, then runs the command (`cli_commands.py`).

Only argparse is imported before the arguments are parsed, so `quorum --help` and a usage error answer
at once; exit codes are listed in `cli_commands.py`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from bot.entrypoints import cli_args


def main(argv: Sequence[str] | None = None) -> int:
    args = cli_args.build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Imported once the arguments are valid: settings, pydantic, httpx and git come with it.
    from bot.entrypoints import cli_commands

    return cli_commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
