from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlib import data


def test_digits_shapes_ranges_and_determinism() -> None:
    Xtr, ytr, Xte, yte = data.load_digits(seed=0)
    assert Xtr.shape == (1437, 1, 8, 8) and Xte.shape == (360, 1, 8, 8)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert Xtr.min() >= 0 and Xtr.max() == 1.0 and set(np.unique(ytr)) == set(range(10))
    again = data.load_digits(seed=0)
    assert np.array_equal(again[0], Xtr)
    assert not np.array_equal(data.load_digits(seed=1)[0], Xtr)


def test_faces_and_photographs() -> None:
    Xtr, ytr, Xte, yte = data.load_faces()
    assert Xtr.shape[1:] == (1, 25, 25) and len(Xtr) + len(Xte) == 200
    assert (ytr == 1).sum() + (yte == 1).sum() == 100
    cam = data.load_sample_image("camera")
    assert cam.shape == (512, 512) and cam.dtype == np.float32 and 0 <= cam.min() <= cam.max() <= 1
    rgb = data.load_sample_image("astronaut", gray=False, size=(64, 48))
    assert rgb.shape == (64, 48, 3)
    with pytest.raises(ValueError, match="choose one of.*camera"):
        data.load_sample_image("lena")


def test_mnist1d_is_generated_locally() -> None:
    Xtr, ytr, Xte, yte = data.load_mnist1d(num_samples=200)
    assert Xtr.shape == (160, 1, 40) and Xte.shape == (40, 1, 40) and ytr.dtype == np.int64
    assert np.array_equal(data.load_mnist1d(num_samples=200)[0], Xtr)


def test_cifar10_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(20, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=20)
    data.write_cifar10_batches(tmp_path, X, y, n_train_batches=5,
                               X_test=X[:4], y_test=y[:4])
    assert data.cifar10_available(tmp_path)
    Xl, yl = data.load_cifar10(tmp_path, train=True)
    assert Xl.dtype == np.uint8 and np.array_equal(Xl, X) and np.array_equal(yl, y)
    Xt, yt = data.load_cifar10(tmp_path, train=False)
    assert np.array_equal(Xt, X[:4]) and np.array_equal(yt, y[:4])
    assert len(data.CIFAR10_CLASSES) == 10


def test_cifar10_missing_says_how_to_get_it(tmp_path: Path) -> None:
    assert not data.cifar10_available(tmp_path)
    with pytest.raises(FileNotFoundError, match="download=True"):
        data.load_cifar10(tmp_path)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        data.write_cifar10_batches(tmp_path, np.zeros((2, 32, 32, 3)), [0, 1])


def test_synthetic_shapes_and_dataset() -> None:
    X, y = data.synthetic_shapes(12, size=24, seed=3)
    assert X.shape == (12, 1, 24, 24) and set(np.unique(X)) <= {0.0, 1.0}
    assert (X.reshape(12, -1).sum(1) > 0).all()
    assert np.array_equal(data.synthetic_shapes(12, size=24, seed=3)[0], X)
    with pytest.raises(ValueError, match="unknown shapes"):
        data.synthetic_shapes(3, shapes=("hexagon",))
    ds = data.as_dataset(X, y)
    assert len(ds) == 12 and ds[0][1].dtype.is_floating_point is False
