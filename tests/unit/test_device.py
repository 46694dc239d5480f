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
    assert f", {torch.get_num_threads()} torch thread" in text
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


# --- torch's CPU threads: the decision is tested with fake machines, never with timings ---

QUIET = {"default": 8, "env": {}}


@pytest.mark.parametrize(
    ("cores", "load", "default", "threads", "reason"),
    [
        (1, 0.0, 1, 1, "small machine: 1 core"),
        (2, 0.0, 2, 1, "small machine: 2 cores"),       # small even when quiet
        (2, 5.0, 2, 1, "small machine: 2 cores"),
        (8, 6.0, 8, 1, "busy machine: load 6.0 on 8 cores"),  # 0.75 * 8 = 6: busy
        (8, 12.5, 8, 1, "busy machine: load 12.5 on 8 cores"),
        (8, 5.9, 8, 2, "2 idle cores of 8"),             # 8 - ceil(5.9)
        (8, 0.3, 8, 7, "7 idle cores of 8"),
        (8, 0.0, 8, 8, "torch's default on 8 cores"),
        (16, 0.0, 8, 8, "torch's default on 16 cores"),  # never more than torch's own choice
        (4, 3.0, 4, 1, "busy machine: load 3.0 on 4 cores"),  # close to the core count
        (4, 2.9, 4, 1, "1 idle core of 4"),
    ],
)
def test_choose_threads_from_cores_and_load(cores, load, default, threads, reason) -> None:
    choice = device.choose_threads(cores=cores, load=load, default=default, env={})
    assert (choice.threads, choice.reason, choice.automatic) == (threads, reason, True)
    assert str(choice).endswith(f"[{reason}; CNNLIB_THREADS overrides]")


def test_choose_threads_environment_and_argument_override() -> None:
    env = {"CNNLIB_THREADS": " 3 "}
    choice = device.choose_threads(cores=2, load=9.0, **{**QUIET, "env": env})
    assert (choice.threads, choice.reason, choice.automatic) == (3, "CNNLIB_THREADS=3", False)
    assert str(choice) == "3 torch threads [CNNLIB_THREADS=3]"
    # the caller's argument beats the environment
    assert device.choose_threads(2, cores=64, load=0.0, **{**QUIET, "env": env}).threads == 2
    auto = device.choose_threads(cores=2, load=0.0, default=2, env={"CNNLIB_THREADS": "auto"})
    assert auto.threads == 1 and auto.automatic


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_choose_threads_rejects_bad_environment_values(raw: str) -> None:
    with pytest.raises(ValueError, match=f"CNNLIB_THREADS must be a whole number >= 1 or 'auto', "
                                         f"got '{raw}'"):
        device.choose_threads(cores=4, load=0.0, default=4, env={"CNNLIB_THREADS": raw})
    with pytest.raises(ValueError, match="threads must be >= 1"):
        device.choose_threads(0)


def test_configure_sets_torch_threads_and_names_them_in_the_banner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    threads = {"n": 2}

    def fake_set(n: int) -> None:
        calls.append(n)
        threads["n"] = n

    monkeypatch.setattr(device.torch, "set_num_threads", fake_set)
    monkeypatch.setattr(device.torch, "get_num_threads", lambda: threads["n"])
    monkeypatch.setattr(device.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(device.os, "getloadavg", lambda: (7.0, 7.0, 7.0))
    monkeypatch.delenv("CNNLIB_THREADS", raising=False)
    monkeypatch.setattr(device, "_chosen", None)
    banner = device.configure(device="cpu")
    assert calls == [1]
    assert banner.startswith("cpu: 8 cores, 1 torch thread [busy machine: load 7.0 on 8 cores; "
                             "CNNLIB_THREADS overrides] (torch ")
    monkeypatch.setenv("CNNLIB_THREADS", "3")
    assert "3 torch threads [CNNLIB_THREADS=3] (torch" in device.configure(device="cpu")
    assert device.configure(threads=2, device="cpu").count("2 torch threads [asked for]") == 1
    assert calls == [1, 3, 2]
    threads["n"] = 5  # changed behind our back: the banner no longer claims a reason
    assert ", 5 torch threads (torch" in device.describe_device("cpu")
