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

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Event", "TIMELINE", "event", "timeline_pairs",
    "ImageNetResult", "IMAGENET_TOP5", "imagenet_results", "imagenet_winner", "imagenet_label",
    "imagenet_chart_results", "ILSVRC_2012",
    "Application", "APPLICATION_GROUPS", "APPLICATIONS", "CaptionBand", "CAPTION_BANDS",
    "bar_stimulus", "center_surround", "simple_cell_rf", "cell_response", "complex_cell_response",
    "cortical_map", "cortical_magnification",
    "s_layer", "c_layer", "competitive_learning",
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
