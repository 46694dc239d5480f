from __future__ import annotations

import pytest
import torch

from cnnlib import device


def test_cpu_and_bad_names() -> None:
    assert device.get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'.*cpu, cuda, cuda:N, mps"):
        device.get_device("tpu")
    with pytest.raises(TypeError, match="prefer must be a string"):
        device.get_device(0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        device.get_device("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        device.get_device("cuda:1")
    assert device.get_device().type in ("cpu", "mps")


def test_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNLIB_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")
    monkeypatch.setenv("CNNLIB_DEVICE", "auto")
    assert device.get_device() == device.get_device("auto")
    assert device.get_device("cpu") == torch.device("cpu")  # an explicit ask beats the env var
    monkeypatch.setenv("CNNLIB_DEVICE", "abacus")
    with pytest.raises(ValueError, match="abacus"):
        device.get_device()


def test_describe_and_time() -> None:
    import os

    text = device.describe_device("cpu")
    assert text.startswith(f"cpu: {os.cpu_count()} core") and f"(torch {torch.__version__})" in text
    calls = []
    t = device.time_fn(lambda: calls.append(1), warmup=2, repeat=5, device="cpu")
    assert len(calls) == 7 and t.repeat == 5 and t.device == "cpu"
    assert 0 < t.min <= t.median and t.std >= 0 and t.mean >= t.min
    with pytest.raises(AttributeError):
        t.median = 1.0  # frozen: a timing is a record
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        device.time_fn(lambda: None, repeat=0)
    with pytest.raises(TypeError, match="warmup must be an integer"):
        device.time_fn(lambda: None, warmup="3")
    with pytest.raises(TypeError, match="fn must be callable"):
        device.time_fn(3.0)


def test_to_device_nested() -> None:
    obj = {"a": [torch.zeros(2), (torch.ones(1), 3)], "m": torch.nn.Linear(2, 2)}
    moved = device.to_device(obj, "cpu")
    assert isinstance(moved["a"], list) and isinstance(moved["a"][1], tuple)
    assert moved["a"][1][1] == 3 and moved["a"][0].device.type == "cpu"
    assert isinstance(moved["m"], torch.nn.Linear) and set(moved) == {"a", "m"}


def test_to_device_keeps_container_types() -> None:
    from collections import OrderedDict, defaultdict, namedtuple

    Batch = namedtuple("Batch", "x y")
    moved = device.to_device(Batch(torch.zeros(2), [torch.ones(1)]), "cpu")
    assert type(moved) is Batch and isinstance(moved.y, list) and moved.x.shape == (2,)
    od = device.to_device(OrderedDict(b=torch.zeros(1), a=1), "cpu")
    assert type(od) is OrderedDict and list(od) == ["b", "a"] and od["a"] == 1
    dd = defaultdict(list, {"t": torch.zeros(1)})
    out = device.to_device(dd, "cpu")
    assert type(out) is defaultdict and out["missing"] == [] and out is not dd
    assert device.to_device("text", "cpu") == "text"


@pytest.mark.gpu
def test_gpu_is_chosen_and_described() -> None:
    dev = device.get_device()
    assert dev.type == "cuda"
    assert "GiB" in device.describe_device(dev)
    t = device.time_fn(torch.matmul, torch.randn(256, 256, device=dev),
                       torch.randn(256, 256, device=dev), device=dev)
    assert t.device.startswith("cuda")


def test_time_fn_synchronises_around_every_timed_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # on a GPU a call returns once the kernel is queued; only a sync on both sides times the work
    events: list[str] = []
    monkeypatch.setattr(device, "synchronize", lambda dev=None: events.append("sync"))
    device.time_fn(lambda: events.append("call"), warmup=1, repeat=3, device="cpu")
    assert events == ["call"] + ["sync", "call", "sync"] * 3
