"""Monthly reports."""


def render(rows):
    """The report as CSV text."""
    return "\n".join(",".join(str(c) for c in row) for row in rows)
