"""cs231n_lib.lectures.l01_history: the historical tables are consistent with themselves and with the course
outline, and the toy neuroscience models behave like the cells they stand for."""
from collections import defaultdict

import numpy as np
import pytest

from cs231n_lib.lectures import l01_history as h


# ---------------------------------------------------------------------------- timeline
def test_timeline_is_in_chronological_order():
    years = [e.year for e in h.TIMELINE]
    assert years == sorted(years), f"TIMELINE must be oldest first, got {years}"


def test_timeline_has_the_outline_years():
    # Written here from the course outline, not read back from the module.
    expected = {"Perceptron": 1957, "Adaline": 1960, "Madaline": 1962, "Backprop popularised": 1986,
                "Deep-learning revival": 2006, "AlexNet wins ImageNet": 2012, "Neocognitron": 1980,
                "First backprop-trained CNN": 1989, "LeNet-5": 1998, "Hubel & Wiesel (cat)": 1959,
                "Hubel & Wiesel (cat, architecture)": 1962, "Hubel & Wiesel (macaque)": 1968}
    for name, year in expected.items():
        assert h.event(name).year == year, name
    assert h.event("Madaline").approximate and not h.event("Adaline").approximate


def test_timeline_names_are_unique_and_complete():
    names = [e.name for e in h.TIMELINE]
    assert len(names) == len(set(names))
    for e in h.TIMELINE:
        assert e.description and e.citation and e.topic in {"neural nets", "neuroscience", "convnets", "data"}
        # every citation carries the event's year (the approximate Madaline one included)
        assert str(e.year) in e.citation, e


def test_no_misspelt_names_anywhere():
    text = " ".join(str(x) for table in (h.TIMELINE, h.IMAGENET_TOP5, h.APPLICATIONS) for x in table)
    for wrong in ("Neurocogni", "Ziler", "GoogleNet"):
        assert wrong not in text
    assert "monkey striate cortex" in h.event("Hubel & Wiesel (macaque)").citation


def test_event_lookup_errors_name_the_choices():
    with pytest.raises(KeyError, match="Perceptron"):
        h.event("Neurocognitron")


def test_timeline_pairs_filters_by_topic_and_marks_approximate_years():
    pairs = h.timeline_pairs()
    assert len(pairs) == len(h.TIMELINE)
    assert (1962, "Madaline (~)") in pairs
    neuro = h.timeline_pairs(["neuroscience"])
    assert [y for y, _ in neuro] == [1959, 1962, 1968]


# ---------------------------------------------------------------------------- ImageNet
def test_every_result_is_labelled():
    for r in h.IMAGENET_TOP5:
        assert r.split in ("test", "validation"), r
        assert r.entry and r.team and r.source, r
        assert 0 < r.top5_error < 100, r
        # only test-set numbers can be ranked; validation numbers are the authors' own
        assert not (r.ranked and r.split != "test"), r
        assert r.place is None or r.ranked, r


def test_years_are_ordered():
    years = [r.year for r in h.IMAGENET_TOP5]
    assert years == sorted(years)


def test_each_year_has_one_winner_and_it_is_the_minimum_of_the_ranked_entries():
    ranked = defaultdict(list)
    for r in h.IMAGENET_TOP5:
        if r.ranked:
            ranked[r.year].append(r)
    assert set(ranked) == {r.year for r in h.IMAGENET_TOP5}
    for year, entries in ranked.items():
        winners = [r for r in entries if r.place == 1]
        assert len(winners) == 1, year
        assert winners[0].top5_error == min(r.top5_error for r in entries), year
        assert h.imagenet_winner(year) is winners[0]
        for r in entries:
            if r.place == 2:  # runner-up: best of the other teams, worse than the winner
                others = [e.top5_error for e in entries if e.team != winners[0].team]
                assert r.top5_error == min(others) > winners[0].top5_error


def test_winning_error_falls_every_year():
    errors = [h.imagenet_winner(y).top5_error for y in sorted({r.year for r in h.IMAGENET_TOP5})]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors


