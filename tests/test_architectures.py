"""Tests of the architecture calculator against published figures and hand-worked numbers.

Published totals come from the papers, the cs231n notes / slides and torchvision's model docs;
they are written here as numbers, never read back from cs231n_lib.
"""
import math

import numpy as np
import pytest

from cs231n_lib import architectures as arch
from cs231n_lib.architectures import (BasicBlock, Conv, FC, Input, LRN, Pool, analyze, format_bytes)


# ------------------------------------------------------------------ published parameter totals
@pytest.mark.parametrize("make, expected", [
    (arch.alexnet, 62_378_344),                      # cs231n single-tower table
    (lambda: arch.vgg("A"), 132_863_336),            # torchvision vgg11
    (lambda: arch.vgg("A-LRN"), 132_863_336),        # LRN has no parameters
    (lambda: arch.vgg("B"), 133_047_848),            # torchvision vgg13
    (lambda: arch.vgg("D"), 138_357_544),            # torchvision vgg16
    (lambda: arch.vgg("E"), 143_667_240),            # torchvision vgg19
    (lambda: arch.resnet(18), 11_689_512),           # torchvision, BN gamma/beta included
    (lambda: arch.resnet(34), 21_797_672),
    (lambda: arch.resnet(50), 25_557_032),
    (lambda: arch.resnet(101), 44_549_160),
    (lambda: arch.resnet(152), 60_192_808),
    (lambda: arch.lenet5(original=False), 61_706),   # the usual modern LeNet-5
])
def test_published_parameter_totals(make, expected):
    assert analyze(make()).params == expected


def test_vgg_paper_table2_millions():
    millions = [round(analyze(arch.vgg(c)).params / 1e6) for c in ("A", "A-LRN", "B", "C", "D", "E")]
    assert millions == [133, 133, 133, 134, 138, 144]


def test_vgg_c_is_d_with_three_1x1_convs():
    # C swaps the third 3x3 conv of blocks 3, 4, 5 for a 1x1: 8 of 9 taps fewer
    saved = 8 * (256 * 256 + 512 * 512 + 512 * 512)
    assert analyze(arch.vgg("C")).params == 138_357_544 - saved


def test_alexnet_two_tower_about_60_97_million():
    a = analyze(arch.alexnet_two_tower())
    # CONV2, CONV4, CONV5 see half the input depth (48, 192, 192 instead of 96, 384, 384)
    halved = 5 * 5 * 48 * 256 + 3 * 3 * 192 * 384 + 3 * 3 * 192 * 256
    assert a.params == 62_378_344 - halved
    assert round(a.params / 1e6, 2) == 60.97
    assert a.row("CONV3").params == 3 * 3 * 256 * 384 + 384  # CONV3 crosses the GPUs
    assert a.row("NORM1").out_shape == (55, 55, 96)          # paper order: NORM before POOL


# ------------------------------------------------------------------ AlexNet layer table
def test_alexnet_conv1_and_pool1():
    a = analyze(arch.alexnet())
    conv1, pool1 = a.row("CONV1"), a.row("POOL1")
    assert (conv1.out_shape, conv1.weights, conv1.biases, conv1.params) == ((55, 55, 96), 34_848, 96, 34_944)
    assert (pool1.out_shape, pool1.params) == ((27, 27, 96), 0)


def test_alexnet_shapes_match_cs231n_table():
    expected = [(227, 227, 3), (55, 55, 96), (27, 27, 96), (27, 27, 96), (27, 27, 256), (13, 13, 256),
                (13, 13, 256), (13, 13, 384), (13, 13, 384), (13, 13, 256), (6, 6, 256),
                (1, 1, 4096), (1, 1, 4096), (1, 1, 1000)]
    assert analyze(arch.alexnet()).column("out_shape") == expected
    assert analyze(arch.alexnet()).row("FC6").weights == 6 * 6 * 256 * 4096


# ------------------------------------------------------------------ VGG16 memory and parameters
def test_vgg16_activations_per_layer_and_memory():
    a = analyze(arch.vgg("D"))
    s = lambda n, c: n * n * c  # noqa: E731
    expected = ([s(224, 3)] + [s(224, 64)] * 2 + [s(112, 64)] + [s(112, 128)] * 2 + [s(56, 128)]
                + [s(56, 256)] * 3 + [s(28, 256)] + [s(28, 512)] * 3 + [s(14, 512)]
                + [s(14, 512)] * 3 + [s(7, 512)] + [4096, 4096, 1000])
    assert a.column("activations") == expected
    assert a.activations == 15_237_608
    assert format_bytes(a.bytes32, ("MB", "MiB")) == "61.0 MB (58.1 MiB)"
    assert a.bytes64 == 8 * 15_237_608


