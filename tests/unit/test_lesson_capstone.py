"""cnnlib.lessons.capstone: carrying the student's layers over from notebooks 2-4 (with the
reference where one is missing or wrong), the data, the torch twin and the step comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from fixtures.nbtools import stub_solutions

from cnnlib import data, layers
from cnnlib.lessons import capstone as lesson

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
COURSE = ("02_convolution/convolution.ipynb", "03_backprop/backprop.ipynb",
          "04_normalization/normalization.ipynb")


def _copy(dest: Path, edit=None, release: bool = False) -> Path:
    """The course's notebooks 2-4 under ``dest`` (released, or with ``edit`` applied to every
    cell's source)."""
    for rel in COURSE:
        nb = nbformat.read(NOTEBOOKS / rel, as_version=4)
        if release:
            nb, _ = stub_solutions(nb)
        for cell in nb.cells:
            cell.source = edit(cell.source) if edit else cell.source
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest / rel)
    return dest


@pytest.fixture(scope="module")
def capstone_ns() -> dict:
    """The capstone's own solution (ThreeLayerConvNet, softmax_loss, the update rules), read
    from its notebook with the reference layers its setup cell imports."""
    ns, problems = lesson.notebook_functions(NOTEBOOKS / "06_capstone" / "capstone.ipynb")
    assert problems == []
    return ns


def test_the_course_solutions_are_all_taken() -> None:
    student = lesson.load_student_layers(course_dir=NOTEBOOKS, verbose=False)
    assert student.yours == list(lesson.LAYER_SOURCES) and student.notices == []
    assert student.origin["conv_forward"] == ("your conv_forward_im2col "
                                              "(02_convolution/convolution.ipynb)")
    assert student.conv_forward is not layers.conv_forward
    assert "10 of 10 layers are your own" in str(student)


def test_a_release_falls_back_to_the_reference_with_a_notice_each(tmp_path: Path,
                                                                  capsys) -> None:
    student = lesson.load_student_layers(course_dir=_copy(tmp_path, release=True))
    assert student.yours == []
    for name in lesson.LAYER_SOURCES:
        assert getattr(student, name) is getattr(layers, name)
    printed = capsys.readouterr().out
    assert printed.count("notice:") == 10 and printed.count("is not written yet") >= 5
    assert ("notice: relu_backward comes from cnnlib.layers: your relu_backward is not written "
            "yet") in printed


def test_one_wrong_backward_costs_only_itself(tmp_path: Path) -> None:
    wrong = _copy(tmp_path, lambda s: s.replace("return dout * (x > 0)",
                                                "return dout * (x >= 0) * 2"))
    student = lesson.load_student_layers(course_dir=wrong, verbose=False)
    assert student.relu_backward is layers.relu_backward
    assert "relu_forward" in student.yours and len(student.yours) == 9
    assert student.notices == ["notice: relu_backward comes from cnnlib.layers: your "
                               "relu_backward gives other gradients than cnnlib.layers on a "
                               "small input"]


def test_a_forward_with_its_own_cache_layout_is_swapped_as_a_pair(tmp_path: Path) -> None:
    """The student's im2col forward returns a cache that neither their naive backward nor the
    reference reads: the forward is replaced, their backward kept."""
    odd = _copy(tmp_path, lambda s: s.replace(
        "return np.ascontiguousarray(out), (x, w, b, conv_param)",
        "return np.ascontiguousarray(out), {'x': x, 'w': w}"))
    student = lesson.load_student_layers(course_dir=odd, verbose=False)
    assert student.conv_forward is layers.conv_forward and "conv_backward" in student.yours
    assert student.origin["conv_forward"] == ("cnnlib.layers (the cache of your "
                                              "conv_forward_im2col does not suit cnnlib's "
                                              "conv_backward)")


def test_missing_notebooks_and_explicit_paths(tmp_path: Path) -> None:
    _copy(tmp_path / "course")
    moved = tmp_path / "elsewhere.ipynb"
    (tmp_path / "course" / COURSE[1]).rename(moved)
    student = lesson.load_student_layers(course_dir=tmp_path / "course", verbose=False)
    assert "affine_forward" not in student.yours
    assert student.origin["affine_forward"] == ("cnnlib.layers (03_backprop/backprop.ipynb was "
                                                "not found)")
    student = lesson.load_student_layers(course_dir=tmp_path / "course",
                                         notebooks={COURSE[1]: moved}, verbose=False)
    assert len(student.yours) == 10
    with pytest.raises(ValueError, match="unknown notebooks"):
        lesson.load_student_layers(notebooks={"03_backprop.ipynb": moved})


