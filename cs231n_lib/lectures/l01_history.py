"""The history of ConvNets as data, plus toy models of the findings that inspired them.

Lecture 1 prints and plots every year and error rate from here, so the text cannot drift from
the numbers. Four tables:

- ``TIMELINE``          dated events (perceptron 1957 ... AlexNet 2012), each with a citation
- ``IMAGENET_TOP5``     ILSVRC classification top-5 error rates, each labelled with its entry and
                        split (test or validation) and whether it counted in that year's ranking
- ``APPLICATIONS``      what ConvNets were used for, each with a citation
- ``CAPTION_BANDS``     the four quality bands of the captioning examples (Vinyals et al. 2015)

and small models of Hubel & Wiesel's cells and of the Neocognitron, computed with NumPy:

- ``bar_stimulus``, ``center_surround``, ``simple_cell_rf``, ``cell_response``, ``complex_cell_response``
- ``cortical_map``, ``cortical_magnification``   (retinotopy: a log-polar-like map of the visual field)
- ``s_layer``, ``c_layer``, ``competitive_learning``   (a small S-C-S-C "sandwich" without backprop)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from cs231n_lib.plot import COLORS, INK, MUTED, _as_images, _fmt, _new_ax

__all__ = [
    "Event", "TIMELINE", "event", "timeline_pairs",
    "ImageNetResult", "IMAGENET_TOP5", "imagenet_results", "imagenet_winner", "imagenet_label",
    "imagenet_chart_results", "ILSVRC_2012",
    "Application", "APPLICATION_GROUPS", "APPLICATIONS", "CaptionBand", "CAPTION_BANDS",
    "bar_stimulus", "center_surround", "simple_cell_rf", "cell_response", "complex_cell_response",
    "cortical_map", "cortical_magnification",
    "s_layer", "c_layer", "competitive_learning",
    "secant_slopes", "tuning_curves", "stimuli_and_spikes", "retinotopic_map", "sandwich", "card_grid", "category_bars",  # figures
]


# ----------------------------------------------------------------------------------------------
# Timeline
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """One dated event. `approximate` marks a year known only to about +-2 years (Madaline)."""
    year: int
    name: str
    description: str
    citation: str
    topic: str              # "neural nets" | "neuroscience" | "convnets" | "data"
    approximate: bool = False


TIMELINE: tuple[Event, ...] = (
    Event(1957, "Perceptron", "Rosenblatt's perceptron: a linear threshold unit with a learning rule",
          "Rosenblatt 1957, The perceptron, a perceiving and recognizing automaton", "neural nets"),
    Event(1959, "Hubel & Wiesel (cat)", "single neurons in cat visual cortex respond to oriented bars",
          "Hubel & Wiesel 1959, Receptive fields of single neurones in the cat's striate cortex",
          "neuroscience"),
    Event(1960, "Adaline", "adaptive linear neuron trained by the LMS (delta) rule",
          "Widrow & Hoff 1960, Adaptive switching circuits", "neural nets"),
    Event(1962, "Madaline", "many Adalines in a layer, combined by a fixed logic unit",
          "Widrow 1962, Generalization and information storage in networks of Adaline neurons",
          "neural nets", approximate=True),
    Event(1962, "Hubel & Wiesel (cat, architecture)", "simple vs complex cells, functional architecture",
          "Hubel & Wiesel 1962, Receptive fields, binocular interaction and functional architecture "
          "in the cat's visual cortex", "neuroscience"),
    Event(1968, "Hubel & Wiesel (macaque)", "the same organisation in monkey striate cortex",
          "Hubel & Wiesel 1968, Receptive fields and functional architecture of monkey striate cortex",
          "neuroscience"),
    Event(1980, "Neocognitron", "Fukushima's S-C 'sandwich', self-organised without labels, no backprop",
          "Fukushima 1980, Neocognitron: a self-organizing neural network model for a mechanism of "
          "pattern recognition unaffected by shift in position", "convnets"),
    Event(1986, "Backprop popularised", "error back-propagation trains hidden layers",
          "Rumelhart, Hinton & Williams 1986, Learning representations by back-propagating errors",
          "neural nets"),
    Event(1989, "First backprop-trained CNN", "a ConvNet trained end to end reads handwritten zip codes",
          "LeCun et al. 1989, Backpropagation applied to handwritten zip code recognition", "convnets"),
    Event(1998, "LeNet-5", "the document and cheque reader: CONV-POOL-CONV-POOL-FC-FC",
          "LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition",
          "convnets"),
    Event(2006, "Deep-learning revival", "layer-wise pre-training makes deep networks trainable again",
          "Hinton & Salakhutdinov 2006, Reducing the dimensionality of data with neural networks; "
          "Hinton, Osindero & Teh 2006, A fast learning algorithm for deep belief nets", "neural nets"),
    Event(2009, "ImageNet", "a labelled data set of millions of images in thousands of classes",
          "Deng et al. 2009, ImageNet: a large-scale hierarchical image database", "data"),
    Event(2012, "AlexNet wins ImageNet", "a bigger, deeper ConvNet trained on GPUs wins ILSVRC-2012",
          "Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep convolutional "
          "neural networks", "convnets"),
)


def event(name: str) -> Event:
    """Return the event whose name is `name` (exact match); KeyError lists the known names."""
    for e in TIMELINE:
        if e.name == name:
            return e
    raise KeyError(f"no event named {name!r}; known: {[e.name for e in TIMELINE]}")


def timeline_pairs(topics=None) -> list[tuple[int, str]]:
    """[(year, label)] for plot.timeline, oldest first; `topics` (iterable) keeps only those topics.

    Approximate years are marked in the label: (1962, "Madaline (~)").
    """
    keep = set(topics) if topics is not None else None
    return [(e.year, e.name + (" (~)" if e.approximate else "")) for e in TIMELINE
            if keep is None or e.topic in keep]


# ----------------------------------------------------------------------------------------------
# ImageNet (ILSVRC classification) top-5 error
# ----------------------------------------------------------------------------------------------
SPLITS = ("test", "validation")


@dataclass(frozen=True)
class ImageNetResult:
    """One reported ILSVRC classification top-5 error rate.

    - top5_error: in percent, as reported (16.4 means 16.4 %)
    - split: "test" (scored by the organisers) or "validation" (reported by the authors)
    - ranked: True if the number is a submission counted in that year's official ranking
      (post-competition numbers, validation numbers and entries outside the rules are not)
    - place: 1 for the winning entry, 2 for the runner-up team's best entry, else None
    - extra_data: trained with images beyond the ILSVRC training set
    """
    year: int
    entry: str
    team: str
    top5_error: float
    split: str
    ranked: bool
    place: int | None = None
    extra_data: bool = False
    notes: str = ""
    source: str = ""


ILSVRC_2012 = {
    "classes": 1000, "train_images": 1_281_167, "val_images": 50_000, "test_images": 100_000,
    "source": "Russakovsky et al. 2015, ImageNet Large Scale Visual Recognition Challenge",
}
"""The ILSVRC-2012 classification data AlexNet was trained on (the 2012-2014 challenges reused it)."""

_KSH = "Krizhevsky, Sutskever & Hinton 2012, Table 2"
IMAGENET_TOP5: tuple[ImageNetResult, ...] = (
    ImageNetResult(2010, "NEC-UIUC (SIFT/LBP + SVM)", "NEC-UIUC", 28.2, "test", True, place=1,
                   notes="hand-designed features, linear SVMs", source="ILSVRC-2010 results"),
    ImageNetResult(2011, "XRCE (Fisher vectors)", "XRCE", 25.8, "test", True, place=1,
                   notes="hand-designed features, compressed Fisher vectors", source="ILSVRC-2011 results"),
    ImageNetResult(2012, "AlexNet, 1 CNN", "SuperVision", 18.2, "validation", False,
                   notes="a single network", source=_KSH),
    ImageNetResult(2012, "AlexNet, 5 CNNs", "SuperVision", 16.4, "validation", False,
                   notes="ensemble of 5, no extra data", source=_KSH),
    ImageNetResult(2012, "AlexNet, 5 CNNs", "SuperVision", 16.4, "test", True,
                   notes="ensemble of 5, no extra data; the cs231n chart's 2012 bar ('16%')", source=_KSH),
    ImageNetResult(2012, "AlexNet, 7 CNNs", "SuperVision", 15.4, "validation", False, extra_data=True,
                   notes="ensemble of 7, 2 pre-trained on ImageNet Fall 2011", source=_KSH),
    ImageNetResult(2012, "AlexNet, 7 CNNs", "SuperVision", 15.3, "test", True, place=1, extra_data=True,
                   notes="the winning entry: 7 CNNs, 2 pre-trained on ImageNet Fall 2011", source=_KSH),
    ImageNetResult(2012, "ISI (SIFT + Fisher vectors)", "ISI", 26.2, "test", True, place=2,
                   notes="runner-up, hand-designed features", source=_KSH),
    ImageNetResult(2013, "ZFNet (Clarifai)", "Clarifai", 11.7, "test", True, place=1,
                   notes="winner; the cs231n chart's 2013 bar", source="ILSVRC-2013 results"),
    ImageNetResult(2013, "Clarifai, extra data", "Clarifai", 11.2, "test", False, extra_data=True,
                   notes="used outside training data, so not a valid ranked submission; the 003 "
                         "slides' '11.2%'", source="ILSVRC-2013 results"),
    ImageNetResult(2013, "ZFNet, 6 CNNs (paper)", "Zeiler & Fergus", 14.8, "test", False,
                   notes="the ZF paper's ILSVRC-2012 test result, ILSVRC-2012 training data only; "
                         "the quoted '15.4% -> 14.8%' sets AlexNet's validation number beside it", source="Zeiler & Fergus 2013/2014"),
    ImageNetResult(2014, "GoogLeNet", "GoogLeNet", 6.67, "test", True, place=1,
                   notes="winner, 22 layers, ensemble of 7", source="Szegedy et al. 2014"),
    ImageNetResult(2014, "VGG", "VGG", 7.3, "test", True, place=2,
                   notes="2nd in classification (1st in localisation)", source="Simonyan & Zisserman 2014"),
    ImageNetResult(2014, "VGG, post-competition", "VGG", 6.8, "test", False,
                   notes="2 networks, submitted after the competition", source="Simonyan & Zisserman 2014"),
    ImageNetResult(2015, "ResNet", "MSRA", 3.57, "test", True, place=1,
                   notes="winner, ensemble incl. 152-layer nets (often rounded to '3.6%')",
                   source="He et al. 2015"),
)


def imagenet_results(year=None, split=None, ranked=None) -> list[ImageNetResult]:
    """Filter IMAGENET_TOP5 by year, split ("test"|"validation") and/or ranked (bool)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [r for r in IMAGENET_TOP5
            if (year is None or r.year == year) and (split is None or r.split == split)
            and (ranked is None or r.ranked == ranked)]


