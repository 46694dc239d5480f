"""Convolution arithmetic: output sizes, padding, parameter counts, receptive fields, and a
per-layer table (shape, parameters, multiply-adds, activation memory) of any torch model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from cnnlib._validate import check_int, check_pair

__all__ = [
    "conv_output_size",
    "uncovered_inputs",
    "pool_output_size",
    "same_padding",
    "conv_params",
    "conv_output_shape",
    "receptive_field",
    "LayerRow",
    "LayerTable",
    "layer_table",
]


def _fitting_suggestions(n: int, eff: int, stride: int, pad: int) -> str:
    pads = [p for p in range(0, eff + 1)
            if (n + 2 * p - eff) >= 0 and (n + 2 * p - eff) % stride == 0]
    strides = [s for s in range(1, stride + 3) if (n + 2 * pad - eff) % s == 0]
    parts = []
    if strides:
        parts.append("stride " + " or ".join(map(str, strides[:3])))
    if pads:
        parts.append(f"pad {pads[0]}")
    return "; try " + ", or ".join(parts) if parts else ""


def conv_output_size(
    n: int, f: int, stride: int = 1, pad: int = 0, dilation: int = 1, allow_floor: bool = False
) -> int:
    """Output length of a convolution along one axis: (N - F_eff + 2P)/S + 1.

    n: input size; f: filter size; F_eff = dilation*(f-1) + 1 is the span of a dilated filter.
    Raises ValueError when the filter does not tile the padded input exactly (the classic
    N=7, F=3, S=3 case gives 2.33), unless ``allow_floor`` (what PyTorch silently does).
    """
    n = check_int("n", n, 1)
    f = check_int("f", f, 1)
    stride = check_int("stride", stride, 1)
    pad = check_int("pad", pad, 0)
    dilation = check_int("dilation", dilation, 1)
    eff = dilation * (f - 1) + 1
    span = n + 2 * pad - eff
    if span < 0:
        raise ValueError(
            f"a filter spanning {eff} cells does not fit a {n}-wide input with pad {pad} "
            f"(padded size {n + 2 * pad} < filter span {eff})"
        )
    if span % stride and not allow_floor:
        value = Fraction(span, stride) + 1
        raise ValueError(
            f"({n} - {eff} + 2*{pad})/{stride} + 1 = {float(value):.2f} is not an integer: "
            f"a {f}x{f} filter{f' (dilation {dilation}, spanning {eff})' if dilation > 1 else ''}"
            f" with stride {stride} does not fit a {n}-wide input with pad {pad}"
            + _fitting_suggestions(n, eff, stride, pad)
        )
    return span // stride + 1


def uncovered_inputs(n: int, f: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """How many real input cells (padding excluded) no filter tap ever touches, along one axis.

    It tells when flooring a non-integer output size (what frameworks do) is harmless: 0 when
    only padding is left over, e.g. a 3x3 filter, stride 2, pad 1 on 8 cells ((8-3+2)/2+1 =
    4.5 -> 4, as in ResNet); 1 for N=7, F=3, S=3, whose last column is silently dropped. A
    stride wider than the filter skips cells by design (a 1x1 conv with stride 2 subsamples).
    """
    out = conv_output_size(n, f, stride, pad, dilation, allow_floor=True)  # validates the ints
    touched = {s * stride + t * dilation for s in range(out) for t in range(f)}
    return sum(1 for i in range(pad, pad + n) if i not in touched)


def pool_output_size(n: int, f: int, stride: int | None = None, pad: int = 0) -> int:
    """Output length of a pooling window: (N - F + 2P)/S + 1 with S defaulting to F."""
    return conv_output_size(n, f, f if stride is None else stride, pad)


def same_padding(f: int, dilation: int = 1) -> int:
    """Padding P that keeps the size at stride 1: (F_eff - 1)/2 (F=3 -> 1, 5 -> 2, 7 -> 3).

    Raises ValueError for an even effective filter size, which cannot be padded symmetrically.
    """
    f = check_int("f", f, 1)
    dilation = check_int("dilation", dilation, 1)
    eff = dilation * (f - 1) + 1
    if eff % 2 == 0:
        raise ValueError(
            f"a filter spanning {eff} cells has no symmetric 'same' padding: "
            f"(F-1)/2 = {(eff - 1) / 2} is not an integer; use an odd filter size"
        )
    return (eff - 1) // 2


def conv_params(
    f: int | tuple[int, int], in_channels: int, out_channels: int, bias: bool = True,
    groups: int = 1,
) -> int:
    """Learnable parameters of a conv layer: F_h*F_w*(D1/groups)*K weights + K biases.

    32x32x3 input, ten 5x5 filters: conv_params(5, 3, 10) == 760 (76 per filter).
    """
    fh, fw = check_pair("f", f, 1)
    c_in = check_int("in_channels", in_channels, 1)
    k = check_int("out_channels", out_channels, 1)
    groups = check_int("groups", groups, 1)
    if c_in % groups or k % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels={c_in} and out_channels={k}"
        )
    return fh * fw * (c_in // groups) * k + (k if bias else 0)


def conv_output_shape(
    input_shape: Sequence[int], out_channels: int, f: int, stride: int = 1, pad: int = 0,
    dilation: int = 1,
) -> tuple[int, int, int]:
    """(C, H, W) -> (K, H2, W2) of a conv layer with K=out_channels square filters."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)!r}")
    check_int("input_shape[0]", input_shape[0], 1)
    k = check_int("out_channels", out_channels, 1)
    h = conv_output_size(input_shape[1], f, stride, pad, dilation)
    w = conv_output_size(input_shape[2], f, stride, pad, dilation)
    return k, h, w


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Receptive field (in input pixels, one axis) of a stack of conv/pool layers.

    layers: (kernel, stride) or (kernel, stride, dilation) per layer, input first.
    r = 1 + sum_l (k_eff_l - 1) * prod_{j<l} stride_j; three 3x3 stride-1 convs see 7.
    """
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise ValueError(f"layer {i} must be (kernel, stride[, dilation]), got {layer!r}")
        k = check_int(f"layers[{i}] kernel", layer[0], 1)
        s = check_int(f"layers[{i}] stride", layer[1], 1)
        d = check_int(f"layers[{i}] dilation", layer[2], 1) if len(layer) == 3 else 1
        r += (d * (k - 1)) * jump
        jump *= s
    return r


# --------------------------------------------------------------------------------------------
# Per-layer table of a torch model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One leaf layer: output shape without the batch axis, its own parameters, multiply-adds
    for one example (conv and linear layers), and bytes of its output for one example."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activation_bytes: int


@dataclass(frozen=True)
class LayerTable:
    """Rows of :func:`layer_table`; prints as an aligned table with totals."""

    rows: list[LayerRow]
    input_shape: tuple[int, ...]

    @property
    def total_params(self) -> int:
        """Parameters of all rows."""
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        """Multiply-adds of one example through all rows."""
        return sum(r.macs for r in self.rows)

    @property
    def total_activation_bytes(self) -> int:
        """Bytes of all rows' outputs for one example (what a forward pass keeps for backward)."""
        return sum(r.activation_bytes for r in self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row (the fields of :class:`LayerRow`)."""
        return [asdict(r) for r in self.rows]

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["layer", "kind", "output", "params", "mult-adds", "activations"]
        body = [
            [r.name, r.kind, "x".join(map(str, r.output_shape)), f"{r.params:,}", f"{r.macs:,}",
             _fmt_bytes(r.activation_bytes)]
            for r in self.rows
        ]
        body.append(["total", "", "", f"{self.total_params:,}", f"{self.total_macs:,}",
                     _fmt_bytes(self.total_activation_bytes)])
        return head, body

    def to_markdown(self) -> str:
        """The table with its totals as Markdown."""
        head, body = self._cells()
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)

    def __str__(self) -> str:
        head, body = self._cells()
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
        right = {3, 4, 5}

        def fmt(row: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(row, widths)))

        rule = "-" * len(fmt(head))
        return "\n".join([fmt(head), rule, *map(fmt, body[:-1]), rule, fmt(body[-1])])

    def _repr_html_(self) -> str:
        import html

        head, body = self._cells()
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                      for row in body)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _macs(module: Any, inp: Any, out: Any) -> int:
    """Multiply-adds of one example through ``module`` (conv and linear layers; 0 otherwise)."""
    import torch.nn as nn

    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        # a transposed conv scatters every *input* element over K/groups * kernel outputs
        per_in = module.out_channels // module.groups
        for k in module.kernel_size:
            per_in *= k
        return int(inp[0][0].numel()) * per_in if inp else 0
    if isinstance(module, nn.modules.conv._ConvNd):
        per_out = (module.in_channels // module.groups)
        for k in module.kernel_size:
            per_out *= k
        return int(out[0].numel()) * per_out
    if isinstance(module, nn.Linear):
        return int(out[0].numel()) * module.in_features
    return 0


def _drop_batch_axis(model: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """(N, C, H, W) -> (C, H, W) when the first conv/norm layer says an example has 3 axes."""
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            example_ndim = 1 + len(m.kernel_size)
        elif isinstance(m, nn.BatchNorm2d):
            example_ndim = 3
        elif isinstance(m, nn.BatchNorm3d):
            example_ndim = 4
        else:
            continue  # Linear, BatchNorm1d, activations: any number of axes, so no clue
        return shape[1:] if len(shape) == example_ndim + 1 else shape
    return shape


def layer_table(model: Any, input_shape: Sequence[int], device: Any = None) -> LayerTable:
    """Run one example of ``input_shape`` (e.g. (3, 227, 227)) through ``model`` and tabulate
    every leaf layer (and any module holding parameters of its own).

    input_shape: (C, H, W) for images, (C, L) for signals; a batch of one is added. A shape
    that already has a batch axis, (N, C, H, W), is accepted too when the model's first conv or
    2-D/3-D batch-norm layer tells how many axes one example has; N is then replaced by 1.

    Each row's ``params`` are the module's own parameters, counted at its first call only
    (shared modules are not double-counted); modules the forward pass never calls do not
    appear. ``output_shape`` has no batch axis; ``macs`` are multiply-adds for one example (conv
    and linear layers, 0 for the rest); ``activation_bytes`` = output elements * element size
    (4 for float32). Runs under ``torch.no_grad`` in eval mode and restores every submodule's
    mode afterwards. device: where the example is made (default: where the model's parameters
    are); the model is not moved.

    Returns a LayerTable; ``print`` it, ``display`` it, or use ``.to_dicts()``.
    """
    import torch
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = _example_shape(model, input_shape)
    x = _example_input(model, shape, device)
    recorder = _Recorder()
    hooks = [m.register_forward_hook(recorder.hook(name)) for name, m in _tabulated(model)]
    # remember every submodule's mode: a model may hold frozen (eval) parts inside a training one
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return LayerTable(recorder.rows, shape)


def _example_shape(model: Any, input_shape: Sequence[int]) -> tuple[int, ...]:
    """``input_shape`` checked, without its batch axis when it has one (see layer_table)."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise TypeError(f"input_shape must be a tuple such as (3, 224, 224), got {input_shape!r}")
    shape = tuple(check_int(f"input_shape[{i}]", s, 1) for i, s in enumerate(input_shape))
    if not shape:
        raise ValueError("input_shape must not be empty; give it as (C, H, W)")
    return _drop_batch_axis(model, shape)


def _example_input(model: Any, shape: tuple[int, ...], device: Any) -> Any:
    """A batch of one zero example ``(1, *shape)`` in the model's float dtype, on ``device``
    (default: where the model's parameters are; a ``meta`` model costs no memory or time)."""
    import torch

    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    dtype = first.dtype if first is not None else torch.float32
    return torch.zeros((1, *shape), device=device, dtype=dtype)


def _tabulated(model: Any) -> list[tuple[str, Any]]:
    """The modules that get a row: every leaf, and any module with parameters of its own."""
    out = []
    for name, module in model.named_modules():
        leaf = not any(True for _ in module.children())
        own = any(True for _ in module.parameters(recurse=False))
        if leaf or (own and module is not model):
            out.append((name or type(module).__name__, module))
    return out


class _Recorder:
    """Forward hooks that append one :class:`LayerRow` per module call."""

    def __init__(self) -> None:
        self.rows: list[LayerRow] = []
        self._counted: set[int] = set()  # a module called twice (shared weights) counts once

    def hook(self, name: str) -> Any:
        import torch

        def record(module: Any, inp: Any, out: Any) -> None:
            t = out[0] if isinstance(out, (tuple, list)) else out
            if not torch.is_tensor(t):
                return
            own = 0
            if id(module) not in self._counted:
                self._counted.add(id(module))
                own = sum(p.numel() for p in module.parameters(recurse=False))
            self.rows.append(LayerRow(name, type(module).__name__, tuple(t.shape[1:]), int(own),
                                      _macs(module, inp, t),
                                      int(t[0].numel() * t.element_size())))

        return record
