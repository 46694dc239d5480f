from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import arith


@pytest.mark.parametrize(
    ("n", "f", "s", "p", "out"),
    [(7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 1, 1, 7), (32, 5, 1, 2, 32), (32, 5, 1, 0, 28),
     (28, 5, 1, 0, 24), (227, 11, 4, 0, 55), (56, 1, 1, 0, 56)],
)
def test_conv_output_size(n: int, f: int, s: int, p: int, out: int) -> None:
    assert arith.conv_output_size(n, f, s, p) == out


def test_not_fitting_is_an_error_with_the_arithmetic() -> None:
    with pytest.raises(ValueError, match=r"2\.33 is not an integer.*does not fit"):
        arith.conv_output_size(7, 3, stride=3)
    assert arith.conv_output_size(7, 3, stride=3, allow_floor=True) == 2
    with pytest.raises(ValueError, match="does not fit"):
        arith.conv_output_size(3, 5)


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [((7, "3"), TypeError, "f must be an integer"), ((7, 2.5), TypeError, "f must be an integer"),
     ((-7, 3), ValueError, "n must be >= 1"), ((7, 3, 0), ValueError, "stride must be >= 1"),
     ((7, 3, 1, -1), ValueError, "pad must be >= 0"), ((7, True), TypeError, "f must be")],
)
def test_bad_arguments_are_named(args, exc, match) -> None:
    with pytest.raises(exc, match=match):
        arith.conv_output_size(*args)


def test_pool_and_padding_and_params() -> None:
    assert arith.pool_output_size(224, 2) == 112
    assert arith.pool_output_size(55, 3, 2) == 27
    assert [arith.same_padding(f) for f in (3, 5, 7)] == [1, 2, 3]
    assert arith.same_padding(3, dilation=2) == 2
    with pytest.raises(ValueError, match="odd filter size"):
        arith.same_padding(4)
    assert arith.conv_params(5, 3, 10) == 760
    assert arith.conv_params(1, 64, 32) == 64 * 32 + 32
    assert arith.conv_params(3, 32, 32, bias=False, groups=32) == 9 * 32
    with pytest.raises(ValueError, match="groups=3 must divide"):
        arith.conv_params(3, 32, 32, groups=3)
    assert arith.conv_output_shape((3, 32, 32), 10, 5, 1, 2) == (10, 32, 32)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        arith.conv_output_shape((32, 32), 10, 5)


def test_receptive_field() -> None:
    assert arith.receptive_field([(3, 1)] * 3) == 7
    assert arith.receptive_field([(3, 1)] * 2) == 5
    assert arith.receptive_field([(2, 2), (2, 2)]) == 4
    assert arith.receptive_field([(3, 1, 2)]) == 5
    with pytest.raises(ValueError, match="layer 0"):
        arith.receptive_field([(3,)])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20), f=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_output_size_agrees_with_torch(n: int, f: int, s: int, p: int, d: int) -> None:
    eff = d * (f - 1) + 1
    if n + 2 * p < eff:
        with pytest.raises(ValueError):
            arith.conv_output_size(n, f, s, p, d)
        return
    conv = nn.Conv2d(1, 1, f, stride=s, padding=p, dilation=d)
    torch_out = conv(torch.zeros(1, 1, n, n)).shape[-1]
    assert arith.conv_output_size(n, f, s, p, d, allow_floor=True) == torch_out
    if (n + 2 * p - eff) % s == 0:
        assert arith.conv_output_size(n, f, s, p, d) == torch_out
    else:
        with pytest.raises(ValueError, match="does not fit"):
            arith.conv_output_size(n, f, s, p, d)


def test_layer_table_alexnet_conv1() -> None:
    model = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),
                          nn.Flatten(), nn.Linear(96 * 27 * 27, 10))
    t = arith.layer_table(model, (3, 227, 227))
    conv = t.rows[0]
    assert conv.output_shape == (96, 55, 55)
    assert conv.params == 34_944
    assert conv.macs == 96 * 55 * 55 * 363
    assert conv.activation_bytes == 96 * 55 * 55 * 4
    assert t.rows[2].output_shape == (96, 27, 27) and t.rows[2].params == 0
    assert t.total_params == sum(p.numel() for p in model.parameters())
    assert t.rows[-1].macs == 10 * 96 * 27 * 27
    text = str(t)
    assert "34,944" in text and "total" in text
    assert t.to_markdown().count("\n") == len(t.rows) + 2
    assert t.to_dicts()[0]["output_shape"] == (96, 55, 55)
    assert model.training  # mode restored


