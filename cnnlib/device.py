"""Where tensors live: pick cuda > mps > cpu, choose torch's CPU threads, describe the device, and
time code honestly.

Notebooks start with ``print(device.configure())``: it picks the thread count for this machine
(:func:`choose_threads`) and prints the banner that names the device and the threads.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from cnnlib._validate import check_int

__all__ = [
    "get_device", "describe_device", "choose_threads", "ThreadChoice", "configure", "synchronize",
    "time_fn", "Timing", "to_device",
]

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


#: Environment variable fixing torch's CPU thread count: a whole number >= 1, or "auto".
THREADS_ENV = "CNNLIB_THREADS"
#: A machine counts as busy when its 1-minute load average reaches this share of its cores.
BUSY_SHARE = 0.75
# torch's own choice, remembered before configure() changes it (it usually equals the cores).
_TORCH_DEFAULT_THREADS = torch.get_num_threads()


@dataclass(frozen=True)
class ThreadChoice:
    """How many CPU threads torch should use, and why (a few words for the banner)."""

    threads: int
    reason: str
    automatic: bool

    def __str__(self) -> str:
        hint = f"; {THREADS_ENV} overrides" if self.automatic else ""
        return f"{_n_threads(self.threads)} [{self.reason}{hint}]"


def _n_threads(n: int) -> str:
    return f"{n} torch thread{'s' if n != 1 else ''}"


def _load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # Windows has no load average: count the machine as quiet
        return 0.0


def _threads_from_env(env: Mapping[str, str]) -> int | None:
    raw = env.get(THREADS_ENV, "").strip()
    if raw.lower() in ("", "auto"):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1:
        raise ValueError(f"{THREADS_ENV} must be a whole number >= 1 or 'auto', got {raw!r}")
    return value


def choose_threads(
    threads: int | None = None, *, cores: int | None = None, load: float | None = None,
    default: int | None = None, env: Mapping[str, str] | None = None,
) -> ThreadChoice:
    """The number of CPU threads torch should use on this machine.

    In order: ``threads`` when given; else the environment variable ``CNNLIB_THREADS``; else
    automatically:

    - 1 on a small machine (2 cores or fewer) and on a busy one (1-minute load average at least
      ``BUSY_SHARE`` of the cores): the small layers of this course spend their time waiting for
      a second core that another program is using (a notebook ran 10x slower with 2 threads on
      a loaded 2-core machine);
    - otherwise one thread per idle core, ``cores - ceil(load)``, at most torch's default.

    cores, load, default, env: the facts the decision reads (``os.cpu_count()``, the 1-minute
    load average, torch's default thread count, ``os.environ``); tests pass their own.
    Returns a :class:`ThreadChoice`; raises ValueError for a bad ``threads`` or environment value.
    """
    if threads is not None:
        return ThreadChoice(check_int("threads", threads, 1), "asked for", automatic=False)
    from_env = _threads_from_env(os.environ if env is None else env)
    if from_env is not None:
        return ThreadChoice(from_env, f"{THREADS_ENV}={from_env}", automatic=False)
    cores = check_int("cores", (os.cpu_count() or 1) if cores is None else cores, 1)
    load = _load_average() if load is None else max(0.0, float(load))
    default = check_int("default", _TORCH_DEFAULT_THREADS if default is None else default, 1)
    if cores <= 2:
        return ThreadChoice(1, f"small machine: {cores} core{'s' if cores > 1 else ''}", True)
    if load >= BUSY_SHARE * cores:
        return ThreadChoice(1, f"busy machine: load {load:.1f} on {cores} cores", True)
    idle = max(1, cores - math.ceil(load))
    if idle < default:
        return ThreadChoice(idle, f"{idle} idle core{'s' if idle > 1 else ''} of {cores}", True)
    return ThreadChoice(default, f"torch's default on {cores} cores", True)


_chosen: ThreadChoice | None = None  # what configure() set, for the banner


def configure(threads: int | None = None, device: torch.device | str | None = None) -> str:
    """Set torch's CPU thread count for this machine (:func:`choose_threads`) and return the
    device banner (:func:`describe_device`), which names the threads and why.

    Call it once at the top of a notebook: ``print(device.configure())``.
    """
    global _chosen
    choice = choose_threads(threads)
    torch.set_num_threads(choice.threads)
    _chosen = choice
    return describe_device(device)


def _threads_text() -> str:
    n = torch.get_num_threads()
    # the reason only while it is still true: someone may have set the threads since
    return str(_chosen) if _chosen is not None and _chosen.threads == n else _n_threads(n)


def describe_device(device: torch.device | str | None = None) -> str:
    """One line naming the device (``get_device()`` when None) and torch's CPU threads, e.g.
    ``cpu: 2 cores, 1 torch thread [small machine: 2 cores; CNNLIB_THREADS overrides]
    (torch 2.13.0)`` or ``cuda:0: NVIDIA H100 80GB HBM3, 79.1 GiB, 8 torch threads
    (torch 2.13.0)``.
    """
    dev = get_device() if device is None else torch.device(device)
    threads = _threads_text()
    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return (f"cuda:{idx}: {props.name}, {props.total_memory / 2**30:.1f} GiB, {threads} "
                f"(torch {torch.__version__})")
    if dev.type == "mps":
        return f"mps: Apple GPU, {threads} (torch {torch.__version__})"
    cores = os.cpu_count() or 1
    return f"cpu: {cores} core{'s' if cores != 1 else ''}, {threads} (torch {torch.__version__})"


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
