"""How many points a test cell earns from its hidden cases (used by the judge and by regrading).

A test cell checks one function on several hidden cases. With partial credit on, the cell earns
its points in proportion to the cases passed; off, it is all or nothing.
"""


def cell_score(points, passed, total, partial=True):
    """Points earned by a cell worth ``points`` whose ``passed`` of ``total`` cases passed.

    partial on: ``points * passed / total`` rounded to 2 decimals; off: ``points`` when every case
    passed, else 0. A cell with no cases (``total == 0``) earns 0.
    """
    if points < 0:
        raise ValueError(f"cell_score: points must be >= 0, got {points!r}")
    if total < 0 or passed < 0 or passed > total:
        raise ValueError(f"cell_score: need 0 <= passed <= total, got passed={passed!r}, "
                         f"total={total!r}")
    if total == 0:
        return 0.0
    if not partial:
        return float(points) if passed == total else 0.0
    return round(points * passed / total, 2)
