"""Benchmark: cnnlib.ops.conv2d against torch's native convolution, forward + backward.

Workload: float32, N=64, 3 -> 32 channels, 32x32 input, 3x3 kernel, stride 1, pad 1: the first
layer of a small CIFAR-10 net. Both run on the same device, warmed up and synchronised; the
script prints the device, the median times (the two take turns, so load changes on a shared
machine hit both alike) and the ratio ours / torch (goal: <= 1.3x on CPU).

    python bench/bench_conv.py [--device cpu|cuda] [--repeat 20] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from cnnlib import ops


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(fns, device: torch.device, warmup: int, repeat: int) -> list[float]:
    """Median wall time (s) of each ``fn()``, after ``warmup`` untimed rounds.

    The functions take turns within every round, so a change in machine load (shared cores)
    hits all of them alike instead of biasing the ratio.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    _sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            _sync(device)
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32, generator=g).to(device).requires_grad_()
    w = (0.1 * torch.randn(32, 3, 3, 3, generator=g)).to(device).requires_grad_()
    b = torch.zeros(32).to(device).requires_grad_()
    dout = torch.randn(64, 32, 32, 32, generator=g).to(device)

    def step(conv):
        def run():
            x.grad = w.grad = b.grad = None
            conv(x, w, b, stride=1, padding=1).backward(dout)
        return run

    # Same numbers first: a fast wrong answer is not a result.
    out_ours, out_ref = ops.conv2d(x, w, b, 1, 1), F.conv2d(x, w, b, 1, 1)
    torch.testing.assert_close(out_ours, out_ref, rtol=1e-4, atol=1e-4)

    t_ours, t_ref = time_interleaved([step(ops.conv2d), step(F.conv2d)], device, args.warmup,
                                     args.repeat)
    ratio = t_ours / t_ref
    print(f"device: {describe(device)}, torch {torch.__version__}")
    print("conv2d fwd+bwd float32, N=64, 3->32 ch, 32x32, 3x3, pad 1")
    print(f"  cnnlib.ops.conv2d : {t_ours * 1e3:8.2f} ms (median of {args.repeat})")
    print(f"  torch conv2d      : {t_ref * 1e3:8.2f} ms")
    print(f"  ratio ours/torch  : {ratio:8.2f}x  (goal <= 1.3x on CPU)")
    return ratio


if __name__ == "__main__":
    main()