def imagenet_winner(year: int) -> ImageNetResult:
    """The winning (place 1) entry of `year`; ValueError if the year is not in the table."""
    winners = [r for r in IMAGENET_TOP5 if r.year == year and r.place == 1]
    if len(winners) != 1:
        raise ValueError(f"no single winner recorded for {year}; years: {sorted({r.year for r in IMAGENET_TOP5})}")
    return winners[0]


def imagenet_label(r: ImageNetResult, with_error: bool = True) -> str:
    """'2012 AlexNet, 7 CNNs (test): 15.3%' -- year, entry, split and (optionally) the error."""
    label = f"{r.year} {r.entry} ({r.split})"
    return f"{label}: {r.top5_error:g}%" if with_error else label


def imagenet_chart_results() -> list[ImageNetResult]:
    """The bars of the lecture's chart: every test-split number, oldest first.

    For 2012 that is both the cs231n chart's 16.4% (5 CNNs, no extra data) and the winning 15.3%.
    """
    return sorted(imagenet_results(split="test"), key=lambda r: (r.year, -r.top5_error))


# ----------------------------------------------------------------------------------------------
# Applications and captions
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Application:
    """One use of ConvNets: the task, what goes in and out, a citation with its year, and its group."""
    task: str
    what: str
    citation: str
    year: int
    group: str              # one of APPLICATION_GROUPS