def test_vgg16_weights_and_first_fc():
    a = analyze(arch.vgg("D"))
    assert a.weights == 138_344_128
    fc6 = a.row("fc6")
    assert fc6.weights == 102_760_448 == 7 * 7 * 512 * 4096
    assert round(100 * fc6.weights / a.params) == 74
    assert round(a.macs / 1e9, 2) == 15.47  # torchvision's vgg16 "GFLOPS" (multiply-adds)


def test_vgg16_first_two_layers_with_gradients():
    a = analyze(arch.vgg("D"))
    two = a.row("conv1_1").activations + a.row("conv1_2").activations
    assert round(two / 1e6, 2) == 6.42
    assert round(two * 2 * 4 / 1e6) == 51


# ------------------------------------------------------------------ the notes' memory example
def test_hypothetical_net_memory():
    net = [Input(224, 224, 3)] + [Conv(64, 3, 1, 1) for _ in range(3)]
    a = analyze(net, count_input=False)
    assert a.activations == 9_633_792 == 3 * 224 * 224 * 64
    budget = arch.training_memory(a, batch_size=1, bytes_per_value=4, backward=True)
    assert budget["activations"] == 9_633_792 * 2 * 4
    assert format_bytes(budget["activations"], "MB") == "77.1 MB"
    assert format_bytes(budget["activations"], "MiB") == "73.5 MiB"
    params = 3 * 3 * 3 * 64 + 64 + 2 * (3 * 3 * 64 * 64 + 64)
    assert budget["params"] == params * 3 * 4


# ------------------------------------------------------------------ receptive field
def _receptive_field_oracle(layers):
    """Input positions that output position 0 depends on, by brute force over index sets (1-D, no pad)."""
    needed = {0}
    for F, S, D in reversed(layers):
        needed = {p * S + D * t for p in needed for t in range(F)}
    return max(needed) - min(needed) + 1


@pytest.mark.parametrize("layers", [
    [(3, 1, 1)] * 2, [(3, 1, 1)] * 3, [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(3, 1, 1), (2, 2, 1), (3, 1, 1)],
    [(11, 4, 1), (3, 2, 1), (5, 1, 1)], [(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1)],
])
def test_receptive_field_against_brute_force(layers):
    assert arch.receptive_field(layers) == _receptive_field_oracle(layers)


def test_receptive_field_examples():
    assert arch.receptive_field([Conv(64, 3, P=1)] * 3) == 7
    assert arch.receptive_field([Conv(64, 3, P=1)] * 2) == 5
    dilated = [Conv(8, 3, D=1), Conv(8, 3, D=2, P=2), Conv(8, 3, D=4, P=4)]
    assert arch.receptive_field(dilated, per_layer=True) == [3, 7, 15]
    assert arch.receptive_field([Conv(8, 3), Pool(2), Conv(8, 3)]) == 8
    with pytest.raises(TypeError):
        arch.receptive_field([FC(10)])


def test_three_3x3_vs_one_7x7_parameters():
    C = 32
    three = analyze([Input(16, 16, C)] + [Conv(C, 3, P=1, bias=False)] * 3)
    one = analyze([Input(16, 16, C), Conv(C, 7, P=3, bias=False)])
    assert three.params == 27 * C * C and one.params == 49 * C * C
    assert three.out_shape == one.out_shape == (16, 16, C)


# ------------------------------------------------------------------ FC <-> CONV
def test_fc_as_conv_on_7x7x512():
    a = analyze([Input(7, 7, 512), Conv(4096, 7), Conv(4096, 1), Conv(1000, 1)])
    assert a.rows[1].out_shape == (1, 1, 4096)
    assert a.rows[1].params == 7 * 7 * 512 * 4096 + 4096
    assert a.out_shape == (1, 1, 1000)


