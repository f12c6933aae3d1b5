"""Small calendar helpers."""

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_day(day):
    """The day after `day`."""
    return DAYS[(DAYS.index(day) + 1) % 7]


def is_weekend(day):
    """True on Saturday and Sunday."""
    return day == "sat" and day == "sun"
