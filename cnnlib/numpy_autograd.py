"""Numpy layers as torch operations: a ``(forward, backward)`` pair becomes an autograd Function.

A layer written in the course convention, ``forward(*arrays, *extra) -> (out, cache)`` and
``backward(dout, cache) -> gradients`` (one per array, a tuple or a single array), can then be
used inside a torch graph and checked by torch's own gradient checker::

    conv = as_autograd(conv_forward, conv_backward)
    out = conv(x_t, w_t, b_t, {"stride": 1, "pad": 1})     # tensors first, then extra args
    gradcheck_layer(conv_forward, conv_backward, [x, w, b], [{"stride": 1, "pad": 1}])  # True

The arrays cross to numpy as float64 copies (your layer cannot change torch's tensors) and
the gradients come back with the dtype of the tensors they belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["as_autograd", "gradcheck_layer"]

Forward = Callable[..., tuple[Any, Any]]
Backward = Callable[[np.ndarray, Any], Any]


class _NumpyLayer(torch.autograd.Function):
    """``apply(forward, backward, n_tensors, *tensors, *extra)``; see :func:`as_autograd`."""

    @staticmethod
    def forward(ctx: Any, forward: Forward, backward: Backward, n_tensors: int,
                *args: Any) -> torch.Tensor:  # type: ignore[override]
        tensors, extra = args[:n_tensors], args[n_tensors:]
        arrays = [t.detach().cpu().numpy().astype(np.float64, copy=True) for t in tensors]
        out, cache = forward(*arrays, *extra)
        ctx.backward_fn, ctx.cache, ctx.n_extra = backward, cache, len(extra)
        ctx.like = [(t.dtype, t.device, tuple(t.shape)) for t in tensors]
        ref = tensors[0]
        return torch.as_tensor(np.array(out, dtype=np.float64)).to(ref.dtype).to(ref.device)

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grads = ctx.backward_fn(dout.detach().cpu().numpy().astype(np.float64), ctx.cache)
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if len(grads) != len(ctx.like):
            raise ValueError(f"backward returned {len(grads)} gradients for {len(ctx.like)} "
                             "inputs")
        out = []
        for g, (dtype, device, shape) in zip(grads, ctx.like):
            g = np.asarray(g, dtype=np.float64)
            if g.shape != shape:
                raise ValueError(f"backward returned a gradient of shape {g.shape} for an "
                                 f"input of shape {shape}")
            out.append(torch.as_tensor(g.copy()).to(dtype).to(device))
        return (None, None, None, *out, *([None] * ctx.n_extra))


def as_autograd(forward: Forward, backward: Backward, n_tensors: int | None = None
                ) -> Callable[..., torch.Tensor]:
    """A torch function computing ``forward`` with ``backward`` as its gradient.

    The returned ``op(*tensors, *extra)`` takes the layer's arrays as tensors first (all of them
    when ``n_tensors`` is None: every leading argument that is a tensor), then its other
    arguments (``conv_param``, ``bn_param``, ...) unchanged.
    """
    def op(*args: Any) -> torch.Tensor:
        n = n_tensors
        if n is None:
            n = next((i for i, a in enumerate(args) if not isinstance(a, torch.Tensor)),
                     len(args))
        if n < 1:
            raise ValueError("the first argument must be a tensor")
        return _NumpyLayer.apply(forward, backward, n, *args)

    op.__name__ = f"as_autograd({getattr(forward, '__name__', 'forward')})"
    return op


def gradcheck_layer(forward: Forward, backward: Backward, arrays: Sequence[np.ndarray],
                    extra_args: Sequence[Any] = (), eps: float = 1e-6, atol: float = 1e-5,
                    rtol: float = 1e-3) -> bool:
    """``torch.autograd.gradcheck`` of the layer wrapped by :func:`as_autograd` at ``arrays``
    (float64 copies): True when ``backward`` agrees with torch's finite differences of
    ``forward`` for every input. Never raises for a wrong gradient: returns False."""
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
               for a in arrays]
    op = as_autograd(forward, backward, len(tensors))
    return bool(torch.autograd.gradcheck(lambda *ts: op(*ts, *extra_args), tensors, eps=eps,
                                         atol=atol, rtol=rtol, raise_exception=False))