def test_layer_table_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match="torch.nn.Module"):
        arith.layer_table(lambda x: x, (3, 8, 8))
    with pytest.raises(ValueError, match="input_shape"):
        arith.layer_table(nn.ReLU(), (3, 0, 8))


def test_not_fitting_message_suggests_a_fix() -> None:
    with pytest.raises(ValueError) as err:
        arith.conv_output_size(7, 3, stride=3)
    msg = str(err.value)
    assert msg.startswith("(7 - 3 + 2*0)/3 + 1 = 2.33")
    assert "3x3 filter with stride 3" in msg and "7-wide input" in msg
    assert "stride 1 or 2 or 4" in msg and "pad 1" in msg  # (7 + 2 - 3)/3 + 1 = 3 fits


def test_conv_params_rectangular_and_typed() -> None:
    assert arith.conv_params((3, 5), 4, 2) == 3 * 5 * 4 * 2 + 2
    assert arith.conv_params(3, 8, 8, groups=8) == 9 * 8 + 8
    with pytest.raises(TypeError, match="in_channels must be an integer"):
        arith.conv_params(3, "64", 32)


def test_layer_table_shared_module_counted_once_and_modes_restored() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(self.conv(self.conv(x)))

    model = Twice()
    model.bn.eval()  # a frozen part inside a training model
    t = arith.layer_table(model, (2, 6, 6))
    assert [r.name for r in t.rows] == ["conv", "conv", "bn"]
    assert [r.params for r in t.rows] == [2 * 2 * 9 + 2, 0, 4]
    assert t.total_params == sum(p.numel() for p in model.parameters())
    assert t.total_macs == 2 * (2 * 6 * 6 * 2 * 9)  # both calls cost compute
    assert model.training and model.conv.training and not model.bn.training


def test_layer_table_linear_1d_and_transposed_conv() -> None:
    model = nn.Sequential(nn.Conv1d(4, 8, 3, padding=1), nn.Linear(10, 5),
                          nn.ConvTranspose1d(8, 3, 2, stride=2))
    t = arith.layer_table(model, (4, 10))
    assert [r.output_shape for r in t.rows] == [(8, 10), (8, 5), (3, 10)]
    assert t.rows[0].macs == 8 * 10 * 4 * 3
    assert t.rows[1].macs == 8 * 5 * 10  # Linear acts on the last axis of every row
    assert t.rows[2].macs == (8 * 5) * 3 * 2  # every input element scattered over K*k outputs
    assert t.total_activation_bytes == 4 * (80 + 40 + 30)
    html = t._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == len(t.rows) + 2


def test_layer_table_follows_the_model_dtype() -> None:
    t = arith.layer_table(nn.Conv2d(1, 2, 3).double(), (1, 5, 5))
    assert t.rows[0].output_shape == (2, 3, 3) and t.rows[0].activation_bytes == 18 * 8


def test_receptive_field_rejects_non_pairs() -> None:
    with pytest.raises(ValueError, match="layer 1"):
        arith.receptive_field([(3, 1), 3])
    with pytest.raises(ValueError, match="stride must be >= 1"):
        arith.receptive_field([(3, 0)])


def test_validate_helpers() -> None:
    import numpy as np

    from cnnlib._validate import check_int, check_pair, check_positive_ints

    assert check_int("stride", np.int64(2), 1) == 2 and type(check_int("s", np.int64(2))) is int
    with pytest.raises(TypeError, match=r"stride must be an integer, got 'a' \(str\)"):
        check_int("stride", "a")
    with pytest.raises(TypeError, match=r"got True \(bool\)"):
        check_int("stride", True)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        check_int("stride", 0, 1)
    assert check_pair("f", 3, 1) == (3, 3) and check_pair("f", [2, 5], 1) == (2, 5)
    with pytest.raises(ValueError, match=r"f\[1\] must be >= 1"):
        check_pair("f", (3, 0), 1)
    with pytest.raises(ValueError, match="pair"):
        check_pair("f", (1, 2, 3), 1)
    check_positive_ints(width=3, depth=np.int64(1))
    with pytest.raises(ValueError, match="depth must be >= 1, got 0"):
        check_positive_ints(width=3, depth=0)
    with pytest.raises(TypeError, match=r"width must be an integer, got 2\.5"):
        check_positive_ints(width=2.5)