APPLICATION_GROUPS = ("what is in the image", "where it is", "beyond one photo", "art and science")

_W, _L, _B, _A = APPLICATION_GROUPS
APPLICATIONS: tuple[Application, ...] = (
    Application("Classification", "image -> one of 1000 labels", "Krizhevsky et al. 2012", 2012, _W),
    Application("Retrieval", "nearest neighbours in the last hidden layer's features",
                "Krizhevsky et al. 2012", 2012, _W),
    Application("Street-view numbers", "multi-digit house numbers read in one pass",
                "Goodfellow et al. 2014", 2014, _W),
    Application("Whales", "identify individual right whales from aerial photos", "Kaggle challenge 2015",
                2015, _W),
    Application("Detection", "boxes + labels for every object (Faster R-CNN)", "Ren et al. 2015", 2015, _L),
    Application("Segmentation", "a label for every pixel (scene parsing)", "Farabet et al. 2012", 2012, _L),
    Application("Aerial road maps", "which pixels of an aerial photo are road", "Mnih & Hinton 2010", 2010, _L),
    Application("Pose", "body-joint positions regressed from the image", "Toshev & Szegedy 2014", 2014, _L),
    Application("Video", "action recognition from frames and optical flow", "Simonyan et al. 2014", 2014, _B),
    Application("Go", "board (19x19 planes) -> move probabilities", "Silver et al. 2016", 2016, _B),
    Application("Captioning", "image -> a sentence (CNN + RNN)", "Vinyals et al. 2015", 2015, _B),
    Application("Style transfer", "content of one image in the style of another", "Gatys et al. 2015",
                2015, _A),
    Application("DeepDream", "amplify whatever a layer responds to", "Mordvintsev et al. 2015", 2015, _A),
    Application("Brains", "DNNs rival the representation of primate IT cortex", "Cadieu et al. 2014", 2014, _A),
    Application("In the browser", "ConvNetJS trains a CIFAR-10 ConvNet in a web page", "Karpathy, ConvNetJS",
                2014, _A),
)


