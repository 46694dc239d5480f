"""cnnlib.numpy_autograd: a numpy (forward, backward) pair as a torch autograd operation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlib import layers
from cnnlib.numpy_autograd import as_autograd, gradcheck_layer

CONV = {"stride": 1, "pad": 1}


def test_the_wrapped_conv_computes_and_differentiates_like_torch() -> None:
    rng = np.random.default_rng(0)
    x, w, b = (torch.tensor(rng.normal(size=s), requires_grad=True)
               for s in ((2, 3, 5, 5), (4, 3, 3, 3), (4,)))
    conv = as_autograd(layers.conv_forward, layers.conv_backward)
    out = conv(x, w, b, CONV)
    ref = F.conv2d(x, w, b, padding=1)
    assert torch.allclose(out, ref)
    grads = torch.autograd.grad((out ** 2).sum(), (x, w, b))
    refs = torch.autograd.grad((ref ** 2).sum(), (x, w, b))
    assert all(torch.allclose(g, r) for g, r in zip(grads, refs))


def test_the_layers_pass_torch_gradcheck_and_a_wrong_backward_does_not() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 4))
    assert gradcheck_layer(layers.conv_forward, layers.conv_backward,
                           [x, rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2)], [CONV])
    assert gradcheck_layer(layers.spatial_batchnorm_forward, layers.spatial_batchnorm_backward,
                           [x, rng.normal(size=3), rng.normal(size=3)], [{"mode": "train"}])
    assert gradcheck_layer(layers.relu_forward, layers.relu_backward, [x])
    assert not gradcheck_layer(layers.relu_forward, lambda d, c: 2 * (d * (c > 0)), [x])


def test_a_backward_with_the_wrong_shape_or_count_is_said() -> None:
    x = torch.ones(2, 3, requires_grad=True)
    bad_shape = as_autograd(layers.relu_forward, lambda d, c: d.ravel())
    with pytest.raises(ValueError, match="shape"):
        bad_shape(x).sum().backward()
    bad_count = as_autograd(layers.relu_forward, lambda d, c: (d, d))
    with pytest.raises(ValueError, match="2 gradients for 1 inputs"):
        bad_count(x).sum().backward()


def test_the_numpy_layer_gets_copies_and_float32_stays_float32() -> None:
    def forward(x):
        x += 1.0  # a layer that writes into its input
        return x * 2, None

    x = torch.zeros(3, dtype=torch.float32, requires_grad=True)
    out = as_autograd(forward, lambda d, c: d * 2)(x)
    assert out.dtype == torch.float32 and out.tolist() == [2.0, 2.0, 2.0]
    assert x.tolist() == [0.0, 0.0, 0.0]
    out.sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_the_first_argument_must_be_a_tensor() -> None:
    with pytest.raises(ValueError, match="tensor"):
        as_autograd(layers.relu_forward, layers.relu_backward)(np.ones(3))
