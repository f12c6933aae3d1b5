"""Money amounts."""

from decimal import ROUND_HALF_EVEN, Decimal


def to_cents(amount):
    return int((Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_cents(cents):
    return Decimal(cents) / 100
