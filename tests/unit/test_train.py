"""cnnlib.train: fit/evaluate/top-k/confusion matrix/augmentation, checked by value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlib import train as T


def _blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Linearly separable 3-class data shaped like images: (n, 1, 4, 4)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.normal(0, 3, (3, 16))
    X = centers[y] + rng.normal(0, 0.5, (n, 16))
    return X.reshape(n, 1, 4, 4).astype(np.float32), y.astype(np.int64)


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def _dropout_net(seed: int = 0) -> nn.Module:
    """Uses the global RNG in training (dropout), like augmentation does."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 3))


def test_fit_learns_and_records_history():
    X, y = _blobs()
    model = _linear()
    h = T.fit(model, (X, y), (X, y), epochs=4, lr=0.05, batch_size=32, progress=False,
              device="cpu")
    assert isinstance(h, T.History) and isinstance(h, dict)
    assert set(T.HISTORY_KEYS) <= set(h)
    assert all(len(h[k]) == 4 for k in T.HISTORY_KEYS)
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["val_acc"][-1] > 0.95
    assert h.epochs == 4 and h.lr == [0.05] * 4 and "cpu" in h.device
    # evaluate agrees with the recorded validation numbers of the last epoch
    res = T.evaluate(model, (X, y))
    assert res["acc"] == pytest.approx(h["val_acc"][-1])
    assert res["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-5)


def test_fit_without_validation_records_nan():
    X, y = _blobs(64)
    h = T.fit(_linear(), (X, y), epochs=2, progress=False)
    assert all(math.isnan(v) for v in h["val_acc"]) and math.isnan(h.best_val_acc)


def test_fit_is_seeded_and_seed_matters():
    X, y = _blobs()
    runs = [T.fit(_linear(), (X, y), epochs=2, seed=s, progress=False)["train_loss"]
            for s in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_fit_accepts_dataset_and_tensors():
    X, y = _blobs(96)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    a = T.fit(_linear(), ds, epochs=1, progress=False)["train_loss"]
    b = T.fit(_linear(), (torch.from_numpy(X), torch.from_numpy(y)), epochs=1,
              progress=False)["train_loss"]
    assert a == pytest.approx(b)


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    X, y = _blobs()
    aug = T.random_flip_shift(1)
    full = _dropout_net()
    h_full = T.fit(full, (X, y), (X, y), epochs=4, progress=False, seed=1, augment=aug)
    ckpt = tmp_path / "run.pt"
    part = _dropout_net()
    T.fit(part, (X, y), (X, y), epochs=2, progress=False, seed=1, checkpoint=ckpt, augment=aug)
    assert ckpt.exists()
    torch.rand(5)  # disturb the global RNG: the resumed epochs must not depend on it
    resumed = _dropout_net(seed=99)  # different init: everything must come from the checkpoint
    h_res = T.fit(resumed, (X, y), (X, y), epochs=4, progress=False, seed=1, checkpoint=ckpt,
                  augment=aug)
    assert h_res.resumed_epochs == 2 and h_res.epochs == 4
    np.testing.assert_allclose(h_res["train_loss"], h_full["train_loss"], rtol=1e-6)
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_adam_and_optimizer_instance_and_scheduler():
    X, y = _blobs()
    h = T.fit(_linear(), (X, y), epochs=3, optimizer="adam", lr=1e-2, progress=False,
              scheduler="cosine")
    assert h.lr[0] == pytest.approx(1e-2) and h.lr[1] < h.lr[0]
    m = _linear()
    opt = torch.optim.SGD(m.parameters(), lr=0.2)
    h2 = T.fit(m, (X, y), epochs=1, optimizer=opt, lr=1.0, progress=False)
    assert h2.lr == [0.2]


def test_aux_outputs_add_weighted_loss():
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(16, 3)
            self.b = nn.Linear(16, 3)

        def forward(self, x):
            x = x.flatten(1)
            return (self.a(x), self.b(x)) if self.training else self.a(x)

    X, y = _blobs(64)
    m = TwoHeads()
    xb, yb = torch.from_numpy(X), torch.from_numpy(y)
    ce = nn.CrossEntropyLoss()
    with torch.no_grad():
        expected = float(ce(m.a(xb.flatten(1)), yb)
                         + T.AUX_LOSS_WEIGHT * ce(m.b(xb.flatten(1)), yb))
    h = T.fit(m, (X, y), epochs=1, batch_size=64, lr=1e-12, momentum=0.0, progress=False)
    assert h["train_loss"][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"optimizer": 3}, TypeError, "optimizer"),
        ({"epochs": -1}, ValueError, "epochs"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"scheduler": "linear"}, ValueError, "scheduler"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, exc, match):
    X, y = _blobs(16)
    with pytest.raises(exc, match=match):
        T.fit(_linear(), (X, y), progress=False, **kwargs)