def test_outline_numbers():
    # (year, entry, split) -> error, copied from the course outline
    expected = {(2012, "AlexNet, 5 CNNs", "test"): 16.4, (2012, "AlexNet, 7 CNNs", "test"): 15.3,
                (2012, "AlexNet, 7 CNNs", "validation"): 15.4, (2012, "ISI (SIFT + Fisher vectors)", "test"): 26.2,
                (2013, "ZFNet (Clarifai)", "test"): 11.7, (2014, "GoogLeNet", "test"): 6.67,
                (2014, "VGG", "test"): 7.3, (2014, "VGG, post-competition", "test"): 6.8,
                (2015, "ResNet", "test"): 3.57}
    got = {(r.year, r.entry, r.split): r.top5_error for r in h.IMAGENET_TOP5}
    for key, value in expected.items():
        assert got[key] == value, key
    assert h.imagenet_winner(2012).extra_data                  # the 15.3% entry used ImageNet Fall 2011
    assert h.imagenet_winner(2013).top5_error == 11.7          # not the 11.2% extra-data entry
    assert h.imagenet_winner(2015).top5_error == 3.57          # not "3.6%"


def test_entries_are_unique():
    keys = [(r.year, r.entry, r.split) for r in h.IMAGENET_TOP5]
    assert len(keys) == len(set(keys))


def test_filters_and_labels():
    assert all(r.split == "validation" for r in h.imagenet_results(split="validation"))
    assert {r.year for r in h.imagenet_results(year=2014)} == {2014}
    with pytest.raises(ValueError, match="split"):
        h.imagenet_results(split="val")
    with pytest.raises(ValueError, match="2011"):
        h.imagenet_winner(1999)
    label = h.imagenet_label(h.imagenet_winner(2015))
    assert "2015" in label and "ResNet" in label and "test" in label and "3.57%" in label
    chart = h.imagenet_chart_results()
    assert chart and all(r.split == "test" for r in chart)
    assert [r.year for r in chart] == sorted(r.year for r in chart)


# ---------------------------------------------------------------------------- applications
def test_applications_cover_the_outline():
    tasks = " ".join(a.task for a in h.APPLICATIONS)
    for task in ("Classification", "Retrieval", "Detection", "Segmentation", "Video", "Pose", "Go",
                 "Style transfer", "DeepDream", "Captioning", "Whales", "Aerial road maps"):
        assert task in tasks, task
    cites = " ".join(a.citation for a in h.APPLICATIONS)
    for cite in ("Farabet et al. 2012", "Simonyan et al. 2014", "Goodfellow et al. 2014", "Mnih & Hinton 2010",
                 "Cadieu et al. 2014", "Vinyals et al. 2015", "ConvNetJS"):
        assert cite in cites, cite
    for a in h.APPLICATIONS:
        assert str(a.year) in a.citation or "ConvNetJS" in a.citation, a


def test_caption_bands_are_ranked_best_to_worst():
    assert [b.rank for b in h.CAPTION_BANDS] == [1, 2, 3, 4]
    names = [b.name.lower() for b in h.CAPTION_BANDS]
    assert "without errors" in names[0] and "minor errors" in names[1]
    assert "somewhat related" in names[2] and "unrelated" in names[3]


# ---------------------------------------------------------------------------- cells
def test_bar_stimulus_geometry():
    img = h.bar_stimulus(21, angle_deg=0, width=3)
    # a horizontal bar 3 px wide through the centre: rows 9..11 lit, others dark
    assert np.allclose(img[9:12], 1) and np.allclose(img[:8], 0) and np.allclose(img[13:], 0)
    assert np.allclose(h.bar_stimulus(21, 90, width=3), img.T)
    shifted = h.bar_stimulus(21, angle_deg=0, offset=4, width=3)   # offset up = smaller row index
    assert np.allclose(shifted[5:8], 1) and np.allclose(shifted[10:], 0)


def test_center_surround_ignores_uniform_light_and_likes_a_spot():
    rf = h.center_surround(41, sigma=2.0)
    assert abs(h.cell_response(rf, np.ones((41, 41)))) < 0.01
    spot = (np.hypot(*np.mgrid[-20:21, -20:21]) <= 2).astype(float)
    assert h.cell_response(rf, spot) > 0.1


