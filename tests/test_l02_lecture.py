"""Lecture 2 shows what its text says: each test reads a number the executed notebook printed
(tests/executed.py runs it once per test run) and compares it with an independent computation here
(a formula, a loop, scipy), so the teaching cells carry no asserts. The last tests read the stored
notebook's source: the conventions and the figure settings the issue #19 review asked for.
"""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from executed import executed
from shown import compare_lines, num, shown

ROOT = Path(__file__).resolve().parents[1]
LECTURE = ROOT / "notebooks" / "02_convolution_layer.ipynb"


@pytest.fixture(scope="module")
def nb():
    return executed(LECTURE)[0]


def test_every_comparison_the_lecture_prints_agrees(nb):
    lines = compare_lines(nb)
    assert len(lines) >= 20, f"expected the lecture's ~20 compare() lines, found {len(lines)}"
    bad = [line for line in lines if "approx: True" not in line]
    assert not bad, bad


def test_section_1_parameter_counts(nb):
    text = shown(nb, 'own = {"CONV"')
    assert num(r"'CONV': (\d+)", text) == 12 * (3 * 3 * 3 + 1)
    assert num(r"'FC': (\d+)", text) == (16 * 16 * 12) * 10 + 10


def test_section_1_backward_pass_predicts_the_directional_derivative(nb):
    text = shown(nb, "def loss_at(x_):")
    numeric = num(r"numeric (-?[\d.]+)", text)
    analytic = num(r"backward pass (-?[\d.]+)", text)
    assert abs(numeric - analytic) < 1e-5 * max(1.0, abs(analytic))
    assert abs(num(r"softmax loss ([\d.]+)", text) - math.log(10)) < 0.5     # "not far from log 10"


def test_section_2_equivariance_and_pooling(nb):
    assert num(r"over the overlap = ([\d.e+-]+)", shown(nb, "def filt(img):")) < 1e-12
    text = shown(nb, "shifted = big[10:74, 11:75]")
    assert num(r"after 2x2 max pool ([\d.]+)", text) < num(r"conv\+ReLU maps ([\d.]+)", text)


def test_section_4_receptive_field_is_the_window_times_the_depth(nb):
    assert num(r"depends on: (\d+)", shown(nb, "d_one[0, 0, 10, 20] = 1.0")) == 5 * 5 * 3


def test_section_6_unpadded_layers_that_fit(nb):
    n, size = 0, 32
    while size - 3 + 1 >= 1:
        size, n = size - 2, n + 1
    assert num(r"(\d+) layers fit", shown(nb, "layers_that_fit = len(sizes) - 1")) == n


def test_section_7_conv_versus_fc(nb):
    text = shown(nb, "c = arch.compare_conv_fc(32, 32, 3")
    conv, fc = 10 * (5 * 5 * 3 + 1), (32 * 32 * 10) * (32 * 32 * 3 + 1)
    assert num(r"parameters conv ([\d,]+)", text) == conv
    assert num(r"vs FC ([\d,]+) \(", text) == fc
    assert num(r"multiply-adds conv ([\d,]+)", text) == 32 * 32 * 10 * 5 * 5 * 3
    assert num(r"multiply-adds conv [\d,]+ vs FC ([\d,]+)", text) == (32 * 32 * 10) * (32 * 32 * 3)


def test_section_8_alexnet_conv1(nb):
    text = shown(nb, "H1 = conv_output_size(227, 11, 4, 0)")
    side = (227 - 11) // 4 + 1
    assert num(r"= ([\d,]+) neurons", text) == side * side * 96
    assert num(r"= ([\d,]+) without sharing", text) == side * side * 96 * (11 * 11 * 3 + 1)
    assert num(r"; ([\d,]+) with sharing", text) == 96 * (11 * 11 * 3 + 1)


def test_section_9_gradient_terms_drawing_says_how_many_are_negative(nb):
    share = num(r"(\d+)% of the 225 per-position terms are negative", shown(nb, "terms = list(contrib"))
    assert 0 < share < 100


def test_section_12_layer_is_cross_correlation_not_convolution(nb):
    text = shown(nb, "def convolve_full(f, g):")
    assert "the layer with g and with g flipped agree: False" in text