def test_the_default_course_folder_is_the_one_above(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _copy(tmp_path)
    (tmp_path / "06_capstone").mkdir()
    monkeypatch.chdir(tmp_path / "06_capstone")
    assert len(lesson.load_student_layers(verbose=False).yours) == 10


def test_notebook_functions_runs_only_imports_and_definitions(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nimport math\nX = 1 / 0\n"
                                  "def f(v):\n    return math.sqrt(v)"),
        nbformat.v4.new_code_cell("import not_a_module_anywhere\ndef g():\n    return 2"),
        nbformat.v4.new_code_cell("def broken(:\n    pass"),
        nbformat.v4.new_markdown_cell("def h(): pass")])
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    ns, problems = lesson.notebook_functions(path)
    assert ns["f"](9.0) == 3.0 and ns["g"]() == 2 and "X" not in ns and "h" not in ns
    assert len(problems) == 2
    assert "ModuleNotFoundError" in problems[0] and "syntax error" in problems[1]


def test_skip_if_not_written_swallows_only_the_stub(capsys) -> None:
    with lesson.skip_if_not_written("Exercise 9"):
        raise NotImplementedError()
    assert capsys.readouterr().out == "Exercise 9 not written yet: this step is skipped.\n"
    with pytest.raises(ValueError), lesson.skip_if_not_written("Exercise 9"):
        raise ValueError("a real bug")


def test_digits_and_cifar_data(tmp_path: Path) -> None:
    d = lesson.digits_data(seed=0)
    assert {k: v.shape[0] for k, v in d.items()} == {"X_train": 1293, "y_train": 1293,
                                                     "X_val": 144, "y_val": 144, "X_test": 360,
                                                     "y_test": 360}
    assert d["X_train"].dtype == np.float64 and d["X_train"].shape[1:] == (1, 8, 8)
    assert np.allclose(d["X_train"].mean(axis=0), 0)
    rng = np.random.default_rng(0)
    data.write_cifar10_batches(tmp_path, rng.integers(0, 256, (30, 3, 32, 32)),
                               rng.integers(0, 10, 30))
    c = lesson.cifar10_data(tmp_path, num_train=20, num_val=5, num_test=4)
    assert [c[k].shape[0] for k in ("X_train", "X_val", "X_test")] == [20, 5, 4]
    assert c["X_train"].dtype == np.float32 and abs(float(c["X_train"].mean())) < 1e-6


@pytest.mark.parametrize("batchnorm", [False, True])
def test_the_torch_twin_computes_what_the_numpy_network_computes(capstone_ns: dict,
                                                                 batchnorm: bool) -> None:
    net = capstone_ns["ThreeLayerConvNet"](input_dim=(2, 6, 4), num_filters=3, filter_size=5,
                                           hidden_dim=7, num_classes=4, weight_scale=0.5,
                                           batchnorm=batchnorm, seed=0)
    X = np.random.default_rng(1).normal(size=(5, 2, 6, 4))
    twin = lesson.torch_twin(net.params).train()
    net.loss(X, np.zeros(5, dtype=np.int64))  # train mode on both: batch statistics
    with torch.no_grad():
        scores = twin(torch.tensor(X)).numpy()
    if not batchnorm:
        assert np.allclose(scores, net.loss(X), rtol=1e-12, atol=1e-12)
    back = twin.named_like_numpy()
    assert all(np.array_equal(back[k], net.params[k]) for k in net.params)
    opt = twin.adam(lr=1e-3, reg=0.5)
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(twin.conv.weight)] == 0.5 and decays[id(twin.conv.bias)] == 0.0
    assert sorted(decays.values()).count(0.5) == 3


def test_the_first_steps_agree_to_float64_precision(capstone_ns: dict) -> None:
    net = capstone_ns["ThreeLayerConvNet"](num_filters=4, hidden_dim=12, weight_scale=0.1,
                                           reg=0.01, batchnorm=True, seed=0)
    d = lesson.digits_data()
    steps = lesson.compare_training_steps(net, d["X_train"], d["y_train"],
                                          capstone_ns["sgd_momentum"], "sgd_momentum",
                                          {"learning_rate": 0.05}, steps=3)
    assert [s.step for s in steps] == [1, 2, 3] and max(s.largest for s in steps) < 1e-12
    assert re.fullmatch(r"step 1: loss [\d.]+ \(torch [\d.]+\), largest difference \S+ "
                        r"\(gradients \S+, weights \S+\)", str(steps[0]))
    assert all(np.array_equal(net.params[k], v) for k, v in  # the model itself is untouched
               capstone_ns["ThreeLayerConvNet"](num_filters=4, hidden_dim=12, weight_scale=0.1,
                                                reg=0.01, batchnorm=True, seed=0).params.items())

    def too_fast(w, dw, config):
        return capstone_ns["sgd_momentum"](w, 2 * dw, config)

    steps = lesson.compare_training_steps(net, d["X_train"], d["y_train"], too_fast,
                                          "sgd_momentum", {"learning_rate": 0.05}, steps=2)
    assert steps[0].weight_diff > 1e-4 and steps[0].grad_diff < 1e-12
    adam = lesson.compare_training_steps(net, d["X_train"], d["y_train"], capstone_ns["adam"],
                                         "adam", {"learning_rate": 1e-3}, steps=2)
    assert max(s.largest for s in adam) < 1e-8
    with pytest.raises(ValueError, match="optimizer"):
        lesson.compare_training_steps(net, d["X_train"], d["y_train"], too_fast, "rmsprop")
