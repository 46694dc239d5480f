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
