"""The architecture calculator: describe a ConvNet as a list of layers, read off sizes, parameters,
memory and compute, layer by layer.

    >>> from cs231n_lib.architectures import analyze, vgg
    >>> a = analyze(vgg("D"))
    >>> a.params, a.activations, a.out_shape
    (138357544, 15237608, (1, 1, 1000))
    >>> print(a.table())                                # doctest: +SKIP

A network is a plain list that starts with ``Input(H, W, C)``; the layers are small frozen
dataclasses (``Conv``, ``Pool``, ``LRN``, ``BatchNorm``, ``FC``, ``GlobalAvgPool``, ``Softmax``) and
composite blocks (``Inception``, ``BasicBlock``, ``Bottleneck``).

Notation is the outline's, not the arrays': a CONV layer has ``K`` filters of size ``F x F``, stride
``S``, zero padding ``P``, dilation ``D`` (1 = ordinary filter). Volumes are ``(H, W, C)`` for one
image (batch size 1).

What is counted, so every figure can be checked by hand:

- params: weights and biases separately. BatchNorm has 2 per channel (gamma, beta); its running
  mean/variance are buffers, not parameters (torchvision's convention).
- activations: the values of every listed layer output, the input row included (the cs231n VGG16
  table's convention). ReLU is applied in place and not listed. Inside a composite block every
  sub-layer output is counted, plus the block output (the concatenation or the residual sum).
- bytes: activations x 4 (float32) or x 8 (float64), one image, forward pass only. MB = 10^6 B,
  MiB = 2^20 B (``format_bytes`` labels which).
- macs: multiply-adds of CONV and FC layers (the figure papers quote); pooling, LRN, BatchNorm,
  bias additions and residual additions count 0. LeNet-5's trainable subsampling counts 1 per output.

Sizes: by default (``rounding='exact'``) a window that does not tile its input raises ValueError
(``shapes.conv_output_size``). Published nets often rely on framework rounding instead, so a layer
may say ``rounding='floor'`` (PyTorch / Caffe convolution: the last partial window is dropped) or
``rounding='ceil'`` (Caffe pooling: a partial window at the far edge is kept).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

from cs231n_lib.shapes import conv_output_size, effective_size

__all__ = [
    "Input", "Conv", "Pool", "LRN", "BatchNorm", "FC", "GlobalAvgPool", "Softmax",
    "Inception", "BasicBlock", "Bottleneck",
    "Row", "Analysis", "analyze", "format_table", "format_bytes", "training_memory",
    "receptive_field", "conv_params", "conv_macs", "fc_params", "fc_macs", "fc_equivalent_params",
    "unshared_params", "compare_conv_fc", "im2col_shapes", "im2col_blowup", "inception_cost",
    "fc_to_conv", "with_input",
    "lenet5", "alexnet", "alexnet_two_tower", "zfnet", "vgg", "VGG_CONFIGS", "googlenet",
    "GOOGLENET_TABLE1_PARAMS_K",
    "googlenet_aux", "resnet", "alphago_policy",
]

_ROUNDINGS = ("exact", "floor", "ceil")


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    """The input volume (H, W, C); must be the first entry of every network list."""
    H: int
    W: int
    C: int
    name: str = "INPUT"


@dataclass(frozen=True)
class Conv:
    """K filters of size F x F, stride S, zero padding P, dilation D.

    bias: True (one per filter), False (ResNet convs, which are followed by BatchNorm), or
        'per_position' (one per output value, H_out*W_out*K: AlphaGo's last layer).
    groups: filters see only C/groups input channels (AlexNet's two GPUs: groups=2).
    connections: number of wired (input map, output map) pairs, for hand-made connection
        tables (LeNet-5's C3: 60 of 6*16); default C*K/groups.
    """
    K: int
    F: int
    S: int = 1
    P: int = 0
    D: int = 1
    bias: bool | str = True
    groups: int = 1
    connections: int | None = None
    rounding: str = "exact"
    name: str | None = None


@dataclass(frozen=True)
class Pool:
    """F x F pooling, stride S (default F), padding P; kind 'max' or 'avg'.

    trainable=True is LeNet-5's subsampling: (sum of the window) * coefficient + bias, one
    coefficient and one bias per channel.
    """
    F: int
    S: int | None = None
    P: int = 0
    kind: str = "max"
    trainable: bool = False
    rounding: str = "exact"
    name: str | None = None


@dataclass(frozen=True)
class LRN:
    """Local response normalisation across n neighbouring channels (AlexNet's NORM): no parameters."""
    n: int = 5
    name: str | None = None


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation: gamma and beta per channel (2C parameters); shape unchanged."""
    name: str | None = None


@dataclass(frozen=True)
class FC:
    """Fully connected layer to `out` neurons; flattens an (H, W, C) input: H*W*C*out weights."""
    out: int
    bias: bool = True
    name: str | None = None


@dataclass(frozen=True)
class GlobalAvgPool:
    """Average each channel over the whole map: (H, W, C) -> (1, 1, C)."""
    name: str | None = None


@dataclass(frozen=True)
class Softmax:
    """Softmax over all H*W*C values: (H, W, C) -> (1, 1, H*W*C) (AlphaGo: 19x19x1 -> 361 moves)."""
    name: str | None = None


@dataclass(frozen=True)
class Inception:
    """GoogLeNet Inception module, arguments in the order of the paper's Table 1 columns.

    Four parallel branches concatenated along depth: 1x1 conv; [1x1 reduce] -> 3x3 conv (pad 1);
    [1x1 reduce] -> 5x5 conv (pad 2); 3x3 max pool (stride 1, pad 1) -> [1x1 projection].
    A reduce / projection of 0 or None leaves that 1x1 out: all three None is the naive module,
    whose pool branch passes the full input depth through.
    """
    n1x1: int
    n3x3_reduce: int | None
    n3x3: int
    n5x5_reduce: int | None
    n5x5: int
    pool_proj: int | None
    name: str | None = None


@dataclass(frozen=True)
class BasicBlock:
    """ResNet-18/34 block: 3x3 conv (stride S) - BN - ReLU - 3x3 conv - BN, plus the shortcut.

    The shortcut is the identity, or a 1x1 conv (stride S) + BN projection when the shape changes
    (the paper's option B, as in torchvision). Convs have no bias (BN supplies the shift).
    """
    K: int
    S: int = 1
    name: str | None = None


@dataclass(frozen=True)
class Bottleneck:
    """ResNet-50/101/152 block: 1x1 conv K - BN - 3x3 conv K (stride S) - BN - 1x1 conv expansion*K - BN.

    Stride on the 3x3 conv (torchvision's "v1.5"; the paper puts it on the first 1x1: same
    parameters, slightly more multiply-adds). Projection shortcut as in BasicBlock.
    """
    K: int
    S: int = 1
    expansion: int = 4
    name: str | None = None


# ----------------------------------------------------------------------------------------------
# Per-layer rows
# ----------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table: a layer's output shape (H, W, C), parameters, activations, multiply-adds."""
    name: str
    kind: str
    desc: str
    out_shape: tuple
    weights: int = 0
    biases: int = 0
    activations: int = 0
    macs: int = 0
    children: list = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.weights + self.biases

    @property
    def bytes32(self) -> int:
        """Activation memory in bytes at float32 (4 B per value)."""
        return 4 * self.activations

    @property
    def bytes64(self) -> int:
        """Activation memory in bytes at float64 (8 B per value)."""
        return 8 * self.activations


def _volume(shape) -> int:
    return shape[0] * shape[1] * shape[2]


def _out_size(W, F, S, P, D, rounding, name):
    """Output size along one axis; 'exact' raises when the window does not tile the input."""
    if rounding not in _ROUNDINGS:
        raise ValueError(f"rounding must be one of {_ROUNDINGS}, got {rounding!r}")
    if rounding == "exact":
        return conv_output_size(W, F, S, P, D, name=name)
    span = W + 2 * P - effective_size(F, D)
    if span < 0:  # reuse the shared message for a window larger than the padded input
        return conv_output_size(W, F, S, P, D, name=name)
    if rounding == "floor":
        return span // S + 1
    n = -(-span // S) + 1
    # Caffe / PyTorch ceil mode: the last window must start inside the input or its left padding
    return n - 1 if (n - 1) * S >= W + P else n


def _spatial(in_shape, F, S, P, D, rounding):
    H, W, _ = in_shape
    return (_out_size(H, F, S, P, D, rounding, "height"), _out_size(W, F, S, P, D, rounding, "width"))


def _conv_row(layer: Conv, in_shape, name):
    C = in_shape[2]
    if layer.K < 1:
        raise ValueError(f"number of filters K must be >= 1, got {layer.K}")
    if layer.groups < 1 or C % layer.groups or layer.K % layer.groups:
        raise ValueError(f"groups={layer.groups} must divide input depth C={C} and K={layer.K}")
    H_out, W_out = _spatial(in_shape, layer.F, layer.S, layer.P, layer.D, layer.rounding)
    out = (H_out, W_out, layer.K)  # (H_out, W_out, K)
    links = layer.connections if layer.connections is not None else C * layer.K // layer.groups
    weights = layer.F * layer.F * links
    if layer.bias == "per_position":
        biases = _volume(out)
    elif layer.bias in (True, False):
        biases = layer.K if layer.bias else 0
    else:
        raise ValueError(f"bias must be True, False or 'per_position', got {layer.bias!r}")
    desc = f"conv {layer.F}x{layer.F}/{layer.S}"
    desc += f" p{layer.P}" if layer.P else ""
    desc += f" d{layer.D}" if layer.D != 1 else ""
    desc += f" g{layer.groups}" if layer.groups != 1 else ""
    desc += f", {layer.K}"
    return Row(name, "conv", desc, out, weights, biases, _volume(out), H_out * W_out * weights)


def _pool_row(layer: Pool, in_shape, name):
    if layer.kind not in ("max", "avg"):
        raise ValueError(f"pool kind must be 'max' or 'avg', got {layer.kind!r}")
    S = layer.F if layer.S is None else layer.S
    out = (*_spatial(in_shape, layer.F, S, layer.P, 1, layer.rounding), in_shape[2])
    C = in_shape[2]
    learned = C if layer.trainable else 0
    desc = f"{layer.kind} pool {layer.F}x{layer.F}/{S}" + (f" p{layer.P}" if layer.P else "")
    macs = _volume(out) if layer.trainable else 0
    return Row(name, "pool", desc, out, learned, learned, _volume(out), macs)


def _fc_row(layer: FC, in_shape, name):
    if layer.out < 1:
        raise ValueError(f"FC output size must be >= 1, got {layer.out}")
    n_in = _volume(in_shape)
    out = (1, 1, layer.out)
    return Row(name, "fc", f"fc {n_in} -> {layer.out}", out, n_in * layer.out,
               layer.out if layer.bias else 0, layer.out, n_in * layer.out)


def _simple_row(layer, in_shape, name):
    """LRN, BatchNorm, GlobalAvgPool, Softmax: no multiply-adds counted."""
    if isinstance(layer, LRN):
        return Row(name, "lrn", f"LRN n={layer.n}", in_shape, activations=_volume(in_shape))
    if isinstance(layer, BatchNorm):
        C = in_shape[2]
        return Row(name, "bn", "batchnorm", in_shape, C, C, _volume(in_shape))
    if isinstance(layer, GlobalAvgPool):
        out = (1, 1, in_shape[2])
        return Row(name, "pool", "global avg pool", out, activations=in_shape[2])
    out = (1, 1, _volume(in_shape))
    return Row(name, "softmax", "softmax", out, activations=out[2])


def _inception_branches(m: Inception):
    def reduce(n):
        return [Conv(n, 1, name="reduce")] if n else []
    return [
        [Conv(m.n1x1, 1, name="1x1")],
        reduce(m.n3x3_reduce) + [Conv(m.n3x3, 3, P=1, name="3x3")],
        reduce(m.n5x5_reduce) + [Conv(m.n5x5, 5, P=2, name="5x5")],
        [Pool(3, 1, P=1, name="pool")] + ([Conv(m.pool_proj, 1, name="proj")] if m.pool_proj else []),
    ]


def _residual_paths(block, C):
    """(main path, shortcut path) layer lists of a BasicBlock / Bottleneck on input depth C."""
    K, S = block.K, block.S
    conv = dict(bias=False, rounding="floor")  # torchvision's floor sizes: 56 -> 28 with 3x3/2 pad 1
    if isinstance(block, BasicBlock):
        C_out = K
        main = [Conv(K, 3, S, 1, name="conv1", **conv), BatchNorm("bn1"),
                Conv(K, 3, 1, 1, name="conv2", **conv), BatchNorm("bn2")]
    else:
        C_out = K * block.expansion
        main = [Conv(K, 1, name="conv1", **conv), BatchNorm("bn1"),
                Conv(K, 3, S, 1, name="conv2", **conv), BatchNorm("bn2"),
                Conv(C_out, 1, name="conv3", **conv), BatchNorm("bn3")]
    shortcut = []
    if S != 1 or C != C_out:
        shortcut = [Conv(C_out, 1, S, name="downsample.conv", **conv), BatchNorm("downsample.bn")]
    return main, shortcut


def _composite_row(layer, in_shape, name):
    """Inception concatenates its branches; residual blocks add main path and shortcut."""
    if isinstance(layer, Inception):
        parts = [_rows(branch, in_shape, f"{name}/b{i + 1}") for i, branch in enumerate(_inception_branches(layer))]
        H, W = parts[0][-1].out_shape[:2]
        out = (H, W, sum(p[-1].out_shape[2] for p in parts))  # concatenated along depth
        kind, desc = "inception", "inception " + "/".join(str(v or 0) for v in (
            layer.n1x1, layer.n3x3_reduce, layer.n3x3, layer.n5x5_reduce, layer.n5x5, layer.pool_proj))
    else:
        main, shortcut = _residual_paths(layer, in_shape[2])
        parts = [_rows(main, in_shape, name)] + ([_rows(shortcut, in_shape, name)] if shortcut else [])
        out = parts[0][-1].out_shape
        if len(parts) == 2 and parts[1][-1].out_shape != out:
            raise ValueError(f"{name}: shortcut {parts[1][-1].out_shape} does not match main path {out}")
        kind = "residual"
        desc = f"{type(layer).__name__.lower()} {layer.K}/{layer.S}" + (" +proj" if shortcut else "")
    children = [row for part in parts for row in part]
    row = Row(name, kind, desc, out, children=children, activations=_volume(out))
    for child in children:
        row.weights += child.weights
        row.biases += child.biases
        row.activations += child.activations
        row.macs += child.macs
    return row


_ROW_BUILDERS = {Conv: _conv_row, Pool: _pool_row, FC: _fc_row, LRN: _simple_row, BatchNorm: _simple_row,
                 GlobalAvgPool: _simple_row, Softmax: _simple_row, Inception: _composite_row,
                 BasicBlock: _composite_row, Bottleneck: _composite_row}
_DEFAULT_NAMES = {Conv: "CONV", Pool: "POOL", FC: "FC", LRN: "NORM", BatchNorm: "BN", GlobalAvgPool: "GAP",
                  Softmax: "SOFTMAX", Inception: "INCEPTION", BasicBlock: "BLOCK", Bottleneck: "BLOCK"}


def _rows(layers, in_shape, prefix=""):
    """Rows of a layer sequence applied to `in_shape`; errors name the layer and its input."""
    rows, counts = [], {}
    for layer in layers:
        builder = _ROW_BUILDERS.get(type(layer))
        if builder is None:
            raise TypeError(f"unknown layer {layer!r} (expected one of {[t.__name__ for t in _ROW_BUILDERS]})")
        counts[type(layer)] = counts.get(type(layer), 0) + 1
        name = layer.name or f"{_DEFAULT_NAMES[type(layer)]}{counts[type(layer)]}"
        name = f"{prefix}/{name}" if prefix else name
        try:
            row = builder(layer, in_shape, name)
        except ValueError as exc:
            H, W, C = in_shape
            raise ValueError(f"layer {name} on input {H}x{W}x{C}: {exc}") from None
        rows.append(row)
        in_shape = row.out_shape
    return rows


# ----------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """Rows of analyze(): one per listed layer (composite blocks carry their sub-rows in .children)."""
    rows: list

    def _sum(self, attr):
        return sum(getattr(r, attr) for r in self.rows)

    weights = property(lambda self: self._sum("weights"))
    biases = property(lambda self: self._sum("biases"))
    params = property(lambda self: self._sum("params"))
    activations = property(lambda self: self._sum("activations"))
    macs = property(lambda self: self._sum("macs"))
    bytes32 = property(lambda self: 4 * self.activations)
    bytes64 = property(lambda self: 8 * self.activations)
    out_shape = property(lambda self: self.rows[-1].out_shape)

    @property
    def total(self) -> Row:
        return Row("TOTAL", "total", "", self.out_shape, self.weights, self.biases, self.activations, self.macs)

    def row(self, name: str) -> Row:
        """The row called `name` (sub-rows of blocks included, e.g. 'conv2_1/conv1')."""
        for r in self.flat_rows():
            if r.name == name:
                return r
        raise KeyError(f"no layer named {name!r}; layers: {[r.name for r in self.rows]}")

    def flat_rows(self) -> list:
        """Every row with each block's sub-rows right after it (depth first)."""
        out = []
        def walk(rows):
            for r in rows:
                out.append(r)
                walk(r.children)
        walk(self.rows)
        return out

    def column(self, attr: str) -> list:
        """One attribute of every top-level row, e.g. column('params') for a bar chart."""
        return [getattr(r, attr) for r in self.rows]

    def table(self, **kwargs) -> str:
        return format_table(self, **kwargs)

    def __str__(self) -> str:
        return self.table()


def analyze(net, count_input: bool = True) -> Analysis:
    """Per-layer output shape, parameters, activations, memory and multiply-adds of a network.

    Inputs:
    - net: list [Input(H, W, C), layer, layer, ...]
    - count_input: list the input volume as a row (its H*W*C values count as activations, as in
      the cs231n VGG16 table); False leaves it out.
    Returns an Analysis: .rows (Row objects: name, kind, desc, out_shape (H, W, C), weights, biases,
    params, activations, bytes32, bytes64, macs, children) and the totals .params, .weights,
    .biases, .activations, .bytes32, .bytes64, .macs, .out_shape, .total (a Row).
    Raises ValueError naming the layer when a window does not fit its input.
    """
    if not net or not isinstance(net[0], Input):
        raise ValueError(f"a network must be a list starting with Input(H, W, C), got {net[:1]!r}")
    first = net[0]
    in_shape = (first.H, first.W, first.C)
    if min(in_shape) < 1:
        raise ValueError(f"input volume must be positive, got {in_shape}")
    rows = [Row(first.name, "input", "input", in_shape, activations=_volume(in_shape))] if count_input else []
    return Analysis(rows + _rows(net[1:], in_shape))


def format_bytes(nbytes: float, unit="MB", digits: int = 1) -> str:
    """'61.0 MB': bytes in decimal (kB, MB, GB: powers of 10) or binary (KiB, MiB, GiB: powers of 2) units.

    unit may be a tuple, e.g. ('MB', 'MiB') -> '61.0 MB (58.1 MiB)'.
    """
    if isinstance(unit, tuple):
        first, *rest = [format_bytes(nbytes, u, digits) for u in unit]
        return first + "".join(f" ({r})" for r in rest)
    scale = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    if unit not in scale:
        raise ValueError(f"unit must be one of {list(scale)}, got {unit!r}")
    return f"{nbytes / scale[unit]:.{digits}f} {unit}"


def format_table(analysis: Analysis, expand: bool = False, unit: str = "MB") -> str:
    """Plain-text table (no pandas): layer, type, output HxWxC, activations, float32 memory, params, MACs.

    expand=True also lists the sub-layers of Inception modules and residual blocks (indented).
    """
    header = ["layer", "type", "output", "activations", f"float32 {unit}", "params", "MACs"]
    rows = analysis.flat_rows() if expand else analysis.rows
    top = {id(r) for r in analysis.rows}
    scales = {"MB": 10**6, "MiB": 2**20}
    if unit not in scales:
        raise ValueError(f"format_table: unit must be one of {list(scales)}, got {unit!r}")
    scale = scales[unit]

    def cells(r, indent=""):
        H, W, C = r.out_shape
        return [indent + r.name, r.desc, f"{H}x{W}x{C}", f"{r.activations:,}",
                f"{r.bytes32 / scale:.2f}", f"{r.params:,}", f"{r.macs:,}"]

    lines = [header] + [cells(r, "" if id(r) in top else "  ") for r in rows] + [cells(analysis.total)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 1, 2}  # text columns left-aligned, numbers right-aligned

    def fmt(line):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))

    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule] + [fmt(x) for x in lines[1:-1]] + [rule, fmt(lines[-1])])


def training_memory(analysis: Analysis, batch_size: int = 1, bytes_per_value: int = 4,
                    backward: bool = True, param_copies: int = 3) -> dict:
    """Rough training-memory budget in bytes (the notes' accounting).

    activations: per-image activations x batch_size, x2 when backward (each value gets a gradient);
    params: parameters x param_copies (3 = values, gradients, one optimiser cache such as momentum;
    Adam keeps two caches -> 4). Returns dict with 'activations', 'params', 'total' in bytes.
    """
    acts = analysis.activations * batch_size * (2 if backward else 1) * bytes_per_value
    params = analysis.params * param_copies * bytes_per_value
    return {"activations": acts, "params": params, "total": acts + params}


# ----------------------------------------------------------------------------------------------
# Helpers for the worked examples of the notes
# ----------------------------------------------------------------------------------------------
def receptive_field(layers, per_layer: bool = False):
    """Receptive field (in input pixels, along one axis) of a stack of convs / pools.

    layers: Conv / Pool objects or tuples (F, S) or (F, S, D). Each layer widens the field by
    (F_eff - 1) * jump, where jump = product of the earlier strides and F_eff = D*(F-1)+1.
    Three stacked 3x3 stride-1 convs -> 7; 3x3 convs with dilation 1, 2, 4 -> 3, 7, 15.
    Returns an int, or the list after each layer when per_layer=True.
    """
    field_size, jump, sizes = 1, 1, []
    for layer in layers:
        if isinstance(layer, Input):
            continue
        if isinstance(layer, Conv):
            F, S, D = layer.F, layer.S, layer.D
        elif isinstance(layer, Pool):
            F, S, D = layer.F, (layer.F if layer.S is None else layer.S), 1
        elif isinstance(layer, tuple) and len(layer) in (2, 3):
            F, S, D = (*layer, 1)[:3]
        else:
            raise TypeError(f"receptive_field takes Conv, Pool or (F, S[, D]) tuples, got {layer!r}")
        field_size += (effective_size(F, D) - 1) * jump
        jump *= S
        sizes.append(field_size)
    return sizes if per_layer else field_size


def _sizes(**sizes):
    """Refuse sizes that are not whole numbers >= 1 (a negative count would give a negative answer)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


def conv_params(C: int, K: int, F: int, bias: bool = True, groups: int = 1) -> int:
    """Parameters of K filters F x F over C input channels: F*F*(C/groups)*K weights + K biases."""
    _sizes(C=C, K=K, F=F, groups=groups)
    return F * F * (C // groups) * K + (K if bias else 0)


def conv_macs(H_out: int, W_out: int, C: int, K: int, F: int, groups: int = 1) -> int:
    """Multiply-adds of a conv layer: each of H_out*W_out*K outputs is a dot product of F*F*C/groups terms."""
    _sizes(H_out=H_out, W_out=W_out, C=C, K=K, F=F, groups=groups)
    return H_out * W_out * K * F * F * (C // groups)


def fc_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of a fully connected layer: n_in*n_out weights + n_out biases."""
    _sizes(n_in=n_in, n_out=n_out)
    return n_in * n_out + (n_out if bias else 0)


def fc_macs(n_in: int, n_out: int) -> int:
    """Multiply-adds of a fully connected layer: one per weight."""
    _sizes(n_in=n_in, n_out=n_out)
    return n_in * n_out


def fc_equivalent_params(in_shape, out_shape, bias: bool = True) -> int:
    """Parameters of an FC layer mapping volume in_shape (H, W, C) to out_shape (H', W', K).

    32x32x3 -> 32x32x10: 10,240 neurons x (3,072 weights + 1 bias) = 31,467,520.
    """
    return fc_params(_volume(in_shape), _volume(out_shape), bias)


def unshared_params(H: int, W: int, C: int, K: int, F: int, S: int = 1, P: int = 0, bias: bool = True) -> int:
    """Parameters of a conv layer *without* parameter sharing (every neuron has its own filter).

    AlexNet CONV1 on 227x227x3 (K=96, F=11, S=4): 55*55*96 = 290,400 neurons x 364 = 105,705,600.
    """
    H_out, W_out = _spatial((H, W, C), F, S, P, 1, "exact")
    return H_out * W_out * K * (F * F * C + (1 if bias else 0))


def compare_conv_fc(H: int, W: int, C: int, K: int, F: int, S: int = 1, P: int = 0) -> dict:
    """A conv layer next to the FC layer with the same input and output volumes.

    Returns dict out_shape (H', W', K), conv_params, unshared_params, fc_params, conv_macs, fc_macs.
    32x32x3, K=10, F=5, P=2: 760 vs 31,467,520 parameters; 768,000 vs 31,457,280 multiply-adds.
    """
    H_out, W_out = _spatial((H, W, C), F, S, P, 1, "exact")
    out = (H_out, W_out, K)
    return {"out_shape": out, "conv_params": conv_params(C, K, F),
            "unshared_params": unshared_params(H, W, C, K, F, S, P),
            "fc_params": fc_equivalent_params((H, W, C), out),
            "conv_macs": conv_macs(H_out, W_out, C, K, F), "fc_macs": fc_macs(H * W * C, _volume(out))}


def im2col_shapes(H: int, W: int, C: int, F: int, S: int = 1, P: int = 0, K: int = 1):
    """Shapes of the im2col matrix product for one image.

    Returns (X_col (F*F*C, H_out*W_out), W_row (K, F*F*C), out (H_out, W_out, K)); the product
    W_row @ X_col is (K, H_out*W_out), reshaped to the output volume.
    AlexNet CONV1: ((363, 3025), (96, 363), (55, 55, 96)).
    """
    H_out, W_out = _spatial((H, W, C), F, S, P, 1, "exact")
    return (F * F * C, H_out * W_out), (K, F * F * C), (H_out, W_out, K)


def im2col_blowup(H: int, W: int, C: int, F: int, S: int = 1, P: int = 0):
    """(values in X_col, values in the input, ratio): overlapping windows are copied once per window.

    AlexNet CONV1: (1,098,075, 154,587, 7.10...).
    """
    (rows, cols), _, _ = im2col_shapes(H, W, C, F, S, P)
    return rows * cols, H * W * C, rows * cols / (H * W * C)


def inception_cost(H: int, W: int, C: int, n1x1: int, n3x3_reduce, n3x3: int, n5x5_reduce, n5x5: int,
                   pool_proj) -> Analysis:
    """Analysis of one Inception module on an (H, W, C) input (expand its rows with .table(expand=True)).

    Naive (no 1x1 reductions) on 28x28x256 with 128/192/96: 28x28x672, 854,196,224 multiply-adds.
    """
    module = Inception(n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj, name="inception")
    return analyze([Input(H, W, C), module], count_input=False)


def fc_to_conv(net):
    """The same network with every FC layer rewritten as a conv (the notes' FC -> CONV conversion).

    The first FC after a spatial H x H x C volume becomes Conv(out, F=H) with no padding; later FCs
    become 1x1 convs. Weights and parameter counts are unchanged; on a larger input the converted
    net slides over it and returns a score map (see with_input).
    """
    shape_rows = analyze(net).rows  # shapes at the designed input size, to know each FC's input
    converted = [net[0]]
    for layer, in_row in zip(net[1:], shape_rows):
        if isinstance(layer, FC):
            H, W, _ = in_row.out_shape
            if H != W:
                raise ValueError(f"{layer.name}: FC on a non-square {H}x{W} map cannot become one square conv")
            layer = Conv(layer.out, H, bias=layer.bias, name=layer.name)
        converted.append(layer)
    return converted


def with_input(net, H: int, W: int | None = None, C: int | None = None):
    """The same layer list with a different input size (W defaults to H, C to the old depth)."""
    old = net[0]
    return [replace(old, H=H, W=H if W is None else W, C=old.C if C is None else C)] + list(net[1:])


# ----------------------------------------------------------------------------------------------
# The networks of the course
# ----------------------------------------------------------------------------------------------
def lenet5(original: bool = True):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition").

    original=True follows the paper on a 32x32x1 input: C1 6@5x5 -> S2 trainable 2x2 subsampling
    (coefficient + bias per map) -> C3 16@5x5 with the paper's Table I connection table (60 of 96
    map pairs wired) -> S4 -> C5 120@5x5 -> F6 84 -> 10 RBF output units (84 x 10 parameters, no
    bias). Per layer 156 / 12 / 1,516 / 32 / 48,120 / 10,164 / 840 = 60,840 parameters.
    original=False is today's textbook version: full C3, parameter-free max pools, FC-10 with
    biases: 61,706 parameters.
    """
    if not original:
        return [Input(32, 32, 1), Conv(6, 5, name="C1"), Pool(2, 2, name="S2"), Conv(16, 5, name="C3"),
                Pool(2, 2, name="S4"), Conv(120, 5, name="C5"), FC(84, name="F6"), FC(10, name="OUTPUT")]
    c3_links = 6 * 3 + 9 * 4 + 1 * 6  # Table I: 6 maps see 3 S2 maps, 9 see 4, one sees all 6
    return [Input(32, 32, 1), Conv(6, 5, name="C1"), Pool(2, 2, kind="avg", trainable=True, name="S2"),
            Conv(16, 5, connections=c3_links, name="C3"), Pool(2, 2, kind="avg", trainable=True, name="S4"),
            Conv(120, 5, name="C5"), FC(84, name="F6"), FC(10, bias=False, name="OUTPUT (RBF)")]


def _alexnet_head(conv345=(384, 384, 256), groups=1):
    """CONV3-5, POOL3, FC6-8 shared by the AlexNet family (CONV3 always sees both towers)."""
    k3, k4, k5 = conv345
    return [Conv(k3, 3, 1, 1, name="CONV3"), Conv(k4, 3, 1, 1, groups=groups, name="CONV4"),
            Conv(k5, 3, 1, 1, groups=groups, name="CONV5"), Pool(3, 2, name="POOL3"),
            FC(4096, name="FC6"), FC(4096, name="FC7"), FC(1000, name="FC8")]


def alexnet():
    """AlexNet as in the cs231n notes' table (single tower; Krizhevsky, Sutskever & Hinton 2012).

    227x227x3 input (the paper's 224 does not fit (224-11)/4+1), MAX POOL before NORM (CaffeNet's
    order; the paper normalises first), every conv sees all channels: 62,378,344 parameters.
    """
    return [Input(227, 227, 3), Conv(96, 11, 4, 0, name="CONV1"), Pool(3, 2, name="POOL1"), LRN(name="NORM1"),
            Conv(256, 5, 1, 2, name="CONV2"), Pool(3, 2, name="POOL2"), LRN(name="NORM2")] + _alexnet_head()


def alexnet_two_tower():
    """AlexNet as trained on two GPUs (Krizhevsky, Sutskever & Hinton 2012, Fig. 2), 227x227x3 input.

    CONV2, CONV4 and CONV5 connect only to the feature maps on their own GPU (groups=2); CONV3 and
    the FC layers see both halves. Paper order conv -> ReLU -> NORM -> POOL in layers 1 and 2.
    60,965,224 parameters (the paper's "60 million").
    """
    return [Input(227, 227, 3), Conv(96, 11, 4, 0, name="CONV1"), LRN(name="NORM1"), Pool(3, 2, name="POOL1"),
            Conv(256, 5, 1, 2, groups=2, name="CONV2"), LRN(name="NORM2"), Pool(3, 2, name="POOL2")] \
        + _alexnet_head(groups=2)


def zfnet(conv3_5=(512, 1024, 512)):
    """ZFNet (Zeiler & Fergus 2013, "Visualizing and understanding convolutional networks").

    AlexNet with CONV1 7x7 stride 2 and CONV2 stride 2, on 224x224x3, sizes of the paper's Fig. 3
    (110, 55, 26, 13, 13, 13, 6). Those sizes need framework rounding: CONV1 pads 1 and rounds
    down, the pools round up (Caffe). conv3_5 = (512, 1024, 512) is the widened model of the
    cs231n slides (paper Table 2); (384, 384, 256) is the Fig. 3 net.
    """
    return [Input(224, 224, 3), Conv(96, 7, 2, 1, rounding="floor", name="CONV1"),
            Pool(3, 2, rounding="ceil", name="POOL1"), LRN(name="NORM1"),
            Conv(256, 5, 2, 0, name="CONV2"), Pool(3, 2, rounding="ceil", name="POOL2"), LRN(name="NORM2")] \
        + _alexnet_head(conv3_5)


# Table 1 of Simonyan & Zisserman: ints are conv3 widths, "1xN" a 1x1 conv of N, "M" max pool, "LRN".
VGG_CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x256", "M", 512, 512, "1x512", "M", 512, 512, "1x512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def vgg(config: str = "D", input_size: int = 224):
    """VGG net (Simonyan & Zisserman 2014, Table 1), configuration 'A', 'A-LRN', 'B', 'C', 'D' (VGG16), 'E' (VGG19).

    3x3 convs stride 1 pad 1 (C also has 1x1 convs), 2x2 max pools stride 2, FC-4096, FC-4096,
    FC-1000 (softmax not listed). Names follow Caffe: conv3_2, pool3, fc6. Parameters (with
    biases) 132.9M / 132.9M / 133.0M / 133.6M / 138.4M / 143.7M (paper Table 2: 133, 133, 133,
    134, 138, 144 million). For a sliding score map use fc_to_conv(vgg(...)) with with_input.
    """
    if config not in VGG_CONFIGS:
        raise ValueError(f"VGG config must be one of {list(VGG_CONFIGS)}, got {config!r}")
    net, block, index = [Input(input_size, input_size, 3)], 1, 1
    for item in VGG_CONFIGS[config]:
        if item == "M":
            net.append(Pool(2, 2, name=f"pool{block}"))
            block, index = block + 1, 1
        elif item == "LRN":
            net.append(LRN(name=f"norm{block}"))
        else:
            F, K = (1, int(item[2:])) if isinstance(item, str) else (3, item)
            net.append(Conv(K, F, 1, (F - 1) // 2, name=f"conv{block}_{index}"))
            index += 1
    return net + [FC(4096, name="fc6"), FC(4096, name="fc7"), FC(1000, name="fc8")]


# Table 1 of Szegedy et al.: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
_GOOGLENET_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


# Table 1's own "params" column, in K as printed (weights only, K = 1024, loosely rounded; conv1's
# 2.7K is far below its 7*7*3*64 = 9,408 weights). It sums to 6,797.7K, the "about 6.8M".
GOOGLENET_TABLE1_PARAMS_K = {
    "conv1/7x7_s2": 2.7, "conv2": 112, "inception_3a": 159, "inception_3b": 380, "inception_4a": 364,
    "inception_4b": 437, "inception_4c": 463, "inception_4d": 580, "inception_4e": 840,
    "inception_5a": 1072, "inception_5b": 1388, "loss3/classifier": 1000,
}


def googlenet():
    """GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"), Table 1, 224x224x3 input.

    Counted: every conv of Table 1 with its bias, the two LocalRespNorm layers of Fig. 3, and the
    final linear 1024 -> 1000 layer; the two training-only auxiliary classifiers are NOT included
    (see googlenet_aux; about 3.2M each). Total 6,998,552 parameters (6,990,272 weights) = 7.0M;
    Table 1's own column (GOOGLENET_TABLE1_PARAMS_K: weights, units of 1024, loosely rounded, 2.7K
    for a conv1 that has 9,408 weights) sums to about 6.8M. About 1.58 billion multiply-adds (the
    paper's budget: 1.5 billion). Sizes follow Caffe's rounding (conv1 pads 3 and rounds down,
    pools round up).
    """
    pool = dict(rounding="ceil")
    net = [Input(224, 224, 3), Conv(64, 7, 2, 3, rounding="floor", name="conv1/7x7_s2"),
           Pool(3, 2, name="pool1/3x3_s2", **pool), LRN(name="pool1/norm1"),
           Conv(64, 1, name="conv2/3x3_reduce"), Conv(192, 3, 1, 1, name="conv2/3x3"), LRN(name="conv2/norm2"),
           Pool(3, 2, name="pool2/3x3_s2", **pool)]
    for key, sizes in _GOOGLENET_INCEPTION.items():
        net.append(Inception(*sizes, name=f"inception_{key}"))
        if key in ("3b", "4e"):
            net.append(Pool(3, 2, name=f"pool{key[0]}/3x3_s2", **pool))
    return net + [Pool(7, 1, kind="avg", name="pool5/7x7_s1"), FC(1000, name="loss3/classifier")]


def googlenet_aux(in_channels: int = 512):
    """One auxiliary classifier of GoogLeNet (training only), on the 14x14 output of inception 4a (512) or 4d (528).

    5x5 average pool stride 3 -> 4x4, 1x1 conv 128, FC-1024, FC-1000 (paper section 5).
    """
    return [Input(14, 14, in_channels), Pool(5, 3, kind="avg", name="aux/ave_pool"),
            Conv(128, 1, name="aux/conv"), FC(1024, name="aux/fc"), FC(1000, name="aux/classifier")]


_RESNET_STAGES = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
                  50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3)),
                  152: (Bottleneck, (3, 8, 36, 3))}


def resnet(depth: int = 50):
    """ResNet-18/34/50/101/152 (He, Zhang, Ren & Sun 2015, Table 1), as built by torchvision, 224x224x3.

    conv1 7x7/2 (no bias) + BN, 3x3/2 max pool (pad 1), four stages of residual blocks (the first
    block of stages 3-5 halves the size with stride 2 and a 1x1 projection shortcut, option B),
    global average pool, FC-1000. Counts include BN's gamma and beta: 11,689,512 / 21,797,672 /
    25,557,032 / 44,549,160 / 60,192,808. Bottlenecks stride on the 3x3 conv (torchvision v1.5).
    """
    if depth not in _RESNET_STAGES:
        raise ValueError(f"ResNet depth must be one of {list(_RESNET_STAGES)}, got {depth!r}")
    block, counts = _RESNET_STAGES[depth]
    net = [Input(224, 224, 3), Conv(64, 7, 2, 3, bias=False, rounding="floor", name="conv1"), BatchNorm("bn1"),
           Pool(3, 2, 1, rounding="floor", name="maxpool")]
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for i in range(count):
            S = 2 if (i == 0 and stage > 0) else 1
            net.append(block(width, S, name=f"conv{stage + 2}_{i + 1}"))
    return net + [GlobalAvgPool("avgpool"), FC(1000, name="fc")]


def alphago_policy(k: int = 192):
    """AlphaGo's supervised-learning policy network (Silver et al. 2016, Nature, Methods).

    19x19x48 input (48 feature planes); CONV1 k 5x5 pad 2; CONV2-12 k 3x3 pad 1; CONV13 one 1x1
    filter with a separate bias for each of the 361 positions; softmax over the 361 moves. The
    hidden convs are assumed to have ordinary per-filter biases (the paper does not say). The match
    version used k=192 (3,882,793 parameters); 128, 256, 384 were also tried.
    """
    net = [Input(19, 19, 48), Conv(k, 5, 1, 2, name="CONV1")]
    net += [Conv(k, 3, 1, 1, name=f"CONV{i}") for i in range(2, 13)]
    return net + [Conv(1, 1, bias="per_position", name="CONV13"), Softmax("SOFTMAX")]
