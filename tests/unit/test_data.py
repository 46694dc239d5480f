from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlib import data


def test_digits_shapes_ranges_and_determinism() -> None:
    Xtr, ytr, Xte, yte = data.load_digits(seed=0)
    assert Xtr.shape == (1437, 1, 8, 8) and Xte.shape == (360, 1, 8, 8)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64 and yte.dtype == np.int64
    assert Xtr.min() == 0.0 and Xtr.max() == 1.0 and set(np.unique(ytr)) == set(range(10))
    # stratified: every class keeps its share (about 36 of ~180 per class in the test set)
    assert np.bincount(yte).min() >= 35 and np.bincount(yte).max() <= 37
    again = data.load_digits(seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(again, (Xtr, ytr, Xte, yte)))
    assert not np.array_equal(data.load_digits(seed=1)[0], Xtr)
    assert len(data.load_digits(test_size=0.5)[2]) in (898, 899)
    with pytest.raises(ValueError, match="test_size must be between 0 and 1"):
        data.load_digits(test_size=1.5)


def test_faces_split_labels_and_determinism() -> None:
    Xtr, ytr, Xte, yte = data.load_faces()
    assert Xtr.shape == (150, 1, 25, 25) and Xte.shape == (50, 1, 25, 25)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert 0.0 <= Xtr.min() and Xtr.max() <= 1.0
    assert (ytr == 1).sum() == 75 and (yte == 1).sum() == 25  # stratified 100/100
    # label 1 marks the first 100 images of skimage's set, the faces
    from skimage.data import lfw_subset

    faces = {img.astype(np.float32).tobytes() for img in lfw_subset()[:100]}
    assert all((x[0].tobytes() in faces) == bool(lab) for x, lab in zip(Xte, yte))
    assert np.array_equal(data.load_faces(seed=0)[0], Xtr)
    assert not np.array_equal(data.load_faces(seed=1)[0], Xtr)


def test_sample_images() -> None:
    cam = data.load_sample_image("camera")
    assert cam.shape == (512, 512) and cam.dtype == np.float32 and 0 <= cam.min() <= cam.max() <= 1
    assert cam.max() == 1.0  # uint8 255 -> 1.0, not 255
    rgb = data.load_sample_image("astronaut", gray=False, size=(64, 48))
    assert rgb.shape == (64, 48, 3) and rgb.dtype == np.float32 and rgb.max() <= 1.0
    assert data.load_sample_image("coffee").shape == (400, 600)  # RGB -> gray
    assert data.load_sample_image("coins", gray=False).shape == (303, 384, 3)
    with pytest.raises(ValueError, match="unknown sample image 'lena'; choose one of.*camera"):
        data.load_sample_image("lena")
    with pytest.raises(ValueError, match="size must be a pair"):
        data.load_sample_image("camera", size=64)


def test_mnist1d_is_generated_locally_and_leaves_global_rng_alone() -> None:
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    Xtr, ytr, Xte, yte = data.load_mnist1d(num_samples=200)
    assert np.random.random() == expected_next  # make_dataset reseeds; we restore
    assert Xtr.shape == (160, 1, 40) and Xte.shape == (40, 1, 40)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert set(np.unique(ytr)) <= set(range(10))
    assert np.array_equal(data.load_mnist1d(num_samples=200)[0], Xtr)
    assert not np.array_equal(data.load_mnist1d(seed=1, num_samples=200)[0], Xtr)
    with pytest.raises(ValueError, match="num_samples must be >= 20"):
        data.load_mnist1d(num_samples=5)


