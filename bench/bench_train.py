"""Training benchmark: does a LeNet-style net reach 98% on the digits within 30 s on 2 cores?

Run: ``.venv/bin/python bench/bench_train.py [--threads N] [--epochs 20] [--gpu-only]``

1. CPU: ``cnnlib.models.SmallConvNet`` on the scikit-learn 8x8 digits (80/20 split), trained
   with ``cnnlib.train.fit`` (SGD momentum 0.9, cosine schedule, 1-pixel shifts). Prints wall
   time, test accuracy and their ratios to the goals (>= 0.98 accuracy, <= 30 s).
2. GPU (only when CUDA is available): seconds per epoch of ResNet-20 (CIFAR variant) on
   50,000 random 32x32x3 images, batch 128, and the CPU/GPU ratio on a short run.

Numbers depend on the machine and its load; the script prints what it measured, nothing else.
"""

from __future__ import annotations

import argparse
import time

import torch

from cnnlib import data, device, models, train

DIGITS_GOAL_ACC = 0.98
DIGITS_GOAL_SECONDS = 30.0


def bench_digits(epochs: int) -> dict[str, float]:
    dev = torch.device("cpu")
    X_train, y_train, X_test, y_test = data.load_digits(test_size=0.2, seed=0)
    torch.manual_seed(0)
    net = models.SmallConvNet(num_classes=10, in_channels=1, input_size=8, width=32)
    t0 = time.perf_counter()
    train.fit(net, (X_train, y_train), epochs=epochs, lr=0.05, weight_decay=5e-4,
              batch_size=32, scheduler="cosine", device=dev, seed=0, progress=False,
              augment=train.random_flip_shift(max_shift=1, flip=False))
    seconds = time.perf_counter() - t0
    acc = train.evaluate(net, (X_test, y_test))["acc"]
    print(f"[digits] device: {device.describe_device(dev)}")
    print(f"[digits] {len(X_train)} train / {len(X_test)} test images, {epochs} epochs")
    print(f"[digits] wall time {seconds:.1f} s (goal <= {DIGITS_GOAL_SECONDS:.0f} s, ratio "
          f"{seconds / DIGITS_GOAL_SECONDS:.2f}); test accuracy {acc:.4f} (goal >= "
          f"{DIGITS_GOAL_ACC}, ratio {acc / DIGITS_GOAL_ACC:.3f}) -> "
          f"{'MET' if acc >= DIGITS_GOAL_ACC and seconds <= DIGITS_GOAL_SECONDS else 'NOT MET'}")
    return {"seconds": seconds, "acc": acc}


def _epoch_time(dev: torch.device, n: int, batch: int = 128) -> float:
    torch.manual_seed(0)
    X = torch.randn(n, 3, 32, 32)
    y = torch.randint(0, 10, (n,))
    net = models.cifar_resnet(20)
    train.fit(net, (X[:batch * 2], y[:batch * 2]), epochs=1, batch_size=batch, device=dev,
              progress=False)  # warm-up: cuDNN autotuning, allocator
    h = train.fit(net, (X, y), epochs=1, batch_size=batch, device=dev, progress=False)
    return h["epoch_time"][0]


def bench_gpu_resnet() -> None:
    if not torch.cuda.is_available():
        print("[resnet20] no CUDA device: GPU benchmark skipped")
        return
    gpu = torch.device("cuda")
    n = 50_000
    t_gpu = _epoch_time(gpu, n)
    n_cpu = 2_000
    t_cpu = _epoch_time(torch.device("cpu"), n_cpu) * n / n_cpu
    print(f"[resnet20] device: {device.describe_device(gpu)}")
    print(f"[resnet20] one epoch of {n} random 32x32x3 images, batch 128: GPU {t_gpu:.1f} s "
          f"({n / t_gpu:,.0f} img/s); CPU (extrapolated from {n_cpu}) {t_cpu:.0f} s; "
          f"speed-up {t_cpu / t_gpu:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch (default: what cnnlib.device chooses for this "
                         "machine; 1 on a small or busy one)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--gpu-only", action="store_true")
    args = ap.parse_args()
    device.configure(args.threads)
    if not args.gpu_only:
        bench_digits(args.epochs)
    bench_gpu_resnet()


if __name__ == "__main__":
    main()
