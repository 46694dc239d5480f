"""cnnlib.ops.conv2d / max_pool2d against torch.nn.functional, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlib import ops

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    f = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    # Big enough that at least one window fits.
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 9))
    n = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(n=n, c=c, f=f, h=h, w=w, k=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                dilation=(dh, dw), groups=groups, bias=bias, seed=seed)


def _conv_tensors(case, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(case["n"], case["c"], case["h"], case["w"], generator=g, dtype=dtype)
    wt = torch.randn(case["f"], case["c"] // case["groups"], *case["k"], generator=g, dtype=dtype)
    b = torch.randn(case["f"], generator=g, dtype=dtype) if case["bias"] else None
    return [None if t is None else t.to(device).requires_grad_() for t in (x, wt, b)]


def _kw(case):
    return dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                groups=case["groups"])


def _grads(out, inputs, seed=0):
    g = torch.Generator().manual_seed(seed)
    dout = torch.randn(out.shape, generator=g, dtype=out.dtype).to(out.device)
    live = [t for t in inputs if t is not None]
    return torch.autograd.grad(out, live, dout)


@SETTINGS
@given(conv_cases())
def test_conv2d_matches_torch_forward_and_backward(case):
    x, w, b = _conv_tensors(case)
    ours = ops.conv2d(x, w, b, **_kw(case))
    ref = F.conv2d(x, w, b, **_kw(case))
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    for a, r in zip(_grads(ours, (x, w, b)), _grads(ref, (x, w, b)), strict=True):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)


@settings(max_examples=8, deadline=None)
@given(conv_cases())
def test_conv2d_gradcheck_float64(case):
    case = {**case, "n": 1}
    x, w, b = _conv_tensors(case)
    inputs = tuple(t for t in (x, w, b) if t is not None)

    def fn(*ts):
        return ops.conv2d(ts[0], ts[1], ts[2] if len(ts) > 2 else None, **_kw(case))

    assert torch.autograd.gradcheck(fn, inputs)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    # The window must fit without padding: torch's own max_pool2d corrupts memory when a
    # window holds only padding (torch 2.13, e.g. H=1, kernel 2, dilation 2, pad 1).
    h = draw(st.integers(dh * (kh - 1) + 1, 9))
    w = draw(st.integers(dw * (kw - 1) + 1, 9))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w),
                kernel_size=(kh, kw), stride=stride, padding=(ph, pw), dilation=(dh, dw),
                seed=draw(st.integers(0, 2**31 - 1)))


def _pool_input(case, dtype=torch.float64, device="cpu"):
    # A permutation of distinct values: no ties, so the argmax (and the gradient) is unique.
    n = 1
    for s in case["shape"]:
        n *= s
    g = torch.Generator().manual_seed(case["seed"])
    x = torch.randperm(n, generator=g).to(dtype).reshape(case["shape"]) / n
    return x.to(device).requires_grad_()


@SETTINGS
@given(pool_cases())
def test_max_pool2d_matches_torch_forward_and_backward(case):
    x = _pool_input(case)
    kw = {k: case[k] for k in ("kernel_size", "stride", "padding", "dilation")}
    ours, ref = ops.max_pool2d(x, **kw), F.max_pool2d(x, **kw)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    (ga,), (gr,) = _grads(ours, (x,)), _grads(ref, (x,))
    torch.testing.assert_close(ga, gr, rtol=1e-12, atol=1e-12)


def test_max_pool2d_gradcheck_float64():
    case = dict(shape=(2, 2, 7, 6), kernel_size=3, stride=2, padding=1, dilation=1, seed=3)
    x = _pool_input(case)
    assert torch.autograd.gradcheck(lambda t: ops.max_pool2d(t, 3, 2, 1), (x,))


def test_max_pool_routes_gradient_to_argmax_only():
    x = torch.tensor([[[[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]],
                     requires_grad=True)
    out = ops.max_pool2d(x, 2)
    assert out.squeeze().tolist() == [[6.0, 8.0], [3.0, 4.0]]
    out.sum().backward()
    expected = torch.zeros(4, 4)
    expected[1, 1] = expected[1, 3] = expected[2, 0] = expected[3, 3] = 1
    assert torch.equal(x.grad.squeeze(), expected)


def test_conv2d_float32_and_unbatched_and_int_args():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 10, 10, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g)
    out = ops.conv2d(x, w, None, 2, 1)
    assert out.shape == (4, 5, 5) and out.dtype == torch.float32
    torch.testing.assert_close(out, F.conv2d(x, w, None, 2, 1), rtol=1e-5, atol=1e-5)


def test_conv2d_uses_its_own_backward():
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    out = ops.conv2d(x, torch.randn(1, 1, 2, 2))
    assert type(out.grad_fn).__name__ == "Conv2dFunctionBackward"


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(x=torch.zeros(2, 3, 4, 4), w=torch.zeros(5, 2, 3, 3)), ValueError, "channels"),
        (dict(x=torch.zeros(2, 3, 4, 4), w=torch.zeros(5, 3, 3)), ValueError, "weight must"),
        (dict(x=torch.zeros(3, 4), w=torch.zeros(5, 3, 3, 3)), ValueError, "(N, C, H, W)"),
        (dict(x=torch.zeros(1, 3, 4, 4, dtype=torch.int64), w=torch.zeros(5, 3, 3, 3)),
         TypeError, "floating"),
        (dict(x=torch.zeros(1, 3, 4, 4), w=torch.zeros(5, 3, 3, 3, dtype=torch.float64)),
         TypeError, "dtype"),
        (dict(x=torch.zeros(1, 3, 2, 2), w=torch.zeros(5, 3, 3, 3)), ValueError, "padded input"),
        (dict(x=torch.zeros(1, 3, 4, 4), w=torch.zeros(5, 3, 3, 3), stride=0), ValueError,
         "stride must be >= 1"),
        (dict(x=torch.zeros(1, 3, 4, 4), w=torch.zeros(5, 3, 3, 3), padding=(1, 2, 3)),
         ValueError, "padding must be an int or a pair (h, w)"),
        (dict(x=torch.zeros(1, 3, 4, 4), w=torch.zeros(5, 3, 3, 3), stride=1.5),
         TypeError, "stride must be an integer"),
        (dict(x=torch.zeros(1, 3, 4, 4), w=torch.zeros(5, 3, 3, 3), groups="1"),
         TypeError, "groups must be an integer"),
        (dict(x=torch.zeros(1, 4, 4, 4), w=torch.zeros(6, 2, 3, 3), groups=3), ValueError,
         "groups=3 must divide"),
        (dict(x=torch.zeros(1, 3, 4, 4), w=torch.zeros(5, 3, 3, 3), b=torch.zeros(4)),
         ValueError, "bias must have shape (5,)"),
    ],
)
def test_conv2d_bad_input_messages(kwargs, exc, words):
    x, w, b = kwargs.pop("x"), kwargs.pop("w"), kwargs.pop("b", None)
    with pytest.raises(exc) as info:
        ops.conv2d(x, w, b, **kwargs)
    assert words in str(info.value)


def test_max_pool2d_bad_padding_message():
    with pytest.raises(ValueError, match="at most half the kernel"):
        ops.max_pool2d(torch.zeros(1, 1, 4, 4), 2, padding=2)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_and_cuda_agree(dtype):
    case = dict(n=4, c=6, f=8, h=17, w=15, k=(3, 3), stride=(2, 1), padding=(1, 1),
                dilation=(1, 2), groups=2, bias=True, seed=0)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    results = []
    for device in ("cpu", "cuda"):
        x, w, b = _conv_tensors(case, dtype, device)
        out = ops.conv2d(x, w, b, **_kw(case))
        grads = _grads(out, (x, w, b))
        pin = _pool_input(dict(shape=(2, 3, 9, 8), seed=1), dtype, device)
        pout = ops.max_pool2d(pin, 3, 2, 1)
        (pgrad,) = _grads(pout, (pin,))
        results.append([t.detach().cpu() for t in (out, *grads, pout, pgrad)])
    for a, b_ in zip(*results, strict=True):
        torch.testing.assert_close(a, b_, **tol)
