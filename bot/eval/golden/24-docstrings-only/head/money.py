"""Money amounts.

Amounts are stored as integer cents; conversions round half to even (banker's rounding), as the
accounting team requires.
"""

from decimal import ROUND_HALF_EVEN, Decimal


def to_cents(amount):
    """`amount` (a string or Decimal, in units) as whole cents, rounded half to even."""
    return int((Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_cents(cents):
    """Whole cents back to a Decimal amount in units."""
    return Decimal(cents) / 100
