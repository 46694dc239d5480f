"""Where tensors live: pick cuda > mps > cpu, describe it, and time code honestly."""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from cnnlib._validate import check_int

__all__ = ["get_device", "describe_device", "synchronize", "time_fn", "Timing", "to_device"]

_VALID = ("auto", "cpu", "cuda", "cuda:N", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on.

    prefer: None or "auto" picks CUDA, then Apple's MPS, then the CPU (the environment variable
    ``CNNLIB_DEVICE`` overrides the automatic choice); "cpu", "cuda", "cuda:N" or "mps" asks for
    one. Raises ValueError for an unknown name, RuntimeError when the asked-for device is absent.
    """
    if prefer is not None and not isinstance(prefer, str):
        raise TypeError(f"prefer must be a string such as 'cpu' or 'cuda', got {prefer!r}")
    choice = (prefer or "auto").strip().lower()
    if choice == "auto":
        env = os.environ.get("CNNLIB_DEVICE", "").strip().lower()
        if env and env != "auto":
            return get_device(env)
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "mps":
        if not _mps_available():
            raise RuntimeError("device 'mps' was asked for, but Apple's MPS is not available here")
        return torch.device("mps")
    if choice == "cuda" or (choice.startswith("cuda:") and choice[5:].isdigit()):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {choice!r} was asked for, but torch sees no CUDA GPU "
                f"(torch {torch.__version__}; a CPU-only build cannot use one)"
            )
        dev = torch.device(choice)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"{choice} asked for, but only {torch.cuda.device_count()} GPU(s)")
        return dev
    raise ValueError(f"unknown device {prefer!r}; expected one of {', '.join(_VALID)}")


def describe_device(device: torch.device | str | None = None) -> str:
    """One line naming the device (``get_device()`` when None), e.g.
    ``cpu: 2 cores (torch 2.13.0)`` or ``cuda:0: NVIDIA H100 80GB HBM3, 79.1 GiB (torch 2.13.0)``.
    """
    dev = get_device() if device is None else torch.device(device)
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return (f"cuda:{idx}: {props.name}, {props.total_memory / 2**30:.1f} GiB "
                f"(torch {torch.__version__})")
    if dev.type == "mps":
        return f"mps: Apple GPU (torch {torch.__version__})"
    cores = os.cpu_count() or 1
    return f"cpu: {cores} core{'s' if cores != 1 else ''} (torch {torch.__version__})"


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work, so a timer measures the work and not just its launch."""
    dev = get_device() if device is None else torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Seconds per call over ``repeat`` synchronised calls, after warm-up."""

    median: float
    mean: float
    std: float
    min: float
    repeat: int
    device: str

    def __str__(self) -> str:
        return f"{self.median * 1e3:.3f} ms median of {self.repeat} on {self.device}"


def time_fn(
    fn: Callable[..., Any], *args: Any, warmup: int = 3, repeat: int = 10,
    device: torch.device | str | None = None, **kwargs: Any,
) -> Timing:
    """Time ``fn(*args, **kwargs)``: ``warmup`` untimed calls, then ``repeat`` timed ones, each
    synchronised before and after on GPUs (CUDA and MPS calls return once work is queued).

    device: where ``fn`` runs, for the synchronisation (default ``get_device()``).
    Returns a Timing in seconds per call: median, mean, std, min over the ``repeat`` calls.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeat = check_int("repeat", repeat, 1)
    warmup = check_int("warmup", warmup, 0)
    dev = get_device() if device is None else torch.device(device)
    for _ in range(warmup):
        fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        synchronize(dev)
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        synchronize(dev)
        times.append(time.perf_counter() - t0)
    return Timing(
        median=statistics.median(times), mean=statistics.fmean(times),
        std=statistics.pstdev(times), min=min(times), repeat=repeat, device=str(dev),
    )


def to_device(obj: Any, device: torch.device | str | None = None) -> Any:
    """Move tensors and modules to ``device`` (default ``get_device()``), also inside lists,
    tuples (named ones keep their type) and dicts; anything else is returned as it is.

    Modules are moved in place (``Module.to``) and returned; tensors are copied when needed.
    """
    dev = get_device() if device is None else torch.device(device)
    if isinstance(obj, (torch.Tensor, torch.nn.Module)):
        return obj.to(dev)
    if isinstance(obj, dict):
        moved = copy.copy(obj)  # keeps the mapping's type (OrderedDict, defaultdict, ...)
        for k, v in obj.items():
            moved[k] = to_device(v, dev)
        return moved
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(to_device(v, dev) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, dev) for v in obj)
    return obj
