"""Small statistics the consumers share: a least-squares line (trend and forecast)."""

from __future__ import annotations


def least_squares(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through ``points``; flat through the mean for fewer
    than two distinct x values.

    >>> least_squares([(0, 1), (1, 3), (2, 5)])
    (2.0, 1.0)
    """
    if not points:
        return 0.0, 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope, mean_y - slope * mean_x
