"""grading.scoring.cell_score: partial credit per hidden case, or all or nothing."""
import pytest

from grading.scoring import cell_score


@pytest.mark.parametrize("points, passed, total, partial, want", [
    (4, 3, 4, True, 3.0),
    (5, 1, 3, True, 1.67),        # 5/3 = 1.666... rounds to 1.67
    (5, 2, 3, True, 3.33),
    (2, 0, 5, True, 0.0),
    (2, 5, 5, True, 2.0),
    (4, 3, 4, False, 0.0),         # off: one failed case loses the cell
    (4, 4, 4, False, 4.0),
    (4, 0, 0, True, 0.0),          # no cases: nothing earned
    (4, 0, 0, False, 0.0),
])
def test_cell_score(points, passed, total, partial, want):
    assert cell_score(points, passed, total, partial) == want


def test_partial_is_the_default():
    assert cell_score(6, 1, 2) == 3.0


@pytest.mark.parametrize("passed, total", [(3, 2), (-1, 2), (0, -1)])
def test_impossible_counts_are_refused(passed, total):
    with pytest.raises(ValueError, match="passed"):
        cell_score(1, passed, total)
