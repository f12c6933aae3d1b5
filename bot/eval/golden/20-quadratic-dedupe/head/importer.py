"""Imports events from the nightly export (about a million rows)."""

import csv


def rows(path):
    """The rows of the export."""
    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def unique_events(path):
    """Each event id once, in file order."""
    seen = []
    out = []
    for row in rows(path):
        if row["event_id"] not in seen:
            seen.append(row["event_id"])
            out.append(row)
    return out