@dataclass(frozen=True)
class CaptionBand:
    """One quality band of generated captions, best (rank 1) to worst (rank 4)."""
    rank: int
    name: str
    colour: str


CAPTION_BANDS: tuple[CaptionBand, ...] = (
    CaptionBand(1, "Describes without errors", "#2ca02c"),
    CaptionBand(2, "Describes with minor errors", "#bcbd22"),
    CaptionBand(3, "Somewhat related to the image", "#ff7f0e"),
    CaptionBand(4, "Unrelated to the image", "#d62728"),
)


# ----------------------------------------------------------------------------------------------
# Hubel & Wiesel: toy receptive fields
# ----------------------------------------------------------------------------------------------
def _grid(size: int):
    """Pixel coordinates centred on the middle of a size x size image: x to the right, y up."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size]
    return x - c, c - y


def bar_stimulus(size=31, angle_deg=0.0, offset=0.0, width=3.0, length=None):
    """A bright bar on a dark screen, the stimulus Hubel & Wiesel used.

    Inputs: size (pixels), angle_deg (orientation, counter-clockwise from horizontal), offset (pixels
    the bar is shifted perpendicular to its orientation), width, length (None = across the screen).
    Returns a (size, size) float64 image in [0, 1], anti-aliased at the edges.
    """
    x, y = _grid(size)
    t = np.deg2rad(angle_deg)
    across = -x * np.sin(t) + y * np.cos(t) - offset   # signed distance from the bar's centre line
    along = x * np.cos(t) + y * np.sin(t)
    img = np.clip(width / 2 + 0.5 - np.abs(across), 0.0, 1.0)
    if length is not None:
        img *= np.clip(length / 2 + 0.5 - np.abs(along), 0.0, 1.0)
    return img


def center_surround(size=31, center=(0.0, 0.0), sigma=1.5, surround=2.0):
    """An ON-centre / OFF-surround receptive field (difference of Gaussians), like a retina/LGN cell.

    Returns a (size, size) kernel that sums to ~0: uniform light does nothing, a spot on the centre excites.
    """
    x, y = _grid(size)
    r2 = (x - center[0]) ** 2 + (y - center[1]) ** 2
    g = lambda s: np.exp(-r2 / (2 * s * s)) / (2 * np.pi * s * s)
    return g(sigma) - g(surround * sigma)


def simple_cell_rf(size=31, angle_deg=0.0, offset=0.0, n_subunits=7, spacing=2.0, sigma=1.5):
    """Hubel & Wiesel's model of a simple cell: centre-surround fields lined up along a line.

    The line has orientation angle_deg and is shifted by `offset` pixels perpendicular to it, so the
    sum of the aligned subunits is an oriented edge/bar detector at one position.
    Returns a (size, size) kernel.
    """
    t = np.deg2rad(angle_deg)
    along = (np.arange(n_subunits) - (n_subunits - 1) / 2) * spacing
    cx = along * np.cos(t) - offset * np.sin(t)
    cy = along * np.sin(t) + offset * np.cos(t)
    return sum(center_surround(size, (a, b), sigma) for a, b in zip(cx, cy))


def cell_response(rf, image):
    """Firing rate of a linear-threshold cell: max(0, <rf, image>) (a dot product, then a ReLU)."""
    if rf.shape != image.shape:
        raise ValueError(f"receptive field {rf.shape} and image {image.shape} must have the same shape")
    return max(0.0, float(np.sum(rf * image)))


def complex_cell_response(rfs, image):
    """A complex cell pools simple cells of one orientation at several positions: the max of their rates.

    rfs: sequence of (size, size) kernels. Returns (rate, index of the simple cell that won).
    """
    rates = [cell_response(rf, image) for rf in rfs]
    k = int(np.argmax(rates))
    return rates[k], k


# ----------------------------------------------------------------------------------------------
# Retinotopy with cortical magnification
# ----------------------------------------------------------------------------------------------
def cortical_map(x, y, a=1.0, k=10.0):
    """Map visual-field points (degrees; x >= 0, one hemifield) to cortex (mm): w = k log((z + a) / a).

    A log-polar-like ("complex log") map: neighbouring points stay neighbours (retinotopy), and the
    centre of gaze is stretched. `a` (degrees) keeps the fovea finite. Returns (u, v), each x's shape.
    """
    z = np.asarray(x, dtype=np.float64) + 1j * np.asarray(y, dtype=np.float64)
    w = k * np.log((z + a) / a)
    return w.real, w.imag


def cortical_magnification(eccentricity, a=1.0, k=10.0):
    """mm of cortex per degree of visual field at an eccentricity (degrees): |dw/dz| = k / (E + a)."""
    e = np.asarray(eccentricity, dtype=np.float64)
    if np.any(e < 0):
        raise ValueError("eccentricity must be >= 0 degrees")
    return k / (e + a)


# ----------------------------------------------------------------------------------------------
# A tiny Neocognitron: S layers (templates) and C layers (pooling), no backprop
# ----------------------------------------------------------------------------------------------
def _windows(x, HH, WW):
    """(C, H, W) -> (H_out, W_out, C*HH*WW) valid windows, flattened C-order per window."""
    from numpy.lib.stride_tricks import sliding_window_view
    v = sliding_window_view(x, (HH, WW), axis=(1, 2))           # (C, H_out, W_out, HH, WW)
    return v.transpose(1, 2, 0, 3, 4).reshape(v.shape[1], v.shape[2], -1)


def s_layer(x, templates, pad=0, threshold=0.0):
    """S cells: match every template at every position, keep what beats `threshold` (ReLU).

    Inputs: x (C, H, W); templates (F, C, HH, WW); pad (zeros on each side).
    Returns (F, H + 2 pad - HH + 1, W + 2 pad - WW + 1).
    """
    F, C, HH, WW = templates.shape
    if x.ndim != 3 or x.shape[0] != C:
        raise ValueError(f"x must be (C={C}, H, W) to match templates {templates.shape}, got {x.shape}")
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = _windows(xp, HH, WW)                                   # (H_out, W_out, C*HH*WW)
    out = win @ templates.reshape(F, -1).T                       # (H_out, W_out, F)
    return np.maximum(out - threshold, 0.0).transpose(2, 0, 1)  # (F, H_out, W_out)


def c_layer(x, pool=2):
    """C cells: max over non-overlapping pool x pool blocks of each plane. (C, H, W) -> (C, H//pool, W//pool)."""
    C, H, W = x.shape
    Ho, Wo = H // pool, W // pool
    return x[:, :Ho * pool, :Wo * pool].reshape(C, Ho, pool, Wo, pool).max(axis=(2, 4))


def competitive_learning(patches, num_templates, num_epochs=5, lr=0.1, seed=0):
    """Self-organise templates without labels: each patch pulls its best-matching template toward it.

    Winner-take-all learning in the spirit of the Neocognitron's S-cell reinforcement (no labels,
    no gradients of a loss). patches (N, D); returns (templates (num_templates, D) unit-norm,
    history of the mean distance from each unit-norm patch to its winner, one value per epoch + 1).
    """
    rng = np.random.default_rng(seed)
    p = patches / np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-12)
    w = p[rng.choice(len(p), num_templates, replace=False)].copy()  # start from random patches

    def mean_dist():
        return float(np.mean(np.min(((p[:, None, :] - w[None]) ** 2).sum(-1), axis=1)))

    history = [mean_dist()]
    for _ in range(num_epochs):
        for i in rng.permutation(len(p)):
            k = int(np.argmax(w @ p[i]))              # the S cell that responds most wins ...
            w[k] += lr * (p[i] - w[k])                # ... and only it is reinforced
            w[k] /= np.linalg.norm(w[k])
        history.append(mean_dist())
    return w, history