def test_converted_vgg_gives_6x6_score_map_on_384():
    net = arch.vgg("D")
    conv_net = arch.fc_to_conv(net)
    assert not any(isinstance(layer, FC) for layer in conv_net)
    assert analyze(conv_net).params == analyze(net).params
    big = analyze(arch.with_input(conv_net, 384))
    side = (384 - 224) // 32 + 1
    assert big.out_shape == (side, side, 1000) == (6, 6, 1000)
    assert big.row("pool5").out_shape == (12, 12, 512)


# ------------------------------------------------------------------ bad configurations
def test_stride_that_does_not_fit_raises():
    with pytest.raises(ValueError, match=r"CONV1.*4\.5"):
        analyze([Input(10, 10, 3), Conv(4, 3, S=2)])
    assert analyze([Input(10, 10, 3), Conv(4, 3, S=2, rounding="floor")]).out_shape == (4, 4, 4)


@pytest.mark.parametrize("net, error", [
    ([Conv(4, 3)], ValueError),                                 # no Input first
    ([Input(7, 7, 3), Conv(4, 9)], ValueError),                 # window larger than the input
    ([Input(7, 7, 3), Conv(4, 3, groups=2)], ValueError),       # 3 channels in 2 groups
    ([Input(7, 7, 3), Conv(0, 3)], ValueError),
    ([Input(7, 7, 3), Conv(4, 3, bias="yes")], ValueError),
    ([Input(6, 6, 3), Pool(3, 2, kind="median")], ValueError),
    ([Input(6, 6, 3), Pool(3, 2, rounding="round")], ValueError),
    ([Input(6, 6, 3), "relu"], TypeError),
])
def test_bad_networks_raise(net, error):
    with pytest.raises(error):
        analyze(net)


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        arch.vgg("F")
    with pytest.raises(ValueError):
        arch.resnet(20)
    with pytest.raises(ValueError):
        format_bytes(10, "megabytes")
    with pytest.raises(KeyError):
        analyze(arch.alexnet()).row("CONV9")


def test_rounding_modes():
    # (6 - 3)/2 + 1 = 2.5 positions: floor keeps 2, Caffe's ceil keeps a partial third window
    assert analyze([Input(6, 6, 1), Pool(3, 2, rounding="floor")]).out_shape == (2, 2, 1)
    assert analyze([Input(6, 6, 1), Pool(3, 2, rounding="ceil")]).out_shape == (3, 3, 1)
    # ceil never starts a window past the input: 2x2/3 on 6 starts at 0 and 3 only (PyTorch's rule)
    assert analyze([Input(6, 6, 1), Pool(2, 3, rounding="ceil")]).out_shape == (2, 2, 1)
    with pytest.raises(ValueError):
        analyze([Input(6, 6, 1), Pool(3, 2)])


# ------------------------------------------------------------------ a hand-worked net
def test_small_net_by_hand():
    net = [Input(8, 8, 3), Conv(4, 3, P=1), Pool(2, 2), Conv(6, 3), LRN(), FC(5)]
    a = analyze(net)
    # by hand: 8x8x3 -conv 3x3 p1-> 8x8x4 -pool-> 4x4x4 -conv 3x3-> 2x2x6 -> 2x2x6 -fc-> 5
    assert a.column("out_shape") == [(8, 8, 3), (8, 8, 4), (4, 4, 4), (2, 2, 6), (2, 2, 6), (1, 1, 5)]
    assert a.column("weights") == [0, 108, 0, 216, 0, 120]
    assert a.column("biases") == [0, 4, 0, 6, 0, 5]
    assert a.column("activations") == [192, 256, 64, 24, 24, 5]
    assert a.column("macs") == [0, 6912, 0, 864, 0, 120]  # 256*27, 24*36, 24*5
    assert (a.params, a.activations, a.macs) == (459, 565, 7896)
    assert (a.bytes32, a.bytes64) == (2260, 4520)
    assert a.column("name") == ["INPUT", "CONV1", "POOL1", "CONV2", "NORM1", "FC1"]


def test_small_residual_block_by_hand():
    a = analyze([Input(8, 8, 4), BasicBlock(8, S=2)])
    block = a.rows[1]
    # two 3x3 convs without bias (4->8, 8->8), a 1x1 projection 4->8, three BNs of 8 channels
    assert block.out_shape == (4, 4, 8)
    assert block.weights == 9 * 4 * 8 + 9 * 8 * 8 + 4 * 8 + 3 * 8
    assert block.biases == 3 * 8
    assert block.macs == 16 * 8 * (36 + 72 + 4)
    # every sub-layer output (conv, bn, conv, bn, projection conv, bn: six 4x4x8 maps) + the sum
    assert block.activations == 6 * 16 * 8 + 16 * 8
    assert [r.name for r in block.children][-2:] == ["BLOCK1/downsample.conv", "BLOCK1/downsample.bn"]
    identity = analyze([Input(8, 8, 8), BasicBlock(8)]).rows[1]
    assert not any("downsample" in r.name for r in identity.children)