def test_simple_cell_is_tuned_to_orientation_and_position():
    rf = h.simple_cell_rf(31, angle_deg=30, offset=0)
    by_angle = [h.cell_response(rf, h.bar_stimulus(31, a)) for a in range(0, 180, 15)]
    assert np.argmax(by_angle) == 2                              # 30 degrees
    assert min(by_angle) < 0.05 * max(by_angle)                  # orthogonal bar: almost silent
    by_offset = [h.cell_response(rf, h.bar_stimulus(31, 30, o)) for o in range(-8, 9, 2)]
    assert np.argmax(by_offset) == 4 and by_offset[0] < 0.05 * by_offset[4]


def test_complex_cell_is_position_tolerant_but_orientation_tuned():
    rfs = [h.simple_cell_rf(31, 0, o) for o in range(-8, 9, 2)]
    rates = [h.complex_cell_response(rfs, h.bar_stimulus(31, 0, o))[0] for o in range(-8, 9, 2)]
    assert min(rates) > 0.9 * max(rates)                         # same rate wherever the bar is
    rate, k = h.complex_cell_response(rfs, h.bar_stimulus(31, 0, -4))
    assert k == 2                                                # the simple cell at offset -4 won
    assert h.complex_cell_response(rfs, h.bar_stimulus(31, 90))[0] < 0.1 * max(rates)
    with pytest.raises(ValueError, match="same shape"):
        h.cell_response(rfs[0], np.zeros((5, 5)))


def test_cortical_map_is_log_polar_and_magnification_is_its_derivative():
    # far from the fovea the map tends to k*log(r) + i*k*angle (log-polar)
    u, v = h.cortical_map(1e4 * np.cos(0.3), 1e4 * np.sin(0.3), a=1.0, k=10.0)
    assert np.isclose(v, 10.0 * 0.3, atol=1e-2) and np.isclose(u, 10.0 * np.log(1e4), rtol=1e-3)
    # magnification = distance on cortex / distance in the visual field, by finite differences
    for e in (0.0, 1.0, 5.0, 20.0):
        d = 1e-6
        u0, v0 = h.cortical_map(e, 0.0)
        u1, v1 = h.cortical_map(e + d, 0.0)
        assert np.isclose(np.hypot(u1 - u0, v1 - v0) / d, h.cortical_magnification(e), rtol=1e-4)
    m = h.cortical_magnification(np.array([0.0, 1.0, 10.0, 40.0]))
    assert np.all(np.diff(m) < 0)                                 # central vision gets the most cortex
    with pytest.raises(ValueError):
        h.cortical_magnification(-1.0)


def test_s_layer_matches_a_loop_and_c_layer_pools():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 7))
    t = rng.standard_normal((3, 2, 3, 3))
    out = h.s_layer(x, t, pad=1)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ref = np.zeros((3, 6, 7))
    for f in range(3):
        for i in range(6):
            for j in range(7):
                ref[f, i, j] = max(0.0, np.sum(xp[:, i:i + 3, j:j + 3] * t[f]))
    assert np.allclose(out, ref)
    with pytest.raises(ValueError, match="C=2"):
        h.s_layer(np.zeros((3, 5, 5)), t)
    pooled = h.c_layer(np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6))
    assert pooled.shape == (2, 2, 3)
    assert pooled[0, 0, 0] == 7 and pooled[1, 1, 2] == 47


def test_competitive_learning_self_organises_without_labels():
    rng = np.random.default_rng(1)
    centres = np.eye(4)[:3] * 3
    patches = np.concatenate([c + 0.1 * rng.standard_normal((50, 4)) for c in centres])
    w, hist = h.competitive_learning(patches, 3, num_epochs=5, seed=0)
    assert w.shape == (3, 4) and np.allclose(np.linalg.norm(w, axis=1), 1)
    assert hist[-1] < hist[0] and hist[-1] < 0.05
    # every cluster direction is claimed by one template
    assert sorted(np.argmax(np.abs(w), axis=1)) == [0, 1, 2]