def test_layer_table_accepts_a_batch_axis_and_drops_it() -> None:
    model = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU())
    with_batch = arith.layer_table(model, (8, 3, 227, 227))
    assert with_batch.input_shape == (3, 227, 227)
    assert [r.output_shape for r in with_batch.rows] == [(96, 55, 55), (96, 55, 55)]
    assert with_batch.total_macs == arith.layer_table(model, (3, 227, 227)).total_macs
    # a 1-D model: (C, L) has two axes, so (N, C, L) loses its first
    t = arith.layer_table(nn.Conv1d(2, 4, 3), (5, 2, 10))
    assert t.rows[0].output_shape == (4, 8)
    with pytest.raises(TypeError, match="input_shape must be a tuple"):
        arith.layer_table(model, "3x227x227")


def test_pool_output_size_defaults_stride_to_window_and_checks_fit() -> None:
    assert arith.pool_output_size(4, 2) == 2
    with pytest.raises(ValueError, match="does not fit"):
        arith.pool_output_size(5, 2)  # (5 - 2)/2 + 1 = 2.5
    assert arith.pool_output_size(5, 3, stride=2, pad=1) == 3
    assert arith.same_padding(2, dilation=2) == 1  # even F, but taps span 3 cells
    with pytest.raises(ValueError, match="spanning 4 cells has no symmetric"):
        arith.same_padding(2, dilation=3)
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        arith.same_padding(3, dilation=0)


def test_dilated_misfit_names_the_span_and_too_wide_filter_is_explained() -> None:
    msg = r"\(8 - 5 \+ 2\*0\)/2 \+ 1 = 2\.50 .*dilation 2, spanning 5"
    with pytest.raises(ValueError, match=msg):
        arith.conv_output_size(8, 3, stride=2, dilation=2)
    with pytest.raises(ValueError, match=r"spanning 11 cells does not fit a 7-wide input.*9 < "):
        arith.conv_output_size(7, 11, pad=1)
    with pytest.raises(ValueError, match="does not fit"):
        arith.conv_output_size(7, 11, pad=1, allow_floor=True)  # floor cannot rescue this


def _covered_by_torch(n: int, f: int, s: int, p: int, d: int) -> int:
    """Real cells of a length-n input that reach the output: the gradient of sum(conv) is
    positive exactly there (a ones kernel, so every tap counts)."""
    x = torch.ones(1, 1, n, requires_grad=True)
    torch.nn.functional.conv1d(x, torch.ones(1, 1, f), stride=s, padding=p, dilation=d).sum() \
        .backward()
    return int((x.grad[0, 0] > 0).sum())


@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 30), f=st.integers(1, 7), s=st.integers(1, 5), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_uncovered_inputs_matches_what_torch_reads(n: int, f: int, s: int, p: int, d: int) -> None:
    if d * (f - 1) + 1 > n + 2 * p:
        with pytest.raises(ValueError, match="does not fit"):
            arith.uncovered_inputs(n, f, s, p, d)
        return
    assert arith.uncovered_inputs(n, f, s, p, d) == n - _covered_by_torch(n, f, s, p, d)


@pytest.mark.parametrize(
    ("args", "uncovered"),
    [((7, 3, 3, 0), 1),     # 2.33 -> 2: the last real column is silently dropped
     ((8, 3, 2, 1), 0),     # 4.5 -> 4: only a padding column is left over (ResNet's 3x3/2)
     ((40, 3, 2, 1), 0),    # 20.5 -> 20: notebook 2's 1D convnet
     ((8, 1, 2, 0), 4),     # a 1x1 conv with stride 2 subsamples by design
     ((7, 3, 2, 0), 0)],    # fits exactly
)
def test_uncovered_inputs_examples_of_the_lesson(args: tuple[int, ...], uncovered: int) -> None:
    assert arith.uncovered_inputs(*args) == uncovered
