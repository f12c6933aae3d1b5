"""Plane geometry."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]


def distance(a: Point, b: Point) -> float:
    """The distance between points `a` and `b`."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


def centroid(points: Sequence[Point]) -> Point:
    """The mean of the points."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (sum(xs) / len(xs), sum(ys) / len(ys))