def test_ilsvrc_2012_sizes():
    d = h.ILSVRC_2012
    assert d["classes"] == 1000
    assert d["val_images"] == 50 * d["classes"] and d["test_images"] == 100 * d["classes"]
    assert 1_200_000 < d["train_images"] < 1_300_000        # "about 1.2 million", 732-1300 per class


def test_applications_are_grouped():
    assert {a.group for a in h.APPLICATIONS} == set(h.APPLICATION_GROUPS)
    groups = [h.APPLICATION_GROUPS.index(a.group) for a in h.APPLICATIONS]
    assert groups == sorted(groups)                          # listed group by group, for the gallery


# ---------------------------------------------------------------------------- figures (lecture 1)
@pytest.fixture
def plot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cs231n_lib import plot as p
    yield p
    plt.close("all")


def test_secant_slopes_states_each_secant_slope(plot):
    ax = h.secant_slopes(lambda x: x ** 2, 1.0, [1.0, 0.5], df=lambda x: 2 * x)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    # slopes of x^2 at a = 1 are 2 + h: 3 and 2.5; tangent 2
    assert any("3.000" in t for t in texts) and any("2.500" in t for t in texts)
    assert any("tangent" in t and "2.000" in t for t in texts)


def test_tuning_curves_and_shape_check(plot):
    ax = h.tuning_curves([0, 1, 2], {"a": [1, 2, 3], "b": [3, 2, 1]}, "x")
    assert len(ax.get_lines()) == 2 and list(ax.get_lines()[1].get_ydata()) == [3, 2, 1]
    with pytest.raises(ValueError, match="shape"):
        h.tuning_curves([0, 1, 2], {"a": [1, 2]}, "x")


def test_stimuli_and_spikes_layout(plot):
    stim = np.zeros((3, 5, 5))
    fig = h.stimuli_and_spikes(stim, [np.array([0.1, 0.2]), np.array([]), np.array([0.5])])
    assert len(fig.axes) == 6
    assert [ax.get_xlabel() for ax in fig.axes[3:]] == ["2 spikes", "0 spikes", "1 spikes"]
    with pytest.raises(ValueError, match="2 spike trains for 3"):
        h.stimuli_and_spikes(stim, [[], []])


def test_retinotopic_map_draws_every_band_on_both_sides(plot):
    fig = h.retinotopic_map(h.cortical_map, h.cortical_magnification, eccentricities=(0, 2, 10, 40))
    field, cortex, mag = fig.axes
    assert len(field.patches) == len(cortex.patches) == 3
    # the band colours match across panels (same band, same colour)
    assert [p.get_facecolor() for p in field.patches] == [p.get_facecolor() for p in cortex.patches]
    assert np.isclose(mag.get_lines()[0].get_ydata()[0], h.cortical_magnification(0.0))


def test_sandwich_one_column_per_stage(plot):
    stages = [("input", np.zeros((8, 8))), ("S1", np.zeros((3, 8, 8))), ("C1", np.zeros((3, 4, 4)))]
    fig = h.sandwich(stages, max_planes=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input\n1x8x8", "S1\n3x8x8", "C1\n3x4x4"]
    assert len(fig.axes) == 3 * 3 + 1                          # planes + the strip


def test_card_grid_and_category_bars(plot):
    fig = h.card_grid([{"title": "A", "body": "b"}, {"title": "C", "body": "d", "image": np.zeros((4, 4))}],
                         ncols=2, legend={"g": "red"})
    assert [t.get_text() for t in fig.axes[0].texts][:2] == ["A", "b"]
    ax = h.category_bars(["x", "y", "z"], [3.0, 1.0, 2.0], ["p", "q", "p"], value_fmt="{:g}%")
    bars = ax.patches
    assert [b.get_width() for b in bars] == [3.0, 1.0, 2.0]
    assert bars[0].get_facecolor() == bars[2].get_facecolor() != bars[1].get_facecolor()
    assert [t.get_text() for t in ax.texts] == ["3%", "1%", "2%"]
    with pytest.raises(ValueError, match="3 labels, 2 values"):
        h.category_bars(["x", "y", "z"], [1, 2], ["p", "q", "p"])
