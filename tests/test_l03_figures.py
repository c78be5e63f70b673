"""Lecture 3's figure helpers (number_grids, volumes_to_scale, histograms_by_layer): they draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from cs231n_lib.lectures import l03_pooling_normalisation as l03  # noqa: E402


# Warnings are errors, drawing included; nothing logged; figures closed (conftest.py).
pytestmark = pytest.mark.usefixtures("quiet_figures")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_number_grids_labels_every_cell_and_marks_switches():
    x = np.array([[3., 1., 2., 4.], [0., 5., 8., 1.], [7., 2., 1., 0.], [4., 6., 3., 9.]])
    pooled = np.array([[5., 8.], [7., 9.]])
    marks = np.zeros_like(x, dtype=bool)
    marks[[1, 1, 2, 3], [1, 2, 0, 3]] = True
    fig = l03.number_grids([x, pooled], titles=["in", "out"], blocks=[(2, 2), None], marks=[marks, None],
                            same_scale=True)
    left, right = fig.axes
    assert sorted(_texts(left)) == sorted(f"{v:g}" for v in x.ravel())
    assert sorted(_texts(right)) == ["5", "7", "8", "9"]
    assert [ax.get_title() for ax in fig.axes] == ["in", "out"]
    outlined = [p for p in left.patches if isinstance(p, Rectangle)]
    centres = sorted((round(p.get_x() + p.get_width() / 2), round(p.get_y() + p.get_height() / 2)) for p in outlined)
    assert centres == sorted((int(j), int(i)) for i, j in zip(*np.nonzero(marks)))   # (x, y) = (col, row)
    assert len(left.lines) == 3 + 3                                  # block borders at 0, 2, 4 on each axis
    # same_scale: the 9 in both panels maps to the same colour limits
    assert left.images[0].get_clim() == right.images[0].get_clim() == (0.0, 9.0)


def test_number_grids_center_and_plain_colours():
    signed = np.array([[-2., 1.], [0.5, 2.]])
    fig = l03.number_grids([signed, np.abs(signed)], fmt=None, center=[True, False])
    a, b = fig.axes
    assert a.images[0].get_clim() == (-2.0, 2.0) and a.images[0].get_cmap().name == "RdBu_r"
    assert b.images[0].get_clim() == (0.5, 2.0)
    assert _texts(a) == [] and _texts(b) == []                       # fmt=None: colours only


def test_number_grids_rejects_mismatched_arguments():
    with pytest.raises(ValueError, match="titles"):
        l03.number_grids([np.eye(2)], titles=["a", "b"])
    with pytest.raises(ValueError, match="center"):
        l03.number_grids([np.eye(2), np.eye(2)], center=[True])
    with pytest.raises(ValueError, match="2-D"):
        l03.number_grids([np.zeros((2, 2, 2))])


def test_volume_diagram_draws_one_box_per_volume():
    ax = l03.volumes_to_scale([(224, 224, 64), (112, 112, 64)], labels=["a", "b"], arrows=["pool"])
    assert len([p for p in ax.patches if isinstance(p, Polygon)]) == 3 * 2     # front, top, side faces
    texts = _texts(ax)
    assert "224 x 224 x 64" in texts and "112 x 112 x 64" in texts and "pool" in texts
    fronts = [p for p in ax.patches if isinstance(p, Polygon)][2::3]
    heights = [np.ptp(p.get_xy()[:, 1]) for p in fronts]
    assert np.isclose(heights[0], 2 * heights[1])                   # 224 drawn twice as tall as 112
    with pytest.raises(ValueError, match="arrow"):
        l03.volumes_to_scale([(4, 4, 2), (2, 2, 2)], arrows=[])


def test_histograms_by_layer_grid_and_stds():
    rng = np.random.default_rng(0)
    rows = {"a": [rng.standard_normal(100), 0.5 * rng.standard_normal(100)],
            "b": [rng.uniform(-1, 1, 100), rng.uniform(-1, 1, 100)]}
    fig = l03.histograms_by_layer(rows, value_range=(-3, 3))
    assert len(fig.axes) == 4
    assert fig.axes[1].get_title() == f"layer 2\nstd {rows['a'][1].std():.2g}"
    assert fig.axes[0].get_ylabel() == "a" and fig.axes[2].get_ylabel() == "b"
    with pytest.raises(ValueError, match="same number of layers"):
        l03.histograms_by_layer({"a": [np.zeros(3)], "b": [np.zeros(3), np.zeros(3)]})