def test_fit_rejects_bad_data():
    X, y = _blobs(16)
    with pytest.raises(ValueError, match="16 examples but y has 15"):
        T.fit(_linear(), (X, y[:15]), progress=False)
    with pytest.raises(TypeError, match="Dataset or a pair"):
        T.fit(_linear(), X, progress=False)
    with pytest.raises(TypeError, match="nn.Module"):
        T.fit(lambda x: x, (X, y), progress=False)


def test_fit_stops_on_divergence():
    X, y = _blobs(64)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        T.fit(_linear(), (X * 1e30, y), lr=1e30, epochs=2, progress=False)


def test_evaluate_topk_and_mode_restored():
    # A fixed "model" whose logits rank class (label + 1) % 3 first and the true label second.
    X = torch.zeros(6, 1, 1, 1)
    y = torch.tensor([0, 1, 2, 0, 1, 2])

    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            logits = torch.zeros(len(x), 3)
            logits[torch.arange(len(x)), (y + 1) % 3] = 2.0
            logits[torch.arange(len(x)), y] = 1.0
            return logits + 0 * self.w

    m = Fixed().train()
    res = T.evaluate(m, (X, y), topk=(1, 2))
    assert res["top1"] == 0.0 and res["top2"] == 1.0 and res["acc"] == 0.0 and res["n"] == 6
    expected_loss = -math.log(math.e / (math.e**2 + math.e + 1))
    assert res["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert m.training
    with pytest.raises(ValueError, match="more classes"):
        T.evaluate(m, (X, y), topk=(4,))


def test_predict_topk_and_confusion_matrix():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 5))
    X = torch.randn(7, 1, 2, 2)
    probs, idx = T.predict_topk(m, X, k=3)
    full = torch.softmax(m(X), 1)
    ref = full.topk(3, 1)
    np.testing.assert_allclose(probs, ref.values.detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(idx, ref.indices.numpy())
    assert probs.shape == (7, 3) and idx.dtype == np.int64
    assert np.all(np.diff(probs, axis=1) <= 0)
    p1, i1 = T.predict_topk(m, X[0], k=1)  # a single (C, H, W) image
    assert p1.shape == (1, 1) and i1[0, 0] == idx[0, 0]

    y = np.array([0, 1, 2, 3, 4, 0, 1])
    cm = T.confusion_matrix(m, (X, y), num_classes=5)
    pred = full.argmax(1).numpy()
    expected = np.zeros((5, 5), dtype=np.int64)
    for t, p in zip(y, pred, strict=True):
        expected[t, p] += 1
    np.testing.assert_array_equal(cm, expected)
    with pytest.raises(ValueError, match="num_classes"):
        T.confusion_matrix(m, (X, y), num_classes=3)


def test_random_flip_shift_zero_shift_flip_only():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4)
    torch.manual_seed(0)
    out = T.random_flip_shift(0, flip=True)(x)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    assert torch.equal(T.random_flip_shift(0, flip=False)(x), x)


