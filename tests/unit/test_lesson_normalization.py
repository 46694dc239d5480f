"""cnnlib.lessons.normalization: initialization statistics, normalization axes, covariate
shift, BN folding, the digits CNN."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from torch import nn

from cnnlib.lessons import normalization as lesson

matplotlib.use("Agg")


# --------------------------------------------------------------------------------------------
# Initialization
# --------------------------------------------------------------------------------------------


def test_init_std_formulas() -> None:
    assert lesson.init_std("zero", 10, 20) == 0.0
    assert lesson.init_std("small", 10, 20) == 0.01
    assert lesson.init_std("he", 50, 200) == pytest.approx(math.sqrt(2 / 50))  # fan-in
    assert lesson.init_std("he_fan_out", 50, 200) == pytest.approx(math.sqrt(2 / 200))
    assert lesson.init_std("xavier", 50, 150) == pytest.approx(math.sqrt(2 / 200))
    assert lesson.init_std("xavier", 64, 64) == pytest.approx(math.sqrt(1 / 64))


def test_init_bad_input_is_explained() -> None:
    with pytest.raises(ValueError, match="unknown init scheme"):
        lesson.init_std("lecun", 3, 3)
    with pytest.raises(ValueError, match="fan_in must be >= 1, got 0"):
        lesson.init_std("he", 0, 3)
    with pytest.raises(ValueError, match="nonlinearity"):
        lesson.activation_statistics("he", "sigmoid")


def test_init_weights_has_the_requested_spread() -> None:
    w = lesson.init_weights("he", 400, 300, np.random.default_rng(0))
    assert w.shape == (400, 300)
    assert w.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)


def test_he_keeps_relu_activations_while_small_and_xavier_fade() -> None:
    he = lesson.activation_statistics("he", "relu", depth=10, width=256, seed=0)
    small = lesson.activation_statistics("small", "relu", depth=10, width=256, seed=0)
    xavier = lesson.activation_statistics("xavier", "relu", depth=10, width=256, seed=0)
    zero = lesson.activation_statistics("zero", "relu", depth=10, width=256, seed=0)
    assert he.stds.shape == (10,) and len(he.samples) == 10
    assert 0.6 < he.stds[-1] / he.stds[0] < 1.6
    assert small.stds[-1] < 1e-6
    assert xavier.stds[-1] < 0.1 * xavier.stds[0]  # loses half the variance per ReLU layer
    assert np.all(zero.stds == 0) and np.all(zero.means == 0)
    assert np.all(zero.grad_stds[:-1] == 0)


def test_xavier_suits_tanh_better_than_small() -> None:
    xavier = lesson.activation_statistics("xavier", "tanh", seed=1)
    small = lesson.activation_statistics("small", "tanh", seed=1)
    assert xavier.stds[-1] > 0.1 and small.stds[-1] < 1e-3
    assert np.all(np.abs(xavier.samples[-1]) <= 1)


def test_fan_in_keeps_forward_fan_out_keeps_backward() -> None:
    widths = [16 * 2**i for i in range(7)]
    fan_in = lesson.activation_statistics("he", "relu", widths=widths, seed=0)
    fan_out = lesson.activation_statistics("he_fan_out", "relu", widths=widths, seed=0)
    assert 0.7 < fan_in.stds[-1] / fan_in.stds[0] < 1.4
    assert fan_in.grad_stds[0] / fan_in.grad_stds[-1] > 3  # widths grow: gradients grow back
    assert 0.7 < fan_out.grad_stds[0] / fan_out.grad_stds[-1] < 1.4
    assert fan_out.stds[-1] / fan_out.stds[0] < 0.3


def test_plot_activation_statistics_draws_one_row_per_run() -> None:
    stats = [lesson.activation_statistics(s, "relu", depth=4, width=32, n_samples=64)
             for s in ("small", "he")]
    fig = lesson.plot_activation_statistics(stats, layers=[0, 3])
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3
    assert fig.axes[0].get_title() == "small / relu: per layer"
    with pytest.raises(ValueError, match="empty"):
        lesson.plot_activation_statistics([])


# --------------------------------------------------------------------------------------------
# Normalization axes
# --------------------------------------------------------------------------------------------


def _affected_by_one_input(kind: str, N: int, C: int, HW: int, G: int, n: int, c: int
                           ) -> np.ndarray:
    """Outputs of torch's normalization that change when input (n, c, 0) changes."""
    x = torch.randn(N, C, HW, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fns = {
        "batch": lambda t: F.batch_norm(t, None, None, training=True),
        "layer": lambda t: F.layer_norm(t, t.shape[1:]),
        "instance": lambda t: F.instance_norm(t),
        "group": lambda t: F.group_norm(t, G),
    }
    y0 = fns[kind](x)
    x2 = x.clone()
    x2[n, c, 0, 0] += 3.0
    return (fns[kind](x2) - y0).abs()[..., 0].numpy() > 1e-9


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 4), C_per=st.integers(1, 3), G=st.integers(1, 3), HW=st.integers(2, 5),
       data=st.data())
