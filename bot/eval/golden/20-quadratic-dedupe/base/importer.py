"""Imports events from the nightly export (about a million rows)."""

import csv


def rows(path):
    """The rows of the export."""
    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)