# ----------------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------------
def secant_slopes(f, a, hs, df=None, ax=None, xlim=(-0.5, 3.2)):
    """Secants of f through (a, f(a)) and (a + h, f(a + h)) closing in on the tangent at a.

    f: callable on arrays;  a: the point;  hs: step sizes h (largest first looks best);
    df: derivative (callable) -- draws the tangent of slope df(a) when given.
    Each secant's legend entry states its slope dy/dx ~ (f(a + h) - f(a)) / h. Returns the axes.
    """
    ax = _new_ax(ax, figsize=(6.0, 4.2))
    x = np.linspace(*xlim, 300)
    ax.plot(x, f(x), color=INK, lw=2.2, label="y = f(x)", zorder=3)
    fa = float(f(a))
    for i, h in enumerate(hs):
        slope = (float(f(a + h)) - fa) / h
        color = COLORS[(i + 1) % len(COLORS)]
        ax.plot(x, fa + slope * (x - a), color=color, lw=1.3, alpha=0.9,
                label=f"h = {h:g}:  \u0394y/\u0394x = {slope:.3f}")
        ax.plot(a + h, float(f(a + h)), "o", color=color, ms=5, zorder=4)
    if df is not None:
        ax.plot(x, fa + float(df(a)) * (x - a), color="black", ls="--", lw=1.5,
                label=f"tangent:  dy/dx = {float(df(a)):.3f}")
    ax.plot(a, fa, "o", color="black", ms=7, zorder=5)
    y = f(x)
    ax.set_ylim(y.min() - 0.15 * np.ptp(y), y.max() + 0.1 * np.ptp(y))
    ax.set(xlabel="x", ylabel="y", title=f"secant slopes at x = {a:g} approach the tangent slope")
    ax.legend(loc="upper left", fontsize=9)
    return ax