def test_cifar10_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(23, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=23)
    data.write_cifar10_batches(tmp_path, X, y, n_train_batches=5, X_test=X[:4], y_test=y[:4])
    folder = tmp_path / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == [
        "batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
        "data_batch_5", "test_batch"]
    with open(folder / "data_batch_2", "rb") as fh:  # the official on-disk layout
        batch = pickle.load(fh, encoding="bytes")
    assert batch[b"data"].shape[1] == 3072 and batch[b"data"].dtype == np.uint8
    assert isinstance(batch[b"labels"], list)
    assert data.cifar10_available(tmp_path)
    Xl, yl = data.load_cifar10(tmp_path, train=True)
    assert Xl.shape == (23, 3, 32, 32) and Xl.dtype == np.uint8 and yl.dtype == np.int64
    assert np.array_equal(Xl, X) and np.array_equal(yl, y)
    Xt, yt = data.load_cifar10(tmp_path, train=False)
    assert np.array_equal(Xt, X[:4]) and np.array_equal(yt, y[:4])
    assert len(data.CIFAR10_CLASSES) == 10 and data.CIFAR10_CLASSES[3] == "cat"


def test_cifar10_many_batches_keep_their_order(tmp_path: Path) -> None:
    X = np.arange(12, dtype=np.uint8)[:, None, None, None] * np.ones((1, 3, 32, 32), np.uint8)
    data.write_cifar10_batches(tmp_path, X, np.arange(12) % 10, n_train_batches=12)
    Xl, _ = data.load_cifar10(tmp_path)
    assert list(Xl[:, 0, 0, 0]) == list(range(12))  # data_batch_10 after data_batch_9


def test_cifar10_missing_says_where_and_how(tmp_path: Path) -> None:
    assert not data.cifar10_available(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        data.load_cifar10(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "download=True" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        data.write_cifar10_batches(tmp_path, np.zeros((2, 32, 32, 3)), [0, 1])
    with pytest.raises(ValueError, match="2 images but y has 3"):
        data.write_cifar10_batches(tmp_path, np.zeros((2, 3, 32, 32)), [0, 1, 2])


def test_synthetic_shapes_and_dataset() -> None:
    X, y = data.synthetic_shapes(40, size=24, seed=3)
    assert X.shape == (40, 1, 24, 24) and X.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(X)) <= {0.0, 1.0} and set(np.unique(y)) <= {0, 1, 2, 3}
    assert (X.reshape(40, -1).sum(1) > 0).all()
    same = data.synthetic_shapes(40, size=24, seed=3)
    assert np.array_equal(same[0], X) and np.array_equal(same[1], y)
    assert not np.array_equal(data.synthetic_shapes(40, size=24, seed=4)[0], X)
    d, _ = data.synthetic_shapes(5, shapes=("disk",))
    assert d.shape == (5, 1, 32, 32)
    with pytest.raises(ValueError, match="unknown shapes"):
        data.synthetic_shapes(3, shapes=("hexagon",))
    ds = data.as_dataset(X, y)
    assert isinstance(ds, torch.utils.data.TensorDataset) and len(ds) == 40
    assert ds[0][0].dtype == torch.float32 and ds[0][1].dtype == torch.int64
    assert int(ds[5][1]) == int(y[5])


def test_cifar10_download_path_verifies_and_extracts(tmp_path: Path, monkeypatch) -> None:
    # No network: the "download" copies a small archive made here, in the official layout.
    import hashlib
    import shutil
    import tarfile

    src = tmp_path / "src"
    X = np.full((4, 3, 32, 32), 7, dtype=np.uint8)
    data.write_cifar10_batches(src, X, [1, 2, 3, 4], n_train_batches=2)
    archive = tmp_path / "fake.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(data.urllib.request, "urlretrieve",
                        lambda url, dest: shutil.copy(archive, dest))
    monkeypatch.setattr(data, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    Xl, yl = data.load_cifar10(tmp_path / "root", download=True)
    assert np.array_equal(Xl, X) and list(yl) == [1, 2, 3, 4]
    monkeypatch.setattr(data, "CIFAR10_MD5", "0" * 32)
    (tmp_path / "root2").mkdir()
    shutil.copy(archive, tmp_path / "root2" / "cifar-10-python.tar.gz")
    with pytest.raises(OSError, match="corrupt"):
        data.load_cifar10(tmp_path / "root2", download=True)
