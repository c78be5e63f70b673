"""Lecture 3 shows what its text says: each test reads numbers the executed notebook printed and
compares them with an independent computation here (layer formulas, NumPy), so the teaching cells
carry no asserts.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from executed import executed
from shown import markdown, num, shown

ROOT = Path(__file__).resolve().parents[1]
LECTURE = ROOT / "notebooks" / "03_pooling_normalisation_fc.ipynb"


@pytest.fixture(scope="module")
def nb():
    return executed(LECTURE)[0]


def test_section_1_vgg16_fc6_with_and_without_pools(nb):
    text = shown(nb, 'vgg16_no_pool = [layer for layer in vgg16')
    with_pools, without = 7 * 7 * 512 * 4096 + 4096, 224 * 224 * 512 * 4096 + 4096
    assert num(r"with pools:\s+([\d,]+)", text) == with_pools
    assert num(r"without pools: ([\d,]+)", text) == without
    assert num(r"float32: (\d+) GB", text) == round(4 * without / 1e9)
    assert re.findall(r"pool\d: output \(\d+, \d+, \d+\), parameters (\d+)", text) == ["0"] * 5
    prose = markdown(nb, "With its pools, VGG16's fc6 reads")
    assert f"{with_pools:,}" in prose and f"{without:,}" in prose and f"{round(4 * without / 1e9)} GB" in prose


def test_section_2_max_pool_by_hand(nb):
    text = shown(nb, "by_hand = x4.reshape(2, 2, 2, 2)")
    x4 = np.array([[3, 1, 2, 4], [0, 5, 8, 1], [7, 2, 1, 0], [4, 6, 3, 9]])
    expected = [[x4[i:i + 2, j:j + 2].max() for j in (0, 2)] for i in (0, 2)]
    printed = [[float(v) for v in row.split()] for row in re.findall(r"\[+([\d. ]+)\]", text)[:2]]
    assert printed == expected
    assert num(r"discarded: (\d+)%", text) == 75


def test_section_3_summaries_of_one_strong_response(nb):
    window = np.array([0.0, 0.0, 0.0, 8.0])
    expected = {"max": window.max(), "average": window.mean(), "L2": np.sqrt(np.mean(window ** 2))}
    text = shown(nb, 'window = np.array([[0., 0.], [0., 8.]])')
    for name, value in expected.items():
        assert num(rf"'{name}': ([\d.]+)", text) == value
    text = shown(nb, "def pool_twice(x, pool):")
    kept = {name: num(rf"{name}\s*: shape .* kept (\d+)%", text) for name in ("max", "average", "L2")}
    assert kept["max"] == 100 and kept["average"] < kept["L2"] < 100


def test_section_4_switches_route_the_gradient(nb):
    text = shown(nb, "dx_by_hand = np.zeros_like(x4)")
    x4 = np.array([[3., 1., 2., 4.], [0., 5., 8., 1.], [7., 2., 1., 0.], [4., 6., 3., 9.]])
    dout = np.array([[0.1, -0.2], [0.3, 0.4]])
    dx = np.zeros_like(x4)
    for i in range(2):
        for j in range(2):
            block = x4[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            a, b = np.unravel_index(block.argmax(), (2, 2))
            dx[2 * i + a, 2 * j + b] = dout[i, j]
    printed = np.array([[float(v) for v in row.split()] for row in re.findall(r"\[+\s*([-\d. ]+)\]", text)])
    np.testing.assert_allclose(printed, dx)
    assert "0.6 = 0.6" in shown(nb, "x5[2, 2] = 10.0")          # overlapping windows: gradients add


def test_section_7_batch_norm_standardises_and_keeps_deep_tanh_alive(nb):
    text = shown(nb, "def deep_tanh(")
    plain = [float(v) for v in re.search(r"without BN: \[(.*)\]", text).group(1).replace("'", "").split(",")]
    normed = [float(v) for v in re.search(r"with BN:\s+\[(.*)\]", text).group(1).replace("'", "").split(",")]
    assert plain[-1] < 1e-6 and min(normed) > 0.5
    text = shown(nb, "example = np.array([[5.0]])")
    assert num(r"batch A ([\d.]+)", text) != num(r"batch B ([\d.]+)", text)
    assert num(r"in batch A ([\d.]+)", text) == num(r"alone ([\d.]+)", text)
    assert num(r"batch of one: ([-\d.]+)", text) == 0.0


def test_section_8_conv_as_an_fc_matrix(nb):
    text = shown(nb, "M = conv_as_fc_matrix(w_small, (1, 6, 6))")
    rows, cols = 2 * 4 * 4, 6 * 6
    assert f"matrix ({rows}, {cols})" in text and num(r"max \|difference\|: ([\d.e+-]+)", text) < 1e-12
    assert num(r"zeros: (\d+)% of the matrix", text) == round(100 * (1 - rows * 9 / (rows * cols)))
    assert num(r"distinct weights: (\d+)", text) == 2 * 9
    text = shown(nb, 'print(f"free FC weights')
    assert (num(r"free FC weights: ([\d,]+)", text), num(r"non-zero entries: (\d+)", text)) == (rows * cols, rows * 9)


def test_section_9_fc_to_conv_keeps_the_counts_and_scores_every_crop(nb):
    text = shown(nb, "vgg16_conv = fc_to_conv(vgg16)")
    assert num(r"fc6: .* ([\d,]+) parameters", text) == 7 * 7 * 512 * 4096 + 4096
    assert num(r"fc7: .* ([\d,]+) parameters", text) == 4096 * 4096 + 4096
    assert num(r"fc8: .* ([\d,]+) parameters", text) == 4096 * 1000 + 1000
    text = shown(nb, "big = analyze(with_input(vgg16_conv, 384))")
    side = (384 - 224) // 32 + 1
    assert f"score map: ({side}, {side}, 1000)" in text and f"= {side * side}" in text
    text = shown(nb, "score_map = net.score_map(photos)")
    assert num(r"max \|difference\| ([\d.e+-]+)", text) < 1e-10
    text = shown(nb, "padded = SlidingNet(crop=16, pad=1, seed=0)")
    assert re.search(r"crops that differ: (\d+) of \1\b", text), text        # every crop differs


def test_section_8_the_matrix_is_the_response_to_unit_vectors(nb):
    assert "unit vectors: True" in shown(nb, "M = conv_as_fc_matrix(w_small, (1, 6, 6))")