def test_section_14_im2col_shapes_and_blowup(nb):
    text = shown(nb, "X_col = im2col(photo227, 11, 11, stride=4, pad=0)")
    assert f"X_col ({11 * 11 * 3}, {55 * 55})" in text and f"W_row (96, {11 * 11 * 3})" in text
    text = shown(nb, "values_col, values_in, blowup = arch.im2col_blowup")
    assert num(r"X_col ([\d,]+) values", text) == 11 * 11 * 3 * 55 * 55
    assert num(r"input ([\d,]+):", text) == 227 * 227 * 3
    copies = np.zeros(227, int)                                   # windows covering each column index
    for start in range(0, 227 - 11 + 1, 4):
        copies[start:start + 11] += 1
    assert num(r"most copies of one pixel: (\d+)", text) == copies.max() ** 2


def test_section_15_batch_of_128_in_megabytes(nb):
    text = shown(nb, "batch_bytes = 128 * values_col * 4")
    assert num(r"float32: ([\d.]+) MB", text) == round(128 * 1_098_075 * 4 / 1e6, 1)


def test_section_18_receptive_fields(nb):
    text = shown(nb, 'stacks = {"one 3x3"')
    def field(layers):                                            # (F, dilation) stride 1: grows by D(F-1)
        return 1 + sum(d * (f - 1) for f, d in layers)
    for name, layers in {"one 3x3": [(3, 1)], "two 3x3": [(3, 1)] * 2, "three 3x3": [(3, 1)] * 3,
                         "3x3, d = 1, 2, 4": [(3, 1), (3, 2), (3, 4)]}.items():
        size = field(layers)
        assert f"'{name}': '{size}x{size}'" in text


def test_section_18_a_linear_stack_is_one_7x7_and_relus_break_that(nb):
    text = shown(nb, "k7 = convolve2d(convolve2d(g1, g2), g3)")
    assert num(r"max \|difference\|: ([\d.e+-]+)", text) < 1e-10
    assert num(r"with ReLUs: ([\d.]+)", text) > 1.0


def test_section_20_the_trained_net_learns_the_digits(nb):
    assert num(r"test accuracy ([\d.]+)", shown(nb, "solver.train()")) > 0.8


def test_explorer_prints_one_live_line_and_no_stale_copy(nb):
    cells = [c for c in nb.cells if c.cell_type == "code" and "def explore(" in c.source]
    outs = cells[0].outputs
    widget = any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
    lines = [line for o in outs if o.get("output_type") == "stream" for line in o["text"].splitlines()
             if line.startswith("W=")]
    # with widgets the slider's own output is the live line; a printed one under it would be stale
    assert len(lines) == (0 if widget else 1), (widget, lines)


def test_step_slider_counts_like_the_figure_title(nb):
    text = shown(nb, "def show_step(")
    assert "IntSlider" in text, "no slider shown (ipywidgets is a course dependency, pyproject.toml)"
    n_steps = 2 * 3 * 3                                          # K = 2 filters, a 3x3 output
    assert re.search(r"value=1\b", text) and re.search(r"min=1\b", text) and f"max={n_steps}" in text
    assert f"of {n_steps}" in text


# ------------------------------------------------------------------------------ the stored source
def _code(path=LECTURE):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_notes_x_is_the_width_everywhere():
    """The notes' X[x, y, d] is width, height, depth (cell 23: conv.transpose(0, 3, 2, 1)); every
    change of layout between that and the library's (C, H, W) must map x to W, never to H."""
    src = "\n".join(_code())
    to_lib = re.findall(r"\b(Xv|X_t)\.transpose\(([\d, ]+)\)", src)
    assert to_lib and all(axes == "2, 1, 0" for _, axes in to_lib), to_lib
    filters = re.findall(r"np\.stack\((?:\[W0, W1\]|filters_t)\)\.transpose\(([\d, ]+)\)", src)
    assert filters and all(axes == "0, 3, 2, 1" for axes in filters), filters


LECTURES_01_04 = sorted((ROOT / "notebooks").glob("0[1-4]_*.ipynb"))


def _calls(src, name):
    for m in re.finditer(rf"\b{name}\(", src):
        depth, i = 0, m.end() - 1
        for j in range(i, len(src)):
            depth += {"(": 1, ")": -1}.get(src[j], 0)
            if depth == 0:
                yield src[m.start():j + 1]
                break


@pytest.mark.parametrize("path", LECTURES_01_04, ids=lambda p: p.name[:2])
def test_diverging_maps_put_white_at_zero(path):
    """A diverging map (RdBu_r) in image_grid stretched min..max puts white wherever the middle of
    the range happens to be; it must use a signed normalisation (or values already centred, None)."""
    bad = [call for src in _code(path) for call in _calls(src, "image_grid")
           if "RdBu" in call and not re.search(r"normalize=(\"signed-(each|all)\"|None)", call)]
    assert not bad, bad
