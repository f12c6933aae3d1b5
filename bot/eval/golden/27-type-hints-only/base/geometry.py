"""Plane geometry."""

import math


def distance(a, b):
    """The distance between points `a` and `b`."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


def centroid(points):
    """The mean of the points."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (sum(xs) / len(xs), sum(ys) / len(ys))