@settings(max_examples=25, deadline=None)
@given(s=st.integers(0, 3), h=st.integers(1, 6), w=st.integers(1, 6), seed=st.integers(0, 99))
def test_random_flip_shift_is_a_zero_filled_translation(s, h, w, seed):
    x = torch.rand(3, 2, h, w) + 1.0  # strictly positive: zeros can only come from the fill
    torch.manual_seed(seed)
    out = T.random_flip_shift(s, flip=False)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    for i in range(3):
        # find the translation (dy, dx) in [-s, s]^2 that explains out[i]
        found = False
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                ref = torch.zeros_like(x[i])
                # clamp stops at 0: a negative stop would wrap around instead of being empty
                ys = slice(max(dy, 0), max(h + min(dy, 0), 0))
                yd = slice(max(-dy, 0), max(h + min(-dy, 0), 0))
                xs = slice(max(dx, 0), max(w + min(dx, 0), 0))
                xd = slice(max(-dx, 0), max(w + min(-dx, 0), 0))
                ref[:, yd, xd] = x[i][:, ys, xs]
                found |= torch.equal(out[i], ref)
        assert found


def test_random_flip_shift_uses_all_shifts():
    x = torch.zeros(400, 1, 5, 5)
    x[:, :, 2, 2] = 1.0
    torch.manual_seed(0)
    out = T.random_flip_shift(2, flip=False)(x)
    pos = {tuple(int(v) for v in torch.nonzero(o[0])[0]) for o in out}
    assert pos == {(r, c) for r in range(5) for c in range(5)}


def test_random_flip_shift_rejects_bad_input():
    with pytest.raises(ValueError, match="max_shift"):
        T.random_flip_shift(-1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        T.random_flip_shift(1)(torch.zeros(3, 4))


def test_set_seed_repeats_all_generators():
    T.set_seed(5)
    a = (np.random.rand(), torch.rand(1).item())
    T.set_seed(5)
    assert (np.random.rand(), torch.rand(1).item()) == a
    with pytest.raises(TypeError, match="int"):
        T.set_seed(1.5)


def test_progress_banner_names_device(capsys):
    X, y = _blobs(32)
    T.fit(_linear(), (X, y), epochs=1, progress=True, device="cpu")
    assert "Training on" in capsys.readouterr().out


@pytest.mark.parametrize("with_val", [False, True])
def test_progress_ends_with_a_plain_text_summary_line(capsys, with_val):
    # viewers without widgets (exported HTML) show the bars at 0 %: the printed line remains
    X, y = _blobs(48)
    val = (X[:16], y[:16]) if with_val else None
    h = T.fit(_linear(), (X, y), val, epochs=2, progress=True, device="cpu")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    expected = (f"trained 2 epochs in {h.total_time:.1f} s: loss {h['train_loss'][-1]:.3f}, "
                f"acc {h['train_acc'][-1]:.3f}")
    if with_val:
        expected += f", val_acc {h['val_acc'][-1]:.3f}"
    assert last == expected
    T.fit(_linear(), (X, y), epochs=1, progress=False, device="cpu")
    assert capsys.readouterr().out == ""  # progress=False prints nothing at all


def test_summary_line_counts_only_the_epochs_run_now(tmp_path, capsys):
    X, y = _blobs(32)
    ckpt = tmp_path / "run.pt"
    T.fit(_linear(), (X, y), epochs=1, progress=False, checkpoint=ckpt)
    T.fit(_linear(), (X, y), epochs=3, progress=True, checkpoint=ckpt)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("trained 2 epochs in ")
    assert "(after 1 loaded from the checkpoint): loss " in last


@pytest.mark.gpu
def test_fit_on_gpu_matches_cpu_loss_closely():
    X, y = _blobs()
    h_cpu = T.fit(_linear(), (X, y), epochs=2, progress=False, device="cpu")
    h_gpu = T.fit(_linear(), (X, y), epochs=2, progress=False, device="cuda")
    np.testing.assert_allclose(h_gpu["train_loss"], h_cpu["train_loss"], rtol=1e-4)
    assert "cuda" in h_gpu.device.lower() or "gpu" in h_gpu.device.lower()
