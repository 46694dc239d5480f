"""cnnlib.layers against torch's own ops and autograd (float64), forward and backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlib import layers

T = torch.tensor


def _grads(fn, arrays, dout):
    ts = [T(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    (out * T(dout)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _close(a, b, tol=1e-9):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize(("shape", "wshape", "stride", "pad"), [
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1),
    ((1, 2, 7, 5), (3, 2, 3, 1), 2, 2),
    ((3, 1, 6, 6), (2, 1, 2, 2), 2, 0),
    ((2, 2, 5, 7), (5, 2, 5, 3), 1, 0),
    ((1, 1, 4, 4), (1, 1, 4, 4), 3, 0),
])
def test_conv_matches_torch(shape, wshape, stride, pad) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=shape), rng.normal(size=wshape), rng.normal(size=wshape[0])
    out, cache = layers.conv_forward(x, w, b, {"stride": stride, "pad": pad})
    assert cache[0] is x and cache[1] is w and cache[2] is b and cache[3]["pad"] == pad
    dout = rng.normal(size=out.shape)
    ref, (dx, dw, db) = _grads(lambda a, c, d: F.conv2d(a, c, d, stride=stride, padding=pad),
                               [x, w, b], dout)
    _close(out, ref)
    for got, exp in zip(layers.conv_backward(dout, cache), (dx, dw, db)):
        _close(got, exp)


@pytest.mark.parametrize(("shape", "wshape", "param"), [
    ((1, 1, 6, 6), (1, 1, 3, 3), {"stride": 2, "pad": 0}),   # (6 - 3) / 2 is not whole
    ((1, 1, 2, 2), (1, 1, 5, 5), {"stride": 1, "pad": 1}),   # filter larger than the padded input
    ((1, 2, 5, 5), (1, 3, 3, 3), {"stride": 1, "pad": 1}),   # channels differ
])
def test_conv_refuses_what_does_not_fit(shape, wshape, param) -> None:
    with pytest.raises(ValueError):
        layers.conv_forward(np.zeros(shape), np.zeros(wshape), np.zeros(wshape[0]), param)


@pytest.mark.parametrize(("shape", "ph", "pw", "stride"), [
    ((2, 3, 8, 8), 2, 2, 2), ((1, 2, 7, 9), 3, 3, 2), ((2, 1, 5, 6), 3, 1, 1)])
def test_max_pool_matches_torch(shape, ph, pw, stride) -> None:
    rng = np.random.default_rng(1)
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0  # no ties
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = layers.max_pool_forward(x, param)
    assert cache[0] is x and cache[1] is param
    dout = rng.normal(size=out.shape)
    ref, (dx,) = _grads(lambda a: F.max_pool2d(a, (ph, pw), stride=stride), [x], dout)
    _close(out, ref)
    _close(layers.max_pool_backward(dout, cache), dx)


def test_max_pool_ties_go_to_the_first_maximum_only() -> None:
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = layers.max_pool_forward(x, param)
    dx = layers.max_pool_backward(np.full(out.shape, 5.0), cache)
    assert out.item() == 1.0 and dx.tolist() == [[[[5.0, 0.0], [0.0, 0.0]]]]
    with pytest.raises(ValueError):
        layers.max_pool_forward(np.zeros((1, 1, 5, 5)), param)


def test_affine_and_relu_match_torch() -> None:
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(4, 2, 3, 2)), rng.normal(size=(12, 5)), rng.normal(size=5)
    out, cache = layers.affine_forward(x, w, b)
    dout = rng.normal(size=(4, 5))
    ref, grads = _grads(lambda a, c, d: a.reshape(4, -1) @ c + d, [x, w, b], dout)
    _close(out, ref)
    for got, exp in zip(layers.affine_backward(dout, cache), grads):
        _close(got, exp)
    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = layers.relu_forward(x)
    assert out.tolist() == [[0.0, 0.0, 2.0]]
    assert layers.relu_backward(np.ones_like(x), cache).tolist() == [[0.0, 0.0, 1.0]]


@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_spatial_batchnorm_train_mode_matches_torch(eps) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 5, 2)) * rng.uniform(0.1, 3, (1, 4, 1, 1)) + 2.0
    g, b = rng.normal(size=4), rng.normal(size=4)
    p = {"mode": "train", "eps": eps, "momentum": 0.8, "running_mean": np.ones(4),
         "running_var": np.ones(4)}
    out, cache = layers.spatial_batchnorm_forward(x, g, b, p)
    dout = rng.normal(size=x.shape)
    ref, grads = _grads(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True,
                                                     eps=eps), [x, g, b], dout)
    _close(out, ref)
    for got, exp in zip(layers.spatial_batchnorm_backward(dout, cache), grads):
        _close(got, exp)
    _close(p["running_mean"], 0.8 + 0.2 * x.mean(axis=(0, 2, 3)))
    _close(p["running_var"], 0.8 + 0.2 * x.var(axis=(0, 2, 3)))  # biased, as the course says


def test_spatial_batchnorm_test_mode_uses_and_keeps_the_running_averages() -> None:
    rng = np.random.default_rng(4)
    x, g, b = rng.normal(size=(2, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    p = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy()}
    out, cache = layers.spatial_batchnorm_forward(x, g, b, p)
    dout = rng.normal(size=x.shape)
    ref, grads = _grads(lambda a, c, d: F.batch_norm(a, T(rm), T(rv), c, d, training=False,
                                                     eps=1e-5), [x, g, b], dout)
    _close(out, ref)
    for got, exp in zip(layers.spatial_batchnorm_backward(dout, cache), grads):
        _close(got, exp)
    assert np.array_equal(p["running_mean"], rm) and np.array_equal(p["running_var"], rv)
    with pytest.raises(ValueError, match="mode"):
        layers.spatial_batchnorm_forward(x, g, b, {"mode": "eval"})


def test_defaults_of_bn_param() -> None:
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    p = {"mode": "train"}
    layers.spatial_batchnorm_forward(x, np.ones(3), np.zeros(3), p)
    _close(p["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    _close(p["running_var"], 0.9 + 0.1 * x.var(axis=(0, 2, 3)))


def test_float32_stays_float32() -> None:
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    w, b = np.ones((2, 1, 3, 3), dtype=np.float32), np.zeros(2, dtype=np.float32)
    out, cache = layers.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layers.conv_backward(np.ones_like(out), cache))