# ------------------------------------------------------------------ conv vs FC, im2col
def test_fc_equivalent_and_unshared_params():
    assert arch.fc_equivalent_params((32, 32, 3), (32, 32, 10)) == 10_240 * 3_073 == 31_467_520
    assert arch.unshared_params(227, 227, 3, K=96, F=11, S=4) == 290_400 * 364 == 105_705_600
    cmp = arch.compare_conv_fc(32, 32, 3, K=10, F=5, S=1, P=2)
    assert cmp["out_shape"] == (32, 32, 10)
    assert (cmp["conv_params"], cmp["fc_params"]) == (760, 31_467_520)
    assert (cmp["conv_macs"], cmp["fc_macs"]) == (768_000, 31_457_280)
    assert round(cmp["fc_params"] / cmp["conv_params"], -2) == 41_400
    assert round(cmp["fc_macs"] / cmp["conv_macs"]) == 41


def test_im2col_shapes_and_blowup():
    assert arch.im2col_shapes(227, 227, 3, F=11, S=4, P=0, K=96) == ((363, 3025), (96, 363), (55, 55, 96))
    cols, inputs, ratio = arch.im2col_blowup(227, 227, 3, F=11, S=4)
    # oracle: every window, copied out with a NumPy sliding view
    x = np.zeros((227, 227, 3), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(x, (11, 11), axis=(0, 1))[::4, ::4]
    assert cols == windows.size == 1_098_075
    assert inputs == x.size == 154_587
    assert round(ratio, 1) == 7.1
    with pytest.raises(ValueError):
        arch.im2col_shapes(10, 10, 3, F=3, S=2)


# ------------------------------------------------------------------ GoogLeNet and Inception
def test_inception_naive_vs_bottleneck():
    H = W = 28
    C = 256
    naive = arch.inception_cost(H, W, C, 128, None, 192, None, 96, None)
    assert naive.out_shape == (28, 28, 128 + 192 + 96 + 256)  # the pool branch keeps full depth
    assert naive.macs == H * W * (128 * 1 * C + 192 * 9 * C + 96 * 25 * C) == 854_196_224
    cheap = arch.inception_cost(H, W, C, 128, 64, 192, 64, 96, 64)
    assert cheap.out_shape == (28, 28, 480)
    assert cheap.macs == H * W * (128 * C + 64 * C + 192 * 9 * 64 + 64 * C + 96 * 25 * 64 + 64 * C)
    assert naive.macs / cheap.macs > 3


def test_googlenet_table1():
    a = analyze(arch.googlenet())
    shapes = {r.name: r.out_shape for r in a.rows}
    assert shapes["conv1/7x7_s2"] == (112, 112, 64)
    assert shapes["conv2/3x3"] == (56, 56, 192)
    table1_depths = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832,
                     "5a": 832, "5b": 1024}
    for key, depth in table1_depths.items():
        side = {"3": 28, "4": 14, "5": 7}[key[0]]
        assert shapes[f"inception_{key}"] == (side, side, depth)
    # Table 1's "ops" column (millions); 5a prints 54M but its own hyperparameters give 51M
    table1_ops = {"3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100, "4d": 119, "4e": 170, "5b": 71}
    for key, ops in table1_ops.items():
        assert abs(a.row(f"inception_{key}").macs / 1e6 - ops) < 1
    assert shapes["pool5/7x7_s1"] == (1, 1, 1024) and a.out_shape == (1, 1, 1000)
    # inception 3a by hand; Table 1 prints 159K params (K = 1024) and 128M ops
    w3a = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    assert a.row("inception_3a").weights == w3a == 163_328 and w3a // 1024 == 159
    assert round(a.row("loss3/classifier").weights / 1024) == 1000
    assert 5e6 < a.params < 7.1e6                  # "5-7M", 12x fewer than AlexNet's 60M
    assert 1.4e9 < a.macs < 1.7e9                  # paper: a budget of 1.5 billion multiply-adds
    assert round(sum(arch.GOOGLENET_TABLE1_PARAMS_K.values()) / 1000, 1) == 6.8


def test_googlenet_aux_classifier():
    a = analyze(arch.googlenet_aux(512))
    assert a.row("aux/ave_pool").out_shape == (4, 4, 512)
    assert a.params == (512 * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * 1000 + 1000)


# ------------------------------------------------------------------ ResNet
def test_resnet_stage_shapes_paper_table1():
    a = analyze(arch.resnet(50))
    assert a.row("conv1").out_shape == (112, 112, 64)
    assert a.row("maxpool").out_shape == (56, 56, 64)
    assert a.row("conv2_3").out_shape == (56, 56, 256)
    assert a.row("conv3_4").out_shape == (28, 28, 512)
    assert a.row("conv4_6").out_shape == (14, 14, 1024)
    assert a.row("conv5_3").out_shape == (7, 7, 2048)
    assert a.row("avgpool").out_shape == (1, 1, 2048)
    assert a.row("conv3_1/downsample.conv").params == 256 * 512  # 1x1/2 projection, no bias


@pytest.mark.parametrize("depth, gmacs", [(18, 1.81), (34, 3.66), (50, 4.09), (152, 11.51)])
def test_resnet_multiply_adds_match_torchvision(depth, gmacs):
    assert round(analyze(arch.resnet(depth)).macs / 1e9, 2) == gmacs


# ------------------------------------------------------------------ AlphaGo, LeNet-5, ZFNet
@pytest.mark.parametrize("k", [128, 192])
def test_alphago_policy(k):
    a = analyze(arch.alphago_policy(k))
    assert all(a.row(f"CONV{i}").out_shape == (19, 19, k) for i in range(1, 13))
    last = a.row("CONV13")
    assert (last.out_shape, last.weights, last.biases) == ((19, 19, 1), k, 361)
    assert a.out_shape == (1, 1, 361)
    expected = (25 * 48 * k + k) + 11 * (9 * k * k + k) + k + 361
    assert a.params == expected


def test_lenet5_paper_layer_parameters():
    a = analyze(arch.lenet5())
    # LeCun et al. 1998, section II.B: trainable parameters per layer
    assert a.column("params") == [0, 156, 12, 1516, 32, 48120, 10164, 840]
    assert a.column("out_shape")[1:6] == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120)]


