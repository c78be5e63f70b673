"""Lecture 1 shows what its text says: each test reads numbers the executed notebook printed and
compares them with the sentence that reports them or with a computation here, so the teaching cells
carry no asserts. The credit for the first backprop-trained ConvNet (LeCun et al. 1989) must be the
same in every lecture that tells the story (issue #19: lecture 7 called LeNet-5 "the first").
"""
import json
import math
import re
from pathlib import Path

import pytest

from executed import executed
from shown import markdown, num, shown

ROOT = Path(__file__).resolve().parents[1]
LECTURE = ROOT / "notebooks" / "01_history_and_motivation.ipynb"
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def nb():
    return executed(LECTURE)[0]


def test_section_1_secants_are_off_by_h(nb):
    rows = re.findall(r"h = ([\d.]+)\s+Δy/Δx = ([\d.]+)\s+Δy/Δx - dy/dx = ([\d.]+)", shown(nb, "secant = (f(a + hs)"))
    assert len(rows) == 6
    for h, slope, gap in rows:
        assert abs(float(gap) - float(h)) < 1e-6 and abs(float(slope) - (2 + float(h))) < 1e-6


def test_section_1_centred_error_is_h_squared(nb):
    rows = re.findall(r"h = ([\d.]+)\s+one-sided error ([\d.e+-]+)\s+centred error ([\d.e+-]+)",
                      shown(nb, "centred = (g(a + step)"))
    assert len(rows) == 3
    for h, one, cen in map(lambda r: map(float, r), rows):
        assert math.isclose(one, 3 * h + h * h, rel_tol=1e-2) and math.isclose(cen, h * h, rel_tol=1e-2)


def test_section_1_chain_rule_numbers(nb):
    text = shown(nb, "dz_dx = dz_dy * dy_dx")
    x = 1.5
    assert num(r"dz/dx = ([\d.]+)", text) == 4 * x ** 3 + 2 * x
    assert abs(num(r"centred difference: ([\d.]+)", text) - (4 * x ** 3 + 2 * x)) < 1e-6
    assert "16.5" in markdown(nb, "### 1.2 The chain rule")
    assert num(r"= ([\d.]+);", shown(nb, "dz_du, dz_dv = 1.0, 1.0")) == 2 * x ** 2 + 1
    assert "analytic [-4.  7.]   numeric [-4.  7.]" in shown(nb, "f2 = lambda p:")


def test_section_3_cells_fit_the_sentence_that_describes_them(nb):
    text = shown(nb, "complex_by_pos = np.array(")
    assert num(r"bar moved 4 px: ([\d.]+)%", text) < 5
    assert num(r"at least ([\d.]+)%", text) > 90
    assert num(r"off its preference: ([\d.]+)%", text) < 10
    prose = markdown(nb, "Moving the bar by 4 pixels silences")
    assert "under 5%" in prose and "over 90%" in prose and "under 10%" in prose


def test_section_3_cortical_magnification(nb):
    text = shown(nb, "field_share = area(")
    assert num(r"half field: ([\d.]+)% of the visual field", text) < 2
    assert num(r"([\d.]+)% of its map on the cortex", text) > 30
    assert "under 2%" in markdown(nb, "In this model the central") and "over 30%" in markdown(nb, "In this model the central")


def test_section_4_neocognitron_output_tolerates_shifts_better_than_pixels(nb):
    rows = re.findall(r"(\d) px\s+([\d.]+)\s+([\d.]+)", shown(nb, "def cosine(u, v):"))
    assert len(rows) == 3 and all(float(deep) > float(pix) for _, pix, deep in rows)
    dist = [float(v) for v in re.search(r"per epoch: \[([\d. ]+)\]", shown(nb, "competitive_learning(")).group(1).split()]
    assert dist[-1] < dist[0]


def test_section_5_lenet_sizes_and_count(nb):
    text = shown(nb, "sizes.append(conv_output_size(sizes[-1], F=5, S=1))")
    sizes = [32]
    for step in ("conv", "pool", "conv", "pool"):
        sizes.append(sizes[-1] - 4 if step == "conv" else sizes[-1] // 2)
    assert " -> ".join(map(str, sizes)) in text
    count = num(r"parameters: ([\d,]+)", text)
    assert f"{count:,.0f}" in markdown(nb, "## 5. Backprop meets convolution")


def test_section_6_alexnet_is_about_1000_times_lenet(nb):
    assert 500 < num(r"parameters: ([\d,]+)x", shown(nb, "ratio = alex.params / lenet.params")) < 2000


def test_section_7_random_scores_miss_995_in_1000(nb):
    assert abs(num(r"random scores: ([\d.]+)%", shown(nb, "def top5_error(")) - 99.5) < 1.0


def _markdown(path):
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")


def test_lecture_1_credits_lecun_1989_with_the_first_backprop_trained_convnet():
    text = _markdown(LECTURE)
    assert re.search(r"LeCun et al\. \(1989\).*?the first backprop-trained ConvNet", text, re.S)
    assert "LeNet-5" in text and "1998" in text


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name[:2])
def test_no_lecture_calls_lenet5_the_first_convnet(path):
    """LeNet-5 (1998) came after LeCun et al. 1989; a lecture may call it the first *widely deployed*
    or *commercial* reader, but not the first ConvNet or the first successful ConvNet application."""
    text = _markdown(path)
    for m in re.finditer(r"[^.]*\bfirst (successful )?(ConvNet|CNN|convolutional network)s?\b[^.]*", text, re.I):
        sentence = m.group(0)
        assert not ("LeNet" in sentence or "1998" in sentence) or "1989" in sentence, sentence


def test_section_1_backward_pass_equals_the_chain_rule(nb):
    text = shown(nb, "dy = dout * (2 * y + 1)")
    x = 1.5
    assert num(r"backward pass: dz/dx = ([\d.]+)", text) == num(r"chain rule above: ([\d.]+)\)", text) == 4 * x ** 3 + 2 * x
