"""The plan/result codec and the parent's strict reading of result files (no child started)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import _child, checkkit, sandbox
from autograder.checkkit import AsTensor, Call, Opaque, Raised, Ref, Skipped

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=20))
arrays = hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.one_of(st.text(max_size=5), st.integers()),
                                            inner, max_size=3)),
    max_leaves=8)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        nan = a.dtype.kind == "f"
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=nan)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _roundtrip(v):
    arrs: dict = {}
    doc = json.loads(json.dumps(_child.encode(v, arrs, checkkit)))
    return _child.decode(doc, arrs, checkkit)


@settings(max_examples=80, deadline=None)
@given(values)
def test_codec_roundtrips_plain_data_and_arrays(v) -> None:
    assert _same(_roundtrip(v), v)


def test_codec_roundtrips_checkkit_types_and_special_floats() -> None:
    v = [Raised("ValueError", "bad"), Opaque("generator"), Skipped("not run"), Ref("fwd", 1),
         AsTensor(np.ones(2), True), float("inf"), float("-inf")]
    out = _roundtrip(v)
    assert out[:4] == v[:4] and out[5:] == v[5:]
    assert out[4].requires_grad is True and np.array_equal(out[4].array, np.ones(2))
    assert np.isnan(_roundtrip(float("nan")))


def test_calls_roundtrip() -> None:
    call = Call("conv", (np.arange(3.0), Ref("c", "k")), {"p": {"stride": 2}}, on="m",
                save="s", ret=False)
    arrs: dict = {}
    back = _child.decode_call(json.loads(json.dumps(_child.encode_call(call, arrs, checkkit))),
                              arrs, checkkit)
    assert back.func == "conv" and back.on == "m" and back.save == "s" and back.ret is False
    assert np.array_equal(back.args[0], np.arange(3.0)) and back.args[1] == Ref("c", "k")
    assert back.kwargs == {"p": {"stride": 2}}


@pytest.mark.parametrize("bad", [
    [1, 2], {"__weird__": 1}, {"__array__": "a9"}, {"__list__": 3}, {"__raised__": ["x"]},
    {"__dict__": [[1.5, 2]]}, {"__int__": "12a"}, {"__float__": "1e999x"},
    {"__list__": [], "extra": 1},
])
def test_decode_rejects_malformed(bad) -> None:
    with pytest.raises(_child.CodecError):
        _child.decode(bad, {}, checkkit)


def test_encode_refuses_objects() -> None:
    with pytest.raises(_child.CodecError):
        _child.encode(object(), {}, checkkit)
    with pytest.raises(_child.CodecError):
        _child.encode(np.array([object()]), {}, checkkit)


def _write(out, index, doc, arrays=None, raw_npz=None):
    (out / f"{index:03d}.json").write_text(json.dumps(doc))
    if raw_npz is not None:
        (out / f"{index:03d}.npz").write_bytes(raw_npz)
    elif arrays is not None:
        np.savez(out / f"{index:03d}.npz", **arrays)


L = sandbox.Limits()


def test_read_result_accepts_only_well_formed_files(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert sandbox._read_result(out, 0, "c", 1, "N", L) is None
    _write(out, 0, {"nonce": "N", "check": "c", "results": [{"__array__": "a0"}]},
           {"a0": np.arange(3.0)})
    got = sandbox._read_result(out, 0, "c", 1, "N", L)
    assert np.array_equal(got[0], np.arange(3.0))
    # planted by the student (wrong nonce): as if absent
    _write(out, 1, {"nonce": "guess", "check": "c", "results": [1]})
    assert sandbox._read_result(out, 1, "c", 1, "N", L) is None
    bad = sandbox.CheckFailure("the sandbox returned malformed results for this check")
    for i, doc in enumerate([
        {"nonce": "N", "check": "other", "results": [1]},          # wrong check
        {"nonce": "N", "check": "c", "results": [1, 2]},           # wrong step count
        {"nonce": "N", "check": "c", "results": [{"__array__": "zz"}]},  # missing array
        {"nonce": "N", "check": "c", "results": [1], "score": 7},  # extra key
    ], start=2):
        _write(out, i, doc)
        assert sandbox._read_result(out, i, "c", 1, "N", L) == bad
    # an object array needs pickle: refused
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(tmp_path / "obj.npy", "a0.npy")
    _write(out, 9, {"nonce": "N", "check": "c", "results": [{"__array__": "a0"}]},
           raw_npz=buf.getvalue())
    assert sandbox._read_result(out, 9, "c", 1, "N", L) == bad
    _write(out, 10, {"nonce": "N", "check": "c", "results": [1]}, raw_npz=b"")
    assert sandbox._read_result(out, 10, "c", 1, "N", L) == bad


def test_oversized_results_are_refused(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _write(out, 0, {"nonce": "N", "check": "c", "results": [1]})
    small = sandbox.Limits(max_result_bytes=10)
    assert "more data than the grader accepts" in sandbox._read_result(
        out, 0, "c", 1, "N", small).reason


def test_child_sys_path_excludes_the_repository() -> None:
    paths = sandbox.child_sys_path()
    assert paths and not any(p == str(sandbox.REPO_ROOT) for p in paths)
    assert not any(p.startswith(str(sandbox.REPO_ROOT) + "/autograder") for p in paths)
    assert not any("__editable__" in p for p in paths)


def test_child_env_is_minimal() -> None:
    env = sandbox.child_env("/w")
    assert env["HOME"] == "/w"
    assert not any(k.startswith(("CNNKIT", "NBGRADER", "PYTEST")) for k in env)
    assert "GRAD" not in " ".join(env).upper()
