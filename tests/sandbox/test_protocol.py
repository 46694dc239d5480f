"""The codec both sides of the sandbox use: lossless on plain data, strict and size-capped on
anything else (no child started)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.sandbox.protocol import (
    AsTensor,
    Call,
    Caps,
    FrameReader,
    NotRun,
    NotRunKind,
    Opaque,
    ProtocolError,
    Raised,
    Ref,
    json_depth,
    pack,
    unpack,
)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=20))
arrays = hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_,
                                     np.complex128, np.uint16]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.one_of(st.text(max_size=5), st.integers()),
                                            inner, max_size=3)),
    max_leaves=8)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


CAPS = Caps()


def roundtrip(v, caps: Caps = CAPS):
    frame = pack("x", v)
    kind, body = unpack(frame[4:], caps)
    assert kind == "x"
    return body


@settings(max_examples=100, deadline=None)
@given(values)
def test_plain_data_and_arrays_roundtrip(v) -> None:
    assert _same(roundtrip(v), v)


def test_protocol_types_and_special_floats_roundtrip() -> None:
    call = Call("f", (np.ones(2), Ref("fwd", 1)), {"k": AsTensor(np.zeros(3), True)}, "m", "s",
                False)
    v = [Raised("ValueError", "bad", "cell_a", 7, True), Opaque("generator"),
         NotRun(NotRunKind.TIMEOUT, "10 s"), Ref("fwd", "cache"), float("inf"), -float("inf"),
         call]
    out = roundtrip(v)
    assert out[:6] == v[:6]
    assert out[6].func == "f" and out[6].on == "m" and out[6].save == "s" and out[6].ret is False
    assert isinstance(out[6].args[1], Ref) and out[6].kwargs["k"].requires_grad is True
    assert np.isnan(roundtrip(float("nan")))


def test_the_child_cannot_set_deliberate() -> None:
    """``deliberate`` is the grader's judgement from the source: it does not travel."""
    out = roundtrip(Raised("ValueError", "x", "c", 1, True, deliberate=True))
    assert out.deliberate is False and out.own is True


def test_objects_are_refused_when_encoding() -> None:
    for bad in (object(), {1.5: 2}, np.array([object()], dtype=object), {True: 1}):
        with pytest.raises(TypeError):
            pack("x", bad)


def _frame(header: dict, blob: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<I", len(raw)) + raw + blob


@pytest.mark.parametrize("payload", [
    b"", b"\x01\x00", _frame({"kind": "x"}), _frame({"kind": 1, "body": 1, "arrays": []}),
    _frame({"kind": "x", "body": {"__array__": 0}, "arrays": []}),
    _frame({"kind": "x", "body": {"__pickle__": "x"}, "arrays": []}),
    _frame({"kind": "x", "body": {"a": 1, "b": 2}, "arrays": []}),
    _frame({"kind": "x", "body": None, "arrays": [["O", [1]]]}, b"\0" * 8),
    _frame({"kind": "x", "body": None, "arrays": [["f8", [2]]]}, b"\0" * 8),  # too short
    _frame({"kind": "x", "body": None, "arrays": [["f8", [-1]]]}),
    _frame({"kind": "x", "body": {"__raised__": ["E", "m", None, 1.5, False]}, "arrays": []}),
    _frame({"kind": "x", "body": {"__notrun__": ["nope", ""]}, "arrays": []}),
    _frame({"kind": "x", "body": {"__dict__": [[True, 1]]}, "arrays": []}),
    b"\xff\xff\x00\x00garbage",
])
def test_malformed_frames_are_protocol_errors(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpack(payload, Caps())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_else(data: bytes) -> None:
    try:
        unpack(data, Caps())
    except ProtocolError:
        pass


def test_declared_sizes_are_checked_before_anything_is_allocated() -> None:
    """A few bytes declaring a 4 GiB array, or 10**6 arrays, are refused from the header."""
    huge = _frame({"kind": "x", "body": None, "arrays": [["f8", [2**29]]]}, b"\0" * 8)
    with pytest.raises(ProtocolError, match="more than .* array elements"):
        unpack(huge, Caps(elements=1000))
    many = _frame({"kind": "x", "body": None, "arrays": [["f8", [0]]] * 20})
    with pytest.raises(ProtocolError, match="more than 5 arrays"):
        unpack(many, Caps(arrays=5))


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep = b'{"kind": "x", "arrays": [], "body": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ProtocolError, match="nested too deeply"):
        unpack(struct.pack("<I", len(deep)) + deep, Caps(depth=40))


# JSON values whose strings are full of what the scanner must skip: quotes, backslashes, brackets
_tricky_text = st.text(alphabet=st.sampled_from('"\\[]{}ab\n'), max_size=12)
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _tricky_text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky_text, inner, max_size=4),
    max_leaves=30)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(_json_values, st.booleans())
@settings(max_examples=300, deadline=None)
def test_json_depth_is_the_depth_of_the_parsed_value(value: object, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert json_depth(raw, 1000) == _depth(value)


@pytest.mark.parametrize(("raw", "depth"), [
    (b'["unterminated [[[', 1),          # an open string runs to the end
    (b'["ends in a backslash \\', 1),
    (b'[' * 70 + b']' * 70, 65),         # stops counting once past the limit
    (b'"' + b'\\"' * 100_000, 0),       # one long string of escaped quotes
])
def test_json_depth_of_broken_or_hostile_texts(raw: bytes, depth: int) -> None:
    assert json_depth(raw, 64) == depth


def test_frame_reader_refuses_an_oversized_frame_from_its_length_word() -> None:
    reader = FrameReader(Caps(frame_bytes=1000))
    with pytest.raises(ProtocolError, match="a frame of 4000000000 bytes"):
        reader.feed(struct.pack("<I", 4_000_000_000))
    assert reader.pending == 4  # nothing beyond the length word was kept


def test_frame_reader_reassembles_frames_split_anywhere() -> None:
    data = pack("a", [np.arange(5.0), "x"]) + pack("b", {"k": (1, 2)})
    for cut in range(len(data) + 1):
        reader = FrameReader(Caps())
        reader.feed(data[:cut])
        got = []
        while (f := reader.next_frame()) is not None:
            got.append(f)
        reader.feed(data[cut:])
        while (f := reader.next_frame()) is not None:
            got.append(f)
        assert [k for k, _ in got] == ["a", "b"]
        assert np.array_equal(got[0][1][0], np.arange(5.0)) and got[1][1] == {"k": (1, 2)}