def tuning_curves(x, curves, xlabel, ylabel="firing rate (a.u.)", title=None, ax=None):
    """Response of one or more cells as a stimulus property varies (a neuroscientist's tuning curve).

    x: (K,) stimulus values (angles, positions);  curves: {cell name: (K,) responses}. Returns the axes.
    """
    ax = _new_ax(ax, figsize=(5.5, 3.6))
    for i, (name, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != np.shape(x):
            raise ValueError(f"curve {name!r} has shape {y.shape}, x has {np.shape(x)}")
        ax.plot(x, y, marker="o", color=COLORS[i % len(COLORS)], label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    return ax


def stimuli_and_spikes(stimuli, spike_times, titles=None, rf=None, duration=1.0, suptitle=None):
    """The recording experiment: each stimulus on the screen, and the spikes the electrode picked up.

    stimuli: (N, H, W) images in [0, 1];  spike_times: N arrays of spike times in [0, duration) s;
    rf: optional (H, W) receptive field drawn as a dashed contour of its excitatory part on every
    stimulus. Returns the figure (2 rows x N columns).
    """
    stimuli = _as_images(stimuli)
    N = len(stimuli)
    if len(spike_times) != N:
        raise ValueError(f"got {len(spike_times)} spike trains for {N} stimuli")
    fig, axes = plt.subplots(2, N, figsize=(1.45 * N, 2.9), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]})
    for i in range(N):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(stimuli[i], cmap="gray", vmin=0, vmax=1)
        if rf is not None:
            top.contour(rf, levels=[0.25 * float(np.max(rf))], colors=[COLORS[4]], linestyles="--",
                        linewidths=1.0)
        top.set_axis_off()
        if titles is not None:
            top.set_title(str(titles[i]), fontsize=9, fontweight="normal")
        t = np.asarray(spike_times[i], dtype=np.float64)
        bottom.vlines(t, 0, 1, color=INK, lw=0.8)
        bottom.set_xlim(0, duration)
        bottom.set_ylim(0, 1)
        bottom.set_yticks([])
        bottom.set_xticks([])
        bottom.grid(False)
        bottom.spines[["left"]].set_visible(False)
        bottom.set_xlabel(f"{len(t)} spikes", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    return fig


def retinotopic_map(mapping, magnification, eccentricities=(0, 1, 2, 5, 10, 20, 40),
                    angles_deg=(-90, -45, 0, 45, 90), cmap="viridis"):
    """Visual field (one hemifield) next to its map on the cortex, and the magnification factor.

    mapping(x, y) -> (u, v): visual field (deg) to cortex (mm), e.g. history.cortical_map;
    magnification(e) -> mm/deg;  eccentricities: ring radii (deg), bands between rings share a
    colour in both panels;  angles_deg: polar-angle rays drawn in both panels. Returns the figure.
    """
    from matplotlib.patches import Polygon

    ecc = np.asarray(eccentricities, dtype=np.float64)
    fig, (ax_f, ax_c, ax_m) = plt.subplots(1, 3, figsize=(13.0, 4.0),
                                           gridspec_kw={"width_ratios": [1, 1.6, 1.1]})
    colours = plt.get_cmap(cmap)(np.linspace(0, 0.9, len(ecc) - 1))
    th = np.deg2rad(np.linspace(-90, 90, 181))
    for lo, hi, c in zip(ecc[:-1], ecc[1:], colours):
        # band lo..hi deg: outer arc out, inner arc back
        r = np.concatenate([np.full_like(th, hi), np.full_like(th, lo)])
        t = np.concatenate([th, th[::-1]])
        x, y = r * np.cos(t), r * np.sin(t)
        ax_f.add_patch(Polygon(np.c_[x, y], closed=True, fc=c, ec="white", lw=0.6))
        ax_c.add_patch(Polygon(np.c_[mapping(x, y)], closed=True, fc=c, ec="white", lw=0.6,
                               label=f"{lo:g}-{hi:g}\u00b0"))
    rr = np.linspace(ecc[0], ecc[-1], 400)
    for a in np.deg2rad(angles_deg):
        x, y = rr * np.cos(a), rr * np.sin(a)
        ax_f.plot(x, y, color="white", lw=0.8)
        ax_c.plot(*mapping(x, y), color="white", lw=0.8)
    ax_f.set(xlim=(-0.05 * ecc[-1], ecc[-1] * 1.05), ylim=(-ecc[-1] * 1.05, ecc[-1] * 1.05), aspect="equal",
             xlabel="horizontal (deg)", ylabel="vertical (deg)", title="visual field (right half)")
    ax_c.autoscale_view()
    ax_c.set(aspect="equal", xlabel="cortex (mm, fovea -> periphery)", ylabel="cortex (mm)",
             title="its map on the cortex")
    ax_c.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="eccentricity")
    for ax in (ax_f, ax_c):
        ax.grid(False)
    e = np.linspace(0, ecc[-1], 200)
    ax_m.plot(e, magnification(e), color=COLORS[0])
    ax_m.set(xlabel="eccentricity (deg)", ylabel="mm of cortex per deg", title="cortical magnification")
    return fig