def test_norm_axes_mask_matches_torch(N: int, C_per: int, G: int, HW: int, data) -> None:
    C = C_per * G
    n = data.draw(st.integers(0, N - 1))
    c = data.draw(st.integers(0, C - 1))
    for kind in lesson.NORM_KINDS:
        mask = lesson.norm_axes_mask(kind, N, C, HW, groups=G, sample=n, channel=c)
        assert mask.shape == (N, C, HW)
        np.testing.assert_array_equal(mask, _affected_by_one_input(kind, N, C, HW, G, n, c),
                                      err_msg=kind)


def test_norm_axes_mask_sizes_and_errors() -> None:
    sizes = {k: int(lesson.norm_axes_mask(k, 4, 6, 5, groups=3).sum()) for k in lesson.NORM_KINDS}
    assert sizes == {"batch": 4 * 5, "layer": 6 * 5, "instance": 5, "group": 2 * 5}
    with pytest.raises(ValueError, match="divide"):
        lesson.norm_axes_mask("group", 2, 6, 5, groups=4)
    with pytest.raises(ValueError, match="kind"):
        lesson.norm_axes_mask("weight", 2, 6, 5)


def test_draw_norm_axes_has_four_titled_cubes() -> None:
    fig = lesson.draw_norm_axes(N=3, C=4, HW=3, groups=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Batch norm", "Layer norm", "Instance norm", "Group norm (G=2)"]


# --------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------


def test_random_patches_and_pixel_statistics() -> None:
    img = np.arange(20 * 30 * 3, dtype=np.float32).reshape(20, 30, 3)
    p = lesson.random_patches(img, n=5, size=8, seed=1)
    assert p.shape == (5, 3, 8, 8) and p.dtype == np.float32
    # each patch is a real crop: channel 0 grows by 3 per column, 90 per row
    assert np.all(np.diff(p[:, 0], axis=2) == 3) and np.all(np.diff(p[:, 0], axis=1) == 90)
    assert lesson.random_patches(img[..., 0], n=2, size=4).shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="does not fit"):
        lesson.random_patches(img, n=1, size=25)
    rows = lesson.pixel_statistics({"a": np.array([[0.0, 1.0], [0.0, 1.0]])})
    assert rows == [{"data": "a", "mean": 0.5, "std": 0.5, "zero_fraction": 0.5}]


# --------------------------------------------------------------------------------------------
# Batch norm in a CNN
# --------------------------------------------------------------------------------------------


def test_digits_cnn_places_bn_between_conv_and_relu() -> None:
    net = lesson.digits_cnn(batch_norm=True)
    mods = list(net)
    assert net(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            assert m.bias is None
            assert isinstance(mods[i + 1], nn.BatchNorm2d) and isinstance(mods[i + 2], nn.ReLU)
    plain = lesson.digits_cnn(batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))


def _bn_pair(bias: bool, seed: int = 0) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    torch.manual_seed(seed)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=bias).double()
    bn = nn.BatchNorm2d(5, eps=1e-3).double()
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.3, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    return conv, bn.eval()


@pytest.mark.parametrize("bias", [True, False])
def test_fold_bn_into_conv_matches_conv_then_bn(bias: bool) -> None:
    conv, bn = _bn_pair(bias)
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    fused = lesson.fold_bn_into_conv(conv, bn)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-10, atol=1e-10)
    assert conv.bias is None or not torch.equal(fused.bias, conv.bias)  # the original is untouched


def test_fold_bn_into_conv_rejects_mismatches() -> None:
    conv, _ = _bn_pair(True)
    with pytest.raises(ValueError, match="channels"):
        lesson.fold_bn_into_conv(conv, nn.BatchNorm2d(4))
    with pytest.raises(TypeError, match="Conv2d"):
        lesson.fold_bn_into_conv(nn.Linear(3, 5), nn.BatchNorm2d(5))


def test_mode_mixup_train_mode_depends_on_batch_size_eval_does_not() -> None:
    torch.manual_seed(0)
    net = lesson.digits_cnn(batch_norm=True)
    with torch.no_grad():  # running statistics unlike any single batch: the mix-up shows
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(0.3)
                m.running_var.fill_(2.0)
    before = [b.clone() for b in net.buffers()]
    X = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, 64)
    rows = lesson.mode_mixup(net, X, y, batch_sizes=(1, 8, 64))
    assert [r["batch_size"] for r in rows] == [1, 8, 64]
    assert len({r["eval_acc"] for r in rows}) == 1  # running averages: batch size is irrelevant
    with torch.no_grad():
        net.eval()
        expected = float((net(torch.from_numpy(X)).argmax(1).numpy() == y).mean())
    assert rows[0]["eval_acc"] == pytest.approx(expected)
    assert all(torch.equal(a, b) for a, b in zip(before, net.buffers(), strict=True))
    with pytest.raises(ValueError, match="batch size must be >= 1, got 0"):
        lesson.mode_mixup(net, X, y, batch_sizes=(0,))


def test_sweep_table_and_plot_from_rows() -> None:
    from cnnlib.train import History

    h = History()
    h["val_acc"] += [0.5, 0.9]
    h["train_loss"] += [1.0, 0.2]
    rows = [
        {"batch_norm": False, "lr": 0.1, "final_train_loss": 0.2, "final_val_acc": 0.9,
         "best_val_acc": 0.9, "diverged": False, "at_chance": False, "history": h, "model": None},
        {"batch_norm": False, "lr": 1.0, "final_train_loss": float("nan"),
         "final_val_acc": float("nan"), "best_val_acc": float("nan"), "diverged": True,
         "at_chance": True, "history": None, "model": None},
        {"batch_norm": True, "lr": 1.0, "final_train_loss": 2.3, "final_val_acc": 0.1,
         "best_val_acc": 0.1, "diverged": False, "at_chance": True, "history": h, "model": None},
    ]
    table = lesson.sweep_table(rows).splitlines()
    assert table[2] == "| 0.1 | 0.900 / 0.200 | - |"
    assert table[3] == "| 1 | diverged (NaN) | 0.100 / 2.300 (no better than chance) |"
    fig = lesson.plot_sweep(rows)
    assert [ax.get_title() for ax in fig.axes] == ["without batch norm", "with batch norm"]


def test_lr_sweep_trains_and_flags_blow_ups() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((96, 1, 8, 8), dtype=np.float32)
    y = (X[:, 0, :4].mean(axis=(1, 2)) > X[:, 0, 4:].mean(axis=(1, 2))).astype(np.int64)
    rows = lesson.lr_sweep((X, y), (X, y), lrs=[0.05, 1e6], epochs=1, batch_size=32,
                         progress=False, batch_norm_options=(False,), num_classes=2)
    assert [(r["batch_norm"], r["lr"]) for r in rows] == [(False, 0.05), (False, 1e6)]
    assert rows[0]["history"] is not None and len(rows[0]["history"]["val_acc"]) == 1
    assert isinstance(rows[0]["model"], nn.Sequential)
    assert rows[1]["diverged"] or rows[1]["at_chance"]


# --------------------------------------------------------------------------------------------
# Dropout picture
# --------------------------------------------------------------------------------------------


def test_plot_dropout_maps_rows_and_whole_channel_drops() -> None:
    maps = np.ones((6, 5, 5), dtype=np.float32)
    fig = lesson.plot_dropout_maps(maps, p=0.5, seed=0)
    assert len(fig.axes) == 3 * 6
    # the Dropout2d row: each channel is all-zero or all 2.0 (kept and rescaled)
    for ax in fig.axes[12:]:
        img = ax.get_images()[0].get_array()
        assert np.all(img == 0) or np.all(img == 2.0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        lesson.plot_dropout_maps(np.ones((5, 5)))


@pytest.mark.gpu
def test_fold_and_mode_mixup_on_cuda_agree_with_cpu() -> None:
    conv, bn = _bn_pair(True)
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        cpu = lesson.fold_bn_into_conv(conv, bn)(x)
        gpu = lesson.fold_bn_into_conv(conv.cuda(), bn.cuda())(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-9, atol=1e-9)
    torch.manual_seed(0)
    net = lesson.digits_cnn(batch_norm=True).eval()
    X = np.random.default_rng(0).random((32, 1, 8, 8), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, 32)
    on_cpu = lesson.mode_mixup(net, X, y, batch_sizes=(8,))
    on_gpu = lesson.mode_mixup(net.cuda(), X, y, batch_sizes=(8,))
    assert on_gpu[0]["eval_acc"] == pytest.approx(on_cpu[0]["eval_acc"])


def test_change_contrast_is_an_affine_map_clipped_to_the_pixel_range() -> None:
    X = np.array([[[[0.0, 0.5], [1.0, 0.25]]]], dtype=np.float32)
    out = lesson.change_contrast(X, contrast=0.3, brightness=0.6)
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_allclose(out[0, 0], [[0.6, 0.75], [0.9, 0.675]], rtol=1e-6)
    np.testing.assert_allclose(lesson.change_contrast(X, 2.0, 0.5)[0, 0], [[0.5, 1.0], [1.0, 1.0]])


def test_covariate_shift_hurts_raw_pixels_but_not_standardised_images() -> None:
    from cnnlib import data

    X_tr, y_tr, X_te, y_te = data.load_digits(seed=0)
    faint = lesson.change_contrast(X_te, 0.3, 0.6)  # 0.3 x + 0.6 <= 0.9: nothing is clipped
    acc = lesson.covariate_shift_accuracy((X_tr, y_tr), (X_te, y_te), faint)
    assert set(acc) == {"raw pixels", "each image standardised"}
    raw, std = acc["raw pixels"], acc["each image standardised"]
    assert raw[0] > 0.9 and raw[1] < raw[0] - 0.15
    assert std[0] == std[1] > 0.9  # an affine change of each image is undone exactly