@pytest.mark.parametrize("conv3_5", [(384, 384, 256), (512, 1024, 512)])
def test_zfnet_paper_fig3_sizes(conv3_5):
    a = analyze(arch.zfnet(conv3_5))
    sides = [r.out_shape[0] for r in a.rows[1:11]]
    assert sides == [110, 55, 55, 26, 13, 13, 13, 13, 13, 6]
    assert a.row("CONV1").params == 7 * 7 * 3 * 96 + 96
    assert a.row("FC6").weights == 6 * 6 * conv3_5[2] * 4096


# ------------------------------------------------------------------ text output
def test_format_table_and_bytes():
    text = analyze(arch.alexnet()).table()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["layer", "type", "output"]
    assert "55x55x96" in text and "34,944" in text
    assert lines[-1].startswith("TOTAL") and "62,378,344" in lines[-1]
    expanded = analyze(arch.resnet(18)).table(expand=True)
    assert "  conv2_1/conv1" in expanded
    assert format_bytes(2**20, "MiB") == "1.0 MiB" and format_bytes(10**6, "MB", 2) == "1.00 MB"
    assert format_bytes(1.5e9, "GB") == "1.5 GB"
    assert math.isclose(float(format_bytes(2**30, "GB", 3).split()[0]), 1.074)


def test_count_helpers_by_hand():
    # AlexNet CONV2 on one GPU's half: 48 input maps per filter
    assert arch.conv_params(96, 256, 5, groups=2) == 5 * 5 * 48 * 256 + 256 == 307_456
    assert arch.conv_params(96, 256, 5, bias=False) == 5 * 5 * 96 * 256
    assert arch.conv_macs(27, 27, 96, 256, 5, groups=2) == 27 * 27 * 256 * (5 * 5 * 48)
    assert arch.fc_params(6 * 6 * 256, 4096) == 37_752_832
    assert arch.fc_params(10, 3, bias=False) == arch.fc_macs(10, 3) == 30