def sandwich(stages, kinds=None, max_planes=4, title=None):
    """A Neocognitron-style S-C-S-C "sandwich": each stage's feature maps in a column, a strip below.

    stages: [(name, maps (K, H, W)), ...] from input to output;  kinds: one of 'input', 'S', 'C' per
    stage (default from the name's first letter);  max_planes: planes shown per stage.
    Returns the figure.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    n = len(stages)
    kinds = kinds or [name[0] if name[0] in "SC" else "input" for name, _ in stages]
    colour = {"input": MUTED, "S": COLORS[0], "C": COLORS[1]}
    fig = plt.figure(figsize=(1.6 * n + 0.6, 1.25 * max_planes + 1.6))
    gs = fig.add_gridspec(max_planes + 1, n, height_ratios=[1] * max_planes + [0.9])
    for j, ((name, maps), kind) in enumerate(zip(stages, kinds)):
        maps = np.asarray(maps, dtype=np.float64)
        maps = maps[None] if maps.ndim == 2 else maps
        for i in range(max_planes):
            ax = fig.add_subplot(gs[i, j])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i < len(maps):
                ax.imshow(maps[i], cmap="gray")
                for s in ax.spines.values():
                    s.set_visible(True)
                    s.set_color(colour[kind])
                    s.set_linewidth(2)
            else:
                ax.set_axis_off()
            if i == 0:
                K, H, W = maps.shape
                ax.set_title(f"{name}\n{K}x{H}x{W}", fontsize=9, fontweight="normal", color=INK)
    strip = fig.add_subplot(gs[max_planes, :])
    strip.set_axis_off()
    strip.set_xlim(0, n)
    strip.set_ylim(0, 1)
    text = {"input": "input", "S": "S: match\ntemplates", "C": "C: pool\n(max)"}
    for j, kind in enumerate(kinds):
        strip.add_patch(FancyBboxPatch((j + 0.12, 0.2), 0.76, 0.6, boxstyle="round,pad=0.02",
                                       fc=colour[kind], ec="none", alpha=0.85))
        strip.text(j + 0.5, 0.5, text[kind], ha="center", va="center", fontsize=8.5,
                   color="white" if kind != "input" else INK)
        if j:
            strip.add_patch(FancyArrowPatch((j - 0.12, 0.5), (j + 0.12, 0.5), arrowstyle="-|>",
                                            mutation_scale=12, color=INK))
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def card_grid(cards, ncols=3, card_width=4.0, card_height=1.7, title=None, legend=None):
    """A gallery of cards (title, body text, footer, optional image and colour stripe), in a grid.

    cards: list of dicts with 'title', 'body', optional 'footer' (e.g. a citation), 'image'
    ((H, W) or (H, W, 3) in [0, 1], drawn on the card's left) and 'color' (a stripe on the left).
    legend: optional {label: colour} explaining the stripes, drawn under the grid.
    Returns the figure, one axes per card.
    """
    import textwrap

    from matplotlib.patches import Rectangle

    N = len(cards)
    nrows = math.ceil(N / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(card_width * ncols, card_height * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= N:
            continue
        card = cards[k]
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.add_patch(Rectangle((0, 0), 1, 1, fc="#F7F7F7", ec="#DDDDDD", lw=0.8))
        if card.get("color"):
            ax.add_patch(Rectangle((0, 0), 0.025, 1, fc=card["color"], ec="none"))
        ax.text(0.05, 0.92, card["title"], fontsize=10.5, fontweight="bold", va="top", color=INK)
        left, top = 0.05, 0.72
        if card.get("image") is not None:
            img = np.asarray(card["image"], dtype=np.float64)
            inset = ax.inset_axes([0.05, 0.06, 0.36, 0.68])
            inset.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            inset.set_axis_off()
            left, top = 0.45, 0.66
        width = max(12, int((1 - left) * card_width * 13))     # characters per line at 9 pt
        ax.text(left, top, textwrap.fill(card["body"], width), fontsize=9, va="top", color=INK)
        if card.get("footer"):
            ax.text(left, 0.07, card["footer"], fontsize=8.5, style="italic", va="bottom", color="#555555")
    if legend:
        handles = [mpl.patches.Patch(color=c, label=l) for l, c in legend.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def category_bars(labels, values, categories, colors=None, value_fmt="{:g}", ax=None, title=None,
                  xlabel=None):
    """Horizontal bars, one per labelled number, coloured by category with a legend (first label on top).

    labels, values, categories: N each;  colors: {category: colour} (default the course palette,
    in order of first appearance). Every bar carries its value. Returns the axes.
    """
    labels, values, categories = [str(l) for l in labels], np.asarray(values, dtype=np.float64), list(categories)
    if not len(labels) == len(values) == len(categories):
        raise ValueError(f"got {len(labels)} labels, {len(values)} values, {len(categories)} categories")
    order = list(dict.fromkeys(categories))
    colors = dict(colors or {})
    for i, c in enumerate(order):
        colors.setdefault(c, COLORS[i % len(COLORS)])
    ax = _new_ax(ax, figsize=(8.0, 0.36 * len(labels) + 1.2))
    pos = np.arange(len(labels))
    bars = ax.barh(pos, values, color=[colors[c] for c in categories], height=0.72)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.bar_label(bars, labels=[_fmt(value_fmt, v) for v in values], padding=2, fontsize=9, color=INK)
    ax.margins(x=0.12)
    handles = [mpl.patches.Patch(color=colors[c], label=c) for c in order]
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=2)   # below: never hides a bar
    if xlabel:
        ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax
