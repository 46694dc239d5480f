"""Convolution and max pooling in torch, written out as im2col + matmul with their own backward.

These are the "fast layers" of the convolution lesson: the same arithmetic the students write in
numpy, done with torch tensors so it runs on CPU or GPU and in float32 or float64.

- :func:`conv2d` lays the (padded, dilated, strided) input out as columns, one column per
  output position (``im2col``: one ``as_strided`` view and one copy), and turns the
  convolution into a batched matrix product. Its backward folds the column gradients back
  onto the input (``col2im``), summing where receptive fields overlap.
- :func:`max_pool2d` takes the maximum of every window and remembers where it was; its backward
  scatters each upstream gradient to that argmax position.

Both are ``torch.autograd.Function`` subclasses with an explicit backward (no autograd through
the forward), checked against ``torch.nn.functional`` in ``tests/unit/test_ops.py``. Like torch,
both floor the output size when the windows do not tile the input exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from cnnlib._validate import check_int, check_pair

__all__ = ["conv2d", "max_pool2d", "Conv2dFunction", "MaxPool2dFunction"]

IntPair = int | Sequence[int]


def _out_size(n: int, k: int, stride: int, pad: int, dilation: int, what: str) -> int:
    span = dilation * (k - 1) + 1
    if n + 2 * pad < span:
        raise ValueError(
            f"{what}: the window spans {span} pixels (kernel {k}, dilation {dilation}) but the "
            f"padded input is only {n + 2 * pad} ({n} + 2*{pad}) wide"
        )
    return (n + 2 * pad - span) // stride + 1


def _im2col(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int],
            pad_value: float = 0.0) -> torch.Tensor:
    """(N, C, H, W) -> contiguous (N, C, KH, KW, H', W'): the input under every kernel tap.

    One strided view of the padded input and a single copy: several times faster than
    ``F.unfold`` on CPU for the small kernels of CNNs.
    """
    if padding != (0, 0):
        x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=pad_value)
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.stride()
    view = x.as_strided(
        (n, c, kernel[0], kernel[1], out_hw[0], out_hw[1]),
        (sn, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh, stride[1] * sw),
        x.storage_offset(),
    )
    return view.contiguous()


def _col2im(cols: torch.Tensor, hw: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
    """Adjoint of :func:`_im2col`: (N, C, KH, KW, H', W') -> (N, C, H, W), summing overlaps.

    One strided add per kernel tap (a loop over KH*KW offsets, never over output positions).
    """
    n, c, kh, kw, ho, wo = cols.shape
    hp, wp = hw[0] + 2 * padding[0], hw[1] + 2 * padding[1]
    out = cols.new_zeros(n, c, hp, wp)
    for i in range(kh):
        r0 = i * dilation[0]
        rows = slice(r0, r0 + stride[0] * (ho - 1) + 1, stride[0])
        for j in range(kw):
            c0 = j * dilation[1]
            out[:, :, rows, c0:c0 + stride[1] * (wo - 1) + 1:stride[1]] += cols[:, :, i, j]
    return out[:, :, padding[0]:padding[0] + hw[0], padding[1]:padding[1] + hw[1]]


def _check_input(x: torch.Tensor, name: str = "x") -> tuple[torch.Tensor, bool]:
    """Accept (N, C, H, W) or unbatched (C, H, W) floating tensors; return 4-D and a flag."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating point tensor, got {x.dtype}")
    if x.dim() == 3:
        return x.unsqueeze(0), True
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    return x, False


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


class Conv2dFunction(torch.autograd.Function):
    """im2col convolution (cross-correlation, as in every deep learning framework).

    forward(x, weight, bias, stride, padding, dilation, groups)
      x:      (N, C, H, W)
      weight: (F, C // groups, KH, KW)
      bias:   (F,) or None
      returns (N, F, H', W') with H' = (H + 2*pad_h - dil_h*(KH-1) - 1) // stride_h + 1
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):  # type: ignore[override]
        n, c, h, w = x.shape
        f, cg, kh, kw = weight.shape
        ho = _out_size(h, kh, stride[0], padding[0], dilation[0], "conv2d height")
        wo = _out_size(w, kw, stride[1], padding[1], dilation[1], "conv2d width")
        # cols[n, g, (c, i, j), p]: input value under kernel tap (c, i, j) at output position p.
        cols = _im2col(x, (kh, kw), stride, padding, dilation, (ho, wo))
        cols = cols.view(n, groups, cg * kh * kw, ho * wo)
        wmat = weight.reshape(groups, f // groups, cg * kh * kw)
        out = torch.matmul(wmat, cols).view(n, f, ho, wo)
        if bias is not None:
            out = out + bias.view(1, f, 1, 1)
        ctx.save_for_backward(cols, weight)
        ctx.conf = (h, w, stride, padding, dilation, groups, bias is not None)
        ctx.out_hw = (ho, wo)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):  # type: ignore[override]
        cols, weight = ctx.saved_tensors
        h, w, stride, padding, dilation, groups, has_bias = ctx.conf
        f, cg, kh, kw = weight.shape
        n = dout.shape[0]
        d = dout.reshape(n, groups, f // groups, -1)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            wmat = weight.reshape(groups, f // groups, cg * kh * kw)
            dcols = torch.matmul(wmat.transpose(1, 2), d)
            ho, wo = ctx.out_hw
            # col2im: overlapping receptive fields add their gradients up.
            dx = _col2im(dcols.view(n, groups * cg, kh, kw, ho, wo), (h, w), stride, padding,
                         dilation)
        if ctx.needs_input_grad[1]:
            # Per-example (Fg, L) @ (L, K) products, then the sum over the batch.
            dw = torch.matmul(d, cols.transpose(-1, -2)).sum(0).view_as(weight)
        if has_bias and ctx.needs_input_grad[2]:
            db = dout.sum(dim=(0, 2, 3))
        return dx, dw, db, None, None, None, None


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution (cross-correlation) via im2col, with its own backward.

    Same meaning and defaults as ``torch.nn.functional.conv2d`` (zero padding, output size
    floored when the windows do not tile the input).

    Inputs:
    - x: (N, C, H, W) or (C, H, W), float32 or float64, on any device
    - weight: (F, C // groups, KH, KW), same dtype and device as x
    - bias: (F,) or None
    - stride, padding, dilation: int or (h, w) pair; stride and dilation >= 1, padding >= 0
    - groups: C and F must both be divisible by it (groups=C is a depthwise convolution)

    Returns:
    - out: (N, F, H', W') (or (F, H', W') for an unbatched x), where
      H' = (H + 2*pad_h - dilation_h*(KH - 1) - 1) // stride_h + 1, and W' likewise.

    Raises TypeError / ValueError naming the offending argument for wrong types, shapes,
    dtypes, devices, or a kernel larger than the padded input.
    """
    x4, unbatched = _check_input(x)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must have shape (F, C // groups, KH, KW), got {shape}")
    groups = check_int("groups", groups, 1)
    c, f, cg = x4.shape[1], weight.shape[0], weight.shape[1]
    if c % groups or f % groups:
        raise ValueError(
            f"groups={groups} must divide both the input channels ({c}) and filters ({f})"
        )
    if cg * groups != c:
        raise ValueError(
            f"weight expects {cg} channels per group ({cg * groups} in all with groups={groups}) "
            f"but x has {c} channels"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if t.dtype != x4.dtype:
            raise TypeError(f"{name} has dtype {t.dtype} but x has {x4.dtype}")
        if t.device != x4.device:
            raise ValueError(f"{name} is on {t.device} but x is on {x4.device}")
    if bias is not None and tuple(bias.shape) != (f,):
        raise ValueError(f"bias must have shape ({f},), got {tuple(bias.shape)}")
    args = (
        check_pair("stride", stride, 1),
        check_pair("padding", padding, 0),
        check_pair("dilation", dilation, 1),
        groups,
    )
    out = Conv2dFunction.apply(x4, weight, bias, *args)
    return out.squeeze(0) if unbatched else out


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------


class MaxPool2dFunction(torch.autograd.Function):
    """Max pooling over im2col windows; backward routes each gradient to its window's argmax.

    forward(x, kernel_size, stride, padding, dilation)
      x: (N, C, H, W) -> (N, C, H', W'), H' = (H + 2*pad_h - dil_h*(KH-1) - 1) // stride_h + 1
    Padding is with -inf, so a padded position never wins.
    """

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation):  # type: ignore[override]
        n, c, h, w = x.shape
        ho = _out_size(h, kernel[0], stride[0], padding[0], dilation[0], "max_pool2d height")
        wo = _out_size(w, kernel[1], stride[1], padding[1], dilation[1], "max_pool2d width")
        # (N, C, KH*KW, H'*W'): windows never mix channels.
        cols = _im2col(x, kernel, stride, padding, dilation, (ho, wo), float("-inf"))
        out, arg = cols.view(n, c, kernel[0] * kernel[1], ho * wo).max(dim=2)
        ctx.save_for_backward(arg)
        ctx.conf = (h, w, kernel, stride, padding, dilation, ho, wo)
        return out.view(n, c, ho, wo)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):  # type: ignore[override]
        (arg,) = ctx.saved_tensors
        h, w, kernel, stride, padding, dilation, ho, wo = ctx.conf
        n, c = dout.shape[:2]
        dcols = dout.new_zeros(n, c, kernel[0] * kernel[1], ho * wo)
        dcols.scatter_(2, arg.unsqueeze(2), dout.reshape(n, c, 1, ho * wo))
        dcols = dcols.view(n, c, kernel[0], kernel[1], ho, wo)
        return _col2im(dcols, (h, w), stride, padding, dilation), None, None, None, None


def max_pool2d(
    x: torch.Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """2-D max pooling via im2col, with its own backward (gradient goes to each argmax).

    Same meaning and defaults as ``torch.nn.functional.max_pool2d`` (``ceil_mode=False``).

    Inputs:
    - x: (N, C, H, W) or (C, H, W), floating point, any device
    - kernel_size: int or (KH, KW) pair, >= 1
    - stride: int or pair, defaults to kernel_size
    - padding: int or pair, at most half the kernel size (as in torch); padded cells never win
      (a window holding only padding, possible with dilation, gives -inf)
    - dilation: int or pair, >= 1

    Returns:
    - out: (N, C, H', W') with H' = (H + 2*pad_h - dilation_h*(KH - 1) - 1) // stride_h + 1.
    """
    x4, unbatched = _check_input(x)
    kernel = check_pair("kernel_size", kernel_size, 1)
    strides = kernel if stride is None else check_pair("stride", stride, 1)
    pads = check_pair("padding", padding, 0)
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(
            f"padding {pads} must be at most half the kernel size {kernel}, or some windows "
            "would hold only padding"
        )
    out = MaxPool2dFunction.apply(x4, kernel, strides, pads, check_pair("dilation", dilation, 1))
    return out.squeeze(0) if unbatched else out
